//! Benchmarks of forkwise-sysv, run by `cargo xtask bench sysv` (see
//! `xtask/src/bench.rs` for the method: rounds, medians, floor and peers).
//!
//! Every operation is a criterion group named after the operation; its
//! functions are `forkwise` (this crate) and `floor` (the same operation
//! written directly on libc, here in this file). No maintained crate wraps
//! SysV IPC, so there are no peers. The operations:
//!
//! - semaphore acquire+release (uncontended): [`Semaphore::acquire`] and the
//!   guard's drop, against two raw `semop(2)` calls with `SEM_UNDO`;
//! - queue send+receive of 64 raw bytes, in one process:
//!   [`Queue::send_bytes`] + [`Queue::receive_bytes_into`] (a reused
//!   buffer) against raw `msgsnd`/`msgrcv` into one `msgmax`-sized buffer.
//!   [`Queue::receive_bytes`] returns a new `Vec` each time, which costs one
//!   small allocation more;
//! - queue send+receive of a typed value (a job: integers and a path)
//!   whose encoding is 64 bytes: [`Queue::send`] + [`Queue::receive`]
//!   against the same raw floor, so that `typed / raw` is the cost of the
//!   codec;
//! - a queue round trip between two processes: this one sends 64 bytes of
//!   type 1, a helper process receives them and answers with type 2 (one
//!   untimed trip first, so that the helper's start is not measured).
//!
//! The round trip forks. Forking is only sound in a process with one thread:
//! criterion without its `rayon` feature starts none, and
//! `forkwise_testkit::fork` checks `/proc/self/task` before every fork.

use std::hint::black_box;
use std::io;
use std::time::Instant;

use criterion::Criterion;
use forkwise_sysv::{Key, Queue, Selector, Semaphore};
use forkwise_testkit::fork;
use serde::{Deserialize, Serialize};

fn main() {
    let mut c = Criterion::default().configure_from_args();
    semaphore(&mut c);
    queue_raw(&mut c);
    queue_typed(&mut c);
    round_trip(&mut c);
    c.final_summary();
}

/// Panics with the OS error unless `ret` is 0 or more, as `unwrap` would.
fn check(ret: isize, what: &str) {
    assert!(ret >= 0, "{what}: {}", io::Error::last_os_error());
}

/// A raw one-semaphore set holding `value`, removed on drop: the floor's own.
struct RawSet(i32);

impl RawSet {
    fn new(value: i32) -> Self {
        // SAFETY: semget takes three integers.
        let id = unsafe { libc::semget(libc::IPC_PRIVATE, 1, libc::IPC_CREAT | 0o600) };
        check(id as isize, "semget");
        // SAFETY: SETVAL takes an int as its fourth argument (`union semun`'s
        // first member; passed as such on x86-64).
        check(
            unsafe { libc::semctl(id, 0, libc::SETVAL, value) } as isize,
            "SETVAL",
        );
        Self(id)
    }

    fn change(&self, delta: i16) {
        let mut op = libc::sembuf {
            sem_num: 0,
            sem_op: delta,
            sem_flg: i16::try_from(libc::SEM_UNDO).expect("SEM_UNDO fits a short"),
        };
        // SAFETY: one valid `sembuf` that outlives the call.
        check(
            unsafe { libc::semop(self.0, &raw mut op, 1) } as isize,
            "semop",
        );
    }
}

impl Drop for RawSet {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no fourth argument.
        unsafe { libc::semctl(self.0, 0, libc::IPC_RMID) };
    }
}

fn semaphore(c: &mut Criterion) {
    let mut group = c.benchmark_group("sysv: semaphore acquire+release");
    let semaphore = Semaphore::options()
        .remove_on_drop(true)
        .open(Key::private(), 1)
        .expect("Semaphore::open");
    group.bench_function("forkwise", |b| {
        b.iter(|| drop(black_box(semaphore.acquire().expect("acquire"))));
    });
    let raw = RawSet::new(1);
    group.bench_function("floor", |b| {
        b.iter(|| {
            black_box(&raw).change(-1);
            black_box(&raw).change(1);
        });
    });
    group.finish();
}

/// The size of every message benchmarked.
const PAYLOAD: usize = 64;

/// `struct msgbuf` with room for `N` bytes of text.
#[repr(C)]
struct RawMessage<const N: usize> {
    mtype: libc::c_long,
    text: [u8; N],
}

/// A raw message queue, removed on drop: the floor's own.
struct RawQueue {
    id: i32,
    /// A `msgmax`-sized receive buffer, as forkwise sizes its own.
    inbox: Box<RawMessage<8192>>,
}

impl RawQueue {
    fn new() -> Self {
        // SAFETY: msgget takes two integers.
        let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
        check(id as isize, "msgget");
        Self {
            id,
            inbox: Box::new(RawMessage {
                mtype: 0,
                text: [0; 8192],
            }),
        }
    }

    fn send(&self, mtype: libc::c_long, text: &[u8; PAYLOAD]) {
        let message = RawMessage { mtype, text: *text };
        // SAFETY: `message` is a `struct msgbuf` with `PAYLOAD` bytes of text.
        let ret = unsafe { libc::msgsnd(self.id, (&raw const message).cast(), PAYLOAD, 0) };
        check(ret as isize, "msgsnd");
    }

    fn receive(&mut self, msgtyp: libc::c_long) -> usize {
        let capacity = self.inbox.text.len();
        // SAFETY: `inbox` has room for a `long` and `capacity` bytes.
        let ret =
            unsafe { libc::msgrcv(self.id, (&raw mut *self.inbox).cast(), capacity, msgtyp, 0) };
        check(ret, "msgrcv");
        ret.unsigned_abs()
    }
}

impl Drop for RawQueue {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID ignores the buffer argument.
        unsafe { libc::msgctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) };
    }
}

fn private_queue() -> Queue {
    Queue::options()
        .remove_on_drop(true)
        .open(Key::private())
        .expect("Queue::open")
}

fn raw_floor(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let mut raw = RawQueue::new();
    let payload = [7u8; PAYLOAD];
    group.bench_function("floor", |b| {
        b.iter(|| {
            raw.send(1, black_box(&payload));
            black_box(raw.receive(0));
        });
    });
}

fn queue_raw(c: &mut Criterion) {
    let mut group = c.benchmark_group("sysv: queue raw 64-byte send+receive");
    let queue = private_queue();
    let payload = [7u8; PAYLOAD];
    // Like the floor, receive into one buffer reused for every message.
    let mut inbox = Vec::with_capacity(queue.max_message_size());
    group.bench_function("forkwise", |b| {
        b.iter(|| {
            queue
                .send_bytes(1, black_box(&payload))
                .expect("send_bytes");
            let mtype = queue.receive_bytes_into(Selector::Any, &mut inbox);
            black_box((mtype.expect("receive_bytes_into"), &inbox));
        });
    });
    raw_floor(&mut group);
    group.finish();
}

/// A job as a queue would carry it, whose postcard encoding is exactly 64
/// bytes: varint integers and a string, the common shape of a message.
/// (Byte arrays are serde's slow case: `[u8; N]` is encoded one element at
/// a time; `serde_bytes` makes them one copy.)
#[derive(Serialize, Deserialize, Clone)]
struct Job {
    id: u64,
    attempt: u32,
    deadline_ms: u64,
    path: String,
}

fn queue_typed(c: &mut Criterion) {
    let mut group = c.benchmark_group("sysv: queue typed 64-byte send+receive");
    let queue = private_queue();
    let job = Job {
        id: 1_000_000,
        attempt: 2,
        deadline_ms: 1_700_000_000_000,
        path: "/var/spool/forkwise/jobs/2024/thumbnail-00042.json.gz".into(),
    };
    assert_eq!(postcard::to_allocvec(&job).unwrap().len(), PAYLOAD);
    group.bench_function("forkwise", |b| {
        b.iter(|| {
            queue.send(1, black_box(&job)).expect("send");
            black_box(queue.receive::<Job>(Selector::Any).expect("receive"));
        });
    });
    raw_floor(&mut group);
    group.finish();
}

fn round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("sysv: queue round trip between processes");
    group.sample_size(30);
    group.bench_function("forkwise", |b| {
        b.iter_custom(|iters| {
            let queue = private_queue();
            let payload = [7u8; PAYLOAD];
            let helper = fork(|| {
                loop {
                    let (mtype, text) = queue
                        .receive_bytes(Selector::LowestUpTo(3))
                        .expect("helper receive");
                    if mtype == 3 {
                        break;
                    }
                    queue.send_bytes(2, &text).expect("helper send");
                }
            });
            // One untimed trip: the helper has started and faulted its pages in.
            queue.send_bytes(1, &payload).expect("send_bytes");
            queue.receive_bytes(Selector::Exact(2)).expect("receive");
            let started = Instant::now();
            for _ in 0..iters {
                queue.send_bytes(1, &payload).expect("send_bytes");
                black_box(queue.receive_bytes(Selector::Exact(2)).expect("receive"));
            }
            let took = started.elapsed();
            queue.send_bytes(3, b"").expect("send the stop");
            helper.join();
            took
        });
    });
    group.bench_function("floor", |b| {
        b.iter_custom(|iters| {
            let mut raw = RawQueue::new();
            let payload = [7u8; PAYLOAD];
            let helper = fork(|| {
                let mut mine = RawQueue {
                    id: raw.id,
                    inbox: Box::new(RawMessage {
                        mtype: 0,
                        text: [0; 8192],
                    }),
                };
                loop {
                    mine.receive(-3);
                    if mine.inbox.mtype == 3 {
                        // The parent removes the queue, not this copy.
                        std::mem::forget(mine);
                        return;
                    }
                    let text: [u8; PAYLOAD] = mine.inbox.text[..PAYLOAD].try_into().unwrap();
                    mine.send(2, &text);
                }
            });
            raw.send(1, &payload);
            raw.receive(2);
            let started = Instant::now();
            for _ in 0..iters {
                raw.send(1, &payload);
                black_box(raw.receive(2));
            }
            let took = started.elapsed();
            raw.send(3, &payload);
            helper.join();
            took
        });
    });
    group.finish();
}
