//! Reconciliation (Kafka's `CurrentAssignmentBuilder`): moves one member one step towards
//! its target assignment without ever letting two members own a partition.
//!
//! A member first gives up what it must (UNREVOKED_PARTITIONS, at its old epoch); once
//! its heartbeat no longer reports those partitions it moves to the target epoch and gets
//! what is free of its target (STABLE), or waits for partitions another member still
//! holds (UNRELEASED_PARTITIONS) and gets them on a later heartbeat.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::assignor::Assignment;
use super::member::{CurrentAssignment, MemberState};

/// The inputs of one step.
pub struct Step<'a> {
    pub target_epoch: i32,
    pub target: &'a Assignment,
    /// The topic ids the member subscribes to now: a topic it left counts as not targeted.
    pub subscribed: &'a BTreeSet<Uuid>,
    /// What the member reports owning; `None` when its heartbeat did not say.
    pub owned: Option<&'a Assignment>,
    /// Whether a partition is owned by some member (assigned or pending revocation).
    pub is_owned: &'a dyn Fn(&Uuid, i32) -> bool,
}

/// The member's next state; equal to `current` when it cannot move.
pub fn next(current: &CurrentAssignment, step: &Step<'_>) -> CurrentAssignment {
    match current.state {
        MemberState::Stable if current.member_epoch == step.target_epoch => current.clone(),
        MemberState::UnrevokedPartitions if owns_any(step.owned, &current.pending_revocation) => {
            current.clone()
        }
        _ => compute_next(current, step),
    }
}

/// Whether the member still owns one of `revoking`; a heartbeat that did not report its
/// partitions is taken as still owning them.
fn owns_any(owned: Option<&Assignment>, revoking: &Assignment) -> bool {
    let Some(owned) = owned else {
        return true;
    };
    owned.iter().any(|(topic, partitions)| {
        revoking
            .get(topic)
            .is_some_and(|r| partitions.iter().any(|p| r.contains(p)))
    })
}

fn compute_next(current: &CurrentAssignment, step: &Step<'_>) -> CurrentAssignment {
    let empty = BTreeSet::new();
    let mut assigned = Assignment::new();
    let mut revoking = Assignment::new();
    let mut pending = Assignment::new();
    let mut unreleased = false;
    let topics: BTreeSet<&Uuid> = step.target.keys().chain(current.assigned.keys()).collect();
    for topic in topics {
        let target = match step.target.get(topic) {
            Some(t) if step.subscribed.contains(topic) => t,
            _ => &empty,
        };
        let had = current.assigned.get(topic).unwrap_or(&empty);
        let kept: BTreeSet<i32> = had.intersection(target).copied().collect();
        let gone: BTreeSet<i32> = had.difference(&kept).copied().collect();
        let revoking_before = current.pending_revocation.get(topic).unwrap_or(&empty);
        let mut wanted = BTreeSet::new();
        for &p in target.difference(&kept) {
            // A partition this member itself is giving up is free for it to keep.
            if (step.is_owned)(topic, p) && !revoking_before.contains(&p) {
                unreleased = true;
            } else {
                wanted.insert(p);
            }
        }
        if !kept.is_empty() {
            assigned.insert(*topic, kept);
        }
        if !gone.is_empty() {
            revoking.insert(*topic, gone);
        }
        if !wanted.is_empty() {
            pending.insert(*topic, wanted);
        }
    }
    let mut next = current.clone();
    if !revoking.is_empty() && owns_any(step.owned, &revoking) {
        next.state = MemberState::UnrevokedPartitions;
        next.assigned = assigned;
        next.pending_revocation = revoking;
        return next;
    }
    for (topic, partitions) in pending {
        assigned.entry(topic).or_default().extend(partitions);
    }
    next.state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
    next.set_epoch(step.target_epoch);
    next.assigned = assigned;
    next.pending_revocation = Assignment::new();
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(topic: Uuid, partitions: &[i32]) -> Assignment {
        Assignment::from([(topic, partitions.iter().copied().collect())])
    }

    fn stable(epoch: i32, assigned: Assignment) -> CurrentAssignment {
        CurrentAssignment {
            member_epoch: epoch,
            previous_member_epoch: epoch - 1,
            state: MemberState::Stable,
            assigned,
            pending_revocation: Assignment::new(),
        }
    }

    #[test]
    fn a_member_gives_up_partitions_before_it_moves_to_the_new_epoch() {
        let t = Uuid::new_v4();
        let subscribed = BTreeSet::from([t]);
        let target = tp(t, &[0, 1]);
        let owned = tp(t, &[0, 1, 2, 3]);
        let nobody = |_: &Uuid, _: i32| false;
        let member = stable(1, tp(t, &[0, 1, 2, 3]));
        let step = Step {
            target_epoch: 2,
            target: &target,
            subscribed: &subscribed,
            owned: Some(&owned),
            is_owned: &nobody,
        };
        let revoking = next(&member, &step);
        assert_eq!(revoking.state, MemberState::UnrevokedPartitions);
        assert_eq!(
            revoking.member_epoch, 1,
            "the epoch waits for the revocation"
        );
        assert_eq!(revoking.assigned, tp(t, &[0, 1]));
        assert_eq!(revoking.pending_revocation, tp(t, &[2, 3]));
        // Still reporting partition 3: no progress.
        let still = tp(t, &[0, 1, 3]);
        let step = Step {
            owned: Some(&still),
            ..step
        };
        assert_eq!(next(&revoking, &step), revoking);
        // Revoked: the member moves to epoch 2.
        let done = tp(t, &[0, 1]);
        let step = Step {
            owned: Some(&done),
            ..step
        };
        let moved = next(&revoking, &step);
        assert_eq!(moved.state, MemberState::Stable);
        assert_eq!((moved.member_epoch, moved.previous_member_epoch), (2, 1));
        assert!(moved.pending_revocation.is_empty());
    }

    #[test]
    fn a_partition_another_member_still_holds_is_given_only_once_released() {
        let t = Uuid::new_v4();
        let subscribed = BTreeSet::from([t]);
        let target = tp(t, &[0, 1]);
        let owned = Assignment::new();
        let held_by_other = |_: &Uuid, p: i32| p == 1;
        let member = stable(0, Assignment::new());
        let step = Step {
            target_epoch: 3,
            target: &target,
            subscribed: &subscribed,
            owned: Some(&owned),
            is_owned: &held_by_other,
        };
        let waiting = next(&member, &step);
        assert_eq!(waiting.state, MemberState::UnreleasedPartitions);
        assert_eq!(waiting.member_epoch, 3);
        assert_eq!(waiting.assigned, tp(t, &[0]));
        let free = |_: &Uuid, _: i32| false;
        let step = Step {
            is_owned: &free,
            ..step
        };
        let got = next(&waiting, &step);
        assert_eq!(got.state, MemberState::Stable);
        assert_eq!(got.assigned, tp(t, &[0, 1]));
    }

    #[test]
    fn an_unsubscribed_topic_is_revoked_even_if_still_targeted() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let subscribed = BTreeSet::from([a]);
        let mut target = tp(a, &[0]);
        target.extend(tp(b, &[0]));
        let owned = target.clone();
        let nobody = |_: &Uuid, _: i32| false;
        let member = stable(1, target.clone());
        let step = Step {
            target_epoch: 2,
            target: &target,
            subscribed: &subscribed,
            owned: Some(&owned),
            is_owned: &nobody,
        };
        let n = next(&member, &step);
        assert_eq!(n.state, MemberState::UnrevokedPartitions);
        assert_eq!(n.pending_revocation, tp(b, &[0]));
    }
}
