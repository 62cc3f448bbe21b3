//! The principal context (DESIGN §3): what case-access keeps about an active
//! profile so that a check needs no call to identity, role or account-team.
//! Built on a cache miss from the owning services and evicted by their Watch
//! streams; the decision table reads nothing else about the principal.

use std::collections::{BTreeMap, BTreeSet};

use csm_types::{AccountId, ConsumerId, GroupId, HouseholdId, ProfileId, SecurityGroupId};
use uuid::Uuid;

/// Which kind of profile is acting (R1.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    Employee,
    Contact,
    PartnerContact,
    Consumer,
}

impl PrincipalKind {
    pub fn is_external(self) -> bool {
        !matches!(self, PrincipalKind::Employee)
    }
}

/// A team membership with its responsibility (R3.14–R3.16): account teams
/// for accounts, consumer / household teams for consumers and households.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamMembership {
    pub id: Uuid,
    pub target: TeamTarget,
    /// Responsibility definition name, e.g. "Account Manager".
    pub responsibility: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeamTarget {
    Account(AccountId),
    Consumer(ConsumerId),
    Household(HouseholdId),
}

/// An active responsibility access configuration (R5.2) as case-access
/// evaluates it on cases: the Simple association `team_member.account =
/// case.account` for one responsibility (R5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessConfiguration {
    pub id: Uuid,
    pub responsibility: String,
    pub roles_required: BTreeSet<String>,
    pub read: bool,
    pub write: bool,
    pub create: bool,
}

/// Rights of a Cherwell security group on cases (R6.4), already reduced to
/// what the principal's relation to an owner grants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnershipGrants {
    pub security_group: Option<SecurityGroupId>,
    /// Rights on every case.
    pub base: BTreeSet<RecordRight>,
    /// Rights by ownership relation; present only when the group's rights
    /// depend on ownership. Whether a relation's "Holds" attribute is defined
    /// is a setting, applied by the decision table (R6.4).
    pub by_relation: BTreeMap<OwnershipRelation, BTreeSet<RecordRight>>,
}

/// The Cherwell rights of one security group on cases, as configured
/// (contract: SecurityGroupRights; R6.3–R6.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroupRights {
    pub security_group: SecurityGroupId,
    /// Rights on every case regardless of ownership.
    pub base: BTreeSet<RecordRight>,
    /// "Different rights based on ownership" enabled.
    pub rights_based_on_ownership: bool,
    /// Rights per relation (at most one entry per relation).
    pub by_relation: BTreeMap<OwnershipRelation, BTreeSet<RecordRight>>,
}

impl SecurityGroupRights {
    /// What a member of the group holds: the base rights, and the relation
    /// rights only when rights depend on ownership (R6.4).
    pub fn grants(&self) -> OwnershipGrants {
        let by_relation = if self.rights_based_on_ownership {
            self.by_relation.iter().filter(|(_, rights)| !rights.is_empty()).map(|(r, s)| (*r, s.clone())).collect()
        } else {
            BTreeMap::new()
        };
        OwnershipGrants { security_group: Some(self.security_group), base: self.base.clone(), by_relation }
    }

    /// The out-of-the-box rights of a seeded Cherwell group, by name (R6.5,
    /// R6.6). Customer groups only: the sources give the User groups no
    /// case rights, so those start with none (an administrator sets them).
    /// - Portal Customer: own records (OWNER {View, Edit}), shared with the
    ///   owner's manager (MANAGER_OF_OWNER {View}), not with workgroup members (R6.5).
    /// - Portal Workgroup Manager: the same plus the records of the
    ///   workgroups it manages (TEAM_MANAGER {View, Edit}).
    pub fn out_of_the_box(security_group: SecurityGroupId, group_name: &str) -> Option<Self> {
        use OwnershipRelation::*;
        use RecordRight::*;
        let mut by_relation =
            BTreeMap::from([(Owner, BTreeSet::from([View, Edit])), (ManagerOfOwner, BTreeSet::from([View]))]);
        match group_name {
            "Portal Customer" => {}
            "Portal Workgroup Manager" => {
                by_relation.insert(TeamManager, BTreeSet::from([View, Edit]));
            }
            _ => return None,
        }
        Some(Self { security_group, base: BTreeSet::new(), rights_based_on_ownership: true, by_relation })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecordRight {
    View,
    Add,
    Edit,
    Delete,
}

impl RecordRight {
    pub const ALL: [RecordRight; 4] = [RecordRight::View, RecordRight::Add, RecordRight::Edit, RecordRight::Delete];

    /// Stable code (storage).
    pub fn code(self) -> &'static str {
        match self {
            RecordRight::View => "VIEW",
            RecordRight::Add => "ADD",
            RecordRight::Edit => "EDIT",
            RecordRight::Delete => "DELETE",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|right| right.code() == code)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum OwnershipRelation {
    Owner,
    DepartmentMember,
    ManagerOfOwner,
    TeamMember,
    TeamManager,
}

impl OwnershipRelation {
    pub const ALL: [OwnershipRelation; 5] = [
        OwnershipRelation::Owner,
        OwnershipRelation::DepartmentMember,
        OwnershipRelation::ManagerOfOwner,
        OwnershipRelation::TeamMember,
        OwnershipRelation::TeamManager,
    ];

    /// Stable code (storage).
    pub fn code(self) -> &'static str {
        match self {
            OwnershipRelation::Owner => "OWNER",
            OwnershipRelation::DepartmentMember => "DEPARTMENT_MEMBER",
            OwnershipRelation::ManagerOfOwner => "MANAGER_OF_OWNER",
            OwnershipRelation::TeamMember => "TEAM_MEMBER",
            OwnershipRelation::TeamManager => "TEAM_MANAGER",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|relation| relation.code() == code)
    }

    pub fn rule(self) -> &'static str {
        match self {
            OwnershipRelation::Owner => "R6.4.owner",
            OwnershipRelation::DepartmentMember => "R6.4.department_member",
            OwnershipRelation::ManagerOfOwner => "R6.4.manager_of_owner",
            OwnershipRelation::TeamMember => "R6.4.team_member",
            OwnershipRelation::TeamManager => "R6.4.team_manager",
        }
    }
}

/// Everything the decision table knows about the acting profile.
#[derive(Clone, Debug)]
pub struct PrincipalContext {
    /// Which load of the context cache this is (unique in the process; 0 for
    /// a context the cache did not load, e.g. a previewed one): a loaded
    /// context never changes, so its compiled rules are kept by this number.
    pub serial: u64,
    pub profile: ProfileId,
    pub kind: PrincipalKind,
    /// Effective roles (closure over containment and groups, R2.18–R2.19).
    pub roles: BTreeSet<String>,
    /// acct(me): the contact's account, or the partner account.
    pub account: Option<AccountId>,
    /// DESC(acct(me)) without acct(me) itself (R3.3, X5).
    pub descendants: BTreeSet<AccountId>,
    /// CR(me): accounts reached through contact relationships → relationship id (R3.7).
    pub contact_relationships: BTreeMap<AccountId, Uuid>,
    /// PCUST(acct(me)) → account relationship id (R3.6).
    pub partner_customers: BTreeMap<AccountId, Uuid>,
    /// The consumer record of a consumer profile (T4.2 "own").
    pub consumer: Option<ConsumerId>,
    /// Head of household: current members of the households it heads → household (T4.2).
    pub household_members: BTreeMap<ConsumerId, HouseholdId>,
    /// Consumers it represents (authorized representative) → consumer relationship id (T4.2, R4.11).
    pub represented_consumers: BTreeMap<ConsumerId, Uuid>,
    /// Account / consumer / household team memberships (R3.14–R3.16).
    pub teams: Vec<TeamMembership>,
    /// Business locations of a service organization contributor (T4.4).
    pub business_locations: BTreeSet<Uuid>,
    /// Groups it belongs to (assignment groups, teams, workgroups).
    pub groups: BTreeSet<GroupId>,
    /// Groups it manages (Cherwell team / workgroup manager, R6.3).
    pub managed_groups: BTreeSet<GroupId>,
    /// Its department (person attribute, R6.4).
    pub department: Option<Uuid>,
    /// Other people in its department (Cherwell department members, R6.3).
    pub department_members: BTreeSet<ProfileId>,
    /// People it manages (Cherwell manager of owner, R6.3).
    pub reports: BTreeSet<ProfileId>,
    /// Accounts whose contacts' records it may reach through an access configuration (R5.3).
    pub access_configurations: Vec<AccessConfiguration>,
    /// Cherwell rights of its security group (R6.4).
    pub ownership: OwnershipGrants,
    /// R5.12: accounts of {acct(me)} ∪ CR(me) whose Account Access record sets
    /// `restrict_contact_access` → whether the record lists me as an allowed contact.
    pub restricted_contact_access: BTreeMap<AccountId, bool>,
}

impl PrincipalContext {
    /// A context with nothing but a profile, its kind and its roles.
    pub fn new(profile: ProfileId, kind: PrincipalKind, roles: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            serial: 0,
            profile,
            kind,
            roles: roles.into_iter().map(Into::into).collect(),
            account: None,
            descendants: BTreeSet::new(),
            contact_relationships: BTreeMap::new(),
            partner_customers: BTreeMap::new(),
            consumer: None,
            household_members: BTreeMap::new(),
            represented_consumers: BTreeMap::new(),
            teams: Vec::new(),
            business_locations: BTreeSet::new(),
            groups: BTreeSet::new(),
            managed_groups: BTreeSet::new(),
            department: None,
            department_members: BTreeSet::new(),
            reports: BTreeSet::new(),
            access_configurations: Vec::new(),
            ownership: OwnershipGrants::default(),
            restricted_contact_access: BTreeMap::new(),
        }
    }

    pub fn has(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    /// {acct(me)} (empty without an account).
    pub fn own_account(&self) -> BTreeSet<AccountId> {
        self.account.into_iter().collect()
    }

    /// {acct(me)} ∪ DESC(acct(me)).
    pub fn account_and_descendants(&self) -> BTreeSet<AccountId> {
        self.own_account().into_iter().chain(self.descendants.iter().copied()).collect()
    }

    /// CA_SCOPE(me) = {acct(me)} ∪ CR(me) ∪ DESC(acct(me)) (§4.1, X5).
    pub fn customer_admin_scope(&self) -> BTreeSet<AccountId> {
        let mut scope = self.account_and_descendants();
        scope.extend(self.contact_relationships.keys().copied());
        scope
    }

    /// {acct(me)} ∪ CR(me).
    pub fn account_and_relationships(&self) -> BTreeSet<AccountId> {
        let mut scope = self.own_account();
        scope.extend(self.contact_relationships.keys().copied());
        scope
    }

    /// Accounts on whose team it holds one of `responsibilities`.
    pub fn team_accounts(&self, responsibilities: &[&str]) -> BTreeSet<AccountId> {
        self.teams
            .iter()
            .filter(|team| responsibilities.iter().any(|r| team.responsibility.eq_ignore_ascii_case(r)))
            .filter_map(|team| match team.target {
                TeamTarget::Account(account) => Some(account),
                _ => None,
            })
            .collect()
    }

    /// Consumers (directly, or as members of households) on whose team it holds one of `responsibilities`.
    pub fn team_consumers(&self, responsibilities: &[&str]) -> (BTreeSet<ConsumerId>, BTreeSet<HouseholdId>) {
        let mut consumers = BTreeSet::new();
        let mut households = BTreeSet::new();
        for team in &self.teams {
            if !responsibilities.iter().any(|r| team.responsibility.eq_ignore_ascii_case(r)) {
                continue;
            }
            match team.target {
                TeamTarget::Consumer(consumer) => {
                    consumers.insert(consumer);
                }
                TeamTarget::Household(household) => {
                    households.insert(household);
                }
                TeamTarget::Account(_) => {}
            }
        }
        (consumers, households)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::case::CaseFacts;
    use crate::domain::table::{Action, TableSettings, decide_action};

    #[test]
    fn rights_not_based_on_ownership_grant_only_the_base() {
        let group = SecurityGroupId::new();
        let mut rights = SecurityGroupRights::out_of_the_box(group, "Portal Customer").expect("seeded group");
        assert_eq!(rights.grants().by_relation.len(), 2);
        assert!(!rights.grants().by_relation.contains_key(&OwnershipRelation::TeamMember), "R6.5: no workgroup");
        rights.rights_based_on_ownership = false;
        rights.base.insert(RecordRight::View);
        let grants = rights.grants();
        assert!(grants.by_relation.is_empty());
        assert_eq!(grants.base, BTreeSet::from([RecordRight::View]));
        assert!(SecurityGroupRights::out_of_the_box(group, "IT Service Desk Level 1").is_none());
    }

    #[test]
    fn an_undefined_holds_attribute_ignores_its_relations() {
        let owner = ProfileId::new();
        let group = GroupId::new();
        let mut ctx = PrincipalContext::new(owner, PrincipalKind::Employee, Vec::<String>::new());
        ctx.groups.insert(group);
        let mut rights = SecurityGroupRights::out_of_the_box(SecurityGroupId::new(), "Portal Customer").unwrap();
        rights.by_relation.insert(OwnershipRelation::TeamMember, BTreeSet::from([RecordRight::View]));
        ctx.ownership = rights.grants();
        let owned = CaseFacts { owner: Some(owner), ..CaseFacts::default() };
        let grouped = CaseFacts { owner_group: Some(group), ..CaseFacts::default() };
        let mut settings = TableSettings::default();
        assert_eq!(decide_action(&ctx, &settings, Action::Read, &owned).rule(), "R6.4.owner");
        assert_eq!(decide_action(&ctx, &settings, Action::Read, &grouped).rule(), "R6.4.team_member");
        settings.holds.owner = false;
        assert!(!decide_action(&ctx, &settings, Action::Read, &owned).allowed());
        settings.holds.owner_group = false;
        assert!(!decide_action(&ctx, &settings, Action::Read, &grouped).allowed());
    }

    #[test]
    fn codes_round_trip() {
        for right in RecordRight::ALL {
            assert_eq!(RecordRight::from_code(right.code()), Some(right));
        }
        for relation in OwnershipRelation::ALL {
            assert_eq!(OwnershipRelation::from_code(relation.code()), Some(relation));
        }
    }
}
