//! The `BrokerActor`'s group registry: a `GroupCoordinatorActor` per group, started on
//! demand; the internal `__consumer_offsets` topic, created with the first group; and
//! every group rebuilt from that topic when the broker starts.

use super::{AdminError, BrokerActor};
use crate::actors::group_coordinator::{CompleteTxn, GroupCoordinatorActor};
use crate::actors::partition::{replicated, PartitionActor, PartitionError, WriteTxnMarker};
use crate::group::consumer::{Assignor, ConsumerGroupConfig};
use crate::group::{Group, GroupConfig, GroupRecord, MigrationPolicy};
use crate::protocol::records::control;
use crate::storage::Log;
use actix::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// Kafka's name for the internal offsets topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The coordinator of a group, started if the group is new.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Addr<GroupCoordinatorActor>, AdminError>")]
pub struct GetGroupCoordinator(pub String);

/// A coordinator whose group died (deleted, or its offsets expired) stopped: forget it,
/// unless the group already has a newer one.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ForgetGroupCoordinator {
    pub group_id: String,
    pub addr: Addr<GroupCoordinatorActor>,
}

impl Handler<ForgetGroupCoordinator> for BrokerActor {
    type Result = ();

    fn handle(&mut self, msg: ForgetGroupCoordinator, _: &mut Context<Self>) {
        self.groups.remove_if(&msg.group_id, &msg.addr);
        tracing::debug!(group_id = %msg.group_id, "group coordinator removed");
    }
}

/// Kafka's `String.hashCode`, so a group or a transactional id lands on the same
/// internal-topic partition as in Kafka.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Kafka's `Utils.abs(key.hashCode) % partitions`: the `__consumer_offsets` partition of
/// a group, the `__transaction_state` partition of a transactional id.
pub fn partition_for_key(key: &str, partitions: usize) -> usize {
    let h = java_string_hash(key);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs as usize % partitions.max(1)
}

impl BrokerActor {
    pub(super) fn group_config(&self) -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: u64::from(self.config.group_initial_rebalance_delay_ms),
            min_session_timeout_ms: u64::from(self.config.group_min_session_timeout_ms),
            max_session_timeout_ms: u64::from(self.config.group_max_session_timeout_ms),
            offsets_retention_ms: u64::from(self.config.offsets_retention_minutes) * 60_000,
            empty_group_removal_ms: self.config.offsets_retention_check_interval_ms,
            consumer: ConsumerGroupConfig {
                session_timeout_ms: u64::from(self.config.group_consumer_session_timeout_ms),
                heartbeat_interval_ms: u64::from(self.config.group_consumer_heartbeat_interval_ms),
                assignors: self
                    .config
                    .group_consumer_assignors
                    .iter()
                    .filter_map(|name| Assignor::from_name(name))
                    .collect(),
                max_size: self.config.group_consumer_max_size as usize,
            },
            migration_policy: MigrationPolicy::from_name(
                &self.config.group_consumer_migration_policy,
            )
            .unwrap_or_default(),
            ..GroupConfig::default()
        }
    }

    fn start_group(
        &mut self,
        ctx: &Context<Self>,
        mut group: Group,
    ) -> Result<Addr<GroupCoordinatorActor>, AdminError> {
        group.set_config(self.group_config_for(group.group_id()));
        let log = self.internal_log(
            OFFSETS_TOPIC,
            self.config.offsets_topic_num_partitions,
            self.config.offsets_topic_segment_bytes,
            group.group_id(),
        )?;
        let id = group.group_id().to_string();
        let wait_for_fsync = self.config.log_flush_before_ack;
        let arbiter = self.next_arbiter();
        let broker = ctx.address();
        let metrics = self.metrics.clone();
        let addr = GroupCoordinatorActor::start_in_arbiter(&arbiter, move |_| {
            GroupCoordinatorActor::new(group, log, wait_for_fsync)
                .registered_with(broker)
                .reporting_to(metrics)
        });
        self.groups.insert(id, addr.clone());
        Ok(addr)
    }

    /// Starts the coordinators of the groups replayed while loading.
    pub(super) fn start_replayed_groups(&mut self, ctx: &Context<Self>) {
        for (id, group) in std::mem::take(&mut self.replayed_groups) {
            if group.is_empty_and_unused() {
                continue;
            }
            match self.start_group(ctx, group) {
                Ok(_) => tracing::info!(group_id = %id, "group restored"),
                Err((_, e)) => {
                    tracing::error!(group_id = %id, error = %e, "restoring a group failed")
                }
            }
        }
    }
}

/// A transaction marker was written at `marker_offset` of `__consumer_offsets`
/// partition `partition`: the groups coordinated there commit or drop the offsets the
/// producer's transaction left pending. While the partition loads, the groups its load
/// replays do, if the replay did not read the marker (they are not started yet).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SettleGroups {
    pub partition: i32,
    pub producer_id: i64,
    pub commit: bool,
    pub marker_offset: i64,
}

impl Handler<SettleGroups> for BrokerActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: SettleGroups, _: &mut Context<Self>) -> Self::Result {
        if self
            .loading
            .contains(&(OFFSETS_TOPIC.to_string(), msg.partition))
        {
            self.settled_while_loading
                .entry(msg.partition)
                .or_default()
                .push((msg.marker_offset, msg.producer_id, msg.commit));
            return Box::pin(async {});
        }
        let n = self
            .topics
            .get(OFFSETS_TOPIC)
            .map_or(0, |t| t.partitions.len());
        let settles: Vec<_> = self
            .groups
            .filtered(|g| partition_for_key(g, n) == msg.partition as usize)
            .into_iter()
            .map(|(_, coordinator)| {
                coordinator.send(CompleteTxn {
                    producer_id: msg.producer_id,
                    commit: msg.commit,
                })
            })
            .collect();
        Box::pin(async move {
            futures::future::join_all(settles).await;
        })
    }
}

/// Writes a transaction's marker to a partition led here (answered once every in-sync
/// replica has it); on a `__consumer_offsets` partition, then settles the groups
/// coordinated there. The one way markers are written here, for the local transaction
/// coordinator and for WriteTxnMarkers from another broker's alike.
pub async fn write_marker(
    broker: &Addr<BrokerActor>,
    (topic, partition): (&str, i32),
    leader: &Addr<PartitionActor>,
    marker: WriteTxnMarker,
) -> Result<(), PartitionError> {
    let (producer_id, commit) = (marker.producer_id, marker.commit);
    let written = replicated(leader, marker).await?;
    if topic == OFFSETS_TOPIC {
        let settle = SettleGroups {
            partition,
            producer_id,
            commit,
            marker_offset: written.last_offset,
        };
        broker
            .send(settle)
            .await
            .map_err(|_| PartitionError::Closed)?;
    }
    Ok(())
}

/// The coordinator of a group this broker holds, without starting one: `None` where
/// this broker coordinates the group's partition and knows no such group;
/// NOT_COORDINATOR where another broker does (or the session lapsed),
/// COORDINATOR_LOAD_IN_PROGRESS while the partition loads, as Kafka answers.
#[derive(Message)]
#[rtype(result = "Result<Option<Addr<GroupCoordinatorActor>>, AdminError>")]
pub struct FindGroupCoordinator(pub String);

impl Handler<FindGroupCoordinator> for BrokerActor {
    type Result = Result<Option<Addr<GroupCoordinatorActor>>, AdminError>;

    fn handle(&mut self, msg: FindGroupCoordinator, _: &mut Context<Self>) -> Self::Result {
        self.check_session()?;
        if let Some(addr) = self.groups.get(&msg.0).filter(Addr::connected) {
            return Ok(Some(addr));
        }
        self.internal_log(
            OFFSETS_TOPIC,
            self.config.offsets_topic_num_partitions,
            self.config.offsets_topic_segment_bytes,
            &msg.0,
        )?;
        Ok(None)
    }
}

impl Handler<GetGroupCoordinator> for BrokerActor {
    type Result = Result<Addr<GroupCoordinatorActor>, AdminError>;

    fn handle(&mut self, msg: GetGroupCoordinator, ctx: &mut Context<Self>) -> Self::Result {
        self.check_session()?;
        // A coordinator whose group died may have stopped before its
        // ForgetGroupCoordinator arrives: start a new one then.
        if let Some(addr) = self.groups.get(&msg.0).filter(Addr::connected) {
            return Ok(addr);
        }
        let addr = self.start_group(
            ctx,
            Group::new(msg.0.clone(), self.group_config_for(&msg.0)),
        )?;
        Ok(addr)
    }
}

/// Rebuilds groups from one `__consumer_offsets` partition, in log order. A record that
/// does not decode is logged and skipped. Records in a transaction (TxnOffsetCommit) are
/// held per producer until the partition's commit or abort marker for that producer.
pub(super) fn replay(log: &Log, groups: &mut BTreeMap<String, Group>, config: &GroupConfig) {
    let mut applied = 0usize;
    // The groups of this partition with offsets in a producer's open transaction.
    let mut in_txn: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let walked = log.for_each_batch(log.log_start_offset(), |batch| {
        if let Some(marker) = control::parse_marker(batch) {
            for id in in_txn.remove(&batch.producer_id()).unwrap_or_default() {
                if let Some(group) = groups.get_mut(&id) {
                    group.complete_txn(batch.producer_id(), marker.commit);
                }
            }
            return;
        }
        if batch.is_control() {
            return;
        }
        let txn_producer = batch.is_transactional().then(|| batch.producer_id());
        let records = match batch.records() {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "skipping an unreadable offsets batch");
                return;
            }
        };
        for record in records {
            let decoded = record.map_err(|e| e.to_string()).and_then(|r| {
                GroupRecord::decode(r.key.unwrap_or_default(), r.value).map_err(|e| e.to_string())
            });
            let rec = match decoded {
                Ok(rec) => rec,
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an unreadable offsets record");
                    continue;
                }
            };
            let id = rec.group().to_string();
            let group = groups
                .entry(id.clone())
                .or_insert_with(|| Group::new(id.clone(), config.clone()));
            match (txn_producer, rec) {
                (
                    Some(pid),
                    GroupRecord::Offset {
                        topic,
                        partition,
                        value: Some(value),
                        ..
                    },
                ) => {
                    group.stage_txn_offsets(pid, [((topic, partition), value)]);
                    in_txn.entry(pid).or_default().insert(id);
                }
                (_, rec) => group.replay(&rec),
            }
            applied += 1;
        }
    });
    if let Err(error) = walked {
        tracing::warn!(dir = %log.dir().display(), %error, "reading the offsets log stopped early");
    }
    if applied > 0 {
        tracing::info!(dir = %log.dir().display(), records = applied, "offsets log replayed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_land_on_kafkas_offsets_partition() {
        // Java: "my-group".hashCode() == -1906497762, and abs % 50 == 12.
        assert_eq!(java_string_hash("my-group"), -1_906_497_762);
        assert_eq!(partition_for_key("my-group", 50), 12);
        assert_eq!(partition_for_key("", 50), 0);
    }
}
