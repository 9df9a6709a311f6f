//! Every handled API at every version it is advertised and decoded at, with real
//! content: topics that exist and that don't, several partitions, records where the API
//! carries them, groups with members and committed offsets, transactional ids with an
//! open transaction. Each request goes through the real handler of a running broker;
//! its response must decode again at the request's version, and the broker must not have
//! failed to encode any response (an empty request hid exactly that defect, in
//! ListOffsets v1-v3, from the empty-request sweep of `connection_test`).
//!
//! Each probe builds what it needs with setup calls at fixed versions (join a group,
//! start a transaction), then sends the API under test at the version under test.

mod common;

use aeon::protocol::messages::*;
use aeon::protocol::records::compression::compress_batch;
use aeon::protocol::records::{Compression, RecordBatchBuilder, RecordSpec};
use aeon::protocol::{ApiKey, Request, Response};
use common::{connect, exchange, TestBroker};
use std::collections::BTreeSet;
use std::net::TcpStream;
use uuid::Uuid;

const TOPIC: &str = "sweep";
const MISSING: &str = "sweep-missing";
const T0: i64 = 1_750_000_000_000;

struct Sweep {
    s: TcpStream,
    correlation_id: i32,
    seen: BTreeSet<(i16, i16)>,
    topic_id: Uuid,
}

impl Sweep {
    fn call(&mut self, version: i16, req: impl Into<Request>) -> Response {
        let req = req.into();
        let api = req.api_key();
        self.correlation_id += 1;
        let (header, response) = exchange(&mut self.s, version, self.correlation_id, req);
        assert_eq!(
            header.correlation_id, self.correlation_id,
            "{api:?} v{version}"
        );
        assert_eq!(response.api_key(), api);
        self.seen.insert((api.code(), version));
        response
    }

    /// Joins `group` as its only member (JoinGroup v5, twice for the member id).
    fn join(&mut self, group: &str) -> (String, i32) {
        let mut member = String::new();
        for _ in 0..2 {
            let Response::JoinGroup(r) = self.call(5, join_request(group, &member, 5)) else {
                unreachable!()
            };
            member = r.member_id.clone();
            if r.error_code == 0 {
                return (r.member_id, r.generation_id);
            }
        }
        panic!("could not join {group}")
    }

    /// Joins and syncs `group`, so it is Stable with one member owning partition 0.
    fn join_sync(&mut self, group: &str) -> (String, i32) {
        let (member, generation) = self.join(group);
        let Response::SyncGroup(r) = self.call(3, sync_request(group, &member, generation, 3))
        else {
            unreachable!()
        };
        assert_eq!(r.error_code, 0, "sync {group}");
        (member, generation)
    }

    /// A transactional producer id for `txn` (InitProducerId v4).
    fn init_txn(&mut self, txn: &str) -> (i64, i16) {
        let req = init_producer_id_request::InitProducerIdRequest {
            transactional_id: Some(txn.into()),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        };
        let Response::InitProducerId(r) = self.call(4, req) else {
            unreachable!()
        };
        assert_eq!(r.error_code, 0, "init {txn}");
        (r.producer_id, r.producer_epoch)
    }

    /// Adds partitions 0 and 1 of the topic to `txn`'s transaction (v3).
    fn add_partitions(&mut self, txn: &str, pid: i64, epoch: i16) {
        let mut req = add_partitions_request(txn, pid, epoch, 3);
        // Only partitions that exist: one unknown partition fails the whole request.
        req.v3_and_below_topics.retain(|t| t.name == TOPIC);
        let Response::AddPartitionsToTxn(r) = self.call(3, req) else {
            unreachable!()
        };
        for p in &r.results_by_topic_v3_and_below[0].results_by_partition {
            assert_eq!(p.partition_error_code, 0, "setup add partitions");
        }
    }

    /// Produces one gzip batch of three records (keys, headers) to each of `partitions`.
    fn produce(&mut self, partitions: &[i32], producer: Option<(&str, i64, i16, i32)>) {
        let req = produce_request::ProduceRequest {
            transactional_id: producer.map(|p| p.0.to_string()),
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![produce_request::TopicProduceData {
                name: TOPIC.into(),
                partition_data: partitions
                    .iter()
                    .map(|&index| produce_request::PartitionProduceData {
                        index,
                        records: Some(records(producer.map(|p| (p.1, p.2, p.3))).into()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let Response::Produce(r) = self.call(9, req) else {
            unreachable!()
        };
        for p in &r.responses[0].partition_responses {
            assert_eq!(p.error_code, 0, "setup produce");
        }
    }

    /// Commits offset 1 of partitions 0 and 1 for `group` outside any generation (v8).
    fn commit(&mut self, group: &str) {
        let req = offset_commit_request(group, "", -1, 8, Uuid::nil());
        self.call(8, req);
    }
}

/// Three records with keys, headers and timestamps a second apart, gzip; transactional
/// when a producer (id, epoch, base sequence) is given.
fn records(producer: Option<(i64, i16, i32)>) -> Vec<u8> {
    let mut b = RecordBatchBuilder::new(0, T0);
    if let Some((id, epoch, sequence)) = producer {
        b = b.producer(id, epoch, sequence).transactional(true);
    }
    for i in 0..3i64 {
        b = b.record(
            RecordSpec::new(Some(format!("k{i}").as_bytes()), Some(b"value"))
                .timestamp(T0 + i * 1000)
                .header("h", Some(b"v")),
        );
    }
    compress_batch(&b.build(), Compression::Gzip).expect("compress")
}

fn join_request(group: &str, member: &str, v: i16) -> join_group_request::JoinGroupRequest {
    join_group_request::JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: 30_000,
        rebalance_timeout_ms: if v >= 1 { 30_000 } else { -1 },
        member_id: member.into(),
        protocol_type: "consumer".into(),
        protocols: vec![
            join_group_request::JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: bytes::Bytes::from_static(&[
                    0, 1, 0, 0, 0, 1, 0, 5, b's', b'w', b'e', b'e', b'p', 0, 0, 0, 0,
                ]),
                ..Default::default()
            },
            join_group_request::JoinGroupRequestProtocol {
                name: "roundrobin".into(),
                metadata: bytes::Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
                ..Default::default()
            },
        ],
        reason: (v >= 8).then(|| "sweep".into()),
        ..Default::default()
    }
}

fn sync_request(
    group: &str,
    member: &str,
    generation: i32,
    v: i16,
) -> sync_group_request::SyncGroupRequest {
    sync_group_request::SyncGroupRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        protocol_type: (v >= 5).then(|| "consumer".into()),
        protocol_name: (v >= 5).then(|| "range".into()),
        assignments: vec![sync_group_request::SyncGroupRequestAssignment {
            member_id: member.into(),
            assignment: bytes::Bytes::from_static(&[
                0, 1, 0, 0, 0, 1, 0, 5, b's', b'w', b'e', b'e', b'p', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
                0, 0,
            ]),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn add_partitions_request(
    txn: &str,
    pid: i64,
    epoch: i16,
    v: i16,
) -> add_partitions_to_txn_request::AddPartitionsToTxnRequest {
    use add_partitions_to_txn_request::*;
    let topics = vec![
        AddPartitionsToTxnTopic {
            name: TOPIC.into(),
            partitions: vec![0, 1],
            ..Default::default()
        },
        AddPartitionsToTxnTopic {
            name: MISSING.into(),
            partitions: vec![0],
            ..Default::default()
        },
    ];
    if v <= 3 {
        AddPartitionsToTxnRequest {
            v3_and_below_transactional_id: txn.into(),
            v3_and_below_producer_id: pid,
            v3_and_below_producer_epoch: epoch,
            v3_and_below_topics: topics,
            ..Default::default()
        }
    } else {
        AddPartitionsToTxnRequest {
            transactions: vec![
                AddPartitionsToTxnTransaction {
                    transactional_id: txn.into(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    topics,
                    ..Default::default()
                },
                AddPartitionsToTxnTransaction {
                    transactional_id: "sweep-unknown-txn".into(),
                    producer_id: 999_999,
                    producer_epoch: 0,
                    topics: vec![AddPartitionsToTxnTopic {
                        name: TOPIC.into(),
                        partitions: vec![2],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }
}

fn offset_commit_request(
    group: &str,
    member: &str,
    generation: i32,
    v: i16,
    topic_id: Uuid,
) -> offset_commit_request::OffsetCommitRequest {
    use offset_commit_request::*;
    let topic = |name: &str, id: Uuid, partitions: &[i32]| OffsetCommitRequestTopic {
        name: if v < 10 { name.into() } else { String::new() },
        topic_id: if v >= 10 { id } else { Uuid::nil() },
        partitions: partitions
            .iter()
            .map(|&partition_index| OffsetCommitRequestPartition {
                partition_index,
                committed_offset: 1,
                committed_leader_epoch: if v >= 6 { 0 } else { -1 },
                committed_metadata: Some("meta".into()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: generation,
        member_id: member.into(),
        retention_time_ms: -1,
        topics: vec![
            topic(TOPIC, topic_id, &[0, 1, 9]),
            topic(MISSING, Uuid::from_u128(7), &[0]),
        ],
        ..Default::default()
    }
}

fn probe(sweep: &mut Sweep, api: ApiKey, v: i16) {
    let tid = sweep.topic_id;
    let name_before = |cutover: i16, name: &str| {
        if v < cutover {
            name.to_string()
        } else {
            String::new()
        }
    };
    match api {
        ApiKey::ApiVersions => {
            sweep.call(
                v,
                api_versions_request::ApiVersionsRequest {
                    client_software_name: if v >= 3 {
                        "sweep".into()
                    } else {
                        String::new()
                    },
                    client_software_version: if v >= 3 { "1.0".into() } else { String::new() },
                    ..Default::default()
                },
            );
        }
        ApiKey::Metadata => {
            use metadata_request::*;
            let topics = [TOPIC, &format!("sweep-meta-v{v}")]
                .iter()
                .map(|n| MetadataRequestTopic {
                    name: Some(n.to_string()),
                    ..Default::default()
                })
                .collect();
            sweep.call(
                v,
                MetadataRequest {
                    topics: Some(topics),
                    allow_auto_topic_creation: v < 4,
                    include_topic_authorized_operations: v >= 8,
                    ..Default::default()
                },
            );
            // All topics (v1+: null), internal ones included by now.
            if v >= 1 {
                sweep.call(v, MetadataRequest::default());
            }
        }
        ApiKey::Produce => {
            use produce_request::*;
            let topic = |name: &str, id: Uuid, partitions: &[i32]| TopicProduceData {
                name: name_before(13, name),
                topic_id: if v >= 13 { id } else { Uuid::nil() },
                partition_data: partitions
                    .iter()
                    .map(|&index| PartitionProduceData {
                        index,
                        records: Some(records(None).into()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            for acks in [1, -1] {
                sweep.call(
                    v,
                    ProduceRequest {
                        acks,
                        timeout_ms: 5_000,
                        topic_data: vec![
                            topic(TOPIC, tid, &[0, 1, 2, 9]),
                            topic(&format!("sweep-produce-v{v}"), Uuid::from_u128(9), &[0]),
                        ],
                        ..Default::default()
                    },
                );
            }
        }
        ApiKey::Fetch => {
            use fetch_request::*;
            let topic = |name: &str, id: Uuid, partitions: &[i32]| FetchTopic {
                topic: name_before(13, name),
                topic_id: if v >= 13 { id } else { Uuid::nil() },
                partitions: partitions
                    .iter()
                    .map(|&partition| FetchPartition {
                        partition,
                        current_leader_epoch: -1,
                        fetch_offset: if partition == 2 { 1_000_000 } else { 0 },
                        last_fetched_epoch: -1,
                        log_start_offset: -1,
                        partition_max_bytes: 1 << 20,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            for isolation_level in [0, 1] {
                sweep.call(
                    v,
                    FetchRequest {
                        replica_id: -1,
                        max_wait_ms: 0,
                        min_bytes: 0,
                        max_bytes: 1 << 20,
                        isolation_level,
                        session_epoch: if v >= 7 { -1 } else { 0 },
                        topics: vec![
                            topic(TOPIC, tid, &[0, 1, 2, 9]),
                            topic(MISSING, Uuid::from_u128(5), &[0]),
                        ],
                        ..Default::default()
                    },
                );
            }
        }
        ApiKey::ListOffsets => {
            use list_offsets_request::*;
            let mut specs = vec![(0, -1), (1, -2), (2, T0 + 500), (9, -1)];
            for (spec, from) in [(-3, 7), (-4, 8), (-5, 9)] {
                if v >= from {
                    specs.push((0, spec));
                }
            }
            for isolation_level in [0, 1] {
                let partitions = specs
                    .iter()
                    .map(|&(partition_index, timestamp)| ListOffsetsPartition {
                        partition_index,
                        current_leader_epoch: -1,
                        timestamp,
                        ..Default::default()
                    })
                    .collect();
                sweep.call(
                    v,
                    ListOffsetsRequest {
                        replica_id: -1,
                        isolation_level: if v >= 2 { isolation_level } else { 0 },
                        topics: vec![
                            ListOffsetsTopic {
                                name: TOPIC.into(),
                                partitions,
                                ..Default::default()
                            },
                            ListOffsetsTopic {
                                name: MISSING.into(),
                                partitions: vec![ListOffsetsPartition {
                                    timestamp: -1,
                                    current_leader_epoch: -1,
                                    ..Default::default()
                                }],
                                ..Default::default()
                            },
                        ],
                        timeout_ms: if v >= 10 { 5_000 } else { 0 },
                        ..Default::default()
                    },
                );
            }
        }
        ApiKey::CreateTopics => {
            use create_topics_request::*;
            let topic = |name: String, partitions: i32, configs: &[(&str, &str)]| CreatableTopic {
                name,
                num_partitions: partitions,
                replication_factor: -1,
                configs: configs
                    .iter()
                    .map(|(k, val)| CreatableTopicConfig {
                        name: k.to_string(),
                        value: Some(val.to_string()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            sweep.call(
                v,
                CreateTopicsRequest {
                    topics: vec![
                        topic(
                            format!("sweep-created-v{v}"),
                            2,
                            &[("retention.ms", "60000")],
                        ),
                        topic(TOPIC.into(), 3, &[]),
                        topic(format!("sweep-bad-v{v}"), 1, &[("no.such.config", "1")]),
                        topic(format!("sweep-bad2-v{v}"), -5, &[]),
                    ],
                    timeout_ms: 5_000,
                    ..Default::default()
                },
            );
        }
        ApiKey::DeleteTopics => {
            let doomed = format!("sweep-doomed-v{v}");
            probe_create(sweep, &doomed, 2);
            use delete_topics_request::*;
            let req = if v >= 6 {
                DeleteTopicsRequest {
                    topics: [doomed.as_str(), MISSING]
                        .iter()
                        .map(|n| DeleteTopicState {
                            name: Some(n.to_string()),
                            ..Default::default()
                        })
                        .collect(),
                    timeout_ms: 5_000,
                    ..Default::default()
                }
            } else {
                DeleteTopicsRequest {
                    topic_names: vec![doomed, MISSING.into()],
                    timeout_ms: 5_000,
                    ..Default::default()
                }
            };
            sweep.call(v, req);
        }
        ApiKey::CreatePartitions => {
            let grown = format!("sweep-grown-v{v}");
            probe_create(sweep, &grown, 1);
            use create_partitions_request::*;
            let topic = |name: &str, count| CreatePartitionsTopic {
                name: name.into(),
                count,
                ..Default::default()
            };
            sweep.call(
                v,
                CreatePartitionsRequest {
                    topics: vec![topic(&grown, 3), topic(TOPIC, 1), topic(MISSING, 4)],
                    timeout_ms: 5_000,
                    ..Default::default()
                },
            );
        }
        ApiKey::DeleteRecords => {
            use delete_records_request::*;
            sweep.call(
                v,
                DeleteRecordsRequest {
                    topics: vec![
                        DeleteRecordsTopic {
                            name: TOPIC.into(),
                            partitions: [(1, 1), (2, 1_000_000), (9, 0)]
                                .iter()
                                .map(|&(partition_index, offset)| DeleteRecordsPartition {
                                    partition_index,
                                    offset,
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        },
                        DeleteRecordsTopic {
                            name: MISSING.into(),
                            partitions: vec![DeleteRecordsPartition::default()],
                            ..Default::default()
                        },
                    ],
                    timeout_ms: 5_000,
                    ..Default::default()
                },
            );
        }
        ApiKey::DescribeConfigs => {
            use describe_configs_request::*;
            let resource =
                |resource_type, name: &str, keys: Option<Vec<String>>| DescribeConfigsResource {
                    resource_type,
                    resource_name: name.into(),
                    configuration_keys: keys,
                    ..Default::default()
                };
            sweep.call(
                v,
                DescribeConfigsRequest {
                    resources: vec![
                        resource(2, TOPIC, None),
                        resource(2, TOPIC, Some(vec!["retention.ms".into(), "nope".into()])),
                        resource(4, "1", None),
                        resource(4, "7", None),
                        resource(2, MISSING, None),
                    ],
                    include_synonyms: v >= 1,
                    include_documentation: v >= 3,
                    ..Default::default()
                },
            );
        }
        ApiKey::AlterConfigs => {
            use alter_configs_request::*;
            let resource =
                |resource_type, name: &str, key: &str, value: &str| AlterConfigsResource {
                    resource_type,
                    resource_name: name.into(),
                    configs: vec![AlterableConfig {
                        name: key.into(),
                        value: Some(value.into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                };
            sweep.call(
                v,
                AlterConfigsRequest {
                    resources: vec![
                        resource(2, TOPIC, "retention.ms", "86400000"),
                        resource(2, MISSING, "retention.ms", "1"),
                        resource(4, "1", "no.such.key", "1"),
                        resource(2, TOPIC, "segment.bytes", "not-a-number"),
                    ],
                    ..Default::default()
                },
            );
        }
        ApiKey::IncrementalAlterConfigs => {
            use incremental_alter_configs_request::*;
            let resource =
                |resource_type, name: &str, key: &str, op, value: &str| AlterConfigsResource {
                    resource_type,
                    resource_name: name.into(),
                    configs: vec![AlterableConfig {
                        name: key.into(),
                        config_operation: op,
                        value: Some(value.into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                };
            sweep.call(
                v,
                IncrementalAlterConfigsRequest {
                    resources: vec![
                        resource(2, TOPIC, "retention.ms", 0, "86400000"),
                        resource(2, TOPIC, "cleanup.policy", 2, "compact"),
                        resource(4, "1", "log.retention.ms", 0, "604800000"),
                        resource(2, MISSING, "retention.ms", 0, "1"),
                    ],
                    ..Default::default()
                },
            );
        }
        ApiKey::DescribeCluster => {
            sweep.call(
                v,
                describe_cluster_request::DescribeClusterRequest {
                    include_cluster_authorized_operations: true,
                    endpoint_type: 1,
                    include_fenced_brokers: v >= 2,
                    ..Default::default()
                },
            );
        }
        ApiKey::OffsetForLeaderEpoch => {
            use offset_for_leader_epoch_request::*;
            let Response::OffsetForLeaderEpoch(r) = sweep.call(
                v,
                OffsetForLeaderEpochRequest {
                    replica_id: -1,
                    topics: vec![
                        OffsetForLeaderTopic {
                            topic: TOPIC.into(),
                            partitions: vec![OffsetForLeaderPartition {
                                partition: 0,
                                current_leader_epoch: 0,
                                leader_epoch: 0,
                                ..Default::default()
                            }],
                            ..Default::default()
                        },
                        OffsetForLeaderTopic {
                            topic: MISSING.into(),
                            partitions: vec![OffsetForLeaderPartition {
                                partition: 0,
                                leader_epoch: 0,
                                ..Default::default()
                            }],
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
            ) else {
                unreachable!()
            };
            // A single broker's log is all one epoch: it ends at the log end.
            let known = &r.topics[0].partitions[0];
            assert_eq!(known.error_code, 0, "v{v}: {known:?}");
            assert_eq!(known.leader_epoch, 0, "v{v}");
            assert!(known.end_offset > 0, "v{v}: {known:?}");
            assert_eq!(
                r.topics[1].partitions[0].error_code, 3,
                "v{v}: unknown topic"
            );
        }
        ApiKey::ElectLeaders => {
            use elect_leaders_request::*;
            let Response::ElectLeaders(r) = sweep.call(
                v,
                ElectLeadersRequest {
                    election_type: 0,
                    topic_partitions: Some(vec![
                        TopicPartitions {
                            topic: TOPIC.into(),
                            partitions: vec![0],
                            ..Default::default()
                        },
                        TopicPartitions {
                            topic: MISSING.into(),
                            partitions: vec![0],
                            ..Default::default()
                        },
                    ]),
                    timeout_ms: 1000,
                    ..Default::default()
                },
            ) else {
                unreachable!()
            };
            // The only replica already leads: ELECTION_NOT_NEEDED; unknown: 3.
            let codes: Vec<i16> = r
                .replica_election_results
                .iter()
                .map(|t| t.partition_result[0].error_code)
                .collect();
            assert_eq!(codes, [84, 3], "v{v}");
        }
        ApiKey::AlterPartitionReassignments => {
            use alter_partition_reassignments_request::*;
            let partition = |replicas: Option<Vec<i32>>| ReassignablePartition {
                partition_index: 0,
                replicas,
                ..Default::default()
            };
            let Response::AlterPartitionReassignments(r) = sweep.call(
                v,
                AlterPartitionReassignmentsRequest {
                    timeout_ms: 1000,
                    allow_replication_factor_change: true,
                    topics: vec![
                        ReassignableTopic {
                            name: TOPIC.into(),
                            partitions: vec![
                                partition(Some(vec![1])),
                                partition(Some(vec![7])),
                                partition(None),
                            ],
                            ..Default::default()
                        },
                        ReassignableTopic {
                            name: MISSING.into(),
                            partitions: vec![partition(Some(vec![1]))],
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
            ) else {
                unreachable!()
            };
            // A single broker: to itself, fine; elsewhere, INVALID_REPLICA_ASSIGNMENT;
            // nothing to cancel, NO_REASSIGNMENT_IN_PROGRESS; unknown topic, 3.
            let codes: Vec<i16> = r
                .responses
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
                .collect();
            assert_eq!(codes, [0, 39, 85, 3], "v{v}: {r:?}");
        }
        ApiKey::ListPartitionReassignments => {
            use list_partition_reassignments_request::*;
            let Response::ListPartitionReassignments(r) = sweep.call(
                v,
                ListPartitionReassignmentsRequest {
                    timeout_ms: 1000,
                    topics: None,
                    ..Default::default()
                },
            ) else {
                unreachable!()
            };
            assert_eq!((r.error_code, r.topics.len()), (0, 0), "v{v}: {r:?}");
        }
        ApiKey::DescribeQuorum => {
            use describe_quorum_request::*;
            sweep.call(
                v,
                DescribeQuorumRequest {
                    topics: vec![TopicData {
                        topic_name: "__cluster_metadata".into(),
                        partitions: vec![PartitionData {
                            partition_index: 0,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            );
        }
        ApiKey::FindCoordinator => {
            use find_coordinator_request::*;
            for key_type in [0i8, 1] {
                if v == 0 && key_type == 1 {
                    continue;
                }
                let req = if v <= 3 {
                    FindCoordinatorRequest {
                        key: "sweep-group".into(),
                        key_type,
                        ..Default::default()
                    }
                } else {
                    FindCoordinatorRequest {
                        key_type,
                        coordinator_keys: vec!["sweep-group".into(), "other".into()],
                        ..Default::default()
                    }
                };
                sweep.call(v, req);
            }
        }
        ApiKey::JoinGroup => {
            let group = format!("sweep-join-v{v}");
            let Response::JoinGroup(r) = sweep.call(v, join_request(&group, "", v)) else {
                unreachable!()
            };
            if r.error_code != 0 {
                // v4+: MEMBER_ID_REQUIRED, then the real join.
                sweep.call(v, join_request(&group, &r.member_id, v));
            }
            // A join of a group with another protocol type.
            let mut other = join_request(&group, "", v);
            other.protocol_type = "connect".into();
            sweep.call(v, other);
        }
        ApiKey::SyncGroup => {
            let group = format!("sweep-sync-v{v}");
            let (member, generation) = sweep.join(&group);
            sweep.call(v, sync_request(&group, &member, generation, v));
            sweep.call(v, sync_request(&group, "stranger", generation, v));
        }
        ApiKey::Heartbeat => {
            let group = format!("sweep-heartbeat-v{v}");
            let (member, generation) = sweep.join_sync(&group);
            for (member, generation) in [(member.as_str(), generation), ("stranger", 99)] {
                sweep.call(
                    v,
                    heartbeat_request::HeartbeatRequest {
                        group_id: group.clone(),
                        generation_id: generation,
                        member_id: member.into(),
                        ..Default::default()
                    },
                );
            }
        }
        ApiKey::LeaveGroup => {
            use leave_group_request::*;
            let group = format!("sweep-leave-v{v}");
            let (member, _) = sweep.join_sync(&group);
            let req = if v <= 2 {
                LeaveGroupRequest {
                    group_id: group,
                    member_id: member,
                    ..Default::default()
                }
            } else {
                LeaveGroupRequest {
                    group_id: group,
                    members: [member.as_str(), "stranger"]
                        .iter()
                        .map(|m| MemberIdentity {
                            member_id: m.to_string(),
                            reason: (v >= 5).then(|| "sweep".into()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }
            };
            sweep.call(v, req);
        }
        ApiKey::OffsetCommit => {
            let group = format!("sweep-commit-v{v}");
            let (member, generation) = sweep.join_sync(&group);
            sweep.call(
                v,
                offset_commit_request(&group, &member, generation, v, tid),
            );
            // Outside any generation, to a group with no members.
            let simple = format!("sweep-commit-simple-v{v}");
            sweep.call(v, offset_commit_request(&simple, "", -1, v, tid));
        }
        ApiKey::OffsetFetch => {
            use offset_fetch_request::*;
            let group = format!("sweep-fetch-v{v}");
            sweep.commit(&group);
            for topics in [true, false] {
                let req = if v <= 7 {
                    OffsetFetchRequest {
                        group_id: group.clone(),
                        // All topics (null) only from v2.
                        topics: (topics || v < 2).then(|| {
                            vec![
                                OffsetFetchRequestTopic {
                                    name: TOPIC.into(),
                                    partition_indexes: vec![0, 1, 2, 9],
                                    ..Default::default()
                                },
                                OffsetFetchRequestTopic {
                                    name: MISSING.into(),
                                    partition_indexes: vec![0],
                                    ..Default::default()
                                },
                            ]
                        }),
                        require_stable: v >= 7,
                        ..Default::default()
                    }
                } else {
                    let group_req = |group_id: &str| OffsetFetchRequestGroup {
                        group_id: group_id.into(),
                        member_epoch: -1,
                        topics: topics.then(|| {
                            vec![OffsetFetchRequestTopics {
                                name: name_before(10, TOPIC),
                                topic_id: if v >= 10 { tid } else { Uuid::nil() },
                                partition_indexes: vec![0, 1, 2, 9],
                                ..Default::default()
                            }]
                        }),
                        ..Default::default()
                    };
                    OffsetFetchRequest {
                        groups: vec![group_req(&group), group_req("sweep-no-such-group")],
                        require_stable: true,
                        ..Default::default()
                    }
                };
                sweep.call(v, req);
            }
        }
        ApiKey::OffsetDelete => {
            use offset_delete_request::*;
            let group = format!("sweep-offset-delete-v{v}");
            sweep.commit(&group);
            let topic = |name: &str, partitions: &[i32]| OffsetDeleteRequestTopic {
                name: name.into(),
                partitions: partitions
                    .iter()
                    .map(|&partition_index| OffsetDeleteRequestPartition { partition_index })
                    .collect(),
            };
            for group in [group.as_str(), "sweep-no-such-group"] {
                sweep.call(
                    v,
                    OffsetDeleteRequest {
                        group_id: group.into(),
                        topics: vec![topic(TOPIC, &[0, 9]), topic(MISSING, &[0])],
                    },
                );
            }
        }
        ApiKey::DescribeGroups => {
            let group = format!("sweep-describe-v{v}");
            sweep.join_sync(&group);
            let empty = format!("sweep-describe-empty-v{v}");
            sweep.commit(&empty);
            sweep.call(
                v,
                describe_groups_request::DescribeGroupsRequest {
                    groups: vec![group, empty, "sweep-no-such-group".into()],
                    include_authorized_operations: v >= 3,
                    ..Default::default()
                },
            );
        }
        ApiKey::ListGroups => {
            let filters = [vec![], vec!["Stable".to_string(), "Empty".to_string()]];
            for states in filters {
                sweep.call(
                    v,
                    list_groups_request::ListGroupsRequest {
                        states_filter: if v >= 4 { states } else { vec![] },
                        types_filter: if v >= 5 {
                            vec!["classic".into()]
                        } else {
                            vec![]
                        },
                        ..Default::default()
                    },
                );
            }
        }
        ApiKey::DeleteGroups => {
            let empty = format!("sweep-delete-v{v}");
            sweep.commit(&empty);
            let live = format!("sweep-delete-live-v{v}");
            sweep.join_sync(&live);
            sweep.call(
                v,
                delete_groups_request::DeleteGroupsRequest {
                    groups_names: vec![empty, live, "sweep-no-such-group".into()],
                    ..Default::default()
                },
            );
        }
        ApiKey::InitProducerId => {
            for transactional_id in [Some(format!("sweep-init-v{v}")), None] {
                sweep.call(
                    v,
                    init_producer_id_request::InitProducerIdRequest {
                        transactional_id,
                        transaction_timeout_ms: 60_000,
                        producer_id: -1,
                        producer_epoch: -1,
                        ..Default::default()
                    },
                );
            }
        }
        ApiKey::AddPartitionsToTxn => {
            let txn = format!("sweep-add-v{v}");
            let (pid, epoch) = sweep.init_txn(&txn);
            sweep.call(v, add_partitions_request(&txn, pid, epoch, v));
            // A stale epoch.
            sweep.call(v, add_partitions_request(&txn, pid, epoch - 1, v));
        }
        ApiKey::AddOffsetsToTxn => {
            let txn = format!("sweep-add-offsets-v{v}");
            let (pid, epoch) = sweep.init_txn(&txn);
            for epoch in [epoch, epoch + 5] {
                sweep.call(
                    v,
                    add_offsets_to_txn_request::AddOffsetsToTxnRequest {
                        transactional_id: txn.clone(),
                        producer_id: pid,
                        producer_epoch: epoch,
                        group_id: "sweep-txn-group".into(),
                        ..Default::default()
                    },
                );
            }
        }
        ApiKey::TxnOffsetCommit => {
            use txn_offset_commit_request::*;
            let txn = format!("sweep-txn-commit-v{v}");
            let (pid, epoch) = sweep.init_txn(&txn);
            let group = format!("sweep-txn-group-v{v}");
            sweep.call(
                3,
                add_offsets_to_txn_request::AddOffsetsToTxnRequest {
                    transactional_id: txn.clone(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    group_id: group.clone(),
                    ..Default::default()
                },
            );
            let topic = |name: &str, partitions: &[i32]| TxnOffsetCommitRequestTopic {
                name: name.into(),
                partitions: partitions
                    .iter()
                    .map(|&partition_index| TxnOffsetCommitRequestPartition {
                        partition_index,
                        committed_offset: 1,
                        committed_leader_epoch: -1,
                        committed_metadata: Some("m".into()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            sweep.call(
                v,
                TxnOffsetCommitRequest {
                    transactional_id: txn,
                    group_id: group,
                    producer_id: pid,
                    producer_epoch: epoch,
                    generation_id_or_member_epoch: -1,
                    topics: vec![topic(TOPIC, &[0, 1, 9]), topic(MISSING, &[0])],
                    ..Default::default()
                },
            );
        }
        ApiKey::EndTxn => {
            for committed in [true, false] {
                let txn = format!("sweep-end-v{v}-{committed}");
                let (pid, epoch) = sweep.init_txn(&txn);
                sweep.add_partitions(&txn, pid, epoch);
                sweep.produce(&[0, 1], Some((&txn, pid, epoch, 0)));
                let end = |epoch| end_txn_request::EndTxnRequest {
                    transactional_id: txn.clone(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    committed,
                    ..Default::default()
                };
                sweep.call(v, end(epoch));
                // Ending it again, and with a stale epoch.
                sweep.call(v, end(epoch));
                sweep.call(v, end(epoch - 1));
            }
        }
        ApiKey::WriteTxnMarkers => {
            // A coordinator's request: the markers of an open transaction on the two
            // partitions it wrote; an unknown partition and topic get 3.
            use write_txn_markers_request::*;
            let txn = format!("sweep-markers-v{v}");
            let (pid, epoch) = sweep.init_txn(&txn);
            sweep.add_partitions(&txn, pid, epoch);
            sweep.produce(&[0, 1], Some((&txn, pid, epoch, 0)));
            let Response::WriteTxnMarkers(r) = sweep.call(
                v,
                WriteTxnMarkersRequest {
                    markers: vec![WritableTxnMarker {
                        producer_id: pid,
                        producer_epoch: epoch,
                        transaction_result: false,
                        coordinator_epoch: 0,
                        topics: vec![
                            WritableTxnMarkerTopic {
                                name: TOPIC.into(),
                                partition_indexes: vec![0, 1, 9],
                                ..Default::default()
                            },
                            WritableTxnMarkerTopic {
                                name: MISSING.into(),
                                partition_indexes: vec![0],
                                ..Default::default()
                            },
                        ],
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            ) else {
                unreachable!()
            };
            let codes: Vec<Vec<i16>> = r.markers[0]
                .topics
                .iter()
                .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
                .collect();
            assert_eq!(codes, vec![vec![0, 0, 3], vec![3]], "v{v}");
        }
        ApiKey::DescribeProducers => {
            use describe_producers_request::*;
            sweep.call(
                v,
                DescribeProducersRequest {
                    topics: vec![
                        TopicRequest {
                            name: TOPIC.into(),
                            partition_indexes: vec![0, 1, 2, 9],
                            ..Default::default()
                        },
                        TopicRequest {
                            name: MISSING.into(),
                            partition_indexes: vec![0],
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                },
            );
        }
        ApiKey::DescribeTransactions => {
            sweep.call(
                v,
                describe_transactions_request::DescribeTransactionsRequest {
                    transactional_ids: vec![
                        "sweep-open".into(),
                        "sweep-end-v0-true".into(),
                        "sweep-no-such-txn".into(),
                    ],
                    ..Default::default()
                },
            );
        }
        ApiKey::ListTransactions => {
            for states in [
                vec![],
                vec!["Ongoing".to_string(), "CompleteCommit".to_string()],
            ] {
                sweep.call(
                    v,
                    list_transactions_request::ListTransactionsRequest {
                        state_filters: states,
                        producer_id_filters: vec![],
                        duration_filter: -1,
                        transactional_id_pattern: (v >= 2).then(|| "sweep-.*".into()),
                        ..Default::default()
                    },
                );
            }
        }
        ApiKey::ConsumerGroupHeartbeat => {
            use consumer_group_heartbeat_request::*;
            let group = format!("sweep-cg-v{v}");
            // v0: the coordinator names the member; v1: the member does (KIP-1082).
            let member = if v >= 1 {
                Uuid::new_v4().to_string()
            } else {
                String::new()
            };
            let Response::ConsumerGroupHeartbeat(joined) = sweep.call(
                v,
                ConsumerGroupHeartbeatRequest {
                    group_id: group.clone(),
                    member_id: member,
                    member_epoch: 0,
                    rebalance_timeout_ms: 30_000,
                    subscribed_topic_names: Some(vec![TOPIC.into(), MISSING.into()]),
                    subscribed_topic_regex: (v >= 1).then(|| "sweep-r.*".into()),
                    server_assignor: Some("uniform".into()),
                    topic_partitions: Some(vec![]),
                    ..Default::default()
                },
            ) else {
                unreachable!()
            };
            assert_eq!(joined.error_code, 0, "join v{v}: {joined:?}");
            let member_id = joined.member_id.clone().unwrap_or_default();
            let owned: Vec<TopicPartitions> = joined
                .assignment
                .iter()
                .flat_map(|a| &a.topic_partitions)
                .map(|t| TopicPartitions {
                    topic_id: t.topic_id,
                    partitions: t.partitions.clone(),
                    ..Default::default()
                })
                .collect();
            assert_eq!(
                owned.iter().map(|t| t.partitions.len()).sum::<usize>(),
                3,
                "the only member gets the 3 partitions"
            );
            let at =
                |epoch: i32, owned: Option<Vec<TopicPartitions>>| ConsumerGroupHeartbeatRequest {
                    group_id: group.clone(),
                    member_id: member_id.clone(),
                    member_epoch: epoch,
                    rebalance_timeout_ms: -1,
                    topic_partitions: owned,
                    ..Default::default()
                };
            // What it owns, every other field null (unchanged); then a fenced epoch;
            // then a leave.
            sweep.call(v, at(joined.member_epoch, Some(owned)));
            sweep.call(v, at(joined.member_epoch + 5, None));
            sweep.call(v, at(-1, None));
        }
        ApiKey::ConsumerGroupDescribe => {
            use consumer_group_heartbeat_request::ConsumerGroupHeartbeatRequest;
            let group = format!("sweep-cgd-v{v}");
            sweep.call(
                1,
                ConsumerGroupHeartbeatRequest {
                    group_id: group.clone(),
                    member_id: Uuid::new_v4().to_string(),
                    member_epoch: 0,
                    rebalance_timeout_ms: 30_000,
                    subscribed_topic_names: Some(vec![TOPIC.into()]),
                    topic_partitions: Some(vec![]),
                    ..Default::default()
                },
            );
            let classic = format!("sweep-cgd-classic-v{v}");
            sweep.join_sync(&classic);
            sweep.call(
                v,
                consumer_group_describe_request::ConsumerGroupDescribeRequest {
                    group_ids: vec![group, classic, "sweep-no-such-group".into()],
                    include_authorized_operations: true,
                    ..Default::default()
                },
            );
        }
        ApiKey::DescribeUserScramCredentials => {
            use describe_user_scram_credentials_request::*;
            sweep.call(v, DescribeUserScramCredentialsRequest::default());
            sweep.call(
                v,
                DescribeUserScramCredentialsRequest {
                    users: Some(vec![UserName {
                        name: "sweep-no-such-user".into(),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
            );
        }
        ApiKey::AlterUserScramCredentials => {
            use alter_user_scram_credentials_request::*;
            sweep.call(
                v,
                AlterUserScramCredentialsRequest {
                    deletions: vec![ScramCredentialDeletion {
                        name: "sweep-no-such-user".into(),
                        mechanism: 1,
                        ..Default::default()
                    }],
                    upsertions: vec![ScramCredentialUpsertion {
                        name: format!("sweep-user-v{v}"),
                        mechanism: 2,
                        iterations: 4096,
                        salt: vec![1u8; 16].into(),
                        salted_password: vec![2u8; 64].into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            );
        }
        // On a PLAINTEXT listener both answer ILLEGAL_SASL_STATE and the connection
        // serves on (tests/security_test.rs covers SASL listeners).
        ApiKey::SaslHandshake => {
            sweep.call(
                v,
                sasl_handshake_request::SaslHandshakeRequest {
                    mechanism: "SCRAM-SHA-512".into(),
                },
            );
        }
        ApiKey::SaslAuthenticate => {
            sweep.call(
                v,
                sasl_authenticate_request::SaslAuthenticateRequest {
                    auth_bytes: bytes::Bytes::from_static(b"n,,n=u,r=x"),
                    ..Default::default()
                },
            );
        }
        ApiKey::CreateAcls => {
            use create_acls_request::*;
            let creation = |name: String, pattern: i8| AclCreation {
                resource_type: 2,
                resource_name: name,
                resource_pattern_type: pattern,
                principal: "User:sweep".into(),
                host: "*".into(),
                operation: 3,
                permission_type: 3,
                ..Default::default()
            };
            sweep.call(
                v,
                CreateAclsRequest {
                    creations: vec![
                        creation(format!("sweep-acl-v{v}"), 3),
                        creation(format!("sweep-prefix-v{v}-"), 4),
                        // Refused: a cluster ACL must name kafka-cluster.
                        AclCreation {
                            resource_type: 4,
                            resource_name: "other".into(),
                            ..creation(String::new(), 3)
                        },
                    ],
                    ..Default::default()
                },
            );
        }
        ApiKey::DescribeAcls => {
            use describe_acls_request::*;
            for (name, pattern) in [(None, 1), (Some(format!("sweep-acl-v{v}")), 2)] {
                sweep.call(
                    v,
                    DescribeAclsRequest {
                        resource_type_filter: 1,
                        resource_name_filter: name,
                        pattern_type_filter: pattern,
                        operation: 1,
                        permission_type: 1,
                        ..Default::default()
                    },
                );
            }
        }
        ApiKey::DeleteAcls => {
            use delete_acls_request::*;
            sweep.call(
                v,
                DeleteAclsRequest {
                    filters: vec![DeleteAclsFilter {
                        resource_type_filter: 2,
                        resource_name_filter: Some(format!("sweep-acl-v{v}")),
                        pattern_type_filter: 3,
                        operation: 1,
                        permission_type: 1,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            );
        }
    }
}

/// Creates `name` with CreateTopics v5.
fn probe_create(sweep: &mut Sweep, name: &str, partitions: i32) {
    use create_topics_request::*;
    let Response::CreateTopics(r) = sweep.call(
        5,
        CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: name.into(),
                num_partitions: partitions,
                replication_factor: -1,
                ..Default::default()
            }],
            timeout_ms: 5_000,
            ..Default::default()
        },
    ) else {
        unreachable!()
    };
    assert_eq!(r.topics[0].error_code, 0, "create {name}");
}

#[test]
fn every_handled_api_answers_real_requests_at_every_version() {
    let broker = TestBroker::start_with(|c| {
        c.set("group.initial.rebalance.delay.ms", "0").expect("set");
        c.set("offsets.topic.num.partitions", "3").expect("set");
        c.set("transaction.state.log.num.partitions", "3")
            .expect("set");
        // ACLs on, the sweep's anonymous client the super user: every API answers
        // as with no authorizer, and the ACL APIs do real work.
        common::acls_on(c);
    });
    broker.create_topic(TOPIC, 3);
    let s = connect(&broker.bootstrap());
    let mut sweep = Sweep {
        s,
        correlation_id: 0,
        seen: BTreeSet::new(),
        topic_id: Uuid::nil(),
    };
    let Response::Metadata(m) = sweep.call(
        12,
        metadata_request::MetadataRequest {
            topics: Some(vec![metadata_request::MetadataRequestTopic {
                name: Some(TOPIC.into()),
                ..Default::default()
            }]),
            ..Default::default()
        },
    ) else {
        unreachable!()
    };
    sweep.topic_id = m.topics[0].topic_id;
    assert_ne!(sweep.topic_id, Uuid::nil());
    // Records in every partition, and a transaction left open on partitions 0 and 1.
    sweep.produce(&[0, 1, 2], None);
    let (pid, epoch) = sweep.init_txn("sweep-open");
    sweep.add_partitions("sweep-open", pid, epoch);
    sweep.produce(&[0, 1], Some(("sweep-open", pid, epoch, 0)));

    let mut expected = BTreeSet::new();
    for &api in aeon::handlers::HANDLED {
        let (decoded, advertised) = (api.versions(), api.advertised_versions());
        for v in decoded.min.max(advertised.min)..=decoded.max.min(advertised.max) {
            probe(&mut sweep, api, v);
            expected.insert((api.code(), v));
        }
    }
    let missed: Vec<_> = expected.difference(&sweep.seen).collect();
    assert!(
        missed.is_empty(),
        "(api key, version) never sent: {missed:?}"
    );
    assert_eq!(broker.response_encode_failures(), 0);
}
