//! Property tests of forkwise-lock across processes: random scripts of
//! acquires run by several forked processes at once never break exclusion.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use forkwise_lock::{FileLock, RangeLock};
use forkwise_testkit::{Child, SharedCounters, TempDir, fork};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        file_lock_scripts_never_break_exclusion => Duration::from_secs(300),
        range_lock_scripts_never_break_exclusion => Duration::from_secs(300),
    ]);
}

/// One step of a process's script.
#[derive(Clone, Copy, Debug)]
struct Step {
    shared: bool,
    how: How,
    /// How long to hold the lock, in microseconds.
    hold_us: u64,
    /// For range locks: the first byte and the length, within `BYTES`.
    start: u64,
    len: u64,
}

#[derive(Clone, Copy, Debug)]
enum How {
    Block,
    Try,
    Timeout(u64),
}

const BYTES: u64 = 16;

fn step() -> impl Strategy<Value = Step> {
    let how = prop_oneof![
        Just(How::Block),
        Just(How::Try),
        (0u64..3).prop_map(How::Timeout)
    ];
    (any::<bool>(), how, 0u64..300, 0..BYTES, 1..=BYTES).prop_map(
        |(shared, how, hold_us, start, len)| Step {
            shared,
            how,
            hold_us,
            start,
            len: len.min(BYTES - start),
        },
    )
}

fn scripts() -> impl Strategy<Value = Vec<Vec<Step>>> {
    proptest::collection::vec(proptest::collection::vec(step(), 1..12), 2..=4)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Per byte: counter `2 * b` counts exclusive holders, `2 * b + 1` shared
/// ones; the last counter counts violations seen.
fn enter(counters: &SharedCounters, step: &Step) {
    let violations = &counters[counters.len() - 1];
    for byte in step.start..step.start + step.len {
        let (writers, readers) = (&counters[slot(byte)], &counters[slot(byte) + 1]);
        if step.shared {
            readers.fetch_add(1, SeqCst);
            if writers.load(SeqCst) != 0 {
                violations.fetch_add(1, SeqCst);
            }
        } else if writers.fetch_add(1, SeqCst) != 0 || readers.load(SeqCst) != 0 {
            violations.fetch_add(1, SeqCst);
        }
    }
}

fn leave(counters: &SharedCounters, step: &Step) {
    for byte in step.start..step.start + step.len {
        counters[slot(byte) + usize::from(step.shared)].fetch_sub(1, SeqCst);
    }
}

fn slot(byte: u64) -> usize {
    2 * usize::try_from(byte).expect("small")
}

/// Runs each script in a process of its own; returns the violations seen.
fn run_scripts(scripts: &[Vec<Step>], run_step: &(dyn Fn(&Step, &SharedCounters) + Sync)) -> i64 {
    let counters = SharedCounters::new(2 * usize::try_from(BYTES).unwrap() + 1);
    let children: Vec<Child> = scripts
        .iter()
        .map(|script| fork(|| script.iter().for_each(|step| run_step(step, &counters))))
        .collect();
    children.into_iter().for_each(Child::join);
    counters[counters.len() - 1].load(SeqCst)
}

fn hold(counters: &SharedCounters, step: &Step) {
    enter(counters, step);
    std::thread::sleep(Duration::from_micros(step.hold_us));
    leave(counters, step);
}

/// Whole-file locks: a step locks all `BYTES` bytes.
fn file_lock_scripts_never_break_exclusion() {
    let dir = TempDir::new("props-file");
    let path = dir.join("x.lock");
    runner()
        .run(&scripts(), |scripts| {
            let violations = run_scripts(&scripts, &|step, counters| {
                let whole = Step {
                    start: 0,
                    len: BYTES,
                    ..*step
                };
                let mut lock = FileLock::new(&path).unwrap();
                let guard = match (step.shared, step.how) {
                    (false, How::Block) => Some(lock.acquire().unwrap()),
                    (true, How::Block) => Some(lock.acquire_shared().unwrap()),
                    (false, How::Try) => lock.try_acquire().unwrap(),
                    (true, How::Try) => lock.try_acquire_shared().unwrap(),
                    (false, How::Timeout(ms)) => {
                        lock.acquire_timeout(Duration::from_millis(ms)).unwrap()
                    }
                    (true, How::Timeout(ms)) => lock
                        .acquire_shared_timeout(Duration::from_millis(ms))
                        .unwrap(),
                };
                if let Some(guard) = guard {
                    hold(counters, &whole);
                    drop(guard);
                }
            });
            prop_assert_eq!(violations, 0, "holders overlapped");
            Ok(())
        })
        .unwrap();
}

/// Byte-range locks over random ranges of a 16-byte file.
fn range_lock_scripts_never_break_exclusion() {
    let dir = TempDir::new("props-range");
    let path = dir.join("x.db");
    runner()
        .run(&scripts(), |scripts| {
            let violations = run_scripts(&scripts, &|step, counters| {
                let mut lock = RangeLock::new(&path, step.start, step.len).unwrap();
                let guard = match (step.shared, step.how) {
                    (false, How::Block) => Some(lock.acquire().unwrap()),
                    (true, How::Block) => Some(lock.acquire_shared().unwrap()),
                    (false, How::Try) => lock.try_acquire().unwrap(),
                    (true, How::Try) => lock.try_acquire_shared().unwrap(),
                    (false, How::Timeout(ms)) => {
                        lock.acquire_timeout(Duration::from_millis(ms)).unwrap()
                    }
                    (true, How::Timeout(ms)) => lock
                        .acquire_shared_timeout(Duration::from_millis(ms))
                        .unwrap(),
                };
                if let Some(guard) = guard {
                    hold(counters, step);
                    drop(guard);
                }
            });
            prop_assert_eq!(violations, 0, "holders of overlapping ranges overlapped");
            Ok(())
        })
        .unwrap();
}
