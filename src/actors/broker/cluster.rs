//! The broker as a member of a cluster: its topics are the metadata image's, and it
//! opens the partitions it leads. Topic admin becomes a proposal to the metadata
//! quorum; the answer comes once the change is committed and applied here.

use super::*;
use crate::actors::partition::{PartitionActor, RoleSpec, SetRole, WithLog};
use crate::cluster::fetcher::{FetcherSettings, Fetchers, Followed};
use crate::cluster::image::PartitionImage;
use crate::cluster::{place, Cluster, ConfigResource, MetadataImage, MetadataRecord, ProposeError};
use crate::storage::Log;

/// The cluster this broker is a member of, the image it last followed, and the
/// fetchers of the partitions it follows.
pub(crate) struct ClusterLink {
    pub(super) cluster: Arc<Cluster>,
    pub(super) image: Arc<MetadataImage>,
    fetchers: Fetchers,
    /// `replica.lag.time.max.ms`.
    lag_max_ms: i64,
}

impl ClusterLink {
    pub(crate) fn new(cluster: Arc<Cluster>, config: &Config) -> Self {
        let image = cluster.image();
        let r = config
            .quorum
            .as_ref()
            .map(|q| q.replication)
            .unwrap_or_default();
        let settings = FetcherSettings {
            me: config.node_id,
            max_wait_ms: r.fetch_wait_max_ms,
            min_bytes: r.fetch_min_bytes,
            max_bytes: r.fetch_response_max_bytes,
            partition_max_bytes: r.fetch_max_bytes,
            backoff: Duration::from_millis(r.fetch_backoff_ms),
            request_timeout: Duration::from_millis(r.socket_timeout_ms),
        };
        ClusterLink {
            fetchers: Fetchers::new(settings, cluster.watch()),
            lag_max_ms: i64::try_from(r.lag_time_max_ms).unwrap_or(i64::MAX),
            cluster,
            image,
        }
    }

    /// What this broker is for partition `index` of `topic_id` as `p` places it.
    fn role(&self, me: i32, topic_id: Uuid, index: i32, p: &PartitionImage) -> RoleSpec {
        if p.leader == me {
            RoleSpec::Leader {
                epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                cluster: Arc::clone(&self.cluster),
                topic_id,
                partition: index,
                lag_max_ms: self.lag_max_ms,
            }
        } else {
            RoleSpec::Follower {
                leader: p.leader,
                epoch: p.leader_epoch,
            }
        }
    }
}

/// A newly applied metadata image for the broker to follow.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyImage(pub Arc<MetadataImage>);

impl Handler<ApplyImage> for BrokerActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyImage, ctx: &mut Context<Self>) {
        self.apply_image(msg.0, ctx);
        self.start_replayed(ctx);
    }
}

/// This broker's session with the controller may have lapsed (true), or a heartbeat
/// was acknowledged again (false).
#[derive(Message)]
#[rtype(result = "()")]
pub struct LeaseLost(pub bool);

impl Handler<LeaseLost> for BrokerActor {
    type Result = ();

    fn handle(&mut self, msg: LeaseLost, _: &mut Context<Self>) {
        if self.lease_lost == msg.0 {
            return;
        }
        self.lease_lost = msg.0;
        let names: Vec<String> = self.topics.keys().cloned().collect();
        for name in names {
            self.update_route(&name);
        }
        self.store_routing();
    }
}

/// Creates an internal topic (`__consumer_offsets`, `__transaction_state`) through the
/// quorum if the cluster does not have it yet: FindCoordinator asks before it can
/// name the coordinator.
#[derive(Message)]
#[rtype(result = "()")]
pub struct EnsureInternalTopic(pub String);

impl Handler<EnsureInternalTopic> for BrokerActor {
    type Result = ();

    fn handle(&mut self, msg: EnsureInternalTopic, _: &mut Context<Self>) {
        if self.topics.contains_key(&msg.0) {
            return;
        }
        let (partitions, segment_bytes) = if msg.0 == OFFSETS_TOPIC {
            (
                self.config.offsets_topic_num_partitions,
                self.config.offsets_topic_segment_bytes,
            )
        } else if msg.0 == TXN_TOPIC {
            (
                self.config.transaction_state_log_num_partitions,
                self.config.transaction_state_log_segment_bytes,
            )
        } else {
            return;
        };
        // `create` proposes it (and answers "not yet", which no one waits for here).
        let rf = self.internal_replication_factor(&msg.0);
        let _ = self.create(internal_topic(&msg.0, partitions, segment_bytes, rf));
    }
}

/// The records of partitions `range` of topic `id`, each on the replicas `assignments`
/// gives, or placed across the live brokers of `image` (`rf` each), the first replica
/// the leader.
pub(super) fn partition_records(
    image: &MetadataImage,
    id: Uuid,
    range: std::ops::Range<i32>,
    rf: i16,
    assignments: Option<Vec<Vec<i32>>>,
) -> Result<Vec<MetadataRecord>, AdminError> {
    let placed = match assignments {
        Some(a) => a,
        None => {
            let live: Vec<(i32, Option<String>)> = image
                .live_brokers()
                .map(|b| (b.id, b.rack.clone()))
                .collect();
            // Where a topic starts rotates with its id, so small topics spread too.
            let start = usize::from(id.as_bytes()[0]);
            let count = range.end - range.start;
            place(&live, range.start, count, usize::try_from(rf).unwrap_or(1), start).ok_or((
                ErrorCode::InvalidReplicationFactor,
                format!("Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.", live.len()),
            ))?
        }
    };
    Ok(placed
        .into_iter()
        .zip(range)
        .map(|(replicas, partition)| MetadataRecord::Partition {
            topic_id: id,
            partition,
            leader: replicas.first().copied().unwrap_or(-1),
            isr: replicas.clone(),
            replicas,
            leader_epoch: 0,
        })
        .collect())
}

/// A proposal's failure as the admin APIs answer it.
pub(super) fn admin_error(e: ProposeError) -> AdminError {
    use crate::cluster::image::ApplyError;
    match e {
        ProposeError::Rejected(ApplyError::TopicExists(name)) => (
            ErrorCode::TopicAlreadyExists,
            format!("Topic '{name}' already exists."),
        ),
        ProposeError::Rejected(ApplyError::UnknownTopic(_) | ApplyError::UnknownTopicName(_)) => (
            ErrorCode::UnknownTopicOrPartition,
            "This server does not host this topic-partition.".into(),
        ),
        ProposeError::Rejected(e) => (ErrorCode::InvalidRequest, e.to_string()),
        ProposeError::NoLeader | ProposeError::NotLeader(_) => {
            (ErrorCode::NotController, e.to_string())
        }
        ProposeError::Unavailable(_) => (ErrorCode::RequestTimedOut, e.to_string()),
    }
}

impl BrokerActor {
    /// Starts following the cluster's image: every applied image reaches this actor.
    pub(super) fn follow_cluster(&mut self, ctx: &mut Context<Self>) {
        let Some(link) = &self.cluster else {
            return;
        };
        let mut images = link.cluster.watch();
        let me = ctx.address();
        ctx.spawn(
            async move {
                while images.changed().await.is_ok() {
                    let image = Arc::clone(&images.borrow_and_update());
                    if me.send(ApplyImage(image)).await.is_err() {
                        return;
                    }
                }
            }
            .into_actor(self),
        );
        let mut lease_lost = link.cluster.lease_lost();
        let me = ctx.address();
        ctx.spawn(
            async move {
                while lease_lost.changed().await.is_ok() {
                    let lost = *lease_lost.borrow_and_update();
                    if me.send(LeaseLost(lost)).await.is_err() {
                        return;
                    }
                }
            }
            .into_actor(self),
        );
        let image = link.cluster.image();
        self.apply_image(image, ctx);
    }

    /// An internal topic's replication factor when it is created now: its setting, at
    /// most the live brokers (so a cluster smaller than the setting still gets its
    /// coordinators); one on a single broker.
    pub(super) fn internal_replication_factor(&self, name: &str) -> i16 {
        let Some(link) = &self.cluster else { return 1 };
        let wanted = if name == TXN_TOPIC {
            self.config.transaction_state_log_replication_factor
        } else {
            self.config.offsets_topic_replication_factor
        };
        let live = i16::try_from(link.image.live_brokers().count()).unwrap_or(i16::MAX);
        wanted.min(live).max(1)
    }

    /// Starts and stops coordinators as the leadership of internal partitions came here
    /// or went away (Kafka's coordinator loading and unloading): the groups or
    /// transactional ids of a partition now led here are read from its log by its actor
    /// (COORDINATOR_LOAD_IN_PROGRESS until then); those of one led elsewhere now stop.
    fn move_coordinators(&mut self, ctx: &mut Context<Self>) {
        for (topic, partition, gained) in std::mem::take(&mut self.leadership_changes) {
            let count = self.topics.get(&topic).map_or(0, |t| t.partitions.len());
            let ours = |key: &str| groups::partition_for_key(key, count) as i32 == partition;
            // Whatever ran for this partition before is stale either way.
            if topic == OFFSETS_TOPIC {
                for (id, addr) in self.groups.filtered(ours) {
                    addr.do_send(crate::actors::group_coordinator::Unload);
                    self.groups.remove_if(&id, &addr);
                }
            } else {
                for (id, addr) in self.txns.filtered(ours) {
                    addr.do_send(crate::actors::txn_coordinator::UnloadTxn);
                    self.txns.remove_if(&id, &addr);
                }
            }
            let addr = self
                .topics
                .get(&topic)
                .and_then(|t| t.partitions.get(partition as usize)?.as_ref())
                .map(|r| r.addr.clone());
            let (true, Some(addr)) = (gained, addr) else {
                continue;
            };
            self.loading.insert((topic.clone(), partition));
            tracing::info!(topic = %topic, partition, "loading the coordinators of a partition led here");
            let key = (topic.clone(), partition);
            if topic == OFFSETS_TOPIC {
                let config = self.group_config();
                self.settled_while_loading.remove(&partition);
                let load = addr.send(WithLog(Box::new(move |log: &Log| {
                    let mut groups = BTreeMap::new();
                    groups::replay(log, &mut groups, &config);
                    (groups, log.log_end_offset())
                })));
                ctx.spawn(load.into_actor(self).map(move |res, act, ctx| {
                    act.loading.remove(&key);
                    let settled = act.settled_while_loading.remove(&partition);
                    match res {
                        Ok(Ok((mut groups, replayed_to))) => {
                            // Markers written after the replay read the log.
                            for (_, producer_id, commit) in settled
                                .into_iter()
                                .flatten()
                                .filter(|(offset, ..)| *offset >= replayed_to)
                            {
                                for group in groups.values_mut() {
                                    group.complete_txn(producer_id, commit);
                                }
                            }
                            act.replayed_groups.extend(groups);
                            act.start_replayed_groups(ctx);
                        }
                        _ => tracing::warn!(partition, "loading the groups of a partition failed"),
                    }
                }));
            } else {
                let load = addr.send(WithLog(Box::new(|log: &Log| {
                    let mut txns = BTreeMap::new();
                    transactions::replay(log, &mut txns);
                    txns
                })));
                ctx.spawn(load.into_actor(self).map(move |res, act, ctx| {
                    act.loading.remove(&key);
                    match res {
                        Ok(Ok(txns)) => {
                            act.replayed_txns.extend(txns);
                            act.start_replayed_txns(ctx);
                        }
                        _ => tracing::warn!(
                            partition,
                            "loading the transactional ids of a partition failed"
                        ),
                    }
                }));
            }
        }
    }

    /// Starts the coordinators of the groups and transactional ids replayed from the
    /// internal partitions that the last image opened here.
    pub(super) fn start_replayed(&mut self, ctx: &mut Context<Self>) {
        self.move_coordinators(ctx);
        if !self.replayed_groups.is_empty() {
            self.start_replayed_groups(ctx);
        }
        if !self.replayed_txns.is_empty() {
            self.start_replayed_txns(ctx);
        }
    }

    /// Makes the topics, and the partitions this broker leads, match `image`: new
    /// topics and partitions appear, removed ones go (with their data), a partition
    /// whose leadership moved here opens and one that moved away closes.
    pub(super) fn apply_image(&mut self, image: Arc<MetadataImage>, ctx: &mut Context<Self>) {
        let node = self.config.node_id;
        let Some(link) = self.cluster.as_mut() else {
            return;
        };
        if image.applied < link.image.applied {
            return;
        }
        let before = std::mem::replace(&mut link.image, Arc::clone(&image));
        let gone: Vec<String> = self
            .topics
            .iter()
            .filter(|(name, t)| image.topic(name).map(|i| i.id) != Some(t.id))
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Some(topic) = self.topics.remove(&name) {
                self.collision_names.remove(&collision_key(&name));
                for (i, p) in topic.partitions.into_iter().enumerate() {
                    if let Some(p) = p {
                        self.partition_count -= 1;
                        self.delete_replica(ctx, (name.clone(), i as i32), p.addr);
                    }
                }
                tracing::info!(topic = %name, "topic removed by the metadata log");
                self.update_route(&name);
            }
        }
        for topic in image.topics.values() {
            // A topic the batch did not touch costs a comparison, not a new route.
            let unchanged = before.topics.get(&topic.id) == Some(topic)
                && before
                    .configs
                    .get(&ConfigResource::Topic(topic.name.clone()))
                    == image
                        .configs
                        .get(&ConfigResource::Topic(topic.name.clone()))
                && self.topics.get(&topic.name).is_some_and(|t| {
                    t.id == topic.id && t.partitions.len() == topic.partitions.len()
                });
            if unchanged && !Arc::ptr_eq(&before, &image) {
                continue;
            }
            let overrides = image.topic_configs(&topic.name);
            let configs = TopicConfigs::from_overrides(
                overrides.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .unwrap_or_else(|e| {
                tracing::warn!(topic = %topic.name, error = %e, "a committed topic config does not parse; using the defaults");
                TopicConfigs::default()
            });
            let state = self.topics.entry(topic.name.clone()).or_insert_with(|| {
                tracing::info!(topic = %topic.name, partitions = topic.partitions.len(), "topic created by the metadata log");
                TopicState {
                    id: topic.id,
                    configs: configs.clone(),
                    partitions: Vec::new(),
                }
            });
            self.collision_names
                .insert(collision_key(&topic.name), topic.name.clone());
            let reconfigured = state.configs != configs;
            if reconfigured {
                state.configs = configs.clone();
                state.send_log_config(&self.config);
            }
            // A replica here is opened (its role set below); one placed elsewhere closes.
            let mut open = Vec::new();
            let mut gone_here = Vec::new();
            for (i, p) in topic.partitions.iter().enumerate() {
                let here = state.partitions.get(i).is_some_and(Option::is_some);
                if i >= state.partitions.len() {
                    state.partitions.push(None);
                }
                let replica = p.replicas.contains(&node);
                let deleting = !self.deleting.is_empty()
                    && self.deleting.contains(&(topic.name.clone(), i as i32));
                if replica && !here && deleting {
                    tracing::info!(partition = %format_args!("{}-{i}", topic.name), "a replica here again while its old data is deleted; it opens once that is done");
                } else if replica && !here {
                    open.push(i);
                } else if !replica && here {
                    // Moved elsewhere by a reassignment: its data goes (Kafka's
                    // StopReplica with deletion).
                    if let Some(route) = state.partitions[i].take() {
                        tracing::info!(partition = %format_args!("{}-{i}", topic.name), "no longer a replica here; deleting it");
                        self.partition_count -= 1;
                        gone_here.push((i as i32, route.addr));
                    }
                }
            }
            for (i, addr) in gone_here {
                self.delete_replica(ctx, (topic.name.clone(), i), addr);
            }
            for i in open {
                let p = i as i32;
                match self.open_partition(&topic.name, p, &configs) {
                    Ok(route) => {
                        if let Some(slot) = self
                            .topics
                            .get_mut(&topic.name)
                            .and_then(|t| t.partitions.get_mut(i))
                        {
                            *slot = Some(route);
                            self.partition_count += 1;
                        }
                    }
                    Err(e) => {
                        tracing::error!(partition = %format_args!("{}-{p}", topic.name), error = %e, "opening a partition this broker leads failed");
                    }
                }
            }
            self.set_roles(&before, &image, &topic.name);
            self.update_route(&topic.name);
        }
        self.follow_leaders(&image);
        self.store_routing();
    }

    /// Closes a replica and deletes its data. Until that is done, the same replica is not
    /// opened again here; then the current image is applied again, which opens it if it
    /// was placed here meanwhile.
    fn delete_replica(
        &mut self,
        ctx: &mut Context<Self>,
        key: (String, i32),
        addr: Addr<PartitionActor>,
    ) {
        self.deleting.insert(key.clone());
        ctx.spawn(addr.send(Close { delete: true }).into_actor(self).map(
            move |result, act, ctx| {
                let (topic, partition) = &key;
                let error = match result {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(error) = error {
                    tracing::error!(partition = %format_args!("{topic}-{partition}"), %error, "deleting a replica's data failed");
                }
                act.deleting.remove(&key);
                let placed_again = act.cluster.as_ref().and_then(|link| {
                    let image = &link.image;
                    let p = image.topic(topic)?.partition(*partition)?;
                    p.replicas
                        .contains(&act.config.node_id)
                        .then(|| Arc::clone(image))
                });
                if let Some(image) = placed_again {
                    act.apply_image(image, ctx);
                    act.start_replayed(ctx);
                }
            },
        ));
    }

    /// Tells each replica of `name` here its role when the image changed it (or it is
    /// new).
    fn set_roles(&mut self, before: &MetadataImage, image: &MetadataImage, name: &str) {
        let node = self.config.node_id;
        let (Some(link), Some(state), Some(topic)) =
            (&self.cluster, self.topics.get(name), image.topic(name))
        else {
            return;
        };
        let old = before.topics.get(&topic.id);
        for (i, (p, route)) in topic.partitions.iter().zip(&state.partitions).enumerate() {
            let Some(route) = route else { continue };
            let unchanged =
                old.and_then(|t| t.partitions.get(i)) == Some(p) && !std::ptr::eq(before, image);
            if unchanged {
                continue;
            }
            route.addr.do_send(SetRole {
                me: node,
                spec: link.role(node, topic.id, i as i32, p),
            });
            let was = old
                .and_then(|t| t.partitions.get(i))
                .filter(|_| !std::ptr::eq(before, image));
            let led_before = was.is_some_and(|o| o.leader == node);
            let leads = p.leader == node;
            // Led before and now, but at another leader epoch: the leadership went
            // elsewhere and came back between two images this broker applied (it was
            // paused or cut off meanwhile). What its coordinators hold may be stale.
            let regained =
                leads && led_before && was.is_some_and(|o| o.leader_epoch != p.leader_epoch);
            if is_internal_topic(name) && (leads != led_before || regained) {
                self.leadership_changes
                    .push((name.to_string(), i as i32, leads));
            }
        }
    }

    /// Points the replica fetchers at the leaders of the partitions followed here.
    fn follow_leaders(&mut self, image: &MetadataImage) {
        let node = self.config.node_id;
        let mut assignment: BTreeMap<i32, Vec<Followed>> = BTreeMap::new();
        for topic in image.topics.values() {
            let Some(state) = self.topics.get(&topic.name) else {
                continue;
            };
            for (i, (p, route)) in topic.partitions.iter().zip(&state.partitions).enumerate() {
                let Some(route) = route else { continue };
                if p.leader == node || p.leader < 0 || !image.brokers.contains_key(&p.leader) {
                    continue;
                }
                assignment.entry(p.leader).or_default().push(Followed {
                    topic: topic.name.clone(),
                    partition: i as i32,
                    leader_epoch: p.leader_epoch,
                    addr: route.addr.clone(),
                    offsets: route.offsets.clone(),
                });
            }
        }
        if let Some(link) = self.cluster.as_mut() {
            link.fetchers.assign(assignment);
        }
    }

    /// The records that create the topic `msg` asks for, its partitions placed across
    /// the live brokers; `None` records for `validate_only`.
    pub(super) fn topic_records(
        &self,
        msg: &CreateTopic,
    ) -> Result<(Option<Vec<MetadataRecord>>, CreatedTopic), AdminError> {
        let Some(link) = &self.cluster else {
            return Err((ErrorCode::UnknownServerError, "not in a cluster".into()));
        };
        let (partitions, rf, configs) = self.check_new_topic(msg)?;
        let id = Uuid::new_v4();
        let assignments = (!msg.assignments.is_empty()).then(|| {
            let mut a = msg.assignments.clone();
            a.sort_by_key(|(p, _)| *p);
            a.into_iter().map(|(_, r)| r).collect()
        });
        let partition_records = partition_records(&link.image, id, 0..partitions, rf, assignments)?;
        let created = CreatedTopic {
            id,
            num_partitions: partitions,
            replication_factor: rf,
            configs: configs.clone(),
        };
        if msg.validate_only {
            return Ok((None, created));
        }
        let mut records = vec![MetadataRecord::Topic {
            name: msg.name.clone(),
            topic_id: id,
        }];
        records.extend(partition_records);
        for (name, value) in configs.overrides() {
            records.push(MetadataRecord::Config {
                resource: crate::cluster::ConfigResource::Topic(msg.name.clone()),
                name: name.clone(),
                value: Some(value.clone()),
            });
        }
        Ok((Some(records), created))
    }

    /// The answer to a topic change: done already (`None`: a single broker changed
    /// itself, or nothing was to change), refused, or the records to commit first.
    pub(super) fn commit_change(
        &self,
        change: Result<Option<Vec<MetadataRecord>>, AdminError>,
    ) -> ResponseActFuture<Self, Result<(), AdminError>> {
        match change {
            Ok(Some(records)) if !records.is_empty() => self.propose(records, ()),
            Ok(_) => Box::pin(actix::fut::ready(Ok(()))),
            Err(e) => Box::pin(actix::fut::ready(Err(e))),
        }
    }

    /// Proposes `records` and, once they are applied here, follows the new image.
    pub(super) fn propose<T: 'static>(
        &self,
        records: Vec<MetadataRecord>,
        done: T,
    ) -> ResponseActFuture<Self, Result<T, AdminError>> {
        let Some(link) = &self.cluster else {
            return Box::pin(actix::fut::ready(Err((
                ErrorCode::UnknownServerError,
                "not in a cluster".to_string(),
            ))));
        };
        let cluster = Arc::clone(&link.cluster);
        Box::pin(
            async move {
                let result = cluster.propose(records).await;
                (result, cluster.image())
            }
            .into_actor(self)
            .map(move |(result, image), act, ctx| {
                act.apply_image(image, ctx);
                act.start_replayed(ctx);
                result.map(|_| done).map_err(admin_error)
            }),
        )
    }
}
