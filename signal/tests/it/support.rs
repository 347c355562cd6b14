//! Helpers shared by the cases: raw views of the kernel's state, to check
//! the crate against something it does not control.

pub(crate) use forkwise_testkit::my_pid;

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use forkwise_signal::{Propagation, Signal, SignalHandler, SignalInfo};

/// True if the kernel says this process catches `signal` (`SigCgt` in
/// `/proc/self/status`).
pub(crate) fn caught(signal: Signal) -> bool {
    forkwise_testkit::caught(signal.as_raw())
}

/// The address of `signal`'s current handler (0 for `SIG_DFL`, 1 for `SIG_IGN`).
pub(crate) fn handler_address(signal: Signal) -> usize {
    // SAFETY: all zeroes is a valid sigaction; a null new action only reads.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        assert_eq!(
            libc::sigaction(signal.as_raw(), std::ptr::null(), &raw mut old),
            0
        );
        old.sa_sigaction
    }
}

/// Installs `handler` for `signal` with `sigaction(2)`, bypassing the crate.
/// With `restart` false, blocking calls interrupted by it fail with EINTR.
pub(crate) fn install_raw(signal: Signal, handler: usize, siginfo: bool, restart: bool) {
    // SAFETY: `handler` is SIG_DFL, SIG_IGN, or one of the `extern "C"`
    // functions below, whose signature matches `siginfo`.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        action.sa_flags =
            if siginfo { libc::SA_SIGINFO } else { 0 } | if restart { libc::SA_RESTART } else { 0 };
        libc::sigemptyset(&raw mut action.sa_mask);
        assert_eq!(
            libc::sigaction(signal.as_raw(), &raw const action, std::ptr::null_mut()),
            0
        );
    }
}

static FOREIGN_RUNS: AtomicU64 = AtomicU64::new(0);

/// A handler as C code would install it: counts its runs.
pub(crate) extern "C" fn foreign_handler(_: libc::c_int) {
    FOREIGN_RUNS.fetch_add(1, Ordering::Relaxed);
}

/// An `SA_SIGINFO` handler as C code would install it: counts its runs
/// and checks that it gets the siginfo.
pub(crate) extern "C" fn foreign_siginfo_handler(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    _: *mut libc::c_void,
) {
    // SAFETY: the kernel (or the crate's chain) passes its siginfo.
    if !info.is_null() && unsafe { (*info).si_signo } == signal {
        FOREIGN_RUNS.fetch_add(1, Ordering::Relaxed);
    }
}

/// A handler that leaves `errno` changed, as careless C code does.
pub(crate) extern "C" fn errno_clobbering_handler(_: libc::c_int) {
    // SAFETY: this thread's errno location.
    unsafe { *libc::__errno_location() = libc::EDOM };
}

pub(crate) fn address_of_errno_clobbering_handler() -> usize {
    errno_clobbering_handler as extern "C" fn(libc::c_int) as usize
}

pub(crate) fn foreign_runs() -> u64 {
    FOREIGN_RUNS.load(Ordering::Relaxed)
}

pub(crate) fn address_of_foreign_handler() -> usize {
    foreign_handler as extern "C" fn(libc::c_int) as usize
}

pub(crate) fn address_of_foreign_siginfo_handler() -> usize {
    foreign_siginfo_handler as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
        as usize
}

/// Names of listeners in the order they ran.
#[derive(Clone, Default)]
pub(crate) struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// A listener that logs `name` and returns `propagation`.
    pub(crate) fn listener(
        &self,
        name: &str,
        propagation: Propagation,
    ) -> impl FnMut(&SignalInfo) -> Propagation + Send + 'static {
        let (log, name) = (self.clone(), name.to_owned());
        move |_| {
            log.push(&name);
            propagation
        }
    }

    /// Adds a listener named `name` to `handler`.
    pub(crate) fn add(&self, handler: &SignalHandler, name: &str, propagation: Propagation) {
        handler.add(self.listener(name, propagation)).unwrap();
    }

    /// Logs `name` as having run.
    pub(crate) fn push(&self, name: &str) {
        self.0.lock().unwrap().push(name.to_owned());
    }

    /// What ran since the last `take`.
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Polls `fd` for readability for up to `timeout`, retrying EINTR.
pub(crate) fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut pollfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap();
    loop {
        // SAFETY: one valid pollfd for the duration of the call.
        let ret = unsafe { libc::poll(&raw mut pollfd, 1, millis) };
        if ret >= 0 {
            return ret == 1;
        }
        assert_eq!(
            std::io::Error::last_os_error().kind(),
            std::io::ErrorKind::Interrupted
        );
    }
}

/// Dispatches until `done` holds; panics after 10 s.
#[track_caller]
pub(crate) fn dispatch_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting until {what}"
        );
        forkwise_signal::wait(Some(Duration::from_millis(10))).unwrap();
    }
}

/// The pipe inode behind the wake-up descriptor `fd`, as `/proc` shows it.
pub(crate) fn pipe_identity(fd: BorrowedFd<'_>) -> String {
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}
