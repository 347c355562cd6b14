//! A mutex guarding a read-modify-write of a shared file, across processes.
//!
//! `cargo run -p forkwise-sysv --example mutex` starts three worker
//! processes that each add 1 to a counter in a file 20 times. Each update
//! reads the file, then writes it back: without the mutex, updates get lost.

use std::path::Path;
use std::process::Command;

use forkwise_sysv::{FileKey, Mutex};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const WORKERS: u32 = 3;
const UPDATES: u32 = 20;

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [role, dir] = args.as_slice()
        && role == "worker"
    {
        return worker(Path::new(dir));
    }

    let dir = std::env::temp_dir().join(format!("forkwise-sysv-mutex-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run(dir: &Path) -> Result {
    std::fs::write(dir.join("counter"), b"0")?;
    let mutex = Mutex::options()
        .remove_on_drop(true)
        .open(key_of(&dir.join("counter"))?)?;
    println!("mutex {}", mutex.key());
    let workers = (0..WORKERS)
        .map(|_| {
            Command::new(std::env::current_exe()?)
                .args(["worker", &dir.display().to_string()])
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for mut worker in workers {
        if !worker.wait()?.success() {
            return Err("a worker failed".into());
        }
    }
    let total = std::fs::read_to_string(dir.join("counter"))?;
    println!("counter = {total} ({WORKERS} workers x {UPDATES} updates, none lost)");
    assert_eq!(total, (WORKERS * UPDATES).to_string());
    Ok(())
}

fn worker(dir: &Path) -> Result {
    let counter = dir.join("counter");
    let mutex = Mutex::open(key_of(&counter)?)?;
    for _ in 0..UPDATES {
        let guard = mutex.lock()?;
        let value: u32 = std::fs::read_to_string(&counter)?.parse()?;
        std::thread::yield_now(); // invite another process in, if it could come
        std::fs::write(&counter, (value + 1).to_string())?;
        guard.unlock()?;
    }
    println!("  worker {} did its {UPDATES} updates", std::process::id());
    Ok(())
}

/// The key of the file at `path`. A non-zero project id, as `ftok(3)`
/// recommends: with 0, a file whose inode number ends in 16 zero bits would
/// make `IPC_PRIVATE` on some file systems.
fn key_of(path: &Path) -> forkwise_sysv::Result<FileKey> {
    FileKey::with_project(path, b'm')
}
