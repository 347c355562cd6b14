//! Crash recovery: a process killed (`SIGKILL`) while it holds the store's lock in
//! the middle of a write. The test hooks (`forkwise_shm::hooks`) pause the
//! writer at a chosen point; the test then kills it.

use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use forkwise_shm::hooks::{self, Point};
use forkwise_shm::{Capacity, Error, SharedArray, SharedData};
use forkwise_testkit::{Child, Notify, SharedCounters, fork};

use crate::support::{between, now_ns, unique, wait_to_be_killed};

/// A value whose encoding spans many words: torn, it would mix 1s and 2s.
fn value(n: u64) -> Vec<u64> {
    vec![n; 64]
}

fn assert_whole(v: &[u64]) {
    assert!(v.iter().all(|x| *x == v[0]), "torn value: {v:?}");
    assert_eq!(v.len(), 64);
}

/// Forks a writer that opens the store `name`, pauses at the `nth`
/// time it reaches `point` (telling `paused`), and waits to be killed.
fn paused_writer(
    name: &str,
    point: Point,
    nth: usize,
    paused: &Arc<Notify>,
    write: impl FnOnce(&SharedData),
) -> Child {
    let paused = Arc::clone(paused);
    fork(move || {
        let data = SharedData::open(name).unwrap();
        let reached = std::sync::atomic::AtomicUsize::new(0);
        hooks::set(move |at| {
            if at == point && reached.fetch_add(1, SeqCst) + 1 == nth {
                paused.notify();
                wait_to_be_killed();
            }
        });
        write(&data);
        panic!("the writer was not paused at {point:?}");
    })
}

/// Runs `write` in a [`paused_writer`] and kills it where it paused.
fn kill_paused_writer(name: &str, point: Point, nth: usize, write: impl FnOnce(&SharedData)) {
    let paused = Arc::new(Notify::new());
    let writer = paused_writer(name, point, nth, &paused, write);
    paused.wait();
    writer.kill(libc::SIGKILL);
    writer.join_killed_by(libc::SIGKILL);
}

/// The writer is killed half-way through a value: a process already
/// waiting for the lock gets it within 100 ms of the kill, and it, a
/// lock-free reader and later readers all see the old value, whole.
pub(crate) fn killed_mid_update_is_recovered_within_100ms() {
    let name = unique("crash-mid");
    let data = SharedData::create(&name, Capacity::new(8, 1024)).unwrap();
    data.set("k", &value(1)).unwrap();
    let paused = Arc::new(Notify::new());
    let writer = paused_writer(&name, Point::MidValue, 1, &paused, |data| {
        data.set("k", &value(2)).unwrap();
    });
    paused.wait();

    // A process blocks in `update` behind the paused writer.
    let times = SharedCounters::new(2); // [0] kill time, [1] waiter's lock time
    let waiting = Notify::new();
    let waiter = fork(|| {
        waiting.notify();
        data.update("k", |old: Option<Vec<u64>>| {
            let old = old.unwrap();
            assert_whole(&old);
            assert_eq!(old[0], 1, "the half-written value was discarded");
            times[1].store(now_ns(), SeqCst);
            value(3)
        })
        .unwrap();
    });
    waiting.wait();
    std::thread::sleep(Duration::from_millis(50)); // the waiter is blocked by now
    assert_eq!(times[1].load(SeqCst), 0, "the waiter got past a held lock");

    times[0].store(now_ns(), SeqCst);
    writer.kill(libc::SIGKILL);
    writer.join_killed_by(libc::SIGKILL);
    waiter.join();
    let took = between(times[0].load(SeqCst), times[1].load(SeqCst));
    assert!(took < Duration::from_millis(100), "recovery took {took:?}");
    assert_eq!(data.get::<Vec<u64>>("k").unwrap(), Some(value(3)));
    assert_eq!(data.recoveries(), 1);
}

/// With no one waiting, the next reader recovers: it finds the store
/// mid-write, takes the lock, repairs it, and reads the old value.
pub(crate) fn next_reader_recovers_a_dead_writer() {
    let name = unique("crash-reader");
    let data = SharedData::create(&name, Capacity::new(8, 1024)).unwrap();
    data.set("k", &value(1)).unwrap();
    data.set("other", &"untouched").unwrap();
    kill_paused_writer(&name, Point::MidValue, 1, |data| {
        data.set("k", &value(2)).unwrap();
    });

    let started = Instant::now();
    let read = data.get::<Vec<u64>>("k").unwrap().unwrap();
    let took = started.elapsed();
    assert_eq!(read, value(1));
    assert!(took < Duration::from_millis(100), "recovery took {took:?}");
    assert_eq!(data.recoveries(), 1);
    assert_eq!(
        data.get::<String>("other").unwrap().as_deref(),
        Some("untouched")
    );
    assert_eq!(data.len().unwrap(), 2);
    data.set("k", &value(2)).unwrap();
    assert_eq!(data.get::<Vec<u64>>("k").unwrap(), Some(value(2)));
}

/// A writer killed while inserting a new key: the key is absent afterwards,
/// its slot is free again, and the store is as full as before.
pub(crate) fn killed_insert_leaves_no_trace() {
    let name = unique("crash-insert");
    let data = SharedData::create(&name, Capacity::new(2, 1024)).unwrap();
    data.set("a", &value(1)).unwrap();
    kill_paused_writer(&name, Point::MidValue, 1, |data| {
        data.set("new", &value(2)).unwrap();
    });
    assert_eq!(data.get::<Vec<u64>>("new").unwrap(), None);
    assert_eq!(data.len().unwrap(), 1);
    assert_eq!(data.keys().unwrap().len(), 1);
    data.set("b", &value(3)).unwrap(); // the slot is free again
    assert!(data.set("c", &value(3)).unwrap_err().is_full());
}

/// A writer killed after its commit but before unlocking: the write stays.
pub(crate) fn killed_after_commit_keeps_the_write() {
    let name = unique("crash-commit");
    let data = SharedData::create(&name, Capacity::new(8, 1024)).unwrap();
    data.set("k", &value(1)).unwrap();
    kill_paused_writer(&name, Point::Committed, 1, |data| {
        data.set("k", &value(2)).unwrap();
    });
    assert_eq!(data.get::<Vec<u64>>("k").unwrap(), Some(value(2)));
    assert_eq!(data.recoveries(), 1);
}

/// A writer killed in the middle of a transaction's second value (after
/// a removal and a first write): every key is as before the transaction,
/// and the index and free stack match the restored entries.
pub(crate) fn killed_transaction_is_rolled_back_whole() {
    let name = unique("crash-tx");
    let data = SharedData::create(&name, Capacity::new(8, 1024)).unwrap();
    data.set("victim", &value(7)).unwrap();
    data.set("from", &value(10)).unwrap();
    data.set("to", &value(0)).unwrap();
    kill_paused_writer(&name, Point::MidValue, 2, |data| {
        data.transaction(|tx| {
            assert!(tx.remove("victim")?);
            tx.set("from", &value(9))?;
            tx.set("new", &value(3))?;
            tx.set("to", &value(1))?;
            Ok::<_, Error>(())
        })
        .unwrap();
    });
    assert_eq!(data.get::<Vec<u64>>("from").unwrap(), Some(value(10)));
    assert_eq!(data.get::<Vec<u64>>("to").unwrap(), Some(value(0)));
    assert_eq!(data.get::<Vec<u64>>("victim").unwrap(), Some(value(7)));
    assert_eq!(data.get::<Vec<u64>>("new").unwrap(), None);
    assert_eq!(data.len().unwrap(), 3);
    assert_eq!(data.keys().unwrap().len(), 3);
    // The free stack was rebuilt: exactly 5 more keys fit.
    for n in 0..5 {
        data.set(n, &n).unwrap();
    }
    assert!(data.set(5, &5).unwrap_err().is_full());
}

/// The recovering process is killed too, half-way through its recovery:
/// the next one starts over and still finds the old value.
pub(crate) fn killed_recovery_is_recovered() {
    let name = unique("crash-twice");
    let data = SharedData::create(&name, Capacity::new(8, 1024)).unwrap();
    data.set("k", &value(1)).unwrap();
    let paused = Arc::new(Notify::new());
    let writer = paused_writer(&name, Point::MidValue, 1, &paused, |data| {
        data.set("k", &value(2)).unwrap();
    });
    paused.wait();
    writer.kill(libc::SIGKILL);
    writer.join_killed_by(libc::SIGKILL);
    let recoverer = paused_writer(&name, Point::MidRecovery, 1, &paused, |data| {
        data.get::<Vec<u64>>("k").unwrap();
    });
    paused.wait();
    recoverer.kill(libc::SIGKILL);
    recoverer.join_killed_by(libc::SIGKILL);
    assert_eq!(data.get::<Vec<u64>>("k").unwrap(), Some(value(1)));
    assert_eq!(data.recoveries(), 1, "the killed recovery did not count");
}

/// A `SharedArray` writer of a large element killed mid-write: readers see
/// the old value whole at once, and the next writer takes over the
/// element from the dead one.
pub(crate) fn killed_array_writer_leaves_the_old_element() {
    let array = SharedArray::<[u64; 8]>::anonymous(2).unwrap();
    array.set(1, [1; 8]).unwrap();
    let paused = Arc::new(Notify::new());
    let writer = {
        let paused = Arc::clone(&paused);
        fork(|| {
            hooks::set(move |at| {
                if at == Point::MidElement {
                    paused.notify();
                    wait_to_be_killed();
                }
            });
            array.set(1, [2; 8]).unwrap();
        })
    };
    paused.wait();
    assert_eq!(
        array.get(1).unwrap(),
        [1; 8],
        "a reader does not wait for the paused writer"
    );
    writer.kill(libc::SIGKILL);
    writer.join_killed_by(libc::SIGKILL);
    assert_eq!(array.get(1).unwrap(), [1; 8]);
    let started = Instant::now();
    array.set(1, [3; 8]).unwrap();
    let took = started.elapsed();
    assert_eq!(array.get(1).unwrap(), [3; 8]);
    assert!(
        took < Duration::from_millis(100),
        "taking over took {took:?}"
    );
    assert_eq!(array.get(0).unwrap(), [0; 8], "the neighbour is untouched");
}
