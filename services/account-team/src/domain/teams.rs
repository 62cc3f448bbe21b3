//! Account, consumer and household team members (R3.12–R3.14): pure types and
//! rules, no I/O. R3.15/R3.16 (what a membership grants) are evaluated by
//! case-access; this service stores the membership and its responsibility.

use chrono::{DateTime, Utc};
use csm_types::roles;
use csm_types::{AccountId, ConsumerId, HouseholdId, ProfileId, ResponsibilityId};

use super::definitions::ResponsibilityKind;
use super::local_id;

local_id!(
    /// A team member record (R3.14).
    TeamMemberId,
    "team_member_id"
);

/// Who may build teams (R3.14, R4.12; the proto's list).
pub const TEAM_EDITOR_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::MANAGER,
    roles::SVC_LOCATION_MANAGER,
    roles::CRM_FOUNDATION_ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
    roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
];

/// Who may read account team members (R4.12: customer agents; the editors
/// and the CRM data viewer too). The manager reaches both agent roles by containment.
pub const ACCOUNT_TEAM_READER_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::AGENT,
    roles::CUSTOMER_DATA_VIEWER,
    roles::SVC_LOCATION_MANAGER,
    roles::CRM_FOUNDATION_ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
    roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
];

/// Who may read consumer and household team members (R4.12: consumer agents).
pub const CONSUMER_TEAM_READER_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::CONSUMER_AGENT,
    roles::CUSTOMER_DATA_VIEWER,
    roles::SVC_LOCATION_MANAGER,
    roles::CRM_FOUNDATION_ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
    roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
];

impl Team {
    /// R4.12: the roles that read this team's members.
    pub fn reader_roles(self) -> &'static [&'static str] {
        match self {
            Team::Account(_) => ACCOUNT_TEAM_READER_ROLES,
            Team::Consumer(_) | Team::Household(_) => CONSUMER_TEAM_READER_ROLES,
        }
    }
}

/// Display order of a member when the request gives none.
pub const DEFAULT_ORDER: i64 = 100;

/// The team a member belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Team {
    Account(AccountId),
    Consumer(ConsumerId),
    Household(HouseholdId),
}

impl Team {
    /// The stored discriminator.
    pub fn kind_str(self) -> &'static str {
        match self {
            Team::Account(_) => "account",
            Team::Consumer(_) => "consumer",
            Team::Household(_) => "household",
        }
    }

    pub fn uuid(self) -> uuid::Uuid {
        match self {
            Team::Account(id) => *id.as_uuid(),
            Team::Consumer(id) => *id.as_uuid(),
            Team::Household(id) => *id.as_uuid(),
        }
    }

    pub fn from_parts(kind: &str, id: uuid::Uuid) -> Option<Self> {
        match kind {
            "account" => Some(Team::Account(AccountId::from_uuid(id))),
            "consumer" => Some(Team::Consumer(ConsumerId::from_uuid(id))),
            "household" => Some(Team::Household(HouseholdId::from_uuid(id))),
            _ => None,
        }
    }

    /// The change-feed attribute naming the team ("account_id" …).
    /// The relationship table of this team's members (what a related-party type must apply to).
    pub fn member_table_name(self) -> &'static str {
        match self {
            Team::Account(_) => "account_team_member",
            Team::Consumer(_) => "consumer_team_member",
            Team::Household(_) => "household_team_member",
        }
    }

    pub fn attribute(self) -> &'static str {
        match self {
            Team::Account(_) => "account_id",
            Team::Consumer(_) => "consumer_id",
            Team::Household(_) => "household_id",
        }
    }
}

/// Employee or external organization staff (R3.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// An employee (INTERNAL profile).
    Internal,
    /// A contact of an external organization, e.g. a partner's account relationship manager.
    ExternalOrganizationStaff,
}

impl MemberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::Internal => "internal",
            MemberKind::ExternalOrganizationStaff => "external_organization_staff",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "internal" => Some(MemberKind::Internal),
            "external_organization_staff" => Some(MemberKind::ExternalOrganizationStaff),
            _ => None,
        }
    }
}

/// What identity says about a would-be member's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberProfileKind {
    Internal,
    /// A B2B contact or partner contact (an external organization's staff).
    OrganizationContact,
    /// Consumers and anything else: never team members.
    Other,
}

/// Whether a profile of `profile_kind` may join a team as `member_kind` (R3.14).
pub fn member_kind_admits(member_kind: MemberKind, profile_kind: MemberProfileKind) -> bool {
    matches!(
        (member_kind, profile_kind),
        (MemberKind::Internal, MemberProfileKind::Internal)
            | (MemberKind::ExternalOrganizationStaff, MemberProfileKind::OrganizationContact)
    )
}

/// Only USER responsibilities go on team members (R3.12).
pub fn responsibility_fits_team(kind: ResponsibilityKind) -> bool {
    kind == ResponsibilityKind::User
}

/// A team member (R3.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamMember {
    pub id: TeamMemberId,
    pub team: Team,
    pub profile: ProfileId,
    pub member_kind: MemberKind,
    /// The related-party type ("Type", R3.17), if any.
    pub related_party_configuration: Option<uuid::Uuid>,
    pub responsibility: ResponsibilityId,
    pub order: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated request to create a team member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTeamMember {
    pub team: Team,
    pub profile: ProfileId,
    pub member_kind: MemberKind,
    pub related_party_configuration: Option<uuid::Uuid>,
    /// `None`: the related-party type's default responsibility (R5.4).
    pub responsibility: Option<ResponsibilityId>,
    /// `None`: the type's default order, else [`DEFAULT_ORDER`].
    pub order: Option<i64>,
}

/// The fields UpdateTeamMember may write; `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamMemberChanges {
    pub member_kind: Option<MemberKind>,
    pub related_party_configuration: Option<Option<uuid::Uuid>>,
    pub responsibility: Option<ResponsibilityId>,
    pub order: Option<i64>,
}

impl TeamMemberChanges {
    pub fn apply_to(&self, current: &TeamMember) -> TeamMember {
        TeamMember {
            member_kind: self.member_kind.unwrap_or(current.member_kind),
            related_party_configuration: self
                .related_party_configuration
                .unwrap_or(current.related_party_configuration),
            responsibility: self.responsibility.unwrap_or(current.responsibility),
            order: self.order.unwrap_or(current.order),
            ..current.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn employees_are_internal_members_and_contacts_are_external_staff() {
        assert!(member_kind_admits(MemberKind::Internal, MemberProfileKind::Internal));
        assert!(!member_kind_admits(MemberKind::Internal, MemberProfileKind::OrganizationContact));
        assert!(member_kind_admits(MemberKind::ExternalOrganizationStaff, MemberProfileKind::OrganizationContact));
        assert!(!member_kind_admits(MemberKind::ExternalOrganizationStaff, MemberProfileKind::Other));
    }

    #[test]
    fn only_user_responsibilities_fit_teams() {
        assert!(responsibility_fits_team(ResponsibilityKind::User));
        assert!(!responsibility_fits_team(ResponsibilityKind::Contact));
        assert!(!responsibility_fits_team(ResponsibilityKind::None));
    }

    #[test]
    fn teams_round_trip_through_their_stored_parts() {
        let team = Team::Household(HouseholdId::new());
        assert_eq!(Team::from_parts(team.kind_str(), team.uuid()), Some(team));
    }
}
