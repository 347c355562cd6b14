//! The only module of this crate that calls libc.
//!
//! Each function is a thin wrapper over one system call or one libc
//! function: "-1 and errno" becomes an [`io::Result`] through [`cvt`], and
//! EINTR is retried by [`retry_eintr`] wherever a call can see it. Functions
//! that take raw pointers into shared memory are `unsafe fn`s; the memory
//! layer (`memory.rs`) is their only caller and upholds their contracts.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Turns a C return value of -1 into the current `errno` as an [`io::Error`].
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Turns a pthread-style return value (0, or an error number) into a result.
fn cvt_code(code: libc::c_int) -> io::Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(code))
    }
}

/// Runs `call` again for as long as it fails with EINTR.
pub(crate) fn retry_eintr<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// The permissions of every file this crate creates: the owner only.
const MODE: libc::mode_t = 0o600;

/// `shm_open(3)` with `O_CREAT | O_EXCL`: creates `/dev/shm/NAME` (mode 0600,
/// close-on-exec); fails with `EEXIST` if it exists. `name` starts with `/`.
pub(crate) fn shm_create(name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    let fd = retry_eintr(|| {
        // SAFETY: `name` is a NUL-terminated string that outlives the call.
        cvt(unsafe { libc::shm_open(name.as_ptr(), flags, MODE) })
    })?;
    // SAFETY: `fd` was just returned by shm_open and is owned by no one else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // The umask may have taken bits away from MODE (never added any): set
    // exactly 0600, so that what `ls -l /dev/shm` shows is what we promise.
    // SAFETY: fchmod takes a live descriptor and an integer.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), MODE) })?;
    Ok(fd)
}

/// `shm_open(3)` of an existing `/dev/shm/NAME`, read-write, close-on-exec.
pub(crate) fn shm_open(name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    let fd = retry_eintr(|| {
        // SAFETY: `name` is a NUL-terminated string that outlives the call.
        cvt(unsafe { libc::shm_open(name.as_ptr(), flags, 0) })
    })?;
    // SAFETY: `fd` was just returned by shm_open and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `shm_unlink(3)`: removes the name; mappings stay valid until unmapped.
pub(crate) fn shm_unlink(name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::shm_unlink(name.as_ptr()) }).map(drop)
}

/// `memfd_create(2)`: an anonymous, close-on-exec memory file with no name
/// in any directory, freed when its last mapping and descriptor go.
pub(crate) fn memfd() -> io::Result<OwnedFd> {
    // SAFETY: the name is a NUL-terminated literal (shown only in
    // /proc/PID/maps); the flags are a plain integer.
    let fd = cvt(unsafe { libc::memfd_create(c"forkwise-shm".as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: `fd` was just returned by memfd_create and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `posix_fallocate(3)`: gives the file `len` bytes and reserves their
/// memory now, so that a full `/dev/shm` fails here (`ENOSPC`) and never
/// later as a `SIGBUS` on first touch of a page.
pub(crate) fn reserve(fd: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    // posix_fallocate returns the error number instead of setting errno.
    // SAFETY: posix_fallocate takes a live descriptor and two integers.
    retry_eintr(|| cvt_code(unsafe { libc::posix_fallocate(fd.as_raw_fd(), 0, len) }))
}

/// True unless process `pid` is known to be gone (`kill(pid, 0)` says
/// `ESRCH`). A process of another user (`EPERM`) counts as alive.
pub(crate) fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 sends nothing; kill only checks that `pid` exists.
    let ret = unsafe { libc::kill(pid, 0) };
    ret == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// What locking a robust mutex found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Locked {
    /// The mutex was free or released normally.
    Clean,
    /// The previous owner died holding it (`EOWNERDEAD`): this thread owns
    /// it now, and must repair what it guards and call [`mutex_consistent`].
    OwnerDied,
}

/// Initialises a robust, process-shared, error-checking mutex at `mutex`.
///
/// Robust: when the owning thread dies, the kernel marks the mutex and the
/// next locker gets `EOWNERDEAD`. Process-shared: any process mapping the
/// memory may use it. Error-checking: a thread locking it again gets
/// `EDEADLK` instead of deadlocking.
///
/// # Safety
///
/// `mutex` must be valid for writes of a `pthread_mutex_t`, suitably
/// aligned, and no thread or process may use it during the call.
pub(crate) unsafe fn mutex_init(mutex: *mut libc::pthread_mutex_t) -> io::Result<()> {
    let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: `attr` is writable storage for one attribute object.
    cvt_code(unsafe { libc::pthread_mutexattr_init(attr.as_mut_ptr()) })?;
    let attr = attr.as_mut_ptr();
    let result = (|| {
        // SAFETY: `attr` was initialised above and is destroyed below.
        unsafe {
            cvt_code(libc::pthread_mutexattr_setpshared(
                attr,
                libc::PTHREAD_PROCESS_SHARED,
            ))?;
            cvt_code(libc::pthread_mutexattr_setrobust(
                attr,
                libc::PTHREAD_MUTEX_ROBUST,
            ))?;
            cvt_code(libc::pthread_mutexattr_settype(
                attr,
                libc::PTHREAD_MUTEX_ERRORCHECK,
            ))?;
            // The caller promises that `mutex` is valid and unused.
            cvt_code(libc::pthread_mutex_init(mutex, attr))
        }
    })();
    // SAFETY: `attr` is initialised; the mutex does not refer to it after init.
    unsafe { libc::pthread_mutexattr_destroy(attr) };
    result
}

/// Locks the mutex; blocks while another thread holds it.
///
/// `pthread_mutex_lock` never fails with EINTR: the futex wait inside it is
/// restarted after signal handlers.
///
/// # Errors
///
/// `EDEADLK` if this thread holds it already; `ENOTRECOVERABLE` if an owner
/// died and its successor released it without making it consistent.
///
/// # Safety
///
/// `mutex` must point to a mutex initialised by [`mutex_init`] that stays
/// mapped for the call.
pub(crate) unsafe fn mutex_lock(mutex: *mut libc::pthread_mutex_t) -> io::Result<Locked> {
    // SAFETY: the caller's contract.
    match unsafe { libc::pthread_mutex_lock(mutex) } {
        0 => Ok(Locked::Clean),
        libc::EOWNERDEAD => Ok(Locked::OwnerDied),
        code => Err(io::Error::from_raw_os_error(code)),
    }
}

/// Marks a mutex recovered after `EOWNERDEAD`, so that its next owners get
/// it normally.
///
/// # Safety
///
/// As [`mutex_lock`]; this thread must own the mutex after `EOWNERDEAD`.
pub(crate) unsafe fn mutex_consistent(mutex: *mut libc::pthread_mutex_t) -> io::Result<()> {
    // SAFETY: the caller's contract.
    cvt_code(unsafe { libc::pthread_mutex_consistent(mutex) })
}

/// Unlocks the mutex.
///
/// # Safety
///
/// As [`mutex_lock`]; this thread must own the mutex.
pub(crate) unsafe fn mutex_unlock(mutex: *mut libc::pthread_mutex_t) -> io::Result<()> {
    // SAFETY: the caller's contract.
    cvt_code(unsafe { libc::pthread_mutex_unlock(mutex) })
}

/// Which C library's `pthread_mutex_t` layout this build uses: stored in a
/// region's header, so that a program built against another C library
/// (whose mutex has another layout) is refused instead of corrupting it.
pub(crate) const fn libc_tag() -> u64 {
    if cfg!(target_env = "gnu") {
        1
    } else if cfg!(target_env = "musl") {
        2
    } else {
        3
    }
}

/// A SysV shared memory segment attached a second time, by this crate, so
/// that it owns a pointer with which to place its own structures there
/// (`pthread_mutex_t` included); detached on drop.
#[cfg(feature = "sysv")]
#[derive(Debug)]
pub(crate) struct Attachment {
    base: std::ptr::NonNull<u8>,
}

#[cfg(feature = "sysv")]
impl Attachment {
    /// `shmat(2)` of segment `id`, read-write, where the kernel chooses.
    pub(crate) fn attach(id: libc::c_int) -> io::Result<Self> {
        // SAFETY: a null address lets the kernel pick a free range; the new
        // mapping aliases no Rust object.
        let base = unsafe { libc::shmat(id, std::ptr::null(), 0) };
        if base as isize == -1 {
            return Err(io::Error::last_os_error());
        }
        std::ptr::NonNull::new(base.cast::<u8>())
            .map(|base| Self { base })
            .ok_or_else(|| io::Error::other("shmat returned null"))
    }

    /// The first byte of the attached segment (page-aligned).
    pub(crate) fn base(&self) -> std::ptr::NonNull<u8> {
        self.base
    }
}

#[cfg(feature = "sysv")]
impl Drop for Attachment {
    fn drop(&mut self) {
        // SAFETY: `base` is the address shmat returned; the memory layer that
        // owns this attachment hands out references only borrowing itself,
        // so none is alive now.
        unsafe { libc::shmdt(self.base.as_ptr().cast()) };
    }
}
