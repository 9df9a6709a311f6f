//! Metadata: this broker as the only broker and the controller, every topic or the
//! named ones, auto-creating unknown ones when the broker and the request allow it.

use super::{BrokerContext, Session};
use crate::actors::broker::{validate_topic_name, AutoCreateTopics};
use crate::actors::routing::{Routing, TopicRoute};
use crate::protocol::messages::metadata_request::MetadataRequest;
use crate::protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use crate::protocol::ErrorCode;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};
use crate::security::authorizer::Authz;
use uuid::Uuid;

/// What the request asked for beyond the topics themselves.
struct Shown<'a> {
    ctx: &'a BrokerContext,
    authz: &'a Authz<'a>,
    topic_operations: bool,
}

fn topic_metadata(shown: &Shown<'_>, routing: &Routing, t: &TopicRoute) -> MetadataResponseTopic {
    let ctx = shown.ctx;
    let placed = routing
        .cluster
        .as_ref()
        .and_then(|image| Some((image, image.topics.get(&t.id)?)));
    MetadataResponseTopic {
        topic_authorized_operations: shown.authz.operations_if(
            shown.topic_operations,
            ResourceType::Topic,
            &t.name,
        ),
        error_code: 0,
        name: Some(t.name.clone()),
        topic_id: t.id,
        is_internal: t.internal,
        partitions: match placed {
            Some((image, topic)) => topic
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let leader = image.live_leader(p);
                    MetadataResponsePartition {
                        // An offline partition (its leader fenced) says so.
                        error_code: if leader < 0 {
                            ErrorCode::LeaderNotAvailable.code()
                        } else {
                            0
                        },
                        partition_index: i as i32,
                        leader_id: leader,
                        leader_epoch: p.leader_epoch,
                        replica_nodes: p.replicas.clone(),
                        isr_nodes: p.isr.clone(),
                        offline_replicas: p
                            .replicas
                            .iter()
                            .copied()
                            .filter(|r| image.brokers.get(r).is_none_or(|b| b.fenced))
                            .collect(),
                        ..Default::default()
                    }
                })
                .collect(),
            None => (0..t.partitions.len() as i32)
                .map(|p| MetadataResponsePartition {
                    partition_index: p,
                    leader_id: ctx.node_id,
                    leader_epoch: 0,
                    replica_nodes: vec![ctx.node_id],
                    isr_nodes: vec![ctx.node_id],
                    ..Default::default()
                })
                .collect(),
        },
        ..Default::default()
    }
}

fn topic_error(name: Option<String>, id: Uuid, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: code.code(),
        name,
        topic_id: id,
        ..Default::default()
    }
}

pub async fn handle(
    ctx: &BrokerContext,
    session: &Session,
    authz: &Authz<'_>,
    req: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let shown = Shown {
        ctx,
        authz,
        topic_operations: req.include_topic_authorized_operations,
    };
    // Every topic: those the caller may describe; the others are not mentioned.
    let every_topic = |topics: &mut Vec<MetadataResponseTopic>| {
        let routing = ctx.routing.load();
        topics.extend(
            routing
                .topics
                .values()
                .filter(|t| authz.topic(AclOperation::Describe, &t.name))
                .map(|t| topic_metadata(&shown, &routing, t)),
        )
    };
    let mut topics = Vec::new();
    match req.topics {
        // v0 answers every topic for an empty list; later versions use null for that.
        None => every_topic(&mut topics),
        Some(list) if list.is_empty() && version == 0 => every_topic(&mut topics),
        Some(list) => {
            let routing = ctx.routing.load();
            let mut missing = Vec::new();
            for t in &list {
                match &t.name {
                    // Authorized before it is looked up: a refusal tells nothing.
                    Some(name) if !authz.topic(AclOperation::Describe, name) => {
                        topics.push(topic_error(
                            Some(name.clone()),
                            Uuid::nil(),
                            ErrorCode::TopicAuthorizationFailed,
                        ))
                    }
                    Some(name) => match routing.topic(name) {
                        Some(route) => topics.push(topic_metadata(&shown, &routing, route)),
                        None => missing.push(name.clone()),
                    },
                    None => match routing.topic_by_id(&t.topic_id) {
                        Some(route) if !authz.topic(AclOperation::Describe, &route.name) => topics
                            .push(topic_error(
                                None,
                                t.topic_id,
                                ErrorCode::TopicAuthorizationFailed,
                            )),
                        Some(route) => topics.push(topic_metadata(&shown, &routing, route)),
                        None => {
                            topics.push(topic_error(None, t.topic_id, ErrorCode::UnknownTopicId))
                        }
                    },
                }
            }
            drop(routing);
            let auto_create = ctx.config.load().auto_create_topics_enable
                && (version < 4 || req.allow_auto_topic_creation);
            let (creatable, invalid): (Vec<String>, Vec<String>) = missing
                .into_iter()
                .partition(|n| validate_topic_name(n).is_ok() && !n.starts_with("__"));
            topics.extend(
                invalid
                    .into_iter()
                    .map(|n| topic_error(Some(n), Uuid::nil(), ErrorCode::InvalidTopicException)),
            );
            // Auto-creation needs CREATE on the cluster or the topic, as in Kafka.
            let (creatable, refused): (Vec<String>, Vec<String>) = if auto_create {
                creatable.into_iter().partition(|n| authz.create_topic(n))
            } else {
                (creatable, Vec::new())
            };
            topics.extend(
                refused.into_iter().map(|n| {
                    topic_error(Some(n), Uuid::nil(), ErrorCode::TopicAuthorizationFailed)
                }),
            );
            if auto_create && !creatable.is_empty() {
                let results = ctx
                    .broker
                    .send(AutoCreateTopics(creatable.clone()))
                    .await
                    .unwrap_or_default();
                let routing = ctx.routing.load();
                for (name, res) in results {
                    match (res, routing.topic(&name)) {
                        (Ok(()), Some(route)) => {
                            topics.push(topic_metadata(&shown, &routing, route))
                        }
                        (Ok(()), None) => topics.push(topic_error(
                            Some(name),
                            Uuid::nil(),
                            ErrorCode::UnknownTopicOrPartition,
                        )),
                        (Err((code, _)), _) => {
                            topics.push(topic_error(Some(name), Uuid::nil(), code))
                        }
                    }
                }
            } else {
                topics.extend(creatable.into_iter().map(|n| {
                    topic_error(Some(n), Uuid::nil(), ErrorCode::UnknownTopicOrPartition)
                }));
            }
        }
    }
    let brokers = ctx
        .brokers(&ctx.routing.load(), &session.listener)
        .into_iter()
        .map(|b| MetadataResponseBroker {
            node_id: b.node_id,
            host: b.host,
            port: i32::from(b.port),
            rack: b.rack,
            ..Default::default()
        })
        .collect();
    MetadataResponse {
        brokers,
        cluster_id: Some(ctx.cluster_id.clone()),
        controller_id: ctx.controller_id(),
        cluster_authorized_operations: authz.operations_if(
            req.include_cluster_authorized_operations,
            ResourceType::Cluster,
            CLUSTER_NAME,
        ),
        topics,
        ..Default::default()
    }
}
