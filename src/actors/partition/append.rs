//! The produce path: ordered appends, the compacted-topic key check, idempotence and
//! transaction checks, and the segment files readied ahead of the appends on the
//! blocking pool.

use super::*;

impl PartitionActor {
    /// Has the next segment's files made on the blocking pool, so a roll on this
    /// arbiter only renames them. Only partitions that receive appends get one.
    pub(super) fn prepare_next_segment(&mut self, ctx: &mut Context<Self>) {
        self.ready_next_segment(ctx, false);
    }

    /// [`Self::prepare_next_segment`]; with `now`, even before the active segment is
    /// half full (a follower's roll that found none prepared).
    pub(super) fn ready_next_segment(&mut self, ctx: &mut Context<Self>, now: bool) {
        let Some(log) = &self.log else { return };
        if self.preparing || !(now || log.wants_prepared_segment()) {
            return;
        }
        self.preparing = true;
        let work = prepare_segment(log.segment_preparer());
        ctx.spawn(work.into_actor(self).map(|res, act, _| {
            act.preparing = false;
            if let Err(error) = act.offer_prepared(res) {
                tracing::warn!(partition = %act.name, %error, "preparing the next segment failed");
            }
        }));
    }

    /// An append must roll and the next segment is not prepared yet (rolls came faster
    /// than their preparation): the files are made on the blocking pool while this
    /// partition's mailbox waits (no later append may overtake this one; the arbiter
    /// serves its other actors meanwhile), then the append runs.
    pub(super) fn prepare_then_append(
        &mut self,
        msg: Append,
        ctx: &mut Context<Self>,
    ) -> ResponseFuture<Result<Appended, PartitionError>> {
        let Some(log) = &self.log else {
            return Box::pin(async { Err(PartitionError::Closed) });
        };
        let (reply, answer) = oneshot::channel();
        let work = prepare_segment(log.segment_preparer());
        ctx.wait(work.into_actor(self).map(move |res, act, ctx| {
            if let Err(error) = act.offer_prepared(res) {
                tracing::error!(partition = %act.name, %error, "creating the next segment failed");
                let _ = reply.send(Err(PartitionError::Storage(error)));
                return;
            }
            act.append_and_reply(msg, reply, ctx);
        }));
        Box::pin(async move { answer.await.unwrap_or(Err(PartitionError::Closed)) })
    }

    /// Gives the log a segment prepared on the blocking pool (one it does not need is
    /// deleted there).
    pub(super) fn offer_prepared(&mut self, res: PreparedResult) -> Result<(), String> {
        let segment = match res {
            Ok(Ok(segment)) => segment,
            Ok(Err(error)) => return Err(error.to_string()),
            Err(error) => return Err(error.to_string()),
        };
        let unused = match self.log.as_mut() {
            Some(log) => log.offer_prepared(segment),
            None => Some(segment),
        };
        if let Some(unused) = unused {
            tokio::task::spawn_blocking(move || unused.discard());
        }
        Ok(())
    }

    /// Has the active segment's next blocks allocated on the blocking pool, ahead of
    /// the appends: done on this arbiter, each chunk would stall every request it
    /// serves for milliseconds (a `fallocate` waits on the filesystem's journal).
    pub(super) fn fill_ahead(&mut self, ctx: &mut Context<Self>) {
        if self.filling_ahead {
            return;
        }
        let Some(work) = self.log.as_ref().and_then(Log::ahead_work) else {
            return;
        };
        self.filling_ahead = true;
        let work = async move { tokio::task::spawn_blocking(move || work.run()).await };
        ctx.spawn(work.into_actor(self).map(|res, act, _| {
            act.filling_ahead = false;
            match res {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(partition = %act.name, %error, "allocating ahead of the appends failed"),
                Err(error) => tracing::warn!(partition = %act.name, %error, "allocating ahead of the appends failed"),
            }
        }));
    }
}

impl Handler<AppendInOrder> for PartitionActor {
    type Result = ();

    fn handle(&mut self, msg: AppendInOrder, ctx: &mut Context<Self>) {
        // A producer whose transaction is being verified: its appends wait, in order.
        if !self.verifying.is_empty() {
            if let Some((producer_id, _)) = txn_producer(&msg.append.batch) {
                if let Some(queued) = self.verifying.get_mut(&producer_id) {
                    queued.push(msg);
                    return;
                }
            }
        }
        self.admit(msg, true, ctx);
    }
}

/// The producer id and epoch of a client's transactional batch.
fn txn_producer(batch: &[u8]) -> Option<(i64, i16)> {
    let header = RecordBatch::parse(batch).ok()?;
    (header.is_transactional() && !header.is_control())
        .then(|| (header.producer_id(), header.producer_epoch()))
}

impl PartitionActor {
    /// Checks an append and writes it. A transactional batch this partition was not
    /// told about is verified with its coordinator first (`may_verify`), while the
    /// producer's later appends wait behind it.
    fn admit(&mut self, mut msg: AppendInOrder, may_verify: bool, ctx: &mut Context<Self>) {
        if !self.role.serves_clients() {
            let _ = msg.reply.send(Err(PartitionError::Closed));
            return;
        }
        let isr = self.role.isr_len();
        if msg.min_insync > isr {
            let _ = msg.reply.send(Err(PartitionError::Refused(
                ErrorCode::NotEnoughReplicas,
                format!(
                    "The size of the current ISR {isr} is insufficient to satisfy the min.isr requirement of {} for partition {}",
                    msg.min_insync, self.name
                ),
            )));
            return;
        }
        if let Err(e) = self.verify_client_txn(&msg.append.batch) {
            if may_verify && matches!(e, PartitionError::InvalidTxnState(_)) {
                if let (Some(verification), Some((producer_id, epoch))) =
                    (msg.txn.take(), txn_producer(&msg.append.batch))
                {
                    return self.verify_then_admit(producer_id, epoch, verification, msg, ctx);
                }
            }
            tracing::debug!(partition = %self.name, error = %e, "transactional batch refused");
            let _ = msg.reply.send(Err(e));
            return;
        }
        self.accept(msg, ctx);
    }

    /// KIP-890's verification: asks the transaction's coordinator whether this
    /// partition is in the producer's transaction. The partition serves everything else
    /// meanwhile; this producer's appends queue behind the one verified.
    fn verify_then_admit(
        &mut self,
        producer_id: i64,
        epoch: i16,
        verification: crate::cluster::txn::TxnVerification,
        msg: AppendInOrder,
        ctx: &mut Context<Self>,
    ) {
        self.verifying.insert(producer_id, vec![msg]);
        let verified = verification.verify(producer_id, epoch);
        ctx.spawn(verified.into_actor(self).map(move |res, act, ctx| {
            let queued = act.verifying.remove(&producer_id).unwrap_or_default();
            let mut queued = queued.into_iter();
            match res {
                Ok(()) => {
                    let expected = act.expected_txns.entry(producer_id).or_insert(epoch);
                    *expected = (*expected).max(epoch);
                }
                Err(code) => {
                    tracing::debug!(partition = %act.name, producer_id, ?code, "transaction not verified by its coordinator");
                    if let Some(first) = queued.next() {
                        let _ = first.reply.send(Err(PartitionError::Refused(
                            code,
                            format!(
                                "producer {producer_id} (epoch {epoch}) has no transaction that includes {}",
                                act.name
                            ),
                        )));
                    }
                }
            }
            for msg in queued {
                act.admit(msg, false, ctx);
            }
        }));
    }

    /// Writes an append that passed the role and transaction checks.
    fn accept(&mut self, msg: AppendInOrder, ctx: &mut Context<Self>) {
        let reply = msg.reply;
        // Compacted topic: every record needs a key. An uncompressed batch is walked
        // here; a compressed one is decompressed on the blocking pool while this
        // partition waits (`wait`: no other message runs before this append, so appends
        // stay in order, and the arbiter serves the others meanwhile).
        if msg.check_keys {
            let compressed = RecordBatch::parse(&msg.append.batch)
                .is_ok_and(|b| b.compression().ok() != Some(Compression::None));
            if compressed {
                return self.check_keys_then_append(msg.append, reply, ctx);
            }
            if let Err(e) = every_record_has_a_key(&msg.append.batch) {
                let _ = reply.send(Err(e));
                return;
            }
        }
        self.append_and_reply(msg.append, reply, ctx);
    }
}

impl PartitionActor {
    fn check_keys_then_append(
        &mut self,
        append: Append,
        reply: oneshot::Sender<Result<Appended, PartitionError>>,
        ctx: &mut Context<Self>,
    ) {
        let batch = append.batch.clone();
        let check = tokio::task::spawn_blocking(move || every_record_has_a_key(&batch));
        ctx.wait(
            actix::fut::wrap_future(check).map(move |res, act: &mut Self, ctx| match res {
                Ok(Ok(())) => act.append_and_reply(append, reply, ctx),
                Ok(Err(e)) => {
                    let _ = reply.send(Err(e));
                }
                Err(e) => {
                    let _ = reply.send(Err(PartitionError::Storage(e.to_string())));
                }
            }),
        );
    }
}

/// Kafka's check for compacted topics: every record has a key (INVALID_RECORD), a
/// compressed batch decompressed for it (CORRUPT_MESSAGE if that fails).
fn every_record_has_a_key(batch: &[u8]) -> Result<(), PartitionError> {
    use crate::protocol::records::compression::{KEYLESS_RECORD, MAX_DECOMPRESSED_BATCH};
    match RecordBatch::parse(batch).and_then(|b| b.every_record_has_a_key(MAX_DECOMPRESSED_BATCH)) {
        Ok(true) => Ok(()),
        Ok(false) => Err(PartitionError::Refused(
            ErrorCode::InvalidRecord,
            KEYLESS_RECORD.to_string(),
        )),
        Err(e) => Err(PartitionError::Refused(
            ErrorCode::CorruptMessage,
            e.to_string(),
        )),
    }
}

impl PartitionActor {
    fn append_and_reply(
        &mut self,
        append: Append,
        reply: oneshot::Sender<Result<Appended, PartitionError>>,
        ctx: &mut Context<Self>,
    ) {
        let result = <Self as Handler<Append>>::handle(self, append, ctx);
        ctx.spawn(actix::fut::wrap_future(async move {
            let _ = reply.send(result.await);
        }));
    }
}

impl Handler<Append> for PartitionActor {
    type Result = ResponseFuture<Result<Appended, PartitionError>>;

    fn handle(&mut self, msg: Append, ctx: &mut Context<Self>) -> Self::Result {
        if !self.role.serves_clients() {
            return Box::pin(async { Err(PartitionError::Closed) });
        }
        let Some(log) = self.log.as_mut() else {
            return Box::pin(async { Err(PartitionError::Closed) });
        };
        // An idempotent producer's batch: a duplicate is answered with its original
        // offsets and not written again; a gap or an old epoch is refused. A batch
        // without a sequence (a marker, a transactional offset commit) only has its
        // epoch checked.
        let header = RecordBatch::parse(&msg.batch).ok();
        let identity = header.as_ref().and_then(BatchIdentity::of);
        if let Some(h) = header
            .as_ref()
            .filter(|h| identity.is_none() && h.producer_id() >= 0)
        {
            if let Err(e) = self
                .producers
                .check_epoch(h.producer_id(), h.producer_epoch())
            {
                return Box::pin(async move { Err(PartitionError::from(e)) });
            }
        }
        if let Some(id) = &identity {
            match self.producers.check(id) {
                Ok(None) => {}
                Ok(Some(dup)) => {
                    let info = Appended {
                        base_offset: dup.first_offset,
                        last_offset: dup.last_offset,
                        log_append_time_ms: -1,
                        log_start_offset: log.log_start_offset(),
                        role_term: self.role_term,
                    };
                    tracing::debug!(partition = %self.name, producer_id = id.producer_id, "duplicate batch acknowledged");
                    return Box::pin(async move { Ok(info) });
                }
                Err(e) => return Box::pin(async move { Err(PartitionError::from(e)) }),
            }
        }
        let result = log.append(&msg.batch, now_ms());
        let info = match result {
            Ok(info) => info,
            Err(storage::Error::SegmentNotPrepared) => return self.prepare_then_append(msg, ctx),
            Err(e @ storage::Error::Io { .. }) | Err(e @ storage::Error::Corrupt { .. }) => {
                let err = PartitionError::Storage(e.to_string());
                self.fail(ctx, &e);
                return Box::pin(async move { Err(err) });
            }
            Err(e) => return Box::pin(async move { Err(storage_error(e)) }),
        };
        let info = Appended {
            base_offset: info.base_offset,
            last_offset: info.last_offset,
            log_append_time_ms: info.log_append_time_ms,
            log_start_offset: log.log_start_offset(),
            role_term: self.role_term,
        };
        if let Some(h) = &header {
            let timestamp = if info.log_append_time_ms >= 0 {
                info.log_append_time_ms
            } else {
                h.max_timestamp()
            };
            self.apply_to_producers(h, info.base_offset, timestamp);
        }
        self.on_roll();
        self.flush_if_due();
        self.prepare_next_segment(ctx);
        self.fill_ahead(ctx);
        self.publish_offsets();
        match (msg.wait_for_fsync, &self.flush) {
            (true, Some(flush)) => {
                let flush = flush.clone();
                let upto = info.last_offset + 1;
                Box::pin(async move {
                    match tokio::task::spawn_blocking(move || flush.flush_up_to(upto)).await {
                        Ok(Ok(_)) => Ok(info),
                        Ok(Err(e)) => Err(PartitionError::Storage(e.to_string())),
                        Err(e) => Err(PartitionError::Storage(e.to_string())),
                    }
                })
            }
            _ => Box::pin(async move { Ok(info) }),
        }
    }
}

type PreparedResult =
    Result<Result<storage::PreparedSegment, storage::Error>, tokio::task::JoinError>;

/// Makes a segment's files on the blocking pool.
fn prepare_segment(
    preparer: storage::SegmentPreparer,
) -> impl std::future::Future<Output = PreparedResult> {
    tokio::task::spawn_blocking(move || preparer.prepare())
}
