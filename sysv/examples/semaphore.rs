//! A semaphore capping how many workers run at once, across processes.
//!
//! `cargo run -p forkwise-sysv --example semaphore` starts four worker
//! processes (this program again, with a role argument) that each need one
//! of two slots: two work while two wait. The key comes from a file, so the
//! workers find the semaphore by path, as unrelated programs would.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forkwise_sysv::{FileKey, Semaphore};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const SLOTS: u32 = 2;
const WORKERS: usize = 4;

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [role, path, name] = args.as_slice()
        && role == "worker"
    {
        return worker(Path::new(path), name);
    }

    let dir = std::env::temp_dir().join(format!("forkwise-sysv-semaphore-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir.join("slots.key"));
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run(path: &Path) -> Result {
    std::fs::write(path, b"")?;
    let key = key_of(path)?;
    // This process creates the set and removes it when `slots` is dropped;
    // the workers only open it.
    let slots = Semaphore::options()
        .remove_on_drop(true)
        .open(&key, SLOTS)?;
    println!(
        "semaphore {} with {SLOTS} slots for {WORKERS} workers",
        slots.key()
    );

    let started = Instant::now();
    let workers = (0..WORKERS)
        .map(|n| {
            Command::new(std::env::current_exe()?)
                .args([
                    "worker",
                    &path.display().to_string(),
                    &format!("worker-{n}"),
                ])
                .stdout(Stdio::inherit())
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for mut worker in workers {
        if !worker.wait()?.success() {
            return Err("a worker failed".into());
        }
    }
    println!(
        "all {WORKERS} workers done in {} ms: two rounds of 100 ms, since only {SLOTS} ran at once",
        started.elapsed().as_millis()
    );
    assert_eq!(slots.available()?, SLOTS, "every slot came back");
    Ok(())
}

fn worker(path: &Path, name: &str) -> Result {
    let slots = Semaphore::open(key_of(path)?, SLOTS)?;
    let slot = slots.acquire()?;
    println!("  {name} got a slot ({} free now)", slots.available()?);
    std::thread::sleep(Duration::from_millis(100));
    println!("  {name} is done");
    slot.release()?;
    Ok(())
}

/// The key of the file at `path`. A non-zero project id, as `ftok(3)`
/// recommends: with 0, a file whose inode number ends in 16 zero bits would
/// make `IPC_PRIVATE` on some file systems.
fn key_of(path: &Path) -> forkwise_sysv::Result<FileKey> {
    FileKey::with_project(path, b's')
}
