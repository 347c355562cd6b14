//! [`FileLock`]: a whole-file `flock(2)` lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::acquire::{LockGuard, Target, acquire_methods};
use crate::error::{Error, Result};
use crate::{Mode, sys};

/// The guard of a [`FileLock`].
pub type FileLockGuard<'a> = LockGuard<'a, FileLock>;

/// A `flock(2)` lock on a whole file, shared with the `flock(1)` command.
///
/// Creating a `FileLock` opens the file (creating it if needed) and takes
/// nothing; the acquire methods take the lock and return a guard that
/// releases it on drop.
///
/// Each `FileLock` is its own open file description, so two `FileLock`s on
/// the same path exclude each other even inside one process, and a process
/// killed while holding the lock releases it at once. The acquire methods
/// take `&mut self`: one `FileLock` hands out one guard at a time.
///
/// # Examples
///
/// ```
/// use forkwise_lock::FileLock;
///
/// let path = std::env::temp_dir().join(format!("fw-doc-filelock-{}.lock", std::process::id()));
/// let mut lock = FileLock::new(&path)?;
/// let mut rival = FileLock::new(&path)?;
/// {
///     let _guard = lock.acquire()?;
///     assert!(rival.try_acquire()?.is_none(), "held by `lock`");
/// }
/// assert!(rival.try_acquire()?.is_some(), "released on drop");
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[doc(alias = "flock")]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Opens or creates the lock file at `path` (mode 0644 before the umask)
    /// without locking it.
    ///
    /// The file is opened with `O_CLOEXEC`. An existing file that this user
    /// may not write is opened read-only, which `flock(2)` accepts.
    ///
    /// # Errors
    ///
    /// [`Error::MissingDirectory`] naming the directory if the parent does not
    /// exist; [`Error::Os`] with [`Operation::Open`](crate::Operation::Open)
    /// for any other failure.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = forkwise_lock::FileLock::new("/no/such/dir/x.lock").unwrap_err();
    /// assert_eq!(err.to_string(), "cannot create /no/such/dir/x.lock: directory /no does not exist");
    /// ```
    pub fn new(path: impl AsRef<Path>) -> Result<Self> {
        Self::with_mode(path, 0o644)
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
    /// use std::os::unix::fs::PermissionsExt;
    ///
    /// let path = std::env::temp_dir().join(format!("fw-doc-mode-{}.lock", std::process::id()));
    /// let lock = forkwise_lock::FileLock::with_mode(&path, 0o600)?;
    /// assert_eq!(std::fs::metadata(&path)?.permissions().mode() & 0o777, 0o600);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_mode(path: impl AsRef<Path>, mode: u32) -> Result<Self> {
        let path = path.as_ref();
        let file = open_lock_file(path, mode).map_err(|source| Error::open(path, source))?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    /// The path the lock file was opened at.
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("fw-doc-path-{}.lock", std::process::id()));
    /// let lock = forkwise_lock::FileLock::new(&path)?;
    /// assert_eq!(lock.path(), path);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    acquire_methods!("the file", "forkwise_lock::FileLock::new(&path)");
}

/// Opens read-write, creating; falls back to read-only for a file we may not write.
pub(crate) fn open_lock_file(path: &Path, mode: u32) -> io::Result<File> {
    // std opens every file with O_CLOEXEC and retries EINTR.
    let read_write = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(mode)
        .open(path);
    match read_write {
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            File::open(path).map_err(|_| err)
        }
        other => other,
    }
}

impl Target for FileLock {
    #[inline]
    fn lock_once(&self, mode: Mode, block: bool) -> io::Result<bool> {
        sys::flock(self.file.as_fd(), mode, block)
    }

    #[inline]
    fn unlock(&self) -> io::Result<()> {
        sys::funlock(self.file.as_fd())
    }

    fn file(&self) -> &File {
        &self.file
    }

    fn path(&self) -> &Path {
        &self.path
    }
}
