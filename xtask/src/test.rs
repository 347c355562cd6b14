//! `cargo xtask test`: every check CI runs, in order, stopping at the first failure.
//!
//! 1. `cargo fmt --check`;
//! 2. `cargo clippy --workspace --all-targets -- -D warnings`;
//! 3. `cargo doc --workspace --no-deps` with warnings denied;
//! 4. the tidy check ([`crate::tidy`]);
//! 5. unit tests (`--lib --bins`) and doc tests;
//! 6. the cross-process tests: each crate's `tests/it` binary;
//! 7. the proptest property tests: each crate's `tests/props` binary;
//! 8. the examples: `cargo run --example tour` and every crate's examples;
//! 9. the leak check.
//!
//! # How forking tests stay sound
//!
//! libtest runs every `#[test]` on a thread of its own, so a plain test is a
//! two-thread process, which forkwise rightly refuses to fork. Unit tests
//! therefore never fork. (Doc tests may: rustdoc runs each one in a process
//! of its own, and forkwise-fork's thread check would refuse loudly if not.)
//! Tests that fork live in integration-test binaries declared with
//! `harness = false` (`tests/it`, `tests/props`),
//! whose `main` hands the cases to `forkwise_testkit::run`: from its one
//! thread it forks one process per case, runs the cases one after another,
//! arms an `alarm` watchdog in each, captures its output and reports the pid,
//! exit status and output of a failed case, and fails a case that leaves a
//! process, a file descriptor, a SysV object or a `/dev/shm` file behind. No
//! fork-safety check of the crates is ever bypassed to test them.
//!
//! # The leak check
//!
//! Before the first test step and after the last, this task snapshots this
//! user's SysV IPC objects (`/proc/sysvipc`) and the files under `/dev/shm`;
//! anything new fails the run and is named. It also makes itself a child
//! subreaper (`PR_SET_CHILD_SUBREAPER`), so every process the tests orphaned,
//! zombies included, becomes its child: any left at the end is named, killed
//! and reaped, and fails the run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use forkwise_testkit::leaks::{self, Snapshot};

use crate::cargo::{cargo, root, step};

/// The static checks: formatting, clippy, docs and tidy.
///
/// # Errors
///
/// The first failing check, named.
pub(crate) fn lint() -> Result<(), String> {
    step("fmt", cargo(&["fmt", "--all", "--", "--check"]))?;
    step(
        "clippy",
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    let mut doc = cargo(&["doc", "--workspace", "--no-deps"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    step("doc", doc)?;
    crate::tidy::run()
}

/// Runs every step, then the leak check.
///
/// # Errors
///
/// The first failing step, or the leaks found, named.
pub(crate) fn run() -> Result<(), String> {
    let started = Instant::now();
    become_subreaper()?;
    let before = Snapshot::take();

    lint()?;
    step(
        "unit tests",
        cargo(&["test", "--workspace", "--lib", "--bins"]),
    )?;
    step("doc tests", cargo(&["test", "--workspace", "--doc"]))?;
    for (name, target) in [("cross-process tests", "it"), ("property tests", "props")] {
        let mut command = cargo(&["test", "--test", target]);
        for package in packages_with_test(target)? {
            command.args(["-p", &package]);
        }
        step(name, command)?;
    }
    for (package, example) in examples()? {
        step(
            &format!("example {example}"),
            cargo(&["run", "-q", "-p", &package, "--example", &example]),
        )?;
    }

    println!("\n==> leak check");
    check_leaks(&before)?;
    println!("==> leak check: ok (no SysV object, /dev/shm file or process left behind)");
    println!(
        "\nxtask test: all green in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn become_subreaper() -> Result<(), String> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes one integer argument and only
    // changes who reaps this process's orphaned descendants.
    let ret = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if ret == 0 {
        Ok(())
    } else {
        Err(format!(
            "prctl(PR_SET_CHILD_SUBREAPER): {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// Fails naming every object and process the run left behind.
fn check_leaks(before: &Snapshot) -> Result<(), String> {
    let mut leaked = Snapshot::take().leaked_since(before);
    for process in leaks::children_of(std::process::id().cast_signed()) {
        // SAFETY: kill and waitpid take plain integers; a null status pointer is allowed.
        unsafe {
            libc::kill(process.pid, libc::SIGKILL);
            libc::waitpid(process.pid, std::ptr::null_mut(), 0);
        }
        leaked.push(format!("{process} (now killed and reaped)"));
    }
    if leaked.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the tests left {} thing(s) behind:\n  {}",
        leaked.len(),
        leaked.join("\n  ")
    ))
}

/// The workspace's package directories, each with its package name.
fn packages() -> Result<Vec<(String, PathBuf)>, String> {
    let output = cargo(&["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|err| format!("cargo metadata: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|err| format!("cargo metadata: {err}"))?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?;
    Ok(packages
        .iter()
        .filter_map(|package| {
            let name = package["name"].as_str()?.to_owned();
            let dir = Path::new(package["manifest_path"].as_str()?)
                .parent()?
                .to_owned();
            Some((name, dir))
        })
        .collect())
}

/// The packages that have a `tests/<target>/main.rs` test binary.
fn packages_with_test(target: &str) -> Result<Vec<String>, String> {
    Ok(packages()?
        .into_iter()
        .filter(|(_, dir)| dir.join("tests").join(target).join("main.rs").is_file())
        .map(|(name, _)| name)
        .collect())
}

/// Every example of every package, the root's tour first.
fn examples() -> Result<Vec<(String, String)>, String> {
    let mut found = Vec::new();
    for (package, dir) in packages()? {
        let Ok(entries) = std::fs::read_dir(dir.join("examples")) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|entry| {
                entry
                    .file_name()
                    .to_str()?
                    .strip_suffix(".rs")
                    .map(str::to_owned)
            })
            .collect();
        names.sort();
        found.extend(names.into_iter().map(|name| (package.clone(), name)));
    }
    let root_package = packages()?
        .into_iter()
        .find(|(_, dir)| dir == &root())
        .map(|(name, _)| name);
    found
        .sort_by_key(|(package, name)| !(Some(package) == root_package.as_ref() && name == "tour"));
    Ok(found)
}
