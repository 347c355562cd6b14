//! The only module of this crate that calls libc.
//!
//! Every function here is a thin, safe wrapper over one system call: it turns
//! "-1 and errno" into an [`io::Result`] through [`cvt`] and leaves EINTR
//! handling to [`retry_eintr`], so no call site repeats either.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Mode;

/// Turns a C return value of -1 into the current `errno` as an [`io::Error`].
#[inline]
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Runs `call` again for as long as it fails with EINTR.
#[inline]
pub(crate) fn retry_eintr<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// True for the errno values that mean "held elsewhere" from a non-blocking lock.
#[inline]
fn is_contended(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EWOULDBLOCK | libc::EACCES))
}

/// One `flock(2)` call: takes `mode` on the whole file.
///
/// With `wait` false, returns `Ok(false)` when the lock is held elsewhere.
/// EINTR is returned to the caller, which decides whether to retry.
#[inline]
pub(crate) fn flock(fd: BorrowedFd<'_>, mode: Mode, wait: bool) -> io::Result<bool> {
    let mut op = match mode {
        Mode::Shared => libc::LOCK_SH,
        Mode::Exclusive => libc::LOCK_EX,
    };
    if !wait {
        op |= libc::LOCK_NB;
    }
    // SAFETY: flock only reads its two integer arguments; `fd` is a live
    // descriptor for the duration of the borrow.
    match cvt(unsafe { libc::flock(fd.as_raw_fd(), op) }) {
        Ok(_) => Ok(true),
        Err(err) if !wait && is_contended(&err) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Releases a `flock(2)` lock held through `fd`'s open file description.
#[inline]
pub(crate) fn funlock(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: as in `flock`; LOCK_UN never blocks.
    retry_eintr(|| cvt(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_UN) })).map(drop)
}

/// A byte range as `fcntl(2)` sees it: `len == 0` means "to the end of the file and beyond".
#[cfg(target_os = "linux")]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Range {
    pub(crate) start: u64,
    pub(crate) len: u64,
}

#[cfg(target_os = "linux")]
fn ofd_fcntl(
    fd: BorrowedFd<'_>,
    cmd: libc::c_int,
    kind: libc::c_int,
    range: Range,
) -> io::Result<()> {
    let start = libc::off_t::try_from(range.start).map_err(|_| io::ErrorKind::InvalidInput)?;
    let len = libc::off_t::try_from(range.len).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `flock` is a plain C struct for which all-zeroes is a valid value.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    // The `l_type`/`l_whence` fields are `c_short`; the constants fit.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "F_RDLCK, F_WRLCK, F_UNLCK and SEEK_SET are small"
    )]
    {
        lock.l_type = kind as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
    }
    lock.l_start = start;
    lock.l_len = len;
    // `l_pid` must be 0 for open-file-description locks: zeroed above.
    // SAFETY: `lock` is a valid, initialised `struct flock` that outlives the
    // call, as F_OFD_SETLK(W) requires; `fd` is live for the borrow.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), cmd, &raw mut lock) }).map(drop)
}

/// One open-file-description lock call (`F_OFD_SETLK` / `F_OFD_SETLKW`) on `range`.
///
/// With `wait` false, returns `Ok(false)` when the range is held elsewhere.
#[cfg(target_os = "linux")]
pub(crate) fn ofd_lock(
    fd: BorrowedFd<'_>,
    mode: Mode,
    range: Range,
    wait: bool,
) -> io::Result<bool> {
    let kind = match mode {
        Mode::Shared => libc::F_RDLCK,
        Mode::Exclusive => libc::F_WRLCK,
    };
    let cmd = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    match ofd_fcntl(fd, cmd, kind, range) {
        Ok(()) => Ok(true),
        Err(err) if !wait && is_contended(&err) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Releases an open-file-description lock on `range`.
#[cfg(target_os = "linux")]
pub(crate) fn ofd_unlock(fd: BorrowedFd<'_>, range: Range) -> io::Result<()> {
    retry_eintr(|| ofd_fcntl(fd, libc::F_OFD_SETLK, libc::F_UNLCK, range))
}

/// Counts the forks this process descends through; see [`fork_generation`].
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    // Async-signal-safe: one atomic add, no allocation, no lock.
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// A number that changes in a child after every `fork(2)`.
///
/// A lock taken through an open file description is shared with every child
/// forked afterwards. A guard compares this number at drop with the one at
/// acquisition, so a child dropping its copy of a guard never releases the
/// parent's lock.
#[inline]
pub(crate) fn fork_generation() -> u64 {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: the handler is an `extern "C" fn` with no arguments that only
        // performs an atomic add, which is async-signal-safe as a child handler
        // must be. Registration failure (ENOMEM) leaves the generation fixed,
        // which is the behaviour without this protection.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    FORK_GENERATION.load(Ordering::Relaxed)
}
