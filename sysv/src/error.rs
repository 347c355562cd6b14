//! The crate's one error type.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::Key;

/// The kind of SysV object an error is about.
///
/// ```
/// use forkwise_sysv::{Error, Key, Object, Queue};
///
/// let queue = Queue::open(Key::private())?;
/// queue.remove()?;
/// match queue.stats() {
///     Err(Error::Removed { object, .. }) => assert_eq!(object, Object::Queue),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Object {
    /// A semaphore set ([`Semaphore`](crate::Semaphore), [`Mutex`](crate::Mutex)).
    Semaphore,
    /// A message queue ([`Queue`](crate::Queue)).
    Queue,
    /// A shared memory segment ([`SharedSegment`](crate::SharedSegment)).
    Segment,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Semaphore => "semaphore set",
            Self::Queue => "message queue",
            Self::Segment => "shared memory segment",
        })
    }
}

/// What the crate was doing when something failed.
///
/// ```
/// use forkwise_sysv::{Error, Key, Operation, Semaphore};
///
/// let semaphore = Semaphore::open(Key::private(), 1)?;
/// semaphore.remove()?;
/// match semaphore.acquire() {
///     Err(Error::Removed { operation, .. }) => assert_eq!(operation, Operation::Acquire),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Creating or opening the object (`semget`, `msgget`, `shmget`).
    Open,
    /// Setting a new semaphore's value (`semctl(SETVAL)`, `semop`).
    Initialise,
    /// Reading the object's status (`semctl`, `msgctl`, `shmctl` with
    /// `IPC_STAT`, `GETVAL`, `GETNCNT`, `IPC_INFO`).
    Stat,
    /// Taking units of a semaphore (`semop`, `semtimedop`).
    Acquire,
    /// Giving units back (`semop`).
    Release,
    /// Sending a message (`msgsnd`).
    Send,
    /// Receiving a message (`msgrcv`).
    Receive,
    /// Attaching a segment (`shmat`).
    Attach,
    /// Reading or writing a segment's bytes.
    Access,
    /// Removing the object (`IPC_RMID`).
    Remove,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Open => "open",
            Self::Initialise => "initialise",
            Self::Stat => "read the status of",
            Self::Acquire => "acquire",
            Self::Release => "release",
            Self::Send => "send to",
            Self::Receive => "receive from",
            Self::Attach => "attach",
            Self::Access => "access",
            Self::Remove => "remove",
        })
    }
}

/// Everything that can go wrong in this crate. Each variant names the key
/// (and, for a [`FileKey`](crate::FileKey), its path and project id).
///
/// Converts into [`io::Error`], so `?` works in functions returning
/// `io::Result`:
///
/// ```
/// use forkwise_sysv::{Key, Semaphore};
///
/// fn take_a_unit(semaphore: &Semaphore) -> std::io::Result<u32> {
///     let _unit = semaphore.acquire()?;
///     Ok(semaphore.available()?)
/// }
///
/// let semaphore = Semaphore::open(Key::private(), 2)?;
/// assert_eq!(take_a_unit(&semaphore)?, 1);
/// semaphore.remove()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A system call on the object failed.
    Os {
        /// What was being done.
        operation: Operation,
        /// The kind of object.
        object: Object,
        /// Its key.
        key: Key,
        /// The error the OS returned.
        source: io::Error,
    },
    /// The object has been removed, by this process, another one, or
    /// `ipcrm(1)`; a process waiting on it is woken with this error.
    Removed {
        /// What was being done.
        operation: Operation,
        /// The kind of object.
        object: Object,
        /// Its key.
        key: Key,
        /// The error the OS returned (`EIDRM`, or `EINVAL` for an identifier
        /// that no longer exists).
        source: io::Error,
    },
    /// [`exclusive`](crate::OpenOptions::exclusive) was asked, and an object
    /// with this key exists.
    AlreadyExists {
        /// The kind of object.
        object: Object,
        /// Its key.
        key: Key,
    },
    /// [`create(false)`](crate::OpenOptions::create) was asked, and no
    /// object with this key exists.
    NotFound {
        /// The kind of object.
        object: Object,
        /// Its key.
        key: Key,
    },
    /// `ftok(3)` could not make a key of the path (it does not exist, say).
    FileKey {
        /// The path.
        path: PathBuf,
        /// The project id.
        project: u8,
        /// The error the OS returned.
        source: io::Error,
    },
    /// `ftok(3)` made `IPC_PRIVATE` (0) of the path and project id, a key
    /// that cannot name a shared object.
    PrivateFileKey {
        /// The path.
        path: PathBuf,
        /// The project id.
        project: u8,
    },
    /// [`FileKey::next`](crate::FileKey::next) was called on project id 255.
    ProjectsExhausted {
        /// The path.
        path: PathBuf,
    },
    /// A semaphore's capacity must be between 1 and 32767 (`SEMVMX`).
    InvalidCapacity {
        /// The key.
        key: Key,
        /// The capacity asked for.
        max: u32,
    },
    /// The semaphore set under this key has more units free than the
    /// capacity asked for, so it was created with another capacity.
    CapacityMismatch {
        /// The key.
        key: Key,
        /// The capacity asked for.
        max: u32,
        /// The units the set has free.
        available: u32,
    },
    /// The semaphore set under this key does not have exactly one
    /// semaphore: another program made it for another purpose.
    SetSize {
        /// The key.
        key: Key,
        /// The number of semaphores in the set.
        semaphores: u64,
    },
    /// The semaphore set under this key was not initialised within the wait:
    /// its creator died before initialising it, or another program created
    /// it without ever operating on it.
    Uninitialised {
        /// The key.
        key: Key,
        /// The set's identifier, for `ipcrm -s`.
        id: i32,
        /// How long `open` waited.
        waited: Duration,
    },
    /// A message type must be between 1 and `i64::MAX` (and, in a selector,
    /// not 0 unless it is [`Selector::Any`](crate::Selector::Any)).
    InvalidMessageType {
        /// The queue's key.
        key: Key,
        /// The type given.
        mtype: i64,
    },
    /// A message is larger than the queue takes in one message (or, when
    /// receiving, than the system's limit on one message, which must have
    /// been lowered since it was sent); nothing was sent or taken.
    MessageTooLarge {
        /// The queue's key.
        key: Key,
        /// The size of the message text, in bytes; `None` when receiving
        /// (the kernel does not tell).
        size: Option<usize>,
        /// The largest message text allowed, in bytes.
        limit: usize,
    },
    /// A value could not be encoded into a message.
    Encode {
        /// The queue's key.
        key: Key,
        /// What the codec reported.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A received message could not be decoded into the type asked for. The
    /// message has left the queue; its bytes are kept here.
    Decode {
        /// The queue's key.
        key: Key,
        /// The message's type.
        mtype: i64,
        /// The message's text, as received.
        bytes: Vec<u8>,
        /// What the codec reported.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A segment's size must be at least 1 byte and within the system's limit.
    InvalidSize {
        /// The key.
        key: Key,
        /// The size asked for.
        size: usize,
    },
    /// The segment under this key exists with another size.
    SizeMismatch {
        /// The key.
        key: Key,
        /// The size asked for.
        expected: usize,
        /// The segment's size.
        actual: usize,
    },
    /// A read, write or atomic view reaches past the end of the segment.
    OutOfBounds {
        /// The key.
        key: Key,
        /// The first byte asked for.
        offset: usize,
        /// The number of bytes asked for.
        len: usize,
        /// The segment's size.
        size: usize,
    },
    /// An atomic view's offset is not a multiple of its alignment.
    Misaligned {
        /// The key.
        key: Key,
        /// The offset asked for.
        offset: usize,
        /// The alignment the atomic type needs.
        align: usize,
    },
}

impl Error {
    /// The key this error is about, if it got as far as having one.
    ///
    /// ```
    /// use forkwise_sysv::{Key, Queue};
    ///
    /// let queue = Queue::open(Key::private())?;
    /// let err = queue.send(0, "type 0 is not a message type").unwrap_err();
    /// assert!(err.key().is_some_and(Key::is_private));
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn key(&self) -> Option<&Key> {
        match self {
            Self::Os { key, .. }
            | Self::Removed { key, .. }
            | Self::AlreadyExists { key, .. }
            | Self::NotFound { key, .. }
            | Self::InvalidCapacity { key, .. }
            | Self::CapacityMismatch { key, .. }
            | Self::SetSize { key, .. }
            | Self::Uninitialised { key, .. }
            | Self::InvalidMessageType { key, .. }
            | Self::MessageTooLarge { key, .. }
            | Self::Encode { key, .. }
            | Self::Decode { key, .. }
            | Self::InvalidSize { key, .. }
            | Self::SizeMismatch { key, .. }
            | Self::OutOfBounds { key, .. }
            | Self::Misaligned { key, .. } => Some(key),
            Self::FileKey { .. } | Self::PrivateFileKey { .. } | Self::ProjectsExhausted { .. } => {
                None
            }
        }
    }

    /// True for [`Error::Removed`]: the object is gone.
    ///
    /// ```
    /// use forkwise_sysv::{Key, Mutex};
    ///
    /// let mutex = Mutex::open(Key::private())?;
    /// mutex.remove()?;
    /// assert!(mutex.lock().unwrap_err().is_removed());
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn is_removed(&self) -> bool {
        matches!(self, Self::Removed { .. })
    }
}

impl fmt::Display for Error {
    #[allow(clippy::too_many_lines, reason = "one short arm per variant")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Os {
                operation,
                object,
                key,
                source,
            } => write!(f, "cannot {operation} {object} {key}: {source}"),
            Self::Removed {
                operation,
                object,
                key,
                ..
            } => write!(
                f,
                "cannot {operation} {object} {key}: it has been removed (by `remove`, another process or ipcrm)"
            ),
            Self::AlreadyExists { object, key } => {
                write!(f, "cannot create {object} {key}: one exists already")
            }
            Self::NotFound { object, key } => {
                write!(f, "cannot open {object} {key}: there is none")
            }
            Self::FileKey {
                path,
                project,
                source,
            } => write!(
                f,
                "cannot make a key of {} (project {project}): {source}",
                path.display()
            ),
            Self::PrivateFileKey { path, project } => write!(
                f,
                "the key of {} (project {project}) comes out as IPC_PRIVATE (0), which cannot be shared; use another project id",
                path.display()
            ),
            Self::ProjectsExhausted { path } => write!(
                f,
                "no project id after 255 for {}: ftok uses 8 bits of it",
                path.display()
            ),
            Self::InvalidCapacity { key, max } => write!(
                f,
                "a semaphore holds 1 to 32767 units, not {max} (semaphore set {key})"
            ),
            Self::CapacityMismatch {
                key,
                max,
                available,
            } => write!(
                f,
                "semaphore set {key} exists with {available} units free, more than the {max} asked for: it was created with another capacity"
            ),
            Self::SetSize { key, semaphores } => write!(
                f,
                "semaphore set {key} has {semaphores} semaphores, not 1: another program made it for another purpose"
            ),
            Self::Uninitialised { key, id, waited } => write!(
                f,
                "semaphore set {key} was not initialised within {waited:?}: its creator may have died first; remove it with `ipcrm -s {id}`"
            ),
            Self::InvalidMessageType { key, mtype } => write!(
                f,
                "message type {mtype} is invalid for message queue {key}: types are 1 or more"
            ),
            Self::MessageTooLarge {
                key,
                size: Some(size),
                limit,
            } => write!(
                f,
                "a message of {size} bytes is larger than message queue {key} takes ({limit} bytes at most)"
            ),
            Self::MessageTooLarge {
                key,
                size: None,
                limit,
            } => write!(
                f,
                "the next message in message queue {key} is larger than the {limit} bytes a message may have now; it stays in the queue"
            ),
            Self::Encode { key, source } => {
                write!(
                    f,
                    "cannot encode a message for message queue {key}: {source}"
                )
            }
            Self::Decode {
                key,
                mtype,
                bytes,
                source,
            } => write!(
                f,
                "cannot decode a message of type {mtype} ({} bytes) from message queue {key}: {source}",
                bytes.len()
            ),
            Self::InvalidSize { key, size } => write!(
                f,
                "cannot create shared memory segment {key} of {size} bytes: the size must be at least 1 and within the system's limit"
            ),
            Self::SizeMismatch {
                key,
                expected,
                actual,
            } => write!(
                f,
                "shared memory segment {key} exists with {actual} bytes, not the {expected} asked for"
            ),
            Self::OutOfBounds {
                key,
                offset,
                len,
                size,
            } => write!(
                f,
                "{len} bytes at offset {offset} reach past the end of shared memory segment {key} ({size} bytes)"
            ),
            Self::Misaligned { key, offset, align } => write!(
                f,
                "offset {offset} of shared memory segment {key} is not a multiple of {align}, as the atomic type needs"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os { source, .. }
            | Self::Removed { source, .. }
            | Self::FileKey { source, .. } => Some(source),
            Self::Encode { source, .. } | Self::Decode { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::Os { source, .. } | Error::FileKey { source, .. } => source.kind(),
            Error::Removed { .. } | Error::NotFound { .. } => io::ErrorKind::NotFound,
            Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
            Error::Uninitialised { .. } => io::ErrorKind::TimedOut,
            Error::CapacityMismatch { .. }
            | Error::SetSize { .. }
            | Error::SizeMismatch { .. }
            | Error::Decode { .. } => io::ErrorKind::InvalidData,
            Error::PrivateFileKey { .. }
            | Error::ProjectsExhausted { .. }
            | Error::InvalidCapacity { .. }
            | Error::InvalidMessageType { .. }
            | Error::MessageTooLarge { .. }
            | Error::Encode { .. }
            | Error::InvalidSize { .. }
            | Error::OutOfBounds { .. }
            | Error::Misaligned { .. } => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, err)
    }
}

/// The result type of this crate.
///
/// ```
/// use forkwise_sysv::{Key, Semaphore};
///
/// fn slots() -> forkwise_sysv::Result<Semaphore> {
///     Semaphore::options().remove_on_drop(true).open(Key::private(), 4)
/// }
/// assert_eq!(slots()?.available()?, 4);
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
