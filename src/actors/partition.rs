//! `PartitionActor`: the single owner and writer of one partition's [`Log`].
//!
//! Appends arrive validated (the produce handler checked the batch) and are copied into
//! the log's mmap on this actor's arbiter; nothing else on the produce path runs here.
//! Fetches that find no data park here and are answered by the next append or when
//! their wait runs out. Blocking file work (fsync, deleting segments, reopening after a
//! failure) runs on tokio's blocking pool, never on the arbiter thread.
//!
//! Failure: a storage error that leaves the log in doubt stops the actor; its
//! `Supervisor` restarts it, and `restarting` reopens the log with recovery while the
//! rest of the broker keeps serving.

use crate::protocol::records::{Compression, RecordBatch};
use crate::protocol::ErrorCode;
use crate::storage::producer_state::{self, BatchIdentity, ProducerState, SequenceError};
use crate::storage::{self, AbortedTxn, FlushHandle, Log, LogConfig};
use actix::prelude::*;
use bytes::Bytes;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

mod cleaning;
mod txn;
mod waiters;
pub use cleaning::StartCleaner;
pub use txn::{DescribeProducers, ExpectTxn, WriteTxnMarker};
use waiters::{Waiter, Waiters};

/// What a partition reports after every change: read by metadata and list-offsets
/// without a round trip through the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PartitionOffsets {
    pub log_start_offset: i64,
    pub high_watermark: i64,
    /// The first offset of the oldest open transaction, else the high watermark:
    /// read_committed consumers read below it.
    pub last_stable_offset: i64,
}

/// What a fetch or list-offsets may see (Kafka's isolation level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Everything up to the high watermark, open and aborted transactions included.
    #[default]
    ReadUncommitted,
    /// Only below the last stable offset, with the aborted transactions listed so the
    /// consumer can drop their batches.
    ReadCommitted,
}

impl IsolationLevel {
    /// From the wire: 1 is read_committed, anything else read_uncommitted (as Kafka).
    pub fn from_kafka(level: i8) -> Self {
        if level == 1 {
            Self::ReadCommitted
        } else {
            Self::ReadUncommitted
        }
    }
}

/// Appends one validated batch. With `wait_for_fsync` the reply comes once the batch
/// is on disk (appends that arrive together share one fsync).
#[derive(Message)]
#[rtype(result = "Result<Appended, PartitionError>")]
pub struct Append {
    pub batch: Bytes,
    pub wait_for_fsync: bool,
}

/// An [`Append`] that is queued the moment it is sent (`do_send`, never held back by a
/// full mailbox) and answers through `reply`: the appends of one connection's pipelined
/// produce requests reach the partition in request order. The connection's in-flight
/// cap (`queued.max.requests`) bounds what can be queued.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AppendInOrder {
    pub append: Append,
    /// A compacted topic's batch: every record must have a key (Kafka's check).
    pub check_keys: bool,
    pub reply: oneshot::Sender<Result<Appended, PartitionError>>,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The log-append time on a LogAppendTime topic, else -1.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
}

/// Reads whole batches from `offset` (read_committed: only below the last stable
/// offset). With `wait`, an empty read parks until there is something to read (an
/// append, or the last stable offset moving) or until the wait ends.
#[derive(Message)]
#[rtype(result = "Result<FetchData, PartitionError>")]
pub struct Fetch {
    pub offset: i64,
    pub max_bytes: usize,
    pub wait: Option<Duration>,
    pub isolation: IsolationLevel,
}

/// What a fetch read.
#[derive(Debug, Clone, Default)]
pub struct FetchData {
    pub records: Bytes,
    pub offsets: PartitionOffsets,
    /// read_committed: the aborted transactions overlapping the records returned
    /// (Kafka's `collectAbortedTransactions`); always empty for read_uncommitted.
    pub aborted: Vec<AbortedTxn>,
}

/// ListOffsets' special timestamps (Kafka's `ListOffsetsRequest` constants).
pub const LATEST_TIMESTAMP: i64 = -1;
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// KIP-734.
pub const MAX_TIMESTAMP: i64 = -3;
/// KIP-405 / KIP-1005.
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
pub const LATEST_TIERED_TIMESTAMP: i64 = -5;

/// Finds an offset for a ListOffsets timestamp (the constants above, else the first
/// record with a timestamp at or after it): (timestamp, offset), -1 for either that
/// has none. read_committed answers latest with the last stable offset.
#[derive(Message)]
#[rtype(result = "Result<(i64, i64), PartitionError>")]
pub struct ListOffset {
    pub timestamp: i64,
    pub isolation: IsolationLevel,
}

/// Moves the log start offset (DeleteRecords); returns the new low watermark.
#[derive(Message)]
#[rtype(result = "Result<i64, PartitionError>")]
pub struct DeleteRecords {
    pub offset: i64,
}

/// Closes the log cleanly (trimmed files, clean-shutdown marker), or deletes it, and
/// stops the actor for good.
#[derive(Message)]
#[rtype(result = "Result<(), PartitionError>")]
pub struct Close {
    pub delete: bool,
}

/// Applies changed topic configs to the log, live.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateConfig(pub LogConfig);

/// Makes the actor fail as a storage error would (tests of supervision).
#[derive(Message)]
#[rtype(result = "()")]
pub struct InjectFailure;

/// Errors a partition answers with; each maps to one Kafka error code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PartitionError {
    #[error("offset {offset} out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("batch too large: {0}")]
    TooLarge(String),
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    #[error("storage error: {0}")]
    Storage(String),
    #[error("partition is closed")]
    Closed,
    #[error("{0}")]
    OutOfOrderSequence(String),
    #[error("{0}")]
    InvalidProducerEpoch(String),
    #[error("{0}")]
    InvalidTxnState(String),
    #[error("{0}")]
    InvalidTimestamp(String),
    /// A batch the produce checks refuse, with Kafka's code for it.
    #[error("{1}")]
    Refused(ErrorCode, String),
}

impl From<SequenceError> for PartitionError {
    fn from(e: SequenceError) -> Self {
        match e {
            SequenceError::FencedEpoch { .. } => {
                PartitionError::InvalidProducerEpoch(e.to_string())
            }
            SequenceError::OutOfOrder { .. } => PartitionError::OutOfOrderSequence(e.to_string()),
        }
    }
}

impl PartitionError {
    pub fn code(&self) -> ErrorCode {
        match self {
            PartitionError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
            PartitionError::TooLarge(_) => ErrorCode::MessageTooLarge,
            PartitionError::InvalidBatch(_) => ErrorCode::CorruptMessage,
            PartitionError::Storage(_) => ErrorCode::KafkaStorageError,
            PartitionError::Closed => ErrorCode::NotLeaderOrFollower,
            PartitionError::OutOfOrderSequence(_) => ErrorCode::OutOfOrderSequenceNumber,
            PartitionError::InvalidProducerEpoch(_) => ErrorCode::InvalidProducerEpoch,
            PartitionError::InvalidTxnState(_) => ErrorCode::InvalidTxnState,
            PartitionError::InvalidTimestamp(_) => ErrorCode::InvalidTimestamp,
            PartitionError::Refused(code, _) => *code,
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One partition's log and the fetches waiting on it.
pub struct PartitionActor {
    name: String,
    dir: PathBuf,
    config: LogConfig,
    log: Option<Log>,
    flush: Option<FlushHandle>,
    waiters: Waiters,
    /// The one timer that answers parked fetches whose wait ran out, set for the
    /// earliest deadline. One timer, not one per fetch: actix polls every future an
    /// actor has spawned each time the actor wakes, and a busy consumer parks
    /// thousands of fetches a second, each waiting up to `fetch.wait.max.ms`.
    waiter_timer: Option<(Instant, SpawnHandle)>,
    offsets: watch::Sender<PartitionOffsets>,
    retention_check: Duration,
    closed: bool,
    /// Idempotent producers' sequences; rebuilt with the log.
    producers: ProducerState,
    /// Producer id -> epoch of the transactions whose coordinator added this partition
    /// and that have written nothing here yet: a client's transactional batch is
    /// accepted only from these or from an open transaction (KIP-890 part 1). Filled by
    /// coordinators only, one entry per producer.
    expected_txns: HashMap<i64, i16>,
    /// Segments when the last producer snapshot was taken: a roll takes a new one.
    snapshot_segments: usize,
    /// The next segment's files are being created on the blocking pool.
    preparing: bool,
    /// The active segment's next blocks and pages are being readied on the blocking
    /// pool.
    filling_ahead: bool,
    /// The log cleaner's settings once the broker turned it on.
    cleaner: Option<StartCleaner>,
}

/// A log opened off the arbiters, with its producer state rebuilt.
pub struct OpenLog {
    pub log: Log,
    pub producers: ProducerState,
}

impl PartitionActor {
    /// Takes a log opened off the arbiter (opening creates and maps files).
    pub fn new(
        name: String,
        open: OpenLog,
        retention_check: Duration,
    ) -> (Self, watch::Receiver<PartitionOffsets>) {
        let OpenLog { log, producers } = open;
        let snapshot_segments = log.segment_count();
        let offsets = PartitionOffsets {
            log_start_offset: log.log_start_offset(),
            high_watermark: log.high_watermark(),
            last_stable_offset: last_stable_offset(&producers, &log),
        };
        let (tx, rx) = watch::channel(offsets);
        let actor = PartitionActor {
            name,
            dir: log.dir().to_path_buf(),
            config: log.config().clone(),
            flush: Some(log.flush_handle()),
            log: Some(log),
            waiters: Waiters::default(),
            waiter_timer: None,
            offsets: tx,
            retention_check,
            closed: false,
            snapshot_segments,
            producers,
            expected_txns: HashMap::new(),
            preparing: false,
            filling_ahead: false,
            cleaner: None,
        };
        (actor, rx)
    }

    fn publish_offsets(&self) {
        if let Some(log) = &self.log {
            let o = PartitionOffsets {
                log_start_offset: log.log_start_offset(),
                high_watermark: log.high_watermark(),
                last_stable_offset: last_stable_offset(&self.producers, log),
            };
            self.offsets
                .send_if_modified(|cur| std::mem::replace(cur, o) != o);
        }
    }

    fn current_offsets(&self) -> PartitionOffsets {
        *self.offsets.borrow()
    }

    fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: IsolationLevel,
    ) -> Result<FetchData, PartitionError> {
        let log = self.log.as_ref().ok_or(PartitionError::Closed)?;
        let offsets = self.current_offsets();
        if isolation == IsolationLevel::ReadUncommitted {
            let records = log.read(offset, max_bytes).map_err(storage_error)?;
            return Ok(FetchData {
                records,
                offsets,
                aborted: Vec::new(),
            });
        }
        // Without an open transaction the LSO is the high watermark and a plain read
        // stops there by itself; without an aborted transaction from `offset` on there is
        // nothing to list. Only otherwise are the batches read walked.
        let records = if offsets.last_stable_offset >= offsets.high_watermark {
            log.read(offset, max_bytes)
        } else {
            log.read_below(offset, max_bytes, offsets.last_stable_offset)
        }
        .map_err(storage_error)?;
        let aborted = if log.has_aborted_txns_from(offset) {
            match crate::protocol::records::BatchIter::new(&records).last() {
                Some(last) => log.collect_aborted_txns(offset, last.next_offset()),
                None => Vec::new(),
            }
        } else {
            Vec::new()
        };
        Ok(FetchData {
            records,
            offsets,
            aborted,
        })
    }

    /// The offset a fetch waits to be below: the last stable offset for
    /// read_committed, else the high watermark.
    fn readable_end(&self, isolation: IsolationLevel) -> i64 {
        let o = self.current_offsets();
        match isolation {
            IsolationLevel::ReadUncommitted => o.high_watermark,
            IsolationLevel::ReadCommitted => o.last_stable_offset,
        }
    }

    /// `file.delete.delay.ms` of this partition's topic.
    fn delete_delay(&self) -> Duration {
        Duration::from_millis(self.config.file_delete_delay_ms)
    }

    /// Answers the parked fetches that now have data or whose wait is over.
    fn wake_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let o = self.current_offsets();
        let mut woken = self
            .waiters
            .take_ready(o.high_watermark, o.last_stable_offset);
        woken.extend(self.waiters.take_expired(Instant::now()));
        for w in woken {
            if !w.reply.is_closed() {
                let _ = w.reply.send(self.read(w.offset, w.max_bytes, w.isolation));
            }
        }
    }

    /// Sets the waiter timer for the earliest deadline of the parked fetches (none when
    /// nothing waits), keeping the one already set if it fires no later.
    fn arm_waiter_timer(&mut self, ctx: &mut Context<Self>) {
        let earliest = self.waiters.earliest_deadline();
        if let Some((at, handle)) = self.waiter_timer {
            if earliest.is_some_and(|e| at <= e) {
                return;
            }
            ctx.cancel_future(handle);
            self.waiter_timer = None;
        }
        let Some(earliest) = earliest else { return };
        let wait = earliest.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(wait, |act, ctx| {
            act.waiter_timer = None;
            act.wake_waiters();
            act.arm_waiter_timer(ctx);
        });
        self.waiter_timer = Some((earliest, handle));
    }

    /// A storage failure leaves the log in doubt: stop, and let the supervisor restart
    /// the actor, which reopens the log with recovery.
    fn fail(&mut self, ctx: &mut Context<Self>, error: &storage::Error) {
        tracing::error!(partition = %self.name, %error, "partition failed; restarting it");
        ctx.stop();
    }

    /// Has the next segment's files made on the blocking pool, so a roll on this
    /// arbiter only renames them. Only partitions that receive appends get one.
    fn prepare_next_segment(&mut self, ctx: &mut Context<Self>) {
        let Some(log) = &self.log else { return };
        if self.preparing || !log.wants_prepared_segment() {
            return;
        }
        self.preparing = true;
        let work = prepare_segment(log.segment_preparer());
        ctx.spawn(work.into_actor(self).map(|res, act, _| {
            act.preparing = false;
            if let Err(error) = act.offer_prepared(res) {
                tracing::warn!(partition = %act.name, %error, "preparing the next segment failed");
            }
        }));
    }

    /// An append must roll and the next segment is not prepared yet (rolls came faster
    /// than their preparation): the files are made on the blocking pool while this
    /// partition's mailbox waits (no later append may overtake this one; the arbiter
    /// serves its other actors meanwhile), then the append runs.
    fn prepare_then_append(
        &mut self,
        msg: Append,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Result<Appended, PartitionError>> {
        let Some(log) = &self.log else {
            return Box::pin(async { Err(PartitionError::Closed) });
        };
        let (reply, answer) = oneshot::channel();
        let work = prepare_segment(log.segment_preparer());
        ctx.wait(work.into_actor(self).map(move |res, act, ctx| {
            if let Err(error) = act.offer_prepared(res) {
                tracing::error!(partition = %act.name, %error, "creating the next segment failed");
                let _ = reply.send(Err(PartitionError::Storage(error)));
                return;
            }
            act.append_and_reply(msg, reply, ctx);
        }));
        Box::pin(async move { answer.await.unwrap_or(Err(PartitionError::Closed)) })
    }

    /// Gives the log a segment prepared on the blocking pool (one it does not need is
    /// deleted there).
    fn offer_prepared(&mut self, res: PreparedResult) -> Result<(), String> {
        let segment = match res {
            Ok(Ok(segment)) => segment,
            Ok(Err(error)) => return Err(error.to_string()),
            Err(error) => return Err(error.to_string()),
        };
        let unused = match self.log.as_mut() {
            Some(log) => log.offer_prepared(segment),
            None => Some(segment),
        };
        if let Some(unused) = unused {
            tokio::task::spawn_blocking(move || unused.discard());
        }
        Ok(())
    }

    /// Has the active segment's next blocks allocated and its pages prefaulted on the
    /// blocking pool, ahead of the appends: done on this arbiter, each chunk would
    /// stall every request it serves for milliseconds (a `fallocate` or a 4 MiB
    /// prefault waits on the filesystem's journal).
    fn fill_ahead(&mut self, ctx: &mut Context<Self>) {
        if self.filling_ahead {
            return;
        }
        let Some(work) = self.log.as_ref().and_then(Log::ahead_work) else {
            return;
        };
        self.filling_ahead = true;
        let work = async move { tokio::task::spawn_blocking(move || work.run()).await };
        ctx.spawn(work.into_actor(self).map(|res, act, _| {
            act.filling_ahead = false;
            match res {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(partition = %act.name, %error, "allocating ahead of the appends failed"),
                Err(error) => tracing::warn!(partition = %act.name, %error, "allocating ahead of the appends failed"),
            }
        }));
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
    fn on_roll(&mut self) {
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

    fn run_retention(&mut self) {
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
    fn flush_if_due(&mut self) {
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

/// The producer state's LSO, but never below the log start offset: retention or
/// DeleteRecords may remove the start of a transaction that is still open (Kafka's
/// `maybeIncrementFirstUnstableOffset`).
fn last_stable_offset(producers: &ProducerState, log: &Log) -> i64 {
    producers
        .last_stable_offset(log.high_watermark())
        .max(log.log_start_offset())
}

fn storage_error(e: storage::Error) -> PartitionError {
    match e {
        storage::Error::OffsetOutOfRange {
            offset,
            log_start_offset,
            log_end_offset,
        } => PartitionError::OffsetOutOfRange {
            offset,
            log_start_offset,
            log_end_offset,
        },
        storage::Error::BatchTooLarge { .. } => PartitionError::TooLarge(e.to_string()),
        storage::Error::InvalidTimestamp { .. } => PartitionError::InvalidTimestamp(e.to_string()),
        storage::Error::InvalidBatch(_) | storage::Error::NotOneBatch { .. } => {
            PartitionError::InvalidBatch(e.to_string())
        }
        other => PartitionError::Storage(other.to_string()),
    }
}

/// Deletes removed segments' renamed files on the blocking pool once
/// `file.delete.delay.ms` has passed (Kafka's delay, for readers that still hold them
/// open). Until then they are closed and unmapped but on disk; a broker stopped meanwhile
/// deletes them when it opens the log again.
fn delete_off_thread(removed: Vec<storage::RemovedSegment>, delay: Duration) {
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

impl Actor for PartitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        ctx.run_interval(self.retention_check, |act, _| act.run_retention());
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
        self.waiter_timer = None;
        for w in self.waiters.drain() {
            let _ = w
                .reply
                .send(Err(PartitionError::Storage("partition restarting".into())));
        }
        let (dir, config, name) = (self.dir.clone(), self.config.clone(), self.name.clone());
        let reopen =
            async move { tokio::task::spawn_blocking(move || open_log(dir, config)).await };
        ctx.wait(reopen.into_actor(self).map(move |res, act, ctx| match res {
            Ok(Ok(OpenLog { log, producers })) => {
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

impl Handler<AppendInOrder> for PartitionActor {
    type Result = ();

    fn handle(&mut self, msg: AppendInOrder, ctx: &mut Context<Self>) {
        let reply = msg.reply;
        if let Err(e) = self.verify_client_txn(&msg.append.batch) {
            tracing::debug!(partition = %self.name, error = %e, "transactional batch refused");
            let _ = reply.send(Err(e));
            return;
        }
        // Compacted topic: every record needs a key. An uncompressed batch is walked
        // here; a compressed one is decompressed on the blocking pool while this
        // partition waits (`wait`: no other message runs before this append, so appends
        // stay in order, and the arbiter serves the others meanwhile).
        if msg.check_keys {
            let compressed = RecordBatch::parse(&msg.append.batch)
                .is_ok_and(|b| b.compression().ok() != Some(Compression::None));
            if compressed {
                return self.check_keys_then_append(msg.append, reply, ctx);
            }
            if let Err(e) = every_record_has_a_key(&msg.append.batch) {
                let _ = reply.send(Err(e));
                return;
            }
        }
        self.append_and_reply(msg.append, reply, ctx);
    }
}

impl PartitionActor {
    fn check_keys_then_append(
        &mut self,
        append: Append,
        reply: oneshot::Sender<Result<Appended, PartitionError>>,
        ctx: &mut Context<Self>,
    ) {
        let batch = append.batch.clone();
        let check = tokio::task::spawn_blocking(move || every_record_has_a_key(&batch));
        ctx.wait(
            actix::fut::wrap_future(check).map(move |res, act: &mut Self, ctx| match res {
                Ok(Ok(())) => act.append_and_reply(append, reply, ctx),
                Ok(Err(e)) => {
                    let _ = reply.send(Err(e));
                }
                Err(e) => {
                    let _ = reply.send(Err(PartitionError::Storage(e.to_string())));
                }
            }),
        );
    }
}

/// Kafka's check for compacted topics: every record has a key (INVALID_RECORD), a
/// compressed batch decompressed for it (CORRUPT_MESSAGE if that fails).
fn every_record_has_a_key(batch: &[u8]) -> Result<(), PartitionError> {
    use crate::protocol::records::compression::{KEYLESS_RECORD, MAX_DECOMPRESSED_BATCH};
    match RecordBatch::parse(batch).and_then(|b| b.every_record_has_a_key(MAX_DECOMPRESSED_BATCH)) {
        Ok(true) => Ok(()),
        Ok(false) => Err(PartitionError::Refused(
            ErrorCode::InvalidRecord,
            KEYLESS_RECORD.to_string(),
        )),
        Err(e) => Err(PartitionError::Refused(
            ErrorCode::CorruptMessage,
            e.to_string(),
        )),
    }
}

impl PartitionActor {
    fn append_and_reply(
        &mut self,
        append: Append,
        reply: oneshot::Sender<Result<Appended, PartitionError>>,
        ctx: &mut Context<Self>,
    ) {
        let result = <Self as Handler<Append>>::handle(self, append, ctx);
        ctx.spawn(actix::fut::wrap_future(async move {
            let _ = reply.send(result.await);
        }));
    }
}

impl Handler<Append> for PartitionActor {
    type Result = ResponseFuture<Result<Appended, PartitionError>>;

    fn handle(&mut self, msg: Append, ctx: &mut Context<Self>) -> Self::Result {
        let Some(log) = self.log.as_mut() else {
            return Box::pin(async { Err(PartitionError::Closed) });
        };
        // An idempotent producer's batch: a duplicate is answered with its original
        // offsets and not written again; a gap or an old epoch is refused. A batch
        // without a sequence (a marker, a transactional offset commit) only has its
        // epoch checked.
        let header = RecordBatch::parse(&msg.batch).ok();
        let identity = header.as_ref().and_then(BatchIdentity::of);
        if let Some(h) = header
            .as_ref()
            .filter(|h| identity.is_none() && h.producer_id() >= 0)
        {
            if let Err(e) = self
                .producers
                .check_epoch(h.producer_id(), h.producer_epoch())
            {
                return Box::pin(async move { Err(PartitionError::from(e)) });
            }
        }
        if let Some(id) = &identity {
            match self.producers.check(id) {
                Ok(None) => {}
                Ok(Some(dup)) => {
                    let info = Appended {
                        base_offset: dup.first_offset,
                        last_offset: dup.last_offset,
                        log_append_time_ms: -1,
                        log_start_offset: log.log_start_offset(),
                    };
                    tracing::debug!(partition = %self.name, producer_id = id.producer_id, "duplicate batch acknowledged");
                    return Box::pin(async move { Ok(info) });
                }
                Err(e) => return Box::pin(async move { Err(PartitionError::from(e)) }),
            }
        }
        let result = log.append(&msg.batch, now_ms());
        let info = match result {
            Ok(info) => info,
            Err(storage::Error::SegmentNotPrepared) => return self.prepare_then_append(msg, ctx),
            Err(e @ storage::Error::Io { .. }) | Err(e @ storage::Error::Corrupt { .. }) => {
                let err = PartitionError::Storage(e.to_string());
                self.fail(ctx, &e);
                return Box::pin(async move { Err(err) });
            }
            Err(e) => return Box::pin(async move { Err(storage_error(e)) }),
        };
        let info = Appended {
            base_offset: info.base_offset,
            last_offset: info.last_offset,
            log_append_time_ms: info.log_append_time_ms,
            log_start_offset: log.log_start_offset(),
        };
        if let Some(h) = &header {
            let timestamp = if info.log_append_time_ms >= 0 {
                info.log_append_time_ms
            } else {
                h.max_timestamp()
            };
            self.apply_to_producers(h, info.base_offset, timestamp);
        }
        self.on_roll();
        self.flush_if_due();
        self.prepare_next_segment(ctx);
        self.fill_ahead(ctx);
        self.publish_offsets();
        self.wake_waiters();
        match (msg.wait_for_fsync, &self.flush) {
            (true, Some(flush)) => {
                let flush = flush.clone();
                let upto = info.last_offset + 1;
                Box::pin(async move {
                    match tokio::task::spawn_blocking(move || flush.flush_up_to(upto)).await {
                        Ok(Ok(_)) => Ok(info),
                        Ok(Err(e)) => Err(PartitionError::Storage(e.to_string())),
                        Err(e) => Err(PartitionError::Storage(e.to_string())),
                    }
                })
            }
            _ => Box::pin(async move { Ok(info) }),
        }
    }
}

impl Handler<Fetch> for PartitionActor {
    type Result = ResponseFuture<Result<FetchData, PartitionError>>;

    fn handle(&mut self, msg: Fetch, ctx: &mut Context<Self>) -> Self::Result {
        let data = self.read(msg.offset, msg.max_bytes, msg.isolation);
        match (data, msg.wait) {
            (Ok(d), Some(wait)) if d.records.is_empty() && !wait.is_zero() => {
                let (tx, rx) = oneshot::channel();
                self.waiters.park(Waiter {
                    offset: msg.offset,
                    max_bytes: msg.max_bytes,
                    isolation: msg.isolation,
                    deadline: Instant::now() + wait,
                    reply: tx,
                });
                // A timer only while fetches wait: an idle partition costs no wakeups.
                self.arm_waiter_timer(ctx);
                Box::pin(async move { rx.await.unwrap_or(Err(PartitionError::Closed)) })
            }
            (res, _) => Box::pin(async move { res }),
        }
    }
}

impl Handler<ListOffset> for PartitionActor {
    type Result = Result<(i64, i64), PartitionError>;

    fn handle(&mut self, msg: ListOffset, _: &mut Context<Self>) -> Self::Result {
        let log = self.log.as_ref().ok_or(PartitionError::Closed)?;
        // Kafka answers a timestamp lookup only below what the isolation level may
        // read (the LSO for read_committed).
        let end = self.readable_end(msg.isolation);
        let found = |t: Option<storage::TimestampOffset>| {
            t.filter(|t| t.offset < end)
                .map_or((-1, -1), |t| (t.timestamp, t.offset))
        };
        Ok(match msg.timestamp {
            LATEST_TIMESTAMP => (-1, end),
            // Without tiered storage the local log starts where the log does.
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => (-1, log.log_start_offset()),
            // Nothing is tiered: Kafka answers -1, -1 (KIP-1005).
            LATEST_TIERED_TIMESTAMP => (-1, -1),
            MAX_TIMESTAMP => found(log.max_timestamp().map_err(storage_error)?),
            ts => found(log.offset_for_timestamp(ts).map_err(storage_error)?),
        })
    }
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
        for w in self.waiters.drain() {
            let _ = w.reply.send(Err(PartitionError::Closed));
        }
        ctx.stop();
        let Some(log) = self.log.take() else {
            return Box::pin(async { Ok(()) });
        };
        let snapshot = (!msg.delete && !self.producers.is_empty()).then(|| {
            let offset = log.log_end_offset();
            (offset, self.producers.snapshot(offset))
        });
        let dir = self.dir.clone();
        let work = move || -> Result<(), storage::Error> {
            if let Some((offset, bytes)) = snapshot {
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

impl Handler<InjectFailure> for PartitionActor {
    type Result = ();

    fn handle(&mut self, _: InjectFailure, ctx: &mut Context<Self>) {
        tracing::warn!(partition = %self.name, "injected failure");
        ctx.stop();
    }
}

type PreparedResult =
    Result<Result<storage::PreparedSegment, storage::Error>, tokio::task::JoinError>;

/// Makes a segment's files on the blocking pool.
fn prepare_segment(
    preparer: storage::SegmentPreparer,
) -> impl std::future::Future<Output = PreparedResult> {
    tokio::task::spawn_blocking(move || preparer.prepare())
}

/// Opens a partition's log. Blocking (it creates, maps and may scan files): call it off
/// the arbiters.
pub fn open_log(dir: PathBuf, config: LogConfig) -> Result<OpenLog, storage::Error> {
    let mut log = Log::open(dir, config, now_ms())?;
    log.prepare_segments_elsewhere();
    let producers = producer_state::rebuild(&mut log)?;
    log.set_first_unstable_offset(producers.first_unstable_offset());
    Ok(OpenLog { log, producers })
}

/// Starts the actor that owns `log`, supervised, on `arbiter`.
pub fn start(
    arbiter: &ArbiterHandle,
    name: String,
    log: OpenLog,
    retention_check: Duration,
) -> (Addr<PartitionActor>, watch::Receiver<PartitionOffsets>) {
    let (actor, rx) = PartitionActor::new(name, log, retention_check);
    let addr = Supervisor::start_in_arbiter(arbiter, move |_| actor);
    (addr, rx)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::protocol::records::{RecordBatchBuilder, RecordSpec};

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
            Duration::from_secs(60),
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
                wait: None,
                isolation: IsolationLevel::ReadUncommitted,
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
                wait: None,
                isolation: IsolationLevel::ReadUncommitted,
            })
            .await
            .expect("mailbox");
        assert!(matches!(err, Err(PartitionError::OffsetOutOfRange { .. })));
    }

    #[actix::test]
    async fn a_waiting_fetch_is_woken_by_an_append() {
        let dir = tempfile::tempdir().expect("tmp");
        let (p, _) = start_partition(dir.path());
        let waiting = p.send(Fetch {
            offset: 0,
            max_bytes: 1 << 20,
            wait: Some(Duration::from_secs(30)),
            isolation: IsolationLevel::ReadUncommitted,
        });
        let started = Instant::now();
        let appender = p.clone();
        actix_rt::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            appender
                .send(Append {
                    batch: batch(1),
                    wait_for_fsync: false,
                })
                .await
                .expect("mailbox")
                .expect("append");
        });
        let data = waiting.await.expect("mailbox").expect("fetch");
        assert!(!data.records.is_empty(), "woken with the appended batch");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "woken by the append, not by the wait running out"
        );
    }

    #[actix::test]
    async fn each_parked_fetch_is_answered_at_its_own_deadline_under_one_timer() {
        let dir = tempfile::tempdir().expect("tmp");
        let (p, _) = start_partition(dir.path());
        let park = |wait: Duration| {
            p.send(Fetch {
                offset: 0,
                max_bytes: 100,
                wait: Some(wait),
                isolation: IsolationLevel::ReadUncommitted,
            })
        };
        // A long wait arms the timer first; a shorter one parked after it must not be
        // held back to the long one's deadline.
        let long = park(Duration::from_secs(30));
        let started = Instant::now();
        let short = park(Duration::from_millis(100))
            .await
            .expect("mailbox")
            .expect("fetch");
        assert!(short.records.is_empty());
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "answered at its own deadline ({:?})",
            started.elapsed()
        );
        let shorter_still = park(Duration::from_millis(50));
        shorter_still.await.expect("mailbox").expect("fetch");
        // The long one is still parked and is answered by data.
        p.send(Append {
            batch: batch(1),
            wait_for_fsync: false,
        })
        .await
        .expect("mailbox")
        .expect("append");
        let data = long.await.expect("mailbox").expect("fetch");
        assert!(!data.records.is_empty());
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[actix::test]
    async fn a_waiting_fetch_with_no_data_returns_empty_when_its_wait_ends() {
        let dir = tempfile::tempdir().expect("tmp");
        let (p, _) = start_partition(dir.path());
        let data = p
            .send(Fetch {
                offset: 0,
                max_bytes: 100,
                wait: Some(Duration::from_millis(50)),
                isolation: IsolationLevel::ReadUncommitted,
            })
            .await
            .expect("mailbox")
            .expect("fetch");
        assert!(data.records.is_empty());
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
