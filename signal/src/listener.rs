//! What a listener receives and returns.

use crate::Signal;

/// What a listener learns about the signal it runs for.
///
/// ```
/// use forkwise_signal::{Propagation, Signal, SignalHandler, SignalInfo};
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(None::<SignalInfo>));
/// let handler = SignalHandler::new(Signal::SIGUSR1)?;
/// let record = Arc::clone(&seen);
/// handler.add(move |info| {
///     *record.lock().unwrap() = Some(*info);
///     Propagation::Continue
/// })?;
/// Signal::SIGUSR1.raise()?;
/// Signal::SIGUSR1.raise()?;
/// forkwise_signal::dispatch();
///
/// let info = seen.lock().unwrap().expect("the listener ran");
/// assert_eq!(info.signal, Signal::SIGUSR1);
/// assert_eq!(info.count, 2, "two arrivals, one dispatch");
/// assert_eq!(info.sender.unwrap().pid, std::process::id() as i32);
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignalInfo {
    /// The signal.
    pub signal: Signal,
    /// How many times the OS handler ran for it since the last dispatch: at
    /// least 1. Several signals delivered before one dispatch run the
    /// listeners once, with their count. (Standard signals sent while one is
    /// already pending are merged by the kernel and never reach the handler;
    /// see the [crate docs](crate#counting-and-coalescing).)
    pub count: u64,
    /// Who sent the last of them, from the kernel's `siginfo_t`; `None` when
    /// the kernel itself sent it (a timer, a child's exit, a terminal key) or
    /// the sender lives outside this process's pid namespace.
    pub sender: Option<Sender>,
}

/// The process that sent a signal, from `si_pid` and `si_uid`.
///
/// ```
/// use forkwise_signal::{Propagation, Sender, Signal, SignalHandler};
/// use std::sync::{Arc, Mutex};
///
/// let sender = Arc::new(Mutex::new(None::<Sender>));
/// let handler = SignalHandler::new(Signal::SIGUSR2)?;
/// let record = Arc::clone(&sender);
/// handler.add(move |info| {
///     *record.lock().unwrap() = info.sender;
///     Propagation::Continue
/// })?;
/// Signal::SIGUSR2.raise()?;
/// forkwise_signal::dispatch();
/// let sender = sender.lock().unwrap().expect("raise(3) is sent by this process");
/// assert_eq!(sender.pid, std::process::id() as i32);
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Sender {
    /// Its process id.
    pub pid: i32,
    /// Its real user id.
    pub uid: u32,
}

/// What a listener tells the dispatcher: run the older listeners too, or not.
///
/// ```
/// use forkwise_signal::{Propagation, Signal, SignalHandler};
///
/// let handler = SignalHandler::new(Signal::SIGUSR1)?;
/// handler.add(|_| panic!("never runs: the newer listener stops the signal"))?;
/// handler.add(|_| Propagation::Stop)?;
/// Signal::SIGUSR1.raise()?;
/// assert_eq!(forkwise_signal::dispatch(), 1);
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Propagation {
    /// Let the signal bubble on to the next older listener.
    Continue,
    /// The signal is handled: older listeners do not see it.
    Stop,
}

/// Names one listener, to [`remove`](crate::SignalHandler::remove) it.
///
/// ```
/// use forkwise_signal::{Propagation, Signal, SignalHandler};
///
/// let handler = SignalHandler::new(Signal::SIGUSR1)?;
/// let id = handler.add(|_| Propagation::Continue)?;
/// assert_eq!(id.signal(), Signal::SIGUSR1);
/// assert!(handler.remove(id));
/// assert!(!handler.remove(id), "already gone");
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId {
    pub(crate) signal: Signal,
    pub(crate) id: u64,
}

impl ListenerId {
    /// The signal the listener runs for.
    pub fn signal(self) -> Signal {
        self.signal
    }
}
