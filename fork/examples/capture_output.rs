//! Capture workers' stdout and stderr, line by line, in the master.
//!
//! `cargo run -p forkwise-fork --example capture_output`

use std::cell::RefCell;
use std::rc::Rc;

use forkwise_fork::{ForkManager, Stream};

fn main() -> Result<(), forkwise_fork::Error> {
    let bytes = Rc::new(RefCell::new(0usize));
    let total = Rc::clone(&bytes);
    let mut manager = ForkManager::builder()
        .output_lines(move |line| {
            *total.borrow_mut() += line.bytes.len() + 1;
            // Show a few; count them all.
            if line.stream == Stream::Stderr || line.text().ends_with(" 0") {
                println!(
                    "[worker {} pid {} {}] {}",
                    line.index,
                    line.pid,
                    line.stream,
                    line.text()
                );
            }
        })
        .build()?;
    // Each worker writes 2 MiB, far more than a pipe holds: the master
    // drains the pipes while it waits, so no worker blocks for good.
    let group = manager.fork(
        |worker| {
            eprintln!("worker {} starting", worker.index());
            let line = "x".repeat(1000);
            for n in (0..2048).rev() {
                println!("{line} {n}");
            }
        },
        3,
    )?;
    let states = manager.wait(&group)?;
    assert!(states.iter().all(|s| s.success()));
    println!("captured {} bytes of output", bytes.borrow());
    Ok(())
}
