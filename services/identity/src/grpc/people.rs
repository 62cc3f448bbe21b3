//! gRPC handlers of identity's people RPCs (logins, employees,
//! contacts, profiles): proto ⇄ domain conversion, then the app.

use csm_errors::{FieldErrors, required_id, update_paths, validated};
use csm_proto::identity as pb;
use csm_types::{AccountId, DepartmentId, LoginId, ProfileId, SecurityGroupId, SessionId};
use tonic::{Request, Response, Status};

use super::IdentityGrpc;
use super::convert::{
    account_to_proto, channels_from_proto, details_from_proto, new_login_from_proto, principal_consumer_parts,
    profile_kind_to_proto, profile_to_proto, security_group_to_proto, session_to_proto,
};
use crate::domain::people::{
    DEFAULT_APPLICATION, Login, LoginChoice, LoginUpdate, NewContact, NewEmployee, NewLogin, NewLoginRequest,
    NewPerson, PROFILE_TEXT_MAX_LEN, Password, PersonDetails, ProfileKind, ProfileUpdate, display_name_or_default,
    validate_login_name,
};
use crate::store::people::ProfileFilter;

/// Most ids BatchGetProfiles accepts.
const BATCH_PROFILES_MAX: usize = 1000;

// ------------------------------------------------------------ conversions

fn login_to_proto(login: &Login) -> pb::Login {
    pb::Login {
        login_id: login.id.to_string(),
        login_name: login.login_name.clone(),
        enabled: login.enabled,
        default_profile_id: login.default_profile.map(|id| id.to_string()).unwrap_or_default(),
        profile_ids: login.profile_ids.iter().map(ToString::to_string).collect(),
        has_password: login.has_password,
        password_updated_at: login.password_updated_at.map(csm_proto::timestamp),
        last_login_at: login.last_login_at.map(csm_proto::timestamp),
        created_at: Some(csm_proto::timestamp(login.created_at)),
        updated_at: Some(csm_proto::timestamp(login.updated_at)),
    }
}

/// The fields employees and contacts share.
struct PersonFields<'a> {
    display_name: &'a str,
    details: Option<&'a pb::PersonDetails>,
    title: &'a str,
    manager_profile_id: &'a str,
    department_id: &'a str,
    security_group_id: &'a str,
    channels: &'a [i32],
    application: &'a str,
    login_id: Option<&'a str>,
    new_login: Option<&'a pb::NewLogin>,
}

fn person_from_proto(errors: &mut FieldErrors, fields: PersonFields<'_>) -> NewPerson {
    let details = details_from_proto(errors, "details", fields.details);
    let display_name = errors.optional_text("display_name", fields.display_name, PROFILE_TEXT_MAX_LEN);
    let display_name = display_name_or_default(&display_name, &details).unwrap_or_else(|| {
        errors.add("display_name", "is required when details.first_name and details.last_name are empty");
        String::new()
    });
    let application = errors.optional_text("application", fields.application, PROFILE_TEXT_MAX_LEN);
    let login = match (fields.login_id, fields.new_login) {
        (Some(login), _) => errors.required_id("login_id", login, LoginId::parse).map(LoginChoice::Existing),
        (None, Some(login)) => new_login_from_proto(errors, "new_login", login).map(LoginChoice::New),
        (None, None) => Some(LoginChoice::None),
    };
    NewPerson {
        display_name,
        details,
        title: errors.optional_text("title", fields.title, PROFILE_TEXT_MAX_LEN),
        manager: errors.optional_id("manager_profile_id", fields.manager_profile_id, ProfileId::parse),
        department: errors.optional_id("department_id", fields.department_id, DepartmentId::parse),
        security_group: errors.optional_id("security_group_id", fields.security_group_id, SecurityGroupId::parse),
        channels: channels_from_proto(errors, "channels", fields.channels),
        application: if application.is_empty() { DEFAULT_APPLICATION.to_owned() } else { application },
        login: login.unwrap_or(LoginChoice::None),
    }
}

// ------------------------------------------------------------------ logins

pub(super) async fn create_login(
    grpc: &IdentityGrpc,
    request: Request<pb::CreateLoginRequest>,
) -> Result<Response<pb::CreateLoginResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let login_name = errors.check("login_name", validate_login_name(&request.login_name));
    let mut profile_ids = Vec::with_capacity(request.profile_ids.len());
    for (index, value) in request.profile_ids.iter().enumerate() {
        if let Some(id) = errors.required_id(&format!("profile_ids[{index}]"), value, ProfileId::parse) {
            if profile_ids.contains(&id) {
                errors.add(format!("profile_ids[{index}]"), "is listed twice");
            }
            profile_ids.push(id);
        }
    }
    let default_profile = errors.optional_id("default_profile_id", &request.default_profile_id, ProfileId::parse);
    if let Some(default) = default_profile
        && !profile_ids.contains(&default)
    {
        errors.add("default_profile_id", "must be one of profile_ids");
    }
    errors.finish()?;
    let password = (!request.password.is_empty()).then(|| Password::new(request.password));
    let new = NewLoginRequest {
        login: NewLogin { login_name: validated(login_name)?, password },
        profile_ids,
        default_profile,
    };
    let written = app.create_login(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateLoginResponse {
        login: Some(login_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_login(
    grpc: &IdentityGrpc,
    request: Request<pb::GetLoginRequest>,
) -> Result<Response<pb::GetLoginResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let id = required_id("login_id", &request.get_ref().login_id, LoginId::parse)?;
    let login = app.get_login(&caller, id).await?;
    Ok(Response::new(pb::GetLoginResponse { login: Some(login_to_proto(&login)) }))
}

pub(super) async fn update_login(
    grpc: &IdentityGrpc,
    request: Request<pb::UpdateLoginRequest>,
) -> Result<Response<pb::UpdateLoginResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), &["login_name", "enabled", "default_profile_id"])?;
    let login = request.login.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("login.login_id", &login.login_id, LoginId::parse);
    let mut update = LoginUpdate::default();
    for path in &paths {
        match path.as_str() {
            "login_name" => {
                update.login_name = errors.check("login.login_name", validate_login_name(&login.login_name))
            }
            "enabled" => update.enabled = Some(login.enabled),
            _ => {
                update.default_profile =
                    Some(errors.optional_id("login.default_profile_id", &login.default_profile_id, ProfileId::parse))
            }
        }
    }
    errors.finish()?;
    let written = app.update_login(&caller, validated(id)?, update).await?;
    Ok(Response::new(pb::UpdateLoginResponse {
        login: Some(login_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_logins(
    grpc: &IdentityGrpc,
    request: Request<pb::ListLoginsRequest>,
) -> Result<Response<pb::ListLoginsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let prefix = errors.optional_text("login_name_prefix", &request.login_name_prefix, 254);
    errors.finish()?;
    let prefix = (!prefix.is_empty()).then_some(prefix);
    let (logins, next_page_token) = app.list_logins(&caller, &validated(page)?, prefix.as_deref()).await?;
    Ok(Response::new(pb::ListLoginsResponse { logins: logins.iter().map(login_to_proto).collect(), next_page_token }))
}

pub(super) async fn set_login_password(
    grpc: &IdentityGrpc,
    request: Request<pb::SetLoginPasswordRequest>,
) -> Result<Response<pb::SetLoginPasswordResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("login_id", &request.login_id, LoginId::parse);
    if request.new_password.is_empty() {
        errors.add("new_password", "is required");
    }
    errors.finish()?;
    let current = (!request.current_password.is_empty()).then(|| Password::new(request.current_password));
    let written = app.set_login_password(&caller, validated(id)?, Password::new(request.new_password), current).await?;
    Ok(Response::new(pb::SetLoginPasswordResponse {
        login: Some(login_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

// ------------------------------------------------------ employees, contacts

pub(super) async fn create_employee(
    grpc: &IdentityGrpc,
    request: Request<pb::CreateEmployeeRequest>,
) -> Result<Response<pb::CreateEmployeeResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let (login_id, new_login) = match &request.login {
        Some(pb::create_employee_request::Login::LoginId(login)) => (Some(login.as_str()), None),
        Some(pb::create_employee_request::Login::NewLogin(login)) => (None, Some(login)),
        None => (None, None),
    };
    let person = person_from_proto(
        &mut errors,
        PersonFields {
            display_name: &request.display_name,
            details: request.details.as_ref(),
            title: &request.title,
            manager_profile_id: &request.manager_profile_id,
            department_id: &request.department_id,
            security_group_id: &request.security_group_id,
            channels: &request.channels,
            application: &request.application,
            login_id,
            new_login,
        },
    );
    errors.finish()?;
    let written = app.create_employee(&caller, request_id.as_deref(), NewEmployee { person }).await?;
    Ok(Response::new(pb::CreateEmployeeResponse {
        profile: Some(profile_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn create_contact(
    grpc: &IdentityGrpc,
    request: Request<pb::CreateContactRequest>,
) -> Result<Response<pb::CreateContactResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let account = errors.required_id("account_id", &request.account_id, AccountId::parse);
    let (login_id, new_login) = match &request.login {
        Some(pb::create_contact_request::Login::LoginId(login)) => (Some(login.as_str()), None),
        Some(pb::create_contact_request::Login::NewLogin(login)) => (None, Some(login)),
        None => (None, None),
    };
    let person = person_from_proto(
        &mut errors,
        PersonFields {
            display_name: &request.display_name,
            details: request.details.as_ref(),
            title: &request.title,
            manager_profile_id: &request.manager_profile_id,
            department_id: &request.department_id,
            security_group_id: &request.security_group_id,
            channels: &request.channels,
            application: &request.application,
            login_id,
            new_login,
        },
    );
    errors.finish()?;
    let new = NewContact { account: validated(account)?, person };
    let written = app.create_contact(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateContactResponse {
        profile: Some(profile_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

// ---------------------------------------------------------------- profiles

pub(super) async fn get_profile(
    grpc: &IdentityGrpc,
    request: Request<pb::GetProfileRequest>,
) -> Result<Response<pb::GetProfileResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let id = required_id("profile_id", &request.get_ref().profile_id, ProfileId::parse)?;
    let profile = app.get_profile(&caller, id).await?;
    Ok(Response::new(pb::GetProfileResponse { profile: Some(profile_to_proto(&profile)) }))
}

pub(super) async fn batch_get_profiles(
    grpc: &IdentityGrpc,
    request: Request<pb::BatchGetProfilesRequest>,
) -> Result<Response<pb::BatchGetProfilesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    if request.profile_ids.len() > BATCH_PROFILES_MAX {
        errors.add("profile_ids", format!("must hold at most {BATCH_PROFILES_MAX} ids"));
    }
    let mut ids = Vec::with_capacity(request.profile_ids.len());
    for (index, value) in request.profile_ids.iter().enumerate().take(BATCH_PROFILES_MAX) {
        if let Some(id) = errors.required_id(&format!("profile_ids[{index}]"), value, ProfileId::parse) {
            ids.push(id);
        }
    }
    errors.finish()?;
    let (profiles, missing, revision) = app.batch_get_profiles(&caller, &ids).await?;
    Ok(Response::new(pb::BatchGetProfilesResponse {
        profiles: profiles.iter().map(profile_to_proto).collect(),
        missing_profile_ids: missing.iter().map(ToString::to_string).collect(),
        revision,
    }))
}

/// Every path UpdateProfile writes.
const UPDATABLE_PROFILE_PATHS: &[&str] = &[
    "display_name",
    "details",
    "details.first_name",
    "details.middle_name",
    "details.last_name",
    "details.email",
    "details.mobile_phone",
    "details.business_phone",
    "details.home_phone",
    "title",
    "application",
    "active",
    "manager_profile_id",
    "department_id",
    "account_id",
    "login_id",
    "channels",
];

pub(super) async fn update_profile(
    grpc: &IdentityGrpc,
    request: Request<pb::UpdateProfileRequest>,
) -> Result<Response<pb::UpdateProfileResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), UPDATABLE_PROFILE_PATHS)?;
    let profile = request.profile.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("profile.profile_id", &profile.profile_id, ProfileId::parse);
    let details = details_from_proto(&mut errors, "profile.details", profile.details.as_ref());
    let mut update = ProfileUpdate::default();
    for path in &paths {
        match path.as_str() {
            "display_name" => {
                update.display_name = errors.check(
                    "profile.display_name",
                    match profile.display_name.trim() {
                        "" => Err("must not be empty".to_owned()),
                        name if name.chars().count() > PROFILE_TEXT_MAX_LEN => {
                            Err(format!("must be at most {PROFILE_TEXT_MAX_LEN} characters"))
                        }
                        name => Ok(name.to_owned()),
                    },
                )
            }
            "details" => update.details = Some(details.clone()),
            "title" => update.title = Some(errors.optional_text("profile.title", &profile.title, PROFILE_TEXT_MAX_LEN)),
            "application" => {
                let application =
                    errors.optional_text("profile.application", &profile.application, PROFILE_TEXT_MAX_LEN);
                update.application =
                    Some(if application.is_empty() { DEFAULT_APPLICATION.to_owned() } else { application });
            }
            "active" => update.active = Some(profile.active),
            "manager_profile_id" => {
                update.manager = Some(errors.optional_id(
                    "profile.manager_profile_id",
                    &profile.manager_profile_id,
                    ProfileId::parse,
                ))
            }
            "department_id" => {
                update.department =
                    Some(errors.optional_id("profile.department_id", &profile.department_id, DepartmentId::parse))
            }
            "account_id" => {
                update.account = errors.required_id("profile.account_id", &profile.account_id, AccountId::parse)
            }
            "login_id" => {
                update.login = Some(errors.optional_id("profile.login_id", &profile.login_id, LoginId::parse))
            }
            "channels" => {
                update.channels = Some(channels_from_proto(&mut errors, "profile.channels", &profile.channels))
            }
            detail => {
                let field = detail.trim_start_matches("details.");
                if let Some(field) = PersonDetails::FIELDS.iter().find(|known| **known == field) {
                    update.detail_fields.push(field);
                }
            }
        }
    }
    update.detail_values = details;
    errors.finish()?;
    let written = app.update_profile(&caller, validated(id)?, update).await?;
    Ok(Response::new(pb::UpdateProfileResponse {
        profile: Some(profile_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_profiles(
    grpc: &IdentityGrpc,
    request: Request<pb::ListProfilesRequest>,
) -> Result<Response<pb::ListProfilesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let kind = match request.kind {
        0 => None,
        value => {
            let kind = ProfileKind::ALL.into_iter().find(|kind| profile_kind_to_proto(*kind) as i32 == value);
            if kind.is_none() {
                errors.add("kind", "must be a PROFILE_KIND_* value");
            }
            kind
        }
    };
    let filter = ProfileFilter {
        kind,
        login: errors.optional_id("login_id", &request.login_id, LoginId::parse),
        account: errors.optional_id("account_id", &request.account_id, AccountId::parse),
        department: errors.optional_id("department_id", &request.department_id, DepartmentId::parse),
        manager: errors.optional_id("manager_profile_id", &request.manager_profile_id, ProfileId::parse),
        security_group: errors.optional_id("security_group_id", &request.security_group_id, SecurityGroupId::parse),
        include_inactive: request.include_inactive,
    };
    errors.finish()?;
    let (profiles, next_page_token) = app.list_profiles(&caller, &filter, &validated(page)?).await?;
    Ok(Response::new(pb::ListProfilesResponse {
        profiles: profiles.iter().map(profile_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn resolve_principal(
    grpc: &IdentityGrpc,
    request: Request<pb::ResolvePrincipalRequest>,
) -> Result<Response<pb::ResolvePrincipalResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let (profile, session) = match &request.principal {
        Some(pb::resolve_principal_request::Principal::ProfileId(id)) => {
            (errors.required_id("profile_id", id, ProfileId::parse), None)
        }
        Some(pb::resolve_principal_request::Principal::SessionId(id)) => {
            (None, errors.required_id("session_id", id, SessionId::parse))
        }
        None => {
            errors.add("principal", "give profile_id or session_id");
            (None, None)
        }
    };
    errors.finish()?;
    let resolved = app.resolve_principal(&caller, profile, session).await?;
    let consumer = principal_consumer_parts(app, &resolved.profile).await?;
    Ok(Response::new(pb::ResolvePrincipalResponse {
        principal: Some(pb::Principal {
            profile: Some(profile_to_proto(&resolved.profile)),
            login: resolved.login.as_ref().map(login_to_proto),
            account: resolved.account.as_ref().map(account_to_proto),
            consumer: consumer.consumer,
            consumer_profile: consumer.consumer_profile,
            household_memberships: consumer.household_memberships,
            security_group: resolved.security_group.as_ref().map(security_group_to_proto),
            session: resolved.session.as_ref().map(session_to_proto),
        }),
        revision: resolved.revision,
    }))
}

pub(super) async fn list_account_contacts(
    grpc: &IdentityGrpc,
    request: Request<pb::ListAccountContactsRequest>,
) -> Result<Response<pb::ListAccountContactsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let account = errors.required_id("account_id", &request.account_id, AccountId::parse);
    errors.finish()?;
    let (profiles, next_page_token) = app
        .list_account_contacts(
            &caller,
            validated(account)?,
            request.include_descendants,
            request.include_inactive,
            &validated(page)?,
        )
        .await?;
    Ok(Response::new(pb::ListAccountContactsResponse {
        profiles: profiles.iter().map(profile_to_proto).collect(),
        next_page_token,
    }))
}
