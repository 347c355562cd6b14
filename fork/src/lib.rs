//! A fork/wait process manager for Unix: a master forks workers that run
//! closures, watches them, restarts the ones that fail, streams their
//! output, and shuts them all down cleanly.
//!
//! - [`ForkManager`]: [`fork`](ForkManager::fork) a group of workers,
//!   [`wait`](ForkManager::wait) for one, a group or all,
//!   [`try_wait`](ForkManager::try_wait) without blocking,
//!   [`kill`](ForkManager::kill), and callbacks when workers end
//!   ([`on_success`](ForkManager::on_success), [`on_error`](ForkManager::on_error),
//!   [`on_exit`](ForkManager::on_exit)).
//! - Supervision: [`spawn`](ForkManager::spawn) keeps a worker alive
//!   under a [`RestartPolicy`] (on failure or always, at most N restarts in
//!   a window, with backoff), as an OTP supervisor does.
//! - Results: [`fork_with_result`](ForkManager::fork_with_result) brings a
//!   serde value back from a worker (the `results` feature, on by default).
//! - Output: a worker's stdout and stderr captured line by line
//!   ([`ForkManagerBuilder::output_lines`], or the `log` facade).
//! - Shutdown: on SIGTERM or SIGINT, [`on_shutdown`](ForkManager::on_shutdown),
//!   SIGTERM to every worker, a grace period, then SIGKILL.
//! - Processes: [`set_process_title`], [`daemonize`], [`detach`].
//!
//! ```
//! use forkwise_fork::{ForkManager, WorkerState};
//!
//! let mut manager = ForkManager::new()?;
//! let squares = manager.fork(|worker| worker.index() * worker.index(), 4)?;
//! let states = manager.wait(&squares)?;
//! assert_eq!(states, [0, 1, 4, 9].map(WorkerState::Exited));
//! # Ok::<(), forkwise_fork::Error>(())
//! ```
//!
//! # A worker's life
//!
//! [`fork`](ForkManager::fork) calls `fork(2)` once per worker. In the
//! child, the closure runs with a [`Worker`] (its index in the group, its
//! pid, the master's pid) and what it returns becomes the exit code
//! ([`IntoExitCode`]): `()` is 0, an integer is clamped to 0..=255, `Err`
//! is 1 with the error on stderr, and a panic is 101. The child then
//! flushes stdout and leaves with `_exit(2)`: it never returns into the
//! caller's code and never runs the master's destructors or `atexit`
//! handlers. The closure is called by reference, so it may borrow from the
//! caller, and what it captured is not dropped in the child either.
//!
//! The child starts with what the master had (memory, descriptors, signal
//! listeners), except what belongs to the manager: its listeners for the
//! shutdown signals (and SIGCHLD, where it listens to it) are removed, so
//! SIGTERM ends a worker by default, and forkwise-signal's fork hook gives
//! the worker a wake-up pipe of its own and none of the master's pending
//! signals. Listeners the master added itself are inherited: a
//! [`SignalTrap`](forkwise_signal::SignalTrap) created before forking works
//! in every worker (the pre-fork server example relies on that).
//!
//! # Waiting
//!
//! The master learns that a worker ended through the worker's pidfd
//! (`pidfd_open(2)`, Linux 5.3 and later), which becomes readable at the
//! end (one descriptor in the master per running worker, closed when it
//! is reaped): [`wait`](ForkManager::wait) sleeps in `poll(2)` on the
//! pidfds, the output pipes and forkwise-signal's wake-up descriptor, and
//! reaps with `waitpid(pid, WNOHANG)` for its own workers only, never
//! `waitpid(-1)`, so other children of the process (a
//! `std::process::Child`) keep their statuses, and SIGCHLD keeps the
//! disposition the program gave it. Where no pidfd can be opened (an older
//! kernel, no descriptor left), the manager listens to SIGCHLD from then
//! on. Every running worker is also checked at the start of each wait and
//! every 100 ms, so an end that neither reported delays the reaping, never
//! loses it. EINTR is retried; ECHILD (someone else reaped the worker)
//! makes it [`Lost`](WorkerState::Lost) instead of an error or a hang.
//!
//! While it waits, the master also delivers captured output, runs the
//! callbacks, restarts supervised workers, carries out a shutdown, and
//! dispatches signals: every forkwise-signal listener of the process runs
//! there. A master busy elsewhere should call
//! [`try_wait`](ForkManager::try_wait) now and then.
//!
//! No worker is ever left unreaped: dropping the manager ends the workers
//! still running as its [`DropPolicy`] says (by default SIGTERM, the grace
//! period, SIGKILL) and reaps them; if the k-th fork of a group fails, the
//! workers already started are terminated and reaped before the error
//! returns.
//!
//! # Fork-safety
//!
//! A forked child has only the thread that called `fork`. Any lock another
//! thread held at that instant (inside the allocator, stdio, a `Mutex`, the
//! dynamic loader) stays locked forever in the child, which then deadlocks
//! on it. So the manager refuses to fork a process that has more than one
//! thread ([`Error::Threaded`], counted in `/proc/self/task`), unless the
//! caller takes the responsibility through the `unsafe`
//! [`ForkManagerBuilder::allow_threads`]. Fork first, start threads in the
//! workers. (A `#[test]` runs on a thread of libtest's: tests that fork
//! need a `harness = false` binary; forkwise's use forkwise-testkit.)
//!
//! # Supervision
//!
//! ```
//! use forkwise_fork::{ForkManager, RestartPolicy};
//! use std::time::Duration;
//!
//! let mut manager = ForkManager::new()?;
//! let policy = RestartPolicy::on_failure()
//!     .max_restarts(3, Duration::from_secs(10))
//!     .backoff(Duration::from_millis(1), Duration::from_millis(100));
//! // The first two processes fail; the third succeeds and is not restarted.
//! let id = manager.spawn(|worker| if worker.restarts() < 2 { 1 } else { 0 }, policy)?;
//! manager.wait(id)?;
//! assert_eq!(manager.restarts(id), Some(2));
//! # Ok::<(), forkwise_fork::Error>(())
//! ```
//!
//! A restarted worker is a new process (a new pid) in the same slot: the
//! same [`WorkerId`] and index, [`Worker::restarts`] counted up. A clean
//! exit ends a [`Restart::OnFailure`] worker; nothing is restarted while
//! the manager shuts down or after [`stop`](ForkManager::stop).
//!
//! # Shutdown
//!
//! While a manager exists, SIGTERM and SIGINT ([configurable](ForkManagerBuilder::shutdown_signals))
//! no longer end the master: the next time it waits, it runs the
//! [`on_shutdown`](ForkManager::on_shutdown) callbacks, sends SIGTERM to
//! every worker, waits up to the [grace period](ForkManagerBuilder::grace_period),
//! sends SIGKILL to those left, and reaps them all. A second signal during
//! the grace period sends SIGKILL at once. [`shutdown`](ForkManager::shutdown)
//! does the same on request.
//!
//! # Daemons and titles
//!
//! [`daemonize`] turns the process into a daemon (double fork, `setsid`,
//! `chdir`, `umask`, stdio on `/dev/null`, a pidfile through
//! forkwise-lock's `Pidfile`); [`detach`] starts a program in the
//! background in its own session (`nohup setsid cmd &`). Neither leaves a
//! zombie. [`set_process_title`] sets what `ps` and `/proc` show.
//! [`ForkManagerBuilder::subreaper`] and [`ForkManager::adopt`] let a
//! master reap the daemons its workers start.
//!
//! # Testing
//!
//! The `fault-injection` feature (off by default, for tests only) adds a
//! hidden `fault` module whose `fail_fork_after(n)` makes the fork after
//! the next `n` fail with EAGAIN, as a fork over `RLIMIT_NPROC` would: root
//! ignores that limit, so this is how the "k-th fork of a group failed"
//! path is tested.
//!
//! # What it does not do
//!
//! - Windows, or any platform without `fork`: the crate is Unix-only, and
//!   [`ForkManager::new`] fails with [`Error::Unsupported`] where the OS
//!   forbids forking (iOS and its kin).
//! - `posix_spawn`/`exec` of programs as workers: use `std::process` (or
//!   [`detach`]); workers here run closures of this program.
//! - Async: the manager blocks in `wait`; an event loop can call
//!   [`try_wait`](ForkManager::try_wait) when the signal descriptor is readable.
//! - Threads in the master: see fork-safety above.
//!
//! # Portability
//!
//! Linux first. The thread count, titles, the subreaper and `PR_SET_MM`
//! need Linux; elsewhere forks are not refused for threads (the count
//! cannot be read) and those functions return [`Error::Unsupported`].
#![deny(unsafe_code)]

mod builder;
mod child;
mod daemon;
mod error;
mod exit_code;
#[cfg(feature = "fault-injection")]
#[doc(hidden)]
pub mod fault;
mod logger;
mod manager;
mod output;
mod pump;
#[cfg(feature = "results")]
mod result;
mod signals;
mod supervise;
#[allow(unsafe_code, reason = "the one module that calls libc")]
mod sys;
mod title;
mod worker;

pub use builder::{DropPolicy, ForkManagerBuilder};
pub use daemon::{Daemon, Daemonized, daemonize, detach};
pub use error::{Error, Operation, Result};
pub use exit_code::IntoExitCode;
#[doc(hidden)]
pub use exit_code::Returns;
pub use forkwise_signal::Signal;
pub use manager::ForkManager;
pub use output::{MAX_LINE, OutputLine, Stream};
#[cfg(feature = "results")]
pub use result::ResultHandle;
pub use supervise::{Restart, RestartPolicy};
pub use title::{COMM_LEN, ProcessTitle, set_process_title};
pub use worker::{Next, Target, Worker, WorkerEnd, WorkerGroup, WorkerId, WorkerState};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
