//! Typed message channels between processes, over Unix socket pairs.
//!
//! forkwise-channel moves serde values between a process and the children it
//! forks (or any process holding the other end of a Unix stream socket):
//!
//! - [`StreamChannel`]: the two ends of a `socketpair(2)`; each side
//!   [`send`](StreamChannel::send)s and [`receive`](StreamChannel::receive)s
//!   whole messages. Also raw byte frames, open file descriptors, the
//!   kernel-checked identity of the sender, non-blocking and timed receives.
//! - [`MultiStreamChannel`]: a master with many clients (one per worker)
//!   that receives from whichever has a message, fairly, sends to one or
//!   all, and reports each client's departure once.
//!
//! ```
//! use forkwise_channel::StreamChannel;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! enum Job {
//!     Resize { width: u32, height: u32 },
//!     Stop,
//! }
//!
//! // Make the pair before forking; the parent keeps one end, the child the
//! // other, and each drops the end it does not use.
//! let (mut parent, mut child) = StreamChannel::pair()?;
//! parent.send(&Job::Resize { width: 640, height: 480 })?;
//! parent.send(&Job::Stop)?;
//! assert_eq!(child.receive::<Job>()?, Job::Resize { width: 640, height: 480 });
//! assert_eq!(child.receive::<Job>()?, Job::Stop);
//! child.send(&"resized")?;
//! assert_eq!(parent.receive::<String>()?, "resized");
//! # Ok::<(), forkwise_channel::Error>(())
//! ```
//!
//! # Frames
//!
//! Each message is one frame: an 8-byte header (payload length as a
//! little-endian `u32`, the number of file descriptors riding along, and the
//! two bytes `fw`) and the payload. Any program that writes such frames can
//! talk to a channel with [`send_bytes`](StreamChannel::send_bytes) and
//! [`receive_bytes`](StreamChannel::receive_bytes).
//!
//! - **Codec.** Typed messages are encoded by a [`Codec`]: [`Postcard`]
//!   (compact, specified, maintained) by default; `Bincode` behind the
//!   `bincode` feature for peers that already speak bincode 1 (RUSTSEC-2025-0141
//!   flags bincode as unmaintained, so it is never the default). Mark byte
//!   buffers `#[serde(with = "serde_bytes")]` so they are copied whole
//!   rather than encoded byte by byte.
//! - **System calls.** A frame goes out in one `sendmsg(2)` (the header and
//!   a raw payload gathered, `writev`-style). Reads ask for 64 KiB, so many
//!   small frames cost one system call; a frame larger than that is read
//!   straight into a buffer of its own size. Sending and receiving reuse
//!   their buffers: in steady state they do not allocate per message
//!   (beyond what the decoded value itself owns, and
//!   [`receive_borrowed`](StreamChannel::receive_borrowed) decodes `&str`
//!   and `&[u8]` fields in place, so that need not be anything).
//! - **Limits.** A frame longer than the channel's maximum (64 MiB unless
//!   [set](StreamChannel::set_max_frame_len)) is refused on send before
//!   anything is written, and on receive as soon as its header arrives,
//!   before anything is allocated; its payload is then skipped, so the
//!   channel stays usable. Within the maximum, memory grows with the bytes
//!   that actually arrive, not with what the header claims.
//! - **Bad frames.** A payload that does not decode as the expected type is
//!   [`Error::Decode`] and the next frame is received normally. Bytes that
//!   are not a header at all are [`Error::Corrupt`], for good: the stream
//!   has lost its framing.
//!
//! # Blocking, non-blocking and partial sends
//!
//! Receives block by default; [`try_receive`](StreamChannel::try_receive)
//! never does, [`receive_timeout`](StreamChannel::receive_timeout) waits a
//! bounded time, and [`set_nonblocking`](StreamChannel::set_nonblocking)
//! makes every call return [`Error::WouldBlock`] instead of waiting. A
//! frame that has arrived in part stays buffered: nothing is lost.
//!
//! A non-blocking send either sends nothing and returns
//! [`Error::WouldBlock`] (try again later, with this or another message),
//! or commits the frame: if the socket took only part of it, the channel
//! keeps the rest, returns `Ok`, and finishes it before any later frame, at
//! the next send or [`flush`](StreamChannel::flush). A frame is therefore
//! never cut short or interleaved. [`has_unsent`](StreamChannel::has_unsent)
//! tells whether a tail is waiting (poll the socket for `POLLOUT`, then
//! `flush`).
//!
//! Signals interrupting a blocking call (EINTR) are retried; timed waits
//! go on with the time left. A peer that closes its end, or dies, gives
//! [`Error::Disconnected`], also in the middle of a frame; writing to it
//! gives the same, never `SIGPIPE`.
//!
//! # File descriptors and credentials
//!
//! [`send_with_fds`](StreamChannel::send_with_fds) passes open descriptors
//! with a message (`SCM_RIGHTS`); the receiver gets new ones, close-on-exec
//! (`MSG_CMSG_CLOEXEC`). A receiver accepts none until it
//! [sets a limit](StreamChannel::set_max_fds) per frame (so a peer cannot
//! put descriptors into a process that did not ask, and a channel that takes
//! none reads with a plain `recv(2)`); a frame with more, or with
//! descriptors a plain [`receive`](StreamChannel::receive) does not take,
//! is an error and every descriptor that came is closed: none leaks.
//!
//! [`set_pass_credentials`](StreamChannel::set_pass_credentials) makes the
//! kernel stamp every frame with the pid, uid and gid of the process that
//! wrote it ([`sender_credentials`](StreamChannel::sender_credentials)), so
//! a master can check who is talking, also after a fork.
//! [`peer_credentials`](StreamChannel::peer_credentials) (`SO_PEERCRED`)
//! names the process that created or connected the peer socket, which for
//! a pair is its creator.
//!
//! # Many clients
//!
//! ```
//! use forkwise_channel::{Event, MultiStreamChannel};
//!
//! let mut master = MultiStreamChannel::new()?;
//! let (a, mut first) = master.create_client()?;
//! let (b, mut second) = master.create_client()?;
//! // ... fork a worker right after creating each client (see below) ...
//! first.send(&10u32)?;
//! second.send(&20u32)?;
//! let mut sum = 0;
//! for _ in 0..2 {
//!     if let Event::Message(_, n) = master.receive::<u32>()? {
//!         sum += n;
//!     }
//! }
//! assert_eq!(sum, 30);
//! master.broadcast(&"stop")?;
//! assert_eq!(first.receive::<String>()?, "stop");
//! drop(second);
//! assert!(matches!(master.receive::<u32>()?, Event::Disconnected(id) if id == b));
//! # let _ = a;
//! # Ok::<(), forkwise_channel::Error>(())
//! ```
//!
//! The master watches its ends with epoll (close-on-exec; EINTR retried with
//! the time left) and serves ready clients round-robin, one message each, so
//! a busy client cannot starve the others. A client that closes or dies is
//! reported once as [`Event::Disconnected`] and removed.
//!
//! After a fork, descriptors are copies: a socket is closed only when every
//! copy is. So the parent drops its copy of a client's end once the worker
//! has it, and the worker calls
//! [`close_in_child`](MultiStreamChannel::close_in_child) (or drops the
//! master): otherwise a dead worker, or a dead master, is never noticed.
//! Creating each client right before forking its worker keeps workers from
//! inheriting each other's ends.
//!
//! # What it does not do
//!
//! - It is Linux-first: `SCM_CREDENTIALS`, `MSG_CMSG_CLOEXEC`, `SO_PEERCRED`
//!   and epoll are Linux interfaces.
//! - One reader and one writer per end: two processes reading the same end
//!   would split frames between them.
//! - No async integration beyond [`AsFd`](std::os::fd::AsFd) /
//!   [`AsRawFd`](std::os::fd::AsRawFd): put the socket in a poll set, then
//!   call [`try_receive`](StreamChannel::try_receive).
//! - Broadcasts and sends to a client whose socket is full wait for it.
#![deny(unsafe_code)]

mod error;
mod frame;
mod multi;
mod stream;
#[allow(unsafe_code, reason = "the one module that calls libc")]
mod sys;

pub use error::{Error, Operation, Result};
#[cfg(feature = "bincode")]
pub use forkwise_codec::Bincode;
pub use forkwise_codec::{Codec, CodecError, Postcard};
pub use multi::{ClientId, Event, MultiStreamChannel};
pub use stream::{Credentials, StreamChannel};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
