//! Helpers shared by the cases.

pub(crate) use forkwise_testkit::{
    count_sigusr1_without_restart, eventually, my_pid, sigusr1_count,
};

use std::time::Duration;

use forkwise_sysv::{FileKey, Key};
use forkwise_testkit::TempDir;

/// Waits until process `pid` is asleep (state `S` in `/proc/PID/stat`):
/// after it said it is about to block, that means it is blocked.
#[track_caller]
pub(crate) fn eventually_asleep(pid: i32) {
    eventually(&format!("process {pid} is asleep"), || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().next())
            == Some("S")
    });
    // Asleep in the kernel's wait queue, not on its way there.
    std::thread::sleep(Duration::from_millis(20));
}

/// A key no other test uses: `ftok` of a new file in `dir`. Project id 1,
/// not 0: with 0, a file whose inode number ends in 16 zero bits would make
/// `IPC_PRIVATE` on this machine (its device byte is 0).
pub(crate) fn file_key(dir: &TempDir, name: &str) -> FileKey {
    let path = dir.join(name);
    std::fs::write(&path, b"").expect("create the key file");
    FileKey::with_project(&path, 1).expect("ftok of a fresh file")
}

/// A semaphore set made with raw libc calls, as another program would,
/// removed on drop.
pub(crate) struct RawSemaphoreSet(pub(crate) i32);

impl RawSemaphoreSet {
    /// `semget(key, nsems, IPC_CREAT | 0600)`, with no initialisation.
    pub(crate) fn create(key: &Key, nsems: i32) -> Self {
        // SAFETY: semget takes three integers.
        let id = unsafe { libc::semget(key.as_raw(), nsems, libc::IPC_CREAT | 0o600) };
        assert!(id >= 0, "semget: {}", std::io::Error::last_os_error());
        Self(id)
    }
}

impl RawSemaphoreSet {
    /// `semget(key, nsems, IPC_CREAT | IPC_EXCL | 0600)`.
    pub(crate) fn create_exclusive(key: &Key, nsems: i32) -> Self {
        // SAFETY: semget takes three integers.
        let id = unsafe {
            libc::semget(
                key.as_raw(),
                nsems,
                libc::IPC_CREAT | libc::IPC_EXCL | 0o600,
            )
        };
        assert!(id >= 0, "semget: {}", std::io::Error::last_os_error());
        Self(id)
    }

    /// The creator's half of the Stevens protocol: `SETVAL`, then one
    /// operation on the semaphore so that `sem_otime` becomes non-zero.
    pub(crate) fn initialise(&self, value: u32) {
        let value = libc::c_int::try_from(value).unwrap();
        // SAFETY: SETVAL takes an int (passed as `union semun`, whose `val`
        // member is the first); the set exists.
        assert_eq!(unsafe { libc::semctl(self.0, 0, libc::SETVAL, value) }, 0);
        let mut no_op = [
            libc::sembuf {
                sem_num: 0,
                sem_op: -1,
                sem_flg: 0,
            },
            libc::sembuf {
                sem_num: 0,
                sem_op: 1,
                sem_flg: 0,
            },
        ];
        // SAFETY: two valid `sembuf`s that outlive the call.
        assert_eq!(unsafe { libc::semop(self.0, no_op.as_mut_ptr(), 2) }, 0);
    }
}

impl Drop for RawSemaphoreSet {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no fourth argument.
        unsafe { libc::semctl(self.0, 0, libc::IPC_RMID) };
    }
}
