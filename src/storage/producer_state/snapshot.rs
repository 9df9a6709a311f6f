//! The producer state's snapshot files, and rebuilding the state when a log opens.
//!
//! # The file format
//!
//! `<offset, 20 digits>.snapshot` in the partition directory holds the state of every
//! batch below `offset`. Big-endian: magic `b"AEPS"`, version u16 (2), offset i64,
//! producer count u32, then per producer: id i64, epoch i16, last timestamp i64,
//! coordinator epoch i32, current transaction's first offset i64 (-1: none), batch
//! count u8, and per batch: first sequence i32, last sequence i32, first offset i64,
//! last offset i64; last a CRC-32C (u32) of everything before it. Version 1 files
//! (without the three transaction fields) are still read: they come from a broker
//! without transactions, so no transaction was open. A snapshot is written at every
//! segment roll and at a clean close, to a temp file renamed into place, so after a
//! crash the state is the newest intact snapshot plus a scan of the batches after it
//! (at most the active segment): the whole log is never scanned. A damaged snapshot is
//! ignored (an older one, or a scan from the log start, takes its place).

use super::*;

pub(super) const MAGIC: &[u8; 4] = b"AEPS";
const VERSION: u16 = 2;
const VERSION_1: u16 = 1;
const SUFFIX: &str = "snapshot";

impl ProducerState {
    /// The snapshot of the state below `offset`, in the format above.
    pub fn snapshot(&self, offset: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(22 + self.producers.len() * 40);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&offset.to_be_bytes());
        out.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort_unstable();
        for id in ids {
            let e = &self.producers[id];
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&e.epoch.to_be_bytes());
            out.extend_from_slice(&e.last_timestamp.to_be_bytes());
            out.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            out.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
            out.push(e.batches.len() as u8);
            for b in &e.batches {
                out.extend_from_slice(&b.first_seq.to_be_bytes());
                out.extend_from_slice(&b.last_seq.to_be_bytes());
                out.extend_from_slice(&b.first_offset.to_be_bytes());
                out.extend_from_slice(&b.last_offset.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads a snapshot: the offset it covers and the state, or `None` if damaged.
    pub fn from_snapshot(bytes: &[u8]) -> Option<(i64, ProducerState)> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32c::crc32c(body).to_be_bytes() != crc {
            return None;
        }
        let mut r = Reader(body);
        if r.take(4)? != MAGIC {
            return None;
        }
        let version = u16::from_be_bytes(r.array()?);
        if version != VERSION && version != VERSION_1 {
            return None;
        }
        let offset = i64::from_be_bytes(r.array()?);
        let count = u32::from_be_bytes(r.array()?);
        let mut state = ProducerState::default();
        for _ in 0..count {
            let id = i64::from_be_bytes(r.array()?);
            let epoch = i16::from_be_bytes(r.array()?);
            let mut entry = ProducerEntry::new(epoch);
            if version == VERSION {
                entry.last_timestamp = i64::from_be_bytes(r.array()?);
                entry.coordinator_epoch = i32::from_be_bytes(r.array()?);
                let first = i64::from_be_bytes(r.array()?);
                if first >= 0 {
                    entry.current_txn_first_offset = Some(first);
                    // Two producers cannot share a first offset: a damaged snapshot.
                    if state.open_txns.insert(first, id).is_some() {
                        return None;
                    }
                }
            }
            let n = r.take(1)?[0] as usize;
            let mut batches = VecDeque::with_capacity(n.min(BATCHES_KEPT));
            for _ in 0..n {
                batches.push_back(ProducerBatch {
                    first_seq: i32::from_be_bytes(r.array()?),
                    last_seq: i32::from_be_bytes(r.array()?),
                    first_offset: i64::from_be_bytes(r.array()?),
                    last_offset: i64::from_be_bytes(r.array()?),
                });
            }
            entry.batches = batches;
            state.producers.insert(id, entry);
        }
        r.0.is_empty().then_some((offset, state))
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

/// The snapshot file for `offset` in `dir`.
pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SUFFIX}"))
}

/// Writes a snapshot (temp file, fsync, rename) and removes all but the newest two.
pub fn write_snapshot(dir: &Path, offset: i64, bytes: &[u8]) -> Result<()> {
    crate::storage::mmap::write_atomically(&snapshot_path(dir, offset), bytes)?;
    let mut offsets = snapshot_offsets(dir)?;
    offsets.sort_unstable();
    for old in offsets.iter().rev().skip(2) {
        let p = snapshot_path(dir, *old);
        std::fs::remove_file(&p).map_err(io_err("delete old producer snapshot", &p))?;
    }
    Ok(())
}

fn snapshot_offsets(dir: &Path) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err("list producer snapshots", dir))? {
        let entry = entry.map_err(io_err("list producer snapshots", dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".snapshot") {
            if let Ok(o) = stem.parse::<i64>() {
                out.push(o);
            }
        }
    }
    Ok(out)
}

/// The newest intact snapshot at or below `max_offset`: its offset and state.
pub fn load_snapshot(dir: &Path, max_offset: i64) -> Result<Option<(i64, ProducerState)>> {
    let mut offsets = snapshot_offsets(dir)?;
    offsets.sort_unstable();
    for offset in offsets.into_iter().rev().filter(|o| *o <= max_offset) {
        let path = snapshot_path(dir, offset);
        let bytes = std::fs::read(&path).map_err(io_err("read producer snapshot", &path))?;
        match ProducerState::from_snapshot(&bytes) {
            Some((o, state)) if o == offset => return Ok(Some((o, state))),
            _ => tracing::warn!(path = %path.display(), "ignoring a damaged producer snapshot"),
        }
    }
    Ok(None)
}

/// The producer state of an opened log: the newest snapshot plus the batches after it.
/// Abort markers among those batches whose `.txnindex` entry is missing (a crash
/// between the marker and its entry) get it back.
pub fn rebuild(log: &mut crate::storage::Log) -> Result<ProducerState> {
    let end = log.log_end_offset();
    let (offset, mut state) = match load_snapshot(log.dir(), end)? {
        Some((o, s)) => (o.max(log.log_start_offset()), s),
        None => (log.log_start_offset(), ProducerState::default()),
    };
    let mut aborted = Vec::new();
    log.for_each_batch(offset, |batch| {
        if let Some(txn) = state.apply(batch, batch.base_offset(), batch.max_timestamp()) {
            if !txn.commit {
                aborted.push(state.aborted_entry(&txn));
            }
        }
    })?;
    for txn in aborted {
        log.restore_aborted_txn(txn)?;
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::super::tests::id;
    use super::*;

    #[test]
    fn snapshots_round_trip_and_damage_is_detected() {
        let mut s = ProducerState::default();
        s.update(&id(1, 3, 0, 9), 0, 9);
        s.update(&id(2, 0, 5, 5), 10, 10);
        let bytes = s.snapshot(11);
        assert_eq!(ProducerState::from_snapshot(&bytes), Some((11, s.clone())));
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert_eq!(ProducerState::from_snapshot(&bad), None, "flip at {i}");
            assert_eq!(
                ProducerState::from_snapshot(&bytes[..i]),
                None,
                "cut at {i}"
            );
        }
    }

    #[test]
    fn the_newest_intact_snapshot_at_or_below_an_offset_is_loaded() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut s = ProducerState::default();
        s.update(&id(1, 0, 0, 0), 0, 0);
        write_snapshot(dir.path(), 1, &s.snapshot(1)).expect("write");
        s.update(&id(1, 0, 1, 1), 1, 1);
        write_snapshot(dir.path(), 2, &s.snapshot(2)).expect("write");
        std::fs::write(snapshot_path(dir.path(), 3), b"garbage").expect("write");
        let (offset, loaded) = load_snapshot(dir.path(), 10).expect("load").expect("found");
        assert_eq!((offset, loaded), (2, s.clone()));
        assert_eq!(
            load_snapshot(dir.path(), 1).expect("load").map(|(o, _)| o),
            Some(1)
        );
    }
}
