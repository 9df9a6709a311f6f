//! Kafka's error codes, as the protocol guide lists them (Kafka 4.x).
//!
//! This is the one place where the broker maps its errors to wire codes: [`ErrorCode::code`]
//! gives the `i16` written into a response, [`ErrorCode::is_retriable`] follows the table's
//! "Retriable" column, and [`ErrorCode::from_code`] turns a wire value back into an
//! [`ErrorCode`], or `None` for a value Kafka does not define.
//!
//! Source: the error table of the Kafka 4.4 protocol guide,
//! <https://kafka.apache.org/44/generated/protocol_errors.html> (codes -1 to 136).
//! Descriptions are Kafka's, with long ones shortened.
//!
//! The table below is the only list of codes: one row per error, which
//! `error_codes!` turns into the enum and every lookup, so they cannot disagree.

/// Generates [`ErrorCode`] and its lookups from the table. A row is Kafka's description
/// (the variant's doc comment), then the code, the variant, Kafka's name and whether a
/// client may retry.
macro_rules! error_codes {
    ($(
        $(#[$doc:meta])*
        $code:literal $variant:ident $name:literal $retriable:literal,
    )*) => {
        /// A Kafka protocol error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i16)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant = $code,)*
        }

        impl ErrorCode {
            /// Every defined error code, in code order.
            pub const ALL: [ErrorCode; [$(ErrorCode::$variant),*].len()] =
                [$(ErrorCode::$variant),*];

            /// The wire value.
            #[must_use]
            pub const fn code(self) -> i16 {
                self as i16
            }

            /// Kafka's name, e.g. `"UNKNOWN_TOPIC_OR_PARTITION"`.
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// Whether a client may retry (the "Retriable" column).
            #[must_use]
            pub const fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)*
                }
            }

            /// The error with this wire value, if Kafka defines one.
            #[must_use]
            pub const fn from_code(code: i16) -> Option<ErrorCode> {
                match code {
                    $($code => Some(ErrorCode::$variant),)*
                    _ => Option::None,
                }
            }
        }
    };
}

error_codes! {
    // code, variant, Kafka's name, retriable; the doc comment is Kafka's description.
    /// The server experienced an unexpected error when processing the request.
     -1 UnknownServerError                     "UNKNOWN_SERVER_ERROR"                       false,
    /// No error.
      0 None                                   "NONE"                                       false,
    /// The requested offset is not within the range of offsets maintained by the server.
      1 OffsetOutOfRange                       "OFFSET_OUT_OF_RANGE"                        false,
    /// The message failed its CRC check, is too large, has a null compacted key, or is corrupt.
      2 CorruptMessage                         "CORRUPT_MESSAGE"                            true,
    /// This server does not host this topic-partition.
      3 UnknownTopicOrPartition                "UNKNOWN_TOPIC_OR_PARTITION"                 true,
    /// The requested fetch size is invalid.
      4 InvalidFetchSize                       "INVALID_FETCH_SIZE"                         false,
    /// There is no leader for this topic-partition because a leader election is in progress.
      5 LeaderNotAvailable                     "LEADER_NOT_AVAILABLE"                       true,
    /// The broker is not the partition's leader (or, for any-replica requests, not a replica).
      6 NotLeaderOrFollower                    "NOT_LEADER_OR_FOLLOWER"                     true,
    /// The request timed out.
      7 RequestTimedOut                        "REQUEST_TIMED_OUT"                          true,
    /// The broker is not available.
      8 BrokerNotAvailable                     "BROKER_NOT_AVAILABLE"                       false,
    /// The replica is not available for the requested topic-partition.
      9 ReplicaNotAvailable                    "REPLICA_NOT_AVAILABLE"                      true,
    /// The request included a message larger than the max message size the server will accept.
     10 MessageTooLarge                        "MESSAGE_TOO_LARGE"                          false,
    /// The controller moved to another broker.
     11 StaleControllerEpoch                   "STALE_CONTROLLER_EPOCH"                     false,
    /// The metadata field of the offset request was too large.
     12 OffsetMetadataTooLarge                 "OFFSET_METADATA_TOO_LARGE"                  false,
    /// The server disconnected before a response was received.
     13 NetworkException                       "NETWORK_EXCEPTION"                          true,
    /// The coordinator is loading and hence can't process requests.
     14 CoordinatorLoadInProgress              "COORDINATOR_LOAD_IN_PROGRESS"               true,
    /// The coordinator is not available.
     15 CoordinatorNotAvailable                "COORDINATOR_NOT_AVAILABLE"                  true,
    /// This is not the correct coordinator.
     16 NotCoordinator                         "NOT_COORDINATOR"                            true,
    /// The request attempted to perform an operation on an invalid topic.
     17 InvalidTopicException                  "INVALID_TOPIC_EXCEPTION"                    false,
    /// The request included message batch larger than the configured segment size on the server.
     18 RecordListTooLarge                     "RECORD_LIST_TOO_LARGE"                      false,
    /// Messages are rejected since there are fewer in-sync replicas than required.
     19 NotEnoughReplicas                      "NOT_ENOUGH_REPLICAS"                        true,
    /// Messages are written to the log, but to fewer in-sync replicas than required.
     20 NotEnoughReplicasAfterAppend           "NOT_ENOUGH_REPLICAS_AFTER_APPEND"           true,
    /// Produce request specified an invalid value for required acks.
     21 InvalidRequiredAcks                    "INVALID_REQUIRED_ACKS"                      false,
    /// Specified group generation id is not valid.
     22 IllegalGeneration                      "ILLEGAL_GENERATION"                         false,
    /// The member's protocols do not match the group's, or its protocol type or list is empty.
     23 InconsistentGroupProtocol              "INCONSISTENT_GROUP_PROTOCOL"                false,
    /// The group id is invalid.
     24 InvalidGroupId                         "INVALID_GROUP_ID"                           false,
    /// The coordinator is not aware of this member.
     25 UnknownMemberId                        "UNKNOWN_MEMBER_ID"                          false,
    /// The session timeout is outside the range the broker allows.
     26 InvalidSessionTimeout                  "INVALID_SESSION_TIMEOUT"                    false,
    /// The group is rebalancing, so a rejoin is needed.
     27 RebalanceInProgress                    "REBALANCE_IN_PROGRESS"                      false,
    /// The committing offset data size is not valid.
     28 InvalidCommitOffsetSize                "INVALID_COMMIT_OFFSET_SIZE"                 false,
    /// Topic authorization failed.
     29 TopicAuthorizationFailed               "TOPIC_AUTHORIZATION_FAILED"                 false,
    /// Group authorization failed.
     30 GroupAuthorizationFailed               "GROUP_AUTHORIZATION_FAILED"                 false,
    /// Cluster authorization failed.
     31 ClusterAuthorizationFailed             "CLUSTER_AUTHORIZATION_FAILED"               false,
    /// The timestamp of the message is out of acceptable range.
     32 InvalidTimestamp                       "INVALID_TIMESTAMP"                          false,
    /// The broker does not support the requested SASL mechanism.
     33 UnsupportedSaslMechanism               "UNSUPPORTED_SASL_MECHANISM"                 false,
    /// Request is not valid given the current SASL state.
     34 IllegalSaslState                       "ILLEGAL_SASL_STATE"                         false,
    /// The version of API is not supported.
     35 UnsupportedVersion                     "UNSUPPORTED_VERSION"                        false,
    /// Topic with this name already exists.
     36 TopicAlreadyExists                     "TOPIC_ALREADY_EXISTS"                       false,
    /// Number of partitions is below 1.
     37 InvalidPartitions                      "INVALID_PARTITIONS"                         false,
    /// Replication factor is below 1 or larger than the number of available brokers.
     38 InvalidReplicationFactor               "INVALID_REPLICATION_FACTOR"                 false,
    /// Replica assignment is invalid.
     39 InvalidReplicaAssignment               "INVALID_REPLICA_ASSIGNMENT"                 false,
    /// Configuration is invalid.
     40 InvalidConfig                          "INVALID_CONFIG"                             false,
    /// This is not the correct controller for this cluster.
     41 NotController                          "NOT_CONTROLLER"                             true,
    /// The request was malformed by the client library or sent to an incompatible broker.
     42 InvalidRequest                         "INVALID_REQUEST"                            false,
    /// The message format version on the broker does not support the request.
     43 UnsupportedForMessageFormat            "UNSUPPORTED_FOR_MESSAGE_FORMAT"             false,
    /// Request parameters do not satisfy the configured policy.
     44 PolicyViolation                        "POLICY_VIOLATION"                           false,
    /// The broker received an out of order sequence number.
     45 OutOfOrderSequenceNumber               "OUT_OF_ORDER_SEQUENCE_NUMBER"               false,
    /// The broker received a duplicate sequence number.
     46 DuplicateSequenceNumber                "DUPLICATE_SEQUENCE_NUMBER"                  false,
    /// Producer attempted to produce with an old epoch.
     47 InvalidProducerEpoch                   "INVALID_PRODUCER_EPOCH"                     false,
    /// The producer attempted a transactional operation in an invalid state.
     48 InvalidTxnState                        "INVALID_TXN_STATE"                          false,
    /// The producer id is not currently assigned to the producer's transactional id.
     49 InvalidProducerIdMapping               "INVALID_PRODUCER_ID_MAPPING"                false,
    /// The transaction timeout is above the broker's limit (transaction.max.timeout.ms).
     50 InvalidTransactionTimeout              "INVALID_TRANSACTION_TIMEOUT"                false,
    /// Another operation on the same transaction is still in progress.
     51 ConcurrentTransactions                 "CONCURRENT_TRANSACTIONS"                    true,
    /// The coordinator sending `WriteTxnMarker` is no longer the producer's current coordinator.
     52 TransactionCoordinatorFenced           "TRANSACTION_COORDINATOR_FENCED"             false,
    /// Transactional Id authorization failed.
     53 TransactionalIdAuthorizationFailed     "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"      false,
    /// Security features are disabled.
     54 SecurityDisabled                       "SECURITY_DISABLED"                          false,
    /// The broker did not attempt this operation, e.g. because others in the same batch failed.
     55 OperationNotAttempted                  "OPERATION_NOT_ATTEMPTED"                    false,
    /// Disk error when trying to access log file on the disk.
     56 KafkaStorageError                      "KAFKA_STORAGE_ERROR"                        true,
    /// The user-specified log directory is not found in the broker config.
     57 LogDirNotFound                         "LOG_DIR_NOT_FOUND"                          false,
    /// SASL Authentication failed.
     58 SaslAuthenticationFailed               "SASL_AUTHENTICATION_FAILED"                 false,
    /// The broker has no metadata for this producer id, e.g. because its records were deleted.
     59 UnknownProducerId                      "UNKNOWN_PRODUCER_ID"                        false,
    /// A partition reassignment is in progress.
     60 ReassignmentInProgress                 "REASSIGNMENT_IN_PROGRESS"                   false,
    /// Delegation Token feature is not enabled.
     61 DelegationTokenAuthDisabled            "DELEGATION_TOKEN_AUTH_DISABLED"             false,
    /// Delegation Token is not found on server.
     62 DelegationTokenNotFound                "DELEGATION_TOKEN_NOT_FOUND"                 false,
    /// Specified Principal is not valid Owner/Renewer.
     63 DelegationTokenOwnerMismatch           "DELEGATION_TOKEN_OWNER_MISMATCH"            false,
    /// Delegation token requests are not allowed on this kind of channel.
     64 DelegationTokenRequestNotAllowed       "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED"       false,
    /// Delegation Token authorization failed.
     65 DelegationTokenAuthorizationFailed     "DELEGATION_TOKEN_AUTHORIZATION_FAILED"      false,
    /// Delegation Token is expired.
     66 DelegationTokenExpired                 "DELEGATION_TOKEN_EXPIRED"                   false,
    /// Supplied principalType is not supported.
     67 InvalidPrincipalType                   "INVALID_PRINCIPAL_TYPE"                     false,
    /// The group is not empty.
     68 NonEmptyGroup                          "NON_EMPTY_GROUP"                            false,
    /// The group id does not exist.
     69 GroupIdNotFound                        "GROUP_ID_NOT_FOUND"                         false,
    /// The fetch session ID was not found.
     70 FetchSessionIdNotFound                 "FETCH_SESSION_ID_NOT_FOUND"                 true,
    /// The fetch session epoch is invalid.
     71 InvalidFetchSessionEpoch               "INVALID_FETCH_SESSION_EPOCH"                true,
    /// The leader has no listener matching the one the metadata request was processed on.
     72 ListenerNotFound                       "LISTENER_NOT_FOUND"                         true,
    /// Topic deletion is disabled.
     73 TopicDeletionDisabled                  "TOPIC_DELETION_DISABLED"                    false,
    /// The leader epoch in the request is older than the epoch on the broker.
     74 FencedLeaderEpoch                      "FENCED_LEADER_EPOCH"                        true,
    /// The leader epoch in the request is newer than the epoch on the broker.
     75 UnknownLeaderEpoch                     "UNKNOWN_LEADER_EPOCH"                       true,
    /// The requesting client does not support the compression type of given partition.
     76 UnsupportedCompressionType             "UNSUPPORTED_COMPRESSION_TYPE"               false,
    /// Broker epoch has changed.
     77 StaleBrokerEpoch                       "STALE_BROKER_EPOCH"                         false,
    /// The new leader's high watermark has not caught up, so offsets may not be monotonic.
     78 OffsetNotAvailable                     "OFFSET_NOT_AVAILABLE"                       true,
    /// The group member needs to have a valid member id before actually entering a consumer group.
     79 MemberIdRequired                       "MEMBER_ID_REQUIRED"                         false,
    /// The preferred leader was not available.
     80 PreferredLeaderNotAvailable            "PREFERRED_LEADER_NOT_AVAILABLE"             true,
    /// The group has reached its maximum size.
     81 GroupMaxSizeReached                    "GROUP_MAX_SIZE_REACHED"                     false,
    /// Another consumer with this group.instance.id has registered with a different member.id.
     82 FencedInstanceId                       "FENCED_INSTANCE_ID"                         false,
    /// Eligible topic partition leaders are not available.
     83 EligibleLeadersNotAvailable            "ELIGIBLE_LEADERS_NOT_AVAILABLE"             true,
    /// Leader election not needed for topic partition.
     84 ElectionNotNeeded                      "ELECTION_NOT_NEEDED"                        true,
    /// No partition reassignment is in progress.
     85 NoReassignmentInProgress               "NO_REASSIGNMENT_IN_PROGRESS"                false,
    /// Offsets of a topic cannot be deleted while the consumer group is subscribed to it.
     86 GroupSubscribedToTopic                 "GROUP_SUBSCRIBED_TO_TOPIC"                  false,
    /// This record has failed the validation on broker and hence will be rejected.
     87 InvalidRecord                          "INVALID_RECORD"                             false,
    /// There are unstable offsets that need to be cleared.
     88 UnstableOffsetCommit                   "UNSTABLE_OFFSET_COMMIT"                     true,
    /// The throttling quota has been exceeded.
     89 ThrottlingQuotaExceeded                "THROTTLING_QUOTA_EXCEEDED"                  true,
    /// There is a newer producer with the same transactionalId which fences the current one.
     90 ProducerFenced                         "PRODUCER_FENCED"                            false,
    /// A request illegally referred to a resource that does not exist.
     91 ResourceNotFound                       "RESOURCE_NOT_FOUND"                         false,
    /// A request illegally referred to the same resource twice.
     92 DuplicateResource                      "DUPLICATE_RESOURCE"                         false,
    /// Requested credential would not meet criteria for acceptability.
     93 UnacceptableCredential                 "UNACCEPTABLE_CREDENTIAL"                    false,
    /// The sender or recipient of a voter-only request is not one of the expected voters.
     94 InconsistentVoterSet                   "INCONSISTENT_VOTER_SET"                     false,
    /// The given update version was invalid.
     95 InvalidUpdateVersion                   "INVALID_UPDATE_VERSION"                     false,
    /// Unable to update finalized features due to an unexpected server error.
     96 FeatureUpdateFailed                    "FEATURE_UPDATE_FAILED"                      false,
    /// Request principal deserialization failed during forwarding.
     97 PrincipalDeserializationFailure        "PRINCIPAL_DESERIALIZATION_FAILURE"          false,
    /// Requested snapshot was not found.
     98 SnapshotNotFound                       "SNAPSHOT_NOT_FOUND"                         false,
    /// The requested position is negative or not less than the size of the snapshot.
     99 PositionOutOfRange                     "POSITION_OUT_OF_RANGE"                      false,
    /// This server does not host this topic ID.
    100 UnknownTopicId                         "UNKNOWN_TOPIC_ID"                           true,
    /// This broker ID is already in use.
    101 DuplicateBrokerRegistration            "DUPLICATE_BROKER_REGISTRATION"              false,
    /// The given broker ID was not registered.
    102 BrokerIdNotRegistered                  "BROKER_ID_NOT_REGISTERED"                   false,
    /// The log's topic ID did not match the topic ID in the request.
    103 InconsistentTopicId                    "INCONSISTENT_TOPIC_ID"                      true,
    /// The clusterId in the request does not match that found on the server.
    104 InconsistentClusterId                  "INCONSISTENT_CLUSTER_ID"                    false,
    /// The transactionalId could not be found.
    105 TransactionalIdNotFound                "TRANSACTIONAL_ID_NOT_FOUND"                 false,
    /// The fetch session encountered inconsistent topic ID usage.
    106 FetchSessionTopicIdError               "FETCH_SESSION_TOPIC_ID_ERROR"               true,
    /// The new ISR contains at least one ineligible replica.
    107 IneligibleReplica                      "INELIGIBLE_REPLICA"                         false,
    /// The `AlterPartition` request updated the partition state, but the leader has changed.
    108 NewLeaderElected                       "NEW_LEADER_ELECTED"                         false,
    /// The requested offset is moved to tiered storage.
    109 OffsetMovedToTieredStorage             "OFFSET_MOVED_TO_TIERED_STORAGE"             false,
    /// The member epoch is fenced; the member must give up all its partitions and rejoin.
    110 FencedMemberEpoch                      "FENCED_MEMBER_EPOCH"                        false,
    /// The instance ID is still used by another member of the group, which must leave first.
    111 UnreleasedInstanceId                   "UNRELEASED_INSTANCE_ID"                     false,
    /// The assignor or its version range is not supported by the consumer group.
    112 UnsupportedAssignor                    "UNSUPPORTED_ASSIGNOR"                       false,
    /// The member epoch is stale; retry once `ConsumerGroupHeartbeat` returns the updated epoch.
    113 StaleMemberEpoch                       "STALE_MEMBER_EPOCH"                         false,
    /// The request was sent to an endpoint of the wrong type.
    114 MismatchedEndpointType                 "MISMATCHED_ENDPOINT_TYPE"                   false,
    /// This endpoint type is not supported yet.
    115 UnsupportedEndpointType                "UNSUPPORTED_ENDPOINT_TYPE"                  false,
    /// This controller ID is not known.
    116 UnknownControllerId                    "UNKNOWN_CONTROLLER_ID"                      false,
    /// Client sent a push telemetry request with an invalid or outdated subscription ID.
    117 UnknownSubscriptionId                  "UNKNOWN_SUBSCRIPTION_ID"                    false,
    /// Client sent a push telemetry request larger than the maximum size the broker will accept.
    118 TelemetryTooLarge                      "TELEMETRY_TOO_LARGE"                        false,
    /// The controller has considered the broker registration to be invalid.
    119 InvalidRegistration                    "INVALID_REGISTRATION"                       false,
    /// The transaction hit an error; the client can abort it and keep using the transactional ID.
    120 TransactionAbortable                   "TRANSACTION_ABORTABLE"                      false,
    /// The record state is invalid, so the delivery acknowledgement could not be completed.
    121 InvalidRecordState                     "INVALID_RECORD_STATE"                       false,
    /// The share session was not found.
    122 ShareSessionNotFound                   "SHARE_SESSION_NOT_FOUND"                    true,
    /// The share session epoch is invalid.
    123 InvalidShareSessionEpoch               "INVALID_SHARE_SESSION_EPOCH"                true,
    /// The coordinator rejected the request because the state epoch did not match.
    124 FencedStateEpoch                       "FENCED_STATE_EPOCH"                         false,
    /// The voter key doesn't match the receiving replica's key.
    125 InvalidVoterKey                        "INVALID_VOTER_KEY"                          false,
    /// The voter is already part of the set of voters.
    126 DuplicateVoter                         "DUPLICATE_VOTER"                            false,
    /// The voter is not part of the set of voters.
    127 VoterNotFound                          "VOTER_NOT_FOUND"                            false,
    /// The regular expression is not valid.
    128 InvalidRegularExpression               "INVALID_REGULAR_EXPRESSION"                 false,
    /// Client metadata is stale, so the client should rebootstrap to obtain new metadata.
    129 RebootstrapRequired                    "REBOOTSTRAP_REQUIRED"                       false,
    /// The supplied topology is invalid.
    130 StreamsInvalidTopology                 "STREAMS_INVALID_TOPOLOGY"                   false,
    /// The supplied topology epoch is invalid.
    131 StreamsInvalidTopologyEpoch            "STREAMS_INVALID_TOPOLOGY_EPOCH"             false,
    /// The supplied topology epoch is outdated.
    132 StreamsTopologyFenced                  "STREAMS_TOPOLOGY_FENCED"                    false,
    /// The limit of share sessions has been reached.
    133 ShareSessionLimitReached               "SHARE_SESSION_LIMIT_REACHED"                true,
    /// `DeleteGroups` could not complete; see the per-group result's error message for details.
    134 GroupDeletionFailed                    "GROUP_DELETION_FAILED"                      false,
    /// The broker could not process the topology description update.
    135 StreamsTopologyDescriptionUpdateFailed "STREAMS_TOPOLOGY_DESCRIPTION_UPDATE_FAILED" false,
    /// The given controller ID was not registered.
    136 ControllerIdNotRegistered              "CONTROLLER_ID_NOT_REGISTERED"               false,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const LAST_CODE: i16 = 136;
    const RETRIABLE_COUNT: usize = 32;

    #[test]
    fn from_code_round_trips_for_every_code() {
        for error in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(error.code()), Some(error), "{error}");
        }
    }

    #[test]
    fn all_is_unique_and_ascending() {
        for pair in ErrorCode::ALL.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            assert!(before.code() < after.code(), "{before} before {after}");
        }
        let codes: HashSet<i16> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn all_covers_the_whole_table() {
        // The 4.4 table runs without gaps from -1 to LAST_CODE.
        assert_eq!(ErrorCode::ALL.first().map(|e| e.code()), Some(-1));
        assert_eq!(ErrorCode::ALL.last().map(|e| e.code()), Some(LAST_CODE));
        for (error, expected) in ErrorCode::ALL.iter().zip(-1i16..) {
            assert_eq!(error.code(), expected, "{error}");
        }
    }

    #[test]
    fn from_code_rejects_undefined_values() {
        for code in i16::MIN..=i16::MAX {
            let defined = ErrorCode::ALL.iter().any(|e| e.code() == code);
            assert_eq!(ErrorCode::from_code(code).is_some(), defined, "code {code}");
        }
        assert_eq!(ErrorCode::from_code(-2), None);
        assert_eq!(ErrorCode::from_code(LAST_CODE + 1), None);
    }

    #[test]
    fn names_are_unique_kafka_style_and_displayed() {
        let mut seen = HashSet::new();
        for error in ErrorCode::ALL {
            let name = error.name();
            assert!(seen.insert(name), "duplicate name {name}");
            assert!(!name.is_empty());
            let kafka_style = name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
            assert!(kafka_style, "{name}");
            assert_eq!(error.to_string(), name);
        }
    }

    #[test]
    fn retriable_count_matches_the_table() {
        let retriable = ErrorCode::ALL.iter().filter(|e| e.is_retriable()).count();
        assert_eq!(retriable, RETRIABLE_COUNT);
    }

    #[test]
    fn spot_checks_against_the_table() {
        // (error, code, retriable), as the 4.4 table lists them.
        let cases = [
            (ErrorCode::UnknownServerError, -1, false),
            (ErrorCode::None, 0, false),
            (ErrorCode::UnknownTopicOrPartition, 3, true),
            (ErrorCode::NotCoordinator, 16, true),
            (ErrorCode::RebalanceInProgress, 27, false),
            (ErrorCode::MemberIdRequired, 79, false),
            (ErrorCode::FencedInstanceId, 82, false),
            (ErrorCode::UnknownTopicId, 100, true),
            (ErrorCode::ControllerIdNotRegistered, 136, false),
        ];
        for (error, code, retriable) in cases {
            assert_eq!(error.code(), code, "{error}");
            assert_eq!(error.is_retriable(), retriable, "{error}");
            assert_eq!(ErrorCode::from_code(code), Some(error), "{error}");
        }
        assert_eq!(ErrorCode::None.name(), "NONE");
        assert_eq!(ErrorCode::NotCoordinator.to_string(), "NOT_COORDINATOR");
        assert_eq!(
            ErrorCode::UnknownTopicOrPartition.name(),
            "UNKNOWN_TOPIC_OR_PARTITION"
        );
    }
}
