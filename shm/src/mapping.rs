//! [`Mapping`]: a shared mapping with a published header, and the name it
//! is found by; what every public type of the crate is built on.
//!
//! # Creation and publication
//!
//! A named region is created exclusively (`O_CREAT | O_EXCL`, mode 0600,
//! close-on-exec), its memory reserved with `posix_fallocate(3)` (so a full
//! `/dev/shm` is an error now, never a `SIGBUS` later), mapped, initialised
//! by its kind, and published by writing its header, magic number last.
//! An opener that finds the file before publication waits for the magic
//! number, up to [`PUBLICATION_PATIENCE`]; a creator that fails after
//! creating the file removes it.
//!
//! # Removal
//!
//! The process that created a named region removes the name when it drops
//! its handle, unless told to [`keep`](Mapping::keep) it. A child forked
//! afterwards has a copy of the handle but never removes the name, and a
//! process that merely opened the region does not either. Mappings stay
//! valid after the name is gone, until every process unmaps them.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use memmap2::MmapOptions;

use crate::error::{Error, Operation, Result};
use crate::header::{self, Found, Header, RegionKind};
use crate::memory::Memory;
use crate::sys;

/// How long [`Mapping::open`] waits for a creator to publish the header.
pub(crate) const PUBLICATION_PATIENCE: Duration = Duration::from_secs(1);

/// The longest name `/dev/shm` takes (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// What a new region needs: its kind, its whole length in bytes (header
/// included) and its kind's parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub(crate) kind: RegionKind,
    pub(crate) len: usize,
    pub(crate) params: [u64; header::PARAMS],
}

/// A validated name: the bare name, and the form `shm_open(3)` takes.
#[derive(Debug)]
struct Name {
    bare: String,
    c_name: CString,
}

impl Name {
    /// Checks `name` (one optional leading `/`, then 1 to 255 bytes with
    /// neither `/` nor NUL, and not `.` or `..`).
    fn new(name: &str) -> Result<Self> {
        let bare = name.strip_prefix('/').unwrap_or(name);
        let invalid = |reason| Error::InvalidName {
            name: name.to_owned(),
            reason,
        };
        if bare.is_empty() {
            return Err(invalid("it is empty"));
        }
        if bare.len() > NAME_MAX {
            return Err(invalid("it is longer than 255 bytes"));
        }
        if bare.contains('/') {
            return Err(invalid(
                "it contains '/' (a /dev/shm name is a single file name)",
            ));
        }
        if bare == "." || bare == ".." {
            return Err(invalid("'.' and '..' name directories"));
        }
        let c_name =
            CString::new(format!("/{bare}")).map_err(|_| invalid("it contains a NUL byte"))?;
        Ok(Self {
            bare: bare.to_owned(),
            c_name,
        })
    }

    /// The region as errors name it.
    fn shown(&self) -> String {
        format!("/dev/shm/{}", self.bare)
    }
}

/// A mapped region whose header has been published and checked.
#[derive(Debug)]
pub(crate) struct Mapping {
    memory: Memory,
    header: Header,
    shown: String,
    name: Option<Name>,
    /// The pid of the process whose `create` made the name, if this one
    /// did: only that process removes the name, and only on drop.
    creator: Option<u32>,
    keep: AtomicBool,
    /// Keeps the SysV segment (and its remove-on-drop) alive.
    #[cfg(feature = "sysv")]
    #[allow(dead_code, reason = "held for its Drop: the segment's remove-on-drop")]
    segment: Option<forkwise_sysv::SharedSegment>,
}

impl Mapping {
    /// Creates `/dev/shm/NAME` for `spec`, initialises it with `init`,
    /// and publishes it.
    pub(crate) fn create(
        name: &str,
        spec: Spec,
        init: impl FnOnce(&Memory, &str) -> Result<()>,
    ) -> Result<Self> {
        let name = Name::new(name)?;
        let shown = name.shown();
        let fd = sys::shm_create(&name.c_name).map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                Error::AlreadyExists {
                    region: shown.clone(),
                    source,
                }
            } else {
                Error::os(Operation::Create, &shown, source)
            }
        })?;
        let made = Self::map_new(&File::from(fd), spec, &shown, init);
        match made {
            Ok(memory) => Ok(Self {
                memory,
                header: Header {
                    kind: spec.kind,
                    params: spec.params,
                },
                shown,
                name: Some(name),
                creator: Some(std::process::id()),
                keep: AtomicBool::new(false),
                #[cfg(feature = "sysv")]
                segment: None,
            }),
            Err(err) => {
                // Unusable: never leave it behind.
                let _ = sys::shm_unlink(&name.c_name);
                Err(err)
            }
        }
    }

    /// An unnamed region for `spec`, shared with children forked afterwards.
    pub(crate) fn anonymous(
        spec: Spec,
        init: impl FnOnce(&Memory, &str) -> Result<()>,
    ) -> Result<Self> {
        let shown = "anonymous region".to_owned();
        let fd = sys::memfd().map_err(|source| Error::os(Operation::Create, &shown, source))?;
        let memory = Self::map_new(&File::from(fd), spec, &shown, init)?;
        Ok(Self {
            memory,
            header: Header {
                kind: spec.kind,
                params: spec.params,
            },
            shown,
            name: None,
            creator: None,
            keep: AtomicBool::new(false),
            #[cfg(feature = "sysv")]
            segment: None,
        })
    }

    /// Reserves, maps, initialises and publishes a file nobody else uses yet.
    fn map_new(
        file: &File,
        spec: Spec,
        shown: &str,
        init: impl FnOnce(&Memory, &str) -> Result<()>,
    ) -> Result<Memory> {
        let fd = std::os::fd::AsFd::as_fd(file);
        sys::reserve(fd, spec.len)
            .map_err(|source| Error::os(Operation::Reserve, shown, source))?;
        let map = MmapOptions::new()
            .len(spec.len)
            .map_raw(file)
            .map_err(|source| Error::os(Operation::Map, shown, source))?;
        let memory = Memory::from_mmap(map);
        init(&memory, shown)?;
        crate::hooks::reached(crate::hooks::Point::BeforePublication);
        Header {
            kind: spec.kind,
            params: spec.params,
        }
        .publish(memory.words(), memory.len());
        Ok(memory)
    }

    /// Opens `/dev/shm/NAME`, which must hold `kind`.
    pub(crate) fn open(name: &str, kind: RegionKind) -> Result<Self> {
        let name = Name::new(name)?;
        let shown = name.shown();
        let fd = sys::shm_open(&name.c_name).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                Error::NotFound {
                    region: shown.clone(),
                    source,
                }
            } else {
                Error::os(Operation::Open, &shown, source)
            }
        })?;
        let file = File::from(fd);
        let (memory, header) = Self::await_publication(&file, kind, &shown)?;
        Ok(Self {
            memory,
            header,
            shown,
            name: Some(name),
            creator: None,
            keep: AtomicBool::new(false),
            #[cfg(feature = "sysv")]
            segment: None,
        })
    }

    /// Maps `file` once it has its size and checks its header once its
    /// creator has published it.
    fn await_publication(file: &File, kind: RegionKind, shown: &str) -> Result<(Memory, Header)> {
        let deadline = Instant::now() + PUBLICATION_PATIENCE;
        let mut memory = None;
        loop {
            if memory.is_none() {
                let len = file
                    .metadata()
                    .map_err(|source| Error::os(Operation::Stat, shown, source))?
                    .len();
                // posix_fallocate sets the final size in one step.
                if len > 0 {
                    let len = usize::try_from(len).map_err(|_| Error::Mismatch {
                        region: shown.to_owned(),
                        what: "mapping length",
                        expected: usize::MAX as u64,
                        found: len,
                    })?;
                    let map = MmapOptions::new()
                        .len(len)
                        .map_raw(file)
                        .map_err(|source| Error::os(Operation::Map, shown, source))?;
                    memory = Some(Memory::from_mmap(map));
                }
            }
            if let Some(mapped) = &memory {
                match Header::read(mapped.words(), mapped.len(), kind, shown)? {
                    Found::Valid(header) => return Ok((memory.take().expect("mapped"), header)),
                    Found::Unpublished => {}
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Unpublished {
                    region: shown.to_owned(),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Builds the structure in a SysV segment: initialises and publishes it
    /// if this process created the segment, checks it otherwise.
    #[cfg(feature = "sysv")]
    pub(crate) fn in_segment(
        segment: forkwise_sysv::SharedSegment,
        spec: Spec,
        init: impl FnOnce(&Memory, &str) -> Result<()>,
    ) -> Result<Self> {
        let shown = format!("SysV segment {}", segment.key());
        let attachment = sys::Attachment::attach(segment.id())
            .map_err(|source| Error::os(Operation::Map, &shown, source))?;
        let memory = Memory::from_sysv(attachment, segment.len());
        let header = if segment.created() {
            if segment.len() != spec.len {
                return Err(Error::Mismatch {
                    region: shown,
                    what: "segment size (see the capacity's region_len)",
                    expected: spec.len as u64,
                    found: segment.len() as u64,
                });
            }
            init(&memory, &shown)?;
            let header = Header {
                kind: spec.kind,
                params: spec.params,
            };
            header.publish(memory.words(), memory.len());
            header
        } else {
            Self::await_segment(&memory, spec.kind, &shown)?
        };
        Ok(Self {
            memory,
            header,
            shown,
            name: None,
            creator: None,
            keep: AtomicBool::new(false),
            segment: Some(segment),
        })
    }

    /// Waits for the creator of a segment to publish its header.
    #[cfg(feature = "sysv")]
    fn await_segment(memory: &Memory, kind: RegionKind, shown: &str) -> Result<Header> {
        let deadline = Instant::now() + PUBLICATION_PATIENCE;
        loop {
            if let Found::Valid(header) = Header::read(memory.words(), memory.len(), kind, shown)? {
                return Ok(header);
            }
            if Instant::now() >= deadline {
                return Err(Error::Unpublished {
                    region: shown.to_owned(),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The mapped memory, header included.
    pub(crate) fn memory(&self) -> &Memory {
        &self.memory
    }

    /// The kind's parameters from the header.
    pub(crate) fn params(&self) -> [u64; header::PARAMS] {
        self.header.params
    }

    /// The region as errors name it: `/dev/shm/NAME`, "anonymous region" or
    /// "SysV segment KEY".
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// The name under `/dev/shm`, if the region has one.
    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_ref().map(|name| name.bare.as_str())
    }

    /// From now on, dropping this handle leaves the name in place.
    pub(crate) fn keep(&self) {
        self.keep.store(true, Ordering::Relaxed);
    }

    /// True if dropping this handle (in this process) will remove the name.
    pub(crate) fn removes_on_drop(&self) -> bool {
        self.name.is_some()
            && self.creator == Some(std::process::id())
            && !self.keep.load(Ordering::Relaxed)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.removes_on_drop()
            && let Some(name) = &self.name
        {
            // Already gone (someone called unlink) is fine; there is no one
            // to tell about another failure.
            let _ = sys::shm_unlink(&name.c_name);
        }
    }
}

/// Removes `/dev/shm/NAME`; processes that have it mapped keep using it.
pub(crate) fn unlink(name: &str) -> Result<()> {
    let name = Name::new(name)?;
    sys::shm_unlink(&name.c_name).map_err(|source| {
        let region = name.shown();
        if source.kind() == io::ErrorKind::NotFound {
            Error::NotFound { region, source }
        } else {
            Error::os(Operation::Unlink, &region, source)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert_eq!(Name::new("/abc").unwrap().bare, "abc");
        assert_eq!(Name::new("abc").unwrap().shown(), "/dev/shm/abc");
        for bad in ["", "/", "a/b", ".", "..", "a\0b", &"x".repeat(256)] {
            assert!(
                matches!(Name::new(bad), Err(Error::InvalidName { .. })),
                "{bad:?}"
            );
        }
        assert!(Name::new(&"x".repeat(255)).is_ok());
    }
}
