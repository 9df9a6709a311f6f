//! ApiVersions: answered from the table of handled APIs and their versions.

use super::HANDLED;
use crate::protocol::messages::api_versions_request::ApiVersionsRequest;
use crate::protocol::messages::api_versions_response::{ApiVersion, ApiVersionsResponse};
use crate::protocol::{ErrorCode, Response};

fn api_keys() -> Vec<ApiVersion> {
    HANDLED
        .iter()
        .map(|k| {
            let v = k.advertised_versions();
            ApiVersion {
                api_key: k.code(),
                min_version: v.min,
                max_version: v.max,
                ..Default::default()
            }
        })
        .collect()
}

pub fn handle(req: &ApiVersionsRequest, version: i16) -> ApiVersionsResponse {
    if version >= 3 {
        tracing::debug!(
            client = %req.client_software_name,
            client_version = %req.client_software_version,
            "client software"
        );
    }
    ApiVersionsResponse {
        error_code: ErrorCode::None.code(),
        api_keys: api_keys(),
        ..Default::default()
    }
}

/// The answer to an ApiVersions request of a version this broker does not know: a v0
/// response with UNSUPPORTED_VERSION and the versions it does serve, so the client can
/// retry with one of them.
pub fn unsupported_version_response() -> Response {
    ApiVersionsResponse {
        error_code: ErrorCode::UnsupportedVersion.code(),
        api_keys: api_keys(),
        ..Default::default()
    }
    .into()
}
