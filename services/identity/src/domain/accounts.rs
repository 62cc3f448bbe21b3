//! identity's accounts and their hierarchy (R1.2, R3.1–R3.3): pure types and
//! rules, no I/O.

use chrono::{DateTime, Utc};
use csm_errors::{CsmError, CsmResult};
use csm_types::AccountId;
use csm_types::roles;

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

/// The fields UpdateAccount may write (its update mask); `None` keeps the value.
/// kind and parent are not here on purpose: kind is immutable and the parent
/// changes only through SetAccountParent (R3.2 restricts who may do that).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountChanges {
    pub name: Option<String>,
    pub active: Option<bool>,
}

impl AccountChanges {
    /// `account` with these changes applied.
    pub fn apply_to(&self, account: &Account) -> Account {
        Account {
            name: self.name.clone().unwrap_or_else(|| account.name.clone()),
            active: self.active.unwrap_or(account.active),
            ..account.clone()
        }
    }
}

/// Filters of ListAccounts; they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    pub kind: Option<AccountKind>,
    /// Only direct children of this account.
    pub parent: Option<AccountId>,
    /// Only accounts without a parent.
    pub top_level_only: bool,
    /// Only names starting with this, case-insensitively.
    pub name_prefix: Option<String>,
    pub include_inactive: bool,
    /// Only these accounts (R4.9: what an external caller may see).
    pub only: Option<std::collections::BTreeSet<AccountId>>,
}

/// Which part of DESC(a) ListAccountDescendants returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DescendantFilter {
    /// Levels below the account to include (1 = direct children); `None` = all.
    pub max_depth: Option<u32>,
    pub include_inactive: bool,
}

/// An account with its ancestors, nearest (parent) first (BatchGetAccounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAncestry {
    pub account: Account,
    pub ancestors: Vec<AccountId>,
}

/// The result of BatchGetAccounts: found accounts in request order, the ids
/// that do not exist, and the feed revision the answer reflects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBatch {
    pub found: Vec<AccountAncestry>,
    pub missing: Vec<AccountId>,
    pub revision: u64,
}

/// A committed SetAccountParent: the account as it is now and its parent before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountMoved {
    pub account: Account,
    pub previous_parent: Option<AccountId>,
}

/// Maximum length of an account name.
pub const ACCOUNT_NAME_MAX_LEN: usize = 200;

/// Maximum number of ids of one BatchGetAccounts call.
pub const BATCH_GET_ACCOUNTS_MAX: usize = 1000;

/// Roles that may set or change an account's parent (R3.2, exactly as SPEC
/// lists them). Creating an account under a parent needs one of them too.
pub const ACCOUNT_HIERARCHY_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::CRM_FOUNDATION_ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
    roles::CRM_ACCOUNT_DATA_MANAGER,
    roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
];

/// Roles that may create accounts and change their name or active flag: the
/// R3.2 roles plus the CSM manager (T4.3 manager row: "create accounts,
/// contacts, consumers …"). The manager may NOT set parents (R3.2).
pub const ACCOUNT_EDITOR_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::CRM_FOUNDATION_ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
    roles::CRM_ACCOUNT_DATA_MANAGER,
    roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
    roles::MANAGER,
];

/// The roles, any one of which lets a person create `new`: placing an
/// account in the hierarchy is setting its parent, so it needs R3.2's roles.
pub fn roles_to_create(new: &NewAccount) -> &'static [&'static str] {
    if new.parent.is_some() { ACCOUNT_HIERARCHY_ROLES } else { ACCOUNT_EDITOR_ROLES }
}

/// R3.1: the hierarchy stays a tree. `account` may not go under itself or
/// under one of its descendants, i.e. it may not appear in the chain of the
/// new parent (`new_parent_chain`: the new parent followed by its ancestors).
pub fn ensure_parent_keeps_tree(account: AccountId, new_parent_chain: &[AccountId]) -> CsmResult<()> {
    if !new_parent_chain.contains(&account) {
        return Ok(());
    }
    let parent = new_parent_chain.first().copied().unwrap_or(account);
    let message = if parent == account {
        format!("account {account} cannot be its own parent")
    } else {
        format!("account {parent} is a descendant of account {account}: the hierarchy would contain a cycle")
    };
    Err(CsmError::invalid_argument("ACCOUNT_HIERARCHY_CYCLE", message)
        .with_metadata("account_id", account.to_string())
        .with_metadata("parent_account_id", parent.to_string()))
}

/// A new parent must be active, as for CreateAccount (ACCOUNT_INACTIVE).
pub fn ensure_parent_active(parent: &Account) -> CsmResult<()> {
    if parent.active {
        return Ok(());
    }
    Err(CsmError::failed_precondition("ACCOUNT_INACTIVE", format!("parent account {} is inactive", parent.id))
        .with_metadata("parent_account_id", parent.id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, parent: Option<AccountId>, active: bool) -> Account {
        let now = Utc::now();
        Account {
            id: AccountId::new(),
            name: name.to_owned(),
            kind: AccountKind::Customer,
            parent,
            active,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn r3_2_hierarchy_roles_are_exactly_the_listed_five() {
        let mut roles: Vec<&str> = ACCOUNT_HIERARCHY_ROLES.to_vec();
        roles.sort_unstable();
        assert_eq!(
            roles,
            vec![
                roles::ADMIN,
                roles::CRM_ACCOUNT_DATA_MANAGER,
                roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
                roles::CRM_FOUNDATION_ADMIN,
                roles::CRM_FOUNDATION_DATA_MANAGER,
            ]
        );
        assert!(!ACCOUNT_HIERARCHY_ROLES.contains(&roles::MANAGER));
    }

    #[test]
    fn editors_are_the_hierarchy_roles_plus_the_manager() {
        assert!(ACCOUNT_HIERARCHY_ROLES.iter().all(|role| ACCOUNT_EDITOR_ROLES.contains(role)));
        let extra: Vec<&str> =
            ACCOUNT_EDITOR_ROLES.iter().copied().filter(|role| !ACCOUNT_HIERARCHY_ROLES.contains(role)).collect();
        assert_eq!(extra, vec![roles::MANAGER]);
    }

    #[test]
    fn creating_under_a_parent_needs_a_hierarchy_role() {
        let top = NewAccount { name: "Top".into(), kind: AccountKind::Customer, parent: None };
        assert_eq!(roles_to_create(&top), ACCOUNT_EDITOR_ROLES);
        let child = NewAccount { parent: Some(AccountId::new()), ..top };
        assert_eq!(roles_to_create(&child), ACCOUNT_HIERARCHY_ROLES);
    }

    #[test]
    fn r3_1_a_parent_outside_the_subtree_keeps_the_tree() {
        let moved = AccountId::new();
        let chain = [AccountId::new(), AccountId::new()];
        assert!(ensure_parent_keeps_tree(moved, &chain).is_ok());
        assert!(ensure_parent_keeps_tree(moved, &[]).is_ok());
    }

    #[test]
    fn r3_1_the_account_itself_as_parent_is_a_cycle() {
        let moved = AccountId::new();
        let error = ensure_parent_keeps_tree(moved, &[moved]).unwrap_err();
        assert_eq!(error.reason(), "ACCOUNT_HIERARCHY_CYCLE");
        assert_eq!(error.code(), csm_errors::ErrorCode::InvalidArgument);
    }

    #[test]
    fn r3_1_a_descendant_as_parent_is_a_cycle() {
        let moved = AccountId::new();
        let grandchild = AccountId::new();
        let child = AccountId::new();
        // The new parent's chain: grandchild, child, moved, …
        let error = ensure_parent_keeps_tree(moved, &[grandchild, child, moved, AccountId::new()]).unwrap_err();
        assert_eq!(error.reason(), "ACCOUNT_HIERARCHY_CYCLE");
        assert_eq!(error.metadata()["parent_account_id"], grandchild.to_string());
    }

    #[test]
    fn an_inactive_parent_is_refused() {
        assert!(ensure_parent_active(&account("Live", None, true)).is_ok());
        let error = ensure_parent_active(&account("Dead", None, false)).unwrap_err();
        assert_eq!(error.reason(), "ACCOUNT_INACTIVE");
        assert_eq!(error.code(), csm_errors::ErrorCode::FailedPrecondition);
    }

    #[test]
    fn changes_write_only_the_masked_fields() {
        let before = account("Acme", Some(AccountId::new()), true);
        let renamed = AccountChanges { name: Some("Acme Corp".into()), active: None }.apply_to(&before);
        assert_eq!(renamed.name, "Acme Corp");
        assert!(renamed.active);
        assert_eq!(renamed.parent, before.parent);
        let deactivated = AccountChanges { name: None, active: Some(false) }.apply_to(&before);
        assert_eq!(deactivated.name, "Acme");
        assert!(!deactivated.active);
        assert_eq!(AccountChanges::default().apply_to(&before), before);
    }
}
