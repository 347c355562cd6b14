//! Driving dispatch from your own `poll(2)` loop, beside other descriptors.
//!
//! ```text
//! cargo run -p forkwise-signal --example event_loop
//! ```
//!
//! The wake-up descriptor of a handler is readable while a signal waits for
//! dispatch; an event loop (here a bare `poll`, equally mio or tokio's
//! `AsyncFd`) watches it with its other descriptors and calls `dispatch`
//! when it is readable. A forked child plays the other process that sends
//! SIGUSR1 and SIGTERM.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use forkwise_signal::{Propagation, Signal, SignalHandler};

fn main() -> Result<(), forkwise_signal::Error> {
    let usr1 = SignalHandler::new(Signal::SIGUSR1)?;
    usr1.add(|info| {
        let from = info.sender.map_or(0, |s| s.pid);
        println!("SIGUSR1 from {from} (x{}): rotating logs", info.count);
        Propagation::Continue
    })?;
    let done = Arc::new(AtomicBool::new(false));
    let term = SignalHandler::new(Signal::SIGTERM)?;
    let flag = Arc::clone(&done);
    term.add(move |_| {
        println!("SIGTERM: leaving the loop");
        flag.store(true, Ordering::Relaxed);
        Propagation::Stop
    })?;

    let parent = i32::try_from(std::process::id()).expect("pids fit i32");
    // SAFETY: this example has one thread; the child sleeps, sends two
    // signals and leaves with _exit.
    let child = unsafe { libc::fork() };
    if child == 0 {
        std::thread::sleep(Duration::from_millis(100));
        let _ = Signal::SIGUSR1.send(parent);
        std::thread::sleep(Duration::from_millis(100));
        let _ = Signal::SIGTERM.send(parent);
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(0) };
    }

    while !done.load(Ordering::Relaxed) {
        let mut fds = [libc::pollfd {
            fd: usr1.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: one valid pollfd for the duration of the call. EINTR (a
        // signal arrived during the poll) just goes round the loop again.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, 1000) };
        if ready > 0 {
            forkwise_signal::dispatch();
        } else if ready == 0 {
            println!("(a second with no signal: the loop's other work goes here)");
        }
    }
    // SAFETY: reaps our own child; a null status is allowed.
    unsafe { libc::waitpid(child, std::ptr::null_mut(), 0) };
    Ok(())
}
