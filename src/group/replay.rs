//! Rebuilding a group from the offsets log at startup.

use bytes::Bytes;

use super::api::GroupState;
use super::member::Member;
use super::record::{GroupMetadataValue, GroupRecord};
use super::state::Group;

impl Group {
    /// Applies one record of the offsets log; call in log order. Records of other groups
    /// are ignored. A restored group with members is Stable (Empty without); the members'
    /// session timers start at the first [`Group::tick`] after the replay, so they must
    /// heartbeat again within their session timeout, as after a Kafka coordinator
    /// failover.
    pub fn replay(&mut self, record: &GroupRecord) {
        if record.group() != self.group_id {
            return;
        }
        match record {
            GroupRecord::Offset {
                topic,
                partition,
                value,
                ..
            } => match value {
                Some(v) => {
                    self.offsets.insert((topic.clone(), *partition), v.clone());
                }
                None => {
                    self.offsets.remove(&(topic.clone(), *partition));
                }
            },
            GroupRecord::Consumer { record, .. } => self.replay_consumer(record),
            GroupRecord::Group { value, .. } => match value {
                Some(v) => self.restore(v),
                // The group's metadata is gone; offsets have keys of their own and go
                // with their own tombstones (DeleteGroups writes those first).
                None => {
                    let offsets = std::mem::take(&mut self.offsets);
                    *self = Group::new(self.group_id.clone(), self.config.clone());
                    self.offsets = offsets;
                }
            },
        }
    }

    fn restore(&mut self, v: &GroupMetadataValue) {
        let protocol = v.protocol_name.clone().unwrap_or_default();
        self.protocol_type = v.protocol_type.clone();
        self.generation_id = v.generation_id;
        self.protocol_name = v.protocol_name.clone();
        self.leader_id = v.leader.clone();
        self.state_timestamp_ms = v.state_timestamp_ms;
        self.pending_members.clear();
        self.join_timer = None;
        self.pending_sync.clear();
        self.sync_deadline_ms = None;
        self.members = v
            .members
            .iter()
            .map(|m| {
                let member = Member {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: vec![(protocol.clone(), Bytes::from(m.subscription.clone()))],
                    assignment: Bytes::from(m.assignment.clone()),
                    awaiting_join: None,
                    awaiting_sync: None,
                    is_new: false,
                    session_deadline_ms: None,
                };
                (m.member_id.clone(), member)
            })
            .collect();
        self.state = if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        self.subscribed_topics = self.compute_subscribed_topics();
    }
}
