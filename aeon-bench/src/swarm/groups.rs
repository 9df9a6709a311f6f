//! The groups curve's members: N consumer groups of one member each, classic
//! (JoinGroup, SyncGroup, Heartbeat) or consumer protocol (ConsumerGroupHeartbeat,
//! KIP-848), joining at one moment, then committing offsets synchronously.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aeon::protocol::consumer_protocol::{decode_assignment, encode_assignment};
use aeon::protocol::messages::consumer_group_heartbeat_request::{
    ConsumerGroupHeartbeatRequest, TopicPartitions,
};
use aeon::protocol::messages::consumer_group_heartbeat_response::ConsumerGroupHeartbeatResponse;
use aeon::protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use aeon::protocol::messages::heartbeat_request::HeartbeatRequest;
use aeon::protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use aeon::protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use aeon::protocol::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};
use aeon::protocol::{Encode, ErrorCode};
use anyhow::bail;
use bytes::Bytes;
use tokio::sync::watch;

use super::{connect_all, join, runtime};
use crate::wire::{answer, check, Wire};

/// Which group protocol [`groups`] runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Protocol {
    Classic,
    Consumer,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Classic => "classic",
            Protocol::Consumer => "consumer",
        }
    }
}

pub struct GroupsRun {
    /// From the first join to the last member owning its partitions.
    pub assigned: Duration,
    pub commits_per_s: f64,
}

/// The phases members go through together.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Joining,
    Committing,
    Stop,
}

pub struct GroupsPlan<'a> {
    pub bootstrap: &'a str,
    pub topic: &'a str,
    pub partitions: i32,
    pub groups: usize,
    pub protocol: Protocol,
    pub commit_secs: f64,
    pub timeout: Duration,
}

pub fn groups(plan: &GroupsPlan<'_>) -> anyhow::Result<GroupsRun> {
    runtime()?.block_on(async {
        let local = tokio::task::LocalSet::new();
        local.run_until(groups_in(plan)).await
    })
}

async fn groups_in(plan: &GroupsPlan<'_>) -> anyhow::Result<GroupsRun> {
    let wires = connect_all(plan.bootstrap, plan.groups).await?;
    let assigned = Arc::new(AtomicU64::new(0));
    let commits = Arc::new(AtomicU64::new(0));
    let (phase_tx, phase) = watch::channel(Phase::Joining);
    let began = Instant::now();
    let members: Vec<_> = wires
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let member = Member {
                wire: w,
                group: format!("curve-{}-{i}", plan.protocol.name()),
                topic: plan.topic.to_string(),
                partitions: plan.partitions,
                assigned: assigned.clone(),
                commits: commits.clone(),
                phase: phase.clone(),
            };
            let protocol = plan.protocol;
            tokio::task::spawn_local(async move {
                match protocol {
                    Protocol::Classic => member.classic().await,
                    Protocol::Consumer => member.consumer(i).await,
                }
            })
        })
        .collect();
    let n = plan.groups as u64;
    while assigned.load(Ordering::Relaxed) < n && began.elapsed() < plan.timeout {
        if members.iter().any(|m| m.is_finished()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = began.elapsed();
    let all = assigned.load(Ordering::Relaxed);
    let mut commits_per_s = 0.0;
    if all == n {
        phase_tx.send_replace(Phase::Committing);
        let from = commits.load(Ordering::Relaxed);
        let window = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(plan.commit_secs)).await;
        commits_per_s =
            (commits.load(Ordering::Relaxed) - from) as f64 / window.elapsed().as_secs_f64();
    }
    phase_tx.send_replace(Phase::Stop);
    join(members).await?;
    if all < n {
        bail!("{all} of {n} groups assigned within {:?}", plan.timeout);
    }
    Ok(GroupsRun {
        assigned: took,
        commits_per_s,
    })
}

/// One group's only member.
struct Member {
    wire: Wire,
    group: String,
    topic: String,
    partitions: i32,
    assigned: Arc<AtomicU64>,
    commits: Arc<AtomicU64>,
    phase: watch::Receiver<Phase>,
}

/// JoinGroup v5 and SyncGroup v3 (member ids from the broker, KIP-394), Heartbeat v3,
/// OffsetCommit v8; ConsumerGroupHeartbeat v1 and OffsetCommit v9 for the consumer protocol.
const JOIN_VERSION: i16 = 5;
const SYNC_VERSION: i16 = 3;
const HEARTBEAT_VERSION: i16 = 3;
const CLASSIC_COMMIT_VERSION: i16 = 8;
const CONSUMER_HEARTBEAT_VERSION: i16 = 1;
const CONSUMER_COMMIT_VERSION: i16 = 9;

/// One ConsumerGroupHeartbeat and its answer, an error unless the coordinator took it.
async fn consumer_heartbeat(
    wire: &mut Wire,
    heartbeat: &ConsumerGroupHeartbeatRequest,
) -> anyhow::Result<ConsumerGroupHeartbeatResponse> {
    let r = answer!(
        wire.call(CONSUMER_HEARTBEAT_VERSION, heartbeat.clone())
            .await?,
        ConsumerGroupHeartbeat
    )?;
    check(r.error_code, "consumer group heartbeat")?;
    Ok(r)
}

/// A member's heartbeat, in its protocol.
enum Beat {
    Classic(HeartbeatRequest),
    Consumer(ConsumerGroupHeartbeatRequest),
}

impl Beat {
    async fn send(&self, wire: &mut Wire) -> anyhow::Result<()> {
        match self {
            Beat::Classic(h) => {
                let r = answer!(wire.call(HEARTBEAT_VERSION, h.clone()).await?, Heartbeat)?;
                check(r.error_code, "heartbeat")
            }
            Beat::Consumer(h) => consumer_heartbeat(wire, h).await.map(|_| ()),
        }
    }

    /// OffsetCommit v8 for a classic member, v9 (member epochs) for a consumer-protocol one.
    fn commit_version(&self) -> i16 {
        match self {
            Beat::Classic(_) => CLASSIC_COMMIT_VERSION,
            Beat::Consumer(_) => CONSUMER_COMMIT_VERSION,
        }
    }
}

impl Member {
    async fn classic(mut self) -> anyhow::Result<()> {
        let subscription = ConsumerProtocolSubscription {
            topics: vec![self.topic.clone()],
            ..Default::default()
        };
        let mut metadata = 0i16.to_be_bytes().to_vec();
        metadata.extend_from_slice(&subscription.to_bytes(0)?);
        let mut join = JoinGroupRequest {
            group_id: self.group.clone(),
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 60_000,
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: Bytes::from(metadata),
                ..Default::default()
            }],
            ..Default::default()
        };
        let joined = loop {
            let r = answer!(self.wire.call(JOIN_VERSION, join.clone()).await?, JoinGroup)?;
            if r.error_code == ErrorCode::MemberIdRequired.code() {
                join.member_id = r.member_id;
                continue;
            }
            check(r.error_code, "join group")?;
            break r;
        };
        if joined.leader != joined.member_id {
            bail!("{}: the only member is not the leader", self.group);
        }
        let assignment =
            encode_assignment(0, [(self.topic.clone(), (0..self.partitions).collect())])?;
        let sync = SyncGroupRequest {
            group_id: self.group.clone(),
            generation_id: joined.generation_id,
            member_id: joined.member_id.clone(),
            assignments: vec![SyncGroupRequestAssignment {
                member_id: joined.member_id.clone(),
                assignment,
                ..Default::default()
            }],
            ..Default::default()
        };
        let synced = answer!(self.wire.call(SYNC_VERSION, sync).await?, SyncGroup)?;
        check(synced.error_code, "sync group")?;
        let owned: usize = decode_assignment(&synced.assignment)?
            .assigned_partitions
            .iter()
            .map(|t| t.partitions.len())
            .sum();
        if owned != usize::try_from(self.partitions)? {
            bail!("{}: assigned {owned} partitions", self.group);
        }
        self.assigned.fetch_add(1, Ordering::Relaxed);
        let heartbeat = HeartbeatRequest {
            group_id: self.group.clone(),
            generation_id: joined.generation_id,
            member_id: joined.member_id.clone(),
            ..Default::default()
        };
        let (generation, member_id) = (joined.generation_id, joined.member_id);
        let beat = Beat::Classic(heartbeat);
        self.run(Duration::from_secs(3), generation, &member_id, &beat)
            .await
    }

    async fn consumer(mut self, i: usize) -> anyhow::Result<()> {
        let member_id = format!("aeon-bench-member-{i:06}");
        let mut heartbeat = ConsumerGroupHeartbeatRequest {
            group_id: self.group.clone(),
            member_id: member_id.clone(),
            member_epoch: 0,
            rebalance_timeout_ms: 60_000,
            subscribed_topic_names: Some(vec![self.topic.clone()]),
            topic_partitions: Some(vec![]),
            ..Default::default()
        };
        let (epoch, every) = loop {
            let r = consumer_heartbeat(&mut self.wire, &heartbeat).await?;
            let every =
                Duration::from_millis(u64::try_from(r.heartbeat_interval_ms).unwrap_or(5000));
            heartbeat.member_epoch = r.member_epoch;
            heartbeat.subscribed_topic_names = None;
            heartbeat.rebalance_timeout_ms = -1;
            if let Some(assignment) = r.assignment {
                let owned: usize = assignment
                    .topic_partitions
                    .iter()
                    .map(|t| t.partitions.len())
                    .sum();
                heartbeat.topic_partitions = Some(
                    assignment
                        .topic_partitions
                        .into_iter()
                        .map(|t| TopicPartitions {
                            topic_id: t.topic_id,
                            partitions: t.partitions,
                            ..Default::default()
                        })
                        .collect(),
                );
                if owned == usize::try_from(self.partitions)? {
                    // The member acknowledges what it owns, as clients do at once.
                    let r = consumer_heartbeat(&mut self.wire, &heartbeat).await?;
                    heartbeat.topic_partitions = None;
                    break (r.member_epoch, every);
                }
            } else {
                heartbeat.topic_partitions = None;
            }
            tokio::time::sleep(every.min(Duration::from_millis(100))).await;
        };
        self.assigned.fetch_add(1, Ordering::Relaxed);
        heartbeat.member_epoch = epoch;
        let beat = Beat::Consumer(heartbeat);
        self.run(every, epoch, &member_id, &beat).await
    }

    /// Heartbeats every `every` until the commit phase, then commits synchronously
    /// (heartbeating when due) until the stop.
    async fn run(
        &mut self,
        every: Duration,
        generation: i32,
        member_id: &str,
        beat: &Beat,
    ) -> anyhow::Result<()> {
        let mut next_beat = Instant::now() + every;
        let mut offset = 0i64;
        loop {
            let phase = *self.phase.borrow();
            if Instant::now() >= next_beat {
                beat.send(&mut self.wire).await?;
                next_beat = Instant::now() + every;
            }
            match phase {
                Phase::Stop => return Ok(()),
                Phase::Joining => {
                    let wait = next_beat.saturating_duration_since(Instant::now());
                    let _ = tokio::time::timeout(wait, self.phase.changed()).await;
                }
                Phase::Committing => {
                    offset += 1;
                    let commit = OffsetCommitRequest {
                        group_id: self.group.clone(),
                        generation_id_or_member_epoch: generation,
                        member_id: member_id.to_string(),
                        retention_time_ms: -1,
                        topics: vec![OffsetCommitRequestTopic {
                            name: self.topic.clone(),
                            partitions: vec![OffsetCommitRequestPartition {
                                partition_index: 0,
                                committed_offset: offset,
                                committed_leader_epoch: -1,
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    };
                    let r = answer!(
                        self.wire.call(beat.commit_version(), commit).await?,
                        OffsetCommit
                    )?;
                    for p in r.topics.iter().flat_map(|t| &t.partitions) {
                        check(p.error_code, "offset commit")?;
                    }
                    self.commits.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}
