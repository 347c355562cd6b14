//! The process-wide list of running timers, and the one signal listener
//! that fires whichever are due.
//!
//! All timers share one realtime signal ([`timer_signal`]). Its listener is
//! installed with the first timer and removed with the last, which restores
//! the signal's previous disposition. A deleted POSIX timer's signal may
//! still be queued, and a realtime signal's default action ends the process,
//! so the last timer's removal first takes any queued timer signal off the
//! pending set, with the signal blocked, and only then removes the listener.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use forkwise_signal::{Propagation, Signal, SignalHandler, SignalInfo};

use crate::error::Result;
use crate::schedule::Schedule;
use crate::sys;

struct Registry {
    handler: Option<SignalHandler>,
    timers: Vec<Arc<Schedule>>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    handler: None,
    timers: Vec::new(),
});

fn lock() -> MutexGuard<'static, Registry> {
    // Every update below is a single push or retain: nothing to repair after a panic.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The signal every timer delivers: `SIGRTMAX`, the realtime signal other
/// libraries are least likely to use (glibc keeps the lowest for itself).
///
/// # Errors
///
/// [`Error::Signal`](crate::Error::Signal) on a system without realtime signals.
pub fn timer_signal() -> Result<Signal> {
    Ok("SIGRTMAX".parse::<Signal>()?)
}

/// Adds `schedule` to the timers that fire, installing the listener first
/// if this is the process's first timer.
pub(crate) fn register(schedule: Arc<Schedule>) -> Result<()> {
    let mut registry = lock();
    if registry.handler.is_none() {
        let handler = SignalHandler::new(timer_signal()?)?;
        handler.add(fire_due)?;
        registry.handler = Some(handler);
    }
    registry.timers.push(schedule);
    Ok(())
}

/// Removes `schedule`, whose kernel timer is deleted already; it fires no
/// more. The last timer's removal also removes the listener.
pub(crate) fn unregister(schedule: &Arc<Schedule>) {
    let retired = {
        let mut registry = lock();
        registry
            .timers
            .retain(|other| !Arc::ptr_eq(other, schedule));
        if registry.timers.is_empty() {
            registry.handler.take()
        } else {
            None
        }
    };
    // Dropped outside the lock: removing a listener may wait for a dispatch
    // whose callbacks take the lock.
    if let Some(handler) = retired {
        let signal = handler.signal().as_raw();
        sys::with_signal_blocked(signal, || {
            sys::discard_pending(signal);
            drop(handler);
        });
    }
}

/// The listener: runs every timer that has a tick due. It reads the clock
/// rather than counting signals, so coalesced or stale signals change nothing.
fn fire_due(_: &SignalInfo) -> Propagation {
    // Callbacks run without the registry lock, so they may start or stop timers.
    let timers = lock().timers.clone();
    let now = sys::monotonic_ns();
    for schedule in timers {
        schedule.fire_if_due(now);
    }
    Propagation::Continue
}
