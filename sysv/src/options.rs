//! [`OpenOptions`]: how an object is created or opened.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

/// How to open (and maybe create) an object of type `T`: a [`Semaphore`],
/// [`Mutex`], [`Queue`] or [`SharedSegment`]. Get one from that type's
/// `options()`; finish with its `open`.
///
/// By default `open` creates the object if there is none, with mode `0600`
/// (only this user can use it), and opens it if there is one; nothing is
/// removed implicitly.
///
/// ```
/// use forkwise_sysv::{Key, Queue};
///
/// let queue = Queue::options()
///     .mode(0o640)              // the group may read
///     .exclusive(true)          // fail if it exists
///     .remove_on_drop(true)     // this process created it: remove it at drop
///     .open(Key::private())?;
/// assert!(queue.created());
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
///
/// [`Semaphore`]: crate::Semaphore
/// [`Mutex`]: crate::Mutex
/// [`Queue`]: crate::Queue
/// [`SharedSegment`]: crate::SharedSegment
pub struct OpenOptions<T> {
    pub(crate) options: Options,
    kind: PhantomData<fn() -> T>,
}

/// The settings, independent of the object type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    pub(crate) mode: u16,
    pub(crate) create: bool,
    pub(crate) exclusive: bool,
    pub(crate) remove_on_drop: bool,
    pub(crate) init_timeout: Duration,
}

impl<T> OpenOptions<T> {
    /// The defaults: create if missing, mode `0600`, not exclusive, no
    /// removal on drop, wait up to 5 seconds for a semaphore's creator.
    pub(crate) fn new() -> Self {
        Self {
            options: Options {
                mode: 0o600,
                create: true,
                exclusive: false,
                remove_on_drop: false,
                init_timeout: Duration::from_secs(5),
            },
            kind: PhantomData,
        }
    }

    /// The permission bits of a created object (the low nine bits, as
    /// `chmod` takes them; default `0o600`). SysV objects have no execute
    /// permission; the `x` bits are kept but mean nothing. An existing
    /// object keeps its mode.
    ///
    /// ```
    /// let options = forkwise_sysv::Mutex::options().mode(0o660).clone();
    /// # drop(options);
    /// ```
    pub fn mode(&mut self, mode: u16) -> &mut Self {
        self.options.mode = mode & 0o777;
        self
    }

    /// Whether `open` may create the object (default `true`). With `false`,
    /// `open` fails with [`Error::NotFound`](crate::Error::NotFound) when
    /// there is none: what a client that must not create should ask.
    ///
    /// ```
    /// use forkwise_sysv::{Error, Key, Queue};
    ///
    /// let missing = Queue::options().create(false).open(Key::private());
    /// assert!(matches!(missing, Err(Error::NotFound { .. })));
    /// ```
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.options.create = create;
        self
    }

    /// Whether `open` must create the object (default `false`). With
    /// `true`, `open` fails with
    /// [`Error::AlreadyExists`](crate::Error::AlreadyExists) when an object
    /// with the key exists (`IPC_EXCL`). Implies [`create(true)`](Self::create).
    ///
    /// ```
    /// use forkwise_sysv::{Key, Semaphore};
    ///
    /// let semaphore = Semaphore::options().exclusive(true).open(Key::private(), 1)?;
    /// assert!(semaphore.created());
    /// semaphore.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn exclusive(&mut self, exclusive: bool) -> &mut Self {
        self.options.exclusive = exclusive;
        if exclusive {
            self.options.create = true;
        }
        self
    }

    /// Whether to remove the object when the handle is dropped (default
    /// `false`).
    ///
    /// Only a handle whose `open` created the object removes it, and only in
    /// the process that opened it: a forked child dropping its copy of the
    /// handle never removes its parent's object, and a process that opened
    /// an existing object never removes it implicitly. [`remove`] removes
    /// explicitly, whoever created the object.
    ///
    /// ```
    /// use forkwise_sysv::{Key, SharedSegment};
    ///
    /// let segment = SharedSegment::options()
    ///     .remove_on_drop(true)
    ///     .open(Key::private(), 64)?;
    /// drop(segment); // removed
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    ///
    /// [`remove`]: crate::Semaphore::remove
    pub fn remove_on_drop(&mut self, remove: bool) -> &mut Self {
        self.options.remove_on_drop = remove;
        self
    }
}

impl<T> Clone for OpenOptions<T> {
    fn clone(&self) -> Self {
        Self {
            options: self.options,
            kind: PhantomData,
        }
    }
}

impl<T> fmt::Debug for OpenOptions<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenOptions")
            .field("type", &std::any::type_name::<T>())
            .field("mode", &format_args!("{:#o}", self.options.mode))
            .field("create", &self.options.create)
            .field("exclusive", &self.options.exclusive)
            .field("remove_on_drop", &self.options.remove_on_drop)
            .field("init_timeout", &self.options.init_timeout)
            .finish()
    }
}
