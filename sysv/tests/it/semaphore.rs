//! `Semaphore` across processes.

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use forkwise_sysv::{Error, Key, Semaphore};
use forkwise_testkit::{Child, Notify, SharedCounters, TempDir, fork, storm, through_storm};

use crate::support::{
    RawSemaphoreSet, count_sigusr1_without_restart, eventually, file_key, my_pid, sigusr1_count,
};

/// Eight processes open Semaphore(key, 3) themselves and take units 200
/// times each: never more than three inside at once, and three at times.
pub(crate) fn never_more_than_max_holders() {
    let dir = TempDir::new("sysv-sem-max");
    let key = file_key(&dir, "key");
    let semaphore = Semaphore::options()
        .remove_on_drop(true)
        .open(&key, 3)
        .unwrap();
    // [0] holders inside now, [1] most inside at once, [2] entries in total
    let counters = SharedCounters::new(3);
    let children: Vec<Child> = (0..8)
        .map(|_| {
            fork(|| {
                let mine = Semaphore::open(&key, 3).unwrap();
                assert!(!mine.created(), "the parent created it");
                for _ in 0..200 {
                    let unit = mine.acquire().unwrap();
                    let inside = counters[0].fetch_add(1, SeqCst) + 1;
                    counters[1].fetch_max(inside, SeqCst);
                    std::thread::sleep(Duration::from_micros(50));
                    counters[2].fetch_add(1, SeqCst);
                    counters[0].fetch_sub(1, SeqCst);
                    drop(unit);
                }
            })
        })
        .collect();
    children.into_iter().for_each(Child::join);
    let most = counters[1].load(SeqCst);
    assert!(most <= 3, "{most} processes held a unit at once");
    assert_eq!(most, 3, "eight busy processes never filled the three units");
    assert_eq!(counters[2].load(SeqCst), 1600);
    assert_eq!(semaphore.available().unwrap(), 3, "every unit came back");
}

/// A holder killed with SIGKILL gives its unit back (`SEM_UNDO`).
pub(crate) fn killed_holder_gives_its_unit_back() {
    let semaphore = Semaphore::options()
        .remove_on_drop(true)
        .open(Key::private(), 2)
        .unwrap();
    let held = Notify::new();
    let holder = fork(|| {
        let _unit = semaphore.acquire().unwrap();
        let _second = semaphore.acquire().unwrap();
        held.notify();
        std::thread::sleep(Duration::from_secs(60));
    });
    held.wait();
    assert_eq!(semaphore.available().unwrap(), 0);
    assert!(semaphore.try_acquire().unwrap().is_none());
    holder.kill(libc::SIGKILL);
    holder.join_killed_by(libc::SIGKILL);
    assert_eq!(
        semaphore.available().unwrap(),
        2,
        "the kernel gave the dead holder's units back"
    );
}

/// Undo records are not inherited across fork: a child that inherits a
/// held guard neither gives the unit back (dropping it, or exiting) nor
/// takes it with it; the unit comes back only when its taker dies.
pub(crate) fn undo_is_not_inherited_across_fork() {
    let semaphore = Semaphore::options()
        .remove_on_drop(true)
        .open(Key::private(), 3)
        .unwrap();
    let (held, leave) = (Notify::new(), Notify::new());
    let taker = fork(|| {
        let mut unit = Some(semaphore.acquire().unwrap());
        // A grandchild drops its copy of the guard, then exits. (Check
        // before it exits: had the drop given a unit back, the kernel would
        // undo that at its exit and hide it.)
        fork(|| {
            drop(unit.take());
            assert_eq!(
                semaphore.available().unwrap(),
                2,
                "the grandchild's drop gave its parent's unit back"
            );
        })
        .join();
        assert_eq!(
            semaphore.available().unwrap(),
            2,
            "the grandchild's drop gave the unit back"
        );
        // Another one takes a unit of its own and exits holding it.
        fork(|| std::mem::forget(semaphore.acquire().unwrap())).join();
        assert_eq!(
            semaphore.available().unwrap(),
            2,
            "the grandchild's own unit came back at its exit, and only that"
        );
        held.notify();
        leave.wait();
        drop(unit);
    });
    held.wait();
    assert_eq!(
        semaphore.available().unwrap(),
        2,
        "the taker still holds its unit"
    );
    taker.kill(libc::SIGKILL);
    taker.join_killed_by(libc::SIGKILL);
    assert_eq!(
        semaphore.available().unwrap(),
        3,
        "the taker's unit came back at its death"
    );
}

/// 100 times, four processes race to create Semaphore(key, 4) and each
/// takes a unit at once: exactly one creates it, and every one must find a
/// unit free, which an opener using the set before its creator initialised
/// it (value 0) would not. The creator's window is microseconds wide, so
/// this race rarely lands inside it; `openers_wait_for_a_slow_creator`
/// holds the window open to show that openers wait.
pub(crate) fn openers_never_see_an_uninitialised_set() {
    const RACERS: u32 = 4;
    let dir = TempDir::new("sysv-sem-race");
    let path = dir.join("key");
    std::fs::write(&path, b"").unwrap();
    // [0] the round that may start, [1] racers that found no unit free,
    // [2] creators
    let counters = SharedCounters::new(3);
    for round in 1..=100u8 {
        let key = forkwise_sysv::FileKey::with_project(&path, round).unwrap();
        let racers: Vec<Child> = (0..RACERS)
            .map(|_| {
                fork(|| {
                    while counters[0].load(SeqCst) != i64::from(round) {
                        std::hint::spin_loop();
                    }
                    let semaphore = Semaphore::open(&key, RACERS).unwrap();
                    if semaphore.created() {
                        counters[2].fetch_add(1, SeqCst);
                    }
                    match semaphore.try_acquire().unwrap() {
                        // Held until this process exits (SEM_UNDO gives it
                        // back), so that no racer sees another's unit twice.
                        Some(unit) => std::mem::forget(unit),
                        None => drop(counters[1].fetch_add(1, SeqCst)),
                    }
                })
            })
            .collect();
        counters[0].store(i64::from(round), SeqCst);
        racers.into_iter().for_each(Child::join);
        let set = Semaphore::options()
            .create(false)
            .open(&key, RACERS)
            .unwrap();
        assert_eq!(set.available().unwrap(), RACERS, "units came back at exit");
        set.remove().unwrap();
    }
    assert_eq!(counters[2].load(SeqCst), 100, "one creator per round");
    assert_eq!(
        counters[1].load(SeqCst),
        0,
        "a racer found no unit free: it used the set before its creator initialised it"
    );
}

/// A creator that takes its time between `semget` and initialising (a C
/// program following the same protocol, preempted): processes that open the
/// set meanwhile wait for it, then find every unit there.
pub(crate) fn openers_wait_for_a_slow_creator() {
    const OPENERS: u32 = 3;
    let dir = TempDir::new("sysv-sem-slow");
    let key = file_key(&dir, "key");
    // The creator's half of the protocol, by hand: create exclusively...
    let set = RawSemaphoreSet::create_exclusive(key.key(), 1);
    let ready = Notify::new();
    let openers: Vec<Child> = (0..OPENERS)
        .map(|_| {
            fork(|| {
                ready.notify();
                let started = Instant::now();
                let semaphore = Semaphore::open(&key, OPENERS).unwrap();
                let waited = started.elapsed();
                assert!(!semaphore.created());
                assert!(
                    waited >= Duration::from_millis(50),
                    "open returned after {waited:?}, before the creator initialised the set"
                );
                std::mem::forget(
                    semaphore
                        .try_acquire()
                        .unwrap()
                        .expect("a unit of the initialised set"),
                );
            })
        })
        .collect();
    (0..OPENERS).for_each(|_| ready.wait());
    std::thread::sleep(Duration::from_millis(100));
    // ...then set the value and stamp `sem_otime` with one operation.
    set.initialise(OPENERS);
    openers.into_iter().for_each(Child::join);
    let semaphore = Semaphore::options()
        .create(false)
        .open(&key, OPENERS)
        .unwrap();
    assert_eq!(semaphore.available().unwrap(), OPENERS);
}

/// A set created with another capacity is refused when that shows; a set
/// made by another program with more semaphores or never initialised is
/// refused with its own error.
pub(crate) fn mismatched_sets_are_refused() {
    let dir = TempDir::new("sysv-sem-mismatch");
    let key = file_key(&dir, "key");
    let three = Semaphore::options()
        .remove_on_drop(true)
        .open(&key, 3)
        .unwrap();
    match Semaphore::open(&key, 2) {
        Err(Error::CapacityMismatch {
            max: 2,
            available: 3,
            key: k,
        }) => {
            assert_eq!(k, *three.key());
        }
        other => panic!("expected CapacityMismatch, got {other:?}"),
    }
    let message = Semaphore::open(&key, 2).unwrap_err().to_string();
    assert!(
        message.contains(&key.path().display().to_string()),
        "{message}"
    );
    assert!(forkwise_sysv::Mutex::open(&key).is_err(), "not a mutex");
    let larger = Semaphore::open(&key, 5).unwrap();
    assert!(
        !larger.created(),
        "opened, not created: the creator's capacity holds"
    );
    assert!(matches!(
        Semaphore::open(&key, 0),
        Err(Error::InvalidCapacity { max: 0, .. })
    ));
    assert!(matches!(
        Semaphore::open(&key, 40_000),
        Err(Error::InvalidCapacity { max: 40_000, .. })
    ));
    let largest = Semaphore::options()
        .remove_on_drop(true)
        .open(Key::private(), 32_767)
        .unwrap();
    assert_eq!(largest.available().unwrap(), 32_767, "SEMVMX itself works");

    let other_program = file_key(&dir, "php").key().clone();
    let _three_sems = RawSemaphoreSet::create(&other_program, 3);
    match Semaphore::open(&other_program, 1) {
        Err(Error::SetSize { semaphores: 3, .. }) => {}
        other => panic!("expected SetSize, got {other:?}"),
    }

    let never_initialised = file_key(&dir, "dead-creator").key().clone();
    let raw = RawSemaphoreSet::create(&never_initialised, 1);
    let started = Instant::now();
    match Semaphore::options()
        .init_timeout(Duration::from_millis(100))
        .open(&never_initialised, 1)
    {
        Err(Error::Uninitialised { id, .. }) => assert_eq!(id, raw.0),
        other => panic!("expected Uninitialised, got {other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(100));
}

/// `exclusive` refuses an existing set; `create(false)` refuses a missing one.
pub(crate) fn exclusive_and_create_false() {
    let dir = TempDir::new("sysv-sem-excl");
    let key = file_key(&dir, "key");
    assert!(matches!(
        Semaphore::options().create(false).open(&key, 1),
        Err(Error::NotFound { .. })
    ));
    let first = Semaphore::options()
        .exclusive(true)
        .remove_on_drop(true)
        .open(&key, 1)
        .unwrap();
    assert!(first.created());
    assert!(matches!(
        Semaphore::options().exclusive(true).open(&key, 1),
        Err(Error::AlreadyExists { .. })
    ));
    let second = Semaphore::options().create(false).open(&key, 1).unwrap();
    assert_eq!(first.id(), second.id());
}

/// Forks a child that takes all units of `semaphore` for `duration`, and
/// waits until it holds them.
fn hold_all_for(semaphore: &Semaphore, duration: Duration) -> Child {
    let held = Notify::new();
    let child = fork(|| {
        let units: Vec<_> = (0..semaphore.max())
            .map(|_| semaphore.acquire().unwrap())
            .collect();
        held.notify();
        std::thread::sleep(duration);
        drop(units);
    });
    held.wait();
    child
}

/// SIGUSR1 every 100 µs, with a handler installed without `SA_RESTART`,
/// neither fails a blocking acquire nor ends it early.
pub(crate) fn signal_storm_during_blocking_acquire() {
    let semaphore = Semaphore::options()
        .remove_on_drop(true)
        .open(Key::private(), 1)
        .unwrap();
    let holder = hold_all_for(&semaphore, Duration::from_millis(300));
    let unit = through_storm(Duration::from_millis(250), || {
        semaphore
            .acquire()
            .expect("the storm must not fail the acquire")
    });
    drop(unit);
    holder.join();
}

/// The same storm during a timed acquire: it waits until the release, not
/// until the first signal or a timeout restarted from zero each time.
pub(crate) fn signal_storm_during_timed_acquire() {
    count_sigusr1_without_restart();
    let semaphore = Semaphore::options()
        .remove_on_drop(true)
        .open(Key::private(), 1)
        .unwrap();
    let holder = hold_all_for(&semaphore, Duration::from_millis(300));
    let signals = storm(my_pid(), libc::SIGUSR1, Duration::from_micros(100));
    let started = Instant::now();
    let unit = semaphore.acquire_timeout(Duration::from_secs(10)).unwrap();
    let waited = started.elapsed();
    assert!(unit.is_some(), "the unit was released within the timeout");
    drop(unit);
    holder.join();
    // Now a timed acquire that must time out, under the storm.
    let holder = hold_all_for(&semaphore, Duration::from_secs(2));
    let started = Instant::now();
    let unit = semaphore
        .acquire_timeout(Duration::from_millis(200))
        .unwrap();
    let timed_out_after = started.elapsed();
    drop(signals);
    assert!(unit.is_none());
    holder.kill(libc::SIGKILL);
    holder.join_killed_by(libc::SIGKILL);
    assert!(
        waited >= Duration::from_millis(250),
        "returned early, after {waited:?}"
    );
    assert!(
        timed_out_after >= Duration::from_millis(200)
            && timed_out_after < Duration::from_millis(400),
        "a 200 ms timeout under the storm took {timed_out_after:?}"
    );
    assert!(sigusr1_count() > 50, "only {} signals", sigusr1_count());
}

/// A timed acquire of an exhausted semaphore gives up on time; one of a
/// semaphore released meanwhile takes the unit at once.
pub(crate) fn timeout_is_honoured() {
    let semaphore = Semaphore::options()
        .remove_on_drop(true)
        .open(Key::private(), 2)
        .unwrap();
    let holder = hold_all_for(&semaphore, Duration::from_millis(150));
    let started = Instant::now();
    assert!(
        semaphore
            .acquire_timeout(Duration::from_millis(50))
            .unwrap()
            .is_none()
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(50) && waited < Duration::from_millis(65),
        "a 50 ms timeout took {waited:?}"
    );
    let unit = semaphore.acquire_timeout(Duration::from_secs(5)).unwrap();
    let waited = started.elapsed();
    assert!(unit.is_some());
    assert!(
        waited < Duration::from_millis(300),
        "took {waited:?} to notice the release"
    );
    drop(unit);
    holder.join();
}

/// Removing the set wakes a process blocked in `acquire` with `Removed`
/// (EIDRM), and later calls on any handle say `Removed` too.
pub(crate) fn removed_set_wakes_blocked_acquirer() {
    let semaphore = Semaphore::open(Key::private(), 1).unwrap();
    let _held = semaphore.acquire().unwrap();
    let blocked = fork(|| match semaphore.acquire() {
        Err(Error::Removed { source, .. }) => {
            assert_eq!(
                source.raw_os_error(),
                Some(libc::EIDRM),
                "woken, not refused"
            );
        }
        other => panic!("expected Removed, got {other:?}"),
    });
    eventually("the child waits", || semaphore.waiters().unwrap() == 1);
    semaphore.remove().unwrap();
    blocked.join();
    assert!(semaphore.available().unwrap_err().is_removed());
    assert!(semaphore.try_acquire().unwrap_err().is_removed());
    let err = semaphore.remove().unwrap_err();
    assert!(err.is_removed(), "{err}");
    assert_eq!(
        std::io::Error::from(err).kind(),
        std::io::ErrorKind::NotFound
    );
}

/// `waiters` counts the processes blocked in `acquire`.
pub(crate) fn waiters_counts_blocked_processes() {
    let semaphore = Semaphore::options()
        .remove_on_drop(true)
        .open(Key::private(), 1)
        .unwrap();
    let held = semaphore.acquire().unwrap();
    let waiting: Vec<Child> = (0..3)
        .map(|_| fork(|| drop(semaphore.acquire().unwrap())))
        .collect();
    eventually("three waiters", || semaphore.waiters().unwrap() == 3);
    drop(held);
    waiting.into_iter().for_each(Child::join);
    assert_eq!(semaphore.waiters().unwrap(), 0);
    assert_eq!(semaphore.available().unwrap(), 1);
}

/// A forked child dropping its copy of a remove-on-drop handle leaves the
/// set alone; the creator's drop removes it.
pub(crate) fn forked_child_never_removes_the_parents_set() {
    let dir = TempDir::new("sysv-sem-child-drop");
    let key = file_key(&dir, "key");
    let mut semaphore = Some(
        Semaphore::options()
            .remove_on_drop(true)
            .open(&key, 2)
            .unwrap(),
    );
    fork(|| drop(semaphore.take())).join();
    let opener = Semaphore::options().create(false).open(&key, 2).unwrap();
    assert_eq!(
        opener.available().unwrap(),
        2,
        "still there after the child's drop"
    );
    fork(move || drop(opener)).join();
    drop(semaphore);
    assert!(
        matches!(
            Semaphore::options().create(false).open(&key, 2),
            Err(Error::NotFound { .. })
        ),
        "the creator's drop removed it"
    );
}
