//! GetSettings, UpdateSettings and the security-group rights RPCs (R6.3–R6.6).

use std::collections::{BTreeMap, BTreeSet};

use csm_db::PageRequest;
use csm_errors::{CsmError, FieldErrors};
use csm_proto::case_access as pb;
use csm_types::SecurityGroupId;
use tonic::{Request, Response, Status};

use crate::CaseAccessApp;
use crate::app::admin::{SettingsAt, SettingsChanges, StoredRights};
use crate::domain::principal::{OwnershipRelation, RecordRight, SecurityGroupRights};
use csm_errors::validated;

/// The paths UpdateSettings accepts in its mask.
const SETTINGS_PATHS: &[&str] = &[
    "nonb2x_case_agents",
    "partner_sees_account_cases",
    "use_asset_contact_relationship",
    "consumer_max_new_cases_daily",
    "consumer_max_comments_per_case_daily",
    "consumer_max_attachments_per_record",
    "ownership_holds",
    "ownership_holds.owner_defined",
    "ownership_holds.owner_group_defined",
    "ownership_holds.department_defined",
    "ownership_holds.manager_defined",
];

fn settings_to_proto((settings, updated_at): &SettingsAt) -> pb::Settings {
    let limit = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
    pb::Settings {
        nonb2x_case_agents: if settings.nonb2x_case_agents_both {
            pb::NonB2xCaseAgents::Both
        } else {
            pb::NonB2xCaseAgents::None
        } as i32,
        partner_sees_account_cases: settings.partner_sees_account_cases,
        use_asset_contact_relationship: settings.use_asset_contact_relationship,
        consumer_max_new_cases_daily: limit(settings.consumer_max_new_cases_daily),
        consumer_max_comments_per_case_daily: limit(settings.consumer_max_comments_per_case_daily),
        consumer_max_attachments_per_record: limit(settings.consumer_max_attachments_per_record),
        ownership_holds: Some(pb::OwnershipHolds {
            owner_defined: settings.holds.owner,
            owner_group_defined: settings.holds.owner_group,
            department_defined: settings.holds.department,
            manager_defined: settings.holds.manager,
        }),
        updated_at: Some(csm_proto::timestamp(*updated_at)),
    }
}

/// The masked fields of `settings` as changes; every invalid path or value is reported.
fn settings_changes(
    settings: Option<&pb::Settings>,
    mask: Option<&prost_types::FieldMask>,
) -> Result<SettingsChanges, CsmError> {
    let mut errors = FieldErrors::new();
    let paths = mask.map(|mask| mask.paths.as_slice()).unwrap_or_default();
    if paths.is_empty() {
        errors.add("update_mask", "is required and must name at least one setting");
    }
    if settings.is_none() {
        errors.add("settings", "is required");
    }
    let default = pb::Settings::default();
    let settings = settings.unwrap_or(&default);
    let holds = settings.ownership_holds.unwrap_or_default();
    let mut changes = SettingsChanges::default();
    let limit = |errors: &mut FieldErrors, field: &str, value: i32| match u32::try_from(value) {
        Ok(value) => Some(value),
        Err(_) => {
            errors.add(format!("settings.{field}"), "must not be negative (0 = unlimited)");
            None
        }
    };
    for path in paths {
        match path.as_str() {
            "nonb2x_case_agents" => match pb::NonB2xCaseAgents::try_from(settings.nonb2x_case_agents) {
                Ok(pb::NonB2xCaseAgents::Both) => changes.nonb2x_case_agents_both = Some(true),
                Ok(pb::NonB2xCaseAgents::None) => changes.nonb2x_case_agents_both = Some(false),
                _ => errors.add("settings.nonb2x_case_agents", "must be NON_B2X_CASE_AGENTS_BOTH or _NONE"),
            },
            "partner_sees_account_cases" => {
                changes.partner_sees_account_cases = Some(settings.partner_sees_account_cases)
            }
            "use_asset_contact_relationship" => {
                changes.use_asset_contact_relationship = Some(settings.use_asset_contact_relationship)
            }
            "consumer_max_new_cases_daily" => {
                changes.consumer_max_new_cases_daily = limit(&mut errors, path, settings.consumer_max_new_cases_daily)
            }
            "consumer_max_comments_per_case_daily" => {
                changes.consumer_max_comments_per_case_daily =
                    limit(&mut errors, path, settings.consumer_max_comments_per_case_daily)
            }
            "consumer_max_attachments_per_record" => {
                changes.consumer_max_attachments_per_record =
                    limit(&mut errors, path, settings.consumer_max_attachments_per_record)
            }
            "ownership_holds"
            | "ownership_holds.owner_defined"
            | "ownership_holds.owner_group_defined"
            | "ownership_holds.department_defined"
            | "ownership_holds.manager_defined" => {
                let all = path == "ownership_holds";
                if settings.ownership_holds.is_none() {
                    errors.add("settings.ownership_holds", "is required when the mask names it");
                }
                if all || path.ends_with(".owner_defined") {
                    changes.holds_owner = Some(holds.owner_defined);
                }
                if all || path.ends_with(".owner_group_defined") {
                    changes.holds_owner_group = Some(holds.owner_group_defined);
                }
                if all || path.ends_with(".department_defined") {
                    changes.holds_department = Some(holds.department_defined);
                }
                if all || path.ends_with(".manager_defined") {
                    changes.holds_manager = Some(holds.manager_defined);
                }
            }
            other => errors.add(
                "update_mask",
                format!("{other:?} is not an updatable setting; updatable: {}", SETTINGS_PATHS.join(", ")),
            ),
        }
    }
    errors.finish()?;
    Ok(changes)
}

fn right_to_proto(right: RecordRight) -> i32 {
    (match right {
        RecordRight::View => pb::RecordRight::View,
        RecordRight::Add => pb::RecordRight::Add,
        RecordRight::Edit => pb::RecordRight::Edit,
        RecordRight::Delete => pb::RecordRight::Delete,
    }) as i32
}

fn right_from_proto(value: i32) -> Option<RecordRight> {
    match pb::RecordRight::try_from(value).ok()? {
        pb::RecordRight::View => Some(RecordRight::View),
        pb::RecordRight::Add => Some(RecordRight::Add),
        pb::RecordRight::Edit => Some(RecordRight::Edit),
        pb::RecordRight::Delete => Some(RecordRight::Delete),
        pb::RecordRight::Unspecified => None,
    }
}

fn relation_to_proto(relation: OwnershipRelation) -> i32 {
    (match relation {
        OwnershipRelation::Owner => pb::OwnershipRelation::Owner,
        OwnershipRelation::DepartmentMember => pb::OwnershipRelation::DepartmentMember,
        OwnershipRelation::ManagerOfOwner => pb::OwnershipRelation::ManagerOfOwner,
        OwnershipRelation::TeamMember => pb::OwnershipRelation::TeamMember,
        OwnershipRelation::TeamManager => pb::OwnershipRelation::TeamManager,
    }) as i32
}

fn relation_from_proto(value: i32) -> Option<OwnershipRelation> {
    match pb::OwnershipRelation::try_from(value).ok()? {
        pb::OwnershipRelation::Owner => Some(OwnershipRelation::Owner),
        pb::OwnershipRelation::DepartmentMember => Some(OwnershipRelation::DepartmentMember),
        pb::OwnershipRelation::ManagerOfOwner => Some(OwnershipRelation::ManagerOfOwner),
        pb::OwnershipRelation::TeamMember => Some(OwnershipRelation::TeamMember),
        pb::OwnershipRelation::TeamManager => Some(OwnershipRelation::TeamManager),
        pb::OwnershipRelation::Unspecified => None,
    }
}

fn rights_to_proto(stored: &StoredRights) -> pb::SecurityGroupRights {
    let rights = &stored.rights;
    pb::SecurityGroupRights {
        security_group_id: rights.security_group.to_string(),
        base_rights: rights.base.iter().map(|right| right_to_proto(*right)).collect(),
        rights_based_on_ownership: rights.rights_based_on_ownership,
        ownership_rights: rights
            .by_relation
            .iter()
            .map(|(relation, granted)| pb::OwnershipRights {
                relation: relation_to_proto(*relation),
                rights: granted.iter().map(|right| right_to_proto(*right)).collect(),
            })
            .collect(),
        updated_at: Some(csm_proto::timestamp(stored.updated_at)),
    }
}

fn record_rights(errors: &mut FieldErrors, field: &str, values: &[i32]) -> BTreeSet<RecordRight> {
    let mut rights = BTreeSet::new();
    for (index, value) in values.iter().enumerate() {
        match right_from_proto(*value) {
            Some(right) => {
                rights.insert(right);
            }
            None => errors.add(format!("{field}[{index}]"), "must be VIEW, ADD, EDIT or DELETE"),
        }
    }
    rights
}

fn rights_from_proto(rights: Option<&pb::SecurityGroupRights>) -> Result<SecurityGroupRights, Status> {
    let mut errors = FieldErrors::new();
    let Some(rights) = rights else {
        return Err(CsmError::invalid_field("rights", "is required").into());
    };
    let group = errors.required_id("rights.security_group_id", &rights.security_group_id, SecurityGroupId::parse);
    let base = record_rights(&mut errors, "rights.base_rights", &rights.base_rights);
    let mut by_relation = BTreeMap::new();
    for (index, entry) in rights.ownership_rights.iter().enumerate() {
        let field = format!("rights.ownership_rights[{index}]");
        let granted = record_rights(&mut errors, &format!("{field}.rights"), &entry.rights);
        match relation_from_proto(entry.relation) {
            None => errors.add(format!("{field}.relation"), "must name an ownership relation"),
            Some(relation) if by_relation.contains_key(&relation) => {
                errors.add(format!("{field}.relation"), format!("{} is listed twice", relation.code()))
            }
            Some(relation) => {
                by_relation.insert(relation, granted);
            }
        }
    }
    errors.finish()?;
    Ok(SecurityGroupRights {
        security_group: validated(group)?,
        base,
        rights_based_on_ownership: rights.rights_based_on_ownership,
        by_relation,
    })
}

fn required_group(field: &str, value: &str) -> Result<SecurityGroupId, Status> {
    let mut errors = FieldErrors::new();
    let group = errors.required_id(field, value, SecurityGroupId::parse);
    errors.finish()?;
    Ok(validated(group)?)
}

pub(super) async fn get_settings(
    app: &CaseAccessApp,
    request: Request<pb::GetSettingsRequest>,
) -> Result<Response<pb::GetSettingsResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let settings = app.get_settings(&caller).await?;
    Ok(Response::new(pb::GetSettingsResponse { settings: Some(settings_to_proto(&settings)) }))
}

pub(super) async fn update_settings(
    app: &CaseAccessApp,
    request: Request<pb::UpdateSettingsRequest>,
) -> Result<Response<pb::UpdateSettingsResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let changes = settings_changes(request.settings.as_ref(), request.update_mask.as_ref())?;
    let written = app.update_settings(&caller, changes).await?;
    Ok(Response::new(pb::UpdateSettingsResponse {
        settings: Some(settings_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn set_security_group_rights(
    app: &CaseAccessApp,
    request: Request<pb::SetSecurityGroupRightsRequest>,
) -> Result<Response<pb::SetSecurityGroupRightsResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let rights = rights_from_proto(request.get_ref().rights.as_ref())?;
    let written = app.set_security_group_rights(&caller, rights).await?;
    Ok(Response::new(pb::SetSecurityGroupRightsResponse {
        rights: Some(rights_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_security_group_rights(
    app: &CaseAccessApp,
    request: Request<pb::GetSecurityGroupRightsRequest>,
) -> Result<Response<pb::GetSecurityGroupRightsResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let group = required_group("security_group_id", &request.get_ref().security_group_id)?;
    let stored = app.get_security_group_rights(&caller, group).await?;
    Ok(Response::new(pb::GetSecurityGroupRightsResponse { rights: Some(rights_to_proto(&stored)) }))
}

pub(super) async fn list_security_group_rights(
    app: &CaseAccessApp,
    request: Request<pb::ListSecurityGroupRightsRequest>,
) -> Result<Response<pb::ListSecurityGroupRightsResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let page = PageRequest::parse(request.page_size, &request.page_token)?;
    let (rows, next_page_token) = app.list_security_group_rights(&caller, &page).await?;
    Ok(Response::new(pb::ListSecurityGroupRightsResponse {
        rights: rows.iter().map(rights_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn delete_security_group_rights(
    app: &CaseAccessApp,
    request: Request<pb::DeleteSecurityGroupRightsRequest>,
) -> Result<Response<pb::DeleteSecurityGroupRightsResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let group = required_group("security_group_id", &request.get_ref().security_group_id)?;
    let consistency_token = app.delete_security_group_rights(&caller, group).await?;
    Ok(Response::new(pb::DeleteSecurityGroupRightsResponse { consistency_token }))
}
