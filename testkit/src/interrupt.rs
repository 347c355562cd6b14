//! Helpers for signal and EINTR tests: a counting SIGUSR1 handler installed
//! without `SA_RESTART`, storms, the kernel's view of this process's signal
//! sets, and small waits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sys;

static HANDLED: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    // Async-signal-safe: one atomic add.
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// Installs a counting SIGUSR1 handler *without* `SA_RESTART`, so that
/// blocking calls in this process fail with EINTR when it runs (pair it
/// with [`storm`](crate::storm)).
///
/// # Panics
///
/// If `sigaction(2)` fails.
pub fn count_sigusr1_without_restart() {
    sys::handle_without_restart(libc::SIGUSR1, count_signal);
}

/// How many SIGUSR1s the handler of [`count_sigusr1_without_restart`] has counted.
pub fn sigusr1_count() -> u64 {
    HANDLED.load(Ordering::Relaxed)
}

/// Runs `call` under a storm of SIGUSR1, one every 100 µs, counted by the
/// handler of [`count_sigusr1_without_restart`] (which it installs), so
/// that every blocking call inside sees EINTR; returns what `call` gave
/// once the storm is over.
///
/// # Panics
///
/// If `call` took less than `at_least` (what a blocking call that EINTR
/// cut short does), or if the storm delivered 50 signals or fewer.
#[track_caller]
pub fn through_storm<T>(at_least: Duration, call: impl FnOnce() -> T) -> T {
    count_sigusr1_without_restart();
    let before = sigusr1_count();
    let signals = crate::storm(my_pid(), libc::SIGUSR1, Duration::from_micros(100));
    let started = Instant::now();
    let out = call();
    let waited = started.elapsed();
    drop(signals);
    assert!(waited >= at_least, "returned early, after {waited:?}");
    let delivered = sigusr1_count() - before;
    assert!(
        delivered > 50,
        "the storm delivered only {delivered} signals"
    );
    out
}

/// A signal set of this process as the kernel reports it in
/// `/proc/self/status`, `field` being `SigCgt` (caught), `SigBlk` (blocked,
/// for the reading thread), `SigIgn` or `SigPnd`: bit `n - 1` for signal `n`.
///
/// # Panics
///
/// If the file cannot be read or has no such line.
pub fn status_mask(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} line in /proc/self/status"));
    u64::from_str_radix(mask.trim(), 16).expect("a hex signal set")
}

/// True if the kernel says this process catches `signal` (its bit in
/// `SigCgt`): a check of a crate's handlers against something it does not
/// control.
pub fn caught(signal: i32) -> bool {
    status_mask("SigCgt") & (1 << (signal - 1)) != 0
}

/// Polls `condition` every millisecond until it holds.
///
/// # Panics
///
/// After 10 s, naming `what` it waited for.
#[track_caller]
pub fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// This process's pid as `kill(2)` takes it.
///
/// # Panics
///
/// Never on Linux, where pids fit an `i32`.
pub fn my_pid() -> i32 {
    i32::try_from(std::process::id()).expect("pids fit i32")
}
