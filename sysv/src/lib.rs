//! SysV IPC done right: semaphores, mutexes, message queues and shared
//! memory segments that every process on the machine can share, C programs,
//! Python's `sysv_ipc` and PHP's `sysvmsg` and `shmop` included.
//!
//! SysV objects live in the kernel under a numeric [`Key`], outside any
//! process: unrelated programs that agree on the key share the object, and
//! it stays until someone removes it. This crate gives each kind a safe,
//! typed handle:
//!
//! - [`Semaphore`]: at most `max` holders at a time, across processes;
//!   units held by a process that dies (even by `SIGKILL`) come back.
//! - [`Mutex`]: a semaphore of one, with std's `lock`/`try_lock` names.
//! - [`Queue`]: messages with a type, sent as any `serde` value or as raw
//!   bytes, received in order, picked by type with a [`Selector`].
//! - [`SharedSegment`]: bytes shared between processes, read and written by
//!   bounds-checked copies and atomic integers.
//!
//! Every wait comes in three forms, as std's locks and channels have them:
//! block (`acquire`, `lock`, `receive`), try once and return `None`
//! (`try_acquire`, `try_lock`, `try_receive`), and, for semaphores, wait at
//! most a duration (`acquire_timeout`, `lock_timeout`).
//!
//! ```
//! use forkwise_sysv::{Key, Queue, Selector, Semaphore};
//!
//! // Two of the worker slots at most, across every process that opens the key.
//! let slots = Semaphore::open(Key::private(), 2)?;
//! let slot = slots.acquire()?;
//!
//! // A queue of typed jobs.
//! let jobs = Queue::open(Key::private())?;
//! jobs.send(1, &("thumbnail", 42u32))?;
//! let (_, (kind, id)): (i64, (String, u32)) = jobs.receive(Selector::Any)?;
//! assert_eq!((kind.as_str(), id), ("thumbnail", 42));
//!
//! drop(slot);
//! slots.remove()?;
//! jobs.remove()?;
//! # Ok::<(), forkwise_sysv::Error>(())
//! ```
//!
//! # Keys
//!
//! Processes find an object by its key:
//!
//! - [`FileKey::new(path)`](FileKey::new) derives it from an existing file
//!   with `ftok(3)`, as C, Python and PHP programs do; [`FileKey::next`]
//!   gives the next key of the same file, for a second object.
//! - [`Key::from_raw`] takes a number agreed with other programs.
//! - [`Key::private`] makes an object no other process can open by key; a
//!   child forked afterwards shares it through the handle it inherits.
//!
//! `ftok` keys can collide (32 bits from a device and an inode number): see
//! [`FileKey`]. `open` checks what it can of what it found (a semaphore set
//! of one semaphore, a segment of the size asked for) and names a mismatch.
//!
//! # Lifetime and cleanup
//!
//! A SysV object outlives the processes that use it, and the system has
//! room for only a few thousand (`ipcs -l`). So:
//!
//! - objects are created with mode `0600` (only this user), unless
//!   [`OpenOptions::mode`] says otherwise;
//! - `remove()` on each type removes the object for everyone (`IPC_RMID`);
//!   processes blocked on it wake with [`Error::Removed`], which is also what
//!   a process sees when `ipcrm(1)` removed the object under it;
//! - [`OpenOptions::remove_on_drop`] makes the creator's handle remove the
//!   object when dropped. Only the process whose `open` created the object
//!   does so: a child forked afterwards, which has a copy of the handle,
//!   never removes its parent's objects implicitly, and neither does a
//!   process that merely opened an existing one.
//!
//! Nothing is removed unless asked: a queue that a service and its clients
//! share must outlive any one client.
//!
//! # Behaviour worth knowing
//!
//! - **Creation race.** A new semaphore has no value until its creator sets
//!   it; openers wait for the creator (the Stevens technique, see
//!   [Semaphore](Semaphore#creation)) instead of using a set whose value is
//!   not yet there.
//! - **Capacity of an existing semaphore.** The kernel does not record it;
//!   the creator fixes it, and `open` refuses a set that certainly has
//!   another one (see [Semaphore](Semaphore#capacity-of-an-existing-set)).
//! - **Undo.** Every semaphore operation uses `SEM_UNDO`: the kernel gives
//!   back a dead process's units. Undo records are not inherited by `fork`,
//!   so a guard copied into a child is inert there.
//! - **Signals.** `semop(2)` and `msgrcv(2)` fail with EINTR whenever a
//!   signal handler runs, even one installed with `SA_RESTART`; every
//!   blocking call here resumes the wait (a timed one for the time left).
//! - **Messages.** A message over the kernel's limit (`msgmax`, 8192 bytes by
//!   default) is refused before sending with [`Error::MessageTooLarge`],
//!   naming the limit. Receiving sizes its buffer from that limit, so it
//!   never loops on a message that does not fit. A typed message is the
//!   postcard encoding of the value (see
//!   [Wire layout](Queue#wire-layout-of-a-typed-message)).
//! - **Shared memory** is never exposed as `&[u8]`, since other processes
//!   write it: copies and atomics only (see [`SharedSegment`]).
//! - **Errors** name the operation, the kind of object and the key (with
//!   the path and project id of a [`FileKey`]), keep the OS error as their
//!   [source](std::error::Error::source), and convert into [`std::io::Error`].
//!
//! # What it does not do
//!
//! - POSIX semaphores, message queues and shared memory (`sem_open`,
//!   `mq_open`, `shm_open`) are another API; forkwise-shm covers shared
//!   memory through `/dev/shm`.
//! - Semaphore sets of more than one semaphore, and operations of more than
//!   one unit at a time.
//! - A timed `receive`: `msgrcv(2)` has no timeout, and a polling one would
//!   hide that.
//! - SysV permissions are checked by the kernel against the object's owner
//!   and mode, nothing more: anyone with the same user id (or root) can
//!   remove or fill your objects.
//!
//! # Portability
//!
//! Linux, where every call used here exists and is tested. macOS lacks
//! `semtimedop` and the libc crate declares no message-queue calls for it,
//! so on other systems this crate is empty for now.
#![deny(unsafe_code)]
#![cfg(target_os = "linux")]

mod error;
mod handle;
mod key;
mod mutex;
mod options;
mod queue;
mod segment;
mod semaphore;
#[allow(unsafe_code, reason = "the one module that calls libc")]
mod sys;

pub use error::{Error, Object, Operation, Result};
pub use key::{FileKey, Key};
pub use mutex::{Mutex, MutexGuard};
pub use options::OpenOptions;
pub use queue::{Queue, QueueStats, Selector};
pub use segment::{SharedAtomic, SharedSegment};
pub use semaphore::{Semaphore, SemaphoreGuard};

#[cfg(test)]
mod tests {
    /// Handles, guards and errors may cross threads: a SysV object and its
    /// undo record belong to the process, not to a thread.
    #[test]
    fn handles_guards_and_errors_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<crate::Semaphore>();
        send_sync::<crate::SemaphoreGuard<'_>>();
        send_sync::<crate::Mutex>();
        send_sync::<crate::MutexGuard<'_>>();
        send_sync::<crate::Queue>();
        send_sync::<crate::SharedSegment>();
        send_sync::<crate::Key>();
        send_sync::<crate::Error>();
    }
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
