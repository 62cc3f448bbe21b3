//! Groups (R2.18, R2.19, R6.2, R1.8): kinds, the hierarchy seen as chains,
//! what a profile or a group holds through it, and the collision checks of
//! group writes (R2.11.2, R2.11.5, R2.12.2–R2.12.5, with R2.15, R1.15 and
//! R2.17 for every profile reached). Pure: the caller loads the part of the
//! hierarchy a write touches and asks what the write would change.
//!
//! Every group write is checked the same way: each affected holder (a group
//! chain or a profile) is described *before* the write (after whatever the
//! write removes) and *after* it; the roles it gains are checked against what
//! it holds with the one collision engine ([`check_additions`]). Only the rule
//! id of an explicit-role collision depends on the write (R2.11 vs R2.12).

use std::collections::{BTreeMap, BTreeSet};

use csm_types::{GroupId, ProfileId};

use super::collisions::{Finding, Policies, check_additions, holds_both};
use super::graph::RoleGraph;

/// The kind of a group (R1.8, R6.2). Immutable once created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupKind {
    /// ServiceNow-style assignment group: any profile may be a member.
    AssignmentGroup,
    /// Cherwell Team: members are Users, i.e. INTERNAL profiles.
    Team,
    /// Cherwell Customer Workgroup: members are Customers, i.e. non-INTERNAL profiles.
    CustomerWorkgroup,
}

impl GroupKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::AssignmentGroup => "assignment_group",
            GroupKind::Team => "team",
            GroupKind::CustomerWorkgroup => "customer_workgroup",
        }
    }

    /// Parses the stored form.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "assignment_group" => Some(GroupKind::AssignmentGroup),
            "team" => Some(GroupKind::Team),
            "customer_workgroup" => Some(GroupKind::CustomerWorkgroup),
            _ => None,
        }
    }

    /// Whether a profile of `member` kind may join a group of this kind (R1.8:
    /// Users join Teams, Customers join Customer Workgroups; assignment groups
    /// take anyone).
    pub fn admits(self, member: MemberKind) -> bool {
        match self {
            GroupKind::AssignmentGroup => true,
            GroupKind::Team => member == MemberKind::User,
            GroupKind::CustomerWorkgroup => member == MemberKind::Customer,
        }
    }
}

/// A profile as the group kinds see it (R1.7, R1.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// An INTERNAL profile: a Cherwell User.
    User,
    /// Any other known profile kind (contact, partner contact, consumer, sub-profile): a Cherwell Customer.
    Customer,
    /// identity reported no kind this service understands; no kind rule admits it.
    Unknown,
}

/// Names are unique per kind regardless of case: the key they are compared by.
pub fn group_name_key(name: &str) -> String {
    name.to_lowercase()
}

/// A group (R2.18, R2.19, R6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub kind: GroupKind,
    pub description: String,
    pub parent: Option<GroupId>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A direct membership (R1.8, R6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    pub group: GroupId,
    pub profile: ProfileId,
    pub manager: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// What a Group message shows beyond the group itself: the roles assigned to
/// the group, those of its whole chain (members inherit them, R2.19) and its managers (R6.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupDetails {
    pub roles: BTreeSet<String>,
    pub chain_roles: BTreeSet<String>,
    pub managers: Vec<ProfileId>,
}

/// One link of a profile's inheritance: a direct membership, one group of its
/// chain and (if any) one role assigned to that group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InheritanceLink {
    pub member_group: GroupId,
    pub manager: bool,
    pub ancestor: GroupId,
    pub depth: i64,
    pub ancestor_kind: GroupKind,
    pub role: Option<String>,
}

/// A group to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    pub name: String,
    pub kind: GroupKind,
    pub description: String,
    pub parent: Option<GroupId>,
}

/// Filters of ListGroups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupFilter {
    pub kind: Option<GroupKind>,
    pub parent: Option<GroupId>,
    pub top_level_only: bool,
    pub name_contains: Option<String>,
}

/// A direct or inherited membership, seen from the profile (R2.19, R6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMembership {
    pub group: GroupId,
    pub kind: GroupKind,
    /// False when `group` is an ancestor of a group the profile is a direct member of.
    pub direct: bool,
    /// Manager of `group` (direct memberships only, R6.2).
    pub manager: bool,
    /// For an ancestor group: the direct membership it is reached through.
    pub via: Option<GroupId>,
}

/// The groups a profile belongs to, from its inheritance rows `(direct
/// membership group, manager flag, group of that membership's chain, depth,
/// kind)`, in group order: each group once, as a direct membership if it is
/// one, else through the nearest direct membership (R2.19, R6.3).
pub fn memberships_from(
    rows: impl IntoIterator<Item = (GroupId, bool, GroupId, i64, GroupKind)>,
) -> Vec<GroupMembership> {
    let mut nearest: BTreeMap<GroupId, (i64, GroupMembership)> = BTreeMap::new();
    for (member_group, manager, group, depth, kind) in rows {
        let candidate = if depth == 0 {
            GroupMembership { group, kind, direct: true, manager, via: None }
        } else {
            GroupMembership { group, kind, direct: false, manager: false, via: Some(member_group) }
        };
        let replace = match nearest.get(&group) {
            None => true,
            Some((known_depth, known)) => {
                !known.direct && (candidate.direct || (depth, candidate.via) < (*known_depth, known.via))
            }
        };
        if replace {
            nearest.insert(group, (depth, candidate));
        }
    }
    nearest.into_values().map(|(_, membership)| membership).collect()
}

/// How a holder holds a role: a profile directly (`groups` empty), a profile
/// through the chain from its membership up to the granting group, or a group
/// through its own chain (`profile` none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub profile: Option<ProfileId>,
    /// From the membership (or the group itself) up to the group the role is assigned to.
    pub groups: Vec<GroupId>,
}

impl Holder {
    /// Readable chain elements, e.g. `["profile:<id>", "group:<G2>", "group:<G1>"]`.
    pub fn labels(&self) -> Vec<String> {
        self.profile
            .iter()
            .map(|profile| format!("profile:{profile}"))
            .chain(self.groups.iter().map(|group| format!("group:{group}")))
            .collect()
    }
}

/// The roles a holder has been assigned (directly or through groups), each with
/// the first way found to hold it. Closures are not expanded: the collision
/// engine reads them from the precomputed [`RoleGraph`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldRoles {
    roles: BTreeMap<String, Holder>,
}

impl HeldRoles {
    /// Records `role` held by `holder`, unless it is already held another way.
    pub fn hold(&mut self, role: &str, holder: Holder) {
        self.roles.entry(role.to_owned()).or_insert(holder);
    }

    /// The assigned roles held, in name order.
    pub fn roles(&self) -> BTreeSet<String> {
        self.roles.keys().cloned().collect()
    }

    /// How `role` is held.
    pub fn holder(&self, role: &str) -> Option<&Holder> {
        self.roles.get(role)
    }

    /// The roles held here and not in `before`, in name order.
    fn gained_since(&self, before: &HeldRoles) -> Vec<String> {
        self.roles.keys().filter(|role| !before.roles.contains_key(*role)).cloned().collect()
    }
}

/// What a profile holds without the hierarchy: its direct roles and the
/// groups it is a direct member of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileHoldings {
    pub profile: ProfileId,
    pub direct_roles: BTreeSet<String>,
    pub member_of: BTreeSet<GroupId>,
}

impl ProfileHoldings {
    pub fn new(profile: ProfileId) -> Self {
        Self { profile, direct_roles: BTreeSet::new(), member_of: BTreeSet::new() }
    }
}

/// The part of the group hierarchy a computation needs: for each known group
/// its chain (itself, its parent, … up to its top-level ancestor) and the
/// roles assigned to the groups on those chains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupHierarchy {
    chains: BTreeMap<GroupId, Vec<GroupId>>,
    roles: BTreeMap<GroupId, BTreeSet<String>>,
}

impl GroupHierarchy {
    /// Builds the hierarchy from ancestry closure rows `(group, ancestor,
    /// depth)` (depth 0 is the group itself) and `(group, role)` assignments.
    pub fn new(
        ancestry: impl IntoIterator<Item = (GroupId, GroupId, i64)>,
        roles: impl IntoIterator<Item = (GroupId, String)>,
    ) -> Self {
        let mut hierarchy = Self::default();
        hierarchy.merge(ancestry, roles);
        hierarchy
    }

    /// Adds more ancestry rows and role assignments (another loaded part).
    pub fn merge(
        &mut self,
        ancestry: impl IntoIterator<Item = (GroupId, GroupId, i64)>,
        roles: impl IntoIterator<Item = (GroupId, String)>,
    ) {
        let mut by_group: BTreeMap<GroupId, BTreeMap<i64, GroupId>> = BTreeMap::new();
        for (group, ancestor, depth) in ancestry {
            by_group.entry(group).or_default().insert(depth, ancestor);
        }
        for (group, ancestors) in by_group {
            self.chains.insert(group, ancestors.into_values().collect());
        }
        for (group, role) in roles {
            self.roles.entry(group).or_default().insert(role);
        }
    }

    /// Adds another loaded part of the hierarchy (e.g. a new parent's chain).
    pub fn absorb(&mut self, other: GroupHierarchy) {
        self.chains.extend(other.chains);
        for (group, roles) in other.roles {
            self.roles.entry(group).or_default().extend(roles);
        }
    }

    /// The chain of `group` (itself first); just the group when it is not loaded.
    pub fn chain(&self, group: GroupId) -> Vec<GroupId> {
        self.chains.get(&group).cloned().unwrap_or_else(|| vec![group])
    }

    /// Roles assigned to `group` itself.
    pub fn roles_of(&self, group: GroupId) -> impl Iterator<Item = &String> {
        self.roles.get(&group).into_iter().flatten()
    }

    /// Every loaded group whose chain passes through `group`: the group first,
    /// then its descendants nearest first.
    pub fn subtree(&self, group: GroupId) -> Vec<GroupId> {
        let mut members: Vec<(usize, GroupId)> = self
            .chains
            .iter()
            .filter_map(|(candidate, chain)| {
                chain.iter().position(|link| *link == group).map(|depth| (depth, *candidate))
            })
            .collect();
        if members.is_empty() {
            members.push((0, group));
        }
        members.sort();
        members.into_iter().map(|(_, candidate)| candidate).collect()
    }

    /// Moves `group`, with every loaded group below it, under `parent` (none:
    /// top-level). The parent's chain must be loaded.
    pub fn set_parent(&mut self, group: GroupId, parent: Option<GroupId>) {
        let parent_chain = parent.map(|parent| self.chain(parent)).unwrap_or_default();
        self.chains.entry(group).or_insert_with(|| vec![group]);
        for chain in self.chains.values_mut() {
            if let Some(position) = chain.iter().position(|link| *link == group) {
                chain.truncate(position + 1);
                chain.extend(parent_chain.iter().copied());
            }
        }
    }

    /// Assigns `role` to `group`.
    pub fn add_role(&mut self, group: GroupId, role: &str) {
        self.roles.entry(group).or_default().insert(role.to_owned());
    }

    /// What `group` holds: the roles of its chain (what its members inherit, R2.19).
    pub fn held_by_group(&self, group: GroupId) -> HeldRoles {
        let chain = self.chain(group);
        let mut held = HeldRoles::default();
        for (depth, link) in chain.iter().enumerate() {
            for role in self.roles_of(*link) {
                held.hold(role, Holder { profile: None, groups: chain[..=depth].to_vec() });
            }
        }
        held
    }

    /// What a profile holds: its direct roles and the roles of every group
    /// it belongs to directly or through ancestry (§0.4, R2.18, R2.19).
    /// Nearer grants are recorded first, so a finding names the shortest way.
    pub fn held_by_profile(&self, holdings: &ProfileHoldings) -> HeldRoles {
        let mut held = HeldRoles::default();
        for role in &holdings.direct_roles {
            held.hold(role, Holder { profile: Some(holdings.profile), groups: Vec::new() });
        }
        let chains: Vec<Vec<GroupId>> = holdings.member_of.iter().map(|group| self.chain(*group)).collect();
        let longest = chains.iter().map(Vec::len).max().unwrap_or(0);
        for depth in 0..longest {
            for chain in chains.iter().filter(|chain| chain.len() > depth) {
                for role in self.roles_of(chain[depth]) {
                    held.hold(role, Holder { profile: Some(holdings.profile), groups: chain[..=depth].to_vec() });
                }
            }
        }
        held
    }
}

/// A group write, which names the rule of an explicit-role collision it causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupWrite {
    /// AddGroupRole: R2.11.5 (the group itself), R2.12.2 (group containment), R2.12.4 (through role containment).
    AddRole,
    /// AddGroupMember: R2.12.5 (and R2.11.2 even when the group grants nothing).
    AddMember,
    /// SetGroupParent: R2.12.3.
    SetParent,
}

/// Who a group write reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affected {
    /// A group, through its chain (R2.11.5, R2.12.3, R2.12.4).
    Group(GroupId),
    /// A member of the group or of a descendant group (R2.12.2, R2.12.5).
    Profile(ProfileId),
}

/// One holder a group write changes: what it holds before the write (after
/// anything the write removes) and after it.
#[derive(Debug, Clone)]
pub struct Transition {
    pub affected: Affected,
    pub before: HeldRoles,
    pub after: HeldRoles,
}

/// A finding of a group write, with where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFinding {
    /// The engine's finding, its rule named after the write.
    pub finding: Finding,
    pub affected: Affected,
    /// How the conflicting role is held, e.g. `["profile:…", "role:snc_internal"]`.
    pub existing_labels: Vec<String>,
    /// How the added role is reached, e.g. `["profile:…", "group:G2", "group:G1", "role:customer", "role:snc_external"]`.
    pub new_labels: Vec<String>,
    /// Groups from the membership (or the affected group) up to the group granting the added role.
    pub group_path: Vec<GroupId>,
}

impl GroupFinding {
    /// The affected profile, if a profile is affected.
    pub fn profile(&self) -> Option<ProfileId> {
        match self.affected {
            Affected::Profile(profile) => Some(profile),
            Affected::Group(_) => None,
        }
    }
}

/// The rule of an explicit-role collision found for `affected` by `write`.
fn explicit_rule(write: GroupWrite, affected: Affected, finding: &Finding, existing: Option<&Holder>) -> &'static str {
    match write {
        GroupWrite::AddMember => "R2.12.5",
        GroupWrite::SetParent => "R2.12.3",
        GroupWrite::AddRole if finding.through_containment() => "R2.12.4",
        GroupWrite::AddRole => match (affected, existing) {
            (Affected::Group(group), Some(holder)) if holder.groups == [group] => "R2.11.5",
            _ => "R2.12.2",
        },
    }
}

fn role_labels(path: &[String]) -> impl Iterator<Item = String> + '_ {
    path.iter().map(|role| format!("role:{role}"))
}

fn group_finding(write: GroupWrite, transition: &Transition, mut finding: Finding) -> GroupFinding {
    let existing_role = finding.existing_path.first().cloned().unwrap_or_default();
    // A collision among the added roles themselves names an added role as the held one.
    let existing = transition.before.holder(&existing_role).or_else(|| transition.after.holder(&existing_role));
    let new =
        transition.after.holder(finding.added_role()).cloned().unwrap_or(Holder { profile: None, groups: Vec::new() });
    if finding.rule == "R2.11.1" {
        finding.rule = explicit_rule(write, transition.affected, &finding, existing);
    }
    let existing_labels = existing
        .map(Holder::labels)
        .unwrap_or_default()
        .into_iter()
        .chain(role_labels(&finding.existing_path))
        .collect();
    let new_labels = new.labels().into_iter().chain(role_labels(&finding.new_path)).collect();
    GroupFinding { affected: transition.affected, existing_labels, new_labels, group_path: new.groups, finding }
}

/// Checks every holder a group write changes, in the order given (groups
/// first, then profiles, so the report is stable). `Err` is the first blocking
/// finding (boxed: it is large and rare); `Ok` the WARN-policy warnings (R2.15, R1.15).
pub fn check_group_write(
    graph: &RoleGraph,
    write: GroupWrite,
    transitions: &[Transition],
    policies: Policies,
) -> Result<Vec<GroupFinding>, Box<GroupFinding>> {
    let mut warnings = Vec::new();
    for transition in transitions {
        let held = transition.before.roles();
        if write == GroupWrite::AddMember {
            // R2.11.2: joining is refused even when the group grants nothing.
            if let Some(legacy) = holds_both(graph, &held) {
                return Err(Box::new(group_finding(write, transition, legacy)));
            }
        }
        let gained = transition.after.gained_since(&transition.before);
        match check_additions(graph, &held, &gained, policies) {
            Ok(found) => warnings.extend(found.into_iter().map(|finding| group_finding(write, transition, finding))),
            Err(blocking) => return Err(Box::new(group_finding(write, transition, blocking))),
        }
    }
    Ok(warnings)
}

/// The holders AddGroupRole(`group`, `role`) changes: the group and its
/// descendants (their chains), then every profile given (the members of the
/// group and of its descendants), as their chains and memberships stand in
/// `hierarchy` (R2.11.5, R2.12.2, R2.12.4, R2.18, R2.19).
pub fn transitions_for_group_role(
    hierarchy: &GroupHierarchy,
    group: GroupId,
    role: &str,
    members: &[ProfileHoldings],
) -> Vec<Transition> {
    let mut after = hierarchy.clone();
    after.add_role(group, role);
    transitions_between(hierarchy, &after, &hierarchy.subtree(group), members)
}

/// The holder AddGroupMember(`group`, profile) changes: the profile, which
/// gains the roles of the group's chain (R2.11.2, R2.12.5, R2.18, R2.19).
pub fn transitions_for_new_member(
    hierarchy: &GroupHierarchy,
    group: GroupId,
    profile: &ProfileHoldings,
) -> Vec<Transition> {
    let mut joined = profile.clone();
    joined.member_of.insert(group);
    vec![Transition {
        affected: Affected::Profile(profile.profile),
        before: hierarchy.held_by_profile(profile),
        after: hierarchy.held_by_profile(&joined),
    }]
}

/// The holders SetGroupParent(`group`, `parent`) changes: the group, its
/// descendants and the profiles given (their members). "Before" is the state
/// with the group detached from its old parent, since the old chain's roles
/// are lost by the move (R2.12.3, R2.19).
pub fn transitions_for_new_parent(
    hierarchy: &GroupHierarchy,
    group: GroupId,
    parent: Option<GroupId>,
    members: &[ProfileHoldings],
) -> Vec<Transition> {
    let mut detached = hierarchy.clone();
    detached.set_parent(group, None);
    let mut moved = hierarchy.clone();
    moved.set_parent(group, parent);
    transitions_between(&detached, &moved, &hierarchy.subtree(group), members)
}

fn transitions_between(
    before: &GroupHierarchy,
    after: &GroupHierarchy,
    groups: &[GroupId],
    members: &[ProfileHoldings],
) -> Vec<Transition> {
    let group_transitions = groups.iter().map(|group| Transition {
        affected: Affected::Group(*group),
        before: before.held_by_group(*group),
        after: after.held_by_group(*group),
    });
    let profile_transitions = members.iter().map(|member| Transition {
        affected: Affected::Profile(member.profile),
        before: before.held_by_profile(member),
        after: after.held_by_profile(member),
    });
    group_transitions.chain(profile_transitions).collect()
}

#[cfg(test)]
mod tests {
    use csm_types::roles;

    use super::*;
    use crate::domain::catalog::{SEED_EDGES, SEED_ROLES, SNC_EXTERNAL, SNC_INTERNAL};

    fn catalog() -> RoleGraph {
        RoleGraph::new(
            SEED_ROLES.iter().map(|role| role.name.to_owned()),
            SEED_EDGES.iter().filter(|edge| !edge.suspect).map(|edge| (edge.parent.to_owned(), edge.child.to_owned())),
        )
    }

    /// G1 ⊃ G2 ⊃ G3, with `roles` assigned.
    fn three_levels(roles: &[(usize, &str)]) -> (GroupHierarchy, [GroupId; 3]) {
        let groups = [GroupId::new(), GroupId::new(), GroupId::new()];
        let ancestry = vec![
            (groups[0], groups[0], 0),
            (groups[1], groups[1], 0),
            (groups[1], groups[0], 1),
            (groups[2], groups[2], 0),
            (groups[2], groups[1], 1),
            (groups[2], groups[0], 2),
        ];
        let roles = roles.iter().map(|(index, role)| (groups[*index], role.to_string()));
        (GroupHierarchy::new(ancestry, roles), groups)
    }

    fn member(groups: &[GroupId], direct: &[&str]) -> ProfileHoldings {
        ProfileHoldings {
            profile: ProfileId::new(),
            direct_roles: direct.iter().map(|role| role.to_string()).collect(),
            member_of: groups.iter().copied().collect(),
        }
    }

    #[test]
    fn kinds_admit_users_and_customers_as_cherwell_does() {
        assert!(GroupKind::Team.admits(MemberKind::User));
        assert!(!GroupKind::Team.admits(MemberKind::Customer));
        assert!(GroupKind::CustomerWorkgroup.admits(MemberKind::Customer));
        assert!(!GroupKind::CustomerWorkgroup.admits(MemberKind::User));
        assert!(!GroupKind::CustomerWorkgroup.admits(MemberKind::Unknown));
        assert!(GroupKind::AssignmentGroup.admits(MemberKind::Unknown));
        for kind in [GroupKind::AssignmentGroup, GroupKind::Team, GroupKind::CustomerWorkgroup] {
            assert_eq!(GroupKind::parse(kind.as_str()), Some(kind));
        }
    }

    #[test]
    fn members_inherit_the_roles_of_the_whole_chain_with_the_path() {
        let (hierarchy, [top, middle, bottom]) = three_levels(&[(0, roles::CASE_VIEWER)]);
        let profile = member(&[bottom], &["knowledge"]);
        let held = hierarchy.held_by_profile(&profile);
        assert_eq!(held.roles(), BTreeSet::from(["knowledge".to_owned(), roles::CASE_VIEWER.to_owned()]));
        assert_eq!(held.holder(roles::CASE_VIEWER).unwrap().groups, vec![bottom, middle, top]);
        assert_eq!(hierarchy.subtree(middle), vec![middle, bottom]);
    }

    #[test]
    fn memberships_list_each_group_once_direct_first() {
        let (hierarchy, [top, middle, bottom]) = three_levels(&[]);
        let kind = GroupKind::AssignmentGroup;
        let rows = [bottom, middle].into_iter().flat_map(|member| {
            hierarchy
                .chain(member)
                .into_iter()
                .enumerate()
                .map(move |(depth, group)| (member, member == middle, group, depth as i64, kind))
        });
        let memberships = memberships_from(rows);
        assert_eq!(memberships.len(), 3);
        let middle_membership = memberships.iter().find(|membership| membership.group == middle).unwrap();
        assert!(middle_membership.direct && middle_membership.manager);
        let top_membership = memberships.iter().find(|membership| membership.group == top).unwrap();
        assert_eq!((top_membership.direct, top_membership.via), (false, Some(middle)));
    }

    #[test]
    fn r2_11_5_an_empty_group_with_one_explicit_role_cannot_take_the_other() {
        let (hierarchy, [top, ..]) = three_levels(&[(0, SNC_INTERNAL)]);
        let transitions = transitions_for_group_role(&hierarchy, top, SNC_EXTERNAL, &[]);
        let error = check_group_write(&catalog(), GroupWrite::AddRole, &transitions, Policies::default()).unwrap_err();
        assert_eq!((error.finding.reason, error.finding.rule), ("ROLE_COLLISION", "R2.11.5"));
        assert_eq!(error.affected, Affected::Group(top));
    }

    #[test]
    fn r2_12_2_a_member_of_a_child_group_blocks_the_opposite_role_on_the_parent() {
        let (hierarchy, [top, _, bottom]) = three_levels(&[]);
        let internal = member(&[bottom], &[SNC_INTERNAL]);
        let transitions = transitions_for_group_role(&hierarchy, top, SNC_EXTERNAL, std::slice::from_ref(&internal));
        let error = check_group_write(&catalog(), GroupWrite::AddRole, &transitions, Policies::default()).unwrap_err();
        assert_eq!(error.finding.rule, "R2.12.2");
        assert_eq!(error.profile(), Some(internal.profile));
        assert_eq!(error.group_path.len(), 3);
        assert_eq!(
            error.existing_labels,
            vec![format!("profile:{}", internal.profile), "role:snc_internal".to_owned()]
        );
    }

    #[test]
    fn r2_12_3_a_new_parent_is_checked_without_the_old_one() {
        let (mut hierarchy, [top, middle, _]) = three_levels(&[(0, SNC_INTERNAL)]);
        let other = GroupId::new();
        hierarchy.merge([(other, other, 0)], [(other, SNC_EXTERNAL.to_owned())]);
        // Moving G2 (under an internal G1) to an external parent is fine: the old chain is left behind.
        let transitions = transitions_for_new_parent(&hierarchy, middle, Some(other), &[]);
        assert!(check_group_write(&catalog(), GroupWrite::SetParent, &transitions, Policies::default()).is_ok());
        // Putting the external group under the internal one is not.
        let transitions = transitions_for_new_parent(&hierarchy, other, Some(top), &[]);
        let error =
            check_group_write(&catalog(), GroupWrite::SetParent, &transitions, Policies::default()).unwrap_err();
        assert_eq!(error.finding.rule, "R2.12.3");
    }

    #[test]
    fn r2_12_4_role_containment_through_a_parent_group_is_found() {
        let (hierarchy, [_, middle, _]) = three_levels(&[(0, roles::CUSTOMER)]);
        let transitions = transitions_for_group_role(&hierarchy, middle, SNC_INTERNAL, &[]);
        let error = check_group_write(&catalog(), GroupWrite::AddRole, &transitions, Policies::default()).unwrap_err();
        assert_eq!(error.finding.rule, "R2.12.4");
    }

    #[test]
    fn r2_12_5_and_r2_11_2_on_joining() {
        let (hierarchy, [top, ..]) = three_levels(&[(0, SNC_EXTERNAL)]);
        let internal = member(&[], &[SNC_INTERNAL]);
        let transitions = transitions_for_new_member(&hierarchy, top, &internal);
        let error =
            check_group_write(&catalog(), GroupWrite::AddMember, &transitions, Policies::default()).unwrap_err();
        assert_eq!(error.finding.rule, "R2.12.5");
        let (empty, [group, ..]) = three_levels(&[]);
        let legacy = member(&[], &[SNC_INTERNAL, SNC_EXTERNAL]);
        let transitions = transitions_for_new_member(&empty, group, &legacy);
        let error =
            check_group_write(&catalog(), GroupWrite::AddMember, &transitions, Policies::default()).unwrap_err();
        assert_eq!(error.finding.rule, "R2.11.2");
    }
}
