//! Property tests of forkwise-signal, run through the testkit harness (each
//! property in a forked, single-threaded process, so that it may fork more).
//!
//! The listener stack against a model: random sequences of adding listeners
//! (returning `Continue` or `Stop`, on one of three handlers), removing them,
//! dropping whole handlers, and signals, raised or sent by a forked child.
//! After every signal the listeners that ran must be exactly the model's:
//! newest first, up to and including the first `Stop`; and the signal must
//! be caught by the kernel exactly while the model has listeners.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use forkwise_signal::{ListenerId, Propagation, Signal, SignalHandler};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const HANDLERS: usize = 3;
const SIGNAL: Signal = Signal::SIGUSR1;

#[derive(Clone, Debug)]
enum Op {
    /// Add a listener to handler `.1` that returns `.0`.
    Add(Propagation, usize),
    /// Remove the `.0 % live`-th live listener, counted from the oldest.
    Remove(usize),
    /// Drop handler `.0` (removing its listeners) and make a new one.
    Renew(usize),
    /// Raise the signal and dispatch.
    Raise,
    /// Have a forked child send the signal, and wait for it.
    SendFromChild,
}

fn op() -> impl Strategy<Value = Op> {
    let propagation = prop_oneof![Just(Propagation::Continue), Just(Propagation::Stop)];
    prop_oneof![
        4 => (propagation, 0..HANDLERS).prop_map(|(p, h)| Op::Add(p, h)),
        2 => any::<usize>().prop_map(Op::Remove),
        1 => (0..HANDLERS).prop_map(Op::Renew),
        3 => Just(Op::Raise),
        1 => Just(Op::SendFromChild),
    ]
}

/// A listener as the model sees it.
struct Modelled {
    tag: u32,
    propagation: Propagation,
    handler: usize,
    id: ListenerId,
}

fn caught() -> bool {
    forkwise_testkit::caught(SIGNAL.as_raw())
}

fn run_ops(ops: &[Op]) -> Result<(), TestCaseError> {
    let ran = Arc::new(Mutex::new(Vec::<u32>::new()));
    let mut handlers: Vec<SignalHandler> = (0..HANDLERS)
        .map(|_| SignalHandler::new(SIGNAL).unwrap())
        .collect();
    let mut model: Vec<Modelled> = Vec::new(); // oldest first
    let mut next_tag = 0;
    for op in ops {
        match *op {
            Op::Add(propagation, handler) => {
                let (log, tag) = (Arc::clone(&ran), next_tag);
                next_tag += 1;
                let id = handlers[handler]
                    .add(move |_| {
                        log.lock().unwrap().push(tag);
                        propagation
                    })
                    .unwrap();
                model.push(Modelled {
                    tag,
                    propagation,
                    handler,
                    id,
                });
            }
            Op::Remove(index) if !model.is_empty() => {
                let gone = model.remove(index % model.len());
                prop_assert!(handlers[gone.handler].remove(gone.id));
                prop_assert!(!handlers[gone.handler].remove(gone.id), "removed twice");
            }
            Op::Remove(_) => {}
            Op::Renew(handler) => {
                handlers[handler] = SignalHandler::new(SIGNAL).unwrap();
                model.retain(|m| m.handler != handler);
            }
            // With no listener the signal has its default action: it would
            // end the process.
            Op::Raise | Op::SendFromChild if model.is_empty() => {}
            Op::Raise | Op::SendFromChild => {
                let delivered = if matches!(op, Op::Raise) {
                    SIGNAL.raise().unwrap();
                    forkwise_signal::dispatch()
                } else {
                    let parent = i32::try_from(std::process::id()).unwrap();
                    forkwise_testkit::fork(|| SIGNAL.send(parent).unwrap()).join();
                    forkwise_signal::wait(Some(Duration::from_secs(5))).unwrap()
                };
                let mut expected = Vec::new();
                for m in model.iter().rev() {
                    expected.push(m.tag);
                    if m.propagation == Propagation::Stop {
                        break;
                    }
                }
                let actual = std::mem::take(&mut *ran.lock().unwrap());
                prop_assert_eq!(&actual, &expected, "after {:?}", op);
                prop_assert_eq!(delivered, expected.len());
            }
        }
        prop_assert_eq!(caught(), !model.is_empty(), "installed iff listeners exist");
        let per_handler: Vec<usize> = handlers.iter().map(SignalHandler::len).collect();
        let modelled: Vec<usize> = (0..HANDLERS)
            .map(|h| model.iter().filter(|m| m.handler == h).count())
            .collect();
        prop_assert_eq!(per_handler, modelled);
    }
    drop(handlers);
    prop_assert!(!caught(), "the default is back once every handler is gone");
    Ok(())
}

/// The property; a failure shows the shrunk sequence of operations.
fn listener_stack_matches_the_model() {
    let config = Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&proptest::collection::vec(op(), 0..40), |ops| run_ops(&ops));
    if let Err(err) = result {
        panic!("{err}");
    }
}

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        listener_stack_matches_the_model => Duration::from_secs(240),
    ]);
}
