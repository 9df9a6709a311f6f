//! Why bytes could not be decoded or a value encoded.

use thiserror::Error;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("truncated: needed {needed} bytes, {remaining} left")]
    Truncated { needed: usize, remaining: usize },
    #[error("invalid length or count {length} with {remaining} bytes left")]
    InvalidLength { length: i64, remaining: usize },
    #[error("varint longer than {0} bytes")]
    VarintTooLong(usize),
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("null in a version where the field is not nullable")]
    UnexpectedNull,
    #[error("{message} version {version} is not supported")]
    UnsupportedVersion { message: &'static str, version: i16 },
    #[error("{message}.{field}: {source}")]
    Field {
        message: &'static str,
        field: &'static str,
        source: Box<DecodeError>,
    },
}

impl DecodeError {
    /// Adds the field a nested error came from (error path only).
    pub fn in_field(self, message: &'static str, field: &'static str) -> Self {
        DecodeError::Field {
            message,
            field,
            source: Box::new(self),
        }
    }

    /// The innermost error, without the field path.
    pub fn root(&self) -> &DecodeError {
        match self {
            DecodeError::Field { source, .. } => source.root(),
            e => e,
        }
    }
}

/// Why a value could not be encoded at a version.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum EncodeError {
    #[error("{message} version {version} is not supported")]
    UnsupportedVersion { message: &'static str, version: i16 },
    #[error("{message}.{field} is set but version {version} has no such field")]
    FieldNotInVersion {
        message: &'static str,
        field: &'static str,
        version: i16,
    },
    #[error("null in a version where the field is not nullable")]
    UnexpectedNull,
    #[error("length {length} exceeds the wire maximum {max}")]
    TooLong { length: usize, max: usize },
}
