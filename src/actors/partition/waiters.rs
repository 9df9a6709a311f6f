//! The fetches parked on a partition until it has data for them or their wait ends
//! (Kafka's delayed fetch purgatory, for one partition).
//!
//! A fetch over many partitions parks in each of them and is answered by the first that
//! has data; its other waiters are then dead (their reply channel closed). They are
//! dropped whenever the parked set has doubled since the last sweep, so dead waiters
//! never outnumber live ones by much, whatever the clients' `max_wait_ms`. Parking,
//! waking by data and expiring are O(log n) per waiter moved: waiters are indexed by the
//! offset they wait past (per isolation level) and by deadline.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use super::{FetchData, IsolationLevel, PartitionError};
use tokio::sync::oneshot;

/// One parked fetch.
pub(super) struct Waiter {
    pub offset: i64,
    pub max_bytes: usize,
    pub isolation: IsolationLevel,
    pub deadline: Instant,
    pub reply: oneshot::Sender<Result<FetchData, PartitionError>>,
}

fn slot(isolation: IsolationLevel) -> usize {
    match isolation {
        IsolationLevel::ReadUncommitted => 0,
        IsolationLevel::ReadCommitted => 1,
    }
}

/// The fewest parked fetches at which dead ones are swept.
const MIN_SWEEP: usize = 64;

/// The parked fetches of one partition.
pub(super) struct Waiters {
    next_id: u64,
    by_id: HashMap<u64, Waiter>,
    /// (offset, id) per isolation level: a waiter wakes once its level's readable end
    /// passes its offset.
    by_offset: [BTreeSet<(i64, u64)>; 2],
    by_deadline: BTreeSet<(Instant, u64)>,
    sweep_at: usize,
}

impl Default for Waiters {
    fn default() -> Self {
        Self {
            next_id: 0,
            by_id: HashMap::new(),
            by_offset: [BTreeSet::new(), BTreeSet::new()],
            by_deadline: BTreeSet::new(),
            sweep_at: MIN_SWEEP,
        }
    }
}

impl Waiters {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn park(&mut self, w: Waiter) {
        if self.by_id.len() >= self.sweep_at {
            self.sweep_dead();
        }
        let id = self.next_id;
        self.next_id += 1;
        self.by_offset[slot(w.isolation)].insert((w.offset, id));
        self.by_deadline.insert((w.deadline, id));
        self.by_id.insert(id, w);
    }

    /// Drops the waiters whose fetch was answered elsewhere (or whose client left).
    fn sweep_dead(&mut self) {
        let dead: Vec<u64> = self
            .by_id
            .iter()
            .filter(|(_, w)| w.reply.is_closed())
            .map(|(&id, _)| id)
            .collect();
        for id in dead {
            self.remove(id);
        }
        self.sweep_at = (self.by_id.len() * 2).max(MIN_SWEEP);
    }

    fn remove(&mut self, id: u64) -> Option<Waiter> {
        let w = self.by_id.remove(&id)?;
        self.by_offset[slot(w.isolation)].remove(&(w.offset, id));
        self.by_deadline.remove(&(w.deadline, id));
        Some(w)
    }

    /// Takes the waiters that now have data: offset below `ends[level]`, where `ends`
    /// is the readable end for read_uncommitted and for read_committed.
    pub fn take_ready(
        &mut self,
        read_uncommitted_end: i64,
        read_committed_end: i64,
    ) -> Vec<Waiter> {
        let mut ready = Vec::new();
        for (level, end) in [read_uncommitted_end, read_committed_end]
            .into_iter()
            .enumerate()
        {
            let ids: Vec<u64> = self.by_offset[level]
                .range(..(end, 0))
                .map(|&(_, id)| id)
                .collect();
            ready.extend(ids.into_iter().filter_map(|id| self.remove(id)));
        }
        ready
    }

    /// Takes the waiters whose wait ended by `now`.
    pub fn take_expired(&mut self, now: Instant) -> Vec<Waiter> {
        let ids: Vec<u64> = self
            .by_deadline
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .map(|&(_, id)| id)
            .collect();
        ids.into_iter().filter_map(|id| self.remove(id)).collect()
    }

    pub fn earliest_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|&(deadline, _)| deadline)
    }

    /// Takes every waiter (the partition closes or restarts).
    pub fn drain(&mut self) -> Vec<Waiter> {
        self.by_offset.iter_mut().for_each(BTreeSet::clear);
        self.by_deadline.clear();
        self.sweep_at = MIN_SWEEP;
        self.by_id.drain().map(|(_, w)| w).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn waiter(
        offset: i64,
        isolation: IsolationLevel,
        deadline: Instant,
    ) -> (Waiter, oneshot::Receiver<Result<FetchData, PartitionError>>) {
        let (reply, rx) = oneshot::channel();
        let w = Waiter {
            offset,
            max_bytes: 1,
            isolation,
            deadline,
            reply,
        };
        (w, rx)
    }

    #[test]
    fn waiters_wake_by_their_own_levels_end_and_expire_by_deadline() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut ws = Waiters::default();
        let mut keep = Vec::new();
        for (offset, level, deadline) in [
            (5, IsolationLevel::ReadUncommitted, later),
            (9, IsolationLevel::ReadUncommitted, later),
            (5, IsolationLevel::ReadCommitted, later),
            (1, IsolationLevel::ReadCommitted, now),
        ] {
            let (w, rx) = waiter(offset, level, deadline);
            ws.park(w);
            keep.push(rx);
        }
        assert_eq!(ws.earliest_deadline(), Some(now));
        let expired = ws.take_expired(now);
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].offset, 1);
        // Uncommitted readers may read to 6, committed ones only to 3.
        let ready = ws.take_ready(6, 3);
        assert_eq!(ready.iter().map(|w| w.offset).collect::<Vec<_>>(), vec![5]);
        assert_eq!(ready[0].isolation, IsolationLevel::ReadUncommitted);
        assert_eq!(ws.len(), 2);
        let ready = ws.take_ready(10, 6);
        assert_eq!(ready.len(), 2);
        assert!(ws.is_empty());
        assert_eq!(ws.earliest_deadline(), None);
    }

    #[test]
    fn dead_waiters_are_swept_as_the_set_grows() {
        let far = Instant::now() + Duration::from_secs(86_400 * 24);
        let mut ws = Waiters::default();
        let mut live = Vec::new();
        for i in 0..10_000 {
            let (w, rx) = waiter(100, IsolationLevel::ReadUncommitted, far);
            ws.park(w);
            // One in a hundred fetches is still waiting; the rest were answered by
            // another partition and dropped their receiver.
            if i % 100 == 0 {
                live.push(rx);
            }
        }
        assert!(
            ws.len() <= 2 * live.len() + MIN_SWEEP,
            "{} parked",
            ws.len()
        );
        let left = ws.drain();
        assert!(left.len() >= live.len(), "live waiters are kept");
        assert!(left.iter().filter(|w| !w.reply.is_closed()).count() == live.len());
        assert!(ws.is_empty());
    }
}
