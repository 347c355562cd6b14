//! A job that must never run twice at once, as cron jobs and daemons need.
//!
//! `cargo run -p forkwise-lock --example single_instance` takes a pidfile,
//! shows that a second instance is refused with the first one's pid, and
//! guards a shared state file with a `FileLock` while it updates it.

use std::io::{Read, Seek, Write};

use forkwise_lock::{Error, FileLock, Pidfile};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("forkwise-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let pidfile = Pidfile::create(dir.join("job.pid"))?;
    println!(
        "running as pid {}, pidfile {}",
        pidfile.pid(),
        pidfile.path().display()
    );
    match Pidfile::create(pidfile.path()) {
        Err(Error::AlreadyRunning { pid, .. }) => {
            println!("a second instance is refused: held by {pid:?}");
        }
        other => return Err(format!("expected a refusal, got {other:?}").into()),
    }

    // Read-modify-write a counter under the lock, as every instance would.
    let mut lock = FileLock::new(dir.join("counter"))?;
    for _ in 0..3 {
        let guard = lock.acquire()?;
        let mut file = guard.file();
        let mut text = String::new();
        file.rewind()?;
        file.read_to_string(&mut text)?;
        let runs = text.trim().parse::<u64>().unwrap_or(0) + 1;
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{runs}")?;
        println!("run {runs} recorded under the lock");
    }

    pidfile.release()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
