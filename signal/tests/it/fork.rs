//! After `fork(2)`: the child has a wake-up pipe of its own.

use std::cell::RefCell;
use std::os::fd::AsFd;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use forkwise_signal::{Propagation, Signal, SignalHandler};
use forkwise_testkit::{Notify, SharedCounters, fork, status_mask};

use crate::support::{pipe_identity, readable};

/// A SIGUSR1 handler with one listener, which counts its runs.
fn counting_sigusr1() -> (SignalHandler, Arc<AtomicU64>) {
    let runs = Arc::new(AtomicU64::new(0));
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let count = Arc::clone(&runs);
    handler
        .add(move |_| {
            count.fetch_add(1, SeqCst);
            Propagation::Continue
        })
        .unwrap();
    (handler, runs)
}

/// A signal sent to the child runs the child's listeners only: the parent's
/// wake-up descriptor stays quiet and its listeners do not run; and a signal
/// to the parent does not wake the child.
pub(crate) fn child_signal_never_reaches_parent_listeners() {
    // Each process counts its own runs in its own copy of the counter.
    let (handler, runs) = counting_sigusr1();
    let parent_pipe = pipe_identity(handler.as_fd());
    let (child_ready, parent_signalled, child_checked) =
        (Notify::new(), Notify::new(), Notify::new());
    let child = fork(|| {
        assert_ne!(
            pipe_identity(handler.as_fd()),
            parent_pipe,
            "the child's descriptor points at a pipe of its own"
        );
        child_ready.notify();
        // The parent signals itself now: the child's pipe must stay quiet.
        parent_signalled.wait();
        assert!(
            !readable(handler.as_fd(), Duration::from_millis(100)),
            "the parent's signal woke the child"
        );
        assert_eq!(forkwise_signal::dispatch(), 0);
        child_checked.notify();
        // Now the parent signals the child.
        let ran = forkwise_signal::wait(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(ran, 1);
        assert_eq!(
            runs.load(SeqCst),
            1,
            "the child's signal ran the child's copy"
        );
    });
    child_ready.wait();
    Signal::SIGUSR1.raise().unwrap();
    assert_eq!(forkwise_signal::dispatch(), 1);
    parent_signalled.notify();
    child_checked.wait();

    Signal::SIGUSR1.send(child.pid()).unwrap();
    assert!(
        !readable(handler.as_fd(), Duration::from_millis(200)),
        "the child's signal woke the parent"
    );
    assert_eq!(forkwise_signal::dispatch(), 0);
    child.join();
    assert_eq!(runs.load(SeqCst), 1, "the parent's own signal only");
}

/// Signals recorded but not yet dispatched in the parent at fork time are the
/// parent's: the child does not run them, nor count them with its own.
pub(crate) fn child_does_not_inherit_pending_signals() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let counts = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&counts);
    handler
        .add(move |info| {
            record.lock().unwrap().push(info.count);
            Propagation::Continue
        })
        .unwrap();
    Signal::SIGUSR1.raise().unwrap(); // recorded, not dispatched
    fork(|| {
        assert_eq!(
            forkwise_signal::dispatch(),
            0,
            "the parent's signal ran in the child"
        );
        assert!(!readable(handler.as_fd(), Duration::ZERO));
        Signal::SIGUSR1.raise().unwrap();
        assert_eq!(forkwise_signal::dispatch(), 1);
        assert_eq!(*counts.lock().unwrap(), [1], "the child's own signal only");
    })
    .join();
    assert_eq!(forkwise_signal::dispatch(), 1, "the parent still has it");
    assert_eq!(*counts.lock().unwrap(), [1]);
}

/// A signal that reaches the child before the child has used its wake-up
/// pipe (which is made at first use) is kept: it never wakes the parent,
/// whose pipe the child's descriptor still names, and the child's
/// descriptor is readable, and its dispatch runs it, once the child looks.
pub(crate) fn signal_before_the_child_uses_its_pipe_wakes_the_child() {
    let (handler, runs) = counting_sigusr1();
    let parent_pipe = pipe_identity(handler.as_fd());
    let (child_signalled, parent_checked) = (Notify::new(), Notify::new());
    let child = fork(|| {
        // First thing: nothing of the pipe has been touched yet.
        Signal::SIGUSR1.raise().unwrap();
        child_signalled.notify();
        parent_checked.wait();
        assert!(
            readable(handler.as_fd(), Duration::from_secs(10)),
            "the child's own signal did not wake it"
        );
        assert_ne!(pipe_identity(handler.as_fd()), parent_pipe);
        assert_eq!(forkwise_signal::dispatch(), 1);
        assert_eq!(runs.load(SeqCst), 1);
    });
    child_signalled.wait();
    assert!(
        !readable(handler.as_fd(), Duration::from_millis(200)),
        "the child's signal woke the parent"
    );
    parent_checked.notify();
    child.join();
    assert_eq!(forkwise_signal::dispatch(), 0);
    assert_eq!(runs.load(SeqCst), 0, "the parent's listener never ran");
}

static BLOCKED_IN_EARLIER_FORK_HANDLER: AtomicU64 = AtomicU64::new(0);

/// A child fork handler registered before the crate's: it runs before the
/// crate renews the pipe, and records whether SIGUSR1 is blocked then.
extern "C" fn record_mask_in_child() {
    // SAFETY: all zeroes is a valid sigset_t; a null new set only reads the mask.
    let blocked = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &raw mut set);
        libc::sigismember(&raw const set, libc::SIGUSR1) == 1
    };
    BLOCKED_IN_EARLIER_FORK_HANDLER.store(u64::from(blocked) + 1, SeqCst);
}

/// Between `fork(2)` and the renewal of the child's pipe, signals are
/// blocked, so none can reach the child while it still shares the parent's
/// pipe; afterwards both processes have their masks as before.
pub(crate) fn signals_are_blocked_until_the_child_has_its_pipe() {
    // SAFETY: registers an async-signal-safe child handler; this case's
    // process is single-threaded and has not opened the wake pipe yet, so
    // this one runs before the crate's.
    unsafe { libc::pthread_atfork(None, None, Some(record_mask_in_child)) };
    let _handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let before = blocked_set();
    fork(move || {
        assert_eq!(
            BLOCKED_IN_EARLIER_FORK_HANDLER.load(SeqCst),
            2,
            "SIGUSR1 was not blocked while the child still shared the pipe"
        );
        assert_eq!(blocked_set(), before, "the child's mask is restored");
    })
    .join();
    assert_eq!(blocked_set(), before, "the parent's mask is restored");
}

/// This thread's blocked set, as the kernel reports it.
fn blocked_set() -> u64 {
    status_mask("SigBlk")
}

/// Blocks (`SIG_BLOCK`) or unblocks (`SIG_UNBLOCK`) SIGUSR2 in this thread.
fn change_sigusr2(how: libc::c_int) {
    // SAFETY: all zeroes is a valid sigset_t for sigaddset to fill; the old
    // mask is not asked for.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigaddset(&raw mut set, libc::SIGUSR2);
        libc::pthread_sigmask(how, &raw const set, std::ptr::null_mut());
    }
}

/// Fork after fork, each process leaves the fork with the mask the parent
/// had just before it, also when that mask changes between forks (the hook
/// keeps the saved mask unless it differs).
pub(crate) fn each_fork_restores_the_mask_it_found() {
    let _handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let unblocked = blocked_set();
    for how in [
        libc::SIG_UNBLOCK,
        libc::SIG_BLOCK,
        libc::SIG_BLOCK,
        libc::SIG_UNBLOCK,
    ] {
        change_sigusr2(how);
        let before = blocked_set();
        assert_eq!(before != unblocked, how == libc::SIG_BLOCK);
        fork(move || assert_eq!(blocked_set(), before, "the child's mask")).join();
        assert_eq!(blocked_set(), before, "the parent's mask");
    }
}

/// With a raw `libc::fork` (no forkwise in between), the `pthread_atfork`
/// hook has run by the time fork returns: the child's descriptor points at
/// a pipe of its own as soon as the child looks at it, and calling the
/// public hook again there changes nothing.
pub(crate) fn raw_fork_runs_the_hook() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    handler.add(|_| Propagation::Continue).unwrap();
    let parent_pipe = pipe_identity(handler.as_fd());
    // [0] 1 if the child's pipe differed from the parent's,
    // [1] 1 if calling the hook again kept it, [2] 1 if the child is done
    let results = SharedCounters::new(3);
    // SAFETY: this process has one thread; the child only reads /proc,
    // touches shared atomics and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let fresh = pipe_identity(handler.as_fd());
        results[0].store(i64::from(fresh != parent_pipe), SeqCst);
        forkwise_signal::after_fork_in_child();
        results[1].store(i64::from(pipe_identity(handler.as_fd()) == fresh), SeqCst);
        results[2].store(1, SeqCst);
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for our own child; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &raw mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    assert_eq!(results[2].load(SeqCst), 1, "the child ran");
    assert_eq!(results[0].load(SeqCst), 1, "the child's pipe is its own");
    assert_eq!(results[1].load(SeqCst), 1, "the hook is idempotent");
    assert_eq!(
        pipe_identity(handler.as_fd()),
        parent_pipe,
        "the parent's is unchanged"
    );
}

/// Counts its drops in memory shared with forked processes.
struct CountsDrops(Arc<SharedCounters>);

impl Drop for CountsDrops {
    fn drop(&mut self) {
        self.0[0].fetch_add(1, SeqCst);
    }
}

/// A child that abandons an inherited handler gets the signal's old
/// disposition back (SIGTERM ends it) without dropping the listener, whose
/// captures are the parent's; the parent's listener is untouched.
pub(crate) fn child_abandons_inherited_listeners_without_dropping_them() {
    let drops = Arc::new(SharedCounters::new(1));
    let handler = RefCell::new(Some(SignalHandler::new(Signal::SIGTERM).unwrap()));
    let guard = CountsDrops(Arc::clone(&drops));
    handler
        .borrow()
        .as_ref()
        .unwrap()
        .add(move |_| {
            let _ = &guard;
            Propagation::Continue
        })
        .unwrap();
    let child = fork(|| {
        handler.borrow_mut().take().unwrap().abandon();
        assert_eq!(drops[0].load(SeqCst), 0, "the child dropped the listener");
        Signal::SIGTERM.raise().unwrap();
        unreachable!("SIGTERM has its default disposition again");
    });
    child.join_killed_by(libc::SIGTERM);
    Signal::SIGTERM.raise().unwrap();
    assert_eq!(
        forkwise_signal::dispatch(),
        1,
        "the parent's listener stays"
    );
    assert_eq!(drops[0].load(SeqCst), 0);
    drop(handler);
    assert_eq!(drops[0].load(SeqCst), 1, "dropped once, in the parent");
}
