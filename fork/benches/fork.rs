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

use criterion::Criterion;
use forkwise_fork::ForkManager;

fn main() {
    // procspawn runs its children by starting this executable again; they
    // must stop here, before any benchmark runs.
    procspawn::init();
    let mut c = Criterion::default().configure_from_args();
    fork_exit_wait(&mut c);
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

fn fork_exit_wait(c: &mut Criterion) {
    assert_one_thread();
    let mut group = c.benchmark_group("fork: fork + exit + wait");

    let mut manager = ForkManager::new().expect("ForkManager::new");
    group.bench_function("forkwise", |b| {
        b.iter(|| {
            let worker = manager.fork(|_| (), 1).expect("fork");
            let state = manager.wait(&worker).expect("wait");
            assert!(black_box(state[0]).success());
            manager.forget_finished();
        });
    });
    drop(manager);

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
