//! What the kernel's disposition is before, during and after: restored,
//! refused, foreign handlers chained.

use forkwise_signal::{Error, Propagation, Refusal, Signal, SignalHandler};

use crate::support::{
    Log, address_of_errno_clobbering_handler, address_of_foreign_handler,
    address_of_foreign_siginfo_handler, caught, foreign_runs, handler_address, install_raw,
};

/// The first listener installs the OS handler, removing the last restores
/// the default: checked with the kernel's own `SigCgt` and with `sigaction`.
pub(crate) fn removing_the_last_listener_restores_the_default() {
    assert!(!caught(Signal::SIGUSR2));
    let handler = SignalHandler::new(Signal::SIGUSR2).unwrap();
    assert!(
        !caught(Signal::SIGUSR2),
        "no listener yet: nothing installed"
    );
    let first = handler.add(|_| Propagation::Continue).unwrap();
    assert!(caught(Signal::SIGUSR2));
    let other = SignalHandler::new(Signal::SIGUSR2).unwrap();
    let second = other.add(|_| Propagation::Continue).unwrap();
    assert!(handler.remove(first));
    assert!(caught(Signal::SIGUSR2), "one listener is left");
    assert!(other.remove(second));
    assert!(!caught(Signal::SIGUSR2));
    assert_eq!(handler_address(Signal::SIGUSR2), libc::SIG_DFL);

    other.add(|_| Propagation::Continue).unwrap();
    assert!(caught(Signal::SIGUSR2), "installed again");
    drop(other);
    assert!(
        !caught(Signal::SIGUSR2),
        "dropping the handler restores too"
    );
}

/// An ignored signal is caught while listeners exist and ignored again after.
pub(crate) fn ignored_signal_is_ignored_again_after() {
    install_raw(Signal::SIGHUP, libc::SIG_IGN, false, true);
    let handler = SignalHandler::new(Signal::SIGHUP).unwrap();
    let log = Log::default();
    log.add(&handler, "hup", Propagation::Continue);
    Signal::SIGHUP.raise().unwrap();
    assert_eq!(forkwise_signal::dispatch(), 1);
    drop(handler);
    assert_eq!(handler_address(Signal::SIGHUP), libc::SIG_IGN);
    Signal::SIGHUP.raise().unwrap(); // ignored: the process survives
}

/// SIGKILL, SIGSTOP and the synchronous fault signals are refused with a
/// typed error that names the signal and the reason, before anything changes.
pub(crate) fn uncatchable_and_fault_signals_are_refused() {
    for (signal, reason) in [
        (Signal::SIGKILL, Refusal::Uncatchable),
        (Signal::SIGSTOP, Refusal::Uncatchable),
        (Signal::SIGSEGV, Refusal::SynchronousFault),
        (Signal::SIGBUS, Refusal::SynchronousFault),
        (Signal::SIGILL, Refusal::SynchronousFault),
        (Signal::SIGFPE, Refusal::SynchronousFault),
    ] {
        let before = handler_address(signal);
        let err = SignalHandler::new(signal).unwrap_err();
        match &err {
            Error::Refused {
                signal: s,
                reason: r,
            } => {
                assert_eq!((*s, *r), (signal, reason));
            }
            other => panic!("expected a refusal for {signal}, got {other:?}"),
        }
        assert!(err.to_string().contains(&signal.to_string()), "{err}");
        assert_eq!(handler_address(signal), before, "{signal} untouched");
    }
}

/// A handler installed before ours (plain, then `SA_SIGINFO`) is called from
/// our OS handler while listeners exist, and installed again after.
pub(crate) fn foreign_handler_is_chained_then_restored() {
    for (address, siginfo) in [
        (address_of_foreign_handler(), false),
        (address_of_foreign_siginfo_handler(), true),
    ] {
        install_raw(Signal::SIGUSR2, address, siginfo, true);
        let runs_before = foreign_runs();
        let log = Log::default();
        let handler = SignalHandler::new(Signal::SIGUSR2).unwrap();
        log.add(&handler, "ours", Propagation::Continue);
        assert_ne!(
            handler_address(Signal::SIGUSR2),
            address,
            "ours is installed"
        );

        Signal::SIGUSR2.raise().unwrap();
        assert_eq!(
            foreign_runs(),
            runs_before + 1,
            "the foreign handler was called"
        );
        assert_eq!(forkwise_signal::dispatch(), 1);
        assert_eq!(log.take(), ["ours"]);

        drop(handler);
        assert_eq!(handler_address(Signal::SIGUSR2), address, "restored");
        Signal::SIGUSR2.raise().unwrap();
        assert_eq!(foreign_runs(), runs_before + 2, "it runs alone again");
        assert_eq!(forkwise_signal::dispatch(), 0);
    }
    install_raw(Signal::SIGUSR2, libc::SIG_DFL, false, true);
}

/// A handler installed *over* ours is left in place when our last listener
/// goes (restoring ours would cut it off); a later listener works again.
pub(crate) fn handler_installed_over_ours_is_left_in_place() {
    let handler = SignalHandler::new(Signal::SIGUSR2).unwrap();
    let first = handler.add(|_| Propagation::Continue).unwrap();
    let ours = handler_address(Signal::SIGUSR2);
    install_raw(Signal::SIGUSR2, address_of_foreign_handler(), false, true);
    assert!(handler.remove(first));
    assert_eq!(
        handler_address(Signal::SIGUSR2),
        address_of_foreign_handler(),
        "theirs stays"
    );

    // They restore ours (as a chaining library would on its way out), and a
    // new listener runs from our handler again.
    install_raw(Signal::SIGUSR2, ours, true, true);
    let log = Log::default();
    log.add(&handler, "again", Propagation::Continue);
    Signal::SIGUSR2.raise().unwrap();
    assert_eq!(forkwise_signal::dispatch(), 1);
    assert_eq!(log.take(), ["again"]);
    drop(handler);
    assert_eq!(
        handler_address(Signal::SIGUSR2),
        libc::SIG_DFL,
        "back to the start"
    );
}

/// The OS handler saves and restores `errno`, so the interrupted code never
/// sees it change, even when a chained handler changes it.
pub(crate) fn os_handler_preserves_errno() {
    install_raw(
        Signal::SIGUSR1,
        address_of_errno_clobbering_handler(),
        false,
        true,
    );
    let handler = SignalHandler::new(Signal::SIGUSR1).unwrap();
    handler.add(|_| Propagation::Continue).unwrap();
    for _ in 0..10 {
        // SAFETY: read on an invalid descriptor only sets errno; kill takes
        // integers; the errno location is this thread's.
        let errno = unsafe {
            let mut byte = 0u8;
            libc::read(-1, (&raw mut byte).cast(), 1);
            let before = *libc::__errno_location();
            libc::kill(libc::getpid(), libc::SIGUSR1); // both handlers run here
            (before, *libc::__errno_location())
        };
        assert_eq!(errno, (libc::EBADF, libc::EBADF));
        assert_eq!(forkwise_signal::dispatch(), 1);
    }
    drop(handler);
    install_raw(Signal::SIGUSR1, libc::SIG_DFL, false, true);
}
