//! Shared memory between processes that stays correct when a process dies
//! in the middle of writing it.
//!
//! forkwise-shm gives a multi-process program three things, each in memory
//! that processes find by name (a file under `/dev/shm`) or that children
//! forked afterwards inherit:
//!
//! - [`SharedData`]: a key/value store. Keys are strings or integers,
//!   values any `serde` type (encoded with postcard, as forkwise's channels
//!   and queues do). Reads take no lock; writes are journaled, so a writer
//!   killed half-way is rolled back by the next process, and no one ever
//!   reads half a value. Versions make read-modify-write safe
//!   ([`compare_and_set`](SharedData::compare_and_set),
//!   [`update`](SharedData::update)), and a
//!   [`transaction`](SharedData::transaction) changes several keys as one.
//! - [`SharedArray<T>`]: a fixed-length array of plain data (`T:
//!   bytemuck::Pod`), each element read and written whole, never torn, with
//!   atomic `fetch_add` and `compare_exchange` for integers.
//! - [`Region`]: the raw material: named or anonymous shared memory with a
//!   header, read and written through copies and atomics.
//!
//! ```
//! use forkwise_shm::{Capacity, SharedArray, SharedData};
//!
//! // A store of up to 1000 keys, values of up to 64 encoded bytes.
//! let name = format!("fw-doc-tour-{}", std::process::id());
//! let jobs = SharedData::create(&name, Capacity::new(1000, 64))?;
//! jobs.set("queued", &17u32)?;
//! jobs.set("owner", &"worker-3")?;
//!
//! // Any process: open it by name, read without a lock, update safely.
//! let seen = SharedData::open(&name)?;
//! assert_eq!(seen.get::<u32>("queued")?, Some(17));
//! let left = seen.update("queued", |n: Option<u32>| n.unwrap_or(0) - 1)?;
//! assert_eq!(left, 16);
//!
//! // Several keys at once, or not at all.
//! seen.transaction(|tx| {
//!     tx.set("owner", &"worker-5")?;
//!     tx.remove("queued")?;
//!     Ok::<_, forkwise_shm::Error>(())
//! })?;
//! assert_eq!(jobs.keys()?.len(), 1);
//!
//! // Per-worker counters, shared with children forked from here.
//! let progress = SharedArray::<u64>::anonymous(4)?;
//! progress.fetch_add(2, 10)?;
//! assert_eq!(progress.get(2)?, 10);
//! # Ok::<(), forkwise_shm::Error>(())
//! ```
//!
//! # Coming from PHP or Python
//!
//! The PHP libraries this project grew from keep a serialised array in a
//! SysV segment and guard it with a semaphore: every access takes the
//! semaphore (1.3 µs for `semop` alone) and (un)serialises the whole array.
//! Python's `multiprocessing.Manager().dict()` sends every access to a
//! manager process. A [`SharedData`] read is a lock-free copy of one entry
//! and a write locks a futex-backed mutex and touches one entry: about 90
//! and 170 nanoseconds, twenty times less than the semaphore-guarded array
//! (see `BENCHMARKS.md`). `$sm['key'] = $v` is
//! [`set`](SharedData::set), `$sm['key']` is [`get`](SharedData::get),
//! `isset`/`unset`/`count` are [`contains`](SharedData::contains),
//! [`remove`](SharedData::remove) and [`len`](SharedData::len), and a
//! lock/release pair is a [`transaction`](SharedData::transaction), which
//! cannot forget the release.
//!
//! # Crash safety
//!
//! A process can die anywhere, `SIGKILL` included. forkwise-shm promises:
//!
//! - **No reader sees a torn value**, in a `SharedData` or a `SharedArray`.
//! - **A write is all or nothing.** A `SharedData` write (one `set`, or a
//!   whole transaction) is committed at one instant; a writer that dies
//!   before it is rolled back by the next process that takes the lock
//!   (the lock is a robust pthread mutex, so the kernel tells that process
//!   its owner died), one that dies after it has written. Readers that find
//!   the store mid-write fall back to the lock, and so recover it too.
//!   [`SharedData::recoveries`] counts the repairs.
//! - **No surprise `SIGBUS`.** Memory is reserved with `posix_fallocate`
//!   when a region is created: a full `/dev/shm` is an error then, never a
//!   crash on first touch later.
//! - **Nothing left behind.** A region's name is removed when its creator
//!   drops it (unless told to [`keep`](Region::keep) it); a forked child
//!   never removes its parent's names.
//!
//! # Capacity is fixed
//!
//! A store's [`Capacity`] (entries, the largest encoded value, the longest
//! key) is fixed at creation, and an array's length too. A full store
//! returns [`Error::Full`]; nothing is silently overwritten or evicted.
//!
//! # Opening what someone else made
//!
//! Every region starts with a header: the magic bytes `forkwise`, a layout
//! version, what it holds and its sizes. Opening a file that is not a
//! forkwise region ([`Error::NotOurs`]), one made by a version with another
//! layout ([`Error::LayoutVersion`]), or one holding another kind of
//! structure ([`Error::WrongKind`]) is an error naming the region. Errors
//! name the operation and the region, keep the OS error as their
//! [source](std::error::Error::source), and convert into
//! [`std::io::Error`].
//!
//! # What it does not do
//!
//! - It does not grow: capacities are fixed (see above).
//! - It trusts the processes that map a region as much as any process of
//!   the same user: files are created with mode 0600, and a process that
//!   scribbles over the lock word can break the lock for everyone.
//! - It stores no pointers and no `Drop` types: values are serialised, and
//!   array elements are plain data.
//!
//! # Portability
//!
//! Linux: `/dev/shm`, `memfd_create`, `posix_fallocate` and robust
//! process-shared pthread mutexes. Two programs sharing a store must use
//! the same C library (the mutex layout is checked when opening). With the
//! `sysv` feature, the same structures live in a forkwise-sysv
//! `SharedSegment`, for programs that find each other by SysV key
//! (`SharedData::in_segment`, `SharedArray::in_segment`).
#![deny(unsafe_code)]

mod array;
mod data;
mod error;
mod header;
#[doc(hidden)]
pub mod hooks;
mod key;
mod mapping;
#[allow(unsafe_code, reason = "the raw memory layer: atomics over the mapping")]
mod memory;
mod region;
#[allow(unsafe_code, reason = "the one module that calls libc")]
mod sys;

pub use array::{SharedArray, SharedInteger};
pub use data::{Capacity, SharedData, Transaction};
pub use error::{Error, Operation, Result};
pub use header::RegionKind;
pub use key::{Key, OwnedKey, Version};
pub use memory::SharedAtomic;
pub use region::Region;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
