//! Semaphore sets: `semget(2)`, `semctl(2)`, `semop(2)` and `semtimedop(2)`.
//!
//! Every set this crate makes has one semaphore, number 0, so the functions
//! here take only the set's identifier.

use std::io;
use std::time::Instant;

use super::{RawKey, cvt, permission_flags};

/// The largest value a semaphore can hold (`SEMVMX` on Linux).
pub(crate) const MAX_VALUE: u16 = 32767;

/// `union semun`, which callers of `semctl(2)` must define themselves; only
/// the members this crate passes are declared (the union keeps the size and
/// alignment of a pointer, as glibc's does).
#[repr(C)]
union Semun {
    val: libc::c_int,
    buf: *mut libc::semid_ds,
}

unsafe extern "C" {
    /// `semtimedop(2)`: glibc and musl export it; the libc crate does not
    /// declare it.
    fn semtimedop(
        semid: libc::c_int,
        sops: *mut libc::sembuf,
        nsops: libc::size_t,
        timeout: *const libc::timespec,
    ) -> libc::c_int;
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "SEM_UNDO (0x1000) and IPC_NOWAIT (0o4000) fit a short"
)]
const SEM_UNDO: libc::c_short = libc::SEM_UNDO as libc::c_short;
#[allow(
    clippy::cast_possible_truncation,
    reason = "SEM_UNDO (0x1000) and IPC_NOWAIT (0o4000) fit a short"
)]
const IPC_NOWAIT: libc::c_short = libc::IPC_NOWAIT as libc::c_short;

/// Creates a set of one semaphore under `key` with permissions `mode`;
/// `Ok(None)` if a set with that key exists already. [`PRIVATE_KEY`]
/// (`IPC_PRIVATE`) always creates a new set.
///
/// [`PRIVATE_KEY`]: super::PRIVATE_KEY
pub(crate) fn create(key: RawKey, mode: u16) -> io::Result<Option<libc::c_int>> {
    let flags = libc::IPC_CREAT | libc::IPC_EXCL | permission_flags(mode);
    // SAFETY: semget takes three integers.
    match cvt(unsafe { libc::semget(key, 1, flags) }) {
        Ok(id) => Ok(Some(id)),
        Err(err) if err.raw_os_error() == Some(libc::EEXIST) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Opens the existing set under `key`, whatever its size; `Ok(None)` if
/// there is none.
pub(crate) fn open(key: RawKey) -> io::Result<Option<libc::c_int>> {
    // SAFETY: semget takes three integers; nsems 0 accepts a set of any size.
    match cvt(unsafe { libc::semget(key, 0, 0) }) {
        Ok(id) => Ok(Some(id)),
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(err) => Err(err),
    }
}

/// What `IPC_STAT` tells about a set.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Status {
    /// The number of semaphores in the set.
    pub(crate) semaphores: u64,
    /// Whether any `semop(2)` has run on the set since it was created
    /// (`sem_otime != 0`): the sign that its creator initialised it.
    pub(crate) operated: bool,
}

/// `semctl(IPC_STAT)`.
pub(crate) fn status(id: libc::c_int) -> io::Result<Status> {
    // SAFETY: `semid_ds` is a plain C struct; all-zeroes is a valid value.
    let mut ds: libc::semid_ds = unsafe { std::mem::zeroed() };
    let arg = Semun { buf: &raw mut ds };
    // SAFETY: IPC_STAT writes one `semid_ds` through `arg.buf`, which points
    // to `ds`, alive and writable for the whole call.
    cvt(unsafe { libc::semctl(id, 0, libc::IPC_STAT, arg) })?;
    #[allow(
        clippy::useless_conversion,
        reason = "sem_nsems is an unsigned long: u64 here, u32 on 32-bit targets"
    )]
    Ok(Status {
        semaphores: u64::from(ds.sem_nsems),
        operated: ds.sem_otime != 0,
    })
}

/// Sets semaphore 0 to `value`, then runs one net-zero `semop(2)` on it so
/// that `sem_otime` becomes non-zero: openers that wait for `sem_otime`
/// (see `semaphore.rs`) then know that the value is set.
///
/// The net-zero operation gives a unit and takes it back in one atomic call,
/// so it cannot fail for want of units even if a program that ignores the
/// protocol took some meanwhile; at the largest value it takes first, since
/// no value may exceed [`MAX_VALUE`], even within the call.
pub(crate) fn initialise(id: libc::c_int, value: u16) -> io::Result<()> {
    let arg = Semun {
        val: libc::c_int::from(value),
    };
    // SAFETY: SETVAL reads the integer member of `arg`, which is set.
    cvt(unsafe { libc::semctl(id, 0, libc::SETVAL, arg) })?;
    let (first, second) = if value < MAX_VALUE { (1, -1) } else { (-1, 1) };
    let mut stamp = [
        libc::sembuf {
            sem_num: 0,
            sem_op: first,
            sem_flg: IPC_NOWAIT,
        },
        libc::sembuf {
            sem_num: 0,
            sem_op: second,
            sem_flg: IPC_NOWAIT,
        },
    ];
    // SAFETY: `stamp` is an array of two valid `sembuf`s that outlives the
    // call; semop reads exactly `nsops` of them.
    cvt(unsafe { libc::semop(id, stamp.as_mut_ptr(), stamp.len()) }).map(drop)
}

/// `semctl(GETVAL)`: the units free now.
pub(crate) fn value(id: libc::c_int) -> io::Result<u32> {
    // SAFETY: GETVAL takes no fourth argument and only reads the set.
    let value = cvt(unsafe { libc::semctl(id, 0, libc::GETVAL) })?;
    Ok(value.unsigned_abs())
}

/// `semctl(GETNCNT)`: the processes waiting for units now.
pub(crate) fn waiters(id: libc::c_int) -> io::Result<u32> {
    // SAFETY: GETNCNT takes no fourth argument and only reads the set.
    let count = cvt(unsafe { libc::semctl(id, 0, libc::GETNCNT) })?;
    Ok(count.unsigned_abs())
}

/// `semctl(IPC_RMID)`: removes the set; processes waiting on it wake with EIDRM.
pub(crate) fn remove(id: libc::c_int) -> io::Result<()> {
    // SAFETY: IPC_RMID takes no fourth argument.
    cvt(unsafe { libc::semctl(id, 0, libc::IPC_RMID) }).map(drop)
}

/// How long a [`change`] may wait for units.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Not at all (`IPC_NOWAIT`).
    No,
    /// Until the units are there (`semop`).
    Forever,
    /// Until the instant passes (`semtimedop`).
    Until(Instant),
}

/// Adds `delta` to semaphore 0 with `SEM_UNDO`, waiting as `wait` says
/// while the value would go below zero.
///
/// `Ok(false)` if it did not happen: no wait was allowed, or the deadline
/// passed. EINTR is returned; for [`Wait::Until`] a retry waits only for
/// the time left.
#[inline]
pub(crate) fn change(id: libc::c_int, delta: i16, wait: Wait) -> io::Result<bool> {
    let mut op = libc::sembuf {
        sem_num: 0,
        sem_op: delta,
        sem_flg: match wait {
            Wait::No => SEM_UNDO | IPC_NOWAIT,
            Wait::Forever | Wait::Until(_) => SEM_UNDO,
        },
    };
    let ret = match wait {
        // SAFETY: `op` is one valid `sembuf` that outlives the call.
        Wait::No | Wait::Forever => unsafe { libc::semop(id, &raw mut op, 1) },
        Wait::Until(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = libc::timespec {
                tv_sec: libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(left.subsec_nanos().cast_signed()),
            };
            // SAFETY: `op` is one valid `sembuf` and `timeout` a valid
            // relative `timespec` (nanoseconds below 1e9), both outliving
            // the call.
            unsafe { semtimedop(id, &raw mut op, 1, &raw const timeout) }
        }
    };
    match cvt(ret) {
        Ok(_) => Ok(true),
        Err(err) if err.raw_os_error() == Some(libc::EAGAIN) => Ok(false),
        Err(err) => Err(err),
    }
}
