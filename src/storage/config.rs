//! [`LogConfig`]: the per-topic log settings, named after Kafka's topic configs.

use crate::protocol::records::TimestampType;

/// Log settings, one field per Kafka topic config (`segment.bytes` ->
/// `segment_bytes`), with Kafka's defaults. `None` stands for Kafka's `-1`
/// (unlimited) and for Kafka's `Long.MAX_VALUE` defaults of the flush settings.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: the size of a segment file, preallocated (default 1 GiB).
    pub segment_bytes: u32,
    /// `segment.ms`: roll a segment this old even if not full (default 7 days).
    pub segment_ms: u64,
    /// `segment.index.bytes`: the preallocated size of each index file (default 10 MiB).
    pub segment_index_bytes: u32,
    /// `index.interval.bytes`: log bytes between two offset-index entries (default 4096).
    pub index_interval_bytes: u32,
    /// `retention.ms`: delete segments whose newest timestamp is older (default 7 days).
    pub retention_ms: Option<u64>,
    /// `retention.bytes`: delete old segments while the log is larger (default unlimited).
    pub retention_bytes: Option<u64>,
    /// `flush.messages`: fsync after this many messages (default: never, leave it to the OS).
    pub flush_messages: Option<u64>,
    /// `flush.ms`: fsync when the last one is this old (default: never).
    pub flush_ms: Option<u64>,
    /// `message.timestamp.type`: CreateTime keeps the producer's, LogAppendTime stamps.
    pub message_timestamp_type: TimestampType,
    /// `max.message.bytes`: the largest batch accepted (default 1048588).
    pub max_message_bytes: u32,
    /// `cleanup.policy` includes `compact`: the log cleaner keeps the latest record
    /// per key (default false).
    pub compact: bool,
    /// `delete.retention.ms`: how long a compacted log keeps tombstones after their
    /// first cleaning (default 1 day).
    pub delete_retention_ms: u64,
    /// `min.compaction.lag.ms`: records younger than this are not compacted (default 0).
    pub min_compaction_lag_ms: u64,
    /// `max.compaction.lag.ms`: a dirty record older than this forces a cleaning,
    /// whatever the dirty ratio (default unlimited).
    pub max_compaction_lag_ms: u64,
    /// `min.cleanable.dirty.ratio`: clean once dirty bytes / all cleanable bytes
    /// reach this (default 0.5).
    pub min_cleanable_dirty_ratio: f64,
    /// `segment.jitter.ms`: each segment rolls up to this much before `segment.ms`,
    /// drawn at random per segment, so partitions created together do not all roll at
    /// once (default 0).
    pub segment_jitter_ms: u64,
    /// `message.timestamp.before.max.ms`: a CreateTime record older than the broker's
    /// clock by more is refused; `None` = no limit (Kafka's default).
    pub timestamp_before_max_ms: Option<u64>,
    /// `message.timestamp.after.max.ms`: a CreateTime record newer than the broker's
    /// clock by more is refused (default 1 hour, as Kafka 4.x).
    pub timestamp_after_max_ms: Option<u64>,
    /// `file.delete.delay.ms`: how long a removed segment's renamed files stay before
    /// they are deleted (default 1 minute).
    pub file_delete_delay_ms: u64,
    /// `preallocate`: a segment made ahead of its roll gets every disk block of its
    /// `segment.bytes` when it is made, off the appending thread; otherwise blocks are
    /// allocated a chunk ahead of the appends (default false).
    pub preallocate: bool,
    /// `producer.id.expiration.ms` (a broker config): how long an idle producer's
    /// sequence state is kept (default 1 day).
    pub producer_id_expiration_ms: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1024 * 1024 * 1024,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: Some(7 * 24 * 60 * 60 * 1000),
            retention_bytes: None,
            flush_messages: None,
            flush_ms: None,
            message_timestamp_type: TimestampType::CreateTime,
            max_message_bytes: 1024 * 1024 + 12,
            compact: false,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX as u64,
            min_cleanable_dirty_ratio: 0.5,
            segment_jitter_ms: 0,
            timestamp_before_max_ms: None,
            timestamp_after_max_ms: Some(60 * 60 * 1000),
            file_delete_delay_ms: 60_000,
            preallocate: false,
            producer_id_expiration_ms: 24 * 60 * 60 * 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_topic_defaults() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.segment_ms, 604_800_000);
        assert_eq!(c.segment_index_bytes, 10_485_760);
        assert_eq!(c.index_interval_bytes, 4096);
        assert_eq!(c.retention_ms, Some(604_800_000));
        assert_eq!(c.retention_bytes, None);
        assert_eq!((c.flush_messages, c.flush_ms), (None, None));
        assert_eq!(c.max_message_bytes, 1_048_588);
    }
}
