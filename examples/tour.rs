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
    if let [role, n] = args.as_slice()
        && role == "channel-worker"
    {
        return channel_worker(n.parse()?);
    }
    if let [role, path] = args.as_slice()
        && role == "sysv-worker"
    {
        return sysv_worker(Path::new(path));
    }
    if let [role, name] = args.as_slice()
        && role == "shm-worker"
    {
        return shm_worker(name);
    }
    if let [role, name] = args.as_slice()
        && role == "shm-mover"
    {
        return shm_mover(name);
    }

    println!("forkwise tour (pid {})", std::process::id());
    let dir = std::env::temp_dir().join(format!("forkwise-tour-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = lock_stop(&dir.join("tour.lock"))
        .and_then(|()| signal_stop())
        .and_then(|()| timer_stop())
        .and_then(|()| fork_stop())
        .and_then(|()| channel_stop())
        .and_then(|()| sysv_stop(&dir))
        .and_then(|()| shm_stop());
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

/// Stop 3: timers tick in the dispatch loop and report ticks missed while busy.
fn timer_stop() -> Result {
    use forkwise::timer::Timer;

    println!("\n== timer: a 50 ms timer, driven by the signal dispatch loop");
    let started = Instant::now();
    let timer = Timer::every(Duration::from_millis(50), move |tick| {
        let at = started.elapsed().as_millis();
        println!(
            "  [timer] tick {} at {at} ms, {} missed",
            tick.number, tick.missed
        );
    })?;
    while timer.ticks() < 2 {
        forkwise::signal::wait(Some(Duration::from_secs(1)))?;
    }
    println!("  [parent] busy for 200 ms without dispatching ...");
    let busy_until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < busy_until {
        std::hint::spin_loop();
    }
    forkwise::signal::wait(Some(Duration::from_secs(1)))?;
    println!("  [parent] no tick was lost: the late callback counted the missed ones");
    Ok(())
}

/// Stop 5: typed messages between processes over socket pairs.
fn channel_stop() -> Result {
    use forkwise::channel::{Event, MultiStreamChannel};

    println!("\n== channel: three workers report to a master over socket pairs");
    let mut master = MultiStreamChannel::new()?;
    let mut workers = Vec::new();
    for n in 1..=3u32 {
        let (id, end) = master.create_client()?;
        // The worker is this program again, its end of the pair as stdin.
        let worker = Command::new(std::env::current_exe()?)
            .args(["channel-worker", &n.to_string()])
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(end)))
            .spawn()?;
        println!("  [master] client {id} is worker process {}", worker.id());
        workers.push(worker);
    }
    let mut left = 0;
    while left < workers.len() {
        match master.receive::<(u32, u64)>()? {
            Event::Message(id, (n, square)) => {
                println!("  [master] client {id}: {n} squared is {square}");
            }
            Event::Disconnected(id) => {
                println!("  [master] client {id} disconnected (reported once)");
                left += 1;
            }
            Event::Error(id, err) => return Err(format!("client {id}: {err}").into()),
        }
    }
    for mut worker in workers {
        if !worker.wait()?.success() {
            return Err("a channel worker failed".into());
        }
    }
    Ok(())
}

/// A worker of stop 5: its stdin is its end of the channel.
fn channel_worker(n: u32) -> Result {
    use std::os::fd::AsFd;

    let end = std::io::stdin().as_fd().try_clone_to_owned()?;
    let mut channel = forkwise::channel::StreamChannel::from_fd(end)?;
    channel.send(&(n, u64::from(n) * u64::from(n)))?;
    Ok(())
}

/// A job of the sysv stop, sent as a typed message (postcard-encoded).
#[derive(serde::Serialize, serde::Deserialize)]
struct TourJob {
    image: String,
}

/// A worker's report of the sysv stop: who did which job, with how many
/// slots busy (its own included).
#[derive(serde::Serialize, serde::Deserialize)]
struct TourDone {
    worker: u32,
    image: String,
    busy: u32,
}

/// Message types of the sysv stop's queue: jobs out, reports back.
const JOB: i64 = 1;
const DONE: i64 = 2;
/// The sysv stop's slots (the semaphore's capacity) and workers.
const SLOTS: u32 = 2;
const WORKERS: u32 = 4;

/// Stop 6: SysV IPC. Four worker processes take typed jobs from a message
/// queue, and a semaphore of two slots lets only two of them work at once.
/// Both are found by key (`ftok` of one file), as unrelated programs would.
fn sysv_stop(dir: &Path) -> Result {
    use forkwise::sysv::{FileKey, Queue, Selector, Semaphore};

    println!("\n== sysv: a semaphore caps 2 of 4 workers; a queue carries typed jobs");
    let key_file = dir.join("sysv.key");
    std::fs::write(&key_file, b"")?;
    let key = FileKey::with_project(&key_file, 1)?;
    // This process creates both and removes them when it drops them; the
    // workers only open them, and never remove them.
    let slots = Semaphore::options()
        .remove_on_drop(true)
        .open(&key, SLOTS)?;
    let jobs = Queue::options().remove_on_drop(true).open(key.next()?)?;
    println!("  semaphore {} ({SLOTS} slots)", slots.key());
    println!("  queue {}", jobs.key());
    for n in 0..WORKERS {
        let image = format!("photo-{n}.jpg");
        jobs.send(JOB, &TourJob { image })?;
    }

    let started = Instant::now();
    let mut workers = (0..WORKERS)
        .map(|_| {
            Command::new(std::env::current_exe()?)
                .args(["sysv-worker", &key_file.display().to_string()])
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let mut most_busy = 0;
    for _ in 0..WORKERS {
        let (_, done): (i64, TourDone) = jobs.receive(Selector::Exact(DONE))?;
        println!(
            "  [worker {}] resized {} with {} of {SLOTS} slots busy",
            done.worker, done.image, done.busy
        );
        most_busy = most_busy.max(done.busy);
    }
    for worker in &mut workers {
        if !worker.wait()?.success() {
            return Err("a sysv worker failed".into());
        }
    }
    println!(
        "  {WORKERS} jobs of 100 ms took {} ms: never more than {most_busy} at once",
        started.elapsed().as_millis()
    );
    if most_busy > SLOTS || slots.available()? != SLOTS {
        return Err("the semaphore let too many in, or lost a slot".into());
    }
    Ok(())
}

/// A worker process of the sysv stop: takes one job, does it holding a slot.
fn sysv_worker(key_file: &Path) -> Result {
    use forkwise::sysv::{FileKey, Queue, Selector, Semaphore};

    let key = FileKey::with_project(key_file, 1)?;
    let slots = Semaphore::open(&key, SLOTS)?;
    let jobs = Queue::open(key.next()?)?;
    let (_, TourJob { image }) = jobs.receive(Selector::Exact(JOB))?;
    let slot = slots.acquire()?;
    let busy = SLOTS - slots.available()?;
    std::thread::sleep(Duration::from_millis(100)); // the "resizing"
    slot.release()?;
    let worker = std::process::id();
    jobs.send(
        DONE,
        &TourDone {
            worker,
            image,
            busy,
        },
    )?;
    Ok(())
}

/// Stop 4: a master with three supervised workers; worker 1 fails on its
/// first run and is restarted in a new process.
fn fork_stop() -> Result {
    use forkwise::fork::{ForkManager, RestartPolicy};

    println!("\n== fork: a master, 3 workers, one failing and restarted");
    let mut manager = ForkManager::new()?;
    manager.on_exit(|end| println!("  {end}"));
    let policy = RestartPolicy::on_failure()
        .max_restarts(3, Duration::from_secs(10))
        .backoff(Duration::from_millis(10), Duration::from_millis(100));
    let pool = manager.spawn_group(
        |worker| {
            println!(
                "  worker {} runs as pid {} (restart {})",
                worker.index(),
                worker.pid(),
                worker.restarts()
            );
            if worker.index() == 1 && worker.restarts() == 0 {
                return Err("worker 1 fails on its first run");
            }
            Ok(())
        },
        3,
        policy,
    )?;
    let states = manager.wait(&pool)?;
    if !states.iter().all(|state| state.success()) || manager.restarts(pool.ids()[1]) != Some(1) {
        return Err("the supervised workers did not end as expected".into());
    }
    println!("  all 3 done; worker 1 was restarted once");
    Ok(())
}

/// Stop 7: shared memory. Three worker processes count into one
/// `SharedData` store with `update`, losing no increment; then a process
/// moving units between two keys in transactions is killed with SIGKILL in
/// the middle of its loop, and the total still balances: the next process
/// to touch the store rolled back whatever the dead one left half-done.
fn shm_stop() -> Result {
    use forkwise::shm::{Capacity, Error, SharedData};

    println!("\n== shm: workers share a SharedData store; one is SIGKILLed mid-transaction");
    let name = format!("forkwise-tour-shm-{}", std::process::id());
    // This process creates the store and removes /dev/shm/NAME when `data`
    // drops; the workers only open it.
    let data = SharedData::create(&name, Capacity::new(16, 16))?;
    let mut workers = (0..3)
        .map(|_| {
            Command::new(std::env::current_exe()?)
                .args(["shm-worker", &name])
                .spawn()
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    for worker in &mut workers {
        if !worker.wait()?.success() {
            return Err("an shm worker failed".into());
        }
    }
    let hits: u64 = data.get("hits")?.unwrap_or(0);
    println!("  3 workers x 1000 update(+1) on /dev/shm/{name}: hits = {hits}");
    if hits != 3000 {
        return Err("an increment was lost".into());
    }

    data.set("left", &1000i64)?;
    data.set("right", &0i64)?;
    let mut mover = Command::new(std::env::current_exe()?)
        .args(["shm-mover", &name])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut started = String::new();
    BufReader::new(mover.stdout.take().ok_or("mover stdout")?).read_line(&mut started)?;
    std::thread::sleep(Duration::from_millis(50));
    mover.kill()?; // SIGKILL, wherever the mover is
    mover.wait()?;
    let (left, right) = data.transaction(|tx| {
        let left: i64 = tx.get("left")?.unwrap_or(0);
        let right: i64 = tx.get("right")?.unwrap_or(0);
        Ok::<_, Error>((left, right))
    })?;
    println!(
        "  mover {} killed after 50 ms of transactions: left {left} + right {right} = {} \
         (recoveries from a dead lock holder: {})",
        mover.id(),
        left + right,
        data.recoveries()
    );
    if left + right != 1000 {
        return Err("a transaction was half-applied".into());
    }
    Ok(())
}

/// A worker process of the shm stop: 1000 increments that never lose one.
fn shm_worker(name: &str) -> Result {
    let data = forkwise::shm::SharedData::open(name)?;
    for _ in 0..1000 {
        data.update("hits", |n: Option<u64>| n.unwrap_or(0) + 1)?;
    }
    Ok(())
}

/// The mover of the shm stop: moves one unit at a time between two keys,
/// in a transaction, until it is killed.
fn shm_mover(name: &str) -> Result {
    use forkwise::shm::{Error, SharedData};

    let data = SharedData::open(name)?;
    println!("moving");
    std::io::stdout().flush()?;
    loop {
        data.transaction(|tx| {
            let left: i64 = tx.get("left")?.unwrap_or(0);
            let right: i64 = tx.get("right")?.unwrap_or(0);
            let step = if left > 0 { 1 } else { -1000 };
            tx.set("left", &(left - step))?;
            tx.set("right", &(right + step))?;
            Ok::<_, Error>(())
        })?;
    }
}
