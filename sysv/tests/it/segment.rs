//! `SharedSegment` across processes.

use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicU32, AtomicU64};

use forkwise_sysv::{Error, Key, SharedSegment};
use forkwise_testkit::{Child, Notify, TempDir, fork};

use crate::support::{eventually, file_key};

/// Four processes add to one atomic counter in the segment 10,000 times each.
pub(crate) fn atomic_counter_across_processes() {
    let dir = TempDir::new("sysv-shm-counter");
    let key = file_key(&dir, "key");
    let segment = SharedSegment::options()
        .remove_on_drop(true)
        .open(&key, 4096)
        .unwrap();
    let children: Vec<Child> = (0..4)
        .map(|_| {
            fork(|| {
                let mine = SharedSegment::open(&key, 4096).unwrap();
                let counter = mine.atomic::<AtomicU64>(64).unwrap();
                for _ in 0..10_000 {
                    counter.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    children.into_iter().for_each(Child::join);
    assert_eq!(
        segment.atomic::<AtomicU64>(64).unwrap().load(SeqCst),
        40_000
    );
}

/// Bytes written by one process are read by another, through its own
/// attachment of the key.
pub(crate) fn bytes_cross_processes() {
    let dir = TempDir::new("sysv-shm-bytes");
    let key = file_key(&dir, "key");
    let segment = SharedSegment::options()
        .remove_on_drop(true)
        .open(&key, 100)
        .unwrap();
    fork(|| {
        let mine = SharedSegment::open(&key, 100).unwrap();
        assert!(!mine.created());
        mine.write_at(90, b"0123456789").unwrap();
    })
    .join();
    let mut tail = [0; 10];
    segment.read_at(90, &mut tail).unwrap();
    assert_eq!(&tail, b"0123456789");
    let mut head = [1; 90];
    segment.read_at(0, &mut head).unwrap();
    assert_eq!(head, [0; 90], "the rest is still zero");
}

/// Bounds and alignment are checked; an existing segment of another size
/// is refused; size 0 is refused.
pub(crate) fn bounds_sizes_and_alignment_are_checked() {
    let dir = TempDir::new("sysv-shm-bounds");
    let key = file_key(&dir, "key");
    let segment = SharedSegment::options()
        .remove_on_drop(true)
        .open(&key, 64)
        .unwrap();
    let mut buf = [0; 8];
    for (offset, len) in [(57, 8), (64, 1), (usize::MAX, 2)] {
        match segment.read_at(offset, &mut buf[..len]) {
            Err(Error::OutOfBounds {
                offset: o,
                len: l,
                size: 64,
                ..
            }) => {
                assert_eq!((o, l), (offset, len));
            }
            other => panic!("expected OutOfBounds, got {other:?}"),
        }
        assert!(segment.write_at(offset, &buf[..len]).is_err());
    }
    segment.write_at(56, &[0xff; 8]).unwrap();
    assert!(matches!(
        segment.atomic::<AtomicU64>(52),
        Err(Error::Misaligned {
            offset: 52,
            align: 8,
            ..
        })
    ));
    assert!(matches!(
        segment.atomic::<AtomicU64>(64),
        Err(Error::OutOfBounds { .. })
    ));
    assert_eq!(
        segment.atomic::<AtomicU32>(60).unwrap().load(SeqCst),
        u32::MAX
    );

    match SharedSegment::open(&key, 128) {
        Err(Error::SizeMismatch {
            expected: 128,
            actual: 64,
            ..
        }) => {}
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    assert!(matches!(
        SharedSegment::open(Key::private(), 0),
        Err(Error::InvalidSize { size: 0, .. })
    ));
    assert!(matches!(
        SharedSegment::open(Key::private(), usize::MAX),
        Err(Error::InvalidSize { .. })
    ));
}

/// `attached` counts the attachments of every process; a child forked while
/// attached shares the attachment, and its drop of the handle neither
/// removes the segment nor detaches the parent.
pub(crate) fn attachments_are_counted_and_children_never_remove() {
    let dir = TempDir::new("sysv-shm-attach");
    let key = file_key(&dir, "key");
    let segment = SharedSegment::options()
        .remove_on_drop(true)
        .open(&key, 4096)
        .unwrap();
    assert_eq!(segment.attached().unwrap(), 1);
    let (attached, leave) = (Notify::new(), Notify::new());
    let other = fork(|| {
        let _mine = SharedSegment::open(&key, 4096).unwrap();
        attached.notify();
        leave.wait();
    });
    attached.wait();
    // The forked child inherited this attachment, and opened one of its own.
    assert_eq!(segment.attached().unwrap(), 3);
    leave.notify();
    other.join();
    eventually("the child's attachments are gone", || {
        segment.attached().unwrap() == 1
    });

    let mut handle = Some(segment);
    fork(|| {
        let inherited = handle.take().unwrap();
        inherited.write_at(0, b"child").unwrap();
        drop(inherited);
    })
    .join();
    let segment = handle.unwrap();
    let mut word = [0; 5];
    segment.read_at(0, &mut word).unwrap();
    assert_eq!(&word, b"child");
    assert_eq!(segment.attached().unwrap(), 1, "still attached here");
    let reopened = SharedSegment::options().create(false).open(&key, 4096);
    assert!(reopened.is_ok(), "the child's drop did not remove it");
}
