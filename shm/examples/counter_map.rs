//! A counter map shared between worker processes.
//!
//! The master creates a named `SharedData` store, starts four workers (this
//! same program, run again with a role argument), and each worker counts
//! the words of its share of a text into the store with `update`, which
//! never loses a concurrent increment. The master then prints the counts,
//! in the order the words were first seen, and checks them against a count
//! made in one process.
//!
//! Run it with `cargo run -p forkwise-shm --example counter_map`.

use std::collections::HashMap;
use std::process::Command;

use forkwise_shm::{Capacity, OwnedKey, SharedData};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const TEXT: &str = "the quick brown fox jumps over the lazy dog and the dog \
    sleeps while the fox runs over the hill and the quick dog follows the fox";
const WORKERS: usize = 4;

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [role, name, worker] = args.as_slice()
        && role == "worker"
    {
        return worker_main(name, worker.parse()?);
    }

    let name = format!("forkwise-example-counters-{}", std::process::id());
    // 64 words at most, each count an integer (postcard: at most 10 bytes).
    let counts = SharedData::create(&name, Capacity::new(64, 10))?;
    println!("master {}: store /dev/shm/{name}", std::process::id());

    let mut workers = (0..WORKERS)
        .map(|worker| {
            Command::new(std::env::current_exe()?)
                .args(["worker", &name, &worker.to_string()])
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for worker in &mut workers {
        if !worker.wait()?.success() {
            return Err("a worker failed".into());
        }
    }

    let mut expected = HashMap::new();
    for word in TEXT.split_whitespace() {
        *expected.entry(word).or_insert(0u64) += 1;
    }
    println!(
        "{} distinct words, in the order the workers first stored them:",
        counts.len()?
    );
    for key in counts.keys()? {
        let n: u64 = counts.get(&key)?.unwrap_or(0);
        let OwnedKey::Str(word) = &key else {
            return Err("only words are keys".into());
        };
        println!("  {word:>8} {n:>2} {}", "#".repeat(usize::try_from(n)?));
        if expected.get(word.as_str()) != Some(&n) {
            return Err(format!(
                "{word}: counted {n}, expected {:?}",
                expected.get(word.as_str())
            )
            .into());
        }
    }
    if counts.len()? != expected.len() {
        return Err("some words are missing".into());
    }
    println!("every count is right; the store is removed as `counts` drops");
    Ok(())
}

/// A worker: counts every `WORKERS`-th word, starting at its own number.
fn worker_main(name: &str, worker: usize) -> Result {
    let counts = SharedData::open(name)?;
    for word in TEXT.split_whitespace().skip(worker).step_by(WORKERS) {
        counts.update(word, |n: Option<u64>| n.unwrap_or(0) + 1)?;
    }
    Ok(())
}
