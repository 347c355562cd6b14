//! Fault injection for tests (the `fault-injection` feature): make a later
//! `fork(2)` fail, so that the "the k-th fork of a group failed" path can be
//! tested where `RLIMIT_NPROC` cannot reach it (root ignores that limit);
//! make `pidfd_open(2)` fail, as on a kernel older than 5.3.
//!
//! Not part of the API: hidden from the docs, absent without the feature.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// Forks left to succeed before the next one fails; negative: none fails.
static SUCCESSES_LEFT: AtomicI64 = AtomicI64::new(-1);

/// Makes the fork after the next `successes` forks of this process fail
/// with EAGAIN, as a fork over `RLIMIT_NPROC` would; once only.
pub fn fail_fork_after(successes: u32) {
    SUCCESSES_LEFT.store(i64::from(successes), Ordering::Relaxed);
}

/// Whether `pidfd_open(2)` fails with ENOSYS.
static NO_PIDFDS: AtomicBool = AtomicBool::new(false);

/// Cancels a failure armed by [`fail_fork_after`] that has not happened
/// yet, and lets pidfds be opened again.
pub fn clear() {
    SUCCESSES_LEFT.store(-1, Ordering::Relaxed);
    NO_PIDFDS.store(false, Ordering::Relaxed);
}

/// Makes every `pidfd_open(2)` fail with ENOSYS until [`clear`].
pub fn fail_pidfds() {
    NO_PIDFDS.store(true, Ordering::Relaxed);
}

/// True if [`fail_pidfds`] is in force.
pub(crate) fn pidfds_fail() -> bool {
    NO_PIDFDS.load(Ordering::Relaxed)
}

/// Counts one fork; true if it is the one that must fail.
pub(crate) fn next_fork_fails() -> bool {
    match SUCCESSES_LEFT.load(Ordering::Relaxed) {
        left if left < 0 => false,
        0 => {
            SUCCESSES_LEFT.store(-1, Ordering::Relaxed);
            true
        }
        left => {
            SUCCESSES_LEFT.store(left - 1, Ordering::Relaxed);
            false
        }
    }
}
