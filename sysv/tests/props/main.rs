//! Property tests of forkwise-sysv across processes: random scripts of
//! acquires, releases and exits, run by several forked processes at once on
//! one semaphore, never have more than `max` holders inside and never lose
//! a unit.

use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

use forkwise_sysv::{Key, Semaphore, SemaphoreGuard};
use forkwise_testkit::{Child, SharedCounters, fork};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        scripts_never_exceed_max_nor_lose_units => Duration::from_secs(300),
    ]);
}

/// One step of a process's script.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Take one more unit, as `how` says.
    Acquire(How),
    /// Give back the unit taken last, if any.
    Release,
    /// Sleep this many microseconds, holding what is held.
    Hold(u64),
    /// End the process at once, holding what is held: the kernel's undo
    /// must give the units back.
    Exit,
}

#[derive(Clone, Copy, Debug)]
enum How {
    /// `acquire`; a process that holds units takes `try_acquire` instead,
    /// so that no two processes can wait for each other forever.
    Block,
    Try,
    /// `acquire_timeout` of this many milliseconds.
    Timeout(u64),
}

fn step() -> impl Strategy<Value = Step> {
    let how = prop_oneof![
        Just(How::Block),
        Just(How::Try),
        (0u64..3).prop_map(How::Timeout)
    ];
    prop_oneof![
        4 => how.prop_map(Step::Acquire),
        3 => Just(Step::Release),
        2 => (0u64..300).prop_map(Step::Hold),
        1 => Just(Step::Exit),
    ]
}

/// A capacity and one script per process.
fn scenario() -> impl Strategy<Value = (u32, Vec<Vec<Step>>)> {
    (
        1u32..=3,
        proptest::collection::vec(proptest::collection::vec(step(), 1..16), 2..=4),
    )
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Counter slots: holders inside now, times more than `max` were inside,
/// units taken in total.
const INSIDE: usize = 0;
const OVER: usize = 1;
const TAKEN: usize = 2;

/// Runs `script` in this (forked) process. The inside-count rises after a
/// unit is taken and falls before it is given back, so it never exceeds the
/// real number of holders.
fn run_script(semaphore: &Semaphore, max: u32, script: &[Step], counters: &SharedCounters) {
    let mut held: Vec<SemaphoreGuard<'_>> = Vec::new();
    for step in script {
        match *step {
            Step::Acquire(how) => {
                let unit = match how {
                    How::Block if held.is_empty() => Some(semaphore.acquire().unwrap()),
                    How::Block | How::Try => semaphore.try_acquire().unwrap(),
                    How::Timeout(ms) => semaphore
                        .acquire_timeout(Duration::from_millis(ms))
                        .unwrap(),
                };
                if let Some(unit) = unit {
                    let inside = counters[INSIDE].fetch_add(1, SeqCst) + 1;
                    if inside > i64::from(max) {
                        counters[OVER].fetch_add(1, SeqCst);
                    }
                    counters[TAKEN].fetch_add(1, SeqCst);
                    held.push(unit);
                }
            }
            Step::Release => {
                if let Some(unit) = held.pop() {
                    counters[INSIDE].fetch_sub(1, SeqCst);
                    unit.release().unwrap();
                }
            }
            Step::Hold(us) => std::thread::sleep(Duration::from_micros(us)),
            Step::Exit => {
                counters[INSIDE].fetch_sub(i64::try_from(held.len()).unwrap(), SeqCst);
                // SAFETY: `_exit` ends this forked process at once, as a
                // process killed while holding units would end; it runs no
                // destructor of the parent's.
                unsafe { libc::_exit(0) };
            }
        }
    }
    counters[INSIDE].fetch_sub(i64::try_from(held.len()).unwrap(), SeqCst);
}

fn scripts_never_exceed_max_nor_lose_units() {
    runner()
        .run(&scenario(), |(max, scripts)| {
            let semaphore = Semaphore::options()
                .remove_on_drop(true)
                .open(Key::private(), max)
                .unwrap();
            let counters = SharedCounters::new(3);
            let children: Vec<Child> = scripts
                .iter()
                .map(|script| fork(|| run_script(&semaphore, max, script, &counters)))
                .collect();
            children.into_iter().for_each(Child::join);
            prop_assert_eq!(
                counters[OVER].load(SeqCst),
                0,
                "more than max holders inside"
            );
            prop_assert_eq!(
                semaphore.available().unwrap(),
                max,
                "at the end the free units must be exactly max: none lost, none made"
            );
            prop_assert_eq!(semaphore.waiters().unwrap(), 0);
            Ok(())
        })
        .unwrap();
}
