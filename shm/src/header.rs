//! The header every region starts with: what it is, in which layout, how big.
//!
//! ```text
//! word  0  magic            "forkwise" (little-endian), written last
//! word  1  layout version   LAYOUT_VERSION
//! word  2  kind             1 raw Region, 2 SharedData, 3 SharedArray
//! word  3  length           bytes of the whole mapping
//! word  4  lock ABI         size_of::<pthread_mutex_t>() | C library << 32
//! word  5  creator          pid of the creating process (informational)
//! words 6..16               the kind's parameters (capacities, element size)
//! ```
//!
//! The creator writes every other word first and the magic number last,
//! with release ordering; an opener reads the magic with acquire ordering.
//! So an opener that sees the magic sees a complete header and whatever the
//! creator initialised before it, and one that sees zero knows the creator
//! is not done yet.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::memory::RobustMutex;
use crate::sys;

/// "forkwise" as a little-endian word: what `xxd /dev/shm/NAME | head -1` shows.
pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"forkwise");

/// The version of every layout in this crate: bumped whenever a byte of
/// any of them moves, so that two programs never disagree silently.
pub(crate) const LAYOUT_VERSION: u64 = 1;

/// The header's length in words; the kind's own layout starts after it.
pub(crate) const WORDS: usize = 16;

/// The header's length in bytes.
pub(crate) const BYTES: usize = WORDS * 8;

/// How many parameter words a kind may store.
pub(crate) const PARAMS: usize = WORDS - 6;

/// What a region holds, as its header says.
///
/// ```
/// use forkwise_shm::{Error, Region, RegionKind, SharedArray};
///
/// let name = format!("fw-doc-kind-{}", std::process::id());
/// let array = SharedArray::<u8>::create(&name, 4)?;
/// match Region::open(&name) {
///     Err(Error::WrongKind { found, .. }) => assert_eq!(found, RegionKind::Array),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), forkwise_shm::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionKind {
    /// Bytes for the user: a [`Region`](crate::Region).
    Raw,
    /// A [`SharedData`](crate::SharedData) key/value store.
    Data,
    /// A [`SharedArray`](crate::SharedArray).
    Array,
}

impl RegionKind {
    fn code(self) -> u64 {
        match self {
            Self::Raw => 1,
            Self::Data => 2,
            Self::Array => 3,
        }
    }

    fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(Self::Raw),
            2 => Some(Self::Data),
            3 => Some(Self::Array),
            _ => None,
        }
    }
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Raw => "a raw Region",
            Self::Data => "a SharedData store",
            Self::Array => "a SharedArray",
        })
    }
}

/// The lock ABI word: a region made by a program whose C library lays out
/// `pthread_mutex_t` differently must not be used by this one.
fn lock_abi() -> u64 {
    RobustMutex::SIZE as u64 | sys::libc_tag() << 32
}

/// A header as written by a creator, or as validated by an opener.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    pub(crate) kind: RegionKind,
    pub(crate) params: [u64; PARAMS],
}

/// What [`Header::read`] found.
pub(crate) enum Found {
    /// A complete header of this crate's layout.
    Valid(Header),
    /// No magic number yet: the creator has not finished (or died trying).
    Unpublished,
}

impl Header {
    /// Writes the header into `words` of a mapping of `len` bytes, magic
    /// number last (release): the region is published when this returns.
    pub(crate) fn publish(&self, words: &[AtomicU64], len: usize) {
        let fields = [
            LAYOUT_VERSION,
            self.kind.code(),
            len as u64,
            lock_abi(),
            u64::from(std::process::id()),
        ];
        for (word, value) in words[1..].iter().zip(fields.into_iter().chain(self.params)) {
            word.store(value, Ordering::Relaxed);
        }
        words[0].store(MAGIC, Ordering::Release);
    }

    /// Reads and checks the header of a mapping of `len` bytes that should
    /// hold `expected`; `region` names it in errors.
    pub(crate) fn read(
        words: &[AtomicU64],
        len: usize,
        expected: RegionKind,
        region: &str,
    ) -> Result<Found> {
        let region = || region.to_owned();
        if words.len() < WORDS {
            let found = words.first().map_or(0, |w| w.load(Ordering::Acquire));
            return Err(Error::NotOurs {
                region: region(),
                found,
            });
        }
        match words[0].load(Ordering::Acquire) {
            0 => return Ok(Found::Unpublished),
            MAGIC => {}
            found => {
                return Err(Error::NotOurs {
                    region: region(),
                    found,
                });
            }
        }
        let field = |i: usize| words[i].load(Ordering::Relaxed);
        let version = field(1);
        if version != LAYOUT_VERSION {
            return Err(Error::LayoutVersion {
                region: region(),
                found: version,
                expected: LAYOUT_VERSION,
            });
        }
        let Some(kind) = RegionKind::from_code(field(2)) else {
            return Err(Error::Mismatch {
                region: region(),
                what: "region kind code",
                expected: expected.code(),
                found: field(2),
            });
        };
        if kind != expected {
            return Err(Error::WrongKind {
                region: region(),
                expected,
                found: kind,
            });
        }
        let checks = [
            ("mapping length", len as u64, field(3)),
            (
                "pthread mutex layout (size | C library << 32)",
                lock_abi(),
                field(4),
            ),
        ];
        for (what, expected, found) in checks {
            if expected != found {
                return Err(Error::Mismatch {
                    region: region(),
                    what,
                    expected,
                    found,
                });
            }
        }
        let mut params = [0; PARAMS];
        for (i, param) in params.iter_mut().enumerate() {
            *param = field(WORDS - PARAMS + i);
        }
        Ok(Found::Valid(Self { kind, params }))
    }
}
