//! A job queue: typed jobs with priorities, two worker processes, results
//! sent back on a type of their own.
//!
//! `cargo run -p forkwise-sysv --example queue` sends jobs of two
//! priorities (type 1 urgent, type 5 normal); the workers take the most
//! urgent first with `Selector::LowestUpTo`, answer on type 10, and stop at
//! a type-9 stop message.

use std::path::Path;
use std::process::Command;

use forkwise_sysv::{FileKey, Queue, Selector};
use serde::{Deserialize, Serialize};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const URGENT: i64 = 1;
const NORMAL: i64 = 5;
const STOP: i64 = 9;
const RESULT: i64 = 10;
const WORKERS: usize = 2;

#[derive(Serialize, Deserialize, Debug)]
enum Job {
    Resize { image: String, width: u32 },
    Stop,
}

#[derive(Serialize, Deserialize, Debug)]
struct Done {
    worker: u32,
    image: String,
}

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [role, path] = args.as_slice()
        && role == "worker"
    {
        return worker(Path::new(path));
    }

    let dir = std::env::temp_dir().join(format!("forkwise-sysv-queue-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir.join("jobs.key"));
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run(path: &Path) -> Result {
    std::fs::write(path, b"")?;
    let jobs = Queue::options().remove_on_drop(true).open(key_of(path)?)?;
    println!(
        "queue {} (at most {} bytes a message)",
        jobs.key(),
        jobs.max_message_size()
    );
    // Queue everything first, so that priorities show: urgent jobs go first.
    for n in 0..4 {
        let image = format!("photo-{n}.jpg");
        jobs.send(NORMAL, &Job::Resize { image, width: 640 })?;
    }
    jobs.send(
        URGENT,
        &Job::Resize {
            image: "urgent.png".into(),
            width: 64,
        },
    )?;
    for _ in 0..WORKERS {
        jobs.send(STOP, &Job::Stop)?;
    }
    let workers = (0..WORKERS)
        .map(|_| {
            Command::new(std::env::current_exe()?)
                .args(["worker", &path.display().to_string()])
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for _ in 0..5 {
        let (_, done): (i64, Done) = jobs.receive(Selector::Exact(RESULT))?;
        println!("  result: worker {} resized {}", done.worker, done.image);
    }
    for mut worker in workers {
        if !worker.wait()?.success() {
            return Err("a worker failed".into());
        }
    }
    assert_eq!(jobs.stats()?.messages, 0);
    Ok(())
}

fn worker(path: &Path) -> Result {
    let jobs = Queue::open(key_of(path)?)?;
    let me = std::process::id();
    loop {
        // The most urgent job (lowest type) up to the stop messages.
        match jobs.receive::<Job>(Selector::LowestUpTo(STOP))? {
            (_, Job::Stop) => return Ok(()),
            (priority, Job::Resize { image, width }) => {
                println!("  worker {me} resizes {image} to {width} px (type {priority})");
                jobs.send(RESULT, &Done { worker: me, image })?;
            }
        }
    }
}

/// The key of the file at `path`. A non-zero project id, as `ftok(3)`
/// recommends: with 0, a file whose inode number ends in 16 zero bits would
/// make `IPC_PRIVATE` on some file systems.
fn key_of(path: &Path) -> forkwise_sysv::Result<FileKey> {
    FileKey::with_project(path, b'q')
}
