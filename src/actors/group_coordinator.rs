//! `GroupCoordinatorActor`: a thin shell around one group's state machine
//! ([`crate::group::Group`]).
//!
//! It turns requests into state-machine calls, keeps the reply channels of parked
//! JoinGroup and SyncGroup requests (by token), runs the machine's timers, and appends
//! what the machine asks to persist to the group's partition of `__consumer_offsets`.
//! An offset commit, and a JoinGroup or SyncGroup whose answer a record backs, is
//! answered once its records are in that log (an error if the store failed). Groups are spread
//! over the worker arbiters, so a slow group never delays another.

use super::broker::{BrokerActor, ForgetGroupCoordinator};
use super::partition::{append_replicated, Append, PartitionActor, PartitionError};
use super::routing::Routing;
use crate::clock::now_ms_u64 as now_ms;
use crate::group::consumer::{ConsumerGroupDescription, HeartbeatRequest, HeartbeatResult};
use crate::group::{
    CommittedOffset, Effect, Group, GroupConfig, GroupDescription, GroupOverview, GroupRecord,
    GroupState, JoinRequest, JoinResult, OffsetCommit, SyncRequest, SyncResult, Token,
};
use crate::metrics::BrokerMetrics;
use crate::protocol::records::{RecordBatchBuilder, RecordSpec};
use crate::protocol::ErrorCode;
use actix::prelude::*;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// JoinGroup; answered when the rebalance it takes part in completes. Carries the
/// routing snapshot for a classic member joining a consumer group.
#[derive(Message)]
#[rtype(result = "JoinResult")]
pub struct JoinGroup(pub JoinRequest, pub Arc<Routing>);

/// SyncGroup; a follower's answer waits for the leader's assignment.
#[derive(Message)]
#[rtype(result = "SyncResult")]
pub struct SyncGroup(pub SyncRequest);

#[derive(Message)]
#[rtype(result = "ErrorCode")]
pub struct Heartbeat {
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
}

/// LeaveGroup: (member id, instance id) pairs; an error per member.
#[derive(Message)]
#[rtype(result = "Vec<ErrorCode>")]
pub struct LeaveGroup(pub Vec<(String, Option<String>)>);

/// OffsetCommit; answered once the offsets are in the offsets log.
#[derive(Message)]
#[rtype(result = "Result<(), ErrorCode>")]
pub struct CommitOffsets {
    /// The OffsetCommit version: members of the consumer protocol must use v9+.
    pub api_version: i16,
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
    pub offsets: Vec<OffsetCommit>,
}

/// TxnOffsetCommit; answered once the offsets are in the offsets log, inside the
/// producer's transaction. They count as committed when the transaction commits.
#[derive(Message)]
#[rtype(result = "Result<(), ErrorCode>")]
pub struct TxnCommitOffsets {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
    pub offsets: Vec<OffsetCommit>,
}

/// A transaction with offsets of this group ended (sent by its transaction
/// coordinator once the markers are written).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CompleteTxn {
    pub producer_id: i64,
    pub commit: bool,
}

/// OffsetFetch; `topics: None` = every committed offset. A fetch by a member of a
/// consumer group (v9+) carries its id and epoch, which must be current.
#[derive(Message)]
#[rtype(result = "Result<Vec<CommittedOffset>, ErrorCode>")]
pub struct FetchOffsets {
    pub topics: Option<Vec<(String, Vec<i32>)>>,
    pub member_id: Option<String>,
    pub member_epoch: i32,
}

/// ConsumerGroupHeartbeat; answered once the records it wrote are stored. Carries the
/// routing snapshot the handler loaded, to read the subscribed topics.
#[derive(Message)]
#[rtype(result = "HeartbeatResult")]
pub struct ConsumerHeartbeat {
    pub request: HeartbeatRequest,
    pub topics: Arc<Routing>,
}

/// The group's settings changed (a GROUP config override).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UpdateGroupConfig(pub GroupConfig);

/// ConsumerGroupDescribe.
#[derive(Message)]
#[rtype(result = "Result<ConsumerGroupDescription, (ErrorCode, String)>")]
pub struct DescribeConsumerGroup;

#[derive(Message)]
#[rtype(result = "Vec<(String, i32, ErrorCode)>")]
pub struct DeleteOffsets(pub Vec<(String, Vec<i32>)>);

#[derive(Message)]
#[rtype(result = "GroupDescription")]
pub struct Describe;

/// The group's state, protocol type and kind, for ListGroups.
#[derive(Message)]
#[rtype(result = "GroupOverview")]
pub struct Overview;

/// This broker no longer leads the group's `__consumer_offsets` partition: the
/// coordinator stops (its group is loaded again where the partition is led now).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Unload;

impl Handler<Unload> for GroupCoordinatorActor {
    type Result = ();

    fn handle(&mut self, _: Unload, ctx: &mut Context<Self>) {
        tracing::info!(group_id = %self.group.group_id(), "group unloaded: its partition is led elsewhere");
        ctx.stop();
    }
}

/// DeleteGroups: only an empty group.
#[derive(Message)]
#[rtype(result = "Result<(), ErrorCode>")]
pub struct DeleteGroup;

enum Parked {
    Join(oneshot::Sender<JoinResult>),
    Sync(oneshot::Sender<SyncResult>),
}

/// A parked request's answer, sent once the records it depends on are stored.
enum Answer {
    Join(oneshot::Sender<JoinResult>, JoinResult),
    Sync(oneshot::Sender<SyncResult>, SyncResult),
}

impl Answer {
    fn send(self, stored: Result<(), ErrorCode>) {
        // A store that failed is the coordinator's error, whatever the answer was.
        let failed = stored.err().map(|_| ErrorCode::CoordinatorNotAvailable);
        match self {
            Answer::Join(tx, result) => {
                let result = match failed {
                    Some(code) => JoinResult::error(&result.member_id, code),
                    None => result,
                };
                let _ = tx.send(result);
            }
            Answer::Sync(tx, result) => {
                let _ = tx.send(failed.map_or(result, SyncResult::error));
            }
        }
    }
}

/// One consumer group.
pub struct GroupCoordinatorActor {
    group: Group,
    parked: HashMap<Token, Parked>,
    next_token: Token,
    /// Stores sent to the offsets log and not yet answered: the coordinator of a dead
    /// group stops only once none is left, so no caller loses the outcome of its store.
    stores_in_flight: usize,
    offsets_log: Addr<PartitionActor>,
    wait_for_fsync: bool,
    timer: Option<SpawnHandle>,
    /// The broker whose registry lists this coordinator: told when the group dies.
    broker: Option<Addr<BrokerActor>>,
    /// Where the group's committed offsets are published for the lag series.
    metrics: Option<Arc<BrokerMetrics>>,
    /// The protocol and state last published to `metrics`.
    published_state: Option<(&'static str, &'static str)>,
}

impl GroupCoordinatorActor {
    pub fn new(group: Group, offsets_log: Addr<PartitionActor>, wait_for_fsync: bool) -> Self {
        GroupCoordinatorActor {
            group,
            parked: HashMap::new(),
            next_token: 0,
            stores_in_flight: 0,
            offsets_log,
            wait_for_fsync,
            timer: None,
            broker: None,
            metrics: None,
            published_state: None,
        }
    }

    /// A coordinator that publishes its group's committed offsets to `metrics` (when
    /// they are on).
    pub fn reporting_to(mut self, metrics: Arc<BrokerMetrics>) -> Self {
        self.metrics = metrics.enabled().then_some(metrics);
        self
    }

    /// Publishes the group's protocol and state when they changed.
    fn publish_state(&mut self) {
        let Some(m) = &self.metrics else {
            return;
        };
        let o = self.group.overview();
        let now = (!o.dead).then_some((o.group_type, o.state));
        if now != self.published_state {
            m.group_states().publish(self.group.group_id(), now);
            self.published_state = now;
        }
    }

    /// Publishes the group's committed offsets (after they may have changed).
    fn publish_offsets(&self) {
        if let Some(m) = &self.metrics {
            let offsets = self
                .group
                .offsets
                .iter()
                .map(|((topic, partition), v)| (topic.clone(), *partition, v.offset))
                .collect();
            m.committed_offsets().publish(
                self.group.group_id(),
                Some(offsets).filter(|o: &Vec<_>| !o.is_empty()),
            );
        }
    }

    /// A coordinator listed in `broker`'s registry: once its group is dead (deleted,
    /// or every offset of an empty group expired) and stored so, it leaves the registry
    /// and stops, so the broker keeps no actor per group that ever existed.
    pub fn registered_with(mut self, broker: Addr<BrokerActor>) -> Self {
        self.broker = Some(broker);
        self
    }

    fn stop_if_dead(&mut self, ctx: &mut Context<Self>) {
        if self.group.state() != GroupState::Dead
            || !self.parked.is_empty()
            || self.stores_in_flight > 0
        {
            return;
        }
        if let Some(broker) = &self.broker {
            broker.do_send(ForgetGroupCoordinator {
                group_id: self.group.group_id().to_string(),
                addr: ctx.address(),
            });
        }
        tracing::info!(group_id = %self.group.group_id(), "group is dead; its coordinator stops");
        ctx.stop();
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        self.next_token
    }

    /// Persists the records among `effects`, then answers the parked requests: a
    /// JoinGroup or SyncGroup is answered only once what backs its answer is stored
    /// (with COORDINATOR_NOT_AVAILABLE if the store failed, as Kafka answers a failed
    /// group-metadata append). Returns, when there were records, the outcome of their
    /// store for callers that answer only once it is known.
    fn apply(
        &mut self,
        ctx: &mut Context<Self>,
        effects: Vec<Effect>,
    ) -> Option<oneshot::Receiver<Result<(), ErrorCode>>> {
        let mut records = Vec::new();
        let mut answers = Vec::new();
        for effect in effects {
            match effect {
                Effect::Join { token, result } => {
                    if let Some(Parked::Join(tx)) = self.parked.remove(&token) {
                        answers.push(Answer::Join(tx, result));
                    }
                }
                Effect::Sync { token, result } => {
                    if let Some(Parked::Sync(tx)) = self.parked.remove(&token) {
                        answers.push(Answer::Sync(tx, result));
                    }
                }
                Effect::Persist(record) => records.push(record),
            }
        }
        if records
            .iter()
            .any(|r| matches!(r, GroupRecord::Offset { .. }))
        {
            self.publish_offsets();
        }
        self.publish_state();
        self.schedule(ctx);
        if records.is_empty() {
            answers.into_iter().for_each(|a| a.send(Ok(())));
            return None;
        }
        let log = self.offsets_log.clone();
        let batch = Append {
            batch: encode_records(&records, None),
            wait_for_fsync: self.wait_for_fsync,
        };
        let append = async move { append_replicated(&log, batch).await };
        let group = self.group.group_id().to_string();
        let (stored_tx, stored_rx) = oneshot::channel();
        self.stores_in_flight += 1;
        ctx.spawn(
            async move {
                let stored = append.await.map(|_| ()).map_err(|e| {
                    tracing::warn!(group_id = %group, error = %e, "persisting group state failed");
                    coordinator_error(&e)
                });
                answers.into_iter().for_each(|a| a.send(stored));
                let _ = stored_tx.send(stored);
            }
            .into_actor(self)
            .map(|(), act, ctx| {
                act.stores_in_flight -= 1;
                act.stop_if_dead(ctx)
            }),
        );
        Some(stored_rx)
    }

    /// Persists in the background: the effects whose caller waits for no store.
    fn apply_and_forget(&mut self, ctx: &mut Context<Self>, effects: Vec<Effect>) {
        let _ = self.apply(ctx, effects);
    }

    /// Runs the state machine's timers at its next deadline.
    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        if let Some(deadline) = self.group.next_deadline() {
            let wait = Duration::from_millis(deadline.saturating_sub(now_ms()));
            self.timer = Some(ctx.run_later(wait, |act, ctx| {
                act.timer = None;
                let effects = act.group.tick(now_ms());
                act.apply_and_forget(ctx, effects);
            }));
        }
    }

    fn park<T: Send + 'static>(
        &mut self,
        ctx: &mut Context<Self>,
        wrap: fn(oneshot::Sender<T>) -> Parked,
        call: impl FnOnce(&mut Group, Token) -> Vec<Effect>,
        closed: T,
    ) -> ResponseFuture<T> {
        let token = self.token();
        let (tx, rx) = oneshot::channel();
        self.parked.insert(token, wrap(tx));
        let effects = call(&mut self.group, token);
        self.apply_and_forget(ctx, effects);
        Box::pin(async move { rx.await.unwrap_or(closed) })
    }
}

/// A failed write to the offsets partition as a coordinator answers it: a partition this
/// broker no longer leads is NOT_COORDINATOR (the client finds the new coordinator), any
/// other failure the partition's own code.
fn coordinator_error(e: &PartitionError) -> ErrorCode {
    match e {
        PartitionError::Closed => ErrorCode::NotCoordinator,
        e => e.code(),
    }
}

/// The records of one persist as one uncompressed batch: key = the record key,
/// value = its value (null for a tombstone). With a producer, the batch is part of its
/// transaction (no sequence, as Kafka writes TxnOffsetCommit records).
fn encode_records(records: &[GroupRecord], txn: Option<(i64, i16)>) -> Bytes {
    let now = now_ms() as i64;
    let mut builder = RecordBatchBuilder::new(0, now);
    if let Some((producer_id, epoch)) = txn {
        builder = builder
            .producer(producer_id, epoch, crate::protocol::records::NO_SEQUENCE)
            .transactional(true);
    }
    for r in records {
        let key = r.key_bytes();
        let value = r.value_bytes();
        builder = builder.record(RecordSpec::new(Some(&key), value.as_deref()));
    }
    Bytes::from(builder.build())
}

impl Actor for GroupCoordinatorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        self.schedule(ctx);
        // A restored group's offsets and state.
        self.publish_offsets();
        self.publish_state();
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(m) = &self.metrics {
            m.committed_offsets().publish(self.group.group_id(), None);
            m.group_states().publish(self.group.group_id(), None);
        }
    }
}

impl Handler<JoinGroup> for GroupCoordinatorActor {
    type Result = ResponseFuture<JoinResult>;

    fn handle(&mut self, msg: JoinGroup, ctx: &mut Context<Self>) -> Self::Result {
        let member_id = msg.0.member_id.clone();
        self.park(
            ctx,
            Parked::Join,
            |g, token| g.join_with_topics(now_ms(), token, msg.0, msg.1.as_ref()),
            JoinResult::error(&member_id, ErrorCode::UnknownServerError),
        )
    }
}

impl Handler<SyncGroup> for GroupCoordinatorActor {
    type Result = ResponseFuture<SyncResult>;

    fn handle(&mut self, msg: SyncGroup, ctx: &mut Context<Self>) -> Self::Result {
        self.park(
            ctx,
            Parked::Sync,
            |g, token| g.sync(now_ms(), token, msg.0),
            SyncResult::error(ErrorCode::UnknownServerError),
        )
    }
}

impl Handler<Heartbeat> for GroupCoordinatorActor {
    type Result = MessageResult<Heartbeat>;

    fn handle(&mut self, msg: Heartbeat, ctx: &mut Context<Self>) -> Self::Result {
        let code = self.group.heartbeat(
            now_ms(),
            &msg.member_id,
            msg.generation_id,
            msg.group_instance_id.as_deref(),
        );
        self.schedule(ctx);
        MessageResult(code)
    }
}

impl Handler<LeaveGroup> for GroupCoordinatorActor {
    type Result = MessageResult<LeaveGroup>;

    fn handle(&mut self, msg: LeaveGroup, ctx: &mut Context<Self>) -> Self::Result {
        let (codes, effects) = self.group.leave(now_ms(), msg.0);
        self.apply_and_forget(ctx, effects);
        MessageResult(codes)
    }
}

impl Handler<CommitOffsets> for GroupCoordinatorActor {
    type Result = ResponseFuture<Result<(), ErrorCode>>;

    fn handle(&mut self, msg: CommitOffsets, ctx: &mut Context<Self>) -> Self::Result {
        if let Err(code) = self
            .group
            .check_offset_commit_version(&msg.member_id, msg.api_version)
        {
            return Box::pin(async move { Err(code) });
        }
        let (result, effects) = self.group.commit_offsets(
            now_ms(),
            &msg.member_id,
            msg.generation_id,
            msg.group_instance_id.as_deref(),
            msg.offsets,
        );
        let stored = self.apply(ctx, effects);
        Box::pin(async move {
            result?;
            match stored {
                Some(stored) => stored
                    .await
                    .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable)),
                None => Ok(()),
            }
        })
    }
}

impl Handler<TxnCommitOffsets> for GroupCoordinatorActor {
    type Result = ResponseActFuture<Self, Result<(), ErrorCode>>;

    fn handle(&mut self, msg: TxnCommitOffsets, _: &mut Context<Self>) -> Self::Result {
        let staged = self.group.txn_offset_records(
            &msg.member_id,
            msg.generation_id,
            msg.group_instance_id.as_deref(),
            &msg.offsets,
            now_ms(),
        );
        let (records, values): (Vec<GroupRecord>, Vec<_>) = match staged {
            Ok(s) => s.into_iter().unzip(),
            Err(e) => return Box::pin(actix::fut::ready(Err(e))),
        };
        let producer_id = msg.producer_id;
        let append = (!records.is_empty()).then(|| Append {
            batch: encode_records(&records, Some((producer_id, msg.producer_epoch))),
            wait_for_fsync: self.wait_for_fsync,
        });
        let log = self.offsets_log.clone();
        let work = async move {
            match append {
                Some(append) => append_replicated(&log, append)
                    .await
                    .map(|_| ())
                    .map_err(|e| coordinator_error(&e)),
                None => Ok(()),
            }
        };
        Box::pin(work.into_actor(self).map(move |result, act, _| {
            if result.is_ok() {
                tracing::debug!(group_id = %act.group.group_id(), producer_id, offsets = ?values.iter().map(|((t, p), v)| (t.as_str(), *p, v.offset)).collect::<Vec<_>>(), "transactional offsets staged");
                act.group.stage_txn_offsets(producer_id, values);
            }
            result
        }))
    }
}

impl Handler<CompleteTxn> for GroupCoordinatorActor {
    type Result = ();

    fn handle(&mut self, msg: CompleteTxn, _: &mut Context<Self>) {
        tracing::debug!(group_id = %self.group.group_id(), producer_id = msg.producer_id, commit = msg.commit, "transaction completed");
        self.group.complete_txn(msg.producer_id, msg.commit);
        self.publish_offsets();
    }
}

impl Handler<FetchOffsets> for GroupCoordinatorActor {
    type Result = MessageResult<FetchOffsets>;

    fn handle(&mut self, msg: FetchOffsets, _: &mut Context<Self>) -> Self::Result {
        let fetched = self
            .group
            .validate_offset_fetch(msg.member_id.as_deref(), msg.member_epoch)
            .map(|()| self.group.fetch_offsets(msg.topics.as_deref()));
        tracing::debug!(group_id = %self.group.group_id(), fetched = ?fetched.as_ref().map(|o| o.iter().map(|c| (c.partition, c.offset, c.pending_txn)).collect::<Vec<_>>()), "offsets fetched");
        MessageResult(fetched)
    }
}

impl Handler<ConsumerHeartbeat> for GroupCoordinatorActor {
    type Result = ResponseFuture<HeartbeatResult>;

    fn handle(&mut self, msg: ConsumerHeartbeat, ctx: &mut Context<Self>) -> Self::Result {
        let (result, effects) =
            self.group
                .consumer_heartbeat(now_ms(), msg.request, msg.topics.as_ref());
        let stored = self.apply(ctx, effects);
        Box::pin(async move {
            let stored = match stored {
                Some(stored) => stored
                    .await
                    .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable)),
                None => Ok(()),
            };
            match stored {
                Ok(()) => result,
                Err(_) => HeartbeatResult::error(
                    ErrorCode::CoordinatorNotAvailable,
                    "The group's records could not be stored.",
                ),
            }
        })
    }
}

impl Handler<UpdateGroupConfig> for GroupCoordinatorActor {
    type Result = ();

    fn handle(&mut self, msg: UpdateGroupConfig, ctx: &mut Context<Self>) {
        self.group.set_config(msg.0);
        self.schedule(ctx);
    }
}

impl Handler<DescribeConsumerGroup> for GroupCoordinatorActor {
    type Result = MessageResult<DescribeConsumerGroup>;

    fn handle(&mut self, _: DescribeConsumerGroup, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.group.consumer_describe())
    }
}

impl Handler<DeleteOffsets> for GroupCoordinatorActor {
    type Result = MessageResult<DeleteOffsets>;

    fn handle(&mut self, msg: DeleteOffsets, ctx: &mut Context<Self>) -> Self::Result {
        let (results, effects) = self.group.delete_offsets(&msg.0);
        self.apply_and_forget(ctx, effects);
        MessageResult(results)
    }
}

impl Handler<Describe> for GroupCoordinatorActor {
    type Result = MessageResult<Describe>;

    fn handle(&mut self, _: Describe, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.group.describe())
    }
}

impl Handler<Overview> for GroupCoordinatorActor {
    type Result = MessageResult<Overview>;

    fn handle(&mut self, _: Overview, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.group.overview())
    }
}

impl Handler<DeleteGroup> for GroupCoordinatorActor {
    type Result = ResponseFuture<Result<(), ErrorCode>>;

    fn handle(&mut self, _: DeleteGroup, ctx: &mut Context<Self>) -> Self::Result {
        let effects = match self.group.delete() {
            Ok(e) => e,
            Err(code) => return Box::pin(async move { Err(code) }),
        };
        let stored = self.apply(ctx, effects);
        Box::pin(async move {
            match stored {
                Some(stored) => stored
                    .await
                    .unwrap_or(Err(ErrorCode::CoordinatorNotAvailable)),
                None => Ok(()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::partition::{open_log, start};
    use crate::group::{GroupConfig, JoinRequest, SyncRequest};
    use crate::storage::LogConfig;

    fn config() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: 0,
            min_session_timeout_ms: 10,
            ..GroupConfig::default()
        }
    }

    fn offsets_log(dir: &std::path::Path) -> Addr<PartitionActor> {
        let log = open_log(
            dir.join("__consumer_offsets-0"),
            LogConfig {
                segment_bytes: 1 << 20,
                ..LogConfig::default()
            },
        )
        .expect("open");
        start(
            &Arbiter::current(),
            "__consumer_offsets-0".into(),
            log,
            crate::actors::partition::Intervals {
                retention_check: Duration::from_secs(60),
                recovery_checkpoint: None,
            },
        )
        .0
    }

    fn coordinator(dir: &std::path::Path, group: Group) -> Addr<GroupCoordinatorActor> {
        GroupCoordinatorActor::new(group, offsets_log(dir), false).start()
    }

    fn join(member_id: &str, instance: Option<&str>, session_ms: i32) -> JoinGroup {
        JoinGroup(
            JoinRequest {
                member_id: member_id.into(),
                group_instance_id: instance.map(str::to_owned),
                protocol_type: "consumer".into(),
                protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
                session_timeout_ms: session_ms,
                rebalance_timeout_ms: 1000,
                client_id: "test".into(),
                client_host: "/127.0.0.1".into(),
                require_known_member_id: true,
                reason: None,
            },
            Arc::default(),
        )
    }

    fn sync(member_id: &str, generation_id: i32, assignments: Vec<(String, Bytes)>) -> SyncGroup {
        SyncGroup(SyncRequest {
            member_id: member_id.into(),
            generation_id,
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments,
        })
    }

    /// Joins with the v4+ two-step join; returns the member id and the join result.
    async fn join_member(g: &Addr<GroupCoordinatorActor>, session_ms: i32) -> JoinResult {
        let first = g.send(join("", None, session_ms)).await.expect("mailbox");
        assert_eq!(first.error, ErrorCode::MemberIdRequired);
        assert!(!first.member_id.is_empty());
        g.send(join(&first.member_id, None, session_ms))
            .await
            .expect("mailbox")
    }

    #[actix::test]
    async fn two_step_join_elects_a_leader_and_sync_delivers_assignments() {
        let dir = tempfile::tempdir().expect("tmp");
        let g = coordinator(dir.path(), Group::new("g".into(), config()));
        let leader = join_member(&g, 10_000).await;
        assert_eq!(leader.error, ErrorCode::None);
        assert_eq!(leader.leader, leader.member_id, "the first member leads");
        assert_eq!(
            leader.members.len(),
            1,
            "the leader sees every member's metadata"
        );
        let assignment = Bytes::from_static(b"partitions 0-5");
        let s = g
            .send(sync(
                &leader.member_id,
                leader.generation_id,
                vec![(leader.member_id.clone(), assignment.clone())],
            ))
            .await
            .expect("mailbox");
        assert_eq!(s.error, ErrorCode::None);
        assert_eq!(s.assignment, assignment);
        assert_eq!(g.send(Describe).await.expect("mailbox").state, "Stable");
    }

    #[actix::test]
    async fn a_sync_is_answered_only_after_its_assignment_is_stored() {
        use crate::actors::partition::Close;
        let dir = tempfile::tempdir().expect("tmp");
        let log = offsets_log(dir.path());
        let g = GroupCoordinatorActor::new(Group::new("g".into(), config()), log.clone(), false)
            .start();
        let leader = join_member(&g, 10_000).await;
        assert_eq!(leader.error, ErrorCode::None);
        // The offsets log goes away: the assignment cannot be stored.
        log.send(Close { delete: false })
            .await
            .expect("mailbox")
            .expect("closed");
        let s = g
            .send(sync(
                &leader.member_id,
                leader.generation_id,
                vec![(leader.member_id.clone(), Bytes::from_static(b"p0"))],
            ))
            .await
            .expect("mailbox");
        assert_eq!(s.error, ErrorCode::CoordinatorNotAvailable);
        assert!(s.assignment.is_empty(), "no assignment that was not stored");
    }

    #[actix::test]
    async fn heartbeats_report_errors_and_sessions_expire() {
        let dir = tempfile::tempdir().expect("tmp");
        let g = coordinator(dir.path(), Group::new("g".into(), config()));
        let m = join_member(&g, 200).await;
        g.send(sync(
            &m.member_id,
            m.generation_id,
            vec![(m.member_id.clone(), Bytes::new())],
        ))
        .await
        .expect("mailbox");
        let hb = |member: &str, generation| Heartbeat {
            member_id: member.into(),
            generation_id: generation,
            group_instance_id: None,
        };
        assert_eq!(
            g.send(hb(&m.member_id, m.generation_id))
                .await
                .expect("mailbox"),
            ErrorCode::None
        );
        assert_eq!(
            g.send(hb(&m.member_id, m.generation_id + 1))
                .await
                .expect("mailbox"),
            ErrorCode::IllegalGeneration
        );
        assert_eq!(
            g.send(hb("stranger", m.generation_id))
                .await
                .expect("mailbox"),
            ErrorCode::UnknownMemberId
        );
        // No heartbeat for longer than the 200 ms session: the member is expired.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            g.send(hb(&m.member_id, m.generation_id))
                .await
                .expect("mailbox"),
            ErrorCode::UnknownMemberId
        );
        assert_eq!(g.send(Describe).await.expect("mailbox").members.len(), 0);
    }

    #[actix::test]
    async fn a_restarted_static_member_gets_its_assignment_back_without_a_rebalance() {
        let dir = tempfile::tempdir().expect("tmp");
        let g = coordinator(dir.path(), Group::new("g".into(), config()));
        let first = g
            .send(join("", Some("instance-1"), 10_000))
            .await
            .expect("mailbox");
        assert_eq!(
            first.error,
            ErrorCode::None,
            "static members skip the two-step join"
        );
        let assignment = Bytes::from_static(b"mine");
        g.send(sync(
            &first.member_id,
            first.generation_id,
            vec![(first.member_id.clone(), assignment.clone())],
        ))
        .await
        .expect("mailbox");
        // The same instance comes back with no member id.
        let again = g
            .send(join("", Some("instance-1"), 10_000))
            .await
            .expect("mailbox");
        assert_eq!(again.error, ErrorCode::None);
        assert_eq!(again.generation_id, first.generation_id, "no rebalance");
        let s = g
            .send(sync(&again.member_id, again.generation_id, Vec::new()))
            .await
            .expect("mailbox");
        assert_eq!(s.assignment, assignment);
        // The old member id is fenced.
        let hb = Heartbeat {
            member_id: first.member_id.clone(),
            generation_id: first.generation_id,
            group_instance_id: Some("instance-1".into()),
        };
        assert_eq!(
            g.send(hb).await.expect("mailbox"),
            ErrorCode::FencedInstanceId
        );
    }

    /// OffsetDelete is answered before its tombstones are stored; a DeleteGroups right
    /// behind it still gets the outcome of its own store, not a coordinator that stopped
    /// when the first store came back and found the group dead.
    #[actix::test]
    async fn a_delete_behind_an_unfinished_store_gets_its_answer() {
        let dir = tempfile::tempdir().expect("tmp");
        let g = coordinator(dir.path(), Group::new("g".into(), config()));
        let offsets = [0, 1, 2]
            .map(|partition| OffsetCommit {
                topic: "t".into(),
                partition,
                offset: 7,
                leader_epoch: -1,
                metadata: None,
            })
            .to_vec();
        g.send(CommitOffsets {
            api_version: 9,
            member_id: String::new(),
            generation_id: -1,
            group_instance_id: None,
            offsets,
        })
        .await
        .expect("mailbox")
        .expect("standalone commit");
        // Both are in the mailbox before either store comes back.
        let (deleted_0, deleted_1, group_deleted) = tokio::join!(
            g.send(DeleteOffsets(vec![("t".into(), vec![0])])),
            g.send(DeleteOffsets(vec![("t".into(), vec![1])])),
            g.send(DeleteGroup)
        );
        for (deleted, partition) in [(deleted_0, 0), (deleted_1, 1)] {
            assert_eq!(
                deleted.expect("mailbox"),
                vec![("t".to_string(), partition, ErrorCode::None)]
            );
        }
        assert_eq!(group_deleted.expect("mailbox"), Ok(()));
        // Once every store is answered, the dead group's coordinator stops.
        for _ in 0..100 {
            if !g.connected() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the coordinator of a deleted group still runs");
    }

    #[actix::test]
    async fn committed_offsets_are_fetched_and_replayed_after_a_restart() {
        let dir = tempfile::tempdir().expect("tmp");
        let log = offsets_log(dir.path());
        let g =
            GroupCoordinatorActor::new(Group::new("g".into(), config()), log.clone(), true).start();
        let commit = CommitOffsets {
            api_version: 9,
            member_id: String::new(),
            generation_id: -1,
            group_instance_id: None,
            offsets: vec![OffsetCommit {
                topic: "t".into(),
                partition: 0,
                offset: 42,
                leader_epoch: -1,
                metadata: Some("m".into()),
            }],
        };
        g.send(commit)
            .await
            .expect("mailbox")
            .expect("standalone commit");
        let fetched = g
            .send(FetchOffsets {
                topics: None,
                member_id: None,
                member_epoch: -1,
            })
            .await
            .expect("mailbox")
            .expect("no member to check");
        assert_eq!(fetched.len(), 1);
        assert_eq!(fetched[0].offset, 42);

        // Replay what the log holds into a fresh group, as the broker does at start.
        log.send(crate::actors::partition::Close { delete: false })
            .await
            .expect("mailbox")
            .expect("close");
        let reopened = open_log(
            dir.path().join("__consumer_offsets-0"),
            LogConfig::default(),
        )
        .expect("reopen");
        let mut group = Group::new("g".into(), config());
        let data = reopened.log.read(0, 1 << 20).expect("read");
        for batch in crate::protocol::records::BatchIter::new(&data) {
            for r in batch.records().expect("records") {
                let r = r.expect("record");
                group.replay(
                    &GroupRecord::decode(r.key.unwrap_or_default(), r.value).expect("decode"),
                );
            }
        }
        let replayed = group.fetch_offsets(None);
        assert_eq!(replayed.len(), 1);
        assert_eq!(
            (replayed[0].offset, replayed[0].metadata.as_deref()),
            (42, Some("m"))
        );
    }
}
