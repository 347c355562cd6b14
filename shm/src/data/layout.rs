//! Where each part of a store lives, in 64-bit words from the start of the
//! mapping, computed from its [`Capacity`] alone (so every process agrees).
//!
//! ```text
//! words  0..16   header (header.rs); params: entries, key_bytes,
//!                value_bytes, transaction_keys, hash seed
//! words 16..24   the robust pthread mutex (64 bytes reserved)
//! word  24       seq: the seqlock's sequence, odd while a write is under way
//! word  25       recoveries: how many times a dead holder was recovered
//! word  26       free_top: how many slot numbers the free stack holds
//! words 32..36   state: epoch, next_version, next_order, len
//! words 40..     journal: count (0 = nothing to undo), the state's image,
//!                then `transaction_keys` records: slot number + slot image
//! then           index: `index_len` words (a power of two >= 2 x entries)
//! then           free stack: `entries` words
//! then           slots: `entries` x `slot_words`
//! ```
//!
//! A slot is: meta (occupied bit, string-key bit, key length, value
//! length), epoch, version, order, hash, the key (`key_words`: an integer
//! key takes one), the value (`value_words`). Areas start on 64-byte lines.
//!
//! The slots and the state are the truth, and the journal covers them. The
//! index and the free stack are derived from the slots: they are not
//! journaled, and are rebuilt after any rollback (see `journal.rs`).

use std::sync::atomic::AtomicU64;

use super::capacity::Capacity;
use crate::error::{Error, Result};
use crate::header;
use crate::memory::RobustMutex;

/// Byte offset of the robust mutex.
pub(crate) const MUTEX_BYTE: usize = header::BYTES;
/// Word of the seqlock's sequence.
const SEQ: usize = 24;
/// Word of the recovery counter.
const RECOVERIES: usize = 25;
/// Word of the free stack's height.
const FREE_TOP: usize = 26;
/// First word of the state.
const STATE: usize = 32;
/// First word of the journal.
const JOURNAL: usize = 40;

/// The state's words, in order (all journaled together).
#[derive(Clone, Copy, Debug)]
pub(crate) enum State {
    /// Slots whose epoch differs from this are free: `clear` bumps it.
    Epoch = 0,
    /// The version the next write takes.
    NextVersion = 1,
    /// The insertion order the next new key takes.
    NextOrder = 2,
    /// How many keys the store holds.
    Len = 3,
}

/// How many words the state has.
pub(crate) const STATE_WORDS: usize = 4;

/// Words of a slot, in order.
pub(crate) const SLOT_META: usize = 0;
pub(crate) const SLOT_EPOCH: usize = 1;
pub(crate) const SLOT_VERSION: usize = 2;
pub(crate) const SLOT_ORDER: usize = 3;
pub(crate) const SLOT_HASH: usize = 4;
pub(crate) const SLOT_KEY: usize = 5;

const _: () = assert!(MUTEX_BYTE + 64 <= SEQ * 8, "the mutex has 64 bytes");
const _: () = assert!(RobustMutex::SIZE <= 64, "pthread_mutex_t fits its 64 bytes");
const _: () = assert!(STATE + STATE_WORDS <= JOURNAL);

/// Rounds a word offset up to the next 64-byte line.
fn line(words: usize) -> Option<usize> {
    words.checked_next_multiple_of(8)
}

/// Word offsets and sizes of one store.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub(crate) capacity: Capacity,
    pub(crate) seed: u64,
    pub(crate) key_words: usize,
    pub(crate) value_words: usize,
    pub(crate) slot_words: usize,
    pub(crate) index_len: usize,
    records: usize,
    index: usize,
    free: usize,
    slots: usize,
    total: usize,
}

impl Layout {
    /// The layout for `capacity`, hashing with `seed`.
    pub(crate) fn new(capacity: Capacity, seed: u64) -> Result<Self> {
        capacity.check()?;
        let too_big = || Error::InvalidCapacity {
            reason: format!("{capacity:?} does not fit in memory"),
        };
        let key_words = capacity.key_bytes().div_ceil(8).max(1);
        let value_words = capacity.value_bytes().div_ceil(8);
        let slot_words = SLOT_KEY + key_words + value_words;
        let entries = capacity.entries();
        let index_len = (2 * entries).next_power_of_two();
        let records = line(JOURNAL + 1 + STATE_WORDS).ok_or_else(too_big)?;
        let record_words = 1 + slot_words;
        let index = record_words
            .checked_mul(capacity.transaction_keys())
            .and_then(|journal| line(records + journal))
            .ok_or_else(too_big)?;
        let free = line(index + index_len).ok_or_else(too_big)?;
        let slots = line(free + entries).ok_or_else(too_big)?;
        let total = slot_words
            .checked_mul(entries)
            .and_then(|all| slots.checked_add(all))
            .filter(|&total| {
                total
                    .checked_mul(8)
                    .is_some_and(|b| isize::try_from(b).is_ok())
            })
            .ok_or_else(too_big)?;
        Ok(Self {
            capacity,
            seed,
            key_words,
            value_words,
            slot_words,
            index_len,
            records,
            index,
            free,
            slots,
            total,
        })
    }

    /// The header parameters that let an opener compute the same layout.
    pub(crate) fn params(&self) -> [u64; header::PARAMS] {
        let mut params = [0; header::PARAMS];
        let c = self.capacity;
        params[..5].copy_from_slice(&[
            c.entries() as u64,
            c.key_bytes() as u64,
            c.value_bytes() as u64,
            c.transaction_keys() as u64,
            self.seed,
        ]);
        params
    }

    /// The layout an opener computes from the header's parameters.
    pub(crate) fn from_params(params: [u64; header::PARAMS]) -> Result<Self> {
        let figure = |i: usize| usize::try_from(params[i]).unwrap_or(usize::MAX);
        let capacity = Capacity::new(figure(0), figure(2))
            .with_key_bytes(figure(1))
            .with_transaction_keys(figure(3));
        Self::new(capacity, params[4])
    }

    /// The whole store's length in words.
    pub(crate) fn total_words(&self) -> usize {
        self.total
    }

    /// A view of the store in `words`, which must be the whole mapping
    /// (at least [`total_words`](Self::total_words) long: checked by the
    /// creator and the opener).
    pub(crate) fn view<'a>(&'a self, words: &'a [AtomicU64]) -> View<'a> {
        debug_assert!(words.len() >= self.total);
        View {
            words,
            layout: self,
        }
    }
}

/// The words of one store, by part.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View<'a> {
    pub(crate) words: &'a [AtomicU64],
    pub(crate) layout: &'a Layout,
}

impl<'a> View<'a> {
    pub(crate) fn seq(&self) -> &'a AtomicU64 {
        &self.words[SEQ]
    }

    pub(crate) fn recoveries(&self) -> &'a AtomicU64 {
        &self.words[RECOVERIES]
    }

    pub(crate) fn free_top(&self) -> &'a AtomicU64 {
        &self.words[FREE_TOP]
    }

    pub(crate) fn state(&self, field: State) -> &'a AtomicU64 {
        &self.words[STATE + field as usize]
    }

    /// All state words, in [`State`] order.
    pub(crate) fn states(&self) -> &'a [AtomicU64] {
        &self.words[STATE..STATE + STATE_WORDS]
    }

    /// The journal's record count (0: nothing to undo; n: the state image
    /// and n - 1 slot records are valid).
    pub(crate) fn journal_count(&self) -> &'a AtomicU64 {
        &self.words[JOURNAL]
    }

    /// The journal's image of the state.
    pub(crate) fn journal_state(&self) -> &'a [AtomicU64] {
        &self.words[JOURNAL + 1..JOURNAL + 1 + STATE_WORDS]
    }

    /// Journal record `i`: the slot number's word, then the slot's image.
    pub(crate) fn record(&self, i: usize) -> (&'a AtomicU64, &'a [AtomicU64]) {
        let at = self.layout.records + i * (1 + self.layout.slot_words);
        let record = &self.words[at..at + 1 + self.layout.slot_words];
        (&record[0], &record[1..])
    }

    pub(crate) fn index(&self) -> &'a [AtomicU64] {
        &self.words[self.layout.index..self.layout.index + self.layout.index_len]
    }

    pub(crate) fn free(&self) -> &'a [AtomicU64] {
        let entries = self.layout.capacity.entries();
        &self.words[self.layout.free..self.layout.free + entries]
    }

    /// Slot `i`'s words; `i` must be below the capacity.
    pub(crate) fn slot(&self, i: usize) -> &'a [AtomicU64] {
        let at = self.layout.slots + i * self.layout.slot_words;
        &self.words[at..at + self.layout.slot_words]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_follow_one_another_on_lines() {
        let layout = Layout::new(Capacity::new(10, 20).with_key_bytes(9), 7).unwrap();
        assert_eq!((layout.key_words, layout.value_words), (2, 3));
        assert_eq!(layout.slot_words, SLOT_KEY + 2 + 3);
        assert_eq!(layout.index_len, 32);
        assert_eq!(layout.records, 48);
        assert_eq!(layout.index, line(48 + 16 * 11).unwrap());
        assert_eq!(layout.free, layout.index + 32);
        assert_eq!(layout.slots, line(layout.free + 10).unwrap());
        assert_eq!(layout.total_words(), layout.slots + 10 * 10);
        let again = Layout::from_params(layout.params()).unwrap();
        assert_eq!(again.total_words(), layout.total_words());
        assert_eq!(again.seed, 7);
    }

    #[test]
    fn impossible_capacities_are_refused() {
        assert!(Layout::new(Capacity::new(0, 1), 0).is_err());
        assert!(Layout::new(Capacity::new(1, 0), 0).is_err());
        assert!(Layout::new(Capacity::new(1, 1).with_key_bytes(0), 0).is_err());
        assert!(Layout::new(Capacity::new(1, 1).with_transaction_keys(0), 0).is_err());
        assert!(Layout::new(Capacity::new(Capacity::MAX_ENTRIES + 1, 1), 0).is_err());
        assert!(Layout::new(Capacity::new(1, Capacity::MAX_VALUE_BYTES + 1), 0).is_err());
    }
}
