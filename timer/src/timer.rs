//! [`Timer`]: start, stop, and what a running timer reports.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::registry;
use crate::schedule::{Schedule, Tick};
use crate::sys::KernelTimer;

/// A periodic (or one-shot) timer whose callback runs in the signal
/// dispatch loop.
///
/// The callback runs when forkwise-signal dispatches: from
/// [`forkwise_signal::dispatch`], [`forkwise_signal::wait`], an event loop
/// polling the wake-up descriptor, or a
/// [`BackgroundDispatcher`](forkwise_signal::BackgroundDispatcher). Nothing
/// dispatches by itself: like the original library, a timer needs the
/// process to process signals. Never inside the OS signal handler.
///
/// Stop it with [`stop`](Self::stop) or by dropping it.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use forkwise_timer::Timer;
///
/// let ticks = Arc::new(AtomicU64::new(0));
/// let seen = Arc::clone(&ticks);
/// let timer = Timer::every(Duration::from_millis(5), move |tick| {
///     seen.fetch_add(1 + tick.missed, Ordering::Relaxed);
/// })?;
/// while ticks.load(Ordering::Relaxed) < 3 {
///     forkwise_signal::wait(Some(Duration::from_secs(1)))?;
/// }
/// timer.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "timer_create")]
pub struct Timer {
    schedule: Arc<Schedule>,
    kernel: Mutex<Option<KernelTimer>>,
}

impl Timer {
    /// The interval of [`Timer::new`]: one second, as in the original library.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

    /// The shortest interval or delay a timer accepts.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

    /// A timer that runs `callback` every second.
    ///
    /// # Errors
    ///
    /// As [`every`](Self::every).
    ///
    /// # Examples
    ///
    /// ```
    /// let timer = forkwise_timer::Timer::new(|tick| println!("second {}", tick.number))?;
    /// assert_eq!(timer.interval(), std::time::Duration::from_secs(1));
    /// # Ok::<(), forkwise_timer::Error>(())
    /// ```
    pub fn new(callback: impl FnMut(Tick) + Send + 'static) -> Result<Self> {
        Self::every(Self::DEFAULT_INTERVAL, callback)
    }

    /// A timer that runs `callback` every `interval`, first one `interval`
    /// from now; tick `n` is due at start + `n` x `interval`.
    ///
    /// # Errors
    ///
    /// [`Error::IntervalTooShort`] below [`MIN_INTERVAL`](Self::MIN_INTERVAL);
    /// [`Error::Os`] if the kernel timer cannot be created (the per-user
    /// limit of pending signals bounds the number of timers);
    /// [`Error::Signal`] if the timer signal cannot be handled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let err = forkwise_timer::Timer::every(Duration::from_micros(10), |_| {}).unwrap_err();
    /// assert!(matches!(err, forkwise_timer::Error::IntervalTooShort { .. }));
    /// ```
    pub fn every(interval: Duration, callback: impl FnMut(Tick) + Send + 'static) -> Result<Self> {
        Self::start(interval, true, Box::new(callback))
    }

    /// A timer that runs `callback` once, `delay` from now.
    ///
    /// # Errors
    ///
    /// As [`every`](Self::every).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let rang = Arc::new(AtomicBool::new(false));
    /// let bell = Arc::clone(&rang);
    /// let timer = forkwise_timer::Timer::once(Duration::from_millis(5), move |tick| {
    ///     assert_eq!(tick.number, 1);
    ///     bell.store(true, Ordering::Relaxed);
    /// })?;
    /// while !rang.load(Ordering::Relaxed) {
    ///     forkwise_signal::wait(Some(Duration::from_secs(1)))?;
    /// }
    /// assert!(!timer.is_active());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn once(delay: Duration, callback: impl FnMut(Tick) + Send + 'static) -> Result<Self> {
        Self::start(delay, false, Box::new(callback))
    }

    fn start(
        interval: Duration,
        repeat: bool,
        callback: crate::schedule::Callback,
    ) -> Result<Self> {
        if interval < Self::MIN_INTERVAL {
            return Err(Error::IntervalTooShort { interval });
        }
        let signal = registry::timer_signal()?;
        let kernel = KernelTimer::create(signal.as_raw()).map_err(|source| Error::Os {
            call: "timer_create",
            source,
        })?;
        let schedule = Arc::new(Schedule::new(interval, repeat, callback));
        // Listen before arming, so the first expiry is never missed.
        registry::register(Arc::clone(&schedule))?;
        let period = if repeat { schedule.interval_ns() } else { 0 };
        let timer = Self {
            kernel: Mutex::new(Some(kernel)),
            schedule,
        };
        if let Err(source) = timer
            .kernel()
            .as_ref()
            .map_or(Ok(()), |k| k.arm(timer.schedule.first_ns(), period))
        {
            return Err(Error::Os {
                call: "timer_settime",
                source,
            });
        }
        Ok(timer)
    }

    fn kernel(&self) -> std::sync::MutexGuard<'_, Option<KernelTimer>> {
        self.kernel.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the timer: no callback starts after this returns (one running
    /// now, on another thread, finishes). Stopping twice does nothing; a
    /// callback may stop its own timer.
    ///
    /// In a forked child, stopping a copy of the parent's timer touches
    /// nothing of the parent's: kernel timers are not inherited by `fork`.
    ///
    /// # Examples
    ///
    /// ```
    /// let timer = forkwise_timer::Timer::new(|_| {})?;
    /// timer.stop();
    /// assert!(!timer.is_active());
    /// # Ok::<(), forkwise_timer::Error>(())
    /// ```
    pub fn stop(&self) {
        if !self.schedule.stop() {
            return;
        }
        let kernel = self.kernel().take();
        if self.schedule.is_own() {
            drop(kernel); // deletes the kernel timer
        } else {
            // A forked child's copy: the id is the parent's, and may name
            // one of the child's own timers here.
            std::mem::forget(kernel);
        }
        // After the deletion, so that no new signal follows the listener's removal.
        registry::unregister(&self.schedule);
    }

    /// The interval between ticks (the delay, for a one-shot timer).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let timer = forkwise_timer::Timer::every(Duration::from_millis(250), |_| {})?;
    /// assert_eq!(timer.interval(), Duration::from_millis(250));
    /// # Ok::<(), forkwise_timer::Error>(())
    /// ```
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.schedule.interval_ns())
    }

    /// The number of the last tick delivered to the callback (0 before the first).
    ///
    /// # Examples
    ///
    /// ```
    /// let timer = forkwise_timer::Timer::new(|_| {})?;
    /// assert_eq!(timer.ticks(), 0);
    /// # Ok::<(), forkwise_timer::Error>(())
    /// ```
    pub fn ticks(&self) -> u64 {
        self.schedule.fired()
    }

    /// True until the timer is stopped, or a one-shot timer has fired.
    ///
    /// # Examples
    ///
    /// ```
    /// let timer = forkwise_timer::Timer::new(|_| {})?;
    /// assert!(timer.is_active());
    /// # Ok::<(), forkwise_timer::Error>(())
    /// ```
    pub fn is_active(&self) -> bool {
        !self.schedule.is_stopped() && (self.schedule.is_repeating() || self.schedule.fired() == 0)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.stop();
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("interval", &self.interval())
            .field("repeat", &self.schedule.is_repeating())
            .field("ticks", &self.ticks())
            .field("active", &self.is_active())
            .finish_non_exhaustive()
    }
}
