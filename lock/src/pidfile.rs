//! [`Pidfile`]: one running instance, its pid in a locked file.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Operation, Result};
use crate::{Mode, sys};

/// How long a reader waits for a new holder to write its pid, and how long
/// [`Pidfile::create`] retries a lock that a momentary [`Pidfile::holder`]
/// probe may be holding.
const PATIENCE: Duration = Duration::from_millis(20);
const STEP: Duration = Duration::from_millis(1);

/// No process has pid 0: a `Pidfile` whose `pid` is this removes nothing.
const NO_OWNER: u32 = 0;

/// A locked file holding this process's pid, as daemons keep in `/run`.
///
/// [`create`](Self::create) takes an exclusive `flock(2)` lock on the file
/// and writes the pid; the lock, not the pid, says that the instance runs,
/// so a pidfile left by a process that died is taken over (pids are
/// recycled, so the pid alone cannot tell). Shell scripts can test it with
/// `flock -n PIDFILE true`. Dropping the `Pidfile` removes the file; a child
/// forked meanwhile never removes it.
///
/// The path is opened with `O_NOFOLLOW`: a symbolic link planted at the path
/// is refused, not followed.
///
/// # Examples
///
/// ```
/// use forkwise_lock::{Error, Pidfile};
///
/// let path = std::env::temp_dir().join(format!("fw-doc-pidfile-{}.pid", std::process::id()));
/// let pidfile = Pidfile::create(&path)?;
/// assert_eq!(std::fs::read_to_string(&path)?, format!("{}\n", std::process::id()));
///
/// match Pidfile::create(&path) {
///     Err(Error::AlreadyRunning { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
///     other => panic!("a second instance must be refused, got {other:?}"),
/// }
/// drop(pidfile);
/// assert!(!path.exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[doc(alias = "pid file")]
pub struct Pidfile {
    #[allow(
        dead_code,
        reason = "never read: it holds the lock while the Pidfile lives"
    )]
    file: File,
    path: PathBuf,
    pid: u32,
    previous: Option<u32>,
}

impl Pidfile {
    /// Locks the pidfile at `path` (creating it with mode 0644) and writes
    /// this process's pid followed by a newline.
    ///
    /// # Errors
    ///
    /// - [`Error::AlreadyRunning`] with the holder's pid if a running process holds it;
    /// - [`Error::Symlink`] if `path` is a symbolic link;
    /// - [`Error::MissingDirectory`] if its directory does not exist;
    /// - [`Error::Os`] for any other failure, naming the operation.
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("fw-doc-stale-{}.pid", std::process::id()));
    /// std::fs::write(&path, "999999\n")?; // left behind by a process that died
    /// let pidfile = forkwise_lock::Pidfile::create(&path)?;
    /// assert_eq!(pidfile.previous_pid(), Some(999_999));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        loop {
            let file = open_pidfile(path, true).map_err(|source| Error::open(path, source))?;
            if !lock_patiently(&file, path)? {
                let pid = read_pid_patiently(&file, path)?;
                return Err(Error::AlreadyRunning {
                    path: path.to_owned(),
                    pid,
                });
            }
            // A previous holder may have unlinked the file between our open and
            // our lock; then we hold a lock nobody else can see: start over.
            if !is_at_path(&file, path)? {
                continue;
            }
            let previous =
                read_pid(&file).map_err(|source| Error::os(Operation::Read, path, source))?;
            let pid = std::process::id();
            write_pid(&file, pid).map_err(|source| Error::os(Operation::Write, path, source))?;
            return Ok(Self {
                file,
                path: path.to_owned(),
                pid,
                previous,
            });
        }
    }

    /// The pid of the running process holding the pidfile at `path`, if any.
    ///
    /// `Ok(None)` when there is no file, nobody holds it, or the holder has
    /// not written its pid yet. The probe takes a shared lock for a moment;
    /// [`create`](Self::create) waits that moment out.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create), except [`Error::AlreadyRunning`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("fw-doc-holder-{}.pid", std::process::id()));
    /// use forkwise_lock::Pidfile;
    ///
    /// assert_eq!(Pidfile::holder(&path)?, None);
    /// let pidfile = Pidfile::create(&path)?;
    /// assert_eq!(Pidfile::holder(&path)?, Some(std::process::id()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn holder(path: impl AsRef<Path>) -> Result<Option<u32>> {
        let path = path.as_ref();
        let file = match open_pidfile(path, false) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(Error::open(path, source)),
        };
        let free = sys::retry_eintr(|| sys::flock(file.as_fd(), Mode::Shared, false))
            .map_err(|source| Error::os(Operation::Lock, path, source))?;
        if free {
            return Ok(None); // closing `file` releases the probe's lock
        }
        read_pid_patiently(&file, path)
    }

    /// The path of the pidfile.
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("fw-doc-ppath-{}.pid", std::process::id()));
    /// assert_eq!(forkwise_lock::Pidfile::create(&path)?.path(), path);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pid written in the file: the process that created this `Pidfile`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("fw-doc-ppid-{}.pid", std::process::id()));
    /// assert_eq!(forkwise_lock::Pidfile::create(&path)?.pid(), std::process::id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The pid found in the file when it was taken over from a process that
    /// had died, if the file held one.
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("fw-doc-prev-{}.pid", std::process::id()));
    /// assert_eq!(forkwise_lock::Pidfile::create(&path)?.previous_pid(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn previous_pid(&self) -> Option<u32> {
        self.previous
    }

    /// Removes the pidfile and releases the lock, returning any error.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with [`Operation::Remove`] if the file could not be removed.
    ///
    /// # Examples
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("fw-doc-prel-{}.pid", std::process::id()));
    /// let pidfile = forkwise_lock::Pidfile::create(&path)?;
    /// pidfile.release()?;
    /// assert!(!path.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release(mut self) -> Result<()> {
        let result = self.remove_if_owner();
        self.pid = NO_OWNER; // so that `drop` does not remove it again
        result
    }

    fn remove_if_owner(&self) -> Result<()> {
        if std::process::id() != self.pid {
            return Ok(()); // a forked child: the file is its parent's
        }
        // Unlink while still locked, so no one can take over a file that is
        // about to vanish (they check `is_at_path` after locking).
        match std::fs::remove_file(&self.path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => {
                Err(Error::os(Operation::Remove, &self.path, err))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        // The error of an implicit removal has no one to go to; `release` returns it.
        let _ = self.remove_if_owner();
    }
}

fn open_pidfile(path: &Path, create: bool) -> io::Result<File> {
    // std adds O_CLOEXEC and retries EINTR.
    OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Takes the exclusive lock, riding out a momentary [`Pidfile::holder`] probe.
fn lock_patiently(file: &File, path: &Path) -> Result<bool> {
    let mut waited = Duration::ZERO;
    loop {
        let locked = sys::retry_eintr(|| sys::flock(file.as_fd(), Mode::Exclusive, false))
            .map_err(|source| Error::os(Operation::Lock, path, source))?;
        if locked || waited >= PATIENCE {
            return Ok(locked);
        }
        std::thread::sleep(STEP);
        waited += STEP;
    }
}

/// Whether `file` is still the file at `path` (same device and inode).
fn is_at_path(file: &File, path: &Path) -> Result<bool> {
    let stat = |result: io::Result<std::fs::Metadata>| {
        result.map_err(|source| Error::os(Operation::Stat, path, source))
    };
    let open = stat(file.metadata())?;
    match path.symlink_metadata() {
        Ok(there) => Ok(there.dev() == open.dev() && there.ino() == open.ino()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => stat(Err(err)).map(|_| false),
    }
}

/// The pid at the start of the file, if it holds one.
fn read_pid(mut file: &File) -> io::Result<Option<u32>> {
    let mut text = String::new();
    std::io::Seek::rewind(&mut file)?;
    file.take(64).read_to_string(&mut text)?;
    Ok(text.trim().parse().ok())
}

/// Reads the holder's pid, giving a holder that just locked time to write it.
fn read_pid_patiently(file: &File, path: &Path) -> Result<Option<u32>> {
    let mut waited = Duration::ZERO;
    loop {
        let pid = read_pid(file).map_err(|source| Error::os(Operation::Read, path, source))?;
        if pid.is_some() || waited >= PATIENCE {
            return Ok(pid);
        }
        std::thread::sleep(STEP);
        waited += STEP;
    }
}

fn write_pid(mut file: &File, pid: u32) -> io::Result<()> {
    file.set_len(0)?;
    std::io::Seek::rewind(&mut file)?;
    file.write_all(format!("{pid}\n").as_bytes())?;
    file.flush()
}
