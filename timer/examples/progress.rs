//! A once-a-second progress ticker beside a job that does the work.
//!
//! `cargo run -p forkwise-timer --example progress` runs a three-second job;
//! every second the timer prints how far it got. Pass a number of seconds to
//! run longer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use forkwise_timer::Timer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args().nth(1).map_or(Ok(3), |s| s.parse())?;
    let done = Arc::new(AtomicU64::new(0));
    let progress = Arc::clone(&done);
    let _ticker = Timer::new(move |tick| {
        let missed = if tick.missed > 0 {
            format!(" ({} ticks missed)", tick.missed)
        } else {
            String::new()
        };
        println!(
            "[{}s] {} work items done{missed}",
            tick.number,
            progress.load(Ordering::Relaxed)
        );
    })?;

    // The main loop: a slice of work, then let the timer's signal be dispatched.
    let end = Instant::now() + Duration::from_secs(seconds) + Duration::from_millis(50);
    while Instant::now() < end {
        let slice = Instant::now() + Duration::from_millis(10);
        while Instant::now() < slice {
            done.fetch_add(1, Ordering::Relaxed);
        }
        forkwise_signal::dispatch();
    }
    println!("finished: {} work items", done.load(Ordering::Relaxed));
    Ok(())
}
