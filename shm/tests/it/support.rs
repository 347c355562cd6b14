//! Helpers shared by the cases.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A `/dev/shm` name no other process or case uses: the pid and a counter.
pub(crate) fn unique(what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("fw-test-{what}-{}-{n}", std::process::id())
}

/// `/dev/shm/NAME`.
pub(crate) fn path(name: &str) -> std::path::PathBuf {
    std::path::Path::new("/dev/shm").join(name)
}

/// Wall-clock nanoseconds, comparable between processes of one machine.
pub(crate) fn now_ns() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_nanos()).expect("fits until 2262")
}

/// The time between two [`now_ns`] readings.
pub(crate) fn between(from_ns: i64, to_ns: i64) -> Duration {
    Duration::from_nanos(u64::try_from(to_ns - from_ns).unwrap_or(0))
}

/// Sleeps until killed: what a paused writer does in a test hook.
pub(crate) fn wait_to_be_killed() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}
