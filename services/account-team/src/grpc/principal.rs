//! GetPrincipalRelationships (DESIGN §3): conversion only.

use csm_errors::FieldErrors;
use csm_proto::account_team as pb;
use csm_types::ProfileId;
use tonic::{Request, Response, Status};

use super::AccountTeamGrpc;
use super::access::account_access_to_proto;
use super::contacts::{consumer_to_proto, contact_to_proto};
use super::definitions::responsibility_to_proto;
use super::relationships::partner_customer_to_proto;
use super::teams::team_member_to_proto;

pub(super) async fn get_principal_relationships(
    grpc: &AccountTeamGrpc,
    request: Request<pb::GetPrincipalRelationshipsRequest>,
) -> Result<Response<pb::GetPrincipalRelationshipsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.get_ref().profile_id, ProfileId::parse);
    errors.finish()?;
    let Some(profile) = profile else {
        return Err(csm_errors::CsmError::internal("validated fields missing").into());
    };
    let found = app.principal_relationships(&caller, profile).await?;
    let text = |value: Option<String>| value.unwrap_or_default();
    let contact = matches!(
        found.kind,
        Some(csm_proto::identity::ProfileKind::Contact | csm_proto::identity::ProfileKind::PartnerContact)
    );
    Ok(Response::new(pb::GetPrincipalRelationshipsResponse {
        principal_relationships: Some(pb::PrincipalRelationships {
            profile_id: profile.to_string(),
            contact_id: if contact { profile.to_string() } else { String::new() },
            account_id: text(found.account.map(|id| id.to_string())),
            consumer_id: text(found.consumer.map(|id| id.to_string())),
            contact_relationships: found.contact_relationships.iter().map(contact_to_proto).collect(),
            team_memberships: found.team_memberships.iter().map(team_member_to_proto).collect(),
            partner_account_id: text(found.partner_account.map(|id| id.to_string())),
            partner_customers: found.partner_customers.iter().map(partner_customer_to_proto).collect(),
            consumer_relationships: found.consumer_relationships.iter().map(consumer_to_proto).collect(),
            account_accesses: found.account_accesses.iter().map(account_access_to_proto).collect(),
            responsibilities: found.responsibilities.iter().map(responsibility_to_proto).collect(),
            revision: found.revision,
            consistency_token: app.feed.token(found.revision),
        }),
    }))
}
