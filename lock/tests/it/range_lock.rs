//! `RangeLock` across processes.

use std::process::Command;
use std::time::Duration;

use forkwise_lock::{Error, Mode, RangeLock};
use forkwise_testkit::{Notify, TempDir, fork, through_storm};

/// Forks a child holding `start..start+len` in `mode` until `leave` rings.
fn hold(
    path: &std::path::Path,
    start: u64,
    len: u64,
    mode: Mode,
    leave: &Notify,
) -> forkwise_testkit::Child {
    let held = Notify::new();
    let child = fork(|| {
        let mut lock = RangeLock::new(path, start, len).unwrap();
        let guard = match mode {
            Mode::Exclusive => lock.acquire().unwrap(),
            Mode::Shared => lock.acquire_shared().unwrap(),
        };
        held.notify();
        leave.wait();
        drop(guard);
    });
    held.wait();
    child
}

fn free(path: &std::path::Path, start: u64, len: u64, mode: Mode) -> bool {
    let mut lock = RangeLock::new(path, start, len).unwrap();
    match mode {
        Mode::Exclusive => lock.try_acquire().unwrap().is_some(),
        Mode::Shared => lock.try_acquire_shared().unwrap().is_some(),
    }
}

/// With bytes 0..100 held by another process, 100..200 is free, and anything
/// overlapping, including the whole file, is not.
pub(crate) fn disjoint_ranges_coexist_overlapping_exclude() {
    let dir = TempDir::new("range-disjoint");
    let path = dir.join("db");
    let leave = Notify::new();
    let holder = hold(&path, 0, 100, Mode::Exclusive, &leave);
    assert!(free(&path, 100, 100, Mode::Exclusive), "disjoint range");
    assert!(!free(&path, 50, 100, Mode::Exclusive), "overlapping range");
    assert!(!free(&path, 99, 1, Mode::Shared), "last byte, shared");
    assert!(!free(&path, 0, 0, Mode::Exclusive), "whole file");
    leave.notify();
    holder.join();
    assert!(
        free(&path, 0, 0, Mode::Exclusive),
        "whole file free after release"
    );
}

/// Overlapping shared ranges share; an exclusive range over them waits.
pub(crate) fn shared_ranges_share() {
    let dir = TempDir::new("range-shared");
    let path = dir.join("db");
    let leave = Notify::new();
    let holder = hold(&path, 0, 10, Mode::Shared, &leave);
    assert!(free(&path, 5, 10, Mode::Shared));
    assert!(!free(&path, 5, 10, Mode::Exclusive));
    assert!(
        free(&path, 10, 10, Mode::Exclusive),
        "just past the shared range"
    );
    leave.notify();
    holder.join();
}

/// A range holder killed with SIGKILL releases its range at once.
pub(crate) fn killed_holder_releases_range() {
    let dir = TempDir::new("range-kill");
    let path = dir.join("db");
    let never = Notify::new();
    let holder = hold(&path, 10, 10, Mode::Exclusive, &never);
    assert!(!free(&path, 0, 0, Mode::Exclusive));
    holder.kill(libc::SIGKILL);
    holder.join_killed_by(libc::SIGKILL);
    assert!(free(&path, 0, 0, Mode::Exclusive));
}

/// SIGUSR1 every 100 µs neither fails a blocking range acquire nor ends it early.
pub(crate) fn signal_storm_during_blocking_range_acquire() {
    let dir = TempDir::new("range-storm");
    let path = dir.join("db");
    let held = Notify::new();
    let holder = fork(|| {
        let mut lock = RangeLock::new(&path, 0, 8).unwrap();
        let guard = lock.acquire().unwrap();
        held.notify();
        std::thread::sleep(Duration::from_millis(300));
        drop(guard);
    });
    held.wait();
    let mut lock = RangeLock::new(&path, 4, 8).unwrap();
    let guard = through_storm(Duration::from_millis(250), || {
        lock.acquire().expect("the storm must not fail the acquire")
    });
    drop(guard);
    holder.join();
}

/// Open-file-description locks: two `RangeLock`s in one process exclude each other.
pub(crate) fn ranges_exclude_within_one_process() {
    let dir = TempDir::new("range-one");
    let path = dir.join("db");
    let mut a = RangeLock::new(&path, 0, 10).unwrap();
    let mut b = RangeLock::new(&path, 5, 10).unwrap();
    let held = a.acquire().unwrap();
    assert!(b.try_acquire().unwrap().is_none());
    drop(held);
    assert!(b.try_acquire().unwrap().is_some());
}

/// Python's `fcntl.lockf` (classic POSIX record locks) sees our ranges and we see its.
pub(crate) fn classic_fcntl_locks_interoperate() {
    let dir = TempDir::new("range-python");
    let path = dir.join("db");
    let lockf = |start: u64, len: u64| {
        let script = "import fcntl, sys\n\
             f = open(sys.argv[1], 'r+')\n\
             try:\n    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, int(sys.argv[3]), int(sys.argv[2]))\n\
             except OSError:\n    sys.exit(1)\n";
        let status = Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .args([start.to_string(), len.to_string()])
            .status()
            .expect("run python3");
        status.success()
    };
    let mut lock = RangeLock::new(&path, 100, 50).unwrap();
    let guard = lock.acquire().unwrap();
    assert!(!lockf(120, 10), "python's lockf must see our range");
    assert!(lockf(0, 100), "and not more than it");
    drop(guard);
    assert!(lockf(120, 10), "free after release");
}

/// A range past the largest file offset is a clear error.
pub(crate) fn invalid_range_is_refused() {
    let dir = TempDir::new("range-invalid");
    let path = dir.join("db");
    let err = RangeLock::new(&path, i64::MAX as u64, 2).unwrap_err();
    assert!(matches!(err, Error::InvalidRange { len: 2, .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(!path.exists(), "nothing was created for a refused range");
}
