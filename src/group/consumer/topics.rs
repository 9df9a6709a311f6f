//! What a consumer group knows of the broker's topics: the ids and partition counts of the
//! topics its members subscribe to, by name or by regular expression.
//!
//! The group reads topics through [`TopicMetadata`], which the actor implements over the
//! broker's routing snapshot, so the state machine never sees an actor. The subscribed
//! topics' metadata is part of the group's state: when it changes (a topic created that
//! a regex matches, partitions added, a topic deleted) the group epoch moves.

use std::collections::BTreeMap;

use regex::Regex;
use uuid::Uuid;

/// The broker's topics as a group sees them. Internal topics are not listed.
pub trait TopicMetadata {
    /// A topic's id and partition count.
    fn topic(&self, name: &str) -> Option<(Uuid, u32)>;
    /// A topic's name, by id.
    fn topic_name(&self, id: &Uuid) -> Option<String>;
    /// Every topic name, for regular expressions.
    fn topic_names(&self) -> Vec<String>;
    /// Changes whenever the topics may have changed: the group reads them again only
    /// then (or when a subscription changed).
    fn generation(&self) -> u64;
}

/// A test and tool implementation: name -> (id, partitions).
impl TopicMetadata for BTreeMap<String, (Uuid, u32)> {
    fn topic(&self, name: &str) -> Option<(Uuid, u32)> {
        self.get(name).copied()
    }

    fn topic_name(&self, id: &Uuid) -> Option<String> {
        self.iter()
            .find(|(_, (i, _))| i == id)
            .map(|(name, _)| name.clone())
    }

    fn topic_names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }

    fn generation(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut h);
        h.finish()
    }
}

/// The subscribed topics' metadata: name -> (id, partition count).
pub type SubscribedTopics = BTreeMap<String, (Uuid, u32)>;

/// Compiles a subscription regex as Kafka matches it: the whole topic name must match
/// (Java's `Matcher.matches`). Kafka's syntax is RE2/J; the `regex` crate speaks RE2.
/// `None` for a pattern that does not compile (INVALID_REGULAR_EXPRESSION).
pub fn compile_regex(pattern: &str) -> Option<Regex> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .ok()
}
