//! The worker's side of a fork: from the master's copy of the world to a
//! process that runs one closure and leaves with `_exit`.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::exit_code::report_to_stderr;
use crate::manager::ForkManager;
use crate::output::ChildEnds;
use crate::sys::{self, BlockedSignals};
use crate::worker::Worker;

/// The exit code of a worker whose closure panicked, as a Rust program's.
pub(crate) const PANIC_EXIT: i32 = 101;

/// The exit code of a worker that could not even set itself up (its
/// output pipes could not become its stdout and stderr).
const SETUP_FAILED_EXIT: i32 = 127;

impl ForkManager {
    /// Turns the freshly forked child into `worker`: runs `body` and exits.
    ///
    /// What the child inherited from the master is left alone (never
    /// dropped: freeing it would write to pages the child shares with the
    /// master, and the kernel would copy each for the child), except what
    /// belongs to the manager itself: its signal listeners are removed
    /// (abandoned, not freed), so the child starts with the dispositions the
    /// master had before the manager existed, and the master's ends of
    /// other workers' output pipes and their pidfds are closed.
    pub(crate) fn become_worker(
        &mut self,
        worker: &Worker,
        output: Option<ChildEnds>,
        blocked: &mut Option<BlockedSignals>,
        body: &mut dyn FnMut(&Worker) -> u8,
    ) -> ! {
        // Idempotent: forkwise-signal's own fork hook ran already; this
        // covers a process where that hook could not be registered.
        forkwise_signal::after_fork_in_child();
        worker.make_current();
        if let Some(signals) = self.signals.take() {
            signals.abandon();
        }
        // A shutdown signal that came during the fork is delivered now, to
        // whatever disposition the worker has: by default it ends it. (The
        // guard is dropped where it lies: moved, its 128-byte set would be
        // copied by a `memcpy` whose code the child would have to fault in.)
        *blocked = None;
        for slot in &mut self.slots {
            if let Some(captured) = &mut slot.captured {
                captured.close();
            }
            drop(slot.ended.take()); // another worker's pidfd
        }
        if let Some(ends) = output
            && let Err(err) = ends.install()
        {
            report_to_stderr(format_args!(
                "forkwise-fork: worker {} cannot capture its output: {err}\n",
                worker.index
            ));
            sys::exit_now(SETUP_FAILED_EXIT);
        }
        let code = match catch_unwind(AssertUnwindSafe(|| body(worker))) {
            Ok(code) => i32::from(code),
            // The panic hook has written the message to stderr already.
            Err(_) => PANIC_EXIT,
        };
        let _ = std::io::stdout().flush();
        sys::exit_now(code)
    }
}
