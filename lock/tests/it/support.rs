//! Helpers shared by the cases.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// Installs a counting SIGUSR1 handler *without* `SA_RESTART`, so that
/// blocking calls in this process fail with EINTR when it runs.
pub(crate) fn count_sigusr1_without_restart() {
    // SAFETY: `sigaction` is zero-initialisable; the handler only does an
    // atomic add, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = 0;
        libc::sigemptyset(&raw mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &raw const action, std::ptr::null_mut()),
            0
        );
    }
}

/// How many SIGUSR1s the handler has counted.
pub(crate) fn sigusr1_count() -> u64 {
    HANDLED.load(Ordering::Relaxed)
}

/// Polls `condition` every millisecond until it holds; panics after 10 s.
#[track_caller]
pub(crate) fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// This process's pid as `kill(2)` takes it.
pub(crate) fn my_pid() -> i32 {
    i32::try_from(std::process::id()).expect("pids fit i32")
}
