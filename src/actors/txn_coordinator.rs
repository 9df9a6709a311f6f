//! `TxnCoordinatorActor`: the transaction coordinator of one transactional id, a thin
//! shell around its state machine ([`crate::txn::TxnMetadata`]). How it reaches the
//! rest of the broker (its log, partitions, groups, producer ids) is in `io`.
//!
//! # Why an actor per transactional id
//!
//! A transactional id is used by one producer at a time, and every one of its requests
//! must see the effect of the one before (a fence must land before the next
//! AddPartitions; EndTxn must finish its markers before the id moves on). An actor per id
//! serialises exactly that and nothing more: ids never wait for each other, a slow marker
//! write stalls only its own id, and the actors spread over the worker arbiters as the
//! group coordinators do. Each runs its own timeout timer, so no scan of every id is
//! needed. One coordinator actor holding every id would serialise all transactions of
//! the broker behind one mailbox for no gain.
//!
//! # How a change is made
//!
//! Every handler that changes the metadata runs atomically (`AtomicResponse`: the actor
//! takes no other message until it finishes): it computes the next metadata, appends it
//! to the id's partition of `__transaction_state`, and adopts it only once it is
//! written. Ending a transaction persists PrepareCommit/PrepareAbort, writes the markers
//! to every partition of the transaction and tells the groups in it to settle their
//! pending offsets, then persists CompleteCommit/CompleteAbort. If markers cannot be
//! written the decision stays persisted as Prepare*, the client is answered (the outcome
//! is decided), and the actor retries until they are written; a restarted broker finds
//! Prepare* in the log and completes it the same way.

use super::broker::{AllocateProducerId, BrokerActor, ForgetTxnCoordinator};
use super::partition::{
    append_replicated, Append, ExpectTxn, PartitionActor, PartitionError, WriteTxnMarker,
};
use super::routing::RoutingHandle;
use crate::clock::now_ms;
use crate::metrics::BrokerMetrics;
use crate::protocol::records::{RecordBatchBuilder, RecordSpec};
use crate::protocol::ErrorCode;
use crate::txn::{record, EndStep, InitStep, TxnMetadata, TxnState};
use actix::prelude::*;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

mod io;
pub use io::TxnIo;

/// The coordinator epoch written into markers: one node, never a failover.
const COORDINATOR_EPOCH: i32 = 0;
/// How long to wait before retrying markers that could not be written.
const MARKER_RETRY: Duration = Duration::from_millis(500);

/// InitProducerId with this transactional id: the producer id and its new epoch.
#[derive(Message, Debug)]
#[rtype(result = "Result<(i64, i16), ErrorCode>")]
pub struct InitTxnProducer {
    pub timeout_ms: i32,
    /// The producer id and epoch a producer names to bump its own epoch (KIP-360).
    pub expected: Option<(i64, i16)>,
}

/// AddPartitionsToTxn (`group` None) and AddOffsetsToTxn (the group's offsets partition
/// and the group).
#[derive(Message, Debug)]
#[rtype(result = "Result<(), ErrorCode>")]
pub struct AddToTxn {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<(String, i32)>,
    pub group: Option<String>,
    /// What a wrong epoch is answered with for this request's version.
    pub fenced: ErrorCode,
}

/// AddPartitionsToTxn v4+ with `verify_only`: whether each partition is in the open
/// transaction.
#[derive(Message, Debug)]
#[rtype(result = "Result<Vec<bool>, ErrorCode>")]
pub struct VerifyInTxn {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<(String, i32)>,
}

/// EndTxn.
#[derive(Message, Debug)]
#[rtype(result = "Result<(), ErrorCode>")]
pub struct EndTxn {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub fenced: ErrorCode,
}

/// The metadata, for DescribeTransactions and ListTransactions; `None` before the
/// first InitProducerId.
#[derive(Message, Debug)]
#[rtype(result = "Option<TxnMetadata>")]
pub struct DescribeTxn;

/// This broker no longer leads the id's `__transaction_state` partition: the
/// coordinator stops (the id is loaded again where the partition is led now).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UnloadTxn;

impl Handler<UnloadTxn> for TxnCoordinatorActor {
    type Result = ();

    fn handle(&mut self, _: UnloadTxn, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// One transactional id.
pub struct TxnCoordinatorActor {
    id: String,
    meta: Option<TxnMetadata>,
    io: TxnIo,
    timer: Option<SpawnHandle>,
    /// Where the id's state is published for the transaction coordinator gauges.
    metrics: Option<Arc<BrokerMetrics>>,
}

impl TxnCoordinatorActor {
    pub fn new(id: String, meta: Option<TxnMetadata>, io: TxnIo) -> Self {
        TxnCoordinatorActor {
            id,
            meta,
            io,
            timer: None,
            metrics: None,
        }
    }

    /// A coordinator that publishes its id's state to `metrics` (when they are on).
    pub fn reporting_to(mut self, metrics: Arc<BrokerMetrics>) -> Self {
        self.metrics = metrics.enabled().then_some(metrics);
        self
    }

    /// Adopts the newest persisted metadata and sets the timer it needs: the timeout of
    /// an open transaction, or a retry of markers not yet written.
    fn adopt(&mut self, ctx: &mut Context<Self>, meta: Option<TxnMetadata>) {
        if meta.is_some() {
            self.meta = meta;
        }
        if let (Some(metrics), Some(m)) = (&self.metrics, &self.meta) {
            metrics.txn_states().publish(&self.id, Some(m.state.name()));
        }
        if let Some(h) = self.timer.take() {
            ctx.cancel_future(h);
        }
        let Some(m) = &self.meta else { return };
        let until = |at: i64| Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0));
        let wait = if m.state.is_prepared() {
            MARKER_RETRY
        } else if let Some(deadline) = m.deadline_ms() {
            until(deadline)
        } else {
            until(self.expiry_ms(m))
        };
        self.timer = Some(ctx.run_later(wait, |act, ctx| {
            act.timer = None;
            act.on_timer(ctx);
        }));
    }

    /// Runs `work` while the actor takes no other message, then adopts the metadata it
    /// persisted (if any) and answers with its result.
    fn atomically<T: 'static>(
        &self,
        work: impl std::future::Future<Output = (Option<TxnMetadata>, T)> + 'static,
    ) -> AtomicResponse<Self, T> {
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(meta, result), act, ctx| {
                if meta.is_some() {
                    act.adopt(ctx, meta);
                }
                result
            },
        )))
    }

    /// When an idle id (no open or prepared transaction) expires: its last update plus
    /// `transactional.id.expiration.ms`.
    fn expiry_ms(&self, m: &TxnMetadata) -> i64 {
        m.update_ms.saturating_add(i64::from(self.io.expiration_ms))
    }

    /// Forgets an id whose producer has been silent past `transactional.id.expiration.ms`,
    /// as Kafka does: a tombstone in `__transaction_state`, out of the registry, stopped.
    /// A request that arrives meanwhile finds no actor and is answered
    /// COORDINATOR_NOT_AVAILABLE; the client's retry starts a fresh one.
    fn expire(&mut self, ctx: &mut Context<Self>) {
        let (io, id) = (self.io.clone(), self.id.clone());
        tracing::info!(transactional_id = %id, "transactional id expired; forgetting it");
        ctx.wait(
            async move { io.forget(&id).await }.into_actor(self).map(
                |result, act, ctx| match result {
                    Ok(()) => act.forget(ctx),
                    Err(_) => act.adopt(ctx, None),
                },
            ),
        );
    }

    /// Leaves the registry and stops.
    fn forget(&mut self, ctx: &mut Context<Self>) {
        self.io.broker.do_send(ForgetTxnCoordinator {
            transactional_id: self.id.clone(),
            addr: ctx.address(),
        });
        ctx.stop();
    }

    /// Completes a prepared transaction, or aborts one that has timed out (with the
    /// epoch bumped, so its producer is fenced, as Kafka does), or forgets an id that
    /// expired.
    fn on_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(m) = self.meta.clone() else { return };
        let (io, id) = (self.io.clone(), self.id.clone());
        let work = if m.state.is_prepared() {
            Box::pin(async move { io.complete(&id, m).await.0 })
                as futures::future::BoxFuture<'static, TxnMetadata>
        } else if m.deadline_ms().is_some_and(|d| d <= now_ms()) {
            tracing::info!(transactional_id = %self.id, timeout_ms = m.timeout_ms, "transaction timed out; aborting it");
            let prepared = m.fence_and_abort(now_ms());
            Box::pin(async move {
                match io.end(&id, prepared).await {
                    Ok((after, _)) => after,
                    Err(_) => m,
                }
            })
        } else if m.deadline_ms().is_none() && self.expiry_ms(&m) <= now_ms() {
            return self.expire(ctx);
        } else {
            self.adopt(ctx, None);
            return;
        };
        ctx.wait(work.into_actor(self).map(|after, act, ctx| {
            act.adopt(ctx, Some(after));
        }));
    }
}

impl Actor for TxnCoordinatorActor {
    type Context = Context<Self>;

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(metrics) = &self.metrics {
            metrics.txn_states().publish(&self.id, None);
        }
    }

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(256);
        // A replayed Prepare* is carried out now; an open transaction gets its timer.
        if self.meta.as_ref().is_some_and(|m| m.state.is_prepared()) {
            self.on_timer(ctx);
        } else {
            self.adopt(ctx, None);
        }
        // After a restart the partitions of an open transaction learn it again.
        if let Some(m) = self.meta.as_ref().filter(|m| m.state == TxnState::Ongoing) {
            let io = self.io.clone();
            let (producer_id, epoch) = (m.producer_id, m.producer_epoch);
            let partitions: Vec<_> = m.partitions.iter().cloned().collect();
            ctx.wait(actix::fut::wrap_future(async move {
                io.expect_writes(producer_id, epoch, &partitions).await;
            }));
        }
    }
}

impl Handler<InitTxnProducer> for TxnCoordinatorActor {
    type Result = AtomicResponse<Self, Result<(i64, i16), ErrorCode>>;

    fn handle(&mut self, msg: InitTxnProducer, _: &mut Context<Self>) -> Self::Result {
        let (io, id, current) = (self.io.clone(), self.id.clone(), self.meta.clone());
        let work = async move { io.init(&id, current, &msg).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(
            |(meta, result), act, ctx| {
                if meta.is_some() {
                    act.adopt(ctx, meta);
                }
                // A new id whose first InitProducerId failed (a bad timeout, say) left
                // nothing in the log: no actor stays behind for it.
                if act.meta.is_none() {
                    act.forget(ctx);
                }
                result
            },
        )))
    }
}

impl Handler<AddToTxn> for TxnCoordinatorActor {
    type Result = AtomicResponse<Self, Result<(), ErrorCode>>;

    fn handle(&mut self, msg: AddToTxn, _: &mut Context<Self>) -> Self::Result {
        let next = match &self.meta {
            None => Err(ErrorCode::InvalidProducerIdMapping),
            Some(m) => m.add(
                msg.producer_id,
                msg.producer_epoch,
                &msg.partitions,
                msg.group.as_deref(),
                msg.fenced,
                now_ms(),
            ),
        };
        let (io, id) = (self.io.clone(), self.id.clone());
        let work = async move {
            let result = match next {
                Ok(Some(next)) => match io.persist(&id, &next).await {
                    Ok(()) => (Some(next), Ok(())),
                    Err(e) => (None, Err(e)),
                },
                Ok(None) => (None, Ok(())),
                Err(e) => (None, Err(e)),
            };
            if result.1.is_ok() {
                io.expect_writes(msg.producer_id, msg.producer_epoch, &msg.partitions)
                    .await;
            }
            result
        };
        self.atomically(work)
    }
}

impl Handler<VerifyInTxn> for TxnCoordinatorActor {
    type Result = Result<Vec<bool>, ErrorCode>;

    fn handle(&mut self, msg: VerifyInTxn, _: &mut Context<Self>) -> Self::Result {
        let m = self
            .meta
            .as_ref()
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if msg.producer_id != m.producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if msg.producer_epoch != m.producer_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        let ongoing = m.state == TxnState::Ongoing;
        Ok(msg
            .partitions
            .iter()
            .map(|p| ongoing && m.partitions.contains(p))
            .collect())
    }
}

impl Handler<EndTxn> for TxnCoordinatorActor {
    type Result = AtomicResponse<Self, Result<(), ErrorCode>>;

    fn handle(&mut self, msg: EndTxn, _: &mut Context<Self>) -> Self::Result {
        let step = match &self.meta {
            None => Err(ErrorCode::InvalidProducerIdMapping),
            Some(m) => m.end(
                msg.producer_id,
                msg.producer_epoch,
                msg.commit,
                msg.fenced,
                now_ms(),
            ),
        };
        let (io, id) = (self.io.clone(), self.id.clone());
        let work = async move {
            match step {
                Ok(EndStep::Prepare(prepared)) => match io.end(&id, prepared).await {
                    // Decided and persisted: the outcome stands even if markers are
                    // still being retried.
                    Ok((after, _)) => (Some(after), Ok(())),
                    Err(e) => (None, Err(e)),
                },
                Ok(EndStep::AlreadyDone) => (None, Ok(())),
                Err(e) => (None, Err(e)),
            }
        };
        self.atomically(work)
    }
}

impl Handler<DescribeTxn> for TxnCoordinatorActor {
    type Result = Option<TxnMetadata>;

    fn handle(&mut self, _: DescribeTxn, _: &mut Context<Self>) -> Self::Result {
        self.meta.clone()
    }
}
