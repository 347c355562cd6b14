//! What a test run can leave behind, read from `/proc` and `/dev/shm`.
//!
//! Used per case by [`run`](crate::run) and for the whole run by
//! `cargo xtask test`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use crate::sys;

/// The system-wide objects a test could leak: this user's SysV IPC objects
/// and the files under `/dev/shm`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    objects: BTreeSet<String>,
}

impl Snapshot {
    /// Reads the objects that exist now.
    pub fn take() -> Self {
        let mut objects = sysv_objects(sys::euid());
        objects.extend(shm_files());
        Self { objects }
    }

    /// What exists now that did not in `before`, one description each.
    pub fn leaked_since(&self, before: &Snapshot) -> Vec<String> {
        self.objects.difference(&before.objects).cloned().collect()
    }
}

/// This user's SysV objects from `/proc/sysvipc`, one description each,
/// such as "SysV semaphore set id 3 key 0x0000002a mode 600".
pub fn sysv_objects(uid: u32) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (file, kind, id_column, ipcrm) in [
        ("sem", "semaphore set", "semid", "-s"),
        ("msg", "message queue", "msqid", "-q"),
        ("shm", "shared memory segment", "shmid", "-m"),
    ] {
        let Ok(table) = fs::read_to_string(format!("/proc/sysvipc/{file}")) else {
            continue;
        };
        let mut lines = table.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let column = |name: &str| header.iter().position(|h| *h == name);
        let (Some(key), Some(id), Some(perms), Some(owner)) = (
            column("key"),
            column(id_column),
            column("perms"),
            column("uid"),
        ) else {
            continue;
        };
        for row in lines {
            let cells: Vec<&str> = row.split_whitespace().collect();
            if cells.get(owner).and_then(|u| u.parse().ok()) != Some(uid) {
                continue;
            }
            let key: i64 = cells
                .get(key)
                .and_then(|k| k.parse().ok())
                .unwrap_or_default();
            found.insert(format!(
                "SysV {kind} id {} key {key:#010x} mode {} (remove with `ipcrm {ipcrm} {}`)",
                cells.get(id).unwrap_or(&"?"),
                cells.get(perms).unwrap_or(&"?"),
                cells.get(id).unwrap_or(&"?"),
            ));
        }
    }
    found
}

/// The files under `/dev/shm`, as "/dev/shm/NAME".
pub fn shm_files() -> BTreeSet<String> {
    fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| format!("/dev/shm/{}", entry.file_name().to_string_lossy()))
        .collect()
}

/// A process found in `/proc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// Its pid.
    pub pid: i32,
    /// Its state letter from `/proc/PID/stat` ('Z' for a zombie).
    pub state: char,
    /// Its command name.
    pub comm: String,
}

impl std::fmt::Display for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = if self.state == 'Z' {
            "zombie"
        } else {
            "process"
        };
        write!(f, "{what} {} ({})", self.pid, self.comm)
    }
}

/// The processes whose parent is `parent`.
pub fn children_of(parent: i32) -> Vec<Process> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            let mut rest = stat[close + 1..].split_whitespace();
            let state = rest.next()?.chars().next()?;
            let ppid: i32 = rest.next()?.parse().ok()?;
            (ppid == parent).then(|| Process {
                pid,
                state,
                comm: stat[open + 1..close].to_owned(),
            })
        })
        .collect()
}

/// This process's open file descriptors and what each refers to.
pub fn open_fds() -> BTreeMap<i32, String> {
    let Ok(entries) = fs::read_dir("/proc/self/fd") else {
        return BTreeMap::new();
    };
    let listed: Vec<i32> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect();
    // The directory handle used for the listing is closed by now: skip it.
    listed
        .into_iter()
        .filter_map(|fd| {
            let target = fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .collect()
}
