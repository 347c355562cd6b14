//! The `sysv` feature: the same structures in a forkwise-sysv
//! `SharedSegment`, found by SysV key.

use std::sync::Arc;

use forkwise_shm::hooks::{self, Point};
use forkwise_shm::{Capacity, Error, SharedArray, SharedData};
use forkwise_sysv::{FileKey, SharedSegment};
use forkwise_testkit::{Child, Notify, TempDir, fork};

use crate::support::wait_to_be_killed;

/// A store in a segment found by `ftok` key: the creator lays it out, a
/// process opening the key uses it, and a writer killed mid-write there is
/// recovered as in `/dev/shm`.
pub(crate) fn store_in_a_segment_found_by_key() {
    let dir = TempDir::new("shm-sysv");
    let key_file = dir.join("store.key");
    std::fs::write(&key_file, b"").unwrap();
    let key = FileKey::new(&key_file).unwrap();
    let capacity = Capacity::new(8, 64);
    let len = capacity.region_len().unwrap();
    let segment = SharedSegment::options()
        .exclusive(true)
        .remove_on_drop(true)
        .open(&key, len)
        .unwrap();
    let data = SharedData::in_segment(segment, capacity).unwrap();
    data.set("k", &1u32).unwrap();

    let open = || {
        let segment = SharedSegment::open(FileKey::new(&key_file).unwrap(), len).unwrap();
        assert!(!segment.created());
        SharedData::in_segment(segment, capacity).unwrap()
    };
    fork(|| {
        let other = open();
        assert_eq!(other.get::<u32>("k").unwrap(), Some(1));
        other
            .update("k", |n: Option<u32>| n.unwrap_or(0) + 1)
            .unwrap();
    })
    .join();
    assert_eq!(data.get::<u32>("k").unwrap(), Some(2));

    let paused = Arc::new(Notify::new());
    let writer = {
        let paused = Arc::clone(&paused);
        fork(move || {
            let other = open();
            hooks::set(move |at| {
                if at == Point::MidValue {
                    paused.notify();
                    wait_to_be_killed();
                }
            });
            other
                .set("k", &"a value long enough to span words")
                .unwrap();
        })
    };
    paused.wait();
    writer.kill(libc::SIGKILL);
    writer.join_killed_by(libc::SIGKILL);
    assert_eq!(data.get::<u32>("k").unwrap(), Some(2));
    assert_eq!(data.recoveries(), 1);
}

/// An array in a private segment is shared with forked children.
pub(crate) fn array_in_a_private_segment() {
    let len = SharedArray::<u64>::region_len(2).unwrap();
    let segment = SharedSegment::options()
        .remove_on_drop(true)
        .open(forkwise_sysv::Key::private(), len)
        .unwrap();
    let array = SharedArray::<u64>::in_segment(segment, 2).unwrap();
    let children: Vec<Child> = (0..2)
        .map(|_| {
            fork(|| {
                for _ in 0..1000 {
                    array.fetch_add(1, 1).unwrap();
                }
            })
        })
        .collect();
    children.into_iter().for_each(Child::join);
    assert_eq!(array.to_vec(), [0, 2000]);
}

/// A segment of the wrong size, or holding another capacity, is refused.
pub(crate) fn mismatched_segments_are_refused() {
    let capacity = Capacity::new(8, 64);
    let wrong = SharedSegment::options()
        .remove_on_drop(true)
        .open(forkwise_sysv::Key::private(), 4096)
        .unwrap();
    let err = SharedData::in_segment(wrong, capacity).unwrap_err();
    assert!(matches!(err, Error::Mismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("SysV segment"), "{err}");

    let dir = TempDir::new("shm-sysv-cap");
    let key_file = dir.join("store.key");
    std::fs::write(&key_file, b"").unwrap();
    let len = capacity.region_len().unwrap();
    let segment = SharedSegment::options()
        .remove_on_drop(true)
        .open(FileKey::new(&key_file).unwrap(), len)
        .unwrap();
    let _data = SharedData::in_segment(segment, capacity).unwrap();
    // Keys of up to 60 bytes take as many words as keys of up to 64: the
    // same segment size, another capacity.
    let other = capacity.with_key_bytes(60);
    assert_eq!(other.region_len().unwrap(), len);
    fork(|| {
        let segment = SharedSegment::open(FileKey::new(&key_file).unwrap(), len).unwrap();
        let err = SharedData::in_segment(segment, other).unwrap_err();
        assert!(matches!(err, Error::InvalidCapacity { .. }), "{err:?}");
    })
    .join();
}
