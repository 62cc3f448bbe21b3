//! Account relationships (R3.5) and partner customers PCUST(p) (R3.6): pure
//! types and rules, no I/O.

use chrono::{DateTime, Utc};
use csm_types::AccountId;
use csm_types::roles;

use super::definitions::{RelationshipType, RelationshipTypeId};
use super::local_id;

local_id!(
    /// An account relationship record (R3.5).
    AccountRelationshipId,
    "account_relationship_id"
);

/// Who may create, update and delete account relationships (R3.5).
pub const RELATIONSHIP_EDITOR_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
    roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
    roles::MANAGER,
    roles::CRM_FOUNDATION_ADMIN,
];

/// An account relationship record: Account From, Type, Account To (R3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRelationship {
    pub id: AccountRelationshipId,
    pub from_account: AccountId,
    pub type_id: RelationshipTypeId,
    pub to_account: AccountId,
    /// Only active relationships count for PCUST and contact eligibility.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated request to create an account relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccountRelationship {
    pub from_account: AccountId,
    /// `None`: the default partner type.
    pub type_id: Option<RelationshipTypeId>,
    pub to_account: AccountId,
    pub active: bool,
}

/// From which end a relationship is seen (R3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The viewing account is the source; the type's label applies.
    Forward,
    /// The viewing account is the target; the type's reverse label applies.
    Reverse,
}

/// A relationship as one of its accounts sees it (R3.5). Labels are read from
/// the type at every view, so renaming a label shows on existing records (R3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationshipView {
    pub relationship: AccountRelationship,
    pub direction: Direction,
    pub label: String,
    pub related_account: AccountId,
    pub type_name: String,
}

impl RelationshipView {
    /// `relationship` of type `kind` seen from `viewer` (one of its two ends).
    pub fn seen_from(viewer: AccountId, relationship: AccountRelationship, kind: &RelationshipType) -> Self {
        if relationship.from_account == viewer {
            RelationshipView {
                direction: Direction::Forward,
                label: kind.label.clone(),
                related_account: relationship.to_account,
                type_name: kind.name.clone(),
                relationship,
            }
        } else {
            RelationshipView {
                direction: Direction::Reverse,
                label: kind.reverse_label.clone(),
                related_account: relationship.from_account,
                type_name: kind.name.clone(),
                relationship,
            }
        }
    }
}

/// Filters of ListAccountRelationships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationshipFilter {
    pub account: AccountId,
    /// `None`: both directions.
    pub direction: Option<Direction>,
    pub type_id: Option<RelationshipTypeId>,
    pub include_inactive: bool,
}

/// One member of PCUST(p) (R3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerCustomer {
    pub customer_account: AccountId,
    pub relationship: AccountRelationshipId,
    pub type_id: RelationshipTypeId,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::definitions::EndKind;

    fn partner_type() -> RelationshipType {
        RelationshipType {
            id: RelationshipTypeId::new(),
            name: "Partner".into(),
            from_kind: EndKind::Partner,
            to_kind: EndKind::Account,
            label: "Partner of".into(),
            reverse_label: "Partner".into(),
            active: true,
            default_partner_type: true,
            created_at: csm_db::now(),
            updated_at: csm_db::now(),
        }
    }

    #[test]
    fn each_end_sees_its_own_label_and_the_other_account() {
        let (partner, customer) = (AccountId::new(), AccountId::new());
        let kind = partner_type();
        let relationship = AccountRelationship {
            id: AccountRelationshipId::new(),
            from_account: partner,
            type_id: kind.id,
            to_account: customer,
            active: true,
            created_at: csm_db::now(),
            updated_at: csm_db::now(),
        };
        let forward = RelationshipView::seen_from(partner, relationship.clone(), &kind);
        assert_eq!(
            (forward.direction, forward.label.as_str(), forward.related_account),
            (Direction::Forward, "Partner of", customer)
        );
        let reverse = RelationshipView::seen_from(customer, relationship, &kind);
        assert_eq!(
            (reverse.direction, reverse.label.as_str(), reverse.related_account),
            (Direction::Reverse, "Partner", partner)
        );
    }
}
