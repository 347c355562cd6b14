//! The workspace's tasks, run as `cargo xtask <task>` (an alias in
//! `.cargo/config.toml`).
//!
//! - `cargo xtask test`: everything CI checks, in order, stopping at the
//!   first failure; see [`mod@test`] for the steps and how forking tests stay
//!   sound.
//! - `cargo xtask bench [crate]`: each primitive against the same operation
//!   written on libc (the floor) and against peer crates; see [`mod@bench`].
//! - `cargo xtask lint`: only the static checks (fmt, clippy, doc, tidy).
//!
//! Cargo is run as `$CARGO` (the cargo that runs this task), from the
//! workspace root.

mod bench;
mod cargo;
mod test;
mod tidy;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test::run(),
        Some("lint") => test::lint(),
        Some("bench") => bench::run(&args[1..]),
        Some("tidy") => tidy::run(),
        _ => {
            eprintln!("usage: cargo xtask <test | bench [crate] | lint | tidy>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: {message}");
            ExitCode::FAILURE
        }
    }
}
