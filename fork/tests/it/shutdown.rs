//! Shutdown: a signal runs `on_shutdown`, forwards SIGTERM, waits the
//! grace period, kills the rest; a second signal escalates at once.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use forkwise_fork::{Error, ForkManager, Signal, WorkerState};
use forkwise_signal::SignalTrap;
use forkwise_testkit::{SharedCounters, fork};

use crate::support::{assert_no_children, my_pid, nap};

const KILLED: WorkerState = WorkerState::Killed {
    signal: Signal::SIGKILL,
    core_dumped: false,
};

/// Waits until `counter` reaches `n`.
fn until(counter: &std::sync::atomic::AtomicI64, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter.load(SeqCst) < n {
        assert!(Instant::now() < deadline, "gave up waiting for {n}");
        nap(1);
    }
}

/// Workers that leave on SIGTERM (after a trap) and one that ignores it.
fn start_workers(manager: &mut ForkManager, ready: &std::sync::atomic::AtomicI64, stubborn: bool) {
    manager
        .fork(
            |worker| {
                if stubborn && worker.index() == 0 {
                    // SAFETY: SIG_IGN for SIGTERM; no handler code runs.
                    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
                    ready.fetch_add(1, SeqCst);
                    nap(60_000);
                    return 0;
                }
                let trap = SignalTrap::new(&[Signal::SIGTERM]).unwrap();
                ready.fetch_add(1, SeqCst);
                match trap.wait(Some(Duration::from_secs(60))).unwrap() {
                    Some(_) => 0, // a clean exit on SIGTERM
                    None => 1,
                }
            },
            3,
        )
        .unwrap();
}

/// SIGTERM from another process: `on_shutdown` runs with the signal, the
/// workers get SIGTERM and leave cleanly, nothing new is forked.
pub(crate) fn sigterm_shuts_down_cleanly() {
    let ready = SharedCounters::new(1);
    let shutdowns: Rc<RefCell<Vec<Option<Signal>>>> = Rc::default();
    let mut manager = ForkManager::builder()
        .grace_period(Duration::from_secs(30))
        .build()
        .unwrap();
    let seen = Rc::clone(&shutdowns);
    manager.on_shutdown(move |signal| seen.borrow_mut().push(signal));
    start_workers(&mut manager, &ready[0], false);
    until(&ready[0], 3);
    let master = my_pid();
    let sender = fork(|| Signal::SIGTERM.send(master).unwrap());
    let began = Instant::now();
    let states = manager.wait_all().unwrap();
    sender.join();
    assert_eq!(states, [WorkerState::Exited(0); 3]);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "no grace period was needed"
    );
    assert_eq!(*shutdowns.borrow(), [Some(Signal::SIGTERM)]);
    assert!(manager.is_shutting_down());
    assert!(matches!(manager.fork(|_| (), 1), Err(Error::ShuttingDown)));
    assert_no_children();
}

/// A worker that ignores SIGTERM is killed once the grace period is over.
pub(crate) fn the_grace_period_ends_with_sigkill() {
    let ready = SharedCounters::new(1);
    let mut manager = ForkManager::builder()
        .grace_period(Duration::from_millis(400))
        .build()
        .unwrap();
    start_workers(&mut manager, &ready[0], true);
    until(&ready[0], 3);
    Signal::SIGINT.raise().unwrap();
    let began = Instant::now();
    let states = manager.wait_all().unwrap();
    let took = began.elapsed();
    assert_eq!(
        states,
        [KILLED, WorkerState::Exited(0), WorkerState::Exited(0)]
    );
    assert!(
        took >= Duration::from_millis(400),
        "killed before the grace: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_no_children();
}

/// A second shutdown signal during the grace period kills at once.
pub(crate) fn a_second_signal_escalates_at_once() {
    let ready = SharedCounters::new(1);
    let mut manager = ForkManager::builder()
        .grace_period(Duration::from_secs(60))
        .build()
        .unwrap();
    start_workers(&mut manager, &ready[0], true);
    until(&ready[0], 3);
    Signal::SIGTERM.raise().unwrap();
    let first = manager
        .wait_timeout(Target::All, Duration::from_millis(300))
        .unwrap();
    assert_eq!(
        first, None,
        "the stubborn worker waits out its grace period"
    );
    assert!(manager.is_shutting_down());
    let began = Instant::now();
    Signal::SIGINT.raise().unwrap();
    let states = manager.wait_all().unwrap();
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "escalated at once"
    );
    assert_eq!(states[0], KILLED);
    assert_no_children();
}

use forkwise_fork::Target;

/// `shutdown()` without a signal does the same; the callbacks get `None`.
pub(crate) fn shutdown_can_be_called() {
    let ready = SharedCounters::new(1);
    let shutdowns: Rc<RefCell<Vec<Option<Signal>>>> = Rc::default();
    let mut manager = ForkManager::builder()
        .grace_period(Duration::from_millis(300))
        .build()
        .unwrap();
    let seen = Rc::clone(&shutdowns);
    manager.on_shutdown(move |signal| seen.borrow_mut().push(signal));
    start_workers(&mut manager, &ready[0], true);
    until(&ready[0], 3);
    manager.shutdown().unwrap();
    assert_eq!(*shutdowns.borrow(), [None]);
    let states = manager.wait_all().unwrap();
    assert_eq!(
        states,
        [KILLED, WorkerState::Exited(0), WorkerState::Exited(0)]
    );
    manager.shutdown().unwrap(); // again: nothing to do
    assert_eq!(shutdowns.borrow().len(), 1);
}

/// True if the kernel says this process catches `signal`.
fn caught(signal: Signal) -> bool {
    forkwise_testkit::caught(signal.as_raw())
}

/// The shutdown signals are configurable; with none, SIGTERM keeps its
/// default disposition. Dropping the manager restores the dispositions.
pub(crate) fn shutdown_signals_are_configurable() {
    {
        let mut manager = ForkManager::builder()
            .shutdown_signals(&[Signal::SIGUSR2])
            .build()
            .unwrap();
        assert!(caught(Signal::SIGUSR2));
        assert!(!caught(Signal::SIGTERM) && !caught(Signal::SIGINT));
        let group = manager.fork(|_| nap(60_000), 1).unwrap();
        Signal::SIGUSR2.raise().unwrap();
        let terminated = WorkerState::Killed {
            signal: Signal::SIGTERM,
            core_dumped: false,
        };
        assert_eq!(manager.wait(&group).unwrap(), [terminated]);
        assert!(manager.is_shutting_down());
    }
    assert!(!caught(Signal::SIGUSR2));
    let default = ForkManager::new().unwrap();
    assert!(caught(Signal::SIGTERM) && caught(Signal::SIGINT));
    drop(default);
    assert!(!caught(Signal::SIGTERM) && !caught(Signal::SIGINT));
}

/// Where pidfds work, the manager leaves `SIGCHLD` alone: a worker's end
/// is seen through its pidfd, also while `SIGCHLD` is blocked. Where they
/// fail (a kernel before 5.3), the manager listens to `SIGCHLD` instead,
/// and gives the disposition back when dropped.
pub(crate) fn ends_are_seen_through_pidfds_or_else_sigchld() {
    let mut manager = ForkManager::new().unwrap();
    let blocked = BlockedSigchld::new();
    let group = manager
        .fork(
            |_| {
                nap(20);
                7
            },
            1,
        )
        .unwrap();
    // Without the pidfd, only the scan 100 ms after the wait began would
    // find the end, too late for this timeout.
    let states = manager.wait_timeout(&group, Duration::from_millis(80));
    assert_eq!(states.unwrap(), Some(vec![WorkerState::Exited(7)]));
    assert!(!caught(Signal::SIGCHLD), "pidfds: SIGCHLD is not caught");
    drop(blocked);

    forkwise_fork::fault::fail_pidfds();
    let group = manager.fork(|_| 8, 2).unwrap();
    assert!(
        caught(Signal::SIGCHLD),
        "no pidfd: the manager listens to SIGCHLD"
    );
    assert_eq!(
        manager.wait(&group).unwrap(),
        [8, 8].map(WorkerState::Exited)
    );
    forkwise_fork::fault::clear();
    let group = manager.fork(|_| 9, 1).unwrap();
    assert_eq!(manager.wait(&group).unwrap(), [WorkerState::Exited(9)]);
    drop(manager);
    assert!(!caught(Signal::SIGCHLD), "the drop restores SIGCHLD");
}

/// Blocks `SIGCHLD` in this thread until dropped.
struct BlockedSigchld(libc::sigset_t);

impl BlockedSigchld {
    fn new() -> Self {
        // SAFETY: a zeroed sigset_t is valid storage that sigemptyset
        // initialises; the calls get valid pointers.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut set);
            libc::sigaddset(&raw mut set, libc::SIGCHLD);
            libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
            Self(set)
        }
    }
}

impl Drop for BlockedSigchld {
    fn drop(&mut self) {
        // SAFETY: the set was initialised in `new`.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const self.0, std::ptr::null_mut())
        };
    }
}

/// In a worker, the manager's listeners are gone (SIGTERM and SIGCHLD have
/// their default dispositions again), and signals that were pending in the
/// master at the fork are not dispatched in the worker.
pub(crate) fn a_worker_starts_without_the_masters_signals() {
    let runs = std::sync::Arc::new(SharedCounters::new(2));
    let handler = forkwise_signal::SignalHandler::new(Signal::SIGUSR1).unwrap();
    let counter = std::sync::Arc::clone(&runs);
    handler
        .add(move |_| {
            counter[0].fetch_add(1, SeqCst);
            forkwise_signal::Propagation::Continue
        })
        .unwrap();
    Signal::SIGUSR1.raise().unwrap(); // pending in the master, not dispatched yet
    let mut manager = ForkManager::new().unwrap();
    let group = manager
        .fork(
            |_| {
                assert!(!caught(Signal::SIGTERM), "SIGTERM is default in a worker");
                assert!(!caught(Signal::SIGINT), "SIGINT is default in a worker");
                assert!(!caught(Signal::SIGCHLD), "SIGCHLD is default in a worker");
                assert_eq!(forkwise_signal::dispatch(), 0, "nothing pending inherited");
                runs[1].store(1, SeqCst);
            },
            1,
        )
        .unwrap();
    // The master's own dispatch (inside wait) runs the master's listener.
    assert_eq!(manager.wait(&group).unwrap(), [WorkerState::Exited(0)]);
    assert_eq!(runs[1].load(SeqCst), 1, "the worker ran its checks");
    assert_eq!(
        runs[0].load(SeqCst),
        1,
        "the listener ran once, in the master (the counter is shared)"
    );
}
