//! gRPC handlers of the catalog's reads (GetRole, ListRoles) and the wire
//! form of a role: proto ⇄ domain conversion, then the app.

use csm_errors::{CsmError, FieldErrors};
use csm_proto::role as pb;
use tonic::{Request, Response, Status};

use super::RoleGrpc;
use crate::app::{Catalog, RoleFilter};
use crate::domain::catalog::CatalogRole;
use crate::domain::{PrincipalClass, RoleFamily};

pub(super) fn class_to_proto(class: PrincipalClass) -> pb::PrincipalClass {
    match class {
        PrincipalClass::Internal => pb::PrincipalClass::Internal,
        PrincipalClass::External => pb::PrincipalClass::External,
        PrincipalClass::None => pb::PrincipalClass::None,
        PrincipalClass::Both => pb::PrincipalClass::Both,
    }
}

fn origin_to_proto(origin: &str) -> pb::RoleOrigin {
    if origin == "custom" { pb::RoleOrigin::Custom } else { pb::RoleOrigin::Seeded }
}

pub(super) fn role_to_proto(catalog: &Catalog, role: &CatalogRole, with_containment: bool) -> pb::Role {
    let graph = &catalog.graph;
    let closure = graph.closure(&role.name);
    let contains = if with_containment {
        catalog
            .edges_of(&role.name)
            .map(|edge| pb::RoleContainment {
                parent_role: edge.parent.clone(),
                child_role: edge.child.clone(),
                origin: origin_to_proto(&edge.origin) as i32,
                suspect: edge.suspect,
                active: !edge.suspect || catalog.load_suspect_edges,
                spec_reference: if edge.suspect { "X1".to_owned() } else { String::new() },
                create_time: None,
            })
            .collect()
    } else {
        Vec::new()
    };
    pb::Role {
        role_name: role.name.clone(),
        display_name: role.display_name.clone().unwrap_or_else(|| role.description.clone()),
        description: role.description.clone(),
        family: match graph.family(&role.name) {
            RoleFamily::Agent => pb::RoleFamily::Agent,
            RoleFamily::Requester => pb::RoleFamily::Requester,
            RoleFamily::Neutral => pb::RoleFamily::Neutral,
            RoleFamily::Both => pb::RoleFamily::Both,
        } as i32,
        origin: origin_to_proto(&role.origin) as i32,
        aliases: catalog.aliases_of(&role.name).map(str::to_owned).collect(),
        contains,
        closure: if with_containment { closure.iter().map(|role| role.to_string()).collect() } else { Vec::new() },
        suspect: catalog.edges_of(&role.name).any(|edge| edge.suspect),
        explicit_class: class_to_proto(PrincipalClass::of(closure.iter().copied())) as i32,
        create_time: Some(csm_proto::timestamp(role.created_at)),
        update_time: Some(csm_proto::timestamp(role.updated_at.unwrap_or(role.created_at))),
    }
}

pub(super) async fn list_roles(
    grpc: &RoleGrpc,
    request: Request<pb::ListRolesRequest>,
) -> Result<Response<pb::ListRolesResponse>, Status> {
    let app = grpc.app.get()?;
    csm_auth::caller(&request)?;
    let request = request.into_inner();
    let page = csm_db::PageRequest::parse(request.page_size, &request.page_token)?;
    let family = match pb::RoleFamily::try_from(request.family) {
        Ok(pb::RoleFamily::Unspecified) => None,
        Ok(pb::RoleFamily::Agent) => Some(RoleFamily::Agent),
        Ok(pb::RoleFamily::Requester) => Some(RoleFamily::Requester),
        Ok(pb::RoleFamily::Neutral) => Some(RoleFamily::Neutral),
        Ok(pb::RoleFamily::Both) => Some(RoleFamily::Both),
        Err(_) => return Err(CsmError::invalid_field("family", "is not a RoleFamily value").into()),
    };
    let custom = match pb::RoleOrigin::try_from(request.origin) {
        Ok(pb::RoleOrigin::Unspecified) => None,
        Ok(pb::RoleOrigin::Seeded) => Some(false),
        Ok(pb::RoleOrigin::Custom) => Some(true),
        Err(_) => return Err(CsmError::invalid_field("origin", "is not a RoleOrigin value").into()),
    };
    let filter = RoleFilter {
        family,
        custom,
        name_contains: Some(request.name_contains.trim().to_owned()).filter(|needle| !needle.is_empty()),
    };
    let (roles, next_page_token) = app.list_roles(&filter, &page);
    Ok(Response::new(pb::ListRolesResponse {
        roles: roles.into_iter().map(|role| role_to_proto(app.catalog(), role, request.include_containment)).collect(),
        next_page_token,
    }))
}

pub(super) async fn get_role(
    grpc: &RoleGrpc,
    request: Request<pb::GetRoleRequest>,
) -> Result<Response<pb::GetRoleResponse>, Status> {
    let app = grpc.app.get()?;
    csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let name = errors.required_text("role", &request.get_ref().role, 200);
    errors.finish()?;
    let Some(name) = name else {
        return Err(CsmError::internal("validated fields missing").into());
    };
    let role = app.get_role(&name)?;
    Ok(Response::new(pb::GetRoleResponse { role: Some(role_to_proto(app.catalog(), role, true)) }))
}
