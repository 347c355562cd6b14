//! Names for workers: [`WorkerId`], [`WorkerGroup`], [`Target`], how a
//! worker stands ([`WorkerState`]) and ended ([`WorkerEnd`]), and the
//! worker's own view of itself ([`Worker`]).

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use forkwise_signal::Signal;

use crate::sys::{self, Status};

/// A worker of a [`ForkManager`](crate::ForkManager): a slot that one
/// process fills, or, for a supervised worker, one process after another.
///
/// Ids are unique within the process that created the manager, across all
/// its managers, and are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(u64);

impl WorkerId {
    /// A fresh id.
    pub(crate) fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker #{}", self.0)
    }
}

/// The workers started by one [`fork`](crate::ForkManager::fork) or
/// [`spawn_group`](crate::ForkManager::spawn_group), in index order.
///
/// A plain list of ids: pass `&group` wherever a [`Target`] is wanted.
///
/// ```
/// # use forkwise_fork::ForkManager;
/// let mut manager = ForkManager::new()?;
/// let group = manager.fork(|worker| worker.index() as i32, 3)?;
/// assert_eq!(group.len(), 3);
/// let states = manager.wait(&group)?;
/// assert_eq!(states[2].code(), Some(2));
/// # Ok::<(), forkwise_fork::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerGroup {
    workers: Vec<WorkerId>,
}

impl WorkerGroup {
    pub(crate) fn new(workers: Vec<WorkerId>) -> Self {
        Self { workers }
    }

    /// How many workers the group has.
    pub fn len(&self) -> usize {
        self.workers.len()
    }

    /// Always false: a group has at least one worker.
    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// The worker with index `index`, if the group has one.
    pub fn get(&self, index: usize) -> Option<WorkerId> {
        self.workers.get(index).copied()
    }

    /// The workers, in index order.
    pub fn ids(&self) -> &[WorkerId] {
        &self.workers
    }

    /// The workers, in index order.
    pub fn iter(&self) -> impl Iterator<Item = WorkerId> + '_ {
        self.workers.iter().copied()
    }
}

impl<'a> IntoIterator for &'a WorkerGroup {
    type Item = WorkerId;
    type IntoIter = std::iter::Copied<std::slice::Iter<'a, WorkerId>>;

    fn into_iter(self) -> Self::IntoIter {
        self.workers.iter().copied()
    }
}

/// What [`wait`](crate::ForkManager::wait) and
/// [`kill`](crate::ForkManager::kill) act on: one worker, several, or all.
///
/// Built from a [`WorkerId`], a `&WorkerGroup` or a slice of ids:
///
/// ```
/// # use forkwise_fork::{ForkManager, Signal, Target};
/// let mut manager = ForkManager::new()?;
/// let group = manager.fork(|_| (), 2)?;
/// manager.kill(Signal::SIGCONT, &group)?;
/// manager.kill(Signal::SIGCONT, group.get(0).unwrap())?;
/// manager.kill(Signal::SIGCONT, Target::All)?;
/// manager.wait_all()?;
/// # Ok::<(), forkwise_fork::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    /// One worker.
    Worker(WorkerId),
    /// These workers.
    Workers(&'a [WorkerId]),
    /// Every worker of the manager.
    All,
}

impl From<WorkerId> for Target<'_> {
    fn from(id: WorkerId) -> Self {
        Self::Worker(id)
    }
}

impl<'a> From<&'a WorkerGroup> for Target<'a> {
    fn from(group: &'a WorkerGroup) -> Self {
        Self::Workers(&group.workers)
    }
}

impl<'a> From<&'a [WorkerId]> for Target<'a> {
    fn from(ids: &'a [WorkerId]) -> Self {
        Self::Workers(ids)
    }
}

impl<'a> From<&'a Vec<WorkerId>> for Target<'a> {
    fn from(ids: &'a Vec<WorkerId>) -> Self {
        Self::Workers(ids)
    }
}

/// How a worker stands, as far as the master has seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WorkerState {
    /// It runs (or has ended and the master has not reaped it yet).
    Running,
    /// It exited with this code: what its closure returned, 101 for a panic.
    Exited(i32),
    /// A signal ended it.
    Killed {
        /// The signal.
        signal: Signal,
        /// Whether the kernel wrote a core dump (see `core(5)`; usually
        /// not, as `RLIMIT_CORE` is 0 by default).
        core_dumped: bool,
    },
    /// Someone else reaped it, so its exit status is unknown: code that
    /// called `waitpid(-1)` or `wait()`, or `SIGCHLD` set to `SIG_IGN`
    /// before the worker ended. The manager saw ECHILD.
    Lost,
}

impl WorkerState {
    /// True unless the worker still runs.
    ///
    /// ```
    /// use forkwise_fork::WorkerState;
    /// assert!(WorkerState::Exited(0).has_ended());
    /// assert!(!WorkerState::Running.has_ended());
    /// ```
    pub fn has_ended(self) -> bool {
        self != Self::Running
    }

    /// True for an exit with code 0, the only success.
    ///
    /// ```
    /// use forkwise_fork::WorkerState;
    /// assert!(WorkerState::Exited(0).success());
    /// assert!(!WorkerState::Exited(1).success());
    /// ```
    pub fn success(self) -> bool {
        self == Self::Exited(0)
    }

    /// The exit code, if the worker exited.
    ///
    /// ```
    /// use forkwise_fork::WorkerState;
    /// assert_eq!(WorkerState::Exited(3).code(), Some(3));
    /// assert_eq!(WorkerState::Lost.code(), None);
    /// ```
    pub fn code(self) -> Option<i32> {
        match self {
            Self::Exited(code) => Some(code),
            _ => None,
        }
    }

    /// The signal that ended the worker, if one did.
    ///
    /// ```
    /// use forkwise_fork::{Signal, WorkerState};
    /// let state = WorkerState::Killed { signal: Signal::SIGKILL, core_dumped: false };
    /// assert_eq!(state.signal(), Some(Signal::SIGKILL));
    /// ```
    pub fn signal(self) -> Option<Signal> {
        match self {
            Self::Killed { signal, .. } => Some(signal),
            _ => None,
        }
    }

    /// The state for a status `waitpid(2)` reported.
    ///
    /// A signal number this system does not name (glibc keeps 32 and 33 for
    /// itself, so they are no [`Signal`]) is reported as an exit with code
    /// 128 + the number, as shells report a death by signal.
    pub(crate) fn from_status(status: Status) -> Self {
        match status {
            Status::Exited(code) => Self::Exited(code),
            Status::Signaled {
                signal,
                core_dumped,
            } => match Signal::from_raw(signal) {
                Ok(signal) => Self::Killed {
                    signal,
                    core_dumped,
                },
                Err(_) => Self::Exited(128 + signal),
            },
        }
    }
}

impl fmt::Display for WorkerState {
    /// A phrase that follows "the worker": "exited with code 1",
    /// "was killed by SIGTERM (core dumped)".
    ///
    /// ```
    /// use forkwise_fork::{Signal, WorkerState};
    /// assert_eq!(WorkerState::Exited(1).to_string(), "exited with code 1");
    /// let killed = WorkerState::Killed { signal: Signal::SIGTERM, core_dumped: false };
    /// assert_eq!(killed.to_string(), "was killed by SIGTERM");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Running => f.write_str("is running"),
            Self::Exited(code) => write!(f, "exited with code {code}"),
            Self::Killed {
                signal,
                core_dumped: false,
            } => write!(f, "was killed by {signal}"),
            Self::Killed {
                signal,
                core_dumped: true,
            } => write!(f, "was killed by {signal} (core dumped)"),
            Self::Lost => f.write_str("was reaped by someone else (exit status unknown)"),
        }
    }
}

/// What happens to a worker's slot after its process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Nothing: the worker is done (a plain worker, a supervised one that
    /// ended as its policy accepts, or the manager is shutting down).
    Done,
    /// A supervised worker is restarted after this pause.
    Restart {
        /// The backoff before the new process starts.
        after: Duration,
    },
    /// A supervised worker failed too often within its policy's window:
    /// the manager gave up on it.
    GaveUp,
}

/// The report of one worker process's end, given to the
/// [`on_exit`](crate::ForkManager::on_exit) callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerEnd {
    /// The worker.
    pub id: WorkerId,
    /// Its index in its group.
    pub index: usize,
    /// The pid of the process that ended.
    pub pid: i32,
    /// How it ended.
    pub state: WorkerState,
    /// How many times the slot had been restarted before this process.
    pub restarts: u32,
    /// What happens next.
    pub next: Next,
}

impl fmt::Display for WorkerEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {} (pid {}) {}", self.index, self.pid, self.state)?;
        match self.next {
            Next::Done => Ok(()),
            Next::Restart { after } => write!(f, "; restarting in {after:?}"),
            Next::GaveUp => f.write_str("; failed too often, giving up"),
        }
    }
}

/// A worker's view of itself, passed to the closure it runs.
///
/// ```
/// # use forkwise_fork::ForkManager;
/// let mut manager = ForkManager::new()?;
/// let master = manager.master_pid();
/// let group = manager.fork(move |worker| {
///     // Runs in the child.
///     assert_eq!(worker.master_pid(), master);
///     assert_eq!(worker.pid(), std::process::id() as i32);
///     assert_eq!(forkwise_fork::Worker::current(), Some(worker.clone()));
///     worker.index() as i32 * 10
/// }, 2)?;
/// let states = manager.wait(&group)?;
/// assert_eq!(states[1].code(), Some(10));
/// # Ok::<(), forkwise_fork::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Worker {
    pub(crate) id: WorkerId,
    pub(crate) index: usize,
    pub(crate) pid: i32,
    pub(crate) master: i32,
    pub(crate) restarts: u32,
}

/// The worker this process is, set in the child right after the fork.
static CURRENT: Mutex<Option<Worker>> = Mutex::new(None);

impl Worker {
    /// The worker's id in the master's manager.
    pub fn id(&self) -> WorkerId {
        self.id
    }

    /// Its index in its group: 0 to `count - 1`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The master's pid.
    pub fn master_pid(&self) -> i32 {
        self.master
    }

    /// How many times this supervised worker was restarted before this
    /// process: 0 for the first process of a slot, and always for a worker
    /// of [`fork`](crate::ForkManager::fork).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The worker this process is, if a [`ForkManager`](crate::ForkManager)
    /// forked it: for code deep in a worker that was not handed its
    /// `&Worker`. `None` in the master and in processes started otherwise.
    pub fn current() -> Option<Self> {
        let current = CURRENT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        current.clone().filter(|worker| worker.pid == sys::getpid())
    }

    /// Records `self` as this process's worker (in the child, after fork).
    pub(crate) fn make_current(&self) {
        *CURRENT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(self.clone());
    }
}
