//! `spawn`: restarts on failure or always, new pids and restart counts,
//! backoff, giving up, and no restart when the worker is stopped or the
//! manager shuts down.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use forkwise_fork::{ForkManager, Next, RestartPolicy, WorkerEnd, WorkerState};
use forkwise_testkit::SharedCounters;

use crate::support::{assert_no_children, my_pid, nap, quick};

/// Restart at once, at most 5 times within a minute.
fn no_backoff(policy: RestartPolicy) -> RestartPolicy {
    policy
        .backoff(Duration::ZERO, Duration::ZERO)
        .max_restarts(5, Duration::from_secs(60))
}

/// The ends the manager reports, in order.
fn record_ends(manager: &mut ForkManager) -> Rc<RefCell<Vec<WorkerEnd>>> {
    let ends: Rc<RefCell<Vec<WorkerEnd>>> = Rc::default();
    let sink = Rc::clone(&ends);
    manager.on_exit(move |end| sink.borrow_mut().push(*end));
    ends
}

/// A failing worker is restarted with a new pid and a counted restart,
/// until it exits cleanly, which ends the supervision.
pub(crate) fn a_failing_worker_is_restarted_with_a_new_pid() {
    let pids = Arc::new(SharedCounters::new(4));
    let mut manager = ForkManager::new().unwrap();
    let ends = record_ends(&mut manager);
    let shared = Arc::clone(&pids);
    let id = manager
        .spawn(
            move |worker| {
                shared[worker.restarts() as usize].store(i64::from(worker.pid()), SeqCst);
                if worker.restarts() < 2 { 3 } else { 0 }
            },
            no_backoff(RestartPolicy::on_failure()),
        )
        .unwrap();
    assert_eq!(manager.wait(id).unwrap(), [WorkerState::Exited(0)]);
    assert_eq!(manager.restarts(id), Some(2));
    let seen: Vec<i64> = (0..3).map(|n| pids[n].load(SeqCst)).collect();
    assert!(seen.iter().all(|&pid| pid > 0), "{seen:?}");
    assert!(
        seen[0] != seen[1] && seen[1] != seen[2],
        "new pids: {seen:?}"
    );
    assert_eq!(i64::from(manager.pid(id).unwrap()), seen[2]);
    let ends = ends.borrow();
    let summary: Vec<(i32, u32, Next)> = ends
        .iter()
        .map(|end| (end.state.code().unwrap(), end.restarts, end.next))
        .collect();
    let again = Next::Restart {
        after: Duration::ZERO,
    };
    assert_eq!(summary, [(3, 0, again), (3, 1, again), (0, 2, Next::Done)]);
    assert_eq!(pids[3].load(SeqCst), 0, "no fourth process");
    assert_no_children();
}

/// A worker killed by a signal counts as failed, and is restarted.
pub(crate) fn a_killed_worker_is_restarted() {
    let mut manager = ForkManager::new().unwrap();
    let id = manager
        .spawn(
            |worker| {
                if worker.restarts() == 0 {
                    // SAFETY: raising a signal on ourselves.
                    unsafe { libc::raise(libc::SIGKILL) };
                }
            },
            no_backoff(RestartPolicy::on_failure()),
        )
        .unwrap();
    assert_eq!(manager.wait(id).unwrap(), [WorkerState::Exited(0)]);
    assert_eq!(manager.restarts(id), Some(1));
}

/// `on_failure` does not restart a clean exit.
pub(crate) fn a_clean_exit_is_not_restarted() {
    let mut manager = ForkManager::new().unwrap();
    let id = manager
        .spawn(|_| (), no_backoff(RestartPolicy::on_failure()))
        .unwrap();
    assert_eq!(manager.wait(id).unwrap(), [WorkerState::Exited(0)]);
    assert_eq!(manager.restarts(id), Some(0));
}

/// `always` restarts clean exits too, up to its limit.
pub(crate) fn always_restarts_clean_exits_up_to_the_limit() {
    let mut manager = ForkManager::new().unwrap();
    let ends = record_ends(&mut manager);
    let policy = RestartPolicy::always()
        .backoff(Duration::ZERO, Duration::ZERO)
        .max_restarts(3, Duration::from_secs(60));
    let id = manager.spawn(|_| (), policy).unwrap();
    assert_eq!(manager.wait(id).unwrap(), [WorkerState::Exited(0)]);
    assert_eq!(manager.restarts(id), Some(3));
    let nexts: Vec<Next> = ends.borrow().iter().map(|end| end.next).collect();
    let again = Next::Restart {
        after: Duration::ZERO,
    };
    assert_eq!(nexts, [again, again, again, Next::GaveUp]);
}

/// A worker that keeps failing is given up after the policy's limit, and
/// the give-up is reported (callback and an error in the log).
pub(crate) fn a_restart_policy_gives_up() {
    let mut manager = ForkManager::new().unwrap();
    let ends = record_ends(&mut manager);
    let policy = RestartPolicy::on_failure()
        .backoff(Duration::ZERO, Duration::ZERO)
        .max_restarts(2, Duration::from_secs(60));
    let id = manager.spawn(|_| 9, policy).unwrap();
    assert_eq!(manager.wait(id).unwrap(), [WorkerState::Exited(9)]);
    assert_eq!(manager.restarts(id), Some(2));
    let ends = ends.borrow();
    assert_eq!(ends.len(), 3);
    assert_eq!(ends[2].next, Next::GaveUp);
    assert_eq!(
        ends[2].to_string(),
        format!(
            "worker 0 (pid {}) exited with code 9; failed too often, giving up",
            ends[2].pid
        )
    );
    assert_eq!(manager.running(), 0);
}

fn micros_now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros(),
    )
    .unwrap()
}

/// The pause before each restart doubles from the first backoff to the
/// maximum.
pub(crate) fn restarts_back_off() {
    let starts = Arc::new(SharedCounters::new(4));
    let shared = Arc::clone(&starts);
    let mut manager = ForkManager::new().unwrap();
    let policy = RestartPolicy::on_failure()
        .backoff(Duration::from_millis(100), Duration::from_millis(200))
        .max_restarts(3, Duration::from_secs(60));
    let id = manager
        .spawn(
            move |worker| {
                shared[worker.restarts() as usize].store(micros_now(), SeqCst);
                1
            },
            policy,
        )
        .unwrap();
    assert_eq!(manager.wait(id).unwrap(), [WorkerState::Exited(1)]);
    let gaps: Vec<i64> = (1..4)
        .map(|n| (starts[n].load(SeqCst) - starts[n - 1].load(SeqCst)) / 1000)
        .collect();
    for (gap, least) in gaps.iter().zip([100, 200, 200]) {
        assert!(*gap >= least, "gaps between starts in ms: {gaps:?}");
        assert!(*gap < least + 2000, "gaps between starts in ms: {gaps:?}");
    }
}

/// `stop` ends a supervised worker for good.
pub(crate) fn a_stopped_worker_is_not_restarted() {
    let mut manager = ForkManager::new().unwrap();
    let pool = manager
        .spawn_group(|_| nap(30_000), 2, no_backoff(RestartPolicy::always()))
        .unwrap();
    manager.stop(&pool).unwrap();
    let terminated = WorkerState::Killed {
        signal: forkwise_fork::Signal::SIGTERM,
        core_dumped: false,
    };
    assert_eq!(manager.wait(&pool).unwrap(), [terminated, terminated]);
    assert_eq!(manager.restarts(pool.ids()[0]), Some(0));
    assert_eq!(manager.restarts(pool.ids()[1]), Some(0));
    assert_no_children();
}

/// Nothing is restarted once a shutdown began, and nothing new is forked.
pub(crate) fn nothing_restarts_during_shutdown() {
    let mut manager = quick().build().unwrap();
    let pool = manager
        .spawn_group(|_| nap(30_000), 3, no_backoff(RestartPolicy::always()))
        .unwrap();
    manager.shutdown().unwrap();
    assert!(pool.iter().all(|id| manager.restarts(id) == Some(0)));
    assert!(matches!(
        manager.spawn(|_| (), RestartPolicy::always()),
        Err(forkwise_fork::Error::ShuttingDown)
    ));
    assert_eq!(manager.running(), 0);
    assert_no_children();
    let _ = my_pid();
}
