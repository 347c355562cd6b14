//! [`dispatch`] and [`wait`]: where listeners run.

use std::cell::Cell;
use std::io;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{Error, Operation, Result};
use crate::listener::{Propagation, SignalInfo};
use crate::registry::{self, WakeLease};
use crate::{Signal, stack, sys};

/// Serialises dispatches, so that listeners never run on two threads at once.
static DISPATCHING: Mutex<()> = Mutex::new(());

thread_local! {
    /// True while this thread runs listeners.
    static INSIDE_DISPATCH: Cell<bool> = const { Cell::new(false) };
}

/// What one dispatch did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Outcome {
    /// Signal arrivals taken from the records.
    pub(crate) arrivals: u64,
    /// Listeners that ran.
    pub(crate) listeners: usize,
}

/// Runs the listeners of every signal that arrived since the last dispatch,
/// and returns how many listeners ran.
///
/// For each signal, the listeners run newest first until one returns
/// [`Propagation::Stop`]; each runs once per dispatch, with the number of
/// arrivals in [`SignalInfo::count`]. Does not block (beyond waiting for a
/// dispatch running on another thread); returns 0 when nothing arrived.
///
/// Called from inside a listener, it runs nothing and returns 0: the
/// signals it would have dispatched wait for the next dispatch.
///
/// ```
/// use forkwise_signal::{Propagation, Signal, SignalHandler};
///
/// let handler = SignalHandler::new(Signal::SIGUSR1)?;
/// handler.add(|_| Propagation::Continue)?;
/// handler.add(|_| Propagation::Continue)?;
/// assert_eq!(forkwise_signal::dispatch(), 0, "nothing arrived yet");
/// Signal::SIGUSR1.raise()?;
/// assert_eq!(forkwise_signal::dispatch(), 2);
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
pub fn dispatch() -> usize {
    dispatch_all().listeners
}

/// True if some signal arrived that [`dispatch`] has not run listeners for
/// yet. One atomic load: no lock, no system call, no write.
///
/// For an event loop that wants to skip `dispatch` when it has nothing to
/// do. The wake-up descriptor's readiness is the other half of that test:
/// when it polls readable, call `dispatch` even if this is false (it may
/// hold a byte left by a signal that an earlier dispatch already took, and
/// only `dispatch` reads it out).
///
/// ```
/// use forkwise_signal::{Propagation, Signal, SignalHandler};
///
/// let handler = SignalHandler::new(Signal::SIGUSR2)?;
/// handler.add(|_| Propagation::Continue)?;
/// assert!(!forkwise_signal::is_pending());
/// Signal::SIGUSR2.raise()?;
/// assert!(forkwise_signal::is_pending());
/// assert_eq!(forkwise_signal::dispatch(), 1);
/// assert!(!forkwise_signal::is_pending());
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
pub fn is_pending() -> bool {
    registry::has_pending()
}

pub(crate) fn dispatch_all() -> Outcome {
    if INSIDE_DISPATCH.get() {
        return Outcome::default();
    }
    let _serial = DISPATCHING.lock().unwrap_or_else(PoisonError::into_inner);
    let _inside = InsideDispatch::enter();
    // Drain before taking the bits: a signal arriving after the take writes a
    // fresh byte, so it cannot be left with a quiet pipe.
    registry::drain_wake_pipe();
    let mut untaken = Untaken(registry::take_pending());
    let mut outcome = Outcome::default();
    while untaken.0 != 0 {
        let number = i32::try_from(untaken.0.trailing_zeros()).expect("under 64") + 1;
        untaken.0 &= untaken.0 - 1;
        let (count, sender) = registry::take_arrivals(number);
        if count == 0 {
            continue; // taken by an earlier dispatch that saw a later arrival's bit
        }
        outcome.arrivals += count;
        let info = SignalInfo {
            signal: Signal::from_recorded(number),
            count,
            sender,
        };
        outcome.listeners += run_stack(&info);
    }
    outcome
}

/// Runs `info.signal`'s listeners newest first, until one stops it.
fn run_stack(info: &SignalInfo) -> usize {
    let Some(stack) = stack::snapshot(info.signal.as_raw()) else {
        return 0; // arrived just before its last listener was removed
    };
    let mut ran = 0;
    for entry in stack.iter().rev() {
        let Some(propagation) = entry.call(info) else {
            continue;
        };
        ran += 1;
        if propagation == Propagation::Stop {
            break;
        }
    }
    ran
}

/// Marks this thread as dispatching until dropped.
struct InsideDispatch;

impl InsideDispatch {
    fn enter() -> Self {
        INSIDE_DISPATCH.set(true);
        Self
    }
}

impl Drop for InsideDispatch {
    fn drop(&mut self) {
        INSIDE_DISPATCH.set(false);
    }
}

/// Signals taken but not yet dispatched; put back if a listener panics.
struct Untaken(u64);

impl Drop for Untaken {
    fn drop(&mut self) {
        registry::requeue(self.0);
    }
}

/// Blocks until a signal arrives or `timeout` passes (`None`: no limit),
/// then [`dispatch`]es; returns how many listeners ran, 0 on timeout.
///
/// Signals that arrived before the call are dispatched at once. `poll(2)`,
/// which this waits in, fails with EINTR whenever any signal handler runs,
/// `SA_RESTART` or not: the wait goes on with the time that is left, so
/// signals of other handlers never end it early.
///
/// Called from inside a listener, it returns 0 at once. With a
/// [`BackgroundDispatcher`](crate::BackgroundDispatcher) running, that
/// thread runs the listeners and `wait` sees nothing arrive.
///
/// # Errors
///
/// [`Error::Os`] if the wake-up pipe cannot be opened or `poll(2)` fails
/// with anything but EINTR.
///
/// ```
/// use forkwise_signal::{Propagation, Signal, SignalHandler};
/// use std::time::{Duration, Instant};
///
/// let handler = SignalHandler::new(Signal::SIGUSR1)?;
/// handler.add(|_| Propagation::Continue)?;
///
/// let started = Instant::now();
/// assert_eq!(forkwise_signal::wait(Some(Duration::from_millis(20)))?, 0);
/// assert!(started.elapsed() >= Duration::from_millis(20));
///
/// Signal::SIGUSR1.raise()?;
/// assert_eq!(forkwise_signal::wait(None)?, 1, "returns as soon as something is dispatched");
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
#[doc(alias = "poll")]
pub fn wait(timeout: Option<Duration>) -> Result<usize> {
    if INSIDE_DISPATCH.get() {
        return Ok(0);
    }
    let lease = WakeLease::acquire().map_err(|e| Error::os(Operation::OpenWakePipe, None, e))?;
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let outcome = dispatch_all();
        if outcome.arrivals > 0 {
            return Ok(outcome.listeners);
        }
        let left = match (timeout, deadline) {
            (None, _) | (Some(_), None) => None,
            (Some(_), Some(deadline)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(0);
                }
                Some(left)
            }
        };
        match sys::poll_readable([lease.fd()], left) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(Error::os(Operation::Wait, None, err)),
        }
    }
}
