//! What leaves a [`Log`] from its start: retention by time and size, DeleteRecords,
//! and the segments removed (renamed `*.deleted`, deleted off the append path).

use super::*;

/// A segment taken out of the log whose files are renamed to `*.deleted` and still
/// need deleting. Delete them off the append path with [`RemovedSegment::delete`] or
/// [`delete_segments`]; files left behind are deleted at the next open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedSegment {
    pub base_offset: i64,
    pub paths: Vec<PathBuf>,
}

impl RemovedSegment {
    /// Deletes the files (a file already gone is fine).
    pub fn delete(&self) -> Result<()> {
        for path in &self.paths {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Io {
                        op: "delete segment file",
                        path: path.clone(),
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}

/// Deletes the files of removed segments; meant for a blocking thread.
pub fn delete_segments(removed: &[RemovedSegment]) -> Result<()> {
    removed.iter().try_for_each(RemovedSegment::delete)
}

impl Log {
    /// Moves the log start offset up to `offset` (Kafka's DeleteRecords) and removes
    /// the segments wholly below it. `offset` must be <= the high watermark.
    pub fn delete_records(&mut self, offset: i64) -> Result<Vec<RemovedSegment>> {
        if offset < 0 || offset > self.high_watermark() {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: self.log_end_offset(),
            });
        }
        self.log_start_offset = self.log_start_offset.max(offset);
        self.epochs.truncate_from_start(self.log_start_offset);
        if self.is_cleaning() {
            // The segments below go at the next retention check.
            return Ok(Vec::new());
        }
        self.remove_below_start()
    }

    /// Applies `retention.ms` (segments whose newest timestamp is older than `now_ms
    /// - retention.ms`) and `retention.bytes`, oldest first, never the active segment.
    /// The files are renamed to `*.deleted`; delete them off the append path.
    ///
    /// While a cleaning runs, nothing is removed (the next check catches up).
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<Vec<RemovedSegment>> {
        let mut removed = Vec::new();
        if self.is_cleaning() {
            return Ok(removed);
        }
        if let Some(retention_ms) = self.config.retention_ms {
            while self.segments.len() > 1
                && now_ms.saturating_sub(self.segments[0].largest_timestamp())
                    > clamp_i64(retention_ms)
            {
                removed.push(self.remove_oldest()?);
            }
        }
        if let Some(retention_bytes) = self.config.retention_bytes {
            let mut excess = clamp_i64(self.size_bytes()) - clamp_i64(retention_bytes);
            while self.segments.len() > 1 && excess >= self.segments[0].size() as i64 {
                excess -= self.segments[0].size() as i64;
                removed.push(self.remove_oldest()?);
            }
        }
        removed.extend(self.remove_below_start()?);
        Ok(removed)
    }

    pub(super) fn remove_below_start(&mut self) -> Result<Vec<RemovedSegment>> {
        let mut removed = Vec::new();
        while self.segments.len() > 1 && self.segments[1].base_offset() <= self.log_start_offset {
            removed.push(self.remove_oldest()?);
        }
        Ok(removed)
    }

    pub(super) fn remove_oldest(&mut self) -> Result<RemovedSegment> {
        let segment = self.segments.remove(0);
        let paths = segment.rename_for_delete(&self.dir)?;
        self.log_start_offset = self.log_start_offset.max(self.segments[0].base_offset());
        self.epochs.truncate_from_start(self.log_start_offset);
        Ok(RemovedSegment {
            base_offset: segment.base_offset(),
            paths,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{batch, small_config, T0};
    use super::*;

    #[test]
    fn retention_bytes_deletes_whole_old_segments_but_never_the_active_one() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            retention_bytes: Some(0),
            ..small_config()
        };
        let mut log = Log::open(dir.path(), config, T0).unwrap();
        for _ in 0..10 {
            log.append(&batch(1, 900, T0), T0).unwrap();
        }
        let segments = log.segment_count();
        let removed = log.apply_retention(T0).unwrap();
        assert_eq!(removed.len(), segments - 1);
        assert_eq!(log.segment_count(), 1);
        let active_base = log.segment_base_offsets()[0];
        assert_eq!(log.log_start_offset(), active_base);
        assert!(removed.iter().all(|r| r.paths.iter().all(|p| p.exists())));
        delete_segments(&removed).unwrap();
        assert!(removed.iter().all(|r| r.paths.iter().all(|p| !p.exists())));
        assert!(matches!(
            log.read(0, 1),
            Err(Error::OffsetOutOfRange { .. })
        ));
        assert_eq!(
            log.read(active_base, 1).unwrap().len(),
            batch(1, 900, T0).len()
        );
    }

    #[test]
    fn retention_ms_deletes_segments_older_than_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            retention_ms: Some(1000),
            ..small_config()
        };
        let mut log = Log::open(dir.path(), config, T0).unwrap();
        for i in 0..8 {
            log.append(&batch(1, 900, T0 + i * 1000), T0).unwrap();
        }
        let before = log.segment_base_offsets();
        let removed = log.apply_retention(T0 + 4500).unwrap();
        // Segments whose newest batch is older than T0 + 3500 go.
        assert!(!removed.is_empty());
        for r in &removed {
            let idx = before.iter().position(|b| *b == r.base_offset).unwrap();
            assert!(idx + 1 < before.len());
        }
        let first_left = log.segment_base_offsets()[0];
        let newest_removed = log.offset_for_timestamp(0).unwrap().unwrap();
        assert_eq!(newest_removed.offset, first_left);
        assert!(newest_removed.timestamp >= T0 + 3500);
    }

    #[test]
    fn delete_records_moves_the_log_start_and_drops_segments_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), small_config(), T0).unwrap();
        for _ in 0..10 {
            log.append(&batch(2, 400, T0), T0).unwrap();
        }
        let bases = log.segment_base_offsets();
        let target = bases[2] + 1;
        let removed = log.delete_records(target).unwrap();
        assert_eq!(removed.len(), 2);
        assert_eq!(log.log_start_offset(), target);
        assert!(log.read(target - 1, 1).is_err());
        let first = RecordBatch::parse(&log.read(target, 1).unwrap()[..])
            .unwrap()
            .base_offset();
        assert_eq!(first, target - 1, "the batch containing the start offset");
        assert!(log.delete_records(log.log_end_offset() + 1).is_err());
        log.close().unwrap();
        let log = Log::open(dir.path(), small_config(), T0).unwrap();
        assert_eq!(
            log.log_start_offset(),
            target,
            "kept across a clean shutdown"
        );
    }
}
