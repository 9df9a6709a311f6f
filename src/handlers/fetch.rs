//! Fetch (v4+): reads the requested partitions that have something new from their
//! actors, within the response and per-partition byte limits, and waits for `min_bytes`
//! across partitions for up to `max_wait_ms`. Which partitions have data, and the wait,
//! come from the offsets each partition publishes (a watch channel): a partition with
//! nothing past the fetch offset gets no message, and a waiting fetch none either, so a
//! fetch's cost follows the partitions with data, not all the partitions it names.
//! A fetch returns as soon as `min_bytes` are there; it never waits out `max_wait_ms`
//! when data is available. Fetch sessions are answered sessionless (session id 0), so
//! clients send full fetches.
//!
//! `isolation_level` 1 (read_committed) reads only below each partition's last stable
//! offset, waits for that to move rather than for the high watermark, and lists the
//! aborted transactions overlapping what it returns (an empty list when there are
//! none; read_uncommitted gets none at all, as in Kafka).

use super::topic_naming::TopicNaming;
use super::BrokerContext;
use crate::actors::partition::{Fetch, FetchData, IsolationLevel, PartitionError};
use crate::actors::routing::{any_change, PartitionRoute};
use crate::protocol::messages::fetch_request::FetchRequest;
use crate::protocol::messages::fetch_response::{
    AbortedTransaction, FetchResponse, FetchableTopicResponse, PartitionData,
};
use crate::protocol::records::RecordBatch;
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use bytes::Bytes;
use futures::future::join_all;
use std::time::{Duration, Instant};

/// Fetch names topics by id from v13.
const TOPIC_IDS_FROM: i16 = 13;

/// One requested partition: where its answer goes, its actor (or why there is none)
/// and what to read from it.
struct PartitionRead {
    topic: usize,
    partition: i32,
    route: Result<PartitionRoute, ErrorCode>,
    offset: i64,
    max_bytes: usize,
}

/// The longest prefix of whole batches in `records` that fits `budget` bytes.
fn whole_batches_within(records: &Bytes, budget: usize) -> Bytes {
    let mut end = 0;
    while end < records.len() {
        match RecordBatch::peek_total_size(&records[end..], usize::MAX) {
            Ok(size) if end + size <= budget => end += size,
            _ => break,
        }
    }
    records.slice(..end)
}

/// Reads every partition of `plan` with something past its fetch offset (marking its
/// offsets seen, for [`any_change`]); the others answer empty without a message.
async fn read_all(
    plan: &mut [PartitionRead],
    response_max: usize,
    isolation: IsolationLevel,
) -> Vec<Result<FetchData, PartitionError>> {
    let reads = plan.iter_mut().map(|p| {
        let seen = p.route.as_mut().ok().map(|r| r.offsets_seen());
        let (offset, max_bytes, route) = (p.offset, p.max_bytes, &p.route);
        async move {
            match (route, seen) {
                // At the end of what it may read: nothing to ask the actor. (An offset
                // past the end, or before the log start, is read: the actor answers
                // OFFSET_OUT_OF_RANGE.)
                (Ok(_), Some(offsets)) if offset == offsets.readable_end(isolation) => {
                    Ok(FetchData {
                        offsets,
                        ..FetchData::default()
                    })
                }
                (Ok(r), _) => r
                    .addr
                    .send(Fetch {
                        offset,
                        max_bytes: max_bytes.min(response_max),
                        isolation,
                    })
                    .await
                    .unwrap_or(Err(PartitionError::Closed)),
                (Err(_), _) => Err(PartitionError::Closed),
            }
        }
    });
    let mut results = join_all(reads).await;
    // The response limit, in request order: the first partition with data always gets
    // at least one batch (KIP-74); later ones only what still fits.
    let mut used = 0usize;
    for r in results.iter_mut().flatten() {
        let budget = response_max.saturating_sub(used);
        if used > 0 && r.records.len() > budget {
            r.records = whole_batches_within(&r.records, budget);
            // Aborted transactions that only overlap the cut batches stay listed:
            // harmless, as in Kafka, where the list may cover more than is returned.
        }
        used += r.records.len();
    }
    results
}

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: FetchRequest,
    version: i16,
) -> FetchResponse {
    let naming = TopicNaming::of(version, TOPIC_IDS_FROM);
    let routing = ctx.routing.load();
    let mut topics = Vec::with_capacity(req.topics.len());
    let mut plan = Vec::new();
    // Each topic's route, for its counters.
    let mut topic_routes = Vec::with_capacity(req.topics.len());
    for (ti, t) in req.topics.iter().enumerate() {
        let route =
            naming.find_authorized(&routing, &t.topic, &t.topic_id, authz, AclOperation::Read);
        topic_routes.push(route.ok().cloned());
        for p in &t.partitions {
            plan.push(PartitionRead {
                topic: ti,
                partition: p.partition,
                route: route.and_then(|r| {
                    usize::try_from(p.partition)
                        .ok()
                        .and_then(|i| r.partitions.get(i))
                        .cloned()
                        .ok_or(naming.unknown_topic())
                }),
                offset: p.fetch_offset,
                max_bytes: usize::try_from(p.partition_max_bytes).unwrap_or(0),
            });
        }
        topics.push(FetchableTopicResponse {
            topic: t.topic.clone(),
            topic_id: t.topic_id,
            partitions: Vec::new(),
            ..Default::default()
        });
    }
    drop(routing);
    let response_max = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .min(ctx.config.load().fetch_max_bytes);
    let min_bytes = usize::try_from(req.min_bytes).unwrap_or(0);
    let isolation = IsolationLevel::from_kafka(req.isolation_level);
    let deadline =
        Instant::now() + Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0));
    let results = loop {
        let results = read_all(&mut plan, response_max, isolation).await;
        let bytes: usize = results.iter().flatten().map(|d| d.records.len()).sum();
        let failed = results.iter().any(Result::is_err);
        let now = Instant::now();
        // Nothing to wait on: no partition that could change.
        let unknown = plan.iter().all(|p| p.route.is_err());
        if bytes >= min_bytes || failed || now >= deadline || unknown {
            break results;
        }
        // Wait until a partition reports a change (then read again) or the wait runs
        // out. A change after `read_all` saw the offsets is never missed.
        any_change(
            plan.iter_mut().filter_map(|p| p.route.as_mut().ok()),
            deadline - now,
        )
        .await;
    };
    for (p, res) in plan.iter().zip(results) {
        let offsets = p
            .route
            .as_ref()
            .map(PartitionRoute::offsets)
            .unwrap_or_default();
        let (code, records, aborted) = match (&p.route, res) {
            (Err(code), _) => (*code, Bytes::new(), Vec::new()),
            (Ok(_), Ok(d)) => (ErrorCode::None, d.records, d.aborted),
            (Ok(_), Err(e)) => (e.code(), Bytes::new(), Vec::new()),
        };
        if let Some(topic) = &topic_routes[p.topic] {
            if code == ErrorCode::None {
                topic.metrics.fetched(records.len() as u64);
            } else {
                topic.metrics.fetch_failed();
            }
        }
        let aborted_transactions = (isolation == IsolationLevel::ReadCommitted).then(|| {
            aborted
                .into_iter()
                .map(|a| AbortedTransaction {
                    producer_id: a.producer_id,
                    first_offset: a.first_offset,
                    ..Default::default()
                })
                .collect()
        });
        let known = p.route.is_ok();
        topics[p.topic].partitions.push(PartitionData {
            partition_index: p.partition,
            error_code: code.code(),
            high_watermark: if known { offsets.high_watermark } else { -1 },
            last_stable_offset: if known {
                offsets.last_stable_offset
            } else {
                -1
            },
            log_start_offset: if known { offsets.log_start_offset } else { -1 },
            records: Some(records),
            aborted_transactions,
            ..Default::default()
        });
    }
    FetchResponse {
        error_code: 0,
        session_id: 0,
        responses: topics,
        ..Default::default()
    }
}
