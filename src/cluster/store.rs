//! openraft's storage for the metadata log, in `<log.dirs>/__cluster_metadata/`:
//!
//! - `raft.log`: the log entries, each a frame `[u32 length][u32 crc32c][json]`,
//!   appended and fsynced before openraft is told they are durable; a torn tail (a
//!   crash mid-append) fails its CRC and is cut at the next open;
//! - `vote`, `committed`, `purged`: small JSON files replaced atomically;
//! - `snapshot`: the last snapshot of the image (and the log id it covers).
//!
//! The metadata log is small (topic admin, broker registrations and fencing; no
//! heartbeats), so the entries are also kept in memory, and a truncation or a purge
//! rewrites the file.

use super::image::{ApplyError, MetadataImage, MetadataRecord};
use crate::storage::write_atomically;
use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, LogState, OptionalSend, RaftLogReader,
    RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError, StoredMembership,
    Vote,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{Cursor, Read, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// A proposal: records applied together.
pub type MetadataBatch = Vec<MetadataRecord>;

openraft::declare_raft_types!(
    /// The metadata log's types.
    pub TypeConfig:
        D = MetadataBatch,
        R = Result<(), ApplyError>,
        NodeId = u64,
        Node = BasicNode,
);

pub type NodeId = u64;
type StorageResult<T> = Result<T, StorageError<NodeId>>;

/// What the writer thread does to `raft.log`.
enum LogWrite {
    /// Appends these frames, fsyncs, then tells openraft.
    Append(Vec<u8>, LogFlushed<TypeConfig>),
    /// Replaces the file with these frames (atomically), then answers.
    Rewrite(Vec<u8>, std::sync::mpsc::Sender<std::io::Result<()>>),
}

/// Serves [`LogWrite`]s in order until the log store is dropped.
fn writer(path: PathBuf, mut file: std::fs::File, jobs: std::sync::mpsc::Receiver<LogWrite>) {
    for job in jobs {
        match job {
            LogWrite::Append(bytes, done) => {
                let written = file.write_all(&bytes).and_then(|()| file.sync_data());
                if let Err(e) = &written {
                    tracing::error!(error = %e, "appending to the metadata log failed");
                }
                done.log_io_completed(written);
            }
            LogWrite::Rewrite(bytes, done) => {
                let rewritten = write_atomically(&path, &bytes)
                    .map_err(|e| std::io::Error::other(e.to_string()))
                    .and_then(|()| std::fs::OpenOptions::new().append(true).open(&path))
                    .map(|f| file = f);
                let _ = done.send(rewritten);
            }
        }
    }
}

/// The largest frame `raft.log` may hold; a bigger length is a torn or foreign file.
const MAX_FRAME: usize = 64 << 20;

fn io_error(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e.to_string())
}

/// The log: entries in memory and in `raft.log`.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogInner>>,
    /// Bytes appended since the counter was last reset (by the snapshot trigger).
    appended: Arc<std::sync::atomic::AtomicU64>,
}

struct LogInner {
    dir: PathBuf,
    /// The writer thread, which owns `raft.log`: appends and rewrites in order, each
    /// fsynced, off the quorum's runtime (an fsync stalls no heartbeat or election).
    writer: std::sync::mpsc::Sender<LogWrite>,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    write_atomically(path, &bytes).map_err(|e| std::io::Error::other(e.to_string()))
}

fn frame(entry: &Entry<TypeConfig>, out: &mut Vec<u8>) -> std::io::Result<()> {
    let json = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    let len = u32::try_from(json.len()).map_err(std::io::Error::other)?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&json).to_be_bytes());
    out.extend_from_slice(&json);
    Ok(())
}

/// The entries of `raft.log`, and the length of its valid prefix.
fn read_frames(bytes: &[u8]) -> (Vec<Entry<TypeConfig>>, usize) {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + 8) {
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_FRAME {
            break;
        }
        let Some(json) = bytes.get(at + 8..at + 8 + len) else {
            break;
        };
        if crc32c::crc32c(json) != crc {
            break;
        }
        let Ok(entry) = serde_json::from_slice::<Entry<TypeConfig>>(json) else {
            break;
        };
        entries.push(entry);
        at += 8 + len;
    }
    (entries, at)
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, cutting a torn tail.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("raft.log");
        let mut bytes = Vec::new();
        if let Ok(mut f) = std::fs::File::open(&path) {
            f.read_to_end(&mut bytes)?;
        }
        let (entries, valid) = read_frames(&bytes);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        if valid < bytes.len() {
            tracing::warn!(
                valid_bytes = valid,
                file_bytes = bytes.len(),
                "cutting the metadata log after its last whole entry"
            );
            file.set_len(valid as u64)?;
            file.sync_all()?;
        }
        let (jobs, queue) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("aeon-metadata-log".into())
            .spawn({
                let path = path.clone();
                move || writer(path, file, queue)
            })?;
        let inner = LogInner {
            writer: jobs,
            entries: entries.into_iter().map(|e| (e.log_id.index, e)).collect(),
            last_purged: read_json(&dir.join("purged"))?,
            vote: read_json(&dir.join("vote"))?,
            committed: read_json(&dir.join("committed"))?,
            dir: dir.to_owned(),
        };
        Ok(LogStore {
            inner: Arc::new(Mutex::new(inner)),
            appended: Arc::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The count of bytes appended, shared with whoever decides on snapshots.
    pub fn appended_bytes(&self) -> Arc<std::sync::atomic::AtomicU64> {
        Arc::clone(&self.appended)
    }
}

impl LogInner {
    /// Writes the whole file anew from the entries in memory (after a truncation or a
    /// purge), atomically, after every append before it; waits for it.
    fn rewrite(&mut self) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        for e in self.entries.values() {
            frame(e, &mut bytes)?;
        }
        let (done, answer) = std::sync::mpsc::channel();
        self.writer
            .send(LogWrite::Rewrite(bytes, done))
            .map_err(|_| std::io::Error::other("the metadata log writer stopped"))?;
        answer
            .recv()
            .map_err(|_| std::io::Error::other("the metadata log writer stopped"))?
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        Ok(self
            .lock()
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let inner = self.lock();
        let last = inner
            .entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(inner.last_purged);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StorageResult<()> {
        let mut inner = self.lock();
        write_json(&inner.dir.join("vote"), vote)
            .map_err(|e| StorageIOError::write_vote(io_error(e)))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeId>>> {
        Ok(self.lock().vote)
    }

    /// A hint for the next start (committed entries are applied again at once rather
    /// than when a leader next commits), so written without an fsync: losing it loses
    /// nothing, the committed entries themselves are in the synced log.
    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StorageResult<()> {
        let mut inner = self.lock();
        let bytes =
            serde_json::to_vec(&committed).map_err(|e| StorageIOError::write(io_error(e)))?;
        std::fs::write(inner.dir.join("committed"), bytes)
            .map_err(|e| StorageIOError::write(io_error(e)))?;
        inner.committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeId>>> {
        Ok(self.lock().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.lock();
        let mut bytes = Vec::new();
        for e in entries {
            frame(&e, &mut bytes).map_err(|e| StorageIOError::write_logs(io_error(e)))?;
            inner.entries.insert(e.log_id.index, e);
        }
        self.appended
            .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        // Durable when the writer has fsynced it; openraft waits for the callback.
        inner
            .writer
            .send(LogWrite::Append(bytes, callback))
            .map_err(|_| StorageIOError::write_logs(io_error("the metadata log writer stopped")))?;
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let mut inner = self.lock();
        inner.entries.split_off(&log_id.index);
        inner
            .rewrite()
            .map_err(|e| StorageIOError::write_logs(io_error(e)).into())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StorageResult<()> {
        let mut inner = self.lock();
        write_json(&inner.dir.join("purged"), &Some(log_id))
            .map_err(|e| StorageIOError::write(io_error(e)))?;
        inner.last_purged = Some(log_id);
        let kept = inner.entries.split_off(&(log_id.index + 1));
        inner.entries = kept;
        inner
            .rewrite()
            .map_err(|e| StorageIOError::write_logs(io_error(e)).into())
    }
}

/// What a snapshot holds.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    image: MetadataImage,
}

/// The state machine: the image, published to the broker on every change.
#[derive(Clone)]
pub struct StateMachine {
    inner: Arc<Mutex<SmInner>>,
    published: Arc<watch::Sender<Arc<MetadataImage>>>,
}

struct SmInner {
    dir: PathBuf,
    image: MetadataImage,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    /// The last snapshot as written to (or read from) its file.
    snapshot: Option<(SnapshotMeta<NodeId, BasicNode>, Vec<u8>)>,
}

impl StateMachine {
    /// Starts from the last snapshot in `dir`, if any; the log after it is applied
    /// again by openraft.
    pub fn open(dir: &Path) -> std::io::Result<(Self, watch::Receiver<Arc<MetadataImage>>)> {
        let bytes = match std::fs::read(dir.join("snapshot")) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let stored: Option<StoredSnapshot> = bytes
            .as_deref()
            .map(serde_json::from_slice)
            .transpose()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let (image, last_applied, membership) = match &stored {
            Some(s) => (
                s.image.clone(),
                s.meta.last_log_id,
                s.meta.last_membership.clone(),
            ),
            None => (MetadataImage::default(), None, StoredMembership::default()),
        };
        let snapshot = stored.zip(bytes).map(|(s, bytes)| (s.meta, bytes));
        let (tx, rx) = watch::channel(Arc::new(image.clone()));
        Ok((
            StateMachine {
                inner: Arc::new(Mutex::new(SmInner {
                    dir: dir.to_owned(),
                    image,
                    last_applied,
                    membership,
                    snapshot,
                })),
                published: Arc::new(tx),
            },
            rx,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SmInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let mut inner = self.lock();
        let meta = SnapshotMeta {
            last_log_id: inner.last_applied,
            last_membership: inner.membership.clone(),
            snapshot_id: format!(
                "{}",
                inner.last_applied.map(|l| l.index).unwrap_or_default()
            ),
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            image: inner.image.clone(),
        };
        let bytes = serde_json::to_vec(&stored)
            .map_err(|e| StorageIOError::write_snapshot(None, io_error(e)))?;
        write_atomically(&inner.dir.join("snapshot"), &bytes)
            .map_err(|e| StorageIOError::write_snapshot(None, io_error(e)))?;
        inner.snapshot = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let inner = self.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<Result<(), ApplyError>>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.lock();
        let mut results = Vec::new();
        for entry in entries {
            inner.last_applied = Some(entry.log_id);
            let result = match entry.payload {
                EntryPayload::Blank => Ok(()),
                EntryPayload::Normal(batch) => {
                    let applied = inner.image.apply(entry.log_id.index, &batch);
                    if let Err(e) = &applied {
                        tracing::debug!(index = entry.log_id.index, error = %e, "metadata batch not applied");
                    }
                    applied
                }
                EntryPayload::Membership(m) => {
                    inner.membership = StoredMembership::new(Some(entry.log_id), m);
                    Ok(())
                }
            };
            inner.image.applied = entry.log_id.index;
            results.push(result);
        }
        self.published.send_replace(Arc::new(inner.image.clone()));
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let bytes = snapshot.into_inner();
        let stored: StoredSnapshot = serde_json::from_slice(&bytes)
            .map_err(|e| StorageIOError::read_snapshot(None, io_error(e)))?;
        let mut inner = self.lock();
        write_atomically(&inner.dir.join("snapshot"), &bytes)
            .map_err(|e| StorageIOError::write_snapshot(None, io_error(e)))?;
        inner.image = stored.image;
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.snapshot = Some((meta.clone(), bytes));
        self.published.send_replace(Arc::new(inner.image.clone()));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        let inner = self.lock();
        Ok(inner.snapshot.as_ref().map(|(meta, bytes)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(bytes.clone())),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::storage::RaftLogStorageExt;

    fn entry(i: u64) -> Entry<TypeConfig> {
        Entry::<TypeConfig> {
            log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), i),
            payload: EntryPayload::Normal(vec![MetadataRecord::ProducerIds {
                broker_id: 1,
                next: i as i64 * 1000,
            }]),
        }
    }

    #[tokio::test]
    async fn appended_entries_survive_a_reopen_and_a_truncation_is_rewritten() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut log = LogStore::open(dir.path()).expect("open");
        log.blocking_append((1..=5).map(entry))
            .await
            .expect("append");
        log.truncate(LogId::new(openraft::CommittedLeaderId::new(1, 1), 4))
            .await
            .expect("truncate");
        log.blocking_append([entry(4)]).await.expect("append again");
        drop(log);
        let mut log = LogStore::open(dir.path()).expect("reopen");
        let entries = log.try_get_log_entries(0..100).await.expect("read");
        let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
        assert_eq!(indexes, vec![1, 2, 3, 4]);
        let state = log.get_log_state().await.expect("state");
        assert_eq!(state.last_log_id.map(|l| l.index), Some(4));
    }

    #[test]
    fn a_torn_tail_is_cut_and_whole_entries_are_kept() {
        let entry = |i: u64| Entry::<TypeConfig> {
            log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), i),
            payload: EntryPayload::Normal(vec![MetadataRecord::FeatureLevel {
                name: "metadata.version".into(),
                level: 1,
            }]),
        };
        let mut bytes = Vec::new();
        frame(&entry(1), &mut bytes).expect("frame");
        frame(&entry(2), &mut bytes).expect("frame");
        let whole = bytes.len();
        frame(&entry(3), &mut bytes).expect("frame");
        bytes.truncate(bytes.len() - 3);
        let (entries, valid) = read_frames(&bytes);
        assert_eq!(entries.len(), 2);
        assert_eq!(valid, whole);
        // A flipped byte fails the CRC.
        bytes[whole - 2] ^= 1;
        let (entries, _) = read_frames(&bytes);
        assert_eq!(entries.len(), 1);
        // A huge length is not allocated.
        let (entries, valid) = read_frames(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        assert!(entries.is_empty() && valid == 0);
    }
}
