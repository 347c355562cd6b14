//! Benchmarks of forkwise-shm, run by `cargo xtask bench shm` (see
//! `xtask/src/bench.rs` for the method: rounds, medians, floor and peers).
//!
//! Every operation is a criterion group named after the operation; its
//! functions are `forkwise` (this crate), `floor` (the same operation as
//! the original PHP libraries do it, or the raw atomic, written on libc
//! here) and `peer:shared_memory+raw_sync` (the crates a Rust user would
//! otherwise pick). The operations:
//!
//! - `SharedData` get / set of a small value (an `u64` under an 8-byte key,
//!   in a store of 16 keys), uncontended. The floor is the seed's store: a
//!   SysV semaphore (`semop` with `SEM_UNDO`, as PHP's `sem_acquire`)
//!   around a postcard-serialised map in a SysV shared segment, read whole
//!   (and written back whole, for a set) under the semaphore. The peer is
//!   the same map in a `shared_memory` region under a `raw_sync` mutex (a
//!   process-shared pthread mutex, not robust: a holder's death leaves it
//!   locked forever).
//! - `SharedData` update (+1) while a second process updates the same key
//!   in a loop: the same three, the floor and the peer doing their
//!   read-modify-write under their lock.
//! - `SharedArray<u64>` get, set and `fetch_add`, against a raw `AtomicU64`
//!   in a raw `mmap(MAP_SHARED | MAP_ANONYMOUS)` page (the floor).
//!
//! The contended update forks. Forking is only sound in a process with one
//! thread: criterion without its `rayon` feature starts none, and
//! `forkwise_testkit::fork` checks `/proc/self/task` before every fork.

use std::collections::HashMap;
use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use criterion::Criterion;
use forkwise_shm::{Capacity, SharedArray, SharedData};
use forkwise_testkit::fork;
use raw_sync::locks::{LockImpl, LockInit, Mutex as RawSyncMutex};
use shared_memory::{Shmem, ShmemConf};

fn main() {
    let mut c = Criterion::default().configure_from_args();
    data_get(&mut c);
    data_set(&mut c);
    data_contended_update(&mut c);
    array(&mut c);
    c.final_summary();
}

/// Panics with the OS error unless `ret` is 0 or more, as `unwrap` would.
fn check(ret: isize, what: &str) {
    assert!(ret >= 0, "{what}: {}", io::Error::last_os_error());
}

/// The key every store benchmark reads and writes.
const KEY: &str = "counter7";

/// The 16 keys every store starts with (`KEY` among them).
fn keys() -> impl Iterator<Item = String> {
    (0..16).map(|i| format!("counter{i}"))
}

/// A uniquely named store holding the 16 keys.
fn store() -> SharedData {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("forkwise-bench-{}-{n}", std::process::id());
    let data = SharedData::create(&name, Capacity::new(64, 16)).expect("SharedData::create");
    for key in keys() {
        data.set(key.as_str(), &1u64).expect("set");
    }
    data
}

/// The map the floor and the peer serialise whole, as PHP's `shm_put_var`.
type Map = HashMap<String, u64>;

fn initial_map() -> Map {
    keys().map(|key| (key, 1)).collect()
}

/// Room for the serialised map: a length word and the postcard bytes.
const MAP_ROOM: usize = 4096;

/// Reads the map serialised at `base` (a length, then postcard).
///
/// # Safety
///
/// `base` points to `MAP_ROOM` readable bytes that no one writes meanwhile
/// (the caller holds the lock that guards them).
unsafe fn load_map(base: *const u8) -> Map {
    let mut len = [0; 8];
    // SAFETY: the caller's contract; `len` is 8 writable bytes.
    unsafe { std::ptr::copy_nonoverlapping(base, len.as_mut_ptr(), 8) };
    let len = usize::try_from(u64::from_le_bytes(len)).expect("a length");
    let mut bytes = vec![0; len];
    // SAFETY: as above; the writer kept `8 + len` within `MAP_ROOM`.
    unsafe { std::ptr::copy_nonoverlapping(base.add(8), bytes.as_mut_ptr(), len) };
    postcard::from_bytes(&bytes).expect("a serialised map")
}

/// Serialises `map` at `base`.
///
/// # Safety
///
/// `base` points to `MAP_ROOM` writable bytes that no one else uses
/// meanwhile (the caller holds the lock that guards them).
unsafe fn store_map(base: *mut u8, map: &Map) {
    let bytes = postcard::to_allocvec(map).expect("serialise");
    assert!(8 + bytes.len() <= MAP_ROOM);
    let len = (bytes.len() as u64).to_le_bytes();
    // SAFETY: the caller's contract; the assert keeps the copy in bounds.
    unsafe {
        std::ptr::copy_nonoverlapping(len.as_ptr(), base, 8);
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(8), bytes.len());
    }
}

/// The seed's store: a SysV semaphore guarding a serialised map in a SysV
/// shared memory segment. Removed on drop (by its creator only).
struct SemStore {
    sem: i32,
    shm: i32,
    base: *mut u8,
    creator: u32,
}

impl SemStore {
    fn new() -> Self {
        // SAFETY: semget takes three integers.
        let sem = unsafe { libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | 0o600) };
        check(sem as isize, "semget");
        // SAFETY: SETVAL takes an int as its fourth argument.
        check(
            unsafe { libc::semctl(sem, 0, libc::SETVAL, 1) } as isize,
            "SETVAL",
        );
        // SAFETY: shmget takes three integers.
        let shm = unsafe { libc::shmget(libc::IPC_PRIVATE, MAP_ROOM, libc::IPC_CREAT | 0o600) };
        check(shm as isize, "shmget");
        // SAFETY: a null address lets the kernel choose; the mapping is new.
        let base = unsafe { libc::shmat(shm, std::ptr::null(), 0) };
        check(base as isize, "shmat");
        let store = Self {
            sem,
            shm,
            base: base.cast(),
            creator: std::process::id(),
        };
        store.semop(-1);
        // SAFETY: the segment is MAP_ROOM bytes, guarded by the semaphore.
        unsafe { store_map(store.base, &initial_map()) };
        store.semop(1);
        store
    }

    fn semop(&self, delta: i16) {
        let mut op = libc::sembuf {
            sem_num: 0,
            sem_op: delta,
            sem_flg: i16::try_from(libc::SEM_UNDO).expect("SEM_UNDO fits a short"),
        };
        loop {
            // SAFETY: one valid `sembuf` that outlives the call.
            if unsafe { libc::semop(self.sem, &raw mut op, 1) } == 0 {
                return;
            }
            let err = io::Error::last_os_error();
            assert_eq!(err.kind(), io::ErrorKind::Interrupted, "semop: {err}");
        }
    }

    /// Reads the map under the semaphore.
    fn read<R>(&self, f: impl FnOnce(&Map) -> R) -> R {
        self.semop(-1);
        // SAFETY: the segment is MAP_ROOM bytes, guarded by the semaphore.
        let result = f(&unsafe { load_map(self.base) });
        self.semop(1);
        result
    }

    /// Reads, changes and writes back the map under the semaphore.
    fn with_map(&self, f: impl FnOnce(&mut Map)) {
        self.semop(-1);
        // SAFETY: as in `read`.
        let mut map = unsafe { load_map(self.base) };
        f(&mut map);
        // SAFETY: as in `read`.
        unsafe { store_map(self.base, &map) };
        self.semop(1);
    }
}

impl Drop for SemStore {
    fn drop(&mut self) {
        // SAFETY: `base` came from shmat; IPC_RMID takes no buffer. Only
        // the creator removes (a forked helper leaves with `_exit` anyway).
        unsafe {
            libc::shmdt(self.base.cast());
            if self.creator == std::process::id() {
                libc::shmctl(self.shm, libc::IPC_RMID, std::ptr::null_mut());
                libc::semctl(self.sem, 0, libc::IPC_RMID);
            }
        }
    }
}

/// The peer: the map in a `shared_memory` region under a `raw_sync` mutex.
struct PeerStore {
    lock: Box<dyn LockImpl>,
    _shmem: Shmem,
}

impl PeerStore {
    fn new() -> Self {
        let shmem = ShmemConf::new()
            .size(64 + MAP_ROOM)
            .create()
            .expect("shared_memory create");
        let base = shmem.as_ptr();
        // SAFETY: the region is 64 + MAP_ROOM bytes: the mutex takes the
        // first 64 (raw_sync's pthread mutex is 40), the map the rest.
        let (lock, _) = unsafe { RawSyncMutex::new(base, base.add(64)) }.expect("raw_sync Mutex");
        let store = Self {
            lock,
            _shmem: shmem,
        };
        let guard = store.lock.lock().expect("lock");
        // SAFETY: the guard's data pointer is MAP_ROOM bytes the mutex guards.
        unsafe { store_map(*guard, &initial_map()) };
        drop(guard);
        store
    }

    fn read<R>(&self, f: impl FnOnce(&Map) -> R) -> R {
        let guard = self.lock.lock().expect("lock");
        // SAFETY: the guard's data pointer is MAP_ROOM bytes the mutex guards.
        let result = f(&unsafe { load_map(*guard) });
        drop(guard);
        result
    }

    fn with_map(&self, f: impl FnOnce(&mut Map)) {
        let guard = self.lock.lock().expect("lock");
        // SAFETY: as in `read`.
        let mut map = unsafe { load_map(*guard) };
        f(&mut map);
        // SAFETY: as in `read`.
        unsafe { store_map(*guard, &map) };
        drop(guard);
    }
}

fn data_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("shm: SharedData get (small value, uncontended)");
    let data = store();
    group.bench_function("forkwise", |b| {
        b.iter(|| black_box(data.get::<u64>(black_box(KEY)).expect("get")));
    });
    let floor = SemStore::new();
    group.bench_function("floor", |b| {
        b.iter(|| black_box(floor.read(|map| map.get(black_box(KEY)).copied())));
    });
    let peer = PeerStore::new();
    group.bench_function("peer:shared_memory+raw_sync", |b| {
        b.iter(|| black_box(peer.read(|map| map.get(black_box(KEY)).copied())));
    });
    group.finish();
}

fn data_set(c: &mut Criterion) {
    let mut group = c.benchmark_group("shm: SharedData set (small value, uncontended)");
    let data = store();
    let mut n = 0u64;
    group.bench_function("forkwise", |b| {
        b.iter(|| {
            n += 1;
            black_box(data.set(black_box(KEY), &n).expect("set"));
        });
    });
    let floor = SemStore::new();
    group.bench_function("floor", |b| {
        b.iter(|| {
            n += 1;
            floor.with_map(|map| {
                map.insert(black_box(KEY).to_owned(), n);
            });
        });
    });
    let peer = PeerStore::new();
    group.bench_function("peer:shared_memory+raw_sync", |b| {
        b.iter(|| {
            n += 1;
            peer.with_map(|map| {
                map.insert(black_box(KEY).to_owned(), n);
            });
        });
    });
    group.finish();
}

/// Times `iters` calls of `op` while a helper process runs `op` in a loop
/// until told to stop.
fn contended(iters: u64, op: &dyn Fn()) -> std::time::Duration {
    let stop = SharedArray::<u64>::anonymous(2).expect("flags");
    let helper = fork(|| {
        stop.set(1, 1).expect("started");
        while stop.get(0).expect("stop flag") == 0 {
            op();
        }
    });
    while stop.get(1).expect("started flag") == 0 {
        std::hint::spin_loop();
    }
    let started = Instant::now();
    for _ in 0..iters {
        op();
    }
    let took = started.elapsed();
    stop.set(0, 1).expect("stop");
    helper.join();
    took
}

fn data_contended_update(c: &mut Criterion) {
    let mut group = c.benchmark_group("shm: SharedData update, 2 processes on one key");
    let data = store();
    group.bench_function("forkwise", |b| {
        b.iter_custom(|iters| {
            contended(iters, &|| {
                data.update(KEY, |n: Option<u64>| n.unwrap_or(0) + 1)
                    .expect("update");
            })
        });
    });
    let floor = SemStore::new();
    group.bench_function("floor", |b| {
        b.iter_custom(|iters| {
            contended(iters, &|| {
                floor.with_map(|map| *map.entry(KEY.to_owned()).or_insert(0) += 1);
            })
        });
    });
    let peer = PeerStore::new();
    group.bench_function("peer:shared_memory+raw_sync", |b| {
        b.iter_custom(|iters| {
            contended(iters, &|| {
                peer.with_map(|map| *map.entry(KEY.to_owned()).or_insert(0) += 1);
            })
        });
    });
    group.finish();
}

/// A raw shared anonymous page holding atomics: the arrays' floor.
struct RawPage(*mut libc::c_void);

impl RawPage {
    const LEN: usize = 4096;

    fn new() -> Self {
        // SAFETY: a new anonymous shared mapping aliases nothing.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(
            ptr,
            libc::MAP_FAILED,
            "mmap: {}",
            io::Error::last_os_error()
        );
        Self(ptr)
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        assert!(i < Self::LEN / 8);
        // SAFETY: the page is mapped while `self` lives, zero-filled, page
        // aligned, and only ever accessed through atomics.
        unsafe { &*self.0.cast::<AtomicU64>().add(i) }
    }
}

impl Drop for RawPage {
    fn drop(&mut self) {
        // SAFETY: the mapping from `new`; every borrow of `self` has ended.
        unsafe { libc::munmap(self.0, Self::LEN) };
    }
}

fn array(c: &mut Criterion) {
    let array = SharedArray::<u64>::anonymous(16).expect("SharedArray");
    let raw = RawPage::new();
    let i = 7;

    let mut group = c.benchmark_group("shm: SharedArray<u64> get");
    group.bench_function("forkwise", |b| {
        b.iter(|| black_box(array.get(black_box(i)).expect("get")));
    });
    group.bench_function("floor", |b| {
        b.iter(|| black_box(raw.word(black_box(i)).load(Ordering::Acquire)));
    });
    group.finish();

    let mut group = c.benchmark_group("shm: SharedArray<u64> set");
    group.bench_function("forkwise", |b| {
        b.iter(|| array.set(black_box(i), black_box(5)).expect("set"));
    });
    group.bench_function("floor", |b| {
        b.iter(|| {
            raw.word(black_box(i))
                .store(black_box(5), Ordering::Release);
        });
    });
    group.finish();

    let mut group = c.benchmark_group("shm: SharedArray<u64> fetch_add");
    group.bench_function("forkwise", |b| {
        b.iter(|| black_box(array.fetch_add(black_box(i), 1).expect("fetch_add")));
    });
    group.bench_function("floor", |b| {
        b.iter(|| black_box(raw.word(black_box(i)).fetch_add(1, Ordering::AcqRel)));
    });
    group.finish();
}
