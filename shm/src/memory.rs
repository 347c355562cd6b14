//! The raw memory layer: a shared mapping seen only through atomics.
//!
//! Other processes write the mapped memory at any moment, so no `&[u8]`,
//! `&T` or `&mut` over it is ever made (the compiler would assume the bytes
//! cannot change under it, which is undefined behaviour). This module hands
//! out only:
//!
//! - the mapping as a slice of [`AtomicU64`] words, the unit every other
//!   structure of the crate is built from;
//! - references to smaller atomic integers at checked, aligned offsets, for
//!   [`SharedArray`](crate::SharedArray) elements and raw regions;
//! - byte copies in and out, one relaxed atomic byte at a time;
//! - a [`RobustMutex`] at a checked offset: a `pthread_mutex_t` that only
//!   libc ever touches.
//!
//! This and `sys.rs` are the crate's only modules allowed `unsafe`.
//!
//! # Trust
//!
//! The processes that map a region are trusted as much as processes of the
//! same user are anyway (they could `ptrace` this one): a process that
//! scribbles over the mutex word can break the lock for everyone. Scribbled
//! *data* can only make reads fail or retry; every offset read from shared
//! memory is bounds-checked before use.

use std::ptr::NonNull;
use std::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16, AtomicU32,
    AtomicU64, AtomicUsize, Ordering,
};

use memmap2::MmapRaw;

use crate::sys;

/// What keeps the memory mapped.
#[derive(Debug)]
enum Backing {
    /// A `/dev/shm` file or a memfd, mapped shared by memmap2.
    Mmap(#[allow(dead_code, reason = "held for its Drop: unmaps")] MmapRaw),
    /// A SysV segment attached by this crate.
    #[cfg(feature = "sysv")]
    Sysv(#[allow(dead_code, reason = "held for its Drop: detaches")] sys::Attachment),
}

/// A shared mapping of `len` bytes, page-aligned, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Memory {
    base: NonNull<u8>,
    len: usize,
    _backing: Backing,
}

// SAFETY: the mapping is shared memory that every thread of the process may
// use; this type only ever accesses it through atomics (and libc's
// process-shared mutex), which are made for concurrent use.
unsafe impl Send for Memory {}
// SAFETY: as for `Send`: `&Memory` gives only atomics and the robust mutex.
unsafe impl Sync for Memory {}

impl Memory {
    /// Takes over a shared mapping made by memmap2.
    pub(crate) fn from_mmap(map: MmapRaw) -> Self {
        let base = NonNull::new(map.as_mut_ptr()).unwrap_or(NonNull::dangling());
        Self {
            base,
            len: map.len(),
            _backing: Backing::Mmap(map),
        }
    }

    /// Takes over a SysV segment of `len` bytes attached by this crate.
    #[cfg(feature = "sysv")]
    pub(crate) fn from_sysv(attachment: sys::Attachment, len: usize) -> Self {
        Self {
            base: attachment.base(),
            len,
            _backing: Backing::Sysv(attachment),
        }
    }

    /// The mapping's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The whole mapping as 64-bit atomic words (a trailing partial word,
    /// if any, is left out).
    pub(crate) fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is `len` bytes, readable and writable, starts
        // on a page boundary (so it is aligned for AtomicU64), and stays
        // mapped as long as `self`, which the slice borrows. Every bit
        // pattern is a valid `AtomicU64`, and every access through the slice
        // is atomic, so writes from other processes are not data races. The
        // robust mutex's bytes are covered too, but never accessed through
        // the slice (its offset is reserved by the layouts).
        #[allow(clippy::cast_ptr_alignment, reason = "mappings are page-aligned")]
        let words = self.base.as_ptr().cast::<AtomicU64>();
        // SAFETY: see above.
        unsafe { std::slice::from_raw_parts(words, self.len / 8) }
    }

    /// A pointer to `len` bytes at `offset`, if they lie within the mapping.
    fn range(&self, offset: usize, len: usize) -> Option<*mut u8> {
        let end = offset.checked_add(len)?;
        // SAFETY: `offset <= end <= self.len`, so the result stays within
        // (or one past the end of) the mapping.
        (end <= self.len).then(|| unsafe { self.base.as_ptr().add(offset) })
    }

    /// The atomic integer of type `A` at byte `offset`; `None` unless it
    /// lies within the mapping and `offset` is a multiple of its alignment.
    pub(crate) fn atomic<A: SharedAtomic>(&self, offset: usize) -> Option<&A> {
        let at = self.range(offset, size_of::<A>())?;
        if !(at as usize).is_multiple_of(align_of::<A>()) {
            return None;
        }
        // SAFETY: `SharedAtomic` is sealed and implemented only for std's
        // atomic integers, for which every bit pattern is valid; `at` is
        // within the mapping and aligned (both checked); the reference
        // borrows `self`, so the mapping outlives it; all access is atomic.
        Some(unsafe { &*at.cast::<A>() })
    }

    /// Copies the bytes at `offset` into `buf`, one relaxed atomic load per
    /// byte; `false` (and nothing copied) unless they all lie in the mapping.
    pub(crate) fn read_bytes(&self, offset: usize, buf: &mut [u8]) -> bool {
        let Some(from) = self.range(offset, buf.len()) else {
            return false;
        };
        for (i, byte) in buf.iter_mut().enumerate() {
            // SAFETY: `from + i` lies within the mapping (checked by
            // `range`), which outlives this call; AtomicU8 has alignment 1.
            *byte = unsafe { AtomicU8::from_ptr(from.add(i)) }.load(Ordering::Relaxed);
        }
        true
    }

    /// Copies `buf` to the bytes at `offset`, one relaxed atomic store per
    /// byte; `false` (and nothing copied) unless they all lie in the mapping.
    pub(crate) fn write_bytes(&self, offset: usize, buf: &[u8]) -> bool {
        let Some(to) = self.range(offset, buf.len()) else {
            return false;
        };
        for (i, byte) in buf.iter().enumerate() {
            // SAFETY: as in `read_bytes`.
            unsafe { AtomicU8::from_ptr(to.add(i)) }.store(*byte, Ordering::Relaxed);
        }
        true
    }

    /// The robust mutex at byte `offset`; `None` unless it lies within the
    /// mapping and is aligned for a `pthread_mutex_t`.
    pub(crate) fn mutex(&self, offset: usize) -> Option<RobustMutex<'_>> {
        let at = self.range(offset, size_of::<libc::pthread_mutex_t>())?;
        if !(at as usize).is_multiple_of(align_of::<libc::pthread_mutex_t>()) {
            return None;
        }
        Some(RobustMutex {
            mutex: at.cast(),
            _memory: self,
        })
    }
}

/// A robust, process-shared `pthread_mutex_t` in a mapping (see
/// [`sys::mutex_init`]). Only libc touches its bytes.
///
/// pthread mutexes belong to a thread: the thread that locked it must
/// unlock it. The data structures keep every lock inside one call on one
/// thread (their guards are neither `Send` nor handed out).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RobustMutex<'a> {
    mutex: *mut libc::pthread_mutex_t,
    /// Keeps the mapping alive while the pointer is in use.
    _memory: &'a Memory,
}

impl RobustMutex<'_> {
    /// The bytes that [`init_unpublished`](Self::init_unpublished) writes.
    pub(crate) const SIZE: usize = size_of::<libc::pthread_mutex_t>();

    /// Initialises the mutex.
    ///
    /// Only called by the creator of a region before it publishes the
    /// region's magic number: no process that follows the protocol (wait
    /// for the magic, see `region.rs`) uses the mutex before that.
    pub(crate) fn init_unpublished(self) -> std::io::Result<()> {
        // SAFETY: `mutex` is within the mapping and aligned (checked in
        // `Memory::mutex`), the mapping outlives `self`, and by the
        // publication protocol above no one else uses the mutex yet.
        unsafe { sys::mutex_init(self.mutex) }
    }

    /// Locks it; [`sys::Locked::OwnerDied`] if its last owner died holding it.
    pub(crate) fn lock(self) -> std::io::Result<sys::Locked> {
        // SAFETY: as in `init_unpublished`; the creator initialised it
        // before publishing the region, and openers check the publication.
        unsafe { sys::mutex_lock(self.mutex) }
    }

    /// After [`sys::Locked::OwnerDied`], marks the mutex repaired.
    pub(crate) fn consistent(self) -> std::io::Result<()> {
        // SAFETY: as in `lock`; the caller owns the mutex (see `data/lock.rs`).
        unsafe { sys::mutex_consistent(self.mutex) }
    }

    /// Unlocks it; this thread must hold it.
    pub(crate) fn unlock(self) -> std::io::Result<()> {
        // SAFETY: as in `lock`; the caller owns the mutex (see `data/lock.rs`).
        unsafe { sys::mutex_unlock(self.mutex) }
    }
}

mod sealed {
    #[allow(
        unreachable_pub,
        reason = "the sealed-trait pattern: public in a private module, so no one else can name it"
    )]
    pub trait Sealed {}
}

/// The atomic integer types that a shared region hands out: std's
/// `AtomicU8` to `AtomicU64`, `AtomicI8` to `AtomicI64`, `AtomicUsize` and
/// `AtomicIsize`. Sealed: every bit pattern must be a valid value of the
/// type, since other processes write the bytes.
///
/// ```
/// use forkwise_shm::{Region, SharedAtomic};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// fn counter<A: SharedAtomic>(region: &Region) -> forkwise_shm::Result<&A> {
///     region.atomic::<A>(0)
/// }
/// let region = Region::anonymous(64)?;
/// counter::<AtomicU32>(&region)?.fetch_add(1, Ordering::SeqCst);
/// # Ok::<(), forkwise_shm::Error>(())
/// ```
pub trait SharedAtomic: sealed::Sealed + Sync {}

macro_rules! shared_atomics {
    ($($atomic:ty),*) => {$(
        impl sealed::Sealed for $atomic {}
        impl SharedAtomic for $atomic {}
    )*};
}
shared_atomics!(
    AtomicU8,
    AtomicU16,
    AtomicU32,
    AtomicU64,
    AtomicUsize,
    AtomicI8,
    AtomicI16,
    AtomicI32,
    AtomicI64,
    AtomicIsize
);
