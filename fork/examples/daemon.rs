//! A daemon and a detached program, started, found, stopped, and reaped.
//!
//! `cargo run -p forkwise-fork --example daemon`
//!
//! A daemon's parent exits, so the daemon is adopted by init, or by the
//! nearest child subreaper. This example's master is one (see
//! `ForkManagerBuilder::subreaper`), so it can reap the daemon it stops and
//! leaves nothing behind.

use std::process::{Command, Stdio};

use forkwise_fork::{Daemon, ForkManager, Signal, daemonize, detach};
use forkwise_lock::Pidfile;
use forkwise_signal::SignalTrap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("forkwise-daemon-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let pidfile = dir.join("example.pid");
    let mut manager = ForkManager::builder().subreaper(true).build()?;

    // The launcher daemonizes itself; it exits 0 once the daemon is ready.
    let launcher = manager.fork(
        |_| -> Result<(), forkwise_fork::Error> {
            let trap = SignalTrap::new(&[Signal::SIGTERM])?;
            let daemon = daemonize(Daemon::new().pidfile(&pidfile))?;
            trap.wait(None)?; // until `kill <pid>`
            drop(daemon); // removes the pidfile
            Ok(())
        },
        1,
    )?;
    assert!(manager.wait(&launcher)?[0].success());

    let pid = i32::try_from(Pidfile::holder(&pidfile)?.ok_or("no daemon")?)?;
    println!("daemon running as pid {pid} (from {})", pidfile.display());
    let daemon = manager.adopt(pid)?;
    manager.kill(Signal::SIGTERM, daemon)?;
    println!("daemon {}", manager.wait(daemon)?[0]);
    assert!(!pidfile.exists(), "the daemon removed its pidfile");

    // `nohup setsid sleep 30 &`, then stop it.
    let pid = detach(Command::new("sleep").arg("30").stdin(Stdio::null()))?;
    println!("detached `sleep 30` as pid {pid}");
    // Its middle process has exited: the program is our child now (we are
    // the subreaper), ours to stop and reap.
    let program = manager.adopt(pid)?;
    manager.kill(Signal::SIGTERM, program)?;
    println!("sleep {}", manager.wait(program)?[0]);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
