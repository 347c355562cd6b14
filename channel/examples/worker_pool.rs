//! A pool of forked workers reports results to a master over a
//! `MultiStreamChannel`: the master hands out jobs, each worker answers, and
//! the master sees every worker leave.
//!
//! Run with `cargo run -p forkwise-channel --example worker_pool`.

use std::io;

use forkwise_channel::{ClientId, Event, MultiStreamChannel, StreamChannel};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug)]
enum Job {
    /// Sum the numbers from 1 to n.
    SumTo(u64),
    Stop,
}

#[derive(Serialize, Deserialize, Debug)]
struct Report {
    pid: u32,
    n: u64,
    sum: u64,
}

const WORKERS: usize = 4;

fn main() -> io::Result<()> {
    let mut master = MultiStreamChannel::new()?;
    let mut pids = Vec::new();
    for _ in 0..WORKERS {
        // Create each client right before its fork, so that no worker
        // inherits another's end.
        let (_id, client) = master.create_client()?;
        // SAFETY: this example is single-threaded until here, so the child
        // may run ordinary Rust code; it leaves with `_exit`.
        match unsafe { libc::fork() } {
            -1 => return Err(io::Error::last_os_error()),
            0 => {
                // The worker keeps only its own end.
                drop(master);
                let code = i32::from(work(client).is_err());
                // SAFETY: ends the child without running the parent's
                // destructors or atexit handlers.
                unsafe { libc::_exit(code) }
            }
            pid => {
                drop(client); // the parent's copy: the worker's exit must close the last one
                pids.push(pid);
            }
        }
    }

    // Hand out one job per worker, then collect the reports as they come.
    let ids: Vec<ClientId> = master.clients().collect();
    for (id, n) in ids.iter().zip([10u64, 100, 1_000, 10_000]) {
        master.send_to(*id, &Job::SumTo(n))?;
    }
    let mut reports = 0;
    while reports < WORKERS {
        match master.receive::<Report>()? {
            Event::Message(id, report) => {
                println!(
                    "worker {id} (pid {}): 1 + ... + {} = {}",
                    report.pid, report.n, report.sum
                );
                reports += 1;
            }
            Event::Error(id, err) => println!("worker {id} sent something odd: {err}"),
            Event::Disconnected(id) => println!("worker {id} left early"),
        }
    }

    // Tell everyone to stop; count the departures until none is left.
    let failed = master.broadcast(&Job::Stop)?;
    assert!(
        failed.is_empty(),
        "every worker was still there: {failed:?}"
    );
    let mut left = 0;
    loop {
        match master.receive::<Report>() {
            Ok(Event::Disconnected(id)) => {
                println!("worker {id} left");
                left += 1;
            }
            Ok(other) => println!("unexpected: {other:?}"),
            Err(forkwise_channel::Error::Disconnected) => break,
            Err(err) => return Err(err.into()),
        }
    }
    assert_eq!(left, WORKERS);
    for pid in pids {
        let mut status = 0;
        // SAFETY: `status` is writable; `pid` is our child, not yet reaped.
        unsafe { libc::waitpid(pid, &raw mut status, 0) };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    }
    println!("all {WORKERS} workers done");
    Ok(())
}

/// The worker's side: answer jobs until told to stop.
fn work(mut channel: StreamChannel) -> forkwise_channel::Result<()> {
    loop {
        match channel.receive::<Job>()? {
            Job::SumTo(n) => channel.send(&Report {
                pid: std::process::id(),
                n,
                sum: (1..=n).sum(),
            })?,
            Job::Stop => return Ok(()),
        }
    }
}
