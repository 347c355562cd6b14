//! The only module of this crate that calls libc.
//!
//! Its duties, so that the public layer above stays safe and thin:
//!
//! - every function is a safe wrapper over one system call (or a fixed,
//!   short sequence of them) and says in a `// SAFETY:` comment why the call
//!   is sound;
//! - "-1 and errno" becomes an [`io::Result`] through [`cvt`] (or
//!   [`cvt_size`]) only; EINTR is left to the caller, which retries through
//!   [`retry_eintr`] where POSIX allows a retry;
//! - outcomes that are not failures (a set that already exists, a queue
//!   that is full, no message of the asked type) come back as values
//!   (`Option`, `bool`), not as errors to be matched on errno;
//! - the raw pointers of an attached shared memory segment never leave
//!   [`shm`]: callers get bounds-checked copies and atomic references.

pub(crate) mod msg;
pub(crate) mod sem;
pub(crate) mod shm;

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// A SysV IPC key as the kernel takes it.
pub(crate) type RawKey = libc::key_t;

/// The key that always creates a new object, visible only to its creator
/// and the children it forks.
pub(crate) const PRIVATE_KEY: RawKey = libc::IPC_PRIVATE;

/// Turns a C return value of -1 into the current `errno` as an [`io::Error`].
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// [`cvt`] for calls that return a byte count (`ssize_t`).
fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

/// Runs `call` again for as long as it fails with EINTR.
///
/// `semop(2)` and `msgrcv(2)` fail with EINTR whenever a signal handler
/// runs, even one installed with `SA_RESTART`, so every blocking call of
/// this crate goes through here.
pub(crate) fn retry_eintr<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// True if `err` says the object was removed while this process waited on
/// it (`EIDRM`).
pub(crate) fn is_removed(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EIDRM)
}

/// True if `err` says the identifier names no object (`EINVAL`), which for
/// an identifier that was valid means that the object has been removed. The
/// callers confirm with a status call, since EINVAL has other meanings too.
pub(crate) fn is_invalid(err: &io::Error) -> bool {
    err.raw_os_error() == Some(libc::EINVAL)
}

/// `ftok(3)`: the key of the file at `path` for project `project`.
///
/// glibc computes it from the low 8 bits of `project`, the low 8 bits of the
/// file system's device number and the low 16 bits of the inode number, so
/// different files can share a key.
pub(crate) fn ftok(path: &Path, project: u8) -> io::Result<RawKey> {
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "the path contains a NUL byte"))?;
    // SAFETY: `path` is a NUL-terminated string that outlives the call;
    // ftok only reads it (to stat the file).
    let key = unsafe { libc::ftok(path.as_ptr(), libc::c_int::from(project)) };
    if key == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(key)
    }
}

/// Permission bits as `semget`/`msgget`/`shmget` take them in their flags:
/// only the low nine bits (rwx for owner, group, others) are kept.
fn permission_flags(mode: u16) -> libc::c_int {
    libc::c_int::from(mode & 0o777)
}

/// Counts the forks this process descends through; see [`fork_generation`].
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

extern "C" fn after_fork_in_child() {
    // Async-signal-safe: one atomic add, no allocation, no lock.
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// A number that changes in a child after every `fork(2)`.
///
/// A forked child gets a copy of every handle and guard of its parent. SysV
/// undo records (`SEM_UNDO`) are not inherited, and the objects belong to the
/// process that created them, so guards and handles compare this number
/// with the one at their creation: a child dropping its copy neither
/// releases its parent's units nor removes its parent's objects. It is one
/// atomic load, cheap enough for every guard.
pub(crate) fn fork_generation() -> u64 {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: the handler is an `extern "C" fn` with no arguments that
        // only performs an atomic add, which is async-signal-safe as a child
        // handler must be. If registration fails (ENOMEM) the generation
        // stays fixed, and a child behaves as its parent would.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    FORK_GENERATION.load(Ordering::Relaxed)
}
