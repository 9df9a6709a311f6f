//! `PartitionActor`: the single owner and writer of one partition's [`Log`].
//!
//! Appends arrive validated (the produce handler checked the batch) and are copied into
//! the log's mmap on this actor's arbiter; nothing else on the produce path runs here.
//! After every change the actor publishes its offsets on a watch channel: fetches read
//! them to skip partitions with nothing new, and wait on them (not in this mailbox) for
//! data. Blocking file work (fsync, deleting segments, reopening after a
//! failure) runs on tokio's blocking pool, never on the arbiter thread.
//!
//! The parts: `messages` (what it answers and its errors), `append` (the produce path and
//! the segment files readied ahead of it), `read` (fetches and ListOffsets), `housekeeping` (rolls, retention, flushes, config changes,
//! close), `txn` (markers, the producer state, KIP-890 checks), `cleaning` (the log
//! cleaner's runs).
//!
//! Failure: a storage error that leaves the log in doubt stops the actor; its
//! `Supervisor` restarts it, and `restarting` reopens the log with recovery while the
//! rest of the broker keeps serving.

use crate::clock::now_ms;
use crate::protocol::records::{Compression, RecordBatch};
use crate::protocol::ErrorCode;
use crate::storage::producer_state::{self, BatchIdentity, ProducerState};
use crate::storage::{self, FlushHandle, Log, LogConfig};
use actix::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

mod append;
mod cleaning;
mod housekeeping;
mod messages;
mod read;
mod replica;
mod txn;
pub use cleaning::StartCleaner;
use housekeeping::delete_off_thread;
use messages::storage_error;
pub use messages::{
    Append, AppendInOrder, Appended, Close, DeleteRecords, Fetch, FetchData, InjectFailure,
    IsolationLevel, ListOffset, PartitionError, PartitionOffsets, UpdateConfig,
    EARLIEST_LOCAL_TIMESTAMP, EARLIEST_TIMESTAMP, LATEST_TIERED_TIMESTAMP, LATEST_TIMESTAMP,
    MAX_TIMESTAMP,
};
use replica::Role;
pub use replica::{
    append_replicated, replicated, AppendReplica, AwaitReplicated, EpochEndOffset, LatestEpoch,
    RoleSpec, SetRole, TruncateTo, WithLog,
};
pub use txn::{DescribeProducers, ExpectTxn, WriteTxnMarker};

/// One partition's log.
pub struct PartitionActor {
    name: String,
    dir: PathBuf,
    config: LogConfig,
    log: Option<Log>,
    flush: Option<FlushHandle>,
    offsets: watch::Sender<PartitionOffsets>,
    intervals: Intervals,
    closed: bool,
    /// Idempotent producers' sequences; rebuilt with the log.
    producers: ProducerState,
    /// Producer id -> epoch of the transactions whose coordinator added this partition
    /// and that have written nothing here yet: a client's transactional batch is
    /// accepted only from these or from an open transaction (KIP-890 part 1). Filled by
    /// coordinators only, one entry per producer.
    expected_txns: HashMap<i64, i16>,
    /// Producers whose transaction this partition is asking its coordinator about, with
    /// their appends waiting in order (the first is the one verified).
    verifying: HashMap<i64, Vec<AppendInOrder>>,
    /// Segments when the last producer snapshot was taken: a roll takes a new one.
    snapshot_segments: usize,
    /// The next segment's files are being created on the blocking pool.
    preparing: bool,
    /// The active segment's next blocks and pages are being readied on the blocking
    /// pool.
    filling_ahead: bool,
    /// The log cleaner's settings once the broker turned it on.
    cleaner: Option<StartCleaner>,
    /// Alone, or leader or follower of a replicated partition.
    role: Role,
    /// This broker's id (set with the role).
    me: i32,
    /// Offsets below it are on every in-sync replica: what consumers may read.
    high_watermark: i64,
    /// A leader's periodic ISR check.
    isr_timer: Option<SpawnHandle>,
    /// Bumped at every change of role or leader epoch.
    role_term: u64,
    /// The high watermark last checkpointed.
    checkpointed_hw: Option<i64>,
    /// [`AwaitReplicated`] callers by the offset they wait to see committed.
    hw_waiters: std::collections::BTreeMap<i64, Vec<oneshot::Sender<Result<(), PartitionError>>>>,
}

/// A log opened off the arbiters, with its producer state rebuilt.
pub struct OpenLog {
    pub log: Log,
    pub producers: ProducerState,
    /// The high watermark last checkpointed (a replicated partition's).
    pub high_watermark: Option<i64>,
}

impl PartitionActor {
    /// Takes a log opened off the arbiter (opening creates and maps files).
    pub fn new(
        name: String,
        open: OpenLog,
        intervals: Intervals,
    ) -> (Self, watch::Receiver<PartitionOffsets>) {
        let OpenLog {
            log,
            producers,
            high_watermark,
        } = open;
        let snapshot_segments = log.segment_count();
        // A replicated partition starts at its checkpointed high watermark, never above
        // its log end; one alone moves it to the log end at once.
        let high_watermark = high_watermark.unwrap_or(i64::MAX).min(log.log_end_offset());
        let offsets = PartitionOffsets {
            log_start_offset: log.log_start_offset(),
            high_watermark,
            last_stable_offset: last_stable_offset(&producers, &log, high_watermark),
            size_bytes: log.size_bytes(),
            log_end_offset: log.log_end_offset(),
            role_term: 0,
        };
        let (tx, rx) = watch::channel(offsets);
        let actor = PartitionActor {
            name,
            dir: log.dir().to_path_buf(),
            config: log.config().clone(),
            flush: Some(log.flush_handle()),
            log: Some(log),
            offsets: tx,
            intervals,
            closed: false,
            snapshot_segments,
            producers,
            expected_txns: HashMap::new(),
            verifying: HashMap::new(),
            preparing: false,
            filling_ahead: false,
            cleaner: None,
            role: Role::Alone,
            me: -1,
            high_watermark,
            isr_timer: None,
            role_term: 0,
            checkpointed_hw: None,
            hw_waiters: std::collections::BTreeMap::new(),
        };
        (actor, rx)
    }

    fn publish_offsets(&mut self) {
        self.advance_high_watermark();
        if let Some(log) = &self.log {
            let hw = self.high_watermark;
            let o = PartitionOffsets {
                log_start_offset: log.log_start_offset(),
                high_watermark: hw,
                last_stable_offset: last_stable_offset(&self.producers, log, hw),
                size_bytes: log.size_bytes(),
                log_end_offset: log.log_end_offset(),
                role_term: self.role_term,
            };
            self.offsets
                .send_if_modified(|cur| std::mem::replace(cur, o) != o);
        }
    }

    fn current_offsets(&self) -> PartitionOffsets {
        *self.offsets.borrow()
    }

    /// A storage failure leaves the log in doubt: stop, and let the supervisor restart
    /// the actor, which reopens the log with recovery.
    fn fail(&mut self, ctx: &mut Context<Self>, error: &storage::Error) {
        tracing::error!(partition = %self.name, %error, "partition failed; restarting it");
        ctx.stop();
    }
}

/// The producer state's LSO, but never below the log start offset: retention or
/// DeleteRecords may remove the start of a transaction that is still open (Kafka's
/// `maybeIncrementFirstUnstableOffset`).
fn last_stable_offset(producers: &ProducerState, log: &Log, high_watermark: i64) -> i64 {
    producers
        .last_stable_offset(high_watermark)
        .max(log.log_start_offset())
}

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        ctx.run_interval(self.intervals.retention_check, |act, _| act.run_retention());
        if let Some(every) = self.intervals.recovery_checkpoint {
            ctx.run_interval(every, |act, _| act.checkpoint_recovery_point());
        }
        self.start_cleaner_timer(ctx);
    }
}

impl Supervised for PartitionActor {
    fn restarting(&mut self, ctx: &mut Context<Self>) {
        if self.closed {
            return;
        }
        self.log = None;
        self.flush = None;
        let (dir, config, name) = (self.dir.clone(), self.config.clone(), self.name.clone());
        let reopen =
            async move { tokio::task::spawn_blocking(move || open_log(dir, config)).await };
        ctx.wait(reopen.into_actor(self).map(move |res, act, ctx| match res {
            Ok(Ok(OpenLog { log, producers, .. })) => {
                tracing::info!(partition = %name, "partition log reopened");
                act.flush = Some(log.flush_handle());
                act.snapshot_segments = log.segment_count();
                act.log = Some(log);
                act.producers = producers;
                act.publish_offsets();
            }
            Ok(Err(error)) => {
                tracing::error!(partition = %name, %error, "reopening the partition log failed");
                ctx.stop();
            }
            Err(error) => {
                tracing::error!(partition = %name, %error, "reopen task failed");
                ctx.stop();
            }
        }));
    }
}

impl Handler<InjectFailure> for PartitionActor {
    type Result = ();

    fn handle(&mut self, _: InjectFailure, ctx: &mut Context<Self>) {
        tracing::warn!(partition = %self.name, "injected failure");
        ctx.stop();
    }
}

/// Opens a partition's log. Blocking (it creates, maps and may scan files): call it off
/// the arbiters.
pub fn open_log(dir: PathBuf, config: LogConfig) -> Result<OpenLog, storage::Error> {
    let mut log = Log::open(dir, config, now_ms())?;
    log.prepare_segments_elsewhere();
    let producers = producer_state::rebuild(&mut log)?;
    log.set_first_unstable_offset(producers.first_unstable_offset());
    let high_watermark = storage::epochs::read_high_watermark(log.dir());
    Ok(OpenLog {
        log,
        producers,
        high_watermark,
    })
}

/// The periods of a partition's upkeep.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    /// `log.retention.check.interval.ms`.
    pub retention_check: Duration,
    /// `log.flush.offset.checkpoint.interval.ms`; `None` (0): recovery points move at
    /// rolls only.
    pub recovery_checkpoint: Option<Duration>,
}

/// Starts the actor that owns `log`, supervised, on `arbiter`.
pub fn start(
    arbiter: &ArbiterHandle,
    name: String,
    log: OpenLog,
    intervals: Intervals,
) -> (Addr<PartitionActor>, watch::Receiver<PartitionOffsets>) {
    let (actor, rx) = PartitionActor::new(name, log, intervals);
    let addr = Supervisor::start_in_arbiter(arbiter, move |_| actor);
    (addr, rx)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::protocol::records::{RecordBatchBuilder, RecordSpec};
    use bytes::Bytes;
    use std::time::Instant;

    fn batch(n: usize) -> Bytes {
        let mut b = RecordBatchBuilder::new(0, 1_700_000_000_000);
        for i in 0..n {
            b = b.record(RecordSpec::new(
                Some(format!("k{i}").as_bytes()),
                Some(b"value"),
            ));
        }
        Bytes::from(b.build())
    }

    fn small_config() -> LogConfig {
        LogConfig {
            segment_bytes: 1 << 20,
            ..LogConfig::default()
        }
    }

    fn start_partition(
        dir: &std::path::Path,
    ) -> (Addr<PartitionActor>, watch::Receiver<PartitionOffsets>) {
        start_partition_with(dir, "t-0", small_config())
    }

    /// A partition actor named `name` over a log in `dir/name`, on this arbiter.
    pub(in crate::actors::partition) fn start_partition_with(
        dir: &std::path::Path,
        name: &str,
        config: LogConfig,
    ) -> (Addr<PartitionActor>, watch::Receiver<PartitionOffsets>) {
        let log = open_log(dir.join(name), config).expect("open");
        start(
            &actix::Arbiter::current(),
            name.into(),
            log,
            Intervals {
                retention_check: Duration::from_secs(60),
                recovery_checkpoint: Some(Duration::from_secs(60)),
            },
        )
    }

    /// Segments of 4 KiB and a burst of queued appends: rolls come faster than the
    /// blocking pool prepares segments, so appends wait for one (no file is created on
    /// the arbiter) and still land in the order they were sent.
    #[actix::test]
    async fn appends_that_outrun_segment_preparation_wait_for_it_in_order() {
        let dir = tempfile::tempdir().expect("tmp");
        let config = LogConfig {
            segment_bytes: 4096,
            ..LogConfig::default()
        };
        let (p, offsets) = start_partition_with(dir.path(), "t-0", config);
        let mut answers = Vec::new();
        for _ in 0..200 {
            let (reply, answer) = oneshot::channel();
            p.do_send(AppendInOrder {
                append: Append {
                    batch: batch(20),
                    wait_for_fsync: false,
                },
                check_keys: false,
                min_insync: 0,
                txn: None,
                reply,
            });
            answers.push(answer);
        }
        for (i, answer) in answers.into_iter().enumerate() {
            let appended = answer.await.expect("reply").expect("append");
            assert_eq!(appended.base_offset, i as i64 * 20);
        }
        assert_eq!(offsets.borrow().high_watermark, 4000);
        let logs = std::fs::read_dir(dir.path().join("t-0"))
            .expect("dir")
            .filter(|e| {
                let name = e.as_ref().expect("entry").file_name();
                let name = name.to_string_lossy();
                name.ends_with(".log") && !name.starts_with('.')
            })
            .count();
        assert!(logs > 10, "{logs} segments");
    }

    #[actix::test]
    async fn appends_get_consecutive_offsets_and_fetch_reads_them_back() {
        let dir = tempfile::tempdir().expect("tmp");
        let (p, offsets) = start_partition(dir.path());
        let a = p
            .send(Append {
                batch: batch(3),
                wait_for_fsync: false,
            })
            .await
            .expect("mailbox")
            .expect("append");
        let b = p
            .send(Append {
                batch: batch(2),
                wait_for_fsync: true,
            })
            .await
            .expect("mailbox")
            .expect("append");
        assert_eq!((a.base_offset, a.last_offset), (0, 2));
        assert_eq!((b.base_offset, b.last_offset), (3, 4));
        assert_eq!(offsets.borrow().high_watermark, 5);
        let data = p
            .send(Fetch {
                offset: 3,
                max_bytes: 1 << 20,
                isolation: IsolationLevel::ReadUncommitted,
                replica: None,
                current_leader_epoch: -1,
            })
            .await
            .expect("mailbox")
            .expect("fetch");
        let first = crate::protocol::records::RecordBatch::parse(&data.records).expect("batch");
        assert_eq!(first.base_offset(), 3);
        let err = p
            .send(Fetch {
                offset: 6,
                max_bytes: 100,
                isolation: IsolationLevel::ReadUncommitted,
                replica: None,
                current_leader_epoch: -1,
            })
            .await
            .expect("mailbox");
        assert!(matches!(err, Err(PartitionError::OffsetOutOfRange { .. })));
    }

    #[actix::test]
    async fn an_append_is_published_to_a_waiting_watcher_of_the_offsets() {
        use crate::actors::routing::{any_change, PartitionRoute};
        let dir = tempfile::tempdir().expect("tmp");
        let (p, offsets) = start_partition(dir.path());
        let route = PartitionRoute {
            addr: p.clone(),
            offsets,
        };
        let mut watch = route.watch();
        assert_eq!(watch.seen().high_watermark, 0);
        let started = Instant::now();
        actix_rt::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            p.send(Append {
                batch: batch(1),
                wait_for_fsync: false,
            })
            .await
            .expect("mailbox")
            .expect("append");
        });
        any_change([&mut watch], Duration::from_secs(30)).await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "woken by the append, not by the wait running out"
        );
        assert_eq!(watch.seen().high_watermark, 1);
        assert_eq!(route.offsets().high_watermark, 1);
        // Nothing new since: the wait runs out.
        let started = Instant::now();
        any_change([&mut watch], Duration::from_millis(50)).await;
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[actix::test]
    async fn a_closed_partition_ends_a_wait_on_its_offsets() {
        use crate::actors::routing::{any_change, PartitionRoute};
        let dir = tempfile::tempdir().expect("tmp");
        let (p, offsets) = start_partition(dir.path());
        let route = PartitionRoute {
            addr: p.clone(),
            offsets,
        };
        let mut watch = route.watch();
        watch.seen();
        p.send(Close { delete: false })
            .await
            .expect("mailbox")
            .expect("close");
        let started = Instant::now();
        any_change([&mut watch], Duration::from_secs(30)).await;
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[actix::test]
    async fn a_failed_partition_is_restarted_and_reopens_its_log() {
        let dir = tempfile::tempdir().expect("tmp");
        let (p, _) = start_partition(dir.path());
        p.send(Append {
            batch: batch(4),
            wait_for_fsync: false,
        })
        .await
        .expect("mailbox")
        .expect("append");
        p.send(InjectFailure).await.expect("mailbox");
        // The supervisor restarts the actor; the same address serves the reopened log.
        let after = p
            .send(Append {
                batch: batch(1),
                wait_for_fsync: false,
            })
            .await
            .expect("mailbox")
            .expect("append after restart");
        assert_eq!(after.base_offset, 4, "the reopened log kept every offset");
        let (_, offset) = p
            .send(ListOffset {
                timestamp: -1,
                isolation: IsolationLevel::ReadUncommitted,
            })
            .await
            .expect("mailbox")
            .expect("list");
        assert_eq!(offset, 5);
    }

    fn producer_batch(producer_id: i64, epoch: i16, base_sequence: i32, n: usize) -> Bytes {
        let mut b = RecordBatchBuilder::new(0, 1_700_000_000_000).producer(
            producer_id,
            epoch,
            base_sequence,
        );
        for _ in 0..n {
            b = b.record(RecordSpec::new(None, Some(b"v")));
        }
        Bytes::from(b.build())
    }

    #[actix::test]
    async fn idempotent_batches_are_deduplicated_and_checked_across_restarts() {
        let dir = tempfile::tempdir().expect("tmp");
        let (p, _) = start_partition(dir.path());
        let append = |batch| Append {
            batch,
            wait_for_fsync: false,
        };
        let first = p
            .send(append(producer_batch(9, 0, 0, 3)))
            .await
            .expect("mailbox")
            .expect("append");
        p.send(append(producer_batch(9, 0, 3, 2)))
            .await
            .expect("mailbox")
            .expect("append");
        let dup = p
            .send(append(producer_batch(9, 0, 0, 3)))
            .await
            .expect("mailbox")
            .expect("duplicate");
        assert_eq!(
            (dup.base_offset, dup.last_offset),
            (first.base_offset, first.last_offset),
            "the original offsets"
        );
        let gap = p
            .send(append(producer_batch(9, 0, 7, 1)))
            .await
            .expect("mailbox");
        assert!(matches!(gap, Err(PartitionError::OutOfOrderSequence(_))));
        p.send(append(producer_batch(9, 1, 0, 1)))
            .await
            .expect("mailbox")
            .expect("new epoch");
        let fenced = p
            .send(append(producer_batch(9, 0, 5, 1)))
            .await
            .expect("mailbox");
        assert!(matches!(
            fenced,
            Err(PartitionError::InvalidProducerEpoch(_))
        ));
        let (_, end) = p
            .send(ListOffset {
                timestamp: -1,
                isolation: IsolationLevel::ReadUncommitted,
            })
            .await
            .expect("mailbox")
            .expect("end");
        assert_eq!(end, 6, "the duplicate was not written again");

        // After a crash (no clean close) the state is rebuilt from the log.
        p.send(InjectFailure).await.expect("mailbox");
        let dup = p
            .send(append(producer_batch(9, 1, 0, 1)))
            .await
            .expect("mailbox")
            .expect("duplicate after restart");
        assert_eq!(dup.base_offset, 5);
        // After a clean close it comes from the snapshot.
        p.send(Close { delete: false })
            .await
            .expect("mailbox")
            .expect("close");
        assert!(std::fs::read_dir(dir.path().join("t-0"))
            .expect("dir")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".snapshot")));
        let (p, _) = start_partition(dir.path());
        let dup = p
            .send(append(producer_batch(9, 1, 0, 1)))
            .await
            .expect("mailbox")
            .expect("duplicate after reopen");
        assert_eq!(dup.base_offset, 5);
        let next = p
            .send(append(producer_batch(9, 1, 1, 1)))
            .await
            .expect("mailbox")
            .expect("next in sequence");
        assert_eq!(next.base_offset, 6);
    }
}
