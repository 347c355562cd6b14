//! Atomics in memory shared with forked children.

use std::fmt;
use std::sync::atomic::AtomicI64;

use crate::sys;

/// `n` atomic counters in a shared anonymous mapping: a child forked after
/// creation sees and updates the same counters as its parent.
pub struct SharedCounters {
    ptr: *mut libc::c_void,
    len: usize,
}

impl SharedCounters {
    /// `n` counters, all zero.
    ///
    /// # Panics
    ///
    /// If `n` is 0 or `mmap(2)` fails.
    pub fn new(n: usize) -> Self {
        assert!(n > 0, "SharedCounters needs at least one counter");
        let bytes = n * size_of::<AtomicI64>();
        let ptr = sys::map_shared(bytes).expect("mmap for SharedCounters");
        Self { ptr, len: n }
    }
}

// SAFETY: the mapping is only ever accessed through atomics, from any
// thread or process; the pointer itself is never handed out.
unsafe impl Send for SharedCounters {}
// SAFETY: as for `Send`: `&SharedCounters` only gives `&[AtomicI64]`.
unsafe impl Sync for SharedCounters {}

impl std::ops::Deref for SharedCounters {
    type Target = [AtomicI64];

    fn deref(&self) -> &[AtomicI64] {
        // SAFETY: the mapping is `len` zero-initialised, page-aligned
        // AtomicI64s that live until `drop`; all access goes through atomics,
        // so writes from other processes are not data races.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<AtomicI64>(), self.len) }
    }
}

impl Drop for SharedCounters {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` come from `map_shared`; borrows of `self` ended.
        unsafe { sys::unmap(self.ptr, self.len * size_of::<AtomicI64>()) };
    }
}

impl fmt::Debug for SharedCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
