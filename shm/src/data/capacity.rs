//! [`Capacity`]: how much a [`SharedData`](crate::SharedData) store holds.

use crate::error::{Error, Result};

/// How much a [`SharedData`](crate::SharedData) store holds, fixed at
/// creation: every entry has a slot of its own with room for the longest
/// key and the largest value, so a store never fragments, never moves
/// data, and is full only when all its entries are taken.
///
/// ```
/// use forkwise_shm::Capacity;
///
/// // 1000 entries, values of up to 200 encoded bytes, keys of up to 32 bytes.
/// let capacity = Capacity::new(1000, 200).with_key_bytes(32);
/// assert_eq!(capacity.entries(), 1000);
/// assert!(capacity.region_len()? > 1000 * (200 + 32));
/// # Ok::<(), forkwise_shm::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capacity {
    entries: usize,
    value_bytes: usize,
    key_bytes: usize,
    transaction_keys: usize,
}

impl Capacity {
    /// The longest string key, unless [`with_key_bytes`](Self::with_key_bytes) says otherwise.
    pub const DEFAULT_KEY_BYTES: usize = 64;
    /// How many keys one transaction may change, unless
    /// [`with_transaction_keys`](Self::with_transaction_keys) says otherwise.
    pub const DEFAULT_TRANSACTION_KEYS: usize = 16;
    /// The most entries a store may have.
    pub const MAX_ENTRIES: usize = 1 << 30;
    /// The longest string key a store may allow.
    pub const MAX_KEY_BYTES: usize = 4096;
    /// The largest value a store may allow.
    pub const MAX_VALUE_BYTES: usize = 1 << 30;

    /// At most `entries` keys, each value encoding to at most `value_bytes`
    /// bytes (postcard: an `u64` takes 1 to 10, a string its length and 1
    /// or 2 more).
    ///
    /// ```
    /// # use forkwise_shm::Capacity;
    /// let capacity = Capacity::new(64, 16);
    /// assert_eq!((capacity.entries(), capacity.value_bytes()), (64, 16));
    /// ```
    pub const fn new(entries: usize, value_bytes: usize) -> Self {
        Self {
            entries,
            value_bytes,
            key_bytes: Self::DEFAULT_KEY_BYTES,
            transaction_keys: Self::DEFAULT_TRANSACTION_KEYS,
        }
    }

    /// The same capacity with string keys of at most `key_bytes` bytes.
    ///
    /// ```
    /// # use forkwise_shm::Capacity;
    /// assert_eq!(Capacity::new(8, 8).with_key_bytes(200).key_bytes(), 200);
    /// ```
    #[must_use]
    pub const fn with_key_bytes(mut self, key_bytes: usize) -> Self {
        self.key_bytes = key_bytes;
        self
    }

    /// The same capacity with transactions that may change up to
    /// `transaction_keys` distinct keys. Each costs one entry's room in the
    /// store's undo journal.
    ///
    /// ```
    /// # use forkwise_shm::Capacity;
    /// assert_eq!(Capacity::new(8, 8).with_transaction_keys(2).transaction_keys(), 2);
    /// ```
    #[must_use]
    pub const fn with_transaction_keys(mut self, transaction_keys: usize) -> Self {
        self.transaction_keys = transaction_keys;
        self
    }

    /// The most keys the store holds.
    ///
    /// ```
    /// # use forkwise_shm::Capacity;
    /// assert_eq!(Capacity::new(8, 8).entries(), 8);
    /// ```
    pub const fn entries(&self) -> usize {
        self.entries
    }

    /// The most bytes one value may encode to.
    ///
    /// ```
    /// # use forkwise_shm::Capacity;
    /// assert_eq!(Capacity::new(8, 100).value_bytes(), 100);
    /// ```
    pub const fn value_bytes(&self) -> usize {
        self.value_bytes
    }

    /// The most bytes a string key may have.
    ///
    /// ```
    /// # use forkwise_shm::Capacity;
    /// assert_eq!(Capacity::new(8, 8).key_bytes(), Capacity::DEFAULT_KEY_BYTES);
    /// ```
    pub const fn key_bytes(&self) -> usize {
        self.key_bytes
    }

    /// The most distinct keys one transaction may change.
    ///
    /// ```
    /// # use forkwise_shm::Capacity;
    /// assert_eq!(Capacity::new(8, 8).transaction_keys(), Capacity::DEFAULT_TRANSACTION_KEYS);
    /// ```
    pub const fn transaction_keys(&self) -> usize {
        self.transaction_keys
    }

    /// The bytes a store of this capacity takes in `/dev/shm` (or in a SysV
    /// segment), header and lock included.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCapacity`] if a figure is 0 or above its `MAX_`.
    ///
    /// ```
    /// # use forkwise_shm::Capacity;
    /// assert!(Capacity::new(0, 8).region_len().is_err());
    /// ```
    pub fn region_len(&self) -> Result<usize> {
        super::layout::Layout::new(*self, 0).map(|layout| layout.total_words() * 8)
    }

    /// Checks every figure against its limits.
    pub(crate) fn check(&self) -> Result<()> {
        let figures = [
            ("entries", self.entries, Self::MAX_ENTRIES),
            ("value_bytes", self.value_bytes, Self::MAX_VALUE_BYTES),
            ("key_bytes", self.key_bytes, Self::MAX_KEY_BYTES),
            ("transaction_keys", self.transaction_keys, Self::MAX_ENTRIES),
        ];
        for (what, value, max) in figures {
            if value == 0 || value > max {
                return Err(Error::InvalidCapacity {
                    reason: format!("{what} is {value}; it must be from 1 to {max}"),
                });
            }
        }
        Ok(())
    }
}
