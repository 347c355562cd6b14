//! The listener stacks: per signal, every listener of the process, oldest
//! first, whichever handler added it.
//!
//! A stack is an immutable `Arc<[..]>` replaced whole on every change, so a
//! dispatch takes a snapshot under the lock in one reference-count increment
//! and calls the listeners with no lock held: a listener may add or remove
//! listeners, even itself. The first listener of a signal installs the OS
//! handler; removing the last restores what was there before.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Operation, Result};
use crate::listener::{Propagation, SignalInfo};
use crate::sys::MAX_SIGNAL;
use crate::{Signal, registry};

/// A listener as stored: boxed, and behind a mutex because it is `FnMut`
/// and the stack is shared. Dispatches are serialised, so the mutex is
/// never contended.
type Listener = Box<dyn FnMut(&SignalInfo) -> Propagation + Send>;

pub(crate) struct Entry {
    id: u64,
    /// The handler (or trap) that added it; its drop removes it.
    owner: u64,
    listener: Mutex<Listener>,
    /// Set when removed, so that a dispatch holding an older snapshot skips it.
    removed: AtomicBool,
}

impl Entry {
    /// Runs the listener, unless it was removed meanwhile.
    pub(crate) fn call(&self, info: &SignalInfo) -> Option<Propagation> {
        if self.removed.load(Ordering::Acquire) {
            return None;
        }
        // A listener that panicked once poisoned its mutex; it may run again.
        let mut listener = self.listener.lock().unwrap_or_else(PoisonError::into_inner);
        Some(listener(info))
    }
}

pub(crate) type Stack = Arc<[Arc<Entry>]>;

/// Per signal number (0 unused), its stack while it has listeners. An array
/// rather than a map, kept in [`registry::PAGE`]: a forked child that
/// abandons its parent's listeners writes that one page, not tree nodes on
/// the heap.
const SLOTS: usize = MAX_SIGNAL as usize + 1;

pub(crate) struct Stacks([Option<Stack>; SLOTS]);

impl Stacks {
    pub(crate) const fn new() -> Self {
        Self([const { None }; SLOTS])
    }

    fn slot(&mut self, signal: i32) -> &mut Option<Stack> {
        &mut self.0[index(signal)]
    }

    fn get(&self, signal: i32) -> Option<&Stack> {
        self.0[index(signal)].as_ref()
    }
}

/// The slot of a signal number; every `Signal` (and every number the OS
/// handler records) is within `1..=MAX_SIGNAL`.
fn index(signal: i32) -> usize {
    usize::try_from(signal)
        .ok()
        .filter(|&i| i < SLOTS)
        .expect("a signal number within 1..=MAX_SIGNAL")
}

/// Listener and owner ids, in order of creation: a higher id is newer.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

fn lock() -> MutexGuard<'static, Stacks> {
    // Every change replaces a stack whole, so a panic leaves no half-change.
    registry::PAGE
        .stacks
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// Puts a listener on top of `signal`'s stack; the first one installs the OS handler.
pub(crate) fn push(
    signal: Signal,
    owner: u64,
    listener: impl FnMut(&SignalInfo) -> Propagation + Send + 'static,
) -> Result<u64> {
    let entry = Arc::new(Entry {
        id: next_id(),
        owner,
        listener: Mutex::new(Box::new(listener)),
        removed: AtomicBool::new(false),
    });
    let id = entry.id;
    let mut stacks = lock();
    let old = stacks.get(signal.as_raw()).cloned();
    if old.is_none() {
        registry::install(signal)
            .map_err(|source| Error::os(Operation::Install, Some(signal), source))?;
    }
    let stack: Stack = old
        .iter()
        .flat_map(|s| s.iter().cloned())
        .chain([entry])
        .collect();
    *stacks.slot(signal.as_raw()) = Some(stack);
    Ok(id)
}

/// What becomes of the listeners a removal takes off a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Release {
    /// They are dropped (outside the lock: their captures may call back in).
    Drop,
    /// They are leaked: marked removed, but nothing of theirs is freed or
    /// dropped. See [`SignalHandler::abandon`](crate::SignalHandler::abandon).
    Leak,
}

/// Removes the listeners of `signal` that `matches` selects; returns how many.
/// The last one gone restores the OS disposition.
pub(crate) fn remove_where(
    signal: Signal,
    matches: impl Fn(&Entry) -> bool,
    release: Release,
) -> usize {
    let mut stacks = lock();
    let Some(old) = stacks.get(signal.as_raw()) else {
        return 0;
    };
    // Only a snapshot held by a dispatch (of this stack, or of an older one
    // that shares the entry) can still call a removed entry: snapshots are
    // taken under the lock held here. Without one, the entry stays
    // unwritten, and a forked child abandoning its parent's listeners
    // copies no page for it.
    let snapshot_held = Arc::strong_count(old) > 1;
    let mut gone = 0;
    for entry in old.iter().filter(|e| matches(e)) {
        if snapshot_held || Arc::strong_count(entry) > 1 {
            entry.removed.store(true, Ordering::Release);
        }
        gone += 1;
    }
    if gone == 0 {
        return 0;
    }
    let old = if gone == old.len() {
        let old = stacks.slot(signal.as_raw()).take();
        // Restoring cannot fail for a signal we installed; if it did, the
        // handler would stay installed and harmless, with no listener to run.
        let _ = registry::uninstall(signal);
        old
    } else {
        let kept: Stack = old.iter().filter(|e| !matches(e)).cloned().collect();
        stacks.slot(signal.as_raw()).replace(kept)
    };
    drop(stacks);
    match release {
        Release::Drop => drop(old),
        Release::Leak => std::mem::forget(old),
    }
    gone
}

/// Removes listener `id` of `signal`, if `owner` added it (any owner for `None`).
pub(crate) fn remove(signal: Signal, id: u64, owner: Option<u64>) -> bool {
    remove_where(
        signal,
        |e| e.id == id && owner.is_none_or(|o| o == e.owner),
        Release::Drop,
    ) > 0
}

/// How many listeners `owner` has on `signal`'s stack.
pub(crate) fn count_owned(signal: Signal, owner: u64) -> usize {
    lock()
        .get(signal.as_raw())
        .map_or(0, |stack| stack.iter().filter(|e| e.owner == owner).count())
}

/// `signal`'s stack as it is now, oldest first.
pub(crate) fn snapshot(signal: i32) -> Option<Stack> {
    lock().get(signal).cloned()
}

pub(crate) fn owned_by(owner: u64) -> impl Fn(&Entry) -> bool {
    move |e| e.owner == owner
}
