//! R4.9 (and R4.8's delegated scope), written once for identity and
//! account-team: which accounts, and which accounts'
//! contacts, a person may see. Internal people and the profile-reader roles
//! see everything; external people see what their portal roles give them:
//!
//! | role (effective)               | accounts                         | contacts of                      |
//! |--------------------------------|----------------------------------|----------------------------------|
//! | customer                       | {acct(me)} ∪ CR(me)              | — (only itself)                  |
//! | customer_admin                 | + DESC(acct(me))                 | {acct(me)} ∪ DESC(acct(me))      |
//! | partner, partner_admin         | {acct(me)} ∪ PCUST(acct(me))     | {acct(me)} ∪ PCUST(acct(me))     |
//!
//! A plain contact does not see contacts of sub-accounts (SN-KB0957213).
//! Delegated administration (R4.8) manages contacts of {acct(me)} ∪
//! DESC(acct(me)) for a customer admin, plus PCUST(acct(me)) for a partner admin.

use std::collections::{BTreeSet, HashSet};

use crate::AccountId;
use crate::roles;
pub use crate::roles::{CUSTOMER, CUSTOMER_ADMIN, PARTNER, PARTNER_ADMIN};

/// Delegated (portal) admins: manage contacts only within their scope (R4.8).
pub const DELEGATED_CONTACT_ADMIN_ROLES: &[&str] = &[roles::CUSTOMER_ADMIN, roles::PARTNER_ADMIN];

/// Roles that may read any profile (agents read contacts, R4.12; CRM data roles).
/// `sn_esm_agent` is in the closure of every agent-family role (R2.6).
pub const PROFILE_READER_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::ESM_AGENT,
    roles::CUSTOMER_DATA_VIEWER,
    roles::CONTACT_MANAGER,
    roles::CRM_FOUNDATION_ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
    roles::CRM_ACCOUNT_DATA_MANAGER,
];

/// What a viewer is, as the table above reads it.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// An internal (employee) profile: sees everything (R1.1).
    pub internal: bool,
    pub roles: HashSet<String>,
    /// acct(me).
    pub account: Option<AccountId>,
    /// DESC(acct(me)), without acct(me).
    pub descendants: Vec<AccountId>,
    /// CR(me): accounts of the viewer's contact relationships (R3.7).
    pub contact_relationships: Vec<AccountId>,
    /// PCUST(acct(me)) (R3.6).
    pub partner_customers: Vec<AccountId>,
}

impl Viewer {
    fn has(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    /// Whether the viewer sees every account and contact.
    pub fn sees_everything(&self) -> bool {
        self.internal || PROFILE_READER_ROLES.iter().any(|role| self.has(role))
    }

    /// Whether it needs the account-team facts (CR, PCUST) to be judged.
    pub fn needs_relationships(&self) -> bool {
        !self.sees_everything()
    }
}

/// What an external viewer may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    Everything,
    Restricted {
        /// Accounts it may read.
        accounts: BTreeSet<AccountId>,
        /// Accounts whose contacts it may read.
        contacts_of: BTreeSet<AccountId>,
    },
}

impl Visibility {
    pub fn account(&self, account: AccountId) -> bool {
        match self {
            Visibility::Everything => true,
            Visibility::Restricted { accounts, .. } => accounts.contains(&account),
        }
    }

    pub fn contacts_of(&self, account: AccountId) -> bool {
        match self {
            Visibility::Everything => true,
            Visibility::Restricted { contacts_of, .. } => contacts_of.contains(&account),
        }
    }
}

/// R4.9's table for `viewer`.
pub fn visibility(viewer: &Viewer) -> Visibility {
    if viewer.sees_everything() {
        return Visibility::Everything;
    }
    let mut accounts = BTreeSet::new();
    let mut contacts_of = BTreeSet::new();
    let own: Vec<AccountId> = viewer.account.into_iter().collect();
    if viewer.has(CUSTOMER) || viewer.has(CUSTOMER_ADMIN) {
        accounts.extend(own.iter().copied());
        accounts.extend(viewer.contact_relationships.iter().copied());
    }
    if viewer.has(CUSTOMER_ADMIN) {
        accounts.extend(own.iter().copied().chain(viewer.descendants.iter().copied()));
        contacts_of.extend(own.iter().copied().chain(viewer.descendants.iter().copied()));
    }
    if viewer.has(PARTNER) || viewer.has(PARTNER_ADMIN) {
        let scope = own.iter().copied().chain(viewer.partner_customers.iter().copied());
        accounts.extend(scope.clone());
        contacts_of.extend(scope);
    }
    // A delegated admin sees what it manages.
    let managed = delegated_scope(viewer);
    accounts.extend(managed.iter().copied());
    contacts_of.extend(managed);
    Visibility::Restricted { accounts, contacts_of }
}

/// R4.8: the accounts whose contacts a delegated admin manages.
pub fn delegated_scope(viewer: &Viewer) -> BTreeSet<AccountId> {
    let mut scope = BTreeSet::new();
    if !DELEGATED_CONTACT_ADMIN_ROLES.iter().any(|role| viewer.has(role)) {
        return scope;
    }
    scope.extend(viewer.account);
    scope.extend(viewer.descendants.iter().copied());
    if viewer.has(PARTNER_ADMIN) {
        scope.extend(viewer.partner_customers.iter().copied());
    }
    scope
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(internal: bool, roles: &[&str]) -> Viewer {
        Viewer {
            internal,
            roles: roles.iter().map(|role| (*role).to_owned()).collect(),
            account: Some(AccountId::new()),
            descendants: vec![AccountId::new()],
            contact_relationships: vec![AccountId::new()],
            partner_customers: vec![AccountId::new()],
        }
    }

    #[test]
    fn internal_people_and_readers_see_everything() {
        assert_eq!(visibility(&viewer(true, &[])), Visibility::Everything);
        assert_eq!(visibility(&viewer(false, &[roles::CUSTOMER_DATA_VIEWER])), Visibility::Everything);
    }

    #[test]
    fn a_plain_customer_sees_its_accounts_but_no_contacts_of_sub_accounts() {
        let me = viewer(false, &[CUSTOMER]);
        let seen = visibility(&me);
        assert!(seen.account(me.account.unwrap()));
        assert!(seen.account(me.contact_relationships[0]));
        assert!(!seen.account(me.descendants[0]));
        assert!(!seen.contacts_of(me.account.unwrap()));
        assert!(!seen.contacts_of(me.descendants[0]));
        assert!(delegated_scope(&me).is_empty());
    }

    #[test]
    fn a_customer_admin_adds_the_hierarchy_and_its_contacts() {
        let me = viewer(false, &[CUSTOMER, CUSTOMER_ADMIN]);
        let seen = visibility(&me);
        assert!(seen.account(me.descendants[0]) && seen.contacts_of(me.descendants[0]));
        assert!(!seen.account(me.partner_customers[0]));
        assert_eq!(delegated_scope(&me), BTreeSet::from([me.account.unwrap(), me.descendants[0]]));
    }

    #[test]
    fn partners_see_their_customers_and_partner_admins_manage_them() {
        let partner = viewer(false, &[PARTNER]);
        let seen = visibility(&partner);
        assert!(seen.account(partner.partner_customers[0]) && seen.contacts_of(partner.partner_customers[0]));
        assert!(!seen.account(partner.contact_relationships[0]));
        assert!(delegated_scope(&partner).is_empty());
        let admin = viewer(false, &[PARTNER, PARTNER_ADMIN]);
        assert!(delegated_scope(&admin).contains(&admin.partner_customers[0]));
    }
}
