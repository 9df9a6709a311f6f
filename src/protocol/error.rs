//! placeholder until the error table lands
pub enum ErrorCode {}
