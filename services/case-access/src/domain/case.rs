//! What the decision table reads of a case (SPEC §0.4, R4.1): the fields a
//! rule compares, and the related rows (tasks, related parties) a rule may
//! look through. A draft (a case about to be created) is the same shape with
//! `case_id = None`.

use std::collections::BTreeSet;

use csm_types::{AccountId, CaseId, ConsumerId, GroupId, HouseholdId, ProfileId, SoldProductId};
use uuid::Uuid;

/// Case segment (R4.1), computed from the customer fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    B2b,
    B2c,
    ServiceOrg,
    Employee,
    /// No customer field at all (only possible for malformed drafts).
    Unspecified,
}

impl Segment {
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::B2b => "B2B",
            Segment::B2c => "B2C",
            Segment::ServiceOrg => "SERVICE_ORG",
            Segment::Employee => "EMPLOYEE",
            Segment::Unspecified => "UNSPECIFIED",
        }
    }
}

/// The kind of a related party (R5.5): which id `party_id` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartyKind {
    /// A B2B or partner contact (a profile id).
    Contact,
    /// A consumer record (a consumer id).
    Consumer,
    /// An internal user (a profile id).
    User,
    /// An account (an account id).
    Account,
    /// A service organization.
    ServiceOrganization,
}

/// One related-party row on a case, a sold product or an install base item,
/// with the responsibility it carries (R5.4: "listed" types carry none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelatedParty {
    pub id: Uuid,
    pub kind: PartyKind,
    pub party_id: Uuid,
    /// Responsibility definition name, e.g. "Authorized Representative"; `None` for listed types.
    pub responsibility: Option<String>,
}

/// A related party of the sold product a case is about (directly or through
/// an affected install base item), for R5.8/R5.9.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductParty {
    pub sold_product: SoldProductId,
    pub party: RelatedParty,
}

/// One task of the case, as R4.19/R4.20 read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskFacts {
    pub assigned_to: Option<ProfileId>,
    pub assignment_group: Option<GroupId>,
    pub created_by: Option<ProfileId>,
}

/// The facts of one case (or draft) the decision table reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaseFacts {
    pub case_id: Option<CaseId>,
    pub account: Option<AccountId>,
    pub contact: Option<ProfileId>,
    /// The account the case contact belongs to (resolved from identity for drafts; T4.1 CREATE_OBO).
    pub contact_account: Option<AccountId>,
    /// CR(case.contact): the accounts a contact relationship adds the case contact to
    /// (R3.7; resolved from account-team for drafts whose contact is not of the case account).
    pub contact_related_accounts: BTreeSet<AccountId>,
    pub consumer: Option<ConsumerId>,
    pub household: Option<HouseholdId>,
    pub partner_account: Option<AccountId>,
    pub partner_contact: Option<ProfileId>,
    pub internal_contact: Option<ProfileId>,
    pub requestor_organization: Option<Uuid>,
    pub requested_by: Option<ProfileId>,
    pub opened_by: Option<ProfileId>,
    pub owner: Option<ProfileId>,
    pub owner_group: Option<GroupId>,
    pub contributor_users: BTreeSet<ProfileId>,
    pub contributor_groups: BTreeSet<GroupId>,
    pub tasks: Vec<TaskFacts>,
    pub related_parties: Vec<RelatedParty>,
    pub product_parties: Vec<ProductParty>,
    /// Related parties of the case's install base item and affected items (R5.11).
    pub install_base_parties: Vec<RelatedParty>,
}

impl CaseFacts {
    /// R4.1: B2B if account is set (B2B2C included); B2C if consumer without
    /// account; SERVICE_ORG if requestor organization only; EMPLOYEE if
    /// requested_by only.
    pub fn segment(&self) -> Segment {
        if self.account.is_some() {
            Segment::B2b
        } else if self.consumer.is_some() {
            Segment::B2c
        } else if self.requestor_organization.is_some() {
            Segment::ServiceOrg
        } else if self.requested_by.is_some() {
            Segment::Employee
        } else {
            Segment::Unspecified
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_follows_the_first_populated_customer_field() {
        let mut case = CaseFacts { requested_by: Some(ProfileId::new()), ..CaseFacts::default() };
        assert_eq!(case.segment(), Segment::Employee);
        case.requestor_organization = Some(Uuid::now_v7());
        assert_eq!(case.segment(), Segment::ServiceOrg);
        case.consumer = Some(ConsumerId::new());
        assert_eq!(case.segment(), Segment::B2c);
        case.account = Some(AccountId::new());
        assert_eq!(case.segment(), Segment::B2b, "B2B2C cases are B2B");
        assert_eq!(CaseFacts::default().segment(), Segment::Unspecified);
    }
}
