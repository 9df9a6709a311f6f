//! How a request names its topics: by id from the version that carries topic ids
//! (KIP-516: Produce and Fetch v13, OffsetCommit v10), by name before. The lookup and
//! the error for a topic this broker does not know both follow the naming, so a client
//! is only sent the code its version knows.

use crate::actors::routing::{Routing, TopicRoute};
use crate::protocol::ErrorCode;
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TopicNaming {
    ByName,
    ById,
}

impl TopicNaming {
    /// The naming of a request of `version`, for an API that names topics by id from
    /// `ids_from` on.
    pub(super) fn of(version: i16, ids_from: i16) -> Self {
        if version >= ids_from {
            TopicNaming::ById
        } else {
            TopicNaming::ByName
        }
    }

    /// The topic the request names, looked up by id or by name.
    pub(super) fn find<'a>(
        self,
        routing: &'a Routing,
        name: &str,
        id: &Uuid,
    ) -> Option<&'a Arc<TopicRoute>> {
        match self {
            TopicNaming::ById => routing.topic_by_id(id),
            TopicNaming::ByName => routing.topic(name),
        }
    }

    /// The topic the request names, if the caller may do `operation` on it; else the
    /// error to answer, as Kafka decides it: a topic named by name is authorized
    /// before it is looked up (TOPIC_AUTHORIZATION_FAILED whether or not it exists, so
    /// a refusal tells nothing), a topic named by id is looked up first.
    pub(super) fn find_authorized<'a>(
        self,
        routing: &'a Routing,
        name: &str,
        id: &Uuid,
        authz: &Authz<'_>,
        operation: AclOperation,
    ) -> Result<&'a Arc<TopicRoute>, ErrorCode> {
        if self == TopicNaming::ByName && !authz.topic(operation, name) {
            return Err(ErrorCode::TopicAuthorizationFailed);
        }
        let route = self.find(routing, name, id).ok_or(self.unknown_topic())?;
        if self == TopicNaming::ById && !authz.topic(operation, &route.name) {
            return Err(ErrorCode::TopicAuthorizationFailed);
        }
        Ok(route)
    }

    /// The error for a topic (or partition) this broker does not know.
    pub(super) fn unknown_topic(self) -> ErrorCode {
        match self {
            TopicNaming::ById => ErrorCode::UnknownTopicId,
            TopicNaming::ByName => ErrorCode::UnknownTopicOrPartition,
        }
    }
}
