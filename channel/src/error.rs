//! The crate's one error type: named outcomes, and OS errors kept as source.

use std::fmt;
use std::io;

use crate::ClientId;

/// What the crate was doing when a system call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// Creating the socket pair (`socketpair(2)`).
    Create,
    /// Sending (`sendmsg(2)`).
    Send,
    /// Receiving (`recvmsg(2)`).
    Receive,
    /// Waiting for the socket (`poll(2)`, `epoll_wait(2)`).
    Wait,
    /// Changing or reading a socket option or flag (`fcntl(2)`, `setsockopt(2)`, `getsockopt(2)`).
    Configure,
    /// Registering a client with the master's epoll instance (`epoll_create1(2)`, `epoll_ctl(2)`).
    Register,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "create a socket pair",
            Self::Send => "send",
            Self::Receive => "receive",
            Self::Wait => "wait for the socket",
            Self::Configure => "configure the socket",
            Self::Register => "register a client",
        })
    }
}

/// Everything that can go wrong on a channel.
///
/// Each outcome that is not an OS error has a name, so callers can match on
/// it; whether the channel can still be used afterwards is said per variant.
/// Converts into [`io::Error`], so `?` works in functions returning
/// `io::Result`:
///
/// ```
/// use forkwise_channel::StreamChannel;
///
/// fn ping() -> std::io::Result<u32> {
///     let (mut a, mut b) = StreamChannel::pair()?;
///     a.send(&7u32)?;
///     Ok(b.receive::<u32>()?)
/// }
/// assert_eq!(ping().unwrap(), 7);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The peer closed its end (or died), possibly in the middle of a frame;
    /// for a [`MultiStreamChannel`](crate::MultiStreamChannel), no client is
    /// left. Nothing more will arrive.
    Disconnected,
    /// The channel is non-blocking and the operation would have to wait:
    /// nothing complete has arrived, or the socket cannot take the frame now.
    /// Nothing was lost; a partly received frame stays buffered.
    WouldBlock,
    /// A timed operation ran out of time. A partly received frame stays buffered.
    Timeout,
    /// A frame longer than the channel's maximum. On send nothing was
    /// written; on receive nothing was allocated and the frame's payload is
    /// skipped as it arrives. The channel stays usable.
    FrameTooLarge {
        /// The length of the frame's payload.
        len: u64,
        /// The channel's maximum payload length.
        max: usize,
    },
    /// A frame's payload does not decode as the expected type. The frame is
    /// consumed; the channel stays usable for the next frame.
    Decode(Box<dyn std::error::Error + Send + Sync>),
    /// A value could not be encoded (the codec refused it). Nothing was sent.
    Encode(Box<dyn std::error::Error + Send + Sync>),
    /// Bytes arrived that are not a frame header: the peer does not speak
    /// this protocol or the stream lost its framing. Receiving is over on
    /// this channel; every later receive reports this again.
    Corrupt,
    /// A frame carried file descriptors that did not arrive as announced:
    /// more than the channel accepts, or not the number its header
    /// announced. Every descriptor that did arrive was closed; the frame is
    /// consumed and the channel stays usable.
    Descriptors {
        /// How many descriptors the frame's header announced.
        announced: usize,
        /// How many the channel accepts in one frame.
        accepted: usize,
    },
    /// A frame came with file descriptors, but was received with a method
    /// that does not take them ([`receive`](crate::StreamChannel::receive)
    /// rather than [`receive_with_fds`](crate::StreamChannel::receive_with_fds)).
    /// The descriptors were closed; the frame is consumed.
    UnexpectedDescriptors {
        /// How many descriptors were closed.
        count: usize,
    },
    /// More descriptors than one frame can carry were offered to send.
    /// Nothing was sent.
    TooManyDescriptors {
        /// How many were offered.
        count: usize,
        /// How many one frame may carry.
        max: usize,
    },
    /// No client with this id is connected to the master (it disconnected,
    /// or was never created by this master).
    UnknownClient(ClientId),
    /// A system call failed.
    Os {
        /// What was being done.
        operation: Operation,
        /// The error the OS returned.
        source: io::Error,
    },
}

impl Error {
    /// Classifies a failed system call: a closed peer is
    /// [`Disconnected`](Self::Disconnected) and "try again" is
    /// [`WouldBlock`](Self::WouldBlock).
    pub(crate) fn os(operation: Operation, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::EPIPE | libc::ECONNRESET) => Self::Disconnected,
            _ if source.kind() == io::ErrorKind::WouldBlock => Self::WouldBlock,
            _ => Self::Os { operation, source },
        }
    }

    /// True for outcomes after which the channel cannot carry frames any
    /// more: the peer is gone, the stream lost its framing, or the OS failed.
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::Disconnected | Self::Corrupt | Self::Os { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disconnected => f.write_str("the peer disconnected"),
            Self::WouldBlock => f.write_str("the operation would block"),
            Self::Timeout => f.write_str("timed out"),
            Self::FrameTooLarge { len, max } => write!(
                f,
                "a frame of {len} bytes is larger than the channel's maximum of {max} bytes"
            ),
            Self::Decode(err) => write!(f, "a frame did not decode as the expected type: {err}"),
            Self::Encode(err) => write!(f, "the value could not be encoded: {err}"),
            Self::Corrupt => f.write_str("bytes arrived that are not a frame header"),
            Self::Descriptors {
                announced,
                accepted,
            } => write!(
                f,
                "a frame announced {announced} file descriptors but they did not arrive as \
                 announced (the channel accepts {accepted}{hint}); those that came were closed",
                hint = if *accepted == 0 {
                    ": call set_max_fds on the receiving end first"
                } else {
                    ""
                }
            ),
            Self::UnexpectedDescriptors { count } => write!(
                f,
                "a frame carried {count} file descriptors that this receive does not take; \
                 they were closed"
            ),
            Self::TooManyDescriptors { count, max } => write!(
                f,
                "cannot send {count} file descriptors in one frame (at most {max})"
            ),
            Self::UnknownClient(id) => write!(f, "no connected client {id}"),
            Self::Os { operation, source } => write!(f, "cannot {operation}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Os { source, .. } => Some(source),
            Self::Decode(err) | Self::Encode(err) => Some(&**err),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::Os { source, .. } => source.kind(),
            Error::Disconnected => io::ErrorKind::BrokenPipe,
            Error::WouldBlock => io::ErrorKind::WouldBlock,
            Error::Timeout => io::ErrorKind::TimedOut,
            Error::FrameTooLarge { .. } => io::ErrorKind::FileTooLarge,
            Error::Decode(_) | Error::Corrupt | Error::Descriptors { .. } => {
                io::ErrorKind::InvalidData
            }
            Error::Encode(_)
            | Error::TooManyDescriptors { .. }
            | Error::UnexpectedDescriptors { .. } => io::ErrorKind::InvalidInput,
            Error::UnknownClient(_) => io::ErrorKind::NotFound,
        };
        io::Error::new(kind, err)
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
