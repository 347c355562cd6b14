//! Regions: names, headers, permissions, removal, reservation.

use std::cell::RefCell;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use forkwise_shm::hooks::{self, Point};
use forkwise_shm::{Capacity, Error, Region, RegionKind, SharedArray, SharedData};
use forkwise_testkit::{Notify, fork};

use crate::support::{path, unique};

/// A file under `/dev/shm` that starts with something else is refused
/// at once, naming the region.
pub(crate) fn bad_magic_is_refused() {
    let name = unique("magic");
    std::fs::write(
        path(&name),
        b"PK\x03\x04 a zip, say, of 64 bytes .............................",
    )
    .unwrap();
    let started = Instant::now();
    let err = SharedData::open(&name).unwrap_err();
    std::fs::remove_file(path(&name)).unwrap();
    assert!(matches!(err, Error::NotOurs { .. }), "{err:?}");
    assert!(err.to_string().contains(&name), "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "no waiting for a foreign file"
    );
    let io = std::io::Error::from(err);
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
}

/// A region written by another layout version is refused with both versions.
pub(crate) fn other_layout_version_is_refused() {
    let name = unique("version");
    let data = SharedData::create(&name, Capacity::new(4, 16)).unwrap();
    data.set("k", &1).unwrap();
    // Word 1 of the header is the layout version.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path(&name))
        .unwrap();
    file.seek(SeekFrom::Start(8)).unwrap();
    file.write_all(&99u64.to_le_bytes()).unwrap();
    drop(file);
    let err = SharedData::open(&name).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LayoutVersion {
                found: 99,
                expected: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("layout version 99"), "{err}");
}

/// Each kind opens only as itself.
pub(crate) fn wrong_kind_is_refused() {
    let name = unique("kind");
    let _array = SharedArray::<u64>::create(&name, 4).unwrap();
    let err = SharedData::open(&name).unwrap_err();
    assert!(
        matches!(
            err,
            Error::WrongKind {
                expected: RegionKind::Data,
                found: RegionKind::Array,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(Region::open(&name), Err(Error::WrongKind { .. })));
    let err = SharedArray::<u32>::open(&name).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Mismatch {
                expected: 4,
                found: 8,
                ..
            }
        ),
        "element size: {err:?}"
    );
}

/// A file that never gets a header (its creator died first) is refused
/// after the publication wait.
pub(crate) fn unpublished_region_is_refused_after_a_wait() {
    let name = unique("unpublished");
    std::fs::write(path(&name), b"").unwrap();
    let started = Instant::now();
    let err = Region::open(&name).unwrap_err();
    let waited = started.elapsed();
    std::fs::remove_file(path(&name)).unwrap();
    assert!(matches!(err, Error::Unpublished { .. }), "{err:?}");
    assert!(waited >= Duration::from_millis(900), "waited {waited:?}");
}

/// An opener that finds a region its live creator has not published yet
/// waits for the publication, then opens it whole.
pub(crate) fn open_waits_for_a_live_creator() {
    const PAUSE: Duration = Duration::from_millis(200);
    let name = unique("racing");
    let (paused, opened) = (Arc::new(Notify::new()), Notify::new());
    let creator = fork(|| {
        let paused = Arc::clone(&paused);
        hooks::set(move |at| {
            if at == Point::BeforePublication {
                paused.notify();
                std::thread::sleep(PAUSE);
            }
        });
        let data = SharedData::create(&name, Capacity::new(2, 8)).unwrap();
        hooks::clear();
        data.set("k", &7u32).unwrap();
        opened.wait(); // the name stays until the opener has the region
    });
    paused.wait();
    let started = Instant::now();
    let data = SharedData::open(&name).unwrap();
    let waited = started.elapsed();
    opened.notify();
    creator.join();
    assert!(
        waited >= PAUSE / 2,
        "opened after {waited:?}, before publication"
    );
    assert_eq!(data.get::<u32>("k").unwrap(), Some(7));
    assert!(!path(&name).exists(), "the creator removed the name");
}

/// Regions are created 0600 whatever the umask, exclusively, and their
/// memory is reserved up front.
pub(crate) fn created_exclusively_with_mode_0600() {
    // A umask that takes the owner's write bit: 0600 would become 0400.
    // SAFETY: umask only changes this process's file-creation mask.
    let old = unsafe { libc::umask(0o277) };
    let name = unique("mode");
    let region = Region::create(&name, 10_000).unwrap();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let metadata = std::fs::metadata(path(&name)).unwrap();
    assert_eq!(metadata.permissions().mode() & 0o7777, 0o600);
    assert!(metadata.len() >= 10_000);
    assert!(
        std::os::unix::fs::MetadataExt::blocks(&metadata) * 512 >= 10_000,
        "the memory is allocated, not sparse"
    );
    assert!(matches!(
        Region::create(&name, 8),
        Err(Error::AlreadyExists { .. })
    ));
    drop(region);
    assert!(
        !path(&name).exists(),
        "the creator removes the name on drop"
    );
}

/// A region larger than `/dev/shm` fails at creation (not with a SIGBUS
/// later), and leaves no file.
pub(crate) fn full_dev_shm_is_an_error_at_creation() {
    let size = dev_shm_size().expect("/dev/shm has a size limit (tmpfs size=0 would be unlimited)");
    let name = unique("huge");
    let err = Region::create(&name, size + (1 << 30)).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Os { operation: forkwise_shm::Operation::Reserve, source, .. }
                if source.raw_os_error() == Some(libc::ENOSPC)
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&name), "{err}");
    assert!(!path(&name).exists(), "nothing left behind");
}

/// A forked child that drops its copy of the creator's handle leaves the
/// name; `keep` leaves it too, and `unlink` removes it.
pub(crate) fn forked_child_never_removes_the_name() {
    let name = unique("child");
    let handle = RefCell::new(Some(
        SharedData::create(&name, Capacity::new(2, 8)).unwrap(),
    ));
    fork(|| drop(handle.borrow_mut().take())).join();
    assert!(path(&name).exists(), "the child removed its parent's name");
    let handle = handle.into_inner().unwrap();
    handle.keep();
    drop(handle);
    assert!(path(&name).exists(), "kept");
    let opened = SharedData::open(&name).unwrap();
    drop(opened);
    assert!(path(&name).exists(), "an opener never removes");
    Region::unlink(&name).unwrap();
    assert!(matches!(Region::open(&name), Err(Error::NotFound { .. })));
}

/// An anonymous region is shared with forked children, a named one with
/// any process that opens it.
pub(crate) fn regions_are_shared_between_processes() {
    let anonymous = Region::anonymous(64).unwrap();
    let name = unique("raw");
    let named = Region::create(&name, 64).unwrap();
    fork(|| {
        anonymous.atomic::<AtomicU64>(8).unwrap().store(7, SeqCst);
        let opened = Region::open(&name).unwrap();
        opened.write_at(60, b"done").unwrap();
    })
    .join();
    assert_eq!(anonymous.atomic::<AtomicU64>(8).unwrap().load(SeqCst), 7);
    let mut text = [0; 4];
    named.read_at(60, &mut text).unwrap();
    assert_eq!(&text, b"done");
    assert!(matches!(
        named.read_at(61, &mut text),
        Err(Error::OutOfRange { .. })
    ));
    assert!(matches!(
        named.atomic::<AtomicU64>(4),
        Err(Error::Misaligned { .. })
    ));
}

/// The size of the `/dev/shm` file system in bytes, if it is limited.
fn dev_shm_size() -> Option<usize> {
    // SAFETY: `statvfs` is a plain C struct; all-zeroes is a valid value.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a NUL-terminated literal and `stats` is writable.
    let ret = unsafe { libc::statvfs(c"/dev/shm".as_ptr(), &raw mut stats) };
    assert_eq!(
        ret,
        0,
        "statvfs /dev/shm: {}",
        std::io::Error::last_os_error()
    );
    let bytes = stats.f_blocks * stats.f_frsize;
    usize::try_from(bytes).ok().filter(|&bytes| bytes > 0)
}
