//! `cargo xtask bench [--write] [crate...]`: every primitive against the floor
//! and its peers, in one run, as a markdown table.
//!
//! # What is compared
//!
//! Each benchmarked operation is measured three ways, side by side:
//!
//! - **forkwise**: the crate's own API, used as a user would;
//! - **floor**: the same operation written directly on libc in the bench
//!   file (`flock(fd, LOCK_EX)` then `flock(fd, LOCK_UN)` on a descriptor
//!   opened once, say): what no wrapper can beat, so `forkwise / floor` says
//!   what the wrapper costs;
//! - **peers**: where one exists, the crate (or std API) a user would
//!   otherwise pick, each with its ratio to the same floor.
//!
//! # Method
//!
//! The tool is criterion, which runs one benchmark after another. Running
//! `forkwise` for a few seconds and then `floor` would let a change in the
//! machine's load between the two (this machine's other builds, a frequency
//! change) pass for a difference between them. So the variants are
//! interleaved in rounds: the task runs each bench binary `R` times (5 unless
//! `FORKWISE_BENCH_ROUNDS` says otherwise), every round running every variant
//! of every operation with short warm-up and measurement times (see
//! [`CRITERION_ARGS`]). After each round it reads criterion's median time per
//! iteration from `<target>/criterion/<group>/<function>/new/estimates.json`
//! (`median.point_estimate`, in ns; `benchmark.json` beside it gives the
//! group and function ids, which criterion escapes in directory names). Only
//! results written during the round and named by the binary's `--list` count,
//! so another crate's benches running meanwhile in the same target directory
//! cannot slip into the table (their load on the machine still can).
//! The table shows, for each variant, the median over the rounds of those
//! medians: a minority of rounds disturbed by the machine moves nothing. A
//! machine disturbed for most of the run still moves the table, and then only
//! another run helps: the per-round medians, printed on stderr before the
//! tables, show it, and the table gets a note. (A shared virtual machine can
//! switch every few seconds between a fast and a slow state, with every
//! syscall some 30% slower in the slow one.)
//!
//! Cross-process operations (a lock handed from one process to another) use
//! criterion's `iter_custom`: the bench forks a helper process per call and
//! returns only the time of the part being measured. Forking is sound only in
//! a single-threaded process: criterion without its `rayon` feature (the
//! workspace turns it off) starts no thread, and the benches check
//! `/proc/self/task` before every fork.
//!
//! Timings never go into tests: nothing here fails because a number is high.
//!
//! # Output
//!
//! Cargo and criterion report progress on stderr; stdout ends with one table
//! per crate under a line giving the date (UTC), `nproc`, the CPU model, the
//! command, and the 1-minute load average before and after the run: the
//! benches alone keep it near 1, so much more means something else ran
//! meanwhile and the times are worth less. Below a table, a note counts the
//! variants whose median cannot be trusted because fewer than half of their
//! rounds lie within 10% of the fastest. With `--write` the tables
//! also replace their crate's section of `BENCHMARKS.md` at the workspace root
//! (marked by `<!-- bench:CRATE -->` comments; sections of crates not
//! benchmarked in this run are kept; a new crate's section is appended).
//!
//! # Adding a crate's benches
//!
//! 1. Give the crate `criterion` as a dev-dependency (`criterion.workspace =
//!    true`) and a `[[bench]]` target with `harness = false`; the task finds
//!    every bench target of every workspace member through `cargo metadata`.
//! 2. In the bench's `main`, build `Criterion::default().configure_from_args()`
//!    and, per operation, a `benchmark_group` named after the operation and
//!    prefixed by the primitive ("lock: uncontended exclusive
//!    acquire+release"), with the functions `forkwise`, `floor`, and
//!    `peer:<name>` for each peer ("peer:fd-lock"). Other function ids are
//!    ignored, with a warning.
//! 3. Write the floor in the bench file itself, on libc, doing no less than
//!    the forkwise version must (check errors; open files outside the loop when
//!    forkwise does too), so the ratio measures the wrapper and nothing else.
//! 4. A cross-process bench forks inside `iter_custom`, once per call: it
//!    checks that the process has one thread, the child leaves with `_exit`,
//!    and the parent reaps it before returning, so nothing outlives the call.
//! 5. Keep each variant short: the run should stay within a few minutes.
//!    `lock/benches/lock.rs` is the model.
//!
//! # Report benches
//!
//! Some figures are not a cost per call: a timer's drift and jitter are
//! measured against the ideal schedule (`timer/benches/timer.rs`). A bench
//! target whose `--list` names no benchmark is such a report: it runs once,
//! after the rounds, and what it prints on stdout (a markdown table with its
//! own floor and peers) becomes its crate's section, under the same header.

mod report;
mod results;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Instant, SystemTime};

use crate::cargo;
use report::Machine;
use results::Samples;

/// Criterion's arguments for every round: short warm-up and measurement
/// (the rounds give the repetitions), fewer bootstrap resamples (only the
/// point estimate is used), no plots, and a baseline of its own so that a
/// user's default `base` baseline is left alone.
const CRITERION_ARGS: &[&str] = &[
    "--warm-up-time",
    "0.3",
    "--measurement-time",
    "1",
    "--nresamples",
    "10000",
    "--noplot",
    "--save-baseline",
    "xtask",
    "--quiet",
];

/// Rounds per run unless `FORKWISE_BENCH_ROUNDS` says otherwise.
const DEFAULT_ROUNDS: usize = 5;

/// The command line of the task, after `cargo xtask bench`.
#[derive(Debug)]
struct Options {
    /// Rewrite this run's sections of `BENCHMARKS.md`.
    write: bool,
    /// The crates asked for (package name, or the part after `forkwise-`);
    /// empty means every crate with benches.
    crates: Vec<String>,
}

impl Options {
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut options = Self {
            write: false,
            crates: Vec::new(),
        };
        for arg in args {
            match arg.as_str() {
                "--write" => options.write = true,
                "-h" | "--help" => return Err(USAGE.to_owned()),
                flag if flag.starts_with('-') => {
                    return Err(format!("unknown option `{flag}`\n{USAGE}"));
                }
                _ => options.crates.push(arg),
            }
        }
        Ok(options)
    }
}

const USAGE: &str = "usage: cargo xtask bench [--write] [crate...]
  crate    a workspace crate with benches, as `forkwise-lock` or `lock`; all by default
  --write  also rewrite these crates' sections of BENCHMARKS.md
  FORKWISE_BENCH_ROUNDS=N  rounds (default 5)";

/// A workspace crate with bench targets.
#[derive(Debug)]
struct BenchCrate {
    package: String,
    benches: Vec<String>,
}

/// Runs the task. `main` hands over only the argument after `bench`; the
/// task reads all of its arguments (`[--write] [crate...]`) itself.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = Options::parse(args.iter().cloned())?;
    let rounds = rounds()?;
    let (target_dir, all) = bench_crates()?;
    let crates = select(&all, &options.crates)?;
    let criterion_home = target_dir.join("criterion");
    let started = Instant::now();
    let load_before = report::load_average();

    let mut build = vec!["bench", "--no-run"];
    for krate in &crates {
        build.extend(["-p", &krate.package]);
    }
    run_quietly(cargo::cargo(&build), "build the benches")?;
    let mut ids = BTreeMap::new();
    for krate in &crates {
        for bench in &krate.benches {
            ids.insert((&krate.package, bench), list(&krate.package, bench)?);
        }
    }

    let mut samples = Samples::default();
    for round in 1..=rounds {
        for krate in &crates {
            for bench in &krate.benches {
                if ids[&(&krate.package, bench)].is_empty() {
                    continue; // a report bench: it runs once, below
                }
                eprintln!(
                    "\n==> round {round}/{rounds}: {} --bench {bench}",
                    krate.package
                );
                let since = SystemTime::now();
                let mut args = vec!["bench", "-p", &krate.package, "--bench", bench, "--"];
                args.extend(CRITERION_ARGS);
                let mut command = cargo::cargo(&args);
                command.env("CRITERION_HOME", &criterion_home);
                run_quietly(command, "run the benches")?;
                let ids = &ids[&(&krate.package, bench)];
                samples.collect(&criterion_home, &krate.package, since, ids)?;
            }
        }
    }
    eprintln!(
        "\n==> {rounds} rounds in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    samples.print_rounds();

    let mut reports = BTreeMap::new();
    for krate in &crates {
        for bench in krate
            .benches
            .iter()
            .filter(|b| ids[&(&krate.package, *b)].is_empty())
        {
            eprintln!("\n==> report: {} --bench {bench}", krate.package);
            let table = run_report(&krate.package, bench)?;
            reports
                .entry(&krate.package)
                .or_insert_with(String::new)
                .push_str(&table);
        }
    }

    let machine = Machine::describe(&command_line(rounds), &load_before);
    let mut sections = Vec::new();
    for krate in &crates {
        let section = if let Some(table) = reports.get(&krate.package) {
            report::report_section(&krate.package, &machine, table)
        } else if samples.operations(&krate.package).is_empty() {
            continue;
        } else {
            report::section(&krate.package, &machine, &samples)
        };
        println!("\n{section}");
        sections.push((krate.package.clone(), section));
    }
    if options.write {
        let path = cargo::root().join("BENCHMARKS.md");
        report::write(&path, &sections)?;
        eprintln!("\n==> wrote {}", path.display());
    }
    Ok(())
}

/// The number of rounds: `FORKWISE_BENCH_ROUNDS` or [`DEFAULT_ROUNDS`].
fn rounds() -> Result<usize, String> {
    match std::env::var("FORKWISE_BENCH_ROUNDS") {
        Err(_) => Ok(DEFAULT_ROUNDS),
        Ok(value) => match value.parse() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!(
                "FORKWISE_BENCH_ROUNDS must be a positive integer, not `{value}`"
            )),
        },
    }
}

/// The command as the user typed it, for the table's header.
fn command_line(rounds: usize) -> String {
    let mut line = String::new();
    if std::env::var_os("FORKWISE_BENCH_ROUNDS").is_some() {
        let _ = write!(line, "FORKWISE_BENCH_ROUNDS={rounds} ");
    }
    line.push_str("cargo xtask");
    for arg in std::env::args().skip(1) {
        line.push(' ');
        line.push_str(&arg);
    }
    line
}

/// Runs `command` with its stdout sent to stderr (stdout is for the tables).
fn run_quietly(mut command: std::process::Command, what: &str) -> Result<(), String> {
    command.stdout(Stdio::from(std::io::stderr()));
    let status = command
        .status()
        .map_err(|err| format!("could not {what}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "could not {what} ({status}): {}",
            cargo::describe(&command)
        ))
    }
}

/// Runs the report bench `bench` of `package` once and returns its stdout.
fn run_report(package: &str, bench: &str) -> Result<String, String> {
    let mut command = cargo::cargo(&["bench", "-q", "-p", package, "--bench", bench]);
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("could not run the report bench: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "the report bench failed ({}): {}",
            output.status,
            cargo::describe(&command)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned() + "\n")
}

/// The full ids ("group/function") of the benchmarks in `package`'s bench
/// target `bench`, from criterion's `--list`.
fn list(package: &str, bench: &str) -> Result<BTreeSet<String>, String> {
    let mut command = cargo::cargo(&["bench", "-p", package, "--bench", bench, "--", "--list"]);
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("could not list the benches: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "could not list the benches ({}): {}",
            output.status,
            cargo::describe(&command)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_suffix(": benchmark"))
        .map(str::to_owned)
        .collect())
}

/// The target directory and every workspace crate with bench targets, from
/// `cargo metadata`.
fn bench_crates() -> Result<(PathBuf, Vec<BenchCrate>), String> {
    let output = cargo::cargo(&["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("could not run cargo metadata: {err}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed ({})", output.status));
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|err| format!("cargo metadata printed bad JSON: {err}"))?;
    let target_dir = metadata["target_directory"]
        .as_str()
        .ok_or("cargo metadata gave no target_directory")?;
    let mut crates = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let benches: Vec<String> = package["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|target| {
                target["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bench"))
            })
            .filter_map(|target| target["name"].as_str().map(str::to_owned))
            .collect();
        if let (Some(name), false) = (package["name"].as_str(), benches.is_empty()) {
            crates.push(BenchCrate {
                package: name.to_owned(),
                benches,
            });
        }
    }
    crates.sort_by(|a, b| a.package.cmp(&b.package));
    Ok((PathBuf::from(target_dir), crates))
}

/// The crates named in `wanted` (all if empty), by package name or by the
/// part after `forkwise-`.
fn select<'a>(all: &'a [BenchCrate], wanted: &[String]) -> Result<Vec<&'a BenchCrate>, String> {
    if all.is_empty() {
        return Err("no workspace crate has a bench target".to_owned());
    }
    if wanted.is_empty() {
        return Ok(all.iter().collect());
    }
    let mut selected = Vec::new();
    for name in wanted {
        let found = all.iter().find(|krate| {
            krate.package == *name || krate.package.strip_prefix("forkwise-") == Some(name)
        });
        match found {
            Some(krate)
                if !selected
                    .iter()
                    .any(|s: &&BenchCrate| s.package == krate.package) =>
            {
                selected.push(krate);
            }
            Some(_) => {}
            None => {
                let names: Vec<&str> = all.iter().map(|k| k.package.as_str()).collect();
                return Err(format!(
                    "no crate with benches is called `{name}`; those with benches: {}",
                    names.join(", ")
                ));
            }
        }
    }
    Ok(selected)
}
