//! Property tests of forkwise-shm across processes: several forked
//! processes run random scripts of operations on one store at once; each
//! logs what it committed (with the store's version of the commit, which
//! orders every commit of every process) and what it read. The logs,
//! replayed in version order into a model (an insertion-ordered map), must
//! explain everything: every compare-and-set and update saw the model's
//! state at its turn, every read returned what the write of that version
//! wrote, and the store ends equal to the model, key order included.

use std::collections::HashMap;
use std::time::Duration;

use forkwise_shm::{Capacity, Error, OwnedKey, SharedArray, SharedData, Version, hooks};
use forkwise_testkit::{Child, TempDir, fork};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::{Deserialize, Serialize};

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        scripts_replay_against_a_model => Duration::from_secs(300),
        array_scripts_add_up => Duration::from_secs(120),
    ]);
}

/// Keys 0..6: even ones are strings, odd ones integers.
fn key(n: u8) -> OwnedKey {
    if n.is_multiple_of(2) {
        OwnedKey::Str(format!("key-{n}"))
    } else {
        OwnedKey::Int(i64::from(n) * 1000)
    }
}

/// One operation of a process's script.
#[derive(Clone, Debug)]
enum Op {
    Set(u8, u32),
    Remove(u8),
    Get(u8),
    /// Read, then compare-and-set `value`; with `interleave`, yield in between.
    Cas {
        key: u8,
        value: u32,
        interleave: bool,
    },
    Update(u8, u32),
    Clear,
    /// A transaction of these changes, committed (or, with `abort`, rolled back).
    Transaction {
        changes: Vec<(u8, Option<u32>)>,
        abort: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0u8..6;
    let change = (0u8..6, proptest::option::weighted(0.7, any::<u32>()));
    prop_oneof![
        4 => (key.clone(), any::<u32>()).prop_map(|(k, v)| Op::Set(k, v)),
        2 => key.clone().prop_map(Op::Remove),
        3 => key.clone().prop_map(Op::Get),
        3 => (key.clone(), any::<u32>(), any::<bool>())
            .prop_map(|(key, value, interleave)| Op::Cas { key, value, interleave }),
        3 => (key, 1u32..100).prop_map(|(k, d)| Op::Update(k, d)),
        1 => Just(Op::Clear),
        2 => (proptest::collection::vec(change, 1..5), proptest::bool::weighted(0.2))
            .prop_map(|(changes, abort)| Op::Transaction { changes, abort }),
    ]
}

fn scripts() -> impl Strategy<Value = Vec<Vec<Op>>> {
    proptest::collection::vec(proptest::collection::vec(op(), 1..40), 2..=4)
}

/// A change as committed, for the replay.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Applied {
    Set {
        key: OwnedKey,
        value: u32,
        version: u64,
    },
    Remove {
        key: OwnedKey,
        existed: bool,
    },
    Clear,
    Cas {
        key: OwnedKey,
        expected: Option<u64>,
        value: u32,
        version: u64,
    },
    Update {
        key: OwnedKey,
        old: Option<u32>,
        new: u32,
        version: u64,
    },
}

/// What a process logs.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Entry {
    /// One committed write session: its commit version and its changes.
    Commit { version: u64, changes: Vec<Applied> },
    /// A read: the value and version seen, or `None` (absent).
    Read {
        key: OwnedKey,
        seen: Option<(u32, u64)>,
    },
}

/// Runs `script` on `data`, returning the log.
fn run_script(data: &SharedData, script: &[Op]) -> Vec<Entry> {
    let mut log = Vec::new();
    let commit = |log: &mut Vec<Entry>, changes| {
        let version = hooks::last_commit().expect("a commit was recorded");
        log.push(Entry::Commit { version, changes });
    };
    for op in script {
        match op {
            Op::Set(k, value) => {
                let version = data.set(&key(*k), value).unwrap().get();
                commit(
                    &mut log,
                    vec![Applied::Set {
                        key: key(*k),
                        value: *value,
                        version,
                    }],
                );
            }
            Op::Remove(k) => {
                let existed = data.remove(&key(*k)).unwrap();
                if existed {
                    commit(
                        &mut log,
                        vec![Applied::Remove {
                            key: key(*k),
                            existed,
                        }],
                    );
                }
            }
            Op::Get(k) => {
                let seen = data.get_versioned::<u32>(&key(*k)).unwrap();
                log.push(Entry::Read {
                    key: key(*k),
                    seen: seen.map(|(value, version)| (value, version.get())),
                });
            }
            Op::Cas {
                key: k,
                value,
                interleave,
            } => {
                let expected = data.get_versioned::<u32>(&key(*k)).unwrap().map(|(_, v)| v);
                if *interleave {
                    std::thread::yield_now();
                }
                match data.compare_and_set(&key(*k), expected, value) {
                    Ok(version) => commit(
                        &mut log,
                        vec![Applied::Cas {
                            key: key(*k),
                            expected: expected.map(Version::get),
                            value: *value,
                            version: version.get(),
                        }],
                    ),
                    Err(err) if err.is_conflict() => {}
                    Err(err) => panic!("{err}"),
                }
            }
            Op::Update(k, delta) => {
                let mut old = None;
                let new = data
                    .update(&key(*k), |value: Option<u32>| {
                        old = value;
                        value.unwrap_or(0).wrapping_add(*delta)
                    })
                    .unwrap();
                let version = hooks::last_commit().unwrap();
                commit(
                    &mut log,
                    vec![Applied::Update {
                        key: key(*k),
                        old,
                        new,
                        version,
                    }],
                );
            }
            Op::Clear => {
                data.clear().unwrap();
                commit(&mut log, vec![Applied::Clear]);
            }
            Op::Transaction { changes, abort } => {
                if let Some(applied) = run_transaction(data, changes, *abort) {
                    commit(&mut log, applied);
                }
            }
        }
    }
    log
}

/// Runs one transaction of `changes`; its changes if it committed any.
fn run_transaction(
    data: &SharedData,
    changes: &[(u8, Option<u32>)],
    abort: bool,
) -> Option<Vec<Applied>> {
    let result = data.transaction(|tx| {
        let mut applied = Vec::new();
        for (k, value) in changes {
            match value {
                Some(value) => {
                    let version = tx.set(&key(*k), value)?.get();
                    applied.push(Applied::Set {
                        key: key(*k),
                        value: *value,
                        version,
                    });
                }
                None => {
                    if tx.remove(&key(*k))? {
                        applied.push(Applied::Remove {
                            key: key(*k),
                            existed: true,
                        });
                    }
                }
            }
        }
        if abort {
            return Err(Error::InvalidCapacity {
                reason: "abort".into(),
            });
        }
        Ok(applied)
    });
    match result {
        Ok(applied) if !applied.is_empty() => Some(applied),
        Ok(_) | Err(Error::InvalidCapacity { .. }) => None,
        Err(err) => panic!("{err}"),
    }
}

/// The model: keys in insertion order, each with its value and version.
#[derive(Debug, Default)]
struct Model {
    entries: Vec<(OwnedKey, u32, u64)>,
}

impl Model {
    fn find(&self, key: &OwnedKey) -> Option<&(OwnedKey, u32, u64)> {
        self.entries.iter().find(|(k, _, _)| k == key)
    }

    fn set(&mut self, key: &OwnedKey, value: u32, version: u64) {
        match self.entries.iter_mut().find(|(k, _, _)| k == key) {
            Some(entry) => (entry.1, entry.2) = (value, version),
            None => self.entries.push((key.clone(), value, version)),
        }
    }
}

/// Replays the logs in commit order; returns what is wrong, if anything.
fn replay(logs: &[Vec<Entry>], data: &SharedData) -> Result<(), String> {
    let mut commits: Vec<(u64, &Vec<Applied>)> = logs
        .iter()
        .flatten()
        .filter_map(|entry| match entry {
            Entry::Commit { version, changes } => Some((*version, changes)),
            Entry::Read { .. } => None,
        })
        .collect();
    commits.sort_by_key(|(version, _)| *version);
    if commits.windows(2).any(|pair| pair[0].0 == pair[1].0) {
        return Err("two commits have one version".into());
    }
    let mut model = Model::default();
    let mut written: HashMap<u64, (OwnedKey, u32)> = HashMap::new();
    for (commit, changes) in commits {
        for change in changes {
            match change {
                Applied::Set {
                    key,
                    value,
                    version,
                } => {
                    model.set(key, *value, *version);
                    written.insert(*version, (key.clone(), *value));
                }
                Applied::Remove { key, existed } => {
                    if model.find(key).is_some() != *existed {
                        return Err(format!("commit {commit}: remove of {key} disagrees"));
                    }
                    model.entries.retain(|(k, _, _)| k != key);
                }
                Applied::Clear => model.entries.clear(),
                Applied::Cas {
                    key,
                    expected,
                    value,
                    version,
                } => {
                    let found = model.find(key).map(|e| e.2);
                    if found != *expected {
                        return Err(format!(
                            "commit {commit}: CAS of {key} expected {expected:?}, model has {found:?}"
                        ));
                    }
                    model.set(key, *value, *version);
                    written.insert(*version, (key.clone(), *value));
                }
                Applied::Update {
                    key,
                    old,
                    new,
                    version,
                } => {
                    let found = model.find(key).map(|e| e.1);
                    if found != *old {
                        return Err(format!(
                            "commit {commit}: update of {key} saw {old:?}, model has {found:?}"
                        ));
                    }
                    model.set(key, *new, *version);
                    written.insert(*version, (key.clone(), *new));
                }
            }
        }
    }
    for entry in logs.iter().flatten() {
        if let Entry::Read {
            key,
            seen: Some((value, version)),
        } = entry
            && written.get(version) != Some(&(key.clone(), *value))
        {
            return Err(format!(
                "read {key} = {value} at version {version}: no such write"
            ));
        }
    }
    let keys = data.keys().map_err(|err| err.to_string())?;
    let stored: Vec<(OwnedKey, u32, u64)> = keys
        .into_iter()
        .map(|key| {
            let (value, version) = data.get_versioned::<u32>(&key).unwrap().unwrap();
            (key, value, version.get())
        })
        .collect();
    if stored != model.entries {
        return Err(format!("store {stored:?} != model {:?}", model.entries));
    }
    if data.len().unwrap() != model.entries.len() {
        return Err("len disagrees".into());
    }
    Ok(())
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Random scripts from 2 to 4 processes on one named store.
fn scripts_replay_against_a_model() {
    let dir = TempDir::new("shm-props");
    let run = std::cell::Cell::new(0);
    runner(48)
        .run(&scripts(), |scripts| {
            run.set(run.get() + 1);
            let name = format!("fw-props-{}-{}", std::process::id(), run.get());
            let data = SharedData::create(&name, Capacity::new(8, 16).with_key_bytes(8)).unwrap();
            let children: Vec<Child> = scripts
                .iter()
                .enumerate()
                .map(|(i, script)| {
                    let (name, dir) = (&name, &dir);
                    fork(move || {
                        hooks::set(|_| {}); // arms `last_commit`
                        let data = SharedData::open(name).unwrap();
                        let log = run_script(&data, script);
                        let bytes = postcard::to_allocvec(&log).unwrap();
                        std::fs::write(dir.join(&format!("log-{i}")), bytes).unwrap();
                    })
                })
                .collect();
            children.into_iter().for_each(Child::join);
            let logs: Vec<Vec<Entry>> = (0..scripts.len())
                .map(|i| {
                    let bytes = std::fs::read(dir.join(&format!("log-{i}"))).unwrap();
                    postcard::from_bytes(&bytes).unwrap()
                })
                .collect();
            let verdict = replay(&logs, &data);
            prop_assert!(verdict.is_ok(), "{}", verdict.unwrap_err());
            Ok(())
        })
        .unwrap();
}

/// Random `fetch_add`/`fetch_sub`/`set` scripts on a shared array: the
/// final sums are what the scripts add up to.
fn array_scripts_add_up() {
    let steps = proptest::collection::vec((0usize..4, -50i64..50), 1..200);
    runner(32)
        .run(&proptest::collection::vec(steps, 2..=4), |scripts| {
            let array = SharedArray::<i64>::anonymous(4).unwrap();
            let children: Vec<Child> = scripts
                .iter()
                .map(|script| {
                    let array = &array;
                    fork(move || {
                        for (i, delta) in script {
                            if *delta >= 0 {
                                array.fetch_add(*i, *delta).unwrap();
                            } else {
                                array.fetch_sub(*i, -delta).unwrap();
                            }
                        }
                    })
                })
                .collect();
            children.into_iter().for_each(Child::join);
            let mut expected = [0i64; 4];
            for (i, delta) in scripts.iter().flatten() {
                expected[*i] += delta;
            }
            prop_assert_eq!(array.to_vec(), expected.to_vec());
            Ok(())
        })
        .unwrap();
}
