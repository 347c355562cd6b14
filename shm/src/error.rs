//! The crate's one error type.

use std::fmt;
use std::io;

use crate::header::RegionKind;
use crate::key::{OwnedKey, Version};

/// What the crate was doing when a system call failed.
///
/// ```
/// use forkwise_shm::{Error, Operation, Region};
///
/// let err = Region::create("fw-doc-op/bad", 8).unwrap_err(); // '/' in a name
/// assert!(matches!(err, Error::InvalidName { .. }));
/// // More bytes than a file offset can hold: refused before any allocation.
/// match Region::create(&format!("fw-doc-op-{}", std::process::id()), usize::MAX / 2) {
///     Err(Error::Os { operation, .. }) => assert_eq!(operation, Operation::Reserve),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Creating the file (`shm_open(3)` with `O_CREAT | O_EXCL`, `memfd_create(2)`).
    Create,
    /// Opening an existing region (`shm_open(3)`).
    Open,
    /// Reserving the region's memory (`posix_fallocate(3)`).
    Reserve,
    /// Mapping it (`mmap(2)`) or attaching it (`shmat(2)`).
    Map,
    /// Reading its size (`fstat(2)`).
    Stat,
    /// Removing its name (`shm_unlink(3)`).
    Unlink,
    /// Initialising, taking or repairing the store's lock (`pthread_mutex_*`).
    Lock,
    /// Releasing the store's lock.
    Unlock,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "create",
            Self::Open => "open",
            Self::Reserve => "reserve memory for",
            Self::Map => "map",
            Self::Stat => "stat",
            Self::Unlink => "unlink",
            Self::Lock => "lock",
            Self::Unlock => "unlock",
        })
    }
}

/// Everything that can go wrong in this crate; each variant names the
/// region (`/dev/shm/NAME`, "anonymous region", or a SysV key).
///
/// Converts into [`io::Error`], so `?` works in functions returning
/// `io::Result`:
///
/// ```
/// fn count(data: &forkwise_shm::SharedData) -> std::io::Result<u64> {
///     Ok(data.update("hits", |n: Option<u64>| n.unwrap_or(0) + 1)?)
/// }
/// let data = forkwise_shm::SharedData::anonymous(forkwise_shm::Capacity::new(4, 16))?;
/// assert_eq!(count(&data)?, 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A system call failed.
    Os {
        /// What was being done.
        operation: Operation,
        /// The region it was done to.
        region: String,
        /// The error the OS returned.
        source: io::Error,
    },
    /// A region name that `/dev/shm` cannot hold.
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// [`create`](crate::Region::create) found the name taken.
    AlreadyExists {
        /// The region.
        region: String,
        /// The `EEXIST` the OS returned.
        source: io::Error,
    },
    /// [`open`](crate::Region::open) found no region of that name.
    NotFound {
        /// The region.
        region: String,
        /// The `ENOENT` the OS returned.
        source: io::Error,
    },
    /// The memory does not start with this crate's magic number: it was not
    /// made by forkwise-shm.
    NotOurs {
        /// The region.
        region: String,
        /// The first 8 bytes found, as a little-endian number.
        found: u64,
    },
    /// The region's creator has not published its header within a second:
    /// it died while creating it, or the file is not a forkwise region.
    Unpublished {
        /// The region.
        region: String,
    },
    /// The region was made by a version of this crate with another memory
    /// layout.
    LayoutVersion {
        /// The region.
        region: String,
        /// The layout version in the region.
        found: u64,
        /// The layout version of this build.
        expected: u64,
    },
    /// The region holds another kind of structure.
    WrongKind {
        /// The region.
        region: String,
        /// The kind asked for.
        expected: RegionKind,
        /// The kind it holds.
        found: RegionKind,
    },
    /// A property of the region differs from what this process expects
    /// (its length, its element size, its lock layout).
    Mismatch {
        /// The region.
        region: String,
        /// The property.
        what: &'static str,
        /// What this process expects.
        expected: u64,
        /// What the region says.
        found: u64,
    },
    /// A size or capacity out of the supported range.
    InvalidCapacity {
        /// What is wrong.
        reason: String,
    },
    /// Every entry of the store is taken: nothing was overwritten or evicted.
    Full {
        /// The region.
        region: String,
        /// The store's capacity in entries.
        entries: usize,
    },
    /// A string key longer than the store's `key_bytes`.
    KeyTooLong {
        /// The region.
        region: String,
        /// The key's length in bytes.
        len: usize,
        /// The store's limit.
        max: usize,
    },
    /// A value whose encoding is longer than the store's `value_bytes`.
    ValueTooLarge {
        /// The region.
        region: String,
        /// The key it was for.
        key: OwnedKey,
        /// The encoding's length in bytes.
        len: usize,
        /// The store's limit.
        max: usize,
    },
    /// An array index at or past the array's length.
    OutOfRange {
        /// The region.
        region: String,
        /// The index given.
        index: usize,
        /// The array's length.
        len: usize,
    },
    /// A value could not be encoded.
    Encode {
        /// The region.
        region: String,
        /// The key it was for.
        key: OwnedKey,
        /// The codec's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A stored value could not be decoded as the type asked for.
    Decode {
        /// The region.
        region: String,
        /// The key it was read from.
        key: OwnedKey,
        /// The codec's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// [`compare_and_set`](crate::SharedData::compare_and_set) found another
    /// version than expected: some process changed the key meanwhile.
    Conflict {
        /// The region.
        region: String,
        /// The key.
        key: OwnedKey,
        /// The version the caller expected (`None`: absent).
        expected: Option<Version>,
        /// The version found (`None`: absent).
        found: Option<Version>,
    },
    /// A transaction tried to change more distinct keys than the store's
    /// [`Capacity::transaction_keys`](crate::Capacity::transaction_keys)
    /// (its undo journal is full): that change was refused, and returning
    /// the error from the transaction's closure rolls the rest back.
    TransactionTooLarge {
        /// The region.
        region: String,
        /// The limit.
        limit: usize,
    },
    /// The store's memory is inconsistent even under its lock: a program
    /// other than forkwise-shm wrote into it.
    Corrupt {
        /// The region.
        region: String,
    },
    /// A region offset that is not a multiple of the atomic's size.
    Misaligned {
        /// The region.
        region: String,
        /// The offset given.
        offset: usize,
        /// The alignment required.
        align: usize,
    },
    /// A write through the store inside one of its own transactions on the
    /// same thread (it would deadlock): use the transaction's methods.
    Reentrant {
        /// The region.
        region: String,
    },
}

impl Error {
    pub(crate) fn os(operation: Operation, region: &str, source: io::Error) -> Self {
        Self::Os {
            operation,
            region: region.to_owned(),
            source,
        }
    }

    /// The region this error is about, if it is about one.
    ///
    /// ```
    /// use forkwise_shm::Region;
    ///
    /// let name = format!("fw-doc-missing-{}", std::process::id());
    /// let err = Region::open(&name).unwrap_err();
    /// assert_eq!(err.region(), Some(format!("/dev/shm/{name}").as_str()));
    /// ```
    pub fn region(&self) -> Option<&str> {
        match self {
            Self::Os { region, .. }
            | Self::AlreadyExists { region, .. }
            | Self::NotFound { region, .. }
            | Self::NotOurs { region, .. }
            | Self::Unpublished { region }
            | Self::LayoutVersion { region, .. }
            | Self::WrongKind { region, .. }
            | Self::Mismatch { region, .. }
            | Self::Full { region, .. }
            | Self::KeyTooLong { region, .. }
            | Self::ValueTooLarge { region, .. }
            | Self::OutOfRange { region, .. }
            | Self::Encode { region, .. }
            | Self::Decode { region, .. }
            | Self::Conflict { region, .. }
            | Self::TransactionTooLarge { region, .. }
            | Self::Corrupt { region }
            | Self::Misaligned { region, .. }
            | Self::Reentrant { region } => Some(region),
            Self::InvalidName { .. } | Self::InvalidCapacity { .. } => None,
        }
    }

    /// True for [`Error::Conflict`]: a compare-and-set lost a race, and
    /// reading again and retrying is the usual answer.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// let v = data.set("k", &1)?;
    /// data.set("k", &2)?;
    /// assert!(data.compare_and_set("k", Some(v), &3).unwrap_err().is_conflict());
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }

    /// True for [`Error::Full`].
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(1, 16))?;
    /// data.set("a", &1)?;
    /// assert!(data.set("b", &2).unwrap_err().is_full());
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full { .. })
    }
}

fn version(v: Option<Version>) -> String {
    v.map_or_else(|| "absent".to_owned(), |v| v.to_string())
}

impl fmt::Display for Error {
    #[allow(clippy::too_many_lines, reason = "one arm per variant")]
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Os {
                operation,
                region,
                source,
            } => write!(f, "cannot {operation} {region}: {source}"),
            Self::InvalidName { name, reason } => {
                write!(f, "invalid shared memory name {name:?}: {reason}")
            }
            Self::AlreadyExists { region, .. } => write!(f, "cannot create {region}: it exists"),
            Self::NotFound { region, .. } => write!(f, "cannot open {region}: it does not exist"),
            Self::NotOurs { region, found } => write!(
                f,
                "{region} is not a forkwise-shm region (it starts with {:?}, not \"forkwise\")",
                String::from_utf8_lossy(&found.to_le_bytes())
            ),
            Self::Unpublished { region } => write!(
                f,
                "{region} has no forkwise-shm header: its creator died while creating it, \
                 or it is not a forkwise-shm region"
            ),
            Self::LayoutVersion {
                region,
                found,
                expected,
            } => write!(
                f,
                "{region} has layout version {found}, but this program reads version {expected}"
            ),
            Self::WrongKind {
                region,
                expected,
                found,
            } => write!(f, "{region} holds {found}, not {expected}"),
            Self::Mismatch {
                region,
                what,
                expected,
                found,
            } => write!(
                f,
                "{region}: {what} is {found} there, but this program expects {expected}"
            ),
            Self::InvalidCapacity { reason } => write!(f, "invalid capacity: {reason}"),
            Self::Full { region, entries } => {
                write!(f, "{region} is full: all {entries} entries are taken")
            }
            Self::KeyTooLong { region, len, max } => write!(
                f,
                "a key of {len} bytes is longer than the {max} bytes keys of {region} may have"
            ),
            Self::ValueTooLarge {
                region,
                key,
                len,
                max,
            } => write!(
                f,
                "the value for key {key} encodes to {len} bytes, more than the {max} \
                 bytes a value of {region} may have"
            ),
            Self::OutOfRange { region, index, len } => {
                write!(
                    f,
                    "index {index} is out of range for {region} of length {len}"
                )
            }
            Self::Encode { region, key, .. } => {
                write!(f, "cannot encode the value for key {key} of {region}")
            }
            Self::Decode { region, key, .. } => write!(
                f,
                "the value of key {key} in {region} does not decode as the type asked for"
            ),
            Self::Conflict {
                region,
                key,
                expected,
                found,
            } => write!(
                f,
                "key {key} of {region} changed meanwhile: expected {}, found {}",
                version(*expected),
                version(*found)
            ),
            Self::TransactionTooLarge { region, limit } => write!(
                f,
                "a transaction on {region} tried to change more than {limit} keys"
            ),
            Self::Corrupt { region } => write!(
                f,
                "{region} is inconsistent under its lock: another program wrote into it"
            ),
            Self::Misaligned {
                region,
                offset,
                align,
            } => write!(
                f,
                "offset {offset} of {region} is not a multiple of {align}, as the atomic needs"
            ),
            Self::Reentrant { region } => write!(
                f,
                "a write to {region} inside its own transaction on the same thread: \
                 use the transaction's methods"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os { source, .. }
            | Self::AlreadyExists { source, .. }
            | Self::NotFound { source, .. } => Some(source),
            Self::Encode { source, .. } | Self::Decode { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::Os { source, .. } => source.kind(),
            Error::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
            Error::NotFound { .. } => io::ErrorKind::NotFound,
            Error::NotOurs { .. }
            | Error::Unpublished { .. }
            | Error::LayoutVersion { .. }
            | Error::WrongKind { .. }
            | Error::Mismatch { .. }
            | Error::Corrupt { .. }
            | Error::Decode { .. } => io::ErrorKind::InvalidData,
            Error::InvalidName { .. }
            | Error::InvalidCapacity { .. }
            | Error::KeyTooLong { .. }
            | Error::ValueTooLarge { .. }
            | Error::OutOfRange { .. }
            | Error::Misaligned { .. }
            | Error::Encode { .. } => io::ErrorKind::InvalidInput,
            Error::Full { .. } | Error::TransactionTooLarge { .. } => io::ErrorKind::StorageFull,
            Error::Conflict { .. } => io::ErrorKind::ResourceBusy,
            Error::Reentrant { .. } => io::ErrorKind::Deadlock,
        };
        io::Error::new(kind, err)
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
