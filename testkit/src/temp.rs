//! Scratch directories that only their creator removes.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh directory under the system temp dir, removed with its contents
/// when the process that created it drops it (a forked child never removes it).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    creator: u32,
}

impl TempDir {
    /// Creates `forkwise-NAME-PID-N` under [`std::env::temp_dir`].
    ///
    /// # Panics
    ///
    /// If the directory cannot be created.
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let creator = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("forkwise-{name}-{creator}-{n}"));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|err| panic!("create {}: {err}", path.display()));
        Self { path, creator }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::process::id() == self.creator {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
