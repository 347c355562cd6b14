//! Interop with the `ipcs(1)` and `ipcrm(1)` commands.

use std::process::Command;

use forkwise_sysv::{Error, Key, Mutex, Queue, Selector, Semaphore, SharedSegment};
use forkwise_testkit::{Notify, TempDir, fork};

use crate::support::{eventually, eventually_asleep, file_key};

/// The `ipcs -FLAG` line of the object with identifier `id`, split in columns:
/// key, id, owner, perms, ...
fn ipcs_row(flag: &str, id: i32) -> Option<Vec<String>> {
    let output = Command::new("ipcs").arg(flag).output().expect("run ipcs");
    assert!(output.status.success(), "ipcs {flag} failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.get(1).is_some_and(|cell| cell == &id.to_string()))
}

fn ipcrm(flag: &str, id: i32) {
    let status = Command::new("ipcrm")
        .args([flag, &id.to_string()])
        .status()
        .expect("run ipcrm");
    assert!(status.success(), "ipcrm {flag} {id} failed");
}

/// `ipcs` lists each kind of object under its key with mode 600 by
/// default, or the mode asked for.
pub(crate) fn ipcs_lists_objects_with_their_mode() {
    let dir = TempDir::new("sysv-ipcs");
    let semaphore = Semaphore::options()
        .remove_on_drop(true)
        .open(file_key(&dir, "sem"), 2)
        .unwrap();
    let queue = Queue::options()
        .remove_on_drop(true)
        .open(file_key(&dir, "msg"))
        .unwrap();
    let segment = SharedSegment::options()
        .remove_on_drop(true)
        .open(file_key(&dir, "shm"), 1234)
        .unwrap();
    let shared = Mutex::options()
        .mode(0o640)
        .remove_on_drop(true)
        .open(Key::from(file_key(&dir, "mutex")))
        .unwrap();
    for (flag, id, key, mode) in [
        ("-s", semaphore.id(), semaphore.key(), "600"),
        ("-q", queue.id(), queue.key(), "600"),
        ("-m", segment.id(), segment.key(), "600"),
        ("-s", shared.id(), shared.key(), "640"),
    ] {
        let row = ipcs_row(flag, id).unwrap_or_else(|| panic!("ipcs {flag} does not list {id}"));
        assert_eq!(row[0], format!("{:#010x}", key.as_raw()), "{row:?}");
        assert_eq!(row[3], mode, "{row:?}");
    }
    assert_eq!(
        ipcs_row("-s", semaphore.id()).unwrap()[4],
        "1",
        "one semaphore in the set"
    );
    assert_eq!(
        ipcs_row("-m", segment.id()).unwrap()[4],
        "1234",
        "the segment's size"
    );
    drop((semaphore, queue, segment, shared));
}

/// `ipcrm -q` of a queue that a process is blocked on: the process wakes
/// with `Removed`, which names the key; `ipcs` lists it no more.
pub(crate) fn ipcrm_is_reported_clearly() {
    let dir = TempDir::new("sysv-ipcrm");
    let key = file_key(&dir, "msg");
    let queue = Queue::open(&key).unwrap();
    let about_to_block = Notify::new();
    let receiver = fork(|| {
        about_to_block.notify();
        let err = queue.receive::<String>(Selector::Any).unwrap_err();
        assert!(err.is_removed(), "{err}");
        let message = err.to_string();
        assert!(message.contains("removed"), "{message}");
        assert!(
            message.contains(&key.path().display().to_string()),
            "names the file: {message}"
        );
    });
    about_to_block.wait();
    eventually_asleep(receiver.pid());
    ipcrm("-q", queue.id());
    receiver.join();
    assert!(ipcs_row("-q", queue.id()).is_none());
    assert!(queue.send(1, "x").unwrap_err().is_removed());

    // A semaphore removed under a waiting process, and then used.
    let semaphore = Semaphore::open(file_key(&dir, "sem"), 1).unwrap();
    let held = semaphore.acquire().unwrap();
    let waiter = fork(|| {
        assert!(matches!(semaphore.acquire(), Err(Error::Removed { .. })));
    });
    eventually("the waiter waits", || semaphore.waiters().unwrap() == 1);
    ipcrm("-s", semaphore.id());
    waiter.join();
    assert!(held.release().unwrap_err().is_removed());
}
