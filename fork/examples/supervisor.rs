//! Supervised workers: restarted on failure with backoff, given up after
//! too many failures, a clean exit ends the supervision.
//!
//! `cargo run -p forkwise-fork --example supervisor`

use std::time::Duration;

use forkwise_fork::{ForkManager, Next, RestartPolicy};

fn main() -> Result<(), forkwise_fork::Error> {
    let mut manager = ForkManager::new()?;
    manager.on_exit(|end| println!("  {end}"));
    let policy = RestartPolicy::on_failure()
        .max_restarts(3, Duration::from_secs(10))
        .backoff(Duration::from_millis(20), Duration::from_millis(200));

    println!("a flaky worker: fails twice, then succeeds");
    let flaky = manager.spawn(
        |worker| {
            println!(
                "  attempt {} in pid {}",
                worker.restarts() + 1,
                worker.pid()
            );
            if worker.restarts() < 2 {
                Err("not yet")
            } else {
                Ok(())
            }
        },
        policy,
    )?;
    assert!(manager.wait(flaky)?[0].success());

    println!("a broken worker: given up after 3 restarts");
    let gave_up = std::rc::Rc::new(std::cell::Cell::new(false));
    let flag = std::rc::Rc::clone(&gave_up);
    manager.on_exit(move |end| flag.set(flag.get() || end.next == Next::GaveUp));
    let broken = manager.spawn(|_| 2, policy)?;
    assert_eq!(manager.wait(broken)?[0].code(), Some(2));
    assert_eq!(manager.restarts(broken), Some(3));
    assert!(gave_up.get());
    Ok(())
}
