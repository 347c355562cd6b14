//! Captured output: lines per worker and stream, a worker writing 10 MiB,
//! long lines, output written just before the end, and the log facade.

use std::sync::{Arc, Mutex};

use forkwise_fork::{ForkManager, MAX_LINE, Stream, WorkerState};
use forkwise_testkit::Notify;

use crate::support::{capturing, lines_of};

/// Each line arrives once, tagged with the worker's index, pid and stream.
pub(crate) fn lines_are_delivered_per_worker_and_stream() {
    let (mut manager, lines) = capturing(ForkManager::builder());
    let group = manager
        .fork(
            |worker| {
                for n in 0..3 {
                    println!("out {} {n}", worker.index());
                    eprintln!("err {} {n}", worker.index());
                }
                print!("no newline at the end");
            },
            3,
        )
        .unwrap();
    assert!(manager.wait(&group).unwrap().iter().all(|s| s.success()));
    for (index, id) in group.iter().enumerate() {
        let pid = manager.pid(id).unwrap();
        assert_eq!(
            lines_of(&lines, pid, Stream::Stdout),
            [
                format!("out {index} 0"),
                format!("out {index} 1"),
                format!("out {index} 2"),
                "no newline at the end".to_owned()
            ]
        );
        assert_eq!(
            lines_of(&lines, pid, Stream::Stderr),
            (0..3)
                .map(|n| format!("err {index} {n}"))
                .collect::<Vec<_>>()
        );
        assert!(
            lines
                .borrow()
                .iter()
                .all(|l| l.pid != pid || l.index == index)
        );
    }
}

/// A worker writes 10 MiB (160 pipe buffers) to its captured stdout and
/// exits: it never blocks for good, and every byte arrives in order.
pub(crate) fn a_worker_writing_ten_mib_is_drained() {
    const LINE: usize = 1023;
    const LINES: usize = 10 * 1024;
    let (mut manager, lines) = capturing(ForkManager::builder());
    let group = manager
        .fork(
            |_| {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                for n in 0..LINES {
                    let digit = b'0' + u8::try_from(n % 10).unwrap();
                    let mut line = vec![digit; LINE];
                    line.push(b'\n');
                    out.write_all(&line).unwrap();
                }
            },
            1,
        )
        .unwrap();
    assert_eq!(manager.wait(&group).unwrap(), [WorkerState::Exited(0)]);
    let lines = lines.borrow();
    assert_eq!(lines.len(), LINES);
    let total: usize = lines.iter().map(|l| l.text.len() + 1).sum();
    assert_eq!(total, 10 * 1024 * 1024);
    for (n, line) in lines.iter().enumerate() {
        let digit = char::from(b'0' + u8::try_from(n % 10).unwrap());
        assert!(
            line.text.len() == LINE && line.text.chars().all(|c| c == digit),
            "line {n} is not {LINE} x {digit}"
        );
    }
}

/// Output is drained while the master waits for something else: a worker
/// that writes more than a pipe holds finishes while the master waits for
/// a different worker.
pub(crate) fn output_is_drained_while_waiting_for_another_worker() {
    let wrote = Notify::new();
    let (mut manager, lines) = capturing(ForkManager::builder());
    let writer = manager
        .fork(
            |_| {
                let chunk = "x".repeat(4095);
                for _ in 0..1024 {
                    println!("{chunk}"); // 4 MiB in all
                }
                wrote.notify();
            },
            1,
        )
        .unwrap();
    let waiter = manager.fork(|_| wrote.wait(), 1).unwrap();
    assert_eq!(manager.wait(&waiter).unwrap(), [WorkerState::Exited(0)]);
    assert_eq!(manager.wait(&writer).unwrap(), [WorkerState::Exited(0)]);
    assert_eq!(lines.borrow().len(), 1024);
}

/// A line longer than `MAX_LINE` comes in pieces; nothing is lost.
pub(crate) fn long_lines_come_in_pieces() {
    let (mut manager, lines) = capturing(ForkManager::builder());
    let group = manager
        .fork(|_| println!("{}", "y".repeat(2 * MAX_LINE + 5)), 1)
        .unwrap();
    manager.wait(&group).unwrap();
    let lengths: Vec<usize> = lines.borrow().iter().map(|l| l.text.len()).collect();
    assert_eq!(lengths, [MAX_LINE, MAX_LINE, 5]);
}

/// A program the worker runs writes to the same captured streams.
pub(crate) fn programs_run_by_a_worker_are_captured_too() {
    let (mut manager, lines) = capturing(ForkManager::builder());
    let group = manager
        .fork(
            |_| {
                std::process::Command::new("sh")
                    .args(["-c", "echo from sh; echo to stderr >&2"])
                    .status()
                    .unwrap()
                    .success()
            },
            1,
        )
        .unwrap();
    assert_eq!(manager.wait(&group).unwrap(), [WorkerState::Exited(0)]);
    let pid = manager.pid(group.ids()[0]).unwrap();
    assert_eq!(lines_of(&lines, pid, Stream::Stdout), ["from sh"]);
    assert_eq!(lines_of(&lines, pid, Stream::Stderr), ["to stderr"]);
}

/// Records what reaches it.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(log::Level, String, String)>>>);

impl log::Log for Recorder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push((
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        ));
    }

    fn flush(&self) {}
}

/// `output_to_log` sends lines to the logger with the worker's index and
/// pid: stdout at Info, stderr at Warn; the manager's events go there too.
pub(crate) fn output_goes_to_the_log_with_index_and_pid() {
    let recorder = Recorder::default();
    let mut manager = ForkManager::builder()
        .logger(recorder.clone())
        .output_to_log()
        .build()
        .unwrap();
    let group = manager
        .fork(
            |_| {
                println!("hello log");
                eprintln!("oops");
                3
            },
            1,
        )
        .unwrap();
    manager.wait(&group).unwrap();
    let pid = manager.pid(group.ids()[0]).unwrap();
    let records = recorder.0.lock().unwrap().clone();
    let output: Vec<_> = records
        .iter()
        .filter(|(_, target, _)| target == "forkwise_fork::output")
        .cloned()
        .collect();
    assert_eq!(
        output,
        [
            (
                log::Level::Info,
                "forkwise_fork::output".to_owned(),
                format!("worker 0 (pid {pid}): hello log")
            ),
            (
                log::Level::Warn,
                "forkwise_fork::output".to_owned(),
                format!("worker 0 (pid {pid}): oops")
            ),
        ]
    );
    assert!(
        records
            .iter()
            .any(|(level, target, message)| *level == log::Level::Warn
                && target == "forkwise_fork"
                && message == &format!("worker 0 (pid {pid}) exited with code 3")),
        "the failure is logged as an event: {records:?}"
    );
}
