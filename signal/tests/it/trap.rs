//! `SignalTrap` in a main loop.

use std::time::{Duration, Instant};

use forkwise_signal::{Propagation, Signal, SignalHandler, SignalTrap};
use forkwise_testkit::{Notify, SharedCounters, fork};
use std::sync::atomic::Ordering::SeqCst;

use crate::support::{Log, my_pid};

/// A child loops on `is_trapped` until the parent sends SIGTERM; it then
/// leaves its loop and exits normally instead of being killed.
pub(crate) fn trap_ends_a_child_loop_on_sigterm() {
    let ready = Notify::new();
    // [0] iterations of the child's loop, [1] the signal it trapped
    let counters = SharedCounters::new(2);
    let child = fork(|| {
        let trap = SignalTrap::new(&[Signal::SIGINT, Signal::SIGTERM]).unwrap();
        ready.notify();
        while !trap.is_trapped() {
            counters[0].fetch_add(1, SeqCst);
            std::thread::sleep(Duration::from_micros(200));
        }
        counters[1].store(i64::from(trap.trapped().unwrap().as_raw()), SeqCst);
    });
    ready.wait();
    std::thread::sleep(Duration::from_millis(20));
    child.kill(libc::SIGTERM);
    child.join(); // exit code 0: the loop ended, SIGTERM did not kill it
    assert!(counters[0].load(SeqCst) > 0, "the loop ran");
    assert_eq!(counters[1].load(SeqCst), i64::from(libc::SIGTERM));
}

/// `trapped` names the first signal; `reset` forgets it and the trap waits
/// for the next.
pub(crate) fn trap_remembers_the_first_signal_until_reset() {
    let trap = SignalTrap::new(&[Signal::SIGINT, Signal::SIGTERM]).unwrap();
    assert_eq!(trap.trapped(), None);
    let parent = my_pid();
    fork(|| {
        Signal::SIGINT.send(parent).unwrap();
    })
    .join();
    fork(|| {
        Signal::SIGTERM.send(parent).unwrap();
    })
    .join();
    assert_eq!(trap.trapped(), Some(Signal::SIGINT));
    trap.reset();
    assert!(!trap.is_trapped());
    fork(|| Signal::SIGTERM.send(parent).unwrap()).join();
    assert_eq!(trap.trapped(), Some(Signal::SIGTERM));
}

/// A trap is one more listener: it lets the signal bubble to older ones.
pub(crate) fn trap_lets_the_signal_bubble() {
    let log = Log::default();
    let handler = SignalHandler::new(Signal::SIGTERM).unwrap();
    log.add(&handler, "older", Propagation::Continue);
    let trap = SignalTrap::new(&[Signal::SIGTERM]).unwrap();
    Signal::SIGTERM.raise().unwrap();
    assert!(trap.is_trapped());
    assert_eq!(log.take(), ["older"]);
}

/// `SignalTrap::wait` blocks until a trapped signal comes, running other
/// signals' listeners meanwhile, and honours its timeout.
pub(crate) fn trap_wait_returns_with_the_signal() {
    let trap = SignalTrap::new(&[Signal::SIGTERM]).unwrap();
    let log = Log::default();
    let other = SignalHandler::new(Signal::SIGUSR1).unwrap();
    log.add(&other, "usr1", Propagation::Continue);

    let started = Instant::now();
    assert_eq!(trap.wait(Some(Duration::from_millis(50))).unwrap(), None);
    assert!(started.elapsed() >= Duration::from_millis(50));

    let parent = my_pid();
    let sender = fork(|| {
        std::thread::sleep(Duration::from_millis(30));
        Signal::SIGUSR1.send(parent).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        Signal::SIGTERM.send(parent).unwrap();
    });
    let started = Instant::now();
    let trapped = trap.wait(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(trapped, Some(Signal::SIGTERM));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        log.take(),
        ["usr1"],
        "the other signal's listener ran on the way"
    );
    sender.join();
}

/// A trap is refused whole when one of its signals cannot be handled, and
/// leaves the others as they were.
pub(crate) fn trap_with_a_forbidden_signal_is_refused_whole() {
    let err = SignalTrap::new(&[Signal::SIGTERM, Signal::SIGKILL]).unwrap_err();
    assert_eq!(err.signal(), Some(Signal::SIGKILL));
    assert!(
        !crate::support::caught(Signal::SIGTERM),
        "SIGTERM went back to its default"
    );
}
