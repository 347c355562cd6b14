//! Timer accuracy (not a criterion benchmark: it measures lateness against
//! the ideal grid, not the cost of a call).
//!
//! `cargo bench -p forkwise-timer` (about 75 s) prints a markdown table:
//! drift after 60 one-second ticks and jitter over 1,000 ticks at 10 ms,
//! for forkwise's `Timer` driven by `forkwise_signal::wait`, for the floor (a
//! raw `clock_nanosleep(TIMER_ABSTIME)` loop on the monotonic clock), and for
//! the naive loop a user might write (`thread::sleep(interval)`, which
//! drifts). `FORKWISE_TIMER_BENCH_SECONDS` shortens the drift run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use forkwise_timer::Timer;

/// A way to tick: runs `ticks` ticks of `interval`, returns each tick's lateness.
type Ticker = fn(Duration, u32) -> Vec<f64>;

/// Lateness of each tick against start + n x interval, in microseconds.
fn forkwise_lateness(interval: Duration, ticks: u32) -> Vec<f64> {
    let late = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&late);
    let start = Instant::now();
    let timer = Timer::every(interval, move |tick| {
        let ideal = start + interval * u32::try_from(tick.number).unwrap();
        record
            .lock()
            .unwrap()
            .push(micros(Instant::now().saturating_duration_since(ideal)));
    })
    .unwrap();
    while timer.ticks() < u64::from(ticks) {
        forkwise_signal::wait(Some(interval * 2)).unwrap();
    }
    drop(timer);
    Arc::try_unwrap(late).unwrap().into_inner().unwrap()
}

/// The floor: sleep until each absolute due time with `clock_nanosleep`.
fn floor_lateness(interval: Duration, ticks: u32) -> Vec<f64> {
    let mut now = timespec_now();
    let start = Instant::now();
    let mut late = Vec::new();
    for n in 1..=ticks {
        add(&mut now, interval);
        // SAFETY: `now` is a valid timespec; a null remainder is allowed with TIMER_ABSTIME.
        while unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &raw const now,
                std::ptr::null_mut(),
            )
        } == libc::EINTR
        {}
        late.push(micros(
            Instant::now().saturating_duration_since(start + interval * n),
        ));
    }
    late
}

/// What a user might write first: sleep one interval after each tick.
fn naive_lateness(interval: Duration, ticks: u32) -> Vec<f64> {
    let start = Instant::now();
    (1..=ticks)
        .map(|n| {
            std::thread::sleep(interval);
            micros(Instant::now().saturating_duration_since(start + interval * n))
        })
        .collect()
}

fn timespec_now() -> libc::timespec {
    // SAFETY: all-zeroes is a valid timespec, filled in by clock_gettime.
    let mut now: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `now` is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut now) };
    now
}

fn add(spec: &mut libc::timespec, interval: Duration) {
    let nanos = spec.tv_nsec + libc::c_long::from(interval.subsec_nanos());
    spec.tv_sec += libc::time_t::try_from(interval.as_secs()).unwrap()
        + libc::time_t::from(nanos >= 1_000_000_000);
    spec.tv_nsec = nanos % 1_000_000_000;
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Mean and 99th percentile.
fn stats(mut late: Vec<f64>) -> (f64, f64) {
    late.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss, reason = "a thousand samples")]
    let mean = late.iter().sum::<f64>() / late.len() as f64;
    let p99 = late[(late.len() * 99).div_ceil(100) - 1];
    (mean, p99)
}

fn main() {
    // Not a criterion bench: `--list` (asked by tools that look for
    // criterion benchmarks) lists nothing, and `cargo bench` runs the report.
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let seconds: u32 = std::env::var("FORKWISE_TIMER_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let second = Duration::from_secs(1);
    let ten_ms = Duration::from_millis(10);
    let runs: [(&str, Ticker); 3] = [
        ("forkwise Timer + wait", forkwise_lateness),
        ("floor: clock_nanosleep(TIMER_ABSTIME)", floor_lateness),
        ("peer: thread::sleep loop", naive_lateness),
    ];
    println!(
        "| timer | drift after {seconds} x 1 s ticks | jitter at 10 ms, mean | jitter at 10 ms, p99 |"
    );
    println!("| --- | ---: | ---: | ---: |");
    for (name, run) in runs {
        let (mean, p99) = stats(run(ten_ms, 1000));
        let drift = *run(second, seconds).last().unwrap();
        println!("| {name} | {drift:.0} µs | {mean:.0} µs | {p99:.0} µs |");
    }
}
