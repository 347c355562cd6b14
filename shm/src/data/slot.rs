//! One entry's slot: its meta word, its key as words, its value as words,
//! and the store's hash of keys.
//!
//! Bytes are packed into words little end first, zero-padded, so that two
//! equal keys have equal words and compare word by word.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::layout::{Layout, SLOT_KEY};
use crate::hooks::{self, Point};
use crate::key::{Key, OwnedKey};

/// Meta bit: the slot holds an entry (if its epoch is the store's).
const OCCUPIED: u64 = 1 << 63;
/// Meta bit: the key is a string (else an `i64`).
const STR_KEY: u64 = 1 << 62;

/// A slot's meta word, unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) occupied: bool,
    pub(crate) str_key: bool,
    /// Bytes of the key (8 for an integer key).
    pub(crate) key_len: usize,
    /// Bytes of the encoded value.
    pub(crate) value_len: usize,
}

impl Meta {
    pub(crate) const FREE: u64 = 0;

    pub(crate) fn pack(str_key: bool, key_len: usize, value_len: usize) -> u64 {
        let kind = if str_key { STR_KEY } else { 0 };
        OCCUPIED | kind | (key_len as u64) << 32 | value_len as u64
    }

    pub(crate) fn unpack(word: u64) -> Self {
        Self {
            occupied: word & OCCUPIED != 0,
            str_key: word & STR_KEY != 0,
            key_len: usize::try_from((word >> 32) & 0xffff).unwrap_or(usize::MAX),
            value_len: usize::try_from(word & 0xffff_ffff).unwrap_or(usize::MAX),
        }
    }

    /// Words the key takes in the slot.
    pub(crate) fn key_words(&self) -> usize {
        self.key_len.div_ceil(8)
    }

    /// Words the value takes in the slot.
    pub(crate) fn value_words(&self) -> usize {
        self.value_len.div_ceil(8)
    }

    /// True if the lengths fit the layout: false means a torn read.
    pub(crate) fn fits(&self, layout: &Layout) -> bool {
        let key_max = if self.str_key {
            layout.capacity.key_bytes()
        } else {
            8
        };
        self.key_len <= key_max && self.value_len <= layout.capacity.value_bytes()
    }
}

/// A key in the form slots store it, with its hash. Its words are packed
/// from the key's bytes as they are needed, never stored.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EncodedKey<'k> {
    pub(crate) key: Key<'k>,
    pub(crate) str_key: bool,
    pub(crate) len: usize,
    pub(crate) hash: u64,
}

impl<'k> EncodedKey<'k> {
    /// Encodes `key`; `None` if a string key is longer than the layout allows.
    pub(crate) fn new(key: Key<'k>, layout: &Layout) -> Option<Self> {
        let (str_key, len) = match key {
            Key::Int(_) => (false, 8),
            Key::Str(s) if s.len() <= layout.capacity.key_bytes() => (true, s.len()),
            Key::Str(_) => return None,
        };
        let mut encoded = Self {
            key,
            str_key,
            len,
            hash: 0,
        };
        encoded.hash = hash(layout.seed, str_key, len, encoded.words());
        Some(encoded)
    }

    /// The key's words: an integer's bits, or a string's bytes packed.
    pub(crate) fn words(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.len.div_ceil(8)).map(|i| self.word(i))
    }

    /// Word `i` of the key (below `len.div_ceil(8)`).
    fn word(&self, i: usize) -> u64 {
        match self.key {
            Key::Int(n) => n.cast_unsigned(),
            Key::Str(s) => {
                let bytes = s.as_bytes();
                pack_word(&bytes[i * 8..bytes.len().min(i * 8 + 8)])
            }
        }
    }

    /// True if `slot`, whose meta is `meta`, holds this key.
    pub(crate) fn matches(&self, slot: &[AtomicU64], meta: Meta) -> bool {
        meta.str_key == self.str_key
            && meta.key_len == self.len
            && slot[SLOT_KEY..]
                .iter()
                .zip(self.words())
                .all(|(stored, mine)| stored.load(Relaxed) == mine)
    }

    /// The meta word of a slot holding this key and a value of `value_len` bytes.
    pub(crate) fn meta(&self, value_len: usize) -> u64 {
        Meta::pack(self.str_key, self.len, value_len)
    }

    /// Writes the key's words into `slot`.
    pub(crate) fn store(&self, slot: &[AtomicU64]) {
        for (stored, word) in slot[SLOT_KEY..].iter().zip(self.words()) {
            stored.store(word, Relaxed);
        }
    }
}

/// Up to 8 bytes as a word, little end first, zero-padded.
fn pack_word(chunk: &[u8]) -> u64 {
    if let Ok(full) = <[u8; 8]>::try_from(chunk) {
        u64::from_le_bytes(full)
    } else {
        let mut word = [0; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        u64::from_le_bytes(word)
    }
}

/// Reads the key of `slot` (meta `meta`); `None` if it is not a valid
/// key (a torn read).
pub(crate) fn load_key(slot: &[AtomicU64], meta: Meta) -> Option<OwnedKey> {
    let words = &slot[SLOT_KEY..SLOT_KEY + meta.key_words()];
    if !meta.str_key {
        return Some(OwnedKey::Int(words.first()?.load(Relaxed).cast_signed()));
    }
    let mut bytes = Vec::with_capacity(meta.key_len);
    unpack(words, meta.key_len, &mut bytes);
    String::from_utf8(bytes).ok().map(OwnedKey::Str)
}

/// The value words of `slot` under `layout`.
pub(crate) fn value_words<'a>(slot: &'a [AtomicU64], layout: &Layout) -> &'a [AtomicU64] {
    &slot[SLOT_KEY + layout.key_words..]
}

/// Copies `len` bytes of value out of `slot` into `out` (cleared first).
pub(crate) fn load_value(slot: &[AtomicU64], layout: &Layout, len: usize, out: &mut Vec<u8>) {
    out.clear();
    unpack(value_words(slot, layout), len, out);
}

/// Writes `bytes` as the value of `slot`.
pub(crate) fn store_value(slot: &[AtomicU64], layout: &Layout, bytes: &[u8]) {
    let words = value_words(slot, layout);
    let half = bytes.len().div_ceil(8) / 2;
    for (i, (stored, chunk)) in words.iter().zip(bytes.chunks(8)).enumerate() {
        if i == half {
            // Tests pause or kill a writer here, half-way through a value.
            hooks::reached(Point::MidValue);
        }
        stored.store(pack_word(chunk), Relaxed);
    }
}

/// Appends `len` bytes unpacked from `words` to `out`.
fn unpack(words: &[AtomicU64], len: usize, out: &mut Vec<u8>) {
    out.reserve(len);
    for word in words.iter().take(len.div_ceil(8)) {
        out.extend_from_slice(&word.load(Relaxed).to_le_bytes());
    }
    out.truncate(len);
}

/// The store's hash of a key: seeded per store (so that no one can craft
/// keys that collide in every store), the same in every process.
///
/// A word-at-a-time multiply-rotate mix, finished with `MurmurHash3`'s
/// 64-bit finaliser so that both the high half (the index tag) and the low
/// bits (the home position) depend on every input bit.
pub(crate) fn hash(
    seed: u64,
    str_key: bool,
    len: usize,
    words: impl IntoIterator<Item = u64>,
) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = seed ^ (len as u64).wrapping_mul(K) ^ u64::from(str_key);
    for word in words {
        h = (h.rotate_left(23) ^ word).wrapping_mul(K);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::capacity::Capacity;

    fn layout() -> Layout {
        Layout::new(Capacity::new(4, 32).with_key_bytes(100), 42).unwrap()
    }

    #[test]
    fn meta_round_trips() {
        let meta = Meta::unpack(Meta::pack(true, 65, 1000));
        assert_eq!(
            meta,
            Meta {
                occupied: true,
                str_key: true,
                key_len: 65,
                value_len: 1000
            }
        );
        assert!(!Meta::unpack(Meta::FREE).occupied);
    }

    #[test]
    fn keys_encode_by_kind_and_bytes() {
        let layout = layout();
        let int = EncodedKey::new(Key::Int(-1), &layout).unwrap();
        assert_eq!(int.words().collect::<Vec<_>>(), [u64::MAX]);
        let text = EncodedKey::new(Key::Str("abcdefghi"), &layout).unwrap();
        let words: Vec<u64> = text.words().collect();
        assert_eq!(words, [u64::from_le_bytes(*b"abcdefgh"), u64::from(b'i')]);
        let long = "x".repeat(100);
        assert_eq!(
            EncodedKey::new(Key::Str(&long), &layout)
                .unwrap()
                .words()
                .count(),
            13
        );
        assert!(EncodedKey::new(Key::Str(&"x".repeat(101)), &layout).is_none());
        let one = EncodedKey::new(Key::Str("1"), &layout).unwrap();
        let also_one = EncodedKey::new(Key::Int(1), &layout).unwrap();
        assert_ne!(one.hash, also_one.hash, "kinds hash apart");
    }

    #[test]
    fn a_string_never_matches_an_integer_with_the_same_bytes() {
        let layout = layout();
        let int = EncodedKey::new(Key::Int(0x6867_6665_6463_6261), &layout).unwrap();
        let text = EncodedKey::new(Key::Str("abcdefgh"), &layout).unwrap();
        assert_eq!(
            int.words().collect::<Vec<_>>(),
            text.words().collect::<Vec<_>>()
        );
        let slot: Vec<AtomicU64> = (0..layout.slot_words).map(|_| AtomicU64::new(0)).collect();
        int.store(&slot);
        let meta = Meta::unpack(int.meta(0));
        assert!(int.matches(&slot, meta));
        assert!(!text.matches(&slot, meta), "same words, another kind");
    }

    #[test]
    fn hashes_depend_on_the_seed_and_every_byte() {
        let words = [1, 2, 3];
        let base = hash(1, true, 24, words);
        assert_ne!(base, hash(2, true, 24, words));
        assert_ne!(base, hash(1, true, 23, words));
        assert_ne!(base, hash(1, true, 24, [1, 2, 4]));
        assert_eq!(base, hash(1, true, 24, words), "deterministic");
    }

    #[test]
    fn bytes_pack_and_unpack() {
        let words: Vec<AtomicU64> = b"hello, world"
            .chunks(8)
            .map(|chunk| AtomicU64::new(pack_word(chunk)))
            .collect();
        let mut out = vec![9];
        out.clear();
        unpack(&words, 12, &mut out);
        assert_eq!(out, b"hello, world");
    }
}
