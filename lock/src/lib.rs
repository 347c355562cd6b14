//! File locks that shell scripts and other programs understand.
//!
//! forkwise-lock gives a multi-process program three locks built on the
//! kernel's own, so that they work between unrelated processes, between
//! languages, and with the `flock(1)` command that shell scripts use:
//!
//! - [`FileLock`]: a whole-file `flock(2)` lock, exclusive or shared;
//! - [`RangeLock`] (Linux): a lock on a byte range of a file, built on
//!   open-file-description `fcntl(2)` locks;
//! - [`Pidfile`]: "only one instance runs", with the pid written for
//!   others to read and stale pidfiles taken over.
//!
//! Each acquire comes in three forms: block (`acquire`), try once
//! (`try_acquire`, `Ok(None)` when held elsewhere) and wait at most a
//! duration (`acquire_timeout`); each has a shared twin. All return a
//! [`LockGuard`] that releases the lock on drop.
//!
//! ```
//! use forkwise_lock::FileLock;
//! use std::time::Duration;
//!
//! let path = std::env::temp_dir().join(format!("fw-doc-crate-{}.lock", std::process::id()));
//! let mut lock = FileLock::new(&path)?;
//! let guard = lock.acquire()?;
//! // ... only one process at a time runs here ...
//! guard.release()?;
//!
//! let mut reader = FileLock::new(&path)?;
//! let shared = reader.acquire_shared_timeout(Duration::from_millis(100))?;
//! assert!(shared.is_some());
//! # drop(shared);
//! # std::fs::remove_file(&path)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Behaviour worth knowing
//!
//! - A lock belongs to an open file description: every `FileLock` and
//!   `RangeLock` opens its own, so two of them exclude each other even in one
//!   process. A process that dies, even by `SIGKILL`, releases its locks at once.
//! - A child forked while a lock is held shares it. Dropping the guard in the
//!   child does not release the parent's lock.
//! - Blocking acquires retry after signal handlers interrupt them (EINTR);
//!   a timed acquire polls, with pauses growing to 1 ms.
//! - Every file is opened with `O_CLOEXEC`, so no lock leaks into a program
//!   started with `exec`.
//! - Errors name the path and the operation, and keep the OS error as their
//!   [source](std::error::Error::source); they convert into [`std::io::Error`].
//!
//! # What it does not do
//!
//! `flock(2)` locks are advisory: a program that does not ask is not stopped.
//! On NFS, `flock(2)` is emulated with `fcntl(2)` byte-range locks by Linux,
//! so the two kinds conflict there. [`RangeLock`] exists only on Linux.
#![deny(unsafe_code)]

mod acquire;
mod error;
mod file_lock;
mod pidfile;
#[cfg(target_os = "linux")]
mod range_lock;
#[allow(unsafe_code, reason = "the one module that calls libc")]
mod sys;

pub use acquire::{LockGuard, Lockable, Mode};
pub use error::{Error, Operation, Result};
pub use file_lock::{FileLock, FileLockGuard};
pub use pidfile::Pidfile;
#[cfg(target_os = "linux")]
pub use range_lock::{RangeLock, RangeLockGuard};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
