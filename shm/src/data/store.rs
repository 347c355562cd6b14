//! [`Store`]: a mapped store with its layout, how it is created and
//! opened, and the optimistic (seqlock) read loop.
//!
//! # Reads
//!
//! A reader never takes the lock while the sequence word says no write is
//! under way: it loads the sequence (acquire), reads what it needs through
//! relaxed atomic loads into its own memory, issues an acquire fence and
//! loads the sequence again. Equal and even: no write overlapped, what it
//! copied is a consistent snapshot. Otherwise it backs off and tries again.
//! What a reader copies may be garbage when a write overlapped, so the
//! read functions bounds-check every length and slot number they load and
//! report "torn" instead of trusting them, and values are decoded only
//! after the sequence check.
//!
//! After a short backoff (spinning, then yielding), a reader takes the lock
//! and reads under it: that bounds its wait under a stream of writes, and
//! it is how a reader that finds a dead writer's odd sequence gets the
//! store recovered (see `journal.rs`).

use std::sync::atomic::{Ordering, fence};

use crossbeam_utils::Backoff;

use super::capacity::Capacity;
use super::journal;
use super::layout::{Layout, MUTEX_BYTE, View};
use super::session::Session;
use crate::error::{Error, Operation, Result};
use crate::header::RegionKind;
use crate::mapping::{Mapping, Spec};
use crate::memory::{Memory, RobustMutex};

/// A mapped store.
#[derive(Debug)]
pub(crate) struct Store {
    mapping: Mapping,
    layout: Layout,
}

impl Store {
    pub(crate) fn create(name: &str, capacity: Capacity) -> Result<Self> {
        let layout = Layout::new(capacity, random_seed())?;
        let mapping = Mapping::create(name, Self::spec(&layout), |memory, shown| {
            Self::init(memory, &layout, shown)
        })?;
        Ok(Self { mapping, layout })
    }

    pub(crate) fn anonymous(capacity: Capacity) -> Result<Self> {
        let layout = Layout::new(capacity, random_seed())?;
        let mapping = Mapping::anonymous(Self::spec(&layout), |memory, shown| {
            Self::init(memory, &layout, shown)
        })?;
        Ok(Self { mapping, layout })
    }

    pub(crate) fn open(name: &str) -> Result<Self> {
        let mapping = Mapping::open(name, RegionKind::Data)?;
        let layout = Self::check(&mapping)?;
        Ok(Self { mapping, layout })
    }

    #[cfg(feature = "sysv")]
    pub(crate) fn in_segment(
        segment: forkwise_sysv::SharedSegment,
        capacity: Capacity,
    ) -> Result<Self> {
        let layout = Layout::new(capacity, random_seed())?;
        let mapping = Mapping::in_segment(segment, Self::spec(&layout), |memory, shown| {
            Self::init(memory, &layout, shown)
        })?;
        // An opener's layout comes from the creator's header (its seed).
        let layout = Self::check(&mapping)?;
        if layout.capacity != capacity {
            return Err(Error::InvalidCapacity {
                reason: format!(
                    "{} holds a store of {:?}, not {capacity:?}",
                    mapping.shown(),
                    layout.capacity
                ),
            });
        }
        Ok(Self { mapping, layout })
    }

    fn spec(layout: &Layout) -> Spec {
        Spec {
            kind: RegionKind::Data,
            len: layout.total_words() * 8,
            params: layout.params(),
        }
    }

    /// Lays out a new store: the lock, the state, the derived structures.
    fn init(memory: &Memory, layout: &Layout, shown: &str) -> Result<()> {
        let mutex = memory.mutex(MUTEX_BYTE).ok_or_else(|| Error::Mismatch {
            region: shown.to_owned(),
            what: "room for the lock",
            expected: RobustMutex::SIZE as u64,
            found: memory.len() as u64,
        })?;
        mutex
            .init_unpublished()
            .map_err(|source| Error::os(Operation::Lock, shown, source))?;
        journal::init(layout.view(memory.words()));
        Ok(())
    }

    /// The layout an opened region's header describes, checked against
    /// the mapping's length.
    fn check(mapping: &Mapping) -> Result<Layout> {
        let layout = Layout::from_params(mapping.params()).map_err(|_| Error::Mismatch {
            region: mapping.shown().to_owned(),
            what: "capacity in the header (not a valid capacity)",
            expected: 1,
            found: 0,
        })?;
        let expected = layout.total_words() as u64 * 8;
        let found = mapping.memory().len() as u64;
        if expected != found {
            return Err(Error::Mismatch {
                region: mapping.shown().to_owned(),
                what: "mapping length for the store's capacity",
                expected,
                found,
            });
        }
        Ok(layout)
    }

    pub(crate) fn view(&self) -> View<'_> {
        self.layout.view(self.mapping.memory().words())
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    pub(crate) fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// The region as errors name it.
    pub(crate) fn shown(&self) -> &str {
        self.mapping.shown()
    }

    pub(crate) fn mutex(&self) -> RobustMutex<'_> {
        self.mapping
            .memory()
            .mutex(MUTEX_BYTE)
            .expect("the layout reserves the lock's bytes")
    }

    /// Runs `attempt` on a consistent snapshot of the store and returns
    /// what it returned; `attempt` returns `None` when it saw something
    /// impossible (a torn read). See the module docs.
    pub(crate) fn read<R>(&self, mut attempt: impl FnMut(View<'_>) -> Option<R>) -> Result<R> {
        let view = self.view();
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            let before = view.seq().load(Ordering::Acquire);
            if before & 1 == 0 {
                let result = attempt(view);
                fence(Ordering::Acquire);
                if view.seq().load(Ordering::Relaxed) == before {
                    // Consistent but impossible means scribbled memory:
                    // the locked read below reports it.
                    match result {
                        Some(result) => return Ok(result),
                        None => break,
                    }
                }
            }
            backoff.snooze();
        }
        let session = match Session::begin(self) {
            Ok(session) => Some(session),
            // This thread holds the lock in a transaction, between two of
            // its operations: the store is consistent, read it as it is.
            Err(Error::Reentrant { .. }) => None,
            Err(err) => return Err(err),
        };
        let result = attempt(view).ok_or_else(|| self.corrupt());
        drop(session);
        result
    }

    pub(crate) fn corrupt(&self) -> Error {
        Error::Corrupt {
            region: self.shown().to_owned(),
        }
    }
}

/// A hash seed no one can guess: from std's per-process random keys.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}
