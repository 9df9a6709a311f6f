//! Who a client is and what it may do: SASL authentication (PLAIN, SCRAM-SHA-256/512),
//! principals from TLS certificates, and the ACL authorizer, each with Kafka's
//! semantics.

pub mod acl;
pub mod authorizer;
pub mod plain;
pub mod principal;
pub mod scram;
pub mod snapshot_file;
pub mod users;
