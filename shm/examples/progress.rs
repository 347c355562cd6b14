//! A progress table that a master reads while workers write it.
//!
//! The master creates a named `SharedArray<Progress>`, one element per
//! worker, and starts three workers (this same program, run again with a
//! role argument). Each worker does its "work" in steps and stores its
//! progress after each: a 24-byte record of steps done, steps in all and
//! its pid, written and read whole (never torn) without any lock. The master
//! draws the table every 25 ms until every worker is done.
//!
//! Run it with `cargo run -p forkwise-shm --example progress`.

use std::process::Command;
use std::time::Duration;

use bytemuck::{Pod, Zeroable};
use forkwise_shm::SharedArray;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One worker's progress: plain data, so it can live in shared memory.
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
#[repr(C)]
struct Progress {
    done: u64,
    total: u64,
    pid: u32,
    _pad: u32,
}

const WORKERS: usize = 3;

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [role, name, slot] = args.as_slice()
        && role == "worker"
    {
        return worker_main(name, slot.parse()?);
    }

    let name = format!("forkwise-example-progress-{}", std::process::id());
    let table = SharedArray::<Progress>::create(&name, WORKERS)?;
    let mut workers = (0..WORKERS)
        .map(|slot| {
            Command::new(std::env::current_exe()?)
                .args(["worker", &name, &slot.to_string()])
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;

    loop {
        let rows = table.to_vec();
        let bars: Vec<String> = rows.iter().map(bar).collect();
        println!("{}", bars.join("  "));
        if rows.iter().all(|p| p.total > 0 && p.done == p.total) {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    for worker in &mut workers {
        if !worker.wait()?.success() {
            return Err("a worker failed".into());
        }
    }
    for (slot, p) in table.to_vec().iter().enumerate() {
        println!("worker {slot} (pid {}) finished {} steps", p.pid, p.done);
    }
    Ok(())
}

/// `[=====     ]  50%`
fn bar(progress: &Progress) -> String {
    let percent = (progress.done * 100)
        .checked_div(progress.total)
        .unwrap_or(0);
    let filled = "=".repeat(usize::try_from(percent / 10).unwrap_or(10));
    format!("[{filled:<10}] {percent:>3}%")
}

/// A worker: 20 to 40 steps of 5 ms, its progress stored after each.
fn worker_main(name: &str, slot: usize) -> Result {
    let table = SharedArray::<Progress>::open(name)?;
    let total = 20 + 10 * slot as u64;
    let pid = std::process::id();
    for done in 0..=total {
        table.set(
            slot,
            Progress {
                done,
                total,
                pid,
                _pad: 0,
            },
        )?;
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
