//! Interop with the `flock(1)` command that shell scripts use.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use forkwise_lock::FileLock;
use forkwise_testkit::TempDir;

use forkwise_testkit::eventually;

/// Runs `flock ARGS FILE true` and says whether it got the lock.
fn flock_command_gets(args: &[&str], path: &Path) -> bool {
    let status = Command::new("flock")
        .args(args)
        .arg(path)
        .arg("true")
        .status()
        .expect("run flock(1)");
    match status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!("flock(1) ended with {other:?}"),
    }
}

/// Our exclusive lock makes `flock -n` fail; our shared lock lets `flock -s -n` in.
pub(crate) fn our_lock_excludes_flock_command() {
    let dir = TempDir::new("lock-shell-ours");
    let path = dir.join("x.lock");
    let mut lock = FileLock::new(&path).unwrap();
    assert!(flock_command_gets(&["-n"], &path), "free before we lock");

    let guard = lock.acquire().unwrap();
    assert!(
        !flock_command_gets(&["-n"], &path),
        "flock -n must fail while we hold it"
    );
    assert!(
        !flock_command_gets(&["-s", "-n"], &path),
        "flock -s -n must fail too"
    );
    drop(guard);

    let guard = lock.acquire_shared().unwrap();
    assert!(
        flock_command_gets(&["-s", "-n"], &path),
        "shared with a shared holder"
    );
    assert!(!flock_command_gets(&["-n"], &path), "exclusive is refused");
    drop(guard);
    assert!(flock_command_gets(&["-n"], &path), "free after release");
}

/// A lock held by `flock FILE cat` (which holds it until its stdin closes)
/// makes our acquires fail, and is ours once the command ends.
pub(crate) fn flock_command_holder_excludes_us() {
    let dir = TempDir::new("lock-shell-theirs");
    let path = dir.join("x.lock");
    let mut holder = Command::new("flock")
        .arg(&path)
        .arg("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start flock(1)");
    let mut lock = FileLock::new(&path).unwrap();
    eventually("flock(1) holds the lock", || {
        lock.try_acquire().unwrap().is_none()
    });
    assert!(lock.try_acquire_shared().unwrap().is_none());
    assert!(
        lock.acquire_timeout(std::time::Duration::from_millis(30))
            .unwrap()
            .is_none()
    );

    let mut stdin = holder.stdin.take().unwrap();
    stdin.write_all(b"bye\n").unwrap();
    drop(stdin);
    assert!(holder.wait().unwrap().success());
    assert!(
        lock.try_acquire().unwrap().is_some(),
        "ours once flock(1) ended"
    );
}
