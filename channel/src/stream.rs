//! [`StreamChannel`]: typed messages over one connected stream socket.

use std::fmt;
use std::io::IoSlice;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Operation, Result};
use crate::frame::{self, Frame, HEADER_LEN, Inbox, Ready};
use crate::sys;
use forkwise_codec::{Codec, Postcard};

/// Who is at the other end of a socket, as the kernel recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// One end of a two-way message channel over a Unix stream socket.
///
/// Messages are any serde type, encoded by the codec `C` (postcard unless
/// chosen otherwise with [`with_codec`](Self::with_codec)); raw byte frames
/// and open file descriptors travel too. See the [crate docs](crate) for the
/// tour and the wire format.
///
/// ```
/// use forkwise_channel::StreamChannel;
///
/// let (mut parent, mut child) = StreamChannel::pair()?;
/// // After a fork, each process keeps one end and drops the other.
/// parent.send(&("job", 42u32))?;
/// let (what, n): (String, u32) = child.receive()?;
/// assert_eq!((what.as_str(), n), ("job", 42));
/// # Ok::<(), forkwise_channel::Error>(())
/// ```
pub struct StreamChannel<C = Postcard> {
    socket: OwnedFd,
    inbox: Inbox,
    /// The frame being sent; while `unsent` is not empty, the tail of a
    /// frame that a non-blocking send started and the channel must finish.
    outbox: Vec<u8>,
    unsent: std::ops::Range<usize>,
    max_frame_len: usize,
    nonblocking: bool,
    /// `SO_PASSCRED` was turned on through this channel: reads take control data.
    pass_credentials: bool,
    sender: Option<Credentials>,
    codec: PhantomData<fn() -> C>,
}

impl<C> fmt::Debug for StreamChannel<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamChannel")
            .field("fd", &self.socket.as_raw_fd())
            .field("nonblocking", &self.nonblocking)
            .field("max_frame_len", &self.max_frame_len)
            .field("unsent", &self.unsent.len())
            .finish_non_exhaustive()
    }
}

impl StreamChannel {
    /// The default [maximum payload length](Self::set_max_frame_len): 64 MiB.
    pub const DEFAULT_MAX_FRAME_LEN: usize = 64 << 20;
    /// The default [number of descriptors accepted](Self::set_max_fds) in
    /// one frame: none, until the receiver asks for them.
    pub const DEFAULT_MAX_FDS: usize = 0;
    /// The most descriptors one frame can carry (Linux's `SCM_MAX_FD`).
    pub const MAX_FDS: usize = sys::MAX_FDS_PER_MESSAGE;
    /// The largest payload [`send_bytes`](Self::send_bytes) copies next to
    /// its header: copying it costs less than the gather of a
    /// `sendmsg(2)` saves.
    pub const COPIED_PAYLOAD: usize = 8 << 10;
    /// How many bytes one read asks for; frames up to this size are
    /// received without an allocation of their own.
    pub const BUFFER_SIZE: usize = 64 << 10;

    /// Two connected ends (`socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)`).
    ///
    /// Create the pair before forking; then each process drops the end it
    /// does not use, so that the other's exit is seen as
    /// [`Error::Disconnected`].
    ///
    /// # Errors
    ///
    /// [`Error::Os`] when the kernel refuses (out of descriptors, say).
    ///
    /// ```
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// a.send(&"hello")?;
    /// assert_eq!(b.receive::<String>()?, "hello");
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    #[doc(alias = "socketpair")]
    pub fn pair() -> Result<(Self, Self)> {
        Self::pair_with_codec()
    }

    /// A channel over an open stream socket (a `UnixStream` turned into an
    /// [`OwnedFd`], say). The descriptor should be close-on-exec, as every
    /// descriptor this crate makes is.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] when the descriptor's flags cannot be read (it is not open).
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// use std::os::unix::net::UnixStream;
    /// use forkwise_channel::StreamChannel;
    ///
    /// let (a, b) = UnixStream::pair()?;
    /// let mut a = StreamChannel::from_fd(OwnedFd::from(a))?;
    /// let mut b = StreamChannel::from_fd(OwnedFd::from(b))?;
    /// a.send(&1u8)?;
    /// assert_eq!(b.receive::<u8>()?, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_fd(fd: OwnedFd) -> Result<Self> {
        Self::from_fd_with_codec(fd)
    }
}

impl From<UnixStream> for StreamChannel {
    /// Wraps a connected `UnixStream`. If its blocking mode cannot be read,
    /// the channel assumes blocking (as a new stream is).
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// use forkwise_channel::StreamChannel;
    ///
    /// let (a, b) = UnixStream::pair()?;
    /// let (mut a, mut b) = (StreamChannel::from(a), StreamChannel::from(b));
    /// a.send(&[1u16, 2, 3][..])?;
    /// assert_eq!(b.receive::<Vec<u16>>()?, [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn from(stream: UnixStream) -> Self {
        let fd = OwnedFd::from(stream);
        let nonblocking = sys::is_nonblocking(fd.as_fd()).unwrap_or(false);
        Self::new(fd, nonblocking)
    }
}

impl<C: Codec> StreamChannel<C> {
    /// [`pair`](StreamChannel::pair) with the codec `C`.
    ///
    /// # Errors
    ///
    /// As [`pair`](StreamChannel::pair).
    ///
    /// ```
    /// use forkwise_channel::{Postcard, StreamChannel};
    ///
    /// let (mut a, mut b) = StreamChannel::<Postcard>::pair_with_codec()?;
    /// a.send(&1.5f64)?;
    /// assert_eq!(b.receive::<f64>()?, 1.5);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn pair_with_codec() -> Result<(Self, Self)> {
        let (a, b) = sys::socketpair().map_err(|err| Error::os(Operation::Create, err))?;
        Ok((Self::new(a, false), Self::new(b, false)))
    }

    /// [`from_fd`](StreamChannel::from_fd) with the codec `C`.
    ///
    /// # Errors
    ///
    /// As [`from_fd`](StreamChannel::from_fd).
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// use forkwise_channel::{Postcard, StreamChannel};
    ///
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// let channel = StreamChannel::<Postcard>::from_fd_with_codec(OwnedFd::from(a))?;
    /// assert!(!channel.is_nonblocking());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_fd_with_codec(fd: OwnedFd) -> Result<Self> {
        let nonblocking =
            sys::is_nonblocking(fd.as_fd()).map_err(|err| Error::os(Operation::Configure, err))?;
        Ok(Self::new(fd, nonblocking))
    }

    pub(crate) fn new(socket: OwnedFd, nonblocking: bool) -> Self {
        Self::with_buffer(socket, nonblocking, StreamChannel::BUFFER_SIZE)
    }

    pub(crate) fn with_buffer(socket: OwnedFd, nonblocking: bool, buffer: usize) -> Self {
        Self {
            socket,
            inbox: Inbox::new(
                buffer,
                StreamChannel::DEFAULT_MAX_FRAME_LEN,
                StreamChannel::DEFAULT_MAX_FDS,
            ),
            outbox: Vec::new(),
            unsent: 0..0,
            max_frame_len: StreamChannel::DEFAULT_MAX_FRAME_LEN,
            nonblocking,
            pass_credentials: false,
            sender: None,
            codec: PhantomData,
        }
    }

    /// The same channel speaking codec `D`; the peer must use `D` too.
    ///
    /// ```
    /// use forkwise_channel::{Postcard, StreamChannel};
    ///
    /// let (a, b) = StreamChannel::pair()?;
    /// let (mut a, mut b) = (a.with_codec::<Postcard>(), b.with_codec::<Postcard>());
    /// a.send(&'x')?;
    /// assert_eq!(b.receive::<char>()?, 'x');
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn with_codec<D: Codec>(self) -> StreamChannel<D> {
        StreamChannel {
            socket: self.socket,
            inbox: self.inbox,
            outbox: self.outbox,
            unsent: self.unsent,
            max_frame_len: self.max_frame_len,
            nonblocking: self.nonblocking,
            pass_credentials: self.pass_credentials,
            sender: self.sender,
            codec: PhantomData,
        }
    }

    /// The socket, for a caller who takes over. Bytes this channel has
    /// received but not delivered, and the tail of a frame it has not
    /// finished sending, are dropped: call it between frames.
    ///
    /// ```
    /// let (a, _b) = forkwise_channel::StreamChannel::pair()?;
    /// let stream: std::os::unix::net::UnixStream = a.into_inner();
    /// assert!(stream.peer_addr().is_ok());
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn into_inner(self) -> UnixStream {
        UnixStream::from(self.socket)
    }

    /// The largest payload this channel sends or accepts (default 64 MiB,
    /// at most `u32::MAX`). A longer frame is refused on send before
    /// anything is written and on receive before anything is allocated.
    ///
    /// ```
    /// use forkwise_channel::{Error, StreamChannel};
    ///
    /// let (mut a, _b) = StreamChannel::pair()?;
    /// a.set_max_frame_len(4);
    /// assert!(matches!(a.send_bytes(b"too long"), Err(Error::FrameTooLarge { len: 8, max: 4 })));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn set_max_frame_len(&mut self, max: usize) {
        self.max_frame_len = max.min(frame::MAX_LEN);
        self.inbox.set_max_len(self.max_frame_len);
    }

    /// The largest payload this channel sends or accepts.
    ///
    /// ```
    /// let (a, _b) = forkwise_channel::StreamChannel::pair()?;
    /// assert_eq!(a.max_frame_len(), 64 << 20);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// How many descriptors one received frame may carry (at most
    /// [`MAX_FDS`](StreamChannel::MAX_FDS); larger values count as that).
    /// A frame with more has all of them closed and is reported as
    /// [`Error::Descriptors`].
    ///
    /// The default is 0: a channel refuses descriptors until its receiver
    /// sets a limit, so a peer cannot put descriptors into this process
    /// unasked (the kernel discards them before they reach its table), and
    /// every read is a plain `recv(2)`, measurably cheaper than the
    /// `recvmsg(2)` with a control buffer that accepting them takes. Set
    /// it before the peer sends descriptors.
    ///
    /// ```
    /// use std::os::fd::AsFd;
    ///
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// b.set_max_fds(4);
    /// let file = std::fs::File::open("/dev/null")?;
    /// a.send_with_fds(&"here", &[file.as_fd()])?;
    /// let (_, fds) = b.receive_with_fds::<String>()?;
    /// assert_eq!(fds.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_max_fds(&mut self, max: usize) {
        self.inbox.set_max_fds(max.min(sys::MAX_FDS_PER_MESSAGE));
    }

    /// Puts the socket in non-blocking mode (or back): then
    /// [`receive`](Self::receive) and the sends return
    /// [`Error::WouldBlock`] instead of waiting. The flag belongs to the
    /// socket's open file description, which a process forked afterwards
    /// shares for this end.
    ///
    /// A non-blocking send that the socket can take only in part keeps the
    /// rest, returns `Ok`, and finishes it before any later frame (see
    /// [`flush`](Self::flush)).
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if `fcntl(2)` fails.
    ///
    /// ```
    /// use forkwise_channel::{Error, StreamChannel};
    ///
    /// let (mut a, _b) = StreamChannel::pair()?;
    /// a.set_nonblocking(true)?;
    /// assert!(matches!(a.receive::<u8>(), Err(Error::WouldBlock)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn set_nonblocking(&mut self, nonblocking: bool) -> Result<()> {
        sys::set_nonblocking(self.socket.as_fd(), nonblocking)
            .map_err(|err| Error::os(Operation::Configure, err))?;
        self.nonblocking = nonblocking;
        Ok(())
    }

    /// Whether the channel is in non-blocking mode.
    ///
    /// ```
    /// let (a, _b) = forkwise_channel::StreamChannel::pair()?;
    /// assert!(!a.is_nonblocking());
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn is_nonblocking(&self) -> bool {
        self.nonblocking
    }

    // ----- sending -----

    /// Sends `value` as one frame. A small frame goes out in one system call.
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] or [`Error::FrameTooLarge`] (nothing sent),
    /// [`Error::Disconnected`], [`Error::WouldBlock`] in non-blocking mode
    /// when the socket takes none of it (nothing sent), [`Error::Os`].
    ///
    /// ```
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// a.send(&vec![1u64, 2, 3])?;
    /// assert_eq!(b.receive::<Vec<u64>>()?, [1, 2, 3]);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.flush()?;
        self.encode(value)?;
        self.send_outbox(&[])
    }

    /// Sends `bytes` as one raw frame (no codec): header and payload go out
    /// together, in one `send(2)` after copying a payload of up to
    /// [`COPIED_PAYLOAD`](Self::COPIED_PAYLOAD) bytes next to its header,
    /// else in one `sendmsg(2)` that gathers them without copying.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    ///
    /// ```
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// a.send_bytes(b"raw")?;
    /// assert_eq!(b.receive_bytes()?, b"raw");
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    #[doc(alias = "writev")]
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.flush()?;
        self.check_len(bytes.len())?;
        let header = frame::header(bytes.len(), 0);
        if bytes.len() <= StreamChannel::COPIED_PAYLOAD {
            self.outbox.clear();
            self.outbox.extend_from_slice(&header);
            forkwise_codec::append_bytes(&mut self.outbox, bytes);
            return self.send_outbox(&[]);
        }
        let sent = self.send_parts(&header, bytes, &[])?;
        self.queue_tail(&header, bytes, sent);
        Ok(())
    }

    /// Sends `value` with open file descriptors (`SCM_RIGHTS`): the
    /// receiver gets its own descriptors for the same open files. This end
    /// keeps its own; close them when done.
    ///
    /// # Errors
    ///
    /// [`Error::TooManyDescriptors`] for more than
    /// [`MAX_FDS`](StreamChannel::MAX_FDS), else as [`send`](Self::send).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::fd::AsFd;
    ///
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// b.set_max_fds(1); // the receiver accepts none by default
    /// let (reader, mut writer) = std::io::pipe()?;
    /// a.send_with_fds(&"a pipe", &[reader.as_fd()])?;
    /// drop(reader);
    /// let (what, mut fds) = b.receive_with_fds::<String>()?;
    /// writer.write_all(b"through")?;
    /// drop(writer);
    /// let mut text = String::new();
    /// std::fs::File::from(fds.remove(0)).read_to_string(&mut text)?;
    /// assert_eq!((what.as_str(), text.as_str()), ("a pipe", "through"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "SCM_RIGHTS")]
    pub fn send_with_fds<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        fds: &[BorrowedFd<'_>],
    ) -> Result<()> {
        if fds.len() > sys::MAX_FDS_PER_MESSAGE {
            return Err(Error::TooManyDescriptors {
                count: fds.len(),
                max: sys::MAX_FDS_PER_MESSAGE,
            });
        }
        self.flush()?;
        self.encode(value)?;
        let header = frame::header(self.outbox.len() - HEADER_LEN, fds.len());
        self.outbox[..HEADER_LEN].copy_from_slice(&header);
        self.send_outbox(fds)
    }

    /// Sends open file descriptors in a frame of their own (an empty
    /// payload); the peer takes them with [`receive_fds`](Self::receive_fds).
    ///
    /// # Errors
    ///
    /// As [`send_with_fds`](Self::send_with_fds).
    ///
    /// ```
    /// use std::os::fd::AsFd;
    ///
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// b.set_max_fds(1); // the receiver accepts none by default
    /// let file = std::fs::File::open("/dev/null")?;
    /// a.send_fds(&[file.as_fd()])?;
    /// assert_eq!(b.receive_fds()?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_fds(&mut self, fds: &[BorrowedFd<'_>]) -> Result<()> {
        self.send_with_fds(&(), fds)
    }

    /// Finishes a frame that a non-blocking send could only start. Sends
    /// call it first themselves; call it directly to push the rest out
    /// when the socket becomes writable (poll for `POLLOUT`).
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] in non-blocking mode while part of the frame
    /// is still unsent (it stays queued), [`Error::Disconnected`], [`Error::Os`].
    ///
    /// ```
    /// let (mut a, _b) = forkwise_channel::StreamChannel::pair()?;
    /// a.flush()?; // nothing queued: returns at once
    /// assert!(!a.has_unsent());
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn flush(&mut self) -> Result<()> {
        while !self.unsent.is_empty() {
            let slice = IoSlice::new(&self.outbox[self.unsent.clone()]);
            match sys::send(self.socket.as_fd(), &[slice], &[], self.nonblocking) {
                Ok(sent) => self.unsent.start += sent,
                Err(err) => {
                    let err = Error::os(Operation::Send, err);
                    if matches!(err, Error::WouldBlock) && !self.nonblocking {
                        self.wait_writable()?;
                        continue;
                    }
                    if err.is_fatal() {
                        self.unsent = 0..0;
                    }
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// True while part of a frame waits to be sent (non-blocking mode only).
    ///
    /// ```
    /// let (a, _b) = forkwise_channel::StreamChannel::pair()?;
    /// assert!(!a.has_unsent());
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn has_unsent(&self) -> bool {
        !self.unsent.is_empty()
    }

    /// Encodes `value` into the outbox as a complete frame (fd count 0).
    fn encode<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        encode_frame::<C, T>(value, &mut self.outbox, self.max_frame_len)
    }

    fn check_len(&self, len: usize) -> Result<()> {
        if len > self.max_frame_len {
            return Err(Error::FrameTooLarge {
                len: len as u64,
                max: self.max_frame_len,
            });
        }
        Ok(())
    }

    /// Sends the frame in the outbox; a tail the socket did not take stays
    /// there as `unsent`.
    fn send_outbox(&mut self, fds: &[BorrowedFd<'_>]) -> Result<()> {
        let sent = self.send_parts(&self.outbox, &[], fds)?;
        self.unsent = sent..self.outbox.len();
        Ok(())
    }

    /// Sends an already framed message (the master's broadcast).
    pub(crate) fn send_framed(&mut self, framed: &[u8]) -> Result<()> {
        self.flush()?;
        let sent = self.send_parts(framed, &[], &[])?;
        self.queue_tail(framed, &[], sent);
        Ok(())
    }

    /// Keeps what the socket did not take of a frame given in two parts.
    fn queue_tail(&mut self, first: &[u8], second: &[u8], sent: usize) {
        if sent == first.len() + second.len() {
            return;
        }
        self.outbox.clear();
        if sent < first.len() {
            self.outbox.extend_from_slice(&first[sent..]);
            self.outbox.extend_from_slice(second);
        } else {
            self.outbox.extend_from_slice(&second[sent - first.len()..]);
        }
        self.unsent = 0..self.outbox.len();
    }

    /// Sends one frame given as two parts; `fds` go with its first byte.
    /// Returns how many bytes went out: all of them, or (non-blocking mode
    /// only) fewer when the socket filled up after taking some. The caller
    /// then queues the rest: the frame is committed and must be finished.
    ///
    /// `WouldBlock` means nothing was sent, so the frame is not committed.
    fn send_parts(&self, first: &[u8], second: &[u8], fds: &[BorrowedFd<'_>]) -> Result<usize> {
        let total = first.len() + second.len();
        let mut sent = 0;
        while sent < total {
            let parts = if sent < first.len() {
                [IoSlice::new(&first[sent..]), IoSlice::new(second)]
            } else {
                [
                    IoSlice::new(&second[sent - first.len()..]),
                    IoSlice::new(&[]),
                ]
            };
            let fds = if sent == 0 { fds } else { &[] };
            match sys::send(self.socket.as_fd(), &parts, fds, self.nonblocking) {
                Ok(n) => sent += n,
                Err(err) => match Error::os(Operation::Send, err) {
                    Error::WouldBlock if !self.nonblocking => self.wait_writable()?,
                    Error::WouldBlock if sent > 0 => return Ok(sent),
                    err => return Err(err),
                },
            }
        }
        Ok(sent)
    }

    /// For a socket made non-blocking behind our back: wait instead.
    fn wait_writable(&self) -> Result<()> {
        sys::wait_writable(self.socket.as_fd(), None)
            .map(drop)
            .map_err(|err| Error::os(Operation::Wait, err))
    }

    // ----- receiving -----

    /// Receives the next message, waiting for it (unless non-blocking).
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] when the peer closed (also mid-frame),
    /// [`Error::Decode`] when the frame is not a `T` (the frame is consumed;
    /// the channel stays usable), [`Error::FrameTooLarge`],
    /// [`Error::UnexpectedDescriptors`], [`Error::Corrupt`],
    /// [`Error::WouldBlock`] in non-blocking mode, [`Error::Os`].
    /// Signals that interrupt the wait (EINTR) are retried.
    ///
    /// ```
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// a.send(&Some(3i8))?;
    /// assert_eq!(b.receive::<Option<i8>>()?, Some(3));
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn receive<T: DeserializeOwned>(&mut self) -> Result<T> {
        self.receive_frame(Wait::Block, |frame| decode_without_fds::<C, T>(frame))
    }

    /// Receives the next message if one has arrived in full; never waits,
    /// whatever the blocking mode.
    ///
    /// # Errors
    ///
    /// [`Error::WouldBlock`] if no complete message is there (a partial one
    /// stays buffered), else as [`receive`](Self::receive).
    ///
    /// ```
    /// use forkwise_channel::{Error, StreamChannel};
    ///
    /// let (mut a, mut b) = StreamChannel::pair()?;
    /// assert!(matches!(b.try_receive::<u8>(), Err(Error::WouldBlock)));
    /// a.send(&5u8)?;
    /// assert_eq!(b.try_receive::<u8>()?, 5);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn try_receive<T: DeserializeOwned>(&mut self) -> Result<T> {
        self.receive_frame(Wait::Never, |frame| decode_without_fds::<C, T>(frame))
    }

    /// Receives the next message, waiting at most `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if none arrived in time (a partial one stays
    /// buffered), else as [`receive`](Self::receive).
    ///
    /// ```
    /// use std::time::Duration;
    /// use forkwise_channel::{Error, StreamChannel};
    ///
    /// let (mut a, mut b) = StreamChannel::pair()?;
    /// let waited = b.receive_timeout::<u8>(Duration::from_millis(10));
    /// assert!(matches!(waited, Err(Error::Timeout)));
    /// a.send(&1u8)?;
    /// assert_eq!(b.receive_timeout::<u8>(Duration::from_secs(1))?, 1);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn receive_timeout<T: DeserializeOwned>(&mut self, timeout: Duration) -> Result<T> {
        let deadline = Instant::now() + timeout;
        self.receive_frame(Wait::Until(deadline), |frame| {
            decode_without_fds::<C, T>(frame)
        })
    }

    /// Receives the next message decoded in place: a `T` that borrows
    /// (`&str`, `&[u8]`, `#[serde(borrow)]` fields) points into the
    /// channel's receive buffer instead of copying into allocations of its
    /// own. The value keeps the channel borrowed until it is dropped; the
    /// bytes stay where they are until the next receive.
    ///
    /// A worker that answers while it holds such a value sends through a
    /// second channel on the same socket (see the example).
    ///
    /// # Errors
    ///
    /// As [`receive`](Self::receive).
    ///
    /// ```
    /// use std::os::fd::AsFd;
    /// use forkwise_channel::StreamChannel;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Job<'a> {
    ///     name: &'a str,
    ///     #[serde(borrow, with = "serde_bytes")]
    ///     data: &'a [u8],
    /// }
    ///
    /// let (mut master, mut worker) = StreamChannel::pair()?;
    /// let mut replies = StreamChannel::from_fd(worker.as_fd().try_clone_to_owned()?)?;
    /// master.send(&Job { name: "sum", data: &[1, 2, 3] })?;
    ///
    /// let job: Job<'_> = worker.receive_borrowed()?;
    /// replies.send(&(job.name, job.data.iter().map(|&b| u32::from(b)).sum::<u32>()))?;
    /// assert_eq!(master.receive::<(String, u32)>()?, ("sum".to_owned(), 6));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_borrowed<'a, T: Deserialize<'a>>(&'a mut self) -> Result<T> {
        // What the last borrowed receive left, once it is no longer lent.
        self.inbox.trim();
        let ready = self.next_ready(Wait::Block)?;
        let Frame { payload, fds } = self.inbox.frame(ready);
        reject_fds(fds)?;
        C::decode(payload.into_bytes()).map_err(Error::Decode)
    }

    /// Receives the next frame's raw payload (sent with
    /// [`send_bytes`](Self::send_bytes), or any frame). A frame larger than
    /// the read buffer is read straight into the returned `Vec`.
    ///
    /// # Errors
    ///
    /// As [`receive`](Self::receive), without decoding errors.
    ///
    /// ```
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// a.send_bytes(&[])?;
    /// assert!(b.receive_bytes()?.is_empty());
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn receive_bytes(&mut self) -> Result<Vec<u8>> {
        self.receive_frame(Wait::Block, |frame| {
            reject_fds(frame.fds)?;
            Ok(frame.payload.into_vec())
        })
    }

    /// [`receive_bytes`](Self::receive_bytes) that never waits.
    ///
    /// # Errors
    ///
    /// As [`try_receive`](Self::try_receive).
    ///
    /// ```
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// a.send_bytes(b"x")?;
    /// assert_eq!(b.try_receive_bytes()?, b"x");
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn try_receive_bytes(&mut self) -> Result<Vec<u8>> {
        self.receive_frame(Wait::Never, |frame| {
            reject_fds(frame.fds)?;
            Ok(frame.payload.into_vec())
        })
    }

    /// Receives a message and the descriptors sent with it (none if it
    /// came without). They are new descriptors of this process, close-on-exec.
    ///
    /// # Errors
    ///
    /// [`Error::Descriptors`] when the frame's descriptors did not arrive as
    /// announced (more than [`set_max_fds`](Self::set_max_fds) allows, say,
    /// or any at all while it is 0, the default):
    /// any that did are closed, nothing leaks. Else as [`receive`](Self::receive).
    ///
    /// ```
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// a.send(&1u8)?;
    /// let (n, fds) = b.receive_with_fds::<u8>()?;
    /// assert_eq!((n, fds.len()), (1, 0));
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    #[doc(alias = "SCM_RIGHTS")]
    pub fn receive_with_fds<T: DeserializeOwned>(&mut self) -> Result<(T, Vec<OwnedFd>)> {
        self.receive_frame(Wait::Block, |frame| {
            let value = decode::<C, T>(frame.payload.bytes())?;
            Ok((value, frame.fds))
        })
    }

    /// Receives descriptors sent with [`send_fds`](Self::send_fds).
    ///
    /// # Errors
    ///
    /// As [`receive_with_fds`](Self::receive_with_fds).
    ///
    /// ```
    /// use std::os::fd::AsFd;
    ///
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// b.set_max_fds(2); // the receiver accepts none by default
    /// let (r, w) = std::io::pipe()?;
    /// a.send_fds(&[r.as_fd(), w.as_fd()])?;
    /// assert_eq!(b.receive_fds()?.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_fds(&mut self) -> Result<Vec<OwnedFd>> {
        self.receive_with_fds::<()>().map(|((), fds)| fds)
    }

    /// Turns on (or off) reporting who wrote each received frame (Linux
    /// `SO_PASSCRED`): afterwards [`sender_credentials`](Self::sender_credentials)
    /// names the process that sent the last frame, as the kernel saw it.
    /// Turn it on before the peer sends.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if `setsockopt(2)` fails.
    ///
    /// ```
    /// let (mut a, mut b) = forkwise_channel::StreamChannel::pair()?;
    /// b.set_pass_credentials(true)?;
    /// a.send(&())?;
    /// b.receive::<()>()?;
    /// assert_eq!(b.sender_credentials().unwrap().pid, std::process::id() as i32);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    #[doc(alias = "SO_PASSCRED")]
    #[doc(alias = "SCM_CREDENTIALS")]
    pub fn set_pass_credentials(&mut self, on: bool) -> Result<()> {
        sys::set_pass_credentials(self.socket.as_fd(), on)
            .map_err(|err| Error::os(Operation::Configure, err))?;
        self.pass_credentials = on;
        Ok(())
    }

    /// The process that wrote the last received frame (pid, uid, gid, checked
    /// by the kernel), if [`set_pass_credentials`](Self::set_pass_credentials)
    /// was on when it was sent. After a fork this names the child that
    /// really sent, unlike [`peer_credentials`](Self::peer_credentials).
    ///
    /// ```
    /// let (_a, b) = forkwise_channel::StreamChannel::pair()?;
    /// assert_eq!(b.sender_credentials(), None);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    pub fn sender_credentials(&self) -> Option<Credentials> {
        self.sender
    }

    /// The credentials the kernel recorded for the peer socket when it was
    /// created or connected (`SO_PEERCRED`): for a socket accepted from a
    /// listener, the process that connected. For a [`pair`](StreamChannel::pair)
    /// it is the process that created the pair, even after a fork handed the
    /// other end to a child; use [`sender_credentials`](Self::sender_credentials)
    /// to learn who actually writes.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] if `getsockopt(2)` fails.
    ///
    /// ```
    /// let (a, _b) = forkwise_channel::StreamChannel::pair()?;
    /// assert_eq!(a.peer_credentials()?.pid, std::process::id() as i32);
    /// # Ok::<(), forkwise_channel::Error>(())
    /// ```
    #[doc(alias = "SO_PEERCRED")]
    pub fn peer_credentials(&self) -> Result<Credentials> {
        sys::peer_credentials(self.socket.as_fd())
            .map_err(|err| Error::os(Operation::Configure, err))
    }

    /// True if bytes have been received that no receive has delivered yet
    /// (a whole frame, or part of one).
    pub(crate) fn has_buffered(&self) -> bool {
        self.inbox.has_buffered()
    }

    /// The receive loop: deliver a buffered frame through `deliver`, or read
    /// more, waiting as `wait` says.
    pub(crate) fn receive_frame<R>(
        &mut self,
        wait: Wait,
        deliver: impl FnOnce(Frame<'_>) -> Result<R>,
    ) -> Result<R> {
        let ready = self.next_ready(wait)?;
        let result = deliver(self.inbox.frame(ready));
        self.inbox.trim();
        result
    }

    /// Reads until the inbox holds a complete frame, and consumes it.
    fn next_ready(&mut self, wait: Wait) -> Result<Ready> {
        loop {
            if let Some(ready) = self.inbox.next_ready()? {
                return Ok(ready);
            }
            self.read_once(wait)?;
        }
    }

    /// One read from the socket into the inbox.
    fn read_once(&mut self, wait: Wait) -> Result<()> {
        let dont_wait = match wait {
            Wait::Block => self.nonblocking,
            Wait::Never => true,
            Wait::Until(deadline) => {
                let ready = sys::wait_readable(self.socket.as_fd(), Some(deadline))
                    .map_err(|err| Error::os(Operation::Wait, err))?;
                if !ready {
                    return Err(Error::Timeout);
                }
                true
            }
        };
        let control = sys::Control {
            max_fds: self.inbox.max_fds(),
            credentials: self.pass_credentials,
        };
        let (target, limit) = self.inbox.read_target();
        let received = match sys::receive(self.socket.as_fd(), target, limit, control, dont_wait) {
            Ok(received) => received,
            // Readable but nothing there after all (another reader took it).
            Err(err)
                if matches!(wait, Wait::Until(_))
                    && err.kind() == std::io::ErrorKind::WouldBlock =>
            {
                return Ok(());
            }
            Err(err) => return Err(Error::os(Operation::Receive, err)),
        };
        if received.credentials.is_some() {
            self.sender = received.credentials;
        }
        self.inbox
            .received(received.len, received.fds, received.fds_truncated);
        if received.len == 0 {
            return Err(Error::Disconnected);
        }
        Ok(())
    }
}

/// How long a receive may wait for bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// As the socket's mode says: block, or `WouldBlock` if non-blocking.
    Block,
    /// Not at all.
    Never,
    /// Until this instant.
    Until(Instant),
}

/// Encodes `value` into `out` as a whole frame (header included, no
/// descriptors), reusing `out`'s memory.
///
/// # Errors
///
/// [`Error::Encode`], or [`Error::FrameTooLarge`] above `max`; `out` is
/// left empty then.
pub(crate) fn encode_frame<C: Codec, T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
    max: usize,
) -> Result<()> {
    out.clear();
    out.extend_from_slice(&[0; HEADER_LEN]);
    if let Err(err) = C::encode(value, out) {
        out.clear();
        return Err(Error::Encode(err));
    }
    let len = out.len() - HEADER_LEN;
    if len > max {
        out.clear();
        return Err(Error::FrameTooLarge {
            len: len as u64,
            max,
        });
    }
    out[..HEADER_LEN].copy_from_slice(&frame::header(len, 0));
    Ok(())
}

fn decode<C: Codec, T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    C::decode(bytes).map_err(Error::Decode)
}

/// Decodes a frame received by a method that takes no descriptors.
pub(crate) fn decode_without_fds<C: Codec, T: DeserializeOwned>(frame: Frame<'_>) -> Result<T> {
    let Frame { payload, fds } = frame;
    reject_fds(fds)?;
    decode::<C, T>(payload.bytes())
}

/// Closes descriptors that came with a frame whose receiver does not take them.
fn reject_fds(fds: Vec<OwnedFd>) -> Result<()> {
    let count = fds.len();
    drop(fds);
    if count == 0 {
        Ok(())
    } else {
        Err(Error::UnexpectedDescriptors { count })
    }
}

impl<C> AsFd for StreamChannel<C> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl<C> AsRawFd for StreamChannel<C> {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl<C> From<StreamChannel<C>> for OwnedFd {
    fn from(channel: StreamChannel<C>) -> Self {
        channel.socket
    }
}
