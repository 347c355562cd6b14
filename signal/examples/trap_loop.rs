//! A worker's main loop that ends cleanly on Ctrl-C or `kill <pid>`.
//!
//! ```text
//! cargo run -p forkwise-signal --example trap_loop            # stops itself after 1 s
//! cargo run -p forkwise-signal --example trap_loop -- --wait  # until Ctrl-C / kill
//! ```
//!
//! The trap catches SIGINT and SIGTERM, so neither kills the process in the
//! middle of a job; the loop checks it between jobs and leaves, after which
//! the program can flush, remove its pidfile, and exit 0.

use std::time::{Duration, Instant};

use forkwise_signal::{Signal, SignalTrap};

fn main() -> Result<(), forkwise_signal::Error> {
    let wait_for_operator = std::env::args().any(|arg| arg == "--wait");
    let trap = SignalTrap::new(&[Signal::SIGINT, Signal::SIGTERM])?;
    println!(
        "pid {}: working; stop me with Ctrl-C or `kill {}`",
        std::process::id(),
        std::process::id()
    );

    let started = Instant::now();
    let mut jobs = 0u64;
    while !trap.is_trapped() {
        // One job: short, so that a stop request is honoured promptly.
        std::thread::sleep(Duration::from_millis(100));
        jobs += 1;
        if !wait_for_operator && started.elapsed() > Duration::from_secs(1) {
            // What an operator's `kill <pid>` would do.
            Signal::SIGTERM.send(i32::try_from(std::process::id()).expect("pids fit i32"))?;
        }
    }

    let signal = trap.trapped().expect("the loop ended on a signal");
    println!("{signal} after {jobs} jobs: finishing cleanly");
    Ok(())
}
