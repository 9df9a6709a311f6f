//! Produce (v3+, record batch magic 2): each partition's batch is checked here, on the
//! connection's arbiter (bounds, magic, CRC-32C, size), then sent to its
//! `PartitionActor` as one message; all partitions are appended concurrently. Batches
//! are stored as received, unless the topic's `compression.type` names another codec
//! (then they are re-encoded, as Kafka does). The partition checks that every record of
//! a compacted topic has a key (compressed batches off the arbiter). Control batches
//! and writes to internal topics come from the broker only.

use super::topic_naming::TopicNaming;
use super::{BrokerContext, LeaderHints, Session};
use crate::actors::partition::{Append, AppendInOrder, Appended, PartitionError};
use crate::actors::routing::OffsetsWatch;
use crate::cluster::txn::TxnVerification;
use crate::config::EffectiveTopicConfig;
use crate::protocol::messages::produce_request::ProduceRequest;
use crate::protocol::messages::produce_response::{
    NodeEndpoint, PartitionProduceResponse, ProduceResponse, TopicProduceResponse,
};
use crate::protocol::records::{compression, Compression, RecordBatch, RecordsError};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Produce names topics by id from v13.
const TOPIC_IDS_FROM: i16 = 13;

/// One partition's answer with `code` and no offsets (-1); a successful append fills
/// them in once the partition answers.
fn partition_response(
    index: i32,
    code: ErrorCode,
    message: Option<String>,
) -> PartitionProduceResponse {
    PartitionProduceResponse {
        index,
        error_code: code.code(),
        base_offset: -1,
        log_append_time_ms: -1,
        log_start_offset: -1,
        error_message: message,
        ..Default::default()
    }
}

/// A produced batch that passed Kafka's checks, with what the metrics count of it.
struct Checked {
    batch: Bytes,
    /// Records in it, from its header.
    records: u64,
    /// Its size as the producer sent it (before any re-encoding).
    bytes: u64,
}

/// Kafka's checks of a produced batch, before it reaches the log.
fn validate(
    records: Option<&Bytes>,
    max_message_bytes: usize,
    transactional_allowed: bool,
) -> Result<Checked, (ErrorCode, String)> {
    let Some(bytes) = records.filter(|b| !b.is_empty()) else {
        return Err((
            ErrorCode::InvalidRecord,
            "Produce request has no records".into(),
        ));
    };
    let batch = RecordBatch::parse(bytes).map_err(|e| match e {
        RecordsError::UnsupportedMagic(m) => (
            ErrorCode::UnsupportedForMessageFormat,
            format!("record batch magic {m} is not supported; produce v3+ needs magic 2"),
        ),
        other => (ErrorCode::CorruptMessage, other.to_string()),
    })?;
    if batch.total_size() != bytes.len() {
        return Err((
            ErrorCode::InvalidRecord,
            "Produce requests with version 3 and above must contain exactly one record batch"
                .into(),
        ));
    }
    if bytes.len() > max_message_bytes {
        return Err((
            ErrorCode::MessageTooLarge,
            format!(
                "The batch of {} bytes is larger than max.message.bytes ({max_message_bytes})",
                bytes.len()
            ),
        ));
    }
    batch
        .validate_header()
        .map_err(|e| (ErrorCode::CorruptMessage, e.to_string()))?;
    // Transaction markers come from the transaction coordinator only: a client's
    // marker could end someone else's transaction (Kafka's `LogValidator`).
    if batch.is_control() {
        return Err((
            ErrorCode::InvalidRecord,
            "Clients are not allowed to write control records".into(),
        ));
    }
    // A transactional batch needs WRITE on the request's transactional id.
    if batch.is_transactional() && !transactional_allowed {
        return Err((
            ErrorCode::TransactionalIdAuthorizationFailed,
            "Transactional records need a transactional id the producer may write".into(),
        ));
    }
    batch
        .verify_crc()
        .map_err(|e| (ErrorCode::CorruptMessage, e.to_string()))?;
    Ok(Checked {
        batch: bytes.clone(),
        records: u64::try_from(batch.record_count()).unwrap_or(0),
        bytes: bytes.len() as u64,
    })
}

/// The codec the topic stores batches with (`compression.type`), `None` for
/// `producer`: the producer's is kept.
fn topic_codec(effective: &EffectiveTopicConfig) -> Option<(Compression, Option<i32>)> {
    let codec = match effective.compression_type.as_str() {
        "uncompressed" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => return None,
    };
    let level = match codec {
        Compression::Gzip => Some(effective.compression_gzip_level),
        Compression::Zstd => Some(effective.compression_zstd_level),
        _ => None,
    };
    Some((codec, level))
}

/// A batch compressed otherwise than its topic's `compression.type` says is
/// re-encoded, as Kafka's `LogValidator` does; it must still fit max.message.bytes.
fn to_topic_codec(
    batch: Bytes,
    effective: &EffectiveTopicConfig,
) -> Result<Bytes, (ErrorCode, String)> {
    let Some((codec, level)) = topic_codec(effective) else {
        return Ok(batch);
    };
    let view =
        RecordBatch::parse(&batch).map_err(|e| (ErrorCode::CorruptMessage, e.to_string()))?;
    if view.compression().ok() == Some(codec) {
        return Ok(batch);
    }
    let out =
        compression::recompress_batch(&view, codec, level, compression::MAX_DECOMPRESSED_BATCH)
            .map_err(|e| (ErrorCode::CorruptMessage, e.to_string()))?;
    if out.len() > effective.max_message_bytes as usize {
        return Err((
            ErrorCode::MessageTooLarge,
            format!(
                "The batch is {} bytes as {codec:?}, larger than max.message.bytes ({})",
                out.len(),
                effective.max_message_bytes
            ),
        ));
    }
    Ok(Bytes::from(out))
}

/// An append's answer as the producer gets it: with acks=all, only once the high
/// watermark has passed it (every in-sync replica has it), else REQUEST_TIMED_OUT after
/// the request's timeout, as Kafka's produce purgatory answers.
async fn acknowledged(
    answer: oneshot::Receiver<Result<Appended, PartitionError>>,
    acks: i16,
    mut offsets: OffsetsWatch,
    timeout: Duration,
) -> Result<Result<Appended, PartitionError>, oneshot::error::RecvError> {
    let appended = answer.await?;
    let Ok(info) = &appended else {
        return Ok(appended);
    };
    if acks != -1 {
        return Ok(appended);
    }
    let wait = async {
        loop {
            let o = offsets.seen();
            if o.role_term != info.role_term {
                return false; // no longer the leader it was written under
            }
            if o.high_watermark > info.last_offset {
                return true;
            }
            if offsets.changed_or_gone().await.is_err() {
                return false;
            }
        }
    };
    Ok(match tokio::time::timeout(timeout, wait).await {
        Ok(true) => appended,
        Ok(false) => Err(PartitionError::Closed),
        Err(_) => Err(PartitionError::Refused(
            ErrorCode::RequestTimedOut,
            "the in-sync replicas did not all get the records within the request's timeout".into(),
        )),
    })
}

pub async fn handle(
    ctx: &BrokerContext,
    session: &Session,
    authz: &Authz<'_>,
    req: ProduceRequest,
    version: i16,
) -> Option<ProduceResponse> {
    // KIP-951: CurrentLeader and NodeEndpoints from v10.
    let mut hints = LeaderHints::for_version(version, 10, 10);
    let acks = req.acks;
    let timeout = Duration::from_millis(u64::try_from(req.timeout_ms).unwrap_or(0));
    let valid_acks = matches!(acks, -1..=1);
    // Kafka's KafkaApis: a transactional id the producer may not write fails the
    // whole request; without one, transactional batches are refused.
    let transactional_allowed = match &req.transactional_id {
        Some(id) => authz.transactional_id(AclOperation::Write, id),
        None => !authz.enabled(),
    };
    let refused_whole = req.transactional_id.is_some() && !transactional_allowed;
    let naming = TopicNaming::of(version, TOPIC_IDS_FROM);
    let routing = ctx.routing.load();
    let mut topics = Vec::with_capacity(req.topic_data.len());
    let mut pending = Vec::new();
    for (ti, topic) in req.topic_data.into_iter().enumerate() {
        let route = if refused_whole {
            Err(ErrorCode::TransactionalIdAuthorizationFailed)
        } else {
            naming.find_authorized(
                &routing,
                &topic.name,
                &topic.topic_id,
                authz,
                AclOperation::Write,
            )
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for (pi, p) in topic.partition_data.into_iter().enumerate() {
            let target = route.and_then(|t| match t.partition(p.index) {
                Some(r) => Ok((t, r)),
                None if t.has_partition(p.index) => Err(ErrorCode::NotLeaderOrFollower),
                None => Err(naming.unknown_topic()),
            });
            let result = match (valid_acks, target) {
                (false, _) => partition_response(p.index, ErrorCode::InvalidRequiredAcks, None),
                (true, Err(code)) => {
                    let mut out = partition_response(p.index, code, None);
                    // KIP-951: where the partition is led instead.
                    let hint = route
                        .ok()
                        .filter(|_| code == ErrorCode::NotLeaderOrFollower)
                        .and_then(|t| hints.note(&routing, &session.listener, t, p.index));
                    if let Some((leader, epoch)) = hint {
                        out.current_leader.leader_id = leader;
                        out.current_leader.leader_epoch = epoch;
                    }
                    out
                }
                (true, Ok((t, _))) if t.internal => partition_response(
                    p.index,
                    ErrorCode::InvalidTopicException,
                    Some(format!("Cannot append to internal topic {}", t.name)),
                ),
                (true, Ok((t, r))) => {
                    match validate(
                        p.records.as_ref(),
                        t.effective.max_message_bytes as usize,
                        transactional_allowed,
                    )
                    .and_then(|c| {
                        to_topic_codec(c.batch, &t.effective).map(|b| (b, c.records, c.bytes))
                    }) {
                        Err((code, msg)) => {
                            tracing::debug!(topic = %t.name, partition = p.index, %msg, "produce rejected");
                            t.metrics.produce_failed();
                            partition_response(p.index, code, Some(msg))
                        }
                        Ok((batch, records, request_bytes)) => {
                            let (reply, answer) = tokio::sync::oneshot::channel();
                            // acks=all: the partition checks its ISR against
                            // min.insync.replicas before it writes (NOT_ENOUGH_REPLICAS).
                            let min_insync = if acks == -1 {
                                usize::try_from(t.effective.min_insync_replicas)
                                    .unwrap_or(usize::MAX)
                            } else {
                                0
                            };
                            // A transactional producer's batch: the partition may
                            // verify its transaction with the coordinator (KIP-890).
                            let txn = req.transactional_id.as_ref().map(|id| TxnVerification {
                                routing: ctx.routing.clone(),
                                transactional_id: id.clone(),
                                topic: t.name.clone(),
                                partition: p.index,
                            });
                            r.addr.do_send(AppendInOrder {
                                check_keys: t.effective.cleanup_policy.compact,
                                min_insync,
                                txn,
                                append: Append {
                                    batch,
                                    wait_for_fsync: acks == -1 && t.effective.flush_before_ack,
                                },
                                reply,
                            });
                            let counted = (Arc::clone(t), records, request_bytes);
                            let answer = acknowledged(answer, acks, r.watch(), timeout);
                            pending.push((ti, pi, counted, answer));
                            partition_response(p.index, ErrorCode::None, None)
                        }
                    }
                }
            };
            partitions.push(result);
        }
        topics.push(TopicProduceResponse {
            name: topic.name,
            topic_id: topic.topic_id,
            partition_responses: partitions,
            ..Default::default()
        });
    }
    drop(routing);
    let (slots, futures): (Vec<_>, Vec<_>) = pending
        .into_iter()
        .map(|(t, p, counted, f)| ((t, p, counted), f))
        .unzip();
    let results = futures::future::join_all(futures).await;
    for ((t, p, (route, records, bytes)), res) in slots.into_iter().zip(results) {
        let out = &mut topics[t].partition_responses[p];
        match res {
            Ok(Ok(info)) => {
                route.metrics.produced(records, bytes);
                out.base_offset = info.base_offset;
                out.log_append_time_ms = info.log_append_time_ms;
                out.log_start_offset = info.log_start_offset;
            }
            Ok(Err(e)) => {
                route.metrics.produce_failed();
                *out = partition_response(out.index, e.code(), Some(e.to_string()))
            }
            Err(e) => {
                route.metrics.produce_failed();
                *out =
                    partition_response(out.index, ErrorCode::KafkaStorageError, Some(e.to_string()))
            }
        }
    }
    (acks != 0).then(|| ProduceResponse {
        responses: topics,
        node_endpoints: hints.endpoints(|node_id, host, port, rack| NodeEndpoint {
            node_id,
            host,
            port,
            rack,
            ..Default::default()
        }),
        ..Default::default()
    })
}
