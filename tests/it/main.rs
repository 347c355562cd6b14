//! Smoke tests of the umbrella crate: every re-exported primitive is
//! reachable as `forkwise::<module>` and works across processes.

use forkwise_testkit::{TempDir, fork};

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![lock_is_reexported]);
}

fn lock_is_reexported() {
    let dir = TempDir::new("umbrella-lock");
    let path = dir.join("x.lock");
    let mut lock = forkwise::lock::FileLock::new(&path).unwrap();
    let guard: forkwise::lock::FileLockGuard<'_> = lock.acquire().unwrap();
    fork(|| {
        let mut rival = forkwise::lock::FileLock::new(&path).unwrap();
        assert!(rival.try_acquire().unwrap().is_none());
    })
    .join();
    drop(guard);
}
