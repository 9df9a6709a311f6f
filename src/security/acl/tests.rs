use super::*;
use crate::security::principal::KafkaPrincipal;
use proptest::prelude::*;
use std::net::IpAddr;

use AclOperation as Op;
use AclPermissionType::{Allow, Deny};
use PatternType::{Literal, Prefixed};
use ResourceType::{Cluster, Group, Topic, TransactionalId};

const LOCALHOST: &str = "127.0.0.1";

fn binding(
    resource_type: ResourceType,
    resource_name: &str,
    pattern_type: PatternType,
    principal: &str,
    host: &str,
    operation: AclOperation,
    permission_type: AclPermissionType,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: resource_name.to_owned(),
        pattern_type,
        principal: principal.to_owned(),
        host: host.to_owned(),
        operation,
        permission_type,
    }
}

/// A binding for every host.
fn acl(
    resource_type: ResourceType,
    resource_name: &str,
    pattern_type: PatternType,
    principal: &str,
    operation: AclOperation,
    permission_type: AclPermissionType,
) -> AclBinding {
    binding(
        resource_type,
        resource_name,
        pattern_type,
        principal,
        WILDCARD_HOST,
        operation,
        permission_type,
    )
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn user(name: &str) -> KafkaPrincipal {
    KafkaPrincipal::user(name)
}

/// Kafka's `createAndInitializeStandardAuthorizer`: `User:superman` is super.
fn authorizer(bindings: impl IntoIterator<Item = AclBinding>) -> Acls {
    let config = AuthorizerConfig {
        super_users: vec![user("superman")],
        ..AuthorizerConfig::default()
    };
    Acls::from_bindings(config, bindings).unwrap()
}

fn allowed_from(
    acls: &Acls,
    principal: &KafkaPrincipal,
    host: &str,
    operation: AclOperation,
    resource_type: ResourceType,
    resource_name: &str,
) -> bool {
    acls.authorize(&AuthorizeRequest {
        principal,
        client_address: ip(host),
        operation,
        resource_type,
        resource_name,
    })
    .is_allowed()
}

fn allowed(
    acls: &Acls,
    principal: &str,
    operation: AclOperation,
    resource_type: ResourceType,
    resource_name: &str,
) -> bool {
    allowed_from(
        acls,
        &principal.parse().unwrap(),
        LOCALHOST,
        operation,
        resource_type,
        resource_name,
    )
}

fn by_type(
    acls: &Acls,
    principal: &str,
    host: &str,
    operation: AclOperation,
    resource_type: ResourceType,
) -> bool {
    acls.authorize_by_resource_type(
        &principal.parse().unwrap(),
        ip(host),
        operation,
        resource_type,
    )
    .unwrap()
    .is_allowed()
}

fn concrete_operations() -> impl Iterator<Item = AclOperation> {
    AclOperation::VALUES
        .into_iter()
        .filter(|op| !matches!(op, Op::Any | Op::Unknown))
}

// ---- enums -------------------------------------------------------------------

#[test]
fn enums_carry_kafkas_wire_codes() {
    let codes = |values: &[i8]| values.to_vec();
    assert_eq!(
        codes(&ResourceType::VALUES.map(ResourceType::code)),
        (0..=7).collect::<Vec<i8>>()
    );
    assert_eq!(
        codes(&PatternType::VALUES.map(PatternType::code)),
        (0..=4).collect::<Vec<i8>>()
    );
    assert_eq!(
        codes(&AclOperation::VALUES.map(AclOperation::code)),
        (0..=15).collect::<Vec<i8>>()
    );
    assert_eq!(
        codes(&AclPermissionType::VALUES.map(AclPermissionType::code)),
        (0..=3).collect::<Vec<i8>>()
    );
    assert_eq!(ResourceType::TransactionalId.code(), 5);
    assert_eq!(PatternType::Prefixed.code(), 4);
    assert_eq!(Op::IdempotentWrite.code(), 12);
    assert_eq!(Op::TwoPhaseCommit.code(), 15);
    assert_eq!(Allow.code(), 3);
}

#[test]
fn from_code_round_trips_and_maps_unknown_codes_to_unknown() {
    for v in ResourceType::VALUES {
        assert_eq!(ResourceType::from_code(v.code()), v);
    }
    for v in PatternType::VALUES {
        assert_eq!(PatternType::from_code(v.code()), v);
    }
    for v in AclOperation::VALUES {
        assert_eq!(AclOperation::from_code(v.code()), v);
    }
    for v in AclPermissionType::VALUES {
        assert_eq!(AclPermissionType::from_code(v.code()), v);
    }
    assert_eq!(ResourceType::from_code(8), ResourceType::Unknown);
    assert_eq!(PatternType::from_code(-1), PatternType::Unknown);
    assert_eq!(AclOperation::from_code(16), Op::Unknown);
    assert_eq!(
        AclPermissionType::from_code(i8::MAX),
        AclPermissionType::Unknown
    );
}

#[test]
fn enums_display_and_serialize_with_kafkas_names() {
    assert_eq!(
        ResourceType::TransactionalId.to_string(),
        "TRANSACTIONAL_ID"
    );
    assert_eq!(Op::DescribeConfigs.to_string(), "DESCRIBE_CONFIGS");
    assert_eq!(Op::TwoPhaseCommit.to_string(), "TWO_PHASE_COMMIT");
    for op in AclOperation::VALUES {
        assert_eq!(serde_json::to_string(&op).unwrap(), format!("\"{op}\""));
    }
    for rt in ResourceType::VALUES {
        assert_eq!(serde_json::to_string(&rt).unwrap(), format!("\"{rt}\""));
    }
}

#[test]
fn binding_round_trips_through_json() {
    let b = binding(
        TransactionalId,
        "tx-",
        Prefixed,
        "User:alice",
        "10.0.0.1",
        Op::Write,
        Deny,
    );
    let json = serde_json::to_string(&b).unwrap();
    assert_eq!(
        json,
        r#"{"resource_type":"TRANSACTIONAL_ID","resource_name":"tx-","pattern_type":"PREFIXED","principal":"User:alice","host":"10.0.0.1","operation":"WRITE","permission_type":"DENY"}"#
    );
    assert_eq!(serde_json::from_str::<AclBinding>(&json).unwrap(), b);
}

// ---- validation --------------------------------------------------------------

#[test]
fn valid_bindings_are_accepted() {
    // AclControlManagerTest.testValidateNewAcl's valid binding, and others.
    for b in [
        acl(Topic, "*", Literal, "User:*", Op::Alter, Allow),
        acl(
            Cluster,
            CLUSTER_NAME,
            Literal,
            "User:alice",
            Op::IdempotentWrite,
            Allow,
        ),
        acl(Cluster, CLUSTER_NAME, Prefixed, "User:alice", Op::All, Deny),
        acl(Group, "g", Prefixed, "User:", Op::Read, Allow),
        binding(
            Topic,
            "t",
            Literal,
            "Group:eng",
            "not-an-ip",
            Op::TwoPhaseCommit,
            Allow,
        ),
    ] {
        assert_eq!(b.validate(), Ok(()), "{b:?}");
    }
}

#[test]
fn filter_and_unknown_values_are_refused_with_kafkas_messages() {
    let valid = acl(Topic, "*", Literal, "User:*", Op::Alter, Allow);
    type Mutation = fn(&mut AclBinding);
    let cases: [(Mutation, &str); 9] = [
        (
            |b| b.resource_type = ResourceType::Unknown,
            "Invalid resourceType UNKNOWN",
        ),
        (
            |b| b.resource_type = ResourceType::Any,
            "Invalid resourceType ANY",
        ),
        (
            |b| b.pattern_type = PatternType::Unknown,
            "Invalid patternType UNKNOWN",
        ),
        (
            |b| b.pattern_type = PatternType::Any,
            "Invalid patternType ANY",
        ),
        (
            |b| b.pattern_type = PatternType::Match,
            "Invalid patternType MATCH",
        ),
        (|b| b.operation = Op::Unknown, "Invalid operation UNKNOWN"),
        (|b| b.operation = Op::Any, "Invalid operation ANY"),
        (
            |b| b.permission_type = AclPermissionType::Unknown,
            "Invalid permissionType UNKNOWN",
        ),
        (
            |b| b.permission_type = AclPermissionType::Any,
            "Invalid permissionType ANY",
        ),
    ];
    for (mutate, message) in cases {
        let mut b = valid.clone();
        mutate(&mut b);
        let err = b.validate().unwrap_err();
        assert_eq!(err.to_string(), message);
        assert_eq!(err.error_code(), INVALID_REQUEST);
    }
}

#[test]
fn cluster_resource_must_be_named_kafka_cluster() {
    for name in ["other", "*", ""] {
        let err = acl(Cluster, name, Literal, "User:a", Op::Alter, Allow)
            .validate()
            .unwrap_err();
        assert_eq!(err, AclError::InvalidClusterResourceName);
        assert_eq!(
            err.to_string(),
            "The only valid name for the CLUSTER resource is kafka-cluster"
        );
        assert_eq!(err.error_code(), INVALID_REQUEST);
    }
}

#[test]
fn empty_resource_name_is_refused() {
    for pattern_type in [Literal, Prefixed] {
        let err = acl(Group, "", pattern_type, "User:a", Op::Read, Allow)
            .validate()
            .unwrap_err();
        assert_eq!(err.to_string(), "Invalid empty resource name");
        assert_eq!(err.error_code(), INVALID_REQUEST);
    }
}

#[test]
fn principal_must_be_type_colon_name() {
    for principal in ["", "alice", "User"] {
        let err = acl(Topic, "t", Literal, principal, Op::Read, Allow)
            .validate()
            .unwrap_err();
        assert!(matches!(err, AclError::InvalidPrincipal(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("expected a string in format principalType:principalName but got {principal}")
        );
        assert_eq!(err.error_code(), INVALID_REQUEST);
    }
}

#[test]
fn add_refuses_an_invalid_binding_and_holds_nothing() {
    let mut acls = authorizer([]);
    let err = acls
        .add(acl(Topic, "", Literal, "User:a", Op::Read, Allow))
        .unwrap_err();
    assert_eq!(err, AclError::EmptyResourceName);
    assert!(acls.is_empty());
    assert!(acls.iter().next().is_none());
}

#[test]
fn filters_with_unknown_halves_are_refused_with_kafkas_messages() {
    // AclControlManagerTest.testValidateFilter
    let valid = AclBindingFilter {
        resource_type: ResourceType::Any,
        resource_name: Some("*".to_owned()),
        pattern_type: Literal,
        principal: Some("User:*".to_owned()),
        host: Some("*".to_owned()),
        operation: Op::Any,
        permission_type: AclPermissionType::Any,
    };
    assert_eq!(valid.validate(), Ok(()));
    assert_eq!(AclBindingFilter::ANY.validate(), Ok(()));
    let unknown_pattern = AclBindingFilter {
        pattern_type: PatternType::Unknown,
        ..valid.clone()
    };
    assert_eq!(
        unknown_pattern.validate().unwrap_err().to_string(),
        "Unknown patternFilter."
    );
    let unknown_type = AclBindingFilter {
        resource_type: ResourceType::Unknown,
        ..valid.clone()
    };
    assert_eq!(unknown_type.validate(), Err(AclError::UnknownPatternFilter));
    let unknown_permission = AclBindingFilter {
        pattern_type: PatternType::Match,
        permission_type: AclPermissionType::Unknown,
        ..valid.clone()
    };
    assert_eq!(
        unknown_permission.validate().unwrap_err().to_string(),
        "Unknown entryFilter."
    );
    let unknown_operation = AclBindingFilter {
        operation: Op::Unknown,
        ..valid
    };
    assert_eq!(
        unknown_operation.validate(),
        Err(AclError::UnknownEntryFilter)
    );
    let mut acls = authorizer([]);
    assert_eq!(
        acls.remove(&unknown_operation),
        Err(AclError::UnknownEntryFilter)
    );
}

// ---- filter matching ---------------------------------------------------------

fn pattern_filter(
    resource_type: ResourceType,
    name: Option<&str>,
    pattern_type: PatternType,
) -> AclBindingFilter {
    AclBindingFilter {
        resource_type,
        resource_name: name.map(str::to_owned),
        pattern_type,
        ..AclBindingFilter::ANY
    }
}

#[test]
fn pattern_filters_match_as_kafkas_resource_pattern_filter() {
    use PatternType::{Any as AnyPattern, Match};
    use ResourceType::Any as AnyType;
    // ResourcePatternFilterTest, case by case: (filter, binding pattern, matches).
    let cases = [
        (
            (Topic, Some("Name"), Literal),
            (Group, "Name", Literal),
            false,
        ),
        (
            (Topic, Some("Different"), Prefixed),
            (Topic, "Name", Prefixed),
            false,
        ),
        (
            (Topic, Some("NAME"), Literal),
            (Topic, "Name", Literal),
            false,
        ),
        (
            (Topic, Some("Name"), Literal),
            (Topic, "Name", Prefixed),
            false,
        ),
        (
            (AnyType, Some("Name"), Prefixed),
            (Topic, "Name", Prefixed),
            true,
        ),
        ((Topic, None, Prefixed), (Topic, "Name", Prefixed), true),
        ((Topic, None, AnyPattern), (Topic, "Name", Prefixed), true),
        ((Topic, None, Match), (Topic, "Name", Prefixed), true),
        (
            (Topic, Some("Name"), Literal),
            (Topic, "Name", Literal),
            true,
        ),
        (
            (Topic, Some("Name"), AnyPattern),
            (Topic, "Name", Literal),
            true,
        ),
        ((Topic, Some("Name"), Match), (Topic, "Name", Literal), true),
        (
            (Topic, Some("Name-something"), Match),
            (Topic, "Name", Literal),
            false,
        ),
        ((Topic, Some("*"), Literal), (Topic, "*", Literal), true),
        ((Topic, Some("Name"), Literal), (Topic, "*", Literal), false),
        ((Topic, Some("*"), Literal), (Topic, "Name", Literal), false),
        (
            (Topic, Some("Name"), AnyPattern),
            (Topic, "*", Literal),
            false,
        ),
        ((Topic, Some("Name"), Match), (Topic, "*", Literal), true),
        (
            (Topic, Some("Name"), Prefixed),
            (Topic, "Name", Prefixed),
            true,
        ),
        (
            (Topic, Some("Name"), Prefixed),
            (Topic, "Name-something", Prefixed),
            false,
        ),
        (
            (Topic, Some("Name-something"), Prefixed),
            (Topic, "Name", Prefixed),
            false,
        ),
        (
            (Topic, Some("Name-something"), AnyPattern),
            (Topic, "Name", Prefixed),
            false,
        ),
        (
            (Topic, Some("Name-something"), Match),
            (Topic, "Name", Prefixed),
            true,
        ),
        // MATCH does not match a prefixed pattern longer than the name.
        (
            (Topic, Some("Name"), Match),
            (Topic, "Name-something", Prefixed),
            false,
        ),
    ];
    for ((ft, fname, fpt), (rt, name, pt), expected) in cases {
        let filter = pattern_filter(ft, fname, fpt);
        let b = acl(rt, name, pt, "User:a", Op::Read, Allow);
        assert_eq!(filter.matches(&b), expected, "{filter:?} on {b:?}");
    }
}

#[test]
fn entry_filters_match_exact_strings_and_any_values() {
    let b = binding(
        Topic,
        "t",
        Literal,
        "User:alice",
        "10.0.0.1",
        Op::Read,
        Allow,
    );
    assert!(AclBindingFilter::ANY.matches(&b));
    assert!(b.to_filter().matches(&b));
    let with = |f: fn(&mut AclBindingFilter)| {
        let mut filter = AclBindingFilter::ANY;
        f(&mut filter);
        filter.matches(&b)
    };
    assert!(with(|f| f.principal = Some("User:alice".to_owned())));
    assert!(!with(|f| f.principal = Some("User:*".to_owned())));
    assert!(!with(|f| f.principal = Some("User:bob".to_owned())));
    assert!(with(|f| f.host = Some("10.0.0.1".to_owned())));
    assert!(!with(|f| f.host = Some("*".to_owned())));
    assert!(with(|f| f.operation = Op::Read));
    // No implication in filters: ALL or DESCRIBE do not select a READ binding.
    assert!(!with(|f| f.operation = Op::All));
    assert!(!with(|f| f.operation = Op::Describe));
    assert!(with(|f| f.permission_type = Allow));
    assert!(!with(|f| f.permission_type = Deny));
    assert!(!with(|f| f.permission_type = AclPermissionType::Unknown));
    let other = binding(
        Topic,
        "t",
        Literal,
        "User:alice",
        "10.0.0.1",
        Op::Write,
        Allow,
    );
    assert!(!b.to_filter().matches(&other));
}

// ---- authorize -----------------------------------------------------------------

#[test]
fn deny_wins_over_allow() {
    // AuthorizerTest.testDenyTakesPrecedence
    let acls = authorizer([
        acl(Topic, "foo", Literal, "User:*", Op::All, Allow),
        binding(
            Topic,
            "foo",
            Literal,
            "User:alice",
            "192.168.2.1",
            Op::All,
            Deny,
        ),
    ]);
    assert!(!allowed_from(
        &acls,
        &user("alice"),
        "192.168.2.1",
        Op::Read,
        Topic,
        "foo"
    ));
    assert!(allowed_from(
        &acls,
        &user("alice"),
        "192.168.2.2",
        Op::Read,
        Topic,
        "foo"
    ));
    assert!(allowed_from(
        &acls,
        &user("bob"),
        "192.168.2.1",
        Op::Read,
        Topic,
        "foo"
    ));
}

#[test]
fn deny_all_on_a_literal_beats_allows_on_prefixes() {
    // StandardAuthorizerTest.testDenyPrecedenceWithOperationAll
    let acls = authorizer([
        acl(Topic, "foo", Literal, "User:alice", Op::All, Deny),
        acl(Topic, "foo", Prefixed, "User:alice", Op::Read, Allow),
        acl(Topic, "foo", Literal, "User:*", Op::All, Deny),
        acl(Topic, "foo", Prefixed, "User:*", Op::Describe, Allow),
    ]);
    let results = |principal: &str, actions: &[(AclOperation, &str)]| -> Vec<bool> {
        actions
            .iter()
            .map(|(op, name)| allowed(&acls, principal, *op, Topic, name))
            .collect()
    };
    assert_eq!(
        results(
            "User:alice",
            &[
                (Op::Write, "foo"),
                (Op::Read, "foo"),
                (Op::Describe, "foo"),
                (Op::Read, "foobar")
            ]
        ),
        [false, false, false, true]
    );
    assert_eq!(
        results(
            "User:bob",
            &[
                (Op::Describe, "foo"),
                (Op::Read, "foo"),
                (Op::Write, "foo"),
                (Op::Describe, "foobaz"),
                (Op::Read, "foobaz")
            ]
        ),
        [false, false, false, true, false]
    );
}

#[test]
fn allow_all_grants_every_operation_on_its_resources() {
    // StandardAuthorizerTest.testTopicAclWithOperationAll
    let acls = authorizer([
        acl(Topic, "foo", Literal, "User:*", Op::All, Allow),
        acl(Topic, "bar", Prefixed, "User:alice", Op::All, Allow),
        acl(Topic, "baz", Literal, "User:bob", Op::All, Allow),
    ]);
    let check = |p: &str, op, name: &str| allowed(&acls, p, op, Topic, name);
    assert!(check("User:alice", Op::Write, "foo"));
    assert!(check("User:alice", Op::DescribeConfigs, "bar"));
    assert!(!check("User:alice", Op::Describe, "baz"));
    assert!(check("User:bob", Op::Write, "foo"));
    assert!(!check("User:bob", Op::Read, "bar"));
    assert!(check("User:bob", Op::Describe, "baz"));
    assert!(check("User:malory", Op::Describe, "foo"));
    assert!(!check("User:malory", Op::Write, "bar"));
    assert!(!check("User:malory", Op::Read, "baz"));
}

#[test]
fn wildcard_principal_matches_every_principal() {
    let acls = authorizer([
        acl(Topic, "t", Literal, "User:*", Op::Read, Allow),
        acl(Group, "g", Literal, "User:*", Op::Read, Deny),
        acl(Group, "g", Literal, "User:alice", Op::Read, Allow),
    ]);
    assert!(allowed(&acls, "User:alice", Op::Read, Topic, "t"));
    assert!(allowed(&acls, "User:anyone", Op::Read, Topic, "t"));
    // As in Kafka, `User:*` also matches principals of other types.
    assert!(allowed(&acls, "Group:eng", Op::Read, Topic, "t"));
    // A wildcard DENY beats a specific ALLOW.
    assert!(!allowed(&acls, "User:alice", Op::Read, Group, "g"));
    // `Group:*` is not a wildcard: it names the principal `Group:*` only.
    let acls = authorizer([acl(Topic, "t", Literal, "Group:*", Op::Read, Allow)]);
    assert!(!allowed(&acls, "Group:eng", Op::Read, Topic, "t"));
    assert!(allowed(&acls, "Group:*", Op::Read, Topic, "t"));
}

#[test]
fn principals_compare_by_type_and_name() {
    let acls = authorizer([acl(Topic, "t", Literal, "User:alice", Op::Read, Allow)]);
    assert!(allowed(&acls, "User:alice", Op::Read, Topic, "t"));
    assert!(!allowed(&acls, "User:Alice", Op::Read, Topic, "t"));
    assert!(!allowed(&acls, "Group:alice", Op::Read, Topic, "t"));
}

#[test]
fn host_acls_match_their_address_and_wildcard_hosts_match_all() {
    // StandardAuthorizerTest.testHostAddressAclValidation, with 127.0.0.1 for
    // the local host.
    let (host1, host2) = ("192.168.1.1", "192.168.1.2");
    let acls = authorizer([
        binding(Topic, "foo", Literal, "User:alice", host1, Op::Read, Deny),
        binding(Topic, "foo", Literal, "User:alice", "*", Op::Read, Allow),
        binding(Topic, "bar", Literal, "User:bob", host2, Op::Read, Allow),
        binding(
            Topic,
            "bar",
            Literal,
            "User:*",
            LOCALHOST,
            Op::Describe,
            Allow,
        ),
    ]);
    let results = |principal: &str, host: &str| -> [bool; 3] {
        let p = user(principal);
        [
            allowed_from(&acls, &p, host, Op::Read, Topic, "foo"),
            allowed_from(&acls, &p, host, Op::Read, Topic, "bar"),
            allowed_from(&acls, &p, host, Op::Describe, Topic, "bar"),
        ]
    };
    assert_eq!(results("alice", LOCALHOST), [true, false, true]);
    assert_eq!(results("alice", host1), [false, false, false]);
    assert_eq!(results("alice", host2), [true, false, false]);
    assert_eq!(results("bob", LOCALHOST), [false, false, true]);
    assert_eq!(results("bob", host1), [false, false, false]);
    assert_eq!(results("bob", host2), [false, true, true]);
}

#[test]
fn ipv6_hosts_match_by_address_whatever_the_notation() {
    let acls = authorizer([
        binding(Topic, "short", Literal, "User:a", "::1", Op::Read, Allow),
        binding(
            Topic,
            "java",
            Literal,
            "User:a",
            "0:0:0:0:0:0:0:1",
            Op::Read,
            Allow,
        ),
        binding(Topic, "v4", Literal, "User:a", "10.0.0.1", Op::Read, Allow),
        binding(
            Topic,
            "mapped",
            Literal,
            "User:a",
            "::ffff:10.0.0.2",
            Op::Read,
            Allow,
        ),
    ]);
    let a = user("a");
    assert!(allowed_from(&acls, &a, "::1", Op::Read, Topic, "short"));
    assert!(allowed_from(&acls, &a, "::1", Op::Read, Topic, "java"));
    assert!(!allowed_from(&acls, &a, "::2", Op::Read, Topic, "short"));
    // A dual-stack socket reports an IPv4 client as IPv4-mapped IPv6.
    assert!(allowed_from(
        &acls,
        &a,
        "::ffff:10.0.0.1",
        Op::Read,
        Topic,
        "v4"
    ));
    assert!(allowed_from(
        &acls,
        &a,
        "10.0.0.2",
        Op::Read,
        Topic,
        "mapped"
    ));
}

#[test]
fn host_that_is_not_an_address_matches_no_client() {
    let acls = authorizer([
        binding(Topic, "t", Literal, "User:a", "localhost", Op::Read, Allow),
        binding(Topic, "t", Literal, "User:a", "", Op::Read, Allow),
    ]);
    assert!(!allowed(&acls, "User:a", Op::Read, Topic, "t"));
}

#[test]
fn prefixed_acls_cover_names_they_start_and_not_shorter_ones() {
    // StandardAuthorizerTest.testPrefixAcls
    let acls = authorizer([
        acl(Topic, "fooa", Prefixed, "User:alice", Op::All, Allow),
        acl(Topic, "foobar", Literal, "User:bob", Op::All, Allow),
        acl(Topic, "f", Prefixed, "User:bob", Op::All, Allow),
    ]);
    assert!(allowed(&acls, "User:bob", Op::Write, Topic, "foobarr"));
    assert!(!allowed(&acls, "User:bob", Op::Read, Topic, "goobar"));
    assert!(allowed(&acls, "User:bob", Op::Read, Topic, "fooa"));
    assert!(allowed(&acls, "User:alice", Op::Describe, Topic, "fooa"));
    assert!(allowed(&acls, "User:alice", Op::Describe, Topic, "fooabc"));
    assert!(!allowed(&acls, "User:alice", Op::Describe, Topic, "foo"));
    assert!(!allowed(&acls, "User:alice", Op::Write, Topic, "bar"));
}

#[test]
fn single_character_names_and_prefixes() {
    // AuthorizerTest.testSingleCharacterResourceAcls
    let mut acls = authorizer([acl(Topic, "f", Literal, "User:*", Op::Read, Allow)]);
    assert!(allowed(&acls, "User:alice", Op::Read, Topic, "f"));
    assert!(!allowed(&acls, "User:alice", Op::Read, Topic, "foo"));
    acls.add(acl(Topic, "_", Prefixed, "User:*", Op::Read, Allow))
        .unwrap();
    assert!(allowed(&acls, "User:alice", Op::Read, Topic, "_foo"));
    assert!(allowed(&acls, "User:alice", Op::Read, Topic, "_"));
    assert!(!allowed(&acls, "User:alice", Op::Read, Topic, "foo_"));
}

#[test]
fn prefix_walk_finds_the_prefix_among_many_near_misses() {
    // AuthorizerTest.testAuthorizeWithPrefixedResource: DENYs on names that sort
    // around the resource but are not prefixes of it.
    let mut bindings: Vec<AclBinding> = [
        ("a_other", Literal),
        ("a_other", Prefixed),
        ("foo-5c0ac7", Prefixed),
        ("foo-9b4d1e", Prefixed),
        ("foo-7e1b2a-zzz", Prefixed),
        ("fooo-2f6d", Prefixed),
        ("fo-8a1c", Prefixed),
        ("fop-3d9e", Prefixed),
        ("fon-77aa", Prefixed),
        ("fon-", Prefixed),
        ("z_other", Prefixed),
        ("z_other", Literal),
    ]
    .into_iter()
    .map(|(name, pt)| acl(Topic, name, pt, "User:*", Op::Read, Deny))
    .collect();
    bindings.push(acl(Topic, "foo", Prefixed, "User:*", Op::Read, Allow));
    let acls = authorizer(bindings);
    assert!(allowed(
        &acls,
        "User:alice",
        Op::Read,
        Topic,
        "foo-4f0e6b3c"
    ));
    assert!(!allowed(
        &acls,
        "User:alice",
        Op::Read,
        Topic,
        "foo-5c0ac7-x"
    ));
    assert!(!allowed(&acls, "User:alice", Op::Read, Topic, "fon-"));
}

#[test]
fn many_acls_of_both_kinds() {
    // StandardAuthorizerTest.testAuthorizationWithManyAcls
    let acls = authorizer([
        acl(Topic, "green2", Literal, "User:*", Op::Read, Allow),
        acl(Topic, "green", Prefixed, "User:bob", Op::Read, Allow),
        acl(Topic, "betamax4", Literal, "User:bob", Op::Read, Allow),
        acl(Topic, "betamax", Literal, "User:bob", Op::Read, Allow),
        acl(Topic, "beta", Prefixed, "User:*", Op::Read, Allow),
        acl(Topic, "alpha", Prefixed, "User:*", Op::Read, Allow),
        acl(Topic, "alp", Prefixed, "User:bob", Op::Read, Deny),
        acl(Group, "*", Literal, "User:bob", Op::Write, Allow),
        acl(Group, "wheel", Literal, "User:*", Op::Write, Deny),
    ]);
    assert!(allowed(&acls, "User:bob", Op::Read, Topic, "green1"));
    assert!(!allowed(&acls, "User:bob", Op::Write, Group, "wheel"));
    assert!(!allowed(&acls, "User:bob", Op::Read, Topic, "alpha"));
    assert!(allowed(&acls, "User:bob", Op::Write, Group, "arbitrary"));
    assert!(!allowed(&acls, "User:bob", Op::Read, Topic, "ala"));
    assert!(allowed(&acls, "User:alice", Op::Read, Topic, "alpha"));
    assert!(allowed(&acls, "User:alice", Op::Read, Topic, "betamax"));
}

#[test]
fn prefix_walk_handles_multibyte_names() {
    let acls = authorizer([
        acl(Topic, "é", Prefixed, "User:*", Op::Read, Allow),
        acl(Topic, "éa", Prefixed, "User:*", Op::Read, Deny),
        acl(Topic, "e\u{301}", Prefixed, "User:*", Op::Write, Allow),
        acl(Topic, "\u{e8}", Prefixed, "User:*", Op::Read, Deny),
    ]);
    assert!(allowed(&acls, "User:a", Op::Read, Topic, "éb"));
    assert!(allowed(&acls, "User:a", Op::Read, Topic, "é"));
    assert!(!allowed(&acls, "User:a", Op::Read, Topic, "éab"));
    assert!(!allowed(&acls, "User:a", Op::Read, Topic, "è"));
    assert!(allowed(&acls, "User:a", Op::Write, Topic, "e\u{301}x"));
    assert!(!allowed(&acls, "User:a", Op::Write, Topic, "éx"));
}

#[test]
fn literal_acls_cover_only_their_exact_name() {
    let acls = authorizer([acl(Topic, "foo", Literal, "User:*", Op::Read, Allow)]);
    assert!(allowed(&acls, "User:a", Op::Read, Topic, "foo"));
    assert!(!allowed(&acls, "User:a", Op::Read, Topic, "foobar"));
    assert!(!allowed(&acls, "User:a", Op::Read, Topic, "fo"));
    assert!(!allowed(&acls, "User:a", Op::Read, Group, "foo"));
}

#[test]
fn literal_wildcard_covers_every_name_of_its_type() {
    // AuthorizerTest.testWildCardAcls and testAuthorizeWithEmptyResourceName
    let mut acls = authorizer([]);
    assert!(!allowed(&acls, "User:alice", Op::Read, Group, ""));
    acls.add(acl(Group, "*", Literal, "User:*", Op::Read, Allow))
        .unwrap();
    assert!(allowed(&acls, "User:alice", Op::Read, Group, ""));
    assert!(allowed(&acls, "User:alice", Op::Read, Group, "any-group"));
    assert!(allowed(&acls, "User:alice", Op::Read, Group, "*"));
    assert!(!allowed(&acls, "User:alice", Op::Read, Topic, "any-topic"));

    let mut acls = authorizer([acl(Topic, "*", Literal, "User:alice", Op::Read, Allow)]);
    assert!(allowed(&acls, "User:alice", Op::Read, Topic, "foo"));
    acls.add(acl(Topic, "foo", Literal, "User:alice", Op::Write, Allow))
        .unwrap();
    acls.add(acl(Topic, "*", Literal, "User:alice", Op::Write, Deny))
        .unwrap();
    assert!(!allowed(&acls, "User:alice", Op::Write, Topic, "foo"));
    // A prefixed `*` is no wildcard: it covers names starting with `*`.
    let acls = authorizer([acl(Group, "*", Prefixed, "User:*", Op::Read, Allow)]);
    assert!(!allowed(&acls, "User:alice", Op::Read, Group, "g"));
    assert!(allowed(&acls, "User:alice", Op::Read, Group, "*g"));
}

#[test]
fn allow_implies_describe_and_describe_configs_as_kafka() {
    // AuthorizerTest.testAclInheritance, ALLOW half, on the cluster resource.
    let implied: [(AclOperation, &[AclOperation]); 7] = [
        (Op::All, &[]),
        (Op::Read, &[Op::Describe]),
        (Op::Write, &[Op::Describe]),
        (Op::Delete, &[Op::Describe]),
        (Op::Alter, &[Op::Describe]),
        (Op::AlterConfigs, &[Op::DescribeConfigs]),
        (Op::Create, &[]),
    ];
    for (parent, children) in implied {
        let acls = authorizer([acl(
            Cluster,
            CLUSTER_NAME,
            Literal,
            "User:alice",
            parent,
            Allow,
        )]);
        for op in concrete_operations() {
            let expected = parent == Op::All || op == parent || children.contains(&op);
            assert_eq!(
                allowed(&acls, "User:alice", op, Cluster, CLUSTER_NAME),
                expected,
                "ALLOW {parent} for {op}"
            );
        }
    }
    let acls = authorizer([acl(
        TransactionalId,
        "tx",
        Literal,
        "User:a",
        Op::All,
        Allow,
    )]);
    assert!(allowed(
        &acls,
        "User:a",
        Op::TwoPhaseCommit,
        TransactionalId,
        "tx"
    ));
    // Nothing but ALL implies the newer operations.
    let acls = authorizer([acl(
        TransactionalId,
        "tx",
        Literal,
        "User:a",
        Op::Write,
        Allow,
    )]);
    assert!(!allowed(
        &acls,
        "User:a",
        Op::TwoPhaseCommit,
        TransactionalId,
        "tx"
    ));
}

#[test]
fn deny_implies_nothing_but_deny_all_denies_everything() {
    // AuthorizerTest.testAclInheritance, DENY half: each DENY next to ALLOW ALL.
    for parent in concrete_operations() {
        let acls = authorizer([
            acl(Cluster, CLUSTER_NAME, Literal, "User:alice", parent, Deny),
            acl(Cluster, CLUSTER_NAME, Literal, "User:alice", Op::All, Allow),
        ]);
        for op in concrete_operations() {
            let denied = parent == Op::All || op == parent;
            assert_eq!(
                allowed(&acls, "User:alice", op, Cluster, CLUSTER_NAME),
                !denied,
                "DENY {parent} for {op}"
            );
        }
    }
}

#[test]
fn deny_read_does_not_deny_describe() {
    // StandardAuthorizerTest.testFindResultImplication, through authorize.
    for op in [Op::Read, Op::Write, Op::Delete, Op::Alter] {
        let acls = authorizer([
            acl(Topic, "foo_", Prefixed, "User:bob", op, Deny),
            acl(Topic, "foo_", Prefixed, "User:bob", Op::Describe, Allow),
        ]);
        assert!(
            allowed(&acls, "User:bob", Op::Describe, Topic, "foo_bar"),
            "{op}"
        );
        assert!(!allowed(&acls, "User:bob", op, Topic, "foo_bar"), "{op}");
    }
    let acls = authorizer([
        acl(Topic, "foo_", Prefixed, "User:bob", Op::AlterConfigs, Deny),
        acl(
            Topic,
            "foo_",
            Prefixed,
            "User:bob",
            Op::DescribeConfigs,
            Allow,
        ),
    ]);
    assert!(allowed(
        &acls,
        "User:bob",
        Op::DescribeConfigs,
        Topic,
        "foo_bar"
    ));
    // CREATE does not imply DESCRIBE.
    let acls = authorizer([acl(Topic, "foo_", Prefixed, "User:bob", Op::Create, Allow)]);
    assert!(!allowed(&acls, "User:bob", Op::Describe, Topic, "foo_bar"));
}

#[test]
fn super_users_are_allowed_whatever_the_acls() {
    // AuthorizerTest.testSuperUserHasAccess
    let config = AuthorizerConfig {
        super_users: parse_super_users("User:superuser1; User:superuser2").unwrap(),
        ..AuthorizerConfig::default()
    };
    let acls =
        Acls::from_bindings(config, [acl(Topic, "*", Literal, "User:*", Op::All, Deny)]).unwrap();
    assert!(allowed(&acls, "User:superuser1", Op::Read, Topic, "foo"));
    assert!(allowed(&acls, "User:superuser2", Op::Delete, Topic, "foo"));
    assert!(allowed(
        &acls,
        "User:superuser1",
        Op::Alter,
        Cluster,
        CLUSTER_NAME
    ));
    assert!(!allowed(&acls, "User:alice", Op::Read, Topic, "foo"));
    // The type counts: `Group:superuser1` is not `User:superuser1`.
    assert!(!allowed(&acls, "Group:superuser1", Op::Read, Topic, "foo"));
}

#[test]
fn super_users_parse_as_kafka_parses_them() {
    // StandardAuthorizerTest.testGetConfiguredSuperUsers
    assert_eq!(parse_super_users(""), Ok(vec![]));
    assert_eq!(parse_super_users(" "), Ok(vec![]));
    assert_eq!(
        parse_super_users("User:bob;User:alice "),
        Ok(vec![user("bob"), user("alice")])
    );
    assert_eq!(
        parse_super_users(";  User:bob  ;  User:alice "),
        Ok(vec![user("bob"), user("alice")])
    );
    assert_eq!(
        parse_super_users("bob;:alice").unwrap_err().to_string(),
        "expected a string in format principalType:principalName but got bob"
    );
}

fn with_default(allow_everyone: bool, bindings: Vec<AclBinding>) -> Acls {
    let config = AuthorizerConfig {
        allow_everyone_if_no_acl_found: allow_everyone,
        ..AuthorizerConfig::default()
    };
    Acls::from_bindings(config, bindings).unwrap()
}

#[test]
fn no_acl_at_all_denies_by_default_and_allows_when_configured() {
    // AuthorizerTest.testNoAclFound and testNoAclFoundOverride
    assert!(!allowed(
        &with_default(false, vec![]),
        "User:a",
        Op::Read,
        Topic,
        "t"
    ));
    assert!(allowed(
        &with_default(true, vec![]),
        "User:a",
        Op::Read,
        Topic,
        "t"
    ));
}

#[test]
fn allow_everyone_applies_only_to_resources_no_acl_covers() {
    // StandardAuthorizerTest.testAllowEveryoneIfNoAclFoundConfigEnabled/Disabled
    let bindings = || {
        vec![
            acl(Topic, "topic1", Literal, "User:Alice", Op::Read, Allow),
            acl(Topic, "pre-", Prefixed, "User:Alice", Op::Read, Allow),
            acl(Group, "*", Literal, "User:Alice", Op::Read, Allow),
        ]
    };
    for allow_everyone in [true, false] {
        let acls = with_default(allow_everyone, bindings());
        // ACLs cover the resource, none matches Bob: denied either way.
        assert!(!allowed(&acls, "User:Bob", Op::Read, Topic, "topic1"));
        assert!(!allowed(&acls, "User:Bob", Op::Read, Topic, "pre-x"));
        assert!(!allowed(&acls, "User:Bob", Op::Read, Group, "g"));
        // ACLs on other resources, of this type or others, do not count.
        assert_eq!(
            allowed(&acls, "User:Bob", Op::Read, Topic, "topic2"),
            allow_everyone
        );
        assert_eq!(
            allowed(&acls, "User:Bob", Op::Read, Topic, "pre"),
            allow_everyone
        );
        assert_eq!(
            allowed(&acls, "User:Bob", Op::Read, TransactionalId, "tx"),
            allow_everyone
        );
    }
}

#[test]
fn explained_decisions_name_their_rule() {
    let deny = acl(Topic, "t", Prefixed, "User:*", Op::Write, Deny);
    let allow = acl(Topic, "t", Literal, "User:alice", Op::Read, Allow);
    let acls = authorizer([deny.clone(), allow.clone()]);
    let explain = |principal: &str, op, name: &str| {
        acls.authorize_explained(&AuthorizeRequest {
            principal: &principal.parse().unwrap(),
            client_address: ip(LOCALHOST),
            operation: op,
            resource_type: Topic,
            resource_name: name,
        })
    };
    assert_eq!(
        explain("User:superman", Op::Write, "t"),
        (Decision::Allowed, MatchingRule::SuperUser)
    );
    assert_eq!(
        explain("User:alice", Op::Write, "tx"),
        (Decision::Denied, MatchingRule::MatchingAcl(deny))
    );
    assert_eq!(
        explain("User:alice", Op::Read, "t"),
        (Decision::Allowed, MatchingRule::MatchingAcl(allow))
    );
    assert_eq!(
        explain("User:bob", Op::Read, "t"),
        (Decision::Denied, MatchingRule::NoMatchingAcl)
    );
    assert_eq!(
        explain("User:bob", Op::Read, "u"),
        (Decision::Denied, MatchingRule::NoAclOnResource)
    );
}

// ---- add, remove, list, cap ----------------------------------------------------

#[test]
fn adding_a_binding_twice_holds_it_once() {
    let b = acl(Topic, "t", Literal, "User:a", Op::Read, Allow);
    let mut acls = authorizer([]);
    assert_eq!(acls.add(b.clone()), Ok(true));
    assert_eq!(acls.add(b.clone()), Ok(false));
    assert_eq!(acls.len(), 1);
    assert_eq!(acls.iter().collect::<Vec<_>>(), [b]);
}

#[test]
fn creations_past_the_cap_are_refused_with_policy_violation() {
    let config = AuthorizerConfig {
        max_acls: 2,
        ..AuthorizerConfig::default()
    };
    let mut acls = Acls::new(config);
    let a = acl(Topic, "a", Literal, "User:a", Op::Read, Allow);
    let b = acl(Topic, "b", Prefixed, "User:a", Op::Read, Allow);
    let c = acl(Group, "c", Literal, "User:a", Op::Read, Allow);
    assert_eq!(acls.add(a.clone()), Ok(true));
    assert_eq!(acls.add(b.clone()), Ok(true));
    let err = acls.add(c.clone()).unwrap_err();
    assert_eq!(err, AclError::TooManyAcls { limit: 2 });
    assert_eq!(err.error_code(), POLICY_VIOLATION);
    // Re-creating a held binding is still a success at the cap.
    assert_eq!(acls.add(a.clone()), Ok(false));
    assert_eq!(acls.len(), 2);
    acls.remove(&a.to_filter()).unwrap();
    assert_eq!(acls.add(c), Ok(true));
    assert_eq!(acls.len(), 2);
    assert!(Acls::from_bindings(
        AuthorizerConfig {
            max_acls: 0,
            ..AuthorizerConfig::default()
        },
        [a]
    )
    .is_err());
}

fn resource_filter(rt: ResourceType, name: &str, pt: PatternType) -> AclBindingFilter {
    pattern_filter(rt, Some(name), pt)
}

#[test]
fn remove_by_filter_returns_what_it_removed() {
    // AuthorizerTest.testDeleteAclOnWildcardResource / ...OnPrefixedResource
    let read = |rt, name, pt| acl(rt, name, pt, "User:*", Op::Read, Allow);
    let write = |rt, name, pt| acl(rt, name, pt, "User:*", Op::Write, Allow);
    let mut acls = authorizer([
        read(Topic, "*", Literal),
        write(Topic, "*", Literal),
        read(Topic, "foo", Prefixed),
        write(Topic, "foo", Prefixed),
    ]);
    let removed = acls.remove(&read(Topic, "*", Literal).to_filter()).unwrap();
    assert_eq!(removed, [read(Topic, "*", Literal)]);
    assert_eq!(
        acls.acls(&resource_filter(Topic, "*", Literal)),
        [write(Topic, "*", Literal)]
    );
    let removed = acls
        .remove(&resource_filter(Topic, "foo", Prefixed))
        .unwrap();
    assert_eq!(removed.len(), 2);
    assert_eq!(
        acls.iter().collect::<Vec<_>>(),
        [write(Topic, "*", Literal)]
    );
    assert_eq!(acls.remove(&AclBindingFilter::ANY).unwrap().len(), 1);
    assert!(acls.is_empty());
    assert_eq!(acls.remove(&AclBindingFilter::ANY), Ok(vec![]));
    // Nothing left covers the topic: back to the default decision.
    assert!(!allowed(&acls, "User:a", Op::Write, Topic, "foo"));
}

#[test]
fn listing_filters_by_resource_and_principal() {
    // StandardAuthorizerTest.testListAcls and AuthorizerTest.testGetAclsPrincipal
    let foo_read = acl(Topic, "foo_", Prefixed, "User:bob", Op::Read, Allow);
    let foo_write = acl(Topic, "foo_", Prefixed, "User:bob", Op::Write, Allow);
    let bar_describe = acl(Group, "bar", Literal, "User:*", Op::DescribeConfigs, Deny);
    let bar_alter = acl(Group, "bar", Literal, "User:*", Op::AlterConfigs, Deny);
    let mut acls = authorizer([
        foo_read.clone(),
        foo_write.clone(),
        bar_describe.clone(),
        bar_alter.clone(),
    ]);
    assert_eq!(
        acls.acls(&AclBindingFilter::ANY),
        [
            foo_read.clone(),
            foo_write.clone(),
            bar_describe.clone(),
            bar_alter.clone()
        ]
    );
    acls.remove(&foo_write.to_filter()).unwrap();
    assert_eq!(
        acls.acls(&pattern_filter(Topic, None, PatternType::Any)),
        [foo_read]
    );
    let by_principal = |p: &str| AclBindingFilter {
        principal: Some(p.to_owned()),
        ..AclBindingFilter::ANY
    };
    assert_eq!(
        acls.acls(&by_principal("User:*")),
        [bar_describe, bar_alter]
    );
    assert_eq!(acls.acls(&by_principal("User:bob")).len(), 1);
    assert_eq!(acls.acls(&by_principal("User:alice")), []);
}

#[test]
fn delete_acls_matches_every_filter_against_the_acls_before_the_request() {
    // AuthorizerTest.testAclsFilter
    let resource1 = "foo-1f5d";
    let resource2 = "bar-0c3a";
    let acl1 = acl(Topic, resource1, Literal, "User:alice", Op::Read, Allow);
    let acl2 = binding(
        Topic,
        resource1,
        Literal,
        "User:alice",
        "192.168.0.1",
        Op::Write,
        Allow,
    );
    let acl3 = acl(Topic, resource2, Literal, "User:alice", Op::Describe, Allow);
    let acl4 = acl(Topic, "bar-", Prefixed, "User:*", Op::Read, Allow);
    let mut acls = authorizer([acl1.clone(), acl2.clone(), acl3.clone(), acl4.clone()]);
    let sorted = |mut v: Vec<AclBinding>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(acls.acls(&AclBindingFilter::ANY)),
        sorted(vec![acl1.clone(), acl2.clone(), acl3.clone(), acl4.clone()])
    );
    assert_eq!(
        sorted(acls.acls(&resource_filter(Topic, resource1, Literal))),
        sorted(vec![acl1.clone(), acl2.clone()])
    );
    assert_eq!(
        acls.acls(&resource_filter(Topic, "bar-", Prefixed)),
        std::slice::from_ref(&acl4)
    );
    let matching = resource_filter(ResourceType::Any, resource2, PatternType::Match);
    assert_eq!(
        sorted(acls.acls(&matching)),
        sorted(vec![acl3.clone(), acl4.clone()])
    );

    let results = acls.delete_acls(&[
        matching,
        acl1.to_filter(),
        resource_filter(Topic, resource2, Literal),
        resource_filter(Topic, "baz", PatternType::Any),
    ]);
    let results: Vec<Vec<AclBinding>> = results.into_iter().map(|r| sorted(r.unwrap())).collect();
    assert_eq!(results[0], sorted(vec![acl3.clone(), acl4]));
    assert_eq!(results[1], [acl1]);
    // Matched by the first filter too, and reported by both.
    assert_eq!(results[2], [acl3]);
    assert_eq!(results[3], []);
    assert_eq!(acls.iter().collect::<Vec<_>>(), [acl2]);
    assert_eq!(acls.len(), 1);
}

#[test]
fn delete_acls_answers_an_invalid_filter_and_runs_the_others() {
    let b = acl(Topic, "t", Literal, "User:a", Op::Read, Allow);
    let mut acls = authorizer([b.clone()]);
    let invalid = AclBindingFilter {
        pattern_type: PatternType::Unknown,
        ..AclBindingFilter::ANY
    };
    let results = acls.delete_acls(&[invalid, b.to_filter()]);
    assert_eq!(results, [Err(AclError::UnknownPatternFilter), Ok(vec![b])]);
    assert!(acls.is_empty());
}

#[test]
fn bindings_round_trip_through_iter_and_from_bindings() {
    let bindings = vec![
        acl(Topic, "t", Literal, "User:a", Op::Read, Allow),
        acl(Topic, "t", Prefixed, "User:a", Op::Read, Deny),
        binding(Group, "*", Literal, "User:*", "::1", Op::All, Allow),
    ];
    let acls = authorizer(bindings.clone());
    let json = serde_json::to_string(&acls.iter().collect::<Vec<_>>()).unwrap();
    let restored: Vec<AclBinding> = serde_json::from_str(&json).unwrap();
    let again = authorizer(restored);
    assert_eq!(
        again.iter().collect::<Vec<_>>(),
        acls.iter().collect::<Vec<_>>()
    );
    assert_eq!(again.len(), bindings.len());
}

// ---- authorize_by_resource_type -----------------------------------------------

const HOST1: &str = "192.168.1.1";
const HOST2: &str = "192.168.1.2";

#[test]
fn by_type_follows_adds_and_removes() {
    // AuthorizerTest.testAuthorizeByResourceTypeMultipleAddAndRemove
    let allow_read = binding(
        Topic,
        "sb1-4e1a",
        Literal,
        "User:user1",
        HOST1,
        Op::Read,
        Allow,
    );
    let deny_read = binding(
        Topic,
        "sb1-4e1a",
        Literal,
        "User:user1",
        HOST1,
        Op::Read,
        Deny,
    );
    let mut acls = authorizer([]);
    for _ in 0..3 {
        assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
        acls.add(allow_read.clone()).unwrap();
        assert!(by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
        for _ in 0..3 {
            acls.add(deny_read.clone()).unwrap();
            assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
            acls.remove(&deny_read.to_filter()).unwrap();
            acls.add(allow_read.clone()).unwrap();
            assert!(by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
        }
        acls.remove(&allow_read.to_filter()).unwrap();
        assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    }
}

#[test]
fn by_type_ignores_denies_for_other_principals_hosts_and_operations() {
    // AuthorizerTest.testAuthorizeByResourceTypeIsolationUnrelatedDenyWontDominateAllow
    let r1 = "sb1-77f0";
    let acls = authorizer([
        binding(Topic, r1, Literal, "User:user1", HOST1, Op::Read, Deny),
        binding(Topic, r1, Literal, "User:user2", HOST1, Op::Read, Deny),
        binding(Topic, r1, Literal, "User:user1", HOST2, Op::Write, Deny),
        binding(Topic, r1, Literal, "User:user2", HOST2, Op::Read, Deny),
        binding(Topic, r1, Literal, "User:user1", HOST2, Op::Read, Allow),
        binding(
            Topic,
            "sb2-a0b1",
            Literal,
            "User:user1",
            HOST2,
            Op::Read,
            Deny,
        ),
        binding(Group, "s", Prefixed, "User:user1", HOST2, Op::Read, Deny),
    ]);
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Group));
    assert!(!by_type(
        &acls,
        "User:user1",
        HOST1,
        Op::Read,
        TransactionalId
    ));
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Cluster));
    assert!(by_type(&acls, "User:user1", HOST2, Op::Read, Topic));
}

#[test]
fn by_type_deny_on_the_same_literal_wins() {
    // AuthorizerTest.testAuthorizeByResourceTypeDenyTakesPrecedence
    let mut acls = authorizer([binding(
        Topic,
        "sb1",
        Literal,
        "User:user1",
        HOST1,
        Op::Write,
        Allow,
    )]);
    assert!(by_type(&acls, "User:user1", HOST1, Op::Write, Topic));
    acls.add(binding(
        Topic,
        "sb1",
        Literal,
        "User:user1",
        HOST1,
        Op::Write,
        Deny,
    ))
    .unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Write, Topic));
}

#[test]
fn by_type_prefixed_deny_dominates_longer_allows() {
    // AuthorizerTest.testAuthorizeByResourceTypePrefixedResourceDenyDominate
    let ace =
        |name: &str, perm| binding(Group, name, Prefixed, "User:user1", HOST1, Op::Read, perm);
    let mut acls = authorizer([ace("abcde", Allow)]);
    assert!(by_type(&acls, "User:user1", HOST1, Op::Read, Group));
    acls.add(ace("abcd", Deny)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Group));
    acls.add(ace("abc", Allow)).unwrap();
    assert!(by_type(&acls, "User:user1", HOST1, Op::Read, Group));
    acls.add(ace("a", Deny)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Group));
    acls.add(ace("ab", Allow)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Group));
}

#[test]
fn by_type_wildcard_deny_dominates_everything() {
    // AuthorizerTest.testAuthorizeByResourceTypeWildcardResourceDenyDominate
    let ace = |name: &str, pt, perm| binding(Group, name, pt, "User:user1", HOST1, Op::Write, perm);
    let mut acls = authorizer([ace("hello", Prefixed, Allow)]);
    assert!(by_type(&acls, "User:user1", HOST1, Op::Write, Group));
    acls.add(ace("*", Literal, Deny)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Write, Group));
    acls.add(ace("*", Literal, Allow)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Write, Group));
    acls.add(ace("aloha", Literal, Allow)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Write, Group));
}

#[test]
fn by_type_counts_operation_all_but_no_other_implication() {
    // AuthorizerTest.testAuthorizeByResourceTypeWithAllOperationAce
    let ace = |op, perm| binding(Topic, "sb1", Literal, "User:user1", HOST1, op, perm);
    let mut acls = authorizer([]);
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    acls.add(ace(Op::Write, Deny)).unwrap();
    acls.add(ace(Op::All, Allow)).unwrap();
    assert!(by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    acls.add(ace(Op::All, Deny)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    // ALLOW READ implies DESCRIBE for authorize, not here.
    let acls = authorizer([ace(Op::Read, Allow)]);
    assert!(allowed_from(
        &acls,
        &user("user1"),
        HOST1,
        Op::Describe,
        Topic,
        "sb1"
    ));
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Describe, Topic));
}

#[test]
fn by_type_counts_wildcard_hosts() {
    // AuthorizerTest.testAuthorizeByResourceTypeWithAllHostAce
    let ace = |name: &str, host: &str, perm| {
        binding(Topic, name, Literal, "User:user1", host, Op::Read, perm)
    };
    let mut acls = authorizer([]);
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    acls.add(ace("sb1", HOST1, Allow)).unwrap();
    assert!(by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    acls.add(ace("sb1", "*", Deny)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    acls.add(ace("sb2", HOST1, Deny)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    assert!(!by_type(&acls, "User:user1", HOST2, Op::Read, Topic));
    acls.add(ace("sb2", "*", Allow)).unwrap();
    assert!(by_type(&acls, "User:user1", HOST2, Op::Read, Topic));
    acls.add(ace("sb2", "*", Deny)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST2, Op::Read, Topic));
}

#[test]
fn by_type_counts_wildcard_principals() {
    // AuthorizerTest.testAuthorizeByResourceTypeWithAllPrincipalAce
    let ace = |name: &str, p: &str, perm| binding(Topic, name, Literal, p, HOST1, Op::Read, perm);
    let mut acls = authorizer([]);
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    acls.add(ace("sb1", "User:user1", Allow)).unwrap();
    assert!(by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    acls.add(ace("sb1", "User:*", Deny)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    acls.add(ace("sb2", "User:user1", Deny)).unwrap();
    assert!(!by_type(&acls, "User:user1", HOST1, Op::Read, Topic));
    assert!(!by_type(&acls, "User:user2", HOST1, Op::Read, Topic));
    acls.add(ace("sb2", "User:*", Allow)).unwrap();
    assert!(by_type(&acls, "User:user2", HOST1, Op::Read, Topic));
    acls.add(ace("sb2", "User:*", Deny)).unwrap();
    assert!(!by_type(&acls, "User:user2", HOST1, Op::Read, Topic));
}

#[test]
fn by_type_lets_super_users_through_any_deny() {
    // AuthorizerTest.testAuthorizeByResourceTypeSuperUserHasAccess
    let deny_all = |rt| acl(rt, "*", Literal, "User:*", Op::All, Deny);
    let mut acls = authorizer([deny_all(Topic), deny_all(Group), deny_all(TransactionalId)]);
    acls.add(acl(Cluster, CLUSTER_NAME, Literal, "User:*", Op::All, Deny))
        .unwrap();
    for rt in [Topic, Cluster, Group, TransactionalId] {
        assert!(
            by_type(&acls, "User:superman", "192.0.4.4", Op::Read, rt),
            "{rt}"
        );
        assert!(
            !by_type(&acls, "User:alice", "192.0.4.4", Op::Read, rt),
            "{rt}"
        );
    }
}

#[test]
fn by_type_with_allow_everyone_allows_unless_an_acl_covers_hardcode() {
    // AuthorizerTest.testAuthorizeByResourceTypeNoAclFoundOverride, and the quirk
    // behind it: only the resource named `hardcode` is asked about.
    let acls = with_default(true, vec![]);
    assert!(by_type(&acls, "User:alice", HOST1, Op::Read, Topic));
    assert!(by_type(&acls, "User:alice", HOST1, Op::Write, Topic));
    let acls = with_default(
        true,
        vec![acl(Topic, "other", Literal, "User:bob", Op::Read, Allow)],
    );
    assert!(by_type(&acls, "User:alice", HOST1, Op::Read, Topic));
    let acls = with_default(
        true,
        vec![acl(Topic, "hard", Prefixed, "User:bob", Op::Read, Allow)],
    );
    assert!(!by_type(&acls, "User:alice", HOST1, Op::Read, Topic));
}

#[test]
fn by_type_refuses_filter_and_unknown_arguments() {
    let acls = authorizer([]);
    let alice = user("alice");
    let call = |op, rt| acls.authorize_by_resource_type(&alice, ip(HOST1), op, rt);
    assert_eq!(
        call(Op::Read, ResourceType::Any),
        Err(AclError::InvalidResourceType(ResourceType::Any))
    );
    assert_eq!(
        call(Op::Read, ResourceType::Unknown),
        Err(AclError::InvalidResourceType(ResourceType::Unknown))
    );
    assert_eq!(
        call(Op::Any, Topic),
        Err(AclError::InvalidOperation(Op::Any))
    );
    assert_eq!(
        call(Op::Unknown, Topic),
        Err(AclError::InvalidOperation(Op::Unknown))
    );
}

#[test]
fn idempotent_producer_needs_idempotent_write_or_write_on_some_topic() {
    let alice = user("alice");
    let check = |acls: &Acls| {
        acls.authorize_idempotent_producer(&alice, ip(HOST1))
            .is_allowed()
    };
    assert!(!check(&authorizer([])));
    assert!(check(&authorizer([acl(
        Cluster,
        CLUSTER_NAME,
        Literal,
        "User:alice",
        Op::IdempotentWrite,
        Allow
    )])));
    assert!(check(&authorizer([acl(
        Topic,
        "t-",
        Prefixed,
        "User:alice",
        Op::Write,
        Allow
    )])));
    assert!(!check(&authorizer([acl(
        Topic,
        "t-",
        Prefixed,
        "User:alice",
        Op::Read,
        Allow
    )])));
    assert!(!check(&authorizer([
        acl(Topic, "t-", Prefixed, "User:alice", Op::Write, Allow),
        acl(Topic, "t", Prefixed, "User:alice", Op::Write, Deny),
    ])));
}

// ---- properties --------------------------------------------------------------

/// The rules of the module doc, applied by scanning every binding.
fn linear_scan(
    bindings: &[AclBinding],
    config: &AuthorizerConfig,
    request: &AuthorizeRequest<'_>,
) -> Decision {
    if config.super_users.contains(request.principal) {
        return Decision::Allowed;
    }
    let on_resource: Vec<&AclBinding> = bindings
        .iter()
        .filter(|b| b.resource_type == request.resource_type)
        .filter(|b| match b.pattern_type {
            Literal => b.resource_name == request.resource_name || b.resource_name == "*",
            Prefixed => request.resource_name.starts_with(&b.resource_name),
            _ => false,
        })
        .collect();
    let client = request.client_address.to_canonical();
    let matching: Vec<AclPermissionType> = on_resource
        .iter()
        .filter(|b| {
            b.principal == "User:*"
                || b.principal.parse::<KafkaPrincipal>().as_ref() == Ok(request.principal)
        })
        .filter(|b| {
            b.host == "*" || b.host.parse::<IpAddr>().map(|a| a.to_canonical()) == Ok(client)
        })
        .filter(|b| {
            let (acl, op) = (b.operation, request.operation);
            acl == Op::All
                || acl == op
                || (b.permission_type == Allow
                    && ((op == Op::Describe
                        && [Op::Read, Op::Write, Op::Delete, Op::Alter].contains(&acl))
                        || (op == Op::DescribeConfigs && acl == Op::AlterConfigs)))
        })
        .map(|b| b.permission_type)
        .collect();
    if matching.contains(&Deny) {
        Decision::Denied
    } else if matching.contains(&Allow) {
        Decision::Allowed
    } else if on_resource.is_empty() {
        Decision::from_bool(config.allow_everyone_if_no_acl_found)
    } else {
        Decision::Denied
    }
}

fn any_binding() -> impl Strategy<Value = AclBinding> {
    (
        prop::sample::select(vec![Topic, Group, TransactionalId]),
        "[abé*]{1,3}",
        prop::sample::select(vec![Literal, Prefixed]),
        prop::sample::select(vec!["User:alice", "User:bob", "User:*", "Group:alice"]),
        prop::sample::select(vec![
            "*",
            "*",
            "10.0.0.1",
            "10.0.0.2",
            "::1",
            "0:0:0:0:0:0:0:1",
            "::ffff:10.0.0.1",
            "bogus",
        ]),
        prop::sample::select(concrete_operations().collect::<Vec<_>>()),
        prop::sample::select(vec![Allow, Deny]),
    )
        .prop_map(|(rt, name, pt, principal, host, op, perm)| {
            binding(rt, &name, pt, principal, host, op, perm)
        })
}

fn any_request() -> impl Strategy<Value = (String, String, AclOperation, ResourceType, String)> {
    (
        prop::sample::select(vec!["User:alice", "User:bob", "Group:alice", "User:root"]),
        prop::sample::select(vec!["10.0.0.1", "10.0.0.2", "::1", "::ffff:10.0.0.1"]),
        prop::sample::select(AclOperation::VALUES.to_vec()),
        prop::sample::select(vec![Topic, Group, TransactionalId, Cluster]),
        "[abé*]{0,4}",
    )
        .prop_map(|(p, h, op, rt, name)| (p.to_owned(), h.to_owned(), op, rt, name))
}

fn any_filter() -> impl Strategy<Value = AclBindingFilter> {
    (
        prop::sample::select(vec![ResourceType::Any, Topic, Group]),
        prop::option::of("[abé*]{1,3}"),
        prop::sample::select(vec![
            PatternType::Any,
            PatternType::Match,
            Literal,
            Prefixed,
        ]),
        prop::option::of(prop::sample::select(vec!["User:alice", "User:*"])),
        prop::option::of(prop::sample::select(vec!["*", "10.0.0.1"])),
        prop::sample::select(vec![Op::Any, Op::Read, Op::All]),
        prop::sample::select(vec![AclPermissionType::Any, Allow, Deny]),
    )
        .prop_map(
            |(rt, name, pt, principal, host, op, perm)| AclBindingFilter {
                resource_type: rt,
                resource_name: name,
                pattern_type: pt,
                principal: principal.map(str::to_owned),
                host: host.map(str::to_owned),
                operation: op,
                permission_type: perm,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn authorize_agrees_with_a_linear_scan(
        bindings in prop::collection::vec(any_binding(), 0..40),
        requests in prop::collection::vec(any_request(), 1..16),
        allow_everyone in any::<bool>(),
    ) {
        let config = AuthorizerConfig {
            super_users: vec![user("root")],
            allow_everyone_if_no_acl_found: allow_everyone,
            max_acls: 1_000,
        };
        let acls = Acls::from_bindings(config.clone(), bindings.clone()).unwrap();
        for (principal, host, operation, resource_type, name) in &requests {
            let principal: KafkaPrincipal = principal.parse().unwrap();
            let request = AuthorizeRequest {
                principal: &principal,
                client_address: ip(host),
                operation: *operation,
                resource_type: *resource_type,
                resource_name: name,
            };
            prop_assert_eq!(
                acls.authorize(&request),
                linear_scan(&bindings, &config, &request),
                "request {:?}", request
            );
            prop_assert_eq!(acls.authorize_explained(&request).0, acls.authorize(&request));
        }
    }

    #[test]
    fn describe_and_remove_select_what_the_filter_matches(
        bindings in prop::collection::vec(any_binding(), 0..40),
        filter in any_filter(),
    ) {
        let mut acls = authorizer(bindings.clone());
        let mut unique = bindings;
        unique.sort();
        unique.dedup();
        let (mut expected, mut kept): (Vec<_>, Vec<_>) =
            unique.into_iter().partition(|b| filter.matches(b));
        expected.sort();
        kept.sort();
        let mut described = acls.acls(&filter);
        described.sort();
        prop_assert_eq!(&described, &expected);
        let mut removed = acls.remove(&filter).unwrap();
        removed.sort();
        prop_assert_eq!(removed, expected);
        let mut left: Vec<_> = acls.iter().collect();
        left.sort();
        prop_assert_eq!(acls.len(), left.len());
        prop_assert_eq!(left, kept);
    }
}
