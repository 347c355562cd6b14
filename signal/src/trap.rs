//! [`SignalTrap`]: "has SIGTERM come yet?" for a main loop.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Operation, Result};
use crate::listener::Propagation;
use crate::registry::{self, WakeLease};
use crate::{Signal, SignalHandler, dispatch};

/// Catches some signals and remembers the first that came, for a loop that
/// checks between two pieces of work.
///
/// While a trap exists its signals no longer terminate the process; they
/// are remembered until [`reset`](Self::reset). Checking dispatches what is
/// pending first, so a plain loop works with no dispatcher anywhere:
///
/// ```
/// use forkwise_signal::{Signal, SignalTrap};
///
/// let trap = SignalTrap::new(&[Signal::SIGINT, Signal::SIGTERM])?;
/// let mut jobs = 0;
/// while !trap.is_trapped() {
///     jobs += 1; // one piece of work
///     if jobs == 3 {
///         Signal::SIGTERM.raise()?; // as `kill <pid>` would
///     }
/// }
/// assert_eq!(trap.trapped(), Some(Signal::SIGTERM));
/// assert_eq!(jobs, 3);
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
///
/// A trap adds one listener per signal to the process-wide stacks (see
/// [`SignalHandler`]); it returns [`Propagation::Continue`], so older
/// listeners still see the signal.
pub struct SignalTrap {
    /// Kept for their listeners, which they remove when dropped.
    _handlers: Vec<SignalHandler>,
    lease: WakeLease,
    signals: Vec<Signal>,
    /// The first signal trapped since creation or reset; 0 for none.
    trapped: Arc<AtomicI32>,
}

impl SignalTrap {
    /// A trap for `signals`, installed at once.
    ///
    /// # Errors
    ///
    /// As [`SignalHandler::new`] and [`SignalHandler::add`], for the first
    /// signal that fails; none of the signals is trapped then.
    ///
    /// ```
    /// use forkwise_signal::{Signal, SignalTrap};
    ///
    /// let trap = SignalTrap::new(&[Signal::SIGHUP])?;
    /// assert_eq!(trap.signals(), [Signal::SIGHUP]);
    /// assert!(SignalTrap::new(&[Signal::SIGTERM, Signal::SIGKILL]).is_err());
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn new(signals: &[Signal]) -> Result<Self> {
        let trapped = Arc::new(AtomicI32::new(0));
        let mut handlers = Vec::with_capacity(signals.len());
        for &signal in signals {
            let handler = SignalHandler::new(signal)?;
            let first = Arc::clone(&trapped);
            handler.add(move |info| {
                // Keep the first: it is the one that asked for the stop.
                let _ = first.compare_exchange(
                    0,
                    info.signal.as_raw(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                Propagation::Continue
            })?;
            handlers.push(handler);
        }
        let lease = WakeLease::acquire()
            .map_err(|source| Error::os(Operation::OpenWakePipe, None, source))?;
        Ok(Self {
            _handlers: handlers,
            lease,
            signals: signals.to_vec(),
            trapped,
        })
    }

    /// True once one of the signals has arrived (since creation or the last
    /// [`reset`](Self::reset)). Dispatches pending signals first; costs one
    /// atomic load when none is pending.
    ///
    /// ```
    /// use forkwise_signal::{Signal, SignalTrap};
    ///
    /// let trap = SignalTrap::new(&[Signal::SIGUSR1])?;
    /// assert!(!trap.is_trapped());
    /// Signal::SIGUSR1.raise()?;
    /// assert!(trap.is_trapped());
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn is_trapped(&self) -> bool {
        self.trapped().is_some()
    }

    /// The first signal trapped since creation or the last
    /// [`reset`](Self::reset), if any. Dispatches pending signals first.
    ///
    /// ```
    /// use forkwise_signal::{Signal, SignalTrap};
    ///
    /// let trap = SignalTrap::new(&[Signal::SIGINT, Signal::SIGTERM])?;
    /// Signal::SIGINT.raise()?;
    /// Signal::SIGTERM.raise()?;
    /// assert_eq!(trap.trapped(), Some(Signal::SIGINT), "the first one");
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn trapped(&self) -> Option<Signal> {
        if registry::has_pending() {
            dispatch::dispatch();
        }
        self.recorded()
    }

    fn recorded(&self) -> Option<Signal> {
        match self.trapped.load(Ordering::Acquire) {
            0 => None,
            number => Some(Signal::from_recorded(number)),
        }
    }

    /// Forgets the trapped signal, so that the trap waits for the next one.
    /// Signals pending before the reset are dispatched first, so they count
    /// as before it.
    ///
    /// ```
    /// use forkwise_signal::{Signal, SignalTrap};
    ///
    /// let trap = SignalTrap::new(&[Signal::SIGHUP])?;
    /// Signal::SIGHUP.raise()?;
    /// assert!(trap.is_trapped());
    /// trap.reset();
    /// assert!(!trap.is_trapped());
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn reset(&self) {
        if registry::has_pending() {
            dispatch::dispatch();
        }
        self.trapped.store(0, Ordering::Release);
    }

    /// Blocks until one of the signals is trapped or `timeout` passes
    /// (`None`: no limit); returns the trapped signal. Returns at once if one
    /// was trapped already. Listeners of other signals run meanwhile.
    ///
    /// # Errors
    ///
    /// As [`wait`](crate::wait).
    ///
    /// ```
    /// use forkwise_signal::{Signal, SignalTrap};
    /// use std::time::Duration;
    ///
    /// let trap = SignalTrap::new(&[Signal::SIGTERM])?;
    /// assert_eq!(trap.wait(Some(Duration::from_millis(10)))?, None);
    /// Signal::SIGTERM.raise()?;
    /// assert_eq!(trap.wait(None)?, Some(Signal::SIGTERM));
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn wait(&self, timeout: Option<Duration>) -> Result<Option<Signal>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if let Some(signal) = self.trapped() {
                return Ok(Some(signal));
            }
            let left = match (timeout, deadline) {
                (Some(_), Some(deadline)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    Some(left)
                }
                _ => None,
            };
            dispatch::wait(left)?;
        }
    }

    /// The signals this trap catches.
    pub fn signals(&self) -> &[Signal] {
        &self.signals
    }
}

/// The process's wake-up descriptor, as for [`SignalHandler`]: readable
/// while a signal waits for dispatch.
///
/// ```
/// use forkwise_signal::{Signal, SignalTrap};
/// use std::os::fd::AsRawFd;
///
/// let trap = SignalTrap::new(&[Signal::SIGTERM])?;
/// assert!(trap.as_raw_fd() >= 0);
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
impl AsFd for SignalTrap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.lease.fd()
    }
}

impl AsRawFd for SignalTrap {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl fmt::Debug for SignalTrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalTrap")
            .field("signals", &self.signals)
            .field("trapped", &self.recorded())
            .finish_non_exhaustive()
    }
}
