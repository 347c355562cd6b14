//! What every object handle holds: the identifier, the key, whether this
//! process created the object and may remove it, and the error mapping
//! that tells a removed object from other failures.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Object, Operation, Result};
use crate::options::Options;
use crate::{Key, sys};

/// An open SysV object of kind `object`.
#[derive(Debug)]
pub(crate) struct Handle {
    id: i32,
    key: Key,
    object: Object,
    created: bool,
    /// Remove the object when this handle is dropped in the process that
    /// created it ([`Options::remove_on_drop`], and only if `created`).
    remove_on_drop: bool,
    /// [`sys::fork_generation`] when the handle was made: a forked child's
    /// copy of the handle sees another number and never removes the object.
    generation: u64,
    removed: AtomicBool,
}

impl Handle {
    /// Creates the object through `create`, or opens it through `open`, as
    /// `options` say. `create` returns `Ok(None)` when an object with the
    /// key exists; `open` returns `Ok(None)` when none does.
    pub(crate) fn open(
        object: Object,
        key: Key,
        options: &Options,
        mut create: impl FnMut(sys::RawKey, u16) -> io::Result<Option<i32>>,
        mut open: impl FnMut(sys::RawKey) -> io::Result<Option<i32>>,
    ) -> Result<Self> {
        let failed = |source| Error::Os {
            operation: Operation::Open,
            object,
            key: key.clone(),
            source,
        };
        if key.is_private() && !options.create {
            // IPC_PRIVATE names no existing object.
            return Err(Error::NotFound { object, key });
        }
        let (id, created) = loop {
            if options.create {
                match create(key.as_raw(), options.mode).map_err(failed)? {
                    Some(id) => break (id, true),
                    None if options.exclusive => {
                        return Err(Error::AlreadyExists { object, key });
                    }
                    None => {}
                }
            }
            match open(key.as_raw()).map_err(failed)? {
                Some(id) => break (id, false),
                None if !options.create => return Err(Error::NotFound { object, key }),
                // Removed between our create and our open: create it again.
                None => {}
            }
        };
        Ok(Self {
            id,
            key,
            object,
            created,
            remove_on_drop: created && options.remove_on_drop,
            generation: sys::fork_generation(),
            removed: AtomicBool::new(false),
        })
    }

    pub(crate) fn id(&self) -> i32 {
        self.id
    }

    pub(crate) fn key(&self) -> &Key {
        &self.key
    }

    pub(crate) fn created(&self) -> bool {
        self.created
    }

    /// The error for `source`, which `operation` on this object returned:
    /// [`Error::Removed`] if the object is gone (EIDRM, or EINVAL for an
    /// identifier that no longer names an object), [`Error::Os`] otherwise.
    pub(crate) fn error(&self, operation: Operation, source: io::Error) -> Error {
        if sys::is_removed(&source) || (sys::is_invalid(&source) && !self.exists()) {
            return Error::Removed {
                operation,
                object: self.object,
                key: self.key.clone(),
                source,
            };
        }
        Error::Os {
            operation,
            object: self.object,
            key: self.key.clone(),
            source,
        }
    }

    /// Whether the identifier still names an object, by asking for its status.
    fn exists(&self) -> bool {
        let status = match self.object {
            Object::Semaphore => sys::sem::status(self.id).map(drop),
            Object::Queue => sys::msg::status(self.id).map(drop),
            Object::Segment => sys::shm::status(self.id).map(drop),
        };
        !status.is_err_and(|err| sys::is_invalid(&err) || sys::is_removed(&err))
    }

    /// Removes the object now (`IPC_RMID`).
    pub(crate) fn remove(&self) -> Result<()> {
        let removed = match self.object {
            Object::Semaphore => sys::sem::remove(self.id),
            Object::Queue => sys::msg::remove(self.id),
            Object::Segment => sys::shm::remove(self.id),
        };
        removed.map_err(|source| self.error(Operation::Remove, source))?;
        self.removed.store(true, Ordering::Relaxed);
        Ok(())
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.remove_on_drop
            && !self.removed.load(Ordering::Relaxed)
            && self.generation == sys::fork_generation()
        {
            // Someone may have removed it meanwhile (ipcrm); nothing to report to.
            let _ = self.remove();
        }
    }
}
