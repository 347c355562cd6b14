//! The master's signal listeners: the shutdown signals (`SIGTERM`, `SIGINT`
//! by default), which it counts, and, only where a worker's end cannot be
//! watched through a pidfd, `SIGCHLD`, which wakes a waiting master when a
//! worker ends.
//!
//! Both are ordinary forkwise-signal listeners: they run when the manager
//! dispatches, never in the OS handler. A worker abandons its copies right
//! after the fork, so it starts with the dispositions the master had before
//! the manager existed, and a `SIGTERM` ends it by default.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};

use forkwise_signal::{Propagation, Signal, SignalHandler};

use crate::error::Result;

/// The master's listeners and what they recorded.
pub(crate) struct Signals {
    /// Listens only once [`watch_children`](Self::watch_children) was
    /// called; until then it only holds the wake-up descriptor open.
    sigchld: SignalHandler,
    /// Kept for their listeners, which they remove when dropped.
    _shutdown: Vec<SignalHandler>,
    watched: Vec<Signal>,
    /// The same, as raw numbers, to block around a fork.
    shutdown_numbers: Vec<i32>,
    child_ended: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    last_request: Arc<AtomicI32>,
}

impl Signals {
    /// Adds a listener for each shutdown signal.
    pub(crate) fn install(shutdown_signals: &[Signal]) -> Result<Self> {
        let sigchld = SignalHandler::new(Signal::SIGCHLD)?;

        let requests = Arc::new(AtomicU64::new(0));
        let last_request = Arc::new(AtomicI32::new(0));
        let mut handlers = Vec::with_capacity(shutdown_signals.len());
        for &signal in shutdown_signals {
            let handler = SignalHandler::new(signal)?;
            let (count, last) = (Arc::clone(&requests), Arc::clone(&last_request));
            handler.add(move |info| {
                count.fetch_add(info.count, Ordering::AcqRel);
                last.store(info.signal.as_raw(), Ordering::Release);
                Propagation::Continue
            })?;
            handlers.push(handler);
        }
        Ok(Self {
            sigchld,
            _shutdown: handlers,
            watched: shutdown_signals.to_vec(),
            shutdown_numbers: shutdown_signals.iter().map(|s| s.as_raw()).collect(),
            child_ended: Arc::new(AtomicBool::new(false)),
            requests,
            last_request,
        })
    }

    /// Starts listening to `SIGCHLD` (once): for workers whose end no pidfd
    /// watches. True if the listener was added by this call.
    pub(crate) fn watch_children(&self) -> Result<bool> {
        if !self.sigchld.is_empty() {
            return Ok(false);
        }
        let flag = Arc::clone(&self.child_ended);
        self.sigchld.add(move |_| {
            flag.store(true, Ordering::Release);
            Propagation::Continue
        })?;
        Ok(true)
    }

    /// The process's signal wake-up descriptor: readable while a signal
    /// waits for dispatch.
    pub(crate) fn wake_fd(&self) -> BorrowedFd<'_> {
        self.sigchld.as_fd()
    }

    /// True if a `SIGCHLD` was dispatched since the last call.
    pub(crate) fn take_child_ended(&self) -> bool {
        // A load first: most rounds find it false and leave the page unwritten.
        self.child_ended.load(Ordering::Acquire) && self.child_ended.swap(false, Ordering::AcqRel)
    }

    /// How many shutdown signals arrived so far, and the last of them.
    pub(crate) fn shutdown_requests(&self) -> (u64, Option<Signal>) {
        let last = Signal::from_raw(self.last_request.load(Ordering::Acquire)).ok();
        (self.requests.load(Ordering::Acquire), last)
    }

    /// In a worker: removes the master's listeners and restores the
    /// dispositions, without freeing anything of the master's (see
    /// [`SignalHandler::abandon`]): the worker leaves its parent's memory
    /// unwritten, so the kernel copies none of it for the worker.
    pub(crate) fn abandon(self) {
        let Self {
            sigchld,
            _shutdown: shutdown,
            watched,
            shutdown_numbers,
            child_ended,
            requests,
            last_request,
        } = self;
        sigchld.abandon();
        let mut shutdown = std::mem::ManuallyDrop::new(shutdown);
        for handler in shutdown.drain(..) {
            handler.abandon();
        }
        std::mem::forget((
            watched,
            shutdown_numbers,
            child_ended,
            requests,
            last_request,
        ));
    }

    /// The raw numbers of the shutdown signals, to block around a fork.
    pub(crate) fn shutdown_numbers(&self) -> &[i32] {
        &self.shutdown_numbers
    }
}

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signals")
            .field("shutdown_signals", &self.watched)
            .finish_non_exhaustive()
    }
}
