//! The partition as one replica of a cluster (Kafka's `Partition`): a leader tracks
//! its followers' fetch positions, advances the high watermark from the in-sync ones
//! and proposes ISR changes to the metadata quorum (Kafka's AlterPartition); a follower
//! appends its leader's batches unchanged and learns the high watermark from it.
//!
//! A partition outside a cluster (or before its first role) is [`Role::Alone`]: every
//! appended offset is committed at once, as on a single broker.

use super::*;
use crate::cluster::{Cluster, MetadataRecord};
use crate::protocol::records::BatchIter;
use bytes::Bytes;
use std::sync::Arc;
use uuid::Uuid;

/// What the metadata image says this broker is for one partition.
#[derive(Clone)]
pub enum RoleSpec {
    Leader {
        epoch: i32,
        partition_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        /// Where ISR changes are proposed, and what they name.
        cluster: Arc<Cluster>,
        topic_id: Uuid,
        partition: i32,
        /// `replica.lag.time.max.ms`.
        lag_max_ms: i64,
    },
    Follower {
        leader: i32,
        epoch: i32,
    },
}

/// Sets the partition's role (sent by the broker after every image that changes it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetRole {
    pub me: i32,
    pub spec: RoleSpec,
}

/// A follower's append of what its leader's fetch returned: whole batches from its log
/// end offset on (ones it has already are skipped), and the leader's high watermark.
/// Answers the log end offset after it.
#[derive(Message, Clone)]
#[rtype(result = "Result<i64, PartitionError>")]
pub struct AppendReplica {
    pub records: Bytes,
    pub leader_high_watermark: i64,
    /// The leader's log start: this replica's moves up to it (retention and
    /// DeleteRecords on the leader reach its followers, as in Kafka).
    pub leader_log_start: i64,
    /// The leader epoch the fetch was made at: an answer from a leader this replica no
    /// longer follows (a fetch still in flight when the leadership moved) is refused.
    pub leader_epoch: i32,
}

/// OffsetForLeaderEpoch: where `epoch` ends in this log (Kafka's `endOffsetFor`), as
/// the leader at `current_epoch` (-1: unchecked) answers it.
#[derive(Message)]
#[rtype(result = "Result<(i32, i64), PartitionError>")]
pub struct EpochEndOffset {
    pub epoch: i32,
    pub current_epoch: i32,
    /// A follower's look at its own log (no leadership checked).
    pub local: bool,
}

/// The follower's latest epoch and its log end offset, for the truncation check.
#[derive(Message)]
#[rtype(result = "Result<(Option<i32>, i64), PartitionError>")]
pub struct LatestEpoch;

/// Cuts the log at `offset` (a follower whose tail diverged from its leader's); off the
/// arbiter. Answers the new log end offset.
#[derive(Message)]
#[rtype(result = "Result<i64, PartitionError>")]
pub struct TruncateTo {
    pub offset: i64,
    /// Start over, empty, at `offset` (Kafka's `truncateFullyAndStartAt`: this log ends
    /// before the leader's starts) rather than cut the end at it.
    pub start_over: bool,
    /// As in [`AppendReplica`]: refused unless this replica follows at that epoch.
    pub leader_epoch: i32,
}

/// Answers once the high watermark has passed `offset` (every in-sync replica has it):
/// at once on a partition alone, NOT_LEADER (`Closed`) if this replica is or becomes a
/// follower first. The coordinators acknowledge their writes only then, as Kafka's
/// coordinators append with acks=all.
#[derive(Message)]
#[rtype(result = "Result<(), PartitionError>")]
pub struct AwaitReplicated {
    pub offset: i64,
}

/// Appends `append` and answers once every in-sync replica has it (the coordinators'
/// writes to their internal partitions).
pub async fn append_replicated(
    addr: &Addr<PartitionActor>,
    append: Append,
) -> Result<Appended, PartitionError> {
    replicated(addr, append).await
}

/// Sends `write` (an append or a transaction marker) and answers once every in-sync
/// replica has what it wrote.
pub async fn replicated<M>(
    addr: &Addr<PartitionActor>,
    write: M,
) -> Result<Appended, PartitionError>
where
    M: Message<Result = Result<Appended, PartitionError>> + Send + 'static,
    PartitionActor: Handler<M>,
{
    let appended = addr
        .send(write)
        .await
        .unwrap_or(Err(PartitionError::Closed))?;
    addr.send::<AwaitReplicated>(AwaitReplicated {
        offset: appended.last_offset,
    })
    .await
    .unwrap_or(Err(PartitionError::Closed))?;
    Ok(appended)
}

/// Runs `0` on the log, in the actor (the coordinators' loading of an internal
/// partition whose leadership came here).
pub struct WithLog<R>(pub Box<dyn FnOnce(&Log) -> R + Send>);

impl<R: Send + 'static> Message for WithLog<R> {
    type Result = Result<R, PartitionError>;
}

impl<R: Send + 'static> Handler<WithLog<R>> for PartitionActor {
    type Result = Result<R, PartitionError>;

    fn handle(&mut self, msg: WithLog<R>, _: &mut Context<Self>) -> Self::Result {
        let log = self.log.as_ref().ok_or(PartitionError::Closed)?;
        Ok((msg.0)(log))
    }
}

impl Handler<AwaitReplicated> for PartitionActor {
    type Result = ResponseFuture<Result<(), PartitionError>>;

    fn handle(&mut self, msg: AwaitReplicated, _: &mut Context<Self>) -> Self::Result {
        match &self.role {
            Role::Follower { .. } => Box::pin(async { Err(PartitionError::Closed) }),
            _ if self.high_watermark > msg.offset => Box::pin(async { Ok(()) }),
            Role::Alone => Box::pin(async { Ok(()) }),
            Role::Leader(_) => {
                let (tx, rx) = oneshot::channel();
                self.hw_waiters.entry(msg.offset).or_default().push(tx);
                Box::pin(async move { rx.await.unwrap_or(Err(PartitionError::Closed)) })
            }
        }
    }
}

impl PartitionActor {
    /// Answers the waiters the high watermark has passed.
    fn release_waiters(&mut self) {
        while let Some(entry) = self.hw_waiters.first_entry() {
            if *entry.key() >= self.high_watermark {
                break;
            }
            for tx in entry.remove() {
                let _ = tx.send(Ok(()));
            }
        }
    }

    /// The leadership the waiters counted on ended: they are answered NOT_LEADER.
    fn fail_waiters(&mut self) {
        for (_, waiters) in std::mem::take(&mut self.hw_waiters) {
            for tx in waiters {
                let _ = tx.send(Err(PartitionError::Closed));
            }
        }
    }
}

/// A follower as its leader sees it (Kafka's `Replica` state).
#[derive(Debug, Clone, Copy)]
struct FollowerState {
    log_end_offset: i64,
    last_caught_up_ms: i64,
    last_fetch_ms: i64,
    /// The leader's log end offset at that fetch.
    last_fetch_leader_end: i64,
}

pub(super) struct Leadership {
    epoch: i32,
    partition_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    /// An ISR proposed and not yet seen committed: the high watermark waits for the
    /// union of both (Kafka's maximal ISR), so a member being added already holds
    /// everything below it when it counts.
    pending_isr: Option<Vec<i32>>,
    followers: HashMap<i32, FollowerState>,
    cluster: Arc<Cluster>,
    topic_id: Uuid,
    partition: i32,
    lag_max_ms: i64,
}

pub(super) enum Role {
    Alone,
    Leader(Box<Leadership>),
    Follower { leader: i32, epoch: i32 },
}

impl Role {
    /// Whether clients may produce here and read from here.
    pub(super) fn serves_clients(&self) -> bool {
        !matches!(self, Role::Follower { .. })
    }

    /// The in-sync replicas a produce with acks=all is checked against.
    pub(super) fn isr_len(&self) -> usize {
        match self {
            Role::Leader(l) => l.isr.len(),
            _ => 1,
        }
    }
}

impl PartitionActor {
    /// The high watermark after the log or a follower moved: the log end on its own;
    /// on a leader the least log end offset of the maximal ISR, never moving back.
    pub(super) fn advance_high_watermark(&mut self) {
        let Some(log) = &self.log else { return };
        let end = log.log_end_offset();
        let hw = match &self.role {
            Role::Alone => end,
            Role::Follower { .. } => self.high_watermark.min(end),
            Role::Leader(l) => {
                let me = self.me;
                let members = l.isr.iter().chain(l.pending_isr.iter().flatten());
                let least = members
                    .filter(|&&id| id != me)
                    .map(|id| l.followers.get(id).map_or(-1, |f| f.log_end_offset))
                    .fold(end, i64::min);
                self.high_watermark.max(least).min(end)
            }
        };
        self.high_watermark = hw;
        if !self.hw_waiters.is_empty() {
            self.release_waiters();
        }
    }

    /// A replica's fetch at `offset` (its log end offset): its position, the ISR
    /// expansion it may earn, and the high watermark it may move.
    pub(super) fn follower_fetched(
        &mut self,
        replica: i32,
        offset: i64,
        ctx: &mut Context<Self>,
    ) -> Result<(), PartitionError> {
        let end = self.log.as_ref().map_or(0, Log::log_end_offset);
        let hw = self.high_watermark;
        let Role::Leader(l) = &mut self.role else {
            return Err(PartitionError::Closed);
        };
        if !l.replicas.contains(&replica) {
            return Err(PartitionError::Closed);
        }
        let now = now_ms();
        let f = l.followers.entry(replica).or_insert(FollowerState {
            log_end_offset: -1,
            last_caught_up_ms: 0,
            last_fetch_ms: now,
            last_fetch_leader_end: end,
        });
        // Kafka's `updateFetchState`: caught up to the leader's end now, or to where
        // the leader's end was at the previous fetch.
        if offset >= end {
            f.last_caught_up_ms = now;
        } else if offset >= f.last_fetch_leader_end {
            f.last_caught_up_ms = f.last_fetch_ms;
        }
        f.log_end_offset = offset;
        f.last_fetch_ms = now;
        f.last_fetch_leader_end = end;
        // Kafka's `maybeExpandIsr`: a follower out of the ISR rejoins once it has
        // everything below the high watermark and this epoch's start.
        let epoch_start = self
            .log
            .as_ref()
            .and_then(|log| log.epochs().entries().last().map(|e| e.start_offset))
            .unwrap_or(0);
        if !l.isr.contains(&replica)
            && l.pending_isr.is_none()
            && offset >= hw
            && offset >= epoch_start
        {
            let mut isr = l.isr.clone();
            isr.push(replica);
            self.propose_isr(isr, ctx);
        }
        let before = self.high_watermark;
        self.advance_high_watermark();
        if self.high_watermark != before {
            self.publish_offsets();
        }
        Ok(())
    }

    /// Kafka's `maybeShrinkIsr`: followers that have not caught up for
    /// `replica.lag.time.max.ms` leave the ISR.
    pub(super) fn check_isr(&mut self, ctx: &mut Context<Self>) {
        let me = self.me;
        let Role::Leader(l) = &self.role else { return };
        if l.pending_isr.is_some() {
            return;
        }
        let now = now_ms();
        let lagging = |id: &i32| {
            *id != me
                && l.followers
                    .get(id)
                    .is_none_or(|f| now - f.last_caught_up_ms > l.lag_max_ms)
        };
        if !l.isr.iter().any(lagging) {
            return;
        }
        let isr: Vec<i32> = l.isr.iter().copied().filter(|id| !lagging(id)).collect();
        tracing::info!(partition = %self.name, from = ?l.isr, to = ?isr, "shrinking the ISR");
        self.propose_isr(isr, ctx);
    }

    /// Proposes `isr` for this partition at the leader and partition epochs it knows;
    /// it counts once the broker sees it committed (a new [`SetRole`]).
    fn propose_isr(&mut self, isr: Vec<i32>, ctx: &mut Context<Self>) {
        let Role::Leader(l) = &mut self.role else {
            return;
        };
        l.pending_isr = Some(isr.clone());
        let record = MetadataRecord::PartitionChange {
            topic_id: l.topic_id,
            partition: l.partition,
            leader: None,
            isr: Some(isr),
            expect: Some((l.epoch, l.partition_epoch)),
        };
        let cluster = Arc::clone(&l.cluster);
        let epoch = (l.epoch, l.partition_epoch);
        let work = async move { cluster.propose(vec![record]).await };
        ctx.spawn(work.into_actor(self).map(move |res, act, _| {
            if let Err(error) = res {
                tracing::info!(partition = %act.name, %error, "the ISR change was not committed");
            }
            // Committed or not, what the image says next decides; a proposal that
            // failed may be made again.
            if let Role::Leader(l) = &mut act.role {
                if (l.epoch, l.partition_epoch) == epoch {
                    l.pending_isr = None;
                }
            }
        }));
    }

    /// The high watermark's checkpoint to write, for a replicated partition whose high
    /// watermark moved since the last one.
    pub(super) fn high_watermark_checkpoint(&mut self) -> Option<(std::path::PathBuf, String)> {
        if matches!(self.role, Role::Alone) || self.checkpointed_hw == Some(self.high_watermark) {
            return None;
        }
        self.checkpointed_hw = Some(self.high_watermark);
        Some(storage::epochs::high_watermark_checkpoint(
            &self.dir,
            &self.name,
            self.high_watermark,
        ))
    }

    /// Writes the high watermark's checkpoint off the arbiter (every
    /// `log.flush.offset.checkpoint.interval.ms`, and at a clean close).
    pub(super) fn checkpoint_high_watermark(&mut self) {
        let Some((path, text)) = self.high_watermark_checkpoint() else {
            return;
        };
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = storage::write_atomically(&path, text.as_bytes()) {
                tracing::warn!(partition = %name, %error, "writing the high watermark checkpoint failed");
            }
        });
    }

    /// Whether this replica follows a leader at `epoch`.
    fn follows_at(&self, epoch: i32) -> bool {
        matches!(self.role, Role::Follower { epoch: e, .. } if e == epoch)
    }

    /// Writes the epoch checkpoint off the arbiter if the epochs changed.
    pub(super) fn checkpoint_epochs(&mut self) {
        let Some((path, text)) = self.log.as_mut().and_then(Log::epoch_checkpoint_due) else {
            return;
        };
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = storage::write_atomically(&path, text.as_bytes()) {
                tracing::warn!(partition = %name, %error, "writing the leader-epoch checkpoint failed");
            }
        });
    }
}

impl Handler<SetRole> for PartitionActor {
    type Result = ();

    fn handle(&mut self, msg: SetRole, ctx: &mut Context<Self>) {
        self.me = msg.me;
        match msg.spec {
            RoleSpec::Leader {
                epoch,
                partition_epoch,
                replicas,
                isr,
                cluster,
                topic_id,
                partition,
                lag_max_ms,
            } => {
                if let Role::Leader(l) = &mut self.role {
                    if l.epoch == epoch {
                        // The same leadership: a committed ISR or placement change.
                        l.partition_epoch = partition_epoch;
                        l.replicas = replicas;
                        l.isr = isr;
                        l.pending_isr = None;
                        self.advance_high_watermark();
                        self.publish_offsets();
                        return;
                    }
                }
                tracing::info!(partition = %self.name, epoch, ?isr, "leading");
                self.role_term += 1;
                self.fail_waiters();
                if let Some(log) = self.log.as_mut() {
                    log.set_partition_leader_epoch(Some(epoch));
                }
                let now = now_ms();
                // Every follower starts as caught up now: one that does not fetch within
                // the lag limit leaves the ISR.
                let followers = replicas
                    .iter()
                    .filter(|&&id| id != msg.me)
                    .map(|&id| {
                        let state = FollowerState {
                            log_end_offset: -1,
                            last_caught_up_ms: now,
                            last_fetch_ms: now,
                            last_fetch_leader_end: -1,
                        };
                        (id, state)
                    })
                    .collect();
                self.role = Role::Leader(Box::new(Leadership {
                    epoch,
                    partition_epoch,
                    replicas,
                    isr,
                    pending_isr: None,
                    followers,
                    cluster,
                    topic_id,
                    partition,
                    lag_max_ms,
                }));
                if self.isr_timer.is_none() {
                    let every = Duration::from_millis((lag_max_ms / 2).max(10) as u64);
                    self.isr_timer = Some(ctx.run_interval(every, |act, ctx| act.check_isr(ctx)));
                }
            }
            RoleSpec::Follower { leader, epoch } => {
                if let Some(log) = self.log.as_mut() {
                    log.set_partition_leader_epoch(None);
                }
                if !matches!(self.role, Role::Follower { epoch: e, leader: l } if e == epoch && l == leader)
                {
                    tracing::info!(partition = %self.name, leader, epoch, "following");
                    self.role_term += 1;
                    self.fail_waiters();
                }
                self.role = Role::Follower { leader, epoch };
                if let Some(timer) = self.isr_timer.take() {
                    ctx.cancel_future(timer);
                }
            }
        }
        self.checkpoint_epochs();
        self.advance_high_watermark();
        self.publish_offsets();
    }
}

impl Handler<AppendReplica> for PartitionActor {
    type Result = Result<i64, PartitionError>;

    fn handle(&mut self, msg: AppendReplica, ctx: &mut Context<Self>) -> Self::Result {
        if !self.follows_at(msg.leader_epoch) {
            return Err(PartitionError::Closed);
        }
        let now = now_ms();
        let mut appended = false;
        for batch in BatchIter::new(&msg.records) {
            let Some(log) = self.log.as_mut() else {
                return Err(PartitionError::Closed);
            };
            if batch.next_offset() <= log.log_end_offset() {
                continue;
            }
            let bytes = batch.bytes();
            match log.append_replica(bytes, now) {
                Ok(info) => {
                    appended = true;
                    self.apply_to_producers(&batch, info.base_offset, batch.max_timestamp());
                }
                Err(storage::Error::SegmentNotPrepared) => {
                    // The roll's files are made on the blocking pool; the next fetch
                    // continues from here.
                    self.ready_next_segment(ctx, true);
                    break;
                }
                Err(e @ storage::Error::Io { .. }) | Err(e @ storage::Error::Corrupt { .. }) => {
                    let err = PartitionError::Storage(e.to_string());
                    self.fail(ctx, &e);
                    return Err(err);
                }
                Err(e) => return Err(storage_error(e)),
            }
        }
        let Some(log) = self.log.as_mut() else {
            return Err(PartitionError::Closed);
        };
        let end = log.log_end_offset();
        if msg.leader_log_start > log.log_start_offset() && msg.leader_log_start <= end {
            match log.delete_records(msg.leader_log_start) {
                Ok(removed) => delete_off_thread(removed, self.delete_delay()),
                Err(error) => {
                    tracing::warn!(partition = %self.name, %error, "following the leader's log start failed")
                }
            }
        }
        self.high_watermark = msg
            .leader_high_watermark
            .min(end)
            .max(self.high_watermark.min(end));
        if appended {
            self.on_roll();
            self.flush_if_due();
            self.prepare_next_segment(ctx);
            self.fill_ahead(ctx);
            self.checkpoint_epochs();
        }
        self.publish_offsets();
        Ok(end)
    }
}

impl Handler<EpochEndOffset> for PartitionActor {
    type Result = Result<(i32, i64), PartitionError>;

    fn handle(&mut self, msg: EpochEndOffset, _: &mut Context<Self>) -> Self::Result {
        if !msg.local {
            self.check_leader_epoch(msg.current_epoch)?;
        }
        let log = self.log.as_ref().ok_or(PartitionError::Closed)?;
        // A log that never had an epoch (a single broker's) is all one epoch.
        if log.epochs().entries().is_empty() && msg.epoch >= 0 {
            return Ok((msg.epoch, log.log_end_offset()));
        }
        Ok(log.end_offset_for_epoch(msg.epoch))
    }
}

impl PartitionActor {
    /// A request's view of the leader epoch (KIP-320), checked on the leader: older is
    /// FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH; -1 is not checked. Only the
    /// leader (or a partition alone) answers.
    pub(super) fn check_leader_epoch(&self, current_epoch: i32) -> Result<(), PartitionError> {
        let epoch = match &self.role {
            Role::Alone => return Ok(()),
            Role::Leader(l) => l.epoch,
            Role::Follower { .. } => return Err(PartitionError::Closed),
        };
        if current_epoch < 0 {
            return Ok(());
        }
        if current_epoch < epoch {
            return Err(PartitionError::Refused(
                ErrorCode::FencedLeaderEpoch,
                format!("epoch {current_epoch} is older than the leader's {epoch}"),
            ));
        }
        if current_epoch > epoch {
            return Err(PartitionError::Refused(
                ErrorCode::UnknownLeaderEpoch,
                format!("epoch {current_epoch} is newer than the leader's {epoch}"),
            ));
        }
        Ok(())
    }
}

impl Handler<LatestEpoch> for PartitionActor {
    type Result = Result<(Option<i32>, i64), PartitionError>;

    fn handle(&mut self, _: LatestEpoch, _: &mut Context<Self>) -> Self::Result {
        let log = self.log.as_ref().ok_or(PartitionError::Closed)?;
        Ok((log.epochs().latest_epoch(), log.log_end_offset()))
    }
}

impl Handler<TruncateTo> for PartitionActor {
    type Result = ResponseActFuture<Self, Result<i64, PartitionError>>;

    fn handle(&mut self, msg: TruncateTo, _: &mut Context<Self>) -> Self::Result {
        if !self.follows_at(msg.leader_epoch) {
            return Box::pin(actix::fut::ready(Err(PartitionError::Closed)));
        }
        let Some(mut log) = self.log.take() else {
            return Box::pin(actix::fut::ready(Err(PartitionError::Closed)));
        };
        self.flush = None;
        let name = self.name.clone();
        let work = async move {
            tokio::task::spawn_blocking(move || {
                let cut = if msg.start_over {
                    log.truncate_fully_and_start_at(msg.offset, now_ms())
                } else {
                    log.truncate_to(msg.offset, now_ms())
                };
                // The producer state and the open transactions follow the cut log.
                let producers = match &cut {
                    Ok(_) => Some(producer_state::rebuild(&mut log)),
                    Err(_) => None,
                };
                (log, cut, producers)
            })
            .await
        };
        Box::pin(work.into_actor(self).map(move |res, act, ctx| {
            let (log, cut, producers) = match res {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(partition = %name, error = %e, "truncation task failed");
                    ctx.stop();
                    return Err(PartitionError::Storage(e.to_string()));
                }
            };
            act.flush = Some(log.flush_handle());
            act.log = Some(log);
            let removed = cut.map_err(storage_error)?;
            match producers {
                Some(Ok(p)) => {
                    if let Some(log) = act.log.as_mut() {
                        log.set_first_unstable_offset(p.first_unstable_offset());
                    }
                    act.producers = p;
                }
                Some(Err(e)) => {
                    act.fail(ctx, &e);
                    return Err(storage_error(e));
                }
                None => {}
            }
            if !removed.is_empty() {
                delete_off_thread(removed, act.delete_delay());
            }
            let (start, end) = act
                .log
                .as_ref()
                .map_or((0, 0), |l| (l.log_start_offset(), l.log_end_offset()));
            if msg.start_over {
                tracing::info!(partition = %act.name, offset = msg.offset, "started over at the leader's log start");
            } else {
                tracing::info!(partition = %act.name, offset = msg.offset, end, "truncated to the leader's epoch end");
            }
            act.high_watermark = act.high_watermark.min(end).max(start);
            act.checkpoint_epochs();
            act.publish_offsets();
            Ok(end)
        }))
    }
}
