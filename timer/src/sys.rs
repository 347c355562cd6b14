//! The only module of this crate that calls libc: POSIX timers and the
//! monotonic clock.

use std::io;

/// Nanoseconds on `CLOCK_MONOTONIC`, the clock the kernel timers run on.
pub(crate) fn monotonic_ns() -> u64 {
    // SAFETY: all-zeroes is a valid timespec.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `now` is a valid out-pointer; CLOCK_MONOTONIC always exists on
    // the systems this crate builds for, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut now) };
    let secs = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    secs * 1_000_000_000 + nanos
}

fn timespec(ns: u64) -> libc::timespec {
    // SAFETY: all-zeroes is a valid timespec; the two fields are set below.
    let mut spec: libc::timespec = unsafe { std::mem::zeroed() };
    spec.tv_sec = libc::time_t::try_from(ns / 1_000_000_000).unwrap_or(libc::time_t::MAX);
    spec.tv_nsec = libc::c_long::try_from(ns % 1_000_000_000).unwrap_or(0);
    spec
}

/// A kernel POSIX timer, identified by the id `timer_create(2)` returned;
/// deleted on drop.
#[derive(Debug)]
pub(crate) struct KernelTimer(libc::timer_t);

// SAFETY: a `timer_t` is an opaque process-wide id (a number in a pointer
// type on Linux) that is never dereferenced; any thread may pass it to the
// timer calls.
unsafe impl Send for KernelTimer {}
// SAFETY: as for `Send`: shared references only copy the id.
unsafe impl Sync for KernelTimer {}

impl KernelTimer {
    /// A timer on `CLOCK_MONOTONIC` that delivers `signal` to the process at
    /// each expiry; not armed yet.
    pub(crate) fn create(signal: libc::c_int) -> io::Result<Self> {
        // SAFETY: all-zeroes is a valid sigevent; the fields used are set below.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_SIGNAL;
        event.sigev_signo = signal;
        let mut id: libc::timer_t = std::ptr::null_mut();
        // SAFETY: `event` and `id` are valid for the duration of the call.
        let ret = unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &raw mut event, &raw mut id) };
        if ret == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(Self(id))
        }
    }

    /// Arms the timer to expire first at `first_ns` on the monotonic clock,
    /// then every `interval_ns` after it (0: only once). Absolute times keep
    /// the schedule drift-free.
    pub(crate) fn arm(&self, first_ns: u64, interval_ns: u64) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: timespec(interval_ns),
            it_value: timespec(first_ns),
        };
        // SAFETY: `spec` is a valid itimerspec; the old value may be null;
        // `self.0` came from timer_create and is deleted only on drop.
        let ret = unsafe {
            libc::timer_settime(
                self.0,
                libc::TIMER_ABSTIME,
                &raw const spec,
                std::ptr::null_mut(),
            )
        };
        if ret == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}

impl Drop for KernelTimer {
    /// Deletes the timer; no expiry comes after this returns. (A forked
    /// child must `forget` its copies: the ids are its parent's.)
    fn drop(&mut self) {
        // SAFETY: drop runs once, so the id is deleted exactly once. It fails
        // only for an id that is not a timer, which `create` ruled out.
        unsafe { libc::timer_delete(self.0) };
    }
}

/// This process's id, to tell a forked child from its parent.
pub(crate) fn pid() -> u32 {
    std::process::id()
}

fn signal_set(signal: libc::c_int) -> libc::sigset_t {
    // SAFETY: all-zeroes is a valid sigset_t to initialise; sigemptyset and
    // sigaddset only write into it, and `signal` is a valid signal number.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, signal);
        set
    }
}

/// Runs `body` with `signal` blocked in the calling thread, then restores
/// the thread's signal mask.
pub(crate) fn with_signal_blocked<T>(signal: libc::c_int, body: impl FnOnce() -> T) -> T {
    let set = signal_set(signal);
    // SAFETY: all-zeroes is a valid sigset_t for the old mask to be written into.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both sets are valid for the call; blocking a signal cannot fail
    // for a valid `how`.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, &raw mut old) };
    let result = body();
    // SAFETY: restores the mask read above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &raw const old, std::ptr::null_mut()) };
    result
}

/// Takes every queued instance of `signal` off the process's pending set,
/// without running any handler. The signal must be blocked in this thread.
pub(crate) fn discard_pending(signal: libc::c_int) {
    let set = signal_set(signal);
    let now = timespec(0);
    loop {
        // SAFETY: `set` and `now` are valid; a null info pointer is allowed.
        let taken =
            unsafe { libc::sigtimedwait(&raw const set, std::ptr::null_mut(), &raw const now) };
        let interrupted =
            taken == -1 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted;
        if taken != signal && !interrupted {
            return; // EAGAIN: nothing (more) pending
        }
    }
}
