//! [`daemonize`] and [`detach`]: processes that outlive their starter, in
//! a session of their own, with no zombie left behind.
//!
//! Both fork twice: the middle process starts a session (or the program)
//! and exits at once, so the daemon's parent becomes init (or the nearest
//! child subreaper), which reaps it when it ends. The starter reaps the
//! middle process and learns how things went through a close-on-exec pipe.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;

use forkwise_lock::Pidfile;

use crate::error::{Error, Operation, Result};
use crate::sys::{self, Pid};

/// How to become a daemon; see [`daemonize`].
///
/// ```
/// use forkwise_fork::Daemon;
///
/// let daemon = Daemon::new()
///     .pidfile("/run/myserver.pid")
///     .chdir("/var/lib/myserver")
///     .umask(0o027);
/// # let _ = daemon;
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct Daemon {
    pidfile: Option<PathBuf>,
    chdir: Option<PathBuf>,
    umask: Option<u32>,
    stdout: Option<File>,
    stderr: Option<File>,
}

impl Daemon {
    /// A daemon with no pidfile, that moves to `/`, keeps the umask, and
    /// has its standard streams on `/dev/null`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the daemon's pid to `path` through a locked
    /// [`Pidfile`](forkwise_lock::Pidfile), refusing to start when a running
    /// process holds it; the file is removed when the daemon drops its
    /// [`Daemonized`].
    pub fn pidfile(mut self, path: impl Into<PathBuf>) -> Self {
        self.pidfile = Some(path.into());
        self
    }

    /// Moves the daemon to `dir` (`/` unless set, so that it keeps no
    /// file system busy).
    pub fn chdir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.chdir = Some(dir.into());
        self
    }

    /// Sets the daemon's file mode creation mask (unchanged unless set).
    pub fn umask(mut self, mask: u32) -> Self {
        self.umask = Some(mask);
        self
    }

    /// Sends the daemon's stdout to `file` instead of `/dev/null`.
    pub fn stdout(mut self, file: File) -> Self {
        self.stdout = Some(file);
        self
    }

    /// Sends the daemon's stderr to `file` instead of `/dev/null`.
    pub fn stderr(mut self, file: File) -> Self {
        self.stderr = Some(file);
        self
    }
}

/// What the daemon holds: its pidfile, removed when this is dropped.
#[derive(Debug)]
pub struct Daemonized {
    pidfile: Option<Pidfile>,
}

impl Daemonized {
    /// The daemon's pid.
    pub fn pid(&self) -> i32 {
        sys::getpid()
    }

    /// The pidfile, if one was asked for.
    pub fn pidfile(&self) -> Option<&Path> {
        self.pidfile.as_ref().map(Pidfile::path)
    }
}

/// Turns the calling process into a daemon: fork, `setsid`, fork again;
/// in the daemon, `chdir`, `umask`, stdin from `/dev/null`, stdout and
/// stderr to `/dev/null` (or the files given), and the pidfile.
///
/// Returns only in the daemon. The calling process waits until the daemon
/// reports that it is ready (its pidfile written), then exits with status 0
/// through `_exit`: no destructor runs there, as the daemon now owns what
/// they would clean up. If the daemon fails to set itself up, the error
/// is returned in the calling process instead, and the daemon exits.
///
/// Signal listeners, open files and memory are the caller's, copied.
/// Descriptors are not closed (this crate's are close-on-exec).
///
/// # Errors
///
/// In the calling process: [`Error::Threaded`] if it has more than one
/// thread; [`Error::Pidfile`] if a running process holds the pidfile;
/// [`Error::Os`] if a fork or a step of the daemon's set-up failed (naming
/// the step and the daemon's pid); [`Error::Daemon`] with the daemon's
/// report otherwise.
///
/// ```no_run
/// // no_run: the doc test would end (the calling process exits) and leave a daemon.
/// use forkwise_fork::{daemonize, Daemon};
///
/// let daemon = daemonize(Daemon::new().pidfile("/run/myserver.pid"))?;
/// // Only the daemon gets here; its pid is in the pidfile.
/// # let _ = daemon;
/// # Ok::<(), forkwise_fork::Error>(())
/// ```
#[doc(alias = "daemon")]
pub fn daemonize(daemon: Daemon) -> Result<Daemonized> {
    if let Some(path) = &daemon.pidfile
        && let Some(pid) = Pidfile::holder(path)?
    {
        return Err(Error::Pidfile(forkwise_lock::Error::AlreadyRunning {
            path: path.clone(),
            pid: Some(pid),
        }));
    }
    let (read, write) = sys::pipe().map_err(|e| Error::os(Operation::Pipe, None, e))?;
    match fork_twice(read, write)? {
        Side::Starter(report) => match report? {
            Report::Ready(_) => {
                let _ = io::stdout().flush();
                sys::exit_now(0)
            }
            Report::Failed(err) => Err(err),
        },
        Side::Grandchild(mut report) => match set_up(daemon) {
            Ok(daemonized) => {
                let _ = writeln!(report, "ok {}", sys::getpid());
                Ok(daemonized)
            }
            Err(err) => {
                let _ = writeln!(report, "{}", encode(&err));
                sys::exit_now(1)
            }
        },
    }
}

/// Starts `command` in the background, in a session of its own, as
/// `nohup setsid command &` does in a shell, and returns its pid.
///
/// The program is not a child of the caller: a middle process starts it
/// and exits, so the program's parent becomes init (or the nearest child
/// subreaper), which reaps it. No zombie is left either way. Standard
/// streams are as `command` sets them (inherited unless set: give it
/// `Stdio::null()` to detach them too).
///
/// # Errors
///
/// [`Error::Threaded`] if the process has more than one thread;
/// [`Error::Os`] with [`Operation::Spawn`] if the program cannot be started
/// (its error, such as `NotFound`, is the source), or another operation
/// for a failed pipe or fork.
///
/// ```
/// use forkwise_fork::{ForkManager, WorkerState};
/// use std::process::{Command, Stdio};
///
/// // A subreaper gets the program back once its middle process exited,
/// // so that this example can reap it (init would, otherwise).
/// let mut manager = ForkManager::builder().subreaper(true).build()?;
/// let pid = forkwise_fork::detach(Command::new("true").stdin(Stdio::null()))?;
/// let program = manager.adopt(pid)?;
/// assert_eq!(manager.wait(program)?, [WorkerState::Exited(0)]);
/// # Ok::<(), forkwise_fork::Error>(())
/// ```
#[doc(alias = "nohup")]
#[doc(alias = "setsid")]
pub fn detach(command: &mut Command) -> Result<i32> {
    let (read, write) = sys::pipe().map_err(|e| Error::os(Operation::Pipe, None, e))?;
    let permit = sys::fork_permit(false).map_err(|threads| Error::Threaded { threads })?;
    let _ = io::stdout().flush();
    match sys::fork(permit).map_err(|e| Error::os(Operation::Fork, None, e))? {
        0 => {
            drop(read);
            let mut report = File::from(write);
            sys::setsid_before_exec(command);
            let _ = match command.spawn() {
                Ok(child) => writeln!(report, "ok {}", child.id()),
                Err(err) => writeln!(
                    report,
                    "os {} {} {}",
                    Operation::Spawn.code(),
                    err.raw_os_error().unwrap_or(0),
                    sys::getpid()
                ),
            };
            sys::exit_now(0)
        }
        middle => {
            drop(write);
            let report = read_report(read, middle);
            sys::wait(middle).map_err(|e| Error::os(Operation::Wait, Some(middle), e))?;
            match report? {
                Report::Ready(pid) => Ok(pid),
                Report::Failed(err) => Err(err),
            }
        }
    }
}

/// Which process returned from [`fork_twice`].
enum Side {
    /// The caller, with the grandchild's report.
    Starter(Result<Report>),
    /// The grandchild, with the pipe to report on.
    Grandchild(File),
}

/// What a daemon or detached program reported.
enum Report {
    Ready(i32),
    Failed(Error),
}

/// Fork, `setsid` in the child, fork again; the child exits at once.
fn fork_twice(read: OwnedFd, write: OwnedFd) -> Result<Side> {
    let permit = sys::fork_permit(false).map_err(|threads| Error::Threaded { threads })?;
    let _ = io::stdout().flush();
    match sys::fork(permit).map_err(|e| Error::os(Operation::Fork, None, e))? {
        0 => {
            drop(read);
            let mut report = File::from(write);
            let middle = sys::getpid();
            if let Err(err) = sys::setsid() {
                let _ = writeln!(
                    report,
                    "{}",
                    encode(&Error::os(Operation::Setsid, Some(middle), err))
                );
                sys::exit_now(1);
            }
            // One thread still: the check above held in the parent, and a
            // child starts with the forking thread only.
            let permit = sys::fork_permit(false).map_err(|threads| Error::Threaded { threads });
            match permit
                .and_then(|p| sys::fork(p).map_err(|e| Error::os(Operation::Fork, Some(middle), e)))
            {
                Ok(0) => Ok(Side::Grandchild(report)),
                Ok(_) => sys::exit_now(0),
                Err(err) => {
                    let _ = writeln!(report, "{}", encode(&err));
                    sys::exit_now(1)
                }
            }
        }
        middle => {
            drop(write);
            let report = read_report(read, middle);
            sys::wait(middle).map_err(|e| Error::os(Operation::Wait, Some(middle), e))?;
            Ok(Side::Starter(report))
        }
    }
}

/// The daemon's own set-up, after the forks.
fn set_up(daemon: Daemon) -> Result<Daemonized> {
    let pid = Some(sys::getpid());
    let dir = daemon.chdir.unwrap_or_else(|| PathBuf::from("/"));
    std::env::set_current_dir(&dir).map_err(|e| Error::os(Operation::Chdir, pid, e))?;
    if let Some(mask) = daemon.umask {
        sys::umask(mask);
    }
    let redirect = |e| Error::os(Operation::RedirectStdio, pid, e);
    let null = || File::options().read(true).write(true).open("/dev/null");
    let stdin = null().map_err(redirect)?;
    let stdout = daemon.stdout.map_or_else(null, Ok).map_err(redirect)?;
    let stderr = daemon.stderr.map_or_else(null, Ok).map_err(redirect)?;
    sys::dup2(stdin.as_fd(), libc::STDIN_FILENO).map_err(redirect)?;
    sys::dup2(stdout.as_fd(), libc::STDOUT_FILENO).map_err(redirect)?;
    sys::dup2(stderr.as_fd(), libc::STDERR_FILENO).map_err(redirect)?;
    let pidfile = daemon.pidfile.map(Pidfile::create).transpose()?;
    Ok(Daemonized { pidfile })
}

/// One line of report: `ok PID`, `os OPERATION ERRNO PID`, or `msg PID TEXT`.
fn encode(err: &Error) -> String {
    match err {
        Error::Os {
            operation,
            pid,
            source,
        } => format!(
            "os {} {} {}",
            operation.code(),
            source.raw_os_error().unwrap_or(0),
            pid.unwrap_or_else(sys::getpid)
        ),
        other => format!(
            "msg {} {}",
            sys::getpid(),
            other.to_string().replace('\n', " ")
        ),
    }
}

/// Reads the report of the process forked from `middle`.
fn read_report(read: OwnedFd, middle: Pid) -> Result<Report> {
    let mut text = String::new();
    // `read_to_string` retries EINTR itself.
    File::from(read)
        .read_to_string(&mut text)
        .map_err(|e| Error::os(Operation::Report, Some(middle), e))?;
    let mut words = text.trim_end().splitn(4, ' ');
    let number = |word: Option<&str>| word.and_then(|w| w.parse::<i32>().ok());
    match words.next() {
        Some("ok") => match number(words.next()) {
            Some(pid) => Ok(Report::Ready(pid)),
            None => Err(died(middle)),
        },
        Some("os") => {
            let operation = words
                .next()
                .and_then(|w| w.parse().ok())
                .unwrap_or(usize::MAX);
            let errno = number(words.next()).unwrap_or(0);
            let pid = number(words.next());
            Ok(Report::Failed(Error::os(
                Operation::from_code(operation),
                pid,
                io::Error::from_raw_os_error(errno),
            )))
        }
        Some("msg") => {
            let mut rest = text.trim_end().splitn(3, ' ').skip(1);
            let pid = number(rest.next()).unwrap_or(middle);
            let message = rest.next().unwrap_or_default().to_owned();
            Ok(Report::Failed(Error::Daemon { pid, message }))
        }
        _ => Err(died(middle)),
    }
}

/// The error for a grandchild that ended without reporting.
fn died(middle: Pid) -> Error {
    Error::Daemon {
        pid: middle,
        message: "it ended before reporting that it was ready".to_owned(),
    }
}
