//! [`SharedData`]: a typed key/value store in shared memory, with versions,
//! transactions, lock-free reads and crash recovery.
//!
//! The parts: `capacity.rs` (what a store holds), `layout.rs` (where each
//! part lives), `slot.rs` (an entry's words, key hashing), `index.rs` (the
//! hash index), `read.rs` (lookups over a snapshot), `store.rs` (creation
//! and the seqlock read loop), `session.rs` (the lock and the writes under
//! it), `journal.rs` (undo, rollback, the recovery rule) and
//! `transaction.rs`.

use std::cell::Cell;
use std::sync::atomic::Ordering::Relaxed;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::key::{Key, OwnedKey, Version};
use forkwise_codec::{Codec, Postcard};

mod capacity;
mod index;
mod journal;
mod layout;
mod read;
mod session;
mod slot;
mod store;
mod transaction;

pub use capacity::Capacity;
pub use transaction::Transaction;

use layout::Layout;
use session::Session;
use slot::EncodedKey;
use store::Store;

/// A key/value store in shared memory: string or integer keys, any `serde`
/// value, shared by name (`/dev/shm`) or with forked children, safe when a
/// process is killed in the middle of a write.
///
/// ```
/// use forkwise_shm::{Capacity, SharedData};
///
/// let name = format!("fw-doc-data-{}", std::process::id());
/// let data = SharedData::create(&name, Capacity::new(100, 64))?;
///
/// data.set("greeting", &"hello")?;
/// data.set(42, &vec![1u16, 2, 3])?;
/// assert_eq!(data.get::<String>("greeting")?.as_deref(), Some("hello"));
/// assert_eq!(data.get::<Vec<u16>>(42)?, Some(vec![1, 2, 3]));
/// assert_eq!(data.get::<String>("missing")?, None);
///
/// // Another process opens the same store by name:
/// let other = SharedData::open(&name)?;
/// let hits = other.update("hits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
/// assert_eq!(hits, 1);
/// # Ok::<(), forkwise_shm::Error>(())
/// ```
///
/// # From PHP arrays and `Manager().dict()`
///
/// `$sm['key'] = $v` is [`set`](Self::set), `$sm['key']` is
/// [`get`](Self::get) (`None` for a missing key), `isset` is
/// [`contains`](Self::contains), `unset` is [`remove`](Self::remove),
/// `count` is [`len`](Self::len), `array_keys` is [`keys`](Self::keys)
/// (in the order keys were first set, as PHP keeps them). A lock/release
/// pair around several of them is a [`transaction`](Self::transaction),
/// which releases the lock on every path and rolls back on error.
///
/// # Integrity
///
/// Every write gives the key a new [`Version`].
/// [`get_versioned`](Self::get_versioned) returns it with the value;
/// [`compare_and_set`](Self::compare_and_set) writes only if the key still
/// has that version, so a read-modify-write never loses another process's
/// write; [`update`](Self::update) does the loop for you.
///
/// # Capacity
///
/// A store has a fixed [`Capacity`]: a number of entries, the largest
/// encoded value and the longest key. A `set` of a new key into a full
/// store fails with [`Error::Full`]; nothing is ever overwritten or
/// evicted to make room.
///
/// # How it is built
///
/// - **Reads take no lock** while no write is under way: a seqlock. A
///   reader copies what it needs with atomic loads and checks that the
///   store's sequence number did not move meanwhile; if it did, it tries
///   again, and after a short backoff reads under the lock.
/// - **Writes take a robust, process-shared pthread mutex**: when a holder
///   dies, the kernel marks the mutex and the next process to lock it (a
///   writer, or a reader that found the store mid-write) repairs the store
///   before going on.
/// - **Every write is journaled**: before changing an entry, the writer
///   saves its old image in an undo journal in the region; emptying the
///   journal is the commit. A write interrupted before that instant (by an
///   error, a panic, or the death of its process) is rolled back from the
///   journal; one interrupted after it is complete. So no process ever
///   reads a half-done write: it sees the old value or the new one.
///   [`recoveries`](Self::recoveries) counts the repairs.
///
/// # Threads and processes
///
/// A `SharedData` is `Send` and `Sync`: threads of one process may share
/// it, and processes share its memory. A child forked while a handle
/// exists shares the store; only the creating process removes the name.
#[derive(Debug)]
pub struct SharedData {
    store: Store,
}

impl SharedData {
    /// Creates the store `/dev/shm/NAME` with room for `capacity`; fails if
    /// the name exists. Its memory is reserved now (a full `/dev/shm` is an
    /// error here, never a `SIGBUS` later). The name is removed when this
    /// handle is dropped in this process, unless [`keep`](Self::keep) is
    /// called.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCapacity`], and as
    /// [`Region::create`](crate::Region::create).
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let name = format!("fw-doc-data-create-{}", std::process::id());
    /// let data = SharedData::create(&name, Capacity::new(10, 32))?;
    /// assert!(SharedData::create(&name, Capacity::new(10, 32)).is_err());
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    #[doc(alias = "shm_open")]
    pub fn create(name: &str, capacity: Capacity) -> Result<Self> {
        Store::create(name, capacity).map(|store| Self { store })
    }

    /// Opens the store another process created as `name`.
    ///
    /// # Errors
    ///
    /// As [`Region::open`](crate::Region::open): [`Error::NotFound`],
    /// [`Error::NotOurs`], [`Error::LayoutVersion`], [`Error::WrongKind`].
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let name = format!("fw-doc-data-open-{}", std::process::id());
    /// let created = SharedData::create(&name, Capacity::new(10, 32))?;
    /// created.set("k", &1)?;
    /// assert_eq!(SharedData::open(&name)?.get::<i32>("k")?, Some(1));
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn open(name: &str) -> Result<Self> {
        Store::open(name).map(|store| Self { store })
    }

    /// A store with no name, shared with every child forked afterwards.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCapacity`], [`Error::Os`].
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(10, 32))?;
    /// assert_eq!(data.name(), None);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn anonymous(capacity: Capacity) -> Result<Self> {
        Store::anonymous(capacity).map(|store| Self { store })
    }

    /// The store in a SysV shared memory segment, for programs that share
    /// SysV keys: the process that created the segment (see
    /// [`SharedSegment::created`](forkwise_sysv::SharedSegment::created))
    /// lays the store out; the others wait for it and check that it has
    /// `capacity`. The segment must be
    /// [`capacity.region_len()`](Capacity::region_len) bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Mismatch`] if the segment has another size;
    /// [`Error::InvalidCapacity`] if the store in it has another capacity;
    /// as [`open`](Self::open).
    ///
    /// ```
    /// use forkwise_shm::{Capacity, SharedData};
    /// use forkwise_sysv::{Key, SharedSegment};
    ///
    /// let capacity = Capacity::new(16, 32);
    /// let segment = SharedSegment::options()
    ///     .remove_on_drop(true)
    ///     .open(Key::private(), capacity.region_len()?)?;
    /// let data = SharedData::in_segment(segment, capacity)?;
    /// data.set("k", &1)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "sysv")]
    pub fn in_segment(segment: forkwise_sysv::SharedSegment, capacity: Capacity) -> Result<Self> {
        Store::in_segment(segment, capacity).map(|store| Self { store })
    }

    /// The name under `/dev/shm`; `None` for an anonymous store.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let name = format!("fw-doc-data-name-{}", std::process::id());
    /// assert_eq!(SharedData::create(&name, Capacity::new(1, 1))?.name(), Some(name.as_str()));
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.store.mapping().name()
    }

    /// Leaves the name in place when this handle is dropped (see
    /// [`Region::keep`](crate::Region::keep)).
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, Region, SharedData};
    /// let name = format!("fw-doc-data-keep-{}", std::process::id());
    /// SharedData::create(&name, Capacity::new(1, 1))?.keep();
    /// assert!(SharedData::open(&name).is_ok());
    /// Region::unlink(&name)?;
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn keep(&self) {
        self.store.mapping().keep();
    }

    /// The store's capacity, as its creator gave it.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let capacity = Capacity::new(3, 30);
    /// assert_eq!(SharedData::anonymous(capacity)?.capacity(), capacity);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn capacity(&self) -> Capacity {
        self.store.layout().capacity
    }

    /// How many times a process found the store's lock held by a process
    /// that had died, and repaired the store (see
    /// [How it is built](Self#how-it-is-built)).
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// assert_eq!(SharedData::anonymous(Capacity::new(1, 1))?.recoveries(), 0);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn recoveries(&self) -> u64 {
        self.store.view().recoveries().load(Relaxed)
    }

    /// The value of `key`, decoded as `T`; `None` if the key is absent.
    /// Takes no lock unless a write is under way.
    ///
    /// # Errors
    ///
    /// [`Error::KeyTooLong`]; [`Error::Decode`] if the value is not a `T`.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// assert_eq!(data.get::<u32>("k")?, None);
    /// data.set("k", &7u32)?;
    /// assert_eq!(data.get::<u32>("k")?, Some(7));
    /// assert!(data.get::<String>("k").is_err(), "7u32 is no string");
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn get<'k, T: DeserializeOwned>(&self, key: impl Into<Key<'k>>) -> Result<Option<T>> {
        Ok(self.get_versioned(key)?.map(|(value, _)| value))
    }

    /// The value of `key` and its [`Version`], for a later
    /// [`compare_and_set`](Self::compare_and_set).
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// let version = data.set("k", &1)?;
    /// assert_eq!(data.get_versioned::<i32>("k")?, Some((1, version)));
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn get_versioned<'k, T: DeserializeOwned>(
        &self,
        key: impl Into<Key<'k>>,
    ) -> Result<Option<(T, Version)>> {
        let key = self.encode_key(key.into())?;
        with_buffer(|bytes| {
            let found = self
                .store
                .read(|view| read::entry(&view, &key, Some(&mut *bytes)))?;
            found
                .map(|version| Ok((decode(self.store.shown(), key.key, bytes)?, version)))
                .transpose()
        })
    }

    /// True if `key` is present.
    ///
    /// # Errors
    ///
    /// [`Error::KeyTooLong`].
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.set("k", &())?;
    /// assert!(data.contains("k")?);
    /// assert!(!data.contains("x")?);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn contains<'k>(&self, key: impl Into<Key<'k>>) -> Result<bool> {
        let key = self.encode_key(key.into())?;
        Ok(self
            .store
            .read(|view| read::entry(&view, &key, None))?
            .is_some())
    }

    /// How many keys the store holds.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if the lock fails, in the rare case the read needs it.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.set("k", &1)?;
    /// assert_eq!(data.len()?, 1);
    /// data.remove("k")?;
    /// assert_eq!(data.len()?, 0);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    #[doc(alias = "count")]
    pub fn len(&self) -> Result<usize> {
        self.store.read(|view| read::len(&view))
    }

    /// True if the store holds no key.
    ///
    /// # Errors
    ///
    /// As [`len`](Self::len).
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// assert!(SharedData::anonymous(Capacity::new(4, 16))?.is_empty()?);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Every key, in the order they were first set (setting an existing
    /// key keeps its place; removing it and setting it again moves it last).
    ///
    /// # Errors
    ///
    /// As [`len`](Self::len).
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, OwnedKey, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// for key in ["c", "a", "b"] {
    ///     data.set(key, &0)?;
    /// }
    /// data.remove("a")?;
    /// assert_eq!(data.keys()?, [OwnedKey::from("c"), OwnedKey::from("b")]);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn keys(&self) -> Result<Vec<OwnedKey>> {
        self.store.read(|view| read::keys(&view))
    }

    /// Stores `value` under `key` (inserting the key if it is new); returns
    /// the write's version.
    ///
    /// # Errors
    ///
    /// [`Error::KeyTooLong`]; [`Error::ValueTooLarge`] if the encoding is
    /// over the capacity's `value_bytes`; [`Error::Full`] for a new key when
    /// every entry is taken; [`Error::Encode`]. A failed `set` changes
    /// nothing.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(1, 8))?;
    /// data.set("k", &1)?;
    /// data.set("k", &2)?; // an existing key: no new entry needed
    /// assert!(data.set("other", &3).unwrap_err().is_full());
    /// assert!(data.set("k", &"a long string").is_err(), "over 8 bytes");
    /// assert_eq!(data.get::<i32>("k")?, Some(2));
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn set<'k, T: Serialize + ?Sized>(
        &self,
        key: impl Into<Key<'k>>,
        value: &T,
    ) -> Result<Version> {
        let key = self.encode_key(key.into())?;
        encode(
            self.store.layout(),
            self.store.shown(),
            key.key,
            value,
            |bytes| {
                let mut session = Session::begin(&self.store)?;
                let version = session.set(&key, bytes)?;
                session.commit()?;
                Ok(version)
            },
        )
    }

    /// Stores `value` under `key` only if the key still has version
    /// `expected` (`None`: only if it is absent); returns the new version.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] (see [`Error::is_conflict`]) if the key has
    /// another version, or is present or absent against `expected`, and as
    /// [`set`](Self::set).
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.compare_and_set("k", None, &1)?; // insert if absent
    /// let (value, version) = data.get_versioned::<i32>("k")?.unwrap();
    ///
    /// data.set("k", &5)?; // another process writes meanwhile
    /// let stale = data.compare_and_set("k", Some(version), &(value + 1));
    /// assert!(stale.unwrap_err().is_conflict());
    ///
    /// let (value, version) = data.get_versioned::<i32>("k")?.unwrap();
    /// data.compare_and_set("k", Some(version), &(value + 1))?;
    /// assert_eq!(data.get::<i32>("k")?, Some(6));
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    #[doc(alias = "cas")]
    pub fn compare_and_set<'k, T: Serialize + ?Sized>(
        &self,
        key: impl Into<Key<'k>>,
        expected: Option<Version>,
        value: &T,
    ) -> Result<Version> {
        let key = self.encode_key(key.into())?;
        encode(
            self.store.layout(),
            self.store.shown(),
            key.key,
            value,
            |bytes| {
                let mut session = Session::begin(&self.store)?;
                let found = session.version(&key)?;
                if found != expected {
                    return Err(Error::Conflict {
                        region: self.store.shown().to_owned(),
                        key: key.key.to_owned_key(),
                        expected,
                        found,
                    });
                }
                let version = session.set(&key, bytes)?;
                session.commit()?;
                Ok(version)
            },
        )
    }

    /// Replaces the value of `key` with `f(old)` (`old` is `None` for an
    /// absent key) and returns the new value, without losing a concurrent
    /// write: reads the value and its version without the lock, computes
    /// `f` without the lock, and writes with
    /// [`compare_and_set`](Self::compare_and_set), retrying from the read if
    /// another process wrote the key meanwhile. So `f` may run several
    /// times; it should only compute.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get) and [`set`](Self::set) (never
    /// [`Error::Conflict`]: it retries).
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// assert_eq!(data.update("n", |n: Option<i64>| n.unwrap_or(10) * 2)?, 20);
    /// assert_eq!(data.update("n", |n: Option<i64>| n.unwrap_or(10) * 2)?, 40);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn update<'k, T, F>(&self, key: impl Into<Key<'k>>, mut f: F) -> Result<T>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Option<T>) -> T,
    {
        let key = key.into();
        loop {
            let (old, version) = match self.get_versioned(key)? {
                Some((value, version)) => (Some(value), Some(version)),
                None => (None, None),
            };
            let new = f(old);
            match self.compare_and_set(key, version, &new) {
                Ok(_) => return Ok(new),
                Err(err) if err.is_conflict() => std::hint::spin_loop(),
                Err(err) => return Err(err),
            }
        }
    }

    /// Removes `key`; false if it was absent.
    ///
    /// # Errors
    ///
    /// [`Error::KeyTooLong`].
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.set("k", &1)?;
    /// assert!(data.remove("k")?);
    /// assert!(!data.remove("k")?);
    /// assert_eq!(data.get::<i32>("k")?, None);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    #[doc(alias = "unset")]
    pub fn remove<'k>(&self, key: impl Into<Key<'k>>) -> Result<bool> {
        let key = self.encode_key(key.into())?;
        let mut session = Session::begin(&self.store)?;
        let removed = session.remove(&key)?;
        session.commit()?;
        Ok(removed)
    }

    /// Removes every key, at once for every reader.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if the lock fails.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.set("a", &1)?;
    /// data.set("b", &2)?;
    /// data.clear()?;
    /// assert!(data.is_empty()?);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn clear(&self) -> Result<()> {
        let mut session = Session::begin(&self.store)?;
        session.clear();
        session.commit()
    }

    /// Runs `f` with the store's lock held; its changes are committed if
    /// it returns `Ok`, rolled back if it returns `Err` or panics (or the
    /// process dies before the commit). Other processes see all of the
    /// changes or none. See [`Transaction`].
    ///
    /// `E` is any error type that a forkwise-shm [`Error`] converts into
    /// (`Error` itself, `std::io::Error`, `Box<dyn Error>`...).
    ///
    /// # Errors
    ///
    /// What `f` returned; [`Error::Reentrant`] if this thread is already in
    /// a transaction on this store; [`Error::Os`] if the lock fails.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.set("stock", &3u32)?;
    /// // Take 5 when only 3 are left: the error rolls back the partial write.
    /// let taken = data.transaction(|tx| {
    ///     tx.set("log", &"took 5")?;
    ///     let stock: u32 = tx.get("stock")?.unwrap_or(0);
    ///     let left = stock.checked_sub(5).ok_or("not enough")?;
    ///     tx.set("stock", &left)?;
    ///     Ok::<_, Box<dyn std::error::Error>>(left)
    /// });
    /// assert!(taken.is_err());
    /// assert_eq!(data.get::<String>("log")?, None, "rolled back");
    /// assert_eq!(data.get::<u32>("stock")?, Some(3));
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn transaction<R, E>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E>
    where
        E: From<Error>,
    {
        let mut tx = Transaction {
            session: Session::begin(&self.store)?,
            shown: self.store.shown(),
        };
        let result = f(&mut tx)?;
        tx.session.commit()?;
        Ok(result)
    }

    fn encode_key<'k>(&self, key: Key<'k>) -> Result<EncodedKey<'k>> {
        encode_key(self.store.layout(), self.store.shown(), key)
    }
}

/// `key` in slot form.
///
/// # Errors
///
/// [`Error::KeyTooLong`].
fn encode_key<'k>(layout: &Layout, shown: &str, key: Key<'k>) -> Result<EncodedKey<'k>> {
    EncodedKey::new(key, layout).ok_or_else(|| Error::KeyTooLong {
        region: shown.to_owned(),
        len: match key {
            Key::Str(s) => s.len(),
            Key::Int(_) => 8,
        },
        max: layout.capacity.key_bytes(),
    })
}

thread_local! {
    /// A buffer for encoding and copying out values, reused by each thread
    /// so that steady-state `get` and `set` do not allocate for it.
    static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// A buffer kept between calls beyond this size is dropped instead.
const BUFFER_KEPT: usize = 64 * 1024;

/// Runs `f` with this thread's buffer (an empty one if a caller up the
/// stack has it already, as a value's `Deserialize` calling the store would).
fn with_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    let mut buffer = BUFFER.take();
    buffer.clear();
    let result = f(&mut buffer);
    if buffer.capacity() <= BUFFER_KEPT {
        BUFFER.set(buffer);
    }
    result
}

/// Encodes `value` and hands the bytes to `write`.
///
/// # Errors
///
/// [`Error::Encode`], [`Error::ValueTooLarge`], or what `write` returns.
fn encode<T: Serialize + ?Sized, R>(
    layout: &Layout,
    shown: &str,
    key: Key<'_>,
    value: &T,
    write: impl FnOnce(&[u8]) -> Result<R>,
) -> Result<R> {
    with_buffer(|bytes| {
        Postcard::encode(value, bytes).map_err(|source| Error::Encode {
            region: shown.to_owned(),
            key: key.to_owned_key(),
            source,
        })?;
        let max = layout.capacity.value_bytes();
        if bytes.len() > max {
            return Err(Error::ValueTooLarge {
                region: shown.to_owned(),
                key: key.to_owned_key(),
                len: bytes.len(),
                max,
            });
        }
        write(bytes)
    })
}

/// Decodes a stored value.
///
/// # Errors
///
/// [`Error::Decode`].
fn decode<T: DeserializeOwned>(shown: &str, key: Key<'_>, bytes: &[u8]) -> Result<T> {
    Postcard::decode(bytes).map_err(|source| Error::Decode {
        region: shown.to_owned(),
        key: key.to_owned_key(),
        source,
    })
}
