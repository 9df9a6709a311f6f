//! [`Acls`]: the ACLs held, and the decisions made over them.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::ops::ControlFlow;

use super::*;
use crate::security::principal::KafkaPrincipal;

/// The ACLs and the authorizer's configuration: Kafka's `StandardAuthorizer` without
/// the metadata log (see the module doc).
#[derive(Debug, Clone)]
pub struct Acls {
    config: AuthorizerConfig,
    by_type: BTreeMap<ResourceType, TypeAcls>,
    len: usize,
}

impl Acls {
    /// An authorizer with no ACLs.
    pub fn new(config: AuthorizerConfig) -> Self {
        Acls {
            config,
            by_type: BTreeMap::new(),
            len: 0,
        }
    }

    /// An authorizer holding `bindings`, e.g. as persisted; the first binding refused
    /// (invalid, or past the cap) is the error.
    pub fn from_bindings(
        config: AuthorizerConfig,
        bindings: impl IntoIterator<Item = AclBinding>,
    ) -> Result<Self, AclError> {
        let mut acls = Acls::new(config);
        for binding in bindings {
            acls.add(binding)?;
        }
        Ok(acls)
    }

    /// The configuration.
    pub fn config(&self) -> &AuthorizerConfig {
        &self.config
    }

    /// The number of bindings held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no binding is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a binding, as one creation of a CreateAcls request. `Ok(false)` if it was
    /// held already (a success in Kafka, and not counted against the cap).
    pub fn add(&mut self, binding: AclBinding) -> Result<bool, AclError> {
        binding.validate()?;
        let ace = Ace::new(&binding)?;
        let exists = self
            .by_type
            .get(&binding.resource_type)
            .and_then(|t| t.patterns(binding.pattern_type))
            .and_then(|p| p.get(&binding.resource_name))
            .is_some_and(|set| set.contains(&ace));
        if exists {
            return Ok(false);
        }
        if self.len >= self.config.max_acls {
            return Err(AclError::TooManyAcls {
                limit: self.config.max_acls,
            });
        }
        let Some(patterns) = self
            .by_type
            .entry(binding.resource_type)
            .or_default()
            .patterns_mut(binding.pattern_type)
        else {
            // validate() admits only LITERAL and PREFIXED.
            return Err(AclError::InvalidPatternType(binding.pattern_type));
        };
        patterns
            .entry(binding.resource_name)
            .or_default()
            .insert(ace);
        self.len += 1;
        Ok(true)
    }

    /// Removes the bindings the filter matches and returns them: one filter of a
    /// DeleteAcls request.
    pub fn remove(&mut self, filter: &AclBindingFilter) -> Result<Vec<AclBinding>, AclError> {
        filter.validate()?;
        let removed = self.acls(filter);
        for binding in &removed {
            self.remove_binding(binding);
        }
        Ok(removed)
    }

    /// A whole DeleteAcls request, as Kafka runs it: every filter is matched against
    /// the ACLs as they were before the request, so a binding two filters match is in
    /// both results, then all matched bindings are removed. A filter that fails
    /// [`AclBindingFilter::validate`] gets its error and removes nothing.
    pub fn delete_acls(
        &mut self,
        filters: &[AclBindingFilter],
    ) -> Vec<Result<Vec<AclBinding>, AclError>> {
        let results: Vec<_> = filters
            .iter()
            .map(|filter| filter.validate().map(|()| self.acls(filter)))
            .collect();
        let doomed: HashSet<&AclBinding> = results.iter().flatten().flatten().collect();
        let doomed: Vec<AclBinding> = doomed.into_iter().cloned().collect();
        for binding in &doomed {
            self.remove_binding(binding);
        }
        results
    }

    /// The bindings the filter matches (DescribeAcls), ordered by resource type,
    /// literal before prefixed, then name and entry.
    pub fn acls(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        self.by_type
            .iter()
            .filter(|(rt, _)| {
                filter.resource_type == ResourceType::Any || filter.resource_type == **rt
            })
            .flat_map(|(rt, type_acls)| type_acls.iter().map(move |(pt, n, ace)| (*rt, pt, n, ace)))
            .filter(|(rt, pt, name, ace)| {
                filter.matches_pattern(*rt, name, *pt)
                    && filter.matches_entry(
                        |p| ace.principal_string_is(p),
                        &ace.host,
                        ace.operation,
                        ace.permission_type,
                    )
            })
            .map(|(rt, pt, name, ace)| ace.to_binding(rt, name, pt))
            .collect()
    }

    /// Every binding held, in [`Acls::acls`] order, e.g. to persist them.
    pub fn iter(&self) -> impl Iterator<Item = AclBinding> + '_ {
        self.by_type.iter().flat_map(|(rt, type_acls)| {
            type_acls
                .iter()
                .map(move |(pt, name, ace)| ace.to_binding(*rt, name, pt))
        })
    }

    pub(super) fn remove_binding(&mut self, binding: &AclBinding) {
        let Ok(ace) = Ace::new(binding) else {
            return;
        };
        let Some(type_acls) = self.by_type.get_mut(&binding.resource_type) else {
            return;
        };
        if let Some(patterns) = type_acls.patterns_mut(binding.pattern_type) {
            if let Some(set) = patterns.get_mut(&binding.resource_name) {
                if set.remove(&ace) {
                    self.len -= 1;
                }
                if set.is_empty() {
                    patterns.remove(&binding.resource_name);
                }
            }
        }
        if type_acls.is_empty() {
            self.by_type.remove(&binding.resource_type);
        }
    }

    /// Decides one operation on one resource (see the module doc for the rules).
    pub fn authorize(&self, request: &AuthorizeRequest<'_>) -> Decision {
        self.decide(&self.find(request))
    }

    /// [`Acls::authorize`], with the rule that decided, for an audit log.
    pub fn authorize_explained(&self, request: &AuthorizeRequest<'_>) -> (Decision, MatchingRule) {
        let outcome = self.find(request);
        let rule = match &outcome {
            Outcome::SuperUser => MatchingRule::SuperUser,
            Outcome::Acl(_, pattern, ace) => MatchingRule::MatchingAcl(ace.to_binding(
                request.resource_type,
                pattern.name,
                pattern.pattern_type,
            )),
            Outcome::NoAclOnResource => MatchingRule::NoAclOnResource,
            Outcome::NoMatchingAcl => MatchingRule::NoMatchingAcl,
        };
        (self.decide(&outcome), rule)
    }

    pub(super) fn decide(&self, outcome: &Outcome<'_>) -> Decision {
        match outcome {
            Outcome::SuperUser => Decision::Allowed,
            Outcome::Acl(permission, _, _) => {
                Decision::from_bool(*permission == AclPermissionType::Allow)
            }
            Outcome::NoAclOnResource => {
                Decision::from_bool(self.config.allow_everyone_if_no_acl_found)
            }
            Outcome::NoMatchingAcl => Decision::Denied,
        }
    }

    pub(super) fn is_super_user(&self, principal: &KafkaPrincipal) -> bool {
        self.config.super_users.iter().any(|s| s == principal)
    }

    /// Kafka's `StandardAuthorizerData.authorize`: super users, then the ACLs on the
    /// exact name, on prefixes of the name and on `*`. A DENY ends the search.
    pub(super) fn find<'s>(&'s self, request: &AuthorizeRequest<'_>) -> Outcome<'s> {
        if self.is_super_user(request.principal) {
            return Outcome::SuperUser;
        }
        let Some(type_acls) = self.by_type.get(&request.resource_type) else {
            return Outcome::NoAclOnResource;
        };
        let client = request.client_address.to_canonical();
        let name = request.resource_name;
        let mut on_resource = false;
        let mut allow = None;
        let mut check = |pattern: PatternRef<'s>, set: &'s BTreeSet<Ace>| {
            on_resource = true;
            for ace in set {
                match ace.find_result(request.principal, client, request.operation) {
                    Some(AclPermissionType::Deny) => return ControlFlow::Break((pattern, ace)),
                    Some(_) if allow.is_none() => allow = Some((pattern, ace)),
                    _ => {}
                }
            }
            ControlFlow::Continue(())
        };
        let deny = |(pattern, ace)| Outcome::Acl(AclPermissionType::Deny, pattern, ace);

        if let Some((pattern, set)) = type_acls.literal.get_key_value(name) {
            if let ControlFlow::Break(found) = check(PatternRef::literal(pattern), set) {
                return deny(found);
            }
        }
        let prefixes = type_acls.for_each_matching_prefix(name, |pattern, set| {
            check(PatternRef::prefixed(pattern), set)
        });
        if let ControlFlow::Break(found) = prefixes {
            return deny(found);
        }
        if name != WILDCARD_RESOURCE {
            if let Some((pattern, set)) = type_acls.literal.get_key_value(WILDCARD_RESOURCE) {
                if let ControlFlow::Break(found) = check(PatternRef::literal(pattern), set) {
                    return deny(found);
                }
            }
        }
        match allow {
            Some((pattern, ace)) => Outcome::Acl(AclPermissionType::Allow, pattern, ace),
            None if on_resource => Outcome::NoMatchingAcl,
            None => Outcome::NoAclOnResource,
        }
    }

    /// Whether the principal may perform `operation` on at least one resource of
    /// `resource_type`: Kafka's `Authorizer.authorizeByResourceType`, which
    /// `StandardAuthorizer` inherits. Kafka's algorithm, quirks included:
    ///
    /// 1. `operation` on the resource named `hardcode` is authorized with the normal
    ///    rules; if that is allowed, so is this. Super users pass here, and so does
    ///    everyone when `allow.everyone.if.no.acl.found` is set and no ACL covers
    ///    `hardcode`, whatever ACLs exist on other resources.
    /// 2. Else only the type's ACLs that match the principal (or `User:*`) and host and
    ///    whose operation is `operation` or ALL count. There is no implication: ALLOW
    ///    READ on a topic does not count for DESCRIBE.
    /// 3. A DENY on the literal `*` denies; else an ALLOW on the literal `*` allows.
    /// 4. Else an ALLOW counts unless a DENY dominates it: a prefixed DENY whose name is
    ///    a prefix of the ALLOW's name (or equal), or, for a literal ALLOW, a literal
    ///    DENY of the same name. A literal DENY does not dominate a prefixed ALLOW.
    /// 5. Allowed if some ALLOW counts, else denied.
    ///
    /// UNKNOWN or ANY as the operation or resource type is an error, as in Kafka.
    pub fn authorize_by_resource_type(
        &self,
        principal: &KafkaPrincipal,
        client_address: IpAddr,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> Result<Decision, AclError> {
        if matches!(resource_type, ResourceType::Any | ResourceType::Unknown) {
            return Err(AclError::InvalidResourceType(resource_type));
        }
        if matches!(operation, AclOperation::Any | AclOperation::Unknown) {
            return Err(AclError::InvalidOperation(operation));
        }
        Ok(self.authorize_by_resource_type_checked(
            principal,
            client_address,
            operation,
            resource_type,
        ))
    }

    /// [`Acls::authorize_by_resource_type`] with arguments known to be concrete.
    pub(super) fn authorize_by_resource_type_checked(
        &self,
        principal: &KafkaPrincipal,
        client_address: IpAddr,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> Decision {
        let hardcoded = AuthorizeRequest {
            principal,
            client_address,
            operation,
            resource_type,
            resource_name: HARDCODED_RESOURCE_NAME,
        };
        if self.authorize(&hardcoded).is_allowed() {
            return Decision::Allowed;
        }
        let Some(type_acls) = self.by_type.get(&resource_type) else {
            return Decision::Denied;
        };
        let client = client_address.to_canonical();
        let mut deny_literal = HashSet::new();
        let mut deny_prefixed = HashSet::new();
        let mut allow_literal = HashSet::new();
        let mut allow_prefixed = HashSet::new();
        let mut wildcard_allow = false;
        for (pattern_type, name, ace) in type_acls.iter() {
            if !ace.matches_host(client)
                || !ace.matches_principal(principal)
                || (ace.operation != operation && ace.operation != AclOperation::All)
            {
                continue;
            }
            let wildcard = name == WILDCARD_RESOURCE;
            match (ace.permission_type, pattern_type) {
                (AclPermissionType::Deny, PatternType::Literal) if wildcard => {
                    return Decision::Denied
                }
                (AclPermissionType::Deny, PatternType::Literal) => {
                    deny_literal.insert(name);
                }
                (AclPermissionType::Deny, PatternType::Prefixed) => {
                    deny_prefixed.insert(name);
                }
                (AclPermissionType::Allow, PatternType::Literal) if wildcard => {
                    wildcard_allow = true;
                }
                (AclPermissionType::Allow, PatternType::Literal) => {
                    allow_literal.insert(name);
                }
                (AclPermissionType::Allow, PatternType::Prefixed) => {
                    allow_prefixed.insert(name);
                }
                _ => {}
            }
        }
        if wildcard_allow {
            return Decision::Allowed;
        }
        let dominated = |allow: &str| {
            allow
                .char_indices()
                .filter_map(|(i, c)| allow.get(..i + c.len_utf8()))
                .any(|prefix| deny_prefixed.contains(prefix))
        };
        let allowed = allow_literal
            .iter()
            .any(|name| !deny_literal.contains(name) && !dominated(name))
            || allow_prefixed.iter().any(|name| !dominated(name));
        Decision::from_bool(allowed)
    }

    /// An InitProducerId without a transactional id (an idempotent producer), as
    /// Kafka's `KafkaApis` authorizes it: IDEMPOTENT_WRITE on the cluster, or else WRITE
    /// on at least one topic ([`Acls::authorize_by_resource_type`], KIP-679). Kafka
    /// answers a denial with CLUSTER_AUTHORIZATION_FAILED.
    pub fn authorize_idempotent_producer(
        &self,
        principal: &KafkaPrincipal,
        client_address: IpAddr,
    ) -> Decision {
        let cluster = AuthorizeRequest {
            principal,
            client_address,
            operation: AclOperation::IdempotentWrite,
            resource_type: ResourceType::Cluster,
            resource_name: CLUSTER_NAME,
        };
        if self.authorize(&cluster).is_allowed() {
            return Decision::Allowed;
        }
        self.authorize_by_resource_type_checked(
            principal,
            client_address,
            AclOperation::Write,
            ResourceType::Topic,
        )
    }
}
