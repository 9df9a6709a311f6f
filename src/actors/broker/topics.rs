//! Topic admin: the messages that create, delete, grow and reconfigure topics, and
//! their handlers. Kafka's rules for what may be created are in `topic_rules`.

use super::*;

/// Creates a topic (or checks that it could be created, with `validate_only`).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<CreatedTopic, AdminError>")]
pub struct CreateTopic {
    pub name: String,
    /// -1: `num.partitions`.
    pub num_partitions: i32,
    /// -1: `default.replication.factor`.
    pub replication_factor: i16,
    /// Manual assignment: partition -> replicas, if given.
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: Vec<(String, Option<String>)>,
    pub validate_only: bool,
}

/// What a created topic looks like.
#[derive(Debug, Clone)]
pub struct CreatedTopic {
    pub id: Uuid,
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub configs: TopicConfigs,
}

/// Deletes a topic by name or by id; its data is removed.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(String, Uuid), AdminError>")]
pub enum DeleteTopic {
    Name(String),
    Id(Uuid),
}

/// Grows a topic to `count` partitions.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), AdminError>")]
pub struct CreatePartitions {
    pub name: String,
    pub count: i32,
    pub assignments: Option<Vec<Vec<i32>>>,
    pub validate_only: bool,
}

/// Creates the named topics that do not exist, with the broker defaults
/// (`auto.create.topics.enable`); answers each name's outcome.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Vec<(String, Result<(), AdminError>)>")]
pub struct AutoCreateTopics(pub Vec<String>);

/// Changes a topic's config overrides, live (AlterConfigs, IncrementalAlterConfigs).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<(), AdminError>")]
pub struct AlterTopicConfigs {
    pub name: String,
    pub change: ConfigChange,
    pub validate_only: bool,
}

/// How configs change.
#[derive(Debug, Clone)]
pub enum ConfigChange {
    /// AlterConfigs: the given set replaces every override.
    Replace(Vec<(String, Option<String>)>),
    /// IncrementalAlterConfigs: SET, DELETE, APPEND, SUBTRACT.
    Incremental(Vec<AlterOp>),
}

impl BrokerActor {
    pub(super) fn create(&mut self, msg: CreateTopic) -> Result<CreatedTopic, AdminError> {
        let (partitions, rf, configs) = self.check_new_topic(&msg)?;
        self.check_partition_room(&msg.name, partitions)?;
        let id = Uuid::new_v4();
        if !msg.validate_only {
            let mut routes = Vec::new();
            for p in 0..partitions {
                let route = self
                    .open_partition(&msg.name, p, &configs)
                    .map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?;
                routes.push(route);
            }
            self.topics.insert(
                msg.name.clone(),
                TopicState {
                    id,
                    configs: configs.clone(),
                    partitions: routes,
                },
            );
            self.collision_names
                .insert(collision_key(&msg.name), msg.name.clone());
            self.partition_count += partitions as usize;
            self.persist_topic(&msg.name)?;
            self.publish_topic(&msg.name);
            tracing::info!(topic = %msg.name, partitions, "topic created");
        }
        Ok(CreatedTopic {
            id,
            num_partitions: partitions,
            replication_factor: rf,
            configs,
        })
    }
}

impl Handler<CreateTopic> for BrokerActor {
    type Result = Result<CreatedTopic, AdminError>;

    fn handle(&mut self, msg: CreateTopic, _: &mut Context<Self>) -> Self::Result {
        if !self.topics.contains_key(&msg.name) {
            refuse_internal(&msg.name, "create")?;
        }
        self.create(msg)
    }
}

impl Handler<AutoCreateTopics> for BrokerActor {
    type Result = MessageResult<AutoCreateTopics>;

    fn handle(&mut self, msg: AutoCreateTopics, _: &mut Context<Self>) -> Self::Result {
        let results = msg
            .0
            .into_iter()
            .map(|name| {
                if self.topics.contains_key(&name) {
                    return (name, Ok(()));
                }
                if let Err(e) = refuse_internal(&name, "create") {
                    return (name, Err(e));
                }
                let req = CreateTopic {
                    name: name.clone(),
                    num_partitions: -1,
                    replication_factor: -1,
                    assignments: Vec::new(),
                    configs: Vec::new(),
                    validate_only: false,
                };
                (name, self.create(req).map(|_| ()))
            })
            .collect();
        MessageResult(results)
    }
}

impl Handler<DeleteTopic> for BrokerActor {
    type Result = ResponseActFuture<Self, Result<(String, Uuid), AdminError>>;

    fn handle(&mut self, msg: DeleteTopic, _: &mut Context<Self>) -> Self::Result {
        let name = match &msg {
            DeleteTopic::Name(n) => self.topics.contains_key(n).then(|| n.clone()),
            DeleteTopic::Id(id) => self
                .topics
                .iter()
                .find(|(_, t)| t.id == *id)
                .map(|(n, _)| n.clone()),
        };
        if let Some(Err(e)) = name.as_deref().map(|n| refuse_internal(n, "delete")) {
            return Box::pin(actix::fut::ready(Err(e)));
        }
        let Some(name) = name else {
            let err = match msg {
                DeleteTopic::Name(_) => (
                    ErrorCode::UnknownTopicOrPartition,
                    "This server does not host this topic-partition.".to_string(),
                ),
                DeleteTopic::Id(_) => (
                    ErrorCode::UnknownTopicId,
                    "This server does not host this topic ID.".to_string(),
                ),
            };
            return Box::pin(actix::fut::ready(Err(err)));
        };
        let Some(topic) = self.topics.remove(&name) else {
            return Box::pin(actix::fut::ready(Err((
                ErrorCode::UnknownTopicOrPartition,
                name,
            ))));
        };
        // Forget the topic first, then remove its data: a crash in between leaves
        // orphan directories, never a topic without its data.
        self.collision_names.remove(&collision_key(&name));
        self.partition_count -= topic.partitions.len();
        let persisted = self.persist_topic(&name);
        self.publish_topic(&name);
        let id = topic.id;
        let closes: Vec<_> = topic
            .partitions
            .iter()
            .map(|p| p.addr.send(Close { delete: true }))
            .collect();
        tracing::info!(topic = %name, "topic deleted");
        Box::pin(
            async move {
                for res in futures::future::join_all(closes).await {
                    if let Ok(Err(e)) = res {
                        tracing::warn!(error = %e, "removing a deleted topic's data failed");
                    }
                }
                persisted.map(|()| (name, id))
            }
            .into_actor(self),
        )
    }
}

impl Handler<CreatePartitions> for BrokerActor {
    type Result = Result<(), AdminError>;

    fn handle(&mut self, msg: CreatePartitions, _: &mut Context<Self>) -> Self::Result {
        let Some(topic) = self.topics.get(&msg.name) else {
            return Err((
                ErrorCode::UnknownTopicOrPartition,
                format!("The topic '{}' does not exist.", msg.name),
            ));
        };
        let current = topic.partitions.len() as i32;
        self.check_partition_room(&msg.name, msg.count.saturating_sub(current))?;
        if msg.count < current {
            return Err((
                ErrorCode::InvalidPartitions,
                format!("Topic currently has {current} partitions, which is higher than the requested {}.", msg.count),
            ));
        }
        if msg.count == current {
            return Err((
                ErrorCode::InvalidPartitions,
                format!("Topic already has {current} partitions."),
            ));
        }
        if let Some(a) = &msg.assignments {
            if a.len() as i32 != msg.count - current {
                return Err((
                    ErrorCode::InvalidReplicaAssignment,
                    format!(
                        "Increasing the number of partitions by {} but {} assignments provided.",
                        msg.count - current,
                        a.len()
                    ),
                ));
            }
            self.check_assignment(a.iter().map(Vec::as_slice))?;
        }
        if msg.validate_only {
            return Ok(());
        }
        let configs = topic.configs.clone();
        let mut added = Vec::new();
        for p in current..msg.count {
            added.push(
                self.open_partition(&msg.name, p, &configs)
                    .map_err(|e| (ErrorCode::KafkaStorageError, e.to_string()))?,
            );
        }
        self.partition_count += added.len();
        if let Some(t) = self.topics.get_mut(&msg.name) {
            t.partitions.extend(added);
        }
        self.persist_topic(&msg.name)?;
        self.publish_topic(&msg.name);
        tracing::info!(topic = %msg.name, partitions = msg.count, "partitions added");
        Ok(())
    }
}

impl Handler<AlterTopicConfigs> for BrokerActor {
    type Result = Result<(), AdminError>;

    fn handle(&mut self, msg: AlterTopicConfigs, _: &mut Context<Self>) -> Self::Result {
        let Some(topic) = self.topics.get(&msg.name) else {
            return Err((
                ErrorCode::UnknownTopicOrPartition,
                format!("The topic '{}' does not exist.", msg.name),
            ));
        };
        let invalid = |e: crate::config::ConfigError| (ErrorCode::InvalidConfig, e.to_string());
        let next = match msg.change {
            ConfigChange::Replace(configs) => {
                let mut pairs = Vec::with_capacity(configs.len());
                for (k, v) in configs {
                    let v = v.ok_or_else(|| {
                        (
                            ErrorCode::InvalidRequest,
                            format!("Null value not supported for : {k}"),
                        )
                    })?;
                    pairs.push((k, v));
                }
                TopicConfigs::from_overrides(pairs).map_err(invalid)?
            }
            ConfigChange::Incremental(ops) => {
                topic.configs.altered(&ops, &self.config).map_err(invalid)?
            }
        };
        if msg.validate_only {
            return Ok(());
        }
        let log_config = log_config(&next.effective(&self.config));
        if let Some(t) = self.topics.get_mut(&msg.name) {
            t.configs = next;
            for p in &t.partitions {
                p.addr.do_send(UpdateConfig(log_config.clone()));
            }
        }
        self.persist_topic(&msg.name)?;
        self.publish_topic(&msg.name);
        tracing::info!(topic = %msg.name, "topic configs changed");
        Ok(())
    }
}
