//! [`Mutex`]: a lock shared by processes, a semaphore of one unit.

use std::fmt;
use std::time::Duration;

use crate::Key;
use crate::error::Result;
use crate::options::OpenOptions;
use crate::semaphore::{Semaphore, SemaphoreGuard};

/// A lock that at most one process holds at a time: a [`Semaphore`] of one
/// unit, with the names of std's `Mutex`.
///
/// It protects no data of its own (the data lives elsewhere: a
/// [`SharedSegment`](crate::SharedSegment), a file); it says who may touch
/// it. Like every semaphore of this crate it uses `SEM_UNDO`, so a holder
/// killed with `SIGKILL` unlocks it, and it is created the way
/// [Semaphore](Semaphore#creation) explains. It is not reentrant: locking
/// it twice in one process waits forever (or until the timeout).
///
/// ```
/// use forkwise_sysv::{Key, Mutex};
///
/// let mutex = Mutex::open(Key::private())?;
/// {
///     let _guard = mutex.lock()?;
///     assert!(mutex.try_lock()?.is_none(), "held");
/// }
/// assert!(mutex.try_lock()?.is_some(), "free again");
/// mutex.remove()?;
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
#[derive(Debug)]
pub struct Mutex {
    semaphore: Semaphore,
}

impl Mutex {
    /// Creates the one-unit semaphore set under `key`, or opens the existing
    /// one; mode `0600`.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::open`]; an existing set with more than one unit free
    /// (a semaphore, not a mutex) gives [`Error::CapacityMismatch`](crate::Error::CapacityMismatch).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// let mutex = Mutex::open(Key::private())?;
    /// # mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn open(key: impl Into<Key>) -> Result<Self> {
        Self::options().open(key)
    }

    /// Options for [`open`](OpenOptions::open): mode, exclusive creation,
    /// removal on drop, how long to wait for another creator.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// let mutex = Mutex::options().remove_on_drop(true).open(Key::private())?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn options() -> OpenOptions<Self> {
        OpenOptions::new()
    }

    /// Locks it if no one holds it; `Ok(None)` if someone does.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::try_acquire`].
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// let mutex = Mutex::open(Key::private())?;
    /// let guard = mutex.try_lock()?.expect("free");
    /// # drop(guard); mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn try_lock(&self) -> Result<Option<MutexGuard<'_>>> {
        Ok(self.semaphore.try_acquire()?.map(MutexGuard::new))
    }

    /// Locks it, waiting while another process holds it. Signals do not end
    /// the wait.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::acquire`]: [`Error::Removed`](crate::Error::Removed)
    /// if the mutex is removed, also while waiting.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// let mutex = Mutex::open(Key::private())?;
    /// let guard = mutex.lock()?;
    /// guard.unlock()?;
    /// # mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn lock(&self) -> Result<MutexGuard<'_>> {
        self.semaphore.acquire().map(MutexGuard::new)
    }

    /// Locks it, waiting at most `timeout`; `Ok(None)` if it stayed held.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::acquire_timeout`].
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// # use std::time::Duration;
    /// let mutex = Mutex::open(Key::private())?;
    /// let held = mutex.lock()?;
    /// assert!(mutex.lock_timeout(Duration::from_millis(5))?.is_none());
    /// # drop(held); mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn lock_timeout(&self, timeout: Duration) -> Result<Option<MutexGuard<'_>>> {
        Ok(self
            .semaphore
            .acquire_timeout(timeout)?
            .map(MutexGuard::new))
    }

    /// True if some process holds it now: a hint, not a promise.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::available`].
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// let mutex = Mutex::open(Key::private())?;
    /// let guard = mutex.lock()?;
    /// assert!(mutex.is_locked()?);
    /// # drop(guard); mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn is_locked(&self) -> Result<bool> {
        Ok(self.semaphore.available()? == 0)
    }

    /// The key the mutex was opened with.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// let mutex = Mutex::open(Key::private())?;
    /// assert!(mutex.key().is_private());
    /// # mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn key(&self) -> &Key {
        self.semaphore.key()
    }

    /// The semaphore set's identifier, as `ipcs -s` lists it.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// let mutex = Mutex::open(Key::private())?;
    /// assert!(mutex.id() >= 0);
    /// # mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "semid")]
    pub fn id(&self) -> i32 {
        self.semaphore.id()
    }

    /// True if this `open` created the set.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// let mutex = Mutex::open(Key::private())?;
    /// assert!(mutex.created());
    /// # mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.semaphore.created()
    }

    /// Removes the mutex from the system now; processes waiting for it wake
    /// with [`Error::Removed`](crate::Error::Removed).
    ///
    /// # Errors
    ///
    /// As [`Semaphore::remove`].
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// let mutex = Mutex::open(Key::private())?;
    /// mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "IPC_RMID")]
    pub fn remove(&self) -> Result<()> {
        self.semaphore.remove()
    }
}

impl OpenOptions<Mutex> {
    /// How long `open` waits for another process that is creating the
    /// mutex to initialise it (default 5 s); see [Creation](Semaphore#creation).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// # use std::time::Duration;
    /// let mutex = Mutex::options()
    ///     .init_timeout(Duration::from_millis(100))
    ///     .open(Key::private())?;
    /// # mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn init_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.options.init_timeout = timeout;
        self
    }

    /// Creates or opens the mutex under `key`, as these options say.
    ///
    /// # Errors
    ///
    /// As [`Mutex::open`], and [`Error::AlreadyExists`](crate::Error::AlreadyExists) /
    /// [`Error::NotFound`](crate::Error::NotFound) for
    /// [`exclusive`](Self::exclusive) / [`create(false)`](Self::create).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// let mutex = Mutex::options().mode(0o600).open(Key::private())?;
    /// # mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn open(&self, key: impl Into<Key>) -> Result<Mutex> {
        Ok(Mutex {
            semaphore: Semaphore::open_with(key.into(), 1, &self.options)?,
        })
    }
}

/// A held [`Mutex`], unlocked when dropped (in the process that locked it;
/// a forked child's copy is inert).
///
/// ```
/// use forkwise_sysv::{Key, Mutex};
///
/// let mutex = Mutex::options().remove_on_drop(true).open(Key::private())?;
/// {
///     let _guard = mutex.lock()?;
///     assert!(mutex.is_locked()?);
/// } // dropped: unlocked
/// assert!(!mutex.is_locked()?);
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
#[must_use = "the mutex is unlocked as soon as the guard is dropped"]
pub struct MutexGuard<'a> {
    unit: SemaphoreGuard<'a>,
}

impl<'a> MutexGuard<'a> {
    fn new(unit: SemaphoreGuard<'a>) -> Self {
        Self { unit }
    }

    /// Unlocks now, returning the error if that failed.
    ///
    /// # Errors
    ///
    /// As [`SemaphoreGuard::release`].
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Mutex};
    /// let mutex = Mutex::open(Key::private())?;
    /// mutex.lock()?.unlock()?;
    /// # mutex.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn unlock(self) -> Result<()> {
        self.unit.release()
    }
}

impl fmt::Debug for MutexGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexGuard")
            .field("unit", &self.unit)
            .finish()
    }
}
