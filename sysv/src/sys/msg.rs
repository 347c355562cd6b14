//! Message queues: `msgget(2)`, `msgctl(2)`, `msgsnd(2)` and `msgrcv(2)`.
//!
//! A message in the kernel's terms is a `long` type followed by the text;
//! this module builds that layout (`struct msgbuf`) from a type and a byte
//! slice, and takes it apart again, so that no caller sees it.

use std::cell::RefCell;
use std::io;
use std::mem::{MaybeUninit, size_of};

use super::{RawKey, cvt, cvt_size, permission_flags};

/// The largest message type the kernel takes (`LONG_MAX`).
#[allow(
    clippy::unnecessary_cast,
    reason = "c_long is i64 here but i32 on 32-bit targets"
)]
pub(crate) const MAX_TYPE: i64 = libc::c_long::MAX as i64;

/// Messages with at most this many bytes of text are built on the stack.
const INLINE_TEXT: usize = 256;

/// `struct msgbuf` with room for [`INLINE_TEXT`] bytes.
#[repr(C)]
struct InlineMessage {
    mtype: libc::c_long,
    text: [MaybeUninit<u8>; INLINE_TEXT],
}

/// Creates a queue under `key` with permissions `mode`; `Ok(None)` if one
/// exists already. [`PRIVATE_KEY`](super::PRIVATE_KEY) always creates.
pub(crate) fn create(key: RawKey, mode: u16) -> io::Result<Option<libc::c_int>> {
    let flags = libc::IPC_CREAT | libc::IPC_EXCL | permission_flags(mode);
    // SAFETY: msgget takes two integers.
    match cvt(unsafe { libc::msgget(key, flags) }) {
        Ok(id) => Ok(Some(id)),
        Err(err) if err.raw_os_error() == Some(libc::EEXIST) => Ok(None),
        Err(err) => Err(err),
    }
}

/// Opens the existing queue under `key`; `Ok(None)` if there is none.
pub(crate) fn open(key: RawKey) -> io::Result<Option<libc::c_int>> {
    // SAFETY: msgget takes two integers.
    match cvt(unsafe { libc::msgget(key, 0) }) {
        Ok(id) => Ok(Some(id)),
        Err(err) if err.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(err) => Err(err),
    }
}

/// What `IPC_STAT` tells about a queue.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Status {
    /// Messages in the queue (`msg_qnum`).
    pub(crate) messages: u64,
    /// Bytes of text in the queue (`msg_cbytes`).
    pub(crate) bytes: u64,
    /// The most bytes of text the queue holds (`msg_qbytes`).
    pub(crate) capacity: u64,
}

/// `msgctl(IPC_STAT)`.
pub(crate) fn status(id: libc::c_int) -> io::Result<Status> {
    // SAFETY: `msqid_ds` is a plain C struct; all-zeroes is a valid value.
    let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT writes one `msqid_ds` to `ds`, alive and writable.
    cvt(unsafe { libc::msgctl(id, libc::IPC_STAT, &raw mut ds) })?;
    Ok(Status {
        messages: ds.msg_qnum,
        bytes: ds.__msg_cbytes,
        capacity: ds.msg_qbytes,
    })
}

/// The system's limit on the text of one message (`msgmax`), from
/// `msgctl(IPC_INFO)`.
pub(crate) fn max_message_size() -> io::Result<usize> {
    // SAFETY: `msginfo` is a plain C struct; all-zeroes is a valid value.
    let mut info: libc::msginfo = unsafe { std::mem::zeroed() };
    #[allow(
        clippy::cast_ptr_alignment,
        reason = "with IPC_INFO the kernel takes the pointer as a `struct msginfo`; nothing reads it as a `msqid_ds`"
    )]
    let buf = (&raw mut info).cast::<libc::msqid_ds>();
    // SAFETY: with IPC_INFO, Linux writes a `struct msginfo` (not a
    // `msqid_ds`) through the pointer, as msgctl(2) documents; `info` is
    // alive and writable, and the identifier is ignored.
    cvt(unsafe { libc::msgctl(0, libc::IPC_INFO, buf) })?;
    usize::try_from(info.msgmax).map_err(|_| io::Error::other("msgmax is negative"))
}

/// `msgctl(IPC_RMID)`: removes the queue; processes waiting on it wake with EIDRM.
pub(crate) fn remove(id: libc::c_int) -> io::Result<()> {
    // SAFETY: IPC_RMID ignores the buffer argument.
    cvt(unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) }).map(drop)
}

/// `msgsnd(2)`: sends `text` with type `mtype` (1 to [`MAX_TYPE`]); with
/// `wait` false, `Ok(false)` if the queue is full. EINTR is returned.
#[inline]
pub(crate) fn send(id: libc::c_int, mtype: i64, text: &[u8], wait: bool) -> io::Result<bool> {
    #[allow(
        clippy::useless_conversion,
        reason = "c_long is i64 here but i32 on 32-bit targets"
    )]
    let mtype = libc::c_long::try_from(mtype).map_err(|_| io::ErrorKind::InvalidInput)?;
    let flags = if wait { 0 } else { libc::IPC_NOWAIT };
    let ret = if text.len() <= INLINE_TEXT {
        let mut message = InlineMessage {
            mtype,
            text: [MaybeUninit::uninit(); INLINE_TEXT],
        };
        // SAFETY: `text` fits the inline text (checked above); the bytes
        // are copied into memory that is ours and need not be initialised.
        unsafe {
            std::ptr::copy_nonoverlapping(
                text.as_ptr(),
                message.text.as_mut_ptr().cast::<u8>(),
                text.len(),
            );
        }
        // SAFETY: `message` is a `struct msgbuf` whose first `text.len()`
        // text bytes are initialised; msgsnd reads the type and those bytes.
        unsafe { libc::msgsnd(id, (&raw const message).cast(), text.len(), flags) }
    } else {
        let mut words = Words::default();
        words.set(mtype, text);
        // SAFETY: `words` holds a `long` type followed by `text.len()`
        // initialised bytes, the layout msgsnd reads.
        unsafe { libc::msgsnd(id, words.as_ptr(), text.len(), flags) }
    };
    match cvt(ret) {
        Ok(_) => Ok(true),
        Err(err) if !wait && err.raw_os_error() == Some(libc::EAGAIN) => Ok(false),
        Err(err) => Err(err),
    }
}

/// What [`receive`] found.
#[derive(Debug)]
pub(crate) enum Receive<T> {
    /// A message, as the caller's closure made it.
    Message(T),
    /// No message of the asked type, and no wait was allowed (`ENOMSG`).
    Empty,
    /// The first message of the asked type has more than `capacity` bytes of
    /// text (`E2BIG`); it stays in the queue.
    TooBig,
}

thread_local! {
    /// This thread's receive buffer, kept between receives: a receive needs
    /// room for the largest message the system allows (8 KiB by default),
    /// and allocating that for every message would cost more than the
    /// system call.
    static INBOX: RefCell<Words> = RefCell::new(Words::default());
}

/// `msgrcv(2)`: takes the first message that `selector` (msgrcv's `msgtyp`)
/// picks, with at most `capacity` bytes of text, waiting for one if `wait`,
/// and hands its type and text to `take`. EINTR is returned.
pub(crate) fn receive<T>(
    id: libc::c_int,
    selector: i64,
    capacity: usize,
    wait: bool,
    take: &mut impl FnMut(i64, &[u8]) -> T,
) -> io::Result<Receive<T>> {
    INBOX.with(|inbox| match inbox.try_borrow_mut() {
        Ok(mut words) => receive_into(&mut words, id, selector, capacity, wait, take),
        // Only if `take` itself receives (a Deserialize impl that reads a
        // queue): that inner receive gets a buffer of its own.
        Err(_) => receive_into(&mut Words::default(), id, selector, capacity, wait, take),
    })
}

fn receive_into<T>(
    words: &mut Words,
    id: libc::c_int,
    selector: i64,
    capacity: usize,
    wait: bool,
    take: &mut impl FnMut(i64, &[u8]) -> T,
) -> io::Result<Receive<T>> {
    #[allow(
        clippy::useless_conversion,
        reason = "c_long is i64 here but i32 on 32-bit targets"
    )]
    let selector = libc::c_long::try_from(selector).map_err(|_| io::ErrorKind::InvalidInput)?;
    let flags = if wait { 0 } else { libc::IPC_NOWAIT };
    words.reserve_text(capacity);
    // SAFETY: `words` has room for a `long` followed by `capacity` bytes,
    // which is what msgrcv may write; it outlives the call.
    let ret = unsafe { libc::msgrcv(id, words.as_mut_ptr(), capacity, selector, flags) };
    match cvt_size(ret) {
        Ok(len) => {
            // SAFETY: msgrcv succeeded: it wrote the type and `len` bytes.
            let (mtype, text) = unsafe { words.received(len) };
            #[allow(
                clippy::useless_conversion,
                reason = "c_long is i64 here but i32 on 32-bit targets"
            )]
            Ok(Receive::Message(take(i64::from(mtype), text)))
        }
        Err(err) if !wait && err.raw_os_error() == Some(libc::ENOMSG) => Ok(Receive::Empty),
        Err(err) if err.raw_os_error() == Some(libc::E2BIG) => Ok(Receive::TooBig),
        Err(err) => Err(err),
    }
}

/// A heap `struct msgbuf`: `long`s, so that the type is aligned, with room
/// for a text after the first. Only what the kernel or [`Words::set`] wrote
/// is ever read.
#[derive(Debug, Default)]
struct Words {
    words: Vec<libc::c_long>,
}

impl Words {
    const WORD: usize = size_of::<libc::c_long>();

    /// Makes room for a type and `capacity` bytes of text.
    fn reserve_text(&mut self, capacity: usize) {
        self.words.reserve(1 + capacity.div_ceil(Self::WORD));
    }

    /// Writes the type and the text, making room for them.
    fn set(&mut self, mtype: libc::c_long, text: &[u8]) {
        self.reserve_text(text.len());
        let base = self.words.as_mut_ptr();
        // SAFETY: the buffer has room for one `long` and then `text.len()`
        // bytes (reserved just above); writes through the raw pointer into
        // the spare capacity need no initialised contents, and `text`, a
        // caller's shared slice, cannot lie in our buffer. The copy avoids
        // the stall of a text that sits just below the buffer modulo 4 KiB.
        unsafe {
            base.write(mtype);
            forkwise_codec::copy::copy_bytes(base.add(1).cast::<u8>(), text);
        }
    }

    fn as_ptr(&self) -> *const libc::c_void {
        self.words.as_ptr().cast()
    }

    fn as_mut_ptr(&mut self) -> *mut libc::c_void {
        self.words.as_mut_ptr().cast()
    }

    /// The type and the first `len` bytes of the text that msgrcv wrote.
    ///
    /// # Safety
    ///
    /// A successful msgrcv returned `len` for this buffer, so the first word
    /// and `len` bytes after it are initialised.
    unsafe fn received(&self, len: usize) -> (libc::c_long, &[u8]) {
        assert!(len <= (self.words.capacity() - 1) * Self::WORD);
        let base = self.words.as_ptr();
        // SAFETY: the caller guarantees that the first word and the `len`
        // bytes after it are initialised; they are within the allocation
        // (asserted) and borrowed with `self`.
        unsafe {
            (
                base.read(),
                std::slice::from_raw_parts(base.add(1).cast::<u8>(), len),
            )
        }
    }
}
