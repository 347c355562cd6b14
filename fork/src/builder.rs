//! [`ForkManagerBuilder`]: the manager's settings, and [`DropPolicy`].

use std::fmt;
use std::time::Duration;

use forkwise_signal::Signal;

use crate::error::{Error, Result};
use crate::logger::Logger;
use crate::manager::ForkManager;
use crate::output::{OutputLine, Sink};

/// What dropping a [`ForkManager`] does with workers that still run. In
/// every case no worker is left unreaped: dropping never leaves a zombie.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropPolicy {
    /// Send `SIGTERM`, wait up to the grace period, `SIGKILL` what is left,
    /// and reap them all. The default.
    #[default]
    Terminate,
    /// `SIGKILL` them at once and reap them.
    Kill,
    /// Wait for them to end by themselves (supervised workers are no
    /// longer restarted).
    Wait,
}

/// Settings for a [`ForkManager`]; [`ForkManager::builder`] starts one.
///
/// ```
/// use forkwise_fork::{DropPolicy, ForkManager, Signal};
/// use std::time::Duration;
///
/// let manager = ForkManager::builder()
///     .grace_period(Duration::from_secs(2))
///     .shutdown_signals(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])
///     .on_drop(DropPolicy::Kill)
///     .output_lines(|line| eprintln!("[{} {}] {}", line.index, line.stream, line.text()))
///     .build()?;
/// # drop(manager);
/// # Ok::<(), forkwise_fork::Error>(())
/// ```
#[must_use]
pub struct ForkManagerBuilder {
    pub(crate) logger: Logger,
    pub(crate) sink: Option<Sink>,
    pub(crate) shutdown_signals: Vec<Signal>,
    pub(crate) grace: Duration,
    pub(crate) drop_policy: DropPolicy,
    pub(crate) allow_threads: bool,
    pub(crate) subreaper: bool,
}

impl Default for ForkManagerBuilder {
    fn default() -> Self {
        Self {
            logger: Logger::global(),
            sink: None,
            shutdown_signals: vec![Signal::SIGTERM, Signal::SIGINT],
            grace: ForkManager::DEFAULT_GRACE,
            drop_policy: DropPolicy::Terminate,
            allow_threads: false,
            subreaper: false,
        }
    }
}

impl ForkManagerBuilder {
    /// The manager reports its events (a worker started, ended, was
    /// restarted, a shutdown) to `logger` instead of the global `log`
    /// facade; so does captured output sent to the log.
    ///
    /// Events use the target `forkwise_fork`: starts at `Debug`, clean ends
    /// at `Debug`, failures and restarts at `Warn`, giving up and
    /// escalating a shutdown at `Error`.
    ///
    /// ```
    /// struct Stderr;
    /// impl log::Log for Stderr {
    ///     fn enabled(&self, _: &log::Metadata<'_>) -> bool { true }
    ///     fn log(&self, record: &log::Record<'_>) { eprintln!("{}: {}", record.level(), record.args()) }
    ///     fn flush(&self) {}
    /// }
    /// let mut manager = forkwise_fork::ForkManager::builder().logger(Stderr).build()?;
    /// manager.fork(|_| 1, 1)?; // "WARN: worker 0 (pid ...) exited with code 1"
    /// manager.wait_all()?;
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn logger(mut self, logger: impl log::Log + 'static) -> Self {
        self.logger = Logger::custom(Box::new(logger));
        self
    }

    /// Captures each worker's stdout and stderr through pipes and calls
    /// `callback` in the master with every line (see [`OutputLine`]).
    ///
    /// Lines are read while the master waits ([`wait`](ForkManager::wait),
    /// [`try_wait`](ForkManager::try_wait), ...), so a worker blocks on a
    /// full pipe only until the master next waits. A master that does not
    /// wait for a long time should call `try_wait` now and then.
    ///
    /// ```
    /// use forkwise_fork::{ForkManager, Stream};
    /// use std::{cell::RefCell, rc::Rc};
    ///
    /// let lines = Rc::new(RefCell::new(Vec::new()));
    /// let sink = Rc::clone(&lines);
    /// let mut manager = ForkManager::builder()
    ///     .output_lines(move |line| sink.borrow_mut().push((line.stream, line.text().into_owned())))
    ///     .build()?;
    /// manager.fork(|_| { println!("to stdout"); eprintln!("to stderr"); }, 1)?;
    /// manager.wait_all()?;
    /// assert!(lines.borrow().contains(&(Stream::Stdout, "to stdout".to_owned())));
    /// assert!(lines.borrow().contains(&(Stream::Stderr, "to stderr".to_owned())));
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn output_lines(mut self, callback: impl FnMut(&OutputLine<'_>) + 'static) -> Self {
        self.sink = Some(Sink::Lines(Box::new(callback)));
        self
    }

    /// Captures each worker's stdout and stderr and logs each line to the
    /// manager's logger, with the target `forkwise_fork::output`: stdout at
    /// `Info`, stderr at `Warn`, as "worker INDEX (pid PID): LINE".
    ///
    /// ```
    /// // With a logger installed (env_logger, say), the line is logged.
    /// let mut manager = forkwise_fork::ForkManager::builder().output_to_log().build()?;
    /// manager.fork(|_| println!("hello from a worker"), 1)?;
    /// manager.wait_all()?;
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn output_to_log(mut self) -> Self {
        self.sink = Some(Sink::Log);
        self
    }

    /// The signals that shut the manager down (`SIGTERM` and `SIGINT`
    /// unless set; none: `&[]`). See [`ForkManager::shutdown`].
    ///
    /// While the manager exists, these signals no longer end the master:
    /// they start its shutdown the next time it waits.
    ///
    /// ```
    /// use forkwise_fork::{ForkManager, Signal};
    /// let mut manager = ForkManager::builder().shutdown_signals(&[Signal::SIGHUP]).build()?;
    /// Signal::SIGHUP.raise()?;
    /// manager.try_wait()?;
    /// assert!(manager.is_shutting_down());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_signals(mut self, signals: &[Signal]) -> Self {
        self.shutdown_signals = signals.to_vec();
        self
    }

    /// How long a shutdown (or [`DropPolicy::Terminate`]) waits between
    /// `SIGTERM` and `SIGKILL` (10 s unless set).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let mut manager = forkwise_fork::ForkManager::builder()
    ///     .grace_period(Duration::from_millis(50))
    ///     .build()?;
    /// manager.fork(|_| {
    ///     // SAFETY: SIG_IGN for SIGTERM; no handler code runs.
    ///     unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    ///     std::thread::sleep(Duration::from_secs(30));
    /// }, 1)?;
    /// let started = Instant::now();
    /// manager.shutdown()?; // SIGTERM is ignored: SIGKILL after 50 ms
    /// assert!(started.elapsed() < Duration::from_secs(10));
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// What dropping the manager does with running workers
    /// ([`DropPolicy::Terminate`] unless set).
    ///
    /// ```
    /// use forkwise_fork::{DropPolicy, ForkManager};
    /// let mut manager = ForkManager::builder().on_drop(DropPolicy::Wait).build()?;
    /// manager.fork(|_| std::thread::sleep(std::time::Duration::from_millis(20)), 2)?;
    /// drop(manager); // waits for both, reaps both
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn on_drop(mut self, policy: DropPolicy) -> Self {
        self.drop_policy = policy;
        self
    }

    /// Makes the master a child subreaper (Linux `PR_SET_CHILD_SUBREAPER`)
    /// while the manager lives: orphaned descendants (a daemon a worker
    /// started, a [`detach`](crate::detach)ed program) become its children
    /// when their parent exits, so that it can
    /// [`adopt`](ForkManager::adopt) and reap them.
    ///
    /// See [`detach`](crate::detach) for an example.
    pub fn subreaper(mut self, on: bool) -> Self {
        self.subreaper = on;
        self
    }

    /// Lets the manager fork while the process has more than one thread.
    ///
    /// # Safety
    ///
    /// A forked child has only the thread that forked. Any lock another
    /// thread held at that instant (inside the allocator, stdio, a `Mutex`,
    /// the dynamic loader) stays locked in the child forever, so the child
    /// may deadlock on anything that takes it. The caller promises that
    /// the workers' closures touch nothing another thread may have held
    /// locked at a fork, or that no other thread holds such locks while the
    /// manager forks. POSIX only promises async-signal-safe functions in
    /// such a child (see `fork(2)` and `signal-safety(7)`).
    ///
    /// ```
    /// let (stop, parked) = std::sync::mpsc::channel::<()>();
    /// let thread = std::thread::spawn(move || parked.recv());
    /// // SAFETY: the other thread only waits on a channel; the worker only
    /// // returns a number, touching no lock that thread could hold.
    /// let mut manager = unsafe { forkwise_fork::ForkManager::builder().allow_threads() }.build()?;
    /// manager.fork(|_| 7, 1)?;
    /// assert_eq!(manager.wait_all()?[0].code(), Some(7));
    /// # stop.send(()).unwrap();
    /// # thread.join().unwrap().unwrap();
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    #[allow(
        unsafe_code,
        reason = "the opt-in is unsafe by design: the caller vouches for the threads"
    )]
    pub unsafe fn allow_threads(mut self) -> Self {
        self.allow_threads = true;
        self
    }

    /// Creates the manager.
    ///
    /// # Errors
    ///
    /// As [`ForkManager::new`].
    pub fn build(self) -> Result<ForkManager> {
        if cfg!(any(
            target_os = "ios",
            target_os = "tvos",
            target_os = "watchos",
            target_os = "visionos"
        )) {
            return Err(Error::Unsupported {
                what: "fork (the platform forbids it)",
            });
        }
        ForkManager::from_builder(self)
    }
}

impl fmt::Debug for ForkManagerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForkManagerBuilder")
            .field("logger", &self.logger)
            .field("capture", &self.sink.is_some())
            .field("shutdown_signals", &self.shutdown_signals)
            .field("grace", &self.grace)
            .field("drop_policy", &self.drop_policy)
            .field("allow_threads", &self.allow_threads)
            .field("subreaper", &self.subreaper)
            .finish()
    }
}
