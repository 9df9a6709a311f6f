//! `#[derive(Encode, Decode)]` for Aeon's generated Kafka messages.
