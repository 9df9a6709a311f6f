//! One member of a classic group, and the protocol vote across members.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::api::Token;

/// A member as the coordinator keeps it (Kafka's `MemberMetadata`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: u64,
    pub rebalance_timeout_ms: u64,
    /// (name, metadata) in the member's preference order.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    /// A parked JoinGroup.
    pub awaiting_join: Option<Token>,
    /// A parked SyncGroup.
    pub awaiting_sync: Option<Token>,
    /// Joined but not yet part of a completed generation: may expire while awaiting join.
    pub is_new: bool,
    /// When the member expires without a heartbeat; `None` after replay until the first tick.
    pub session_deadline_ms: Option<u64>,
}

impl Member {
    /// Its metadata for `protocol`, empty when it does not support it.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Whether `protocols` equals what it joined with (Kafka's `matches`).
    pub fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    /// Whether the member's session is still alive at `now_ms` (Kafka's
    /// `hasSatisfiedHeartbeat`): members parked in a rebalance are kept alive, except new
    /// ones, which only wait so long.
    pub fn is_alive(&self, now_ms: u64) -> bool {
        let satisfied = self.session_deadline_ms.is_none_or(|d| now_ms < d);
        if self.is_new {
            satisfied
        } else if self.awaiting_join.is_some() || self.awaiting_sync.is_some() {
            true
        } else {
            satisfied
        }
    }
}

/// Kafka's protocol vote: among the protocols every member supports, each member votes
/// for the first it prefers; the most votes win, a tie goes to the earlier candidate in
/// the first member's order. `None` when the members share no protocol.
pub(crate) fn select_protocol<'a>(
    members: impl Iterator<Item = &'a Member> + Clone,
) -> Option<String> {
    let first = members.clone().next()?;
    let candidates: Vec<&str> = first
        .protocols
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|name| {
            members
                .clone()
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
        .collect();
    let mut votes = vec![0usize; candidates.len()];
    for member in members {
        if let Some(i) = member
            .protocols
            .iter()
            .find_map(|(n, _)| candidates.iter().position(|c| c == n))
        {
            votes[i] += 1;
        }
    }
    let mut best: Option<(usize, usize)> = None;
    for (i, v) in votes.iter().enumerate() {
        if best.is_none_or(|(_, bv)| *v > bv) {
            best = Some((i, *v));
        }
    }
    best.map(|(i, _)| candidates[i].to_string())
}

/// The topics of a consumer-protocol subscription (`ConsumerProtocolSubscription`, any
/// version: they all start with version i16, then an array of strings), or `None` when
/// the bytes are not one.
pub(crate) fn subscribed_topics(metadata: &[u8]) -> Option<BTreeSet<String>> {
    let mut rest = metadata.get(2..)?;
    let count = i32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    rest = rest.get(4..)?;
    let mut topics = BTreeSet::new();
    for _ in 0..count.max(0) {
        let len = i16::from_be_bytes(rest.get(..2)?.try_into().ok()?);
        let len = usize::try_from(len).ok()?;
        let name = rest.get(2..2 + len)?;
        topics.insert(String::from_utf8(name.to_vec()).ok()?);
        rest = rest.get(2 + len..)?;
    }
    Some(topics)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn member(id: &str, protocols: &[&str]) -> Member {
        Member {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocols: protocols
                .iter()
                .map(|p| (p.to_string(), Bytes::from_static(b"m")))
                .collect(),
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
            session_deadline_ms: None,
        }
    }

    /// A consumer subscription v0 to `topics`, as the Java client encodes it.
    pub(crate) fn subscription(topics: &[&str]) -> Bytes {
        let mut b = vec![0u8, 0];
        b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
        for t in topics {
            b.extend_from_slice(&(t.len() as i16).to_be_bytes());
            b.extend_from_slice(t.as_bytes());
        }
        b.extend_from_slice(&(-1i32).to_be_bytes()); // null user data
        Bytes::from(b)
    }

    #[test]
    fn protocol_vote_picks_the_most_preferred_common_protocol() {
        let ms = [
            member("a", &["range", "roundrobin"]),
            member("b", &["roundrobin", "range"]),
            member("c", &["roundrobin", "range", "sticky"]),
        ];
        assert_eq!(select_protocol(ms.iter()).as_deref(), Some("roundrobin"));
    }

    #[test]
    fn protocol_vote_ignores_protocols_not_all_members_support() {
        let ms = [member("a", &["sticky", "range"]), member("b", &["range"])];
        assert_eq!(select_protocol(ms.iter()).as_deref(), Some("range"));
        let ms = [member("a", &["sticky"]), member("b", &["range"])];
        assert_eq!(select_protocol(ms.iter()), None);
    }

    #[test]
    fn subscription_topics_decode_and_garbage_is_none() {
        let topics = subscribed_topics(&subscription(&["a", "bb"])).expect("decodes");
        assert_eq!(topics.into_iter().collect::<Vec<_>>(), vec!["a", "bb"]);
        assert_eq!(subscribed_topics(b"\x00"), None);
        assert_eq!(subscribed_topics(b"\x00\x00\x00\x00\x00\x05\x00"), None);
    }
}
