//! A listener stack with bubbling: a modal part of a program takes over
//! SIGINT for a while, then gives it back.
//!
//! ```text
//! cargo run -p forkwise-signal --example bubbling
//! ```
//!
//! The application's own SIGINT listener asks for a shutdown. While a
//! transaction is open, a newer listener stops SIGINT from reaching it, and
//! only marks the transaction for rollback. Once the transaction's guard is
//! dropped, SIGINT bubbles to the application again. A logging listener,
//! added first, sees only what bubbles all the way down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use forkwise_signal::{Propagation, Signal, SignalHandler};

fn main() -> Result<(), forkwise_signal::Error> {
    let shutdown = Arc::new(AtomicBool::new(false));
    let handler = SignalHandler::new(Signal::SIGINT)?;

    handler.add(|info| {
        println!(
            "  [log]         {} reached the bottom of the stack",
            info.signal
        );
        Propagation::Continue
    })?;
    let flag = Arc::clone(&shutdown);
    handler.add(move |_| {
        println!("  [application] shutting down");
        flag.store(true, Ordering::Relaxed);
        Propagation::Continue
    })?;

    {
        println!("transaction open; Ctrl-C arrives:");
        let rollback = Arc::new(AtomicBool::new(false));
        let mark = Arc::clone(&rollback);
        let _transaction = handler.add_scoped(move |_| {
            println!("  [transaction] marked for rollback; the signal stops here");
            mark.store(true, Ordering::Relaxed);
            Propagation::Stop
        })?;
        Signal::SIGINT.raise()?; // as Ctrl-C would
        let ran = forkwise_signal::dispatch();
        println!(
            "  {ran} listener ran; shutdown requested: {}",
            shutdown.load(Ordering::Relaxed)
        );
        assert!(rollback.load(Ordering::Relaxed));
    } // the transaction's listener goes with its guard

    println!("transaction closed; Ctrl-C arrives again:");
    Signal::SIGINT.raise()?;
    let ran = forkwise_signal::dispatch();
    println!(
        "  {ran} listeners ran; shutdown requested: {}",
        shutdown.load(Ordering::Relaxed)
    );
    assert!(shutdown.load(Ordering::Relaxed));
    Ok(())
}
