//! The crate's one error type.

use std::fmt;
use std::io;

use crate::worker::{WorkerId, WorkerState};

/// What the crate was doing when a system call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Creating a process (`fork(2)`).
    Fork,
    /// Waiting for or reaping a process (`waitpid(2)`).
    Wait,
    /// Sending a signal (`kill(2)`).
    Kill,
    /// Creating a pipe for a worker's output or a daemon's report (`pipe2(2)`).
    Pipe,
    /// Waiting for output, signals or results (`poll(2)`).
    Poll,
    /// Reading a worker's output.
    ReadOutput,
    /// Redirecting standard input, output or error (`open(2)`, `dup2(2)`).
    RedirectStdio,
    /// Starting a new session (`setsid(2)`).
    Setsid,
    /// Changing the working directory (`chdir(2)`).
    Chdir,
    /// Setting the process title (`prctl(2)`, the argument area).
    SetTitle,
    /// Becoming, or ceasing to be, a child subreaper (`prctl(2)`).
    Subreaper,
    /// Starting a program (`execve(2)` through `std::process::Command`).
    Spawn,
    /// Reporting from a daemon or detached process to the process that
    /// started it (a pipe).
    Report,
}

impl Operation {
    /// Every operation, in the order of their wire codes.
    const ALL: [Self; 13] = [
        Self::Fork,
        Self::Wait,
        Self::Kill,
        Self::Pipe,
        Self::Poll,
        Self::ReadOutput,
        Self::RedirectStdio,
        Self::Setsid,
        Self::Chdir,
        Self::SetTitle,
        Self::Subreaper,
        Self::Spawn,
        Self::Report,
    ];

    /// A small number naming the operation in a daemon's report.
    pub(crate) fn code(self) -> usize {
        Self::ALL.iter().position(|&op| op == self).unwrap_or(0)
    }

    /// The operation a report's number names.
    pub(crate) fn from_code(code: usize) -> Self {
        Self::ALL.get(code).copied().unwrap_or(Self::Report)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fork => "fork",
            Self::Wait => "wait for",
            Self::Kill => "signal",
            Self::Pipe => "create a pipe for",
            Self::Poll => "poll for",
            Self::ReadOutput => "read the output of",
            Self::RedirectStdio => "redirect the standard streams of",
            Self::Setsid => "start a session for",
            Self::Chdir => "change the directory of",
            Self::SetTitle => "set the title of",
            Self::Subreaper => "change the subreaper flag of",
            Self::Spawn => "start a program from",
            Self::Report => "read the report of",
        })
    }
}

/// Everything that can go wrong in this crate. Messages name the operation
/// and the process; the OS error, where there is one, is the
/// [source](std::error::Error::source).
///
/// Converts into [`io::Error`], so `?` works in functions returning
/// `io::Result`:
///
/// ```
/// fn start() -> std::io::Result<forkwise_fork::ForkManager> {
///     Ok(forkwise_fork::ForkManager::new()?)
/// }
/// # start().unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    Os {
        /// What was being done.
        operation: Operation,
        /// The process it was done to or for, if one.
        pid: Option<i32>,
        /// The error the OS returned.
        source: io::Error,
    },
    /// Forking worker `index` (counting from 0) of a group of `count`
    /// failed. The `index` workers already started were terminated and
    /// reaped before this was returned.
    Fork {
        /// The worker whose fork failed.
        index: usize,
        /// The size of the group asked for.
        count: usize,
        /// The error `fork(2)` returned (EAGAIN: too many processes).
        source: io::Error,
    },
    /// The process has more than one thread, so forking it is refused: the
    /// child would inherit only the forking thread, and any lock another
    /// thread held at that instant (in the allocator, stdio, a `Mutex`)
    /// would stay locked forever in the child, which may then deadlock.
    Threaded {
        /// How many threads the process has.
        threads: usize,
    },
    /// A group of zero workers was asked for.
    ZeroWorkers,
    /// This process is not the manager's master: it is one of its workers
    /// (or another descendant) holding a copy of the manager. Only the
    /// master forks, waits and signals; a worker may create a manager of
    /// its own.
    NotMaster {
        /// The master's pid.
        master: i32,
        /// This process's pid.
        pid: i32,
    },
    /// The manager is shutting down (or has shut down): it starts no more
    /// workers.
    ShuttingDown,
    /// The worker is not one of this manager's (or was forgotten).
    UnknownWorker(WorkerId),
    /// [`adopt`](crate::ForkManager::adopt) was given a pid that is not a
    /// child of this process.
    NotAChild {
        /// The pid given.
        pid: i32,
    },
    /// Installing the manager's signal listeners (shutdown signals, and
    /// SIGCHLD where no pidfd watches a worker) failed.
    Signal(forkwise_signal::Error),
    /// A pidfile could not be created (another instance holds it, say).
    Pidfile(forkwise_lock::Error),
    /// A worker of [`fork_with_result`](crate::ForkManager::fork_with_result)
    /// ended without sending its result.
    #[cfg(feature = "results")]
    NoResult {
        /// The worker's pid.
        pid: i32,
        /// How it ended: a panic is `Exited(101)`.
        state: WorkerState,
    },
    /// A result could not be received from (or sent by) a worker.
    #[cfg(feature = "results")]
    Channel {
        /// The worker's pid.
        pid: i32,
        /// What the channel reported.
        source: forkwise_channel::Error,
    },
    /// A daemon failed while setting itself up, after the forks; `message`
    /// is what it reported.
    Daemon {
        /// The daemon's pid.
        pid: i32,
        /// Its report.
        message: String,
    },
    /// A title or path contains a NUL byte, which the C interfaces cannot carry.
    Nul {
        /// What held it.
        what: &'static str,
    },
    /// This platform cannot do it.
    Unsupported {
        /// What cannot be done.
        what: &'static str,
    },
}

impl Error {
    pub(crate) fn os(operation: Operation, pid: Option<i32>, source: io::Error) -> Self {
        Self::Os {
            operation,
            pid,
            source,
        }
    }

    /// The pid this error is about, if it names one.
    ///
    /// ```
    /// use forkwise_fork::Error;
    ///
    /// let err = Error::NotAChild { pid: 42 };
    /// assert_eq!(err.pid(), Some(42));
    /// ```
    pub fn pid(&self) -> Option<i32> {
        match self {
            Self::Os { pid, .. } => *pid,
            Self::NotMaster { pid, .. } | Self::NotAChild { pid } | Self::Daemon { pid, .. } => {
                Some(*pid)
            }
            #[cfg(feature = "results")]
            Self::NoResult { pid, .. } | Self::Channel { pid, .. } => Some(*pid),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Os {
                operation,
                pid: Some(pid),
                source,
            } => write!(f, "cannot {operation} process {pid}: {source}"),
            Self::Os {
                operation,
                pid: None,
                source,
            } => write!(f, "cannot {operation} a process: {source}"),
            Self::Fork {
                index,
                count,
                source,
            } => write!(
                f,
                "cannot fork worker {index} of {count}: {source}; the {index} already \
                 started were terminated and reaped"
            ),
            Self::Threaded { threads } => write!(
                f,
                "refusing to fork a process with {threads} threads: the child would \
                 inherit only the forking thread, and a lock held by another thread \
                 (in the allocator, stdio, a Mutex) would stay locked forever in it, so \
                 it may deadlock. Fork before starting threads, or see \
                 ForkManagerBuilder::allow_threads"
            ),
            Self::ZeroWorkers => f.write_str("a group of 0 workers was asked for"),
            Self::NotMaster { master, pid } => write!(
                f,
                "process {pid} is not the master ({master}) of this manager: a worker \
                 cannot fork, wait or signal through its copy of the manager"
            ),
            Self::ShuttingDown => f.write_str("the manager is shutting down: no new worker"),
            Self::UnknownWorker(id) => write!(f, "{id} is not a worker of this manager"),
            Self::NotAChild { pid } => write!(f, "process {pid} is not a child of this process"),
            Self::Signal(err) => write!(f, "cannot install the manager's signal listeners: {err}"),
            Self::Pidfile(err) => write!(f, "pidfile: {err}"),
            #[cfg(feature = "results")]
            Self::NoResult { pid, state } => {
                write!(f, "worker {pid} ended without a result: it {state}")
            }
            #[cfg(feature = "results")]
            Self::Channel { pid, source } => {
                write!(f, "cannot receive the result of worker {pid}: {source}")
            }
            Self::Daemon { pid, message } => write!(f, "daemon {pid} failed: {message}"),
            Self::Nul { what } => write!(f, "the {what} contains a NUL byte"),
            Self::Unsupported { what } => write!(f, "{what} is not supported on this platform"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os { source, .. } | Self::Fork { source, .. } => Some(source),
            Self::Signal(err) => Some(err),
            Self::Pidfile(err) => Some(err),
            #[cfg(feature = "results")]
            Self::Channel { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::Os { source, .. } | Error::Fork { source, .. } => source.kind(),
            Error::Threaded { .. } | Error::ZeroWorkers | Error::Nul { .. } => {
                io::ErrorKind::InvalidInput
            }
            Error::NotMaster { .. } | Error::NotAChild { .. } => io::ErrorKind::PermissionDenied,
            Error::ShuttingDown => io::ErrorKind::Interrupted,
            Error::UnknownWorker(_) => io::ErrorKind::NotFound,
            Error::Unsupported { .. } => io::ErrorKind::Unsupported,
            Error::Pidfile(forkwise_lock::Error::AlreadyRunning { .. }) => {
                io::ErrorKind::ResourceBusy
            }
            #[cfg(feature = "results")]
            Error::NoResult { .. } => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

impl From<forkwise_signal::Error> for Error {
    fn from(err: forkwise_signal::Error) -> Self {
        Self::Signal(err)
    }
}

impl From<forkwise_lock::Error> for Error {
    fn from(err: forkwise_lock::Error) -> Self {
        Self::Pidfile(err)
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
