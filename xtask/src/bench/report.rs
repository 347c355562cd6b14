//! The markdown table of a crate's results, its header line, and the
//! sections of `BENCHMARKS.md`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use super::results::{AGREE, Kind, Operation, Samples};

/// Where and how a run was measured, for the line above each table.
#[derive(Debug)]
pub(super) struct Machine {
    date: String,
    nproc: String,
    cpu: String,
    command: String,
    load: String,
}

impl Machine {
    /// The current UTC time, `nproc`, the CPU model, `command`, and the load
    /// average (1 minute) at the start of the run, `load_before`, and now.
    pub(super) fn describe(command: &str, load_before: &str) -> Self {
        Self {
            date: utc_now(),
            nproc: nproc(),
            cpu: cpu_model(),
            command: command.to_owned(),
            load: format!("{load_before} → {}", load_average()),
        }
    }
}

/// `package`'s section: a heading, the header line and the table.
pub(super) fn section(package: &str, machine: &Machine, samples: &Samples) -> String {
    let mut out = format!(
        "## {package}\n\n{} · nproc {} · {} · `{}` · load average {}\n\n",
        machine.date, machine.nproc, machine.cpu, machine.command, machine.load
    );
    out.push_str(
        "| operation | forkwise | floor | ratio to floor | peers (time, ratio to floor) |\n\
         | --- | ---: | ---: | ---: | --- |\n",
    );
    let (mut variants, mut unsettled) = (0, 0);
    for operation in samples.operations(package) {
        out.push_str(&row(operation));
        for settled in operation.settled() {
            variants += 1;
            unsettled += usize::from(!settled);
        }
    }
    if unsettled > 0 {
        let _ = write!(
            out,
            "\n\\* The machine was disturbed during this run: for {unsettled} of {variants} \
             variants, marked \\*, fewer than half of the rounds lie within {:.0}% of the \
             fastest, so their medians (and ratios) may mislead.\n",
            AGREE * 100.0
        );
    }
    out
}

/// The section of a crate whose bench is a report: the header, then the
/// markdown the report printed.
pub(super) fn report_section(package: &str, machine: &Machine, table: &str) -> String {
    format!(
        "## {package}\n\n{} · nproc {} · {} · `{}` · load average {}\n\n{table}",
        machine.date, machine.nproc, machine.cpu, machine.command, machine.load
    )
}

fn row(operation: &Operation) -> String {
    let forkwise = operation.median(Kind::Forkwise);
    let floor = operation.median(Kind::Floor);
    let ratio = |median: Option<(f64, bool)>| match (median, floor) {
        (Some((ns, _)), Some((floor, _))) if floor > 0.0 => format!("{:.2}x", ns / floor),
        _ => "-".to_owned(),
    };
    let peers: Vec<String> = operation
        .variants
        .iter()
        .filter_map(|(id, _)| match Kind::of(id) {
            Some(Kind::Peer(name)) => {
                let median = operation.median(Kind::Peer(name));
                Some(format!("{name}: {} ({})", time(median), ratio(median)))
            }
            _ => None,
        })
        .collect();
    let peers = if peers.is_empty() {
        "-".to_owned()
    } else {
        peers.join("; ")
    };
    format!(
        "| {} | {} | {} | {} | {peers} |\n",
        operation.name.replace('|', "\\|"),
        time(forkwise),
        time(floor),
        ratio(forkwise),
    )
}

/// A median in ns with a unit that keeps it short ("412 ns", "1.63 µs"),
/// and `\*` if it is not settled.
fn time(median: Option<(f64, bool)>) -> String {
    let Some((ns, settled)) = median else {
        return "-".to_owned();
    };
    let mark = if settled { "" } else { "\\*" };
    if ns < 1e3 {
        format!("{ns:.0} ns{mark}")
    } else if ns < 1e6 {
        format!("{:.2} µs{mark}", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms{mark}", ns / 1e6)
    } else {
        format!("{:.2} s{mark}", ns / 1e9)
    }
}

/// What a new `BENCHMARKS.md` starts with, before the crates' sections.
const INTRO: &str = "# Benchmarks

Written by `cargo xtask bench --write` (see `xtask/src/bench.rs` for the method).
Each operation is measured as forkwise does it, as the same operation written
directly on libc (the floor), and as the peer crates a user would otherwise pick
do it. The variants run interleaved in rounds; each time is the median over the
rounds of criterion's median. A ratio is a variant's time divided by the floor's.
Running one crate's benches replaces only that crate's section.

Read the ratios more than the times: the times belong to the machine named above
each table, and a load average well above 1 there means something else ran
during the measurement. Cross-process times are mostly the scheduler's: across
two CPUs they move by an order of magnitude with the machine's load (on a
virtual machine, waking an idle virtual CPU is slow), which is why the lock
hand-off runs both processes on one CPU.
";

/// Replaces (or appends) each `(package, section)` in the file at `path`,
/// creating it with [`INTRO`] if needed; other crates' sections are kept.
///
/// # Errors
///
/// A message naming the file if it cannot be read or written.
pub(super) fn write(path: &Path, sections: &[(String, String)]) -> Result<(), String> {
    let mut text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => INTRO.to_owned(),
        Err(err) => return Err(format!("cannot read {}: {err}", path.display())),
    };
    for (package, section) in sections {
        let start = format!("<!-- bench:{package} -->");
        let end = format!("<!-- /bench:{package} -->");
        let block = format!("{start}\n{section}{end}\n");
        let span = text.find(&start).and_then(|from| {
            text[from..]
                .find(&end)
                .map(|to| (from, from + to + end.len()))
        });
        if let Some((from, to)) = span {
            let to = to + usize::from(text[to..].starts_with('\n'));
            text.replace_range(from..to, &block);
        } else {
            if !text.ends_with("\n\n") {
                text.push('\n');
            }
            text.push_str(&block);
        }
    }
    std::fs::write(path, text).map_err(|err| format!("cannot write {}: {err}", path.display()))
}

/// `nproc`'s answer, or the parallelism std sees if it cannot run.
fn nproc() -> String {
    Command::new("nproc")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .map(|n| n.to_string())
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// The 1-minute load average from `/proc/loadavg`. The benches alone keep it
/// near 1; well above that, something else ran beside them.
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The first `model name` of `/proc/cpuinfo`.
fn cpu_model() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    cpuinfo
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// The current time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let (days, of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::new();
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        of_day / 3600,
        of_day % 3600 / 60
    );
    out
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::{civil_from_days, time, write};

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn times_keep_three_figures() {
        assert_eq!(time(Some((412.4, true))), "412 ns");
        assert_eq!(time(Some((1634.0, true))), "1.63 µs");
        assert_eq!(time(Some((1634.0, false))), "1.63 µs\\*");
        assert_eq!(time(None), "-");
    }

    #[test]
    fn writing_replaces_only_the_crates_section() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("BENCHMARKS.md");
        let section = |name: &str, body: &str| (name.to_owned(), format!("## {name}\n{body}\n"));
        write(&path, &[section("a", "first"), section("b", "two")]).unwrap();
        write(&path, &[section("a", "three")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(text.starts_with("# Benchmarks\n"));
        assert!(text.contains("<!-- bench:a -->\n## a\nthree\n<!-- /bench:a -->\n"));
        assert!(text.contains("<!-- bench:b -->\n## b\ntwo\n<!-- /bench:b -->\n"));
        assert!(!text.contains("first"));
        assert!(text.find("bench:a").unwrap() < text.find("bench:b").unwrap());
    }
}
