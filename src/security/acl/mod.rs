//! Kafka's ACLs and the authorizer that checks requests against them, with the
//! semantics of Kafka's KRaft `StandardAuthorizer`.
//!
//! The module is pure state: it never does I/O, never logs, and knows nothing of the
//! wire format; the CreateAcls, DescribeAcls and DeleteAcls handlers translate their
//! requests to [`AclBinding`] and [`AclBindingFilter`], and map [`AclError`] to an
//! error code with [`AclError::error_code`].
//!
//! # The rules, as Kafka applies them
//!
//! An [`AclBinding`] allows or denies one principal, from one host or all (`*`), one
//! operation on the resources its pattern covers: a LITERAL name (or `*`, every name of
//! the type) or a PREFIXED name (every name that starts with it).
//!
//! [`Acls::authorize`] decides one operation on one resource:
//!
//! 1. A super user is allowed everything, whatever the ACLs say.
//! 2. The ACLs *on the resource* are those whose pattern covers it: literal with the
//!    same name, literal `*`, prefixed with a prefix of the name.
//! 3. Of those, an ACL *matches* when its principal is the request's or `User:*` (which
//!    matches every principal, whatever its type), its host is `*` or the client's
//!    address, and its operation applies (below).
//! 4. A matching DENY denies; else a matching ALLOW allows; else, when there is no ACL
//!    on the resource at all, `allow.everyone.if.no.acl.found` decides (default false);
//!    else the request is denied.
//!
//! Which operations an ACL's operation applies to:
//!
//! | ACL operation | ALLOW applies to | DENY applies to |
//! |---|---|---|
//! | ALL | every operation | every operation |
//! | READ, WRITE, DELETE, ALTER | itself and DESCRIBE | itself only |
//! | ALTER_CONFIGS | itself and DESCRIBE_CONFIGS | itself only |
//! | any other | itself only | itself only |
//!
//! So DENY READ does *not* deny DESCRIBE: implication is for ALLOW only.
//!
//! [`Acls::authorize_by_resource_type`] answers "may this principal do this on *some*
//! resource of this type", which Kafka asks for an idempotent producer without
//! IDEMPOTENT_WRITE on the cluster (see [`Acls::authorize_idempotent_producer`]).
//!
//! # Differences from Kafka
//!
//! - Hosts are compared as addresses: an ACL host is parsed as an IP address when the
//!   ACL is added and compared with the client's address, IPv4-mapped IPv6 addresses
//!   counting as IPv4. Kafka compares strings with Java's `getHostAddress`, in which an
//!   IPv6 address is written in full (`0:0:0:0:0:0:0:1`), so an ACL for `::1` never
//!   matches there; it does here. An ACL host that is not an address matches no
//!   client, as in Kafka; neither does an IPv6 address with a `%scope`, which Kafka
//!   can match against the scope Java prints.
//! - A principal must be `Type:name` when the ACL is created; Kafka stores anything and
//!   fails every later authorization that reaches that ACL.
//! - ANY, MATCH and UNKNOWN values in a binding to create are refused with
//!   INVALID_REQUEST and Kafka's `validateNewAcl` messages; Kafka's broker throws from a
//!   constructor before that check for ANY and MATCH (UNKNOWN_SERVER_ERROR for the whole
//!   request) and refuses to parse a request with UNKNOWN.
//! - The number of bindings is capped ([`AuthorizerConfig::max_acls`]); past it a
//!   creation is refused with POLICY_VIOLATION. Kafka has no cap.
//!
//! # Lookup cost
//!
//! Bindings are indexed by resource type, then by name in one ordered map for literal
//! and one for prefixed patterns. Authorizing is an exact lookup for the name and for
//! `*`, and a walk down the prefixed map from the name that jumps over names that are
//! not prefixes of it, as Kafka's `StandardAuthorizerData` does: O(log n) per jump plus
//! the matching ACLs. Listing, deleting and `authorize_by_resource_type` scan.

mod acls;
mod binding;
mod index;
mod request;
mod types;

pub use acls::Acls;
pub use binding::*;
use index::*;
pub use request::*;
pub use types::*;

#[cfg(test)]
mod tests;
