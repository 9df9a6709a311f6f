//! The records of the internal `__consumer_offsets` log.
//!
//! # Format
//!
//! One record per key; the latest record of a key wins and a record without a value is a
//! tombstone, so the log can be compacted by key. Keys and values are JSON (serde_json),
//! not Kafka's binary schemas: Aeon's own tools read them, Kafka's do not.
//!
//! - Offset key: `{"v":1,"type":"offset","group":G,"topic":T,"partition":P}`, value
//!   [`OffsetValue`] (offset, leader epoch, metadata, commit timestamp).
//! - Group key: `{"v":1,"type":"group","group":G}`, value [`GroupMetadataValue`]
//!   (protocol type, generation, protocol, leader, state timestamp, members with their
//!   subscription metadata and assignment; binary fields as arrays of bytes).
//!
//! - Consumer group keys (KIP-848): `{"v":1,"type":"consumergroup","group":G}` (the group
//!   and target epochs, the subscribed topics), `"consumermember"`, `"targetmember"` and
//!   `"currentassignment"` with a `"member"`: one member's subscription, target and
//!   current assignment (see [`ConsumerRecord`]).
//!
//! Field order in keys is fixed by the struct, so equal keys are equal bytes. Replaying the
//! records of one group in log order rebuilds it ([`super::Group::replay`]). A torn or
//! foreign record gives a [`RecordError`], never a panic.

use serde::{Deserialize, Serialize};

use super::consumer::ConsumerRecord;

/// A record of the offsets log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    /// A committed offset; `None` deletes it.
    Offset {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetValue>,
    },
    /// The group's metadata after a rebalance; `None` deletes the group.
    Group {
        group: String,
        value: Option<GroupMetadataValue>,
    },
    /// A consumer group's (KIP-848) epoch, member, target or current assignment.
    Consumer {
        group: String,
        record: ConsumerRecord,
    },
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: u64,
}

/// What a restarted broker needs to restore a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMetadataValue {
    pub protocol_type: Option<String>,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    /// When the group entered its current state (Kafka's `currentStateTimestamp`): offsets
    /// retention of an Empty group counts from here.
    pub state_timestamp_ms: Option<u64>,
    pub members: Vec<MemberValue>,
}

/// One member in a [`GroupMetadataValue`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberValue {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    /// The member's metadata for the chosen protocol.
    pub subscription: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A record that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("bad group record key: {0}")]
    Key(#[source] serde_json::Error),
    #[error("bad group record value: {0}")]
    Value(#[source] serde_json::Error),
    #[error("unsupported group record key version {0}")]
    Version(u16),
}

const KEY_VERSION: u16 = 1;

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Key {
    Offset {
        v: u16,
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        v: u16,
        group: String,
    },
    ConsumerGroup {
        v: u16,
        group: String,
    },
    ConsumerMember {
        v: u16,
        group: String,
        member: String,
    },
    TargetMember {
        v: u16,
        group: String,
        member: String,
    },
    CurrentAssignment {
        v: u16,
        group: String,
        member: String,
    },
}

impl GroupRecord {
    /// The group the record belongs to.
    pub fn group(&self) -> &str {
        match self {
            GroupRecord::Offset { group, .. }
            | GroupRecord::Group { group, .. }
            | GroupRecord::Consumer { group, .. } => group,
        }
    }

    /// The key, JSON: equal keys are equal bytes.
    pub fn key_bytes(&self) -> Vec<u8> {
        let key = match self {
            GroupRecord::Offset {
                group,
                topic,
                partition,
                ..
            } => Key::Offset {
                v: KEY_VERSION,
                group: group.clone(),
                topic: topic.clone(),
                partition: *partition,
            },
            GroupRecord::Group { group, .. } => Key::Group {
                v: KEY_VERSION,
                group: group.clone(),
            },
            GroupRecord::Consumer { group, record } => {
                let (v, group) = (KEY_VERSION, group.clone());
                match record {
                    ConsumerRecord::Metadata(_) => Key::ConsumerGroup { v, group },
                    ConsumerRecord::Member { member, .. } => Key::ConsumerMember {
                        v,
                        group,
                        member: member.clone(),
                    },
                    ConsumerRecord::TargetMember { member, .. } => Key::TargetMember {
                        v,
                        group,
                        member: member.clone(),
                    },
                    ConsumerRecord::Current { member, .. } => Key::CurrentAssignment {
                        v,
                        group,
                        member: member.clone(),
                    },
                }
            }
        };
        // Serializing plain strings and integers cannot fail.
        serde_json::to_vec(&key).unwrap_or_default()
    }

    /// The value, JSON; `None` for a tombstone.
    pub fn value_bytes(&self) -> Option<Vec<u8>> {
        match self {
            GroupRecord::Offset { value, .. } => value
                .as_ref()
                .map(|v| serde_json::to_vec(v).unwrap_or_default()),
            GroupRecord::Group { value, .. } => value
                .as_ref()
                .map(|v| serde_json::to_vec(v).unwrap_or_default()),
            GroupRecord::Consumer { record, .. } => match record {
                ConsumerRecord::Metadata(v) => v.as_ref().map(json),
                ConsumerRecord::Member { value, .. } => value.as_ref().map(json),
                ConsumerRecord::TargetMember { value, .. } => value.as_ref().map(json),
                ConsumerRecord::Current { value, .. } => value.as_ref().map(json),
            },
        }
    }

    /// Decodes a record read back from the log.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<GroupRecord, RecordError> {
        let key: Key = serde_json::from_slice(key).map_err(RecordError::Key)?;
        match key {
            Key::Offset {
                v,
                group,
                topic,
                partition,
            } => {
                check_version(v)?;
                let value = value
                    .map(serde_json::from_slice::<OffsetValue>)
                    .transpose()
                    .map_err(RecordError::Value)?;
                Ok(GroupRecord::Offset {
                    group,
                    topic,
                    partition,
                    value,
                })
            }
            Key::Group { v, group } => {
                check_version(v)?;
                let value = value
                    .map(serde_json::from_slice::<GroupMetadataValue>)
                    .transpose()
                    .map_err(RecordError::Value)?;
                Ok(GroupRecord::Group { group, value })
            }
            Key::ConsumerGroup { v, group } => {
                check_version(v)?;
                let record = ConsumerRecord::Metadata(parse(value)?);
                Ok(GroupRecord::Consumer { group, record })
            }
            Key::ConsumerMember { v, group, member } => {
                check_version(v)?;
                let value = parse(value)?;
                let record = ConsumerRecord::Member { member, value };
                Ok(GroupRecord::Consumer { group, record })
            }
            Key::TargetMember { v, group, member } => {
                check_version(v)?;
                let value = parse(value)?;
                let record = ConsumerRecord::TargetMember { member, value };
                Ok(GroupRecord::Consumer { group, record })
            }
            Key::CurrentAssignment { v, group, member } => {
                check_version(v)?;
                let value = parse(value)?;
                let record = ConsumerRecord::Current { member, value };
                Ok(GroupRecord::Consumer { group, record })
            }
        }
    }
}

/// A value as JSON; serializing these plain types cannot fail.
fn json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn parse<T: serde::de::DeserializeOwned>(value: Option<&[u8]>) -> Result<Option<T>, RecordError> {
    value
        .map(serde_json::from_slice::<T>)
        .transpose()
        .map_err(RecordError::Value)
}

fn check_version(v: u16) -> Result<(), RecordError> {
    if v == KEY_VERSION {
        Ok(())
    } else {
        Err(RecordError::Version(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: Some("consumer".into()),
            generation_id: 3,
            protocol_name: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp_ms: Some(17),
            members: vec![MemberValue {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                session_timeout_ms: 10_000,
                rebalance_timeout_ms: 30_000,
                subscription: vec![0, 1, 2],
                assignment: vec![9],
            }],
        }
    }

    #[test]
    fn offset_and_group_records_round_trip_through_bytes() {
        let records = [
            GroupRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 2,
                value: Some(OffsetValue {
                    offset: 42,
                    leader_epoch: 1,
                    metadata: Some("m".into()),
                    commit_timestamp_ms: 5,
                }),
            },
            GroupRecord::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 2,
                value: None,
            },
            GroupRecord::Group {
                group: "g".into(),
                value: Some(metadata()),
            },
            GroupRecord::Group {
                group: "g".into(),
                value: None,
            },
        ];
        for record in records {
            let key = record.key_bytes();
            let value = record.value_bytes();
            let decoded = GroupRecord::decode(&key, value.as_deref()).expect("decodes");
            assert_eq!(decoded, record);
        }
    }

    #[test]
    fn tombstone_has_same_key_as_value_record() {
        let a = GroupRecord::Group {
            group: "g".into(),
            value: Some(metadata()),
        };
        let b = GroupRecord::Group {
            group: "g".into(),
            value: None,
        };
        assert_eq!(a.key_bytes(), b.key_bytes());
        assert!(b.value_bytes().is_none());
    }

    #[test]
    fn garbage_bytes_give_a_typed_error() {
        assert!(matches!(
            GroupRecord::decode(b"\xff\x00", None),
            Err(RecordError::Key(_))
        ));
        let key = GroupRecord::Group {
            group: "g".into(),
            value: None,
        }
        .key_bytes();
        assert!(matches!(
            GroupRecord::decode(&key, Some(b"{not json")),
            Err(RecordError::Value(_))
        ));
        assert!(matches!(
            GroupRecord::decode(br#"{"type":"group","v":9,"group":"g"}"#, None),
            Err(RecordError::Version(9))
        ));
    }
}
