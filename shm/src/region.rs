//! [`Region`]: named or anonymous shared memory with this crate's header,
//! read and written through copies and atomics.

use std::sync::atomic::AtomicU64;

use crate::error::{Error, Result};
use crate::header::{self, RegionKind};
use crate::mapping::{self, Mapping, Spec};
use crate::memory::SharedAtomic;

/// Shared memory that processes find by name (a file under `/dev/shm`) or
/// inherit across `fork` (anonymous), starting with a header that says it
/// is forkwise's.
///
/// [`SharedData`](crate::SharedData) and [`SharedArray`](crate::SharedArray)
/// are built on regions and manage their own; a `Region` itself gives
/// `len()` bytes for your own layout, through bounds-checked copies
/// ([`read_at`](Self::read_at), [`write_at`](Self::write_at)) and atomic
/// integers ([`atomic`](Self::atomic)), never as `&[u8]`: other processes
/// write the memory at any moment, and a plain slice over it would be
/// undefined behaviour.
///
/// ```
/// use forkwise_shm::Region;
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let name = format!("fw-doc-region-{}", std::process::id());
/// let region = Region::create(&name, 4096)?;
///
/// // Another process (here: another handle) finds it by name.
/// let other = Region::open(&name)?;
/// other.atomic::<AtomicU64>(0)?.fetch_add(5, Ordering::SeqCst);
/// other.write_at(8, b"hello")?;
///
/// assert_eq!(region.atomic::<AtomicU64>(0)?.load(Ordering::SeqCst), 5);
/// let mut text = [0; 5];
/// region.read_at(8, &mut text)?;
/// assert_eq!(&text, b"hello");
/// # Ok::<(), forkwise_shm::Error>(())
/// ```
///
/// # Lifetime of the name
///
/// The process whose [`create`](Self::create) made the name removes it when
/// it drops the region, unless [`keep`](Self::keep) was called. A child
/// forked afterwards never removes it, nor does a process that only
/// [`open`](Self::open)ed it. Processes that have it mapped keep using the
/// memory after the name is gone.
///
/// Accesses of different sizes to the same bytes (a byte copy over an
/// [`AtomicU64`], or an `AtomicU32` over half of one) must not race between
/// threads of one process: Rust leaves racing mixed-size atomics undefined.
/// Give each kind of data its own bytes.
#[doc(alias = "shm_open")]
#[doc(alias = "mmap")]
#[derive(Debug)]
pub struct Region {
    mapping: Mapping,
    size: usize,
}

impl Region {
    /// Creates `/dev/shm/NAME` with `size` bytes for you (plus the header),
    /// zero-filled, mode 0600; fails if the name exists. The memory is
    /// reserved now (`posix_fallocate`), so a full `/dev/shm` is an error
    /// here and never a `SIGBUS` later.
    ///
    /// `name` is a file name (one leading `/` is allowed and ignored).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`], [`Error::InvalidCapacity`] for a size of 0,
    /// [`Error::AlreadyExists`], and [`Error::Os`] naming the failed step
    /// (`ENOSPC` from [`Operation::Reserve`](crate::Operation::Reserve)
    /// when `/dev/shm` is full).
    ///
    /// ```
    /// # use forkwise_shm::Region;
    /// let name = format!("fw-doc-create-{}", std::process::id());
    /// let region = Region::create(&name, 100)?;
    /// assert_eq!(region.len(), 100);
    /// assert!(Region::create(&name, 100).is_err(), "the name is taken");
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    #[doc(alias = "shm_open")]
    #[doc(alias = "posix_fallocate")]
    pub fn create(name: &str, size: usize) -> Result<Self> {
        let spec = Self::spec(size)?;
        let mapping = Mapping::create(name, spec, |_, _| Ok(()))?;
        Ok(Self { mapping, size })
    }

    /// Opens the region another process created as `name`.
    ///
    /// Waits up to a second for a creator that is still initialising it.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::NotOurs`] if the file does not start
    /// with this crate's magic number; [`Error::LayoutVersion`] if another
    /// version of this crate made it; [`Error::WrongKind`] if it holds a
    /// [`SharedData`](crate::SharedData) or a
    /// [`SharedArray`](crate::SharedArray); [`Error::Unpublished`] if its
    /// creator never finished.
    ///
    /// ```
    /// # use forkwise_shm::Region;
    /// let name = format!("fw-doc-open-{}", std::process::id());
    /// let created = Region::create(&name, 64)?;
    /// let opened = Region::open(&name)?;
    /// assert_eq!(opened.len(), 64);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        let mapping = Mapping::open(name, RegionKind::Raw)?;
        let size = usize::try_from(mapping.params()[0]).unwrap_or(0);
        let fits = size.checked_add(header::BYTES) == Some(mapping.memory().len());
        if !fits {
            return Err(Error::Mismatch {
                region: mapping.shown().to_owned(),
                what: "region size in the header",
                expected: (mapping.memory().len().saturating_sub(header::BYTES)) as u64,
                found: size as u64,
            });
        }
        Ok(Self { mapping, size })
    }

    /// A region of `size` bytes with no name, shared with every child
    /// forked afterwards (a `memfd`, mapped shared), freed when the last
    /// process drops it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCapacity`] for a size of 0; [`Error::Os`] if the
    /// memory cannot be had.
    ///
    /// ```
    /// # use forkwise_shm::Region;
    /// let region = Region::anonymous(64)?;
    /// assert_eq!(region.name(), None);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    #[doc(alias = "memfd_create")]
    pub fn anonymous(size: usize) -> Result<Self> {
        let spec = Self::spec(size)?;
        let mapping = Mapping::anonymous(spec, |_, _| Ok(()))?;
        Ok(Self { mapping, size })
    }

    fn spec(size: usize) -> Result<Spec> {
        if size == 0 {
            return Err(Error::InvalidCapacity {
                reason: "a region needs at least one byte".to_owned(),
            });
        }
        let len = size
            .checked_add(header::BYTES)
            .ok_or_else(|| Error::InvalidCapacity {
                reason: format!("{size} bytes do not fit the address space"),
            })?;
        let mut params = [0; header::PARAMS];
        params[0] = size as u64;
        Ok(Spec {
            kind: RegionKind::Raw,
            len,
            params,
        })
    }

    /// Removes the name `/dev/shm/NAME`, whatever made it: the next
    /// [`open`](Self::open) fails, while processes that have it mapped keep
    /// using it. For names left by a process that crashed, or kept with
    /// [`keep`](Self::keep).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`], [`Error::NotFound`], or [`Error::Os`] with
    /// [`Operation::Unlink`](crate::Operation::Unlink).
    ///
    /// ```
    /// # use forkwise_shm::Region;
    /// let name = format!("fw-doc-unlink-{}", std::process::id());
    /// let region = Region::create(&name, 8)?;
    /// region.keep();
    /// drop(region);
    /// Region::unlink(&name)?;
    /// assert!(Region::open(&name).is_err());
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    #[doc(alias = "shm_unlink")]
    pub fn unlink(name: &str) -> Result<()> {
        mapping::unlink(name)
    }

    /// The name under `/dev/shm`; `None` for an anonymous region.
    ///
    /// ```
    /// # use forkwise_shm::Region;
    /// let name = format!("/fw-doc-name-{}", std::process::id());
    /// let region = Region::create(&name, 8)?;
    /// assert_eq!(region.name(), Some(&name[1..]), "without the leading slash");
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.mapping.name()
    }

    /// The bytes available to you (the header not counted).
    ///
    /// ```
    /// # use forkwise_shm::Region;
    /// assert_eq!(Region::anonymous(10)?.len(), 10);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    #[allow(
        clippy::len_without_is_empty,
        reason = "a region has at least one byte"
    )]
    pub fn len(&self) -> usize {
        self.size
    }

    /// Leaves the name in place when this handle is dropped, for processes
    /// started later; [`Region::unlink`] removes it.
    ///
    /// ```
    /// # use forkwise_shm::Region;
    /// let name = format!("fw-doc-keep-{}", std::process::id());
    /// Region::create(&name, 8)?.keep();
    /// let again = Region::open(&name)?; // still there
    /// Region::unlink(&name)?;
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn keep(&self) {
        self.mapping.keep();
    }

    /// Copies the `buf.len()` bytes at `offset` into `buf`. Each byte is read
    /// atomically, but the copy as a whole is not: guard records that span
    /// several bytes yourself, or use a [`SharedData`](crate::SharedData).
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] (and nothing copied) if they reach past the end.
    ///
    /// ```
    /// # use forkwise_shm::Region;
    /// let region = Region::anonymous(16)?;
    /// let mut buf = [1; 4];
    /// region.read_at(12, &mut buf)?;
    /// assert_eq!(buf, [0; 4], "a new region is zero-filled");
    /// assert!(region.read_at(13, &mut buf).is_err());
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        let copied = self
            .mapping
            .memory()
            .read_bytes(header::BYTES + offset, buf);
        debug_assert!(copied, "checked above");
        Ok(())
    }

    /// Copies `buf` to the bytes at `offset`, each byte atomically (see
    /// [`read_at`](Self::read_at)).
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] (and nothing copied) if they reach past the end.
    ///
    /// ```
    /// # use forkwise_shm::Region;
    /// let region = Region::anonymous(4)?;
    /// region.write_at(0, b"abcd")?;
    /// assert!(region.write_at(1, b"abcd").is_err());
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn write_at(&self, offset: usize, buf: &[u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        let copied = self
            .mapping
            .memory()
            .write_bytes(header::BYTES + offset, buf);
        debug_assert!(copied, "checked above");
        Ok(())
    }

    /// The atomic integer of type `A` at `offset`, shared by every process
    /// that maps the region: a counter, a flag, a sequence number.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfRange`] if it reaches past the end;
    /// [`Error::Misaligned`] unless `offset` is a multiple of `A`'s size
    /// (the payload starts 64-byte aligned).
    ///
    /// ```
    /// # use forkwise_shm::Region;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    ///
    /// let region = Region::anonymous(64)?;
    /// region.atomic::<AtomicU32>(4)?.store(7, Ordering::Release);
    /// assert!(region.atomic::<AtomicU32>(6).is_err(), "misaligned");
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn atomic<A: SharedAtomic>(&self, offset: usize) -> Result<&A> {
        self.check(offset, size_of::<A>())?;
        if !offset.is_multiple_of(align_of::<A>()) {
            return Err(Error::Misaligned {
                region: self.mapping.shown().to_owned(),
                offset,
                align: align_of::<A>(),
            });
        }
        self.mapping
            .memory()
            .atomic(header::BYTES + offset)
            .ok_or_else(|| self.out_of_range(offset))
    }

    fn check(&self, offset: usize, len: usize) -> Result<()> {
        if offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(self.out_of_range(offset));
        }
        Ok(())
    }

    fn out_of_range(&self, offset: usize) -> Error {
        Error::OutOfRange {
            region: self.mapping.shown().to_owned(),
            index: offset,
            len: self.size,
        }
    }
}

// The payload starts at the header's end, which is 64-byte aligned.
const _: () = assert!(header::BYTES.is_multiple_of(64));
const _: () = assert!(align_of::<AtomicU64>() <= 64);
