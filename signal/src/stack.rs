//! The listener stacks: per signal, every listener of the process, oldest
//! first, whichever handler added it.
//!
//! A stack is an immutable `Arc<[..]>` replaced whole on every change, so a
//! dispatch takes a snapshot under the lock in one reference-count increment
//! and calls the listeners with no lock held: a listener may add or remove
//! listeners, even itself. The first listener of a signal installs the OS
//! handler; removing the last restores what was there before.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::{Error, Operation, Result};
use crate::listener::{Propagation, SignalInfo};
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

static STACKS: Mutex<BTreeMap<i32, Stack>> = Mutex::new(BTreeMap::new());

/// Listener and owner ids, in order of creation: a higher id is newer.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

fn lock() -> MutexGuard<'static, BTreeMap<i32, Stack>> {
    // Every change replaces a stack whole, so a panic leaves no half-change.
    STACKS.lock().unwrap_or_else(PoisonError::into_inner)
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
    let old = stacks.get(&signal.as_raw()).cloned();
    if old.is_none() {
        registry::install(signal)
            .map_err(|source| Error::os(Operation::Install, Some(signal), source))?;
    }
    let stack: Stack = old
        .iter()
        .flat_map(|s| s.iter().cloned())
        .chain([entry])
        .collect();
    stacks.insert(signal.as_raw(), stack);
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
    let Some(old) = stacks.get(&signal.as_raw()) else {
        return 0;
    };
    let mut gone = 0;
    for entry in old.iter().filter(|e| matches(e)) {
        entry.removed.store(true, Ordering::Release);
        gone += 1;
    }
    if gone == 0 {
        return 0;
    }
    let old = if gone == old.len() {
        let old = stacks.remove(&signal.as_raw());
        // Restoring cannot fail for a signal we installed; if it did, the
        // handler would stay installed and harmless, with no listener to run.
        let _ = registry::uninstall(signal);
        old
    } else {
        let kept: Stack = old.iter().filter(|e| !matches(e)).cloned().collect();
        stacks.insert(signal.as_raw(), kept)
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
        .get(&signal.as_raw())
        .map_or(0, |stack| stack.iter().filter(|e| e.owner == owner).count())
}

/// `signal`'s stack as it is now, oldest first.
pub(crate) fn snapshot(signal: i32) -> Option<Stack> {
    lock().get(&signal).cloned()
}

pub(crate) fn owned_by(owner: u64) -> impl Fn(&Entry) -> bool {
    move |e| e.owner == owner
}
