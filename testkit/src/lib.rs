//! forkwise's harness for cross-process tests.
//!
//! libtest runs every `#[test]` on a thread of its own, so a plain test is a
//! two-thread process, and forking a threaded process is unsound (the child
//! may inherit a lock held by the other thread). forkwise's cross-process
//! tests are therefore integration-test binaries with `harness = false`
//! whose `main` hands their cases to [`run`]:
//!
//! ```no_run
//! fn exclusion() { /* fork, lock, assert */ }
//! fn timeout() { /* ... */ }
//!
//! fn main() {
//!     forkwise_testkit::run(forkwise_testkit::cases![exclusion, timeout]);
//! }
//! ```
//!
//! [`run`] checks that it is single-threaded, then runs each case in a child
//! process of its own, forked from that one thread, one case after another:
//!
//! - an `alarm(2)` watchdog kills a case that hangs ([`Case::timeout`]);
//! - the case's stdout and stderr are captured and shown only when it fails,
//!   with its pid and exit status;
//! - afterwards the case must have left nothing behind: no child process
//!   (the harness is a child subreaper, so orphans come back to it and are
//!   named), no open file descriptor, no SysV IPC object and no `/dev/shm`
//!   file. Anything left fails the case and is named.
//!
//! Inside a case, [`fork`] starts a child running a closure and [`Child::join`]
//! fails the case with the child's pid, exit status and stderr if the child
//! failed. [`Notify`] passes "go" between processes, [`SharedCounters`] gives
//! atomics that all forked processes see, and [`storm`] sends a signal at a
//! steady rate to test EINTR handling ([`through_storm`] runs a blocking
//! call under one and checks that the call waited all the same). Benches
//! time exchanges with a [`Helper`] process driven over two pipes.
//!
//! Arguments: substrings select cases by name; `--exact NAME` selects one;
//! `--list` prints the cases (libtest's format, so `cargo nextest` can run
//! each case in its own process); `--nocapture` shows output as it comes.

mod child;
mod helper;
mod interrupt;
pub mod leaks;
mod pin;
mod runner;
mod shared;
mod sys;
mod temp;

pub use child::{Child, Exit, Notify, fork, storm};
pub use helper::Helper;
pub use interrupt::{
    caught, count_sigusr1_without_restart, eventually, my_pid, sigusr1_count, status_mask,
    through_storm,
};
pub use pin::PinnedToOneCpu;
pub use runner::{Case, run};
pub use shared::SharedCounters;
pub use temp::TempDir;

/// Builds the `&[Case]` for [`run`] from test functions, named by their paths;
/// `case => duration` sets a case's watchdog timeout.
///
/// ```no_run
/// mod locks {
///     pub fn exclusion() {}
/// }
/// fn main() {
///     forkwise_testkit::run(forkwise_testkit::cases![locks::exclusion]);
/// }
/// ```
#[macro_export]
macro_rules! cases {
    ($($case:path $(=> $timeout:expr)?),* $(,)?) => {
        &[$($crate::Case::new(stringify!($case), $case)$(.timeout($timeout))?),*]
    };
}
