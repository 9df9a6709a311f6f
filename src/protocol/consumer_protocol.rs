//! The consumer protocol's subscription and assignment (Kafka's `ConsumerProtocol`): the
//! bytes a classic consumer puts in its JoinGroup protocol metadata and gets back as its
//! SyncGroup assignment. Each is an i16 version followed by the body of that version
//! (never flexible). A version newer than Aeon knows is read as the newest it knows,
//! since later versions only add fields at the end, as Kafka reads them.

use bytes::{Buf, Bytes};

use super::codec::{Decode, DecodeError, Encode, EncodeError};
use super::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedTopic,
};
use super::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;

/// The newest version of both Aeon reads and writes.
pub const CONSUMER_PROTOCOL_VERSION: i16 = 3;

fn version(buf: &mut Bytes) -> Result<i16, DecodeError> {
    if buf.remaining() < 2 {
        return Err(DecodeError::Truncated {
            needed: 2,
            remaining: buf.remaining(),
        });
    }
    let v = buf.get_i16();
    if v < 0 {
        return Err(DecodeError::UnsupportedVersion {
            message: "ConsumerProtocol",
            version: v,
        });
    }
    Ok(v.min(CONSUMER_PROTOCOL_VERSION))
}

/// A member's subscription, from its JoinGroup protocol metadata.
pub fn decode_subscription(bytes: &Bytes) -> Result<ConsumerProtocolSubscription, DecodeError> {
    let mut buf = bytes.clone();
    let v = version(&mut buf)?;
    ConsumerProtocolSubscription::decode(&mut buf, v)
}

/// An assignment, from SyncGroup.
pub fn decode_assignment(bytes: &Bytes) -> Result<ConsumerProtocolAssignment, DecodeError> {
    let mut buf = bytes.clone();
    let v = version(&mut buf)?;
    ConsumerProtocolAssignment::decode(&mut buf, v)
}

/// An assignment for SyncGroup at `version` (at most the newest Aeon knows).
pub fn encode_assignment(
    version: i16,
    partitions: impl IntoIterator<Item = (String, Vec<i32>)>,
) -> Result<Bytes, EncodeError> {
    let version = version.clamp(0, CONSUMER_PROTOCOL_VERSION);
    let assignment = ConsumerProtocolAssignment {
        assigned_partitions: partitions
            .into_iter()
            .map(|(topic, partitions)| AssignedTopic { topic, partitions })
            .collect(),
        user_data: None,
    };
    let body = assignment.to_bytes(version)?;
    let mut out = Vec::with_capacity(2 + body.len());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::consumer_protocol_subscription::TopicPartition;

    #[test]
    fn a_subscription_of_every_version_decodes_and_garbage_is_an_error() {
        let sub = ConsumerProtocolSubscription {
            topics: vec!["a".into(), "b".into()],
            user_data: None,
            owned_partitions: vec![TopicPartition {
                topic: "a".into(),
                partitions: vec![0, 2],
            }],
            generation_id: 4,
            rack_id: Some("r1".into()),
        };
        for v in 0..=3i16 {
            let mut bytes = v.to_be_bytes().to_vec();
            bytes.extend_from_slice(&sub.to_bytes(v).expect("encodes"));
            let got = decode_subscription(&Bytes::from(bytes)).expect("decodes");
            assert_eq!(got.topics, sub.topics);
            assert_eq!(got.owned_partitions.is_empty(), v == 0);
        }
        assert!(decode_subscription(&Bytes::from_static(b"\x00")).is_err());
        assert!(decode_subscription(&Bytes::from_static(b"\x00\x00\x7f\xff\xff\xff")).is_err());
        assert!(decode_subscription(&Bytes::from_static(b"\xff\xff")).is_err());
    }

    #[test]
    fn an_assignment_round_trips() {
        let bytes = encode_assignment(1, [("t".to_string(), vec![1, 3])]).expect("encodes");
        let got = decode_assignment(&bytes).expect("decodes");
        assert_eq!(got.assigned_partitions.len(), 1);
        assert_eq!(got.assigned_partitions[0].partitions, vec![1, 3]);
    }
}
