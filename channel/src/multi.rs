//! [`MultiStreamChannel`]: one master, many clients, each heard in turn.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Operation, Result};
use crate::stream::{StreamChannel, Wait, decode_without_fds, encode_frame};
use crate::sys;
use forkwise_codec::{Codec, Postcard};

/// Names one client of a [`MultiStreamChannel`]; never reused by that master.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(u64);

impl ClientId {
    /// The number behind the id: 0 for the first client, then 1, 2, ...
    ///
    /// ```
    /// let mut master = forkwise_channel::MultiStreamChannel::new()?;
    /// let (id, _client) = master.create_client()?;
    /// assert_eq!(id.get(), 0);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What a [`MultiStreamChannel`] receive brings.
#[derive(Debug)]
#[must_use]
pub enum Event<T> {
    /// A message from a client.
    Message(ClientId, T),
    /// A client's frame could not be taken: [`Error::Decode`],
    /// [`Error::FrameTooLarge`], ... If the error
    /// [is fatal](Error::is_fatal) for the client's channel, the client is
    /// removed and a [`Disconnected`](Self::Disconnected) event follows;
    /// otherwise the client stays.
    Error(ClientId, Error),
    /// The client closed its end or died. It has been removed; this is
    /// reported once per client.
    Disconnected(ClientId),
}

struct Client<C> {
    channel: StreamChannel<C>,
    /// In the ready queue now.
    queued: bool,
}

/// The master of many [`StreamChannel`] clients: it receives from whichever
/// has a message, fairly, sends to one or all, and tells when one leaves.
///
/// Each client is a socket pair: [`create_client`](Self::create_client)
/// keeps one end (watched by the master's epoll instance) and returns the
/// other for a worker. Fork the worker right after creating its client, and
/// let each process close what it does not use:
///
/// - the parent drops its copy of the client's end after the fork, so that
///   the worker's exit closes the last copy and is seen;
/// - the worker calls [`close_in_child`](Self::close_in_child) (or drops
///   the master) before its work, so that it holds no copy of the master's
///   end of its own pair (or it would never see the master leave) nor of
///   the master's epoll instance and other clients.
///
/// ```
/// use forkwise_channel::{Event, MultiStreamChannel};
///
/// let mut master = MultiStreamChannel::new()?;
/// let (id, mut worker) = master.create_client()?;
/// // ... fork here: the child runs the worker's side ...
/// worker.send(&"done")?;
/// drop(worker); // the worker exits
///
/// match master.receive::<String>()? {
///     Event::Message(from, text) => assert_eq!((from, text.as_str()), (id, "done")),
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(master.receive::<String>()?, Event::Disconnected(gone) if gone == id));
/// # Ok::<(), forkwise_channel::Error>(())
/// ```
///
/// # Fairness
///
/// Clients with something to read wait in a queue and are served one
/// message each, in turn; a client with more goes to the back. When a round
/// through the queue is over, the master also looks (without waiting) for
/// clients that became ready meanwhile, so a client that always has
/// messages delays the others by at most one message per round.
pub struct MultiStreamChannel<C = Postcard> {
    /// `None` after [`close_in_child`](Self::close_in_child).
    epoll: Option<sys::Epoll>,
    clients: BTreeMap<ClientId, Client<C>>,
    ready: VecDeque<ClientId>,
    /// Clients left to serve in this round before looking for new ones.
    round_left: usize,
    /// Clients removed after a fatal error, still to report.
    departed: VecDeque<ClientId>,
    next_id: u64,
    /// The frame a broadcast sends to every client, encoded once.
    outbox: Vec<u8>,
    max_frame_len: usize,
}

impl<C> fmt::Debug for MultiStreamChannel<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiStreamChannel")
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

impl MultiStreamChannel {
    /// The size of each client's read buffer at the master: frames up to this
    /// size are received without an allocation of their own.
    pub const CLIENT_BUFFER_SIZE: usize = 16 << 10;
    /// How many ready clients one `epoll_wait(2)` reports at most.
    const EVENTS_PER_WAIT: usize = 256;

    /// A master with no clients yet; its epoll instance is close-on-exec.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if `epoll_create1(2)` fails.
    ///
    /// ```
    /// let master = forkwise_channel::MultiStreamChannel::new()?;
    /// assert!(master.is_empty());
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    #[doc(alias = "epoll_create1")]
    pub fn new() -> Result<Self> {
        Self::with_codec()
    }
}

impl<C: Codec> MultiStreamChannel<C> {
    /// [`new`](MultiStreamChannel::new) with the codec `C` for every client.
    ///
    /// # Errors
    ///
    /// As [`new`](MultiStreamChannel::new).
    ///
    /// ```
    /// use forkwise_channel::{MultiStreamChannel, Postcard};
    ///
    /// let master = MultiStreamChannel::<Postcard>::with_codec()?;
    /// assert_eq!(master.len(), 0);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn with_codec() -> Result<Self> {
        let epoll = sys::Epoll::new(MultiStreamChannel::EVENTS_PER_WAIT)
            .map_err(|err| Error::os(Operation::Register, err))?;
        Ok(Self {
            epoll: Some(epoll),
            clients: BTreeMap::new(),
            ready: VecDeque::new(),
            round_left: 0,
            departed: VecDeque::new(),
            next_id: 0,
            outbox: Vec::new(),
            max_frame_len: StreamChannel::DEFAULT_MAX_FRAME_LEN,
        })
    }

    /// A new client: the master keeps one end of a new socket pair and
    /// returns the other, for the worker, with the client's id.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if the pair cannot be made or watched (out of
    /// descriptors: raise `RLIMIT_NOFILE` for many clients), or after
    /// [`close_in_child`](Self::close_in_child).
    ///
    /// ```
    /// let mut master = forkwise_channel::MultiStreamChannel::new()?;
    /// let (first, _a) = master.create_client()?;
    /// let (second, _b) = master.create_client()?;
    /// assert_ne!(first, second);
    /// assert_eq!(master.len(), 2);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn create_client(&mut self) -> Result<(ClientId, StreamChannel<C>)> {
        let epoll = self.epoll.as_ref().ok_or(Error::Disconnected)?;
        let (mine, theirs) = sys::socketpair().map_err(|err| Error::os(Operation::Create, err))?;
        let id = ClientId(self.next_id);
        epoll
            .add(mine.as_fd(), id.0)
            .map_err(|err| Error::os(Operation::Register, err))?;
        self.next_id += 1;
        let mut channel =
            StreamChannel::with_buffer(mine, false, MultiStreamChannel::CLIENT_BUFFER_SIZE);
        channel.set_max_frame_len(self.max_frame_len);
        self.clients.insert(
            id,
            Client {
                channel,
                queued: false,
            },
        );
        Ok((id, StreamChannel::new(theirs, false)))
    }

    /// In a forked worker: closes every descriptor of the master that the
    /// worker inherited (the epoll instance and the master's ends of every
    /// client, its own included) and leaves the master empty. Then the
    /// worker's client end sees [`Error::Disconnected`] when the master
    /// goes. Dropping the master does the same; this is for a worker that
    /// holds it by reference (in a closure).
    ///
    /// It never touches the epoll registrations, which the parent shares.
    ///
    /// ```
    /// let mut master = forkwise_channel::MultiStreamChannel::new()?;
    /// let (_id, _client) = master.create_client()?;
    /// // in the child, after fork:
    /// master.close_in_child();
    /// assert!(master.is_empty());
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn close_in_child(&mut self) {
        self.epoll = None;
        self.clients.clear();
        self.ready.clear();
        self.departed.clear();
        self.round_left = 0;
    }

    /// How many clients are connected (not yet reported disconnected).
    ///
    /// ```
    /// let master = forkwise_channel::MultiStreamChannel::new()?;
    /// assert_eq!(master.len(), 0);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// True when no client is connected.
    ///
    /// ```
    /// assert!(forkwise_channel::MultiStreamChannel::new()?.is_empty());
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// The connected clients, in the order they were created.
    ///
    /// ```
    /// let mut master = forkwise_channel::MultiStreamChannel::new()?;
    /// let (id, _client) = master.create_client()?;
    /// assert_eq!(master.clients().collect::<Vec<_>>(), [id]);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn clients(&self) -> impl Iterator<Item = ClientId> + '_ {
        self.clients.keys().copied()
    }

    /// The master's end of a client's channel, to send descriptors, read
    /// credentials or change limits for that client alone.
    ///
    /// ```
    /// let mut master = forkwise_channel::MultiStreamChannel::new()?;
    /// let (id, _client) = master.create_client()?;
    /// master.client_mut(id).unwrap().set_max_fds(4); // this client may pass descriptors
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn client_mut(&mut self, id: ClientId) -> Option<&mut StreamChannel<C>> {
        self.clients.get_mut(&id).map(|client| &mut client.channel)
    }

    /// Stops watching a client and hands back the master's end of its
    /// channel (drop it to disconnect the client). No event is reported
    /// for it.
    ///
    /// ```
    /// let mut master = forkwise_channel::MultiStreamChannel::new()?;
    /// let (id, _client) = master.create_client()?;
    /// assert!(master.remove_client(id).is_some());
    /// assert!(master.is_empty());
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn remove_client(&mut self, id: ClientId) -> Option<StreamChannel<C>> {
        let client = self.clients.remove(&id)?;
        if let Some(epoll) = &self.epoll {
            // Must precede the close: a worker's inherited copy of this
            // descriptor would keep the registration, and its events, alive.
            let _ = epoll.delete(client.channel.as_fd());
        }
        Some(client.channel)
    }

    /// The largest payload sent to or accepted from any client (default
    /// 64 MiB); see [`StreamChannel::set_max_frame_len`].
    ///
    /// ```
    /// let mut master = forkwise_channel::MultiStreamChannel::new()?;
    /// master.set_max_frame_len(1 << 20);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn set_max_frame_len(&mut self, max: usize) {
        self.max_frame_len = max;
        for client in self.clients.values_mut() {
            client.channel.set_max_frame_len(max);
        }
    }

    /// Sends `value` to one client.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownClient`] for an id not connected, else as
    /// [`StreamChannel::send`]. A client found broken here is still reported
    /// as [`Event::Disconnected`] by a receive.
    ///
    /// ```
    /// let mut master = forkwise_channel::MultiStreamChannel::new()?;
    /// let (id, mut client) = master.create_client()?;
    /// master.send_to(id, &"work")?;
    /// assert_eq!(client.receive::<String>()?, "work");
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn send_to<T: Serialize + ?Sized>(&mut self, id: ClientId, value: &T) -> Result<()> {
        self.clients
            .get_mut(&id)
            .ok_or(Error::UnknownClient(id))?
            .channel
            .send(value)
    }

    /// Sends `value` to every client, encoding it once. A client that
    /// cannot take it does not stop the others: the result lists the
    /// clients that failed, each with its error (empty if all got it).
    /// Each send waits while that client's socket is full.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] or [`Error::FrameTooLarge`]: nothing was sent.
    ///
    /// ```
    /// let mut master = forkwise_channel::MultiStreamChannel::new()?;
    /// let (_a, mut first) = master.create_client()?;
    /// let (b, second) = master.create_client()?;
    /// drop(second); // a broken client
    /// let failed = master.broadcast(&"stop")?;
    /// assert_eq!(first.receive::<String>()?, "stop");
    /// assert_eq!(failed.len(), 1);
    /// assert_eq!(failed[0].0, b);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn broadcast<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<Vec<(ClientId, Error)>> {
        encode_frame::<C, T>(value, &mut self.outbox, self.max_frame_len)?;
        let mut failed = Vec::new();
        for (&id, client) in &mut self.clients {
            if let Err(err) = client.channel.send_framed(&self.outbox) {
                failed.push((id, err));
            }
        }
        Ok(failed)
    }

    /// Receives the next event: a message from whichever client has one
    /// (fairly, see the [type docs](Self#fairness)), a client's error, or a
    /// client's departure. Waits as long as it takes; signals that interrupt
    /// the wait (EINTR) are retried.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] when no client is left (every departure has
    /// been reported first), [`Error::Os`] if waiting fails.
    ///
    /// ```
    /// use forkwise_channel::{Event, MultiStreamChannel};
    ///
    /// let mut master = MultiStreamChannel::new()?;
    /// let (id, mut client) = master.create_client()?;
    /// client.send(&1u32)?;
    /// assert!(matches!(master.receive::<u32>()?, Event::Message(from, 1) if from == id));
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    #[doc(alias = "epoll_wait")]
    pub fn receive<T: DeserializeOwned>(&mut self) -> Result<Event<T>> {
        self.next_event(Wait::Block)
    }

    /// [`receive`](Self::receive) that never waits.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] if no client has a complete message or news,
    /// else as [`receive`](Self::receive).
    ///
    /// ```
    /// use forkwise_channel::{Error, MultiStreamChannel};
    ///
    /// let mut master = MultiStreamChannel::new()?;
    /// let (_id, _client) = master.create_client()?;
    /// assert!(matches!(master.try_receive::<u32>(), Err(Error::WouldBlock)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn try_receive<T: DeserializeOwned>(&mut self) -> Result<Event<T>> {
        self.next_event(Wait::Never)
    }

    /// [`receive`](Self::receive) that waits at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if nothing came in time, else as
    /// [`receive`](Self::receive).
    ///
    /// ```
    /// use std::time::Duration;
    /// use forkwise_channel::{Error, MultiStreamChannel};
    ///
    /// let mut master = MultiStreamChannel::new()?;
    /// let (_id, _client) = master.create_client()?;
    /// let waited = master.receive_timeout::<u32>(Duration::from_millis(5));
    /// assert!(matches!(waited, Err(Error::Timeout)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn receive_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<Event<T>> {
        self.next_event(Wait::Until(Instant::now() + timeout))
    }

    fn next_event<T: DeserializeOwned>(&mut self, wait: Wait) -> Result<Event<T>> {
        loop {
            if let Some(id) = self.departed.pop_front() {
                return Ok(Event::Disconnected(id));
            }
            if self.ready.is_empty() || self.round_left == 0 {
                self.start_round(wait)?;
                if self.ready.is_empty() {
                    continue; // woken for a client removed meanwhile
                }
            }
            let id = self.ready.pop_front().expect("checked not empty");
            self.round_left = self.round_left.saturating_sub(1);
            let Some(client) = self.clients.get_mut(&id) else {
                continue; // removed while queued
            };
            client.queued = false;
            let result = client
                .channel
                .receive_frame(Wait::Never, decode_without_fds::<C, T>);
            match result {
                Ok(message) => {
                    self.requeue_if_buffered(id);
                    return Ok(Event::Message(id, message));
                }
                Err(Error::WouldBlock) => {}
                Err(Error::Disconnected) => {
                    self.remove_client(id);
                    return Ok(Event::Disconnected(id));
                }
                Err(err) if err.is_fatal() => {
                    self.remove_client(id);
                    self.departed.push_back(id);
                    return Ok(Event::Error(id, err));
                }
                Err(err) => {
                    self.requeue_if_buffered(id);
                    return Ok(Event::Error(id, err));
                }
            }
        }
    }

    /// Queues the clients that are ready now: waits for one as `wait` says
    /// if none is queued, else only looks. Starts a new round over the queue.
    fn start_round(&mut self, wait: Wait) -> Result<()> {
        if self.clients.is_empty() {
            return Err(Error::Disconnected);
        }
        let deadline = match wait {
            _ if !self.ready.is_empty() => Some(Instant::now()),
            Wait::Block => None,
            Wait::Never => Some(Instant::now()),
            Wait::Until(deadline) => Some(deadline),
        };
        let epoll = self.epoll.as_mut().ok_or(Error::Disconnected)?;
        let tokens = epoll
            .wait(deadline)
            .map_err(|err| Error::os(Operation::Wait, err))?;
        for token in tokens {
            let id = ClientId(token);
            if let Some(client) = self.clients.get_mut(&id)
                && !client.queued
            {
                client.queued = true;
                self.ready.push_back(id);
            }
        }
        if self.ready.is_empty() {
            match wait {
                Wait::Never => return Err(Error::WouldBlock),
                Wait::Until(deadline) if Instant::now() >= deadline => {
                    return Err(Error::Timeout);
                }
                _ => {}
            }
        }
        self.round_left = self.ready.len();
        Ok(())
    }

    /// Puts a client that still holds received bytes at the back of the
    /// queue; one whose buffer is empty is queued again by epoll when its
    /// socket has more.
    fn requeue_if_buffered(&mut self, id: ClientId) {
        if let Some(client) = self.clients.get_mut(&id)
            && !client.queued
            && client.channel.has_buffered()
        {
            client.queued = true;
            self.ready.push_back(id);
        }
    }
}
