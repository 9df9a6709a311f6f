//! The `range` assignor of Aeon's consumer groups: Kafka's server-side `RangeAssignor`
//! (KIP-848, as rewritten for Kafka 4).
//!
//! Each topic's partitions are cut into contiguous ranges, one per subscriber, in a fixed
//! member order: static members first (by `group.instance.id`), then the others by member
//! id. The first `partitions % subscribers` members of that order get one partition more.
//! Because every topic uses the same order, topics with the same subscribers and the same
//! partition count are co-partitioned: a member gets the same partition numbers of each.
//!
//! Like Kafka 4, the result depends only on the members, their subscriptions and the
//! partition counts, never on the current assignment: a static member that rejoins under a
//! new member id finds its ranges where it left them.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::assignor::{Assignment, MemberSpec};

pub(super) fn assign(
    members: &BTreeMap<String, MemberSpec>,
    topics: &BTreeMap<Uuid, u32>,
) -> BTreeMap<String, Assignment> {
    let order = range_order(members);

    let mut subscribers: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
    for (position, (_, spec)) in order.iter().enumerate() {
        for topic in spec.topics.iter().filter(|t| topics.contains_key(t)) {
            subscribers.entry(*topic).or_default().push(position);
        }
    }

    let mut assignments = vec![Assignment::new(); order.len()];
    for (topic, members_of_topic) in &subscribers {
        let count = topics.get(topic).map_or(0, |&c| partition_count(c));
        for (member, range) in members_of_topic
            .iter()
            .zip(ranges(count, members_of_topic.len()))
        {
            if range.is_empty() {
                continue;
            }
            if let Some(assignment) = assignments.get_mut(*member) {
                assignment.insert(*topic, range.collect());
            }
        }
    }

    order
        .into_iter()
        .zip(assignments)
        .map(|((id, _), assignment)| (id.clone(), assignment))
        .collect()
}

/// The members in the order ranges are handed out: those with an instance id first, by
/// instance id; then the rest by member id. The member id breaks any remaining tie, so the
/// order is total.
fn range_order(members: &BTreeMap<String, MemberSpec>) -> Vec<(&String, &MemberSpec)> {
    let mut order: Vec<(&String, &MemberSpec)> = members.iter().collect();
    order.sort_by(|(a_id, a), (b_id, b)| {
        let a_key = (
            a.instance_id.is_none(),
            a.instance_id.as_deref(),
            a_id.as_str(),
        );
        let b_key = (
            b.instance_id.is_none(),
            b.instance_id.as_deref(),
            b_id.as_str(),
        );
        a_key.cmp(&b_key)
    });
    order
}

/// `count` partitions cut into `members` contiguous ranges, the longer ones first.
fn ranges(count: i32, members: usize) -> impl Iterator<Item = std::ops::Range<i32>> {
    let members = i32::try_from(members).unwrap_or(i32::MAX).max(1);
    let (quota, extra) = (count / members, count % members);
    (0..members).map(move |i| {
        let start = i * quota + i.min(extra);
        let len = quota + i32::from(i < extra);
        start..start + len
    })
}

/// A topic's partition count as Kafka's partition numbers see it.
fn partition_count(count: u32) -> i32 {
    i32::try_from(count).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn topic(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn member(topics: &[Uuid]) -> MemberSpec {
        MemberSpec {
            topics: topics.iter().copied().collect(),
            ..MemberSpec::default()
        }
    }

    fn static_member(instance: &str, topics: &[Uuid]) -> MemberSpec {
        MemberSpec {
            instance_id: Some(instance.to_string()),
            ..member(topics)
        }
    }

    fn set(partitions: std::ops::Range<i32>) -> BTreeSet<i32> {
        partitions.collect()
    }

    #[test]
    fn a_fresh_group_gets_contiguous_ranges_with_the_extras_first() {
        let (t1, t2) = (topic(1), topic(2));
        let topics = BTreeMap::from([(t1, 3), (t2, 3)]);
        let members = BTreeMap::from([
            ("m0".to_string(), member(&[t1, t2])),
            ("m1".to_string(), member(&[t1, t2])),
        ]);
        let result = assign(&members, &topics);
        assert_eq!(
            result["m0"],
            Assignment::from([(t1, set(0..2)), (t2, set(0..2))])
        );
        assert_eq!(
            result["m1"],
            Assignment::from([(t1, set(2..3)), (t2, set(2..3))])
        );
    }

    #[test]
    fn co_partitioned_topics_give_each_member_the_same_partition_numbers() {
        let (t1, t2, t3) = (topic(1), topic(2), topic(3));
        let topics = BTreeMap::from([(t1, 10), (t2, 10), (t3, 4)]);
        let members: BTreeMap<_, _> = ["a", "b", "c"]
            .iter()
            .map(|id| (id.to_string(), member(&[t1, t2, t3])))
            .collect();
        let result = assign(&members, &topics);
        for assignment in result.values() {
            assert_eq!(assignment[&t1], assignment[&t2]);
        }
        assert_eq!(result["a"][&t1], set(0..4));
        assert_eq!(result["b"][&t1], set(4..7));
        assert_eq!(result["c"][&t1], set(7..10));
        assert_eq!(result["c"][&t3], set(3..4));
    }

    #[test]
    fn each_topic_is_ranged_over_its_own_subscribers() {
        let (t1, t2) = (topic(1), topic(2));
        let topics = BTreeMap::from([(t1, 3), (t2, 2)]);
        let members = BTreeMap::from([
            ("a".to_string(), member(&[t1])),
            ("b".to_string(), member(&[t1, t2])),
            ("c".to_string(), member(&[t2])),
        ]);
        let result = assign(&members, &topics);
        assert_eq!(result["a"], Assignment::from([(t1, set(0..2))]));
        assert_eq!(
            result["b"],
            Assignment::from([(t1, set(2..3)), (t2, set(0..1))])
        );
        assert_eq!(result["c"], Assignment::from([(t2, set(1..2))]));
    }

    #[test]
    fn more_members_than_partitions_leaves_the_last_members_empty() {
        let t = topic(1);
        let topics = BTreeMap::from([(t, 2)]);
        let members: BTreeMap<_, _> = ["a", "b", "c"]
            .iter()
            .map(|id| (id.to_string(), member(&[t])))
            .collect();
        let result = assign(&members, &topics);
        assert_eq!(result["a"][&t], set(0..1));
        assert_eq!(result["b"][&t], set(1..2));
        assert_eq!(result["c"], Assignment::new());
    }

    #[test]
    fn static_members_come_first_by_instance_id() {
        let t = topic(1);
        let topics = BTreeMap::from([(t, 5)]);
        let members = BTreeMap::from([
            ("a".to_string(), static_member("zeta", &[t])),
            ("b".to_string(), member(&[t])),
            ("c".to_string(), static_member("alpha", &[t])),
        ]);
        let result = assign(&members, &topics);
        assert_eq!(result["c"][&t], set(0..2));
        assert_eq!(result["a"][&t], set(2..4));
        assert_eq!(result["b"][&t], set(4..5));
    }

    #[test]
    fn a_static_member_rejoining_under_a_new_id_gets_its_ranges_back() {
        let t = topic(1);
        let topics = BTreeMap::from([(t, 5)]);
        let mut members = BTreeMap::from([
            ("a".to_string(), static_member("instance-a", &[t])),
            ("b".to_string(), member(&[t])),
            ("c".to_string(), static_member("instance-c", &[t])),
        ]);
        let before = assign(&members, &topics);
        members.remove("a");
        members.insert("z".to_string(), static_member("instance-a", &[t]));
        let after = assign(&members, &topics);
        assert_eq!(after["z"], before["a"]);
        assert_eq!(after["b"], before["b"]);
        assert_eq!(after["c"], before["c"]);
    }

    #[test]
    fn the_current_assignment_does_not_matter() {
        let t = topic(1);
        let topics = BTreeMap::from([(t, 4)]);
        let fresh = BTreeMap::from([
            ("a".to_string(), member(&[t])),
            ("b".to_string(), member(&[t])),
        ]);
        let mut held = fresh.clone();
        for (id, partitions) in [("a", [2, 3]), ("b", [0, 1])] {
            if let Some(spec) = held.get_mut(id) {
                spec.current = Assignment::from([(t, partitions.into_iter().collect())]);
            }
        }
        assert_eq!(assign(&held, &topics), assign(&fresh, &topics));
    }

    #[test]
    fn unknown_and_unsubscribed_topics_are_ignored() {
        let (t1, t2, unknown) = (topic(1), topic(2), topic(3));
        let topics = BTreeMap::from([(t1, 2), (t2, 2)]);
        let members = BTreeMap::from([("a".to_string(), member(&[t1, unknown]))]);
        let result = assign(&members, &topics);
        assert_eq!(result["a"], Assignment::from([(t1, set(0..2))]));
    }

    #[test]
    fn no_members_no_assignment() {
        assert!(assign(&BTreeMap::new(), &BTreeMap::from([(topic(1), 3)])).is_empty());
    }

    #[test]
    fn a_thousand_members_over_ten_thousand_partitions() {
        let topics: BTreeMap<Uuid, u32> = (1..=10).map(|t| (topic(t), 1_000)).collect();
        let ids: Vec<Uuid> = topics.keys().copied().collect();
        let members: BTreeMap<String, MemberSpec> = (0..1_000)
            .map(|m| (format!("member-{m:04}"), member(&ids[m % 3..])))
            .collect();
        let result = assign(&members, &topics);
        let total: usize = result
            .values()
            .flat_map(|a| a.values())
            .map(BTreeSet::len)
            .sum();
        assert_eq!(total, 10_000);
    }

    /// 1..20 members, 1..6 topics of 1..40 partitions, random subscriptions (topic 99 does
    /// not exist), random instance ids and random current assignments.
    fn group() -> impl Strategy<Value = (BTreeMap<String, MemberSpec>, BTreeMap<Uuid, u32>)> {
        (prop::collection::vec(1u32..40, 1..6), 1usize..20)
            .prop_flat_map(|(counts, members)| {
                let n = counts.len();
                let spec = (
                    prop::collection::btree_set(0..=n, 0..=n),
                    prop::option::of(0u8..30),
                    prop::collection::vec((0..=n, -2i32..45), 0..12),
                );
                (Just(counts), prop::collection::vec(spec, members))
            })
            .prop_map(|(counts, specs)| {
                let id = |i: usize| {
                    if i < counts.len() {
                        topic(i as u128 + 1)
                    } else {
                        topic(99)
                    }
                };
                let topics = counts
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| (id(i), c))
                    .collect();
                let members = specs
                    .into_iter()
                    .enumerate()
                    .map(|(m, (subscription, instance, current))| {
                        let mut spec = MemberSpec {
                            instance_id: instance.map(|i| format!("instance-{i}")),
                            topics: subscription.into_iter().map(id).collect(),
                            ..MemberSpec::default()
                        };
                        for (t, p) in current {
                            spec.current.entry(id(t)).or_default().insert(p);
                        }
                        (format!("m{m:02}"), spec)
                    })
                    .collect();
                (members, topics)
            })
    }

    proptest! {
        #[test]
        fn every_topic_is_split_in_even_contiguous_ranges_over_its_subscribers(
            (members, topics) in group()
        ) {
            let result = assign(&members, &topics);
            prop_assert!(result.keys().eq(members.keys()));
            prop_assert_eq!(&result, &assign(&members, &topics));

            for (t, &count) in &topics {
                let subscribers: Vec<&String> = members.iter()
                    .filter(|(_, m)| m.topics.contains(t)).map(|(id, _)| id).collect();
                let mut seen = BTreeSet::new();
                for (id, assignment) in &result {
                    let Some(partitions) = assignment.get(t) else { continue };
                    prop_assert!(!partitions.is_empty());
                    prop_assert!(subscribers.contains(&id), "{} got {} unsubscribed", id, t);
                    let (first, last) = (partitions.first(), partitions.last());
                    let span = first.zip(last).map(|(f, l)| (l - f + 1) as usize);
                    prop_assert_eq!(span, Some(partitions.len()), "{} not contiguous", id);
                    let n = subscribers.len() as u32;
                    let len = partitions.len() as u32;
                    prop_assert!(len == count / n || len == count / n + 1);
                    for &p in partitions {
                        prop_assert!(p >= 0 && (p as u32) < count);
                        prop_assert!(seen.insert(p), "{}-{} twice", t, p);
                    }
                }
                let expected = if subscribers.is_empty() { 0 } else { count as usize };
                prop_assert_eq!(seen.len(), expected);
            }
            for (id, assignment) in &result {
                prop_assert!(assignment.keys().all(|t| topics.contains_key(t)), "{} unknown topic", id);
            }

            // Co-partitioning: same subscribers and same count, same partitions per member.
            for (t1, c1) in &topics {
                for (t2, c2) in &topics {
                    let same_subscribers = members.values()
                        .all(|m| m.topics.contains(t1) == m.topics.contains(t2));
                    if t1 < t2 && c1 == c2 && same_subscribers {
                        for assignment in result.values() {
                            prop_assert_eq!(assignment.get(t1), assignment.get(t2));
                        }
                    }
                }
            }
        }
    }
}
