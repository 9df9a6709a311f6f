//! A transactional id's metadata ([`TxnMetadata`]) and every transition the coordinator
//! makes to it; pure, so each Kafka rule is a unit test.

use crate::protocol::ErrorCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The states of a transactional id, with Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    /// The name ListTransactions and DescribeTransactions report.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        ALL_STATES.iter().copied().find(|s| s.name() == name)
    }

    /// Markers are being written: the decision is made and must be carried out.
    pub fn is_prepared(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }
}

const ALL_STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

/// What the coordinator knows of one transactional id; persisted whole on every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    pub producer_id: i64,
    /// The producer id before the last epoch exhaustion (-1 if none): a retried
    /// InitProducerId with it is recognised.
    pub last_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump (-1 if none).
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// The partitions in the open transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// The groups whose offsets are in the open transaction (AddOffsetsToTxn).
    pub groups: BTreeSet<String>,
    /// When the open transaction began (its first AddPartitions), else -1.
    pub start_ms: i64,
    pub update_ms: i64,
}

/// What InitProducerId asks of the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitStep {
    /// Persist this, then answer with its producer id and epoch.
    Ready(TxnMetadata),
    /// The id has an open transaction: persist this (PrepareAbort, epoch bumped), write
    /// the abort markers, complete it, then run InitProducerId again.
    AbortFirst(TxnMetadata),
    /// The epoch is exhausted: allocate a new producer id and call
    /// [`TxnMetadata::with_new_producer_id`].
    NewProducerId,
}

/// What EndTxn asks of the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndStep {
    /// Persist this (PrepareCommit or PrepareAbort), write the markers, then complete.
    Prepare(TxnMetadata),
    /// A retry of an EndTxn that already completed the same way: answer success.
    AlreadyDone,
}

/// The producer's fencing error for the request version: PRODUCER_FENCED where the
/// API version knows it (KIP-588), else INVALID_PRODUCER_EPOCH.
pub fn fencing_error(knows_producer_fenced: bool) -> ErrorCode {
    if knows_producer_fenced {
        ErrorCode::ProducerFenced
    } else {
        ErrorCode::InvalidProducerEpoch
    }
}

impl TxnMetadata {
    /// A transactional id seen for the first time: epoch 0, Empty.
    pub fn new(producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            producer_id,
            last_producer_id: -1,
            producer_epoch: 0,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            start_ms: -1,
            update_ms: now_ms,
        }
    }

    /// Checks a transaction timeout against `transaction.max.timeout.ms`.
    pub fn check_timeout(timeout_ms: i32, max_timeout_ms: u32) -> Result<(), ErrorCode> {
        match u32::try_from(timeout_ms) {
            Ok(t) if t > 0 && t <= max_timeout_ms => Ok(()),
            _ => Err(ErrorCode::InvalidTransactionTimeout),
        }
    }

    /// InitProducerId for an id that exists. `expected` is the producer id and epoch a
    /// producer sent to bump its own epoch (KIP-360), if any.
    pub fn init_producer_id(
        &self,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now_ms: i64,
    ) -> Result<InitStep, ErrorCode> {
        if let Some((pid, epoch)) = expected {
            // A retry of a bump that already happened gets the same answer again.
            let bumped = self.state == TxnState::Empty
                && epoch == self.last_producer_epoch
                && (pid == self.producer_id || pid == self.last_producer_id);
            if bumped {
                return Ok(InitStep::Ready(self.clone()));
            }
            if pid != self.producer_id || epoch != self.producer_epoch {
                return Err(ErrorCode::ProducerFenced);
            }
        }
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            TxnState::Ongoing => Ok(InitStep::AbortFirst(self.fence_and_abort(now_ms))),
            TxnState::Empty
            | TxnState::CompleteCommit
            | TxnState::CompleteAbort
            | TxnState::Dead => {
                if self.producer_epoch >= i16::MAX - 1 {
                    return Ok(InitStep::NewProducerId);
                }
                Ok(InitStep::Ready(TxnMetadata {
                    // Only a producer's own bump (KIP-360) is remembered for its retry:
                    // a new producer's InitProducerId must leave nothing an older one
                    // could present to get the new epoch.
                    last_producer_epoch: if expected.is_some() {
                        self.producer_epoch
                    } else {
                        -1
                    },
                    producer_epoch: self.producer_epoch + 1,
                    timeout_ms,
                    // No transaction is open here, so there are no partitions, groups
                    // or start time to clear.
                    state: TxnState::Empty,
                    update_ms: now_ms,
                    ..self.clone()
                }))
            }
        }
    }

    /// After epoch exhaustion: the same id under a new producer id, epoch 0.
    pub fn with_new_producer_id(&self, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            last_producer_id: self.producer_id,
            last_producer_epoch: self.producer_epoch,
            ..TxnMetadata::new(producer_id, timeout_ms, now_ms)
        }
    }

    fn check_producer(
        &self,
        producer_id: i64,
        epoch: i16,
        fenced: ErrorCode,
    ) -> Result<(), ErrorCode> {
        if producer_id != self.producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if epoch != self.producer_epoch {
            return Err(fenced);
        }
        Ok(())
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn: the partitions (and groups) join the
    /// transaction, which opens if it was not. `None` when nothing changes (a retry).
    pub fn add(
        &self,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        group: Option<&str>,
        fenced: ErrorCode,
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, ErrorCode> {
        self.check_producer(producer_id, epoch, fenced)?;
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence => {
                return Err(ErrorCode::ConcurrentTransactions)
            }
            TxnState::Dead => return Err(ErrorCode::InvalidTxnState),
            _ => {}
        }
        let ongoing = self.state == TxnState::Ongoing;
        if ongoing
            && partitions.iter().all(|p| self.partitions.contains(p))
            && group.is_none_or(|g| self.groups.contains(g))
        {
            return Ok(None);
        }
        let mut next = self.clone();
        next.partitions.extend(partitions.iter().cloned());
        next.groups.extend(group.map(str::to_string));
        if !ongoing {
            next.state = TxnState::Ongoing;
            next.start_ms = now_ms;
        }
        next.update_ms = now_ms;
        Ok(Some(next))
    }

    /// EndTxn from the producer.
    pub fn end(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        fenced: ErrorCode,
        now_ms: i64,
    ) -> Result<EndStep, ErrorCode> {
        self.check_producer(producer_id, epoch, fenced)?;
        match (self.state, commit) {
            (TxnState::Ongoing, _) => Ok(EndStep::Prepare(TxnMetadata {
                state: if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                },
                update_ms: now_ms,
                ..self.clone()
            })),
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                Ok(EndStep::AlreadyDone)
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            (TxnState::PrepareEpochFence, _) => Err(ErrorCode::ConcurrentTransactions),
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }

    /// Aborts the open transaction with the epoch bumped, so the producer that opened it
    /// is fenced (timeouts, and a new producer with the same id).
    pub fn fence_and_abort(&self, now_ms: i64) -> TxnMetadata {
        TxnMetadata {
            last_producer_epoch: self.producer_epoch,
            producer_epoch: self.producer_epoch.saturating_add(1),
            state: TxnState::PrepareAbort,
            update_ms: now_ms,
            ..self.clone()
        }
    }

    /// The markers are written: PrepareCommit -> CompleteCommit, PrepareAbort ->
    /// CompleteAbort, and the transaction's partitions are forgotten.
    pub fn complete(&self, now_ms: i64) -> TxnMetadata {
        let state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            TxnState::PrepareAbort => TxnState::CompleteAbort,
            other => other,
        };
        TxnMetadata {
            state,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            start_ms: -1,
            update_ms: now_ms,
            ..self.clone()
        }
    }

    /// When an open transaction times out.
    pub fn deadline_ms(&self) -> Option<i64> {
        (self.state == TxnState::Ongoing)
            .then(|| self.start_ms.saturating_add(i64::from(self.timeout_ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FENCED: ErrorCode = ErrorCode::ProducerFenced;

    fn p(topic: &str, partition: i32) -> (String, i32) {
        (topic.to_string(), partition)
    }

    fn ready(step: Result<InitStep, ErrorCode>) -> TxnMetadata {
        match step {
            Ok(InitStep::Ready(m)) => m,
            other => panic!("expected Ready, got {other:?}"),
        }
    }

    #[test]
    fn a_transaction_goes_from_empty_through_ongoing_to_complete() {
        let m = TxnMetadata::new(7, 60_000, 0);
        let m = m
            .add(7, 0, &[p("t", 0), p("t", 1)], None, FENCED, 10)
            .expect("add")
            .expect("changed");
        assert_eq!((m.state, m.start_ms), (TxnState::Ongoing, 10));
        assert_eq!(m.deadline_ms(), Some(60_010));
        assert_eq!(
            m.add(7, 0, &[p("t", 1)], None, FENCED, 20),
            Ok(None),
            "a retry changes nothing"
        );
        let m = m
            .add(7, 0, &[], Some("g"), FENCED, 30)
            .expect("add")
            .expect("changed");
        assert_eq!(m.start_ms, 10, "the transaction keeps its start");
        let EndStep::Prepare(prepared) = m.end(7, 0, true, FENCED, 40).expect("end") else {
            panic!("prepare expected")
        };
        assert_eq!(prepared.state, TxnState::PrepareCommit);
        assert_eq!(
            prepared.end(7, 0, true, FENCED, 41),
            Err(ErrorCode::ConcurrentTransactions)
        );
        let done = prepared.complete(50);
        assert_eq!(done.state, TxnState::CompleteCommit);
        assert!(done.partitions.is_empty() && done.groups.is_empty());
        assert_eq!(done.deadline_ms(), None);
        assert_eq!(done.end(7, 0, true, FENCED, 60), Ok(EndStep::AlreadyDone));
        assert_eq!(
            done.end(7, 0, false, FENCED, 60),
            Err(ErrorCode::InvalidTxnState)
        );
    }

    #[test]
    fn wrong_producers_and_epochs_are_refused() {
        let m = TxnMetadata::new(7, 60_000, 0);
        assert_eq!(
            m.add(8, 0, &[p("t", 0)], None, FENCED, 1),
            Err(ErrorCode::InvalidProducerIdMapping)
        );
        assert_eq!(m.add(7, 1, &[p("t", 0)], None, FENCED, 1), Err(FENCED));
        assert_eq!(
            m.end(7, 0, true, FENCED, 1),
            Err(ErrorCode::InvalidTxnState),
            "nothing to end"
        );
    }

    #[test]
    fn init_producer_id_bumps_the_epoch_and_aborts_an_open_transaction_first() {
        let m = TxnMetadata::new(7, 60_000, 0);
        let m = ready(m.init_producer_id(30_000, None, 5));
        assert_eq!((m.producer_epoch, m.last_producer_epoch), (1, -1));
        assert_eq!(
            m.init_producer_id(30_000, Some((7, 0)), 5),
            Err(ErrorCode::ProducerFenced),
            "the producer a new one replaced cannot take over its epoch"
        );
        assert_eq!(m.timeout_ms, 30_000);
        let open = m
            .add(7, 1, &[p("t", 0)], None, FENCED, 6)
            .expect("add")
            .expect("changed");
        let Ok(InitStep::AbortFirst(aborting)) = open.init_producer_id(30_000, None, 7) else {
            panic!("the open transaction must be aborted first")
        };
        assert_eq!(aborting.state, TxnState::PrepareAbort);
        assert_eq!(aborting.producer_epoch, 2, "the markers fence epoch 1");
        assert_eq!(
            aborting.init_producer_id(30_000, None, 8),
            Err(ErrorCode::ConcurrentTransactions)
        );
        let aborted = aborting.complete(9);
        let again = ready(aborted.init_producer_id(30_000, None, 10));
        assert_eq!(again.producer_epoch, 3);
        assert_eq!(
            again.add(7, 1, &[p("t", 0)], None, FENCED, 11),
            Err(FENCED),
            "the zombie is fenced"
        );
    }

    #[test]
    fn an_exhausted_epoch_moves_to_a_new_producer_id() {
        let mut m = TxnMetadata::new(7, 60_000, 0);
        m.producer_epoch = i16::MAX - 1;
        assert_eq!(
            m.init_producer_id(1000, None, 1),
            Ok(InitStep::NewProducerId)
        );
        let n = m.with_new_producer_id(8, 1000, 1);
        assert_eq!(
            (n.producer_id, n.producer_epoch, n.last_producer_id),
            (8, 0, 7)
        );
    }

    #[test]
    fn a_producer_bumping_its_own_epoch_must_name_the_current_one() {
        let m = ready(TxnMetadata::new(7, 60_000, 0).init_producer_id(1000, None, 1));
        let bumped = ready(m.init_producer_id(1000, Some((7, 1)), 2));
        assert_eq!(bumped.producer_epoch, 2);
        assert_eq!(
            ready(bumped.init_producer_id(1000, Some((7, 1)), 3)),
            bumped,
            "a retried bump is answered again, not bumped twice"
        );
        assert_eq!(
            m.init_producer_id(1000, Some((9, 5)), 2),
            Err(ErrorCode::ProducerFenced)
        );
    }

    #[test]
    fn timeouts_are_checked_against_the_maximum() {
        assert!(TxnMetadata::check_timeout(60_000, 900_000).is_ok());
        for bad in [0, -1, 900_001] {
            assert_eq!(
                TxnMetadata::check_timeout(bad, 900_000),
                Err(ErrorCode::InvalidTransactionTimeout)
            );
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Init(Option<(i64, i16)>),
        Add { epoch_delta: i16, partition: i32 },
        End { epoch_delta: i16, commit: bool },
        Complete,
        TimeOut,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            prop_oneof![Just(None), (6i64..9, -1i16..4).prop_map(Some)].prop_map(Op::Init),
            (-1i16..2, 0i32..3).prop_map(|(epoch_delta, partition)| Op::Add {
                epoch_delta,
                partition
            }),
            (-1i16..2, any::<bool>()).prop_map(|(epoch_delta, commit)| Op::End {
                epoch_delta,
                commit
            }),
            Just(Op::Complete),
            Just(Op::TimeOut),
        ]
    }

    proptest::proptest! {
        /// Whatever a client sends in whatever order: no panic, the epoch of a producer
        /// id never goes down, a wrong epoch changes nothing, and only an open or a
        /// prepared transaction holds partitions.
        #[test]
        fn any_sequence_of_requests_keeps_the_invariants(ops in proptest::collection::vec(op(), 1..60)) {
            let mut m = TxnMetadata::new(7, 1000, 0);
            let mut now = 0i64;
            for op in ops {
                now += 100;
                let before = m.clone();
                let next = match op {
                    Op::Init(expected) => match m.init_producer_id(1000, expected, now) {
                        Ok(InitStep::Ready(n)) | Ok(InitStep::AbortFirst(n)) => Some(n),
                        Ok(InitStep::NewProducerId) => Some(m.with_new_producer_id(m.producer_id + 1, 1000, now)),
                        Err(_) => None,
                    },
                    Op::Add { epoch_delta, partition } => {
                        let epoch = m.producer_epoch.saturating_add(epoch_delta);
                        let r = m.add(7, epoch, &[p("t", partition)], None, FENCED, now);
                        if epoch_delta != 0 {
                            proptest::prop_assert!(r.is_err(), "a wrong epoch is refused");
                        }
                        r.ok().flatten()
                    }
                    Op::End { epoch_delta, commit } => {
                        let epoch = m.producer_epoch.saturating_add(epoch_delta);
                        let r = m.end(m.producer_id, epoch, commit, FENCED, now);
                        if epoch_delta != 0 {
                            proptest::prop_assert!(r.is_err(), "a wrong epoch is refused");
                        }
                        match r {
                            Ok(EndStep::Prepare(n)) => Some(n),
                            _ => None,
                        }
                    }
                    Op::Complete => m.state.is_prepared().then(|| m.complete(now)),
                    Op::TimeOut => m
                        .deadline_ms()
                        .is_some_and(|d| d <= now)
                        .then(|| m.fence_and_abort(now)),
                };
                if let Some(n) = next {
                    if n.producer_id == before.producer_id {
                        proptest::prop_assert!(n.producer_epoch >= before.producer_epoch);
                    }
                    let holds = matches!(
                        n.state,
                        TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort
                    );
                    proptest::prop_assert!(holds || n.partitions.is_empty());
                    proptest::prop_assert_eq!(holds, n.start_ms >= 0, "a start time only while open");
                    m = n;
                }
            }
        }
    }

    #[test]
    fn state_names_are_kafkas() {
        for s in ALL_STATES {
            assert_eq!(TxnState::from_name(s.name()), Some(s));
        }
        assert_eq!(TxnState::from_name("ongoing"), None);
    }
}
