//! [`SignalHandler`]: listeners for one signal, added and removed at will.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use crate::Signal;
use crate::error::{Error, Operation, Result};
use crate::listener::{ListenerId, Propagation, SignalInfo};
use crate::registry::WakeLease;
use crate::stack::{self, Release};

/// Listeners for one signal, run newest first in ordinary context.
///
/// A listener is a closure that receives a [`SignalInfo`] and returns
/// [`Propagation::Continue`] to let the signal bubble on to older listeners,
/// or [`Propagation::Stop`] to keep it from them. Listeners run when
/// [`dispatch`](crate::dispatch) or [`wait`](crate::wait) is called, or on
/// the thread of a [`BackgroundDispatcher`](crate::BackgroundDispatcher);
/// never inside the OS signal handler, so they may lock, allocate and log.
///
/// The stack is **per signal and process-wide**: the listeners of every
/// `SignalHandler` (and [`SignalTrap`](crate::SignalTrap)) for a signal form
/// one stack, ordered by when each listener was added. All of them share one
/// OS-level installation, made when the first listener is added; when the
/// last is removed, the signal gets back the disposition it had before.
/// Dropping a handler removes the listeners it added.
///
/// ```
/// use forkwise_signal::{Propagation, Signal, SignalHandler};
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let handler = SignalHandler::new(Signal::SIGUSR1)?;
/// let (a, b) = (Arc::clone(&log), Arc::clone(&log));
/// handler.add(move |_| { a.lock().unwrap().push("default"); Propagation::Continue })?;
/// let modal = handler.add(move |_| { b.lock().unwrap().push("modal"); Propagation::Stop })?;
///
/// Signal::SIGUSR1.raise()?;
/// forkwise_signal::dispatch();
/// assert_eq!(*log.lock().unwrap(), ["modal"], "Stop kept it from the older listener");
///
/// handler.remove(modal);
/// Signal::SIGUSR1.raise()?;
/// forkwise_signal::dispatch();
/// assert_eq!(*log.lock().unwrap(), ["modal", "default"]);
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
///
/// A handler is also the process's wake-up descriptor: it is readable while
/// a signal waits for dispatch ([`AsFd`]), so any event loop can drive
/// [`dispatch`](crate::dispatch).
pub struct SignalHandler {
    listeners: Listeners,
    lease: WakeLease,
}

/// The listeners a handler added, removed (and dropped) when it is dropped.
struct Listeners {
    signal: Signal,
    owner: u64,
}

impl Listeners {
    /// Removes the listeners without dropping them.
    fn abandon(self) {
        stack::remove_where(self.signal, stack::owned_by(self.owner), Release::Leak);
        std::mem::forget(self); // holds nothing but two numbers
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        stack::remove_where(self.signal, stack::owned_by(self.owner), Release::Drop);
    }
}

impl SignalHandler {
    /// A handler for `signal`, with no listener yet: the signal's disposition
    /// does not change until the first [`add`](Self::add).
    ///
    /// # Errors
    ///
    /// [`Error::Refused`] for `SIGKILL` and `SIGSTOP` (the kernel never lets
    /// them be caught) and for the synchronous fault signals `SIGSEGV`,
    /// `SIGBUS`, `SIGILL` and `SIGFPE` (a listener running later cannot
    /// repair the faulting instruction); [`Error::Os`] if the wake-up pipe
    /// cannot be opened (the process is out of descriptors).
    ///
    /// ```
    /// use forkwise_signal::{Error, Signal, SignalHandler};
    ///
    /// let handler = SignalHandler::new(Signal::SIGHUP)?;
    /// assert_eq!(handler.signal(), Signal::SIGHUP);
    /// assert!(matches!(SignalHandler::new(Signal::SIGSTOP), Err(Error::Refused { .. })));
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    #[doc(alias = "sigaction")]
    pub fn new(signal: Signal) -> Result<Self> {
        if let Some(reason) = signal.refusal() {
            return Err(Error::Refused { signal, reason });
        }
        let lease = WakeLease::acquire()
            .map_err(|source| Error::os(Operation::OpenWakePipe, Some(signal), source))?;
        Ok(Self {
            listeners: Listeners {
                signal,
                owner: stack::next_id(),
            },
            lease,
        })
    }

    /// The signal this handler listens to.
    ///
    /// ```
    /// # use forkwise_signal::{Signal, SignalHandler};
    /// assert_eq!(SignalHandler::new(Signal::SIGTERM)?.signal(), Signal::SIGTERM);
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn signal(&self) -> Signal {
        self.listeners.signal
    }

    /// Adds `listener` on top of the signal's stack: it runs before every
    /// listener added earlier, by this handler or any other. The first
    /// listener of a signal in the process installs the OS handler.
    ///
    /// The listener stays until [`remove`](Self::remove)d or until this
    /// handler is dropped. Listeners added during a dispatch run from the
    /// next signal on.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if `sigaction(2)` fails, which it does not for a signal
    /// that [`new`](Self::new) accepted.
    ///
    /// ```
    /// use forkwise_signal::{Propagation, Signal, SignalHandler};
    ///
    /// let handler = SignalHandler::new(Signal::SIGUSR1)?;
    /// let id = handler.add(|info| {
    ///     assert_eq!(info.signal, Signal::SIGUSR1);
    ///     Propagation::Continue
    /// })?;
    /// Signal::SIGUSR1.raise()?;
    /// assert_eq!(forkwise_signal::dispatch(), 1);
    /// # let _ = id;
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn add(
        &self,
        listener: impl FnMut(&SignalInfo) -> Propagation + Send + 'static,
    ) -> Result<ListenerId> {
        let id = stack::push(self.listeners.signal, self.listeners.owner, listener)?;
        Ok(ListenerId {
            signal: self.listeners.signal,
            id,
        })
    }

    /// Adds `listener` like [`add`](Self::add), and returns a guard that
    /// removes it when dropped (or when this handler is dropped, whichever
    /// comes first).
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add).
    ///
    /// ```
    /// use forkwise_signal::{Propagation, Signal, SignalHandler};
    ///
    /// let handler = SignalHandler::new(Signal::SIGUSR1)?;
    /// handler.add(|_| Propagation::Continue)?;
    /// {
    ///     let _busy = handler.add_scoped(|_| Propagation::Stop)?;
    ///     Signal::SIGUSR1.raise()?;
    ///     assert_eq!(forkwise_signal::dispatch(), 1, "the scoped listener stopped it");
    /// }
    /// Signal::SIGUSR1.raise()?;
    /// assert_eq!(forkwise_signal::dispatch(), 1, "the scoped listener is gone");
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn add_scoped(
        &self,
        listener: impl FnMut(&SignalInfo) -> Propagation + Send + 'static,
    ) -> Result<ListenerGuard> {
        self.add(listener).map(|id| ListenerGuard { id })
    }

    /// Removes a listener this handler added; false if it was not there
    /// (removed already, or added by another handler).
    ///
    /// A listener removed during a dispatch does not run in it, unless it is
    /// running already. Removing the last listener of the signal restores the
    /// disposition the signal had before the first was added.
    ///
    /// ```
    /// use forkwise_signal::{Propagation, Signal, SignalHandler};
    ///
    /// let first = SignalHandler::new(Signal::SIGUSR1)?;
    /// let second = SignalHandler::new(Signal::SIGUSR1)?;
    /// let id = first.add(|_| Propagation::Continue)?;
    /// assert!(!second.remove(id), "not second's to remove");
    /// assert!(first.remove(id));
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn remove(&self, id: ListenerId) -> bool {
        id.signal == self.listeners.signal
            && stack::remove(self.listeners.signal, id.id, Some(self.listeners.owner))
    }

    /// How many listeners this handler has now.
    ///
    /// ```
    /// use forkwise_signal::{Propagation, Signal, SignalHandler};
    ///
    /// let handler = SignalHandler::new(Signal::SIGUSR1)?;
    /// assert!(handler.is_empty());
    /// handler.add(|_| Propagation::Continue)?;
    /// assert_eq!(handler.len(), 1);
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        stack::count_owned(self.listeners.signal, self.listeners.owner)
    }

    /// True if this handler has no listener.
    ///
    /// ```
    /// # use forkwise_signal::{Signal, SignalHandler};
    /// assert!(SignalHandler::new(Signal::SIGUSR2)?.is_empty());
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes this handler's listeners, restoring the signal's disposition
    /// as dropping the handler does, but without dropping them: what they
    /// captured is leaked, never freed.
    ///
    /// For a forked child that sheds the listeners it inherited from its
    /// parent. Freeing them would write to the memory the child still
    /// shares with the parent, and every page written costs the child a
    /// copy (some microseconds each); a child that leaves soon does better
    /// to leave that memory alone. Anywhere else, drop the handler.
    ///
    /// ```
    /// use forkwise_signal::{Propagation, Signal, SignalHandler};
    ///
    /// let handler = SignalHandler::new(Signal::SIGUSR2)?;
    /// handler.add(|_| Propagation::Continue)?;
    /// handler.abandon(); // SIGUSR2 has its old disposition again
    /// let again = SignalHandler::new(Signal::SIGUSR2)?;
    /// again.add(|_| Propagation::Continue)?;
    /// Signal::SIGUSR2.raise()?;
    /// assert_eq!(forkwise_signal::dispatch(), 1, "only the new listener ran");
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn abandon(self) {
        let Self { listeners, lease } = self;
        listeners.abandon();
        drop(lease); // releases the wake pipe, as a drop of the handler does
    }
}

/// The process's wake-up descriptor (shared by every handler): readable
/// while a signal waits for [`dispatch`](crate::dispatch). Register it with
/// an event loop (level-triggered) and call `dispatch` when it is readable.
///
/// ```
/// use forkwise_signal::{Propagation, Signal, SignalHandler};
/// use std::os::fd::AsFd;
///
/// let handler = SignalHandler::new(Signal::SIGUSR1)?;
/// handler.add(|_| Propagation::Continue)?;
/// let fd = handler.as_fd();
/// Signal::SIGUSR1.raise()?;
/// // An event loop would now see `fd` readable and call:
/// assert_eq!(forkwise_signal::dispatch(), 1);
/// # let _ = fd;
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
impl AsFd for SignalHandler {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.lease.fd()
    }
}

impl AsRawFd for SignalHandler {
    fn as_raw_fd(&self) -> RawFd {
        self.lease.fd().as_raw_fd()
    }
}

impl fmt::Debug for SignalHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalHandler")
            .field("signal", &self.listeners.signal)
            .field("listeners", &self.len())
            .finish_non_exhaustive()
    }
}

/// Removes its listener when dropped; from [`SignalHandler::add_scoped`].
///
/// ```
/// use forkwise_signal::{Propagation, Signal, SignalHandler};
///
/// let handler = SignalHandler::new(Signal::SIGUSR1)?;
/// let guard = handler.add_scoped(|_| Propagation::Continue)?;
/// assert_eq!(guard.id().signal(), Signal::SIGUSR1);
/// assert_eq!(handler.len(), 1);
/// drop(guard);
/// assert!(handler.is_empty());
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard removes the listener at once"]
pub struct ListenerGuard {
    id: ListenerId,
}

impl ListenerGuard {
    /// The listener's id.
    pub fn id(&self) -> ListenerId {
        self.id
    }
}

impl Drop for ListenerGuard {
    fn drop(&mut self) {
        stack::remove(self.id.signal, self.id.id, None);
    }
}
