//! identity's directory: departments (R6.3, R6.4), Cherwell security groups with
//! their presentation roles (R1.8, R6.1, R6.6) and identity's configurable
//! switches (R1.3 allowed consumer user types, R2.13a internal-user deny list).
//! Pure types and rules, no I/O.

use csm_types::roles;
use std::fmt;

use chrono::{DateTime, Utc};
use csm_types::{DepartmentId, SecurityGroupId};

/// Roles that may change departments, security groups and settings. Reads are
/// open to every authenticated caller.
pub const DIRECTORY_ADMIN_ROLES: &[&str] = &[roles::ADMIN];

/// Maximum length of a department or security group name.
pub const DIRECTORY_NAME_MAX_LEN: usize = 200;
/// Maximum length of a description.
pub const DESCRIPTION_MAX_LEN: usize = 2000;
/// Maximum length of one presentation role name.
pub const PRESENTATION_ROLE_MAX_LEN: usize = 100;
/// Maximum number of presentation roles of one group.
pub const PRESENTATION_ROLES_MAX: usize = 100;

// ---------------------------------------------------------------- departments

/// A department: an ownership attribute of a person (R6.3, R6.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub id: DepartmentId,
    pub name: String,
    pub description: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated request to create a department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDepartment {
    pub name: String,
    pub description: String,
}

/// The fields an UpdateDepartment writes (`None`: left unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DepartmentChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

impl DepartmentChanges {
    /// `department` with these changes applied.
    pub fn apply_to(&self, department: &Department) -> Department {
        Department {
            name: self.name.clone().unwrap_or_else(|| department.name.clone()),
            description: self.description.clone().unwrap_or_else(|| department.description.clone()),
            active: self.active.unwrap_or(department.active),
            ..department.clone()
        }
    }
}

// ------------------------------------------------------------ security groups

/// Kind of a Cherwell security group (R1.8, R6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityGroupKind {
    /// For Users (INTERNAL profiles).
    User,
    /// For Customers (every other profile kind).
    Customer,
    /// For unauthenticated portal visitors; no profile can be in it.
    Anonymous,
}

impl SecurityGroupKind {
    pub const ALL: [SecurityGroupKind; 3] =
        [SecurityGroupKind::User, SecurityGroupKind::Customer, SecurityGroupKind::Anonymous];

    pub fn as_str(self) -> &'static str {
        match self {
            SecurityGroupKind::User => "user",
            SecurityGroupKind::Customer => "customer",
            SecurityGroupKind::Anonymous => "anonymous",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    /// Whether profiles can be put into groups of this kind (R1.8): not into
    /// the Anonymous Browser group.
    pub fn has_members(self) -> bool {
        self != SecurityGroupKind::Anonymous
    }
}

impl fmt::Display for SecurityGroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a set of presentation roles was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresentationRolesError {
    /// A role name is blank, too long or contains a comma (the storage separator).
    InvalidRoleName {
        role: String,
        problem: &'static str,
    },
    DuplicateRole(String),
    TooMany,
    /// The default role is not one of the group's roles (reason DEFAULT_ROLE_NOT_IN_GROUP).
    DefaultNotInGroup(String),
}

impl fmt::Display for PresentationRolesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PresentationRolesError::InvalidRoleName { role, problem } => write!(f, "role {role:?} {problem}"),
            PresentationRolesError::DuplicateRole(role) => write!(f, "role {role:?} is listed twice"),
            PresentationRolesError::TooMany => write!(f, "at most {PRESENTATION_ROLES_MAX} roles are allowed"),
            PresentationRolesError::DefaultNotInGroup(role) => {
                write!(f, "default presentation role {role:?} is not one of the group's presentation roles")
            }
        }
    }
}

/// The Cherwell presentation roles of a security group and its default role
/// (R6.1). Invariant: the default is one of the roles, or both are empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresentationRoles {
    roles: Vec<String>,
    default_role: String,
}

impl PresentationRoles {
    /// Validates `roles` (trimmed, unique, no commas) and the default role:
    /// `None` or an empty default means the first role.
    pub fn new(roles: Vec<String>, default_role: Option<String>) -> Result<Self, PresentationRolesError> {
        if roles.len() > PRESENTATION_ROLES_MAX {
            return Err(PresentationRolesError::TooMany);
        }
        let mut checked: Vec<String> = Vec::with_capacity(roles.len());
        for role in roles {
            let role = role.trim().to_owned();
            let problem = if role.is_empty() {
                Some("is blank")
            } else if role.chars().count() > PRESENTATION_ROLE_MAX_LEN {
                Some("is longer than 100 characters")
            } else if role.contains(',') {
                Some("contains a comma")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(PresentationRolesError::InvalidRoleName { role, problem });
            }
            if checked.contains(&role) {
                return Err(PresentationRolesError::DuplicateRole(role));
            }
            checked.push(role);
        }
        let requested_default = default_role.map(|role| role.trim().to_owned()).filter(|role| !role.is_empty());
        let default_role = match requested_default {
            Some(role) if checked.contains(&role) => role,
            Some(role) => return Err(PresentationRolesError::DefaultNotInGroup(role)),
            None => checked.first().cloned().unwrap_or_default(),
        };
        Ok(Self { roles: checked, default_role })
    }

    pub fn roles(&self) -> &[String] {
        &self.roles
    }

    /// The preselected role; empty when the group has no roles.
    pub fn default_role(&self) -> &str {
        &self.default_role
    }

    /// The stored form: comma-separated role names.
    pub fn roles_to_storage(&self) -> String {
        self.roles.join(",")
    }

    /// Reads the stored form back (rows written by [`Self::roles_to_storage`]).
    pub fn from_storage(roles: &str, default_role: &str) -> Result<Self, PresentationRolesError> {
        let roles = roles.split(',').filter(|role| !role.is_empty()).map(str::to_owned).collect();
        Self::new(roles, Some(default_role.to_owned()))
    }
}

/// A session asked for a presentation role its profile's group does not have
/// (reason PRESENTATION_ROLE_NOT_IN_GROUP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentationRoleNotInGroup {
    pub requested: String,
}

/// A Cherwell security group (R1.8, R6.1, R6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: SecurityGroupId,
    pub name: String,
    pub kind: SecurityGroupKind,
    pub description: String,
    pub presentation_roles: PresentationRoles,
    /// The group new profiles of its kind get when none is given (R1.8).
    pub default_group: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SecurityGroup {
    /// The presentation role a session of a member uses (R6.1): a User may pick
    /// any role of the group (empty request: the default); a Customer always
    /// gets the default role, whatever it asked for.
    pub fn presentation_role_for_session(&self, requested: &str) -> Result<String, PresentationRoleNotInGroup> {
        let requested = requested.trim();
        if self.kind != SecurityGroupKind::User || requested.is_empty() {
            return Ok(self.presentation_roles.default_role().to_owned());
        }
        if self.presentation_roles.roles().iter().any(|role| role == requested) {
            Ok(requested.to_owned())
        } else {
            Err(PresentationRoleNotInGroup { requested: requested.to_owned() })
        }
    }
}

/// A validated request to create a security group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSecurityGroup {
    pub name: String,
    pub kind: SecurityGroupKind,
    pub description: String,
    pub presentation_roles: PresentationRoles,
    pub default_group: bool,
}

/// The fields an UpdateSecurityGroup writes (`None`: left unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityGroupChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub presentation_roles: Option<Vec<String>>,
    /// `Some("")` asks for the first role.
    pub default_presentation_role: Option<String>,
    pub default_group: Option<bool>,
}

impl SecurityGroupChanges {
    /// `group` with these changes applied. When only the roles change and the
    /// old default is no longer among them, the default falls back to the first
    /// role; an explicitly requested default must be one of the roles.
    pub fn apply_to(&self, group: &SecurityGroup) -> Result<SecurityGroup, PresentationRolesError> {
        let roles = self.presentation_roles.clone().unwrap_or_else(|| group.presentation_roles.roles().to_vec());
        let default_role = match &self.default_presentation_role {
            Some(requested) => Some(requested.clone()),
            None => {
                let current = group.presentation_roles.default_role();
                roles.iter().any(|role| role.trim() == current).then(|| current.to_owned())
            }
        };
        Ok(SecurityGroup {
            name: self.name.clone().unwrap_or_else(|| group.name.clone()),
            description: self.description.clone().unwrap_or_else(|| group.description.clone()),
            presentation_roles: PresentationRoles::new(roles, default_role)?,
            default_group: self.default_group.unwrap_or(group.default_group),
            ..group.clone()
        })
    }
}

/// The groups identity creates at start-up when absent (R6.6), with the
/// default group of each kind marked (chosen by us: the least privileged one).
pub struct SeedSecurityGroup {
    pub name: &'static str,
    pub kind: SecurityGroupKind,
    pub description: &'static str,
    /// Becomes the default group of its kind if that kind has none yet.
    pub default_group: bool,
}

/// The out-of-the-box Cherwell security groups (R6.6). Each gets one
/// presentation role named like the group.
pub const SEED_SECURITY_GROUPS: &[SeedSecurityGroup] = &[
    SeedSecurityGroup {
        name: "Admin",
        kind: SecurityGroupKind::User,
        description: "Administrators of the system.",
        default_group: false,
    },
    SeedSecurityGroup {
        name: "IT Service Desk Level 1",
        kind: SecurityGroupKind::User,
        description: "First-level service desk agents.",
        default_group: true,
    },
    SeedSecurityGroup {
        name: "IT Service Desk Level 2 & 3",
        kind: SecurityGroupKind::User,
        description: "Second- and third-level service desk agents.",
        default_group: false,
    },
    SeedSecurityGroup {
        name: "IT Service Desk Manager",
        kind: SecurityGroupKind::User,
        description: "Service desk managers.",
        default_group: false,
    },
    SeedSecurityGroup {
        name: "Portal Customer",
        kind: SecurityGroupKind::Customer,
        description: "Portal customers: view and edit their own records.",
        default_group: true,
    },
    SeedSecurityGroup {
        name: "Portal Workgroup Manager",
        kind: SecurityGroupKind::Customer,
        description: "Portal customers who also manage their workgroup members' records.",
        default_group: false,
    },
    SeedSecurityGroup {
        name: "Anonymous Browser",
        kind: SecurityGroupKind::Anonymous,
        description: "Unauthenticated portal visitors.",
        default_group: false,
    },
];

impl SeedSecurityGroup {
    pub fn to_new_group(&self) -> NewSecurityGroup {
        NewSecurityGroup {
            name: self.name.to_owned(),
            kind: self.kind,
            description: self.description.to_owned(),
            presentation_roles: PresentationRoles {
                roles: vec![self.name.to_owned()],
                default_role: self.name.to_owned(),
            },
            default_group: self.default_group,
        }
    }
}

// ------------------------------------------------------------------- settings

/// The ServiceNow user record class of a profile (R1.3, R2.13a): `sys_user`
/// for INTERNAL profiles, `customer_contact` for CONTACT and PARTNER_CONTACT,
/// `csm_consumer_user` for CONSUMER and CONSUMER_SUB_PROFILE (the mapping is
/// `ProfileKind::user_class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UserClass {
    SysUser,
    CustomerContact,
    ConsumerUser,
}

impl UserClass {
    pub const ALL: [UserClass; 3] = [UserClass::SysUser, UserClass::CustomerContact, UserClass::ConsumerUser];

    /// The stored name (also the form of the settings values).
    pub fn as_str(self) -> &'static str {
        match self {
            UserClass::SysUser => "sys_user",
            UserClass::CustomerContact => "customer_contact",
            UserClass::ConsumerUser => "consumer_user",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|class| class.as_str() == value)
    }
}

impl fmt::Display for UserClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Keys of the `settings` table. Values: user-class lists are comma-separated
/// [`UserClass::as_str`] names (`""` = empty list); switches are `true` /
/// `false`; default groups are UUIDs. An absent key means the default.
pub mod setting_keys {
    /// R1.3; default `consumer_user`.
    pub const CONSUMER_ALLOWED_USER_TYPES: &str = "consumer_allowed_user_types";
    /// R2.13a; default `true`.
    pub const ENFORCE_INTERNAL_USER_DENY_LIST: &str = "enforce_internal_user_deny_list";
    /// R2.13a; default `customer_contact,consumer_user`.
    pub const INTERNAL_USER_DENY_LIST: &str = "internal_user_deny_list";
    /// The default USER security group (R1.8).
    pub const DEFAULT_USER_SECURITY_GROUP: &str = "default_security_group.user";
    /// The default CUSTOMER security group (R1.8).
    pub const DEFAULT_CUSTOMER_SECURITY_GROUP: &str = "default_security_group.customer";
}

/// The settings key holding the default group of `kind` (none for ANONYMOUS).
pub fn default_security_group_key(kind: SecurityGroupKind) -> Option<&'static str> {
    match kind {
        SecurityGroupKind::User => Some(setting_keys::DEFAULT_USER_SECURITY_GROUP),
        SecurityGroupKind::Customer => Some(setting_keys::DEFAULT_CUSTOMER_SECURITY_GROUP),
        SecurityGroupKind::Anonymous => None,
    }
}

/// Identity's configurable switches (R1.3, R2.13a).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySettings {
    /// User classes a consumer record may be linked to; never empty (R1.3).
    pub consumer_allowed_user_types: Vec<UserClass>,
    /// Whether [`Self::internal_user_deny_list`] applies at first login (R2.13a).
    pub enforce_internal_user_deny_list: bool,
    /// User classes given snc_external instead of snc_internal at first login (R2.13a).
    pub internal_user_deny_list: Vec<UserClass>,
    /// Last change of any switch; `None` while all are at their defaults.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            consumer_allowed_user_types: vec![UserClass::ConsumerUser],
            enforce_internal_user_deny_list: true,
            internal_user_deny_list: vec![UserClass::CustomerContact, UserClass::ConsumerUser],
            updated_at: None,
        }
    }
}

impl IdentitySettings {
    /// R1.3: whether a consumer record may be linked to a profile of `class`.
    pub fn allows_consumer_link(&self, class: UserClass) -> bool {
        self.consumer_allowed_user_types.contains(&class)
    }

    /// R2.13a: whether a profile of `class` with neither explicit role gets
    /// snc_external (true) rather than snc_internal (false) at first login.
    pub fn first_login_gets_external(&self, class: UserClass) -> bool {
        self.enforce_internal_user_deny_list && self.internal_user_deny_list.contains(&class)
    }

    /// Reads the stored rows (key, value, updated_at); unknown keys are ignored,
    /// an unreadable value is an error naming the key.
    pub fn from_rows(rows: &[(String, String, DateTime<Utc>)]) -> Result<Self, String> {
        let mut settings = Self::default();
        for (key, value, updated_at) in rows {
            match key.as_str() {
                setting_keys::CONSUMER_ALLOWED_USER_TYPES => {
                    settings.consumer_allowed_user_types = parse_user_classes(key, value)?;
                }
                setting_keys::ENFORCE_INTERNAL_USER_DENY_LIST => {
                    settings.enforce_internal_user_deny_list = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        other => return Err(format!("setting {key} has value {other:?}, expected true or false")),
                    };
                }
                setting_keys::INTERNAL_USER_DENY_LIST => {
                    settings.internal_user_deny_list = parse_user_classes(key, value)?;
                }
                _ => continue,
            }
            settings.updated_at = settings.updated_at.max(Some(*updated_at));
        }
        Ok(settings)
    }

    /// The stored (key, value) rows of these settings.
    pub fn to_rows(&self) -> Vec<(&'static str, String)> {
        vec![
            (setting_keys::CONSUMER_ALLOWED_USER_TYPES, user_classes_to_storage(&self.consumer_allowed_user_types)),
            (setting_keys::ENFORCE_INTERNAL_USER_DENY_LIST, self.enforce_internal_user_deny_list.to_string()),
            (setting_keys::INTERNAL_USER_DENY_LIST, user_classes_to_storage(&self.internal_user_deny_list)),
        ]
    }
}

fn parse_user_classes(key: &str, value: &str) -> Result<Vec<UserClass>, String> {
    value
        .split(',')
        .filter(|name| !name.is_empty())
        .map(|name| UserClass::parse(name).ok_or_else(|| format!("setting {key} names an unknown user class {name:?}")))
        .collect()
}

fn user_classes_to_storage(classes: &[UserClass]) -> String {
    classes.iter().map(|class| class.as_str()).collect::<Vec<_>>().join(",")
}

/// A settings change was refused (reason EMPTY_ALLOWED_USER_TYPES).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmptyAllowedUserTypes;

/// The switches an UpdateSettings writes (`None`: left unchanged).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChanges {
    pub consumer_allowed_user_types: Option<Vec<UserClass>>,
    pub enforce_internal_user_deny_list: Option<bool>,
    pub internal_user_deny_list: Option<Vec<UserClass>>,
}

impl SettingsChanges {
    /// `settings` with these changes applied; lists are deduplicated in their
    /// given order. The allowed consumer user types can never be empty (R1.3).
    pub fn apply_to(&self, settings: &IdentitySettings) -> Result<IdentitySettings, EmptyAllowedUserTypes> {
        let mut updated = settings.clone();
        if let Some(classes) = &self.consumer_allowed_user_types {
            if classes.is_empty() {
                return Err(EmptyAllowedUserTypes);
            }
            updated.consumer_allowed_user_types = deduplicated(classes);
        }
        if let Some(enforce) = self.enforce_internal_user_deny_list {
            updated.enforce_internal_user_deny_list = enforce;
        }
        if let Some(classes) = &self.internal_user_deny_list {
            updated.internal_user_deny_list = deduplicated(classes);
        }
        Ok(updated)
    }
}

fn deduplicated(classes: &[UserClass]) -> Vec<UserClass> {
    let mut unique = Vec::with_capacity(classes.len());
    for class in classes {
        if !unique.contains(class) {
            unique.push(*class);
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(kind: SecurityGroupKind, roles: &[&str], default_role: &str) -> SecurityGroup {
        let now = Utc::now();
        SecurityGroup {
            id: SecurityGroupId::new(),
            name: "g".into(),
            kind,
            description: String::new(),
            presentation_roles: PresentationRoles::new(
                roles.iter().map(|role| role.to_string()).collect(),
                Some(default_role.to_owned()),
            )
            .unwrap(),
            default_group: false,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn the_default_role_defaults_to_the_first_and_must_be_in_the_group() {
        let roles = PresentationRoles::new(vec!["A".into(), "B".into()], None).unwrap();
        assert_eq!(roles.default_role(), "A");
        let roles = PresentationRoles::new(vec!["A".into(), "B".into()], Some("B".into())).unwrap();
        assert_eq!(roles.default_role(), "B");
        assert_eq!(
            PresentationRoles::new(vec!["A".into()], Some("C".into())),
            Err(PresentationRolesError::DefaultNotInGroup("C".into()))
        );
        assert_eq!(PresentationRoles::new(vec![], None).unwrap().default_role(), "");
        assert!(PresentationRoles::new(vec![], Some("A".into())).is_err());
    }

    #[test]
    fn presentation_roles_are_trimmed_unique_and_comma_free() {
        assert!(matches!(
            PresentationRoles::new(vec!["A".into(), " A ".into()], None),
            Err(PresentationRolesError::DuplicateRole(_))
        ));
        assert!(matches!(
            PresentationRoles::new(vec!["A,B".into()], None),
            Err(PresentationRolesError::InvalidRoleName { .. })
        ));
        assert!(matches!(
            PresentationRoles::new(vec!["  ".into()], None),
            Err(PresentationRolesError::InvalidRoleName { .. })
        ));
        let roles =
            PresentationRoles::new(vec!["Self Service".into(), "Manager".into()], Some("Manager".into())).unwrap();
        assert_eq!(PresentationRoles::from_storage(&roles.roles_to_storage(), roles.default_role()).unwrap(), roles);
    }

    #[test]
    fn r6_1_users_pick_any_role_of_their_group_and_customers_always_get_the_default() {
        let users = group(SecurityGroupKind::User, &["R1", "R2"], "R1");
        assert_eq!(users.presentation_role_for_session("").unwrap(), "R1");
        assert_eq!(users.presentation_role_for_session("R2").unwrap(), "R2");
        assert!(users.presentation_role_for_session("R3").is_err());
        let customers = group(SecurityGroupKind::Customer, &["R1", "R2"], "R1");
        assert_eq!(customers.presentation_role_for_session("R2").unwrap(), "R1");
        assert_eq!(customers.presentation_role_for_session("R9").unwrap(), "R1");
    }

    #[test]
    fn changing_the_roles_keeps_a_default_that_is_still_there_else_takes_the_first() {
        let current = group(SecurityGroupKind::User, &["A", "B"], "B");
        let changes =
            SecurityGroupChanges { presentation_roles: Some(vec!["B".into(), "C".into()]), ..Default::default() };
        assert_eq!(changes.apply_to(&current).unwrap().presentation_roles.default_role(), "B");
        let changes =
            SecurityGroupChanges { presentation_roles: Some(vec!["C".into(), "D".into()]), ..Default::default() };
        assert_eq!(changes.apply_to(&current).unwrap().presentation_roles.default_role(), "C");
        let changes = SecurityGroupChanges {
            presentation_roles: Some(vec!["C".into()]),
            default_presentation_role: Some("B".into()),
            ..Default::default()
        };
        assert_eq!(changes.apply_to(&current), Err(PresentationRolesError::DefaultNotInGroup("B".into())));
    }

    #[test]
    fn the_seed_has_every_ootb_group_of_r6_6_and_one_default_per_kind_with_members() {
        let names: Vec<&str> = SEED_SECURITY_GROUPS.iter().map(|group| group.name).collect();
        for expected in [
            "Admin",
            "IT Service Desk Level 1",
            "IT Service Desk Level 2 & 3",
            "IT Service Desk Manager",
            "Portal Customer",
            "Portal Workgroup Manager",
            "Anonymous Browser",
        ] {
            assert!(names.contains(&expected), "{expected} missing");
        }
        for kind in [SecurityGroupKind::User, SecurityGroupKind::Customer] {
            let defaults =
                SEED_SECURITY_GROUPS.iter().filter(|group| group.kind == kind && group.default_group).count();
            assert_eq!(defaults, 1, "{kind}");
        }
        assert!(SEED_SECURITY_GROUPS.iter().all(|group| group.kind.has_members() || !group.default_group));
    }

    #[test]
    fn settings_default_to_consumer_users_and_an_enforced_deny_list() {
        let settings = IdentitySettings::default();
        assert!(settings.allows_consumer_link(UserClass::ConsumerUser));
        assert!(!settings.allows_consumer_link(UserClass::SysUser));
        assert!(settings.first_login_gets_external(UserClass::CustomerContact));
        assert!(settings.first_login_gets_external(UserClass::ConsumerUser));
        assert!(!settings.first_login_gets_external(UserClass::SysUser));
        let relaxed = IdentitySettings { enforce_internal_user_deny_list: false, ..settings };
        assert!(!relaxed.first_login_gets_external(UserClass::CustomerContact));
    }

    #[test]
    fn settings_round_trip_through_their_rows() {
        let settings = IdentitySettings {
            consumer_allowed_user_types: vec![UserClass::ConsumerUser, UserClass::SysUser],
            enforce_internal_user_deny_list: false,
            internal_user_deny_list: vec![],
            updated_at: None,
        };
        let now = Utc::now();
        let rows: Vec<(String, String, DateTime<Utc>)> =
            settings.to_rows().into_iter().map(|(key, value)| (key.to_owned(), value, now)).collect();
        let read = IdentitySettings::from_rows(&rows).unwrap();
        assert_eq!(read, IdentitySettings { updated_at: Some(now), ..settings });
        assert!(IdentitySettings::from_rows(&[("internal_user_deny_list".into(), "robot".into(), now)]).is_err());
    }

    #[test]
    fn the_allowed_consumer_user_types_can_never_be_emptied() {
        let changes = SettingsChanges { consumer_allowed_user_types: Some(vec![]), ..Default::default() };
        assert_eq!(changes.apply_to(&IdentitySettings::default()), Err(EmptyAllowedUserTypes));
        let changes = SettingsChanges {
            consumer_allowed_user_types: Some(vec![UserClass::SysUser, UserClass::SysUser, UserClass::ConsumerUser]),
            internal_user_deny_list: Some(vec![]),
            ..Default::default()
        };
        let updated = changes.apply_to(&IdentitySettings::default()).unwrap();
        assert_eq!(updated.consumer_allowed_user_types, vec![UserClass::SysUser, UserClass::ConsumerUser]);
        assert!(updated.internal_user_deny_list.is_empty());
    }
}
