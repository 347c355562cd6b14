//! [`Queue`]: a SysV message queue carrying typed or raw messages.

use std::cell::RefCell;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Object, Operation, Result};
use crate::handle::Handle;
use crate::options::{OpenOptions, Options};
use crate::sys::msg::{MAX_TYPE, Receive};
use crate::{Key, sys};
use forkwise_codec::{Codec, Postcard};

thread_local! {
    /// This thread's encoding buffer, reused so that sending a typed message
    /// does not allocate once the buffer has grown to the messages' size.
    static OUTBOX: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A SysV message queue: processes send messages, each with a type (a
/// number of 1 or more), and receive them in order, picking by type.
///
/// Messages are typed (any `serde` value) or raw bytes, for programs in
/// other languages. A receiver chooses what to take with a [`Selector`]:
/// the first message of any type, of one type, or of the lowest type up to
/// a bound (a priority queue).
///
/// ```
/// use forkwise_sysv::{Key, Queue, Selector};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Job { id: u32, path: String }
///
/// let queue = Queue::open(Key::private())?;
/// queue.send(1, &Job { id: 7, path: "/tmp/in".into() })?;
/// let (mtype, job): (i64, Job) = queue.receive(Selector::Any)?;
/// assert_eq!((mtype, job.id), (1, 7));
/// queue.remove()?;
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
///
/// # Wire layout of a typed message
///
/// A message is what `msgsnd(2)` takes: a C `long` type (8 bytes, native
/// byte order, on 64-bit Linux), then the text. The type is the one given to
/// [`send`](Self::send). The text of a typed message is exactly the
/// [postcard](https://postcard.jamesmunns.com/wire-format) encoding of the
/// value, with no length, header or version around it (`msgrcv` returns the
/// length). A program in another language reads it with `msgrcv` and decodes
/// the text as postcard; for a struct that is its fields in order,
/// integers as LEB128 varints (signed ones zigzag-encoded first), strings
/// as a varint length and UTF-8 bytes. Use [`send_bytes`](Self::send_bytes)
/// and [`receive_bytes`](Self::receive_bytes) to exchange any other format
/// (Python's `sysv_ipc.MessageQueue`, PHP's `msg_send` with
/// `serialize: false`).
///
/// # Limits
///
/// The kernel limits one message (`msgmax`, 8192 bytes by default on Linux)
/// and the bytes a queue holds (`msg_qbytes`, 16384 by default). A larger
/// message is refused with [`Error::MessageTooLarge`], naming the limit,
/// before anything is sent. Receiving sizes its buffer from the limit, so
/// it never fails for want of room, and never spins; each thread that
/// receives keeps one such buffer (8 KiB by default) for its next receive.
#[derive(Debug)]
pub struct Queue {
    handle: Handle,
    /// The most bytes of text one message may have: `msgmax`, or the queue's
    /// capacity if smaller (a larger message would wait forever for room).
    limit: usize,
    /// The receive buffer's size: `msgmax` when the queue was opened.
    receive_capacity: usize,
}

/// Which message [`Queue::receive`] takes: `msgrcv(2)`'s `msgtyp`.
///
/// ```
/// use forkwise_sysv::{Key, Queue, Selector};
///
/// let queue = Queue::options().remove_on_drop(true).open(Key::private())?;
/// for (mtype, text) in [(3, "c"), (1, "a"), (2, "b")] {
///     queue.send(mtype, text)?;
/// }
/// let take = |selector| queue.receive::<String>(selector).map(|(_, text)| text);
/// assert_eq!(take(Selector::Exact(2))?, "b");      // type 2 exactly
/// assert_eq!(take(Selector::LowestUpTo(9))?, "a"); // the lowest type, 1
/// assert_eq!(take(Selector::Any)?, "c");           // the oldest left
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Selector {
    /// The first message in the queue, whatever its type (`msgtyp` 0).
    Any,
    /// The first message of exactly this type (`msgtyp` > 0).
    Exact(i64),
    /// The first message of the lowest type that is at most this one
    /// (`msgtyp` < 0): with types as priorities, 1 the most urgent, the
    /// most urgent message first.
    LowestUpTo(i64),
}

/// A queue's state from `msgctl(IPC_STAT)`.
///
/// ```
/// use forkwise_sysv::{Key, Queue};
///
/// let queue = Queue::options().remove_on_drop(true).open(Key::private())?;
/// queue.send_bytes(1, &[0; 10])?;
/// queue.send_bytes(1, &[0; 5])?;
/// let stats = queue.stats()?;
/// assert_eq!((stats.messages, stats.bytes), (2, 15));
/// assert!(stats.limit >= 15);
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// The messages in the queue.
    #[doc(alias = "msg_qnum")]
    pub messages: u64,
    /// The bytes of text in the queue.
    #[doc(alias = "msg_cbytes")]
    pub bytes: u64,
    /// The most bytes of text the queue holds; a sender waits (or
    /// [`try_send`](Queue::try_send) returns `false`) while a message does not fit.
    #[doc(alias = "msg_qbytes")]
    pub limit: u64,
}

impl Queue {
    /// Creates the queue under `key`, or opens the existing one; mode `0600`.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] with [`Operation::Open`] if the OS refuses (`EACCES`
    /// for a queue of another user, `ENOSPC` when the system's table is
    /// full), or with [`Operation::Stat`] if its limits cannot be read.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue};
    /// let queue = Queue::open(Key::private())?;
    /// assert_eq!(queue.stats()?.messages, 0);
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "msgget")]
    pub fn open(key: impl Into<Key>) -> Result<Self> {
        Self::options().open(key)
    }

    /// Options for [`open`](OpenOptions::open): mode, exclusive creation,
    /// removal on drop.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue};
    /// let queue = Queue::options().remove_on_drop(true).open(Key::private())?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn options() -> OpenOptions<Self> {
        OpenOptions::new()
    }

    fn open_with(key: Key, options: &Options) -> Result<Self> {
        let handle = Handle::open(
            Object::Queue,
            key,
            options,
            sys::msg::create,
            sys::msg::open,
        )?;
        let limits = sys::msg::max_message_size().and_then(|max_message| {
            let capacity = sys::msg::status(handle.id())?.capacity;
            Ok((max_message, usize::try_from(capacity).unwrap_or(usize::MAX)))
        });
        let (max_message, capacity) = match limits {
            Ok(limits) => limits,
            Err(source) => {
                let err = handle.error(Operation::Stat, source);
                if handle.created() {
                    // Unusable: do not leave it behind.
                    let _ = handle.remove();
                }
                return Err(err);
            }
        };
        Ok(Self {
            limit: max_message.min(capacity),
            receive_capacity: max_message,
            handle,
        })
    }

    /// Sends `value` as a message of type `mtype` (1 or more), waiting while
    /// the queue is full. The text is the value's postcard encoding (see
    /// [Wire layout](Self#wire-layout-of-a-typed-message)).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidMessageType`] for a type below 1;
    /// [`Error::MessageTooLarge`] if the encoding exceeds
    /// [`max_message_size`](Self::max_message_size); [`Error::Encode`] if
    /// serde refuses the value; [`Error::Removed`] if the queue is removed,
    /// also while waiting; [`Error::Os`] with [`Operation::Send`] otherwise.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue, Selector};
    /// let queue = Queue::open(Key::private())?;
    /// queue.send(3, &("resize", 640u32, 480u32))?;
    /// let (_, job): (i64, (String, u32, u32)) = queue.receive(Selector::Exact(3))?;
    /// assert_eq!(job.0, "resize");
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "msgsnd")]
    pub fn send<T: Serialize + ?Sized>(&self, mtype: i64, value: &T) -> Result<()> {
        self.put_value(mtype, value, true).map(drop)
    }

    /// Sends `value` if the queue has room now; `Ok(false)` (and nothing
    /// sent) if it is full. Never waits.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue};
    /// let queue = Queue::open(Key::private())?;
    /// assert!(queue.try_send(1, &42u64)?);
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[must_use = "false means the message was not sent"]
    pub fn try_send<T: Serialize + ?Sized>(&self, mtype: i64, value: &T) -> Result<bool> {
        self.put_value(mtype, value, false)
    }

    /// Takes the message that `selector` picks and decodes it as a `T`,
    /// waiting until there is one. Returns its type and value. Signals do
    /// not end the wait.
    ///
    /// # Errors
    ///
    /// [`Error::Decode`] if the text is not a `T` (the message has left the
    /// queue; the error keeps its bytes); [`Error::InvalidMessageType`] for
    /// a selector type below 1; [`Error::Removed`] if the queue is removed,
    /// also while waiting; [`Error::MessageTooLarge`] or [`Error::Os`] with
    /// [`Operation::Receive`] otherwise.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue, Selector};
    /// let queue = Queue::open(Key::private())?;
    /// queue.send(9, "low")?;
    /// queue.send(2, "high")?;
    /// let (mtype, text): (i64, String) = queue.receive(Selector::LowestUpTo(10))?;
    /// assert_eq!((mtype, text.as_str()), (2, "high"));
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "msgrcv")]
    pub fn receive<T: DeserializeOwned>(&self, selector: Selector) -> Result<(i64, T)> {
        self.take_blocking(selector, |mtype, text| self.decode(mtype, text))?
    }

    /// Takes the message that `selector` picks if there is one now;
    /// `Ok(None)` if there is none. Never waits.
    ///
    /// # Errors
    ///
    /// As [`receive`](Self::receive).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue, Selector};
    /// let queue = Queue::open(Key::private())?;
    /// assert!(queue.try_receive::<u8>(Selector::Any)?.is_none());
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn try_receive<T: DeserializeOwned>(&self, selector: Selector) -> Result<Option<(i64, T)>> {
        self.take(selector, false, |mtype, text| self.decode(mtype, text))?
            .transpose()
    }

    /// Sends `bytes` as the text of a message of type `mtype`, waiting while
    /// the queue is full: the raw form, for programs that do not speak
    /// postcard.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), without [`Error::Encode`].
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue, Selector};
    /// let queue = Queue::open(Key::private())?;
    /// queue.send_bytes(1, b"{\"job\": 7}")?;
    /// assert_eq!(queue.receive_bytes(Selector::Any)?, (1, b"{\"job\": 7}".to_vec()));
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[inline]
    pub fn send_bytes(&self, mtype: i64, bytes: &[u8]) -> Result<()> {
        self.put(mtype, bytes, true).map(drop)
    }

    /// Sends `bytes` if the queue has room now; `Ok(false)` if it is full.
    ///
    /// # Errors
    ///
    /// As [`send_bytes`](Self::send_bytes).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue};
    /// let queue = Queue::open(Key::private())?;
    /// let chunk = vec![0; queue.max_message_size()];
    /// while queue.try_send_bytes(1, &chunk)? {}
    /// assert!(queue.stats()?.bytes > 0, "full now");
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[must_use = "false means the message was not sent"]
    pub fn try_send_bytes(&self, mtype: i64, bytes: &[u8]) -> Result<bool> {
        self.put(mtype, bytes, false)
    }

    /// Takes the message that `selector` picks, waiting until there is one,
    /// and returns its type and text.
    ///
    /// # Errors
    ///
    /// As [`receive`](Self::receive), without [`Error::Decode`].
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue, Selector};
    /// let queue = Queue::open(Key::private())?;
    /// queue.send_bytes(4, &[1, 2, 3])?;
    /// let (mtype, text) = queue.receive_bytes(Selector::Exact(4))?;
    /// assert_eq!((mtype, text), (4, vec![1, 2, 3]));
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn receive_bytes(&self, selector: Selector) -> Result<(i64, Vec<u8>)> {
        self.take_blocking(selector, |mtype, text| (mtype, text.to_vec()))
    }

    /// Takes the message that `selector` picks if there is one now;
    /// `Ok(None)` if there is none.
    ///
    /// # Errors
    ///
    /// As [`receive_bytes`](Self::receive_bytes).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue, Selector};
    /// let queue = Queue::open(Key::private())?;
    /// queue.send_bytes(5, b"x")?;
    /// assert!(queue.try_receive_bytes(Selector::Exact(6))?.is_none());
    /// assert!(queue.try_receive_bytes(Selector::Exact(5))?.is_some());
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn try_receive_bytes(&self, selector: Selector) -> Result<Option<(i64, Vec<u8>)>> {
        self.take(selector, false, |mtype, text| (mtype, text.to_vec()))
    }

    /// Takes the message that `selector` picks, waiting until there is one,
    /// puts its text in `buf` (replacing what was there) and returns its
    /// type. Once `buf` has room for the largest message, receiving
    /// allocates nothing: the form for a loop that reads many messages.
    ///
    /// # Errors
    ///
    /// As [`receive_bytes`](Self::receive_bytes); `buf` is left empty.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue, Selector};
    /// let queue = Queue::open(Key::private())?;
    /// let mut buf = Vec::with_capacity(queue.max_message_size());
    /// queue.send_bytes(2, b"first")?;
    /// queue.send_bytes(2, b"2nd")?;
    /// assert_eq!(queue.receive_bytes_into(Selector::Any, &mut buf)?, 2);
    /// assert_eq!(buf, b"first");
    /// queue.receive_bytes_into(Selector::Any, &mut buf)?;
    /// assert_eq!(buf, b"2nd");
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn receive_bytes_into(&self, selector: Selector, buf: &mut Vec<u8>) -> Result<i64> {
        buf.clear();
        self.take_blocking(selector, |mtype, text| {
            buf.extend_from_slice(text);
            mtype
        })
    }

    /// Takes the message that `selector` picks if there is one now, puts its
    /// text in `buf` (replacing what was there) and returns its type;
    /// `Ok(None)` (and `buf` empty) if there is none.
    ///
    /// # Errors
    ///
    /// As [`receive_bytes`](Self::receive_bytes).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue, Selector};
    /// let queue = Queue::open(Key::private())?;
    /// let mut buf = Vec::new();
    /// assert_eq!(queue.try_receive_bytes_into(Selector::Any, &mut buf)?, None);
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn try_receive_bytes_into(
        &self,
        selector: Selector,
        buf: &mut Vec<u8>,
    ) -> Result<Option<i64>> {
        buf.clear();
        self.take(selector, false, |mtype, text| {
            buf.extend_from_slice(text);
            mtype
        })
    }

    /// The queue's messages, bytes and byte limit now: a snapshot that other
    /// processes change at any moment.
    ///
    /// # Errors
    ///
    /// [`Error::Removed`] if the queue is gone; [`Error::Os`] with
    /// [`Operation::Stat`] otherwise.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue};
    /// let queue = Queue::open(Key::private())?;
    /// queue.send_bytes(1, b"four")?;
    /// let stats = queue.stats()?;
    /// assert_eq!((stats.messages, stats.bytes), (1, 4));
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "IPC_STAT")]
    pub fn stats(&self) -> Result<QueueStats> {
        let status = sys::msg::status(self.id())
            .map_err(|source| self.handle.error(Operation::Stat, source))?;
        Ok(QueueStats {
            messages: status.messages,
            bytes: status.bytes,
            limit: status.capacity,
        })
    }

    /// The most bytes of text one message may have: the system's `msgmax`,
    /// or the queue's byte limit if that is smaller, as read at `open`.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue};
    /// let queue = Queue::open(Key::private())?;
    /// assert!(queue.max_message_size() > 0);
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "msgmax")]
    pub fn max_message_size(&self) -> usize {
        self.limit
    }

    /// The key the queue was opened with.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue};
    /// let queue = Queue::open(Key::private())?;
    /// assert!(queue.key().is_private());
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn key(&self) -> &Key {
        self.handle.key()
    }

    /// The queue's identifier, as `ipcs -q` lists it and `ipcrm -q` takes it.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue};
    /// let queue = Queue::open(Key::private())?;
    /// assert!(queue.id() >= 0);
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "msqid")]
    pub fn id(&self) -> i32 {
        self.handle.id()
    }

    /// True if this `open` created the queue.
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue};
    /// let queue = Queue::open(Key::private())?;
    /// assert!(queue.created());
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn created(&self) -> bool {
        self.handle.created()
    }

    /// Removes the queue and its messages from the system now; processes
    /// waiting on it wake with [`Error::Removed`].
    ///
    /// # Errors
    ///
    /// [`Error::Removed`] if it is gone already; [`Error::Os`] with
    /// [`Operation::Remove`] if the OS refuses (`EPERM`).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue, Selector};
    /// let queue = Queue::open(Key::private())?;
    /// queue.remove()?;
    /// assert!(queue.try_receive_bytes(Selector::Any).unwrap_err().is_removed());
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "IPC_RMID")]
    pub fn remove(&self) -> Result<()> {
        self.handle.remove()
    }

    /// Encodes `value` in this thread's buffer and sends it.
    fn put_value<T: Serialize + ?Sized>(&self, mtype: i64, value: &T, wait: bool) -> Result<bool> {
        OUTBOX.with(|outbox| match outbox.try_borrow_mut() {
            Ok(mut buffer) => {
                let sent = self.encode_and_put(&mut buffer, mtype, value, wait);
                if buffer.capacity() > self.limit {
                    // A value too large to send: do not keep its memory.
                    *buffer = Vec::new();
                }
                sent
            }
            // Only if `value`'s Serialize impl itself sends on a queue.
            Err(_) => self.encode_and_put(&mut Vec::new(), mtype, value, wait),
        })
    }

    fn encode_and_put<T: Serialize + ?Sized>(
        &self,
        buffer: &mut Vec<u8>,
        mtype: i64,
        value: &T,
        wait: bool,
    ) -> Result<bool> {
        buffer.clear();
        Postcard::encode(value, buffer).map_err(|source| Error::Encode {
            key: self.key().clone(),
            source,
        })?;
        self.put(mtype, buffer, wait)
    }

    fn decode<T: DeserializeOwned>(&self, mtype: i64, text: &[u8]) -> Result<(i64, T)> {
        match Postcard::decode(text) {
            Ok(value) => Ok((mtype, value)),
            Err(source) => Err(Error::Decode {
                key: self.key().clone(),
                mtype,
                bytes: text.to_vec(),
                source,
            }),
        }
    }

    /// Sends one message; `Ok(false)` if `wait` is false and the queue is full.
    #[inline]
    fn put(&self, mtype: i64, text: &[u8], wait: bool) -> Result<bool> {
        if !(1..=MAX_TYPE).contains(&mtype) {
            return Err(self.invalid_type(mtype));
        }
        if text.len() > self.limit {
            return Err(self.too_large(Some(text.len()), self.limit));
        }
        sys::retry_eintr(|| sys::msg::send(self.id(), mtype, text, wait)).map_err(|source| {
            match self.handle.error(Operation::Send, source) {
                // EINVAL on a queue that exists: the administrator lowered msgmax.
                Error::Os { source, .. } if sys::is_invalid(&source) => {
                    let limit = sys::msg::max_message_size().unwrap_or(0);
                    self.too_large(Some(text.len()), limit)
                }
                other => other,
            }
        })
    }

    /// Takes one message, waiting for it, and returns what `take` makes of
    /// its type and text.
    fn take_blocking<T>(&self, selector: Selector, take: impl FnMut(i64, &[u8]) -> T) -> Result<T> {
        let made = self.take(selector, true, take)?;
        Ok(made.expect("a blocking msgrcv returns only with a message"))
    }

    /// Takes one message and returns what `take` makes of its type and text
    /// (which live in a buffer reused by the next receive); `Ok(None)` if
    /// `wait` is false and there is none.
    fn take<T>(
        &self,
        selector: Selector,
        wait: bool,
        mut take: impl FnMut(i64, &[u8]) -> T,
    ) -> Result<Option<T>> {
        let msgtyp = match selector {
            Selector::Any => 0,
            Selector::Exact(mtype) if (1..=MAX_TYPE).contains(&mtype) => mtype,
            Selector::LowestUpTo(mtype) if (1..=MAX_TYPE).contains(&mtype) => -mtype,
            Selector::Exact(mtype) | Selector::LowestUpTo(mtype) => {
                return Err(self.invalid_type(mtype));
            }
        };
        let mut receive = |capacity| {
            sys::retry_eintr(|| sys::msg::receive(self.id(), msgtyp, capacity, wait, &mut take))
                .map_err(|source| self.handle.error(Operation::Receive, source))
        };
        match receive(self.receive_capacity)? {
            Receive::Message(made) => Ok(Some(made)),
            Receive::Empty => Ok(None),
            Receive::TooBig => {
                // Only if msgmax was raised after `open` and a larger message
                // sent: size the buffer from the limit of now, once; no loop.
                let limit = sys::msg::max_message_size()
                    .map_err(|source| self.handle.error(Operation::Stat, source))?;
                match receive(limit)? {
                    Receive::Message(made) => Ok(Some(made)),
                    Receive::Empty => Ok(None),
                    Receive::TooBig => Err(self.too_large(None, limit)),
                }
            }
        }
    }

    fn invalid_type(&self, mtype: i64) -> Error {
        Error::InvalidMessageType {
            key: self.key().clone(),
            mtype,
        }
    }

    fn too_large(&self, size: Option<usize>, limit: usize) -> Error {
        Error::MessageTooLarge {
            key: self.key().clone(),
            size,
            limit,
        }
    }
}

impl OpenOptions<Queue> {
    /// Creates or opens the queue under `key`, as these options say.
    ///
    /// # Errors
    ///
    /// As [`Queue::open`], and [`Error::AlreadyExists`] /
    /// [`Error::NotFound`] for [`exclusive`](Self::exclusive) /
    /// [`create(false)`](Self::create).
    ///
    /// ```
    /// # use forkwise_sysv::{Key, Queue};
    /// let queue = Queue::options().mode(0o620).open(Key::private())?;
    /// # queue.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn open(&self, key: impl Into<Key>) -> Result<Queue> {
        Queue::open_with(key.into(), &self.options)
    }
}
