//! `FileLock` across processes.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use forkwise_lock::{Error, FileLock, Mode};
use forkwise_testkit::{Notify, SharedCounters, TempDir, fork, through_storm};

/// Four processes take turns 200 times each; no two are ever inside together.
pub(crate) fn exclusion_between_processes() {
    let dir = TempDir::new("lock-excl");
    let path = dir.join("x.lock");
    // [0] holders inside now, [1] overlaps seen, [2] entries in total
    let counters = SharedCounters::new(3);
    let children: Vec<_> = (0..4)
        .map(|_| {
            fork(|| {
                let mut lock = FileLock::new(&path).unwrap();
                for _ in 0..200 {
                    let guard = lock.acquire().unwrap();
                    if counters[0].fetch_add(1, SeqCst) != 0 {
                        counters[1].fetch_add(1, SeqCst);
                    }
                    std::thread::yield_now();
                    counters[2].fetch_add(1, SeqCst);
                    counters[0].fetch_sub(1, SeqCst);
                    drop(guard);
                }
            })
        })
        .collect();
    children.into_iter().for_each(forkwise_testkit::Child::join);
    assert_eq!(
        counters[1].load(SeqCst),
        0,
        "two holders were inside at once"
    );
    assert_eq!(counters[2].load(SeqCst), 800);
}

/// Two readers hold the lock at the same time; a writer waits for both.
pub(crate) fn shared_holders_together_exclude_a_writer() {
    let dir = TempDir::new("lock-shared");
    let path = dir.join("x.lock");
    let readers_in = SharedCounters::new(1);
    let (held, leave) = (Notify::new(), Notify::new());
    let readers: Vec<_> = (0..2)
        .map(|_| {
            fork(|| {
                let mut lock = FileLock::new(&path).unwrap();
                let guard = lock.acquire_shared().unwrap();
                assert_eq!(guard.mode(), Mode::Shared);
                readers_in[0].fetch_add(1, SeqCst);
                held.notify();
                leave.wait();
            })
        })
        .collect();
    held.wait();
    held.wait();
    assert_eq!(
        readers_in[0].load(SeqCst),
        2,
        "both readers hold it at once"
    );

    let mut writer = FileLock::new(&path).unwrap();
    assert!(
        writer.try_acquire().unwrap().is_none(),
        "a writer is excluded by readers"
    );
    let mut third_reader = FileLock::new(&path).unwrap();
    assert!(
        third_reader.try_acquire_shared().unwrap().is_some(),
        "readers share with readers"
    );

    leave.notify();
    leave.notify();
    readers.into_iter().for_each(forkwise_testkit::Child::join);
    assert!(
        writer.try_acquire().unwrap().is_some(),
        "free once the readers left"
    );
}

/// A holder killed with SIGKILL releases the lock at once.
pub(crate) fn killed_holder_releases_at_once() {
    let dir = TempDir::new("lock-kill");
    let path = dir.join("x.lock");
    let held = Notify::new();
    let holder = fork(|| {
        let mut lock = FileLock::new(&path).unwrap();
        let _guard = lock.acquire().unwrap();
        held.notify();
        std::thread::sleep(Duration::from_secs(60));
    });
    held.wait();
    let mut lock = FileLock::new(&path).unwrap();
    assert!(lock.try_acquire().unwrap().is_none());
    holder.kill(libc::SIGKILL);
    holder.join_killed_by(libc::SIGKILL);
    assert!(
        lock.try_acquire().unwrap().is_some(),
        "released the moment the holder died"
    );
}

/// Forks a child that holds `path` exclusively for `duration`, and waits until it holds it.
fn hold_for(path: &std::path::Path, duration: Duration) -> forkwise_testkit::Child {
    let held = Notify::new();
    let child = fork(|| {
        let mut lock = FileLock::new(path).unwrap();
        let guard = lock.acquire().unwrap();
        held.notify();
        std::thread::sleep(duration);
        drop(guard);
    });
    held.wait();
    child
}

/// SIGUSR1 every 100 µs, with a handler installed without `SA_RESTART`,
/// neither fails a blocking acquire nor ends it early.
pub(crate) fn signal_storm_during_blocking_acquire() {
    let dir = TempDir::new("lock-storm");
    let path = dir.join("x.lock");
    let holder = hold_for(&path, Duration::from_millis(300));
    let mut lock = FileLock::new(&path).unwrap();
    let guard = through_storm(Duration::from_millis(250), || {
        lock.acquire().expect("the storm must not fail the acquire")
    });
    drop(guard);
    holder.join();
}

/// The same storm during a timed acquire: it still waits until the release.
pub(crate) fn signal_storm_during_timed_acquire() {
    let dir = TempDir::new("lock-storm-timed");
    let path = dir.join("x.lock");
    let holder = hold_for(&path, Duration::from_millis(300));
    let mut lock = FileLock::new(&path).unwrap();
    let guard = through_storm(Duration::from_millis(250), || {
        lock.acquire_timeout(Duration::from_secs(10)).unwrap()
    });
    assert!(guard.is_some(), "the lock was released within the timeout");
    drop(guard);
    holder.join();
}

/// A timed acquire of a held lock gives up on time, within a few milliseconds.
pub(crate) fn timeout_is_honoured() {
    let dir = TempDir::new("lock-timeout");
    let path = dir.join("x.lock");
    let holder = hold_for(&path, Duration::from_secs(2));
    let mut lock = FileLock::new(&path).unwrap();
    for (timeout, shared) in [
        (Duration::from_millis(100), false),
        (Duration::from_millis(50), true),
    ] {
        let started = Instant::now();
        let got = if shared {
            lock.acquire_shared_timeout(timeout).unwrap().is_some()
        } else {
            lock.acquire_timeout(timeout).unwrap().is_some()
        };
        let waited = started.elapsed();
        assert!(!got, "the lock is held elsewhere");
        assert!(waited >= timeout, "gave up early: {waited:?} < {timeout:?}");
        assert!(
            waited < timeout + Duration::from_millis(15),
            "gave up late: {waited:?} for {timeout:?}"
        );
    }
    holder.kill(libc::SIGKILL);
    holder.join_killed_by(libc::SIGKILL);
}

/// A timed acquire takes the lock soon after the holder releases it.
pub(crate) fn timed_acquire_takes_a_released_lock() {
    let dir = TempDir::new("lock-timed-take");
    let path = dir.join("x.lock");
    let holder = hold_for(&path, Duration::from_millis(50));
    let mut lock = FileLock::new(&path).unwrap();
    let started = Instant::now();
    let guard = lock.acquire_timeout(Duration::from_secs(5)).unwrap();
    let waited = started.elapsed();
    assert!(guard.is_some());
    assert!(
        waited < Duration::from_millis(500),
        "took {waited:?} to notice the release"
    );
    drop(guard);
    holder.join();
}

/// A child that drops the guard it inherited does not release the parent's lock.
pub(crate) fn child_dropping_inherited_guard_keeps_parent_lock() {
    let dir = TempDir::new("lock-inherit");
    let path = dir.join("x.lock");
    let mut lock = FileLock::new(&path).unwrap();
    let mut guard = Some(lock.acquire().unwrap());
    fork(|| drop(guard.take())).join();

    let mut rival = FileLock::new(&path).unwrap();
    assert!(
        rival.try_acquire().unwrap().is_none(),
        "the parent still holds it"
    );
    drop(guard);
    assert!(
        rival.try_acquire().unwrap().is_some(),
        "free once the parent dropped its guard"
    );
}

/// `release` frees the lock and reports success.
pub(crate) fn explicit_release() {
    let dir = TempDir::new("lock-release");
    let path = dir.join("x.lock");
    let mut lock = FileLock::new(&path).unwrap();
    let mut rival = FileLock::new(&path).unwrap();
    let guard = lock.acquire().unwrap();
    fork(|| assert!(rival.try_acquire().unwrap().is_none())).join();
    guard.release().unwrap();
    fork(|| assert!(rival.try_acquire().unwrap().is_some())).join();
}

/// A lock file in a directory that does not exist: the error names the directory.
pub(crate) fn missing_directory_is_named() {
    let dir = TempDir::new("lock-missing");
    let path = dir.join("absent/deeper/x.lock");
    let err = FileLock::new(&path).unwrap_err();
    match &err {
        Error::MissingDirectory {
            path: p,
            directory,
            source,
        } => {
            assert_eq!(p, &path);
            assert_eq!(directory, &dir.join("absent"));
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT));
        }
        other => panic!("expected MissingDirectory, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&dir.join("absent").display().to_string()),
        "{message}"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "keeps the OS error"
    );
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::NotFound);
}

/// Lock files are opened close-on-exec, so no lock leaks into an exec'd program.
pub(crate) fn files_are_close_on_exec() {
    let dir = TempDir::new("lock-cloexec");
    let mut lock = FileLock::new(dir.join("x.lock")).unwrap();
    let guard = lock.acquire().unwrap();
    // SAFETY: F_GETFD only reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(guard.file().as_raw_fd(), libc::F_GETFD) };
    assert!(
        flags >= 0 && flags & libc::FD_CLOEXEC != 0,
        "flags {flags:#x}"
    );
}
