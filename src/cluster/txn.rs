//! Transactions across brokers, as Kafka runs them: a transaction coordinator writes
//! the markers of partitions led elsewhere with WriteTxnMarkers to their leaders, and a
//! leader asked to write a transactional batch it was not told about asks the
//! transaction's coordinator whether the partition is in it (KIP-890 part 1's
//! verification, AddPartitionsToTxn v4+ with VerifyOnly).

use super::peer::PeerConnection;
use crate::actors::broker::{partition_for_key, TXN_TOPIC};
use crate::actors::routing::{Routing, RoutingHandle};
use crate::actors::txn_coordinator::VerifyInTxn;
use crate::protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use crate::protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic, WriteTxnMarkersRequest,
};
use crate::protocol::{ErrorCode, Request, Response};
use std::collections::BTreeMap;
use std::time::Duration;

/// AddPartitionsToTxn's first batched (broker) version.
const VERIFY_VERSION: i16 = 4;
const MARKERS_VERSION: i16 = 1;
/// How long a leader waits for a coordinator's verification or a coordinator for a
/// leader's markers.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a partition is led, as a routing snapshot tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Led {
    /// By this broker, which serves it.
    Here,
    /// By another live broker.
    At(i32),
    /// Nowhere now (its leader is fenced, or leadership is still coming here).
    Offline,
    /// The partition does not exist (or no longer).
    Gone,
}

/// Where partition `partition` of `topic` is led.
pub fn leader_of(routing: &Routing, topic: &str, partition: i32) -> Led {
    if routing.partition(topic, partition).is_some() {
        return Led::Here;
    }
    let Some(image) = &routing.cluster else {
        return Led::Gone;
    };
    let placed = image.topic(topic).and_then(|t| t.partition(partition));
    match placed.map(|p| image.live_leader(p)) {
        None => Led::Gone,
        Some(l) if l < 0 || l == routing.node_id => Led::Offline,
        Some(l) => Led::At(l),
    }
}

/// Where the coordinator of `key` (a group id or a transactional id) is: the leader of
/// its partition of the internal `topic` (`__consumer_offsets`, `__transaction_state`).
pub fn coordinator_of(routing: &Routing, topic: &str, key: &str) -> Led {
    let Some(partitions) = routing.topic(topic).map(|t| t.partitions.len()) else {
        return Led::Offline;
    };
    let partition = partition_for_key(key, partitions);
    leader_of(routing, topic, i32::try_from(partition).unwrap_or(0))
}

/// A leader's question to a transaction's coordinator: is partition (`topic`,
/// `partition`) in the ongoing transaction of this producer?
#[derive(Clone)]
pub struct TxnVerification {
    pub routing: RoutingHandle,
    pub transactional_id: String,
    pub topic: String,
    pub partition: i32,
}

impl TxnVerification {
    /// Ok when the coordinator has the partition in the producer's ongoing
    /// transaction. INVALID_TXN_STATE when it does not, INVALID_PRODUCER_EPOCH for an
    /// older epoch, and NOT_ENOUGH_REPLICAS (retriable, as Kafka answers) when the
    /// coordinator cannot be asked now.
    pub async fn verify(self, producer_id: i64, producer_epoch: i16) -> Result<(), ErrorCode> {
        let routing = self.routing.load_full();
        let code = match coordinator_of(&routing, TXN_TOPIC, &self.transactional_id) {
            Led::Here => {
                let Some(coordinator) = routing.txns.get(&self.transactional_id) else {
                    return Err(ErrorCode::InvalidTxnState);
                };
                let asked = coordinator
                    .send(VerifyInTxn {
                        producer_id,
                        producer_epoch,
                        partitions: vec![(self.topic.clone(), self.partition)],
                    })
                    .await;
                match asked {
                    Ok(Ok(added)) if added.first() == Some(&true) => ErrorCode::None,
                    Ok(Ok(_)) => ErrorCode::InvalidTxnState,
                    Ok(Err(code)) => code,
                    Err(_) => ErrorCode::CoordinatorNotAvailable,
                }
            }
            Led::At(broker) => self
                .ask(&routing, broker, producer_id, producer_epoch)
                .await
                .unwrap_or(ErrorCode::CoordinatorNotAvailable),
            Led::Offline | Led::Gone => ErrorCode::CoordinatorNotAvailable,
        };
        match code {
            ErrorCode::None => Ok(()),
            ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch => {
                Err(ErrorCode::InvalidProducerEpoch)
            }
            ErrorCode::CoordinatorNotAvailable
            | ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorLoadInProgress
            | ErrorCode::ConcurrentTransactions => Err(ErrorCode::NotEnoughReplicas),
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }

    /// AddPartitionsToTxn v4, VerifyOnly, to `broker`: the partition's error code.
    async fn ask(
        &self,
        routing: &Routing,
        broker: i32,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Option<ErrorCode> {
        let image = routing.cluster.as_ref()?;
        let client_id = format!("txn-verifier-{}", routing.node_id);
        let mut connection = PeerConnection::connect(image, broker, client_id, PEER_TIMEOUT)
            .await
            .ok()?;
        let request = AddPartitionsToTxnRequest {
            transactions: vec![AddPartitionsToTxnTransaction {
                transactional_id: self.transactional_id.clone(),
                producer_id,
                producer_epoch,
                verify_only: true,
                topics: vec![AddPartitionsToTxnTopic {
                    name: self.topic.clone(),
                    partitions: vec![self.partition],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let answer = connection
            .call(
                VERIFY_VERSION,
                Request::AddPartitionsToTxn(request),
                PEER_TIMEOUT,
            )
            .await;
        let Ok(Response::AddPartitionsToTxn(r)) = answer else {
            return None;
        };
        if r.error_code != 0 {
            return ErrorCode::from_code(r.error_code);
        }
        let code = r
            .results_by_transaction
            .first()?
            .topic_results
            .first()?
            .results_by_partition
            .first()?
            .partition_error_code;
        ErrorCode::from_code(code)
    }
}

/// One transaction's markers.
#[derive(Debug, Clone, Copy)]
pub struct Markers {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// Writes `markers` to `partitions` at their leader `broker` with WriteTxnMarkers; Ok
/// once the leader answered every partition without error (it answers once the
/// marker is on its in-sync replicas).
pub async fn write_markers_at(
    routing: &Routing,
    broker: i32,
    markers: Markers,
    partitions: &[(String, i32)],
) -> Result<(), String> {
    let image = routing
        .cluster
        .as_ref()
        .ok_or_else(|| "no cluster".to_string())?;
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in partitions {
        topics.entry(topic).or_default().push(*partition);
    }
    let request = WriteTxnMarkersRequest {
        markers: vec![WritableTxnMarker {
            producer_id: markers.producer_id,
            producer_epoch: markers.producer_epoch,
            transaction_result: markers.commit,
            coordinator_epoch: markers.coordinator_epoch,
            topics: topics
                .into_iter()
                .map(|(name, partition_indexes)| WritableTxnMarkerTopic {
                    name: name.to_string(),
                    partition_indexes,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let client_id = format!("txn-markers-{}", routing.node_id);
    let mut connection = PeerConnection::connect(image, broker, client_id, PEER_TIMEOUT)
        .await
        .map_err(|e| format!("broker {broker}: {e}"))?;
    // The leader answers once the markers are replicated: allow it the time a
    // replicated write takes.
    let answer = connection
        .call(
            MARKERS_VERSION,
            Request::WriteTxnMarkers(request),
            PEER_TIMEOUT * 6,
        )
        .await
        .map_err(|e| format!("broker {broker}: {e}"))?;
    let Response::WriteTxnMarkers(r) = answer else {
        return Err(format!("broker {broker}: not a WriteTxnMarkers answer"));
    };
    let failed: Vec<String> = r
        .markers
        .iter()
        .flat_map(|m| &m.topics)
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| p.error_code != 0)
                .map(move |p| format!("{}-{}: error {}", t.name, p.partition_index, p.error_code))
        })
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("broker {broker}: {}", failed.join(", ")))
    }
}
