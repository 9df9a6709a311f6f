//! The records of the internal `__transaction_state` log.
//!
//! # Format
//!
//! One record per transactional id; the latest record of a key wins, so the log can be
//! compacted by key. Key: `{"v":1,"txn":ID}`; value: the whole [`TxnMetadata`] as JSON,
//! or none (a tombstone) once the id expired.
//! Replaying a partition in log order rebuilds every id it holds. A torn or foreign
//! record is a [`TxnRecordError`], never a panic.

use super::TxnMetadata;
use serde::{Deserialize, Serialize};

const KEY_VERSION: u16 = 1;

/// A record that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum TxnRecordError {
    #[error("bad transaction record key: {0}")]
    Key(#[source] serde_json::Error),
    #[error("bad transaction record value: {0}")]
    Value(#[source] serde_json::Error),
    #[error("unsupported transaction record key version {0}")]
    Version(u16),
}

#[derive(Serialize, Deserialize)]
struct Key<'a> {
    v: u16,
    txn: std::borrow::Cow<'a, str>,
}

/// The key of a transactional id's record.
pub fn key_bytes(transactional_id: &str) -> Vec<u8> {
    serde_json::to_vec(&Key {
        v: KEY_VERSION,
        txn: transactional_id.into(),
    })
    .unwrap_or_default()
}

/// The value: the metadata.
pub fn value_bytes(metadata: &TxnMetadata) -> Vec<u8> {
    serde_json::to_vec(metadata).unwrap_or_default()
}

/// Reads one record: the transactional id and its metadata (`None`: the id expired).
pub fn decode(
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(String, Option<TxnMetadata>), TxnRecordError> {
    let k: Key<'_> = serde_json::from_slice(key).map_err(TxnRecordError::Key)?;
    if k.v != KEY_VERSION {
        return Err(TxnRecordError::Version(k.v));
    }
    let m = value
        .map(serde_json::from_slice)
        .transpose()
        .map_err(TxnRecordError::Value)?;
    Ok((k.txn.into_owned(), m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_an_error() {
        let mut m = TxnMetadata::new(42, 60_000, 1);
        m.partitions.insert(("t".into(), 3));
        m.groups.insert("g".into());
        let (id, back) = decode(&key_bytes("tx-1"), Some(&value_bytes(&m))).expect("decode");
        assert_eq!((id.as_str(), back), ("tx-1", Some(m.clone())));
        assert!(decode(b"{", Some(b"{}")).is_err());
        assert_eq!(
            decode(&key_bytes("x"), None).expect("a tombstone"),
            ("x".to_string(), None)
        );
        assert!(decode(&key_bytes("x"), Some(b"[1]")).is_err());
        assert!(decode(br#"{"v":9,"txn":"x"}"#, Some(&value_bytes(&m))).is_err());
    }
}
