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
    if let [role, pid] = args.as_slice()
        && role == "signal-sender"
    {
        return signal_sender(pid.parse()?);
    }

    println!("forkwise tour (pid {})", std::process::id());
    let dir = std::env::temp_dir().join(format!("forkwise-tour-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = lock_stop(&dir.join("tour.lock")).and_then(|()| signal_stop());
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

/// Stop 2: a child process signals the parent; the listener stack runs newest first.
fn signal_stop() -> Result {
    use forkwise::signal::{Propagation, Signal, SignalHandler, SignalTrap};

    println!("\n== signal: a child sends SIGUSR1; the parent's listeners run newest first");
    let handler = SignalHandler::new(Signal::SIGUSR1)?;
    handler.add(|info| {
        let from = info.sender.map_or(0, |s| s.pid);
        println!(
            "  [parent] oldest listener: {} from process {from}",
            info.signal
        );
        Propagation::Continue
    })?;
    let newest = handler.add_scoped(|_| {
        println!("  [parent] newest listener: handled, Stop (the older one does not run)");
        Propagation::Stop
    })?;
    let trap = SignalTrap::new(&[Signal::SIGTERM])?;

    let mut sender = Command::new(std::env::current_exe()?)
        .args(["signal-sender", &std::process::id().to_string()])
        .stdin(Stdio::piped())
        .spawn()?;
    let mut ask = sender.stdin.take().ok_or("sender stdin")?;
    let patience = Some(Duration::from_secs(10));

    writeln!(ask, "SIGUSR1")?;
    forkwise::signal::wait(patience)?;
    drop(newest);
    println!("  [parent] newest listener removed; the next SIGUSR1 bubbles down");
    writeln!(ask, "SIGUSR1")?;
    forkwise::signal::wait(patience)?;

    writeln!(ask, "SIGTERM")?;
    if trap.wait(patience)?.is_some() {
        println!("  [parent] SIGTERM trapped: a main loop would end here, cleanly");
    }
    drop(ask); // end of input: the sender exits
    if !sender.wait()?.success() {
        return Err("the signal sender failed".into());
    }
    Ok(())
}

/// The second process of stop 2: sends each signal named on its stdin to `parent`.
fn signal_sender(parent: i32) -> Result {
    for line in std::io::stdin().lines() {
        let signal: forkwise::signal::Signal = line?.trim().parse()?;
        signal.send(parent)?;
    }
    Ok(())
}
