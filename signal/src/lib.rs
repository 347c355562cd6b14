//! Unix signals for multi-process programs: listener stacks that bubble,
//! traps for main loops, and typed sending; listeners run in ordinary
//! context, never inside the OS signal handler.
//!
//! - [`Signal`]: a signal of this system (`Signal::SIGTERM`, realtime
//!   signals with [`Signal::realtime`]), named and parsed as `"SIGUSR1"` or
//!   `"SIGRTMIN+3"`, sent with [`send`](Signal::send),
//!   [`send_group`](Signal::send_group) and [`raise`](Signal::raise).
//! - [`SignalHandler`]: any number of listeners for one signal. The newest
//!   runs first; any listener can return [`Propagation::Stop`] to keep the
//!   signal from the older ones.
//! - [`SignalTrap`]: `while !trap.is_trapped() { ... }` until SIGINT or SIGTERM.
//! - [`dispatch`], [`wait`], the pollable descriptor ([`AsFd`](std::os::fd::AsFd)
//!   on handlers and traps) and [`BackgroundDispatcher`]: four ways to run
//!   listeners, to suit a loop, a blocking main, an event loop or no loop.
//!
//! ```
//! use forkwise_signal::{Propagation, Signal, SignalHandler};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! let reloads = Arc::new(AtomicUsize::new(0));
//! let handler = SignalHandler::new(Signal::SIGHUP)?;
//! let counter = Arc::clone(&reloads);
//! handler.add(move |info| {
//!     // Ordinary context: locking, allocating and logging are fine here.
//!     counter.fetch_add(1, Ordering::Relaxed);
//!     println!("{} from {:?}: reloading", info.signal, info.sender);
//!     Propagation::Continue
//! })?;
//!
//! Signal::SIGHUP.raise()?; // as `kill -HUP <pid>` would
//! forkwise_signal::dispatch();
//! assert_eq!(reloads.load(Ordering::Relaxed), 1);
//! # Ok::<(), forkwise_signal::Error>(())
//! ```
//!
//! # How a signal travels
//!
//! The first listener of a signal installs one OS-level handler for it
//! (`sigaction(2)`, `SA_SIGINFO | SA_RESTART`), shared by every handler and
//! trap of the process. That handler does only async-signal-safe work: it
//! counts the arrival in a fixed table of atomics, keeps the sender's pid and
//! uid (packed in one `AtomicU64`), and writes a byte to a non-blocking,
//! close-on-exec self-pipe, saving and restoring `errno`. No allocation, no
//! lock. The listeners run later, in ordinary context, when something
//! dispatches:
//!
//! - [`dispatch`] runs what is pending and returns at once;
//! - [`wait`] blocks until something is pending (or a timeout), then dispatches;
//! - the pipe's read end, from [`AsFd`](std::os::fd::AsFd) on a
//!   [`SignalHandler`] or [`SignalTrap`], is readable while something is
//!   pending, for mio, tokio's `AsyncFd`, or a `poll(2)` loop to call
//!   [`dispatch`] on ([`is_pending`] lets such a loop skip a dispatch
//!   when nothing arrived and the descriptor did not poll readable);
//! - a [`BackgroundDispatcher`] thread dispatches as signals come. It makes
//!   the process multi-threaded, and so not safely forkable: it is opt-in.
//!
//! Dispatches are serialised (listeners never run on two threads at once),
//! and no lock is held while a listener runs: a listener may add and remove
//! listeners, itself included.
//!
//! # The listener stack
//!
//! Each signal has one stack per process, across all its handlers and traps,
//! ordered by the time each listener was added. A dispatch calls them newest
//! first, until one returns [`Propagation::Stop`] (signal-hook's issue #78
//! asks for this stack): a "modal" part of a program pushes a listener that
//! stops the signal, and pops it (drops its [`ListenerGuard`]) to let the
//! signal reach the older listeners again. Removing the last listener of a
//! signal restores the disposition it had before the first was added.
//!
//! # Counting and coalescing
//!
//! Nothing that reaches the OS handler is lost: arrivals between two
//! dispatches are counted, and the listeners run once with the total in
//! [`SignalInfo::count`]. What never reaches it is the kernel's doing:
//!
//! - a *standard* signal (SIGUSR1, SIGTERM, ...) is pending at most once in
//!   the kernel, so a second SIGUSR1 sent before the first was delivered
//!   merges with it, and the handler runs once. Use standard signals as
//!   "something happened, look", not as a counter;
//! - *realtime* signals ([`Signal::realtime`], Linux) queue: each one sent is
//!   delivered and counted, up to the sender's `RLIMIT_SIGPENDING`, past
//!   which `kill(2)` fails with EAGAIN.
//!
//! [`SignalInfo::sender`] is the last sender of the batch.
//!
//! # EINTR
//!
//! Whenever a handler runs on a thread that is blocked in a system call, the
//! call may fail with EINTR. `SA_RESTART`, which this crate sets, restarts
//! most of them (`read`, `write`, `waitpid`, `flock`, `fcntl(F_SETLKW)`), but
//! Linux never restarts some, whatever the flags (see
//! [signal(7)](https://man7.org/linux/man-pages/man7/signal.7.html)). The
//! ones forkwise calls:
//!
//! | system call | where in forkwise |
//! | --- | --- |
//! | `poll(2)` | [`wait`] and [`BackgroundDispatcher`] here; channels' timed receives |
//! | `nanosleep(2)`, `clock_nanosleep(2)` | timers; pauses between retries |
//! | `semop(2)`, `semtimedop(2)` | SysV semaphores and mutexes |
//! | `msgrcv(2)`, `msgsnd(2)` | SysV message queues |
//! | `recv(2)`/`send(2)` with `SO_RCVTIMEO`/`SO_SNDTIMEO` | channels' timeouts |
//!
//! Every forkwise call that can see EINTR retries it, recomputing what is
//! left of a timeout, so a signal never ends a wait early or fails it. In
//! this crate: [`wait`] and the background dispatcher's `poll`, and the
//! reads of the wake-up pipe. Your own blocking calls may still see EINTR
//! once a handler exists: retry them (std's `read`/`write` do not;
//! `std::thread::sleep` does).
//!
//! # Fork
//!
//! A child of `fork(2)` inherits the listeners (as it inherits all memory),
//! but gets a wake-up pipe of its own and none of the parent's pending
//! signals: a signal sent to the child never wakes the parent's dispatcher
//! or runs the parent's listeners, and the other way round.
//! [`after_fork_in_child`] does that; this crate registers it with
//! `pthread_atfork(3)` (and blocks signals around the fork, so that none
//! reaches the child before it has forgotten the parent's), and
//! forkwise-fork calls it too. The child's pipe is made when the child first
//! dispatches or waits, so a child that never does costs no system call.
//! Forking a multi-threaded process, including one running a
//! [`BackgroundDispatcher`], is unsound for anything but a prompt
//! `exec`/`_exit` in the child.
//!
//! # Handlers installed by others
//!
//! A handler that was installed before ours (by C code, signal-hook, an
//! older copy of this crate) is kept informed: our OS handler records the
//! signal, then calls it with the same arguments. When our last listener
//! goes, that handler is installed again. If someone installs a handler over
//! ours meanwhile, we leave theirs in place rather than break their chain.
//! `SIG_IGN` and `SIG_DFL` are not called, only restored: while listeners
//! exist, a signal that was ignored is caught, and one that terminated the
//! process no longer does. Ours is installed with `SA_RESTART` whatever the
//! replaced handler's flags were.
//!
//! # Refused signals
//!
//! [`SignalHandler::new`] refuses with [`Error::Refused`] `SIGKILL` and
//! `SIGSTOP`, which the kernel never lets a process catch, and the
//! synchronous fault signals `SIGSEGV`, `SIGBUS`, `SIGILL` and `SIGFPE`: the
//! faulting instruction would run again as soon as the OS handler returned,
//! long before any listener could act.
//!
//! # What it does not do
//!
//! - Run code inside the signal handler. What must happen at once, before
//!   the interrupted code resumes (a crash report), needs a raw handler.
//! - Per-thread signals: handlers are per process, and the kernel picks the
//!   thread that runs the OS handler.
//! - Carry `sigqueue(3)` values: a listener sees who sent, not what.
//!
//! # Portability
//!
//! Linux first. macOS and the BSDs compile (no realtime signals there:
//! [`Signal::realtime`] fails). Needs 64-bit atomics.
#![deny(unsafe_code)]

mod background;
mod dispatch;
mod error;
mod handler;
mod listener;
#[allow(
    unsafe_code,
    reason = "the process-global part: the OS handler and the fork hook"
)]
mod registry;
mod signal;
mod stack;
#[allow(unsafe_code, reason = "the one module that calls libc")]
mod sys;
mod trap;

pub use background::BackgroundDispatcher;
pub use dispatch::{dispatch, is_pending, wait};
pub use error::{Error, Operation, Refusal, Result};
pub use handler::{ListenerGuard, SignalHandler};
pub use listener::{ListenerId, Propagation, Sender, SignalInfo};
pub use registry::after_fork_in_child;
pub use signal::Signal;
pub use trap::SignalTrap;

#[cfg(test)]
mod tests {
    /// Handles may move to and be shared with other threads (a background
    /// dispatcher's listeners run there).
    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<crate::SignalHandler>();
        check::<crate::SignalTrap>();
        check::<crate::ListenerGuard>();
        check::<crate::BackgroundDispatcher>();
        check::<crate::Error>();
        check::<crate::SignalInfo>();
    }
}
