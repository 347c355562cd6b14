//! [`ForkManager`]: the master's side: fork, wait, signal, supervise.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use forkwise_signal::Signal;

use crate::builder::{DropPolicy, ForkManagerBuilder};
use crate::error::{Error, Operation, Result};
use crate::exit_code::IntoExitCode;
use crate::logger::Logger;
use crate::output::{Captured, Sink};
use crate::signals::Signals;
use crate::supervise::{RestartPolicy, Supervision};
use crate::sys::{self, Pid};
use crate::worker::{Target, Worker, WorkerEnd, WorkerGroup, WorkerId, WorkerState};

/// A callback run in the master when a worker process ends.
type EndHook = Box<dyn FnMut(&WorkerEnd)>;

/// Forks workers that run closures, waits for them, signals them, keeps
/// supervised ones alive, captures their output and shuts them down.
///
/// ```
/// use forkwise_fork::{ForkManager, WorkerState};
///
/// let mut manager = ForkManager::new()?;
/// let group = manager.fork(|worker| {
///     // In the child: its index, pid and master's pid are in `worker`.
///     if worker.index() == 2 { Err("worker 2 fails") } else { Ok(()) }
/// }, 4)?;
/// let states = manager.wait(&group)?;
/// assert_eq!(states, [
///     WorkerState::Exited(0),
///     WorkerState::Exited(0),
///     WorkerState::Exited(1), // and "Error: \"worker 2 fails\"" on its stderr
///     WorkerState::Exited(0),
/// ]);
/// # Ok::<(), forkwise_fork::Error>(())
/// ```
///
/// The manager belongs to the process that created it, the *master*.
/// Workers get a copy of it (as of all memory) but cannot use it: forking,
/// waiting and signalling through it fail with [`Error::NotMaster`]. A
/// worker may create a manager of its own.
///
/// Dropping the manager ends the workers that still run according to its
/// [`DropPolicy`] and reaps them all.
pub struct ForkManager {
    pub(crate) master: Pid,
    pub(crate) slots: Vec<Slot>,
    pub(crate) grace: Duration,
    pub(crate) drop_policy: DropPolicy,
    pub(crate) allow_threads: bool,
    pub(crate) logger: Logger,
    pub(crate) sink: Option<Sink>,
    pub(crate) signals: Option<Signals>,
    pub(crate) hooks: Hooks,
    pub(crate) shutdown: ShutdownState,
    /// Where captured output is read into.
    pub(crate) buffer: Vec<u8>,
    /// The descriptors a wait polls, kept between rounds.
    pub(crate) pollfds: Vec<libc::pollfd>,
    /// When every running worker was last checked with `waitpid`.
    pub(crate) last_scan: Instant,
    /// Check every running worker in the next round: `SIGCHLD` has just
    /// begun to be watched, and may have come before.
    pub(crate) scan_due: bool,
    /// The last poll found the signal wake-up descriptor readable.
    pub(crate) wake_ready: bool,
    /// The subreaper flag before the manager set it, to restore.
    pub(crate) subreaper_before: Option<bool>,
}

/// One worker as the master tracks it.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) id: WorkerId,
    pub(crate) index: usize,
    pub(crate) pid: Pid,
    pub(crate) state: WorkerState,
    pub(crate) restarts: u32,
    pub(crate) captured: Option<Captured>,
    /// A pidfd of the process, readable once it ends; `None` where none
    /// could be opened, and `SIGCHLD` and the scans find its end instead.
    pub(crate) ended: Option<OwnedFd>,
    pub(crate) supervision: Option<Supervision>,
    /// The manager is ending this worker: never restart it.
    pub(crate) stopping: bool,
}

impl Slot {
    /// Ended, with no restart pending.
    pub(crate) fn is_finished(&self) -> bool {
        self.state.has_ended()
            && self
                .supervision
                .as_ref()
                .is_none_or(|s| s.restart_at.is_none())
    }
}

/// The callbacks run in the master.
#[derive(Default)]
pub(crate) struct Hooks {
    pub(crate) success: Vec<EndHook>,
    pub(crate) error: Vec<EndHook>,
    pub(crate) exit: Vec<EndHook>,
    pub(crate) shutdown: Vec<Box<dyn FnMut(Option<Signal>)>>,
}

/// Where a shutdown stands.
#[derive(Debug, Default)]
pub(crate) struct ShutdownState {
    /// A shutdown began: nothing is forked or restarted any more.
    pub(crate) active: bool,
    /// When the workers still running get `SIGKILL`.
    pub(crate) kill_at: Option<Instant>,
    /// Shutdown signals counted so far.
    pub(crate) requests_seen: u64,
}

impl ForkManager {
    /// How long a shutdown waits between `SIGTERM` and `SIGKILL` unless
    /// [set](ForkManagerBuilder::grace_period).
    pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

    /// A manager with the default settings: no output capture, shutdown on
    /// `SIGTERM` and `SIGINT`, a 10 s grace period, workers terminated on
    /// drop.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] where the platform forbids `fork` (iOS and
    /// its kin); [`Error::Signal`] if the signal listeners cannot be
    /// installed (the process is out of file descriptors).
    ///
    /// ```
    /// let manager = forkwise_fork::ForkManager::new()?;
    /// assert!(manager.is_master());
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// Settings other than the defaults; see [`ForkManagerBuilder`].
    ///
    /// ```
    /// let manager = forkwise_fork::ForkManager::builder()
    ///     .grace_period(std::time::Duration::from_secs(3))
    ///     .build()?;
    /// # drop(manager);
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn builder() -> ForkManagerBuilder {
        ForkManagerBuilder::default()
    }

    pub(crate) fn from_builder(builder: ForkManagerBuilder) -> Result<Self> {
        let signals = Signals::install(&builder.shutdown_signals)?;
        let subreaper_before = if builder.subreaper {
            Some(set_subreaper(true)?)
        } else {
            None
        };
        Ok(Self {
            master: sys::getpid(),
            slots: Vec::new(),
            grace: builder.grace,
            drop_policy: builder.drop_policy,
            allow_threads: builder.allow_threads,
            logger: builder.logger,
            sink: builder.sink,
            signals: Some(signals),
            hooks: Hooks::default(),
            shutdown: ShutdownState::default(),
            buffer: Vec::new(),
            pollfds: Vec::new(),
            last_scan: Instant::now(),
            scan_due: false,
            wake_ready: false,
            subreaper_before,
        })
    }

    /// Forks `count` workers, each running `body` with its [`Worker`], and
    /// returns them as a group.
    ///
    /// In each child, `body`'s return value becomes the exit code (see
    /// [`IntoExitCode`]; a panic is 101). Then the child leaves with
    /// `_exit(2)` after flushing stdout: it never returns into the caller's
    /// code and never runs destructors or `atexit` handlers of the master's.
    /// `body` is called by reference, so what it captured is not dropped
    /// in the child either; it may borrow from the caller.
    ///
    /// # Errors
    ///
    /// - [`Error::ZeroWorkers`] for a `count` of 0;
    /// - [`Error::NotMaster`] in a worker;
    /// - [`Error::Threaded`] if the process has more than one thread (see
    ///   [`ForkManagerBuilder::allow_threads`]);
    /// - [`Error::ShuttingDown`] once a shutdown began;
    /// - [`Error::Fork`] if a fork fails; the workers of the group already
    ///   started are terminated and reaped first;
    /// - [`Error::Os`] if the output pipes cannot be created (no worker of
    ///   the group is left running either).
    ///
    /// ```
    /// # use forkwise_fork::ForkManager;
    /// let data = vec![10, 20, 30]; // borrowed by the workers, not moved
    /// let mut manager = ForkManager::new()?;
    /// let group = manager.fork(|worker| data[worker.index()] + 1, data.len())?;
    /// let codes: Vec<_> = manager.wait(&group)?.iter().map(|s| s.code()).collect();
    /// assert_eq!(codes, [Some(11), Some(21), Some(31)]);
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn fork<F, R>(&mut self, mut body: F, count: usize) -> Result<WorkerGroup>
    where
        F: FnMut(&Worker) -> R,
        R: IntoExitCode,
    {
        self.check_can_fork(count)?;
        self.start_group(count, None, &mut |worker| body(worker).into_exit_code())
    }

    /// Forks one supervised worker: whenever it ends as `policy` says it
    /// should be restarted, the master forks a new process in its place
    /// (a new pid; [`Worker::restarts`] counts up), after the policy's
    /// backoff, until the policy's limit is reached and the manager gives
    /// up. Restarts happen while the master waits.
    ///
    /// `body` runs anew in each process (the master's copy is never called).
    ///
    /// # Errors
    ///
    /// As [`fork`](Self::fork).
    ///
    /// ```
    /// use forkwise_fork::{ForkManager, RestartPolicy, WorkerState};
    /// use std::time::Duration;
    ///
    /// let mut manager = ForkManager::new()?;
    /// let policy = RestartPolicy::on_failure().backoff(Duration::ZERO, Duration::ZERO);
    /// // Fails twice, then succeeds: the third process exits 0 and is not restarted.
    /// let id = manager.spawn(|worker| worker.restarts() == 2, policy)?;
    /// assert_eq!(manager.wait(id)?, [WorkerState::Exited(0)]);
    /// assert_eq!(manager.restarts(id), Some(2));
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn spawn<F, R>(&mut self, body: F, policy: RestartPolicy) -> Result<WorkerId>
    where
        F: FnMut(&Worker) -> R + 'static,
        R: IntoExitCode,
    {
        let group = self.spawn_group(body, 1, policy)?;
        Ok(group.ids()[0])
    }

    /// Forks `count` supervised workers running `body`, each restarted as
    /// [`spawn`](Self::spawn) describes: a pool, as a pre-fork server keeps.
    ///
    /// # Errors
    ///
    /// As [`fork`](Self::fork).
    ///
    /// ```
    /// use forkwise_fork::{ForkManager, RestartPolicy};
    ///
    /// let mut manager = ForkManager::new()?;
    /// let pool = manager.spawn_group(|worker| worker.index() as i32, 3, RestartPolicy::on_failure())?;
    /// // Worker 0 exits 0 and is done; 1 and 2 fail and are restarted until
    /// // the policy gives up, so stop the pool instead of waiting.
    /// manager.stop(&pool)?;
    /// manager.wait(&pool)?;
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn spawn_group<F, R>(
        &mut self,
        mut body: F,
        count: usize,
        policy: RestartPolicy,
    ) -> Result<WorkerGroup>
    where
        F: FnMut(&Worker) -> R + 'static,
        R: IntoExitCode,
    {
        self.check_can_fork(count)?;
        let shared: crate::supervise::Body = Rc::new(RefCell::new(move |worker: &Worker| {
            body(worker).into_exit_code()
        }));
        let run = Rc::clone(&shared);
        self.start_group(count, Some(&(policy, shared)), &mut |worker| {
            (run.borrow_mut())(worker)
        })
    }

    /// Waits until every worker of `target` has ended (and, if supervised,
    /// will not be restarted), and returns their states in order.
    ///
    /// While waiting, the master reaps workers as they end, delivers their
    /// output, runs the callbacks, restarts supervised workers, dispatches
    /// signals (every forkwise-signal listener of the process runs here)
    /// and carries out a shutdown a signal asked for.
    ///
    /// # Errors
    ///
    /// [`Error::NotMaster`] in a worker; [`Error::UnknownWorker`] for an id
    /// that is not this manager's; [`Error::Os`] if waiting fails with
    /// anything but EINTR (retried) or ECHILD (the worker is
    /// [`Lost`](WorkerState::Lost)).
    ///
    /// ```
    /// # use forkwise_fork::{ForkManager, WorkerState};
    /// let mut manager = ForkManager::new()?;
    /// let one = manager.fork(|_| 3, 1)?.ids()[0];
    /// assert_eq!(manager.wait(one)?, [WorkerState::Exited(3)]);
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    #[doc(alias = "waitpid")]
    pub fn wait<'a>(&mut self, target: impl Into<Target<'a>>) -> Result<Vec<WorkerState>> {
        self.check_master()?;
        let ids = self.resolve(target.into())?;
        self.wait_until(None, None, |manager| manager.all_finished(&ids))?;
        Ok(self.states(&ids))
    }

    /// As [`wait`](Self::wait), giving up after `timeout`: `None` if some
    /// worker of `target` is still running (or due for a restart) then.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// ```
    /// # use forkwise_fork::ForkManager;
    /// use std::time::Duration;
    /// let mut manager = ForkManager::new()?;
    /// let sleeper = manager.fork(|_| std::thread::sleep(Duration::from_secs(10)), 1)?;
    /// assert_eq!(manager.wait_timeout(&sleeper, Duration::from_millis(10))?, None);
    /// manager.kill(forkwise_fork::Signal::SIGKILL, &sleeper)?;
    /// assert!(manager.wait_timeout(&sleeper, Duration::from_secs(10))?.is_some());
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn wait_timeout<'a>(
        &mut self,
        target: impl Into<Target<'a>>,
        timeout: Duration,
    ) -> Result<Option<Vec<WorkerState>>> {
        self.check_master()?;
        let ids = self.resolve(target.into())?;
        let deadline = Instant::now().checked_add(timeout);
        let done = self.wait_until(deadline, None, |manager| manager.all_finished(&ids))?;
        Ok((done == crate::pump::Waited::Done).then(|| self.states(&ids)))
    }

    /// Waits for every worker of the manager; see [`wait`](Self::wait).
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// ```
    /// # use forkwise_fork::ForkManager;
    /// let mut manager = ForkManager::new()?;
    /// manager.fork(|_| 1, 2)?;
    /// manager.fork(|_| 2, 1)?;
    /// let codes: Vec<_> = manager.wait_all()?.iter().filter_map(|s| s.code()).collect();
    /// assert_eq!(codes, [1, 1, 2]);
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn wait_all(&mut self) -> Result<Vec<WorkerState>> {
        self.wait(Target::All)
    }

    /// Does what waiting does (reap, deliver output, run callbacks,
    /// restart, dispatch signals, shut down) for what is ready now, without
    /// blocking; returns how many workers are still running or due for a
    /// restart.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// ```
    /// # use forkwise_fork::ForkManager;
    /// let mut manager = ForkManager::new()?;
    /// manager.fork(|_| (), 2)?;
    /// while manager.try_wait()? > 0 {
    ///     // ... the master's own work ...
    /// #   std::thread::sleep(std::time::Duration::from_millis(1));
    /// }
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn try_wait(&mut self) -> Result<usize> {
        self.check_master()?;
        self.wait_until(Some(Instant::now()), None, |_| false)?;
        Ok(self.slots.iter().filter(|slot| !slot.is_finished()).count())
    }

    /// Sends `signal` to every running worker of `target`. Workers that
    /// have ended are skipped: signalling them is not an error.
    ///
    /// Supervised workers that a signal ends are restarted as their policy
    /// says; [`stop`](Self::stop) ends them for good.
    ///
    /// # Errors
    ///
    /// [`Error::NotMaster`], [`Error::UnknownWorker`], or [`Error::Os`] if
    /// `kill(2)` fails with anything but ESRCH.
    ///
    /// ```
    /// # use forkwise_fork::{ForkManager, Signal, WorkerState};
    /// let mut manager = ForkManager::new()?;
    /// let group = manager.fork(|_| std::thread::sleep(std::time::Duration::from_secs(30)), 2)?;
    /// manager.kill(Signal::SIGKILL, &group)?;
    /// let killed = WorkerState::Killed { signal: Signal::SIGKILL, core_dumped: false };
    /// assert_eq!(manager.wait(&group)?, [killed, killed]);
    /// manager.kill(Signal::SIGKILL, &group)?; // ended: nothing to do, no error
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn kill<'a>(&mut self, signal: Signal, target: impl Into<Target<'a>>) -> Result<()> {
        self.check_master()?;
        let ids = self.resolve(target.into())?;
        for id in ids {
            self.signal_slot(id, signal.as_raw())?;
        }
        Ok(())
    }

    /// Ends the workers of `target` for good: they will not be restarted,
    /// and get `SIGTERM`. [`wait`](Self::wait) for them afterwards (or use
    /// [`shutdown`](Self::shutdown) for all, with the grace period).
    ///
    /// # Errors
    ///
    /// As [`kill`](Self::kill).
    ///
    /// ```
    /// # use forkwise_fork::{ForkManager, RestartPolicy};
    /// let mut manager = ForkManager::new()?;
    /// let id = manager.spawn(|_| std::thread::sleep(std::time::Duration::from_secs(30)), RestartPolicy::always())?;
    /// manager.stop(id)?;
    /// assert!(manager.wait(id)?[0].signal().is_some());
    /// assert_eq!(manager.restarts(id), Some(0));
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn stop<'a>(&mut self, target: impl Into<Target<'a>>) -> Result<()> {
        self.check_master()?;
        let ids = self.resolve(target.into())?;
        for &id in &ids {
            if let Some(slot) = self.slot_mut(id) {
                slot.stopping = true;
                if let Some(supervision) = &mut slot.supervision {
                    supervision.restart_at = None;
                }
            }
            self.signal_slot(id, libc::SIGTERM)?;
        }
        Ok(())
    }

    /// Shuts down now, as a shutdown signal would: runs the
    /// [`on_shutdown`](Self::on_shutdown) callbacks, sends `SIGTERM` to
    /// every worker, waits up to the grace period, sends `SIGKILL` to the
    /// rest, and reaps them all. Nothing is restarted or forked afterwards.
    ///
    /// A shutdown signal arriving meanwhile (a second Ctrl-C) sends
    /// `SIGKILL` at once.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait).
    ///
    /// ```
    /// # use forkwise_fork::{ForkManager, Signal, WorkerState};
    /// let mut manager = ForkManager::new()?;
    /// let sleeper = manager.fork(|_| std::thread::sleep(std::time::Duration::from_secs(30)), 1)?;
    /// manager.shutdown()?;
    /// let killed = WorkerState::Killed { signal: Signal::SIGTERM, core_dumped: false };
    /// assert_eq!(manager.wait(&sleeper)?, [killed]);
    /// assert!(manager.is_shutting_down());
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn shutdown(&mut self) -> Result<()> {
        self.check_master()?;
        self.begin_shutdown(None);
        self.wait_until(None, None, |manager| {
            manager.slots.iter().all(Slot::is_finished)
        })?;
        Ok(())
    }

    /// True once a shutdown began (by a signal or [`shutdown`](Self::shutdown)).
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.active
    }

    /// Adds a callback run in the master for each worker process that exits
    /// with code 0 (before the [`on_exit`](Self::on_exit) callbacks).
    ///
    /// ```
    /// # use forkwise_fork::ForkManager;
    /// use std::{cell::Cell, rc::Rc};
    /// let (ok, failed, all) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    /// let mut manager = ForkManager::new()?;
    /// let counter = Rc::clone(&ok);
    /// manager.on_success(move |_| counter.set(counter.get() + 1));
    /// let counter = Rc::clone(&failed);
    /// manager.on_error(move |end| { assert_eq!(end.state.code(), Some(1)); counter.set(counter.get() + 1) });
    /// let counter = Rc::clone(&all);
    /// manager.on_exit(move |_| counter.set(counter.get() + 1));
    /// manager.fork(|worker| worker.index() % 2 == 0, 5)?; // false exits 1
    /// manager.wait_all()?;
    /// assert_eq!((ok.get(), failed.get(), all.get()), (3, 2, 5));
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn on_success(&mut self, callback: impl FnMut(&WorkerEnd) + 'static) {
        self.hooks.success.push(Box::new(callback));
    }

    /// Adds a callback run in the master for each worker process that
    /// fails: exits with another code, is killed, or is lost (before the
    /// [`on_exit`](Self::on_exit) callbacks).
    ///
    /// ```
    /// # use forkwise_fork::ForkManager;
    /// let mut manager = ForkManager::new()?;
    /// manager.on_error(|end| eprintln!("{end}")); // "worker 0 (pid 1234) exited with code 3"
    /// manager.fork(|_| 3, 1)?;
    /// manager.wait_all()?;
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn on_error(&mut self, callback: impl FnMut(&WorkerEnd) + 'static) {
        self.hooks.error.push(Box::new(callback));
    }

    /// Adds a callback run in the master for every worker process that
    /// ends, after its output was delivered.
    ///
    /// ```
    /// # use forkwise_fork::ForkManager;
    /// use std::{cell::RefCell, rc::Rc};
    /// let ends = Rc::new(RefCell::new(Vec::new()));
    /// let mut manager = ForkManager::new()?;
    /// let record = Rc::clone(&ends);
    /// manager.on_exit(move |end| record.borrow_mut().push(end.state));
    /// manager.fork(|_| (), 2)?;
    /// manager.wait_all()?;
    /// assert_eq!(ends.borrow().len(), 2);
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn on_exit(&mut self, callback: impl FnMut(&WorkerEnd) + 'static) {
        self.hooks.exit.push(Box::new(callback));
    }

    /// Adds a callback run in the master when a shutdown begins, with the
    /// signal that asked for it (`None` for [`shutdown`](Self::shutdown)),
    /// before the workers get `SIGTERM`.
    ///
    /// ```
    /// # use forkwise_fork::{ForkManager, Signal};
    /// use std::{cell::Cell, rc::Rc};
    /// let asked = Rc::new(Cell::new(None));
    /// let mut manager = ForkManager::new()?;
    /// let record = Rc::clone(&asked);
    /// manager.on_shutdown(move |signal| record.set(Some(signal)));
    /// Signal::SIGTERM.raise()?; // as `kill <pid>` would; the master lives on
    /// manager.try_wait()?;
    /// assert_eq!(asked.get(), Some(Some(Signal::SIGTERM)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_shutdown(&mut self, callback: impl FnMut(Option<Signal>) + 'static) {
        self.hooks.shutdown.push(Box::new(callback));
    }

    /// Takes a child process of this one under the manager, as a worker of
    /// index 0: it can then be waited for, signalled and shut down like
    /// one, and is reaped like one. With
    /// [`subreaper`](ForkManagerBuilder::subreaper) on, that includes a
    /// daemon or detached program that a worker started, once its parent
    /// exited.
    ///
    /// # Errors
    ///
    /// [`Error::NotAChild`] if `pid` is not a child of this process (or
    /// was reaped already); [`Error::NotMaster`] in a worker.
    ///
    /// ```
    /// # use forkwise_fork::{ForkManager, WorkerState};
    /// let mut manager = ForkManager::new()?;
    /// let child = std::process::Command::new("true").spawn()?;
    /// let id = manager.adopt(child.id() as i32)?;
    /// assert_eq!(manager.wait(id)?, [WorkerState::Exited(0)]);
    /// assert!(manager.adopt(1).is_err(), "init is nobody's child");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn adopt(&mut self, pid: i32) -> Result<WorkerId> {
        self.check_master()?;
        let state = match sys::try_wait(pid) {
            Ok(None) => WorkerState::Running,
            Ok(Some(status)) => WorkerState::from_status(status),
            Err(err) if err.raw_os_error() == Some(libc::ECHILD) => {
                return Err(Error::NotAChild { pid });
            }
            Err(err) => return Err(Error::os(Operation::Wait, Some(pid), err)),
        };
        let id = WorkerId::next();
        let ended = if state.has_ended() {
            None
        } else {
            self.watch_end(pid)
        };
        self.slots.push(Slot {
            id,
            index: 0,
            pid,
            state: WorkerState::Running,
            restarts: 0,
            captured: None,
            ended,
            supervision: None,
            stopping: false,
        });
        if state.has_ended() {
            let at = self.slots.len() - 1;
            self.record_end(at, state, Instant::now());
        }
        Ok(id)
    }

    /// Forgets the workers that have finished (ended, no restart pending):
    /// their ids become unknown to the manager. For a long-running master
    /// that forks many short-lived workers. Returns how many were forgotten.
    ///
    /// ```
    /// # use forkwise_fork::ForkManager;
    /// let mut manager = ForkManager::new()?;
    /// let group = manager.fork(|_| (), 3)?;
    /// manager.wait(&group)?;
    /// assert_eq!(manager.forget_finished(), 3);
    /// assert_eq!(manager.workers().count(), 0);
    /// assert!(manager.wait(&group).is_err(), "forgotten ids are unknown");
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn forget_finished(&mut self) -> usize {
        let before = self.slots.len();
        self.slots.retain(|slot| !slot.is_finished());
        before - self.slots.len()
    }

    /// The state of worker `id`, if it is this manager's. Does not reap:
    /// [`try_wait`](Self::try_wait) or [`wait`](Self::wait) does.
    ///
    /// ```
    /// # use forkwise_fork::{ForkManager, WorkerState};
    /// let mut manager = ForkManager::new()?;
    /// let id = manager.fork(|_| 4, 1)?.ids()[0];
    /// assert!(manager.pid(id).is_some_and(|pid| pid > 0));
    /// assert_eq!(manager.workers().collect::<Vec<_>>(), [id]);
    /// manager.wait(id)?;
    /// assert_eq!(manager.state(id), Some(WorkerState::Exited(4)));
    /// assert_eq!((manager.restarts(id), manager.running()), (Some(0), 0));
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn state(&self, id: WorkerId) -> Option<WorkerState> {
        self.slot(id).map(|slot| slot.state)
    }

    /// The pid of worker `id`'s current (or last) process.
    pub fn pid(&self, id: WorkerId) -> Option<i32> {
        self.slot(id).map(|slot| slot.pid)
    }

    /// How many times supervised worker `id` was restarted.
    pub fn restarts(&self, id: WorkerId) -> Option<u32> {
        self.slot(id).map(|slot| slot.restarts)
    }

    /// Every worker the manager knows, in the order they were created.
    pub fn workers(&self) -> impl Iterator<Item = WorkerId> + '_ {
        self.slots.iter().map(|slot| slot.id)
    }

    /// How many workers are running or due for a restart, as the master
    /// last saw.
    pub fn running(&self) -> usize {
        self.slots.iter().filter(|slot| !slot.is_finished()).count()
    }

    /// The pid of the process that created the manager.
    ///
    /// ```
    /// let manager = forkwise_fork::ForkManager::new()?;
    /// assert_eq!(manager.master_pid(), std::process::id() as i32);
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn master_pid(&self) -> i32 {
        self.master
    }

    /// True in the process that created the manager.
    ///
    /// ```
    /// # use forkwise_fork::ForkManager;
    /// let mut manager = ForkManager::new()?;
    /// assert!(manager.is_master() && !manager.is_worker());
    /// let group = manager.fork(|_| {
    ///     // `manager` is borrowed by `fork` here, so look through `Worker`:
    ///     forkwise_fork::Worker::current().is_some()
    /// }, 1)?;
    /// assert!(manager.wait(&group)?[0].success());
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn is_master(&self) -> bool {
        sys::getpid() == self.master
    }

    /// True in one of this manager's workers (holding its copy of the
    /// manager); false in the master and in unrelated processes.
    pub fn is_worker(&self) -> bool {
        Worker::current().is_some_and(|worker| worker.master == self.master)
    }

    // ---- shared helpers ----

    pub(crate) fn check_master(&self) -> Result<()> {
        let pid = sys::getpid();
        if pid == self.master {
            Ok(())
        } else {
            Err(Error::NotMaster {
                master: self.master,
                pid,
            })
        }
    }

    pub(crate) fn check_can_fork(&self, count: usize) -> Result<()> {
        self.check_master()?;
        if count == 0 {
            return Err(Error::ZeroWorkers);
        }
        if self.shutdown.active {
            return Err(Error::ShuttingDown);
        }
        Ok(())
    }

    pub(crate) fn slot(&self, id: WorkerId) -> Option<&Slot> {
        // Slots are pushed in id order and never reordered.
        let at = self.slots.binary_search_by_key(&id, |slot| slot.id).ok()?;
        self.slots.get(at)
    }

    pub(crate) fn slot_mut(&mut self, id: WorkerId) -> Option<&mut Slot> {
        let at = self.slots.binary_search_by_key(&id, |slot| slot.id).ok()?;
        self.slots.get_mut(at)
    }

    /// The ids of `target`, each checked to be this manager's.
    pub(crate) fn resolve(&self, target: Target<'_>) -> Result<Vec<WorkerId>> {
        let ids = match target {
            Target::Worker(id) => vec![id],
            Target::Workers(ids) => ids.to_vec(),
            Target::All => return Ok(self.workers().collect()),
        };
        match ids.iter().find(|&&id| self.slot(id).is_none()) {
            Some(&unknown) => Err(Error::UnknownWorker(unknown)),
            None => Ok(ids),
        }
    }

    pub(crate) fn all_finished(&self, ids: &[WorkerId]) -> bool {
        ids.iter()
            .all(|&id| self.slot(id).is_none_or(Slot::is_finished))
    }

    fn states(&self, ids: &[WorkerId]) -> Vec<WorkerState> {
        ids.iter()
            .map(|&id| self.state(id).unwrap_or(WorkerState::Lost))
            .collect()
    }

    /// A pidfd that tells when child `pid` ends. Where none can be opened
    /// (an old kernel, no descriptors left), the manager listens to
    /// `SIGCHLD` from then on, and scans its workers in the next round.
    pub(crate) fn watch_end(&mut self, pid: Pid) -> Option<OwnedFd> {
        match sys::pidfd_open(pid) {
            Ok(fd) => Some(fd),
            Err(err) => {
                if let Some(signals) = &self.signals {
                    match signals.watch_children() {
                        Ok(true) => self.scan_due = true,
                        Ok(false) => {}
                        Err(listen) => self.logger.event(
                            log::Level::Warn,
                            format_args!(
                                "no pidfd for pid {pid} ({err}) and no SIGCHLD listener \
                                 ({listen}): its end is seen within {} ms",
                                crate::pump::SCAN_INTERVAL.as_millis()
                            ),
                        ),
                    }
                }
                None
            }
        }
    }

    /// Sends `signal` to the slot's process if it runs; ESRCH is not an error.
    pub(crate) fn signal_slot(&mut self, id: WorkerId, signal: i32) -> Result<()> {
        let Some(slot) = self.slot(id) else {
            return Ok(());
        };
        if slot.state != WorkerState::Running {
            return Ok(());
        }
        match sys::kill(slot.pid, signal) {
            Err(err) if err.raw_os_error() != Some(libc::ESRCH) => {
                Err(Error::os(Operation::Kill, Some(slot.pid), err))
            }
            _ => Ok(()),
        }
    }
}

/// Sets the subreaper flag; returns the previous setting.
fn set_subreaper(on: bool) -> Result<bool> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let pid = Some(sys::getpid());
        let before =
            sys::is_child_subreaper().map_err(|e| Error::os(Operation::Subreaper, pid, e))?;
        sys::set_child_subreaper(on).map_err(|e| Error::os(Operation::Subreaper, pid, e))?;
        Ok(before)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = on;
        Err(Error::Unsupported {
            what: "a child subreaper",
        })
    }
}

impl Drop for ForkManager {
    fn drop(&mut self) {
        if !self.is_master() {
            return; // a worker's copy: the workers are the master's to end
        }
        if self.slots.iter().any(|slot| !slot.is_finished()) {
            self.end_all_on_drop();
        }
        if let Some(before) = self.subreaper_before {
            let _ = set_subreaper(before);
        }
    }
}

impl fmt::Debug for ForkManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForkManager")
            .field("master", &self.master)
            .field("workers", &self.slots)
            .field("grace", &self.grace)
            .field("drop_policy", &self.drop_policy)
            .field("shutting_down", &self.shutdown.active)
            .finish_non_exhaustive()
    }
}

/// Makes `io::Error` from a pipe failure name the operation.
pub(crate) fn pipe_error(err: io::Error) -> Error {
    Error::os(Operation::Pipe, None, err)
}
