//! ListGroups: every live group, filtered by state (v4+) and type (v5+: classic or consumer).

use super::BrokerContext;
use crate::actors::group_coordinator::Overview;
use crate::protocol::messages::list_groups_request::ListGroupsRequest;
use crate::protocol::messages::list_groups_response::{ListGroupsResponse, ListedGroup};
use crate::security::acl::AclOperation;
use crate::security::authorizer::Authz;

pub async fn handle(
    ctx: &BrokerContext,
    authz: &Authz<'_>,
    req: ListGroupsRequest,
    version: i16,
) -> ListGroupsResponse {
    // DESCRIBE on the cluster lists every group; else those the caller may describe.
    let every = authz.cluster(AclOperation::Describe);
    let groups = ctx
        .routing
        .load()
        .groups
        .filtered(|id| every || authz.group(AclOperation::Describe, id));
    let mut listed = Vec::new();
    for (group_id, addr) in groups {
        let Ok(overview) = addr.send(Overview).await else {
            continue;
        };
        if overview.dead {
            continue;
        }
        let state_name = overview.state;
        if version >= 4
            && !req.states_filter.is_empty()
            && !req
                .states_filter
                .iter()
                .any(|s| s.eq_ignore_ascii_case(state_name))
        {
            continue;
        }
        if version >= 5
            && !req.types_filter.is_empty()
            && !req
                .types_filter
                .iter()
                .any(|t| t.eq_ignore_ascii_case(overview.group_type))
        {
            continue;
        }
        listed.push(ListedGroup {
            group_id,
            protocol_type: overview.protocol_type,
            group_state: if version >= 4 {
                state_name.to_string()
            } else {
                String::new()
            },
            group_type: if version >= 5 {
                overview.group_type.to_string()
            } else {
                String::new()
            },
            ..Default::default()
        });
    }
    listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    ListGroupsResponse {
        error_code: 0,
        groups: listed,
        ..Default::default()
    }
}
