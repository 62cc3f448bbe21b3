//! The tables and party kinds of the access model (R5.2–R5.5): which fields
//! each table has and which related-party types apply to it.

/// Tables of the access model (R5.2–R5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordTable {
    Case,
    CaseTask,
    SoldProduct,
    InstallBase,
    Account,
    Contact,
    Consumer,
    Household,
    AccountTeamMember,
    ConsumerTeamMember,
    HouseholdTeamMember,
    ContactRelationship,
    ConsumerRelationship,
    HouseholdMemberRelationship,
    CaseRelatedParty,
    SoldProductRelatedParty,
    InstallBaseRelatedParty,
    CaseAffectedInstallBase,
}

impl RecordTable {
    pub const ALL: [RecordTable; 18] = [
        Self::Case,
        Self::CaseTask,
        Self::SoldProduct,
        Self::InstallBase,
        Self::Account,
        Self::Contact,
        Self::Consumer,
        Self::Household,
        Self::AccountTeamMember,
        Self::ConsumerTeamMember,
        Self::HouseholdTeamMember,
        Self::ContactRelationship,
        Self::ConsumerRelationship,
        Self::HouseholdMemberRelationship,
        Self::CaseRelatedParty,
        Self::SoldProductRelatedParty,
        Self::InstallBaseRelatedParty,
        Self::CaseAffectedInstallBase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Case => "case",
            Self::CaseTask => "case_task",
            Self::SoldProduct => "sold_product",
            Self::InstallBase => "install_base",
            Self::Account => "account",
            Self::Contact => "contact",
            Self::Consumer => "consumer",
            Self::Household => "household",
            Self::AccountTeamMember => "account_team_member",
            Self::ConsumerTeamMember => "consumer_team_member",
            Self::HouseholdTeamMember => "household_team_member",
            Self::ContactRelationship => "contact_relationship",
            Self::ConsumerRelationship => "consumer_relationship",
            Self::HouseholdMemberRelationship => "household_member_relationship",
            Self::CaseRelatedParty => "case_related_party",
            Self::SoldProductRelatedParty => "sold_product_related_party",
            Self::InstallBaseRelatedParty => "install_base_related_party",
            Self::CaseAffectedInstallBase => "case_affected_install_base",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|table| table.as_str() == value)
    }

    /// Records access can be granted on (R5.2 "accessible table").
    pub fn is_accessible(self) -> bool {
        matches!(
            self,
            Self::Case
                | Self::CaseTask
                | Self::SoldProduct
                | Self::InstallBase
                | Self::Account
                | Self::Contact
                | Self::Consumer
                | Self::Household
        )
    }

    /// Relationship and related-party tables (R5.2 "relationship table").
    pub fn is_relationship(self) -> bool {
        matches!(
            self,
            Self::AccountTeamMember
                | Self::ConsumerTeamMember
                | Self::HouseholdTeamMember
                | Self::ContactRelationship
                | Self::ConsumerRelationship
                | Self::HouseholdMemberRelationship
                | Self::CaseRelatedParty
                | Self::SoldProductRelatedParty
                | Self::InstallBaseRelatedParty
        )
    }

    /// M2M tables of DEPENDENT associations (R5.3).
    pub fn is_dependent(self) -> bool {
        matches!(self, Self::CaseAffectedInstallBase)
    }

    /// Tables a related-party type may apply to (R5.4, R5.5).
    pub fn is_related_party_target(self) -> bool {
        matches!(
            self,
            Self::Case
                | Self::SoldProduct
                | Self::InstallBase
                | Self::ConsumerRelationship
                | Self::HouseholdMemberRelationship
                | Self::AccountTeamMember
                | Self::ConsumerTeamMember
                | Self::HouseholdTeamMember
                | Self::ContactRelationship
        )
    }

    /// The fields of the table that filters and associations may name (the supported catalog).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Case => &[
                "id",
                "account",
                "contact",
                "consumer",
                "household",
                "partner",
                "partner_contact",
                "internal_contact",
                "requestor_organization",
                "requested_by",
                "opened_by",
                "service_organization",
                "consumer_profile",
                "sold_product",
                "install_base",
                "assignment_group",
                "assigned_to",
                "escalation",
                "active",
                "state",
                "priority",
            ],
            Self::CaseTask => &["id", "case", "assigned_to", "assignment_group", "customer_visible", "state"],
            Self::SoldProduct => &["id", "account", "contact", "consumer", "household", "active"],
            Self::InstallBase => {
                &["id", "account", "contact", "consumer", "household", "sold_product", "parent", "service_organization"]
            }
            Self::Account => &["id", "parent", "kind", "active"],
            Self::Contact => &["id", "account", "active"],
            Self::Consumer => &["id", "household", "active"],
            Self::Household => &["id", "active"],
            Self::AccountTeamMember => &["id", "account", "user", "responsibility", "type", "kind"],
            Self::ConsumerTeamMember => &["id", "consumer", "user", "responsibility", "type"],
            Self::HouseholdTeamMember => &["id", "household", "user", "responsibility", "type"],
            Self::ContactRelationship => &["id", "account", "contact", "responsibility", "type"],
            Self::ConsumerRelationship => &["id", "consumer", "related_consumer", "responsibility", "type"],
            Self::HouseholdMemberRelationship => {
                &["id", "consumer", "related_consumer", "household", "responsibility", "type"]
            }
            Self::CaseRelatedParty => {
                &["id", "case", "contact", "consumer", "user", "account", "responsibility", "type"]
            }
            Self::SoldProductRelatedParty => {
                &["id", "sold_product", "contact", "consumer", "account", "responsibility", "type"]
            }
            Self::InstallBaseRelatedParty => &[
                "id",
                "install_base",
                "contact",
                "consumer",
                "user",
                "account",
                "service_organization",
                "responsibility",
                "type",
            ],
            Self::CaseAffectedInstallBase => &["id", "case", "install_base"],
        }
    }

    pub fn has_field(self, field: &str) -> bool {
        self.fields().contains(&field)
    }
}

/// The kind of party a related-party type names (R5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyEntityType {
    Contact,
    Consumer,
    Account,
    User,
    ServiceOrganization,
}

impl PartyEntityType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Consumer => "consumer",
            Self::Account => "account",
            Self::User => "user",
            Self::ServiceOrganization => "service_organization",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Contact, Self::Consumer, Self::Account, Self::User, Self::ServiceOrganization]
            .into_iter()
            .find(|kind| kind.as_str() == value)
    }
}
