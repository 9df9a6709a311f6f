//! Behaviour of the classic group protocol on a fake clock, one Kafka rule per test.

use bytes::Bytes;

use super::member::tests::subscription;
use super::*;
use crate::protocol::ErrorCode;

const SESSION: u64 = 10_000;
const REBALANCE: u64 = 20_000;
const DELAY: u64 = 3_000;

fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: DELAY,
        min_session_timeout_ms: 6_000,
        max_session_timeout_ms: 300_000,
        offsets_retention_ms: 100_000,
        max_size: 100,
        empty_group_removal_ms: 50_000,
        consumer: Default::default(),
        migration_policy: Default::default(),
    }
}

fn group() -> Group {
    Group::new("g".into(), config())
}

fn join_req(member_id: &str) -> JoinRequest {
    JoinRequest {
        member_id: member_id.into(),
        group_instance_id: None,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), subscription(&["t"]))],
        session_timeout_ms: SESSION as i32,
        rebalance_timeout_ms: REBALANCE as i32,
        client_id: "client".into(),
        client_host: "/10.0.0.1".into(),
        require_known_member_id: false,
        reason: None,
    }
}

fn static_req(member_id: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.into()),
        ..join_req(member_id)
    }
}

/// A rejoin with a changed subscription: triggers a rebalance in Stable.
fn changed_req(member_id: &str) -> JoinRequest {
    JoinRequest {
        protocols: vec![("range".into(), subscription(&["t", "changed"]))],
        ..join_req(member_id)
    }
}

fn sync_req(member_id: &str, generation_id: i32, assignments: Vec<(String, Bytes)>) -> SyncRequest {
    SyncRequest {
        member_id: member_id.into(),
        generation_id,
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments,
    }
}

fn joins(effects: &[Effect]) -> Vec<(Token, JoinResult)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Join { token, result } => Some((*token, result.clone())),
            _ => None,
        })
        .collect()
}

fn join_of(effects: &[Effect], token: Token) -> Option<JoinResult> {
    joins(effects)
        .into_iter()
        .find(|(t, _)| *t == token)
        .map(|(_, r)| r)
}

fn sync_of(effects: &[Effect], token: Token) -> Option<SyncResult> {
    effects.iter().find_map(|e| match e {
        Effect::Sync { token: t, result } if *t == token => Some(result.clone()),
        _ => None,
    })
}

fn persists(effects: &[Effect]) -> Vec<GroupRecord> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Persist(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// Ticks at each deadline up to `until`, collecting the effects.
fn run_until(g: &mut Group, until: u64) -> Vec<Effect> {
    let mut effects = Vec::new();
    while let Some(d) = g.next_deadline() {
        if d > until {
            break;
        }
        effects.extend(g.tick(d));
    }
    effects
}

/// Ticks until the join phase is over.
fn finish_join(g: &mut Group) -> Vec<Effect> {
    let mut effects = Vec::new();
    while g.state() == GroupState::PreparingRebalance {
        match g.next_deadline() {
            Some(d) => effects.extend(g.tick(d)),
            None => break,
        }
    }
    effects
}

/// A Stable group of `n` dynamic members joined at t=0, each assigned its own id as
/// bytes. Returns the group, the member ids (leader first) and the time it became Stable.
fn stable_group(n: usize) -> (Group, Vec<String>, u64, Vec<Effect>) {
    let mut g = group();
    let mut all = Vec::new();
    for i in 0..n {
        all.extend(g.join(0, i as Token, join_req("")));
    }
    all.extend(finish_join(&mut g));
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    let results: Vec<JoinResult> = (0..n)
        .map(|i| join_of(&all, i as Token).expect("join answered"))
        .collect();
    let leader = results[0].leader.clone();
    let mut ids: Vec<String> = vec![leader.clone()];
    ids.extend(
        results
            .iter()
            .map(|r| r.member_id.clone())
            .filter(|id| *id != leader),
    );
    let now = 6_000;
    let gen = g.generation_id();
    let assignments: Vec<(String, Bytes)> = ids
        .iter()
        .map(|id| (id.clone(), Bytes::from(id.clone())))
        .collect();
    let mut effects = Vec::new();
    for (i, id) in ids.iter().enumerate().skip(1) {
        effects.extend(g.sync(now, 100 + i as Token, sync_req(id, gen, vec![])));
    }
    effects.extend(g.sync(now, 100, sync_req(&leader, gen, assignments)));
    assert_eq!(g.state(), GroupState::Stable);
    all.extend(effects);
    (g, ids, now, all)
}

#[test]
fn two_step_join_answers_member_id_required_then_admits_the_rejoin() {
    let mut g = group();
    let req = JoinRequest {
        require_known_member_id: true,
        ..join_req("")
    };
    let effects = g.join(0, 1, req.clone());
    let first = join_of(&effects, 1).expect("answered at once");
    assert_eq!(first.error, ErrorCode::MemberIdRequired);
    assert!(first.member_id.starts_with("client-"));
    assert_eq!(g.state(), GroupState::Empty);

    let effects = g.join(
        10,
        2,
        JoinRequest {
            member_id: first.member_id.clone(),
            ..req
        },
    );
    assert!(joins(&effects).is_empty(), "parked for the initial delay");
    let effects = finish_join(&mut g);
    let joined = join_of(&effects, 2).expect("join completes");
    assert_eq!(joined.error, ErrorCode::None);
    assert_eq!(joined.member_id, first.member_id);
    assert_eq!(joined.leader, first.member_id);
    assert_eq!(joined.generation_id, 1);
}

#[test]
fn pending_member_that_never_rejoins_expires_after_its_session_timeout() {
    let (mut g, ids, now, _) = stable_group(1);
    let req = JoinRequest {
        require_known_member_id: true,
        ..join_req("")
    };
    let pending = join_of(&g.join(now, 5, req.clone()), 5).expect("answered");
    assert_eq!(pending.error, ErrorCode::MemberIdRequired);
    assert_eq!(g.heartbeat(now + 5_000, &ids[0], 1, None), ErrorCode::None);
    g.tick(now + SESSION);
    let late = g.join(
        now + SESSION + 1,
        6,
        JoinRequest {
            member_id: pending.member_id,
            ..req
        },
    );
    assert_eq!(
        join_of(&late, 6).map(|r| r.error),
        Some(ErrorCode::UnknownMemberId)
    );
}

#[test]
fn join_with_other_protocol_type_or_no_common_protocol_is_inconsistent_group_protocol() {
    let (mut g, _, now, _) = stable_group(1);
    let other_type = JoinRequest {
        protocol_type: "connect".into(),
        ..join_req("")
    };
    let effects = g.join(now, 7, other_type);
    assert_eq!(
        join_of(&effects, 7).map(|r| r.error),
        Some(ErrorCode::InconsistentGroupProtocol)
    );
    let other_protocol = JoinRequest {
        protocols: vec![("sticky".into(), Bytes::new())],
        ..join_req("")
    };
    let effects = g.join(now, 8, other_protocol);
    assert_eq!(
        join_of(&effects, 8).map(|r| r.error),
        Some(ErrorCode::InconsistentGroupProtocol)
    );
    let empty = JoinRequest {
        protocols: vec![],
        ..join_req("")
    };
    let effects = group().join(0, 9, empty);
    assert_eq!(
        join_of(&effects, 9).map(|r| r.error),
        Some(ErrorCode::InconsistentGroupProtocol)
    );
}

#[test]
fn chosen_protocol_is_the_one_most_members_prefer() {
    let mut g = group();
    let a = JoinRequest {
        protocols: vec![
            ("range".into(), Bytes::from_static(b"r")),
            ("roundrobin".into(), Bytes::from_static(b"rr")),
        ],
        ..join_req("")
    };
    let b = JoinRequest {
        protocols: vec![
            ("roundrobin".into(), Bytes::from_static(b"rr")),
            ("range".into(), Bytes::from_static(b"r")),
        ],
        ..join_req("")
    };
    g.join(0, 1, a);
    g.join(0, 2, b.clone());
    g.join(0, 3, b);
    let effects = finish_join(&mut g);
    let r = join_of(&effects, 1).expect("answered");
    assert_eq!(r.protocol_name.as_deref(), Some("roundrobin"));
    let leader = joins(&effects)
        .into_iter()
        .find(|(_, r)| r.member_id == r.leader)
        .expect("leader answered")
        .1;
    assert!(leader
        .members
        .iter()
        .all(|m| m.metadata == Bytes::from_static(b"rr")));
}

#[test]
fn session_timeout_outside_broker_bounds_is_invalid_session_timeout() {
    let mut g = group();
    for (token, timeout) in [(1, 5_999), (2, 300_001), (3, -1)] {
        let req = JoinRequest {
            session_timeout_ms: timeout,
            ..join_req("")
        };
        let effects = g.join(0, token, req);
        assert_eq!(
            join_of(&effects, token).map(|r| r.error),
            Some(ErrorCode::InvalidSessionTimeout)
        );
    }
    assert!(g.is_empty_and_unused());
}

#[test]
fn first_rebalance_waits_the_initial_delay_and_extends_while_members_keep_joining() {
    let mut g = group();
    g.join(0, 1, join_req(""));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(g.next_deadline(), Some(DELAY));
    // Nobody else joined: the first rebalance completes at the delay.
    let effects = g.tick(DELAY);
    assert_eq!(join_of(&effects, 1).map(|r| r.generation_id), Some(1));

    let mut g = group();
    g.join(0, 1, join_req(""));
    g.join(1_000, 2, join_req(""));
    assert!(g.tick(DELAY).is_empty(), "a new member extends the delay");
    assert_eq!(g.next_deadline(), Some(2 * DELAY));
    let effects = g.tick(2 * DELAY);
    assert_eq!(joins(&effects).len(), 2);
    assert_eq!(g.state(), GroupState::CompletingRebalance);
}

#[test]
fn initial_delay_never_extends_past_the_rebalance_timeout() {
    let mut g = group();
    let mut now = 0;
    let mut token = 0;
    g.join(now, token, join_req(""));
    while g.state() == GroupState::PreparingRebalance {
        now += 1_000;
        token += 1;
        g.join(now, token, join_req(""));
        if let Some(d) = g.next_deadline() {
            if d <= now {
                g.tick(now);
            }
        }
        assert!(now <= REBALANCE + DELAY, "still waiting at {now}");
    }
    assert_eq!(g.state(), GroupState::CompletingRebalance);
}

#[test]
fn rebalance_completes_as_soon_as_every_member_rejoined() {
    let (mut g, ids, now, _) = stable_group(2);
    // A new member joins a Stable group: rebalance.
    let effects = g.join(now, 10, join_req(""));
    assert!(joins(&effects).is_empty());
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat(now + 1, &ids[1], 1, None),
        ErrorCode::RebalanceInProgress
    );
    g.join(now + 2, 11, join_req(&ids[1]));
    let effects = g.join(now + 3, 12, join_req(&ids[0]));
    assert_eq!(joins(&effects).len(), 3, "no wait for the timeout");
    let leader = join_of(&effects, 12).expect("leader answered");
    assert_eq!(leader.generation_id, 2);
    assert_eq!(leader.leader, ids[0], "the rejoined leader stays leader");
    assert_eq!(leader.members.len(), 3);
    assert!(join_of(&effects, 11).expect("follower").members.is_empty());
    assert!(join_of(&effects, 10).expect("new").members.is_empty());
}

#[test]
fn rebalance_timeout_evicts_dynamic_members_that_did_not_rejoin() {
    let (mut g, ids, now, _) = stable_group(3);
    // The follower ids[2] leaves the group in a rebalance by not rejoining.
    g.join(now, 21, join_req(&ids[0]));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    g.join(now + 10, 20, join_req(&ids[1]));
    // Keep the leaver's heartbeats away; others are parked and kept alive.
    let effects = run_until(&mut g, now + REBALANCE);
    let leader = join_of(&effects, 21).expect("leader answered at the timeout");
    assert_eq!(leader.members.len(), 2);
    assert!(leader.members.iter().all(|m| m.member_id != ids[2]));
    assert_eq!(
        g.heartbeat(now + REBALANCE + 1, &ids[2], 2, None),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn leader_that_did_not_rejoin_is_replaced_by_a_member_that_did() {
    let (mut g, ids, now, _) = stable_group(2);
    g.join(now, 20, changed_req(&ids[1]));
    let effects = run_until(&mut g, now + REBALANCE);
    let r = join_of(&effects, 20).expect("answered");
    assert_eq!(r.leader, ids[1]);
    assert_eq!(r.members.len(), 1);
}

#[test]
fn leaders_assignment_reaches_followers_that_synced_first_and_group_is_stored() {
    let mut g = group();
    g.join(0, 1, join_req(""));
    g.join(0, 2, join_req(""));
    let effects = finish_join(&mut g);
    let a = join_of(&effects, 1).expect("a");
    let b = join_of(&effects, 2).expect("b");
    let (leader, follower) = if a.member_id == a.leader {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(leader.members.len(), 2);
    assert!(follower.members.is_empty());
    assert!(g
        .sync(7_000, 3, sync_req(&follower.member_id, 1, vec![]))
        .is_empty());
    let effects = g.sync(
        7_001,
        4,
        sync_req(
            &leader.member_id,
            1,
            vec![
                (leader.member_id.clone(), Bytes::from_static(b"L")),
                (follower.member_id.clone(), Bytes::from_static(b"F")),
                ("stranger".into(), Bytes::from_static(b"X")),
            ],
        ),
    );
    assert!(matches!(
        effects.first(),
        Some(Effect::Persist(GroupRecord::Group { .. }))
    ));
    assert_eq!(
        sync_of(&effects, 3).map(|r| r.assignment),
        Some(Bytes::from_static(b"F"))
    );
    assert_eq!(
        sync_of(&effects, 4).map(|r| r.assignment),
        Some(Bytes::from_static(b"L"))
    );
    assert_eq!(g.state(), GroupState::Stable);
    // A late sync in Stable gets the stored assignment at once.
    let effects = g.sync(7_002, 5, sync_req(&follower.member_id, 1, vec![]));
    assert_eq!(
        sync_of(&effects, 5).map(|r| r.assignment),
        Some(Bytes::from_static(b"F"))
    );
}

#[test]
fn sync_errors_follow_kafka() {
    let (mut g, ids, now, _) = stable_group(2);
    let err = |effects: Vec<Effect>, token| sync_of(&effects, token).map(|r| r.error);
    assert_eq!(
        err(g.sync(now, 1, sync_req("nobody", 1, vec![])), 1),
        Some(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        err(g.sync(now, 2, sync_req(&ids[1], 7, vec![])), 2),
        Some(ErrorCode::IllegalGeneration)
    );
    let wrong = SyncRequest {
        protocol_name: Some("roundrobin".into()),
        ..sync_req(&ids[1], 1, vec![])
    };
    assert_eq!(
        err(g.sync(now, 3, wrong), 3),
        Some(ErrorCode::InconsistentGroupProtocol)
    );
    g.join(now, 9, join_req(&ids[0]));
    assert_eq!(
        err(g.sync(now, 4, sync_req(&ids[1], 1, vec![])), 4),
        Some(ErrorCode::RebalanceInProgress)
    );
}

#[test]
fn heartbeat_errors_follow_kafka() {
    let mut g = group();
    assert_eq!(g.heartbeat(0, "x", 0, None), ErrorCode::UnknownMemberId);
    let (mut g, ids, now, _) = stable_group(2);
    assert_eq!(g.heartbeat(now, &ids[1], 1, None), ErrorCode::None);
    assert_eq!(
        g.heartbeat(now, "nobody", 1, None),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        g.heartbeat(now, &ids[1], 0, None),
        ErrorCode::IllegalGeneration
    );
    g.join(now, 9, join_req(&ids[0]));
    assert_eq!(
        g.heartbeat(now, &ids[0], 1, None),
        ErrorCode::RebalanceInProgress
    );
}

#[test]
fn heartbeats_keep_a_member_alive_and_silence_expires_it_and_rebalances() {
    let (mut g, ids, now, _) = stable_group(2);
    let mut t = now;
    while t < now + 3 * SESSION {
        t += SESSION / 2;
        g.tick(t);
        assert_eq!(g.heartbeat(t, &ids[0], 1, None), ErrorCode::None, "at {t}");
        assert_eq!(g.heartbeat(t, &ids[1], 1, None), ErrorCode::None, "at {t}");
    }
    // ids[1] goes silent.
    let expire_at = t + SESSION;
    g.tick(expire_at - 1);
    assert_eq!(g.state(), GroupState::Stable);
    assert_eq!(
        g.heartbeat(expire_at - 1, &ids[0], 1, None),
        ErrorCode::None
    );
    g.tick(expire_at);
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat(expire_at, &ids[1], 1, None),
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        g.heartbeat(expire_at, &ids[0], 1, None),
        ErrorCode::RebalanceInProgress
    );
}

#[test]
fn member_that_joined_but_never_heartbeats_is_removed_after_its_session_timeout() {
    let mut g = group();
    g.join(0, 1, join_req(""));
    let effects = g.tick(DELAY);
    let r = join_of(&effects, 1).expect("joined");
    // Neither sync nor heartbeat: gone at completion + session timeout.
    let effects = run_until(&mut g, DELAY + SESSION);
    assert!(persists(&effects)
        .iter()
        .any(|r| matches!(r, GroupRecord::Group { .. })));
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(
        g.heartbeat(DELAY + SESSION, &r.member_id, 1, None),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn leave_removes_members_rebalances_and_reports_unknown_ones() {
    let (mut g, ids, now, _) = stable_group(2);
    let (errors, _) = g.leave(now, vec![(ids[1].clone(), None), ("nobody".into(), None)]);
    assert_eq!(errors, vec![ErrorCode::None, ErrorCode::UnknownMemberId]);
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    let effects = g.join(now + 1, 5, join_req(&ids[0]));
    let r = join_of(&effects, 5).expect("only member rejoined: completes");
    assert_eq!(r.members.len(), 1);
    assert_eq!(r.generation_id, 2);
}

#[test]
fn last_member_leaving_makes_the_group_empty_and_stores_it() {
    let (mut g, ids, now, _) = stable_group(1);
    let (errors, effects) = g.leave(now, vec![(ids[0].clone(), None)]);
    assert_eq!(errors, vec![ErrorCode::None]);
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(persists(&effects).len(), 1);
}

#[test]
fn parked_join_of_a_leaving_member_is_answered_unknown_member_id() {
    let (mut g, ids, now, _) = stable_group(2);
    g.join(now, 30, changed_req(&ids[1]));
    let (_, effects) = g.leave(now + 1, vec![(ids[1].clone(), None)]);
    assert_eq!(
        join_of(&effects, 30).map(|r| r.error),
        Some(ErrorCode::UnknownMemberId)
    );
}

#[test]
fn parked_sync_learns_rebalance_in_progress_when_the_group_rebalances() {
    let mut g = group();
    g.join(0, 1, join_req(""));
    g.join(0, 2, join_req(""));
    let effects = finish_join(&mut g);
    let a = join_of(&effects, 1).expect("a");
    let b = join_of(&effects, 2).expect("b");
    let follower = if a.member_id == a.leader { b } else { a };
    assert!(g
        .sync(6_000, 3, sync_req(&follower.member_id, 1, vec![]))
        .is_empty());
    let effects = g.join(6_001, 4, join_req(""));
    assert_eq!(
        sync_of(&effects, 3).map(|r| r.error),
        Some(ErrorCode::RebalanceInProgress)
    );
}

#[test]
fn members_that_never_sync_are_removed_at_the_rebalance_timeout() {
    let mut g = group();
    g.join(0, 1, join_req(""));
    g.join(0, 2, join_req(""));
    let effects = run_until(&mut g, 6_000);
    let a = join_of(&effects, 1).expect("a");
    let b = join_of(&effects, 2).expect("b");
    let follower = if a.member_id == a.leader { b } else { a };
    // Only the follower syncs (and heartbeats); the leader never does.
    g.sync(6_000, 3, sync_req(&follower.member_id, 1, vec![]));
    assert_eq!(
        g.heartbeat(6_000 + 9_000, &follower.member_id, 1, None),
        ErrorCode::None
    );
    let effects = g.tick(6_000 + REBALANCE);
    assert_eq!(
        sync_of(&effects, 3).map(|r| r.error),
        Some(ErrorCode::RebalanceInProgress)
    );
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(g.leader(), Some(follower.member_id.as_str()));
}

/// A Stable group of static members "i0", "i1".
fn static_group() -> (Group, Vec<String>, u64) {
    let mut g = group();
    g.join(0, 1, static_req("", "i0"));
    g.join(0, 2, static_req("", "i1"));
    let effects = finish_join(&mut g);
    let r0 = join_of(&effects, 1).expect("i0");
    let r1 = join_of(&effects, 2).expect("i1");
    let ids = vec![r0.member_id.clone(), r1.member_id.clone()];
    let assignments = vec![
        (ids[0].clone(), Bytes::from_static(b"A0")),
        (ids[1].clone(), Bytes::from_static(b"A1")),
    ];
    let leader = r0.leader.clone();
    for id in &ids {
        let a = if *id == leader {
            assignments.clone()
        } else {
            vec![]
        };
        g.sync(6_000, 3, sync_req(id, 1, a));
    }
    assert_eq!(g.state(), GroupState::Stable);
    (g, ids, 6_000)
}

#[test]
fn restarted_static_member_gets_a_new_id_and_its_assignment_without_rebalance() {
    let (mut g, ids, now) = static_group();
    let follower = if g.leader() == Some(ids[0].as_str()) {
        1
    } else {
        0
    };
    let instance = format!("i{follower}");
    let effects = g.join(now, 10, static_req("", &instance));
    let r = join_of(&effects, 10).expect("answered at once");
    assert_eq!(r.error, ErrorCode::None);
    assert_ne!(r.member_id, ids[follower]);
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader, g.leader().unwrap_or_default());
    assert!(
        !persists(&effects).is_empty(),
        "the new member id is stored"
    );
    assert_eq!(g.state(), GroupState::Stable);
    let sync = SyncRequest {
        group_instance_id: Some(instance.clone()),
        ..sync_req(&r.member_id, 1, vec![])
    };
    let effects = g.sync(now + 1, 11, sync);
    let expected = Bytes::from(format!("A{follower}"));
    assert_eq!(sync_of(&effects, 11).map(|s| s.assignment), Some(expected));
    // The old incarnation is fenced.
    assert_eq!(
        g.heartbeat(now + 2, &ids[follower], 1, Some(&instance)),
        ErrorCode::FencedInstanceId
    );
    let effects = g.join(now + 3, 12, static_req(&ids[follower], &instance));
    assert_eq!(
        join_of(&effects, 12).map(|r| r.error),
        Some(ErrorCode::FencedInstanceId)
    );
    let (_, effects) = g.commit_offsets(now + 4, &ids[follower], 1, Some(&instance), vec![]);
    assert!(effects.is_empty());
    assert_eq!(
        g.commit_offsets(now + 4, &ids[follower], 1, Some(&instance), vec![])
            .0,
        Err(ErrorCode::FencedInstanceId)
    );
}

#[test]
fn restarted_static_leader_is_told_to_skip_assignment() {
    let (mut g, ids, now) = static_group();
    let leader = g.leader().map(str::to_string).unwrap_or_default();
    let instance = if leader == ids[0] { "i0" } else { "i1" };
    let effects = g.join(now, 10, static_req("", instance));
    let r = join_of(&effects, 10).expect("answered at once");
    assert!(r.skip_assignment);
    assert_eq!(r.leader, r.member_id);
    assert_eq!(r.members.len(), 2);
    assert_eq!(g.state(), GroupState::Stable);
}

#[test]
fn static_member_leaves_by_instance_id() {
    let (mut g, _, now) = static_group();
    let (errors, _) = g.leave(
        now,
        vec![
            ("".into(), Some("i1".into())),
            ("".into(), Some("i9".into())),
        ],
    );
    assert_eq!(errors, vec![ErrorCode::None, ErrorCode::UnknownMemberId]);
    assert_eq!(g.describe().members.len(), 1);
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn changed_protocols_or_a_rejoining_leader_trigger_a_rebalance_in_stable() {
    let (mut g, ids, now, _) = stable_group(2);
    // Same protocols from a follower: current generation back, no rebalance.
    let effects = g.join(now, 1, join_req(&ids[1]));
    assert_eq!(join_of(&effects, 1).map(|r| r.generation_id), Some(1));
    assert_eq!(g.state(), GroupState::Stable);
    let changed = JoinRequest {
        protocols: vec![("range".into(), subscription(&["t", "u"]))],
        ..join_req(&ids[1])
    };
    assert!(g.join(now, 2, changed).is_empty());
    assert_eq!(g.state(), GroupState::PreparingRebalance);

    let (mut g, ids, now, _) = stable_group(2);
    assert!(g.join(now, 3, join_req(&ids[0])).is_empty());
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn group_max_size_refuses_new_members() {
    let mut g = Group::new(
        "g".into(),
        GroupConfig {
            max_size: 1,
            ..config()
        },
    );
    g.join(0, 1, join_req(""));
    let effects = g.join(0, 2, join_req(""));
    assert_eq!(
        join_of(&effects, 2).map(|r| r.error),
        Some(ErrorCode::GroupMaxSizeReached)
    );
}

fn commit(topic: &str, partition: i32, offset: i64) -> OffsetCommit {
    OffsetCommit {
        topic: topic.into(),
        partition,
        offset,
        leader_epoch: 3,
        metadata: Some("m".into()),
    }
}

#[test]
fn committed_offsets_are_fetched_and_uncommitted_partitions_are_minus_one() {
    let (mut g, ids, now, _) = stable_group(1);
    let (result, effects) = g.commit_offsets(now, &ids[0], 1, None, vec![commit("t", 0, 42)]);
    assert_eq!(result, Ok(()));
    assert_eq!(persists(&effects).len(), 1);
    let fetched = g.fetch_offsets(Some(&[("t".to_string(), vec![0, 1])]));
    assert_eq!(fetched[0].offset, 42);
    assert_eq!(fetched[0].leader_epoch, 3);
    assert_eq!(fetched[0].commit_timestamp_ms, now);
    assert_eq!(fetched[1].offset, -1);
    assert_eq!(g.fetch_offsets(None).len(), 1);
}

#[test]
fn offset_commit_errors_follow_kafka() {
    let (mut g, ids, now, _) = stable_group(2);
    assert_eq!(
        g.commit_offsets(now, "", -1, None, vec![commit("t", 0, 1)])
            .0,
        Err(ErrorCode::UnknownMemberId),
        "standalone commit to a group with members"
    );
    assert_eq!(
        g.commit_offsets(now, "nobody", 1, None, vec![]).0,
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(
        g.commit_offsets(now, &ids[1], 0, None, vec![]).0,
        Err(ErrorCode::IllegalGeneration)
    );
    g.join(now, 1, join_req(""));
    g.join(now, 2, join_req(&ids[0]));
    g.join(now, 3, join_req(&ids[1]));
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    assert_eq!(
        g.commit_offsets(now, &ids[1], 2, None, vec![]).0,
        Err(ErrorCode::RebalanceInProgress)
    );
    let big = OffsetCommit {
        metadata: Some("x".repeat(MAX_OFFSET_METADATA_BYTES + 1)),
        ..commit("t", 0, 1)
    };
    assert_eq!(check_offset_commit(&big), ErrorCode::OffsetMetadataTooLarge);
    let mut empty = group();
    let (result, effects) = empty.commit_offsets(0, "", -1, None, vec![big, commit("t", 1, 5)]);
    assert_eq!(result, Ok(()));
    assert_eq!(persists(&effects).len(), 1, "too-large metadata is skipped");
    assert_eq!(empty.state(), GroupState::Empty);
}

#[test]
fn offset_delete_refuses_subscribed_topics_and_tombstones_the_rest() {
    let (mut g, ids, now, _) = stable_group(1);
    let _ = g.commit_offsets(
        now,
        &ids[0],
        1,
        None,
        vec![commit("t", 0, 1), commit("old", 0, 1)],
    );
    let (results, effects) =
        g.delete_offsets(&[("t".to_string(), vec![0]), ("old".to_string(), vec![0, 1])]);
    assert_eq!(
        results,
        vec![
            ("t".to_string(), 0, ErrorCode::GroupSubscribedToTopic),
            ("old".to_string(), 0, ErrorCode::None),
            ("old".to_string(), 1, ErrorCode::None),
        ]
    );
    assert_eq!(persists(&effects).len(), 1);
    assert_eq!(g.fetch_offsets(None).len(), 1);
}

#[test]
fn offsets_of_an_empty_group_expire_after_retention_and_the_group_dies() {
    let (mut g, ids, now, _) = stable_group(1);
    let _ = g.commit_offsets(now, &ids[0], 1, None, vec![commit("t", 0, 1)]);
    g.leave(now + 1, vec![(ids[0].clone(), None)]);
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(g.next_deadline(), Some(now + 1 + 100_000));
    assert!(g.tick(now + 100_000).is_empty());
    let effects = g.tick(now + 1 + 100_000);
    let records = persists(&effects);
    assert_eq!(records.len(), 2, "offset and group tombstones");
    assert!(records.iter().all(|r| r.value_bytes().is_none()));
    assert!(g.is_empty_and_unused());
    assert_eq!(g.state(), GroupState::Dead);
}

#[test]
fn an_empty_group_without_offsets_is_removed_after_the_check_interval() {
    // Its only member asked for a member id and never came back.
    let mut g = group();
    let now = 1_000;
    let req = JoinRequest {
        require_known_member_id: true,
        ..join_req("")
    };
    let first = join_of(&g.join(now, 1, req), 1).expect("answered at once");
    assert_eq!(first.error, ErrorCode::MemberIdRequired);
    assert!(!g.is_empty_and_unused(), "a pending member keeps it");
    let expiry = g.next_deadline().expect("pending member expires");
    assert!(g.tick(expiry).is_empty());
    assert_eq!(g.state(), GroupState::Empty);
    // The first tick that sees it unused starts the interval.
    assert_eq!(g.next_deadline(), Some(expiry + 50_000));
    assert!(persists(&g.tick(expiry + 49_999)).is_empty());
    let effects = g.tick(expiry + 50_000);
    let records = persists(&effects);
    assert_eq!(records.len(), 1, "the group's tombstone");
    assert!(records[0].value_bytes().is_none());
    assert_eq!(g.state(), GroupState::Dead);
    assert_eq!(g.next_deadline(), None);
}

#[test]
fn a_group_with_offsets_or_members_is_not_removed_as_unused() {
    let (mut g, ids, now, _) = stable_group(1);
    for t in (now..now + 200_000).step_by(5_000) {
        g.heartbeat(t, &ids[0], 1, None);
        assert!(persists(&g.tick(t)).is_empty());
    }
    assert_eq!(g.state(), GroupState::Stable);
    let _ = g.commit_offsets(now, &ids[0], 1, None, vec![commit("t", 0, 1)]);
    g.leave(now + 200_000, vec![(ids[0].clone(), None)]);
    assert!(
        persists(&g.tick(now + 260_000)).is_empty(),
        "offsets keep it until they expire"
    );
    assert_eq!(g.state(), GroupState::Empty);
}

#[test]
fn offsets_of_a_stable_group_do_not_expire() {
    let (mut g, ids, now, _) = stable_group(1);
    let _ = g.commit_offsets(now, &ids[0], 1, None, vec![commit("t", 0, 1)]);
    for t in (now..now + 300_000).step_by(5_000) {
        g.heartbeat(t, &ids[0], 1, None);
        g.tick(t);
    }
    assert_eq!(g.fetch_offsets(None).len(), 1);
}

#[test]
fn describe_reports_members_and_assignment_while_stable() {
    let (g, ids, _, _) = stable_group(2);
    let d = g.describe();
    assert_eq!(d.state, "Stable");
    assert_eq!(d.protocol_type, "consumer");
    assert_eq!(d.protocol, "range");
    assert_eq!(d.members.len(), 2);
    let m = d
        .members
        .iter()
        .find(|m| m.member_id == ids[1])
        .expect("member");
    assert_eq!(m.assignment, Bytes::from(ids[1].clone()));
    assert_eq!(m.metadata, subscription(&["t"]));
    assert_eq!(m.client_host, "/10.0.0.1");
    assert_eq!(
        GroupState::CompletingRebalance.name(),
        "CompletingRebalance"
    );
}

#[test]
fn delete_group_only_when_empty_and_tombstones_everything() {
    let (mut g, ids, now, _) = stable_group(1);
    let _ = g.commit_offsets(now, &ids[0], 1, None, vec![commit("t", 0, 1)]);
    assert_eq!(g.delete().err(), Some(ErrorCode::NonEmptyGroup));
    g.leave(now, vec![(ids[0].clone(), None)]);
    let effects = g.delete().expect("empty group deletes");
    assert_eq!(persists(&effects).len(), 2);
    assert_eq!(g.state(), GroupState::Dead);
    assert_eq!(g.delete().err(), Some(ErrorCode::GroupIdNotFound));
    assert_eq!(group().delete().err(), Some(ErrorCode::GroupIdNotFound));
    // The id can be used again.
    g.join(now, 1, join_req(""));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn replaying_persisted_records_rebuilds_an_equal_group() {
    let (mut g, ids, now, effects) = stable_group(3);
    let mut log = persists(&effects);
    log.extend(persists(
        &g.commit_offsets(
            now,
            &ids[0],
            1,
            None,
            vec![commit("t", 0, 1), commit("t", 1, 2)],
        )
        .1,
    ));
    log.extend(persists(
        &g.commit_offsets(now + 5, &ids[1], 1, None, vec![commit("t", 0, 7)])
            .1,
    ));
    log.extend(persists(&g.delete_offsets(&[("u".to_string(), vec![0])]).1));

    let mut restored = group();
    for r in &log {
        let bytes =
            GroupRecord::decode(&r.key_bytes(), r.value_bytes().as_deref()).expect("round trip");
        restored.replay(&bytes);
    }
    assert_eq!(restored.describe(), g.describe());
    assert_eq!(restored.fetch_offsets(None), g.fetch_offsets(None));
    assert_eq!(restored.generation_id(), g.generation_id());
    assert_eq!(restored.leader(), g.leader());
}

#[test]
fn restored_members_must_heartbeat_within_their_session_after_the_first_tick() {
    let (_, ids, _, effects) = stable_group(2);
    let mut restored = group();
    for r in persists(&effects) {
        restored.replay(&r);
    }
    assert_eq!(restored.state(), GroupState::Stable);
    assert_eq!(restored.next_deadline(), Some(0));
    let start = 1_000_000;
    restored.tick(start);
    assert_eq!(
        restored.heartbeat(start + 1, &ids[0], 1, None),
        ErrorCode::None
    );
    restored.tick(start + SESSION);
    assert_eq!(restored.state(), GroupState::PreparingRebalance);
    assert_eq!(
        restored.heartbeat(start + SESSION, &ids[1], 1, None),
        ErrorCode::UnknownMemberId
    );
}

#[test]
fn empty_group_id_is_invalid_group_id() {
    let mut g = Group::new(String::new(), config());
    let effects = g.join(0, 1, join_req(""));
    assert_eq!(
        join_of(&effects, 1).map(|r| r.error),
        Some(ErrorCode::InvalidGroupId)
    );
    assert_eq!(
        g.commit_offsets(0, "", -1, None, vec![commit("t", 0, 1)]).0,
        Err(ErrorCode::InvalidGroupId)
    );
}

#[test]
fn member_that_missed_its_join_answer_gets_it_again_while_completing() {
    let mut g = group();
    g.join(0, 1, join_req(""));
    let effects = finish_join(&mut g);
    let first = join_of(&effects, 1).expect("joined");
    let effects = g.join(DELAY + 1, 2, join_req(&first.member_id));
    let again = join_of(&effects, 2).expect("answered at once");
    assert_eq!(again.generation_id, first.generation_id);
    assert_eq!(again.members, first.members);
    assert_eq!(g.state(), GroupState::CompletingRebalance);
}

#[test]
fn new_member_that_waits_too_long_in_a_rebalance_is_dropped() {
    let (mut g, ids, now, _) = stable_group(1);
    let slow = JoinRequest {
        rebalance_timeout_ms: 600_000,
        ..join_req("")
    };
    assert!(g.join(now, 1, slow).is_empty());
    // The old member keeps heartbeating but never rejoins.
    let mut t = now;
    let mut effects = Vec::new();
    while t < now + NEW_MEMBER_JOIN_TIMEOUT_MS {
        t += 5_000;
        effects.extend(g.tick(t));
        assert_eq!(
            g.heartbeat(t, &ids[0], 1, None),
            ErrorCode::RebalanceInProgress
        );
    }
    assert_eq!(
        join_of(&effects, 1).map(|r| r.error),
        Some(ErrorCode::UnknownMemberId)
    );
    assert_eq!(g.describe().members.len(), 1);
}

#[test]
fn once_every_member_synced_only_session_timers_remain() {
    let (g, _, now, _) = stable_group(2);
    assert_eq!(g.next_deadline(), Some(now + SESSION));
}

#[test]
fn replaying_a_deleted_group_leaves_nothing_and_ignores_other_groups() {
    let (mut g, ids, now, effects) = stable_group(1);
    let mut log = persists(&effects);
    log.extend(persists(
        &g.commit_offsets(now, &ids[0], 1, None, vec![commit("t", 0, 1)])
            .1,
    ));
    log.extend(persists(&g.leave(now, vec![(ids[0].clone(), None)]).1));
    log.extend(persists(&g.delete().expect("empty")));
    log.push(GroupRecord::Offset {
        group: "other".into(),
        topic: "t".into(),
        partition: 0,
        value: None,
    });
    let mut restored = group();
    for r in &log {
        restored.replay(r);
    }
    assert!(restored.is_empty_and_unused());
    assert!(restored.fetch_offsets(None).is_empty());
    assert_eq!(restored.describe().members.len(), 0);
}

#[test]
fn static_member_restarting_while_completing_fences_its_old_sync_and_rebalances() {
    let mut g = group();
    g.join(0, 1, static_req("", "i0"));
    g.join(0, 2, static_req("", "i1"));
    let effects = finish_join(&mut g);
    let r0 = join_of(&effects, 1).expect("i0");
    let r1 = join_of(&effects, 2).expect("i1");
    let follower = if r0.member_id == r0.leader { r1 } else { r0 };
    let instance = if follower.member_id == join_of(&effects, 1).expect("i0").member_id {
        "i0"
    } else {
        "i1"
    };
    let parked = SyncRequest {
        group_instance_id: Some(instance.into()),
        ..sync_req(&follower.member_id, 1, vec![])
    };
    assert!(g.sync(DELAY * 2, 3, parked).is_empty());
    let effects = g.join(DELAY * 2 + 1, 4, static_req("", instance));
    assert_eq!(
        sync_of(&effects, 3).map(|r| r.error),
        Some(ErrorCode::FencedInstanceId)
    );
    assert!(
        join_of(&effects, 4).is_none(),
        "parked in the new rebalance"
    );
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn standalone_offsets_expire_from_their_commit_time() {
    let mut g = group();
    let _ = g.commit_offsets(0, "", -1, None, vec![commit("t", 0, 1)]);
    let _ = g.commit_offsets(50_000, "", -1, None, vec![commit("t", 1, 1)]);
    assert_eq!(g.next_deadline(), Some(100_000));
    let effects = g.tick(100_000);
    assert_eq!(persists(&effects).len(), 1);
    assert_eq!(g.fetch_offsets(None).len(), 1);
    let effects = g.tick(150_000);
    assert_eq!(persists(&effects).len(), 2, "offset and group tombstones");
    assert!(g.is_empty_and_unused());
}

#[test]
fn transactional_offsets_count_only_once_their_transaction_commits() {
    let mut g = group();
    let staged = g
        .txn_offset_records("", -1, None, &[commit("t", 0, 10), commit("t", 1, 20)], 5)
        .expect("a producer outside the group may commit in a transaction");
    assert_eq!(staged.len(), 2);
    assert!(matches!(staged[0].0, GroupRecord::Offset { .. }));
    g.stage_txn_offsets(7, staged.into_iter().map(|(_, s)| s));
    let asked = [("t".to_string(), vec![0, 1])];
    let fetched = g.fetch_offsets(Some(&asked));
    assert!(fetched.iter().all(|o| o.offset == -1 && o.pending_txn));
    assert!(!g.is_empty_and_unused(), "pending offsets keep the group");

    g.complete_txn(7, false);
    let fetched = g.fetch_offsets(Some(&asked));
    assert!(
        fetched.iter().all(|o| o.offset == -1 && !o.pending_txn),
        "aborted: gone"
    );

    let staged = g
        .txn_offset_records("", -1, None, &[commit("t", 0, 11)], 6)
        .expect("commit");
    g.stage_txn_offsets(8, staged.into_iter().map(|(_, s)| s));
    g.complete_txn(8, true);
    let fetched = g.fetch_offsets(Some(&asked));
    assert_eq!((fetched[0].offset, fetched[0].pending_txn), (11, false));
    assert_eq!(fetched[1].offset, -1);
}

#[test]
fn a_transactional_commit_that_names_a_member_is_checked_like_an_offset_commit() {
    let mut g = group();
    assert_eq!(
        g.txn_offset_records("ghost", 1, None, &[commit("t", 0, 1)], 0)
            .err(),
        Some(ErrorCode::UnknownMemberId)
    );
}
