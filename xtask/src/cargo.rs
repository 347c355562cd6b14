//! Running cargo and other commands from the workspace root.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// The workspace root (the parent of this crate's directory).
pub(crate) fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("xtask lives in a subdirectory of the workspace")
        .to_owned()
}

/// A `cargo` command in the workspace root, using the cargo that runs xtask.
pub(crate) fn cargo(args: &[&str]) -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.args(args).current_dir(root());
    command
}

/// Runs `command` as the step `name`, printing a heading and the time it took.
///
/// # Errors
///
/// A message naming the step if the command could not start or failed.
pub(crate) fn step(name: &str, mut command: Command) -> Result<(), String> {
    println!("\n==> {name}: {}", describe(&command));
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|err| format!("step `{name}` could not start: {err}"))?;
    let took = started.elapsed().as_secs_f64();
    if status.success() {
        println!("==> {name}: ok ({took:.1} s)");
        Ok(())
    } else {
        Err(format!(
            "step `{name}` failed ({status}) after {took:.1} s: {}",
            describe(&command)
        ))
    }
}

/// The command line, as a user would type it.
pub(crate) fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}
