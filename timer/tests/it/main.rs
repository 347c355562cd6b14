//! Cross-process tests of forkwise-timer: each case runs in a forked process
//! of its own (see `forkwise_testkit`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use forkwise_testkit::{SharedCounters, fork};
use forkwise_timer::{Error, Tick, Timer};

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        three_timers_fire_the_right_number_of_times,
        a_busy_pause_reports_the_missed_ticks,
        ticks_are_due_on_a_fixed_grid,
        stop_and_drop_stop_firing,
        a_callback_can_stop_its_own_timer,
        once_fires_once,
        the_default_interval_is_one_second,
        a_childs_timer_does_not_fire_in_the_parent,
        a_parents_timer_does_not_fire_in_the_child,
        too_short_an_interval_is_refused,
    ]);
}

/// Dispatches signals until `until` passes.
fn dispatch_until(until: Instant) {
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        forkwise_signal::wait(Some(left)).unwrap();
    }
}

/// Dispatches until `condition` holds; panics after 10 s.
fn dispatch_until_true(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        forkwise_signal::wait(Some(Duration::from_millis(100))).unwrap();
    }
}

/// A timer whose callback adds every tick it accounts for (1 + missed) to `count`.
fn counting(interval: Duration, count: &Arc<AtomicU64>) -> Timer {
    let count = Arc::clone(count);
    Timer::every(interval, move |tick| {
        count.fetch_add(1 + tick.missed, Ordering::Relaxed);
    })
    .unwrap()
}

/// Whether this process catches the timer signal (its bit in `SigCgt`).
fn catches_timer_signal() -> bool {
    forkwise_testkit::caught(forkwise_timer::timer_signal().unwrap().as_raw())
}

/// The kernel's POSIX timers of this process, from /proc/self/timers.
fn kernel_timers() -> usize {
    std::fs::read_to_string("/proc/self/timers")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("ID:"))
        .count()
}

/// Timers at 10, 25 and 40 ms for one second account for 100, 40 and 25
/// ticks, within one tick.
fn three_timers_fire_the_right_number_of_times() {
    let counts: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let intervals = [10u64, 25, 40];
    let started = Instant::now();
    let timers: Vec<Timer> = intervals
        .iter()
        .zip(&counts)
        .map(|(ms, count)| counting(Duration::from_millis(*ms), count))
        .collect();
    assert_eq!(kernel_timers(), 3);
    dispatch_until(started + Duration::from_secs(1));
    drop(timers);
    assert_eq!(
        kernel_timers(),
        0,
        "stopped timers are deleted from the kernel"
    );
    for (ms, count) in intervals.iter().zip(&counts) {
        let expected = 1000 / ms;
        let got = count.load(Ordering::Relaxed);
        assert!(
            got.abs_diff(expected) <= 1,
            "the {ms} ms timer accounted for {got} ticks, expected {expected}"
        );
    }
}

/// A 300 ms busy pause without dispatching: the next callback reports the
/// ticks missed meanwhile, and no tick is lost from the count.
fn a_busy_pause_reports_the_missed_ticks() {
    let ticks = Arc::new(std::sync::Mutex::new(Vec::<Tick>::new()));
    let seen = Arc::clone(&ticks);
    let timer = Timer::every(Duration::from_millis(10), move |tick| {
        seen.lock().unwrap().push(tick);
    })
    .unwrap();
    dispatch_until_true("the first tick", || timer.ticks() >= 1);
    let busy_until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < busy_until {
        std::hint::spin_loop();
    }
    dispatch_until_true("a tick after the pause", || {
        ticks.lock().unwrap().len() >= 2
    });
    timer.stop();
    let ticks = ticks.lock().unwrap();
    let after_pause = ticks
        .iter()
        .find(|t| t.missed > 0)
        .expect("a tick reports missed ones");
    assert!(
        after_pause.missed >= 25,
        "only {} missed over a 300 ms pause at 10 ms",
        after_pause.missed
    );
    let accounted: u64 = ticks.iter().map(|t| 1 + t.missed).sum();
    assert_eq!(
        accounted,
        ticks.last().unwrap().number,
        "every tick is delivered or reported missed"
    );
}

/// Tick n is due at start + n x interval: the due times form an exact grid
/// and callbacks are never early.
fn ticks_are_due_on_a_fixed_grid() {
    let ticks = Arc::new(std::sync::Mutex::new(Vec::<(Tick, Instant)>::new()));
    let seen = Arc::clone(&ticks);
    let timer = Timer::every(Duration::from_millis(7), move |tick| {
        seen.lock().unwrap().push((tick, Instant::now()));
    })
    .unwrap();
    dispatch_until_true("20 ticks", || timer.ticks() >= 20);
    drop(timer);
    let ticks = ticks.lock().unwrap();
    let (first, _) = ticks[0];
    let start = first
        .due
        .checked_sub(Duration::from_millis(7) * u32::try_from(first.number).unwrap())
        .unwrap();
    for (tick, ran) in ticks.iter() {
        assert_eq!(
            tick.due,
            start + Duration::from_millis(7) * u32::try_from(tick.number).unwrap()
        );
        assert!(
            *ran >= tick.due,
            "tick {} ran before it was due",
            tick.number
        );
    }
}

/// After `stop` (or drop) no callback runs and the kernel timer is gone.
fn stop_and_drop_stop_firing() {
    for drop_it in [false, true] {
        let count = Arc::new(AtomicU64::new(0));
        let timer = counting(Duration::from_millis(5), &count);
        assert!(catches_timer_signal());
        dispatch_until_true("3 ticks", || count.load(Ordering::Relaxed) >= 3);
        if drop_it {
            drop(timer);
        } else {
            timer.stop();
            assert!(!timer.is_active());
        }
        assert_eq!(kernel_timers(), 0);
        assert!(
            !catches_timer_signal(),
            "the last timer's stop restores the signal's disposition"
        );
        let stopped_at = count.load(Ordering::Relaxed);
        dispatch_until(Instant::now() + Duration::from_millis(60));
        assert_eq!(
            count.load(Ordering::Relaxed),
            stopped_at,
            "fired after stop (drop: {drop_it})"
        );
    }
}

/// A callback that stops its own timer neither deadlocks nor fires again.
fn a_callback_can_stop_its_own_timer() {
    let slot: Arc<std::sync::Mutex<Option<Timer>>> = Arc::default();
    let count = Arc::new(AtomicU64::new(0));
    let (inner_slot, inner_count) = (Arc::clone(&slot), Arc::clone(&count));
    let timer = Timer::every(Duration::from_millis(5), move |_| {
        if inner_count.fetch_add(1, Ordering::Relaxed) == 2 {
            inner_slot.lock().unwrap().as_ref().unwrap().stop();
        }
    })
    .unwrap();
    *slot.lock().unwrap() = Some(timer);
    dispatch_until(Instant::now() + Duration::from_millis(100));
    assert_eq!(count.load(Ordering::Relaxed), 3);
    assert_eq!(kernel_timers(), 0);
}

fn once_fires_once() {
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    let timer = Timer::once(Duration::from_millis(20), move |tick| {
        assert_eq!((tick.number, tick.missed), (1, 0));
        seen.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    dispatch_until(Instant::now() + Duration::from_millis(120));
    assert_eq!(count.load(Ordering::Relaxed), 1);
    assert!(!timer.is_active());
}

/// `Timer::new` ticks once a second.
fn the_default_interval_is_one_second() {
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    let started = Instant::now();
    let timer = Timer::new(move |_| {
        seen.fetch_add(1, Ordering::Relaxed);
    })
    .unwrap();
    dispatch_until(started + Duration::from_millis(900));
    assert_eq!(
        count.load(Ordering::Relaxed),
        0,
        "nothing before the first second"
    );
    dispatch_until_true("the first second", || count.load(Ordering::Relaxed) == 1);
    assert!(started.elapsed() >= Duration::from_secs(1));
    drop(timer);
}

/// A timer started in a forked child fires there, never in the parent.
fn a_childs_timer_does_not_fire_in_the_parent() {
    let counters = Arc::new(SharedCounters::new(1));
    let parent_own = Arc::new(AtomicU64::new(0));
    let _parent_timer = counting(Duration::from_millis(5), &parent_own);
    fork(|| {
        let in_callback = Arc::clone(&counters);
        let child_timer = Timer::every(Duration::from_millis(5), move |_| {
            in_callback[0].fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        dispatch_until_true("5 child ticks", || counters[0].load(Ordering::SeqCst) >= 5);
        drop(child_timer);
    })
    .join();
    let in_child = counters[0].load(Ordering::SeqCst);
    dispatch_until(Instant::now() + Duration::from_millis(60));
    assert_eq!(
        counters[0].load(Ordering::SeqCst),
        in_child,
        "the child's timer fired in the parent"
    );
    assert!(
        parent_own.load(Ordering::Relaxed) > 0,
        "the parent dispatched its own timer meanwhile"
    );
}

/// A forked child's copy of the parent's timer never runs its callback, even
/// while the child dispatches its own timer's signals.
fn a_parents_timer_does_not_fire_in_the_child() {
    let counters = Arc::new(SharedCounters::new(2));
    let in_parent = Arc::clone(&counters);
    let parent_timer = Timer::every(Duration::from_millis(5), move |_| {
        in_parent[0].fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    dispatch_until_true("a parent tick", || counters[0].load(Ordering::SeqCst) >= 1);
    let before = counters[0].load(Ordering::SeqCst);
    fork(|| {
        let in_child = Arc::clone(&counters);
        let own = Timer::every(Duration::from_millis(5), move |_| {
            in_child[1].fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
        dispatch_until_true("10 child ticks", || {
            counters[1].load(Ordering::SeqCst) >= 10
        });
        drop(own);
        parent_timer.stop(); // a copy: must not touch the parent's kernel timer
    })
    .join();
    assert_eq!(
        counters[0].load(Ordering::SeqCst),
        before,
        "the parent's callback ran in the child"
    );
    dispatch_until_true("the parent's timer still ticks", || {
        counters[0].load(Ordering::SeqCst) > before
    });
}

fn too_short_an_interval_is_refused() {
    for interval in [Duration::ZERO, Duration::from_micros(999)] {
        let err = Timer::every(interval, |_| {}).unwrap_err();
        assert!(matches!(err, Error::IntervalTooShort { .. }), "{err:?}");
        assert!(
            err.to_string().contains("shorter than the minimum"),
            "{err}"
        );
    }
    assert!(Timer::once(Duration::ZERO, |_| {}).is_err());
    assert_eq!(kernel_timers(), 0, "a refused timer leaves no kernel timer");
}
