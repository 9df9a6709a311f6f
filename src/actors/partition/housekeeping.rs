//! Upkeep: what follows a roll (background flush, producer snapshot), retention and
//! DeleteRecords, periodic flushes, config changes, and closing the log.

use super::*;

impl PartitionActor {
    /// `file.delete.delay.ms` of this partition's topic.
    pub(super) fn delete_delay(&self) -> Duration {
        Duration::from_millis(self.config.file_delete_delay_ms)
    }

    /// A roll flushes the rolled segment in the background, as Kafka does: its bytes,
    /// its trimmed files, the directory and then the recovery point reach the disk soon
    /// after, whatever the flush settings, and the flush queue lets go of the segment's
    /// mapping, so a segment that retention deletes later is unmapped and closed at
    /// once (until its flush, the queue holds it open). A new segment also means a new
    /// producer snapshot, so recovery after a crash scans at most the active segment.
    /// The snapshot is written after the flush of the batches (and `.txnindex` entries)
    /// it covers: it never gets ahead of the data, so a recovery that starts from it
    /// never misses an abort marker whose index entry was lost.
    pub(super) fn on_roll(&mut self) {
        let Some(log) = &self.log else { return };
        let segments = log.segment_count();
        if segments == self.snapshot_segments {
            return;
        }
        self.snapshot_segments = segments;
        let offset = log.log_end_offset();
        let snapshot = (!self.producers.is_empty()).then(|| self.producers.snapshot(offset));
        let dir = self.dir.clone();
        let flush = log.flush_handle();
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = flush.flush() {
                return tracing::warn!(partition = %name, %error, "flushing a rolled segment failed");
            }
            if let Some(bytes) = snapshot {
                if let Err(error) = producer_state::write_snapshot(&dir, offset, &bytes) {
                    tracing::warn!(partition = %name, %error, "writing a producer snapshot failed");
                }
            }
        });
    }

    /// `log.flush.offset.checkpoint.interval.ms`: when the active segment took appends
    /// since the last time, its bytes and index files are synced in the background and
    /// the recovery point moves to where it ended, so recovery after a crash scans only
    /// what came later rather than the whole active segment.
    pub(super) fn checkpoint_recovery_point(&mut self) {
        self.checkpoint_high_watermark();
        let Some(log) = self.log.as_mut() else { return };
        if !log.note_recovery_point() {
            return;
        }
        let flush = log.flush_handle();
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = flush.flush() {
                tracing::warn!(partition = %name, %error, "syncing for the recovery point failed");
            }
        });
    }

    pub(super) fn run_retention(&mut self) {
        let expiration = i64::try_from(self.config.producer_id_expiration_ms).unwrap_or(i64::MAX);
        let expired = self.producers.expire_producers(now_ms(), expiration);
        if expired > 0 {
            tracing::debug!(partition = %self.name, expired, "idle producers forgotten");
        }
        let Some(log) = self.log.as_mut() else { return };
        match log.apply_retention(now_ms()) {
            Ok(removed) if !removed.is_empty() => {
                tracing::info!(partition = %self.name, segments = removed.len(), "retention removed segments");
                self.publish_offsets();
                delete_off_thread(removed, self.delete_delay());
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(partition = %self.name, %error, "retention failed"),
        }
        self.flush_if_due();
    }

    /// Runs the fsync that `flush.messages` / `flush.ms` call for on the blocking pool:
    /// never on the arbiter, which serves other partitions and connections meanwhile.
    pub(super) fn flush_if_due(&mut self) {
        let Some(flush) = self.log.as_mut().and_then(|log| log.flush_due(now_ms())) else {
            return;
        };
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = flush.flush() {
                tracing::error!(partition = %name, %error, "flush failed");
            }
        });
    }
}

/// Deletes removed segments' renamed files on the blocking pool once
/// `file.delete.delay.ms` has passed (Kafka's delay, for readers that still hold them
/// open). Until then they are closed and unmapped but on disk; a broker stopped meanwhile
/// deletes them when it opens the log again.
pub(super) fn delete_off_thread(removed: Vec<storage::RemovedSegment>, delay: Duration) {
    actix_rt::spawn(async move {
        if !delay.is_zero() {
            actix_rt::time::sleep(delay).await;
        }
        tokio::task::spawn_blocking(move || {
            if let Err(error) = storage::delete_segments(&removed) {
                tracing::warn!(%error, "deleting removed segments failed");
            }
        });
    });
}

impl Handler<DeleteRecords> for PartitionActor {
    type Result = Result<i64, PartitionError>;

    fn handle(&mut self, msg: DeleteRecords, _: &mut Context<Self>) -> Self::Result {
        let log = self.log.as_mut().ok_or(PartitionError::Closed)?;
        let offset = if msg.offset == -1 {
            log.high_watermark()
        } else {
            msg.offset
        };
        let removed = log.delete_records(offset).map_err(storage_error)?;
        let low = log.log_start_offset();
        delete_off_thread(removed, self.delete_delay());
        self.publish_offsets();
        Ok(low)
    }
}

impl Handler<Close> for PartitionActor {
    type Result = ResponseFuture<Result<(), PartitionError>>;

    /// The actor stops at once; the file work (producer snapshot, trims and fsyncs, or
    /// removing the directory) runs on the blocking pool, and the reply waits for it.
    fn handle(&mut self, msg: Close, ctx: &mut Context<Self>) -> Self::Result {
        self.closed = true;
        // Fetches waiting on this partition's offsets wake, read again and find it
        // closed (the supervisor keeps this actor, and its sender, while any address
        // to it lives).
        self.offsets.send_modify(|_| ());
        ctx.stop();
        let Some(mut log) = self.log.take() else {
            return Box::pin(async { Ok(()) });
        };
        let snapshot = (!msg.delete && !self.producers.is_empty()).then(|| {
            let offset = log.log_end_offset();
            (offset, self.producers.snapshot(offset))
        });
        let dir = self.dir.clone();
        let high_watermark = self.high_watermark_checkpoint();
        let work = move || -> Result<(), storage::Error> {
            if let Some((path, text)) = high_watermark {
                storage::write_atomically(&path, text.as_bytes())?;
            }
            if let Some((offset, bytes)) = snapshot {
                // As at a roll, the snapshot never gets ahead of what it covers: the
                // batches and the `.txnindex` entries (written by the flush) first, so a
                // crash before the close completes still finds every entry, or replays
                // the markers that re-add it.
                log.flush()?;
                producer_state::write_snapshot(&dir, offset, &bytes)?;
            }
            if msg.delete {
                log.delete()
            } else {
                log.close()
            }
        };
        Box::pin(async move {
            tokio::task::spawn_blocking(work)
                .await
                .map_err(|e| PartitionError::Storage(e.to_string()))?
                .map_err(|e| PartitionError::Storage(e.to_string()))
        })
    }
}

impl Handler<UpdateConfig> for PartitionActor {
    type Result = ();

    fn handle(&mut self, msg: UpdateConfig, _: &mut Context<Self>) {
        // Kept for a restart, which reopens the log with the current config.
        self.config = msg.0.clone();
        if let Some(log) = self.log.as_mut() {
            log.set_config(msg.0);
        }
        // Retention may now remove segments; check at once rather than at the next tick.
        self.run_retention();
    }
}
