//! The `BrokerActor`'s transaction registry: a `TxnCoordinatorActor` per transactional
//! id, started on demand; the internal `__transaction_state` topic, created with the
//! first id; and every id rebuilt from that topic when the broker starts, with the
//! transactions that were in flight carried on (Prepare* completed, Ongoing timed).

use super::{AdminError, BrokerActor};
use crate::actors::txn_coordinator::{TxnCoordinatorActor, TxnIo};
use crate::storage::Log;
use crate::txn::{record, TxnMetadata};
use actix::prelude::*;
use std::collections::BTreeMap;

/// Kafka's name for the internal transaction log.
pub const TXN_TOPIC: &str = "__transaction_state";

/// A coordinator whose id expired stopped: forget it, unless the id already has a
/// newer one.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ForgetTxnCoordinator {
    pub transactional_id: String,
    pub addr: Addr<TxnCoordinatorActor>,
}

impl Handler<ForgetTxnCoordinator> for BrokerActor {
    type Result = ();

    fn handle(&mut self, msg: ForgetTxnCoordinator, _: &mut Context<Self>) {
        self.txns.remove_if(&msg.transactional_id, &msg.addr);
    }
}

/// The coordinator of a transactional id; with `create`, started if the id is new
/// (InitProducerId), else `None` for an unknown id.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Option<Addr<TxnCoordinatorActor>>, AdminError>")]
pub struct GetTxnCoordinator {
    pub transactional_id: String,
    pub create: bool,
}

impl BrokerActor {
    fn start_txn(
        &mut self,
        ctx: &Context<Self>,
        id: String,
        meta: Option<TxnMetadata>,
    ) -> Result<Addr<TxnCoordinatorActor>, AdminError> {
        let log = self.internal_log(
            TXN_TOPIC,
            self.config.transaction_state_log_num_partitions,
            self.config.transaction_state_log_segment_bytes,
            &id,
        )?;
        let io = TxnIo {
            log,
            broker: ctx.address(),
            routing: self.routing.clone(),
            wait_for_fsync: self.config.log_flush_before_ack,
            max_timeout_ms: self.config.transaction_max_timeout_ms,
            expiration_ms: self.config.transactional_id_expiration_ms,
        };
        let arbiter = self.next_arbiter();
        let name = id.clone();
        let metrics = self.metrics.clone();
        let addr = TxnCoordinatorActor::start_in_arbiter(&arbiter, move |_| {
            TxnCoordinatorActor::new(name, meta, io).reporting_to(metrics)
        });
        self.txns.insert(id, addr.clone());
        Ok(addr)
    }

    /// Starts the coordinators of the ids replayed while loading.
    pub(super) fn start_replayed_txns(&mut self, ctx: &Context<Self>) {
        for (id, meta) in std::mem::take(&mut self.replayed_txns) {
            let state = meta.state;
            match self.start_txn(ctx, id.clone(), Some(meta)) {
                Ok(_) => {
                    tracing::debug!(transactional_id = %id, state = state.name(), "transactional id restored")
                }
                Err((_, e)) => {
                    tracing::error!(transactional_id = %id, error = %e, "restoring a transactional id failed")
                }
            }
        }
    }
}

impl Handler<GetTxnCoordinator> for BrokerActor {
    type Result = Result<Option<Addr<TxnCoordinatorActor>>, AdminError>;

    fn handle(&mut self, msg: GetTxnCoordinator, ctx: &mut Context<Self>) -> Self::Result {
        self.check_session()?;
        if let Some(addr) = self.txns.get(&msg.transactional_id) {
            return Ok(Some(addr));
        }
        if !msg.create {
            // Unknown to this coordinator (INVALID_PRODUCER_ID_MAPPING for the
            // caller) only where the id's partition is led here and loaded: while it
            // loads, or led elsewhere, the client is told to wait or to find the
            // coordinator again, as Kafka answers, not that its producer id is unknown.
            self.internal_log(
                TXN_TOPIC,
                self.config.transaction_state_log_num_partitions,
                self.config.transaction_state_log_segment_bytes,
                &msg.transactional_id,
            )?;
            return Ok(None);
        }
        let addr = self.start_txn(ctx, msg.transactional_id, None)?;
        Ok(Some(addr))
    }
}

/// Rebuilds transactional ids from one `__transaction_state` partition: the last record
/// of each id wins. A record that does not decode is logged and skipped.
pub(super) fn replay(log: &Log, txns: &mut BTreeMap<String, TxnMetadata>) {
    let walked = log.for_each_batch(log.log_start_offset(), |batch| {
        if batch.is_control() {
            return;
        }
        let Ok(records) = batch.records() else {
            tracing::warn!("skipping an unreadable transaction log batch");
            return;
        };
        for r in records {
            let decoded = r.map_err(|e| e.to_string()).and_then(|r| {
                record::decode(r.key.unwrap_or_default(), r.value).map_err(|e| e.to_string())
            });
            match decoded {
                Ok((id, Some(meta))) => {
                    txns.insert(id, meta);
                }
                Ok((id, None)) => {
                    txns.remove(&id);
                }
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable transaction record"),
            }
        }
    });
    if let Err(error) = walked {
        tracing::warn!(dir = %log.dir().display(), %error, "reading the transaction log stopped early");
    }
}
