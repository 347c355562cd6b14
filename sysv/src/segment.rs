//! [`SharedSegment`]: a SysV shared memory segment, read and written
//! through copies and atomics.

use std::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16, AtomicU32,
    AtomicU64, AtomicUsize,
};

use crate::error::{Error, Object, Operation, Result};
use crate::handle::Handle;
use crate::options::{OpenOptions, Options};
use crate::sys::shm::Attachment;
use crate::{Key, sys};

/// A SysV shared memory segment attached to this process: bytes that every
/// process attaching the same key sees, C and Python programs included.
///
/// Other processes write the memory at any moment, so this type never hands
/// out `&[u8]` over it (the compiler would assume the bytes cannot change,
/// which is undefined behaviour). Instead:
///
/// - [`read_at`](Self::read_at) and [`write_at`](Self::write_at) copy bytes
///   out and in, with bounds checks. Each byte is copied with a relaxed
///   atomic access, so a copy never tears a byte, but a copy of several
///   bytes is not atomic as a whole: guard multi-byte records with a
///   [`Mutex`](crate::Mutex) or [`Semaphore`](crate::Semaphore).
/// - [`atomic`](Self::atomic) gives a reference to an atomic integer in the
///   segment, for counters and flags updated by many processes at once.
///
/// ```
/// use forkwise_sysv::{Key, SharedSegment};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let segment = SharedSegment::open(Key::private(), 4096)?;
/// segment.write_at(8, b"hello")?;
/// let mut text = [0; 5];
/// segment.read_at(8, &mut text)?;
/// assert_eq!(&text, b"hello");
///
/// let counter = segment.atomic::<AtomicU64>(0)?;
/// counter.fetch_add(1, Ordering::SeqCst);
/// assert_eq!(counter.load(Ordering::SeqCst), 1);
/// segment.remove()?;
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
///
/// A new segment is zero-filled by the kernel, so unlike a semaphore it needs
/// no initialisation and has no creation race. A child forked while the
/// segment is attached shares the attachment.
///
/// Accesses of different sizes to the same bytes (a byte copy over an
/// [`AtomicU64`], or an `AtomicU32` over half of one) must not race between
/// threads of one process: Rust leaves racing mixed-size atomics undefined.
/// Give each kind of data its own bytes.
#[doc(alias = "shmget")]
#[doc(alias = "shmat")]
#[derive(Debug)]
pub struct SharedSegment {
    attachment: Attachment,
    handle: Handle,
}

mod sealed {
    #[allow(
        unreachable_pub,
        reason = "the sealed-trait pattern: public in a private module, so no one else can name it"
    )]
    pub trait Sealed {}
}

/// The atomic integer types that [`SharedSegment::atomic`] hands out:
/// std's `AtomicU8` to `AtomicU64`, `AtomicI8` to `AtomicI64`,
/// `AtomicUsize` and `AtomicIsize`. Sealed: every bit pattern must be a
/// valid value of the type, since other processes write the bytes.
///
/// ```
/// use forkwise_sysv::{Key, SharedAtomic, SharedSegment};
/// use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
///
/// fn view<A: SharedAtomic>(segment: &SharedSegment, offset: usize) -> forkwise_sysv::Result<&A> {
///     segment.atomic::<A>(offset)
/// }
/// let segment = SharedSegment::options().remove_on_drop(true).open(Key::private(), 16)?;
/// view::<AtomicI32>(&segment, 4)?.store(-1, Ordering::SeqCst);
/// assert_eq!(view::<AtomicU8>(&segment, 4)?.load(Ordering::SeqCst), 0xff);
/// # Ok::<(), forkwise_sysv::Error>(())
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

impl SharedSegment {
    /// Creates the segment of `size` bytes under `key` (zero-filled), or
    /// opens the existing one, which must have that size; mode `0600`. Then
    /// attaches it, read-write.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSize`] for a size of 0 or beyond the system's limit;
    /// [`Error::SizeMismatch`] if the existing segment has another size;
    /// [`Error::Os`] with [`Operation::Open`] or [`Operation::Attach`] if the
    /// OS refuses (`EACCES`, `ENOSPC`, `ENOMEM`).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// let segment = SharedSegment::open(Key::private(), 100)?;
    /// assert_eq!(segment.len(), 100);
    /// # segment.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn open(key: impl Into<Key>, size: usize) -> Result<Self> {
        Self::options().open(key, size)
    }

    /// Options for [`open`](OpenOptions::open): mode, exclusive creation,
    /// removal on drop.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// let segment = SharedSegment::options().remove_on_drop(true).open(Key::private(), 8)?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn options() -> OpenOptions<Self> {
        OpenOptions::new()
    }

    fn open_with(key: Key, size: usize, options: &Options) -> Result<Self> {
        if size == 0 {
            return Err(Error::InvalidSize { key, size });
        }
        let handle = Handle::open(
            Object::Segment,
            key.clone(),
            options,
            |key, mode| sys::shm::create(key, size, mode),
            sys::shm::open,
        )
        .map_err(|err| match err {
            // shmget says EINVAL for a size beyond SHMMAX.
            Error::Os {
                operation: Operation::Open,
                ref source,
                ..
            } if sys::is_invalid(source) => Error::InvalidSize { key, size },
            other => other,
        })?;
        let attached = sys::shm::status(handle.id())
            .map_err(|source| handle.error(Operation::Open, source))
            .and_then(|status| {
                if status.size != size {
                    return Err(Error::SizeMismatch {
                        key: handle.key().clone(),
                        expected: size,
                        actual: status.size,
                    });
                }
                Attachment::attach(handle.id(), size)
                    .map_err(|source| handle.error(Operation::Attach, source))
            });
        match attached {
            Ok(attachment) => Ok(Self { attachment, handle }),
            Err(err) => {
                if handle.created() {
                    // Unusable: do not leave it behind.
                    let _ = handle.remove();
                }
                Err(err)
            }
        }
    }

    /// The segment's size in bytes.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// let segment = SharedSegment::open(Key::private(), 64)?;
    /// assert_eq!(segment.len(), 64);
    /// # segment.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[allow(
        clippy::len_without_is_empty,
        reason = "a segment has at least one byte"
    )]
    pub fn len(&self) -> usize {
        self.attachment.len()
    }

    /// Copies the `buf.len()` bytes at `offset` into `buf`.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`] (and nothing copied) if they reach past the end.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// let segment = SharedSegment::open(Key::private(), 16)?;
    /// let mut buf = [1; 4];
    /// segment.read_at(12, &mut buf)?;
    /// assert_eq!(buf, [0; 4], "a new segment is zero-filled");
    /// assert!(segment.read_at(13, &mut buf).is_err());
    /// # segment.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        if self.attachment.read(offset, buf) {
            Ok(())
        } else {
            Err(self.out_of_bounds(offset, buf.len()))
        }
    }

    /// Copies `buf` to the bytes at `offset`.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`] (and nothing copied) if they reach past the end.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// let segment = SharedSegment::open(Key::private(), 16)?;
    /// segment.write_at(0, b"0123456789abcdef")?;
    /// assert!(segment.write_at(1, b"0123456789abcdef").is_err());
    /// # segment.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn write_at(&self, offset: usize, buf: &[u8]) -> Result<()> {
        if self.attachment.write(offset, buf) {
            Ok(())
        } else {
            Err(self.out_of_bounds(offset, buf.len()))
        }
    }

    /// The atomic integer of type `A` at `offset`, which every process
    /// attaching the segment shares: a counter, a flag, a sequence number.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`] if it reaches past the end;
    /// [`Error::Misaligned`] unless `offset` is a multiple of `A`'s size.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// use std::sync::atomic::{AtomicU32, Ordering};
    ///
    /// let segment = SharedSegment::open(Key::private(), 64)?;
    /// let flag = segment.atomic::<AtomicU32>(4)?;
    /// flag.store(1, Ordering::Release);
    /// assert!(segment.atomic::<AtomicU32>(6).is_err(), "misaligned");
    /// # segment.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn atomic<A: SharedAtomic>(&self, offset: usize) -> Result<&A> {
        self.check_atomic::<A>(offset)?;
        // `check_atomic` named the problem; the attachment checks again.
        self.attachment
            .atomic(offset)
            .ok_or_else(|| self.out_of_bounds(offset, size_of::<A>()))
    }

    fn check_atomic<A: SharedAtomic>(&self, offset: usize) -> Result<()> {
        let (size, align) = (size_of::<A>(), align_of::<A>());
        if offset.checked_add(size).is_none_or(|end| end > self.len()) {
            return Err(self.out_of_bounds(offset, size));
        }
        // The segment starts on a page boundary, so aligning the offset
        // aligns the address.
        if !offset.is_multiple_of(align) {
            return Err(Error::Misaligned {
                key: self.key().clone(),
                offset,
                align,
            });
        }
        Ok(())
    }

    /// The number of attachments now, in all processes (`shm_nattch`).
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with [`Operation::Stat`] if the OS refuses.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// let segment = SharedSegment::open(Key::private(), 8)?;
    /// assert_eq!(segment.attached()?, 1);
    /// # segment.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "shm_nattch")]
    pub fn attached(&self) -> Result<u64> {
        sys::shm::status(self.id())
            .map(|status| status.attached)
            .map_err(|source| self.handle.error(Operation::Stat, source))
    }

    /// The key the segment was opened with.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// let segment = SharedSegment::open(Key::private(), 8)?;
    /// assert!(segment.key().is_private());
    /// # segment.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn key(&self) -> &Key {
        self.handle.key()
    }

    /// The segment's identifier, as `ipcs -m` lists it and `ipcrm -m` takes it.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// let segment = SharedSegment::open(Key::private(), 8)?;
    /// assert!(segment.id() >= 0);
    /// # segment.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "shmid")]
    pub fn id(&self) -> i32 {
        self.handle.id()
    }

    /// True if this `open` created the segment.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// let segment = SharedSegment::open(Key::private(), 8)?;
    /// assert!(segment.created());
    /// # segment.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.handle.created()
    }

    /// Marks the segment for removal (`IPC_RMID`): no process can open it by
    /// key any more, and the kernel frees it once the last process detaches.
    /// This handle stays usable until dropped.
    ///
    /// # Errors
    ///
    /// [`Error::Removed`] if it is gone already; [`Error::Os`] with
    /// [`Operation::Remove`] if the OS refuses (`EPERM`).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// let segment = SharedSegment::open(Key::private(), 8)?;
    /// segment.remove()?;
    /// segment.write_at(0, b"still")?; // attached until dropped
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "IPC_RMID")]
    pub fn remove(&self) -> Result<()> {
        self.handle.remove()
    }

    fn out_of_bounds(&self, offset: usize, len: usize) -> Error {
        Error::OutOfBounds {
            key: self.key().clone(),
            offset,
            len,
            size: self.len(),
        }
    }
}

impl OpenOptions<SharedSegment> {
    /// Creates or opens the segment of `size` bytes under `key`, as these
    /// options say, and attaches it.
    ///
    /// # Errors
    ///
    /// As [`SharedSegment::open`], and [`Error::AlreadyExists`] /
    /// [`Error::NotFound`] for [`exclusive`](Self::exclusive) /
    /// [`create(false)`](Self::create).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, SharedSegment};
    /// let segment = SharedSegment::options().mode(0o640).open(Key::private(), 32)?;
    /// # segment.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn open(&self, key: impl Into<Key>, size: usize) -> Result<SharedSegment> {
        SharedSegment::open_with(key.into(), size, &self.options)
    }
}
