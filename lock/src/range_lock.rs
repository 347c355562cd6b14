//! [`RangeLock`]: a byte-range lock owned by an open file description (Linux).

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::Mode;
use crate::acquire::{LockGuard, Target, acquire_methods};
use crate::error::{Error, Result};
use crate::file_lock::open_lock_file;
use crate::sys::{self, Range};

/// The guard of a [`RangeLock`].
pub type RangeLockGuard<'a> = LockGuard<'a, RangeLock>;

/// A lock on the bytes `start..start + len` of a file, shared or exclusive.
///
/// Built on Linux's open-file-description locks (`F_OFD_SETLK`), not on
/// classic POSIX record locks: the lock belongs to this `RangeLock`'s open
/// file, so two `RangeLock`s exclude each other inside one process too,
/// closing some other descriptor of the same file releases nothing, and a
/// process killed while holding a range releases it at once. Locks on ranges
/// that do not overlap never conflict. A `len` of 0 means "from `start` to the
/// end of the file, however long it grows", as in `fcntl(2)`.
///
/// These locks interoperate with other programs that use `fcntl(2)` locks on
/// the same file, not with `flock(2)`/`flock(1)` (use [`FileLock`](crate::FileLock) for that).
///
/// # Examples
///
/// ```
/// use forkwise_lock::RangeLock;
///
/// let path = std::env::temp_dir().join(format!("fw-doc-range-{}.db", std::process::id()));
/// let mut first_page = RangeLock::new(&path, 0, 4096)?;
/// let mut second_page = RangeLock::new(&path, 4096, 4096)?;
/// let mut whole_file = RangeLock::new(&path, 0, 0)?;
///
/// let _a = first_page.acquire()?;
/// let _b = second_page.acquire()?; // disjoint ranges do not conflict
/// assert!(whole_file.try_acquire()?.is_none());
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[doc(alias = "F_OFD_SETLK")]
#[doc(alias = "fcntl")]
pub struct RangeLock {
    file: File,
    path: PathBuf,
    range: Range,
}

impl RangeLock {
    /// Opens or creates the file at `path` (mode 0644 before the umask) for
    /// locking `len` bytes from `start`, without locking anything.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRange`] if the range does not fit a file offset;
    /// otherwise as [`FileLock::new`](crate::FileLock::new).
    ///
    /// # Examples
    ///
    /// ```
    /// let err = forkwise_lock::RangeLock::new("/tmp/x", u64::MAX, 1).unwrap_err();
    /// assert!(matches!(err, forkwise_lock::Error::InvalidRange { .. }));
    /// ```
    pub fn new(path: impl AsRef<Path>, start: u64, len: u64) -> Result<Self> {
        Self::with_mode(path, start, len, 0o644)
    }

    /// Like [`new`](Self::new), with `mode` (before the umask) for a file it creates.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("fw-doc-rmode-{}.db", std::process::id()));
    /// let lock = forkwise_lock::RangeLock::with_mode(&path, 0, 10, 0o600)?;
    /// assert_eq!((lock.start(), lock.len()), (0, 10));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_mode(path: impl AsRef<Path>, start: u64, len: u64, mode: u32) -> Result<Self> {
        let path = path.as_ref();
        let fits = |n: u64| i64::try_from(n).is_ok();
        if !fits(start) || !fits(len) || !start.checked_add(len).is_some_and(fits) {
            return Err(Error::InvalidRange {
                path: path.to_owned(),
                start,
                len,
            });
        }
        let file = open_lock_file(path, mode).map_err(|source| Error::open(path, source))?;
        Ok(Self {
            file,
            path: path.to_owned(),
            range: Range { start, len },
        })
    }

    /// The first byte of the range.
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("fw-doc-rstart-{}.db", std::process::id()));
    /// assert_eq!(forkwise_lock::RangeLock::new(&path, 7, 1)?.start(), 7);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start(&self) -> u64 {
        self.range.start
    }

    /// The length of the range; 0 means "to the end of the file and beyond".
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("fw-doc-rlen-{}.db", std::process::id()));
    /// assert_eq!(forkwise_lock::RangeLock::new(&path, 7, 0)?.len(), 0);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::len_without_is_empty, reason = "a range, not a collection")]
    pub fn len(&self) -> u64 {
        self.range.len
    }

    /// The path the file was opened at.
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("fw-doc-rpath-{}.db", std::process::id()));
    /// assert_eq!(forkwise_lock::RangeLock::new(&path, 0, 1)?.path(), path);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    acquire_methods!("the range", "forkwise_lock::RangeLock::new(&path, 0, 100)");
}

impl Target for RangeLock {
    fn lock_once(&self, mode: Mode, block: bool) -> io::Result<bool> {
        sys::ofd_lock(self.file.as_fd(), mode, self.range, block)
    }

    fn unlock(&self) -> io::Result<()> {
        sys::ofd_unlock(self.file.as_fd(), self.range)
    }

    fn file(&self) -> &File {
        &self.file
    }

    fn path(&self) -> &Path {
        &self.path
    }
}
