//! Process titles: `/proc/PID/cmdline`, `/proc/PID/comm` and `ps` show
//! them; long titles are cut, never overflowed; without the capability to
//! move the argument area, the original one is overwritten.

use std::process::Command;

use forkwise_fork::{Error, ForkManager, WorkerState, set_process_title};
use forkwise_testkit::Notify;

/// What `/proc/PID/cmdline` shows, trailing NULs dropped.
fn cmdline(pid: &str) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

fn comm(pid: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap()
        .trim_end()
        .to_owned()
}

fn ps(pid: i32, column: &str) -> String {
    let out = Command::new("ps")
        .args(["-o", &format!("{column}="), "-p", &pid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs `body` in a worker; fails the case if it fails.
fn in_worker(body: impl FnMut(&forkwise_fork::Worker)) {
    let mut manager = ForkManager::new().unwrap();
    let group = manager.fork(body, 1).unwrap();
    assert_eq!(manager.wait(&group).unwrap(), [WorkerState::Exited(0)]);
}

/// The title shows in /proc and in `ps`, seen from another process.
pub(crate) fn a_worker_title_shows_in_proc_and_ps() {
    let (set, checked) = (Notify::new(), Notify::new());
    let mut manager = ForkManager::new().unwrap();
    let group = manager
        .fork(
            |worker| {
                let title = format!("fw-title: worker {}", worker.index());
                let shown = set_process_title(&title).unwrap();
                assert_eq!(shown.cmdline, title);
                assert!(!shown.truncated);
                assert_eq!(shown.comm, "fw-title: worke");
                set.notify();
                checked.wait();
            },
            1,
        )
        .unwrap();
    set.wait();
    let pid = manager.pid(group.ids()[0]).unwrap();
    assert_eq!(cmdline(&pid.to_string()), "fw-title: worker 0");
    assert_eq!(comm(&pid.to_string()), "fw-title: worke");
    assert_eq!(ps(pid, "args"), "fw-title: worker 0");
    assert_eq!(ps(pid, "comm"), "fw-title: worke");
    checked.notify();
    assert_eq!(manager.wait(&group).unwrap(), [WorkerState::Exited(0)]);
    // The master's own title is untouched.
    assert_ne!(cmdline("self"), "fw-title: worker 0");
}

/// The kernel's `arg_start` for this process (`/proc/self/stat` field 48).
fn arg_start() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    rest.split_whitespace()
        .nth(48 - 3)
        .unwrap()
        .parse()
        .unwrap()
}

/// A title longer than the room is cut at a character boundary, and
/// nothing is written past the room: 4 KiB where the kernel lets the title
/// have an area of its own (`CAP_SYS_RESOURCE`), the original argument
/// strings elsewhere (as on this machine, where even root is refused).
pub(crate) fn a_long_title_is_truncated_not_overflowed() {
    in_worker(|_| {
        let room = std::fs::read("/proc/self/cmdline").unwrap().len();
        let before = arg_start();
        let title = "é".repeat(2500); // 5000 bytes, every other one mid-character
        let shown = set_process_title(&title).unwrap();
        let moved = arg_start() != before;
        let limit = if moved { 4095 } else { room - 1 };
        assert!(shown.truncated);
        assert!(
            shown.cmdline.len() <= limit,
            "{} > {limit}",
            shown.cmdline.len()
        );
        assert!(shown.cmdline.len() + 1 >= limit, "cut short of the room");
        assert!(
            title.starts_with(&shown.cmdline),
            "a prefix, cut at a boundary"
        );
        let raw = std::fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(
            raw.len(),
            if moved { shown.cmdline.len() + 1 } else { room }
        );
        assert_eq!(cmdline("self"), shown.cmdline);
        assert_eq!(shown.comm, "ééééééé", "15 bytes hold 7 whole characters");
        // A shorter title afterwards leaves nothing of the longer one.
        set_process_title("fw-short").unwrap();
        assert_eq!(cmdline("self"), "fw-short");
        assert_eq!(comm("self"), "fw-short");
    });
}

/// Removes `CAP_SYS_RESOURCE` from this process's effective capabilities, as
/// for an ordinary user: the kernel then refuses to move the argument area.
fn drop_cap_sys_resource() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    const CAP_SYS_RESOURCE: u32 = 24;
    let mut header = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset read and write the header and two data structs,
    // all valid for the calls.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()),
            0
        );
        data[0].effective &= !(1 << CAP_SYS_RESOURCE);
        assert_eq!(
            libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()),
            0
        );
    }
}

/// Without the capability, the original argument area is overwritten: the
/// title is cut to its length.
pub(crate) fn without_the_capability_the_argv_area_is_used() {
    in_worker(|_| {
        let room = std::fs::read("/proc/self/cmdline").unwrap().len();
        drop_cap_sys_resource();
        let title = "fw-argv: ".to_owned() + &"z".repeat(room);
        let shown = set_process_title(&title).unwrap();
        assert!(shown.truncated);
        assert_eq!(shown.cmdline.len(), room - 1, "cut to the area, NUL kept");
        assert_eq!(cmdline("self"), shown.cmdline);
        let raw = std::fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(raw.len(), room, "the area did not grow");
        // Exactly as long as the area: one byte too many, as the NUL must stay.
        let exact = "e".repeat(room);
        let shown = set_process_title(&exact).unwrap();
        assert_eq!(shown.cmdline.len(), room - 1);
        assert!(shown.truncated);
        let raw = std::fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(raw.len(), room);
        assert_eq!(raw[room - 1], 0, "the area still ends with a NUL");
        set_process_title("fw-argv").unwrap();
        assert_eq!(cmdline("self"), "fw-argv");
        assert_eq!(std::env::args().next().unwrap(), "fw-argv", "as documented");
    });
}

/// Overwriting the argument area of a threaded process is refused.
pub(crate) fn a_threaded_process_cannot_overwrite_argv() {
    in_worker(|_| {
        drop_cap_sys_resource();
        let (stop, parked) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || parked.recv().ok());
        let err = set_process_title("fw-threads").unwrap_err();
        assert!(matches!(err, Error::Threaded { threads: 2 }), "{err}");
        stop.send(()).unwrap();
        thread.join().unwrap();
    });
}

/// A NUL byte cannot be part of a title.
pub(crate) fn a_nul_in_a_title_is_refused() {
    let err = set_process_title("bad\0title").unwrap_err();
    assert!(matches!(err, Error::Nul { what: "title" }), "{err}");
}
