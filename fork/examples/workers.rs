//! Fork a group of workers, wait for them, read their exit codes.
//!
//! `cargo run -p forkwise-fork --example workers`

use forkwise_fork::{ForkManager, WorkerState};

fn main() -> Result<(), forkwise_fork::Error> {
    let numbers = [3u64, 10, 27, 97];
    let mut manager = ForkManager::new()?;
    manager.on_exit(|end| println!("  {end}"));
    println!("4 workers count Collatz steps (the master's data, borrowed):");
    // Each worker runs the closure in its own process; its return value is
    // its exit code (clamped to 0..=255).
    let group = manager.fork(
        |worker| collatz_steps(numbers[worker.index()]),
        numbers.len(),
    )?;
    let states = manager.wait(&group)?;
    for (n, state) in numbers.iter().zip(&states) {
        println!("{n}: {} steps", state.code().unwrap_or(-1));
    }
    assert_eq!(states, [7, 6, 111, 118].map(WorkerState::Exited));

    println!("a worker that fails, one that panics:");
    let failing = manager.fork(|_| Err::<(), _>("no such file"), 1)?;
    let panicking = manager.fork(|_| -> () { panic!("a bug in the worker") }, 1)?;
    assert_eq!(manager.wait(&failing)?, [WorkerState::Exited(1)]);
    assert_eq!(manager.wait(&panicking)?, [WorkerState::Exited(101)]);
    Ok(())
}

fn collatz_steps(mut n: u64) -> u64 {
    let mut steps = 0;
    while n != 1 {
        n = if n.is_multiple_of(2) {
            n / 2
        } else {
            3 * n + 1
        };
        steps += 1;
    }
    steps
}
