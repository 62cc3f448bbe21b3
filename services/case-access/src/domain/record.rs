//! A stored case (SPEC §0.4, R4.1, R6.3) and a case about to be created.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use csm_types::{AccountId, CaseId, ConsumerId, GroupId, HouseholdId, ProfileId};
use uuid::Uuid;

use super::case::{CaseFacts, Segment};

/// Lifecycle state codes (the proto enum names without prefix).
pub const STATES: &[&str] = &["NEW", "OPEN", "AWAITING_INFO", "RESOLVED", "CLOSED", "CANCELLED"];

/// The customer option chosen at creation (R4.14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateFor {
    Account,
    Consumer,
    BusinessLocation,
    Myself,
}

/// The fields a creator supplies (CaseDraft), after validation.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    pub create_for: Option<CreateFor>,
    pub short_description: String,
    pub description: String,
    pub priority: String,
    pub channel: String,
    pub account: Option<AccountId>,
    pub contact: Option<ProfileId>,
    pub consumer: Option<ConsumerId>,
    pub household: Option<HouseholdId>,
    pub consumer_profile: Option<ProfileId>,
    pub partner_contact: Option<ProfileId>,
    pub requestor_organization: Option<Uuid>,
    pub service_organization: Option<Uuid>,
    pub sold_product: Option<Uuid>,
    pub install_base_item: Option<Uuid>,
    pub assignment_group: Option<GroupId>,
    pub assigned_to: Option<ProfileId>,
    pub owner: Option<ProfileId>,
    pub owner_group: Option<GroupId>,
}

/// A stored case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseRecord {
    pub id: CaseId,
    pub number: String,
    pub short_description: String,
    pub description: String,
    pub state: String,
    pub priority: String,
    pub channel: String,
    pub segment: Segment,
    pub account: Option<AccountId>,
    pub contact: Option<ProfileId>,
    pub consumer: Option<ConsumerId>,
    pub household: Option<HouseholdId>,
    pub consumer_profile: Option<ProfileId>,
    pub partner_account: Option<AccountId>,
    pub partner_contact: Option<ProfileId>,
    pub internal_contact: Option<ProfileId>,
    pub requestor_organization: Option<Uuid>,
    pub requested_by: Option<ProfileId>,
    pub opened_by: ProfileId,
    pub service_organization: Option<Uuid>,
    pub sold_product: Option<Uuid>,
    pub install_base_item: Option<Uuid>,
    pub contributor_users: BTreeSet<ProfileId>,
    pub contributor_groups: BTreeSet<GroupId>,
    pub assignment_group: Option<GroupId>,
    pub assigned_to: Option<ProfileId>,
    pub owner: Option<ProfileId>,
    pub owner_group: Option<GroupId>,
    pub escalation: String,
    pub close_notes: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl CaseRecord {
    /// The facts a decision reads, without the related rows (tasks, parties).
    pub fn facts(&self) -> CaseFacts {
        CaseFacts {
            case_id: Some(self.id),
            account: self.account,
            contact: self.contact,
            contact_account: None,
            consumer: self.consumer,
            household: self.household,
            partner_account: self.partner_account,
            partner_contact: self.partner_contact,
            internal_contact: self.internal_contact,
            requestor_organization: self.requestor_organization,
            requested_by: self.requested_by,
            opened_by: Some(self.opened_by),
            owner: self.owner,
            owner_group: self.owner_group,
            contributor_users: self.contributor_users.clone(),
            contributor_groups: self.contributor_groups.clone(),
            ..CaseFacts::default()
        }
    }
}

/// A draft as the decision table reads it, with the server stamps of
/// CreateCase applied (opened_by := me, …) and the accounts of its contact:
/// its primary account and CR(contact) (R3.7).
pub fn draft_facts(
    draft: &Draft,
    stamps: &Stamps,
    contact_account: Option<AccountId>,
    contact_related_accounts: BTreeSet<AccountId>,
) -> CaseFacts {
    CaseFacts {
        case_id: None,
        account: draft.account,
        contact: draft.contact.or(stamps.contact),
        contact_account,
        contact_related_accounts,
        consumer: draft.consumer.or(stamps.consumer),
        household: draft.household,
        partner_account: stamps.partner_account,
        partner_contact: draft.partner_contact.or(stamps.partner_contact),
        internal_contact: stamps.internal_contact,
        requestor_organization: draft.requestor_organization,
        requested_by: stamps.requested_by,
        opened_by: Some(stamps.opened_by),
        owner: draft.owner,
        owner_group: draft.owner_group,
        ..CaseFacts::default()
    }
}

/// What CreateCase stamps on a case (see the contract's CreateCase comment).
#[derive(Clone, Debug)]
pub struct Stamps {
    pub opened_by: ProfileId,
    pub contact: Option<ProfileId>,
    pub consumer: Option<ConsumerId>,
    pub partner_account: Option<AccountId>,
    pub partner_contact: Option<ProfileId>,
    pub internal_contact: Option<ProfileId>,
    pub requested_by: Option<ProfileId>,
}

/// Why a draft cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The fields contradict the customer option (INVALID_ARGUMENT, names the field).
    Inconsistent { field: &'static str, why: &'static str },
}

/// The customer option of a draft: the explicit one, else inferred from the
/// populated fields (account → ACCOUNT, consumer → CONSUMER, requestor
/// organization → BUSINESS_LOCATION, none → MYSELF).
pub fn create_for(draft: &Draft) -> CreateFor {
    draft.create_for.unwrap_or(if draft.account.is_some() {
        CreateFor::Account
    } else if draft.consumer.is_some() {
        CreateFor::Consumer
    } else if draft.requestor_organization.is_some() {
        CreateFor::BusinessLocation
    } else {
        CreateFor::Myself
    })
}

/// Derives the create action and the server stamps of CreateCase for `ctx`
/// (contract: CreateCase; T4.1.partner stamping; R4.21 internal contact).
pub fn plan_create(
    ctx: &super::principal::PrincipalContext,
    draft: &Draft,
) -> Result<(super::table::Action, Stamps), PlanError> {
    use super::principal::PrincipalKind;
    use super::table::{Action, PARTNER, PARTNER_ADMIN, PROXY_CONTACT};

    let option = create_for(draft);
    let inconsistent = |field, why| Err(PlanError::Inconsistent { field, why });
    match option {
        CreateFor::Account if draft.account.is_none() => return inconsistent("account_id", "required for ACCOUNT"),
        CreateFor::Consumer if draft.consumer.is_none() && ctx.consumer.is_none() => {
            return inconsistent("consumer_id", "required for CONSUMER");
        }
        CreateFor::Consumer if draft.account.is_some() => {
            return inconsistent("account_id", "must be empty for CONSUMER");
        }
        CreateFor::BusinessLocation if draft.requestor_organization.is_none() => {
            return inconsistent("requestor_organization_id", "required for BUSINESS_LOCATION");
        }
        CreateFor::BusinessLocation if draft.account.is_some() || draft.consumer.is_some() => {
            return inconsistent("account_id", "account and consumer must be empty for BUSINESS_LOCATION");
        }
        CreateFor::Myself
            if draft.account.is_some() || draft.consumer.is_some() || draft.requestor_organization.is_some() =>
        {
            return inconsistent("create_for", "MYSELF takes no account, consumer or requestor organization");
        }
        _ => {}
    }
    let me = ctx.profile;
    let external_contact = matches!(ctx.kind, PrincipalKind::Contact | PrincipalKind::PartnerContact);
    let mut stamps = Stamps {
        opened_by: me,
        contact: None,
        consumer: None,
        partner_account: None,
        partner_contact: None,
        internal_contact: None,
        requested_by: None,
    };
    let partner = ctx.has(PARTNER) || ctx.has(PARTNER_ADMIN);
    // A partner creating for another account acts on behalf of its customer (T4.1.partner).
    let partner_obo =
        option == CreateFor::Account && partner && draft.account.is_some() && draft.account != ctx.account;
    if option == CreateFor::Account && external_contact && draft.contact.is_none() && !partner_obo {
        stamps.contact = Some(me);
    }
    if option == CreateFor::Consumer && draft.consumer.is_none() {
        stamps.consumer = ctx.consumer;
    }
    if option == CreateFor::Myself {
        stamps.requested_by = Some(me);
    }
    if partner_obo {
        stamps.partner_account = ctx.account;
        stamps.partner_contact = Some(me);
    }
    if ctx.kind == PrincipalKind::Employee && ctx.has(PROXY_CONTACT) && option == CreateFor::Account {
        stamps.internal_contact = Some(me);
    }
    let own = option == CreateFor::Myself
        || draft.contact.or(stamps.contact) == Some(me)
        || (ctx.consumer.is_some() && draft.consumer.or(stamps.consumer) == ctx.consumer);
    Ok((if own { Action::CreateSelf } else { Action::CreateObo }, stamps))
}
