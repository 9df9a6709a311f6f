//! The consumer group driven the way clients drive it: unit tests of the heartbeat's
//! rules, and a proptest of random joins, leaves, crashes, lost answers and topic changes
//! that checks no partition is ever owned twice and every subscribed partition ends up
//! owned.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use uuid::Uuid;

use super::api::{ConsumerGroupConfig, HeartbeatRequest, HeartbeatResult};
use super::assignor::Assignment;
use super::group::ConsumerGroup;
use super::heartbeat::validate;
use super::record::ConsumerRecord;
use super::topics::compile_regex;
use crate::protocol::ErrorCode;

type Topics = BTreeMap<String, (Uuid, u32)>;

const SESSION_MS: u64 = 10_000;
const REBALANCE_MS: i32 = 5_000;

fn config() -> ConsumerGroupConfig {
    ConsumerGroupConfig {
        session_timeout_ms: SESSION_MS,
        heartbeat_interval_ms: 1_000,
        ..ConsumerGroupConfig::default()
    }
}

fn topic(n: u128, partitions: u32) -> (Uuid, u32) {
    (Uuid::from_u128(n), partitions)
}

/// What a member subscribes to.
#[derive(Debug, Clone)]
enum Sub {
    Names(Vec<String>),
    Regex(String),
}

/// A client as librdkafka behaves: it takes what its answer assigns, gives up what the
/// answer leaves out, and on UNKNOWN_MEMBER_ID or FENCED_MEMBER_EPOCH drops everything
/// and joins again.
#[derive(Debug, Clone)]
struct Client {
    id: String,
    sub: Sub,
    instance: Option<String>,
    joined: bool,
    epoch: i32,
    owned: Assignment,
    crashed: bool,
    left: bool,
    /// After a lost answer a client sends every field again (librdkafka's
    /// `SEND_FULL_REQUEST`, the Java client's `sendAllFields`).
    send_full: bool,
}

impl Client {
    fn new(i: usize, sub: Sub, instance: Option<String>) -> Self {
        Client {
            id: format!("member-{i}"),
            sub,
            instance,
            joined: false,
            epoch: 0,
            owned: Assignment::new(),
            crashed: false,
            left: false,
            send_full: false,
        }
    }

    fn request(&self) -> HeartbeatRequest {
        let mut req = HeartbeatRequest {
            version: 1,
            member_id: self.id.clone(),
            member_epoch: self.epoch,
            instance_id: self.instance.clone(),
            rebalance_timeout_ms: -1,
            owned: Some(self.owned.clone()),
            client_id: "test".into(),
            client_host: "/127.0.0.1".into(),
            ..HeartbeatRequest::default()
        };
        if !self.joined || self.send_full {
            if !self.joined {
                req.member_epoch = 0;
                req.owned = Some(Assignment::new());
            }
            req.rebalance_timeout_ms = REBALANCE_MS;
            match &self.sub {
                Sub::Names(n) => req.topic_names = Some(n.clone()),
                Sub::Regex(r) => req.topic_regex = Some(r.clone()),
            }
        }
        req
    }

    fn answer(&mut self, r: &HeartbeatResult) {
        self.send_full = false;
        match r.error {
            ErrorCode::None => {
                self.joined = true;
                self.epoch = r.member_epoch;
                if let Some(a) = &r.assignment {
                    self.owned = a.clone();
                }
            }
            ErrorCode::UnknownMemberId | ErrorCode::FencedMemberEpoch => {
                self.owned.clear();
                self.joined = false;
                self.epoch = 0;
            }
            other => panic!("unexpected answer {other:?}: {:?}", r.message),
        }
    }
}

struct World {
    group: ConsumerGroup,
    topics: Topics,
    clients: Vec<Client>,
    now: u64,
    next_topic: u128,
}

impl World {
    fn new(clients: Vec<Client>) -> Self {
        World {
            group: ConsumerGroup::default(),
            topics: Topics::from([("t0".into(), topic(1, 3)), ("t1".into(), topic(2, 4))]),
            clients,
            now: 1_000,
            next_topic: 3,
        }
    }

    fn send(&mut self, c: usize, req: HeartbeatRequest) -> HeartbeatResult {
        validate(&req, &config()).expect("the model sends valid requests");
        let mut records = Vec::new();
        let r = self
            .group
            .heartbeat(self.now, &config(), req, &self.topics, &mut records);
        self.replay_check(&records);
        let _ = c;
        r
    }

    /// Every record decodes into the same state: replaying the records of a fresh group
    /// must not fail (checked lightly: only that they apply).
    fn replay_check(&self, records: &[ConsumerRecord]) {
        let mut g = ConsumerGroup::default();
        for r in records {
            g.replay(r);
        }
    }

    fn heartbeat(&mut self, c: usize, lose_answer: bool) {
        if self.clients[c].crashed || self.clients[c].left {
            return;
        }
        let req = self.clients[c].request();
        let r = self.send(c, req);
        if lose_answer {
            self.clients[c].send_full = true;
        } else {
            self.clients[c].answer(&r);
        }
    }

    fn leave(&mut self, c: usize) {
        let client = &self.clients[c];
        if client.crashed || client.left || !client.joined {
            return;
        }
        let mut req = client.request();
        req.member_epoch = -1;
        let r = self.send(c, req);
        assert!(
            matches!(r.error, ErrorCode::None | ErrorCode::UnknownMemberId),
            "{r:?}"
        );
        let client = &mut self.clients[c];
        client.owned.clear();
        client.joined = false;
        client.left = true;
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        let records = self.group.tick(self.now, &config());
        self.replay_check(&records);
    }

    fn add_topic(&mut self, partitions: u32) {
        let n = self.next_topic;
        self.next_topic += 1;
        self.topics.insert(format!("t{n}"), topic(n, partitions));
    }

    fn grow(&mut self, which: usize, by: u32) {
        if let Some((_, (_, count))) = self.topics.iter_mut().nth(which % 4) {
            *count += by;
        }
    }

    fn delete(&mut self, which: usize) {
        if let Some(name) = self.topics.keys().nth(which % 4).cloned() {
            let (id, _) = self.topics.remove(&name).unwrap_or_default();
            // Clients drop a deleted topic's partitions, as librdkafka does.
            for c in &mut self.clients {
                c.owned.remove(&id);
            }
        }
    }

    /// No partition in two members' assignments (assigned or pending revocation), and
    /// every live client owns only what its member holds.
    fn check_no_double_ownership(&self) {
        let mut seen: BTreeMap<(Uuid, i32), &str> = BTreeMap::new();
        for m in self.group.members.values() {
            for (t, ps) in m
                .current
                .assigned
                .iter()
                .chain(m.current.pending_revocation.iter())
            {
                for p in ps {
                    if let Some(other) = seen.insert((*t, *p), &m.member_id) {
                        panic!("{t}-{p} held by {other} and {}", m.member_id);
                    }
                }
            }
        }
        for c in self.clients.iter().filter(|c| !c.crashed && c.joined) {
            let Some(m) = self.group.members.get(&c.id) else {
                continue; // a zombie: the group removed it and it has not heard yet
            };
            for (t, ps) in &c.owned {
                for p in ps {
                    let held = m.current.assigned.get(t).is_some_and(|s| s.contains(p))
                        || m.current
                            .pending_revocation
                            .get(t)
                            .is_some_and(|s| s.contains(p));
                    assert!(held, "{} owns {t}-{p} that its member does not hold", c.id);
                }
            }
        }
        let mut owned: BTreeSet<(Uuid, i32)> = BTreeSet::new();
        for c in self.clients.iter().filter(|c| !c.crashed && c.joined) {
            if !self.group.members.contains_key(&c.id) {
                continue;
            }
            for (t, ps) in &c.owned {
                for p in ps {
                    assert!(owned.insert((*t, *p)), "{t}-{p} owned by two live clients");
                }
            }
        }
    }

    /// The partitions a client's subscription selects now.
    fn wanted(&self, c: &Client) -> BTreeSet<(Uuid, i32)> {
        let names: Vec<&String> = match &c.sub {
            Sub::Names(n) => n.iter().collect(),
            Sub::Regex(r) => {
                let re = compile_regex(r).expect("valid");
                self.topics.keys().filter(|t| re.is_match(t)).collect()
            }
        };
        names
            .into_iter()
            .filter_map(|n| self.topics.get(n))
            .flat_map(|(id, count)| (0..*count as i32).map(move |p| (*id, p)))
            .collect()
    }
}

#[derive(Debug, Clone)]
enum Op {
    Heartbeat(usize),
    LoseAnswer(usize),
    Leave(usize),
    Crash(usize),
    Advance(u64),
    AddTopic(u32),
    Grow(usize, u32),
    Delete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (0..6usize).prop_map(Op::Heartbeat),
        3 => (0..6usize).prop_map(Op::LoseAnswer),
        1 => (0..6usize).prop_map(Op::Leave),
        1 => (0..6usize).prop_map(Op::Crash),
        2 => (1..7_000u64).prop_map(Op::Advance),
        1 => (1..5u32).prop_map(Op::AddTopic),
        1 => (0..4usize, 1..3u32).prop_map(|(t, n)| Op::Grow(t, n)),
        1 => (0..4usize).prop_map(Op::Delete),
    ]
}

fn sub() -> impl Strategy<Value = Sub> {
    prop_oneof![
        3 => proptest::collection::btree_set(0..5u32, 1..3)
            .prop_map(|s| Sub::Names(s.into_iter().map(|i| format!("t{i}")).collect())),
        1 => Just(Sub::Regex("t[0-9]+".into())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_partition_is_ever_owned_twice_and_every_subscribed_one_ends_up_owned(
        subs in proptest::collection::vec((sub(), any::<bool>()), 6),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let clients = subs
            .into_iter()
            .enumerate()
            .map(|(i, (s, is_static))| Client::new(i, s, is_static.then(|| format!("instance-{i}"))))
            .collect();
        let mut w = World::new(clients);
        for op in ops {
            match op {
                Op::Heartbeat(c) => w.heartbeat(c, false),
                Op::LoseAnswer(c) => w.heartbeat(c, true),
                Op::Leave(c) => w.leave(c),
                Op::Crash(c) => w.clients[c].crashed = true,
                Op::Advance(ms) => w.advance(ms),
                Op::AddTopic(n) => w.add_topic(n),
                Op::Grow(t, n) => w.grow(t, n),
                Op::Delete(t) => w.delete(t),
            }
            w.check_no_double_ownership();
        }
        // Let every live client heartbeat until the group settles; crashed members'
        // sessions run out meanwhile.
        for _ in 0..40 {
            for c in 0..w.clients.len() {
                w.heartbeat(c, false);
                w.check_no_double_ownership();
            }
            w.advance(1_000);
        }
        let live: Vec<&Client> = w.clients.iter().filter(|c| !c.crashed && !c.left).collect();
        let mut owned: BTreeMap<(Uuid, i32), &str> = BTreeMap::new();
        for c in &live {
            prop_assert!(c.joined, "{} is in the group", c.id);
            for (t, ps) in &c.owned {
                for p in ps {
                    prop_assert!(owned.insert((*t, *p), &c.id).is_none());
                }
            }
        }
        let wanted: BTreeSet<(Uuid, i32)> = live.iter().flat_map(|c| w.wanted(c)).collect();
        let got: BTreeSet<(Uuid, i32)> = owned.keys().copied().collect();
        prop_assert_eq!(&got, &wanted, "every subscribed partition is owned, nothing else");
        for c in &live {
            let mine: BTreeSet<(Uuid, i32)> = c.owned.iter().flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p))).collect();
            prop_assert!(mine.is_subset(&w.wanted(c)), "{} owns only what it subscribes to", c.id);
        }
        if !live.is_empty() {
            prop_assert_eq!(w.group.state_name(), "Stable");
        }
    }
}

fn joined(w: &mut World, c: usize) -> HeartbeatResult {
    let req = w.clients[c].request();
    let r = w.send(c, req);
    w.clients[c].answer(&r);
    r
}

#[test]
fn a_higher_epoch_is_fenced_and_a_lost_answer_is_forgiven() {
    let mut w = World::new(vec![Client::new(0, Sub::Names(vec!["t0".into()]), None)]);
    let first = joined(&mut w, 0);
    assert_eq!(first.error, ErrorCode::None);
    assert_eq!(first.member_epoch, 1);
    let mut ahead = w.clients[0].request();
    ahead.member_epoch = 5;
    assert_eq!(w.send(0, ahead).error, ErrorCode::FencedMemberEpoch);
    // A topic appears: the member moves to epoch 2, but its answer is lost.
    w.clients[0].sub = Sub::Names(vec!["t0".into(), "t1".into()]);
    let mut change = w.clients[0].request();
    change.topic_names = Some(vec!["t0".into(), "t1".into()]);
    let lost = w.send(0, change);
    assert_eq!(lost.member_epoch, 2);
    // It retries at epoch 1 owning only what it had: accepted.
    let retry = w.clients[0].request();
    assert_eq!(retry.member_epoch, 1);
    let r = w.send(0, retry);
    assert_eq!(r.error, ErrorCode::None, "{r:?}");
    assert_eq!(r.member_epoch, 2);
    // The previous epoch without the partitions it owns is fenced.
    let mut stale = w.clients[0].request();
    stale.owned = None;
    assert_eq!(w.send(0, stale).error, ErrorCode::FencedMemberEpoch);
}

#[test]
fn a_new_member_waits_for_partitions_until_the_owner_revokes_them() {
    let names = Sub::Names(vec!["t0".into()]);
    let mut w = World::new(vec![
        Client::new(0, names.clone(), None),
        Client::new(1, names, None),
    ]);
    joined(&mut w, 0);
    assert_eq!(
        w.clients[0]
            .owned
            .values()
            .map(BTreeSet::len)
            .sum::<usize>(),
        3
    );
    let second = joined(&mut w, 1);
    assert_eq!(second.member_epoch, 2);
    assert!(
        w.clients[1].owned.values().all(BTreeSet::is_empty),
        "nothing is free yet: {:?}",
        w.clients[1].owned
    );
    // The first member is told to give up what the second gets.
    let r = joined(&mut w, 0);
    assert_eq!(r.member_epoch, 1, "it stays at its epoch while revoking");
    assert!(r.assignment.is_some());
    // It acknowledges; then the second member gets the partitions.
    assert_eq!(joined(&mut w, 0).member_epoch, 2);
    joined(&mut w, 1);
    let a: usize = w.clients[0].owned.values().map(BTreeSet::len).sum();
    let b: usize = w.clients[1].owned.values().map(BTreeSet::len).sum();
    assert_eq!((a + b, a.abs_diff(b)), (3, 1));
    w.check_no_double_ownership();
}

#[test]
fn a_member_that_does_not_revoke_in_time_is_fenced() {
    let names = Sub::Names(vec!["t1".into()]);
    let mut w = World::new(vec![
        Client::new(0, names.clone(), None),
        Client::new(1, names, None),
    ]);
    joined(&mut w, 0);
    joined(&mut w, 1);
    joined(&mut w, 0); // told to revoke, never acknowledges
    w.advance(REBALANCE_MS as u64 + 1);
    assert!(!w.group.members.contains_key("member-0"));
    let r = joined(&mut w, 1);
    assert_eq!(r.error, ErrorCode::None);
    assert_eq!(
        w.clients[1]
            .owned
            .values()
            .map(BTreeSet::len)
            .sum::<usize>(),
        4
    );
}

#[test]
fn a_silent_member_is_removed_after_its_session() {
    let mut w = World::new(vec![Client::new(0, Sub::Names(vec!["t0".into()]), None)]);
    joined(&mut w, 0);
    w.advance(SESSION_MS - 1);
    assert_eq!(w.group.members.len(), 1);
    w.advance(2);
    assert!(w.group.members.is_empty());
    assert_eq!(w.group.state_name(), "Empty");
    assert_eq!(joined(&mut w, 0).error, ErrorCode::UnknownMemberId);
}

#[test]
fn a_static_member_keeps_its_partitions_while_away_and_another_id_cannot_take_its_place() {
    let names = Sub::Names(vec!["t1".into()]);
    let mut w = World::new(vec![
        Client::new(0, names.clone(), Some("i0".into())),
        Client::new(1, names, None),
    ]);
    for _ in 0..4 {
        joined(&mut w, 0);
        joined(&mut w, 1);
    }
    let before = w.clients[0].owned.clone();
    let epoch = w.group.epoch;
    let mut away = w.clients[0].request();
    away.member_epoch = -2;
    assert_eq!(w.send(0, away).error, ErrorCode::None);
    joined(&mut w, 1);
    assert_eq!(w.group.epoch, epoch, "a temporary leave moves nothing");
    // Another process with the same instance id while it is still in use.
    let mut other = Client::new(7, Sub::Names(vec!["t1".into()]), Some("i0".into()));
    other.id = "member-7".into();
    w.clients.push(other);
    // It comes back under a new member id and gets its partitions at once.
    let r = joined(&mut w, 2);
    assert_eq!(r.error, ErrorCode::None, "{r:?}");
    assert_eq!(w.clients[2].owned, before);
    assert!(!w.group.members.contains_key("member-0"));
    let dup = Client::new(8, Sub::Names(vec!["t1".into()]), Some("i0".into()));
    w.clients.push(dup);
    let clash = w.clients[3].request();
    assert_eq!(w.send(3, clash).error, ErrorCode::UnreleasedInstanceId);
}

#[test]
fn requests_kafka_refuses_are_refused() {
    let c = config();
    let join = Client::new(0, Sub::Names(vec!["t0".into()]), None).request();
    assert!(validate(&join, &c).is_ok());
    let mut no_id = join.clone();
    no_id.member_id.clear();
    assert_eq!(
        validate(&no_id, &c).unwrap_err().error,
        ErrorCode::InvalidRequest
    );
    let mut v0 = no_id.clone();
    v0.version = 0;
    assert!(
        validate(&v0, &c).is_ok(),
        "v0: the coordinator makes the id up"
    );
    let mut owned = join.clone();
    owned.owned = Some(Assignment::from([(
        Uuid::from_u128(1),
        BTreeSet::from([0]),
    )]));
    assert_eq!(
        validate(&owned, &c).unwrap_err().error,
        ErrorCode::InvalidRequest
    );
    let mut bad_regex = join.clone();
    bad_regex.topic_regex = Some("(".into());
    assert_eq!(
        validate(&bad_regex, &c).unwrap_err().error,
        ErrorCode::InvalidRegularExpression
    );
    let mut assignor = join.clone();
    assignor.server_assignor = Some("sticky".into());
    assert_eq!(
        validate(&assignor, &c).unwrap_err().error,
        ErrorCode::UnsupportedAssignor
    );
    let mut static_leave = join;
    static_leave.member_epoch = -2;
    assert_eq!(
        validate(&static_leave, &c).unwrap_err().error,
        ErrorCode::InvalidRequest
    );
}

#[test]
fn the_group_refuses_members_past_its_maximum_size() {
    let mut w = World::new(vec![
        Client::new(0, Sub::Names(vec!["t0".into()]), None),
        Client::new(1, Sub::Names(vec!["t0".into()]), None),
    ]);
    let small = ConsumerGroupConfig {
        max_size: 1,
        ..config()
    };
    let mut records = Vec::new();
    let r = w
        .group
        .heartbeat(1, &small, w.clients[0].request(), &w.topics, &mut records);
    assert_eq!(r.error, ErrorCode::None);
    let r = w
        .group
        .heartbeat(1, &small, w.clients[1].request(), &w.topics, &mut records);
    assert_eq!(r.error, ErrorCode::GroupMaxSizeReached);
}

#[test]
fn replaying_the_records_rebuilds_the_group_at_its_epoch() {
    let names = Sub::Names(vec!["t0".into(), "t1".into()]);
    let mut w = World::new(vec![
        Client::new(0, names.clone(), None),
        Client::new(1, names, None),
    ]);
    let mut log = Vec::new();
    for _ in 0..4 {
        for c in 0..2 {
            let req = w.clients[c].request();
            let mut records = Vec::new();
            let r = w
                .group
                .heartbeat(w.now, &config(), req, &w.topics, &mut records);
            w.clients[c].answer(&r);
            log.extend(records);
        }
    }
    let mut replayed = ConsumerGroup::default();
    for r in &log {
        replayed.replay(r);
    }
    assert_eq!(replayed.epoch, w.group.epoch);
    assert_eq!(replayed.assignment_epoch, w.group.assignment_epoch);
    assert_eq!(replayed.target, w.group.target);
    assert_eq!(replayed.owners, w.group.owners);
    for (id, m) in &w.group.members {
        assert_eq!(replayed.members[id].current, m.current);
        assert_eq!(replayed.members[id].subscription, m.subscription);
    }
    assert_eq!(replayed.state_name(), "Stable");
    // Restored members get their session timers at the first tick, and lose them.
    assert_eq!(replayed.next_deadline(), Some(0));
    assert!(replayed.tick(w.now, &config()).is_empty());
    assert_eq!(replayed.next_deadline(), Some(w.now + SESSION_MS));
    let removed = replayed.tick(w.now + SESSION_MS, &config());
    assert!(!removed.is_empty());
    assert!(replayed.members.is_empty());
}
