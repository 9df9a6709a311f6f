//! ACLs, enforced: a broker with Kafka's StandardAuthorizer set, an INTERNAL PLAINTEXT
//! listener whose anonymous clients are the super user (the operator's door), and users
//! who log in with SASL PLAIN on the CLIENTS listener and may do only what ACLs allow.

mod common;

use aeon::protocol::messages::add_offsets_to_txn_request::AddOffsetsToTxnRequest;
use aeon::protocol::messages::alter_user_scram_credentials_request::AlterUserScramCredentialsRequest;
use aeon::protocol::messages::create_acls_request::{AclCreation, CreateAclsRequest};
use aeon::protocol::messages::create_partitions_request::{
    CreatePartitionsRequest, CreatePartitionsTopic,
};
use aeon::protocol::messages::create_topics_request::{CreatableTopic, CreateTopicsRequest};
use aeon::protocol::messages::delete_acls_request::{DeleteAclsFilter, DeleteAclsRequest};
use aeon::protocol::messages::delete_groups_request::DeleteGroupsRequest;
use aeon::protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
};
use aeon::protocol::messages::delete_topics_request::DeleteTopicsRequest;
use aeon::protocol::messages::describe_acls_request::DescribeAclsRequest;
use aeon::protocol::messages::describe_cluster_request::DescribeClusterRequest;
use aeon::protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use aeon::protocol::messages::describe_groups_request::DescribeGroupsRequest;
use aeon::protocol::messages::describe_user_scram_credentials_request::DescribeUserScramCredentialsRequest;
use aeon::protocol::messages::end_txn_request::EndTxnRequest;
use aeon::protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use aeon::protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};
use aeon::protocol::messages::init_producer_id_request::InitProducerIdRequest;
use aeon::protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use aeon::protocol::messages::list_groups_request::ListGroupsRequest;
use aeon::protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use aeon::protocol::messages::list_transactions_request::ListTransactionsRequest;
use aeon::protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use aeon::protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use aeon::protocol::messages::offset_fetch_request::OffsetFetchRequest;
use aeon::protocol::records::{RecordBatchBuilder, RecordSpec};
use aeon::protocol::{ErrorCode, Request, Response};
use aeon::security::scram::{ScramCredential, ScramMechanism};
use common::{call, connect, fetch_request, produce_raw, raw, TestBroker};
use std::net::TcpStream;
use std::sync::OnceLock;

const TOPIC_AUTHZ: i16 = ErrorCode::TopicAuthorizationFailed as i16;
const GROUP_AUTHZ: i16 = ErrorCode::GroupAuthorizationFailed as i16;
const CLUSTER_AUTHZ: i16 = ErrorCode::ClusterAuthorizationFailed as i16;
const TXN_AUTHZ: i16 = ErrorCode::TransactionalIdAuthorizationFailed as i16;

/// alice's credential, computed once (PBKDF2 is slow in a debug build).
fn alice_credential() -> ScramCredential {
    static CREDENTIAL: OnceLock<ScramCredential> = OnceLock::new();
    CREDENTIAL
        .get_or_init(|| {
            ScramCredential::from_password(
                ScramMechanism::Sha256,
                b"alice-secret",
                b"acl-test-salt",
                4096,
            )
            .expect("credential")
        })
        .clone()
}

/// The broker: authorizer on, anonymous (INTERNAL) clients super users, user alice.
fn broker() -> TestBroker {
    TestBroker::start_with(|c| {
        common::sasl_listeners(c);
        common::acls_on(c);
        aeon::security::users::add_offline(
            &c.log_dir,
            "alice",
            ScramMechanism::Sha256,
            alice_credential(),
        )
        .expect("alice");
    })
}

/// A connection to the CLIENTS listener, logged in as alice with SASL PLAIN.
fn alice(broker: &TestBroker) -> TcpStream {
    let mut s = connect(&broker.listener_addr("CLIENTS").to_string());
    assert_eq!(common::sasl_plain(&mut s, "alice", "alice-secret"), 0);
    s
}

/// One ACL for alice from any host: (resource type, name, pattern type, operation,
/// permission) with Kafka's codes.
fn acl(resource_type: i8, name: &str, pattern: i8, operation: i8, permission: i8) -> AclCreation {
    AclCreation {
        resource_type,
        resource_name: name.into(),
        resource_pattern_type: pattern,
        principal: "User:alice".into(),
        host: "*".into(),
        operation,
        permission_type: permission,
        ..Default::default()
    }
}

const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const ALL: i8 = 2;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

/// Creates ACLs as the super user; each must succeed.
fn grant(broker: &TestBroker, creations: Vec<AclCreation>) {
    common::grant_acls(&broker.bootstrap(), creations);
}

fn batch() -> Vec<u8> {
    RecordBatchBuilder::new(0, 1)
        .record(RecordSpec::new(Some(b"k"), Some(b"v")))
        .record(RecordSpec::new(Some(b"k2"), Some(b"v2")).offset_delta(1))
        .build()
}

/// The end offset of partition 0 of `topic`, asked as the super user.
fn end_offset(broker: &TestBroker, topic: &str) -> i64 {
    let Response::ListOffsets(r) = raw(&broker.bootstrap(), 5, list_offsets(topic)) else {
        panic!("not a ListOffsets response")
    };
    assert_eq!(r.topics[0].partitions[0].error_code, 0, "{r:?}");
    r.topics[0].partitions[0].offset
}

fn list_offsets(topic: &str) -> Request {
    Request::ListOffsets(ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: topic.into(),
            partitions: vec![ListOffsetsPartition {
                partition_index: 0,
                timestamp: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    })
}

fn metadata(topics: Option<&[&str]>) -> Request {
    Request::Metadata(MetadataRequest {
        topics: topics.map(|ts| {
            ts.iter()
                .map(|t| MetadataRequestTopic {
                    name: Some((*t).into()),
                    ..Default::default()
                })
                .collect()
        }),
        allow_auto_topic_creation: true,
        include_topic_authorized_operations: true,
        ..Default::default()
    })
}

fn topic_names(broker: &TestBroker) -> Vec<String> {
    let Response::Metadata(m) = raw(&broker.bootstrap(), 12, metadata(None)) else {
        panic!("not a Metadata response")
    };
    m.topics
        .into_iter()
        .filter_map(|t| t.name)
        .filter(|n| !n.starts_with("__"))
        .collect()
}

#[test]
fn a_user_without_acls_is_refused_every_api_and_shown_nothing() {
    let broker = broker();
    broker.create_topic("secret", 1);
    let admin = &mut connect(&broker.bootstrap());
    assert_eq!(produce_raw(admin, "secret", None, batch()).error_code, 0);
    let Response::OffsetCommit(c) = call(
        admin,
        8,
        3,
        Request::OffsetCommit(OffsetCommitRequest {
            group_id: "g".into(),
            generation_id_or_member_epoch: -1,
            topics: vec![OffsetCommitRequestTopic {
                name: "secret".into(),
                partitions: vec![OffsetCommitRequestPartition {
                    partition_index: 0,
                    committed_offset: 1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
    ) else {
        panic!("not an OffsetCommit response")
    };
    assert_eq!(c.topics[0].partitions[0].error_code, 0);

    let s = &mut alice(&broker);
    let mut id = 10;
    let mut ask = |version: i16, req: Request| {
        id += 1;
        call(s, version, id, req)
    };

    // Metadata: no topic listed, a named one refused whether or not it exists, and
    // no auto-creation.
    let Response::Metadata(m) = ask(12, metadata(None)) else {
        panic!()
    };
    assert!(m.topics.is_empty(), "{m:?}");
    let Response::Metadata(m) = ask(12, metadata(Some(&["secret", "not-there"]))) else {
        panic!()
    };
    assert_eq!(
        m.topics.iter().map(|t| t.error_code).collect::<Vec<_>>(),
        [TOPIC_AUTHZ, TOPIC_AUTHZ],
        "{m:?}"
    );
    assert!(m.topics.iter().all(|t| t.partitions.is_empty()));

    // Produce, fetch, list offsets, delete records.
    let refused = produce_raw_on(&mut ask, "secret");
    assert_eq!(refused, TOPIC_AUTHZ);
    let Response::Fetch(f) = ask(12, Request::Fetch(fetch_request("secret", 0, 0, 0))) else {
        panic!()
    };
    let p = &f.responses[0].partitions[0];
    assert_eq!(p.error_code, TOPIC_AUTHZ);
    assert!(p.records.as_ref().is_none_or(|r| r.is_empty()));
    let Response::ListOffsets(l) = ask(5, list_offsets("secret")) else {
        panic!()
    };
    assert_eq!(l.topics[0].partitions[0].error_code, TOPIC_AUTHZ);
    let Response::DeleteRecords(d) = ask(
        2,
        Request::DeleteRecords(DeleteRecordsRequest {
            topics: vec![DeleteRecordsTopic {
                name: "secret".into(),
                partitions: vec![DeleteRecordsPartition {
                    partition_index: 0,
                    offset: 2,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            timeout_ms: 5000,
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(d.topics[0].partitions[0].error_code, TOPIC_AUTHZ);

    // Topic admin and configs.
    let Response::CreateTopics(c) = ask(
        7,
        Request::CreateTopics(CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: "mine".into(),
                num_partitions: 1,
                replication_factor: 1,
                ..Default::default()
            }],
            timeout_ms: 5000,
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(c.topics[0].error_code, TOPIC_AUTHZ);
    let Response::DeleteTopics(d) = ask(
        6,
        Request::DeleteTopics(DeleteTopicsRequest {
            topics: vec![
                aeon::protocol::messages::delete_topics_request::DeleteTopicState {
                    name: Some("secret".into()),
                    ..Default::default()
                },
            ],
            timeout_ms: 5000,
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(d.responses[0].error_code, TOPIC_AUTHZ);
    let Response::CreatePartitions(c) = ask(
        3,
        Request::CreatePartitions(CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic {
                name: "secret".into(),
                count: 4,
                assignments: None,
                ..Default::default()
            }],
            timeout_ms: 5000,
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(c.results[0].error_code, TOPIC_AUTHZ);
    let Response::DescribeConfigs(dc) = ask(
        4,
        Request::DescribeConfigs(DescribeConfigsRequest {
            resources: vec![
                DescribeConfigsResource {
                    resource_type: 2,
                    resource_name: "secret".into(),
                    configuration_keys: None,
                    ..Default::default()
                },
                DescribeConfigsResource {
                    resource_type: 4,
                    resource_name: String::new(),
                    configuration_keys: None,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(dc.results[0].error_code, TOPIC_AUTHZ);
    assert_eq!(dc.results[1].error_code, CLUSTER_AUTHZ);
    assert!(dc.results.iter().all(|r| r.configs.is_empty()));
    let Response::IncrementalAlterConfigs(a) = ask(
        1,
        Request::IncrementalAlterConfigs(IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type: 2,
                resource_name: "secret".into(),
                configs: vec![AlterableConfig {
                    name: "retention.ms".into(),
                    config_operation: 0,
                    value: Some("1".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(a.responses[0].error_code, TOPIC_AUTHZ);

    // Groups.
    let Response::FindCoordinator(f) = ask(
        4,
        Request::FindCoordinator(FindCoordinatorRequest {
            key_type: 0,
            coordinator_keys: vec!["g".into()],
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(f.coordinators[0].error_code, GROUP_AUTHZ);
    let Response::JoinGroup(j) = ask(
        9,
        Request::JoinGroup(JoinGroupRequest {
            group_id: "g".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocol_type: "consumer".into(),
            protocols: vec![JoinGroupRequestProtocol {
                name: "range".into(),
                metadata: vec![0, 0].into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(j.error_code, GROUP_AUTHZ);
    let Response::OffsetFetch(o) = ask(
        8,
        Request::OffsetFetch(OffsetFetchRequest {
            groups: vec![
                aeon::protocol::messages::offset_fetch_request::OffsetFetchRequestGroup {
                    group_id: "g".into(),
                    topics: None,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(o.groups[0].error_code, GROUP_AUTHZ);
    assert!(o.groups[0].topics.is_empty());
    let Response::DescribeGroups(dg) = ask(
        5,
        Request::DescribeGroups(DescribeGroupsRequest {
            groups: vec!["g".into()],
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(dg.groups[0].error_code, GROUP_AUTHZ);
    let Response::ListGroups(lg) = ask(4, Request::ListGroups(ListGroupsRequest::default())) else {
        panic!()
    };
    assert!(lg.groups.is_empty(), "{lg:?}");
    let Response::DeleteGroups(dg) = ask(
        2,
        Request::DeleteGroups(DeleteGroupsRequest {
            groups_names: vec!["g".into()],
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(dg.results[0].error_code, GROUP_AUTHZ);

    // Producer ids and transactions.
    let Response::InitProducerId(i) = ask(
        4,
        Request::InitProducerId(InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(i.error_code, CLUSTER_AUTHZ);
    let Response::InitProducerId(i) = ask(
        4,
        Request::InitProducerId(InitProducerIdRequest {
            transactional_id: Some("tx".into()),
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(i.error_code, TXN_AUTHZ);
    let Response::AddOffsetsToTxn(a) = ask(
        3,
        Request::AddOffsetsToTxn(AddOffsetsToTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 1,
            producer_epoch: 0,
            group_id: "g".into(),
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(a.error_code, TXN_AUTHZ);
    let Response::EndTxn(e) = ask(
        3,
        Request::EndTxn(EndTxnRequest {
            transactional_id: "tx".into(),
            producer_id: 1,
            producer_epoch: 0,
            committed: true,
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(e.error_code, TXN_AUTHZ);
    let Response::ListTransactions(lt) = ask(
        1,
        Request::ListTransactions(ListTransactionsRequest::default()),
    ) else {
        panic!()
    };
    assert!(lt.transaction_states.is_empty());

    // Users and ACLs: alice can neither read nor grant.
    let Response::DescribeUserScramCredentials(u) = ask(
        0,
        Request::DescribeUserScramCredentials(DescribeUserScramCredentialsRequest::default()),
    ) else {
        panic!()
    };
    assert_eq!(u.error_code, CLUSTER_AUTHZ);
    assert!(u.results.is_empty());
    let Response::AlterUserScramCredentials(u) = ask(
        0,
        Request::AlterUserScramCredentials(AlterUserScramCredentialsRequest {
            deletions: vec![
                aeon::protocol::messages::alter_user_scram_credentials_request::ScramCredentialDeletion {
                    name: "alice".into(),
                    mechanism: 1,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(u.results[0].error_code, CLUSTER_AUTHZ);
    let Response::CreateAcls(c) = ask(
        3,
        Request::CreateAcls(CreateAclsRequest {
            creations: vec![acl(TOPIC, "*", LITERAL, ALL, ALLOW)],
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(c.results[0].error_code, CLUSTER_AUTHZ);
    let Response::DescribeAcls(d) = ask(3, describe_all_acls()) else {
        panic!()
    };
    assert_eq!(d.error_code, CLUSTER_AUTHZ);
    let Response::DescribeCluster(dc) = ask(
        1,
        Request::DescribeCluster(DescribeClusterRequest {
            include_cluster_authorized_operations: true,
            endpoint_type: 1,
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(dc.cluster_authorized_operations, 0, "no operation allowed");

    // Nothing changed: the data, the topics, the group's offset, alice's credential.
    assert_eq!(end_offset(&broker, "secret"), 2);
    assert_eq!(topic_names(&broker), ["secret"]);
    let Response::OffsetFetch(o) = raw(
        &broker.bootstrap(),
        8,
        Request::OffsetFetch(OffsetFetchRequest {
            groups: vec![
                aeon::protocol::messages::offset_fetch_request::OffsetFetchRequestGroup {
                    group_id: "g".into(),
                    topics: None,
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
    ) else {
        panic!()
    };
    assert_eq!(o.groups[0].topics[0].partitions[0].committed_offset, 1);
    drop(alice(&broker));
}

fn describe_all_acls() -> Request {
    Request::DescribeAcls(DescribeAclsRequest {
        resource_type_filter: 1,
        resource_name_filter: None,
        pattern_type_filter: 1,
        principal_filter: None,
        host_filter: None,
        operation: 1,
        permission_type: 1,
        ..Default::default()
    })
}

/// Produces one batch to partition 0 of `topic` through `ask` (Produce v9); the
/// partition's error code.
fn produce_raw_on(ask: &mut impl FnMut(i16, Request) -> Response, topic: &str) -> i16 {
    let req = common::produce_request(topic, 0, None, -1, batch());
    let Response::Produce(r) = ask(9, req.into()) else {
        panic!("not a produce response")
    };
    r.responses[0].partition_responses[0].error_code
}

#[test]
fn a_deny_overrides_an_allow_and_a_revoked_acl_applies_to_the_open_connection() {
    let broker = broker();
    broker.create_topic("team-open", 1);
    broker.create_topic("team-locked", 1);
    broker.create_topic("other", 1);
    grant(
        &broker,
        vec![
            acl(TOPIC, "team-", PREFIXED, ALL, ALLOW),
            acl(TOPIC, "team-locked", LITERAL, WRITE, DENY),
            acl(GROUP, "team-group", LITERAL, READ, ALLOW),
        ],
    );
    let s = &mut alice(&broker);
    let mut id = 10;
    let mut ask = |version: i16, req: Request| {
        id += 1;
        call(s, version, id, req)
    };
    assert_eq!(produce_raw_on(&mut ask, "team-open"), 0);
    assert_eq!(
        produce_raw_on(&mut ask, "team-locked"),
        TOPIC_AUTHZ,
        "deny wins"
    );
    assert_eq!(produce_raw_on(&mut ask, "other"), TOPIC_AUTHZ);
    assert_eq!(end_offset(&broker, "team-locked"), 0);
    // Metadata shows the team's topics only, with what alice may do on each.
    let Response::Metadata(m) = ask(12, metadata(None)) else {
        panic!()
    };
    let mut shown: Vec<(String, i32)> = m
        .topics
        .iter()
        .map(|t| {
            (
                t.name.clone().unwrap_or_default(),
                t.topic_authorized_operations,
            )
        })
        .collect();
    shown.sort();
    let every_topic_op = [3, 4, 5, 8, 6, 7, 10, 11]
        .iter()
        .fold(0, |bits, op| bits | (1 << op));
    assert_eq!(
        shown,
        [
            ("team-locked".to_string(), every_topic_op & !(1 << WRITE)),
            ("team-open".to_string(), every_topic_op),
        ]
    );
    // Reading the locked topic is still allowed (DENY WRITE is not DENY READ).
    let Response::Fetch(f) = ask(12, Request::Fetch(fetch_request("team-open", 0, 0, 0))) else {
        panic!()
    };
    assert_eq!(f.responses[0].partitions[0].error_code, 0);

    // The admin revokes the prefixed ALLOW: alice's next request on the same
    // connection is refused.
    let Response::DeleteAcls(d) = raw(
        &broker.bootstrap(),
        3,
        Request::DeleteAcls(DeleteAclsRequest {
            filters: vec![DeleteAclsFilter {
                resource_type_filter: TOPIC,
                resource_name_filter: Some("team-".into()),
                pattern_type_filter: PREFIXED,
                principal_filter: Some("User:alice".into()),
                host_filter: None,
                operation: 1,
                permission_type: 1,
                ..Default::default()
            }],
            ..Default::default()
        }),
    ) else {
        panic!("not a DeleteAcls response")
    };
    assert_eq!(d.filter_results[0].matching_acls.len(), 1, "{d:?}");
    let Response::Fetch(f) = ask(12, Request::Fetch(fetch_request("team-open", 0, 0, 0))) else {
        panic!()
    };
    assert_eq!(f.responses[0].partitions[0].error_code, TOPIC_AUTHZ);
    assert_eq!(produce_raw_on(&mut ask, "team-open"), TOPIC_AUTHZ);
}

#[test]
fn acls_are_described_by_filter_and_survive_a_restart() {
    let mut broker = broker();
    grant(
        &broker,
        vec![
            acl(TOPIC, "orders", LITERAL, READ, ALLOW),
            acl(TOPIC, "orders", LITERAL, DESCRIBE, ALLOW),
            acl(TOPIC, "ord", PREFIXED, WRITE, DENY),
            acl(GROUP, "*", LITERAL, READ, ALLOW),
        ],
    );
    broker.restart();
    let Response::DescribeAcls(all) = raw(&broker.bootstrap(), 3, describe_all_acls()) else {
        panic!("not a DescribeAcls response")
    };
    assert_eq!(all.error_code, 0);
    let count: usize = all.resources.iter().map(|r| r.acls.len()).sum();
    assert_eq!(count, 4, "{all:?}");
    // MATCH: every pattern that covers the topic "orders".
    let Response::DescribeAcls(matching) = raw(
        &broker.bootstrap(),
        3,
        Request::DescribeAcls(DescribeAclsRequest {
            resource_type_filter: TOPIC,
            resource_name_filter: Some("orders".into()),
            pattern_type_filter: 2,
            principal_filter: None,
            host_filter: None,
            operation: 1,
            permission_type: 1,
            ..Default::default()
        }),
    ) else {
        panic!("not a DescribeAcls response")
    };
    let mut resources: Vec<(String, i8, usize)> = matching
        .resources
        .iter()
        .map(|r| (r.resource_name.clone(), r.pattern_type, r.acls.len()))
        .collect();
    resources.sort();
    assert_eq!(
        resources,
        [
            ("ord".to_string(), PREFIXED, 1),
            ("orders".to_string(), LITERAL, 2)
        ]
    );
    // A creation Kafka refuses: a cluster ACL not named kafka-cluster.
    let Response::CreateAcls(r) = raw(
        &broker.bootstrap(),
        3,
        Request::CreateAcls(CreateAclsRequest {
            creations: vec![acl(4, "other", LITERAL, ALL, ALLOW)],
            ..Default::default()
        }),
    ) else {
        panic!("not a CreateAcls response")
    };
    assert_eq!(r.results[0].error_code, ErrorCode::InvalidRequest as i16);
}

#[test]
fn without_an_authorizer_the_acl_apis_say_security_is_disabled() {
    let broker = TestBroker::start();
    let Response::DescribeAcls(d) = raw(&broker.bootstrap(), 3, describe_all_acls()) else {
        panic!("not a DescribeAcls response")
    };
    assert_eq!(d.error_code, ErrorCode::SecurityDisabled as i16);
    let Response::CreateAcls(c) = raw(
        &broker.bootstrap(),
        3,
        Request::CreateAcls(CreateAclsRequest {
            creations: vec![acl(TOPIC, "t", LITERAL, READ, ALLOW)],
            ..Default::default()
        }),
    ) else {
        panic!("not a CreateAcls response")
    };
    assert_eq!(c.results[0].error_code, ErrorCode::SecurityDisabled as i16);
}
