//! The listener stack: newest first, `Stop` ends the bubbling, across handlers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use forkwise_signal::{ListenerGuard, ListenerId, Propagation, Signal, SignalHandler};
use forkwise_testkit::{Notify, fork};

use crate::support::{Log, my_pid};

/// Sends SIGUSR1 to this process from a child, and dispatches until the
/// child's signal has run the listeners; returns what ran.
fn signal_from_child(log: &Log) -> Vec<String> {
    let parent = my_pid();
    fork(|| Signal::SIGUSR1.send(parent).unwrap()).join();
    let ran = forkwise_signal::wait(Some(Duration::from_secs(10))).unwrap();
    let names = log.take();
    assert_eq!(ran, names.len(), "wait counts the listeners that ran");
    names
}

/// A child sends SIGUSR1; the listeners run newest first and stop at `Stop`.
pub(crate) fn newest_first_until_stop() {
    let log = Log::default();
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    log.add(&handler, "oldest", Propagation::Continue);
    let stopper = handler
        .add(log.listener("stopper", Propagation::Stop))
        .unwrap();
    log.add(&handler, "newest", Propagation::Continue);

    assert_eq!(signal_from_child(&log), ["newest", "stopper"]);

    assert!(handler.remove(stopper));
    assert_eq!(signal_from_child(&log), ["newest", "oldest"]);
}

/// The stack is per signal and process-wide: listeners of two handlers
/// interleave by the time they were added, and a `Stop` in one handler's
/// listener keeps the signal from the other's older listeners.
pub(crate) fn stack_spans_handlers_by_time_of_adding() {
    let log = Log::default();
    let first = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let second = SignalHandler::new(Signal::SIGUSR1).unwrap();
    log.add(&first, "first-a", Propagation::Continue);
    log.add(&second, "second-a", Propagation::Continue);
    log.add(&first, "first-b", Propagation::Continue);
    assert_eq!(signal_from_child(&log), ["first-b", "second-a", "first-a"]);

    log.add(&second, "second-b", Propagation::Stop);
    assert_eq!(signal_from_child(&log), ["second-b"]);

    drop(second);
    assert_eq!(
        signal_from_child(&log),
        ["first-b", "first-a"],
        "dropping a handler removes its listeners only"
    );
    assert_eq!(first.len(), 2);
}

/// Other signals' stacks are separate.
pub(crate) fn stacks_are_per_signal() {
    let log = Log::default();
    let usr1 = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let usr2 = SignalHandler::new(Signal::SIGUSR2).unwrap();
    log.add(&usr1, "usr1", Propagation::Continue);
    log.add(&usr2, "usr2", Propagation::Stop);
    Signal::SIGUSR2.raise().unwrap();
    assert_eq!(forkwise_signal::dispatch(), 1);
    assert_eq!(log.take(), ["usr2"]);
    Signal::SIGUSR1.raise().unwrap();
    Signal::SIGUSR2.raise().unwrap();
    assert_eq!(forkwise_signal::dispatch(), 2);
    let mut ran = log.take();
    ran.sort();
    assert_eq!(ran, ["usr1", "usr2"]);
}

/// A scoped listener is removed when its guard drops.
pub(crate) fn guard_removes_on_drop() {
    let log = Log::default();
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    log.add(&handler, "base", Propagation::Continue);
    let guard = handler
        .add_scoped(log.listener("modal", Propagation::Stop))
        .unwrap();
    assert_eq!(signal_from_child(&log), ["modal"]);
    drop(guard);
    assert_eq!(signal_from_child(&log), ["base"]);
}

/// A SIGUSR1 handler (shared, for listeners that change its stack) with
/// one listener, "victim", for them to remove.
fn sigusr1_with_victim() -> (Log, Arc<SignalHandler>, ListenerId) {
    let log = Log::default();
    let handler = Arc::new(SignalHandler::new(Signal::SIGUSR1).unwrap());
    let victim = handler
        .add(log.listener("victim", Propagation::Continue))
        .unwrap();
    (log, handler, victim)
}

/// Listeners may add and remove listeners, themselves included, while they
/// are being dispatched: nothing deadlocks, a removed listener does not run
/// in the same dispatch, and an added one runs from the next signal on.
pub(crate) fn listeners_change_the_stack_while_dispatched() {
    let (log, handler, victim) = sigusr1_with_victim();
    let guards: Arc<Mutex<Vec<ListenerGuard>>> = Arc::default();
    let self_id = Arc::new(Mutex::new(None));
    let changer = {
        let (handler, log, guards, self_id) = (
            Arc::clone(&handler),
            log.clone(),
            Arc::clone(&guards),
            Arc::clone(&self_id),
        );
        move |_: &forkwise_signal::SignalInfo| {
            log.push("changer");
            assert!(handler.remove(victim), "remove an older listener");
            let added = handler.add_scoped(log.listener("added", Propagation::Continue));
            guards.lock().unwrap().push(added.unwrap());
            let me = self_id.lock().unwrap().take().expect("own id");
            assert!(handler.remove(me), "remove itself");
            Propagation::Continue
        }
    };
    let changer_id = handler.add(changer).unwrap();
    *self_id.lock().unwrap() = Some(changer_id);

    assert_eq!(
        signal_from_child(&log),
        ["changer"],
        "the victim was skipped"
    );
    assert_eq!(signal_from_child(&log), ["added"]);
    guards.lock().unwrap().clear();
    assert!(handler.is_empty());
}

/// A listener removed during a dispatch does not run in it, also when the
/// stack was changed after the dispatch began (the dispatch then holds an
/// older version of the stack than the one the listener is removed from).
pub(crate) fn removal_from_a_changed_stack_skips_the_listener() {
    let (log, handler, victim) = sigusr1_with_victim();
    let guards: Arc<Mutex<Vec<ListenerGuard>>> = Arc::default();
    let changer = {
        let (handler, log, guards) = (Arc::clone(&handler), log.clone(), Arc::clone(&guards));
        move |_: &forkwise_signal::SignalInfo| {
            log.push("changer");
            let added = handler.add_scoped(log.listener("added", Propagation::Continue));
            guards.lock().unwrap().push(added.unwrap());
            handler.remove(victim);
            Propagation::Continue
        }
    };
    let changer = handler.add_scoped(changer).unwrap();
    assert_eq!(
        signal_from_child(&log),
        ["changer"],
        "the victim was skipped"
    );
    drop(changer);
    guards.lock().unwrap().clear();
    assert!(handler.is_empty());
}

/// Signals that arrive while nothing dispatches are counted, not lost:
/// one dispatch runs each listener once, with the number of arrivals.
pub(crate) fn arrivals_between_dispatches_are_counted() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let counts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&counts);
    handler
        .add(move |info| {
            seen.lock().unwrap().push(info.count);
            Propagation::Continue
        })
        .unwrap();
    for _ in 0..5 {
        Signal::SIGUSR1.raise().unwrap(); // delivered before raise returns
    }
    assert_eq!(forkwise_signal::dispatch(), 1);
    assert_eq!(*counts.lock().unwrap(), [5]);
    assert_eq!(forkwise_signal::dispatch(), 0, "nothing left");
}

/// A dispatch started inside a listener runs nothing; what it would have run
/// waits for the next dispatch.
pub(crate) fn nested_dispatch_runs_nothing() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let nested = Arc::new(AtomicUsize::new(usize::MAX));
    let record = Arc::clone(&nested);
    handler
        .add(move |_| {
            Signal::SIGUSR1.raise().unwrap();
            record.store(forkwise_signal::dispatch(), Ordering::SeqCst);
            Propagation::Continue
        })
        .unwrap();
    Signal::SIGUSR1.raise().unwrap();
    assert_eq!(forkwise_signal::dispatch(), 1);
    assert_eq!(nested.load(Ordering::SeqCst), 0);
    assert_eq!(
        forkwise_signal::dispatch(),
        1,
        "the signal raised inside the listener is dispatched next time"
    );
}

/// A listener that panics propagates the panic out of `dispatch`, and loses
/// neither the stack nor the signals that were still to be dispatched.
pub(crate) fn panicking_listener_loses_nothing() {
    let log = Log::default();
    let usr1 = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let usr2 = SignalHandler::new(Signal::SIGUSR2).unwrap();
    let mut panics = 1;
    usr1.add(move |_| {
        if panics > 0 {
            panics -= 1;
            panic!("listener failed");
        }
        Propagation::Continue
    })
    .unwrap();
    log.add(&usr2, "usr2", Propagation::Continue);
    // SIGUSR1 has the lower number, so it is dispatched first.
    assert!(Signal::SIGUSR1.as_raw() < Signal::SIGUSR2.as_raw());
    Signal::SIGUSR1.raise().unwrap();
    Signal::SIGUSR2.raise().unwrap();
    let result = std::panic::catch_unwind(forkwise_signal::dispatch);
    assert!(result.is_err(), "the panic reaches the caller");
    assert!(log.take().is_empty());
    assert_eq!(forkwise_signal::dispatch(), 1, "SIGUSR2 was kept for later");
    assert_eq!(log.take(), ["usr2"]);
    Signal::SIGUSR1.raise().unwrap();
    assert_eq!(forkwise_signal::dispatch(), 1, "the listener runs again");
}

/// Many senders at once: every child's signal is eventually seen (standard
/// signals may merge, so at least one run, and no more runs than signals).
pub(crate) fn concurrent_senders() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let total = Arc::new(AtomicUsize::new(0));
    let sum = Arc::clone(&total);
    handler
        .add(move |info| {
            sum.fetch_add(usize::try_from(info.count).unwrap(), Ordering::SeqCst);
            Propagation::Continue
        })
        .unwrap();
    let go = Notify::new();
    let parent = my_pid();
    let children: Vec<_> = (0..4)
        .map(|_| {
            fork(|| {
                go.wait();
                for _ in 0..50 {
                    Signal::SIGUSR1.send(parent).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..4 {
        go.notify();
    }
    children.into_iter().for_each(forkwise_testkit::Child::join);
    while forkwise_signal::wait(Some(Duration::from_millis(50))).unwrap() > 0 {}
    let seen = total.load(Ordering::SeqCst);
    assert!(
        (1..=200).contains(&seen),
        "{seen} arrivals counted for 200 sent"
    );
}
