//! Waiting for one worker, a group or all; never blocking; timeouts;
//! callbacks; signals; EINTR and ECHILD.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use forkwise_fork::{ForkManager, Next, Signal, Target, WorkerEnd, WorkerState};
use forkwise_testkit::{Notify, TempDir, storm};

use crate::support::{assert_no_children, my_pid, nap};

const TERMINATED: WorkerState = WorkerState::Killed {
    signal: Signal::SIGTERM,
    core_dumped: false,
};

/// `wait(worker)` returns when that worker ends, while its siblings run on.
pub(crate) fn wait_for_one_worker_of_a_group() {
    let release = Notify::new();
    let mut manager = ForkManager::new().unwrap();
    let group = manager
        .fork(
            |worker| {
                if worker.index() > 0 {
                    release.wait();
                }
                worker.index() + 10
            },
            3,
        )
        .unwrap();
    let first = group.get(0).unwrap();
    assert_eq!(manager.wait(first).unwrap(), [WorkerState::Exited(10)]);
    assert_eq!(
        manager.state(group.get(1).unwrap()),
        Some(WorkerState::Running)
    );
    assert_eq!(manager.running(), 2);
    release.notify();
    release.notify();
    let states = manager.wait(&group).unwrap();
    assert_eq!(
        states,
        [10, 11, 12].map(WorkerState::Exited),
        "wait(group) gives every state in index order"
    );
    assert_eq!(manager.wait_all().unwrap(), states);
}

/// `try_wait` returns at once while workers run, and reaps them once ended.
pub(crate) fn try_wait_never_blocks() {
    let release = Notify::new();
    let mut manager = ForkManager::new().unwrap();
    manager.fork(|_| release.wait(), 2).unwrap();
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(manager.try_wait().unwrap(), 2);
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "20 try_waits took {:?}",
        started.elapsed()
    );
    release.notify();
    release.notify();
    let deadline = Instant::now() + Duration::from_secs(10);
    while manager.try_wait().unwrap() > 0 {
        assert!(Instant::now() < deadline, "try_wait never reaped them");
        nap(1);
    }
    assert_no_children();
}

/// `wait_timeout` gives up on time, then succeeds once the worker ends.
pub(crate) fn wait_timeout_gives_up_on_time() {
    let release = Notify::new();
    let mut manager = ForkManager::new().unwrap();
    let group = manager.fork(|_| release.wait(), 1).unwrap();
    let started = Instant::now();
    let waited = manager
        .wait_timeout(&group, Duration::from_millis(100))
        .unwrap();
    let took = started.elapsed();
    assert_eq!(waited, None);
    assert!(
        took >= Duration::from_millis(100),
        "returned early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "returned late: {took:?}");
    release.notify();
    let waited = manager
        .wait_timeout(&group, Duration::from_secs(10))
        .unwrap();
    assert_eq!(waited, Some(vec![WorkerState::Exited(0)]));
}

/// Ids of another manager are refused by name.
pub(crate) fn unknown_workers_are_refused() {
    let mut other = ForkManager::new().unwrap();
    let foreign = other.fork(|_| (), 1).unwrap();
    let mut manager = ForkManager::new().unwrap();
    let err = manager.wait(&foreign).unwrap_err();
    assert!(
        matches!(err, forkwise_fork::Error::UnknownWorker(id) if id == foreign.ids()[0]),
        "{err}"
    );
    other.wait_all().unwrap();
}

/// `on_success` or `on_error`, then `on_exit`, once per end, with the
/// worker's index, pid and state, after its output.
pub(crate) fn callbacks_run_in_the_master_once_per_end() {
    let log: Rc<RefCell<Vec<String>>> = Rc::default();
    let mut manager = ForkManager::new().unwrap();
    let entry = |name: &'static str| {
        let log = Rc::clone(&log);
        move |end: &WorkerEnd| {
            assert_eq!(end.next, Next::Done);
            assert_eq!(end.restarts, 0);
            log.borrow_mut()
                .push(format!("{name} {} {}", end.index, end.state));
        }
    };
    manager.on_success(entry("success"));
    manager.on_error(entry("error"));
    manager.on_exit(entry("exit"));
    let pids = Rc::new(RefCell::new(Vec::new()));
    let seen = Rc::clone(&pids);
    manager.on_exit(move |end| seen.borrow_mut().push(end.pid));
    let group = manager.fork(|worker| worker.index() * 2, 2).unwrap();
    manager.wait(&group).unwrap();
    let mut entries = log.borrow().clone();
    entries.sort(); // the two workers may end in either order
    assert_eq!(
        entries,
        [
            "error 1 exited with code 2",
            "exit 0 exited with code 0",
            "exit 1 exited with code 2",
            "success 0 exited with code 0",
        ]
    );
    let mut expected: Vec<i32> = group.iter().map(|id| manager.pid(id).unwrap()).collect();
    let mut got = pids.borrow().clone();
    expected.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, expected);
    // For each worker, its specific callback came before its `on_exit`.
    let order = log.borrow().clone();
    for index in 0..2 {
        let specific = order
            .iter()
            .position(|e| !e.starts_with("exit") && e.contains(&format!(" {index} ")))
            .unwrap();
        let exit = order
            .iter()
            .position(|e| e.starts_with(&format!("exit {index} ")))
            .unwrap();
        assert!(specific < exit, "{order:?}");
    }
}

/// Killing one worker of a group ends that one; the others run on; killing
/// ended workers is not an error.
pub(crate) fn kill_one_worker_of_a_group() {
    let mut manager = ForkManager::new().unwrap();
    let group = manager.fork(|_| nap(30_000), 3).unwrap();
    let victim = group.get(1).unwrap();
    manager.kill(Signal::SIGTERM, victim).unwrap();
    assert_eq!(manager.wait(victim).unwrap(), [TERMINATED]);
    nap(50);
    manager.try_wait().unwrap();
    assert_eq!(
        manager.state(group.get(0).unwrap()),
        Some(WorkerState::Running)
    );
    assert_eq!(
        manager.state(group.get(2).unwrap()),
        Some(WorkerState::Running)
    );
    manager.kill(Signal::SIGKILL, &group).unwrap();
    let killed = WorkerState::Killed {
        signal: Signal::SIGKILL,
        core_dumped: false,
    };
    assert_eq!(manager.wait(&group).unwrap(), [killed, TERMINATED, killed]);
    manager.kill(Signal::SIGTERM, Target::All).unwrap();
    manager.kill(Signal::SIGTERM, victim).unwrap();
    assert_no_children();
}

/// The end of a worker that sets its core file limit to `limit`, moves to
/// `dir` if given, and aborts.
fn aborted_worker(limit: libc::rlim_t, dir: Option<&Path>) -> WorkerState {
    let mut manager = ForkManager::new().unwrap();
    let group = manager
        .fork(
            |_| {
                if let Some(dir) = dir {
                    std::env::set_current_dir(dir).expect("chdir");
                }
                let core = libc::rlimit {
                    rlim_cur: limit,
                    rlim_max: limit,
                };
                // SAFETY: setrlimit reads one valid struct.
                unsafe { libc::setrlimit(libc::RLIMIT_CORE, &raw const core) };
                // SAFETY: abort ends the process; it is the point.
                unsafe { libc::abort() }
            },
            1,
        )
        .unwrap();
    manager.wait(&group).unwrap()[0]
}

/// A signal that dumps core is reported with the signal (and the core flag
/// the kernel gave: false, with core files off).
pub(crate) fn a_worker_killed_by_a_fault_signal_is_reported() {
    let state = aborted_worker(0, None);
    assert_eq!(
        state,
        WorkerState::Killed {
            signal: Signal::SIGABRT,
            core_dumped: false
        }
    );
    assert_eq!(state.to_string(), "was killed by SIGABRT");
}

/// A worker that dumps core is reported with the core flag set, and the
/// core file is where the kernel was told to put it. Runs only where
/// `core_pattern` names a plain file in the dumping process's directory
/// and the hard core limit allows a dump (a pipe to a crash collector, or
/// an absolute path, is the machine's business, not this test's).
pub(crate) fn a_core_dump_is_reported() {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let pattern = pattern.trim_end();
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct that is live and writable.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_CORE, &raw mut hard) };
    assert_eq!(got, 0, "getrlimit(RLIMIT_CORE)");
    if pattern.starts_with('|') || pattern.contains('/') || hard.rlim_max == 0 {
        println!(
            "skipped: core_pattern {pattern:?}, hard core limit {}",
            hard.rlim_max
        );
        return;
    }
    let dir = TempDir::new("core");
    let state = aborted_worker(hard.rlim_max, Some(dir.path()));
    assert_eq!(
        state,
        WorkerState::Killed {
            signal: Signal::SIGABRT,
            core_dumped: true
        }
    );
    assert_eq!(state.to_string(), "was killed by SIGABRT (core dumped)");
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(files, 1, "one core file in {}", dir.path().display());
}

static INTERRUPTIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn count_interruption(_: libc::c_int) {
    INTERRUPTIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Waiting survives a storm of signals whose handler does not restart
/// system calls (every `poll` and `waitpid` sees EINTR).
pub(crate) fn waiting_survives_a_signal_storm() {
    // SAFETY: installs a plain counting handler without SA_RESTART.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count_interruption as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = 0;
        libc::sigemptyset(&raw mut action.sa_mask);
        assert_eq!(
            libc::sigaction(libc::SIGUSR1, &raw const action, std::ptr::null_mut()),
            0
        );
    }
    let mut manager = ForkManager::new().unwrap();
    let group = manager
        .fork(
            |worker| {
                nap(300);
                worker.index()
            },
            4,
        )
        .unwrap();
    let storm = storm(my_pid(), libc::SIGUSR1, Duration::from_millis(1));
    let states = manager.wait(&group).unwrap();
    drop(storm);
    assert_eq!(states, [0, 1, 2, 3].map(WorkerState::Exited));
    assert!(
        INTERRUPTIONS.load(std::sync::atomic::Ordering::Relaxed) > 10,
        "the storm reached the master"
    );
}

/// A worker reaped by someone else (`waitpid` called directly) is reported
/// as lost: no hang, no error.
pub(crate) fn a_worker_reaped_elsewhere_is_lost_not_hung() {
    let mut manager = ForkManager::new().unwrap();
    let group = manager.fork(|_| 3, 1).unwrap();
    let pid = manager.pid(group.ids()[0]).unwrap();
    let mut status = 0;
    // SAFETY: a blocking waitpid on our own child with a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
    assert_eq!(manager.wait(&group).unwrap(), [WorkerState::Lost]);
    assert_no_children();
}

/// Other children of the master (not workers) are never reaped by it.
pub(crate) fn other_children_are_left_alone() {
    let mut manager = ForkManager::new().unwrap();
    let other = forkwise_testkit::fork(|| nap(200));
    let group = manager.fork(|_| (), 1).unwrap();
    manager.wait_all().unwrap();
    nap(300);
    manager.try_wait().unwrap();
    other.join(); // still ours to reap, with its status
    assert_eq!(manager.wait(&group).unwrap(), [WorkerState::Exited(0)]);
}
