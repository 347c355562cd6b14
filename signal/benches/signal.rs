//! Benchmarks of forkwise-signal, run by `cargo xtask bench signal` (see
//! `xtask/src/bench.rs` for the method: rounds, medians, floor and peers).
//!
//! Every operation is a criterion group named after the operation; its
//! functions are `forkwise` (this crate), `floor` (the same operation written
//! directly on libc, here in this file) and `peer:signal-hook` (signal-hook's
//! iterator, what a user would otherwise pick). Each variant does the same
//! work when the signal is seen: one relaxed atomic add.
//!
//! - raise + dispatch: `raise(3)` a signal on this thread, then run what it
//!   asks for in ordinary context. The floor is a raw `sigaction` handler that
//!   sets a flag, checked after `raise`; forkwise raises and [`dispatch`]es
//!   one listener; signal-hook raises and drains `Signals::pending()`.
//! - kill to listener, across processes: a forked helper reads the clock (t0)
//!   and `kill(2)`s this process, which is blocked waiting; the time runs
//!   until this process's waiting call has returned (t1). The floor blocks in
//!   `sigsuspend(2)` with a raw handler; forkwise in [`wait`]; signal-hook in
//!   `Signals::forever().next()`.
//!
//! Each variant uses a signal of its own (forkwise SIGUSR1, floor SIGUSR2,
//! signal-hook SIGWINCH): signal-hook never gives its OS handler back, and a
//! handler left by one variant must not sit in another's chain.
//!
//! The cross-process group forks. Forking is only sound in a process with one
//! thread: criterion without its `rayon` feature starts none, and
//! `forkwise_testkit::Helper` (through `forkwise_testkit::fork`) checks
//! `/proc/self/task` before every fork.
//!
//! [`dispatch`]: forkwise_signal::dispatch
//! [`wait`]: forkwise_signal::wait

use std::hint::black_box;
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use criterion::Criterion;
use forkwise_signal::{Propagation, Signal, SignalHandler};
use forkwise_testkit::Helper;
use signal_hook::iterator::Signals;

const FORKWISE: Signal = Signal::SIGUSR1;
const FLOOR: libc::c_int = libc::SIGUSR2;
const PEER: libc::c_int = libc::SIGWINCH;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    raise_and_dispatch(&mut c);
    kill_to_listener(&mut c);
    c.final_summary();
}

/// The work every variant does once per signal seen.
fn work(counter: &AtomicU64) {
    black_box(counter).fetch_add(1, Ordering::Relaxed);
}

/// Set by the floor's handler.
static FLOOR_FLAG: AtomicBool = AtomicBool::new(false);

extern "C" fn floor_handler(_: libc::c_int) {
    FLOOR_FLAG.store(true, Ordering::Release);
}

/// Installs [`floor_handler`] for [`FLOOR`], as a C program would.
fn install_floor_handler() {
    // SAFETY: all zeroes is a valid sigaction; the handler only stores to an
    // atomic, which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = floor_handler as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&raw mut action.sa_mask);
        let ret = libc::sigaction(FLOOR, &raw const action, std::ptr::null_mut());
        assert!(ret == 0, "sigaction: {}", io::Error::last_os_error());
    }
}

fn raw_raise(signal: libc::c_int) {
    // SAFETY: raise takes an integer; the signal has a handler.
    let ret = unsafe { libc::raise(signal) };
    assert!(ret == 0, "raise: {}", io::Error::last_os_error());
}

fn raise_and_dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group("signal: raise + dispatch");
    let counter = Arc::new(AtomicU64::new(0));

    let handler = SignalHandler::new(FORKWISE).expect("SignalHandler::new");
    let listener_counter = Arc::clone(&counter);
    handler
        .add(move |_| {
            work(&listener_counter);
            Propagation::Continue
        })
        .expect("add");
    group.bench_function("forkwise", |b| {
        b.iter(|| {
            FORKWISE.raise().expect("raise");
            black_box(forkwise_signal::dispatch());
        });
    });
    drop(handler);

    install_floor_handler();
    group.bench_function("floor", |b| {
        b.iter(|| {
            raw_raise(FLOOR);
            if FLOOR_FLAG.swap(false, Ordering::Acquire) {
                work(&counter);
            }
        });
    });

    let mut signals = Signals::new([PEER]).expect("Signals::new");
    group.bench_function("peer:signal-hook", |b| {
        b.iter(|| {
            raw_raise(PEER);
            for _ in signals.pending() {
                work(&counter);
            }
        });
    });
    group.finish();
}

fn kill_to_listener(c: &mut Criterion) {
    let mut group = c.benchmark_group("signal: kill to listener, across processes");
    // Each iteration costs a pipe round trip besides what is measured.
    group.sample_size(30);

    let counter = Arc::new(AtomicU64::new(0));
    let handler = SignalHandler::new(FORKWISE).expect("SignalHandler::new");
    let listener_counter = Arc::clone(&counter);
    handler
        .add(move |_| {
            work(&listener_counter);
            Propagation::Continue
        })
        .expect("add");
    group.bench_function("forkwise", |b| {
        b.iter_custom(|iters| {
            kill_iters(iters, FORKWISE.as_raw(), || {
                forkwise_signal::wait(None).expect("wait");
            })
        });
    });
    drop(handler);

    install_floor_handler();
    let only_floor_unblocked = mask_without(FLOOR);
    group.bench_function("floor", |b| {
        b.iter_custom(|iters| {
            // Blocked between waits, so a signal that comes before the
            // sigsuspend is not lost: sigsuspend unblocks and waits at once.
            let blocked = block(FLOOR);
            let total = kill_iters(iters, FLOOR, || {
                // SAFETY: the mask is a valid sigset_t; sigsuspend returns
                // (with EINTR) once a handler ran.
                unsafe { libc::sigsuspend(&raw const only_floor_unblocked) };
                if FLOOR_FLAG.swap(false, Ordering::Acquire) {
                    work(&counter);
                }
            });
            restore(&blocked);
            total
        });
    });

    let mut signals = Signals::new([PEER]).expect("Signals::new");
    group.bench_function("peer:signal-hook", |b| {
        b.iter_custom(|iters| {
            kill_iters(iters, PEER, || {
                if signals.forever().next().is_some() {
                    work(&counter);
                }
            })
        });
    });
    group.finish();
}

/// Runs `iters` rounds with one forked helper: the helper reads the clock and
/// sends `signal` to this process, which is blocked in `wait_for_signal`;
/// returns the summed time from the helper's clock reading to the return of
/// `wait_for_signal`.
fn kill_iters(iters: u64, signal: libc::c_int, mut wait_for_signal: impl FnMut()) -> Duration {
    // SAFETY: getpid takes no arguments and cannot fail.
    let parent = unsafe { libc::getpid() };
    let mut helper =
        Helper::spawn(|commands, answers| kill_helper(parent, signal, commands, answers));
    let mut total = 0;
    for _ in 0..iters {
        helper.send(b'k');
        wait_for_signal();
        let t1 = monotonic_ns();
        let t0 = u64::from_ne_bytes(helper.receive::<8>());
        total += t1.checked_sub(t0).expect("the signal came after t0");
    }
    helper.finish();
    Duration::from_nanos(total)
}

/// The helper's side of [`kill_iters`]: one signal per command, until the
/// pipe closes.
fn kill_helper(
    parent: libc::pid_t,
    signal: libc::c_int,
    mut commands: PipeReader,
    mut answers: PipeWriter,
) -> io::Result<()> {
    let mut command = [0];
    while commands.read(&mut command)? == 1 {
        let t0 = monotonic_ns();
        // SAFETY: kill takes two integers.
        if unsafe { libc::kill(parent, signal) } != 0 {
            return Err(io::Error::last_os_error());
        }
        answers.write_all(&t0.to_ne_bytes())?;
    }
    Ok(())
}

/// A signal mask: the current one without `signal`.
fn mask_without(signal: libc::c_int) -> libc::sigset_t {
    // SAFETY: all zeroes is a valid sigset_t; a null new set only reads.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &raw mut mask);
        libc::sigdelset(&raw mut mask, signal);
        mask
    }
}

/// Blocks `signal` in this thread; returns the mask before.
fn block(signal: libc::c_int) -> libc::sigset_t {
    // SAFETY: both sets are valid locals; pthread_sigmask writes only `old`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, signal);
        libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, &raw mut old);
        old
    }
}

fn restore(mask: &libc::sigset_t) {
    // SAFETY: `mask` is a valid sigset_t from `block`.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}

/// `CLOCK_MONOTONIC` in nanoseconds: one clock for all processes of the machine.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut now) };
    assert!(ret == 0, "clock_gettime: {}", io::Error::last_os_error());
    let secs = u64::try_from(now.tv_sec).expect("the monotonic clock is positive");
    let nanos = u64::try_from(now.tv_nsec).expect("tv_nsec is below 1e9");
    secs * 1_000_000_000 + nanos
}
