//! Process titles: what `ps` and `/proc` show for the master and workers.
//!
//! `cargo run -p forkwise-fork --example title`

use std::process::Command;

use forkwise_fork::{ForkManager, set_process_title};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut manager = ForkManager::new()?;
    let group = manager.fork(
        |worker| -> Result<(), Box<dyn std::error::Error>> {
            let shown = set_process_title(&format!("title-example: worker {}", worker.index()))?;
            let ps = Command::new("ps")
                .args(["-o", "pid=,comm=,args=", "-p", &worker.pid().to_string()])
                .output()?;
            print!("ps: {}", String::from_utf8_lossy(&ps.stdout));
            println!("  (comm {:?}, cut short: {})", shown.comm, shown.truncated);
            Ok(())
        },
        2,
    )?;
    assert!(manager.wait(&group)?.iter().all(|s| s.success()));
    Ok(())
}
