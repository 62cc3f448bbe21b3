//! identity people: logins, profiles, sessions (the active profile), employees
//! and contacts — pure types and rules, no I/O (SPEC R1.1–R1.10, R2.13–R2.14,
//! R4.8, R6.1, R6.3–R6.4).

use csm_types::roles;

use chrono::{DateTime, Utc};
use csm_types::{AccountId, ConsumerId, DepartmentId, LoginId, ProfileId, SecurityGroupId};

mod password;

pub use password::{PASSWORD_MAX_LEN, PASSWORD_MIN_LEN, Password, check_password_policy, password_hash};

pub use crate::domain::directory::{IdentitySettings, SecurityGroupKind, UserClass};

// ---------------------------------------------------------------- kinds

/// The kind of a profile: one persona of a person (R1.2, R1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProfileKind {
    /// Employee (agent, manager, staff): a Cherwell User (R1.1, R1.7).
    Internal,
    /// B2B contact of one CUSTOMER account (R1.2, R1.4).
    Contact,
    /// Contact of one PARTNER account (R1.2).
    PartnerContact,
    /// Consumer-user linked to a consumer record (R1.3).
    Consumer,
    /// Sub-profile (patient, constituent …) under a CONSUMER profile (R1.10b, R1.17).
    ConsumerSubProfile,
}

impl ProfileKind {
    pub const ALL: [ProfileKind; 5] = [
        ProfileKind::Internal,
        ProfileKind::Contact,
        ProfileKind::PartnerContact,
        ProfileKind::Consumer,
        ProfileKind::ConsumerSubProfile,
    ];

    /// The stored name (`profiles.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileKind::Internal => "internal",
            ProfileKind::Contact => "contact",
            ProfileKind::PartnerContact => "partner_contact",
            ProfileKind::Consumer => "consumer",
            ProfileKind::ConsumerSubProfile => "consumer_sub_profile",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    /// The ServiceNow user record class the kind corresponds to (R1.3, R2.13a).
    pub fn user_class(self) -> UserClass {
        match self {
            ProfileKind::Internal => UserClass::SysUser,
            ProfileKind::Contact | ProfileKind::PartnerContact => UserClass::CustomerContact,
            ProfileKind::Consumer | ProfileKind::ConsumerSubProfile => UserClass::ConsumerUser,
        }
    }

    /// Contacts have exactly one primary account (R1.4).
    pub fn is_contact(self) -> bool {
        matches!(self, ProfileKind::Contact | ProfileKind::PartnerContact)
    }

    /// The kind of Cherwell security group the profile belongs in (R1.8):
    /// Users (INTERNAL) in a USER group, everyone else in a CUSTOMER group.
    pub fn security_group_kind(self) -> SecurityGroupKind {
        match self {
            ProfileKind::Internal => SecurityGroupKind::User,
            _ => SecurityGroupKind::Customer,
        }
    }
}

/// A client channel a session is opened on (R1.7, R7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Desktop,
    Browser,
    Mobile,
    OutlookAddin,
    Api,
    Administrator,
    EmployeePortal,
    CustomerPortal,
    ConsumerPortal,
}

impl Channel {
    pub const ALL: [Channel; 9] = [
        Channel::Desktop,
        Channel::Browser,
        Channel::Mobile,
        Channel::OutlookAddin,
        Channel::Api,
        Channel::Administrator,
        Channel::EmployeePortal,
        Channel::CustomerPortal,
        Channel::ConsumerPortal,
    ];

    /// The stored name (`profiles.channels`, `sessions.channel`).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Desktop => "desktop",
            Channel::Browser => "browser",
            Channel::Mobile => "mobile",
            Channel::OutlookAddin => "outlook_addin",
            Channel::Api => "api",
            Channel::Administrator => "administrator",
            Channel::EmployeePortal => "employee_portal",
            Channel::CustomerPortal => "customer_portal",
            Channel::ConsumerPortal => "consumer_portal",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|channel| channel.as_str() == value)
    }

    /// Channels of Cherwell Users (desktop, browser, mobile … employee portal).
    pub fn is_user_channel(self) -> bool {
        !matches!(self, Channel::CustomerPortal | Channel::ConsumerPortal)
    }

    /// Portal channels: holding one makes a Customer need a CUSTOMER group (R1.8).
    pub fn is_portal(self) -> bool {
        matches!(self, Channel::CustomerPortal | Channel::ConsumerPortal)
    }
}

/// R1.7: which channels a profile may hold credentials for. USER channels
/// only INTERNAL profiles; CUSTOMER_PORTAL only contacts; CONSUMER_PORTAL
/// CONSUMER profiles and any profile linked to a consumer record (R1.11,
/// R1.12). A CONSUMER_SUB_PROFILE holds its parent's channels, never its own.
pub fn channel_allowed(kind: ProfileKind, linked_to_consumer: bool, channel: Channel) -> bool {
    match channel {
        Channel::CustomerPortal => kind.is_contact(),
        Channel::ConsumerPortal => {
            kind == ProfileKind::Consumer || (linked_to_consumer && kind != ProfileKind::ConsumerSubProfile)
        }
        _ => kind == ProfileKind::Internal,
    }
}

/// The first channel of `channels` that `kind` may not hold (R1.7).
pub fn first_forbidden_channel(kind: ProfileKind, linked_to_consumer: bool, channels: &[Channel]) -> Option<Channel> {
    channels.iter().copied().find(|channel| !channel_allowed(kind, linked_to_consumer, *channel))
}

/// Channels in their stored form: sorted, deduplicated, comma-separated.
pub fn format_channels(channels: &[Channel]) -> String {
    normalize_channels(channels).iter().map(|channel| channel.as_str()).collect::<Vec<_>>().join(",")
}

/// The stored form back; unknown names are an error (corrupt row).
pub fn parse_channels(stored: &str) -> Result<Vec<Channel>, String> {
    stored
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| Channel::parse(name).ok_or_else(|| format!("unknown channel {name:?}")))
        .collect::<Result<Vec<_>, _>>()
        .map(|channels| normalize_channels(&channels))
}

/// Sorted and deduplicated.
pub fn normalize_channels(channels: &[Channel]) -> Vec<Channel> {
    let mut normalized = channels.to_vec();
    normalized.sort();
    normalized.dedup();
    normalized
}

// ---------------------------------------------------------------- records

/// Personal data of a person (the fields R1.18 synchronizes from consumers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonDetails {
    pub first_name: String,
    pub middle_name: String,
    pub last_name: String,
    pub email: String,
    pub mobile_phone: String,
    pub business_phone: String,
    pub home_phone: String,
}

impl PersonDetails {
    /// The names of the fields, as update paths (`details.<field>`) use them.
    pub const FIELDS: [&'static str; 7] =
        ["first_name", "middle_name", "last_name", "email", "mobile_phone", "business_phone", "home_phone"];

    /// Copies `field` (one of [`Self::FIELDS`]) from `source`; false for an unknown field.
    pub fn copy_field(&mut self, field: &str, source: &PersonDetails) -> bool {
        let (target, value) = match field {
            "first_name" => (&mut self.first_name, &source.first_name),
            "middle_name" => (&mut self.middle_name, &source.middle_name),
            "last_name" => (&mut self.last_name, &source.last_name),
            "email" => (&mut self.email, &source.email),
            "mobile_phone" => (&mut self.mobile_phone, &source.mobile_phone),
            "business_phone" => (&mut self.business_phone, &source.business_phone),
            "home_phone" => (&mut self.home_phone, &source.home_phone),
            _ => return false,
        };
        *target = value.clone();
        true
    }

    /// "<first_name> <last_name>", the default display name.
    pub fn full_name(&self) -> String {
        [self.first_name.trim(), self.last_name.trim()]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The display name a new profile gets: the given one, else "<first> <last>".
/// None when both are empty.
pub fn display_name_or_default(display_name: &str, details: &PersonDetails) -> Option<String> {
    let given = display_name.trim();
    if !given.is_empty() {
        return Some(given.to_owned());
    }
    let full_name = details.full_name();
    (!full_name.is_empty()).then_some(full_name)
}

/// Maximum length of names and other free text of a profile.
pub const PROFILE_TEXT_MAX_LEN: usize = 200;
/// The application a profile belongs to when none is given (R1.10c).
pub const DEFAULT_APPLICATION: &str = "csm";

/// A profile: one persona of a person (R1.2, R1.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub id: ProfileId,
    pub kind: ProfileKind,
    pub login: Option<LoginId>,
    pub display_name: String,
    pub details: PersonDetails,
    pub active: bool,
    pub application: String,
    /// Primary account of a contact (R1.4).
    pub account: Option<AccountId>,
    /// Linked consumer record (R1.3, R1.11, R1.12).
    pub consumer: Option<ConsumerId>,
    /// For a CONSUMER_SUB_PROFILE: its CONSUMER profile.
    pub parent_profile: Option<ProfileId>,
    /// For a CONSUMER_SUB_PROFILE: its consumer profile record (R1.17).
    pub consumer_profile: Option<uuid::Uuid>,
    pub sub_profile_type: String,
    /// R6.3, R6.4.
    pub manager: Option<ProfileId>,
    pub department: Option<DepartmentId>,
    pub title: String,
    pub security_group: Option<SecurityGroupId>,
    /// Channels held (R1.7); a sub-profile's are its parent's.
    pub channels: Vec<Channel>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Profile {
    pub fn user_class(&self) -> UserClass {
        self.kind.user_class()
    }

    /// True iff the profile is a PARTNER_CONTACT.
    pub fn partner(&self) -> bool {
        self.kind == ProfileKind::PartnerContact
    }

    pub fn holds_channel(&self, channel: Channel) -> bool {
        self.channels.contains(&channel)
    }
}

/// A login: one set of credentials owning 1..n profiles (R1.9). Never carries
/// the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub id: LoginId,
    pub login_name: String,
    pub enabled: bool,
    pub default_profile: Option<ProfileId>,
    /// Owned profiles, by id.
    pub profile_ids: Vec<ProfileId>,
    pub has_password: bool,
    pub password_updated_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Maximum length of a login name.
pub const LOGIN_NAME_MAX_LEN: usize = 254;

/// Validates a login name: non-blank, at most [`LOGIN_NAME_MAX_LEN`]
/// characters, no whitespace or control characters. Returns the trimmed name.
pub fn validate_login_name(name: &str) -> Result<String, String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err("is required".to_owned());
    }
    if trimmed.chars().count() > LOGIN_NAME_MAX_LEN {
        return Err(format!("must be at most {LOGIN_NAME_MAX_LEN} characters"));
    }
    if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".to_owned());
    }
    Ok(trimmed.to_owned())
}

/// The uniqueness key of a login name: names compare case-insensitively.
pub fn login_name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

/// A new login created with a profile or by CreateLogin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLogin {
    pub login_name: String,
    pub password: Option<Password>,
}

/// Which login a new profile joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginChoice {
    /// No login yet: the profile cannot log in.
    None,
    /// Join an existing login (R1.9, R1.10).
    Existing(LoginId),
    /// Create a login for it.
    New(NewLogin),
}

/// A validated CreateLogin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLoginRequest {
    pub login: NewLogin,
    /// Existing login-less profiles to attach.
    pub profile_ids: Vec<ProfileId>,
    /// One of `profile_ids`.
    pub default_profile: Option<ProfileId>,
}

/// Changes of UpdateLogin (only the masked paths are Some).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginUpdate {
    pub login_name: Option<String>,
    pub enabled: Option<bool>,
    /// Some(None) clears the default profile.
    pub default_profile: Option<Option<ProfileId>>,
}

/// What a profile-creating RPC asks for, common to employees and contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    pub display_name: String,
    pub details: PersonDetails,
    pub title: String,
    pub manager: Option<ProfileId>,
    pub department: Option<DepartmentId>,
    pub security_group: Option<SecurityGroupId>,
    pub channels: Vec<Channel>,
    pub application: String,
    pub login: LoginChoice,
}

/// A validated CreateEmployee request (R1.1, R6.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEmployee {
    pub person: NewPerson,
}

/// A validated CreateContact request (R1.2, R1.4, R2.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub account: AccountId,
    pub person: NewPerson,
}

/// A profile row about to be inserted (kind and account already decided).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileDraft {
    pub id: ProfileId,
    pub kind: ProfileKind,
    pub login: Option<LoginId>,
    pub display_name: String,
    pub details: PersonDetails,
    pub application: String,
    pub account: Option<AccountId>,
    pub consumer: Option<ConsumerId>,
    pub parent_profile: Option<ProfileId>,
    pub consumer_profile: Option<uuid::Uuid>,
    pub sub_profile_type: String,
    pub manager: Option<ProfileId>,
    pub department: Option<DepartmentId>,
    pub title: String,
    pub security_group: Option<SecurityGroupId>,
    pub channels: Vec<Channel>,
}

/// Changes of UpdateProfile: only the masked paths are Some (R1.4, R1.7,
/// R1.9, R4.8, R6.4). `Some(None)` clears an optional reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileUpdate {
    pub display_name: Option<String>,
    /// Whole details (path `details`).
    pub details: Option<PersonDetails>,
    /// Single detail fields (paths `details.<field>`), with the new values in
    /// `detail_values`.
    pub detail_fields: Vec<&'static str>,
    pub detail_values: PersonDetails,
    pub title: Option<String>,
    pub application: Option<String>,
    pub active: Option<bool>,
    pub manager: Option<Option<ProfileId>>,
    pub department: Option<Option<DepartmentId>>,
    pub account: Option<AccountId>,
    pub login: Option<Option<LoginId>>,
    pub channels: Option<Vec<Channel>>,
}

impl ProfileUpdate {
    /// Only display name and personal details: what a person may change on
    /// its own profiles.
    pub fn is_self_service(&self) -> bool {
        self.title.is_none()
            && self.application.is_none()
            && self.active.is_none()
            && self.manager.is_none()
            && self.department.is_none()
            && self.account.is_none()
            && self.login.is_none()
            && self.channels.is_none()
    }

    /// Applies the plain field changes to `profile` (references are checked
    /// and applied by the caller, which needs the store for them).
    pub fn apply_fields(&self, profile: &mut Profile) {
        if let Some(display_name) = &self.display_name {
            profile.display_name = display_name.clone();
        }
        if let Some(details) = &self.details {
            profile.details = details.clone();
        }
        for field in &self.detail_fields {
            profile.details.copy_field(field, &self.detail_values);
        }
        if let Some(title) = &self.title {
            profile.title = title.clone();
        }
        if let Some(application) = &self.application {
            profile.application = application.clone();
        }
        if let Some(active) = self.active {
            profile.active = active;
        }
        if let Some(manager) = self.manager {
            profile.manager = manager;
        }
        if let Some(department) = self.department {
            profile.department = department;
        }
        if let Some(account) = self.account {
            profile.account = Some(account);
        }
        if let Some(login) = self.login {
            profile.login = login;
        }
        if let Some(channels) = &self.channels {
            profile.channels = normalize_channels(channels);
        }
    }
}

/// UpdateProfile paths that name a field that exists but cannot be written.
pub const PROFILE_READ_ONLY_PATHS: [&str; 12] = [
    "profile_id",
    "kind",
    "user_class",
    "partner",
    "consumer_id",
    "parent_profile_id",
    "consumer_profile_id",
    "sub_profile_type",
    "security_group_id",
    "security_group_kind",
    "created_at",
    "updated_at",
];

/// R6.4: setting `new_manager` as the manager of `profile` would close a cycle
/// when the manager is the profile itself or `profile` is on the new manager's
/// management chain (`chain_above_new_manager`: the new manager's manager, its
/// manager, …).
pub fn manager_cycle(profile: ProfileId, new_manager: ProfileId, chain_above_new_manager: &[ProfileId]) -> bool {
    new_manager == profile || chain_above_new_manager.contains(&profile)
}

// ---------------------------------------------------------------- explicit roles

/// The external explicit role (R2.7).
pub use csm_types::roles::SNC_EXTERNAL;
/// The internal explicit role (R2.7).
pub use csm_types::roles::SNC_INTERNAL;

/// R2.13a: the explicit role a profile of `class` holding neither explicit
/// role is given at (first) login: snc_external when its class is on the
/// enforced internal-user deny list, else snc_internal.
pub fn first_login_explicit_role(settings: &IdentitySettings, class: UserClass) -> &'static str {
    if settings.first_login_gets_external(class) { SNC_EXTERNAL } else { SNC_INTERNAL }
}

// ---------------------------------------------------------------- who may

/// Roles that administer logins, passwords of others and employees.
pub const PEOPLE_ADMIN_ROLES: &[&str] = &[roles::ADMIN];

/// Roles that may create and update contacts of any account (T4.3 manager
/// row: "create accounts, contacts, consumers"; CRM data managers).
pub const CONTACT_ADMIN_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::MANAGER,
    roles::CRM_FOUNDATION_ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
    roles::CRM_ACCOUNT_DATA_MANAGER,
    roles::CONTACT_MANAGER,
];

pub use csm_types::visibility::{DELEGATED_CONTACT_ADMIN_ROLES, PROFILE_READER_ROLES};

/// R4.8 scope of a delegated admin: the accounts whose contacts it manages.
/// A customer admin: {acct(me)} ∪ DESC(acct(me)). A partner admin also
/// manages its partner customers (PCUST), which need the account-team
/// service; until it exists those are out of scope (denied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminScope {
    pub accounts: Vec<AccountId>,
}

impl AdminScope {
    pub fn contains(&self, account: AccountId) -> bool {
        self.accounts.contains(&account)
    }
}

/// A profile for unit tests (here and in the sessions rules).
#[cfg(test)]
pub(crate) fn test_profile(kind: ProfileKind, login: Option<LoginId>, channels: &[Channel], active: bool) -> Profile {
    let now = Utc::now();
    Profile {
        id: ProfileId::new(),
        kind,
        login,
        display_name: "P".into(),
        details: PersonDetails::default(),
        active,
        application: DEFAULT_APPLICATION.into(),
        account: None,
        consumer: None,
        parent_profile: None,
        consumer_profile: None,
        sub_profile_type: String::new(),
        manager: None,
        department: None,
        title: String::new(),
        security_group: None,
        channels: channels.to_vec(),
        created_at: now,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use test_profile as profile;

    #[test]
    fn kinds_and_classes_round_trip_their_stored_names() {
        for kind in ProfileKind::ALL {
            assert_eq!(ProfileKind::parse(kind.as_str()), Some(kind));
        }
        for channel in Channel::ALL {
            assert_eq!(Channel::parse(channel.as_str()), Some(channel));
        }
        assert_eq!(ProfileKind::parse("employee"), None);
    }

    #[test]
    fn r1_3_user_class_follows_the_profile_kind() {
        assert_eq!(ProfileKind::Internal.user_class(), UserClass::SysUser);
        assert_eq!(ProfileKind::Contact.user_class(), UserClass::CustomerContact);
        assert_eq!(ProfileKind::PartnerContact.user_class(), UserClass::CustomerContact);
        assert_eq!(ProfileKind::Consumer.user_class(), UserClass::ConsumerUser);
        assert_eq!(ProfileKind::ConsumerSubProfile.user_class(), UserClass::ConsumerUser);
    }

    #[test]
    fn r1_7_user_channels_are_for_employees_and_portals_for_customers() {
        assert!(channel_allowed(ProfileKind::Internal, false, Channel::Desktop));
        assert!(!channel_allowed(ProfileKind::Internal, false, Channel::CustomerPortal));
        assert!(!channel_allowed(ProfileKind::Internal, false, Channel::ConsumerPortal));
        // Employee-as-consumer (R1.12) may use the consumer portal.
        assert!(channel_allowed(ProfileKind::Internal, true, Channel::ConsumerPortal));
        assert!(channel_allowed(ProfileKind::Contact, false, Channel::CustomerPortal));
        assert!(!channel_allowed(ProfileKind::Contact, false, Channel::Browser));
        // Contact-as-consumer (R1.11).
        assert!(channel_allowed(ProfileKind::Contact, true, Channel::ConsumerPortal));
        assert!(channel_allowed(ProfileKind::Consumer, true, Channel::ConsumerPortal));
        assert!(!channel_allowed(ProfileKind::Consumer, true, Channel::CustomerPortal));
        assert_eq!(
            first_forbidden_channel(ProfileKind::PartnerContact, false, &[Channel::CustomerPortal, Channel::Api]),
            Some(Channel::Api)
        );
    }

    #[test]
    fn channels_are_stored_sorted_and_deduplicated() {
        let stored = format_channels(&[Channel::Mobile, Channel::Desktop, Channel::Mobile]);
        assert_eq!(stored, "desktop,mobile");
        assert_eq!(parse_channels(&stored).unwrap(), vec![Channel::Desktop, Channel::Mobile]);
        assert_eq!(parse_channels("").unwrap(), vec![]);
        assert!(parse_channels("desktop,fax").is_err());
    }

    #[test]
    fn display_name_defaults_to_first_and_last_name() {
        let details = PersonDetails { first_name: "Ada".into(), last_name: "Lovelace".into(), ..Default::default() };
        assert_eq!(display_name_or_default("", &details).as_deref(), Some("Ada Lovelace"));
        assert_eq!(display_name_or_default(" Countess ", &details).as_deref(), Some("Countess"));
        assert_eq!(display_name_or_default("", &PersonDetails::default()), None);
    }

    #[test]
    fn login_names_compare_case_insensitively_and_reject_blanks() {
        assert_eq!(login_name_key(" Ada@Example.COM "), "ada@example.com");
        assert!(validate_login_name("   ").is_err());
        assert!(validate_login_name("ada lovelace").is_err());
        assert_eq!(validate_login_name(" ada ").unwrap(), "ada");
    }

    #[test]
    fn passwords_follow_the_policy_and_never_print() {
        assert!(check_password_policy(&Password::new("short")).is_err());
        assert!(check_password_policy(&Password::new("        ")).is_err());
        assert!(check_password_policy(&Password::new("x".repeat(PASSWORD_MAX_LEN + 1))).is_err());
        assert!(check_password_policy(&Password::new("correct horse")).is_ok());
        let printed =
            format!("{:?}", NewLogin { login_name: "a".into(), password: Some(Password::new("s3cret-pass")) });
        assert!(!printed.contains("s3cret"), "{printed}");
    }

    #[test]
    fn r6_4_a_manager_chain_that_returns_to_the_profile_is_a_cycle() {
        let (a, b, c) = (ProfileId::new(), ProfileId::new(), ProfileId::new());
        assert!(manager_cycle(a, a, &[]));
        // b's chain is c, a: making b a's manager closes a → b → c → a.
        assert!(manager_cycle(a, b, &[c, a]));
        assert!(!manager_cycle(a, b, &[c]));
    }

    #[test]
    fn r2_13a_deny_listed_classes_get_snc_external_at_first_login() {
        let settings = IdentitySettings::default();
        assert_eq!(first_login_explicit_role(&settings, UserClass::SysUser), SNC_INTERNAL);
        assert_eq!(first_login_explicit_role(&settings, UserClass::CustomerContact), SNC_EXTERNAL);
        assert_eq!(first_login_explicit_role(&settings, UserClass::ConsumerUser), SNC_EXTERNAL);
        let switched_off = IdentitySettings { enforce_internal_user_deny_list: false, ..IdentitySettings::default() };
        assert_eq!(first_login_explicit_role(&switched_off, UserClass::CustomerContact), SNC_INTERNAL);
    }

    #[test]
    fn update_applies_single_detail_fields_only() {
        let mut target = profile(ProfileKind::Contact, None, &[], true);
        target.details.first_name = "Old".into();
        target.details.email = "old@example.com".into();
        let update = ProfileUpdate {
            detail_fields: vec!["email"],
            detail_values: PersonDetails {
                first_name: "Ignored".into(),
                email: "new@example.com".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        assert!(update.is_self_service());
        update.apply_fields(&mut target);
        assert_eq!(target.details.first_name, "Old");
        assert_eq!(target.details.email, "new@example.com");
    }
}
