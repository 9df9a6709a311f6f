//! The index the ACLs are kept in: by resource type, then by name in one ordered map
//! for literal and one for prefixed patterns, each name holding its entries.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::{Bound, ControlFlow};

use super::*;
use crate::security::principal::KafkaPrincipal;

/// The entry half of a stored binding, its principal and host parsed once.
///
/// Ordered by its fields; `host_address` follows from `host`, so it never decides.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Ace {
    pub(super) operation: AclOperation,
    pub(super) principal: KafkaPrincipal,
    pub(super) host: String,
    pub(super) permission_type: AclPermissionType,
    pub(super) host_address: Option<IpAddr>,
}

impl Ace {
    /// The entry of a binding that [`AclBinding::validate`] accepted.
    pub(super) fn new(binding: &AclBinding) -> Result<Self, AclError> {
        Ok(Ace {
            operation: binding.operation,
            principal: binding
                .principal
                .parse()
                .map_err(AclError::InvalidPrincipal)?,
            host: binding.host.clone(),
            permission_type: binding.permission_type,
            host_address: binding
                .host
                .parse::<IpAddr>()
                .ok()
                .map(|a| a.to_canonical()),
        })
    }

    /// Whether `s` is this entry's principal as written, without building the string.
    /// The type was split at the first colon, so it holds none.
    pub(super) fn principal_string_is(&self, s: &str) -> bool {
        s.split_once(':')
            == Some((
                self.principal.principal_type.as_str(),
                self.principal.name.as_str(),
            ))
    }

    pub(super) fn is_wildcard_principal(&self) -> bool {
        self.principal.principal_type == KafkaPrincipal::USER_TYPE && self.principal.name == "*"
    }

    pub(super) fn matches_principal(&self, principal: &KafkaPrincipal) -> bool {
        self.principal == *principal || self.is_wildcard_principal()
    }

    /// `client` must be canonical (IPv4-mapped addresses as IPv4).
    pub(super) fn matches_host(&self, client: IpAddr) -> bool {
        self.host == WILDCARD_HOST || self.host_address == Some(client)
    }

    /// Kafka's `StandardAuthorizerData.findResult` for an ACL already known to cover
    /// the resource: `None` if it does not match the request, else its permission.
    pub(super) fn find_result(
        &self,
        principal: &KafkaPrincipal,
        client: IpAddr,
        operation: AclOperation,
    ) -> Option<AclPermissionType> {
        if !self.matches_principal(principal) || !self.matches_host(client) {
            return None;
        }
        let applies = self.operation == AclOperation::All
            || self.operation == operation
            || (self.permission_type == AclPermissionType::Allow
                && match operation {
                    AclOperation::Describe => matches!(
                        self.operation,
                        AclOperation::Read
                            | AclOperation::Write
                            | AclOperation::Delete
                            | AclOperation::Alter
                    ),
                    AclOperation::DescribeConfigs => self.operation == AclOperation::AlterConfigs,
                    _ => false,
                });
        applies.then_some(self.permission_type)
    }

    pub(super) fn to_binding(
        &self,
        resource_type: ResourceType,
        resource_name: &str,
        pattern_type: PatternType,
    ) -> AclBinding {
        AclBinding {
            resource_type,
            resource_name: resource_name.to_owned(),
            pattern_type,
            principal: self.principal.to_string(),
            host: self.host.clone(),
            operation: self.operation,
            permission_type: self.permission_type,
        }
    }
}

/// The bindings of one resource type. Empty sets are removed, so a present key means
/// "ACLs on this pattern".
#[derive(Debug, Clone, Default)]
pub(super) struct TypeAcls {
    pub(super) literal: BTreeMap<String, BTreeSet<Ace>>,
    pub(super) prefixed: BTreeMap<String, BTreeSet<Ace>>,
}

impl TypeAcls {
    pub(super) fn patterns(
        &self,
        pattern_type: PatternType,
    ) -> Option<&BTreeMap<String, BTreeSet<Ace>>> {
        match pattern_type {
            PatternType::Literal => Some(&self.literal),
            PatternType::Prefixed => Some(&self.prefixed),
            _ => None,
        }
    }

    pub(super) fn patterns_mut(
        &mut self,
        pattern_type: PatternType,
    ) -> Option<&mut BTreeMap<String, BTreeSet<Ace>>> {
        match pattern_type {
            PatternType::Literal => Some(&mut self.literal),
            PatternType::Prefixed => Some(&mut self.prefixed),
            _ => None,
        }
    }

    /// Every (pattern type, name, entry), literal first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (PatternType, &str, &Ace)> + '_ {
        let literal = self
            .literal
            .iter()
            .map(|(n, s)| (PatternType::Literal, n, s));
        let prefixed = self
            .prefixed
            .iter()
            .map(|(n, s)| (PatternType::Prefixed, n, s));
        literal
            .chain(prefixed)
            .flat_map(|(pt, name, set)| set.iter().map(move |ace| (pt, name.as_str(), ace)))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.prefixed.is_empty()
    }

    /// Calls `f` with every prefixed pattern that is a prefix of `name`, longest first,
    /// stopping early if `f` breaks.
    ///
    /// Walks down the ordered names from `name`. Every prefix of `name` sorts at or
    /// below it. A name met on the way that is not a prefix shares some first `m`
    /// bytes with `name` and sorts below it; every prefix of `name` below that entry is
    /// at most `m` long, so the walk jumps to `name[..m]`. Each jump shortens the bound,
    /// so the walk ends, having visited the matches and one non-match per jump.
    pub(super) fn for_each_matching_prefix<'s, B>(
        &'s self,
        name: &str,
        mut f: impl FnMut(&'s str, &'s BTreeSet<Ace>) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let mut upper = name;
        loop {
            let mut jump = None;
            let range = self
                .prefixed
                .range::<str, _>((Bound::Unbounded, Bound::Included(upper)));
            for (pattern, set) in range.rev() {
                if name.starts_with(pattern.as_str()) {
                    f(pattern, set)?;
                } else {
                    jump = Some(common_prefix(name, pattern));
                    break;
                }
            }
            match jump {
                Some(shorter) => upper = shorter,
                None => return ControlFlow::Continue(()),
            }
        }
    }
}

/// The longest common prefix of `name` and `other`, cut to a char boundary of `name`.
pub(super) fn common_prefix<'n>(name: &'n str, other: &str) -> &'n str {
    let mut len = name
        .bytes()
        .zip(other.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !name.is_char_boundary(len) {
        len -= 1;
    }
    name.get(..len).unwrap_or_default()
}

/// What the lookup found, before it becomes a decision or a rule.
pub(super) enum Outcome<'a> {
    SuperUser,
    Acl(AclPermissionType, PatternRef<'a>, &'a Ace),
    NoAclOnResource,
    NoMatchingAcl,
}

/// A stored pattern's name and type, borrowed from the index.
#[derive(Clone, Copy)]
pub(super) struct PatternRef<'a> {
    pub(super) name: &'a str,
    pub(super) pattern_type: PatternType,
}

impl<'a> PatternRef<'a> {
    pub(super) fn literal(name: &'a str) -> Self {
        PatternRef {
            name,
            pattern_type: PatternType::Literal,
        }
    }

    pub(super) fn prefixed(name: &'a str) -> Self {
        PatternRef {
            name,
            pattern_type: PatternType::Prefixed,
        }
    }
}
