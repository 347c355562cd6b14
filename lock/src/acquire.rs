//! The acquire loop shared by [`FileLock`](crate::FileLock) and
//! [`RangeLock`](crate::RangeLock), and the guard both return.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Operation, Result};
use crate::sys;

/// Whether a lock is held alone or together with other shared holders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Many holders at once, none exclusive (`LOCK_SH`, `F_RDLCK`).
    Shared,
    /// One holder, excluding every other (`LOCK_EX`, `F_WRLCK`).
    Exclusive,
}

/// How long an acquire may wait.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Try once.
    No,
    /// Block until acquired.
    Forever,
    /// Poll until acquired or the deadline passes.
    Until(Instant),
}

impl Wait {
    pub(crate) fn timeout(timeout: Duration) -> Self {
        Instant::now()
            .checked_add(timeout)
            .map_or(Self::Forever, Self::Until)
    }
}

/// The first and the longest pause between attempts of a timed acquire.
///
/// Neither `flock(2)` nor `fcntl(2)` takes a timeout, so a timed acquire polls;
/// the pause doubles from the first to the longest, which bounds both the
/// extra latency after a release and the lateness of a timeout to about 1 ms.
const FIRST_PAUSE: Duration = Duration::from_micros(20);
const LONGEST_PAUSE: Duration = Duration::from_millis(1);

mod private {
    use super::{File, Mode, Path, io};

    /// What a lock type does in one system call. Sealed: only this crate's
    /// lock types implement it.
    pub trait Target {
        fn lock_once(&self, mode: Mode, block: bool) -> io::Result<bool>;
        fn unlock(&self) -> io::Result<()>;
        fn file(&self) -> &File;
        fn path(&self) -> &Path;
    }
}
pub(crate) use private::Target;

/// A lock type of this crate: [`FileLock`](crate::FileLock) or
/// [`RangeLock`](crate::RangeLock). Sealed; it names the type a
/// [`LockGuard`] guards.
pub trait Lockable: private::Target {}
impl<T: private::Target> Lockable for T {}

/// Takes `target` in `mode`, waiting as `wait` says; `Ok(None)` if it did not.
pub(crate) fn acquire<L: Lockable>(
    target: &mut L,
    mode: Mode,
    wait: Wait,
) -> Result<Option<LockGuard<'_, L>>> {
    let acquired = match wait {
        Wait::No => sys::retry_eintr(|| target.lock_once(mode, false)),
        Wait::Forever => sys::retry_eintr(|| target.lock_once(mode, true)),
        Wait::Until(deadline) => poll_until(&*target, mode, deadline),
    };
    match acquired {
        Ok(true) => Ok(Some(LockGuard {
            generation: sys::fork_generation(),
            lock: target,
            mode,
        })),
        Ok(false) => Ok(None),
        Err(source) => Err(Error::os(Operation::Lock, target.path(), source)),
    }
}

/// Takes `target` in `mode`, blocking until it is held: the path of every
/// blocking acquire, kept apart so that it returns the guard itself.
#[inline]
pub(crate) fn acquire_blocking<L: Lockable>(
    target: &mut L,
    mode: Mode,
) -> Result<LockGuard<'_, L>> {
    match sys::retry_eintr(|| target.lock_once(mode, true)) {
        Ok(_) => Ok(LockGuard {
            generation: sys::fork_generation(),
            lock: target,
            mode,
        }),
        Err(source) => Err(lock_failed(target.path(), source)),
    }
}

/// Builds the error of a failed lock; out of the hot path.
#[cold]
fn lock_failed(path: &Path, source: io::Error) -> Error {
    Error::os(Operation::Lock, path, source)
}

fn poll_until(target: &impl Target, mode: Mode, deadline: Instant) -> io::Result<bool> {
    let mut pause = FIRST_PAUSE;
    loop {
        if sys::retry_eintr(|| target.lock_once(mode, false))? {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        // `thread::sleep` resumes after EINTR for the time that remains.
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// A held lock; dropping it releases the lock.
///
/// Returned by every acquire of [`FileLock`](crate::FileLock) and
/// [`RangeLock`](crate::RangeLock). Use [`release`](Self::release) to see the
/// error of the release; `drop` ignores it.
///
/// # Fork
///
/// A lock held through an open file description is shared with children
/// forked while it is held. A child that drops its copy of the guard does not
/// release the parent's lock; only the process that acquired it releases it.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, L: Lockable> {
    lock: &'a mut L,
    mode: Mode,
    generation: u64,
}

impl<L: Lockable> LockGuard<'_, L> {
    /// The mode this guard holds.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The lock file, for reading or writing under the lock.
    pub fn file(&self) -> &File {
        self.lock.file()
    }

    /// Releases the lock now, returning the error if the release failed.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with [`Operation::Unlock`] if the OS refused the release.
    pub fn release(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        this.unlock_if_owner()
    }

    #[inline]
    fn unlock_if_owner(&self) -> Result<()> {
        if self.generation != sys::fork_generation() {
            return Ok(());
        }
        self.lock
            .unlock()
            .map_err(|source| Error::os(Operation::Unlock, self.lock.path(), source))
    }
}

impl<L: Lockable> Drop for LockGuard<'_, L> {
    #[inline]
    fn drop(&mut self) {
        // Closing the file would release it too; an error here has no one to go to.
        let _ = self.unlock_if_owner();
    }
}

impl<L: Lockable> fmt::Debug for LockGuard<'_, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("path", &self.lock.path())
            .field("mode", &self.mode)
            .finish()
    }
}

/// Writes the six acquire methods of a lock type; `$what` names what is
/// locked ("the file", "the range") and `$new` is a doc-test expression that
/// builds the lock from `path`.
macro_rules! acquire_methods {
    ($what:literal, $new:literal) => {
        #[doc = concat!("Takes ", $what, " exclusively, blocking until no other holder remains.")]
        ///
        /// Retries after signals (EINTR) until the lock is held.
        ///
        /// # Errors
        ///
        /// [`Error::Os`](crate::Error::Os) with [`Operation::Lock`](crate::Operation::Lock) if the OS refuses, for example `EDEADLK`.
        ///
        /// # Examples
        ///
        /// ```
        /// # let path = std::env::temp_dir().join(format!("fw-doc-{}-{}.lock", std::process::id(), line!()));
        #[doc = concat!("let mut lock = ", $new, "?;")]
        /// let guard = lock.acquire()?;
        /// assert_eq!(guard.mode(), forkwise_lock::Mode::Exclusive);
        /// # drop(guard); std::fs::remove_file(&path)?;
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        #[doc(alias = "lock")]
        #[inline]
        pub fn acquire(&mut self) -> Result<LockGuard<'_, Self>> {
            self.acquire_in($crate::Mode::Exclusive)
        }

        #[doc = concat!("Takes ", $what, " exclusively if no one else holds it; `Ok(None)` if someone does.")]
        ///
        /// # Errors
        ///
        /// [`Error::Os`](crate::Error::Os) with [`Operation::Lock`](crate::Operation::Lock) if the OS refuses.
        ///
        /// # Examples
        ///
        /// ```
        /// # let path = std::env::temp_dir().join(format!("fw-doc-{}-{}.lock", std::process::id(), line!()));
        #[doc = concat!("let mut lock = ", $new, "?;")]
        /// let guard = lock.try_acquire()?.expect("nobody else holds it");
        /// # drop(guard); std::fs::remove_file(&path)?;
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        #[doc(alias = "try_lock")]
        #[inline]
        pub fn try_acquire(&mut self) -> Result<Option<LockGuard<'_, Self>>> {
            self.try_in($crate::Mode::Exclusive, $crate::acquire::Wait::No)
        }

        #[doc = concat!("Takes ", $what, " exclusively, waiting at most `timeout`; `Ok(None)` if the time ran out.")]
        ///
        /// The OS has no timed lock call, so this polls with pauses growing
        /// to 1 ms: the lock is noticed, and the timeout honoured, within
        /// about a millisecond.
        ///
        /// # Errors
        ///
        /// [`Error::Os`](crate::Error::Os) with [`Operation::Lock`](crate::Operation::Lock) if the OS refuses.
        ///
        /// # Examples
        ///
        /// ```
        /// # use std::time::Duration;
        /// # let path = std::env::temp_dir().join(format!("fw-doc-{}-{}.lock", std::process::id(), line!()));
        #[doc = concat!("let mut lock = ", $new, "?;")]
        /// let guard = lock.acquire_timeout(Duration::from_millis(50))?;
        /// assert!(guard.is_some());
        /// # drop(guard); std::fs::remove_file(&path)?;
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn acquire_timeout(&mut self, timeout: std::time::Duration) -> Result<Option<LockGuard<'_, Self>>> {
            self.try_in($crate::Mode::Exclusive, $crate::acquire::Wait::timeout(timeout))
        }

        #[doc = concat!("Takes ", $what, " shared, blocking while an exclusive holder remains.")]
        ///
        /// Any number of shared holders coexist; an exclusive one excludes them all.
        ///
        /// # Errors
        ///
        /// [`Error::Os`](crate::Error::Os) with [`Operation::Lock`](crate::Operation::Lock) if the OS refuses.
        ///
        /// # Examples
        ///
        /// ```
        /// # let path = std::env::temp_dir().join(format!("fw-doc-{}-{}.lock", std::process::id(), line!()));
        #[doc = concat!("let mut reader = ", $new, "?;")]
        #[doc = concat!("let mut other = ", $new, "?;")]
        /// let a = reader.acquire_shared()?;
        /// let b = other.acquire_shared()?; // readers share
        /// # drop((a, b)); std::fs::remove_file(&path)?;
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        #[doc(alias = "read")]
        #[inline]
        pub fn acquire_shared(&mut self) -> Result<LockGuard<'_, Self>> {
            self.acquire_in($crate::Mode::Shared)
        }

        #[doc = concat!("Takes ", $what, " shared unless an exclusive holder has it; `Ok(None)` if one does.")]
        ///
        /// # Errors
        ///
        /// [`Error::Os`](crate::Error::Os) with [`Operation::Lock`](crate::Operation::Lock) if the OS refuses.
        ///
        /// # Examples
        ///
        /// ```
        /// # let path = std::env::temp_dir().join(format!("fw-doc-{}-{}.lock", std::process::id(), line!()));
        #[doc = concat!("let mut writer = ", $new, "?;")]
        #[doc = concat!("let mut reader = ", $new, "?;")]
        /// let held = writer.acquire()?;
        /// assert!(reader.try_acquire_shared()?.is_none());
        /// # drop(held); std::fs::remove_file(&path)?;
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn try_acquire_shared(&mut self) -> Result<Option<LockGuard<'_, Self>>> {
            self.try_in($crate::Mode::Shared, $crate::acquire::Wait::No)
        }

        #[doc = concat!("Takes ", $what, " shared, waiting at most `timeout`; `Ok(None)` if the time ran out.")]
        ///
        /// Polls as [`acquire_timeout`](Self::acquire_timeout) does.
        ///
        /// # Errors
        ///
        /// [`Error::Os`](crate::Error::Os) with [`Operation::Lock`](crate::Operation::Lock) if the OS refuses.
        ///
        /// # Examples
        ///
        /// ```
        /// # use std::time::Duration;
        /// # let path = std::env::temp_dir().join(format!("fw-doc-{}-{}.lock", std::process::id(), line!()));
        #[doc = concat!("let mut writer = ", $new, "?;")]
        #[doc = concat!("let mut reader = ", $new, "?;")]
        /// let held = writer.acquire()?;
        /// assert!(reader.acquire_shared_timeout(Duration::from_millis(5))?.is_none());
        /// # drop(held); std::fs::remove_file(&path)?;
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn acquire_shared_timeout(&mut self, timeout: std::time::Duration) -> Result<Option<LockGuard<'_, Self>>> {
            self.try_in($crate::Mode::Shared, $crate::acquire::Wait::timeout(timeout))
        }

        fn try_in(&mut self, mode: $crate::Mode, wait: $crate::acquire::Wait) -> Result<Option<LockGuard<'_, Self>>> {
            $crate::acquire::acquire(self, mode, wait)
        }

        #[inline]
        fn acquire_in(&mut self, mode: $crate::Mode) -> Result<LockGuard<'_, Self>> {
            $crate::acquire::acquire_blocking(self, mode)
        }
    };
}
pub(crate) use acquire_methods;
