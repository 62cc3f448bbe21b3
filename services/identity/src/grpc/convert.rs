//! Wire forms identity's areas share: the proto ⇄ domain conversions of
//! profiles, people details, channels, sessions, accounts, security groups and
//! consumers that more than one area answers with. Imports no area module, so
//! the areas depend on it and never on each other.

use csm_errors::FieldErrors;
use csm_proto::identity as pb;
use csm_types::ProfileId;
use tonic::Status;

use crate::app::IdentityApp;
use crate::domain::accounts::{Account, AccountKind};
use crate::domain::consumers::{Consumer, ConsumerProfile, HouseholdMember, HouseholdMemberStatus};
use crate::domain::directory::{SecurityGroup, SecurityGroupKind, UserClass};
use crate::domain::people::{
    Channel, NewLogin, PROFILE_TEXT_MAX_LEN, Password, PersonDetails, Profile, ProfileKind, validate_login_name,
};
use crate::domain::sessions::{Session, SessionState};

pub(super) fn channel_to_proto(channel: Channel) -> pb::Channel {
    match channel {
        Channel::Desktop => pb::Channel::Desktop,
        Channel::Browser => pb::Channel::Browser,
        Channel::Mobile => pb::Channel::Mobile,
        Channel::OutlookAddin => pb::Channel::OutlookAddin,
        Channel::Api => pb::Channel::Api,
        Channel::Administrator => pb::Channel::Administrator,
        Channel::EmployeePortal => pb::Channel::EmployeePortal,
        Channel::CustomerPortal => pb::Channel::CustomerPortal,
        Channel::ConsumerPortal => pb::Channel::ConsumerPortal,
    }
}

pub(super) fn channel_from_proto(value: i32) -> Option<Channel> {
    Channel::ALL.into_iter().find(|channel| channel_to_proto(*channel) as i32 == value)
}

/// Channels of a request; each UNSPECIFIED or unknown value is a violation
/// named `<field>[<index>]`.
pub(super) fn channels_from_proto(errors: &mut FieldErrors, field: &str, values: &[i32]) -> Vec<Channel> {
    let mut channels = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        match channel_from_proto(*value) {
            Some(channel) => channels.push(channel),
            None => errors.add(format!("{field}[{index}]"), "must be a CHANNEL_* value other than UNSPECIFIED"),
        }
    }
    channels
}

pub(super) fn profile_kind_to_proto(kind: ProfileKind) -> pb::ProfileKind {
    match kind {
        ProfileKind::Internal => pb::ProfileKind::Internal,
        ProfileKind::Contact => pb::ProfileKind::Contact,
        ProfileKind::PartnerContact => pb::ProfileKind::PartnerContact,
        ProfileKind::Consumer => pb::ProfileKind::Consumer,
        ProfileKind::ConsumerSubProfile => pb::ProfileKind::ConsumerSubProfile,
    }
}

pub(super) fn security_group_kind_to_proto(kind: SecurityGroupKind) -> pb::SecurityGroupKind {
    match kind {
        SecurityGroupKind::User => pb::SecurityGroupKind::User,
        SecurityGroupKind::Customer => pb::SecurityGroupKind::Customer,
        SecurityGroupKind::Anonymous => pb::SecurityGroupKind::Anonymous,
    }
}

pub(super) fn details_to_proto(details: &PersonDetails) -> pb::PersonDetails {
    pb::PersonDetails {
        first_name: details.first_name.clone(),
        middle_name: details.middle_name.clone(),
        last_name: details.last_name.clone(),
        email: details.email.clone(),
        mobile_phone: details.mobile_phone.clone(),
        business_phone: details.business_phone.clone(),
        home_phone: details.home_phone.clone(),
    }
}

/// Person details, trimmed, each at most [`PROFILE_TEXT_MAX_LEN`] characters;
/// violations are named `<prefix>.<field>`.
pub(super) fn details_from_proto(
    errors: &mut FieldErrors,
    prefix: &str,
    details: Option<&pb::PersonDetails>,
) -> PersonDetails {
    let details = details.cloned().unwrap_or_default();
    let mut text =
        |field: &str, value: &str| errors.optional_text(&format!("{prefix}.{field}"), value, PROFILE_TEXT_MAX_LEN);
    PersonDetails {
        first_name: text("first_name", &details.first_name),
        middle_name: text("middle_name", &details.middle_name),
        last_name: text("last_name", &details.last_name),
        email: text("email", &details.email),
        mobile_phone: text("mobile_phone", &details.mobile_phone),
        business_phone: text("business_phone", &details.business_phone),
        home_phone: text("home_phone", &details.home_phone),
    }
}

/// The wire form of a profile (R1.9, R6.4).
pub(super) fn profile_to_proto(profile: &Profile) -> pb::Profile {
    let id = |value: Option<String>| value.unwrap_or_default();
    pb::Profile {
        profile_id: profile.id.to_string(),
        kind: profile_kind_to_proto(profile.kind) as i32,
        user_class: user_class_to_proto(profile.user_class()) as i32,
        login_id: id(profile.login.map(|login| login.to_string())),
        display_name: profile.display_name.clone(),
        details: Some(details_to_proto(&profile.details)),
        active: profile.active,
        application: profile.application.clone(),
        account_id: id(profile.account.map(|account| account.to_string())),
        partner: profile.partner(),
        consumer_id: id(profile.consumer.map(|consumer| consumer.to_string())),
        parent_profile_id: id(profile.parent_profile.map(|parent| parent.to_string())),
        consumer_profile_id: id(profile.consumer_profile.map(|record| record.to_string())),
        sub_profile_type: profile.sub_profile_type.clone(),
        manager_profile_id: id(profile.manager.map(|manager| manager.to_string())),
        department_id: id(profile.department.map(|department| department.to_string())),
        title: profile.title.clone(),
        security_group_id: id(profile.security_group.map(|group| group.to_string())),
        security_group_kind: security_group_kind_to_proto(profile.kind.security_group_kind()) as i32,
        channels: profile.channels.iter().map(|channel| channel_to_proto(*channel) as i32).collect(),
        created_at: Some(csm_proto::timestamp(profile.created_at)),
        updated_at: Some(csm_proto::timestamp(profile.updated_at)),
    }
}

pub(super) fn session_to_proto(session: &Session) -> pb::Session {
    pb::Session {
        session_id: session.id.to_string(),
        login_id: session.login.to_string(),
        channel: channel_to_proto(session.channel) as i32,
        active_profile_id: session.active_profile.to_string(),
        active_profile_kind: profile_kind_to_proto(session.active_profile_kind) as i32,
        presentation_role: session.presentation_role.clone(),
        state: match session.state {
            SessionState::Active => pb::SessionState::Active,
            SessionState::Ended => pb::SessionState::Ended,
        } as i32,
        started_at: Some(csm_proto::timestamp(session.started_at)),
        profile_switched_at: session.profile_switched_at.map(csm_proto::timestamp),
        ended_at: session.ended_at.map(csm_proto::timestamp),
        last_active_at: Some(csm_proto::timestamp(session.last_active_at)),
        end_reason: session.end_reason.map(|reason| reason.as_str().to_owned()).unwrap_or_default(),
    }
}

pub(super) fn new_login_from_proto(errors: &mut FieldErrors, prefix: &str, login: &pb::NewLogin) -> Option<NewLogin> {
    let login_name = errors.check(&format!("{prefix}.login_name"), validate_login_name(&login.login_name))?;
    let password = (!login.password.is_empty()).then(|| Password::new(login.password.clone()));
    Some(NewLogin { login_name, password })
}

pub(super) fn account_to_proto(account: &Account) -> pb::Account {
    pb::Account {
        account_id: account.id.to_string(),
        name: account.name.clone(),
        kind: match account.kind {
            AccountKind::Customer => pb::AccountKind::Customer,
            AccountKind::Partner => pb::AccountKind::Partner,
        } as i32,
        parent_account_id: account.parent.map(|id| id.to_string()).unwrap_or_default(),
        active: account.active,
        created_at: Some(csm_proto::timestamp(account.created_at)),
        updated_at: Some(csm_proto::timestamp(account.updated_at)),
    }
}

/// The wire form of a security group (also used by other areas, e.g. a principal's group).
pub(super) fn security_group_to_proto(group: &SecurityGroup) -> pb::SecurityGroup {
    pb::SecurityGroup {
        security_group_id: group.id.to_string(),
        name: group.name.clone(),
        kind: security_group_kind_to_proto(group.kind) as i32,
        description: group.description.clone(),
        presentation_roles: group.presentation_roles.roles().to_vec(),
        default_presentation_role: group.presentation_roles.default_role().to_owned(),
        default_group: group.default_group,
        created_at: Some(csm_proto::timestamp(group.created_at)),
        updated_at: Some(csm_proto::timestamp(group.updated_at)),
    }
}

/// The wire form of a user class.
pub(super) fn user_class_to_proto(class: UserClass) -> pb::UserClass {
    match class {
        UserClass::SysUser => pb::UserClass::SysUser,
        UserClass::CustomerContact => pb::UserClass::CustomerContact,
        UserClass::ConsumerUser => pb::UserClass::ConsumerUser,
    }
}

/// The wire form of a profile this area wrote, read back after the write.
pub(super) async fn profile_of(app: &IdentityApp, profile: ProfileId) -> Result<Option<pb::Profile>, Status> {
    let profile = app.profile_after_write(profile).await?;
    Ok(Some(profile_to_proto(&profile)))
}

/// The consumer parts of a principal, in wire form (ResolvePrincipal).
pub(super) struct PrincipalConsumerParts {
    pub consumer: Option<pb::Consumer>,
    pub consumer_profile: Option<pb::ConsumerProfile>,
    pub household_memberships: Vec<pb::HouseholdMember>,
}

/// The consumer record, consumer profile and household memberships of a
/// principal's profile (R1.3, R1.5, R1.17), for ResolvePrincipal.
pub(super) async fn principal_consumer_parts(
    app: &IdentityApp,
    profile: &Profile,
) -> Result<PrincipalConsumerParts, Status> {
    let parts = app.principal_consumer(profile).await?;
    Ok(PrincipalConsumerParts {
        consumer: parts.consumer.as_ref().map(consumer_to_proto),
        consumer_profile: parts.consumer_profile.as_ref().map(consumer_profile_to_proto),
        household_memberships: parts.household_memberships.iter().map(household_member_to_proto).collect(),
    })
}

pub(super) fn consumer_to_proto(consumer: &Consumer) -> pb::Consumer {
    pb::Consumer {
        consumer_id: consumer.id.to_string(),
        display_name: consumer.display_name.clone(),
        details: Some(details_to_proto(&consumer.details)),
        user_profile_id: consumer.user_profile.map(|id| id.to_string()).unwrap_or_default(),
        active: consumer.active,
        created_at: Some(csm_proto::timestamp(consumer.created_at)),
        updated_at: Some(csm_proto::timestamp(consumer.updated_at)),
    }
}

pub(super) fn consumer_profile_to_proto(record: &ConsumerProfile) -> pb::ConsumerProfile {
    pb::ConsumerProfile {
        consumer_profile_id: record.id.to_string(),
        consumer_id: record.consumer.to_string(),
        sub_profile_type: record.sub_profile_type.clone(),
        display_name: record.display_name.clone(),
        active: record.active,
        profile_id: record.profile.map(|id| id.to_string()).unwrap_or_default(),
        created_at: Some(csm_proto::timestamp(record.created_at)),
        updated_at: Some(csm_proto::timestamp(record.updated_at)),
    }
}

/// The wire form of a household membership (also a principal's memberships).
pub(super) fn household_member_to_proto(member: &HouseholdMember) -> pb::HouseholdMember {
    pb::HouseholdMember {
        household_id: member.household.to_string(),
        consumer_id: member.consumer.to_string(),
        status: match member.status {
            HouseholdMemberStatus::Current => pb::HouseholdMemberStatus::Current,
            HouseholdMemberStatus::Former => pb::HouseholdMemberStatus::Former,
        } as i32,
        head: member.head,
        joined_at: Some(csm_proto::timestamp(member.joined_at)),
        left_at: member.left_at.map(csm_proto::timestamp),
    }
}
