//! [`Log`]'s reads: batches from an offset (zero-copy slices of the mappings), the
//! startup replays, and the lookups by timestamp.

use super::*;

impl Log {
    /// Calls `f` with every batch from `from` to the log end, in order, reading 1 MiB
    /// at a time: the startup replays (producer state, `__consumer_offsets`,
    /// `__transaction_state`).
    pub fn for_each_batch(&self, from: i64, mut f: impl FnMut(&RecordBatch<'_>)) -> Result<()> {
        let end = self.log_end_offset();
        let mut offset = from.max(self.log_start_offset());
        while offset < end {
            let chunk = self.read(offset, 1 << 20)?;
            let mut next = offset;
            for batch in crate::protocol::records::BatchIter::new(&chunk) {
                next = batch.next_offset();
                f(&batch);
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
        Ok(())
    }

    /// Whole batches from the one containing `offset`, up to `max_bytes` (at least one
    /// batch, KIP-74), from one segment, as a zero-copy slice of its mapping. Empty at
    /// the log end offset; an error outside [log start, log end].
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Bytes> {
        let end = self.log_end_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        let first = self
            .segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        for segment in &self.segments[first..] {
            if let Some(bytes) = segment.read(offset, max_bytes) {
                return Ok(bytes);
            }
        }
        Ok(Bytes::new())
    }

    /// The first record at or after the log start offset whose timestamp is >=
    /// `timestamp`: its offset and timestamp (Kafka's `fetchOffsetByTimestamp`). `None`
    /// if no record is that new.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        for segment in self.segments.iter().filter(|s| {
            s.next_offset() > self.log_start_offset
                && s.max_timestamp_and_offset()
                    .is_some_and(|(ts, _)| ts >= timestamp)
        }) {
            if let Some(found) =
                segment.find_offset_by_timestamp(timestamp, self.log_start_offset)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The largest timestamp in the log and the offset of the first record that holds
    /// it (Kafka's `MAX_TIMESTAMP`, KIP-734).
    pub fn max_timestamp(&self) -> Result<Option<TimestampOffset>> {
        let newest = self
            .segments
            .iter()
            .filter(|s| s.next_offset() > self.log_start_offset)
            .filter_map(|s| s.max_timestamp_and_offset().map(|m| (s, m)))
            .fold(
                None,
                |best: Option<(&LogSegment, (i64, i64))>, (s, m)| match best {
                    Some((_, (bts, _))) if bts >= m.0 => best,
                    _ => Some((s, m)),
                },
            );
        match newest {
            Some((segment, (timestamp, offset))) => {
                segment.offset_of_max_timestamp(timestamp, offset)
            }
            None => Ok(None),
        }
    }
}
