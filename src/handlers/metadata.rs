//! Metadata: this broker as the only broker and the controller, every topic or the
//! named ones, auto-creating unknown ones when the broker and the request allow it.

use super::{BrokerContext, Session};
use crate::actors::broker::{validate_topic_name, AutoCreateTopics};
use crate::actors::routing::TopicRoute;
use crate::protocol::messages::metadata_request::MetadataRequest;
use crate::protocol::messages::metadata_response::{
    MetadataResponse, MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use crate::protocol::ErrorCode;
use uuid::Uuid;

fn topic_metadata(ctx: &BrokerContext, t: &TopicRoute) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: 0,
        name: Some(t.name.clone()),
        topic_id: t.id,
        is_internal: t.internal,
        partitions: (0..t.partitions.len() as i32)
            .map(|p| MetadataResponsePartition {
                partition_index: p,
                leader_id: ctx.node_id,
                leader_epoch: 0,
                replica_nodes: vec![ctx.node_id],
                isr_nodes: vec![ctx.node_id],
                ..Default::default()
            })
            .collect(),
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
    req: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let mut topics = Vec::new();
    match req.topics {
        // v0 answers every topic for an empty list; later versions use null for that.
        None => topics.extend(
            ctx.routing
                .load()
                .topics
                .values()
                .map(|t| topic_metadata(ctx, t)),
        ),
        Some(list) if list.is_empty() && version == 0 => topics.extend(
            ctx.routing
                .load()
                .topics
                .values()
                .map(|t| topic_metadata(ctx, t)),
        ),
        Some(list) => {
            let routing = ctx.routing.load();
            let mut missing = Vec::new();
            for t in &list {
                match &t.name {
                    Some(name) => match routing.topic(name) {
                        Some(route) => topics.push(topic_metadata(ctx, route)),
                        None => missing.push(name.clone()),
                    },
                    None => match routing.topic_by_id(&t.topic_id) {
                        Some(route) => topics.push(topic_metadata(ctx, route)),
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
            if auto_create && !creatable.is_empty() {
                let results = ctx
                    .broker
                    .send(AutoCreateTopics(creatable.clone()))
                    .await
                    .unwrap_or_default();
                let routing = ctx.routing.load();
                for (name, res) in results {
                    match (res, routing.topic(&name)) {
                        (Ok(()), Some(route)) => topics.push(topic_metadata(ctx, route)),
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
    let (host, port) = session.listener.advertised.clone();
    MetadataResponse {
        brokers: vec![MetadataResponseBroker {
            node_id: ctx.node_id,
            host,
            port: i32::from(port),
            rack: None,
            ..Default::default()
        }],
        cluster_id: Some(ctx.cluster_id.clone()),
        controller_id: ctx.node_id,
        topics,
        ..Default::default()
    }
}
