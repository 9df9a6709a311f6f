//! The partition's side of log compaction: a timer asks the log whether a cleaning is
//! due, runs it on tokio's blocking pool while appends go on, and swaps the result in
//! on this actor's thread (a quick change of the segment list).

use actix::prelude::*;
use std::time::Duration;

use super::{delete_off_thread, now_ms, PartitionActor};
use crate::storage::{CleanedLog, CleanerConfig, CleanerError, CleaningJob};

/// Turns the log cleaner on for this partition (sent by the broker after start when
/// `log.cleaner.enable` is true; whether the log is compacted is its topic config).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct StartCleaner {
    pub config: CleanerConfig,
    /// `log.cleaner.backoff.ms`: how often to check whether a cleaning is due.
    pub backoff: Duration,
}

impl PartitionActor {
    /// Registers the cleaner's timer, if the cleaner is on (again after a restart).
    pub(super) fn start_cleaner_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(cleaner) = &self.cleaner {
            ctx.run_interval(cleaner.backoff, |act, ctx| act.maybe_clean(ctx));
        }
    }

    /// Starts a cleaning if one is due; at most one runs per partition.
    fn maybe_clean(&mut self, ctx: &mut Context<Self>) {
        let (Some(cleaner), Some(log)) = (&self.cleaner, self.log.as_mut()) else {
            return;
        };
        let Some(job) = log.prepare_cleaning(now_ms(), &cleaner.config) else {
            return;
        };
        let token = job.token();
        let run = async move { tokio::task::spawn_blocking(move || CleaningJob::run(job)).await };
        ctx.spawn(run.into_actor(self).map(move |res, act, _| {
            let Some(log) = act.log.as_mut() else { return };
            let outcome: Result<CleanedLog, String> = match res {
                Ok(Ok(cleaned)) => Ok(cleaned),
                Ok(Err(CleanerError::Cancelled { .. })) => Err(String::new()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(cleaned) => {
                    let stats = cleaned.stats.clone();
                    if let Some(reason) = &cleaned.failure {
                        tracing::warn!(partition = %act.name, %reason, "log cleaning stopped part way");
                    }
                    let removed = log.finish_cleaning(cleaned);
                    tracing::info!(
                        partition = %act.name,
                        bytes_read = stats.bytes_read,
                        bytes_written = stats.bytes_written,
                        records_removed = stats.records_removed,
                        segments_before = stats.segments_before,
                        segments_after = stats.segments_after,
                        throttled_ms = stats.throttled_ms,
                        "log cleaned"
                    );
                    act.publish_offsets();
                    delete_off_thread(removed, act.delete_delay());
                }
                Err(reason) => {
                    log.abort_cleaning(&token);
                    if !reason.is_empty() {
                        tracing::warn!(partition = %act.name, %reason, "log cleaning failed");
                    }
                }
            }
        }));
    }
}

impl Handler<StartCleaner> for PartitionActor {
    type Result = ();

    fn handle(&mut self, msg: StartCleaner, ctx: &mut Context<Self>) {
        let first = self.cleaner.is_none();
        self.cleaner = Some(msg);
        if first {
            self.start_cleaner_timer(ctx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Append, Fetch};
    use super::*;
    use crate::protocol::records::{BatchIter, RecordBatchBuilder, RecordSpec};
    use crate::storage::LogConfig;
    use bytes::Bytes;

    fn update(key: usize, ts: i64) -> Bytes {
        let k = format!("k{key}");
        Bytes::from(
            RecordBatchBuilder::new(0, ts)
                .record(RecordSpec::new(Some(k.as_bytes()), Some(b"value")))
                .build(),
        )
    }

    #[actix::test]
    async fn the_cleaner_timer_compacts_rolled_segments_while_appends_go_on() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = LogConfig {
            segment_bytes: 1 << 20,
            segment_ms: 1000,
            compact: true,
            min_cleanable_dirty_ratio: 0.01,
            ..LogConfig::default()
        };
        let (p, _) = super::super::tests::start_partition_with(dir.path(), "c-0", config);
        let t0 = now_ms();
        // 200 updates of 10 keys, then one far enough in time to roll the segment.
        for i in 0..200 {
            let batch = update(i % 10, t0);
            p.send(Append {
                batch,
                wait_for_fsync: false,
            })
            .await
            .expect("mailbox")
            .expect("append");
        }
        let batch = update(99, t0 + 5000);
        p.send(Append {
            batch,
            wait_for_fsync: false,
        })
        .await
        .expect("mailbox")
        .expect("append");
        p.send(StartCleaner {
            config: CleanerConfig::default(),
            backoff: Duration::from_millis(20),
        })
        .await
        .expect("mailbox");
        let mut batches = 0;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let data = p
                .send(Fetch {
                    offset: 0,
                    max_bytes: 1 << 20,
                    isolation: super::super::IsolationLevel::ReadUncommitted,
                    replica: None,
                    current_leader_epoch: -1,
                })
                .await
                .expect("mailbox")
                .expect("fetch");
            batches = BatchIter::new(&data.records).count();
            if batches == 10 {
                break;
            }
        }
        assert_eq!(batches, 10, "one batch per key left in the rolled segment");
        let after = p
            .send(Append {
                batch: update(1, t0 + 5000),
                wait_for_fsync: false,
            })
            .await
            .expect("mailbox")
            .expect("append after a cleaning");
        assert_eq!(after.base_offset, 201, "offsets unchanged by the cleaning");
    }
}
