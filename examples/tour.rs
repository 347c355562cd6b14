//! A short walk through forkwise, across real processes.
//!
//! Run it with `cargo run --example tour`. Each stop shows one primitive;
//! the second process of a stop is this same program, started again with
//! a role argument.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forkwise::lock::FileLock;

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [role, path] = args.as_slice()
        && role == "lock-worker"
    {
        return lock_worker(Path::new(path));
    }

    println!("forkwise tour (pid {})", std::process::id());
    let dir = std::env::temp_dir().join(format!("forkwise-tour-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = lock_stop(&dir.join("tour.lock"));
    std::fs::remove_dir_all(&dir)?;
    result?;
    println!("\nend of the tour: every process exited, nothing left behind");
    Ok(())
}

/// Stop 1: two processes contend for a `FileLock`; a shell `flock(1)` shares it.
fn lock_stop(path: &Path) -> Result {
    println!(
        "\n== lock: two processes contend for one FileLock ({})",
        path.display()
    );
    let mut lock = FileLock::new(path)?;
    let guard = lock.acquire()?;
    println!("  [parent {}] holds the lock", std::process::id());

    let mut worker = Command::new(std::env::current_exe()?)
        .args(["lock-worker", &path.display().to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(worker.stdout.take().ok_or("worker stdout")?).lines();
    let waiting = lines.next().ok_or("the worker ended early")??;
    println!("  [worker {}] {waiting}", worker.id());
    std::thread::sleep(Duration::from_millis(200));
    println!(
        "  [parent {}] releases the lock after 200 ms",
        std::process::id()
    );
    guard.release()?;
    for line in lines {
        println!("  [worker {}] {}", worker.id(), line?);
    }
    if !worker.wait()?.success() {
        return Err("the lock worker failed".into());
    }

    println!("\n== lock: a shell script's flock(1) sees the same lock");
    let guard = lock.acquire()?;
    match Command::new("flock")
        .arg("-n")
        .arg(path)
        .arg("true")
        .status()
    {
        Ok(status) => {
            println!("  [parent] holding it: `flock -n FILE true` is refused ({status})");
        }
        Err(err) => {
            println!("  flock(1) is not installed ({err}); skipping the shell part");
            return Ok(());
        }
    }
    drop(guard);
    let mut shell = Command::new("flock")
        .arg(path)
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while lock.try_acquire()?.is_some() {
        if Instant::now() > deadline {
            return Err("flock(1) never took the lock".into());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "  [shell {}] `flock FILE cat` holds it: our try_acquire() returns None",
        shell.id()
    );
    drop(shell.stdin.take()); // end of input: cat exits, flock releases
    shell.wait()?;
    let _guard = lock
        .try_acquire()?
        .ok_or("still held after flock(1) ended")?;
    println!("  [parent] flock(1) ended: the lock is ours again");
    Ok(())
}

/// The second process of the lock stop.
fn lock_worker(path: &Path) -> Result {
    let mut lock = FileLock::new(path)?;
    let held = lock.try_acquire()?.is_none();
    println!(
        "try_acquire() -> {}; blocking in acquire() ...",
        if held { "None (held)" } else { "acquired?!" }
    );
    std::io::stdout().flush()?;
    let started = Instant::now();
    let _guard = lock.acquire()?;
    println!("acquired after {} ms", started.elapsed().as_millis());
    Ok(())
}
