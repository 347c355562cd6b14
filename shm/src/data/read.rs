//! Reading a store through a [`View`]: the same functions serve the
//! lock-free reader (whose snapshot may be torn: every function returns
//! `None` for what cannot be, and the seqlock decides) and the lock holder
//! (for whom `None` means corrupt memory).

use std::sync::atomic::Ordering::Relaxed;

use super::index::{Candidate, Index, Lookup};
use super::layout::{SLOT_EPOCH, SLOT_META, SLOT_ORDER, SLOT_VERSION, State, View};
use super::slot::{self, EncodedKey, Meta};
use crate::key::{OwnedKey, Version};

/// The index of `view`.
pub(crate) fn index<'a>(view: &View<'a>) -> Index<'a> {
    Index::new(view.index(), view.layout.capacity.entries())
}

/// A slot's meta if it holds a live entry; `Err(())` if it cannot be a
/// live entry in a consistent store (torn, or the index is stale).
fn live_meta(view: &View<'_>, slot: usize) -> Result<Meta, ()> {
    let words = view.slot(slot);
    let meta = Meta::unpack(words[SLOT_META].load(Relaxed));
    let current = words[SLOT_EPOCH].load(Relaxed) == view.state(State::Epoch).load(Relaxed);
    if meta.occupied && current && meta.fits(view.layout) {
        Ok(meta)
    } else {
        Err(())
    }
}

/// Finds `key`'s slot.
pub(crate) fn lookup(view: &View<'_>, key: &EncodedKey<'_>) -> Lookup {
    index(view).find(key.hash, |slot| match live_meta(view, slot) {
        Ok(meta) if key.matches(view.slot(slot), meta) => Candidate::Match,
        Ok(_) => Candidate::Other,
        Err(()) => Candidate::Torn,
    })
}

/// `key`'s version, and its value's bytes copied into `value` if given:
/// `Some(None)` if the key is absent, `None` if torn.
#[allow(
    clippy::option_option,
    reason = "the outer `None` is a torn read (as for every read function), the inner an absent key"
)]
pub(crate) fn entry(
    view: &View<'_>,
    key: &EncodedKey<'_>,
    value: Option<&mut Vec<u8>>,
) -> Option<Option<Version>> {
    match lookup(view, key) {
        Lookup::Missing => Some(None),
        Lookup::Torn => None,
        Lookup::Found { slot, .. } => {
            let words = view.slot(slot);
            let meta = live_meta(view, slot).ok()?;
            if let Some(value) = value {
                slot::load_value(words, view.layout, meta.value_len, value);
            }
            Some(Some(Version(words[SLOT_VERSION].load(Relaxed))))
        }
    }
}

/// Every key with its insertion order, sorted by it; `None` if torn.
pub(crate) fn keys(view: &View<'_>) -> Option<Vec<OwnedKey>> {
    let mut keys = Vec::new();
    for slot in 0..view.layout.capacity.entries() {
        let words = view.slot(slot);
        let meta = Meta::unpack(words[SLOT_META].load(Relaxed));
        if !meta.occupied
            || words[SLOT_EPOCH].load(Relaxed) != view.state(State::Epoch).load(Relaxed)
        {
            continue;
        }
        if !meta.fits(view.layout) {
            return None;
        }
        keys.push((
            words[SLOT_ORDER].load(Relaxed),
            slot::load_key(words, meta)?,
        ));
    }
    keys.sort_unstable_by_key(|(order, _)| *order);
    Some(keys.into_iter().map(|(_, key)| key).collect())
}

/// How many keys the store holds; `None` if torn.
pub(crate) fn len(view: &View<'_>) -> Option<usize> {
    usize::try_from(view.state(State::Len).load(Relaxed))
        .ok()
        .filter(|&len| len <= view.layout.capacity.entries())
}
