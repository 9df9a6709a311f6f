//! State the broker keeps in one file of its data directory and serves from memory:
//! the users' SCRAM credentials and the ACLs.
//!
//! Readers take the current snapshot without a lock. Writers take turns: each change
//! is applied to a copy, the copy is encoded and written atomically (temp file, fsync,
//! rename) on tokio's blocking pool, never on an arbiter thread, and only then becomes
//! the snapshot readers see. A change that fails, or whose file cannot be written,
//! changes nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;

/// Encodes a snapshot as the file's bytes.
pub type Encode<T> = fn(&T) -> Result<Vec<u8>, serde_json::Error>;

/// Why the file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct WriteError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// One value, its file, and the turn writers take.
#[derive(Debug)]
pub struct SnapshotFile<T> {
    path: PathBuf,
    current: ArcSwap<T>,
    encode: Encode<T>,
    write: tokio::sync::Mutex<()>,
}

impl<T: Clone + Send + Sync + 'static> SnapshotFile<T> {
    /// Serves `value`, kept in `path` from the next change on.
    pub fn new(path: PathBuf, value: T, encode: Encode<T>) -> Self {
        SnapshotFile {
            path,
            current: ArcSwap::from_pointee(value),
            encode,
            write: tokio::sync::Mutex::new(()),
        }
    }

    /// The value now.
    pub fn snapshot(&self) -> Arc<T> {
        self.current.load_full()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Applies `change` to a copy of the value, writes the copy and serves it. An error
    /// from `change` (or from writing) leaves the value and the file as they were.
    pub async fn update<R, E: From<WriteError>>(
        &self,
        change: impl FnOnce(&mut T) -> Result<R, E>,
    ) -> Result<R, E> {
        let _turn = self.write.lock().await;
        let mut next = (*self.snapshot()).clone();
        let result = change(&mut next)?;
        let next = Arc::new(next);
        let written = Arc::clone(&next);
        let path = self.path.clone();
        let encode = self.encode;
        tokio::task::spawn_blocking(move || {
            let bytes = encode(&written).map_err(std::io::Error::other)?;
            crate::actors::broker::write_atomically(&path, &bytes)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|source| WriteError {
            path: self.path.clone(),
            source,
        })?;
        self.current.store(next);
        Ok(result)
    }
}

/// Reads `path` with `decode`, or `None` when the file does not exist yet.
pub fn read_if_exists<T, E>(
    path: &Path,
    decode: impl FnOnce(&[u8]) -> Result<T, E>,
    io: impl FnOnce(std::io::Error) -> E,
) -> Result<Option<T>, E> {
    match std::fs::read(path) {
        Ok(bytes) => decode(&bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(e)),
    }
}
