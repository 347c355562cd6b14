//! [`Semaphore`]: a counting semaphore shared by processes, and its guard.

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{Error, Object, Operation, Result};
use crate::handle::Handle;
use crate::options::{OpenOptions, Options};
use crate::sys::sem::Wait;
use crate::{Key, sys};

/// A semaphore holding up to `max` units, shared by every process that
/// opens its key: at most `max` holders at a time, across processes.
///
/// It is a SysV semaphore set of one semaphore, so C programs and Python's
/// `sysv_ipc` can share it: the value is the number of free units; take one
/// with `sem_op = -1`, give it back with `+1`, both with `SEM_UNDO`. (PHP's
/// `sysvsem` keeps sets of three semaphores of its own design; `open`
/// refuses such a set with [`Error::SetSize`].)
///
/// ```
/// use forkwise_sysv::{Key, Semaphore};
///
/// let slots = Semaphore::open(Key::private(), 2)?;
/// let first = slots.acquire()?;
/// let second = slots.try_acquire()?.expect("one unit is still free");
/// assert!(slots.try_acquire()?.is_none(), "both units are held");
/// drop(first);
/// assert_eq!(slots.available()?, 1);
/// # drop(second);
/// slots.remove()?;
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
///
/// # Units come back
///
/// Every operation uses `SEM_UNDO`: when a process ends, however it ends
/// (`SIGKILL` included), the kernel gives back the units it still held.
/// The undo record belongs to the process that took the units and is not
/// inherited by `fork`: a child's copy of a [`SemaphoreGuard`] is inert
/// (dropping it gives nothing back), and the parent's units stay held until
/// the parent releases them or ends.
///
/// # Creation
///
/// A new SysV semaphore has no defined value until someone sets it, so a
/// process that opened the set between another's `semget` and its
/// initialisation could take units that do not exist. `open` avoids this as
/// W. Richard Stevens taught: the creator is whoever's `semget` with
/// `IPC_EXCL` succeeds; it sets the value and then runs one operation, which
/// stamps the set's `sem_otime`; every other opener waits until `sem_otime`
/// is non-zero (at most [`init_timeout`](OpenOptions::init_timeout), 5 s by
/// default) before it uses the set, and fails with [`Error::Uninitialised`]
/// if that never happens. Another program that creates the set must follow
/// the same protocol: set the value, then run one operation (with Python's
/// `sysv_ipc`, an `acquire()` and a `release()` right after creating it).
///
/// # Capacity of an existing set
///
/// The kernel records a set's free units, not the capacity it was created
/// with. The process that creates the set fixes its capacity; `max` given to
/// a later `open` is checked as far as the kernel allows:
///
/// - a set with more units free than `max` was certainly created with a
///   larger capacity: `open` fails with [`Error::CapacityMismatch`];
/// - a set created with a smaller capacity looks like one whose units are
///   partly held, and is opened; [`max`](Self::max) then reports the `max`
///   asked for, not the set's.
///
/// [`created`](Self::created) says whether this handle created the set
/// (and so fixed its capacity). To be sure no stale set from an earlier run
/// with another capacity is used, remove sets when done (see
/// [`remove_on_drop`](OpenOptions::remove_on_drop)) or open with
/// [`exclusive`](OpenOptions::exclusive).
#[doc(alias = "semget")]
#[doc(alias = "semop")]
#[derive(Debug)]
pub struct Semaphore {
    handle: Handle,
    max: u32,
}

/// The first and the longest pause while an opener waits for the creator
/// to initialise a set: creators take microseconds, so start short.
const FIRST_PAUSE: Duration = Duration::from_micros(10);
const LONGEST_PAUSE: Duration = Duration::from_millis(1);

impl Semaphore {
    /// Creates the semaphore set under `key` holding `max` units, or opens
    /// the existing one; mode `0600`. See [`Semaphore::options`] for other
    /// modes, exclusive creation and removal on drop.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCapacity`] unless `max` is 1 to 32767;
    /// [`Error::CapacityMismatch`], [`Error::SetSize`] or
    /// [`Error::Uninitialised`] if the existing set does not fit (see the
    /// [type docs](Self)); [`Error::Os`] if the OS refuses (`EACCES` for a
    /// set of another user, `ENOSPC` when the system's table is full).
    ///
    /// ```
    /// use forkwise_sysv::{Key, Semaphore};
    ///
    /// let semaphore = Semaphore::open(Key::private(), 3)?;
    /// assert_eq!(semaphore.available()?, 3);
    /// semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn open(key: impl Into<Key>, max: u32) -> Result<Self> {
        Self::options().open(key, max)
    }

    /// Options for [`open`](OpenOptions::open): mode, exclusive creation,
    /// removal on drop, how long to wait for another creator.
    ///
    /// ```
    /// use forkwise_sysv::{Key, Semaphore};
    ///
    /// let semaphore = Semaphore::options()
    ///     .mode(0o660)
    ///     .remove_on_drop(true)
    ///     .open(Key::private(), 4)?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn options() -> OpenOptions<Self> {
        OpenOptions::new()
    }

    pub(crate) fn open_with(key: Key, max: u32, options: &Options) -> Result<Self> {
        let Some(value) = u16::try_from(max)
            .ok()
            .filter(|value| (1..=sys::sem::MAX_VALUE).contains(value))
        else {
            return Err(Error::InvalidCapacity { key, max });
        };
        let handle = Handle::open(
            Object::Semaphore,
            key,
            options,
            sys::sem::create,
            sys::sem::open,
        )?;
        let semaphore = Self { handle, max };
        if semaphore.handle.created() {
            if let Err(source) = sys::sem::initialise(semaphore.id(), value) {
                let err = semaphore.handle.error(Operation::Initialise, source);
                // A set that was never initialised must not stay behind.
                let _ = semaphore.handle.remove();
                return Err(err);
            }
        } else {
            semaphore.check_existing(options.init_timeout)?;
        }
        Ok(semaphore)
    }

    /// Waits until the set's creator has initialised it, then checks that
    /// it fits: one semaphore, no more than `max` units free.
    fn check_existing(&self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let mut pause = FIRST_PAUSE;
        loop {
            let status = sys::sem::status(self.id())
                .map_err(|source| self.handle.error(Operation::Open, source))?;
            if status.semaphores != 1 {
                return Err(Error::SetSize {
                    key: self.key().clone(),
                    semaphores: status.semaphores,
                });
            }
            if status.operated {
                break;
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(Error::Uninitialised {
                    key: self.key().clone(),
                    id: self.id(),
                    waited,
                });
            }
            // `thread::sleep` resumes after EINTR for the time that remains.
            std::thread::sleep(pause.min(timeout.saturating_sub(waited)));
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
        let available = self.available()?;
        if available > self.max {
            return Err(Error::CapacityMismatch {
                key: self.key().clone(),
                max: self.max,
                available,
            });
        }
        Ok(())
    }

    /// Takes a unit if one is free; `Ok(None)` if all are held.
    ///
    /// # Errors
    ///
    /// [`Error::Removed`] if the set has been removed; [`Error::Os`] with
    /// [`Operation::Acquire`] if the OS refuses.
    ///
    /// ```
    /// use forkwise_sysv::{Key, Semaphore};
    ///
    /// let semaphore = Semaphore::open(Key::private(), 1)?;
    /// let held = semaphore.try_acquire()?;
    /// assert!(held.is_some());
    /// assert!(semaphore.try_acquire()?.is_none());
    /// # drop(held);
    /// semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "allocate")]
    #[doc(alias = "IPC_NOWAIT")]
    pub fn try_acquire(&self) -> Result<Option<SemaphoreGuard<'_>>> {
        self.take(Wait::No)
    }

    /// Takes a unit, waiting until one is free.
    ///
    /// Signals do not end the wait: `semop(2)` fails with EINTR whenever a
    /// handler runs (even one installed with `SA_RESTART`), and the wait is
    /// resumed.
    ///
    /// # Errors
    ///
    /// [`Error::Removed`] if the set is removed, also while waiting;
    /// [`Error::Os`] with [`Operation::Acquire`] if the OS refuses.
    ///
    /// ```
    /// use forkwise_sysv::{Key, Semaphore};
    ///
    /// let semaphore = Semaphore::open(Key::private(), 1)?;
    /// let guard = semaphore.acquire()?;
    /// // ... at most one process here ...
    /// guard.release()?;
    /// semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[inline]
    pub fn acquire(&self) -> Result<SemaphoreGuard<'_>> {
        self.take_blocking()
    }

    /// Takes a unit, waiting at most `timeout`; `Ok(None)` if none came free
    /// in time.
    ///
    /// Uses `semtimedop(2)`, so the unit is taken the moment it is free;
    /// signals do not shorten or lengthen the wait.
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// ```
    /// use forkwise_sysv::{Key, Semaphore};
    /// use std::time::Duration;
    ///
    /// let semaphore = Semaphore::open(Key::private(), 1)?;
    /// let held = semaphore.acquire()?;
    /// assert!(semaphore.acquire_timeout(Duration::from_millis(10))?.is_none());
    /// drop(held);
    /// assert!(semaphore.acquire_timeout(Duration::from_millis(10))?.is_some());
    /// semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "semtimedop")]
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<Option<SemaphoreGuard<'_>>> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.take(Wait::Until(deadline)),
            None => self.take_blocking().map(Some),
        }
    }

    #[inline]
    fn take_blocking(&self) -> Result<SemaphoreGuard<'_>> {
        let guard = self.take(Wait::Forever)?;
        Ok(guard.expect("a blocking semop returns only once the unit is taken"))
    }

    #[inline]
    fn take(&self, wait: Wait) -> Result<Option<SemaphoreGuard<'_>>> {
        let taken = sys::retry_eintr(|| sys::sem::change(self.id(), -1, wait))
            .map_err(|source| self.handle.error(Operation::Acquire, source))?;
        Ok(taken.then(|| SemaphoreGuard {
            semaphore: self,
            generation: sys::fork_generation(),
        }))
    }

    /// The units free now (`GETVAL`). Other processes may change it at
    /// any moment: a hint, not a promise.
    ///
    /// # Errors
    ///
    /// [`Error::Removed`] if the set is gone; [`Error::Os`] with
    /// [`Operation::Stat`] otherwise.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Semaphore};
    /// let semaphore = Semaphore::open(Key::private(), 3)?;
    /// let _one = semaphore.acquire()?;
    /// assert_eq!(semaphore.available()?, 2);
    /// # drop(_one); semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "GETVAL")]
    pub fn available(&self) -> Result<u32> {
        sys::sem::value(self.id()).map_err(|source| self.handle.error(Operation::Stat, source))
    }

    /// The processes waiting for a unit now (`GETNCNT`).
    ///
    /// # Errors
    ///
    /// As [`available`](Self::available).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Semaphore};
    /// let semaphore = Semaphore::open(Key::private(), 1)?;
    /// assert_eq!(semaphore.waiters()?, 0);
    /// # semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "GETNCNT")]
    pub fn waiters(&self) -> Result<u32> {
        sys::sem::waiters(self.id()).map_err(|source| self.handle.error(Operation::Stat, source))
    }

    /// The capacity given to `open` (see [Capacity of an existing
    /// set](Self#capacity-of-an-existing-set)).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Semaphore};
    /// let semaphore = Semaphore::open(Key::private(), 3)?;
    /// assert_eq!(semaphore.max(), 3);
    /// # semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The key the set was opened with.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Semaphore};
    /// let semaphore = Semaphore::open(Key::private(), 1)?;
    /// assert!(semaphore.key().is_private());
    /// # semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn key(&self) -> &Key {
        self.handle.key()
    }

    /// The set's identifier, as `ipcs -s` lists it and `ipcrm -s` takes it.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Semaphore};
    /// let semaphore = Semaphore::open(Key::private(), 1)?;
    /// assert!(semaphore.id() >= 0);
    /// # semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "semid")]
    pub fn id(&self) -> i32 {
        self.handle.id()
    }

    /// True if this `open` created the set (and so fixed its capacity).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Semaphore};
    /// let semaphore = Semaphore::open(Key::private(), 1)?;
    /// assert!(semaphore.created());
    /// # semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.handle.created()
    }

    /// Removes the set from the system now (`IPC_RMID`). Processes waiting
    /// on it wake with [`Error::Removed`], and every later call on any
    /// handle of it fails with [`Error::Removed`].
    ///
    /// # Errors
    ///
    /// [`Error::Removed`] if it is gone already; [`Error::Os`] with
    /// [`Operation::Remove`] if the OS refuses (`EPERM`: only the creator,
    /// the owner or root may remove).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Semaphore};
    /// let semaphore = Semaphore::open(Key::private(), 1)?;
    /// semaphore.remove()?;
    /// assert!(semaphore.try_acquire().unwrap_err().is_removed());
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "IPC_RMID")]
    pub fn remove(&self) -> Result<()> {
        self.handle.remove()
    }

    /// Gives one unit back; what a guard does on drop.
    #[inline]
    fn give_back(&self) -> Result<()> {
        sys::retry_eintr(|| sys::sem::change(self.id(), 1, Wait::Forever))
            .map(drop)
            .map_err(|source| self.handle.error(Operation::Release, source))
    }
}

impl OpenOptions<Semaphore> {
    /// How long `open` waits for another process that is creating the set
    /// to initialise it (default 5 s); see [Creation](Semaphore#creation).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Semaphore};
    /// # use std::time::Duration;
    /// let semaphore = Semaphore::options()
    ///     .init_timeout(Duration::from_millis(100))
    ///     .open(Key::private(), 2)?;
    /// # semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn init_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.options.init_timeout = timeout;
        self
    }

    /// Creates or opens the set under `key` holding `max` units, as these
    /// options say.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::open`], and [`Error::AlreadyExists`] /
    /// [`Error::NotFound`] for [`exclusive`](Self::exclusive) /
    /// [`create(false)`](Self::create).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Semaphore};
    /// let semaphore = Semaphore::options().open(Key::private(), 2)?;
    /// # semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn open(&self, key: impl Into<Key>, max: u32) -> Result<Semaphore> {
        Semaphore::open_with(key.into(), max, &self.options)
    }
}

/// A unit of a [`Semaphore`], given back when dropped.
///
/// Use [`release`](Self::release) to see the error of giving it back;
/// `drop` ignores it. A guard copied into a forked child is inert there:
/// only the process that took the unit gives it back.
///
/// ```
/// use forkwise_sysv::{Key, Semaphore};
///
/// let semaphore = Semaphore::options().remove_on_drop(true).open(Key::private(), 2)?;
/// {
///     let _unit = semaphore.acquire()?;
///     assert_eq!(semaphore.available()?, 1);
/// } // dropped: given back
/// assert_eq!(semaphore.available()?, 2);
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
#[must_use = "the unit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    semaphore: &'a Semaphore,
    generation: u64,
}

impl SemaphoreGuard<'_> {
    /// Gives the unit back now, returning the error if that failed.
    ///
    /// # Errors
    ///
    /// [`Error::Removed`] if the set has been removed meanwhile;
    /// [`Error::Os`] with [`Operation::Release`] if the OS refuses.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Semaphore};
    /// let semaphore = Semaphore::open(Key::private(), 1)?;
    /// semaphore.acquire()?.release()?;
    /// assert_eq!(semaphore.available()?, 1);
    /// # semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn release(self) -> Result<()> {
        let this = std::mem::ManuallyDrop::new(self);
        this.give_back_if_taker()
    }

    #[inline]
    fn give_back_if_taker(&self) -> Result<()> {
        if self.generation != sys::fork_generation() {
            return Ok(());
        }
        self.semaphore.give_back()
    }
}

impl Drop for SemaphoreGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // If this fails, the set is gone or the kernel refused; the unit is
        // given back at process exit anyway (SEM_UNDO).
        let _ = self.give_back_if_taker();
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard")
            .field("key", self.semaphore.key())
            .field("id", &self.semaphore.id())
            .finish()
    }
}
