//! identity's domain: pure types and rules, no I/O.

use chrono::{DateTime, Utc};
use csm_types::AccountId;

/// The kind of an account (R1.2): its contacts are B2B contacts or partner contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountKind {
    Customer,
    Partner,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Customer => "customer",
            AccountKind::Partner => "partner",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "customer" => Some(AccountKind::Customer),
            "partner" => Some(AccountKind::Partner),
            _ => None,
        }
    }
}

/// A customer or partner account; at most one parent (R3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub kind: AccountKind,
    pub parent: Option<AccountId>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated request to create an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub name: String,
    pub kind: AccountKind,
    pub parent: Option<AccountId>,
}

/// Maximum length of an account name.
pub const ACCOUNT_NAME_MAX_LEN: usize = 200;

/// Roles that may create and change accounts and set their parent (R3.2;
/// T4.3 manager row: "create accounts, contacts, consumers …").
pub const ACCOUNT_ADMIN_ROLES: &[&str] = &[
    "admin",
    "sn_crm_foundation_admin",
    "sn_crm_foundation_data_manager",
    "sn_crm_account_data_manager",
    "sn_crm_account_relationship_data_manager",
    "sn_customerservice_manager",
];
