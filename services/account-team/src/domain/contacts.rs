//! Contact relationships (R3.7–R3.11) and consumer / household member
//! relationships (R3.12, R3.13): types and rules, no I/O.

use chrono::{DateTime, Utc};
use csm_errors::{CsmError, CsmResult};
use csm_types::roles;
use csm_types::{AccountId, ConsumerId, HouseholdId, ProfileId, ResponsibilityId};
use uuid::Uuid;

/// Who may create, update and delete contact relationships (R3.11).
pub const CONTACT_RELATIONSHIP_WRITER_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::MANAGER,
    roles::CRM_FOUNDATION_ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
    roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
];

/// Who may view contact relationships (R3.11): the writers, agents and the data viewers.
pub const CONTACT_RELATIONSHIP_VIEWER_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::MANAGER,
    roles::CRM_FOUNDATION_ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
    roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
    roles::CRM_ACCOUNT_DATA_MANAGER,
    roles::AGENT,
    roles::CUSTOMER_DATA_VIEWER,
];

/// Who may read every consumer and household member relationship (consumer
/// personal data, R5.5): the writers. A consumer reads only its own.
pub const CONSUMER_RELATIONSHIP_READER_ROLES: &[&str] = CONSUMER_RELATIONSHIP_WRITER_ROLES;

impl ConsumerRelationship {
    /// Whether the relationship names `consumer` on either side.
    pub fn names(&self, consumer: ConsumerId) -> bool {
        self.consumer == consumer || self.related_consumer == consumer
    }
}

/// Who may write consumer and household member relationships (proto of CreateConsumerRelationship).
pub const CONSUMER_RELATIONSHIP_WRITER_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::MANAGER,
    roles::CONSUMER_AGENT,
    roles::CRM_FOUNDATION_ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
];

/// Display order of a relationship without type and without an explicit order.
pub const DEFAULT_ORDER: i32 = 100;

/// The kind of a responsibility definition (R3.12), as stored by 0100_definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponsibilityKind {
    User,
    Contact,
    Consumer,
    Account,
    None,
}

impl ResponsibilityKind {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(Self::User),
            "contact" => Some(Self::Contact),
            "consumer" => Some(Self::Consumer),
            "account" => Some(Self::Account),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Contact => "contact",
            Self::Consumer => "consumer",
            Self::Account => "account",
            Self::None => "none",
        }
    }
}

/// What this half of the service needs to know of a responsibility definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponsibilityRef {
    pub id: ResponsibilityId,
    pub kind: ResponsibilityKind,
    pub is_unique: bool,
}

/// R3.9 / R3.12: a responsibility may be used only on records of its kind.
pub fn ensure_responsibility_kind(responsibility: &ResponsibilityRef, expected: ResponsibilityKind) -> CsmResult<()> {
    if responsibility.kind == expected {
        Ok(())
    } else {
        Err(CsmError::failed_precondition(
            "RESPONSIBILITY_KIND_MISMATCH",
            format!(
                "responsibility {} is of kind {}, this record needs kind {}",
                responsibility.id,
                responsibility.kind.as_str(),
                expected.as_str()
            ),
        )
        .with_metadata("responsibility_id", responsibility.id.to_string()))
    }
}

/// A contact relationship: Account, Contact, Type, Responsibility, Order (R3.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRelationship {
    pub id: Uuid,
    pub account: AccountId,
    pub contact: ProfileId,
    pub related_party_configuration: Option<Uuid>,
    pub responsibility: Option<ResponsibilityId>,
    pub order: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated CreateContactRelationship request (before R5.4's defaults are filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContactRelationship {
    pub account: AccountId,
    pub contact: ProfileId,
    pub related_party_configuration: Option<Uuid>,
    pub responsibility: Option<ResponsibilityId>,
    pub order: Option<i32>,
}

impl NewContactRelationship {
    /// What identifies the request, to tell a retry from a reuse of its request id.
    pub fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.account,
            self.contact,
            opt(self.related_party_configuration),
            opt(self.responsibility),
            self.order.map(|order| order.to_string()).unwrap_or_default()
        )
    }
}

/// The fields UpdateContactRelationship / UpdateConsumerRelationship may write.
/// Outer `None`: path not in the mask; inner `None`: cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationshipChanges {
    pub related_party_configuration: Option<Option<Uuid>>,
    pub responsibility: Option<Option<ResponsibilityId>>,
    pub order: Option<i32>,
}

/// Filters of ListContactRelationships (at least one of account, contact).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactRelationshipFilter {
    pub account: Option<AccountId>,
    pub contact: Option<ProfileId>,
    pub responsibility: Option<ResponsibilityId>,
}

/// Why a contact is eligible for a contact relationship on an account (R3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EligibilityPath {
    Hierarchy,
    AccountRelationship,
    Unrestricted,
}

/// A contact eligible for a contact relationship (R3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligibleContact {
    pub contact: ProfileId,
    pub account: AccountId,
    pub path: EligibilityPath,
}

/// R3.8: the path making a contact of `contact_account` eligible on `account`, if any.
/// `account_top` / `contact_top` are the top-level ancestors (the account itself when
/// top-level); `related` tells whether an active account relationship links the two.
pub fn eligibility_path(
    restrict_within_account_hierarchy: bool,
    account_top: AccountId,
    contact_top: AccountId,
    related: bool,
) -> Option<EligibilityPath> {
    if account_top == contact_top {
        Some(EligibilityPath::Hierarchy)
    } else if related {
        Some(EligibilityPath::AccountRelationship)
    } else if !restrict_within_account_hierarchy {
        Some(EligibilityPath::Unrestricted)
    } else {
        None
    }
}

/// A consumer-to-consumer or household member relationship (R3.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRelationship {
    pub id: Uuid,
    pub consumer: ConsumerId,
    pub related_consumer: ConsumerId,
    pub household: Option<HouseholdId>,
    pub related_party_configuration: Option<Uuid>,
    pub responsibility: Option<ResponsibilityId>,
    pub order: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated CreateConsumerRelationship request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsumerRelationship {
    pub consumer: ConsumerId,
    pub related_consumer: ConsumerId,
    pub household: Option<HouseholdId>,
    pub related_party_configuration: Option<Uuid>,
    pub responsibility: Option<ResponsibilityId>,
    pub order: Option<i32>,
}

impl NewConsumerRelationship {
    pub fn fingerprint(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}",
            self.consumer,
            self.related_consumer,
            opt(self.household),
            opt(self.related_party_configuration),
            opt(self.responsibility),
            self.order.map(|order| order.to_string()).unwrap_or_default()
        )
    }
}

/// Filters of ListConsumerRelationships (at least one; AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerRelationshipFilter {
    pub consumer: Option<ConsumerId>,
    pub related_consumer: Option<ConsumerId>,
    pub household: Option<HouseholdId>,
    /// Only relationships naming this consumer on either side (a consumer
    /// reading: its own relationships only, R5.5).
    pub naming: Option<ConsumerId>,
}

fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map(|value| value.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy_wins_over_relationship_and_unrestricted_is_last() {
        let (a, b) = (AccountId::new(), AccountId::new());
        assert_eq!(eligibility_path(true, a, a, true), Some(EligibilityPath::Hierarchy));
        assert_eq!(eligibility_path(true, a, b, true), Some(EligibilityPath::AccountRelationship));
        assert_eq!(eligibility_path(true, a, b, false), None);
        assert_eq!(eligibility_path(false, a, b, false), Some(EligibilityPath::Unrestricted));
    }

    #[test]
    fn responsibility_kind_is_checked() {
        let asset =
            ResponsibilityRef { id: ResponsibilityId::new(), kind: ResponsibilityKind::Contact, is_unique: false };
        assert!(ensure_responsibility_kind(&asset, ResponsibilityKind::Contact).is_ok());
        let error = ensure_responsibility_kind(&asset, ResponsibilityKind::None).unwrap_err();
        assert_eq!(error.reason(), "RESPONSIBILITY_KIND_MISMATCH");
    }
}
