//! One message to each requested partition's actor, all at once, with the answers
//! gathered back by topic in request order: the shape of ListOffsets, DeleteRecords and
//! DescribeProducers, which differ only in the message and in how an answer is written.

use super::BrokerContext;
use crate::actors::partition::{PartitionActor, PartitionError};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use actix::dev::ToEnvelope;
use actix::{Handler, Message};
use futures::future::join_all;

/// Sends each partition its message concurrently and answers, per topic in request
/// order, each partition's response in request order, as `answer` writes it from the
/// partition index and its result: the actor's answer, or TOPIC_AUTHORIZATION_FAILED
/// for a topic the caller may not do `operation` on, or UNKNOWN_TOPIC_OR_PARTITION for
/// a partition the routing snapshot does not have (NOT_LEADER_OR_FOLLOWER for one
/// another broker of the cluster leads), or the code of the actor's error (a
/// stopped actor's is its `Closed`).
pub(super) async fn ask_partitions<M, R, P>(
    ctx: &BrokerContext,
    (authz, operation): (&Authz<'_>, AclOperation),
    topics: Vec<(String, Vec<(i32, M)>)>,
    answer: impl Fn(i32, Result<R, ErrorCode>) -> P,
) -> Vec<(String, Vec<P>)>
where
    M: Message<Result = Result<R, PartitionError>> + Send + 'static,
    R: Send + 'static,
    PartitionActor: Handler<M>,
    <PartitionActor as actix::Actor>::Context: ToEnvelope<PartitionActor, M>,
{
    let routing = ctx.routing.load();
    let mut names = Vec::with_capacity(topics.len());
    let mut calls = Vec::new();
    for (ti, (name, partitions)) in topics.into_iter().enumerate() {
        let allowed = authz.topic(operation, &name);
        for (partition, message) in partitions {
            let route = if allowed {
                match routing.topic(&name) {
                    Some(t) => t.partition(partition).cloned().ok_or(t.unserved(partition)),
                    None => Err(ErrorCode::UnknownTopicOrPartition),
                }
            } else {
                Err(ErrorCode::TopicAuthorizationFailed)
            };
            calls.push(async move {
                let res = match route {
                    Ok(r) => r
                        .addr
                        .send(message)
                        .await
                        .unwrap_or(Err(PartitionError::Closed))
                        .map_err(|e| e.code()),
                    Err(code) => Err(code),
                };
                (ti, partition, res)
            });
        }
        names.push(name);
    }
    drop(routing);
    let mut answers: Vec<_> = names.into_iter().map(|n| (n, Vec::new())).collect();
    for (ti, partition, res) in join_all(calls).await {
        answers[ti].1.push(answer(partition, res));
    }
    answers
}
