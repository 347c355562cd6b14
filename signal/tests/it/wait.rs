//! `wait`, the pollable descriptor and the background dispatcher.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use forkwise_signal::{BackgroundDispatcher, Propagation, Signal, SignalHandler};
use forkwise_testkit::{Notify, fork, storm};

use crate::support::{Log, foreign_runs, install_raw, my_pid, readable};

/// With nothing pending, `wait` returns 0 after its timeout, on time.
pub(crate) fn wait_times_out_on_time() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    handler.add(|_| Propagation::Continue).unwrap();
    for timeout in [Duration::from_millis(100), Duration::from_millis(7)] {
        let started = Instant::now();
        assert_eq!(forkwise_signal::wait(Some(timeout)).unwrap(), 0);
        let waited = started.elapsed();
        assert!(
            waited >= timeout,
            "returned early: {waited:?} < {timeout:?}"
        );
        assert!(
            waited < timeout + Duration::from_millis(20),
            "returned late: {waited:?} for {timeout:?}"
        );
    }
    let started = Instant::now();
    assert_eq!(forkwise_signal::wait(Some(Duration::ZERO)).unwrap(), 0);
    assert!(started.elapsed() < Duration::from_millis(20));
}

/// `wait` returns as soon as a signal comes, long before its timeout.
pub(crate) fn wait_returns_early_when_a_signal_comes() {
    let log = Log::default();
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    log.add(&handler, "listener", Propagation::Continue);
    let parent = my_pid();
    let sender = fork(|| {
        std::thread::sleep(Duration::from_millis(50));
        Signal::SIGUSR1.send(parent).unwrap();
    });
    let started = Instant::now();
    let ran = forkwise_signal::wait(Some(Duration::from_secs(10))).unwrap();
    let waited = started.elapsed();
    sender.join();
    assert_eq!(ran, 1);
    assert_eq!(log.take(), ["listener"]);
    assert!(
        waited >= Duration::from_millis(40) && waited < Duration::from_secs(2),
        "waited {waited:?}"
    );
}

/// A storm of another handler's signals (installed without `SA_RESTART`)
/// interrupts the poll inside `wait` over and over; `wait` neither fails nor
/// returns early, and still returns on time.
pub(crate) fn wait_survives_a_signal_storm() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    handler.add(|_| Propagation::Continue).unwrap();
    install_raw(
        Signal::SIGUSR2,
        crate::support::address_of_foreign_handler(),
        false,
        false,
    );
    let signals = storm(my_pid(), libc::SIGUSR2, Duration::from_micros(200));
    std::thread::sleep(Duration::from_millis(20));
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let ran = forkwise_signal::wait(Some(timeout)).expect("EINTR is retried");
    let waited = started.elapsed();
    drop(signals);
    assert_eq!(ran, 0, "the storm's signals are not ours");
    assert!(waited >= timeout, "returned early: {waited:?}");
    assert!(
        waited < timeout + Duration::from_millis(50),
        "returned late: {waited:?}"
    );
    assert!(foreign_runs() > 100, "only {} signals came", foreign_runs());
}

/// One interruption by another handler near the end of a wait does not
/// restart the timeout: the wait still ends on time.
pub(crate) fn wait_keeps_its_deadline_after_an_interruption() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    handler.add(|_| Propagation::Continue).unwrap();
    install_raw(
        Signal::SIGUSR2,
        crate::support::address_of_foreign_handler(),
        false,
        false,
    );
    let parent = my_pid();
    let go = Notify::new();
    let interrupter = fork(|| {
        go.wait();
        std::thread::sleep(Duration::from_millis(70));
        Signal::SIGUSR2.send(parent).unwrap();
    });
    let timeout = Duration::from_millis(100);
    go.notify();
    let started = Instant::now();
    assert_eq!(forkwise_signal::wait(Some(timeout)).unwrap(), 0);
    let waited = started.elapsed();
    interrupter.join();
    assert_eq!(
        foreign_runs(),
        1,
        "the interruption happened during the wait"
    );
    assert!(waited >= timeout, "returned early: {waited:?}");
    assert!(
        waited < timeout + Duration::from_millis(30),
        "returned late: {waited:?}; the timeout restarted after EINTR"
    );
}

/// The wake-up descriptor is quiet, becomes readable when a signal arrives,
/// and quiet again once dispatched.
pub(crate) fn wake_fd_becomes_readable() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    handler.add(|_| Propagation::Continue).unwrap();
    let fd = handler.as_fd();
    assert!(!readable(fd, Duration::ZERO), "quiet before any signal");
    let parent = my_pid();
    let go = Notify::new();
    let sender = fork(|| {
        go.wait();
        Signal::SIGUSR1.send(parent).unwrap();
    });
    go.notify();
    assert!(
        readable(fd, Duration::from_secs(10)),
        "readable once a signal came"
    );
    sender.join();
    assert_eq!(forkwise_signal::dispatch(), 1);
    assert!(!readable(fd, Duration::ZERO), "quiet again after dispatch");
}

/// The wake-up pipe is close-on-exec and non-blocking, and closed once the
/// last handler is gone (the harness checks that no descriptor is left).
pub(crate) fn wake_pipe_is_cloexec_and_closed_with_the_last_handler() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&handler);
    // SAFETY: F_GETFD and F_GETFL only read flags.
    let (descriptor, status) = unsafe {
        (
            libc::fcntl(raw, libc::F_GETFD),
            libc::fcntl(raw, libc::F_GETFL),
        )
    };
    assert_ne!(descriptor & libc::FD_CLOEXEC, 0);
    assert_ne!(status & libc::O_NONBLOCK, 0);
    let trap = forkwise_signal::SignalTrap::new(&[Signal::SIGTERM]).unwrap();
    assert_eq!(
        std::os::fd::AsRawFd::as_raw_fd(&trap),
        raw,
        "one pipe per process"
    );
    drop(handler);
    drop(trap);
    let link = std::fs::read_link(format!("/proc/self/fd/{raw}"));
    assert!(link.is_err(), "still open: {link:?}");
}

/// The background dispatcher runs listeners on its own thread with no
/// dispatch call, and stops cleanly, leaving one thread.
pub(crate) fn background_dispatcher_runs_listeners() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    handler
        .add(move |info| {
            let name = std::thread::current().name().map(str::to_owned);
            tx.lock().unwrap().send((info.sender, name)).unwrap();
            Propagation::Continue
        })
        .unwrap();
    let parent = my_pid();
    let go = Notify::new();
    // Fork before the thread exists: forking a threaded process is refused.
    let sender = fork(|| {
        go.wait();
        Signal::SIGUSR1.send(parent).unwrap();
    });
    let dispatcher = BackgroundDispatcher::spawn().unwrap();
    go.notify();
    let (who, thread) = rx.recv_timeout(Duration::from_secs(10)).expect("ran");
    assert_eq!(who.map(|s| s.pid), Some(sender.pid()));
    assert_eq!(thread.as_deref(), Some("forkwise-signal"));
    sender.join();
    assert!(!dispatcher.is_finished());
    dispatcher.stop();
    let threads = std::fs::read_dir("/proc/self/task").unwrap().count();
    assert_eq!(threads, 1, "the dispatcher thread is gone");
}

/// A listener that panics on the dispatcher thread ends it; `stop` hands the
/// panic on.
pub(crate) fn background_dispatcher_reports_a_listener_panic() {
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    let runs = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&runs);
    handler
        .add(move |_| {
            count.fetch_add(1, Ordering::SeqCst);
            panic!("listener failed on the dispatcher thread")
        })
        .unwrap();
    let dispatcher = BackgroundDispatcher::spawn().unwrap();
    Signal::SIGUSR1.raise().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dispatcher.is_finished() {
        assert!(Instant::now() < deadline, "the thread did not end");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatcher.stop()));
    assert!(stopped.is_err(), "stop hands the panic on");
}
