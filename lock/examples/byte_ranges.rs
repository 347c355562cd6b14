//! Byte-range locks: two workers update different records of one file at
//! once, while a whole-file lock waits for both.
//!
//! `cargo run -p forkwise-lock --example byte_ranges`

use forkwise_lock::RangeLock;

const RECORD: u64 = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::temp_dir().join(format!("forkwise-ranges-{}.db", std::process::id()));
    let mut first = RangeLock::new(&path, 0, RECORD)?;
    let mut second = RangeLock::new(&path, RECORD, RECORD)?;
    let mut whole = RangeLock::new(&path, 0, 0)?;

    let a = first.acquire()?;
    let b = second.acquire()?;
    println!("records 0 and 1 are locked at the same time (disjoint ranges)");
    println!(
        "whole-file try_acquire while they are held: {:?}",
        whole.try_acquire()?.map(|g| g.mode())
    );
    drop((a, b));
    let all = whole
        .try_acquire()?
        .ok_or("free once both records were released")?;
    println!("whole file locked after release: {:?}", all.mode());
    drop(all);
    std::fs::remove_file(&path)?;
    Ok(())
}
