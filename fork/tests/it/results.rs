//! `fork_with_result`: values come back; a worker that dies first gives an
//! error naming how it ended, never a hang.

use std::collections::BTreeMap;

use forkwise_fork::{Error, ForkManager, Signal, WorkerState};

use crate::support::{assert_no_children, capturing};

/// Typed values, small and large, come back from several workers.
pub(crate) fn results_come_back_typed() {
    let mut manager = ForkManager::new().unwrap();
    let squares = (0..8u64)
        .map(|n| manager.fork_with_result(move |_| n * n).unwrap())
        .collect::<Vec<_>>();
    let table = manager
        .fork_with_result(|worker| {
            let mut table = BTreeMap::new();
            table.insert("pid".to_owned(), i64::from(worker.pid()));
            table.insert("index".to_owned(), 0);
            table
        })
        .unwrap();
    let big = manager
        .fork_with_result(|_| {
            (0..1_000_000u32)
                .map(|n| n.to_le_bytes()[0])
                .collect::<Vec<u8>>()
        })
        .unwrap();
    let got: Vec<u64> = squares
        .into_iter()
        .map(|handle| handle.join(&mut manager).unwrap())
        .collect();
    assert_eq!(got, (0..8u64).map(|n| n * n).collect::<Vec<_>>());
    let pid = table.pid();
    let table = table.join(&mut manager).unwrap();
    assert_eq!(table["pid"], i64::from(pid));
    let big = big.join(&mut manager).unwrap();
    assert_eq!(big.len(), 1_000_000);
    assert!(
        big.iter()
            .enumerate()
            .all(|(i, &b)| usize::from(b) == i % 256)
    );
    assert_no_children();
}

/// A worker killed before sending gives `NoResult` naming the signal.
pub(crate) fn a_killed_worker_gives_an_error_not_a_hang() {
    let mut manager = ForkManager::new().unwrap();
    let handle = manager
        .fork_with_result(|_| -> String {
            std::thread::sleep(std::time::Duration::from_secs(30));
            "too late".to_owned()
        })
        .unwrap();
    manager.kill(Signal::SIGKILL, handle.id()).unwrap();
    let pid = handle.pid();
    let err = handle.join(&mut manager).unwrap_err();
    let killed = WorkerState::Killed {
        signal: Signal::SIGKILL,
        core_dumped: false,
    };
    assert!(
        matches!(&err, Error::NoResult { pid: p, state } if *p == pid && *state == killed),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("worker {pid} ended without a result: it was killed by SIGKILL")
    );
}

/// A worker that panics gives `NoResult` with exit code 101.
pub(crate) fn a_panicking_worker_gives_its_exit_status() {
    let mut manager = ForkManager::new().unwrap();
    let handle = manager
        .fork_with_result(|_| -> u8 { panic!("no result") })
        .unwrap();
    let err = handle.join(&mut manager).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NoResult {
                state: WorkerState::Exited(101),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("exited with code 101"), "{err}");
}

/// A worker that writes much captured output before its result does not
/// deadlock with a master blocked in `join`.
pub(crate) fn captured_output_flows_while_joining() {
    let (mut manager, lines) = capturing(ForkManager::builder());
    let handle = manager
        .fork_with_result(|_| {
            for n in 0..20_000 {
                println!("line {n:05} of output before the result");
            }
            42u32
        })
        .unwrap();
    assert_eq!(handle.join(&mut manager).unwrap(), 42);
    assert_eq!(lines.borrow().len(), 20_000);
}
