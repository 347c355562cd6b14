//! The crate's one error type.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What the crate was doing when a system call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Opening or creating the lock file (`open(2)`).
    Open,
    /// Taking a lock (`flock(2)` or `fcntl(F_OFD_SETLK)`).
    Lock,
    /// Releasing a lock.
    Unlock,
    /// Reading the file (a pidfile's pid).
    Read,
    /// Writing the file (a pidfile's pid).
    Write,
    /// Comparing the open file with the path (`fstat(2)`, `lstat(2)`).
    Stat,
    /// Removing the file (`unlink(2)`).
    Remove,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Open => "open",
            Self::Lock => "lock",
            Self::Unlock => "unlock",
            Self::Read => "read",
            Self::Write => "write",
            Self::Stat => "stat",
            Self::Remove => "remove",
        })
    }
}

/// Everything that can go wrong in this crate; each variant names the path.
///
/// Converts into [`io::Error`], so `?` works in functions returning
/// `io::Result`:
///
/// ```
/// fn lock_it(path: &std::path::Path) -> std::io::Result<()> {
///     let mut lock = forkwise_lock::FileLock::new(path)?;
///     let _guard = lock.acquire()?;
///     Ok(())
/// }
/// # let dir = std::env::temp_dir().join(format!("fw-doc-err-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// # lock_it(&dir.join("x.lock")).unwrap();
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A system call on `path` failed.
    Os {
        /// What was being done.
        operation: Operation,
        /// The file it was done to.
        path: PathBuf,
        /// The error the OS returned.
        source: io::Error,
    },
    /// The directory that should hold `path` does not exist.
    MissingDirectory {
        /// The lock file that could not be created.
        path: PathBuf,
        /// The first missing directory on the way.
        directory: PathBuf,
        /// The `ENOENT` the OS returned.
        source: io::Error,
    },
    /// `path` is a symbolic link, which a pidfile refuses to follow.
    Symlink {
        /// The pidfile path.
        path: PathBuf,
        /// The `ELOOP` the OS returned.
        source: io::Error,
    },
    /// The pidfile is locked by a running process.
    AlreadyRunning {
        /// The pidfile path.
        path: PathBuf,
        /// The pid written in it, if the holder had written one.
        pid: Option<u32>,
    },
    /// A byte range does not fit the platform's file offsets.
    InvalidRange {
        /// The lock file.
        path: PathBuf,
        /// First byte of the range.
        start: u64,
        /// Length of the range.
        len: u64,
    },
}

impl Error {
    pub(crate) fn os(operation: Operation, path: &Path, source: io::Error) -> Self {
        Self::Os {
            operation,
            path: path.to_owned(),
            source,
        }
    }

    /// Classifies an `open(2)` failure: a missing directory gets its own variant.
    pub(crate) fn open(path: &Path, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::NotFound
            && let Some(directory) = first_missing_ancestor(path)
        {
            return Self::MissingDirectory {
                path: path.to_owned(),
                directory,
                source,
            };
        }
        if source.raw_os_error() == Some(libc::ELOOP) {
            return Self::Symlink {
                path: path.to_owned(),
                source,
            };
        }
        Self::os(Operation::Open, path, source)
    }

    /// The path this error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Os { path, .. }
            | Self::MissingDirectory { path, .. }
            | Self::Symlink { path, .. }
            | Self::AlreadyRunning { path, .. }
            | Self::InvalidRange { path, .. } => path,
        }
    }
}

/// The shallowest ancestor directory of `path` that does not exist.
fn first_missing_ancestor(path: &Path) -> Option<PathBuf> {
    let mut missing = None;
    for dir in path
        .ancestors()
        .skip(1)
        .filter(|d| !d.as_os_str().is_empty())
    {
        if dir.symlink_metadata().is_ok() {
            break;
        }
        missing = Some(dir.to_owned());
    }
    missing
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Os {
                operation,
                path,
                source,
            } => {
                write!(f, "cannot {operation} {}: {source}", path.display())
            }
            Self::MissingDirectory {
                path, directory, ..
            } => write!(
                f,
                "cannot create {}: directory {} does not exist",
                path.display(),
                directory.display()
            ),
            Self::Symlink { path, .. } => {
                write!(
                    f,
                    "refusing to open {}: it is a symbolic link",
                    path.display()
                )
            }
            Self::AlreadyRunning {
                path,
                pid: Some(pid),
            } => {
                write!(f, "{} is held by running process {pid}", path.display())
            }
            Self::AlreadyRunning { path, pid: None } => {
                write!(
                    f,
                    "{} is held by a running process that has not written its pid",
                    path.display()
                )
            }
            Self::InvalidRange { path, start, len } => write!(
                f,
                "byte range {start}+{len} of {} does not fit a file offset",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os { source, .. }
            | Self::MissingDirectory { source, .. }
            | Self::Symlink { source, .. } => Some(source),
            Self::AlreadyRunning { .. } | Self::InvalidRange { .. } => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::Os { source, .. } => source.kind(),
            Error::MissingDirectory { .. } => io::ErrorKind::NotFound,
            Error::Symlink { .. } | Error::InvalidRange { .. } => io::ErrorKind::InvalidInput,
            Error::AlreadyRunning { .. } => io::ErrorKind::ResourceBusy,
        };
        io::Error::new(kind, err)
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
