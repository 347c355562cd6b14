//! The hash index: key hash to slot number, open addressing with linear
//! probing, at most half full, no tombstones (deletion shifts the entries
//! after it back, Knuth's Algorithm R).
//!
//! An index word is 0 when empty, else `(hash >> 32) << 32 | (slot + 1)`:
//! the high half of the hash as a tag (so most non-matching probes never
//! touch a slot), the slot number plus one below. A key's home position is
//! `hash & (len - 1)`.
//!
//! The index is derived data: rebuilt from the slots after any rollback,
//! never journaled. Readers probe it without the lock; what they find is
//! validated by the seqlock, and slot numbers are bounds-checked first.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What probing for a key found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The key's slot, and the index position pointing to it.
    Found { slot: usize, position: usize },
    /// The key is not in the index.
    Missing,
    /// An impossible word or slot was seen: a reader raced a writer.
    Torn,
}

/// What the caller says of a candidate slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Candidate {
    /// It holds the key.
    Match,
    /// It holds another key.
    Other,
    /// It holds something impossible (a torn read).
    Torn,
}

/// The index over `words` (a power-of-two length) of a store of `entries`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Index<'a> {
    words: &'a [AtomicU64],
    entries: usize,
}

fn word(hash: u64, slot: usize) -> u64 {
    (hash >> 32) << 32 | (slot as u64 + 1)
}

impl<'a> Index<'a> {
    pub(crate) fn new(words: &'a [AtomicU64], entries: usize) -> Self {
        debug_assert!(words.len().is_power_of_two() && words.len() >= 2 * entries);
        Self { words, entries }
    }

    fn mask(&self) -> usize {
        self.words.len() - 1
    }

    fn home(&self, hash: u64) -> usize {
        usize::try_from(hash & self.mask() as u64).unwrap_or(0)
    }

    /// Probes for `hash`, asking `candidate` about each slot whose tag matches.
    pub(crate) fn find(&self, hash: u64, mut candidate: impl FnMut(usize) -> Candidate) -> Lookup {
        let home = self.home(hash);
        for probe in 0..self.words.len() {
            let position = (home + probe) & self.mask();
            let found = self.words[position].load(Relaxed);
            if found == 0 {
                return Lookup::Missing;
            }
            if found >> 32 != hash >> 32 {
                continue;
            }
            let Some(slot) = usize::try_from(found & 0xffff_ffff)
                .ok()
                .and_then(|n| n.checked_sub(1))
                .filter(|&slot| slot < self.entries)
            else {
                return Lookup::Torn;
            };
            match candidate(slot) {
                Candidate::Match => return Lookup::Found { slot, position },
                Candidate::Other => {}
                Candidate::Torn => return Lookup::Torn,
            }
        }
        // A full circle without an empty word: only a torn read sees that,
        // since a consistent index is at most half full.
        Lookup::Torn
    }

    /// Adds `slot` under `hash` (writers only; the key must be absent).
    pub(crate) fn insert(&self, hash: u64, slot: usize) {
        let home = self.home(hash);
        for probe in 0..self.words.len() {
            let position = (home + probe) & self.mask();
            if self.words[position].load(Relaxed) == 0 {
                self.words[position].store(word(hash, slot), Relaxed);
                return;
            }
        }
        unreachable!("the index has twice as many words as the store has entries");
    }

    /// Removes the word at `position` and shifts back the words after it
    /// that would otherwise no longer be found (writers only). `hash_of`
    /// gives the full hash of a slot.
    pub(crate) fn remove(&self, position: usize, hash_of: impl Fn(usize) -> u64) {
        let mask = self.mask();
        let mut gap = position;
        self.words[gap].store(0, Relaxed);
        let mut next = gap;
        loop {
            next = (next + 1) & mask;
            let moving = self.words[next].load(Relaxed);
            if moving == 0 {
                return;
            }
            let slot = usize::try_from((moving & 0xffff_ffff) - 1).unwrap_or(0);
            let home = self.home(hash_of(slot));
            // The word at `next` stays if its home lies cyclically in
            // (gap, next]: probing from there reaches it without the gap.
            let stays = if gap <= next {
                gap < home && home <= next
            } else {
                gap < home || home <= next
            };
            if !stays {
                self.words[gap].store(moving, Relaxed);
                self.words[next].store(0, Relaxed);
                gap = next;
            }
        }
    }

    /// Empties the index (writers only).
    pub(crate) fn clear(&self) {
        for word in self.words {
            word.store(0, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index of 8 words over 4 slots whose hashes the test chooses.
    struct Fixture {
        words: Vec<AtomicU64>,
        hashes: Vec<u64>,
    }

    impl Fixture {
        fn new(hashes: &[u64]) -> Self {
            Self {
                words: (0..8).map(|_| AtomicU64::new(0)).collect(),
                hashes: hashes.to_vec(),
            }
        }

        fn index(&self) -> Index<'_> {
            Index::new(&self.words, 4)
        }

        fn find(&self, slot: usize) -> Lookup {
            self.index().find(self.hashes[slot], |candidate| {
                if candidate == slot {
                    Candidate::Match
                } else {
                    Candidate::Other
                }
            })
        }

        fn remove(&self, slot: usize) {
            let Lookup::Found { position, .. } = self.find(slot) else {
                panic!("slot {slot} is not indexed");
            };
            self.index().remove(position, |s| self.hashes[s]);
        }
    }

    #[test]
    fn colliding_keys_probe_on_and_survive_removals() {
        // Slots 0, 1 and 3 share home 6 (same tag too); slot 2 lives at 7.
        let same = 0xabcd_0000_0000_0006;
        let fixture = Fixture::new(&[same, same, 0x1234_0000_0000_0007, same]);
        for slot in 0..4 {
            fixture.index().insert(fixture.hashes[slot], slot);
        }
        for slot in 0..4 {
            assert!(matches!(fixture.find(slot), Lookup::Found { slot: s, .. } if s == slot));
        }
        // Removing the first of the cluster must keep every other findable.
        fixture.remove(0);
        assert_eq!(fixture.find(0), Lookup::Missing);
        for slot in 1..4 {
            assert!(
                matches!(fixture.find(slot), Lookup::Found { .. }),
                "slot {slot}"
            );
        }
        fixture.remove(2);
        fixture.remove(1);
        assert!(matches!(fixture.find(3), Lookup::Found { .. }));
        fixture.remove(3);
        assert!(fixture.words.iter().all(|w| w.load(Relaxed) == 0));
    }

    #[test]
    fn impossible_words_are_torn() {
        let fixture = Fixture::new(&[5]);
        fixture.words[5].store(word(5, 99), Relaxed); // slot 99 of 4
        assert_eq!(fixture.find(0), Lookup::Torn);
        for w in &fixture.words {
            w.store(word(0x1_0000_0000, 1), Relaxed); // full, other tag
        }
        assert_eq!(fixture.find(0), Lookup::Torn);
    }
}
