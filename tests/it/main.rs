//! Smoke tests of the umbrella crate: every re-exported primitive is
//! reachable as `forkwise::<module>` and works across processes; and the
//! root's pre-fork server example under load.

mod prefork;

use forkwise_testkit::{TempDir, fork};

fn main() {
    forkwise_testkit::run(forkwise_testkit::cases![
        lock_is_reexported,
        signal_is_reexported,
        timer_is_reexported,
        channel_is_reexported,
        sysv_is_reexported,
        fork_is_reexported,
        shm_is_reexported,
        prefork::prefork_server_echoes_fifty_clients_and_stops_on_sigterm,
    ]);
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

fn signal_is_reexported() {
    use forkwise::signal::{Signal, SignalTrap};

    let trap = SignalTrap::new(&[Signal::SIGUSR1]).unwrap();
    let parent = i32::try_from(std::process::id()).unwrap();
    fork(|| Signal::SIGUSR1.send(parent).unwrap()).join();
    assert_eq!(
        trap.wait(Some(std::time::Duration::from_secs(10))).unwrap(),
        Some(Signal::SIGUSR1)
    );
}

fn timer_is_reexported() {
    let timer = forkwise::timer::Timer::every(std::time::Duration::from_millis(2), |_| {}).unwrap();
    while timer.ticks() < 2 {
        forkwise::signal::wait(Some(std::time::Duration::from_secs(1))).unwrap();
    }
}

fn channel_is_reexported() {
    let (mut parent, mut child) = forkwise::channel::StreamChannel::pair().unwrap();
    fork(|| child.send(&("from the child", 7u32)).unwrap()).join();
    let (text, n): (String, u32) = parent.receive().unwrap();
    assert_eq!((text.as_str(), n), ("from the child", 7));
}

fn sysv_is_reexported() {
    use forkwise::sysv::{Key, Mutex};

    let mutex = Mutex::options()
        .remove_on_drop(true)
        .open(Key::private())
        .unwrap();
    let guard = mutex.lock().unwrap();
    fork(|| assert!(mutex.try_lock().unwrap().is_none(), "held by the parent")).join();
    drop(guard);
}

fn fork_is_reexported() {
    use forkwise::fork::{ForkManager, WorkerState};

    let mut manager = ForkManager::new().unwrap();
    let group = manager.fork(|worker| worker.index() + 1, 2).unwrap();
    assert_eq!(
        manager.wait(&group).unwrap(),
        [WorkerState::Exited(1), WorkerState::Exited(2)]
    );
    let answer = manager.fork_with_result(|_| 42u32).unwrap();
    assert_eq!(answer.join(&mut manager).unwrap(), 42);
}

fn shm_is_reexported() {
    use forkwise::shm::{Capacity, SharedArray, SharedData};

    let data = SharedData::anonymous(Capacity::new(4, 32)).unwrap();
    let counters = SharedArray::<u64>::anonymous(1).unwrap();
    fork(|| {
        data.set("from", &"the child").unwrap();
        counters.fetch_add(0, 1).unwrap();
    })
    .join();
    assert_eq!(
        data.get::<String>("from").unwrap().as_deref(),
        Some("the child")
    );
    assert_eq!(counters.get(0).unwrap(), 1);
}
