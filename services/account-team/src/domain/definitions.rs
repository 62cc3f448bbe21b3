//! Responsibility definitions (R3.12, R3.18) and account relationship types
//! (R3.4): pure types and rules, no I/O.

use chrono::{DateTime, Utc};
use csm_types::ResponsibilityId;
use csm_types::roles;

use super::local_id;

local_id!(
    /// An account relationship type (R3.4).
    RelationshipTypeId,
    "account_relationship_type_id"
);

/// Who may create, update and delete responsibility definitions (R3.12).
pub const RESPONSIBILITY_ADMIN_ROLES: &[&str] =
    &[roles::ADMIN, roles::CRM_CUSTOMER_ACCESS_MANAGEMENT_ADMIN, roles::CRM_FOUNDATION_ADMIN];

/// Who may force the cascading delete of a referenced responsibility (R3.18, X7).
pub const FORCE_DELETE_ROLES: &[&str] = &[roles::ADMIN];

/// Who may create, update and delete account relationship types (R3.4; proto).
pub const RELATIONSHIP_TYPE_ADMIN_ROLES: &[&str] =
    &[roles::ADMIN, roles::CRM_FOUNDATION_ADMIN, roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER];

/// The default partner type seeded by migration 0100 (R3.4). It cannot be deleted.
pub const DEFAULT_PARTNER_TYPE_ID: RelationshipTypeId =
    RelationshipTypeId::from_uuid(uuid::uuid!("a7000000-0000-4000-8000-000000000101"));

/// The seeded Account Manager responsibility (USER, unique; R3.13, R3.15).
pub const ACCOUNT_MANAGER_ID: ResponsibilityId =
    ResponsibilityId::from_uuid(uuid::uuid!("a7000000-0000-4000-8000-000000000001"));

/// Longest name of a responsibility definition or a relationship type.
pub const NAME_MAX_LEN: usize = 200;
/// Longest relationship label.
pub const LABEL_MAX_LEN: usize = 200;
/// Longest description.
pub const DESCRIPTION_MAX_LEN: usize = 2000;

/// Which records a responsibility definition may be used on (R3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponsibilityKind {
    /// Account, consumer and household team members.
    User,
    /// Contact relationships (R3.9).
    Contact,
    Consumer,
    Account,
    /// Consumer-to-consumer and household member relationships.
    None,
}

impl ResponsibilityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponsibilityKind::User => "user",
            ResponsibilityKind::Contact => "contact",
            ResponsibilityKind::Consumer => "consumer",
            ResponsibilityKind::Account => "account",
            ResponsibilityKind::None => "none",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(ResponsibilityKind::User),
            "contact" => Some(ResponsibilityKind::Contact),
            "consumer" => Some(ResponsibilityKind::Consumer),
            "account" => Some(ResponsibilityKind::Account),
            "none" => Some(ResponsibilityKind::None),
            _ => None,
        }
    }
}

/// A responsibility definition (R3.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsibilityDefinition {
    pub id: ResponsibilityId,
    pub name: String,
    pub kind: ResponsibilityKind,
    /// At most one holder per account / consumer / household (R3.13).
    pub unique: bool,
    pub description: String,
    pub seeded: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated request to create a responsibility definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResponsibilityDefinition {
    pub name: String,
    pub kind: ResponsibilityKind,
    pub unique: bool,
    pub description: String,
}

/// The fields UpdateResponsibilityDefinition may write; `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponsibilityChanges {
    pub name: Option<String>,
    pub kind: Option<ResponsibilityKind>,
    pub unique: Option<bool>,
    pub description: Option<String>,
}

impl ResponsibilityChanges {
    pub fn apply_to(&self, current: &ResponsibilityDefinition) -> ResponsibilityDefinition {
        ResponsibilityDefinition {
            name: self.name.clone().unwrap_or_else(|| current.name.clone()),
            kind: self.kind.unwrap_or(current.kind),
            unique: self.unique.unwrap_or(current.unique),
            description: self.description.clone().unwrap_or_else(|| current.description.clone()),
            ..current.clone()
        }
    }
}

/// The kind of account at one end of a relationship type (R3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndKind {
    /// Any account.
    Account,
    /// An account flagged as partner in identity.
    Partner,
}

impl EndKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EndKind::Account => "account",
            EndKind::Partner => "partner",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "account" => Some(EndKind::Account),
            "partner" => Some(EndKind::Partner),
            _ => None,
        }
    }

    /// Whether an account (partner or not) may stand at an end of this kind.
    pub fn admits(self, account_is_partner: bool) -> bool {
        match self {
            EndKind::Account => true,
            EndKind::Partner => account_is_partner,
        }
    }
}

/// An account relationship type (R3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationshipType {
    pub id: RelationshipTypeId,
    pub name: String,
    pub from_kind: EndKind,
    pub to_kind: EndKind,
    /// Shown on the source account.
    pub label: String,
    /// Shown on the target account.
    pub reverse_label: String,
    /// Inactive types cannot be used for new relationships.
    pub active: bool,
    pub default_partner_type: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RelationshipType {
    /// Whether relationships of this type put their target into PCUST(from) (R3.6).
    pub fn is_partner_to_account(&self) -> bool {
        self.from_kind == EndKind::Partner && self.to_kind == EndKind::Account
    }
}

/// A validated request to create a relationship type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRelationshipType {
    pub name: String,
    pub from_kind: EndKind,
    pub to_kind: EndKind,
    pub label: String,
    pub reverse_label: String,
    pub active: bool,
}

/// The fields UpdateAccountRelationshipType may write; `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationshipTypeChanges {
    pub name: Option<String>,
    pub from_kind: Option<EndKind>,
    pub to_kind: Option<EndKind>,
    pub label: Option<String>,
    pub reverse_label: Option<String>,
    pub active: Option<bool>,
}

impl RelationshipTypeChanges {
    pub fn apply_to(&self, current: &RelationshipType) -> RelationshipType {
        RelationshipType {
            name: self.name.clone().unwrap_or_else(|| current.name.clone()),
            from_kind: self.from_kind.unwrap_or(current.from_kind),
            to_kind: self.to_kind.unwrap_or(current.to_kind),
            label: self.label.clone().unwrap_or_else(|| current.label.clone()),
            reverse_label: self.reverse_label.clone().unwrap_or_else(|| current.reverse_label.clone()),
            active: self.active.unwrap_or(current.active),
            ..current.clone()
        }
    }

    /// Whether the change touches the end kinds (refused while relationships exist).
    pub fn changes_kinds(&self, current: &RelationshipType) -> bool {
        self.from_kind.is_some_and(|kind| kind != current.from_kind)
            || self.to_kind.is_some_and(|kind| kind != current.to_kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in [
            ResponsibilityKind::User,
            ResponsibilityKind::Contact,
            ResponsibilityKind::Consumer,
            ResponsibilityKind::Account,
            ResponsibilityKind::None,
        ] {
            assert_eq!(ResponsibilityKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EndKind::parse("partner"), Some(EndKind::Partner));
        assert_eq!(EndKind::parse("other"), None);
    }

    #[test]
    fn a_partner_end_admits_only_partner_accounts() {
        assert!(EndKind::Partner.admits(true));
        assert!(!EndKind::Partner.admits(false));
        assert!(EndKind::Account.admits(false));
        assert!(EndKind::Account.admits(true));
    }
}
