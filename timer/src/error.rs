//! The crate's one error type.

use std::fmt;
use std::io;
use std::time::Duration;

/// Everything that can go wrong when creating a timer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The interval (or delay) is shorter than [`Timer::MIN_INTERVAL`](crate::Timer::MIN_INTERVAL).
    IntervalTooShort {
        /// The interval asked for.
        interval: Duration,
    },
    /// `timer_create(2)` or `timer_settime(2)` failed.
    Os {
        /// The call that failed.
        call: &'static str,
        /// The error the OS returned.
        source: io::Error,
    },
    /// The timer signal's handler could not be installed.
    Signal(forkwise_signal::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IntervalTooShort { interval } => write!(
                f,
                "timer interval {interval:?} is shorter than the minimum of {:?}",
                crate::Timer::MIN_INTERVAL
            ),
            Self::Os { call, source } => write!(f, "{call} failed: {source}"),
            Self::Signal(err) => write!(f, "cannot handle the timer signal: {err}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::IntervalTooShort { .. } => None,
            Self::Os { source, .. } => Some(source),
            Self::Signal(err) => Some(err),
        }
    }
}

impl From<forkwise_signal::Error> for Error {
    fn from(err: forkwise_signal::Error) -> Self {
        Self::Signal(err)
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::IntervalTooShort { .. } => io::ErrorKind::InvalidInput,
            Error::Os { source, .. } => source.kind(),
            Error::Signal(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
