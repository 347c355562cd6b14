//! [`BackgroundDispatcher`]: listeners run on a thread of their own, as soon
//! as a signal arrives.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::thread::{self, JoinHandle};

use crate::error::{Error, Operation, Result};
use crate::registry::WakeLease;
use crate::{dispatch, sys};

/// A thread that waits for signals and runs their listeners as they arrive:
/// "asynchronous" delivery, with no dispatch loop of your own.
///
/// Opt-in, because it makes the process **multi-threaded**: forking a
/// multi-threaded process is unsound for anything but a prompt `exec` or
/// `_exit` in the child (a lock held by the other thread stays locked in the
/// child forever), so forkwise-fork refuses to fork then unless you opt in.
/// [`stop`](Self::stop) the dispatcher before forking. A child forked anyway
/// has no dispatcher thread; dropping its copy of the dispatcher does nothing.
///
/// Listeners then run on the dispatcher's thread (they are `Send` for that
/// reason). [`dispatch`](crate::dispatch) and [`wait`](crate::wait) still
/// work, but find little to do: the thread takes signals as they come.
///
/// ```
/// use forkwise_signal::{BackgroundDispatcher, Propagation, Signal, SignalHandler};
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let handler = SignalHandler::new(Signal::SIGUSR1)?;
/// let (tx, rx) = mpsc::channel();
/// handler.add(move |info| {
///     tx.send(info.signal).unwrap();
///     Propagation::Continue
/// })?;
/// let dispatcher = BackgroundDispatcher::spawn()?;
/// Signal::SIGUSR1.raise()?;
/// // No dispatch call: the dispatcher thread ran the listener.
/// assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Signal::SIGUSR1);
/// dispatcher.stop();
/// # Ok::<(), forkwise_signal::Error>(())
/// ```
pub struct BackgroundDispatcher {
    /// Writing a byte here ends the thread.
    stop: OwnedFd,
    thread: Option<JoinHandle<()>>,
    /// The process that started the thread: only it has the thread.
    spawner: libc::pid_t,
}

impl BackgroundDispatcher {
    /// Starts the dispatcher thread, named `forkwise-signal`.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if the pipes cannot be opened or the thread cannot be
    /// started.
    ///
    /// ```
    /// let dispatcher = forkwise_signal::BackgroundDispatcher::spawn()?;
    /// assert!(!dispatcher.is_finished());
    /// dispatcher.stop();
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn spawn() -> Result<Self> {
        let os = |source| Error::os(Operation::SpawnDispatcher, None, source);
        let lease = WakeLease::acquire().map_err(os)?;
        let (stop_read, stop) = sys::wake_pipe().map_err(os)?;
        let thread = thread::Builder::new()
            .name("forkwise-signal".into())
            .spawn(move || run(&lease, &stop_read))
            .map_err(os)?;
        Ok(Self {
            stop,
            thread: Some(thread),
            spawner: sys::getpid(),
        })
    }

    /// True if the thread has ended: a listener panicked on it.
    ///
    /// ```
    /// let dispatcher = forkwise_signal::BackgroundDispatcher::spawn()?;
    /// assert!(!dispatcher.is_finished());
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Stops the thread and waits for it; a dispatch it is running finishes
    /// first. Dropping the dispatcher does the same.
    ///
    /// # Panics
    ///
    /// With the listener's panic, if a listener panicked on the thread.
    ///
    /// ```
    /// let dispatcher = forkwise_signal::BackgroundDispatcher::spawn()?;
    /// dispatcher.stop();
    /// # Ok::<(), forkwise_signal::Error>(())
    /// ```
    pub fn stop(mut self) {
        if let Err(panic) = self.end() {
            std::panic::resume_unwind(panic);
        }
    }

    fn end(&mut self) -> thread::Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        if sys::getpid() != self.spawner {
            // A forked child: the thread does not exist here. Joining it
            // would wait forever, and detaching it would free what is not ours.
            std::mem::forget(thread);
            return Ok(());
        }
        sys::write_wake_byte(self.stop.as_raw_fd());
        thread.join()
    }
}

impl Drop for BackgroundDispatcher {
    fn drop(&mut self) {
        // A listener's panic was the thread's; dropping must not panic again.
        let _ = self.end();
    }
}

impl fmt::Debug for BackgroundDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundDispatcher")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

/// The thread: wait for the wake pipe or the stop pipe, dispatch, repeat.
fn run(lease: &WakeLease, stop: &OwnedFd) {
    loop {
        match sys::poll_readable([lease.fd(), stop.as_fd()], None) {
            Ok([_, true]) => return,
            Ok([true, false]) => {
                dispatch::dispatch();
            }
            Ok([false, false]) => {}
            // EINTR: a handler ran on this thread; poll again.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            // ENOMEM: the kernel could not allocate for poll; try again soon.
            Err(_) => thread::sleep(std::time::Duration::from_millis(10)),
        }
    }
}
