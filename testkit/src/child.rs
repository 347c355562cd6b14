//! Forked children whose failure names their pid, status and output.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use crate::sys::{self, WaitStatus};

/// The exit code of a child whose closure panicked, as libtest uses.
pub(crate) const PANIC_EXIT: i32 = 101;

/// A forked child process; dropping it unwaited kills and reaps it.
#[derive(Debug)]
pub struct Child {
    pid: libc::pid_t,
    output: Option<File>,
}

/// Runs `body` in a forked child whose stdout and stderr are captured.
///
/// The child exits with `_exit(0)` when `body` returns and with 101 when it
/// panics (the panic message goes to the captured stderr). It never returns
/// into the caller's code or runs the parent's destructors.
///
/// `body` runs only in the child; in the parent it is dropped unrun, so what
/// it captured by move is dropped there. Capture by reference what the parent
/// must keep.
///
/// # Panics
///
/// If the process has more than one thread (forking it would be unsound),
/// or if `pipe(2)` or `fork(2)` fails.
pub fn fork(body: impl FnOnce()) -> Child {
    assert_single_threaded();
    let (read, write) = sys::pipe().expect("pipe for a child's output");
    let pid = in_child(|| {
        capture_output_into(&write);
        body();
    });
    drop(write); // the parent reads until every copy of the write end is closed
    Child {
        pid,
        output: Some(File::from(read)),
    }
}

/// Forks; in the child, runs `body` and exits (0, or 101 on panic). Returns the pid.
pub(crate) fn in_child(body: impl FnOnce()) -> libc::pid_t {
    // Flush so that the child does not write the parent's buffered output again.
    let _ = std::io::stdout().flush();
    // SAFETY: `assert_single_threaded` ran before every call to this function.
    match unsafe { sys::fork() }.expect("fork") {
        0 => {
            let code = match catch_unwind(AssertUnwindSafe(body)) {
                Ok(()) => 0,
                Err(_) => PANIC_EXIT,
            };
            let _ = std::io::stdout().flush();
            sys::exit_now(code)
        }
        pid => pid,
    }
}

pub(crate) fn capture_output_into(write: &OwnedFd) {
    sys::dup2(write.as_fd(), libc::STDOUT_FILENO).expect("dup2 stdout");
    sys::dup2(write.as_fd(), libc::STDERR_FILENO).expect("dup2 stderr");
}

pub(crate) fn assert_single_threaded() {
    let threads = sys::thread_count();
    assert!(
        threads == 1,
        "refusing to fork a process with {threads} threads: a child inherits only the \
         forking thread, and any lock another thread held stays locked forever in it. \
         Run cross-process cases through forkwise_testkit::run, not #[test]."
    );
}

/// How a child ended, with everything it wrote to stdout and stderr.
#[derive(Debug)]
pub struct Exit {
    /// The child's pid.
    pub pid: i32,
    /// Its exit code, if it exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Its stdout and stderr, interleaved as written.
    pub output: String,
}

impl Exit {
    /// True if the child exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.signal) {
            (Some(code), _) => write!(f, "child {} exited with code {code}", self.pid)?,
            (None, Some(signal)) => {
                write!(
                    f,
                    "child {} was killed by {}",
                    self.pid,
                    sys::signal_name(signal)
                )?;
            }
            (None, None) => write!(f, "child {} ended", self.pid)?,
        }
        if self.output.is_empty() {
            write!(f, " (no output)")
        } else {
            write!(f, "; its output:\n{}", self.output.trim_end())
        }
    }
}

impl Child {
    /// The child's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal` to the child.
    ///
    /// # Panics
    ///
    /// If `kill(2)` fails (the child has been reaped already, say).
    pub fn kill(&self, signal: i32) {
        sys::kill(self.pid, signal)
            .unwrap_or_else(|err| panic!("kill({}, {signal}): {err}", self.pid));
    }

    /// Reads the child's output to its end, then reaps it.
    ///
    /// # Panics
    ///
    /// If reading or `waitpid(2)` fails.
    pub fn wait(mut self) -> Exit {
        let mut output = Vec::new();
        if let Some(mut pipe) = self.output.take() {
            pipe.read_to_end(&mut output)
                .expect("read a child's output");
        }
        let status = sys::waitpid(self.pid).expect("waitpid");
        let pid = self.pid;
        self.pid = 0; // reaped: nothing for `drop` to do
        let (code, signal) = match status {
            WaitStatus::Exited(code) => (Some(code), None),
            WaitStatus::Signaled(signal) => (None, Some(signal)),
        };
        Exit {
            pid,
            code,
            signal,
            output: String::from_utf8_lossy(&output).into_owned(),
        }
    }

    /// Waits for the child and fails unless it exited with code 0.
    ///
    /// # Panics
    ///
    /// If the child failed: the message names its pid, status and output.
    #[track_caller]
    pub fn join(self) {
        let exit = self.wait();
        assert!(exit.success(), "{exit}");
    }

    /// Waits for the child and fails unless `signal` killed it.
    ///
    /// # Panics
    ///
    /// If the child ended any other way: the message names its pid, status and output.
    #[track_caller]
    pub fn join_killed_by(self, signal: i32) {
        let exit = self.wait();
        assert_eq!(
            exit.signal,
            Some(signal),
            "expected {}, but {exit}",
            sys::signal_name(signal)
        );
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.pid > 0 {
            let _ = sys::kill(self.pid, libc::SIGKILL);
            let _ = sys::waitpid(self.pid);
        }
    }
}

/// A one-byte doorbell between processes: one side [`notify`](Self::notify)s,
/// the other [`wait`](Self::wait)s. Create it before forking.
#[derive(Debug)]
pub struct Notify {
    read: File,
    write: File,
}

impl Default for Notify {
    fn default() -> Self {
        Self::new()
    }
}

impl Notify {
    /// How long [`wait`](Self::wait) waits before failing the case.
    pub const PATIENCE: Duration = Duration::from_secs(20);

    /// A new doorbell over a pipe.
    ///
    /// # Panics
    ///
    /// If `pipe(2)` fails.
    pub fn new() -> Self {
        let (read, write) = sys::pipe().expect("pipe for Notify");
        Self {
            read: File::from(read),
            write: File::from(write),
        }
    }

    /// Rings once: one [`wait`](Self::wait) returns.
    ///
    /// # Panics
    ///
    /// If the write fails.
    pub fn notify(&self) {
        (&self.write).write_all(&[1]).expect("write to Notify");
    }

    /// Waits for one ring.
    ///
    /// # Panics
    ///
    /// If no ring comes within [`PATIENCE`](Self::PATIENCE).
    #[track_caller]
    pub fn wait(&self) {
        assert!(
            self.wait_timeout(Self::PATIENCE),
            "no notification within {:?}",
            Self::PATIENCE
        );
    }

    /// Waits up to `timeout` for one ring; false if none came.
    ///
    /// # Panics
    ///
    /// If polling or reading the pipe fails.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if sys::poll_readable(self.read.as_fd(), left).expect("poll Notify") {
                let mut byte = [0];
                let n = sys::retry_eintr(|| (&self.read).read(&mut byte)).expect("read Notify");
                return n == 1;
            }
            if left.is_zero() {
                return false;
            }
        }
    }
}

/// Forks a child that sends `signal` to `target` every `interval` until
/// dropped (or until `target` is gone).
///
/// # Panics
///
/// As [`fork`].
pub fn storm(target: i32, signal: i32, interval: Duration) -> Child {
    fork(move || {
        while sys::kill(target, signal).is_ok() {
            std::thread::sleep(interval);
        }
    })
}
