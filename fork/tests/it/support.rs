//! Helpers shared by the cases: raw views of the kernel's state, to check
//! the crate against something it does not control.

pub(crate) use forkwise_testkit::my_pid;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use forkwise_fork::{ForkManager, ForkManagerBuilder, OutputLine, Stream};
use forkwise_testkit::leaks;

/// The children of this process that `/proc` shows (zombies included), as
/// "pid state" strings.
pub(crate) fn children() -> Vec<String> {
    leaks::children_of(my_pid())
        .into_iter()
        .map(|p| format!("{} {} ({})", p.pid, p.state, p.comm))
        .collect()
}

/// Fails the case if this process has any child left, zombie or not.
#[track_caller]
pub(crate) fn assert_no_children() {
    let left = children();
    assert!(left.is_empty(), "children left behind: {left:?}");
}

/// A builder with a short grace period, for cases that end workers.
pub(crate) fn quick() -> ForkManagerBuilder {
    ForkManager::builder().grace_period(Duration::from_millis(500))
}

/// A captured line.
#[derive(Clone, Debug)]
pub(crate) struct Line {
    pub(crate) index: usize,
    pub(crate) pid: i32,
    pub(crate) stream: Stream,
    pub(crate) text: String,
}

/// The lines captured so far.
pub(crate) type Lines = Rc<RefCell<Vec<Line>>>;

/// A manager that captures every line into the returned list.
pub(crate) fn capturing(builder: ForkManagerBuilder) -> (ForkManager, Lines) {
    let lines: Lines = Rc::default();
    let sink = Rc::clone(&lines);
    let manager = builder
        .output_lines(move |line: &OutputLine<'_>| {
            sink.borrow_mut().push(Line {
                index: line.index,
                pid: line.pid,
                stream: line.stream,
                text: line.text().into_owned(),
            });
        })
        .build()
        .unwrap();
    (manager, lines)
}

/// The text of the lines the process `pid` wrote to `stream`.
pub(crate) fn lines_of(lines: &Lines, pid: i32, stream: Stream) -> Vec<String> {
    lines
        .borrow()
        .iter()
        .filter(|line| line.pid == pid && line.stream == stream)
        .map(|line| line.text.clone())
        .collect()
}

/// Sleeps in the worker for `millis`; for workers that must still run
/// when the master looks.
pub(crate) fn nap(millis: u64) {
    std::thread::sleep(Duration::from_millis(millis));
}
