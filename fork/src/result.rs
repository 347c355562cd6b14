//! [`fork_with_result`](ForkManager::fork_with_result): a worker returns a
//! serde value, which crosses to the master over a forkwise-channel
//! socket pair.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::AsRawFd;

use forkwise_channel::StreamChannel;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Operation, Result};
use crate::exit_code::report_to_stderr;
use crate::manager::ForkManager;
use crate::pump::Waited;
use crate::worker::{Worker, WorkerId};

/// The exit code of a worker whose result could not be sent.
const SEND_FAILED_EXIT: u8 = 1;

/// A worker that will send back a `T`; [`join`](Self::join) receives it.
///
/// Dropping the handle without joining leaves the worker to the manager,
/// like any other (its result is then discarded).
#[must_use = "the result arrives only through join"]
pub struct ResultHandle<T> {
    id: WorkerId,
    pid: i32,
    channel: StreamChannel,
    _result: PhantomData<fn() -> T>,
}

impl ForkManager {
    /// Forks one worker that runs `body` and sends what it returns to the
    /// master, encoded with postcard over a socket pair.
    ///
    /// The worker exits with 0 once the value is sent (1 if it could not
    /// be encoded or sent; 101 if `body` panicked). `body` is called by
    /// reference, as in [`fork`](Self::fork).
    ///
    /// # Errors
    ///
    /// As [`fork`](Self::fork); [`Error::Os`] if the socket pair cannot be
    /// created.
    ///
    /// ```
    /// use forkwise_fork::ForkManager;
    ///
    /// let mut manager = ForkManager::new()?;
    /// let words = ["fork", "wait", "reap"];
    /// let handles = (0..3)
    ///     .map(|i| manager.fork_with_result(move |_| words[i].to_uppercase()))
    ///     .collect::<Result<Vec<_>, _>>()?;
    /// let results = handles
    ///     .into_iter()
    ///     .map(|handle| handle.join(&mut manager))
    ///     .collect::<Result<Vec<String>, _>>()?;
    /// assert_eq!(results, ["FORK", "WAIT", "REAP"]);
    /// # Ok::<(), forkwise_fork::Error>(())
    /// ```
    pub fn fork_with_result<T, F>(&mut self, mut body: F) -> Result<ResultHandle<T>>
    where
        F: FnMut(&Worker) -> T,
        T: Serialize + DeserializeOwned,
    {
        self.check_can_fork(1)?;
        let (master_end, worker_end) = StreamChannel::pair()
            .map_err(|e| Error::os(Operation::Pipe, None, io::Error::from(e)))?;
        let mut worker_end = Some(worker_end);
        let group = self.fork(
            |worker| {
                let value = body(worker);
                let Some(mut channel) = worker_end.take() else {
                    return SEND_FAILED_EXIT; // called once per process: unreachable
                };
                match channel.send(&value) {
                    Ok(()) => 0,
                    Err(err) => {
                        report_to_stderr(format_args!(
                            "forkwise-fork: worker {} cannot send its result: {err}\n",
                            worker.index()
                        ));
                        SEND_FAILED_EXIT
                    }
                }
            },
            1,
        )?;
        // The worker has its end; without closing ours of it, the master
        // would never see the worker's end of the stream.
        drop(worker_end);
        let id = group.ids()[0];
        Ok(ResultHandle {
            id,
            pid: self.pid(id).unwrap_or_default(),
            channel: master_end,
            _result: PhantomData,
        })
    }
}

impl<T: DeserializeOwned> ResultHandle<T> {
    /// Waits for the worker's result and for the worker to end.
    ///
    /// While waiting, the master does what [`ForkManager::wait`] does
    /// (captured output keeps flowing, so a worker that writes much before
    /// its result cannot deadlock with the master).
    ///
    /// # Errors
    ///
    /// - [`Error::NoResult`] if the worker ended without sending its
    ///   result (a panic: `Exited(101)`; a signal: `Killed`), never a hang;
    /// - [`Error::Channel`] if what arrived does not decode as a `T`;
    /// - as [`ForkManager::wait`].
    ///
    /// ```
    /// use forkwise_fork::{Error, ForkManager, WorkerState};
    ///
    /// let mut manager = ForkManager::new()?;
    /// let handle = manager.fork_with_result(|_| -> u32 { panic!("no result today") })?;
    /// match handle.join(&mut manager) {
    ///     Err(Error::NoResult { state, .. }) => assert_eq!(state, WorkerState::Exited(101)),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn join(mut self, manager: &mut ForkManager) -> Result<T> {
        manager.check_master()?;
        let (id, pid) = (self.id, self.pid);
        loop {
            match self.channel.try_receive::<T>() {
                Ok(value) => {
                    manager.wait(id)?;
                    return Ok(value);
                }
                Err(forkwise_channel::Error::WouldBlock) => {
                    let fd = self.channel.as_raw_fd();
                    let waited = manager.wait_until(None, Some(fd), |m| m.all_finished(&[id]))?;
                    // Ended or readable: either way, the next receive tells.
                    debug_assert!(waited != Waited::TimedOut);
                }
                Err(forkwise_channel::Error::Disconnected) => {
                    let state = manager.wait(id)?[0];
                    return Err(Error::NoResult { pid, state });
                }
                Err(source) => {
                    manager.wait(id)?;
                    return Err(Error::Channel { pid, source });
                }
            }
        }
    }

    /// The worker.
    pub fn id(&self) -> WorkerId {
        self.id
    }

    /// The worker's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

impl<T> fmt::Debug for ResultHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultHandle")
            .field("id", &self.id)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}
