//! `Mutex` across processes.

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use forkwise_sysv::{Key, Mutex};
use forkwise_testkit::{Child, Notify, SharedCounters, fork};

/// Four processes take turns 200 times each; no two are ever inside together.
pub(crate) fn exclusion_between_processes() {
    let mutex = Mutex::options()
        .remove_on_drop(true)
        .open(Key::private())
        .unwrap();
    // [0] holders inside now, [1] overlaps seen, [2] entries in total
    let counters = SharedCounters::new(3);
    let children: Vec<Child> = (0..4)
        .map(|_| {
            fork(|| {
                for _ in 0..200 {
                    let guard = mutex.lock().unwrap();
                    if counters[0].fetch_add(1, SeqCst) != 0 {
                        counters[1].fetch_add(1, SeqCst);
                    }
                    std::thread::yield_now();
                    counters[2].fetch_add(1, SeqCst);
                    counters[0].fetch_sub(1, SeqCst);
                    drop(guard);
                }
            })
        })
        .collect();
    children.into_iter().for_each(Child::join);
    assert_eq!(
        counters[1].load(SeqCst),
        0,
        "two holders were inside at once"
    );
    assert_eq!(counters[2].load(SeqCst), 800);
    assert!(!mutex.is_locked().unwrap());
}

/// A holder killed with SIGKILL unlocks the mutex.
pub(crate) fn killed_holder_unlocks() {
    let mutex = Mutex::options()
        .remove_on_drop(true)
        .open(Key::private())
        .unwrap();
    let held = Notify::new();
    let holder = fork(|| {
        let _guard = mutex.lock().unwrap();
        held.notify();
        std::thread::sleep(Duration::from_secs(60));
    });
    held.wait();
    assert!(mutex.is_locked().unwrap());
    assert!(mutex.try_lock().unwrap().is_none());
    holder.kill(libc::SIGKILL);
    holder.join_killed_by(libc::SIGKILL);
    assert!(
        mutex.try_lock().unwrap().is_some(),
        "unlocked by the holder's death"
    );
}

/// `lock_timeout` gives up on time while another process holds the mutex,
/// and `unlock` frees it for that process at once.
pub(crate) fn lock_timeout_and_unlock() {
    let mutex = Mutex::options()
        .remove_on_drop(true)
        .open(Key::private())
        .unwrap();
    let guard = mutex.lock().unwrap();
    let timed_out = Notify::new();
    let child = fork(|| {
        let started = Instant::now();
        assert!(
            mutex
                .lock_timeout(Duration::from_millis(40))
                .unwrap()
                .is_none()
        );
        assert!(started.elapsed() >= Duration::from_millis(40));
        timed_out.notify();
        let started = Instant::now();
        let guard = mutex.lock_timeout(Duration::from_secs(5)).unwrap();
        assert!(guard.is_some(), "unlocked in time");
        assert!(started.elapsed() < Duration::from_secs(1));
    });
    timed_out.wait();
    std::thread::sleep(Duration::from_millis(20));
    guard.unlock().unwrap();
    child.join();
}
