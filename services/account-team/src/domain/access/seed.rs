//! The seeded vocabulary of the access model: the fixed ids of the seeded
//! responsibilities, the base related-party types (R5.5, R3.17) and the
//! seeded access configurations.

use csm_types::{ResponsibilityId, roles};
use uuid::Uuid;

use super::{AccessLevel, AssociationType, PartyEntityType, RecordTable, ValidAccessConfiguration};

/// Fixed ids of the seeded responsibilities (migration 0100).
pub mod seeded_responsibility {
    use csm_types::ResponsibilityId;
    use uuid::Uuid;

    const fn id(last: u128) -> ResponsibilityId {
        ResponsibilityId::from_uuid(Uuid::from_u128(0xa7000000_0000_4000_8000_000000000000 | last))
    }

    pub const ACCOUNT_MANAGER: ResponsibilityId = id(0x001);
    pub const PREFERRED_TECHNICIAN: ResponsibilityId = id(0x002);
    pub const PRIMARY_SUPPORT_AGENT: ResponsibilityId = id(0x003);
    pub const SUPPORT_MANAGER: ResponsibilityId = id(0x004);
    pub const ASSET_CONTACT: ResponsibilityId = id(0x006);
    pub const AUTHORIZED_REPRESENTATIVE: ResponsibilityId = id(0x007);
    pub const AUTHORIZED_ACCOUNT: ResponsibilityId = id(0x008);
    pub const AUTHORIZED_SERVICE_ORGANIZATION: ResponsibilityId = id(0x009);
}

/// A seeded related-party type: fixed id, (applies_to, name), party kind, default responsibility.
pub struct SeededRelatedParty {
    pub id: Uuid,
    pub applies_to: RecordTable,
    pub name: &'static str,
    pub entity_type: PartyEntityType,
    pub default_responsibility: Option<ResponsibilityId>,
}

/// The base related-party types of R5.5 and R3.17, with fixed ids a7000000-…-0000000003xx.
pub fn seeded_related_parties() -> Vec<SeededRelatedParty> {
    use PartyEntityType as E;
    use RecordTable as T;
    use csm_types::responsibilities;
    use seeded_responsibility as R;
    let ar = Some(R::AUTHORIZED_REPRESENTATIVE);
    let aa = Some(R::AUTHORIZED_ACCOUNT);
    let rows: [(T, &str, E, Option<ResponsibilityId>); 30] = [
        (T::Case, "Authorized Contact", E::Contact, ar),
        (T::Case, "Authorized Consumer", E::Consumer, ar),
        (T::Case, "Authorized Contributor", E::User, ar),
        (T::Case, "Listed Contact", E::Contact, None),
        (T::Case, "Listed Consumer", E::Consumer, None),
        (T::SoldProduct, responsibilities::AUTHORIZED_ACCOUNT, E::Account, aa),
        (T::SoldProduct, "Authorized Contact", E::Contact, ar),
        (T::SoldProduct, "Authorized Consumer", E::Consumer, ar),
        (T::SoldProduct, "Listed Account", E::Account, None),
        (T::SoldProduct, "Listed Contact", E::Contact, None),
        (T::SoldProduct, "Listed Consumer", E::Consumer, None),
        (T::InstallBase, responsibilities::AUTHORIZED_ACCOUNT, E::Account, aa),
        (T::InstallBase, "Authorized Contact", E::Contact, ar),
        (T::InstallBase, "Authorized Consumer", E::Consumer, ar),
        (T::InstallBase, "Authorized Contributor", E::User, ar),
        (T::InstallBase, "Authorized Member", E::Consumer, ar),
        (
            T::InstallBase,
            responsibilities::AUTHORIZED_SERVICE_ORGANIZATION,
            E::ServiceOrganization,
            Some(R::AUTHORIZED_SERVICE_ORGANIZATION),
        ),
        (T::InstallBase, "Listed Account", E::Account, None),
        (T::InstallBase, "Listed Contact", E::Contact, None),
        (T::InstallBase, "Listed Consumer", E::Consumer, None),
        (T::InstallBase, "Listed Contributor", E::User, None),
        (T::InstallBase, "Listed Member", E::Consumer, None),
        (T::InstallBase, "Listed Service Organization", E::ServiceOrganization, None),
        (T::ConsumerRelationship, responsibilities::AUTHORIZED_REPRESENTATIVE, E::Consumer, ar),
        (T::HouseholdMemberRelationship, responsibilities::AUTHORIZED_REPRESENTATIVE, E::Consumer, ar),
        (T::AccountTeamMember, responsibilities::ACCOUNT_MANAGER, E::User, Some(R::ACCOUNT_MANAGER)),
        (T::AccountTeamMember, "Preferred Technician", E::User, Some(R::PREFERRED_TECHNICIAN)),
        (T::AccountTeamMember, "Primary Support Agent", E::User, Some(R::PRIMARY_SUPPORT_AGENT)),
        (T::AccountTeamMember, "Support Manager", E::User, Some(R::SUPPORT_MANAGER)),
        (T::ContactRelationship, "Asset Contact", E::Contact, Some(R::ASSET_CONTACT)),
    ];
    rows.into_iter()
        .enumerate()
        .map(|(index, (applies_to, name, entity_type, default_responsibility))| SeededRelatedParty {
            id: Uuid::from_u128(0xa7000000_0000_4000_8000_000000000301 + index as u128),
            applies_to,
            name,
            entity_type,
            default_responsibility,
        })
        .collect()
}

/// The out-of-box Account Manager configurations (R3.15), one per R3.16 role, fixed ids …0201, …0202.
pub fn seeded_access_configurations() -> Vec<(Uuid, ValidAccessConfiguration)> {
    [roles::RELATIONSHIP_AGENT, roles::RELATIONSHIP_CONTRIBUTOR]
        .into_iter()
        .enumerate()
        .map(|(index, role)| {
            (
                Uuid::from_u128(0xa7000000_0000_4000_8000_000000000201 + index as u128),
                ValidAccessConfiguration {
                    name: format!("Account Manager: cases of the managed account ({role})"),
                    responsibility: seeded_responsibility::ACCOUNT_MANAGER,
                    active: true,
                    required_roles: vec![role.to_owned()],
                    access_levels: vec![AccessLevel::Read, AccessLevel::Write],
                    accessible_table: RecordTable::Case,
                    accessible_filter: Vec::new(),
                    relationship_table: RecordTable::AccountTeamMember,
                    relationship_filter: Vec::new(),
                    association_type: AssociationType::Simple,
                    relationship_field: "account".to_owned(),
                    accessible_field: "account".to_owned(),
                    dependent_table: None,
                    dependent_relationship_field: String::new(),
                    dependent_accessible_field: String::new(),
                    advanced_resolver: String::new(),
                },
            )
        })
        .collect()
}
