//! Forking groups: exit codes, the worker's view, what a worker never
//! runs, and the refusals (zero workers, not the master, threads, a failed
//! fork in the middle of a group).

use std::sync::atomic::{AtomicI64, AtomicPtr, Ordering::SeqCst};

use forkwise_fork::{Error, ForkManager, Stream, Worker, WorkerState};
use forkwise_testkit::{SharedCounters, fork};

use crate::support::{assert_no_children, capturing, lines_of, my_pid, nap, quick};

/// 100 workers, each exiting with its index: all reaped, every code right.
pub(crate) fn hundred_workers_are_reaped_with_their_codes() {
    let mut manager = ForkManager::new().unwrap();
    let group = manager
        .fork(|worker| i32::try_from(worker.index()).unwrap(), 100)
        .unwrap();
    assert_eq!(group.len(), 100);
    let states = manager.wait(&group).unwrap();
    let expected: Vec<WorkerState> = (0..100).map(WorkerState::Exited).collect();
    assert_eq!(states, expected);
    assert_no_children();
}

/// `()`, integers (clamped), `bool`, `Err` and panics become the exit codes
/// the docs promise; an `Err` and a panic are reported on stderr.
pub(crate) fn return_values_become_exit_codes() {
    let (mut manager, lines) = capturing(ForkManager::builder());
    let unit = manager.fork(|_| (), 1).unwrap();
    let seven = manager.fork(|_| 7u8, 1).unwrap();
    let negative = manager.fork(|_| -3i64, 1).unwrap();
    let large = manager.fork(|_| 300u32, 1).unwrap();
    let no = manager.fork(|_| false, 1).unwrap();
    let error = manager.fork(|_| Err::<(), _>("boom"), 1).unwrap();
    let nested_ok = manager.fork(|_| Ok::<_, String>(9i32), 1).unwrap();
    let panics = manager
        .fork(|_| -> i32 { panic!("kaboom in the worker") }, 1)
        .unwrap();
    let states: Vec<WorkerState> = [
        &unit, &seven, &negative, &large, &no, &error, &nested_ok, &panics,
    ]
    .iter()
    .map(|group| manager.wait(*group).unwrap()[0])
    .collect();
    let codes: Vec<i32> = states.iter().map(|s| s.code().unwrap()).collect();
    assert_eq!(codes, [0, 7, 0, 255, 1, 1, 9, 101]);

    let stderr_of = |group: &forkwise_fork::WorkerGroup| {
        lines_of(&lines, manager.pid(group.ids()[0]).unwrap(), Stream::Stderr).join("\n")
    };
    assert_eq!(
        stderr_of(&error),
        "Error: \"boom\"",
        "the Err is shown as main shows it"
    );
    let panic_report = stderr_of(&panics);
    assert!(
        panic_report.contains("kaboom in the worker"),
        "the panic message is on stderr: {panic_report}"
    );
    assert_eq!(stderr_of(&unit), "", "a clean worker writes nothing");
}

static AT_EXIT_COUNTER: AtomicPtr<AtomicI64> = AtomicPtr::new(std::ptr::null_mut());

extern "C" fn count_at_exit() {
    let counter = AT_EXIT_COUNTER.load(SeqCst);
    // SAFETY: set below to a counter in a mapping that outlives every
    // process that could run this handler during the case.
    if let Some(counter) = unsafe { counter.as_ref() } {
        counter.fetch_add(1, SeqCst);
    }
}

/// Counts its drops in a shared counter.
struct DropCounter<'a>(&'a AtomicI64);

impl Drop for DropCounter<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A worker leaves with `_exit`: it never returns into the caller's code,
/// never drops the master's values (nor what its closure captured), and
/// never runs `atexit` handlers.
pub(crate) fn a_worker_runs_none_of_the_masters_code_or_destructors() {
    let counters = SharedCounters::new(4);
    AT_EXIT_COUNTER.store(std::ptr::from_ref(&counters[2]).cast_mut(), SeqCst);
    // SAFETY: registering a plain extern "C" function with no arguments.
    assert_eq!(unsafe { libc::atexit(count_at_exit) }, 0);

    let in_scope = DropCounter(&counters[0]);
    let captured = DropCounter(&counters[3]);
    let mut manager = ForkManager::new().unwrap();
    let group = manager
        .fork(
            move |_| {
                let _keep = &captured; // moved into the closure, never dropped in the worker
            },
            3,
        )
        .unwrap();
    counters[1].fetch_add(1, SeqCst); // the caller's code after `fork`
    assert!(manager.wait(&group).unwrap().iter().all(|s| s.success()));
    drop(in_scope);

    assert_eq!(
        counters[0].load(SeqCst),
        1,
        "only the master dropped its value"
    );
    assert_eq!(
        counters[1].load(SeqCst),
        1,
        "no worker ran the code after fork"
    );
    assert_eq!(counters[2].load(SeqCst), 0, "no worker ran atexit handlers");
    assert_eq!(
        counters[3].load(SeqCst),
        1,
        "the closure's capture was dropped once, by the master"
    );
    AT_EXIT_COUNTER.store(std::ptr::null_mut(), SeqCst);
}

/// A worker's view of itself: index, pid, master pid; `Worker::current`.
pub(crate) fn a_worker_knows_its_index_pid_and_master() {
    let seen = SharedCounters::new(6);
    let mut manager = ForkManager::new().unwrap();
    let master = my_pid();
    assert_eq!(manager.master_pid(), master);
    assert!(manager.is_master() && !manager.is_worker());
    assert_eq!(Worker::current(), None);
    let group = manager
        .fork(
            |worker| {
                assert_eq!(worker.master_pid(), master);
                assert_eq!(worker.pid(), my_pid());
                assert_eq!(worker.restarts(), 0);
                assert_eq!(Worker::current().as_ref(), Some(worker));
                seen[worker.index()].store(i64::from(worker.pid()), SeqCst);
            },
            3,
        )
        .unwrap();
    assert!(manager.wait(&group).unwrap().iter().all(|s| s.success()));
    for (index, id) in group.iter().enumerate() {
        assert_eq!(
            seen[index].load(SeqCst),
            i64::from(manager.pid(id).unwrap()),
            "worker {index} saw the pid the master recorded"
        );
    }
}

/// A count of zero is refused, and nothing is forked.
pub(crate) fn zero_workers_are_refused() {
    let mut manager = ForkManager::new().unwrap();
    assert!(matches!(manager.fork(|_| (), 0), Err(Error::ZeroWorkers)));
    assert_eq!(manager.workers().count(), 0);
    assert_no_children();
}

/// A process holding a copy of the manager that is not its master (a
/// worker, or a child forked otherwise) cannot fork, wait or signal with it;
/// it may create a manager of its own.
pub(crate) fn only_the_master_uses_the_manager() {
    let mut manager = ForkManager::new().unwrap();
    let group = manager.fork(|_| nap(200), 1).unwrap();
    fork(|| {
        assert!(!manager.is_master());
        assert!(!manager.is_worker());
        let err = manager.fork(|_| (), 1).unwrap_err();
        assert!(
            matches!(err, Error::NotMaster { master, pid } if master == manager.master_pid() && pid == my_pid()),
            "{err}"
        );
        assert!(err.to_string().contains("not the master"), "{err}");
        assert!(matches!(manager.wait(&group), Err(Error::NotMaster { .. })));
        assert!(matches!(
            manager.kill(forkwise_fork::Signal::SIGKILL, &group),
            Err(Error::NotMaster { .. })
        ));
        // A manager of its own works.
        let mut own = ForkManager::new().unwrap();
        let mine = own.fork(|_| 5, 1).unwrap();
        assert_eq!(own.wait(&mine).unwrap(), [WorkerState::Exited(5)]);
    })
    .join();
    assert_eq!(manager.wait(&group).unwrap(), [WorkerState::Exited(0)]);
}

/// A worker can run a manager of its own (a tree of processes).
pub(crate) fn a_worker_can_manage_workers_of_its_own() {
    let mut manager = ForkManager::new().unwrap();
    let group = manager
        .fork(
            |_| {
                let mut own = ForkManager::new().unwrap();
                let grandchildren = own.fork(|w| w.index() + 1, 3).unwrap();
                own.wait(&grandchildren)
                    .unwrap()
                    .iter()
                    .map(|s| s.code().unwrap())
                    .sum::<i32>()
            },
            1,
        )
        .unwrap();
    assert_eq!(manager.wait(&group).unwrap(), [WorkerState::Exited(6)]);
    assert_no_children();
}

/// Forking a process with two threads is refused, naming the danger; the
/// unsafe opt-in allows it.
pub(crate) fn a_threaded_process_is_refused_unless_opted_in() {
    let (stop, parked) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || parked.recv().ok());
    let mut manager = ForkManager::new().unwrap();
    let err = manager.fork(|_| (), 1).unwrap_err();
    assert!(matches!(err, Error::Threaded { threads: 2 }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("2 threads") && message.contains("deadlock"),
        "the error says why: {message}"
    );
    assert_eq!(manager.workers().count(), 0);
    assert_no_children();

    // SAFETY: the other thread only waits on a channel; the worker touches
    // no lock it could hold (it returns at once and `_exit`s).
    let mut trusting = unsafe { ForkManager::builder().allow_threads() }
        .build()
        .unwrap();
    let group = trusting.fork(|_| 4, 1).unwrap();
    assert_eq!(trusting.wait(&group).unwrap(), [WorkerState::Exited(4)]);
    stop.send(()).unwrap();
    thread.join().unwrap();
}

/// When the third fork of a group of five fails, the two workers already
/// started are terminated and reaped before the error is returned.
pub(crate) fn a_failed_fork_ends_the_workers_already_started() {
    let ends = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut manager = quick().build().unwrap();
    let record = std::rc::Rc::clone(&ends);
    manager.on_exit(move |end| record.borrow_mut().push(end.state));
    forkwise_fork::fault::fail_fork_after(2);
    let err = manager.fork(|_| nap(30_000), 5).unwrap_err();
    assert!(
        matches!(&err, Error::Fork { index: 2, count: 5, source } if source.raw_os_error() == Some(libc::EAGAIN)),
        "{err}"
    );
    assert!(err.to_string().contains("worker 2 of 5"), "{err}");
    assert_no_children();
    assert_eq!(manager.workers().count(), 0, "the group was forgotten");
    let killed = WorkerState::Killed {
        signal: forkwise_fork::Signal::SIGTERM,
        core_dumped: false,
    };
    assert_eq!(*ends.borrow(), [killed, killed]);

    // The manager still works afterwards.
    let group = manager.fork(|_| (), 2).unwrap();
    assert!(manager.wait(&group).unwrap().iter().all(|s| s.success()));
}

/// The first fork of a group failing returns the error with nothing to end.
pub(crate) fn a_failed_first_fork_leaves_nothing() {
    let mut manager = ForkManager::new().unwrap();
    forkwise_fork::fault::fail_fork_after(0);
    let err = manager.fork(|_| (), 3).unwrap_err();
    assert!(matches!(err, Error::Fork { index: 0, .. }), "{err}");
    assert_eq!(manager.workers().count(), 0);
    assert_no_children();
}
