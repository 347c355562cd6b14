//! No zombie is ever left: after waiting, and when the manager is dropped
//! with workers still running, under each drop policy.

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use forkwise_fork::{DropPolicy, ForkManager, Signal};
use forkwise_signal::SignalTrap;
use forkwise_testkit::SharedCounters;

use crate::support::{assert_no_children, nap, quick};

/// Ignores `SIGTERM` in the calling worker.
fn ignore_sigterm() {
    // SAFETY: SIG_IGN for SIGTERM; no handler code runs.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
}

/// After `wait_all`, `/proc` shows no child of the master, zombie or not.
pub(crate) fn no_zombie_after_waiting() {
    let mut manager = ForkManager::new().unwrap();
    manager.fork(|w| w.index() % 3, 20).unwrap();
    manager.fork(|_| nap(20), 5).unwrap();
    manager.wait_all().unwrap();
    assert_no_children();
}

/// Dropping the manager terminates running workers (SIGTERM first, which a
/// worker may catch to clean up) and reaps them.
pub(crate) fn drop_terminates_and_reaps() {
    let counters = SharedCounters::new(2);
    let manager = {
        let mut manager = quick().build().unwrap();
        manager
            .fork(
                |_| {
                    let trap = SignalTrap::new(&[Signal::SIGTERM]).unwrap();
                    counters[0].fetch_add(1, SeqCst);
                    trap.wait(Some(Duration::from_secs(30))).unwrap();
                    counters[1].fetch_add(1, SeqCst); // cleaned up
                },
                3,
            )
            .unwrap();
        manager
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters[0].load(SeqCst) < 3 {
        assert!(Instant::now() < deadline, "workers did not start");
        nap(1);
    }
    drop(manager);
    assert_eq!(counters[1].load(SeqCst), 3, "each worker caught SIGTERM");
    assert_no_children();
}

/// A worker that ignores SIGTERM is killed after the grace period on drop.
pub(crate) fn drop_kills_after_the_grace_period() {
    let started = SharedCounters::new(1);
    let mut manager = ForkManager::builder()
        .grace_period(Duration::from_millis(300))
        .build()
        .unwrap();
    manager
        .fork(
            |_| {
                ignore_sigterm();
                started[0].fetch_add(1, SeqCst);
                nap(30_000);
            },
            1,
        )
        .unwrap();
    while started[0].load(SeqCst) == 0 {
        nap(1);
    }
    let began = Instant::now();
    drop(manager);
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(300),
        "killed before the grace: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_no_children();
}

/// `DropPolicy::Kill` does not wait for the grace period.
pub(crate) fn drop_policy_kill_is_immediate() {
    let mut manager = ForkManager::builder()
        .grace_period(Duration::from_secs(30))
        .on_drop(DropPolicy::Kill)
        .build()
        .unwrap();
    manager
        .fork(
            |_| {
                ignore_sigterm();
                nap(30_000);
            },
            2,
        )
        .unwrap();
    let began = Instant::now();
    drop(manager);
    assert!(began.elapsed() < Duration::from_secs(5));
    assert_no_children();
}

/// `DropPolicy::Wait` lets the workers finish.
pub(crate) fn drop_policy_wait_lets_workers_finish() {
    let finished = SharedCounters::new(1);
    let mut manager = ForkManager::builder()
        .on_drop(DropPolicy::Wait)
        .build()
        .unwrap();
    manager
        .fork(
            |_| {
                nap(200);
                finished[0].fetch_add(1, SeqCst);
            },
            2,
        )
        .unwrap();
    drop(manager);
    assert_eq!(finished[0].load(SeqCst), 2);
    assert_no_children();
}
