//! gRPC conversion of the profile-level RPCs: ReplaceProfileRoles,
//! ListProfileRoles, ListAssignableRoles, ValidateAssignment,
//! BatchGetEffectiveRoles, GetPrincipalClass, EnsureDefaultClass,
//! ListRoleAnomalies and FixRoleAnomalies. Proto ⇄ domain only.

use csm_errors::{CsmError, FieldErrors};
use csm_proto::role as pb;
use csm_types::{GroupId, ProfileId};
use tonic::{Request, Response, Status};

use super::{class_to_proto, effective_roles_to_proto, validated_fields_missing};
use crate::app::{
    DefaultClassOutcome, FixRequest, GrantSource, ProfileRoleChange, RoleAnomaly, RoleApp, RoleGrant, ValidationFinding,
};
use crate::domain::anomalies::AnomalyCategory;
use crate::domain::assignments::DirectAssignment;

/// BatchGetEffectiveRoles takes at most this many profiles.
const MAX_BATCH_PROFILES: usize = 1000;
const ROLE_NAME_MAX: usize = 200;

pub(super) fn grant_to_proto(grant: &RoleGrant) -> pb::RoleGrant {
    pb::RoleGrant {
        role: grant.role.clone(),
        source: match GrantSource::of(grant) {
            GrantSource::Direct => pb::RoleSource::Direct,
            GrantSource::Group => pb::RoleSource::Group,
            GrantSource::Containment => pb::RoleSource::Containment,
        } as i32,
        assigned_role: grant.assigned_role.clone(),
        assignment_id: grant.assignment_id.map(|id| id.to_string()).unwrap_or_default(),
        group_id: grant.group.map(|group| group.to_string()).unwrap_or_default(),
        group_path: grant.group_path.iter().map(ToString::to_string).collect(),
        containment_path: grant.containment_path.clone(),
    }
}

fn assignment_to_proto(profile: ProfileId, assignment: &DirectAssignment, flagged: bool) -> pb::RoleAssignment {
    pb::RoleAssignment {
        assignment_id: assignment.id.to_string(),
        profile_id: profile.to_string(),
        role: assignment.role.clone(),
        // Who granted a role is not stored; the change feed records the write.
        granted_by_profile_id: String::new(),
        flagged_for_review: flagged,
        create_time: Some(csm_proto::timestamp(assignment.created_at)),
    }
}

fn validation_finding_to_proto(found: &ValidationFinding) -> pb::AssignmentFinding {
    pb::AssignmentFinding {
        reason: found.reason.clone(),
        severity: if found.blocking { pb::FindingSeverity::Blocking } else { pb::FindingSeverity::Warning } as i32,
        rule: found.rule.clone(),
        path: found.path.as_ref().map(|path| pb::ConflictPath {
            profile_id: path.profile.map(|profile| profile.to_string()).unwrap_or_default(),
            group_path: path.group_path.iter().map(ToString::to_string).collect(),
            role_path: path.role_path.clone(),
            conflicting_role: path.conflicting_role.clone(),
        }),
    }
}

fn category_to_proto(category: AnomalyCategory) -> pb::RoleAnomalyCategory {
    match category {
        AnomalyCategory::NonIntentional => pb::RoleAnomalyCategory::NonIntentional,
        AnomalyCategory::PossiblyIntentional => pb::RoleAnomalyCategory::PossiblyIntentional,
        AnomalyCategory::Contained => pb::RoleAnomalyCategory::Contained,
        AnomalyCategory::FamilyMixing => pb::RoleAnomalyCategory::FamilyMixing,
        AnomalyCategory::UnsupportedPersona => pb::RoleAnomalyCategory::UnsupportedPersona,
    }
}

/// Repeated RoleAnomalyCategory values; UNSPECIFIED or unknown values are field errors.
fn categories_field(errors: &mut FieldErrors, values: &[i32]) -> Vec<AnomalyCategory> {
    let mut categories = Vec::new();
    for (index, value) in values.iter().enumerate() {
        let category = match pb::RoleAnomalyCategory::try_from(*value) {
            Ok(pb::RoleAnomalyCategory::NonIntentional) => AnomalyCategory::NonIntentional,
            Ok(pb::RoleAnomalyCategory::PossiblyIntentional) => AnomalyCategory::PossiblyIntentional,
            Ok(pb::RoleAnomalyCategory::Contained) => AnomalyCategory::Contained,
            Ok(pb::RoleAnomalyCategory::FamilyMixing) => AnomalyCategory::FamilyMixing,
            Ok(pb::RoleAnomalyCategory::UnsupportedPersona) => AnomalyCategory::UnsupportedPersona,
            _ => {
                errors.add(format!("categories[{index}]"), format!("is not a RoleAnomalyCategory: {value}"));
                continue;
            }
        };
        if !categories.contains(&category) {
            categories.push(category);
        }
    }
    categories
}

/// Repeated role names: each required and bounded.
fn roles_field(errors: &mut FieldErrors, field: &str, values: &[String]) -> Vec<String> {
    values
        .iter()
        .enumerate()
        .filter_map(|(index, role)| errors.required_text(&format!("{field}[{index}]"), role, ROLE_NAME_MAX))
        .collect()
}

fn anomaly_to_proto(anomaly: &RoleAnomaly) -> pb::RoleAnomaly {
    pb::RoleAnomaly {
        profile_id: anomaly.profile.to_string(),
        category: category_to_proto(anomaly.category) as i32,
        evidence: anomaly.evidence.iter().map(grant_to_proto).collect(),
        proposed_remove_roles: anomaly.remove.clone(),
        proposed_add_roles: anomaly.add.clone(),
        fixable: anomaly.category.fixable(),
        detect_time: anomaly.detected_at.map(csm_proto::timestamp),
    }
}

pub(super) async fn replace_profile_roles(
    app: &RoleApp,
    request: Request<pb::ReplaceProfileRolesRequest>,
) -> Result<Response<pb::ReplaceProfileRolesResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.profile_id, ProfileId::parse);
    let roles = roles_field(&mut errors, "roles", &request.roles);
    errors.finish()?;
    let Some(profile) = profile else { return Err(validated_fields_missing()) };
    let replaced = app.replace_profile_roles(&caller, profile, &roles).await?;
    let flagged = !replaced.warnings.is_empty();
    Ok(Response::new(pb::ReplaceProfileRolesResponse {
        assignments: replaced
            .assignments
            .iter()
            .map(|assignment| assignment_to_proto(profile, assignment, flagged))
            .collect(),
        retained_roles: replaced.retained.clone(),
        warnings: replaced
            .warnings
            .iter()
            .map(|finding| validation_finding_to_proto(&ValidationFinding::of_profile(profile, finding, false)))
            .collect(),
        consistency_token: replaced.consistency_token,
    }))
}

pub(super) async fn list_profile_roles(
    app: &RoleApp,
    request: Request<pb::ListProfileRolesRequest>,
) -> Result<Response<pb::ListProfileRolesResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.profile_id, ProfileId::parse);
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let mut sources = Vec::new();
    for (index, value) in request.sources.iter().enumerate() {
        match pb::RoleSource::try_from(*value) {
            Ok(pb::RoleSource::Direct) => sources.push(GrantSource::Direct),
            Ok(pb::RoleSource::Group) => sources.push(GrantSource::Group),
            Ok(pb::RoleSource::Containment) => sources.push(GrantSource::Containment),
            _ => errors.add(format!("sources[{index}]"), format!("is not a RoleSource: {value}")),
        }
    }
    errors.finish()?;
    let (Some(profile), Some(page)) = (profile, page) else { return Err(validated_fields_missing()) };
    let (grants, next_page_token) = app.list_profile_roles(&caller, profile, &sources, &page).await?;
    Ok(Response::new(pb::ListProfileRolesResponse {
        grants: grants.iter().map(grant_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn list_assignable_roles(
    app: &RoleApp,
    request: Request<pb::ListAssignableRolesRequest>,
) -> Result<Response<pb::ListAssignableRolesResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let actor = errors.optional_id("actor_profile_id", &request.actor_profile_id, ProfileId::parse);
    let target = errors.optional_id("target_profile_id", &request.target_profile_id, ProfileId::parse);
    errors.finish()?;
    let assignable = app.list_assignable_roles(&caller, actor, target).await?;
    Ok(Response::new(pb::ListAssignableRolesResponse {
        roles: assignable.roles.into_iter().collect(),
        unrestricted: assignable.unrestricted,
    }))
}

pub(super) async fn validate_assignment(
    app: &RoleApp,
    request: Request<pb::ValidateAssignmentRequest>,
) -> Result<Response<pb::ValidateAssignmentResponse>, Status> {
    use pb::validate_assignment_request::Proposal;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let mut findings: Vec<ValidationFinding> = match request.proposal {
        Some(Proposal::ProfileRole(proposal)) => {
            let profile = errors.required_id("profile_role.profile_id", &proposal.profile_id, ProfileId::parse);
            let role = errors.required_text("profile_role.role", &proposal.role, ROLE_NAME_MAX);
            errors.finish()?;
            let (Some(profile), Some(role)) = (profile, role) else { return Err(validated_fields_missing()) };
            app.validate_profile_roles(&caller, profile, ProfileRoleChange::Add(&role)).await?
        }
        Some(Proposal::ProfileRoleSet(proposal)) => {
            let profile = errors.required_id("profile_role_set.profile_id", &proposal.profile_id, ProfileId::parse);
            let roles = roles_field(&mut errors, "profile_role_set.roles", &proposal.roles);
            errors.finish()?;
            let Some(profile) = profile else { return Err(validated_fields_missing()) };
            app.validate_profile_roles(&caller, profile, ProfileRoleChange::Replace(&roles)).await?
        }
        Some(Proposal::GroupRole(proposal)) => {
            let group = errors.required_id("group_role.group_id", &proposal.group_id, GroupId::parse);
            let role = errors.required_text("group_role.role", &proposal.role, ROLE_NAME_MAX);
            errors.finish()?;
            let (Some(group), Some(role)) = (group, role) else { return Err(validated_fields_missing()) };
            app.validate_group_role(&caller, group, &role).await?
        }
        Some(Proposal::GroupMember(proposal)) => {
            let group = errors.required_id("group_member.group_id", &proposal.group_id, GroupId::parse);
            let profile = errors.required_id("group_member.profile_id", &proposal.profile_id, ProfileId::parse);
            errors.finish()?;
            let (Some(group), Some(profile)) = (group, profile) else { return Err(validated_fields_missing()) };
            app.validate_group_member(&caller, group, profile).await?
        }
        Some(Proposal::GroupParent(proposal)) => {
            let group = errors.required_id("group_parent.group_id", &proposal.group_id, GroupId::parse);
            // Empty clears the parent, as in SetGroupParent.
            let parent = errors.optional_id("group_parent.parent_group_id", &proposal.parent_group_id, GroupId::parse);
            errors.finish()?;
            let Some(group) = group else { return Err(validated_fields_missing()) };
            app.validate_group_parent(&caller, group, parent).await?
        }
        Some(Proposal::Containment(proposal)) => {
            let parent = errors.required_text("containment.parent_role", &proposal.parent_role, ROLE_NAME_MAX);
            let child = errors.required_text("containment.child_role", &proposal.child_role, ROLE_NAME_MAX);
            errors.finish()?;
            let (Some(parent), Some(child)) = (parent, child) else { return Err(validated_fields_missing()) };
            app.validate_containment(&caller, &parent, &child).await?
        }
        None => {
            errors.add("proposal", "is required");
            errors.finish()?;
            return Err(validated_fields_missing());
        }
    };
    // Blocking first.
    findings.sort_by_key(|finding| !finding.blocking);
    Ok(Response::new(pb::ValidateAssignmentResponse {
        allowed: !findings.iter().any(|finding| finding.blocking),
        findings: findings.iter().map(validation_finding_to_proto).collect(),
    }))
}

pub(super) async fn batch_get_effective_roles(
    app: &RoleApp,
    request: Request<pb::BatchGetEffectiveRolesRequest>,
) -> Result<Response<pb::BatchGetEffectiveRolesResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    if request.profile_ids.len() > MAX_BATCH_PROFILES {
        return Err(CsmError::invalid_argument(
            "BATCH_TOO_LARGE",
            format!("at most {MAX_BATCH_PROFILES} profiles per call, got {}", request.profile_ids.len()),
        )
        .into());
    }
    let mut errors = FieldErrors::new();
    if request.profile_ids.is_empty() {
        errors.add("profile_ids", "is required: 1 to 1000 profile ids");
    }
    let profiles: Vec<ProfileId> = request
        .profile_ids
        .iter()
        .enumerate()
        .filter_map(|(index, id)| errors.required_id(&format!("profile_ids[{index}]"), id, ProfileId::parse))
        .collect();
    errors.finish()?;
    let (effective, consistency_token) = app.batch_effective_roles(&caller, &profiles).await?;
    Ok(Response::new(pb::BatchGetEffectiveRolesResponse {
        effective_roles: effective.iter().map(effective_roles_to_proto).collect(),
        consistency_token,
    }))
}

pub(super) async fn get_principal_class(
    app: &RoleApp,
    request: Request<pb::GetPrincipalClassRequest>,
) -> Result<Response<pb::GetPrincipalClassResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.get_ref().profile_id, ProfileId::parse);
    errors.finish()?;
    let Some(profile) = profile else { return Err(validated_fields_missing()) };
    let (class, grants, consistency_token) = app.principal_class(&caller, profile).await?;
    Ok(Response::new(pb::GetPrincipalClassResponse {
        principal_class: class_to_proto(class) as i32,
        explicit_grants: grants.iter().map(grant_to_proto).collect(),
        consistency_token,
    }))
}

pub(super) async fn ensure_default_class(
    app: &RoleApp,
    request: Request<pb::EnsureDefaultClassRequest>,
) -> Result<Response<pb::EnsureDefaultClassResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let profile = errors.required_id("profile_id", &request.get_ref().profile_id, ProfileId::parse);
    errors.finish()?;
    let Some(profile) = profile else { return Err(validated_fields_missing()) };
    let ensured = app.ensure_default_class(&caller, profile).await?;
    let (outcome, assignment) = match &ensured.outcome {
        DefaultClassOutcome::AlreadyClassified => (pb::DefaultClassOutcome::AlreadyClassified, None),
        DefaultClassOutcome::Assigned(assignment) => {
            let outcome = if assignment.role == crate::domain::catalog::SNC_INTERNAL {
                pb::DefaultClassOutcome::AssignedInternal
            } else {
                pb::DefaultClassOutcome::AssignedExternal
            };
            (outcome, Some(assignment_to_proto(profile, assignment, false)))
        }
    };
    Ok(Response::new(pb::EnsureDefaultClassResponse {
        outcome: outcome as i32,
        principal_class: class_to_proto(ensured.class) as i32,
        assignment,
        consistency_token: ensured.consistency_token,
    }))
}

pub(super) async fn list_role_anomalies(
    app: &RoleApp,
    request: Request<pb::ListRoleAnomaliesRequest>,
) -> Result<Response<pb::ListRoleAnomaliesResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let categories = categories_field(&mut errors, &request.categories);
    errors.finish()?;
    let Some(page) = page else { return Err(validated_fields_missing()) };
    let (anomalies, next_page_token, total_count) = app.list_role_anomalies(&caller, &categories, &page).await?;
    Ok(Response::new(pb::ListRoleAnomaliesResponse {
        anomalies: anomalies.iter().map(anomaly_to_proto).collect(),
        next_page_token,
        total_count,
    }))
}

pub(super) async fn fix_role_anomalies(
    app: &RoleApp,
    request: Request<pb::FixRoleAnomaliesRequest>,
) -> Result<Response<pb::FixRoleAnomaliesResponse>, Status> {
    use crate::app::MAX_FIX_BATCH;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    if request.batch_size as usize > MAX_FIX_BATCH && request.batch_size > 0 {
        return Err(CsmError::invalid_argument(
            "BATCH_TOO_LARGE",
            format!("batch_size is at most {MAX_FIX_BATCH} (R2.16), got {}", request.batch_size),
        )
        .into());
    }
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    if request.batch_size < 0 {
        errors.add("batch_size", "must not be negative");
    }
    let categories = categories_field(&mut errors, &request.categories);
    if request.profile_ids.len() > MAX_FIX_BATCH {
        errors.add("profile_ids", format!("at most {MAX_FIX_BATCH} profiles"));
    }
    let profiles: Vec<ProfileId> = request
        .profile_ids
        .iter()
        .enumerate()
        .filter_map(|(index, id)| errors.required_id(&format!("profile_ids[{index}]"), id, ProfileId::parse))
        .collect();
    errors.finish()?;
    if let Some(manual) = categories.iter().find(|category| !category.fixable()) {
        return Err(crate::app::not_fixable(*manual).into());
    }
    let batch_size = if request.batch_size == 0 { MAX_FIX_BATCH } else { request.batch_size as usize };
    let fixed = app
        .fix_role_anomalies(&caller, request_id.as_deref(), &FixRequest { categories, profiles, batch_size })
        .await?;
    Ok(Response::new(pb::FixRoleAnomaliesResponse {
        fixes: fixed
            .fixes
            .iter()
            .map(|fix| pb::AnomalyFix {
                profile_id: fix.profile.to_string(),
                category: category_to_proto(fix.category) as i32,
                removed_roles: fix.removed.clone(),
                added_roles: fix.added.clone(),
            })
            .collect(),
        fixed_count: fixed.fixes.len() as i32,
        remaining_count: fixed.remaining,
        consistency_token: fixed.consistency_token,
    }))
}
