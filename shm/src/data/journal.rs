//! The undo journal, rollback and crash recovery.
//!
//! # The recovery rule
//!
//! A write (one `set`, or a whole transaction) is committed at exactly one
//! instant: when its journal count is stored as 0. Before that instant the
//! journal holds the image, from before the write, of the state and of
//! every slot the write has touched or is about to touch: a writer saves a
//! slot's image, makes the count cover it (release store, then a release
//! fence), and only then changes the slot.
//!
//! - A writer that returns an error, panics, or drops a transaction
//!   uncommitted, rolls back: [`undo`] restores the images, [`rebuild`]
//!   derives the index and the free stack from the slots again, and the
//!   sequence moves on to the next even number.
//! - A writer that dies (SIGKILL, abort) leaves the robust mutex marked:
//!   the next process to lock it gets `EOWNERDEAD` and runs [`recover`]:
//!   the same undo and rebuild, plus a sequence bump whatever its parity,
//!   before marking the mutex consistent. A writer that died after the
//!   commit instant left an empty journal: its write stays.
//!
//! So every reader sees each write entirely or not at all. Recovery is
//! idempotent: if the recovering process dies too, the journal is still
//! full and the mutex still marked, and the next one starts over.
//!
//! The images are restored and the index rebuilt by the one process that
//! holds the lock; no reader trusts what it read while the sequence was odd.

use std::ops::Range;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::atomic::{AtomicU64, fence};

use super::layout::{SLOT_EPOCH, SLOT_HASH, SLOT_KEY, SLOT_META, State, View};
use super::read;
use super::slot::Meta;
use crate::hooks::{self, Point};

/// Lays out a new store's state and derived structures (memory is zero).
pub(crate) fn init(view: View<'_>) {
    view.state(State::Epoch).store(1, Relaxed);
    view.state(State::NextVersion).store(1, Relaxed);
    view.state(State::NextOrder).store(1, Relaxed);
    rebuild(view);
}

/// The words of a slot (or slot image) that hold something: the fixed
/// words and the key an occupied slot's meta announces, and its value.
fn used(view: &View<'_>, meta_word: u64) -> [Range<usize>; 2] {
    let meta = Meta::unpack(meta_word);
    if !meta.occupied {
        return [0..SLOT_KEY, 0..0];
    }
    let layout = view.layout;
    let key = meta.key_words().min(layout.key_words);
    let value_at = SLOT_KEY + layout.key_words;
    let value = meta.value_words().min(layout.value_words);
    [0..SLOT_KEY + key, value_at..value_at + value]
}

/// Copies the `used` words of one slot (or image) to another.
fn copy_used(from: &[AtomicU64], to: &[AtomicU64], used: [Range<usize>; 2]) {
    for range in used {
        copy(&from[range.clone()], &to[range]);
    }
}

fn copy(from: &[AtomicU64], to: &[AtomicU64]) {
    for (from, to) in from.iter().zip(to) {
        to.store(from.load(Relaxed), Relaxed);
    }
}

/// Saves the state's image and opens the journal (count 1). Everything
/// after this call may change the state.
pub(crate) fn open(view: View<'_>) {
    copy(view.states(), view.journal_state());
    view.journal_count().store(1, Release);
    fence(Release);
}

/// The slot numbers the open journal holds images of.
pub(crate) fn saved(view: View<'_>) -> impl Iterator<Item = u64> + '_ {
    let count = usize::try_from(view.journal_count().load(Relaxed)).unwrap_or(0);
    (0..count.saturating_sub(1)).map(move |i| view.record(i).0.load(Relaxed))
}

/// Saves `slot`'s image as record number `record` (the journal count
/// minus one) and makes the count cover it. Everything after this call
/// may change the slot.
pub(crate) fn save(view: View<'_>, record: usize, slot: usize) {
    let (number, image) = view.record(record);
    let words = view.slot(slot);
    let used = used(&view, words[SLOT_META].load(Relaxed));
    number.store(slot as u64, Relaxed);
    copy_used(words, image, used);
    view.journal_count().store(record as u64 + 2, Release);
    fence(Release);
}

/// Restores every image of the open journal, newest first, then the
/// state, except the version counter: versions handed out by the undone
/// write (a transaction's `set` returns them) are never given again.
/// Leaves the journal open: [`close`] ends it.
pub(crate) fn undo(view: View<'_>) {
    let count = usize::try_from(view.journal_count().load(Relaxed)).unwrap_or(0);
    if count == 0 {
        return;
    }
    let records = (count - 1).min(view.layout.capacity.transaction_keys());
    for record in (0..records).rev() {
        let (number, image) = view.record(record);
        let Some(slot) = usize::try_from(number.load(Relaxed))
            .ok()
            .filter(|&slot| slot < view.layout.capacity.entries())
        else {
            continue; // scribbled: no slot of ours
        };
        let used = used(&view, image[SLOT_META].load(Relaxed));
        copy_used(image, view.slot(slot), used);
    }
    let next_version = view.state(State::NextVersion).load(Relaxed);
    copy(view.journal_state(), view.states());
    let restored = view.state(State::NextVersion).load(Relaxed);
    view.state(State::NextVersion)
        .store(next_version.max(restored), Relaxed);
}

/// Ends the journal: the commit instant of a write, or the end of a rollback.
pub(crate) fn close(view: View<'_>) {
    view.journal_count().store(0, Release);
}

/// Derives the index, the free stack and the length from the slots.
pub(crate) fn rebuild(view: View<'_>) {
    let index = read::index(&view);
    index.clear();
    let epoch = view.state(State::Epoch).load(Relaxed);
    let free = view.free();
    let (mut top, mut len) = (0, 0);
    // Highest first, so the lowest free slot ends on top and is used next.
    for slot in (0..view.layout.capacity.entries()).rev() {
        let words = view.slot(slot);
        let meta = Meta::unpack(words[SLOT_META].load(Relaxed));
        if meta.occupied && meta.fits(view.layout) && words[SLOT_EPOCH].load(Relaxed) == epoch {
            index.insert(words[SLOT_HASH].load(Relaxed), slot);
            len += 1;
        } else {
            free[top].store(slot as u64, Relaxed);
            top += 1;
        }
    }
    view.free_top().store(top as u64, Relaxed);
    view.state(State::Len).store(len, Relaxed);
}

/// Repairs the store after its lock's owner died (or after finding the
/// sequence odd under a clean lock): undo, rebuild, close, and move the
/// sequence to an even number no reader has seen. The caller holds the lock.
pub(crate) fn recover(view: View<'_>) {
    undo(view);
    hooks::reached(Point::MidRecovery);
    rebuild(view);
    close(view);
    let seq = view.seq().load(Relaxed);
    view.seq().store((seq | 1) + 1, Release);
    view.recoveries().fetch_add(1, Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::capacity::Capacity;
    use crate::data::layout::Layout;

    #[test]
    fn undo_restores_state_and_slots_newest_first() {
        let layout = Layout::new(Capacity::new(4, 16), 1).unwrap();
        let words: Vec<AtomicU64> = (0..layout.total_words())
            .map(|_| AtomicU64::new(0))
            .collect();
        let view = layout.view(&words);
        init(view);
        let slot = view.slot(2);
        slot[SLOT_META].store(Meta::pack(false, 8, 16), Relaxed);
        slot[SLOT_EPOCH].store(1, Relaxed);
        let value = SLOT_KEY + layout.key_words; // the first value word
        slot[value].store(111, Relaxed);
        view.state(State::Len).store(1, Relaxed);

        open(view);
        save(view, 0, 2);
        slot[value].store(222, Relaxed);
        view.state(State::Len).store(9, Relaxed);
        save(view, 1, 2); // saved twice: the older image must win
        slot[value].store(333, Relaxed);
        assert_eq!(saved(view).collect::<Vec<_>>(), [2, 2]);

        undo(view);
        close(view);
        assert_eq!(slot[value].load(Relaxed), 111);
        assert_eq!(view.state(State::Len).load(Relaxed), 1);
        assert_eq!(view.journal_count().load(Relaxed), 0);
    }
}
