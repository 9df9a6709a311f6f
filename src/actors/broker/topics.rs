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

impl CreateTopic {
    /// An auto-created topic: the broker's defaults.
    fn auto(name: &str) -> Self {
        CreateTopic {
            name: name.to_owned(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: Vec::new(),
            validate_only: false,
        }
    }
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
        if let Some(link) = &self.cluster {
            // An internal topic a coordinator needs: proposed now, served once the
            // metadata log has it (the client retries meanwhile).
            let (records, _) = self.topic_records(&msg)?;
            let cluster = Arc::clone(&link.cluster);
            if let Some(records) = records {
                actix::spawn(async move {
                    if let Err(e) = cluster.propose(records).await {
                        tracing::debug!(error = %e, "creating an internal topic");
                    }
                });
            }
            return Err((
                ErrorCode::CoordinatorNotAvailable,
                format!("topic '{}' is being created", msg.name),
            ));
        }
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
                    partitions: routes.into_iter().map(Some).collect(),
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
    type Result = ResponseActFuture<Self, Result<CreatedTopic, AdminError>>;

    fn handle(&mut self, msg: CreateTopic, _: &mut Context<Self>) -> Self::Result {
        if !self.topics.contains_key(&msg.name) {
            if let Err(e) = refuse_internal(&msg.name, "create") {
                return Box::pin(actix::fut::ready(Err(e)));
            }
        }
        if self.cluster.is_none() {
            return Box::pin(actix::fut::ready(self.create(msg)));
        }
        match self.topic_records(&msg) {
            Err(e) => Box::pin(actix::fut::ready(Err(e))),
            Ok((None, created)) => Box::pin(actix::fut::ready(Ok(created))),
            Ok((Some(records), created)) => self.propose(records, created),
        }
    }
}

impl Handler<AutoCreateTopics> for BrokerActor {
    type Result = ResponseActFuture<Self, Vec<(String, Result<(), AdminError>)>>;

    fn handle(&mut self, msg: AutoCreateTopics, _: &mut Context<Self>) -> Self::Result {
        if let Some(link) = &self.cluster {
            // Each name its own proposal: one that exists (created meanwhile by
            // another broker) does not fail the others.
            let mut proposals = Vec::new();
            let mut results = Vec::new();
            for name in msg.0 {
                if self.topics.contains_key(&name) {
                    results.push((name, Ok(())));
                    continue;
                }
                let req = CreateTopic::auto(&name);
                match refuse_internal(&name, "create").and_then(|()| self.topic_records(&req)) {
                    Ok((Some(records), _)) => proposals.push((name, records)),
                    Ok((None, _)) => results.push((name, Ok(()))),
                    Err(e) => results.push((name, Err(e))),
                }
            }
            let cluster = Arc::clone(&link.cluster);
            return Box::pin(
                async move {
                    let outcomes =
                        futures::future::join_all(proposals.into_iter().map(|(name, records)| {
                            let cluster = Arc::clone(&cluster);
                            async move {
                                let r = match cluster.propose(records).await {
                                    Ok(_) => Ok(()),
                                    // Created by another broker meanwhile: there it is.
                                    Err(crate::cluster::ProposeError::Rejected(
                                        crate::cluster::image::ApplyError::TopicExists(_),
                                    )) => Ok(()),
                                    Err(e) => Err(cluster::admin_error(e)),
                                };
                                (name, r)
                            }
                        }))
                        .await;
                    results.extend(outcomes);
                    (results, cluster.image())
                }
                .into_actor(self)
                .map(|(results, image), act, ctx| {
                    act.apply_image(image, ctx);
                    act.start_replayed(ctx);
                    results
                }),
            );
        }
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
                let req = CreateTopic::auto(&name);
                (name, self.create(req).map(|_| ()))
            })
            .collect();
        Box::pin(actix::fut::ready(results))
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
        if self.cluster.is_some() {
            let Some(id) = self.topics.get(&name).map(|t| t.id) else {
                return Box::pin(actix::fut::ready(Err((
                    ErrorCode::UnknownTopicOrPartition,
                    name,
                ))));
            };
            // Removed from every broker (data included) as each applies the record.
            return self.propose(
                vec![crate::cluster::MetadataRecord::RemoveTopic { topic_id: id }],
                (name, id),
            );
        }
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
            .flatten()
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
    type Result = ResponseActFuture<Self, Result<(), AdminError>>;

    fn handle(&mut self, msg: CreatePartitions, _: &mut Context<Self>) -> Self::Result {
        let change = self.create_partitions(msg);
        self.commit_change(change)
    }
}

impl BrokerActor {
    /// Grows a topic; in a cluster, the records that grow it, placed across the live
    /// brokers.
    fn create_partitions(
        &mut self,
        msg: CreatePartitions,
    ) -> Result<Option<Vec<crate::cluster::MetadataRecord>>, AdminError> {
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
            return Ok(None);
        }
        if let Some(link) = &self.cluster {
            // New partitions get as many replicas as the topic's first one has.
            let rf = link
                .image
                .topics
                .get(&topic.id)
                .and_then(|t| t.partitions.first())
                .map_or(1, |p| i16::try_from(p.replicas.len()).unwrap_or(1));
            return super::cluster::partition_records(
                &link.image,
                topic.id,
                current..msg.count,
                rf,
                msg.assignments,
            )
            .map(Some);
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
            t.partitions.extend(added.into_iter().map(Some));
        }
        self.persist_topic(&msg.name)?;
        self.publish_topic(&msg.name);
        tracing::info!(topic = %msg.name, partitions = msg.count, "partitions added");
        Ok(None)
    }
}

impl Handler<AlterTopicConfigs> for BrokerActor {
    type Result = ResponseActFuture<Self, Result<(), AdminError>>;

    fn handle(&mut self, msg: AlterTopicConfigs, _: &mut Context<Self>) -> Self::Result {
        let change = self.alter_topic_configs(msg);
        self.commit_change(change)
    }
}

impl BrokerActor {
    /// Changes a topic's overrides; in a cluster, the config records that change them.
    fn alter_topic_configs(
        &mut self,
        msg: AlterTopicConfigs,
    ) -> Result<Option<Vec<crate::cluster::MetadataRecord>>, AdminError> {
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
            return Ok(None);
        }
        if self.cluster.is_some() {
            let resource = crate::cluster::ConfigResource::Topic(msg.name.clone());
            let old = topic.configs.overrides();
            let new = next.overrides();
            let removed = old.keys().filter(|k| !new.contains_key(*k)).map(|k| {
                crate::cluster::MetadataRecord::Config {
                    resource: resource.clone(),
                    name: k.clone(),
                    value: None,
                }
            });
            let set = new
                .iter()
                .filter(|(k, v)| old.get(*k) != Some(*v))
                .map(|(k, v)| crate::cluster::MetadataRecord::Config {
                    resource: resource.clone(),
                    name: k.clone(),
                    value: Some(v.clone()),
                });
            return Ok(Some(removed.chain(set).collect()));
        }
        if let Some(t) = self.topics.get_mut(&msg.name) {
            t.configs = next;
            t.send_log_config(&self.config);
        }
        self.persist_topic(&msg.name)?;
        self.publish_topic(&msg.name);
        tracing::info!(topic = %msg.name, "topic configs changed");
        Ok(None)
    }
}
