//! The only module of this crate that calls libc.
//!
//! Each function is a thin wrapper over one system call (or a short, fixed
//! sequence of them): "-1 and errno" becomes an [`io::Result`] through
//! [`cvt`], and EINTR is retried through [`retry_eintr`] where the call can
//! simply be made again. Nothing here decides policy.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A process id as the kernel hands it out.
pub(crate) type Pid = libc::pid_t;

/// Turns a C return value of -1 into the current `errno` as an [`io::Error`].
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

/// This process's id.
pub(crate) fn getpid() -> Pid {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { libc::getpid() }
}

/// The number of threads of this process, or `None` where it cannot be
/// read (no `/proc`).
pub(crate) fn thread_count() -> Option<usize> {
    use std::os::unix::fs::MetadataExt;
    // procfs gives `/proc/PID/task` a link count of 2 + the number of
    // threads: one `stat(2)`, where listing the directory takes four calls.
    // Count the entries where a procfs does not keep that count.
    let links = std::fs::metadata("/proc/self/task").ok()?.nlink();
    match usize::try_from(links) {
        Ok(links) if links > 2 => Some(links - 2),
        _ => std::fs::read_dir("/proc/self/task")
            .ok()
            .map(Iterator::count),
    }
}

/// Permission to call [`fork`]: proof that forking is sound right now.
#[derive(Debug)]
pub(crate) struct ForkPermit(());

/// Checks that the process has one thread, which makes a child that runs
/// arbitrary code sound; `Err` carries the thread count otherwise. Where the
/// count cannot be read (no `/proc`), the fork is allowed.
///
/// `threads_allowed` skips the check. It is true only when the caller of
/// the `unsafe` `ForkManagerBuilder::allow_threads` took the responsibility
/// its `# Safety` section names: that is what makes this function safe.
pub(crate) fn fork_permit(threads_allowed: bool) -> Result<ForkPermit, usize> {
    match thread_count() {
        Some(threads) if threads > 1 && !threads_allowed => Err(threads),
        _ => Ok(ForkPermit(())),
    }
}

/// `fork(2)`: `Ok(0)` in the child, the child's pid in the parent.
///
/// The permit is consumed: check again before the next fork, as another
/// thread may have started meanwhile.
#[allow(
    clippy::needless_pass_by_value,
    reason = "taking the permit by value is the point: one check per fork"
)]
pub(crate) fn fork(permit: ForkPermit) -> io::Result<Pid> {
    let ForkPermit(()) = permit;
    #[cfg(feature = "fault-injection")]
    if crate::fault::next_fork_fails() {
        return Err(io::Error::from_raw_os_error(libc::EAGAIN));
    }
    // SAFETY: the permit shows that the process has one thread (so the
    // child inherits no lock that another thread held), or that the caller
    // of `allow_threads` vouched for the child; fork takes no arguments.
    cvt(unsafe { libc::fork() })
}

/// Ends this process at once with `code`: no destructor, no `atexit`
/// handler, no stdio flush.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe, takes an integer and never returns.
    unsafe { libc::_exit(code) }
}

/// Sends `signal` to `pid`.
pub(crate) fn kill(pid: Pid, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes two integers.
    cvt(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// How a child ended, as `waitpid(2)` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// It called `exit` (or returned from `main`) with this code.
    Exited(i32),
    /// A signal ended it.
    Signaled {
        /// The signal's number.
        signal: i32,
        /// Whether it left a core dump.
        core_dumped: bool,
    },
}

/// Decodes a raw `waitpid` status of a process that ended.
pub(crate) fn decode_status(status: libc::c_int) -> Status {
    if libc::WIFEXITED(status) {
        Status::Exited(libc::WEXITSTATUS(status))
    } else {
        Status::Signaled {
            signal: libc::WTERMSIG(status),
            core_dumped: libc::WCOREDUMP(status),
        }
    }
}

/// Reaps `pid` if it has ended (`Ok(None)` while it runs); never blocks.
/// ECHILD (not a child, or reaped by someone else) is returned as is.
pub(crate) fn try_wait(pid: Pid) -> io::Result<Option<Status>> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer for the call; WNOHANG never
    // blocks. Stopped children are not reported without WUNTRACED.
    let reaped =
        retry_eintr(|| cvt(unsafe { libc::waitpid(pid, &raw mut status, libc::WNOHANG) }))?;
    Ok((reaped == pid).then(|| decode_status(status)))
}

/// Waits for `pid` to end and reaps it, retrying EINTR.
pub(crate) fn wait(pid: Pid) -> io::Result<Status> {
    let mut status = 0;
    // SAFETY: as in `try_wait`, blocking.
    retry_eintr(|| cvt(unsafe { libc::waitpid(pid, &raw mut status, 0) }))?;
    Ok(decode_status(status))
}

/// A pidfd for `pid` (Linux 5.3 and later): a descriptor that becomes
/// readable when the process ends, so a `poll(2)` learns of the end without
/// `SIGCHLD`. The kernel makes it close-on-exec.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    #[cfg(feature = "fault-injection")]
    if crate::fault::pidfds_fail() {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    // SAFETY: pidfd_open takes a pid and a flags word, and returns a new
    // descriptor or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    let fd = cvt(fd)?;
    // SAFETY: a descriptor pidfd_open just made, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// No pidfds here: the manager relies on `SIGCHLD`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn pidfd_open(_pid: Pid) -> io::Result<OwnedFd> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// A pipe, both ends close-on-exec: (read, write).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded: both are fresh descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Makes reads of `fd` return `WouldBlock` instead of waiting.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: F_GETFL and F_SETFL take and return plain integers; `fd` is
    // open for the borrow.
    let flags = cvt(unsafe { libc::fcntl(raw, libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// Makes `target` (0, 1 or 2) a copy of `fd`; the copy is not close-on-exec,
/// so programs the process runs inherit it, as stdio must be.
pub(crate) fn dup2(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes two integers; replacing a stdio descriptor is the point.
    retry_eintr(|| cvt(unsafe { libc::dup2(fd.as_raw_fd(), target) })).map(drop)
}

/// Waits until one of `fds` is ready or `timeout` passes (`None`: no
/// limit). Returns how many are ready; an EINTR returns `Ok(0)`, because
/// every caller recomputes its deadline and checks its signals anyway.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    let millis = timeout.map_or(-1, |t| {
        // Round up, so that a wait never ends before its deadline.
        let ms = t.as_micros().div_ceil(1000);
        libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
    });
    let count = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: `fds` is a valid, writable array of `count` pollfds for the call.
    match cvt(unsafe { libc::poll(fds.as_mut_ptr(), count, millis) }) {
        Ok(ready) => Ok(usize::try_from(ready).unwrap_or(0)),
        Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(err) => Err(err),
    }
}

/// A `pollfd` asking whether `fd` is readable.
pub(crate) fn readable(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// A set of signals blocked for the calling thread; unblocks them on drop.
pub(crate) struct BlockedSignals(libc::sigset_t);

/// Blocks `signals` in the calling thread until the guard is dropped: they
/// stay pending meanwhile and are delivered at the unblocking.
pub(crate) fn block_signals(signals: &[libc::c_int]) -> BlockedSignals {
    // SAFETY: all-zeroes is a valid sigset_t that sigemptyset initialises.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t for these calls, and sigaddset only
    // fails for numbers that are not signals, which leaves the set unchanged.
    unsafe {
        libc::sigemptyset(&raw mut set);
        for &signal in signals {
            libc::sigaddset(&raw mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut());
    }
    BlockedSignals(set)
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        // SAFETY: the set was initialised by `block_signals`; SIG_UNBLOCK
        // with a valid set cannot fail.
        unsafe {
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &raw const self.0, std::ptr::null_mut())
        };
    }
}

/// Starts a new session with this process as its leader (`setsid(2)`).
pub(crate) fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no arguments.
    cvt(unsafe { libc::setsid() }).map(drop)
}

/// Sets this process's file mode creation mask; returns the previous one.
pub(crate) fn umask(mask: u32) -> u32 {
    // `mode_t` is `u32` on Linux and `u16` on the BSDs and macOS; a mask
    // only has 9 meaningful bits.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::unnecessary_cast,
        reason = "the mask is masked to 0o777 first"
    )]
    let mask = (mask & 0o777) as libc::mode_t;
    // SAFETY: umask takes an integer and cannot fail.
    let previous = unsafe { libc::umask(mask) };
    #[allow(clippy::useless_conversion, reason = "mode_t is u16 on macOS")]
    u32::from(previous)
}

/// Arranges for `command` to call `setsid(2)` in its child before `exec`,
/// so that the program runs in a session (and process group) of its own.
pub(crate) fn setsid_before_exec(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and calls
    // only setsid(2), which is async-signal-safe, allocates nothing and
    // touches no lock.
    unsafe {
        command.pre_exec(setsid);
    }
}

/// Sets the calling thread's name, which is also the process's `comm`
/// (`/proc/PID/comm`, what `top` shows) when called on the main thread.
/// The kernel keeps at most 15 bytes; the caller truncates.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn set_comm(name: &CStr) -> io::Result<()> {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of which it keeps
    // at most 16 bytes; `name` is one, live for the call.
    cvt(unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) }).map(drop)
}

/// Points the kernel's view of this process's argument area (what
/// `/proc/PID/cmdline` and `ps` read) at `area`. Needs `CAP_SYS_RESOURCE`;
/// EPERM otherwise.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn set_cmdline_area(area: &'static [std::sync::atomic::AtomicU8]) -> io::Result<()> {
    let start = area.as_ptr() as libc::c_ulong;
    let end = start + area.len() as libc::c_ulong;
    let set = |field: libc::c_int, address: libc::c_ulong| {
        // SAFETY: PR_SET_MM only records the address; the kernel reads the
        // memory later, through its own checked access, as it reads any
        // process's arguments. `area` is static, so it stays mapped.
        cvt(unsafe { libc::prctl(libc::PR_SET_MM, field, address, 0, 0) }).map(drop)
    };
    // The kernel checks start < end after each call: move the end first
    // when the new area lies above the old one, the start first otherwise.
    let (_, old_end) = cmdline_area()?;
    if start >= old_end as libc::c_ulong {
        set(libc::PR_SET_MM_ARG_END, end)?;
        set(libc::PR_SET_MM_ARG_START, start)
    } else {
        set(libc::PR_SET_MM_ARG_START, start)?;
        set(libc::PR_SET_MM_ARG_END, end)
    }
}

/// The kernel's view of this process's argument area: `arg_start` and
/// `arg_end` from `/proc/self/stat` (fields 48 and 49).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn cmdline_area() -> io::Result<(usize, usize)> {
    let text = std::fs::read_to_string("/proc/self/stat")?;
    // "pid (comm) state ...": comm may hold anything, so count after its ')'.
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| -> Option<usize> { fields.get(n - 3)?.parse().ok() };
    match (field(48), field(49)) {
        (Some(start), Some(end)) if start < end => Ok((start, end)),
        _ => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "/proc/self/stat shows no argument area",
        )),
    }
}

/// How [`write_argv_area`] went.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) enum ArgvWrite {
    /// The title was written; the area holds `room` bytes, the last a NUL.
    Written,
    /// The title does not fit the `room` bytes (terminating NUL included).
    TooLong { room: usize },
    /// The process has this many threads, one of which may be reading the
    /// area: nothing was written.
    Threaded(usize),
}

/// Writes `title` over the process's original argument strings (the area
/// [`cmdline_area`] reports), padding with NULs and keeping the last byte
/// NUL, so `/proc/PID/cmdline` shows exactly the title.
///
/// Whatever reads `argv` afterwards (`std::env::args`) sees the title.
/// Call it only while the kernel's area is the original one (before any
/// successful [`set_cmdline_area`]).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn write_argv_area(title: &[u8]) -> io::Result<ArgvWrite> {
    let (start, end) = cmdline_area()?;
    let room = end - start;
    if title.len() >= room {
        return Ok(ArgvWrite::TooLong { room });
    }
    match thread_count() {
        Some(threads) if threads > 1 => return Ok(ArgvWrite::Threaded(threads)),
        _ => {}
    }
    let area = start as *mut u8;
    // SAFETY: `start..end` is this process's argument area as the kernel
    // reports it: writable memory on the initial stack that lives as long
    // as the process. The process has one thread (checked just above), so
    // nothing reads it meanwhile; `title.len() < room`, so every write
    // stays inside it.
    unsafe {
        std::ptr::copy_nonoverlapping(title.as_ptr(), area, title.len());
        std::ptr::write_bytes(area.add(title.len()), 0, room - title.len());
    }
    Ok(ArgvWrite::Written)
}

/// Whether this process reaps its orphaned descendants
/// (`PR_GET_CHILD_SUBREAPER`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn is_child_subreaper() -> io::Result<bool> {
    let mut flag: libc::c_int = 0;
    // SAFETY: PR_GET_CHILD_SUBREAPER writes one int through the pointer,
    // which is valid for the call.
    cvt(unsafe { libc::prctl(libc::PR_GET_CHILD_SUBREAPER, &raw mut flag, 0, 0, 0) })?;
    Ok(flag != 0)
}

/// Makes this process the reaper of its orphaned descendants, or stops it
/// being one (`PR_SET_CHILD_SUBREAPER`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn set_child_subreaper(on: bool) -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument.
    cvt(unsafe {
        libc::prctl(
            libc::PR_SET_CHILD_SUBREAPER,
            libc::c_ulong::from(on),
            0,
            0,
            0,
        )
    })
    .map(drop)
}
