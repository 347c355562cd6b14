//! The crate's one error type.

use std::fmt;
use std::io;

use crate::Signal;

/// What the crate was doing when a system call failed.
///
/// ```
/// use forkwise_signal::{Error, Operation, Signal};
///
/// // A pid far above any pid_max: no such process.
/// match Signal::SIGUSR1.send(i32::MAX) {
///     Err(Error::Os { operation: Operation::Send { pid }, .. }) => assert_eq!(pid, i32::MAX),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Installing the OS-level handler (`sigaction(2)`).
    Install,
    /// Sending a signal to a process (`kill(2)`).
    Send {
        /// The process.
        pid: i32,
    },
    /// Sending a signal to a process group (`kill(2)` with `-pgid`).
    SendGroup {
        /// The process group; 0 is the caller's own.
        pgid: i32,
    },
    /// Sending a signal to the calling thread (`raise(3)`).
    Raise,
    /// Opening the wake-up pipe (`pipe2(2)`).
    OpenWakePipe,
    /// Waiting for a signal (`poll(2)`).
    Wait,
    /// Starting the background dispatcher thread.
    SpawnDispatcher,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Install => f.write_str("install a handler"),
            Self::Send { .. } | Self::SendGroup { .. } => f.write_str("send"),
            Self::Raise => f.write_str("raise"),
            Self::OpenWakePipe => f.write_str("open the wake-up pipe"),
            Self::Wait => f.write_str("wait for signals"),
            Self::SpawnDispatcher => f.write_str("start the background dispatcher"),
        }
    }
}

/// Why a signal cannot have a handler.
///
/// ```
/// use forkwise_signal::{Error, Refusal, Signal, SignalHandler};
///
/// match SignalHandler::new(Signal::SIGSEGV) {
///     Err(Error::Refused { reason, .. }) => assert_eq!(reason, Refusal::SynchronousFault),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `SIGKILL` and `SIGSTOP`: the kernel never lets a process catch them.
    Uncatchable,
    /// `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`: they report a fault of the
    /// instruction that raised them. A listener runs later, in ordinary
    /// context, and cannot fix the fault, so the instruction would fault again
    /// as soon as the OS handler returned.
    SynchronousFault,
}

/// Everything that can go wrong in this crate; each variant names the signal
/// it concerns, if any.
///
/// Converts into [`io::Error`], so `?` works in functions returning
/// `io::Result`; the kind is the OS error's (`ESRCH`, no such process, is
/// [`NotFound`](io::ErrorKind::NotFound)), and
/// [`InvalidInput`](io::ErrorKind::InvalidInput) for the others:
///
/// ```
/// use forkwise_signal::{Propagation, Signal, SignalHandler};
///
/// fn listen() -> std::io::Result<()> {
///     let handler = SignalHandler::new(Signal::SIGUSR1)?;
///     let _id = handler.add(|_| Propagation::Continue)?;
///     Signal::SIGUSR1.raise()?;
///     forkwise_signal::dispatch();
///     Ok(())
/// }
/// listen().unwrap();
///
/// let err = SignalHandler::new(Signal::SIGKILL).unwrap_err();
/// assert_eq!(err.signal(), Some(Signal::SIGKILL));
/// assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::InvalidInput);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    Os {
        /// What was being done.
        operation: Operation,
        /// The signal it was done with, if one.
        signal: Option<Signal>,
        /// The error the OS returned.
        source: io::Error,
    },
    /// This signal cannot have a handler.
    Refused {
        /// The signal.
        signal: Signal,
        /// Why.
        reason: Refusal,
    },
    /// A pid that `kill(2)` would read as a process group or as "every
    /// process": refused before sending.
    InvalidPid {
        /// The signal that was to be sent.
        signal: Signal,
        /// The pid (or, for [`Signal::send_group`], the process group).
        pid: i32,
    },
    /// Text that names no signal of this system.
    UnknownName {
        /// The text.
        name: String,
    },
    /// A number that is no signal of this system (or one the C library keeps
    /// for itself, such as glibc's 32 and 33).
    InvalidNumber {
        /// The number.
        number: i32,
    },
}

impl Error {
    pub(crate) fn os(operation: Operation, signal: Option<Signal>, source: io::Error) -> Self {
        Self::Os {
            operation,
            signal,
            source,
        }
    }

    /// The signal this error is about, if one.
    pub fn signal(&self) -> Option<Signal> {
        match self {
            Self::Os { signal, .. } => *signal,
            Self::Refused { signal, .. } | Self::InvalidPid { signal, .. } => Some(*signal),
            Self::UnknownName { .. } | Self::InvalidNumber { .. } => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Os {
                operation,
                signal,
                source,
            } => {
                // Sending always names its signal; the other operations may not have one.
                let name = signal.map_or_else(|| "a signal".to_owned(), |s| s.to_string());
                match operation {
                    Operation::Send { pid } => write!(f, "cannot send {name} to process {pid}")?,
                    Operation::SendGroup { pgid: 0 } => {
                        write!(f, "cannot send {name} to its own process group")?;
                    }
                    Operation::SendGroup { pgid } => {
                        write!(f, "cannot send {name} to process group {pgid}")?;
                    }
                    Operation::Raise => write!(f, "cannot raise {name}")?,
                    other => {
                        write!(f, "cannot {other}")?;
                        if signal.is_some() {
                            write!(f, " for {name}")?;
                        }
                    }
                }
                write!(f, ": {source}")
            }
            Self::Refused {
                signal,
                reason: Refusal::Uncatchable,
            } => write!(
                f,
                "cannot handle {signal}: the kernel never lets a process catch it"
            ),
            Self::Refused {
                signal,
                reason: Refusal::SynchronousFault,
            } => write!(
                f,
                "cannot handle {signal}: it reports a fault of the running instruction, \
                 which a listener running later cannot repair"
            ),
            Self::InvalidPid { signal, pid } if *pid > 0 => write!(
                f,
                "refusing to send {signal} to process group {pid}: kill(2) would send it \
                 to every process this one may signal"
            ),
            Self::InvalidPid { signal, pid } => write!(
                f,
                "refusing to send {signal} to pid {pid}: kill(2) would read it as a process \
                 group or as every process; use Signal::send_group for groups"
            ),
            Self::UnknownName { name } => write!(f, "no signal is named {name:?}"),
            Self::InvalidNumber { number } => {
                write!(f, "{number} is not a signal number this process may use")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            // std leaves "no such process" uncategorised; it is a NotFound.
            Error::Os { source, .. } if source.raw_os_error() == Some(libc::ESRCH) => {
                io::ErrorKind::NotFound
            }
            Error::Os { source, .. } => source.kind(),
            _ => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, err)
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_signal_and_the_target() {
        let err = Error::os(
            Operation::Send { pid: 42 },
            Some(Signal::SIGUSR1),
            io::Error::from_raw_os_error(libc::ESRCH),
        );
        let message = err.to_string();
        assert!(
            message.starts_with("cannot send SIGUSR1 to process 42: "),
            "{message}"
        );
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(err.signal(), Some(Signal::SIGUSR1));

        let err = Error::Refused {
            signal: Signal::SIGSEGV,
            reason: Refusal::SynchronousFault,
        };
        assert!(err.to_string().starts_with("cannot handle SIGSEGV: "));
        assert!(std::error::Error::source(&err).is_none());

        let err = Error::InvalidPid {
            signal: Signal::SIGTERM,
            pid: -1,
        };
        assert!(err.to_string().contains("SIGTERM to pid -1"), "{err}");
    }

    #[test]
    fn converts_into_io_error_keeping_the_kind() {
        let err = Error::os(
            Operation::Send { pid: 1 },
            Some(Signal::SIGTERM),
            io::Error::from_raw_os_error(libc::EPERM),
        );
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::PermissionDenied);
        let err = Error::UnknownName {
            name: "SIGFOO".into(),
        };
        let io = io::Error::from(err);
        assert_eq!(io.kind(), io::ErrorKind::InvalidInput);
        assert!(io.to_string().contains("SIGFOO"));
    }
}
