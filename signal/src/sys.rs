//! The only module of this crate that calls libc.
//!
//! Every function here is a thin wrapper over one system call (or a few that
//! belong together): it turns "-1 and errno" into an [`io::Result`] through
//! [`cvt`] and leaves EINTR to [`retry_eintr`], so no call site repeats either.
//! Functions marked *async-signal-safe* are called from the OS signal handler
//! or from a child between `fork(2)` and whatever it does next: they make
//! system calls and touch nothing else (no allocation, no lock, no `io::Error`).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use libc::{c_int, c_void, siginfo_t};

/// The highest signal number this platform has (`NSIG - 1`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const MAX_SIGNAL: c_int = 64;
/// The highest signal number this platform has (`NSIG - 1`).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const MAX_SIGNAL: c_int = 31;

/// The signature of an `SA_SIGINFO` handler.
pub(crate) type SigactionHandler = extern "C" fn(c_int, *mut siginfo_t, *mut c_void);

/// Turns a C return value of -1 into the current `errno` as an [`io::Error`].
fn cvt(ret: c_int) -> io::Result<c_int> {
    if ret == -1 {
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

/// `kill(2)`: sends `signal` to `pid` (a process when positive, a group otherwise).
pub(crate) fn kill(pid: libc::pid_t, signal: c_int) -> io::Result<()> {
    // SAFETY: kill takes two integers and touches no memory of ours.
    cvt(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// `raise(3)`: sends `signal` to the calling thread; a handler runs before it returns.
pub(crate) fn raise(signal: c_int) -> io::Result<()> {
    // SAFETY: raise takes an integer. It returns nonzero (not always -1) on failure.
    if unsafe { libc::raise(signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getpid(2)`: async-signal-safe.
pub(crate) fn getpid() -> libc::pid_t {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { libc::getpid() }
}

/// The realtime signals this process may use: `SIGRTMIN()..=SIGRTMAX()`.
///
/// The C library keeps the first few kernel realtime signals for itself
/// (glibc takes 32 and 33 for its threads), hence a function, not constants.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(
    clippy::unnecessary_wraps,
    reason = "other systems have no realtime signals"
)]
pub(crate) fn realtime_range() -> Option<(c_int, c_int)> {
    Some((libc::SIGRTMIN(), libc::SIGRTMAX()))
}

/// This platform has no realtime signals.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn realtime_range() -> Option<(c_int, c_int)> {
    None
}

/// A `struct sigaction`: what the kernel does when a signal arrives.
#[derive(Clone, Copy)]
pub(crate) struct Action(libc::sigaction);

impl Action {
    /// `SIG_DFL`, no flags, an empty mask: a placeholder until an action is saved.
    // SAFETY: `sigaction` is a plain C struct; all zeroes is a valid value
    // (SIG_DFL is 0, and a zeroed sigset_t is empty on every libc).
    pub(crate) const DEFAULT: Self = Self(unsafe { std::mem::zeroed() });

    /// Our handler with `SA_SIGINFO | SA_RESTART` and an empty mask, so that
    /// reads and waits restart where the kernel allows it.
    pub(crate) fn catching(handler: SigactionHandler) -> Self {
        // SAFETY: `sigaction` is a plain C struct; all zeroes is a valid value.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = handler as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        // SAFETY: `sa_mask` is a valid, writable sigset_t inside `action`.
        unsafe { libc::sigemptyset(&raw mut action.sa_mask) };
        Self(action)
    }

    /// The handler's address; also `SIG_DFL` (0) or `SIG_IGN` (1).
    pub(crate) fn handler_address(&self) -> usize {
        self.0.sa_sigaction
    }

    /// The address of a function the kernel would call, if any: `None` for
    /// `SIG_DFL` and `SIG_IGN`.
    pub(crate) fn function(&self) -> Option<usize> {
        let address = self.0.sa_sigaction;
        (address != libc::SIG_DFL && address != libc::SIG_IGN).then_some(address)
    }

    /// True if the function takes three arguments (`SA_SIGINFO`).
    pub(crate) fn takes_siginfo(&self) -> bool {
        self.0.sa_flags & libc::SA_SIGINFO != 0
    }
}

/// Reads `signal`'s current action without changing it.
pub(crate) fn get_action(signal: c_int) -> io::Result<Action> {
    // SAFETY: all zeroes is a valid sigaction; the kernel overwrites it.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads; `old` is writable for the call.
    cvt(unsafe { libc::sigaction(signal, std::ptr::null(), &raw mut old) })?;
    Ok(Action(old))
}

/// Sets `signal`'s action to `action`.
pub(crate) fn set_action(signal: c_int, action: &Action) -> io::Result<()> {
    // SAFETY: `action.0` is a valid, initialised sigaction that outlives the
    // call. Whatever handler it names was either installed by the kernel's
    // previous owner of this action or is ours; both accept what the kernel passes.
    cvt(unsafe { libc::sigaction(signal, &raw const action.0, std::ptr::null_mut()) }).map(drop)
}

/// Sets `signal`'s action to `action` and writes the one it replaced to
/// `replaced`: one system call where [`get_action`] and [`set_action`] take
/// two. (Written in place rather than returned: a returned action is copied
/// with `memcpy`, a code page more for a forked child to fault in.)
pub(crate) fn swap_action(signal: c_int, action: &Action, replaced: &mut Action) -> io::Result<()> {
    // SAFETY: as in `set_action`; `replaced.0` is writable for the call.
    cvt(unsafe { libc::sigaction(signal, &raw const action.0, &raw mut replaced.0) }).map(drop)
}

/// The sender's pid and uid, when the signal came from `kill(2)`,
/// `sigqueue(3)` or `tgkill(2)` (not from the kernel). Async-signal-safe.
///
/// # Safety
///
/// `info` must be the `siginfo_t` the kernel passed to an `SA_SIGINFO` handler.
pub(crate) unsafe fn sender(info: *const siginfo_t) -> Option<(libc::pid_t, libc::uid_t)> {
    // SAFETY: the caller passes the kernel's siginfo, valid while the handler runs.
    let info = unsafe { info.as_ref() }?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let from_a_process = matches!(
        info.si_code,
        libc::SI_USER | libc::SI_QUEUE | libc::SI_TKILL
    );
    // Other systems fill in si_pid for kill(2) and leave it 0 for the kernel.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    // SAFETY: si_pid is a plain field of every siginfo_t on these systems.
    let from_a_process = unsafe { info.si_pid() } != 0;
    // SAFETY: for the codes above the kernel fills in the pid/uid union member.
    from_a_process.then(|| unsafe { (info.si_pid(), info.si_uid()) })
}

/// Calls a signal handler that was installed before ours, with what the
/// kernel passed to ours. Async-signal-safe as far as that handler is.
///
/// # Safety
///
/// `address` must come from [`Action::function`] of an action installed for
/// this signal, `siginfo` from [`Action::takes_siginfo`] of the same action,
/// and `info`/`context` must be what the kernel passed to the running handler.
pub(crate) unsafe fn call_handler(
    address: usize,
    siginfo: bool,
    signal: c_int,
    info: *mut siginfo_t,
    context: *mut c_void,
) {
    // Through a raw pointer, not straight from the integer, to keep provenance tools happy.
    let pointer = address as *mut ();
    if siginfo {
        // SAFETY: the action had SA_SIGINFO, so this is its three-argument handler.
        let handler = unsafe { std::mem::transmute::<*mut (), SigactionHandler>(pointer) };
        handler(signal, info, context);
    } else {
        // SAFETY: without SA_SIGINFO the action's handler takes the signal number only.
        let handler = unsafe { std::mem::transmute::<*mut (), extern "C" fn(c_int)>(pointer) };
        handler(signal);
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn errno_location() -> *mut c_int {
    // SAFETY: takes no arguments; returns this thread's errno, valid for the thread's life.
    unsafe { libc::__errno_location() }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn errno_location() -> *mut c_int {
    // SAFETY: takes no arguments; returns this thread's errno, valid for the thread's life.
    unsafe { libc::__error() }
}

/// The calling thread's `errno`. Async-signal-safe.
pub(crate) fn errno() -> c_int {
    // SAFETY: the location is this thread's errno, aligned and live.
    unsafe { *errno_location() }
}

/// Sets the calling thread's `errno`, as a handler must before returning. Async-signal-safe.
pub(crate) fn set_errno(value: c_int) {
    // SAFETY: as in `errno`; no one else writes this thread's errno meanwhile.
    unsafe { *errno_location() = value };
}

/// Writes one byte to the wake pipe. Async-signal-safe.
///
/// A full pipe (EAGAIN) already wakes its reader and a closed one has no
/// reader left, so every failure is ignored.
pub(crate) fn write_wake_byte(fd: RawFd) {
    let byte = 1u8;
    // SAFETY: writes one byte from a live local; a bad fd only gives EBADF.
    unsafe { libc::write(fd, (&raw const byte).cast::<c_void>(), 1) };
}

/// A pipe, both ends close-on-exec and non-blocking: (read, write).
pub(crate) fn wake_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = raw_nonblocking_pipe()?;
    // SAFETY: both are fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(read), OwnedFd::from_raw_fd(write)) })
}

/// `pipe2(O_CLOEXEC | O_NONBLOCK)`, as raw descriptors. Async-signal-safe.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn raw_nonblocking_pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    let ret = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if ret == -1 {
        return Err(io::Error::from_raw_os_error(errno()));
    }
    Ok((fds[0], fds[1]))
}

/// `pipe` then `fcntl`, where `pipe2` does not exist. Async-signal-safe.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn raw_nonblocking_pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe requires.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } == -1 {
        return Err(io::Error::from_raw_os_error(errno()));
    }
    for fd in fds {
        // SAFETY: fcntl on descriptors we just created and own.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
        }
    }
    Ok((fds[0], fds[1]))
}

/// Puts a fresh pipe in place of the pipe whose ends are `read` and
/// `write`, keeping both descriptor numbers. Async-signal-safe: for a child
/// right after `fork(2)`, whose copies of the parent's descriptors must stop
/// pointing at the parent's pipe. Failures are ignored: they leave the
/// shared pipe, which costs spurious wake-ups, never a wrong listener run.
pub(crate) fn renew_pipe_in_place(read: RawFd, write: RawFd) {
    let Ok((fresh_read, fresh_write)) = raw_nonblocking_pipe() else {
        return;
    };
    for (fresh, target) in [(fresh_read, read), (fresh_write, write)] {
        // SAFETY: dup3/dup2 atomically replaces `target`, a descriptor this
        // crate owns, with the fresh one (a different number: `target` is
        // open); then the fresh number is closed. Only the file description
        // changes, so every borrow of `target` stays valid.
        unsafe {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            libc::dup3(fresh, target, libc::O_CLOEXEC);
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            {
                libc::dup2(fresh, target);
                libc::fcntl(target, libc::F_SETFD, libc::FD_CLOEXEC);
            }
            libc::close(fresh);
        }
    }
}

/// Reads everything the non-blocking pipe holds, so that it stops polling readable.
pub(crate) fn drain(fd: BorrowedFd<'_>) {
    let mut buffer = [0u8; 64];
    // A short read means the pipe is empty now; EAGAIN means it was.
    while retry_eintr(|| read(fd, &mut buffer)).is_ok_and(|n| n == buffer.len()) {}
}

/// One `read(2)` into `buffer`.
fn read(fd: BorrowedFd<'_>, buffer: &mut [u8]) -> io::Result<usize> {
    // SAFETY: reads at most `buffer.len()` bytes into memory we borrow mutably.
    let ret = unsafe {
        libc::read(
            fd.as_raw_fd(),
            buffer.as_mut_ptr().cast::<c_void>(),
            buffer.len(),
        )
    };
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

/// One `poll(2)` for readability of `fds`; `None` waits forever.
///
/// Returns which descriptors are readable (or hung up). EINTR is returned to
/// the caller, which recomputes its timeout before polling again.
pub(crate) fn poll_readable<const N: usize>(
    fds: [BorrowedFd<'_>; N],
    timeout: Option<Duration>,
) -> io::Result<[bool; N]> {
    let mut pollfds = fds.map(|fd| libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    });
    let millis = timeout.map_or(-1, poll_millis);
    let count = libc::nfds_t::try_from(N).expect("a handful of descriptors");
    // SAFETY: `pollfds` is an array of N valid pollfds that outlives the call.
    cvt(unsafe { libc::poll(pollfds.as_mut_ptr(), count, millis) })?;
    Ok(pollfds.map(|p| p.revents != 0))
}

/// A timeout in whole milliseconds, rounded up so that a wait never ends
/// early and never spins on a zero timeout while time is left.
fn poll_millis(timeout: Duration) -> c_int {
    let millis = timeout.as_nanos().div_ceil(1_000_000);
    c_int::try_from(millis).unwrap_or(c_int::MAX)
}

/// A signal mask saved by [`block_all_signals`].
#[derive(Clone, Copy)]
pub(crate) struct SignalMask(libc::sigset_t);

impl PartialEq for SignalMask {
    fn eq(&self, other: &Self) -> bool {
        let bytes = |mask: &Self| {
            // SAFETY: a sigset_t is plain bytes, all of them initialized
            // (block_all_signals zeroes it before the kernel fills it in).
            unsafe {
                std::slice::from_raw_parts(
                    (&raw const mask.0).cast::<u8>(),
                    size_of::<libc::sigset_t>(),
                )
            }
        };
        bytes(self) == bytes(other)
    }
}

/// Blocks every signal in the calling thread; returns the previous mask.
/// Async-signal-safe.
pub(crate) fn block_all_signals() -> SignalMask {
    // SAFETY: all zeroes is a valid sigset_t; sigfillset and pthread_sigmask
    // only write the locals they are given.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&raw mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const all, &raw mut old);
        SignalMask(old)
    }
}

/// Restores a mask saved by [`block_all_signals`]. Async-signal-safe.
pub(crate) fn restore_signal_mask(mask: &SignalMask) {
    // SAFETY: `mask.0` is a valid sigset_t filled in by pthread_sigmask.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const mask.0, std::ptr::null_mut()) };
}

/// Registers fork handlers with `pthread_atfork(3)`.
pub(crate) fn at_fork(prepare: extern "C" fn(), parent: extern "C" fn(), child: extern "C" fn()) {
    // SAFETY: the handlers are `extern "C"` functions without arguments that
    // do only async-signal-safe work, as handlers run around fork must.
    // Failure (ENOMEM) leaves raw forks unprotected; `after_fork_in_child`
    // remains for callers to run by hand.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_timeouts_round_up() {
        assert_eq!(poll_millis(Duration::ZERO), 0);
        assert_eq!(poll_millis(Duration::from_nanos(1)), 1);
        assert_eq!(poll_millis(Duration::from_millis(5)), 5);
        assert_eq!(poll_millis(Duration::from_micros(5_001)), 6);
        assert_eq!(poll_millis(Duration::from_secs(u64::MAX)), c_int::MAX);
    }

    #[test]
    fn eintr_is_retried_other_errors_are_not() {
        let mut calls = 0;
        let result = retry_eintr(|| {
            calls += 1;
            if calls < 3 {
                Err(io::Error::from(io::ErrorKind::Interrupted))
            } else {
                Ok(calls)
            }
        });
        assert_eq!(result.unwrap(), 3);
        let mut calls = 0;
        let result: io::Result<()> = retry_eintr(|| {
            calls += 1;
            Err(io::Error::from(io::ErrorKind::WouldBlock))
        });
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }

    #[test]
    fn wake_pipe_is_cloexec_nonblocking_and_drains() {
        let (read, write) = wake_pipe().unwrap();
        for fd in [&read, &write] {
            // SAFETY: F_GETFD/F_GETFL only read the descriptor's flags.
            let (descriptor_flags, status_flags) = unsafe {
                (
                    libc::fcntl(fd.as_raw_fd(), libc::F_GETFD),
                    libc::fcntl(fd.as_raw_fd(), libc::F_GETFL),
                )
            };
            assert_ne!(descriptor_flags & libc::FD_CLOEXEC, 0);
            assert_ne!(status_flags & libc::O_NONBLOCK, 0);
        }
        for _ in 0..100 {
            write_wake_byte(write.as_raw_fd());
        }
        let [readable] = poll_readable([read.as_fd()], Some(Duration::ZERO)).unwrap();
        assert!(readable);
        drain(read.as_fd());
        let [readable] = poll_readable([read.as_fd()], Some(Duration::ZERO)).unwrap();
        assert!(!readable, "drained");
    }

    use std::os::fd::AsFd;

    #[test]
    fn errno_round_trips() {
        let saved = errno();
        set_errno(libc::EDOM);
        assert_eq!(errno(), libc::EDOM);
        set_errno(saved);
    }
}
