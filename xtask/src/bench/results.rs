//! Reading criterion's estimates after each round, and the median over rounds.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What a variant's function id says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind<'a> {
    /// `forkwise`: the crate's own API.
    Forkwise,
    /// `floor`: the operation written on libc.
    Floor,
    /// `peer:<name>`: another crate or std.
    Peer(&'a str),
}

impl<'a> Kind<'a> {
    /// The kind named by a criterion function id, if it follows the convention.
    pub(super) fn of(function_id: &'a str) -> Option<Self> {
        match function_id {
            "forkwise" => Some(Self::Forkwise),
            "floor" => Some(Self::Floor),
            _ => function_id
                .strip_prefix("peer:")
                .map(|name| Self::Peer(name.trim())),
        }
    }
}

/// One operation (a criterion group) and its variants' medians per round.
#[derive(Debug)]
pub(super) struct Operation {
    /// The group id, such as "lock: uncontended exclusive acquire+release".
    pub(super) name: String,
    /// (function id, criterion's median in ns for each round), in run order.
    pub(super) variants: Vec<(String, Vec<f64>)>,
}

impl Operation {
    /// For each variant, whether its median can be trusted: see [`settled`].
    pub(super) fn settled(&self) -> impl Iterator<Item = bool> {
        self.variants.iter().map(|(_, rounds)| settled(rounds))
    }

    /// The median over rounds of the variant of `kind`, in ns, and whether
    /// it can be trusted ([`settled`]).
    pub(super) fn median(&self, kind: Kind<'_>) -> Option<(f64, bool)> {
        self.variants
            .iter()
            .find(|(id, _)| Kind::of(id) == Some(kind))
            .map(|(_, rounds)| (median(rounds), settled(rounds)))
    }
}

/// Everything measured in this run, per crate.
#[derive(Debug, Default)]
pub(super) struct Samples {
    crates: BTreeMap<String, Vec<Operation>>,
}

/// One result criterion wrote during a round.
struct Estimate {
    written: SystemTime,
    /// "group/function", as criterion's `--list` prints it.
    full_id: String,
    group: String,
    function: String,
    median_ns: f64,
}

impl Samples {
    /// Adds the results criterion wrote under `home` since `since` for the
    /// benchmarks `ids` (full ids, "group/function") to `package`'s
    /// operations, in the order criterion wrote them. Results of other
    /// benchmarks, which another run may be writing meanwhile, are left alone.
    ///
    /// # Errors
    ///
    /// A message if a result cannot be read. A round that left no result
    /// (a bench binary that is still a stub) only gets a warning.
    pub(super) fn collect(
        &mut self,
        home: &Path,
        package: &str,
        since: SystemTime,
        ids: &BTreeSet<String>,
    ) -> Result<(), String> {
        let mut found = Vec::new();
        find_new_dirs(home, 0, &mut found);
        let mut fresh = Vec::new();
        for dir in found {
            let estimates = dir.join("estimates.json");
            let written = fs::metadata(&estimates).and_then(|m| m.modified());
            if let Ok(written) = written
                && written >= since
            {
                let estimate = read_estimate(&dir, written)?;
                if ids.contains(&estimate.full_id) {
                    fresh.push(estimate);
                }
            }
        }
        if fresh.is_empty() {
            eprintln!(
                "warning: the benches of {package} left no result under {}",
                home.display()
            );
        }
        fresh.sort_by_key(|estimate| estimate.written);
        let operations = self.crates.entry(package.to_owned()).or_default();
        for estimate in fresh {
            if Kind::of(&estimate.function).is_none() {
                eprintln!(
                    "warning: ignoring `{}/{}`: function ids are `forkwise`, `floor` or `peer:<name>`",
                    estimate.group, estimate.function
                );
                continue;
            }
            let known = operations.iter().position(|op| op.name == estimate.group);
            let index = known.unwrap_or_else(|| {
                operations.push(Operation {
                    name: estimate.group.clone(),
                    variants: Vec::new(),
                });
                operations.len() - 1
            });
            let variants = &mut operations[index].variants;
            match variants.iter_mut().find(|(id, _)| *id == estimate.function) {
                Some((_, rounds)) => rounds.push(estimate.median_ns),
                None => variants.push((estimate.function, vec![estimate.median_ns])),
            }
        }
        Ok(())
    }

    /// `package`'s operations, in the order they first ran.
    pub(super) fn operations(&self, package: &str) -> &[Operation] {
        self.crates.get(package).map_or(&[], Vec::as_slice)
    }

    /// Prints every variant's per-round medians to stderr, marking with `*`
    /// those too scattered for their median to be trusted ([`settled`]).
    pub(super) fn print_rounds(&self) {
        eprintln!("\ncriterion's median per round (ns; * = not settled):");
        let mut unsettled = false;
        for (package, operations) in &self.crates {
            for operation in operations {
                for ((function, rounds), settled) in
                    operation.variants.iter().zip(operation.settled())
                {
                    unsettled |= !settled;
                    let rounds: Vec<String> = rounds.iter().map(|ns| format!("{ns:.1}")).collect();
                    eprintln!(
                        "  {package} | {} | {function}: {}{}",
                        operation.name,
                        rounds.join(", "),
                        if settled { "" } else { " *" }
                    );
                }
            }
        }
        if unsettled {
            eprintln!(
                "warning: the rounds of some variants are too scattered for their median \
                 to be trusted: something disturbed the machine; run again"
            );
        }
    }
}

/// How far above a variant's fastest round a round may be and still agree with it.
pub(super) const AGREE: f64 = 0.10;

/// Whether more than half of `rounds` lie within [`AGREE`] of the fastest.
///
/// Disturbances (another process, a slow phase of a shared virtual machine)
/// only add time. When most rounds agree with the fastest, the median is one
/// of them and can be trusted; when they do not, the median is a disturbed
/// round.
pub(super) fn settled(rounds: &[f64]) -> bool {
    let fastest = rounds.iter().copied().fold(f64::INFINITY, f64::min);
    let agreeing = rounds
        .iter()
        .filter(|&&ns| ns <= fastest * (1.0 + AGREE))
        .count();
    agreeing * 2 > rounds.len()
}

/// Collects the `new` directories holding criterion estimates under `dir`:
/// `<group>/<function>/new`, or deeper for benchmarks with a parameter.
fn find_new_dirs(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            continue;
        }
        if entry.file_name() == "new" {
            if path.join("estimates.json").is_file() && path.join("benchmark.json").is_file() {
                found.push(path);
            }
        } else if entry.file_name() != "report" && depth < 4 {
            find_new_dirs(&path, depth + 1, found);
        }
    }
}

/// Reads the ids from `benchmark.json` and the median from `estimates.json`.
fn read_estimate(dir: &Path, written: SystemTime) -> Result<Estimate, String> {
    let read = |name: &str| -> Result<serde_json::Value, String> {
        let path = dir.join(name);
        let text =
            fs::read(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        serde_json::from_slice(&text)
            .map_err(|err| format!("bad JSON in {}: {err}", path.display()))
    };
    let benchmark = read("benchmark.json")?;
    let estimates = read("estimates.json")?;
    let field = |value: &serde_json::Value, name: &str| {
        value[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no {name} in {}/benchmark.json", dir.display()))
    };
    let group = field(&benchmark, "group_id")?;
    let function = field(&benchmark, "function_id")?;
    let full_id = field(&benchmark, "full_id")?;
    let median_ns = estimates["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("no median in {}/estimates.json", dir.display()))?;
    Ok(Estimate {
        written,
        full_id,
        group,
        function,
        median_ns,
    })
}

/// The median of `values` (the mean of the middle two for an even count).
///
/// # Panics
///
/// If `values` is empty.
pub(super) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        f64::midpoint(sorted[middle - 1], sorted[middle])
    }
}

#[cfg(test)]
mod tests {
    use super::{Kind, median, settled};

    #[test]
    fn median_of_odd_and_even_counts() {
        assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < f64::EPSILON);
        assert!((median(&[4.0, 1.0, 3.0, 2.0]) - 2.5).abs() < f64::EPSILON);
    }

    #[test]
    fn a_median_is_settled_when_most_rounds_agree_with_the_fastest() {
        assert!(settled(&[100.0, 104.0, 150.0, 101.0, 140.0]));
        assert!(!settled(&[100.0, 130.0, 150.0, 101.0, 140.0]));
        assert!(settled(&[100.0]));
    }

    #[test]
    fn function_ids_name_their_kind() {
        assert_eq!(Kind::of("forkwise"), Some(Kind::Forkwise));
        assert_eq!(Kind::of("floor"), Some(Kind::Floor));
        assert_eq!(Kind::of("peer:fd-lock"), Some(Kind::Peer("fd-lock")));
        assert_eq!(Kind::of("other"), None);
    }
}
