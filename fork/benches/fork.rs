//! Benchmarks of forkwise-fork, run by `cargo xtask bench fork` (see
//! `xtask/src/bench.rs` for the method: rounds, medians, floor and peers).
//!
//! Every operation is a criterion group named after the operation; its
//! functions are `forkwise` (this crate), `floor` (the same operation written
//! directly on libc, here in this file) and `peer:<name>` (the crate a user
//! would otherwise pick). The operations:
//!
//! - fork + exit + wait of one worker: [`ForkManager::fork`] and
//!   [`ForkManager::wait`] against raw `fork`/`_exit`/`waitpid`, and
//!   procspawn's `spawn` + `join` (which runs the closure in a fresh
//!   process of the same executable rather than a fork);
//! - the same against a floor that also does a worker's duties, what any
//!   forking master with shutdown handlers owes its children: SIGTERM and
//!   SIGINT caught in the parent, all signals blocked across the fork, the
//!   child back to default dispositions before it unblocks them, and its
//!   stdout flushed before `_exit`. The raw floor's child runs no code of
//!   its own, and in a forked child every code page first executed is a
//!   page fault (the kernel copies no page table entries of file mappings
//!   at fork), so the second floor shows how much of the distance to the
//!   raw one any worker pays;
//! - a worker returning a value: [`ForkManager::fork_with_result`] and
//!   `join` against the floor plus a pipe (the child writes 8 bytes, the
//!   parent reads them), and procspawn returning the same value.
//!
//! Python's `multiprocessing` with the fork context is timed, for the
//! record, by `benches/multiprocessing_fork.py` (not part of this run).
//!
//! Forking is only sound in a process with one thread: criterion without
//! its `rayon` feature starts none, and [`assert_one_thread`] checks
//! `/proc/self/task` before each benchmark forks.

use std::hint::black_box;
use std::io;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use forkwise_fork::ForkManager;

fn main() {
    // procspawn runs its children by starting this executable again; they
    // must stop here, before any benchmark runs.
    procspawn::init();
    let mut c = Criterion::default().configure_from_args();
    fork_exit_wait(&mut c);
    fork_exit_wait_with_duties(&mut c);
    fork_with_result(&mut c);
    c.final_summary();
}

/// Panics unless the process has exactly one thread.
fn assert_one_thread() {
    let threads = std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .count();
    assert_eq!(
        threads, 1,
        "forking a process with {threads} threads is unsound"
    );
}

/// Raw `fork(2)`; the child runs `child` and `_exit`s with its code.
fn raw_fork(child: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: `assert_one_thread` ran before each benchmark: the child
    // inherits no lock held by another thread. It only does what `child`
    // does (async-signal-safe calls here) and leaves with `_exit`.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", io::Error::last_os_error()),
        // SAFETY: _exit never returns and runs nothing of the parent's.
        0 => unsafe { libc::_exit(child()) },
        pid => pid,
    }
}

/// Raw blocking `waitpid(2)`, checking for a clean exit.
fn raw_wait(pid: libc::pid_t) {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the call.
        let reaped = unsafe { libc::waitpid(pid, &raw mut status, 0) };
        if reaped == pid {
            break;
        }
        let err = io::Error::last_os_error();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted, "waitpid: {err}");
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
}

/// The `forkwise` variant of both fork + exit + wait groups: a manager
/// made for it, dropped after it.
fn bench_forkwise_fork_exit_wait(group: &mut BenchmarkGroup<'_, WallTime>) {
    let mut manager = ForkManager::new().expect("ForkManager::new");
    group.bench_function("forkwise", |b| {
        b.iter(|| {
            let worker = manager.fork(|_| (), 1).expect("fork");
            let state = manager.wait(&worker).expect("wait");
            assert!(black_box(state[0]).success());
            manager.forget_finished();
        });
    });
}

fn fork_exit_wait(c: &mut Criterion) {
    assert_one_thread();
    let mut group = c.benchmark_group("fork: fork + exit + wait");

    bench_forkwise_fork_exit_wait(&mut group);

    group.bench_function("floor", |b| {
        b.iter(|| raw_wait(black_box(raw_fork(|| 0))));
    });

    group.bench_function("peer:procspawn", |b| {
        b.iter(|| {
            procspawn::spawn((), |()| ())
                .join()
                .expect("procspawn join");
        });
    });
    group.finish();
}

/// A signal handler that does nothing: the master's listener, as far as the
/// floor is concerned.
extern "C" fn ignore_signal(_: libc::c_int) {}

/// Sets `signal`'s handler to `handler`.
fn set_handler(signal: libc::c_int, handler: libc::sighandler_t) {
    // SAFETY: an all-zero sigaction is valid (empty mask, no flags); the
    // handler is `SIG_DFL` or `ignore_signal`, which is async-signal-safe.
    let installed = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        libc::sigaction(signal, &raw const action, std::ptr::null_mut())
    };
    assert_eq!(installed, 0, "sigaction: {}", io::Error::last_os_error());
}

/// Sets the calling thread's signal mask to `mask`, returning the old one.
fn set_mask(how: libc::c_int, mask: &libc::sigset_t) -> libc::sigset_t {
    // SAFETY: both pointers are to live sigsets; an all-zero sigset is valid.
    unsafe {
        let mut old = std::mem::zeroed();
        libc::pthread_sigmask(how, mask, &raw mut old);
        old
    }
}

fn fork_exit_wait_with_duties(c: &mut Criterion) {
    use std::io::Write;

    assert_one_thread();
    let mut group = c.benchmark_group("fork: fork + exit + wait, floor with a worker's duties");

    bench_forkwise_fork_exit_wait(&mut group);

    let shutdown = [libc::SIGTERM, libc::SIGINT];
    for signal in shutdown {
        set_handler(
            signal,
            ignore_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    // SAFETY: `all` is a live sigset for sigfillset to fill.
    let all = unsafe {
        let mut all = std::mem::zeroed();
        libc::sigfillset(&raw mut all);
        all
    };
    group.bench_function("floor", |b| {
        b.iter(|| {
            let before = set_mask(libc::SIG_BLOCK, &all);
            let pid = raw_fork(|| {
                for signal in shutdown {
                    set_handler(signal, libc::SIG_DFL);
                }
                set_mask(libc::SIG_SETMASK, &before);
                i32::from(std::io::stdout().flush().is_err())
            });
            set_mask(libc::SIG_SETMASK, &before);
            raw_wait(black_box(pid));
        });
    });
    for signal in shutdown {
        set_handler(signal, libc::SIG_DFL);
    }
    group.finish();
}

fn fork_with_result(c: &mut Criterion) {
    assert_one_thread();
    let mut group = c.benchmark_group("fork: fork_with_result");

    let mut manager = ForkManager::new().expect("ForkManager::new");
    group.bench_function("forkwise", |b| {
        b.iter(|| {
            let handle = manager
                .fork_with_result(|_| 42u64)
                .expect("fork_with_result");
            assert_eq!(black_box(handle.join(&mut manager).expect("join")), 42);
            manager.forget_finished();
        });
    });
    drop(manager);

    group.bench_function("floor", |b| {
        b.iter(|| {
            let mut fds = [-1; 2];
            // SAFETY: `fds` is a writable array of two ints.
            let made = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
            assert_eq!(made, 0, "pipe2: {}", io::Error::last_os_error());
            let [read, write] = fds;
            let pid = raw_fork(|| {
                let value = 42u64.to_ne_bytes();
                // SAFETY: writes 8 bytes from a live buffer; write is
                // async-signal-safe.
                let written = unsafe { libc::write(write, value.as_ptr().cast(), value.len()) };
                i32::from(written != 8)
            });
            // SAFETY: closes the parent's copy of the write end, once.
            unsafe { libc::close(write) };
            let mut value = [0u8; 8];
            // SAFETY: reads at most 8 bytes into a live buffer; a pipe
            // delivers a write of 8 bytes whole.
            let got = unsafe { libc::read(read, value.as_mut_ptr().cast(), value.len()) };
            assert_eq!(got, 8);
            // SAFETY: closes the read end, once.
            unsafe { libc::close(read) };
            raw_wait(pid);
            assert_eq!(black_box(u64::from_ne_bytes(value)), 42);
        });
    });

    group.bench_function("peer:procspawn", |b| {
        b.iter(|| {
            let value = procspawn::spawn((), |()| 42u64)
                .join()
                .expect("procspawn join");
            assert_eq!(black_box(value), 42);
        });
    });
    group.finish();
}
