//! What the authorizer is configured with, asked, and answers.

use std::fmt;
use std::net::IpAddr;

use super::*;
use crate::security::principal::{KafkaPrincipal, PrincipalParseError};

/// The authorizer's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// `super.users`: principals allowed everything.
    pub super_users: Vec<KafkaPrincipal>,
    /// `allow.everyone.if.no.acl.found`: the decision for a resource no ACL covers.
    pub allow_everyone_if_no_acl_found: bool,
    /// The most bindings held; creations past it are refused.
    pub max_acls: usize,
}

impl Default for AuthorizerConfig {
    /// Kafka's defaults (no super users, deny when no ACL is found) and
    /// [`DEFAULT_MAX_ACLS`].
    fn default() -> Self {
        AuthorizerConfig {
            super_users: Vec::new(),
            allow_everyone_if_no_acl_found: false,
            max_acls: DEFAULT_MAX_ACLS,
        }
    }
}

/// Parses Kafka's `super.users` string: principals separated by `;`, blanks ignored.
pub fn parse_super_users(value: &str) -> Result<Vec<KafkaPrincipal>, PrincipalParseError> {
    value
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

/// What is being authorized: one operation on one resource (Kafka's `Action` with a
/// literal pattern, and the request context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorizeRequest<'a> {
    /// The authenticated principal.
    pub principal: &'a KafkaPrincipal,
    /// The client's address.
    pub client_address: IpAddr,
    /// The operation.
    pub operation: AclOperation,
    /// The resource's type.
    pub resource_type: ResourceType,
    /// The resource's name.
    pub resource_name: &'a str,
}

/// An authorization decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The operation may proceed.
    Allowed,
    /// The operation is refused.
    Denied,
}

impl Decision {
    /// Whether this is [`Decision::Allowed`].
    pub const fn is_allowed(self) -> bool {
        matches!(self, Decision::Allowed)
    }

    pub(super) const fn from_bool(allowed: bool) -> Self {
        if allowed {
            Decision::Allowed
        } else {
            Decision::Denied
        }
    }
}

/// Why [`Acls::authorize_explained`] decided as it did, for an audit log (Kafka's
/// `MatchingRule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchingRule {
    /// The principal is a super user.
    SuperUser,
    /// This ACL matched (a DENY if the decision is Denied).
    MatchingAcl(AclBinding),
    /// No ACL covers the resource; `allow.everyone.if.no.acl.found` decided.
    NoAclOnResource,
    /// ACLs cover the resource but none matched the request.
    NoMatchingAcl,
}

impl fmt::Display for MatchingRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchingRule::SuperUser => f.write_str("SuperUser"),
            MatchingRule::MatchingAcl(acl) => write!(f, "MatchingAcl(acl={acl:?})"),
            MatchingRule::NoAclOnResource => f.write_str("NoAclOnResource"),
            MatchingRule::NoMatchingAcl => f.write_str("NoMatchingAcl"),
        }
    }
}
