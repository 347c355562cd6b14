//! Drift-free periodic timers, driven by the forkwise-signal dispatch loop.
//!
//! A [`Timer`] runs its callback every interval (one second by default, as
//! in the original library; down to [`Timer::MIN_INTERVAL`]), or once after a
//! delay. Callbacks run where forkwise-signal runs listeners, in ordinary
//! context: whenever the process calls [`forkwise_signal::dispatch`] or
//! [`forkwise_signal::wait`], polls the wake-up descriptor in its event
//! loop, or runs a [`BackgroundDispatcher`](forkwise_signal::BackgroundDispatcher).
//!
//! ```
//! use std::time::Duration;
//! use forkwise_timer::Timer;
//!
//! let fast = Timer::every(Duration::from_millis(10), |tick| {
//!     if tick.missed > 0 {
//!         eprintln!("busy: {} ticks missed before tick {}", tick.missed, tick.number);
//!     }
//! })?;
//! let slow = Timer::every(Duration::from_millis(25), |_| {})?;
//! while slow.ticks() < 2 {
//!     forkwise_signal::wait(Some(Duration::from_secs(1)))?; // the main loop
//! }
//! assert!(fast.ticks() >= 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Drift-free, and nothing silently lost
//!
//! Tick `n` is due at start + `n` x interval on the monotonic clock: the
//! kernel timer is armed with absolute times, and the tick number is read off
//! the clock, so late callbacks never push later ticks back. When the
//! process was busy and several ticks came due before it dispatched, the
//! callback runs once, and its [`Tick`] says how many were `missed`.
//!
//! # Why POSIX timers, not timerfd
//!
//! Each `Timer` is a POSIX timer (`timer_create` on `CLOCK_MONOTONIC`) whose
//! expiry is a signal: so every way of driving forkwise-signal drives timers
//! too, with no extra descriptor for each event loop to watch, which is
//! exactly the original library's model (timers need signals processed). A
//! timerfd would need its own descriptor in every loop.
//!
//! # What to know
//!
//! - All timers share one signal, [`timer_signal`] (`SIGRTMAX`). Its
//!   listener is installed with the first timer and kept for the life of the
//!   process, since a deleted timer's signal may still be queued and a
//!   realtime signal's default action ends the process. Leave that signal to
//!   forkwise-timer.
//! - Kernel timers are not inherited by `fork`: a forked child's copy of a
//!   timer never fires, and stopping it touches nothing of the parent's.
//! - The number of timers is bounded by the per-user limit of pending
//!   signals (`RLIMIT_SIGPENDING`); creation past it is an [`Error::Os`].
//! - Linux only for now (POSIX timers are missing on macOS).
#![deny(unsafe_code)]

mod error;
mod registry;
mod schedule;
#[allow(unsafe_code, reason = "the one module that calls libc")]
mod sys;
mod timer;

pub use error::{Error, Result};
pub use registry::timer_signal;
pub use schedule::Tick;
pub use timer::Timer;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
