//! A shared memory segment: a counter that four processes add to at once,
//! and a message written by one process and read by another.
//!
//! `cargo run -p forkwise-sysv --example shared_segment`.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use forkwise_sysv::{FileKey, SharedSegment};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const SIZE: usize = 4096;
const WORKERS: u64 = 4;
const ADDS: u64 = 10_000;
/// The counter lives at offset 0 (8-byte aligned); the text after it.
const COUNTER: usize = 0;
const TEXT: usize = 64;

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [role, path, n] = args.as_slice()
        && role == "worker"
    {
        return worker(Path::new(path), n.parse()?);
    }

    let dir = std::env::temp_dir().join(format!("forkwise-sysv-shm-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir.join("segment.key"));
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run(path: &Path) -> Result {
    std::fs::write(path, b"")?;
    let segment = SharedSegment::options()
        .remove_on_drop(true)
        .open(key_of(path)?, SIZE)?;
    println!("segment {} of {} bytes", segment.key(), segment.len());
    let workers = (0..WORKERS)
        .map(|n| {
            Command::new(std::env::current_exe()?)
                .args(["worker", &path.display().to_string(), &n.to_string()])
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for mut worker in workers {
        if !worker.wait()?.success() {
            return Err("a worker failed".into());
        }
    }
    let total = segment.atomic::<AtomicU64>(COUNTER)?.load(Ordering::SeqCst);
    println!("counter = {total} ({WORKERS} processes x {ADDS} atomic adds)");
    assert_eq!(total, WORKERS * ADDS);
    let mut text = [0; 32];
    segment.read_at(TEXT, &mut text)?;
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    println!("worker 0 left: {:?}", String::from_utf8_lossy(&text[..end]));
    Ok(())
}

fn worker(path: &Path, n: u64) -> Result {
    let segment = SharedSegment::open(key_of(path)?, SIZE)?;
    let counter = segment.atomic::<AtomicU64>(COUNTER)?;
    for _ in 0..ADDS {
        counter.fetch_add(1, Ordering::SeqCst);
    }
    if n == 0 {
        segment.write_at(
            TEXT,
            format!("hello from {}", std::process::id()).as_bytes(),
        )?;
    }
    Ok(())
}

/// The key of the file at `path`. A non-zero project id, as `ftok(3)`
/// recommends: with 0, a file whose inode number ends in 16 zero bits would
/// make `IPC_PRIVATE` on some file systems.
fn key_of(path: &Path) -> forkwise_sysv::Result<FileKey> {
    FileKey::with_project(path, b'h')
}
