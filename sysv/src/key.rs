//! Keys: how unrelated processes name the same SysV object.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::sys;

/// The name of a SysV object: a 32-bit number that every process using the
/// object agrees on.
///
/// Make one from a file with [`FileKey`] (`ftok(3)`), take a number agreed
/// with other programs with [`Key::from_raw`], or use [`Key::private`] for
/// an object shared only with the children this process forks.
///
/// A key made from a [`FileKey`] remembers the path and project id, so that
/// errors can name them. Two keys are equal when their numbers are.
///
/// ```
/// use forkwise_sysv::Key;
///
/// let agreed = Key::from_raw(0x5eed);
/// assert_eq!(agreed.as_raw(), 0x5eed);
/// assert_eq!(agreed.to_string(), "0x00005eed");
/// assert!(Key::private().is_private());
/// ```
#[derive(Clone)]
pub struct Key {
    raw: sys::RawKey,
    file: Option<Arc<FileOrigin>>,
}

/// Where a key made by `ftok(3)` came from.
#[derive(Debug, PartialEq, Eq)]
struct FileOrigin {
    path: PathBuf,
    project: u8,
}

impl Key {
    /// `IPC_PRIVATE`: every `open` with it creates a new object, which no
    /// other process can open by key. A child forked after the `open`
    /// shares it through the inherited handle.
    ///
    /// ```
    /// use forkwise_sysv::{Key, Mutex};
    ///
    /// let a = Mutex::open(Key::private())?;
    /// let b = Mutex::open(Key::private())?; // another, unrelated mutex
    /// assert_ne!(a.id(), b.id());
    /// a.remove()?;
    /// b.remove()?;
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[doc(alias = "IPC_PRIVATE")]
    pub const fn private() -> Self {
        Self::from_raw(sys::PRIVATE_KEY)
    }

    /// A key agreed with other programs (a C program's `#define`, say).
    /// 0 is [`Key::private`].
    ///
    /// ```
    /// let key = forkwise_sysv::Key::from_raw(1234);
    /// assert_eq!(key.as_raw(), 1234);
    /// ```
    pub const fn from_raw(raw: i32) -> Self {
        Self { raw, file: None }
    }

    /// The number, as `ipcs(1)` shows it in hexadecimal.
    ///
    /// ```
    /// assert_eq!(forkwise_sysv::Key::private().as_raw(), 0);
    /// ```
    pub const fn as_raw(&self) -> i32 {
        self.raw
    }

    /// True for [`Key::private`].
    ///
    /// ```
    /// assert!(!forkwise_sysv::Key::from_raw(7).is_private());
    /// ```
    pub const fn is_private(&self) -> bool {
        self.raw == sys::PRIVATE_KEY
    }

    /// The file this key was made from, for a key made by a [`FileKey`].
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("fw-doc-keypath-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let key = forkwise_sysv::Key::from(forkwise_sysv::FileKey::new(&dir)?);
    /// assert_eq!(key.path(), Some(dir.as_path()));
    /// # std::fs::remove_dir(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|file| file.path.as_path())
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
    }
}

impl fmt::Display for Key {
    /// `0x0000002a`, as `ipcs(1)` prints keys, then where it came from:
    /// `(ftok of /run/app, project 0)` or `(IPC_PRIVATE)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.raw)?;
        match &self.file {
            Some(file) => write!(
                f,
                " (ftok of {}, project {})",
                file.path.display(),
                file.project
            ),
            None if self.is_private() => f.write_str(" (IPC_PRIVATE)"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Key");
        debug.field("raw", &format_args!("{:#010x}", self.raw));
        if let Some(file) = &self.file {
            debug
                .field("path", &file.path)
                .field("project", &file.project);
        }
        debug.finish()
    }
}

impl From<&Key> for Key {
    fn from(key: &Key) -> Self {
        key.clone()
    }
}

/// A key made from an existing file with `ftok(3)`, as C programs, Python's
/// `sysv_ipc.ftok` and PHP's `ftok` make them.
///
/// Every program that calls `ftok` with the same path and project id gets
/// the same key, for as long as the file is not replaced (the key comes
/// from its inode number). [`FileKey::new`] uses project id 0, as the
/// library this crate grew from did; [`FileKey::next`] gives the key of the
/// same file with the next project id, for a program that needs several
/// objects.
///
/// # Collisions
///
/// A key has 32 bits: glibc builds it from 8 bits of the project id, 8 bits
/// of the file system's device number and 16 bits of the inode number. Two
/// different files can therefore share a key, and an `open` can find an
/// object that another program made for another purpose. `open` checks what
/// it can (a semaphore set has one semaphore and no more units than asked
/// for; a segment has the size asked for) and refuses a mismatch with a
/// clear error, but a queue cannot be told apart. Keep the files of
/// different applications in different directories of your own, and use
/// [`exclusive`](crate::OpenOptions::exclusive) where only one process
/// should create.
///
/// ```
/// use forkwise_sysv::FileKey;
///
/// let dir = std::env::temp_dir();
/// let first = FileKey::new(&dir)?;
/// let second = first.next()?;
/// assert_eq!(second.project(), 1);
/// assert_ne!(first.key(), second.key());
/// assert_eq!(FileKey::with_project(&dir, 1)?.key(), second.key());
/// # Ok::<(), forkwise_sysv::Error>(())
/// ```
#[doc(alias = "ftok")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileKey {
    key: Key,
}

impl FileKey {
    /// The key of the existing file (or directory) at `path`, project id 0.
    ///
    /// POSIX leaves `ftok` with project id 0 unspecified; glibc and the BSDs
    /// use it like any other. With 0, the key is made of the file's device
    /// and inode bits alone, so on a file system whose device byte is 0 about
    /// one file in 65536 gets key 0, `IPC_PRIVATE`, which is refused with
    /// [`Error::PrivateFileKey`]. Prefer [`FileKey::with_project`] with a
    /// non-zero id for new programs; use `new` to agree with programs that
    /// call `ftok(path, 0)`.
    ///
    /// # Errors
    ///
    /// [`Error::FileKey`] if the file cannot be examined (it does not
    /// exist, say); [`Error::PrivateFileKey`] if the key comes out as
    /// `IPC_PRIVATE`.
    ///
    /// ```
    /// let key = forkwise_sysv::FileKey::new(std::env::temp_dir())?;
    /// assert_eq!(key.project(), 0);
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn new(path: impl AsRef<Path>) -> Result<Self> {
        Self::with_project(path, 0)
    }

    /// The key of the existing file at `path` with project id `project`.
    ///
    /// # Errors
    ///
    /// As [`FileKey::new`].
    ///
    /// ```
    /// let key = forkwise_sysv::FileKey::with_project(std::env::temp_dir(), b'q')?;
    /// assert_eq!(key.project(), b'q');
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn with_project(path: impl AsRef<Path>, project: u8) -> Result<Self> {
        let path = path.as_ref();
        let raw = sys::ftok(path, project).map_err(|source| Error::FileKey {
            path: path.to_owned(),
            project,
            source,
        })?;
        if raw == sys::PRIVATE_KEY {
            return Err(Error::PrivateFileKey {
                path: path.to_owned(),
                project,
            });
        }
        Ok(Self {
            key: Key {
                raw,
                file: Some(Arc::new(FileOrigin {
                    path: path.to_owned(),
                    project,
                })),
            },
        })
    }

    /// The key of the same file with the next project id.
    ///
    /// # Errors
    ///
    /// [`Error::ProjectsExhausted`] after project id 255 (`ftok` uses 8 bits
    /// of it); otherwise as [`FileKey::new`] (the file may be gone by now).
    ///
    /// ```
    /// let first = forkwise_sysv::FileKey::with_project(std::env::temp_dir(), 254)?;
    /// let last = first.next()?;
    /// assert_eq!(last.project(), 255);
    /// assert!(last.next().is_err());
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    #[must_use = "next() makes a new key and leaves this one as it is"]
    pub fn next(&self) -> Result<Self> {
        let project = self
            .project()
            .checked_add(1)
            .ok_or_else(|| Error::ProjectsExhausted {
                path: self.path().to_owned(),
            })?;
        Self::with_project(self.path(), project)
    }

    /// The key, to pass to `open`.
    ///
    /// ```
    /// let key = forkwise_sysv::FileKey::new(std::env::temp_dir())?;
    /// assert_ne!(key.key().as_raw(), 0);
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The file the key was made from.
    ///
    /// ```
    /// let dir = std::env::temp_dir();
    /// assert_eq!(forkwise_sysv::FileKey::new(&dir)?.path(), dir);
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        self.file()
            .map_or(Path::new(""), |file| file.path.as_path())
    }

    /// The project id.
    ///
    /// ```
    /// assert_eq!(forkwise_sysv::FileKey::new(std::env::temp_dir())?.project(), 0);
    /// # Ok::<(), forkwise_sysv::Error>(())
    /// ```
    pub fn project(&self) -> u8 {
        self.file().map_or(0, |file| file.project)
    }

    fn file(&self) -> Option<&FileOrigin> {
        self.key.file.as_deref()
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.key.fmt(f)
    }
}

impl From<FileKey> for Key {
    fn from(key: FileKey) -> Self {
        key.key
    }
}

impl From<&FileKey> for Key {
    fn from(key: &FileKey) -> Self {
        key.key.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("fw-sysv-key-{name}-{}", std::process::id()));
        std::fs::write(&path, b"").unwrap();
        path
    }

    #[test]
    fn same_file_same_project_same_key() {
        let path = scratch("same");
        let a = FileKey::new(&path).unwrap();
        let b = FileKey::new(&path).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.key().as_raw(), b.key().as_raw());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn next_changes_only_the_top_byte() {
        let path = scratch("next");
        let a = FileKey::new(&path).unwrap();
        let b = a.next().unwrap();
        assert_eq!(b.project(), 1);
        assert_eq!(b.path(), path);
        // glibc: the project id is the top 8 bits of the key.
        assert_eq!(b.key().as_raw() ^ a.key().as_raw(), 1 << 24);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn project_ids_end_at_255() {
        let path = scratch("end");
        let last = FileKey::with_project(&path, 255).unwrap();
        match last.next() {
            Err(Error::ProjectsExhausted { path: p }) => assert_eq!(p, path),
            other => panic!("expected ProjectsExhausted, got {other:?}"),
        }
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn missing_file_is_named() {
        let path = std::env::temp_dir().join("fw-sysv-key-does-not-exist");
        let err = FileKey::new(&path).unwrap_err();
        assert!(matches!(&err, Error::FileKey { path: p, project: 0, .. } if p == &path));
        assert!(
            err.to_string().contains("fw-sysv-key-does-not-exist"),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(
            std::io::Error::from(err).kind(),
            std::io::ErrorKind::NotFound
        );
    }

    #[test]
    fn display_names_the_file() {
        let path = scratch("display");
        let key = FileKey::with_project(&path, 3).unwrap();
        let shown = key.to_string();
        assert!(shown.starts_with("0x"), "{shown}");
        assert!(shown.contains(&path.display().to_string()), "{shown}");
        assert!(shown.contains("project 3"), "{shown}");
        assert_eq!(Key::private().to_string(), "0x00000000 (IPC_PRIVATE)");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn equality_is_by_number() {
        let path = scratch("eq");
        let file_key = Key::from(FileKey::new(&path).unwrap());
        assert_eq!(file_key, Key::from_raw(file_key.as_raw()));
        std::fs::remove_file(&path).unwrap();
    }
}
