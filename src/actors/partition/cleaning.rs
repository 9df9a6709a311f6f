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
                    delete_off_thread(removed);
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
