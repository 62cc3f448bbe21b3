//! gRPC handlers of identity's consumers RPCs (consumers, consumer profiles,
//! households): proto ⇄ domain conversion, then the app.

use csm_errors::{FieldErrors, update_paths, validated};
use csm_proto::identity as pb;
use csm_types::{ConsumerId, HouseholdId, LoginId, ProfileId, SecurityGroupId};
use tonic::{Request, Response, Status};

use super::IdentityGrpc;
use super::convert::{
    channels_from_proto, consumer_profile_to_proto, consumer_to_proto, details_from_proto, household_member_to_proto,
    new_login_from_proto, profile_of,
};
use crate::domain::consumers::{
    CONSUMER_NAME_MAX_LEN, CONSUMER_PROFILE_IDS_MAX, ConsumerChanges, ConsumerProfileChanges, ConsumerProfileId,
    ConsumerUserChoice, Household, HouseholdChanges, HouseholdMemberStatus, NewConsumer, NewConsumerProfile,
    NewConsumerUser, NewHousehold, SUB_PROFILE_TYPE_MAX_LEN,
};
use crate::domain::people::{LoginChoice, PROFILE_TEXT_MAX_LEN, PersonDetails, display_name_or_default};
use crate::store::consumers::{ConsumerFilter, ConsumerProfileFilter, HouseholdFilter};

// ------------------------------------------------------------------ helpers

fn household_to_proto(household: &Household) -> pb::Household {
    pb::Household {
        household_id: household.id.to_string(),
        name: household.name.clone(),
        head_consumer_id: household.head.to_string(),
        active: household.active,
        created_at: Some(csm_proto::timestamp(household.created_at)),
        updated_at: Some(csm_proto::timestamp(household.updated_at)),
    }
}

// ---------------------------------------------------------------- consumers

pub(super) async fn create_consumer(
    grpc: &IdentityGrpc,
    request: Request<pb::CreateConsumerRequest>,
) -> Result<Response<pb::CreateConsumerResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let details = details_from_proto(&mut errors, "details", request.details.as_ref());
    let display_name = errors.optional_text("display_name", &request.display_name, CONSUMER_NAME_MAX_LEN);
    let display_name = display_name_or_default(&display_name, &details);
    if display_name.is_none() {
        errors.add("display_name", "is required when details has neither first_name nor last_name");
    }
    let user = match &request.user {
        None => ConsumerUserChoice::None,
        Some(pb::create_consumer_request::User::LinkProfileId(profile)) => {
            match errors.required_id("link_profile_id", profile, ProfileId::parse) {
                Some(profile) => ConsumerUserChoice::Link(profile),
                None => ConsumerUserChoice::None,
            }
        }
        Some(pb::create_consumer_request::User::NewConsumerUser(user)) => {
            let channels = channels_from_proto(&mut errors, "new_consumer_user.channels", &user.channels);
            let security_group = errors.optional_id(
                "new_consumer_user.security_group_id",
                &user.security_group_id,
                SecurityGroupId::parse,
            );
            let login = match &user.login {
                None => LoginChoice::None,
                Some(pb::new_consumer_user::Login::LoginId(login)) => {
                    match errors.required_id("new_consumer_user.login_id", login, LoginId::parse) {
                        Some(login) => LoginChoice::Existing(login),
                        None => LoginChoice::None,
                    }
                }
                Some(pb::new_consumer_user::Login::NewLogin(login)) => {
                    match new_login_from_proto(&mut errors, "new_consumer_user.new_login", login) {
                        Some(login) => LoginChoice::New(login),
                        None => LoginChoice::None,
                    }
                }
            };
            ConsumerUserChoice::New(NewConsumerUser { channels, security_group, login })
        }
    };
    errors.finish()?;
    let new = NewConsumer { display_name: validated(display_name)?, details, user };
    let written = app.create_consumer(&caller, request_id.as_deref(), new).await?;
    let user_profile = match written.value.user_profile {
        Some(profile) => profile_of(app, profile).await?,
        None => None,
    };
    Ok(Response::new(pb::CreateConsumerResponse {
        consumer: Some(consumer_to_proto(&written.value.consumer)),
        user_profile,
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_consumer(
    grpc: &IdentityGrpc,
    request: Request<pb::GetConsumerRequest>,
) -> Result<Response<pb::GetConsumerResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_id("consumer_id", &request.get_ref().consumer_id, ConsumerId::parse);
    errors.finish()?;
    let consumer = app.get_consumer(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetConsumerResponse { consumer: Some(consumer_to_proto(&consumer)) }))
}

/// UpdateConsumer's updatable paths.
const CONSUMER_UPDATE_PATHS: &[&str] = &[
    "display_name",
    "details",
    "details.first_name",
    "details.middle_name",
    "details.last_name",
    "details.email",
    "details.mobile_phone",
    "details.business_phone",
    "details.home_phone",
    "active",
];

pub(super) async fn update_consumer(
    grpc: &IdentityGrpc,
    request: Request<pb::UpdateConsumerRequest>,
) -> Result<Response<pb::UpdateConsumerResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), CONSUMER_UPDATE_PATHS)?;
    let consumer = request.consumer.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("consumer.consumer_id", &consumer.consumer_id, ConsumerId::parse);
    let details = details_from_proto(&mut errors, "consumer.details", consumer.details.as_ref());
    let mut changes = ConsumerChanges { detail_values: details, ..ConsumerChanges::default() };
    for path in &paths {
        match path.as_str() {
            "display_name" => {
                changes.display_name =
                    errors.required_text("consumer.display_name", &consumer.display_name, CONSUMER_NAME_MAX_LEN);
            }
            "active" => changes.active = Some(consumer.active),
            "details" => changes.detail_fields.extend(PersonDetails::FIELDS),
            field_path => {
                let field = field_path.trim_start_matches("details.");
                if let Some(field) = PersonDetails::FIELDS.into_iter().find(|known| *known == field) {
                    changes.detail_fields.push(field);
                }
            }
        }
    }
    changes.detail_fields.sort_unstable();
    changes.detail_fields.dedup();
    errors.finish()?;
    let written = app.update_consumer(&caller, validated(id)?, changes).await?;
    let synced_profile = match written.value.user_profile {
        Some(profile) => profile_of(app, profile).await?,
        None => None,
    };
    Ok(Response::new(pb::UpdateConsumerResponse {
        consumer: Some(consumer_to_proto(&written.value.consumer)),
        synced_profile,
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_consumers(
    grpc: &IdentityGrpc,
    request: Request<pb::ListConsumersRequest>,
) -> Result<Response<pb::ListConsumersResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let email = errors.optional_text("email", &request.email, PROFILE_TEXT_MAX_LEN);
    let user_profile = errors.optional_id("user_profile_id", &request.user_profile_id, ProfileId::parse);
    errors.finish()?;
    let filter = ConsumerFilter {
        email: Some(email).filter(|email| !email.is_empty()),
        user_profile,
        include_inactive: request.include_inactive,
        only: None,
    };
    let (consumers, next_page_token) = app.list_consumers(&caller, validated(page)?, filter).await?;
    Ok(Response::new(pb::ListConsumersResponse {
        consumers: consumers.iter().map(consumer_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn set_consumer_user(
    grpc: &IdentityGrpc,
    request: Request<pb::SetConsumerUserRequest>,
) -> Result<Response<pb::SetConsumerUserResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("consumer_id", &request.consumer_id, ConsumerId::parse);
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    errors.finish()?;
    let written = app.set_consumer_user(&caller, validated(id)?, profile).await?;
    let user_profile = match written.value.user_profile {
        Some(profile) => profile_of(app, profile).await?,
        None => None,
    };
    Ok(Response::new(pb::SetConsumerUserResponse {
        consumer: Some(consumer_to_proto(&written.value.consumer)),
        user_profile,
        consistency_token: written.consistency_token,
    }))
}

// -------------------------------------------------------- consumer profiles

pub(super) async fn create_consumer_profile(
    grpc: &IdentityGrpc,
    request: Request<pb::CreateConsumerProfileRequest>,
) -> Result<Response<pb::CreateConsumerProfileResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let consumer = errors.required_id("consumer_id", &request.consumer_id, ConsumerId::parse);
    let sub_profile_type =
        errors.required_text("sub_profile_type", &request.sub_profile_type, SUB_PROFILE_TYPE_MAX_LEN);
    let display_name = errors.optional_text("display_name", &request.display_name, CONSUMER_NAME_MAX_LEN);
    errors.finish()?;
    let new = NewConsumerProfile {
        consumer: validated(consumer)?,
        sub_profile_type: validated(sub_profile_type)?,
        display_name,
    };
    let written = app.create_consumer_profile(&caller, request_id.as_deref(), new).await?;
    let sub_profile = match written.value.profile {
        Some(profile) => profile_of(app, profile).await?,
        None => None,
    };
    Ok(Response::new(pb::CreateConsumerProfileResponse {
        consumer_profile: Some(consumer_profile_to_proto(&written.value)),
        sub_profile,
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn update_consumer_profile(
    grpc: &IdentityGrpc,
    request: Request<pb::UpdateConsumerProfileRequest>,
) -> Result<Response<pb::UpdateConsumerProfileResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), &["sub_profile_type", "display_name", "active"])?;
    let record = request.consumer_profile.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id(
        "consumer_profile.consumer_profile_id",
        &record.consumer_profile_id,
        ConsumerProfileId::parse,
    );
    let mut changes = ConsumerProfileChanges::default();
    for path in &paths {
        match path.as_str() {
            "sub_profile_type" => {
                changes.sub_profile_type = errors.required_text(
                    "consumer_profile.sub_profile_type",
                    &record.sub_profile_type,
                    SUB_PROFILE_TYPE_MAX_LEN,
                );
            }
            "display_name" => {
                changes.display_name =
                    errors.required_text("consumer_profile.display_name", &record.display_name, CONSUMER_NAME_MAX_LEN);
            }
            _ => changes.active = Some(record.active),
        }
    }
    errors.finish()?;
    let written = app.update_consumer_profile(&caller, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateConsumerProfileResponse {
        consumer_profile: Some(consumer_profile_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_consumer_profiles(
    grpc: &IdentityGrpc,
    request: Request<pb::ListConsumerProfilesRequest>,
) -> Result<Response<pb::ListConsumerProfilesResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let consumer = errors.optional_id("consumer_id", &request.consumer_id, ConsumerId::parse);
    if request.consumer_profile_ids.len() > CONSUMER_PROFILE_IDS_MAX {
        errors.add("consumer_profile_ids", format!("must list at most {CONSUMER_PROFILE_IDS_MAX} ids"));
    }
    let ids: Vec<ConsumerProfileId> = request
        .consumer_profile_ids
        .iter()
        .enumerate()
        .filter_map(|(index, id)| {
            errors.required_id(&format!("consumer_profile_ids[{index}]"), id, ConsumerProfileId::parse)
        })
        .collect();
    if request.consumer_id.trim().is_empty() && request.consumer_profile_ids.is_empty() {
        errors.add("consumer_id", "give consumer_id or consumer_profile_ids");
    }
    errors.finish()?;
    let filter =
        ConsumerProfileFilter { consumer, ids, include_inactive: request.include_inactive, consumers_in: None };
    let (records, next_page_token) = app.list_consumer_profiles(&caller, validated(page)?, filter).await?;
    Ok(Response::new(pb::ListConsumerProfilesResponse {
        consumer_profiles: records.iter().map(consumer_profile_to_proto).collect(),
        next_page_token,
    }))
}

// --------------------------------------------------------------- households

pub(super) async fn create_household(
    grpc: &IdentityGrpc,
    request: Request<pb::CreateHouseholdRequest>,
) -> Result<Response<pb::CreateHouseholdResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let name = errors.required_text("name", &request.name, CONSUMER_NAME_MAX_LEN);
    let head = errors.required_id("head_consumer_id", &request.head_consumer_id, ConsumerId::parse);
    errors.finish()?;
    let new = NewHousehold { name: validated(name)?, head: validated(head)? };
    let written = app.create_household(&caller, request_id.as_deref(), new).await?;
    Ok(Response::new(pb::CreateHouseholdResponse {
        household: Some(household_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn get_household(
    grpc: &IdentityGrpc,
    request: Request<pb::GetHouseholdRequest>,
) -> Result<Response<pb::GetHouseholdResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let mut errors = FieldErrors::new();
    let id = errors.required_id("household_id", &request.get_ref().household_id, HouseholdId::parse);
    errors.finish()?;
    let household = app.get_household(&caller, validated(id)?).await?;
    Ok(Response::new(pb::GetHouseholdResponse { household: Some(household_to_proto(&household)) }))
}

pub(super) async fn update_household(
    grpc: &IdentityGrpc,
    request: Request<pb::UpdateHouseholdRequest>,
) -> Result<Response<pb::UpdateHouseholdResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), &["name", "active", "head_consumer_id"])?;
    let household = request.household.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let id = errors.required_id("household.household_id", &household.household_id, HouseholdId::parse);
    let mut changes = HouseholdChanges::default();
    for path in &paths {
        match path.as_str() {
            "name" => changes.name = errors.required_text("household.name", &household.name, CONSUMER_NAME_MAX_LEN),
            "active" => changes.active = Some(household.active),
            _ => {
                changes.head =
                    errors.required_id("household.head_consumer_id", &household.head_consumer_id, ConsumerId::parse);
            }
        }
    }
    errors.finish()?;
    let written = app.update_household(&caller, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateHouseholdResponse {
        household: Some(household_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_households(
    grpc: &IdentityGrpc,
    request: Request<pb::ListHouseholdsRequest>,
) -> Result<Response<pb::ListHouseholdsResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let member = errors.optional_id("member_consumer_id", &request.member_consumer_id, ConsumerId::parse);
    let head = errors.optional_id("head_consumer_id", &request.head_consumer_id, ConsumerId::parse);
    errors.finish()?;
    let filter = HouseholdFilter {
        member,
        include_former: request.include_former,
        head,
        include_inactive: request.include_inactive,
        members_any: None,
    };
    let (households, next_page_token) = app.list_households(&caller, validated(page)?, filter).await?;
    Ok(Response::new(pb::ListHouseholdsResponse {
        households: households.iter().map(household_to_proto).collect(),
        next_page_token,
    }))
}

pub(super) async fn set_household_membership(
    grpc: &IdentityGrpc,
    request: Request<pb::SetHouseholdMembershipRequest>,
) -> Result<Response<pb::SetHouseholdMembershipResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let household = errors.required_id("household_id", &request.household_id, HouseholdId::parse);
    let consumer = errors.required_id("consumer_id", &request.consumer_id, ConsumerId::parse);
    let status = match pb::HouseholdMemberStatus::try_from(request.status) {
        Ok(pb::HouseholdMemberStatus::Current) => Some(HouseholdMemberStatus::Current),
        Ok(pb::HouseholdMemberStatus::Former) => Some(HouseholdMemberStatus::Former),
        _ => {
            errors.add("status", "must be HOUSEHOLD_MEMBER_STATUS_CURRENT or HOUSEHOLD_MEMBER_STATUS_FORMER");
            None
        }
    };
    errors.finish()?;
    let written =
        app.set_household_membership(&caller, validated(household)?, validated(consumer)?, validated(status)?).await?;
    Ok(Response::new(pb::SetHouseholdMembershipResponse {
        member: Some(household_member_to_proto(&written.value)),
        consistency_token: written.consistency_token,
    }))
}

pub(super) async fn list_household_members(
    grpc: &IdentityGrpc,
    request: Request<pb::ListHouseholdMembersRequest>,
) -> Result<Response<pb::ListHouseholdMembersResponse>, Status> {
    let app = grpc.app.get()?;
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let page = csm_db::PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    let household = errors.required_id("household_id", &request.household_id, HouseholdId::parse);
    errors.finish()?;
    let (members, next_page_token) =
        app.list_household_members(&caller, validated(page)?, validated(household)?, request.include_former).await?;
    Ok(Response::new(pb::ListHouseholdMembersResponse {
        members: members.iter().map(household_member_to_proto).collect(),
        next_page_token,
    }))
}
