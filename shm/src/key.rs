//! Keys of a [`SharedData`](crate::SharedData) store and the versions of
//! their values.

use std::fmt;

/// A key to look up: a string or an integer. String and integer keys are
/// distinct (`"1"` is not `1`).
///
/// Every method taking a key takes `impl Into<Key>`, so a `&str`, a
/// `&String`, an integer or an [`OwnedKey`] (by reference) can be passed:
///
/// ```
/// use forkwise_shm::{Capacity, Key, SharedData};
///
/// let data = SharedData::anonymous(Capacity::new(8, 64))?;
/// data.set("name", &"value")?;
/// data.set(7, &"seven")?;
/// assert!(data.contains(Key::Str("name"))?);
/// assert!(!data.contains("7")?, "integer and string keys are distinct");
/// # Ok::<(), forkwise_shm::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key<'a> {
    /// An integer key.
    Int(i64),
    /// A string key, at most [`Capacity::key_bytes`](crate::Capacity::key_bytes) bytes long.
    Str(&'a str),
}

/// A key as [`SharedData::keys`](crate::SharedData::keys) returns it: owned.
/// It serialises (with serde) as an enum of an integer or a string.
///
/// ```
/// use forkwise_shm::{Capacity, OwnedKey, SharedData};
///
/// let data = SharedData::anonymous(Capacity::new(8, 64))?;
/// data.set("a", &1)?;
/// data.set(2, &2)?;
/// assert_eq!(data.keys()?, [OwnedKey::from("a"), OwnedKey::Int(2)]);
/// assert_eq!(data.get::<i32>(&data.keys()?[0])?, Some(1));
/// # Ok::<(), forkwise_shm::Error>(())
/// ```
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum OwnedKey {
    /// An integer key.
    Int(i64),
    /// A string key.
    Str(String),
}

impl OwnedKey {
    /// The key, borrowed.
    ///
    /// ```
    /// # use forkwise_shm::{Key, OwnedKey};
    /// assert_eq!(OwnedKey::from("a").as_key(), Key::Str("a"));
    /// ```
    pub fn as_key(&self) -> Key<'_> {
        match self {
            Self::Int(n) => Key::Int(*n),
            Self::Str(s) => Key::Str(s),
        }
    }
}

impl Key<'_> {
    /// The key, owned.
    ///
    /// ```
    /// # use forkwise_shm::{Key, OwnedKey};
    /// assert_eq!(Key::Int(3).to_owned_key(), OwnedKey::Int(3));
    /// ```
    pub fn to_owned_key(&self) -> OwnedKey {
        match *self {
            Self::Int(n) => OwnedKey::Int(n),
            Self::Str(s) => OwnedKey::Str(s.to_owned()),
        }
    }
}

impl<'a> From<&'a str> for Key<'a> {
    fn from(key: &'a str) -> Self {
        Self::Str(key)
    }
}

impl<'a> From<&'a String> for Key<'a> {
    fn from(key: &'a String) -> Self {
        Self::Str(key)
    }
}

impl<'a> From<&'a OwnedKey> for Key<'a> {
    fn from(key: &'a OwnedKey) -> Self {
        key.as_key()
    }
}

macro_rules! integer_keys {
    ($($int:ty),*) => {$(
        impl From<$int> for Key<'_> {
            fn from(key: $int) -> Self {
                Self::Int(i64::from(key))
            }
        }
    )*};
}
integer_keys!(i8, i16, i32, i64, u8, u16, u32);

impl From<&str> for OwnedKey {
    fn from(key: &str) -> Self {
        Self::Str(key.to_owned())
    }
}

impl From<String> for OwnedKey {
    fn from(key: String) -> Self {
        Self::Str(key)
    }
}

impl From<i64> for OwnedKey {
    fn from(key: i64) -> Self {
        Self::Int(key)
    }
}

impl fmt::Display for Key<'_> {
    /// An integer as itself, a string in double quotes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl fmt::Display for OwnedKey {
    /// As [`Key`]'s.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_key().fmt(f)
    }
}

/// Which write of a key a value came from.
///
/// Every write to a store (a `set`, a `remove`, each change in a
/// transaction) takes the next number of a counter the store keeps for its
/// whole life, so a version never repeats, even after the key was removed
/// and set again, or after a rolled-back transaction handed it out. [`SharedData::compare_and_set`] compares versions,
/// not values: it fails even when another process wrote back the same value.
///
/// [`SharedData::compare_and_set`]: crate::SharedData::compare_and_set
///
/// ```
/// use forkwise_shm::{Capacity, SharedData};
///
/// let data = SharedData::anonymous(Capacity::new(8, 64))?;
/// let first = data.set("k", &1)?;
/// let second = data.set("k", &1)?;
/// assert!(second > first, "same value, new version");
/// # Ok::<(), forkwise_shm::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub(crate) u64);

impl Version {
    /// The version as a number (never 0).
    ///
    /// ```
    /// # use forkwise_shm::{Capacity, SharedData};
    /// let data = SharedData::anonymous(Capacity::new(8, 64))?;
    /// assert!(data.set("k", &1)?.get() > 0);
    /// # Ok::<(), forkwise_shm::Error>(())
    /// ```
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "version {}", self.0)
    }
}
