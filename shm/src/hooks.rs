//! Test hooks: named points inside a write where a test can pause (or
//! SIGKILL) the writing process, to check crash recovery. Not part of the
//! API: hidden from the docs, and free when no hook is set (one relaxed
//! atomic load per point).

use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A point inside a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Point {
    /// Half of a value's words are written; the write is not committed.
    MidValue,
    /// The write is committed (its journal emptied), but the sequence is
    /// still odd and the lock still held.
    Committed,
    /// Half of a buffered `SharedArray` element's words are written into
    /// its spare buffer; the write is not published.
    MidElement,
    /// A recovery has restored the journal's state image but not yet
    /// rebuilt the index or released the lock.
    MidRecovery,
    /// A named region is created, sized and initialised, but its header
    /// is not written yet: an opener finds it and must wait.
    BeforePublication,
}

type Hook = Box<dyn Fn(Point) + Send + Sync>;

static ARMED: AtomicBool = AtomicBool::new(false);
static HOOK: Mutex<Option<Hook>> = Mutex::new(None);

/// Calls `hook` at every [`Point`] this process reaches, until [`clear`].
///
/// For tests only: a hook that never returns (it waits to be killed)
/// leaves the store locked mid-write.
pub fn set(hook: impl Fn(Point) + Send + Sync + 'static) {
    *HOOK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Box::new(hook));
    ARMED.store(true, Ordering::SeqCst);
}

/// Removes the hook.
pub fn clear() {
    ARMED.store(false, Ordering::SeqCst);
    *HOOK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
}

/// Called by the crate at `point`.
pub(crate) fn reached(point: Point) {
    if ARMED.load(Ordering::Relaxed)
        && let Some(hook) = &*HOOK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        hook(point);
    }
}

thread_local! {
    static LAST_COMMIT: Cell<Option<u64>> = const { Cell::new(None) };
}

/// While a hook is set: the version of the last write of the last write
/// session (a `set`, `remove`, `clear`, successful `compare_and_set` or
/// transaction) this thread committed. Versions come from one counter per
/// store, taken under its lock, so they order every commit of every
/// process: what a test needs to replay them against a model.
pub fn last_commit() -> Option<u64> {
    LAST_COMMIT.get()
}

/// Called by the crate when a session commits, with its last version.
pub(crate) fn committed(version: u64) {
    if ARMED.load(Ordering::Relaxed) {
        LAST_COMMIT.set(Some(version));
    }
}
