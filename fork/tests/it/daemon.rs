//! Daemons and detached programs: double fork, own session, pidfile, and
//! no process or zombie left. The case process makes itself a child
//! subreaper (through the manager), so that the daemon comes back to it
//! when its parent exits and can be reaped before the case ends.

use std::fs::File;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use forkwise_fork::{
    Daemon, Error, ForkManager, Operation, Signal, WorkerState, daemonize, detach,
};
use forkwise_lock::Pidfile;
use forkwise_signal::SignalTrap;
use forkwise_testkit::TempDir;

use crate::support::{assert_no_children, my_pid, nap};

/// A field of `/proc/PID/stat` after the command name (3: state, 4: ppid,
/// 6: session).
fn stat_field(pid: i32, field: usize) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    rest.split_whitespace()
        .nth(field - 3)
        .unwrap()
        .parse()
        .unwrap()
}

fn status_line(pid: i32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(key).map(|v| v.trim().to_owned()))
        .unwrap()
}

/// Waits until `path` holds a pid locked by a running process.
fn holder(path: &std::path::Path) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pid) = Pidfile::holder(path).unwrap() {
            return i32::try_from(pid).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "no daemon holds {}",
            path.display()
        );
        nap(5);
    }
}

/// Start a daemon, find it through its pidfile, check what it became,
/// signal it, and see it remove its pidfile and exit (then reap it).
pub(crate) fn a_daemon_is_found_signalled_and_gone() {
    let dir = TempDir::new("daemon");
    let pidfile = dir.join("d.pid");
    let log = dir.join("d.log");
    let mut manager = ForkManager::builder().subreaper(true).build().unwrap();
    let launcher = manager
        .fork(
            |_| -> Result<(), Error> {
                let trap = SignalTrap::new(&[Signal::SIGTERM]).unwrap();
                let daemon = daemonize(
                    Daemon::new()
                        .pidfile(&pidfile)
                        .chdir(dir.path())
                        .umask(0o077)
                        .stdout(File::create(&log).unwrap()),
                )?;
                // Only the daemon gets here.
                println!("daemon {} ready", daemon.pid());
                trap.wait(None).unwrap();
                println!("daemon stopping");
                drop(daemon); // removes the pidfile
                Ok(())
            },
            1,
        )
        .unwrap();
    assert_eq!(
        manager.wait(&launcher).unwrap(),
        [WorkerState::Exited(0)],
        "the launcher exits 0 once the daemon is ready"
    );
    let pid = holder(&pidfile);
    let launcher_pid = manager.pid(launcher.ids()[0]).unwrap();
    assert_ne!(pid, launcher_pid);
    assert_eq!(stat_field(pid, 4), i64::from(my_pid()), "reparented to us");
    let session = stat_field(pid, 6);
    assert_ne!(session, stat_field(my_pid(), 6), "a session of its own");
    assert_ne!(session, i64::from(pid), "not a session leader: no terminal");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        dir.path().canonicalize().unwrap()
    );
    assert_eq!(status_line(pid, "Umask:"), "0077");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap(),
        std::path::Path::new("/dev/null")
    );

    let daemon = manager.adopt(pid).unwrap();
    manager.kill(Signal::SIGTERM, daemon).unwrap();
    assert_eq!(manager.wait(daemon).unwrap(), [WorkerState::Exited(0)]);
    assert!(!pidfile.exists(), "the daemon removed its pidfile");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        format!("daemon {pid} ready\ndaemon stopping\n")
    );
    assert_no_children();
}

/// A second daemon is refused while the first holds the pidfile; the error
/// comes back in the calling process.
pub(crate) fn a_second_daemon_is_refused() {
    let dir = TempDir::new("daemon2");
    let pidfile = dir.join("d.pid");
    let held = Pidfile::create(&pidfile).unwrap();
    let mut manager = ForkManager::builder().subreaper(true).build().unwrap();
    let case = std::process::id();
    let launcher = manager
        .fork(
            |_| {
                let err = daemonize(Daemon::new().pidfile(&pidfile)).unwrap_err();
                assert!(
                    matches!(&err, Error::Pidfile(forkwise_lock::Error::AlreadyRunning { pid: Some(p), .. }) if *p == case),
                    "{err}"
                );
            },
            1,
        )
        .unwrap();
    assert_eq!(manager.wait(&launcher).unwrap(), [WorkerState::Exited(0)]);
    drop(held);
    assert_no_children();
}

/// A daemon whose set-up fails reports the failed step and its pid to the
/// calling process, and exits.
pub(crate) fn a_failed_daemon_reports_the_step() {
    let dir = TempDir::new("daemon3");
    let missing = dir.join("no/such/dir");
    let mut manager = ForkManager::builder().subreaper(true).build().unwrap();
    let reported = forkwise_testkit::SharedCounters::new(1);
    let launcher = manager
        .fork(
            |_| {
                let err = daemonize(Daemon::new().chdir(&missing)).unwrap_err();
                let Error::Os {
                    operation: Operation::Chdir,
                    pid: Some(pid),
                    source,
                } = &err
                else {
                    panic!("{err}");
                };
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
                assert!(err.to_string().contains(&format!("process {pid}")), "{err}");
                reported[0].store(i64::from(*pid), std::sync::atomic::Ordering::SeqCst);
            },
            1,
        )
        .unwrap();
    assert_eq!(manager.wait(&launcher).unwrap(), [WorkerState::Exited(0)]);
    // The failed daemon came back to us (the subreaper): reap it.
    let pid = i32::try_from(reported[0].load(std::sync::atomic::Ordering::SeqCst)).unwrap();
    let daemon = manager.adopt(pid).unwrap();
    assert_eq!(manager.wait(daemon).unwrap(), [WorkerState::Exited(1)]);
    assert_no_children();
}

/// `detach` starts a program in its own session and returns its pid; the
/// program is not left as anyone's zombie.
pub(crate) fn detach_runs_a_program_in_its_own_session() {
    let dir = TempDir::new("detach");
    let out = dir.join("pid");
    let mut manager = ForkManager::builder().subreaper(true).build().unwrap();
    let pid = detach(
        Command::new("sh")
            .arg("-c")
            .arg(format!("echo $$ > {}; exec sleep 30", out.display()))
            .stdin(Stdio::null()),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&out).map_or(true, |s| !s.ends_with('\n')) {
        assert!(Instant::now() < deadline, "the program did not start");
        nap(5);
    }
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().trim(),
        pid.to_string()
    );
    assert_eq!(stat_field(pid, 6), i64::from(pid), "its own session");
    assert_eq!(
        stat_field(pid, 4),
        i64::from(my_pid()),
        "the middle process is gone"
    );
    let program = manager.adopt(pid).unwrap();
    manager.kill(Signal::SIGTERM, program).unwrap();
    let terminated = WorkerState::Killed {
        signal: Signal::SIGTERM,
        core_dumped: false,
    };
    assert_eq!(manager.wait(program).unwrap(), [terminated]);
    assert_no_children();
}

/// A program that cannot start is an error naming the spawn.
pub(crate) fn detach_reports_a_missing_program() {
    let err = detach(&mut Command::new("/no/such/program")).unwrap_err();
    assert!(
        matches!(&err, Error::Os { operation: Operation::Spawn, source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
    assert_no_children();
}

/// `adopt` refuses a process that is not our child.
pub(crate) fn adopt_refuses_strangers() {
    let mut manager = ForkManager::new().unwrap();
    assert!(matches!(manager.adopt(1), Err(Error::NotAChild { pid: 1 })));
}
