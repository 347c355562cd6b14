//! Shared memory segments: `shmget(2)`, `shmctl(2)`, `shmat(2)` and `shmdt(2)`.
//!
//! The attached memory is written by other processes at any moment, so no
//! reference to it as plain bytes (`&[u8]`, `&mut [u8]`) is ever made: that
//! would let the compiler assume it does not change, which is undefined
//! behaviour. It is read and written one atomic byte at a time, or through
//! references to atomic integers.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

use super::{RawKey, cvt, permission_flags};
use crate::segment::SharedAtomic;

/// Creates a segment of `size` bytes (zero-filled) under `key` with
/// permissions `mode`; `Ok(None)` if one exists already.
/// [`PRIVATE_KEY`](super::PRIVATE_KEY) always creates.
pub(crate) fn create(key: RawKey, size: usize, mode: u16) -> io::Result<Option<libc::c_int>> {
    let flags = libc::IPC_CREAT | libc::IPC_EXCL | permission_flags(mode);
    // SAFETY: shmget takes three integers.
    match cvt(unsafe { libc::shmget(key, size, flags) }) {
        Ok(id) => Ok(Some(id)),
        Err(err) if err.raw_os_error() == Some(libc::EEXIST) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Opens the existing segment under `key`, whatever its size; `Ok(None)` if
/// there is none.
pub(crate) fn open(key: RawKey) -> io::Result<Option<libc::c_int>> {
    // SAFETY: shmget takes three integers; size 0 accepts any segment.
    match cvt(unsafe { libc::shmget(key, 0, 0) }) {
        Ok(id) => Ok(Some(id)),
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(err) => Err(err),
    }
}

/// What `IPC_STAT` tells about a segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Status {
    /// Its size in bytes, as created (`shm_segsz`).
    pub(crate) size: usize,
    /// The number of attachments, in all processes (`shm_nattch`).
    pub(crate) attached: u64,
}

/// `shmctl(IPC_STAT)`.
pub(crate) fn status(id: libc::c_int) -> io::Result<Status> {
    // SAFETY: `shmid_ds` is a plain C struct; all-zeroes is a valid value.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT writes one `shmid_ds` to `ds`, alive and writable.
    cvt(unsafe { libc::shmctl(id, libc::IPC_STAT, &raw mut ds) })?;
    Ok(Status {
        size: ds.shm_segsz,
        attached: ds.shm_nattch,
    })
}

/// `shmctl(IPC_RMID)`: marks the segment for removal; it goes once the last
/// process detaches, and no new process can attach it by key.
pub(crate) fn remove(id: libc::c_int) -> io::Result<()> {
    // SAFETY: IPC_RMID ignores the buffer argument.
    cvt(unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

/// A segment attached to this process (read-write), detached on drop.
#[derive(Debug)]
pub(crate) struct Attachment {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the attachment is a mapping of shared memory that every thread of
// the process may use; all access goes through atomics.
unsafe impl Send for Attachment {}
// SAFETY: as for `Send`: `&Attachment` only reads and writes through atomics.
unsafe impl Sync for Attachment {}

impl Attachment {
    /// `shmat(2)`: attaches segment `id`, whose size is `len`, where the
    /// kernel chooses.
    pub(crate) fn attach(id: libc::c_int, len: usize) -> io::Result<Self> {
        // SAFETY: a null address lets the kernel pick a free range; the
        // mapping is new, so it aliases no Rust object.
        let base = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        if base as isize == -1 {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(base.cast::<u8>())
            .ok_or_else(|| io::Error::other("shmat returned null"))?;
        Ok(Self { base, len })
    }

    /// The segment's size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// A pointer to `len` bytes at `offset`, if they lie within the segment.
    fn range(&self, offset: usize, len: usize) -> Option<*mut u8> {
        let end = offset.checked_add(len)?;
        // SAFETY: `offset <= end <= self.len`, so the result stays within
        // (or one past the end of) the attached mapping.
        (end <= self.len).then(|| unsafe { self.base.as_ptr().add(offset) })
    }

    /// Copies the bytes at `offset` into `buf`, one relaxed atomic load per
    /// byte; `false` (and nothing copied) if they are not all within the segment.
    pub(crate) fn read(&self, offset: usize, buf: &mut [u8]) -> bool {
        let Some(from) = self.range(offset, buf.len()) else {
            return false;
        };
        for (i, byte) in buf.iter_mut().enumerate() {
            // SAFETY: `from + i` lies within the mapping (checked by
            // `range`), which lives as long as `self`; `AtomicU8` has
            // alignment 1, and every access to the memory from this crate is
            // atomic.
            *byte = unsafe { AtomicU8::from_ptr(from.add(i)) }.load(Ordering::Relaxed);
        }
        true
    }

    /// Copies `buf` to the bytes at `offset`, one relaxed atomic store per
    /// byte; `false` (and nothing copied) if they are not all within the segment.
    pub(crate) fn write(&self, offset: usize, buf: &[u8]) -> bool {
        let Some(to) = self.range(offset, buf.len()) else {
            return false;
        };
        for (i, byte) in buf.iter().enumerate() {
            // SAFETY: as in `read`.
            unsafe { AtomicU8::from_ptr(to.add(i)) }.store(*byte, Ordering::Relaxed);
        }
        true
    }

    /// The atomic integer at `offset`; `None` unless it lies within the
    /// segment and `offset` is a multiple of its alignment.
    pub(crate) fn atomic<A: SharedAtomic>(&self, offset: usize) -> Option<&A> {
        let at = self.range(offset, size_of::<A>())?;
        if !(at as usize).is_multiple_of(align_of::<A>()) {
            return None;
        }
        // SAFETY: `SharedAtomic` is sealed and implemented only for std's
        // atomic integer types (see `segment.rs`): every bit pattern is a
        // valid value of them and they are accessed only atomically. `at` is
        // within the mapping and aligned (both checked), and the reference
        // borrows `self`, so the mapping outlives it.
        Some(unsafe { &*at.cast::<A>() })
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // SAFETY: `base` is the address shmat returned; every reference into
        // the mapping borrowed `self`, so none is alive now. A failure has no
        // one to go to (the kernel detaches at exit anyway).
        unsafe { libc::shmdt(self.base.as_ptr().cast()) };
    }
}
