//! Graceful shutdown: SIGTERM to the master runs `on_shutdown`, forwards
//! SIGTERM to the workers, waits the grace period, then SIGKILLs the rest.
//!
//! `cargo run -p forkwise-fork --example shutdown`

use std::time::{Duration, Instant};

use forkwise_fork::{ForkManager, RestartPolicy, Signal, WorkerState};
use forkwise_signal::SignalTrap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut manager = ForkManager::builder()
        .grace_period(Duration::from_millis(500))
        .build()?;
    manager.on_shutdown(|signal| println!("shutting down on {signal:?}"));
    manager.on_exit(|end| println!("  {end}"));

    // Two well-behaved workers leave on SIGTERM; one ignores it.
    let polite = manager.spawn_group(
        |_| {
            let trap = SignalTrap::new(&[Signal::SIGTERM]).expect("trap");
            while !trap.is_trapped() {
                trap.wait(Some(Duration::from_secs(1))).expect("wait");
            }
            println!("  a worker finishes its work and leaves");
        },
        2,
        RestartPolicy::always(),
    )?;
    let stubborn = manager.fork(
        |_| {
            // SAFETY: SIG_IGN for SIGTERM: no handler code runs.
            unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
            std::thread::sleep(Duration::from_secs(60));
        },
        1,
    )?;
    std::thread::sleep(Duration::from_millis(100)); // let them start

    Signal::SIGTERM.raise()?; // as `kill <master pid>` would
    let started = Instant::now();
    manager.wait_all()?;
    println!("all reaped after {:?}", started.elapsed());
    assert!(manager.wait(&polite)?.iter().all(|s| s.success()));
    let killed = WorkerState::Killed {
        signal: Signal::SIGKILL,
        core_dumped: false,
    };
    assert_eq!(manager.wait(&stubborn)?, [killed]);
    Ok(())
}
