//! When a timer's ticks are due, and which were missed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::sys;

/// One firing of a timer, as its callback receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tick {
    /// Which tick this is: tick `n` is due at start + `n` x interval (the
    /// first is 1).
    pub number: u64,
    /// Ticks that came due since the previous callback but got none,
    /// because nothing dispatched signals in time: `number` minus the
    /// previous callback's `number`, minus one.
    pub missed: u64,
    /// When this tick was due, on the monotonic clock.
    pub due: Instant,
}

/// The callback a timer runs.
pub(crate) type Callback = Box<dyn FnMut(Tick) + Send>;

/// A timer's schedule, shared by the [`Timer`](crate::Timer) and the registry.
pub(crate) struct Schedule {
    /// The monotonic time of tick 0, in nanoseconds, and the same as an `Instant`.
    start_ns: u64,
    start: Instant,
    interval_ns: u64,
    repeat: bool,
    /// The process that started the timer; a forked child's copy never fires.
    pid: u32,
    /// The number of the last tick delivered; 0 before the first.
    fired: AtomicU64,
    stopped: AtomicBool,
    callback: Mutex<Callback>,
}

impl Schedule {
    pub(crate) fn new(interval: Duration, repeat: bool, callback: Callback) -> Self {
        Self {
            start_ns: sys::monotonic_ns(),
            start: Instant::now(),
            interval_ns: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
            repeat,
            pid: sys::pid(),
            fired: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            callback: Mutex::new(callback),
        }
    }

    /// The monotonic time of the first tick, in nanoseconds.
    pub(crate) fn first_ns(&self) -> u64 {
        self.start_ns.saturating_add(self.interval_ns)
    }

    /// The interval between ticks (the delay of a one-shot timer), in nanoseconds.
    pub(crate) fn interval_ns(&self) -> u64 {
        self.interval_ns
    }

    pub(crate) fn is_repeating(&self) -> bool {
        self.repeat
    }

    /// True in the process that started the timer, false in a forked child.
    pub(crate) fn is_own(&self) -> bool {
        self.pid == sys::pid()
    }

    pub(crate) fn fired(&self) -> u64 {
        self.fired.load(Ordering::Acquire)
    }

    /// Marks the schedule stopped; true the first time.
    pub(crate) fn stop(&self) -> bool {
        !self.stopped.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Runs the callback once if a tick newer than the last delivered one is
    /// due at `now_ns`, reporting the ticks skipped in between.
    pub(crate) fn fire_if_due(&self, now_ns: u64) {
        if self.is_stopped() || !self.is_own() || now_ns < self.first_ns() {
            return;
        }
        let due_ticks = if self.repeat {
            (now_ns - self.start_ns) / self.interval_ns
        } else {
            1
        };
        let fired = self.fired();
        if due_ticks <= fired {
            return;
        }
        self.fired.store(due_ticks, Ordering::Release);
        let tick = Tick {
            number: due_ticks,
            missed: due_ticks - fired - 1,
            due: self.start + Duration::from_nanos(due_ticks.saturating_mul(self.interval_ns)),
        };
        // A callback that panicked once leaves a usable closure behind.
        let mut callback = self.callback.lock().unwrap_or_else(PoisonError::into_inner);
        callback(tick);
    }
}
