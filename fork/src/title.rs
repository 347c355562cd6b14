//! [`set_process_title`]: what `ps`, `top` and `/proc` show for a process.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::error::{Error, Operation, Result};
use crate::sys;

/// The longest name the kernel keeps for `/proc/PID/comm`, in bytes.
pub const COMM_LEN: usize = 15;

/// The room for a title in the area the kernel is pointed at (when
/// permitted), terminating NUL included.
const AREA_LEN: usize = 4096;

/// The title's own argument area, for `PR_SET_MM_ARG_START`/`END`.
/// Atomics, because the kernel may read it (for `ps`) while it is written.
static AREA: [AtomicU8; AREA_LEN] = [const { AtomicU8::new(0) }; AREA_LEN];

/// True once the kernel refused to move the argument area: later titles go
/// straight to the original `argv` strings.
static AREA_REFUSED: AtomicBool = AtomicBool::new(false);

/// True once the kernel took [`AREA`] as the argument area.
static AREA_MOVED: AtomicBool = AtomicBool::new(false);

/// What [`set_process_title`] could show.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessTitle {
    /// What `/proc/PID/cmdline` and `ps` (its `args` column) now show.
    pub cmdline: String,
    /// What `/proc/PID/comm` and `top` now show: at most [`COMM_LEN`] bytes.
    pub comm: String,
    /// True if `cmdline` had to be cut short (`comm` almost always is).
    pub truncated: bool,
}

/// Sets the process title: the command line that `ps` and
/// `/proc/PID/cmdline` show, and the name in `/proc/PID/comm` (what `top`
/// and `ps -o comm` show), typically `"myserver: worker 3"`.
///
/// - `comm` is set with `prctl(PR_SET_NAME)` and keeps at most 15 bytes.
///   It names the calling thread: call this from the main thread.
/// - The command line is moved, with `prctl(PR_SET_MM_ARG_START/END)`, to
///   a static buffer of 4 KiB where that is permitted (`CAP_SYS_RESOURCE`);
///   elsewhere the title is written over the process's original argument
///   strings, which limits it to their total length, and which
///   [`std::env::args`] then returns too (read your arguments first).
///
/// A title longer than the room there is is cut short (at a character
/// boundary), never written past it; [`ProcessTitle`] says what shows.
///
/// # Errors
///
/// - [`Error::Nul`] if `title` contains a NUL byte;
/// - [`Error::Threaded`] if the argument strings must be overwritten and
///   the process has more than one thread (another thread may be reading
///   them): set titles in workers, or before starting threads;
/// - [`Error::Os`] with [`Operation::SetTitle`] if `prctl` fails or
///   `/proc/self/stat` cannot be read;
/// - [`Error::Unsupported`] outside Linux.
///
/// ```
/// let shown = forkwise_fork::set_process_title("doc-example: worker 1")?;
/// assert_eq!(std::fs::read_to_string("/proc/self/comm")?.trim_end(), shown.comm);
/// assert_eq!(shown.comm, "doc-example: wo");
/// assert!(shown.cmdline.starts_with("doc-example"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "setproctitle")]
#[doc(alias = "PR_SET_NAME")]
pub fn set_process_title(title: &str) -> Result<ProcessTitle> {
    if title.contains('\0') {
        return Err(Error::Nul { what: "title" });
    }
    set_title(title)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_title(title: &str) -> Result<ProcessTitle> {
    let failed = |e| Error::os(Operation::SetTitle, Some(sys::getpid()), e);
    let (cmdline, truncated) = set_cmdline(title).map_err(|err| match err {
        TitleError::Os(e) => failed(e),
        TitleError::Threaded(threads) => Error::Threaded { threads },
    })?;
    let comm = cut(title, COMM_LEN);
    let name = CString::new(comm).map_err(|_| Error::Nul { what: "title" })?;
    sys::set_comm(&name).map_err(failed)?;
    Ok(ProcessTitle {
        cmdline: cmdline.to_owned(),
        comm: comm.to_owned(),
        truncated,
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_title(_: &str) -> Result<ProcessTitle> {
    Err(Error::Unsupported {
        what: "setting the process title",
    })
}

#[cfg(any(target_os = "linux", target_os = "android"))]
enum TitleError {
    Os(std::io::Error),
    Threaded(usize),
}

/// Shows `title` as the command line; returns what shows and whether it
/// was cut.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_cmdline(title: &str) -> std::result::Result<(&str, bool), TitleError> {
    if !AREA_REFUSED.load(Ordering::Relaxed) {
        let shown = cut(title, AREA_LEN - 1);
        for (cell, &byte) in AREA.iter().zip(shown.as_bytes()) {
            cell.store(byte, Ordering::Relaxed);
        }
        AREA[shown.len()].store(0, Ordering::Relaxed);
        match sys::set_cmdline_area(&AREA[..=shown.len()]) {
            Ok(()) => {
                AREA_MOVED.store(true, Ordering::Relaxed);
                return Ok((shown, shown.len() < title.len()));
            }
            Err(err) if matches!(err.raw_os_error(), Some(libc::EPERM | libc::EINVAL)) => {
                AREA_REFUSED.store(true, Ordering::Relaxed);
            }
            Err(err) => return Err(TitleError::Os(err)),
        }
    }
    if AREA_MOVED.load(Ordering::Relaxed) {
        // The kernel took our area before and refuses now (the capability
        // was dropped): the original strings are no longer what it shows.
        return Err(TitleError::Os(std::io::Error::from_raw_os_error(
            libc::EPERM,
        )));
    }
    let mut shown = title;
    loop {
        match sys::write_argv_area(shown.as_bytes()).map_err(TitleError::Os)? {
            sys::ArgvWrite::Written => return Ok((shown, shown.len() < title.len())),
            sys::ArgvWrite::TooLong { room } => shown = cut(title, room.saturating_sub(1)),
            sys::ArgvWrite::Threaded(threads) => return Err(TitleError::Threaded(threads)),
        }
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends at a
/// character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("worker", 15), "worker");
        assert_eq!(cut("prefork: worker 12", 15), "prefork: worker");
        assert_eq!(cut("héllo", 2), "h", "é is two bytes: not split");
        assert_eq!(cut("", 0), "");
    }
}
