//! Benchmarks of forkwise-lock, run by `cargo xtask bench lock` (see
//! `xtask/src/bench.rs` for the method: rounds, medians, floor and peers).
//!
//! Every operation is a criterion group named after the operation; its
//! functions are `forkwise` (this crate), `floor` (the same operation written
//! directly on libc, here in this file) and `peer:<name>` (the crate a user
//! would otherwise pick). The operations:
//!
//! - uncontended exclusive and shared `flock(2)` acquire+release: forkwise's
//!   [`FileLock`], raw `flock`, std's `File::lock` and fd-lock's `RwLock`;
//! - uncontended byte-range acquire+release: forkwise's [`RangeLock`] and raw
//!   `fcntl(F_OFD_SETLK)`;
//! - hand-off between two processes on one CPU: the time from the holder's
//!   release to the moment the process blocked on the lock holds it, for
//!   [`FileLock`] and raw `flock` (why one CPU: see `forkwise_testkit::PinnedToOneCpu`).
//!
//! The hand-off forks. Forking is only sound in a process with one thread:
//! criterion without its `rayon` feature starts none, and
//! `forkwise_testkit::Helper` (through `forkwise_testkit::fork`) checks
//! `/proc/self/task` before every fork.

use std::fs::File;
use std::hint::black_box;
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

use criterion::Criterion;
use forkwise_lock::{FileLock, RangeLock};
use forkwise_testkit::{Helper, PinnedToOneCpu, TempDir};

fn main() {
    let dir = TempDir::new("bench-lock");
    let mut c = Criterion::default().configure_from_args();
    uncontended_exclusive(&mut c, dir.path());
    uncontended_shared(&mut c, dir.path());
    uncontended_range(&mut c, dir.path());
    hand_off(&mut c, dir.path());
    c.final_summary();
}

/// `flock(2)` on a raw descriptor, panicking on failure as `unwrap` would.
fn raw_flock(file: &File, operation: libc::c_int) {
    // SAFETY: flock reads two integers; the descriptor stays open while
    // `file` is borrowed.
    let ret = unsafe { libc::flock(file.as_raw_fd(), operation) };
    assert!(ret == 0, "flock: {}", io::Error::last_os_error());
}

/// Opens (creating) a lock file read-write, as every variant does once outside
/// the timed loop.
fn open(path: &Path) -> File {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .expect("open the lock file")
}

fn uncontended_exclusive(c: &mut Criterion, dir: &Path) {
    let path = dir.join("exclusive.lock");
    let mut group = c.benchmark_group("lock: uncontended exclusive acquire+release");

    let mut lock = FileLock::new(&path).expect("FileLock::new");
    group.bench_function("forkwise", |b| {
        b.iter(|| drop(black_box(lock.acquire().expect("acquire"))));
    });

    let file = open(&path);
    group.bench_function("floor", |b| {
        b.iter(|| {
            raw_flock(black_box(&file), libc::LOCK_EX);
            raw_flock(black_box(&file), libc::LOCK_UN);
        });
    });

    let file = open(&path);
    group.bench_function("peer:std File::lock", |b| {
        b.iter(|| {
            black_box(&file).lock().expect("File::lock");
            black_box(&file).unlock().expect("File::unlock");
        });
    });

    let mut rw = fd_lock::RwLock::new(open(&path));
    group.bench_function("peer:fd-lock", |b| {
        b.iter(|| drop(black_box(rw.write().expect("RwLock::write"))));
    });
    group.finish();
}

fn uncontended_shared(c: &mut Criterion, dir: &Path) {
    let path = dir.join("shared.lock");
    let mut group = c.benchmark_group("lock: uncontended shared acquire+release");

    let mut lock = FileLock::new(&path).expect("FileLock::new");
    group.bench_function("forkwise", |b| {
        b.iter(|| drop(black_box(lock.acquire_shared().expect("acquire_shared"))));
    });

    let file = open(&path);
    group.bench_function("floor", |b| {
        b.iter(|| {
            raw_flock(black_box(&file), libc::LOCK_SH);
            raw_flock(black_box(&file), libc::LOCK_UN);
        });
    });

    let file = open(&path);
    group.bench_function("peer:std File::lock", |b| {
        b.iter(|| {
            black_box(&file).lock_shared().expect("File::lock_shared");
            black_box(&file).unlock().expect("File::unlock");
        });
    });

    let rw = fd_lock::RwLock::new(open(&path));
    group.bench_function("peer:fd-lock", |b| {
        b.iter(|| drop(black_box(rw.read().expect("RwLock::read"))));
    });
    group.finish();
}

/// The byte range both range variants lock: the first page.
const RANGE: (u64, u64) = (0, 4096);

/// A `struct flock` of `kind` over [`RANGE`], for open-file-description locks.
fn ofd_request(kind: libc::c_int) -> libc::flock {
    // SAFETY: `flock` is a plain C struct; all-zeroes is a valid value, and
    // `l_pid` must be 0 for open-file-description locks.
    let mut request: libc::flock = unsafe { std::mem::zeroed() };
    request.l_type = libc::c_short::try_from(kind).expect("lock kinds fit a short");
    request.l_whence = libc::c_short::try_from(libc::SEEK_SET).expect("SEEK_SET fits a short");
    request.l_start = libc::off_t::try_from(RANGE.0).expect("range start fits off_t");
    request.l_len = libc::off_t::try_from(RANGE.1).expect("range length fits off_t");
    request
}

fn uncontended_range(c: &mut Criterion, dir: &Path) {
    let path = dir.join("range.db");
    let mut group = c.benchmark_group("range lock: uncontended exclusive acquire+release");

    let mut lock = RangeLock::new(&path, RANGE.0, RANGE.1).expect("RangeLock::new");
    group.bench_function("forkwise", |b| {
        b.iter(|| drop(black_box(lock.acquire().expect("acquire"))));
    });

    let file = open(&path);
    let mut lock_request = ofd_request(libc::F_WRLCK);
    let mut unlock_request = ofd_request(libc::F_UNLCK);
    group.bench_function("floor", |b| {
        b.iter(|| {
            for request in [&mut lock_request, &mut unlock_request] {
                // SAFETY: `request` is an initialised `struct flock` that
                // outlives the call, as F_OFD_SETLK requires; the descriptor
                // stays open while `file` is borrowed.
                let ret = unsafe {
                    libc::fcntl(
                        black_box(&file).as_raw_fd(),
                        libc::F_OFD_SETLK,
                        black_box(&raw mut *request),
                    )
                };
                assert!(ret == 0, "fcntl: {}", io::Error::last_os_error());
            }
        });
    });
    group.finish();
}

/// A lock that a hand-off iteration takes, runs `f` under, and releases.
trait HandOffLock {
    /// Acquires (blocking), runs `f`, releases; returns what `f` returned.
    fn with_lock<R>(&mut self, f: impl FnOnce() -> R) -> R;
}

impl HandOffLock for FileLock {
    fn with_lock<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let _guard = self.acquire().expect("acquire");
        f()
    }
}

/// The floor: a file opened once, locked with raw `flock(2)`.
struct RawFlock(File);

impl HandOffLock for RawFlock {
    fn with_lock<R>(&mut self, f: impl FnOnce() -> R) -> R {
        raw_flock(&self.0, libc::LOCK_EX);
        let result = f();
        raw_flock(&self.0, libc::LOCK_UN);
        result
    }
}

fn hand_off(c: &mut Criterion, dir: &Path) {
    let path = dir.join("hand-off.lock");
    let mut group = c.benchmark_group("lock: hand-off between processes on one CPU");
    // Each iteration costs several times its measured time in pipe round trips
    // and polling; fewer samples keep the wall time of this group reasonable.
    group.sample_size(30);
    group.bench_function("forkwise", |b| {
        b.iter_custom(|iters| {
            hand_off_iters(iters, || FileLock::new(&path).expect("FileLock::new"))
        });
    });
    group.bench_function("floor", |b| {
        b.iter_custom(|iters| hand_off_iters(iters, || RawFlock(open(&path))));
    });
    group.finish();
}

/// Runs `iters` hand-offs between this process and one forked helper, both
/// pinned to the CPU this process runs on, each with its own open file
/// description from `open`; returns the summed time from this process's
/// release to the helper's acquire.
///
/// Per iteration: this process takes the lock and tells the helper to go;
/// the helper answers "about to lock" and blocks in its acquire; once
/// `/proc/<helper>/stat` shows it asleep, this process reads the clock (t0)
/// and releases; the helper, holding the lock, reads the clock (t1), sends
/// t1 back and releases.
fn hand_off_iters<L: HandOffLock>(iters: u64, open: impl Fn() -> L) -> Duration {
    let _pinned = PinnedToOneCpu::new();
    let mut mine = open();
    let mut helper = Helper::spawn(|commands, answers| hand_off_helper(open(), commands, answers));
    let mut total = 0;
    for _ in 0..iters {
        let t0 = mine.with_lock(|| {
            helper.send(b'g');
            assert_eq!(helper.receive::<1>(), *b"a", "the helper's answer");
            helper.wait_until_asleep();
            monotonic_ns()
        });
        let t1 = u64::from_ne_bytes(helper.receive::<8>());
        total += t1.checked_sub(t0).expect("the helper acquired after t0");
    }
    helper.finish();
    Duration::from_nanos(total)
}

/// The helper's side of [`hand_off_iters`]: one hand-off per `g` received,
/// until the pipe closes.
fn hand_off_helper<L: HandOffLock>(
    mut lock: L,
    mut commands: PipeReader,
    mut answers: PipeWriter,
) -> io::Result<()> {
    let mut command = [0];
    while commands.read(&mut command)? == 1 {
        answers.write_all(b"a")?;
        lock.with_lock(|| answers.write_all(&monotonic_ns().to_ne_bytes()))?;
    }
    Ok(())
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
