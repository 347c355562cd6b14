//! The harness's only calls into libc, each a thin wrapper.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
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

/// A pipe, both ends `O_CLOEXEC`: (read, write).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both are fresh descriptors owned by no one else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `fork(2)`: `Ok(0)` in the child, the child's pid in the parent.
///
/// # Safety
///
/// The calling process must have one thread, so that the child inherits no
/// lock held by a thread that does not exist in it.
pub(crate) unsafe fn fork() -> io::Result<libc::pid_t> {
    // SAFETY: the caller guarantees a single-threaded process.
    cvt(unsafe { libc::fork() })
}

/// The number of threads in this process, from `/proc/self/task`.
pub(crate) fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

/// Replaces `target` (1 or 2) with a copy of `fd`.
pub(crate) fn dup2(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes two integers; replacing stdout/stderr is the point.
    retry_eintr(|| cvt(unsafe { libc::dup2(fd.as_raw_fd(), target) })).map(drop)
}

/// Ends the process at once, without running destructors or atexit handlers.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is always safe to call; it never returns.
    unsafe { libc::_exit(code) }
}

/// Arms (or with 0, disarms) the `SIGALRM` watchdog.
pub(crate) fn alarm(seconds: u32) {
    // SAFETY: alarm takes an integer and cannot fail.
    unsafe { libc::alarm(seconds) };
}

/// Sends `signal` to `pid`.
pub(crate) fn kill(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes two integers.
    cvt(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// How a waited-for process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitStatus {
    /// It called `exit` with this code.
    Exited(i32),
    /// A signal killed it.
    Signaled(i32),
}

fn decode(status: libc::c_int) -> WaitStatus {
    if libc::WIFEXITED(status) {
        WaitStatus::Exited(libc::WEXITSTATUS(status))
    } else {
        WaitStatus::Signaled(libc::WTERMSIG(status))
    }
}

/// Waits for `pid` to end and reaps it, retrying EINTR.
pub(crate) fn waitpid(pid: libc::pid_t) -> io::Result<WaitStatus> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer for the duration of the call.
    retry_eintr(|| cvt(unsafe { libc::waitpid(pid, &raw mut status, 0) }))?;
    Ok(decode(status))
}

/// Reaps `pid` if it has ended; `Ok(None)` if it still runs.
pub(crate) fn try_waitpid(pid: libc::pid_t) -> io::Result<Option<WaitStatus>> {
    let mut status = 0;
    // SAFETY: as in `waitpid`; WNOHANG never blocks.
    let reaped =
        retry_eintr(|| cvt(unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) }))?;
    Ok((reaped != 0).then(|| decode(status)))
}

/// Makes this process the reaper of its orphaned descendants.
pub(crate) fn become_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// Waits until `fd` is readable or `timeout` passes; true if readable (or at EOF).
pub(crate) fn poll_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfd` is one valid pollfd for the duration of the call. An EINTR
    // is reported as "not ready"; callers loop on their own deadline.
    match cvt(unsafe { libc::poll(&raw mut pfd, 1, millis) }) {
        Ok(n) => Ok(n > 0),
        Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(err) => Err(err),
    }
}

/// A shared anonymous mapping of `len` bytes, zero-filled, inherited across fork.
pub(crate) fn map_shared(len: usize) -> io::Result<*mut libc::c_void> {
    // SAFETY: a fresh anonymous mapping aliases nothing; the kernel picks the address.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(ptr)
    }
}

/// Unmaps what [`map_shared`] mapped.
///
/// # Safety
///
/// `ptr` and `len` must come from one `map_shared` call, and no reference
/// into the mapping may outlive this call.
pub(crate) unsafe fn unmap(ptr: *mut libc::c_void, len: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { libc::munmap(ptr, len) };
}

/// The name of a signal number, such as "SIGKILL".
pub(crate) fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

/// This process's effective user id.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and takes no arguments.
    unsafe { libc::geteuid() }
}

/// Installs `handler` for `signal` with no flags: no `SA_RESTART`, so
/// blocking calls in this process fail with EINTR when it runs.
pub(crate) fn handle_without_restart(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) {
    // SAFETY: all-zeroes is a valid sigaction; the fields used are set
    // below, and the handler is an `extern "C" fn(c_int)` as sa_handler wants.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as libc::sighandler_t;
        action.sa_flags = 0;
        libc::sigemptyset(&raw mut action.sa_mask);
        let ret = libc::sigaction(signal, &raw const action, std::ptr::null_mut());
        assert_eq!(
            ret,
            0,
            "sigaction({signal}): {}",
            io::Error::last_os_error()
        );
    }
}
