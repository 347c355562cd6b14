//! Helpers shared by the cases.

pub(crate) use forkwise_testkit::{count_sigusr1_without_restart, my_pid, sigusr1_count};

/// A frame header as the wire format defines it (see the crate docs), for
/// tests that write raw bytes.
pub(crate) fn raw_header(len: u32, fds: u16) -> [u8; 8] {
    let mut header = [0; 8];
    header[..4].copy_from_slice(&len.to_le_bytes());
    header[4..6].copy_from_slice(&fds.to_le_bytes());
    header[6..].copy_from_slice(b"fw");
    header
}

/// Whether `fd` has `FD_CLOEXEC` set.
pub(crate) fn is_cloexec(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: F_GETFD takes no argument and only reads the descriptor flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    assert!(
        flags >= 0,
        "fcntl(F_GETFD): {}",
        std::io::Error::last_os_error()
    );
    flags & libc::FD_CLOEXEC != 0
}

/// Raises the soft limit on open descriptors to the hard limit.
pub(crate) fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit.
    let ret = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) };
    assert_eq!(ret, 0);
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid rlimit; raising the soft limit up to the
    // hard one needs no privilege.
    let ret = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) };
    assert_eq!(ret, 0);
    limit.rlim_cur
}

/// Caps this process's address space at its current size plus `extra` bytes.
pub(crate) fn limit_address_space(extra: u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmSize:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmSize in /proc/self/status");
    let limit = libc::rlimit {
        rlim_cur: kib * 1024 + extra,
        rlim_max: kib * 1024 + extra,
    };
    // SAFETY: `limit` is a valid rlimit; lowering a limit needs no privilege.
    let ret = unsafe { libc::setrlimit(libc::RLIMIT_AS, &raw const limit) };
    assert_eq!(ret, 0);
}
