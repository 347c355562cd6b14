//! [`Session`]: the store's lock held by this thread, and the writes made
//! under it, journaled (see `journal.rs`) and committed or rolled back.
//!
//! A session takes the robust mutex (recovering the store if the last
//! owner died), and leaves the sequence even until its first change. The
//! first change makes the sequence odd (readers stop trusting what they
//! read) and opens the journal; every slot is saved before it is first
//! changed. [`commit`](Session::commit) closes the journal (the commit
//! instant), makes the sequence even again and unlocks. Dropping a session
//! uncommitted (an error, a panic) rolls it back, then unlocks.
//!
//! pthread mutexes belong to the thread that locked them, so a session is
//! neither `Send` nor `Sync`, and never outlives the call that began it.

use std::marker::PhantomData;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::atomic::fence;

use super::index::Lookup;
use super::journal;
use super::layout::{SLOT_EPOCH, SLOT_HASH, SLOT_META, SLOT_ORDER, SLOT_VERSION, State, View};
use super::read;
use super::slot::{self, EncodedKey, Meta};
use super::store::Store;
use crate::error::{Error, Operation, Result};
use crate::hooks::{self, Point};
use crate::key::Version;
use crate::sys::Locked;

/// The lock, held by this thread, and the writes made under it.
#[derive(Debug)]
pub(crate) struct Session<'a> {
    store: &'a Store,
    view: View<'a>,
    /// The (even) sequence when the session began.
    seq: u64,
    /// True once the first change made the sequence odd and opened the journal.
    writing: bool,
    /// True once committed or rolled back, and unlocked.
    ended: bool,
    /// Not `Send`: the mutex belongs to this thread.
    _thread: PhantomData<*const ()>,
}

impl<'a> Session<'a> {
    /// Locks the store, recovering it first if its last owner died.
    ///
    /// # Errors
    ///
    /// [`Error::Reentrant`] if this thread holds the lock already;
    /// [`Error::Os`] with [`Operation::Lock`] if the mutex fails.
    pub(crate) fn begin(store: &'a Store) -> Result<Self> {
        let view = store.view();
        let mutex = store.mutex();
        let locked = mutex.lock().map_err(|source| {
            if source.raw_os_error() == Some(libc::EDEADLK) {
                Error::Reentrant {
                    region: store.shown().to_owned(),
                }
            } else {
                Error::os(Operation::Lock, store.shown(), source)
            }
        })?;
        let mut session = Self {
            store,
            view,
            seq: 0,
            writing: false,
            ended: false,
            _thread: PhantomData,
        };
        let seq = view.seq().load(Relaxed);
        let dirty = seq & 1 == 1 || view.journal_count().load(Relaxed) != 0;
        if locked == Locked::OwnerDied || dirty {
            journal::recover(view);
        }
        if locked == Locked::OwnerDied {
            mutex
                .consistent()
                .map_err(|source| Error::os(Operation::Lock, store.shown(), source))?;
        }
        session.seq = view.seq().load(Relaxed);
        Ok(session)
    }

    /// The store as it stands under the lock, this session's changes included.
    pub(crate) fn view(&self) -> View<'a> {
        self.view
    }

    /// Makes the sequence odd and opens the journal, once per session.
    fn start_writing(&mut self) {
        if !self.writing {
            self.view.seq().store(self.seq + 1, Relaxed);
            fence(Release);
            journal::open(self.view);
            self.writing = true;
        }
    }

    /// Saves `slot`'s image unless this session has already.
    fn save_slot(&mut self, slot: usize) -> Result<()> {
        self.start_writing();
        if journal::saved(self.view).any(|saved| saved == slot as u64) {
            return Ok(());
        }
        let records = journal::saved(self.view).count();
        let limit = self.view.layout.capacity.transaction_keys();
        if records >= limit {
            return Err(Error::TransactionTooLarge {
                region: self.store.shown().to_owned(),
                limit,
            });
        }
        journal::save(self.view, records, slot);
        Ok(())
    }

    /// Returns the counter `field` (a version, an order, the epoch) and
    /// moves it on by one.
    fn next(&self, field: State) -> u64 {
        let word = self.view.state(field);
        let value = word.load(Relaxed);
        word.store(value + 1, Relaxed);
        value
    }

    /// `key`'s slot and index position, if present.
    pub(crate) fn find(&self, key: &EncodedKey<'_>) -> Result<Option<(usize, usize)>> {
        match read::lookup(&self.view, key) {
            Lookup::Found { slot, position } => Ok(Some((slot, position))),
            Lookup::Missing => Ok(None),
            Lookup::Torn => Err(self.store.corrupt()),
        }
    }

    /// `key`'s version, if present.
    pub(crate) fn version(&self, key: &EncodedKey<'_>) -> Result<Option<Version>> {
        Ok(self
            .find(key)?
            .map(|(slot, _)| Version(self.view.slot(slot)[SLOT_VERSION].load(Relaxed))))
    }

    /// Stores `value` (encoded) under `key`, inserting it if absent.
    ///
    /// # Errors
    ///
    /// [`Error::Full`] or [`Error::TransactionTooLarge`], with the store
    /// unchanged.
    pub(crate) fn set(&mut self, key: &EncodedKey<'_>, value: &[u8]) -> Result<Version> {
        let (slot, new) = match self.find(key)? {
            Some((slot, _)) => (slot, false),
            None => (self.free_slot()?, true),
        };
        self.save_slot(slot)?;
        let version = self.next(State::NextVersion);
        let words = self.view.slot(slot);
        slot::store_value(words, self.view.layout, value);
        words[SLOT_VERSION].store(version, Relaxed);
        if new {
            key.store(words);
            words[SLOT_HASH].store(key.hash, Relaxed);
            words[SLOT_ORDER].store(self.next(State::NextOrder), Relaxed);
            let epoch = self.view.state(State::Epoch).load(Relaxed);
            words[SLOT_EPOCH].store(epoch, Relaxed);
            let top = self.view.free_top();
            top.store(top.load(Relaxed) - 1, Relaxed);
            read::index(&self.view).insert(key.hash, slot);
            let len = self.view.state(State::Len);
            len.store(len.load(Relaxed) + 1, Relaxed);
        }
        words[SLOT_META].store(key.meta(value.len()), Relaxed);
        Ok(Version(version))
    }

    /// The slot the next new key takes (the top of the free stack).
    fn free_slot(&self) -> Result<usize> {
        let entries = self.view.layout.capacity.entries();
        let top = usize::try_from(self.view.free_top().load(Relaxed)).unwrap_or(usize::MAX);
        if top == 0 {
            return Err(Error::Full {
                region: self.store.shown().to_owned(),
                entries,
            });
        }
        usize::try_from(
            self.view
                .free()
                .get(top - 1)
                .ok_or_else(|| self.store.corrupt())?
                .load(Relaxed),
        )
        .ok()
        .filter(|&slot| slot < entries)
        .ok_or_else(|| self.store.corrupt())
    }

    /// Removes `key`; false if it was absent.
    ///
    /// # Errors
    ///
    /// [`Error::TransactionTooLarge`], with the store unchanged.
    pub(crate) fn remove(&mut self, key: &EncodedKey<'_>) -> Result<bool> {
        let Some((slot, position)) = self.find(key)? else {
            return Ok(false);
        };
        self.save_slot(slot)?;
        self.next(State::NextVersion);
        let view = self.view;
        view.slot(slot)[SLOT_META].store(Meta::FREE, Relaxed);
        read::index(&view).remove(position, |other| view.slot(other)[SLOT_HASH].load(Relaxed));
        let top = view.free_top();
        let height = top.load(Relaxed);
        view.free()[usize::try_from(height).expect("below the capacity")]
            .store(slot as u64, Relaxed);
        top.store(height + 1, Relaxed);
        let len = view.state(State::Len);
        len.store(len.load(Relaxed) - 1, Relaxed);
        Ok(true)
    }

    /// Removes every key: one new epoch makes every slot free.
    pub(crate) fn clear(&mut self) {
        self.start_writing();
        self.next(State::NextVersion);
        self.next(State::Epoch);
        journal::rebuild(self.view);
    }

    /// Commits the session's writes and unlocks.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with [`Operation::Unlock`] if the mutex fails (the
    /// writes are committed).
    pub(crate) fn commit(mut self) -> Result<()> {
        if self.writing {
            journal::close(self.view);
            hooks::reached(Point::Committed);
            hooks::committed(self.view.state(State::NextVersion).load(Relaxed) - 1);
            self.view.seq().store(self.seq + 2, Release);
        }
        self.unlock()
    }

    fn unlock(&mut self) -> Result<()> {
        self.ended = true;
        self.store
            .mutex()
            .unlock()
            .map_err(|source| Error::os(Operation::Unlock, self.store.shown(), source))
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if self.writing {
            journal::undo(self.view);
            journal::rebuild(self.view);
            journal::close(self.view);
            self.view.seq().store(self.seq + 2, Release);
        }
        // No one to report a failure to; the next locker would see it.
        let _ = self.unlock();
    }
}
