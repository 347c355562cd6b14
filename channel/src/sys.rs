//! The only module of this crate that calls libc.
//!
//! Every function here is a thin, safe wrapper over one system call: it turns
//! "-1 and errno" into an [`io::Result`] through [`cvt`], and EINTR is retried
//! through [`retry_eintr`] where a retry is always right (nothing was
//! transferred), so no call site repeats either. Blocking waits with a
//! deadline retry EINTR with the time that is left.

use std::io::{self, IoSlice};
use std::mem::{MaybeUninit, size_of};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

use crate::Credentials;

/// Linux's `SCM_MAX_FD`: the most descriptors one `sendmsg(2)` may carry.
const SCM_MAX_FD: u32 = 253;
/// [`SCM_MAX_FD`] as a count.
pub(crate) const MAX_FDS_PER_MESSAGE: usize = SCM_MAX_FD as usize;
/// Bytes of one descriptor in `SCM_RIGHTS` data.
const FD_BYTES: usize = size_of::<RawFd>();

/// `size_of::<T>()` as the `u32` (`socklen_t`) that the C interfaces take.
#[allow(
    clippy::cast_possible_truncation,
    reason = "only used for small C structs"
)]
const fn c_size<T>() -> u32 {
    size_of::<T>() as u32
}

/// Bytes of control buffer for [`SCM_MAX_FD`] descriptors plus one set of
/// credentials.
// SAFETY: CMSG_SPACE is plain arithmetic on its argument; `unsafe` only
// because libc declares every CMSG_* macro so.
const CONTROL_BYTES: usize = unsafe {
    libc::CMSG_SPACE(SCM_MAX_FD * c_size::<RawFd>()) as usize
        + libc::CMSG_SPACE(c_size::<libc::ucred>()) as usize
};

/// A control-message buffer aligned as `struct cmsghdr` requires.
#[repr(C, align(8))]
struct ControlBuffer([u8; CONTROL_BYTES]);

/// The C return types that signal failure with -1.
trait MinusOne: Copy {
    fn is_minus_one(self) -> bool;
}

impl MinusOne for libc::c_int {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

impl MinusOne for libc::ssize_t {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

/// Turns a C return value of -1 into the current `errno` as an [`io::Error`].
fn cvt<T: MinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Runs `call` again for as long as it fails with EINTR.
pub(crate) fn retry_eintr<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Milliseconds until `deadline` for `poll(2)`/`epoll_wait(2)`, rounded up
/// so that a wait never ends just before it; -1 (forever) for no deadline.
fn timeout_ms(deadline: Option<Instant>) -> libc::c_int {
    deadline.map_or(-1, |deadline| {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_nanos().div_ceil(1_000_000);
        libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
    })
}

/// Two connected stream sockets, both close-on-exec (`socketpair(2)`).
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [RawFd; 2] = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as socketpair requires.
    cvt(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    // SAFETY: socketpair succeeded, so both are open descriptors that nothing
    // else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sends `slices` with one `sendmsg(2)`, `fds` riding with the first byte
/// (`SCM_RIGHTS`), or, for one buffer without descriptors, with one
/// `send(2)`; returns how many bytes went out.
///
/// `MSG_NOSIGNAL` turns a closed peer into `EPIPE` instead of `SIGPIPE`;
/// `dont_wait` adds `MSG_DONTWAIT`. EINTR is retried: it means nothing was sent.
///
/// # Panics
///
/// If `fds` holds more than [`MAX_FDS_PER_MESSAGE`] (callers check first).
pub(crate) fn send(
    fd: BorrowedFd<'_>,
    slices: &[IoSlice<'_>],
    fds: &[BorrowedFd<'_>],
    dont_wait: bool,
) -> io::Result<usize> {
    let flags = if dont_wait {
        libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT
    } else {
        libc::MSG_NOSIGNAL
    };
    if let (Some(only), []) = (slices.first(), fds)
        && slices[1..].iter().all(|rest| rest.is_empty())
    {
        // One buffer, no descriptors: `send(2)` spares the kernel the copy
        // and checks of a message header and an iovec array.
        return retry_eintr(|| {
            // SAFETY: the pointer covers `only.len()` readable bytes, alive
            // for the call; `fd` is open for the borrow.
            cvt(unsafe { libc::send(fd.as_raw_fd(), only.as_ptr().cast(), only.len(), flags) })
        })
        .map(ssize_to_usize);
    }
    assert!(
        fds.len() <= MAX_FDS_PER_MESSAGE,
        "too many fds for one message"
    );
    let mut control = MaybeUninit::<ControlBuffer>::uninit();
    // SAFETY: `msghdr` is a plain C struct for which all-zeroes is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with `struct iovec` on Unix;
    // sendmsg only reads through the pointer.
    msg.msg_iov = slices.as_ptr().cast::<libc::iovec>().cast_mut();
    msg.msg_iovlen = slices.len() as _;
    if !fds.is_empty() {
        let data_len = u32::try_from(fds.len() * FD_BYTES).expect("253 fds fit");
        // SAFETY: arithmetic only.
        let space = unsafe { libc::CMSG_SPACE(data_len) } as usize;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: `msg_control` points at `space <= CONTROL_BYTES` aligned
        // bytes, zeroed here, so the first header exists and has room for
        // `CMSG_LEN(data_len)` bytes, which we fill, byte-wise as CMSG_DATA
        // need not be aligned for ints. (No control buffer is touched for
        // the common frame without descriptors.)
        unsafe {
            std::ptr::write_bytes(control.as_mut_ptr().cast::<u8>(), 0, space);
            let header = libc::CMSG_FIRSTHDR(&raw const msg);
            (*header).cmsg_level = libc::SOL_SOCKET;
            (*header).cmsg_type = libc::SCM_RIGHTS;
            (*header).cmsg_len = libc::CMSG_LEN(data_len) as _;
            let data = libc::CMSG_DATA(header);
            for (i, fd) in fds.iter().enumerate() {
                let bytes = fd.as_raw_fd().to_ne_bytes();
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), data.add(i * FD_BYTES), FD_BYTES);
            }
        }
    }
    retry_eintr(|| {
        // SAFETY: `msg` points at live iovecs and a control buffer that
        // outlive the call; sendmsg only reads them; `fd` is open for the borrow.
        cvt(unsafe { libc::sendmsg(fd.as_raw_fd(), &raw const msg, flags) })
    })
    .map(ssize_to_usize)
}

/// What one [`receive`] brought: bytes appended to the buffer, descriptors
/// and the sender's credentials.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// Bytes appended; 0 means the peer closed its end.
    pub(crate) len: usize,
    /// Descriptors that came with the bytes (`SCM_RIGHTS`), close-on-exec.
    pub(crate) fds: Vec<OwnedFd>,
    /// The sender attached more descriptors than fitted (`MSG_CTRUNC`); the
    /// kernel closed the ones that did not fit.
    pub(crate) fds_truncated: bool,
    /// The writer's credentials (`SCM_CREDENTIALS`), when `SO_PASSCRED` is on.
    pub(crate) credentials: Option<Credentials>,
}

/// The control data a [`receive`] takes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Control {
    /// Descriptors accepted (`SCM_RIGHTS`); more are closed.
    pub(crate) max_fds: usize,
    /// Whether `SO_PASSCRED` is on, so credentials come with the bytes.
    pub(crate) credentials: bool,
}

/// Receives up to `limit` bytes into the spare capacity of `buffer` with one
/// `recv(2)`, or, when `wanted` takes descriptors or credentials, one
/// `recvmsg(2)` accepting up to `wanted.max_fds` descriptors
/// (`MSG_CMSG_CLOEXEC`). A plain `recv` leaves the kernel to discard any
/// descriptors sent: they never enter this process.
///
/// `dont_wait` adds `MSG_DONTWAIT`. EINTR is retried: nothing was received.
pub(crate) fn receive(
    fd: BorrowedFd<'_>,
    buffer: &mut Vec<u8>,
    limit: usize,
    wanted: Control,
    dont_wait: bool,
) -> io::Result<Received> {
    let flags = if dont_wait { libc::MSG_DONTWAIT } else { 0 };
    if wanted.max_fds == 0 && !wanted.credentials {
        return receive_plain(fd, buffer, limit, flags);
    }
    let max_fds = wanted.max_fds;
    let spare = buffer.spare_capacity_mut();
    let len = limit.min(spare.len());
    let mut iov = libc::iovec {
        iov_base: spare.as_mut_ptr().cast(),
        iov_len: len,
    };
    let mut control = MaybeUninit::<ControlBuffer>::uninit();
    let fds_bytes =
        u32::try_from(max_fds.min(MAX_FDS_PER_MESSAGE) * FD_BYTES).expect("253 fds fit");
    // SAFETY: arithmetic only.
    let control_len = unsafe {
        (if max_fds == 0 {
            0
        } else {
            libc::CMSG_SPACE(fds_bytes)
        }) + libc::CMSG_SPACE(c_size::<libc::ucred>())
    } as usize;
    debug_assert!(control_len <= CONTROL_BYTES);
    // SAFETY: `msghdr` is a plain C struct for which all-zeroes is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control_len as _;
    let flags = flags | libc::MSG_CMSG_CLOEXEC;
    let received = retry_eintr(|| {
        // SAFETY: the iovec covers `len` bytes of `buffer`'s spare capacity
        // and the control pointer `control_len <= CONTROL_BYTES` bytes, both
        // writable and alive for the call; `fd` is open for the borrow.
        cvt(unsafe { libc::recvmsg(fd.as_raw_fd(), &raw mut msg, flags) })
    })
    .map(ssize_to_usize)?;
    let mut out = Received {
        len: received,
        fds_truncated: msg.msg_flags & libc::MSG_CTRUNC != 0,
        ..Received::default()
    };
    // SAFETY: recvmsg wrote `received <= len` bytes at the start of the
    // spare capacity, so they are initialised.
    unsafe { buffer.set_len(buffer.len() + received) };
    // SAFETY: recvmsg set `msg_controllen` to the bytes of control data it
    // wrote into `control`; CMSG_FIRSTHDR/CMSG_NXTHDR walk only within that
    // length, and each header's `cmsg_len` bounds its data. Every descriptor
    // in SCM_RIGHTS is a new one installed for this process, owned by no one
    // else, so wrapping it in an OwnedFd is right (and closes it if unused).
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(&raw const msg);
        while !header.is_null() {
            let data = libc::CMSG_DATA(header);
            let data_len = (*header).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
            match ((*header).cmsg_level, (*header).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_RIGHTS) => {
                    let count = data_len / FD_BYTES;
                    out.fds.reserve_exact(count);
                    for i in 0..count {
                        let mut raw = [0; FD_BYTES];
                        std::ptr::copy_nonoverlapping(
                            data.add(i * FD_BYTES),
                            raw.as_mut_ptr(),
                            FD_BYTES,
                        );
                        out.fds
                            .push(OwnedFd::from_raw_fd(RawFd::from_ne_bytes(raw)));
                    }
                }
                (libc::SOL_SOCKET, libc::SCM_CREDENTIALS)
                    if data_len >= size_of::<libc::ucred>() =>
                {
                    let mut cred = MaybeUninit::<libc::ucred>::uninit();
                    std::ptr::copy_nonoverlapping(
                        data,
                        cred.as_mut_ptr().cast::<u8>(),
                        size_of::<libc::ucred>(),
                    );
                    let cred = cred.assume_init();
                    out.credentials = Some(Credentials {
                        pid: cred.pid,
                        uid: cred.uid,
                        gid: cred.gid,
                    });
                }
                _ => {}
            }
            header = libc::CMSG_NXTHDR(&raw const msg, header);
        }
    }
    Ok(out)
}

/// [`receive`] without control data: one `recv(2)`.
fn receive_plain(
    fd: BorrowedFd<'_>,
    buffer: &mut Vec<u8>,
    limit: usize,
    flags: libc::c_int,
) -> io::Result<Received> {
    let spare = buffer.spare_capacity_mut();
    let len = limit.min(spare.len());
    let received = retry_eintr(|| {
        // SAFETY: the pointer covers `len` writable bytes of `buffer`'s spare
        // capacity, alive for the call; `fd` is open for the borrow.
        cvt(unsafe { libc::recv(fd.as_raw_fd(), spare.as_mut_ptr().cast(), len, flags) })
    })
    .map(ssize_to_usize)?;
    // SAFETY: recv wrote `received <= len` bytes at the start of the spare
    // capacity, so they are initialised.
    unsafe { buffer.set_len(buffer.len() + received) };
    Ok(Received {
        len: received,
        ..Received::default()
    })
}

/// Waits until `fd` is readable (or closed) or `deadline` passes; false on
/// time-out. EINTR is retried with the time left.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> io::Result<bool> {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    retry_eintr(|| {
        // SAFETY: `pollfd` is one valid, writable struct for the call.
        cvt(unsafe { libc::poll(&raw mut pollfd, 1, timeout_ms(deadline)) })
    })
    .map(|ready| ready > 0)
}

/// Waits until `fd` can take more bytes, or `deadline` passes; false on time-out.
pub(crate) fn wait_writable(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> io::Result<bool> {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    retry_eintr(|| {
        // SAFETY: `pollfd` is one valid, writable struct for the call.
        cvt(unsafe { libc::poll(&raw mut pollfd, 1, timeout_ms(deadline)) })
    })
    .map(|ready| ready > 0)
}

/// Whether `O_NONBLOCK` is set on `fd`'s open file description.
pub(crate) fn is_nonblocking(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: F_GETFL takes no argument and only reads the flags.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    Ok(flags & libc::O_NONBLOCK != 0)
}

/// Sets or clears `O_NONBLOCK` on `fd`'s open file description.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, nonblocking: bool) -> io::Result<()> {
    // SAFETY: F_GETFL takes no argument and only reads the flags.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    let flags = if nonblocking {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: F_SETFL takes an int of flags.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) }).map(drop)
}

/// Turns `SO_PASSCRED` on or off: with it on, every read reports the
/// credentials of the process that wrote the bytes.
pub(crate) fn set_pass_credentials(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let value = libc::c_int::from(on);
    // SAFETY: `value` is a valid int for the call and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&raw const value).cast(),
            c_size::<libc::c_int>(),
        )
    })
    .map(drop)
}

/// The credentials the kernel recorded for the peer socket (`SO_PEERCRED`):
/// the process that created it (`socketpair`) or connected it.
pub(crate) fn peer_credentials(fd: BorrowedFd<'_>) -> io::Result<Credentials> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len: libc::socklen_t = c_size::<libc::ucred>();
    // SAFETY: `cred` and `len` are valid and writable; `len` holds the size
    // of `cred`, which getsockopt does not exceed.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &raw mut len,
        )
    })?;
    Ok(Credentials {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// An epoll instance (close-on-exec) with room for the events one wait returns.
pub(crate) struct Epoll {
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
}

impl std::fmt::Debug for Epoll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Epoll")
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}

impl Epoll {
    /// A new instance (`epoll_create1(EPOLL_CLOEXEC)`) that reports at most
    /// `batch` ready descriptors per wait.
    pub(crate) fn new(batch: usize) -> io::Result<Self> {
        // SAFETY: epoll_create1 takes one flag argument.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Self {
            // SAFETY: a new descriptor that nothing else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            events: vec![libc::epoll_event { events: 0, u64: 0 }; batch.max(1)],
        })
    }

    /// Watches `fd` for input (level-triggered), reporting it as `token`.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `event` is valid for the call; both descriptors are open.
        cvt(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &raw mut event,
            )
        })
        .map(drop)
    }

    /// Stops watching `fd`. Needed before closing it: a copy of the
    /// descriptor inherited by a child would keep the registration alive.
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`; the event is ignored for EPOLL_CTL_DEL.
        cvt(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd.as_raw_fd(),
                &raw mut event,
            )
        })
        .map(drop)
    }

    /// Waits until a watched descriptor is ready or `deadline` passes
    /// (`None`: forever); returns the tokens of the ready ones (none on
    /// time-out). EINTR is retried with the time left.
    pub(crate) fn wait(
        &mut self,
        deadline: Option<Instant>,
    ) -> io::Result<impl Iterator<Item = u64> + '_> {
        let capacity = libc::c_int::try_from(self.events.len()).unwrap_or(libc::c_int::MAX);
        let ready = retry_eintr(|| {
            // SAFETY: `events` has room for `capacity` entries, written by
            // the kernel; the epoll descriptor is open.
            cvt(unsafe {
                libc::epoll_wait(
                    self.fd.as_raw_fd(),
                    self.events.as_mut_ptr(),
                    capacity,
                    timeout_ms(deadline),
                )
            })
        })?;
        let ready = usize::try_from(ready).unwrap_or(0);
        Ok(self.events[..ready].iter().map(|event| event.u64))
    }
}

fn ssize_to_usize(n: libc::ssize_t) -> usize {
    usize::try_from(n).expect("a byte count that is not -1 is not negative")
}
