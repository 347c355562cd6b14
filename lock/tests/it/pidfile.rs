//! `Pidfile` across processes.

use std::process::Command;

use forkwise_lock::{Error, Pidfile};
use forkwise_testkit::{Notify, TempDir, fork};

/// A second instance is refused with the running one's pid; `flock -n` agrees.
pub(crate) fn second_instance_is_refused_with_the_pid() {
    let dir = TempDir::new("pid-second");
    let path = dir.join("app.pid");
    let (running, leave) = (Notify::new(), Notify::new());
    let first = fork(|| {
        let pidfile = Pidfile::create(&path).unwrap();
        running.notify();
        leave.wait();
        drop(pidfile);
    });
    running.wait();
    match Pidfile::create(&path) {
        Err(Error::AlreadyRunning { pid, path: p }) => {
            assert_eq!(pid, Some(first.pid().cast_unsigned()));
            assert_eq!(p, path);
        }
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    assert_eq!(
        Pidfile::holder(&path).unwrap(),
        Some(first.pid().cast_unsigned())
    );
    let shell = Command::new("flock")
        .args(["-n"])
        .arg(&path)
        .arg("true")
        .status()
        .unwrap();
    assert_eq!(shell.code(), Some(1), "flock(1) sees the pidfile locked");

    leave.notify();
    first.join();
    assert!(!path.exists(), "the first instance removed its pidfile");
    assert_eq!(Pidfile::holder(&path).unwrap(), None);
    let second = Pidfile::create(&path).unwrap();
    assert_eq!(second.previous_pid(), None);
}

/// A pidfile left by a process killed with SIGKILL is taken over.
pub(crate) fn stale_pidfile_is_taken_over() {
    let dir = TempDir::new("pid-stale");
    let path = dir.join("app.pid");
    let running = Notify::new();
    let first = fork(|| {
        let _pidfile = Pidfile::create(&path).unwrap();
        running.notify();
        std::thread::sleep(std::time::Duration::from_secs(60));
    });
    running.wait();
    let dead = first.pid().cast_unsigned();
    first.kill(libc::SIGKILL);
    first.join_killed_by(libc::SIGKILL);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{dead}\n"),
        "left behind"
    );
    assert_eq!(
        Pidfile::holder(&path).unwrap(),
        None,
        "nobody holds a stale pidfile"
    );

    let pidfile = Pidfile::create(&path).unwrap();
    assert_eq!(pidfile.previous_pid(), Some(dead));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{}\n", std::process::id())
    );
}

/// A symbolic link planted at the pidfile path is refused and its target untouched.
pub(crate) fn symlink_is_refused() {
    let dir = TempDir::new("pid-symlink");
    let target = dir.join("precious");
    std::fs::write(&target, "do not overwrite\n").unwrap();
    let path = dir.join("app.pid");
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let err = Pidfile::create(&path).unwrap_err();
    assert!(matches!(err, Error::Symlink { .. }), "{err:?}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "do not overwrite\n"
    );
    assert!(
        Pidfile::holder(&path).is_err(),
        "holder refuses the link too"
    );
}

/// A child forked by the instance drops its copy without removing the pidfile
/// or releasing the lock.
pub(crate) fn forked_child_does_not_remove_parent_pidfile() {
    let dir = TempDir::new("pid-fork");
    let path = dir.join("app.pid");
    let mut pidfile = Some(Pidfile::create(&path).unwrap());
    fork(|| drop(pidfile.take())).join();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{}\n", std::process::id())
    );
    fork(|| {
        assert!(matches!(
            Pidfile::create(&path),
            Err(Error::AlreadyRunning { .. })
        ));
    })
    .join();
    pidfile.take().unwrap().release().unwrap();
    assert!(!path.exists());
}

/// A pidfile in a missing directory names that directory.
pub(crate) fn missing_directory_is_named() {
    let dir = TempDir::new("pid-missing");
    let err = Pidfile::create(dir.join("run/app.pid")).unwrap_err();
    assert!(
        matches!(&err, Error::MissingDirectory { directory, .. } if directory == &dir.join("run")),
        "{err:?}"
    );
}
