//! Kafka's rules for topics: names, partition counts and replication factors,
//! replica assignments, configs, internal topics, and the broker-wide partition cap.

use super::*;

/// Kafka's rules for a topic name.
pub fn validate_topic_name(name: &str) -> Result<(), AdminError> {
    let invalid = |why: &str| {
        Err((
            ErrorCode::InvalidTopicException,
            format!("Topic name \"{name}\" is illegal, {why}"),
        ))
    };
    if name.is_empty() {
        return invalid("it can't be empty");
    }
    if name == "." || name == ".." {
        return invalid("it can't be '.' or '..'");
    }
    if name.len() > 249 {
        return invalid("it can't be longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid("it contains a character other than ASCII alphanumerics, '.', '_' and '-'");
    }
    Ok(())
}

/// The broker's own topics: created by the coordinators that need them, with the
/// configs they need, and never deleted or created by a client.
pub fn is_internal_topic(name: &str) -> bool {
    name == groups::OFFSETS_TOPIC || name == transactions::TXN_TOPIC
}

/// Refuses a client's attempt to create or delete an internal topic.
pub(super) fn refuse_internal(name: &str, what: &str) -> Result<(), AdminError> {
    if is_internal_topic(name) {
        return Err((
            ErrorCode::InvalidTopicException,
            format!("Topic '{name}' is internal: clients cannot {what} it."),
        ));
    }
    Ok(())
}

/// Kafka treats '.' and '_' as the same in metric names, so two names with the same key
/// collide.
pub(super) fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

impl BrokerActor {
    pub(super) fn check_new_topic(
        &self,
        msg: &CreateTopic,
    ) -> Result<(i32, i16, TopicConfigs), AdminError> {
        validate_topic_name(&msg.name)?;
        if self.topics.contains_key(&msg.name) {
            return Err((
                ErrorCode::TopicAlreadyExists,
                format!("Topic '{}' already exists.", msg.name),
            ));
        }
        if let Some(other) = self
            .collision_names
            .get(&collision_key(&msg.name))
            .filter(|other| **other != msg.name)
        {
            return Err((
                ErrorCode::InvalidTopicException,
                format!("Topic '{}' collides with existing topic: {other}", msg.name),
            ));
        }
        let (partitions, rf) = if msg.assignments.is_empty() {
            let partitions = if msg.num_partitions == -1 {
                self.config.num_partitions
            } else {
                msg.num_partitions
            };
            let rf = if msg.replication_factor == -1 {
                self.config.default_replication_factor
            } else {
                msg.replication_factor
            };
            if partitions <= 0 {
                return Err((
                    ErrorCode::InvalidPartitions,
                    "Number of partitions must be larger than 0.".into(),
                ));
            }
            (partitions, rf)
        } else {
            if msg.num_partitions != -1 || msg.replication_factor != -1 {
                return Err((
                    ErrorCode::InvalidRequest,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
                ));
            }
            let mut seen: Vec<i32> = msg.assignments.iter().map(|(p, _)| *p).collect();
            seen.sort_unstable();
            if seen != (0..seen.len() as i32).collect::<Vec<_>>() {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    "Partitions must be numbered consecutively from 0.".into(),
                ));
            }
            self.check_assignment(msg.assignments.iter().map(|(_, r)| r.as_slice()))?;
            (seen.len() as i32, msg.assignments[0].1.len() as i16)
        };
        if rf <= 0 {
            return Err((
                ErrorCode::InvalidReplicationFactor,
                "Replication factor must be larger than 0.".into(),
            ));
        }
        if rf > 1 && self.cluster.is_none() {
            return Err((
                ErrorCode::InvalidReplicationFactor,
                format!("Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."),
            ));
        }
        let mut overrides = Vec::new();
        for (k, v) in &msg.configs {
            match v {
                Some(v) => overrides.push((k.as_str(), v.as_str())),
                None => {
                    return Err((
                        ErrorCode::InvalidConfig,
                        format!("Null value not supported for topic configs: {k}"),
                    ))
                }
            }
        }
        let configs = TopicConfigs::from_overrides(overrides)
            .map_err(|e| (ErrorCode::InvalidConfig, e.to_string()))?;
        Ok((partitions, rf, configs))
    }

    pub(super) fn check_assignment<'a>(
        &self,
        replicas: impl Iterator<Item = &'a [i32]>,
    ) -> Result<(), AdminError> {
        if let Some(cluster) = &self.cluster {
            // Kafka's checks: registered brokers, none twice, as many for each partition.
            let mut count = None;
            for r in replicas {
                let mut distinct = r.to_vec();
                distinct.sort_unstable();
                distinct.dedup();
                let invalid = if r.is_empty() {
                    Some("a partition needs a replica".to_string())
                } else if distinct.len() != r.len() {
                    Some("a broker is listed twice".into())
                } else if let Some(b) = r.iter().find(|b| !cluster.image.brokers.contains_key(*b)) {
                    Some(format!("broker {b} is not registered"))
                } else if count.is_some_and(|c| c != r.len()) {
                    Some("all partitions should have the same number of replicas".into())
                } else {
                    None
                };
                if let Some(why) = invalid {
                    return Err((
                        ErrorCode::InvalidReplicaAssignment,
                        format!("Replica assignment {r:?} is invalid: {why}."),
                    ));
                }
                count = Some(r.len());
            }
            return Ok(());
        }
        for r in replicas {
            if r.len() != 1 || r[0] != self.config.node_id {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!("Replica assignment {r:?} is invalid: this cluster has the single broker {}.", self.config.node_id),
                ));
            }
        }
        Ok(())
    }

    /// Refuses `adding` partitions that would take the broker past
    /// `max.broker.partitions`. The internal topics are never refused: the coordinators
    /// cannot work without them.
    pub(super) fn check_partition_room(&self, name: &str, adding: i32) -> Result<(), AdminError> {
        let limit = u64::from(self.config.max_broker_partitions);
        let after = self.partition_count as u64 + u64::try_from(adding).unwrap_or(0);
        if after > limit && !is_internal_topic(name) {
            return Err((
                ErrorCode::PolicyViolation,
                format!(
                    "Adding {adding} partitions to topic '{name}' would make this broker hold {after}, more than max.broker.partitions ({limit})."
                ),
            ));
        }
        Ok(())
    }
}
