//! forkwise: multi-process programming on Unix, safe, fast and leak-free.
//!
//! This crate is an index: each primitive lives in a small crate of its own
//! that can be used alone, and is re-exported here as a module, behind a
//! cargo feature of the same name (all on by default).
//!
//! # Processes
//!
//! - [`fork`]: a fork/wait process manager: workers running closures, exit
//!   codes, supervision with restart policies, captured output, typed results,
//!   graceful shutdown, process titles, daemons
//!   ([`forkwise-fork`](https://docs.rs/forkwise-fork)).
//!
//! # Coordination between processes
//!
//! - [`lock`]: file locks shared with `flock(1)`, byte-range locks and pidfiles
//!   ([`forkwise-lock`](https://docs.rs/forkwise-lock)).
//!
//! # Signals and the main loop
//!
//! - [`signal`]: signal handlers whose listeners stack and bubble (newest
//!   first; `Propagation::Stop` ends it), traps for `while !trap.is_trapped()`
//!   loops, typed sending; listeners run outside the OS handler
//!   ([`forkwise-signal`](https://docs.rs/forkwise-signal)).
//! - [`timer`]: drift-free periodic timers whose callbacks run in the signal
//!   dispatch loop, reporting missed ticks
//!   ([`forkwise-timer`](https://docs.rs/forkwise-timer)).
//!
//! # Talking between processes
//!
//! - [`channel`]: typed messages over socket pairs, a fair many-client
//!   master, file-descriptor passing and sender credentials
//!   ([`forkwise-channel`](https://docs.rs/forkwise-channel)).
//! - [`sysv`]: SysV semaphores, mutexes, message queues and shared memory
//!   segments, shared by key with C and Python programs
//!   ([`forkwise-sysv`](https://docs.rs/forkwise-sysv)).
//!
//! # Sharing memory between processes
//!
//! - [`shm`]: a key/value store with versions, transactions, lock-free
//!   reads and recovery from a writer killed mid-write, and shared arrays
//!   of plain data, in `/dev/shm` or inherited across `fork`
//!   ([`forkwise-shm`](https://docs.rs/forkwise-shm)).
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "lock")] {
//! let path = std::env::temp_dir().join(format!("fw-doc-umbrella-{}.lock", std::process::id()));
//! let mut lock = forkwise::lock::FileLock::new(&path)?;
//! let _guard = lock.acquire()?;
//! # std::fs::remove_file(&path)?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "lock")]
#[doc(inline)]
pub use forkwise_lock as lock;

#[cfg(feature = "signal")]
#[doc(inline)]
pub use forkwise_signal as signal;

#[cfg(feature = "timer")]
#[doc(inline)]
pub use forkwise_timer as timer;

#[cfg(feature = "fork")]
#[doc(inline)]
pub use forkwise_fork as fork;

#[cfg(feature = "channel")]
#[doc(inline)]
pub use forkwise_channel as channel;

#[cfg(feature = "sysv")]
#[doc(inline)]
pub use forkwise_sysv as sysv;

#[cfg(feature = "shm")]
#[doc(inline)]
pub use forkwise_shm as shm;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
