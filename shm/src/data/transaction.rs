//! [`Transaction`]: several operations under the store's lock, committed
//! together or not at all.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::session::Session;
use super::{decode, encode, read};
use crate::error::{Error, Result};
use crate::key::{Key, OwnedKey, Version};

/// Several operations on a [`SharedData`](crate::SharedData) store made
/// under its lock, as one: other processes see all of them or none.
///
/// Given to the closure of [`SharedData::transaction`](crate::SharedData::transaction); its methods are the
/// store's. If the closure returns `Ok`, the changes are committed; if it
/// returns `Err` or panics, or the process dies before the commit, they are
/// rolled back. Reads see the transaction's own changes.
///
/// While a transaction runs, other processes' writes wait, and so do their
/// reads once the transaction has changed something. Keep it short, and do
/// not call the store's own methods from inside (a write returns
/// [`Error::Reentrant`]; use the transaction's).
///
/// ```
/// use forkwise_shm::{Capacity, SharedData};
///
/// let accounts = SharedData::anonymous(Capacity::new(16, 16))?;
/// accounts.set("alice", &100i64)?;
/// accounts.set("bob", &0i64)?;
/// accounts.transaction(|tx| {
///     let alice: i64 = tx.get("alice")?.unwrap_or(0);
///     tx.set("alice", &(alice - 30))?;
///     tx.set("bob", &(tx.get::<i64>("bob")?.unwrap_or(0) + 30))?;
///     Ok::<_, forkwise_shm::Error>(())
/// })?;
/// assert_eq!(accounts.get::<i64>("alice")?, Some(70));
/// assert_eq!(accounts.get::<i64>("bob")?, Some(30));
/// # Ok::<(), forkwise_shm::Error>(())
/// ```
#[derive(Debug)]
pub struct Transaction<'a> {
    pub(super) session: Session<'a>,
    pub(super) shown: &'a str,
}

impl Transaction<'_> {
    fn encode_key<'k>(&self, key: Key<'k>) -> Result<super::slot::EncodedKey<'k>> {
        super::encode_key(self.session.view().layout, self.shown, key)
    }

    /// The value of `key`, as [`SharedData::get`](crate::SharedData::get).
    ///
    /// # Errors
    ///
    /// [`Error::KeyTooLong`], [`Error::Decode`].
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.transaction(|tx| {
    ///     tx.set("k", &1u8)?;
    ///     assert_eq!(tx.get::<u8>("k")?, Some(1), "its own write");
    ///     Ok::<_, forkwise_shm::Error>(())
    /// })?;
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn get<'k, T: DeserializeOwned>(&self, key: impl Into<Key<'k>>) -> Result<Option<T>> {
        Ok(self.get_versioned(key)?.map(|(value, _)| value))
    }

    /// The value of `key` and its version, as
    /// [`SharedData::get_versioned`](crate::SharedData::get_versioned).
    ///
    /// # Errors
    ///
    /// [`Error::KeyTooLong`], [`Error::Decode`].
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// let v = data.set("k", &1u8)?;
    /// data.transaction(|tx| {
    ///     assert_eq!(tx.get_versioned::<u8>("k")?, Some((1, v)));
    ///     Ok::<_, forkwise_shm::Error>(())
    /// })?;
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn get_versioned<'k, T: DeserializeOwned>(
        &self,
        key: impl Into<Key<'k>>,
    ) -> Result<Option<(T, Version)>> {
        let key = self.encode_key(key.into())?;
        let mut bytes = Vec::new();
        let found = read::entry(&self.session.view(), &key, Some(&mut bytes)).ok_or_else(|| {
            Error::Corrupt {
                region: self.shown.to_owned(),
            }
        })?;
        found
            .map(|version| Ok((decode(self.shown, key.key, &bytes)?, version)))
            .transpose()
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
    /// data.transaction(|tx| {
    ///     tx.set(1, &())?;
    ///     assert!(tx.contains(1)?);
    ///     Ok::<_, forkwise_shm::Error>(())
    /// })?;
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn contains<'k>(&self, key: impl Into<Key<'k>>) -> Result<bool> {
        let key = self.encode_key(key.into())?;
        Ok(self.session.find(&key)?.is_some())
    }

    /// How many keys the store holds, this transaction's changes included.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.transaction(|tx| {
    ///     tx.set("a", &1)?;
    ///     assert_eq!(tx.len(), 1);
    ///     Ok::<_, forkwise_shm::Error>(())
    /// })?;
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        read::len(&self.session.view()).unwrap_or(0)
    }

    /// True if the store holds no key.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.transaction(|tx| {
    ///     assert!(tx.is_empty());
    ///     Ok::<_, forkwise_shm::Error>(())
    /// })?;
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every key, in the order they were first set.
    ///
    /// # Errors
    ///
    /// [`Error::Corrupt`] if the store's memory was scribbled over.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, OwnedKey, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.transaction(|tx| {
    ///     tx.set("b", &1)?;
    ///     tx.set("a", &1)?;
    ///     assert_eq!(tx.keys()?, [OwnedKey::from("b"), OwnedKey::from("a")]);
    ///     Ok::<_, forkwise_shm::Error>(())
    /// })?;
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn keys(&self) -> Result<Vec<OwnedKey>> {
        read::keys(&self.session.view()).ok_or_else(|| Error::Corrupt {
            region: self.shown.to_owned(),
        })
    }

    /// Stores `value` under `key`, as [`SharedData::set`](crate::SharedData::set).
    ///
    /// # Errors
    ///
    /// As [`SharedData::set`](crate::SharedData::set), and
    /// [`Error::TransactionTooLarge`]. A failed `set` changes nothing.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.transaction(|tx| tx.set("k", &"v").map(drop))?;
    /// assert_eq!(data.get::<String>("k")?.as_deref(), Some("v"));
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn set<'k, T: Serialize + ?Sized>(
        &mut self,
        key: impl Into<Key<'k>>,
        value: &T,
    ) -> Result<Version> {
        let key = self.encode_key(key.into())?;
        let layout = *self.session.view().layout;
        encode(&layout, self.shown, key.key, value, |bytes| {
            self.session.set(&key, bytes)
        })
    }

    /// Removes `key`; false if it was absent.
    ///
    /// # Errors
    ///
    /// [`Error::KeyTooLong`], [`Error::TransactionTooLarge`].
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.set("k", &1)?;
    /// data.transaction(|tx| {
    ///     assert!(tx.remove("k")?);
    ///     assert!(!tx.remove("k")?);
    ///     Ok::<_, forkwise_shm::Error>(())
    /// })?;
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn remove<'k>(&mut self, key: impl Into<Key<'k>>) -> Result<bool> {
        let key = self.encode_key(key.into())?;
        self.session.remove(&key)
    }

    /// Removes every key.
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(4, 16))?;
    /// data.set("k", &1)?;
    /// data.transaction(|tx| {
    ///     tx.clear();
    ///     tx.set("fresh", &2)?;
    ///     Ok::<_, forkwise_shm::Error>(())
    /// })?;
    /// assert_eq!(data.len()?, 1);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn clear(&mut self) {
        self.session.clear();
    }
}
