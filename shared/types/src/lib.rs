//! Strongly typed identifiers for the CSM Access Suite.
//!
//! Every entity id is a UUID (v7 for new rows, so ids sort by creation time and
//! keep B-tree inserts local). The newtypes keep a `ProfileId` from being passed
//! where an `AccountId` is expected; parsing is the only way in from the wire.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod visibility;

/// A string that was supposed to be an id of the named kind but is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be a UUID, got {value:?}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// The kind of id, as used in error messages and field names.
            pub const KIND: &'static str = $kind;

            /// A new, time-ordered (UUID v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// Parses the wire form (a UUID string).
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                Uuid::parse_str(value.trim()).map(Self).map_err(|_| InvalidId {
                    kind: $kind,
                    value: value.to_owned(),
                })
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// A login: one set of credentials owning one or more profiles (R1.9).
    LoginId, "login_id"
);
id_type!(
    /// A profile of a login: employee, contact, partner contact, consumer, sub-profile.
    ProfileId, "profile_id"
);
id_type!(
    /// A login session with its active profile.
    SessionId, "session_id"
);
id_type!(
    /// A customer or partner account.
    AccountId, "account_id"
);
id_type!(
    /// A consumer record (B2C).
    ConsumerId, "consumer_id"
);
id_type!(
    /// A household of consumers.
    HouseholdId, "household_id"
);
id_type!(
    /// A department of employees.
    DepartmentId, "department_id"
);
id_type!(
    /// A Cherwell security group.
    SecurityGroupId, "security_group_id"
);
id_type!(
    /// A group: assignment group, Cherwell team or customer workgroup.
    GroupId, "group_id"
);
id_type!(
    /// A case.
    CaseId, "case_id"
);
id_type!(
    /// A case task.
    CaseTaskId, "case_task_id"
);
id_type!(
    /// A sold product.
    SoldProductId, "sold_product_id"
);
id_type!(
    /// An install base item.
    InstallBaseId, "install_base_id"
);
id_type!(
    /// A responsibility definition.
    ResponsibilityId, "responsibility_id"
);
id_type!(
    /// A licence pool.
    LicensePoolId, "pool_id"
);
id_type!(
    /// A licence session.
    LicenseSessionId, "license_session_id"
);

/// Role names the whole suite speaks of (SPEC §2.2), written once. The role
/// service's catalog (`services/role/src/domain/catalog.rs`) holds every role
/// with its containment edges and checks that each name here is in it.
pub mod roles {
    /// Full administration of the suite.
    pub const ADMIN: &str = "admin";
    /// No login required (R2.5).
    pub const PUBLIC: &str = "public";
    pub const ACCT_CONSUMER_AGENT: &str = "sn_acct_consumer.agent";
    pub const ACCT_CONSUMER_CONSUMER: &str = "sn_acct_consumer.consumer";
    pub const BUS_LOC_LOCATION_RELATIONSHIP_MANAGER: &str = "sn_bus_loc.location_relationship_manager";
    pub const CRM_ACCOUNT_DATA_MANAGER: &str = "sn_crm_account_data_manager";
    pub const CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER: &str = "sn_crm_account_relationship_data_manager";
    pub const CRM_CUSTOMER_ACCESS_MANAGEMENT_ADMIN: &str = "sn_crm_customer_access_management_admin";
    pub const CRM_FOUNDATION_ADMIN: &str = "sn_crm_foundation_admin";
    pub const CRM_FOUNDATION_DATA_MANAGER: &str = "sn_crm_foundation_data_manager";
    pub const CSM_PROXY_CONT: &str = "sn_csm_proxy_cont";
    pub const ACCOUNT_CONTRIBUTOR: &str = "sn_customerservice.account_contributor";
    pub const CASE_AUTHORIZED_CONSUMER: &str = "sn_customerservice.case_authorized_consumer";
    pub const CASE_AUTHORIZED_CONTACT: &str = "sn_customerservice.case_authorized_contact";
    pub const CASE_AUTHORIZED_CONTRIBUTOR: &str = "sn_customerservice.case_authorized_contributor";
    pub const CASE_CONTRIBUTOR_EDITOR: &str = "sn_customerservice.case_contributor_editor";
    pub const CASE_CONTRIBUTOR_VIEWER: &str = "sn_customerservice.case_contributor_viewer";
    pub const CASE_READ_GRANULAR: &str = "sn_customerservice.case_read_granular";
    pub const CASE_RELATED_PARTY_WRITE_GRANULAR: &str = "sn_customerservice.case_related_party_write_granular";
    pub const CASE_TASK_AGENT: &str = "sn_customerservice.case_task_agent";
    pub const CASE_TASK_VIEWER: &str = "sn_customerservice.case_task_viewer";
    pub const CASE_VIEWER: &str = "sn_customerservice.case_viewer";
    pub const CASE_WRITE_GRANULAR: &str = "sn_customerservice.case_write_granular";
    pub const CONSUMER: &str = "sn_customerservice.consumer";
    pub const CONSUMER_AGENT: &str = "sn_customerservice.consumer_agent";
    pub const CONSUMER_CONTRIBUTOR: &str = "sn_customerservice.consumer_contributor";
    pub const CONTACT_MANAGER: &str = "sn_customerservice.contact_manager";
    pub const CUSTOMER: &str = "sn_customerservice.customer";
    pub const CUSTOMER_ADMIN: &str = "sn_customerservice.customer_admin";
    pub const CUSTOMER_CASE_MANAGER: &str = "sn_customerservice.customer_case_manager";
    pub const CUSTOMER_DATA_VIEWER: &str = "sn_customerservice.customer_data_viewer";
    pub const DEESCALATION_REQUESTER: &str = "sn_customerservice.deescalation_requester";
    pub const ESCALATION_REQUESTER: &str = "sn_customerservice.escalation_requester";
    pub const PARTNER: &str = "sn_customerservice.partner";
    pub const PARTNER_ADMIN: &str = "sn_customerservice.partner_admin";
    pub const PROXY_CONTACT: &str = "sn_customerservice.proxy_contact";
    pub const RELATIONSHIP_AGENT: &str = "sn_customerservice.relationship_agent";
    pub const RELATIONSHIP_CONTRIBUTOR: &str = "sn_customerservice.relationship_contributor";
    pub const SELF_CONTRIBUTOR: &str = "sn_customerservice.self_contributor";
    pub const SERVICE_ORGANIZATION_CONTRIBUTOR: &str = "sn_customerservice.service_organization_contributor";
    pub const SVC_LOCATION_AGENT: &str = "sn_customerservice.svc_location_agent";
    pub const SVC_LOCATION_CONSUMER_AGENT: &str = "sn_customerservice.svc_location_consumer_agent";
    pub const SVC_LOCATION_MANAGER: &str = "sn_customerservice.svc_location_manager";
    pub const SVC_LOCATION_MANAGER_CONTRIBUTOR: &str = "sn_customerservice.svc_location_manager_contributor";
    pub const UNIFIED_CONSUMER: &str = "sn_customerservice.unified_consumer";
    pub const AGENT: &str = "sn_customerservice_agent";
    pub const MANAGER: &str = "sn_customerservice_manager";
    pub const ESM_ADMIN: &str = "sn_esm_admin";
    pub const ESM_AGENT: &str = "sn_esm_agent";
    pub const ESM_PARTNER: &str = "sn_esm_partner";
    pub const ESM_PARTNER_ADMIN: &str = "sn_esm_partner_admin";
    pub const ESM_USER: &str = "sn_esm_user";
    pub const ESM_USER_ADMIN: &str = "sn_esm_user_admin";
    pub const INSTALL_BASE_AUTHORIZED_CONSUMER: &str = "sn_install_base.install_base_authorized_consumer";
    pub const INSTALL_BASE_AUTHORIZED_CONTACT: &str = "sn_install_base.install_base_authorized_contact";
    pub const INSTALL_BASE_AUTHORIZED_CONTRIBUTOR: &str = "sn_install_base.install_base_authorized_contributor";
    pub const INSTALL_BASE_AUTHORIZED_MEMBER: &str = "sn_install_base.install_base_authorized_member";
    pub const INSTALL_BASE_RELATED_PARTY_WRITE_GRANULAR: &str =
        "sn_install_base.install_base_related_party_write_granular";
    pub const SOLD_PRODUCT_AUTHORIZED_CONSUMER: &str = "sn_install_base.sold_product_authorized_consumer";
    pub const SOLD_PRODUCT_AUTHORIZED_CONTACT: &str = "sn_install_base.sold_product_authorized_contact";
    pub const SNC_EXTERNAL: &str = "snc_external";
    pub const SNC_INTERNAL: &str = "snc_internal";

    /// Every name above, for checks that the catalog knows them all.
    pub const ALL: &[&str] = &[
        ADMIN,
        PUBLIC,
        ACCT_CONSUMER_AGENT,
        ACCT_CONSUMER_CONSUMER,
        BUS_LOC_LOCATION_RELATIONSHIP_MANAGER,
        CRM_ACCOUNT_DATA_MANAGER,
        CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
        CRM_CUSTOMER_ACCESS_MANAGEMENT_ADMIN,
        CRM_FOUNDATION_ADMIN,
        CRM_FOUNDATION_DATA_MANAGER,
        CSM_PROXY_CONT,
        ACCOUNT_CONTRIBUTOR,
        CASE_AUTHORIZED_CONSUMER,
        CASE_AUTHORIZED_CONTACT,
        CASE_AUTHORIZED_CONTRIBUTOR,
        CASE_CONTRIBUTOR_EDITOR,
        CASE_CONTRIBUTOR_VIEWER,
        CASE_READ_GRANULAR,
        CASE_RELATED_PARTY_WRITE_GRANULAR,
        CASE_TASK_AGENT,
        CASE_TASK_VIEWER,
        CASE_VIEWER,
        CASE_WRITE_GRANULAR,
        CONSUMER,
        CONSUMER_AGENT,
        CONSUMER_CONTRIBUTOR,
        CONTACT_MANAGER,
        CUSTOMER,
        CUSTOMER_ADMIN,
        CUSTOMER_CASE_MANAGER,
        CUSTOMER_DATA_VIEWER,
        DEESCALATION_REQUESTER,
        ESCALATION_REQUESTER,
        PARTNER,
        PARTNER_ADMIN,
        PROXY_CONTACT,
        RELATIONSHIP_AGENT,
        RELATIONSHIP_CONTRIBUTOR,
        SELF_CONTRIBUTOR,
        SERVICE_ORGANIZATION_CONTRIBUTOR,
        SVC_LOCATION_AGENT,
        SVC_LOCATION_CONSUMER_AGENT,
        SVC_LOCATION_MANAGER,
        SVC_LOCATION_MANAGER_CONTRIBUTOR,
        UNIFIED_CONSUMER,
        AGENT,
        MANAGER,
        ESM_ADMIN,
        ESM_AGENT,
        ESM_PARTNER,
        ESM_PARTNER_ADMIN,
        ESM_USER,
        ESM_USER_ADMIN,
        INSTALL_BASE_AUTHORIZED_CONSUMER,
        INSTALL_BASE_AUTHORIZED_CONTACT,
        INSTALL_BASE_AUTHORIZED_CONTRIBUTOR,
        INSTALL_BASE_AUTHORIZED_MEMBER,
        INSTALL_BASE_RELATED_PARTY_WRITE_GRANULAR,
        SOLD_PRODUCT_AUTHORIZED_CONSUMER,
        SOLD_PRODUCT_AUTHORIZED_CONTACT,
        SNC_EXTERNAL,
        SNC_INTERNAL,
    ];
}

/// Responsibility names the suite's rules refer to (SPEC §3.4, T4.2).
pub mod responsibilities {
    /// Lets a consumer act for the consumer it represents (T4.2).
    pub const AUTHORIZED_REPRESENTATIVE: &str = "Authorized Representative";
    /// The account a sold product or install base is authorized for (R5.5).
    pub const AUTHORIZED_ACCOUNT: &str = "Authorized Account";
    /// The partner account serving a record (R3.17).
    pub const AUTHORIZED_SERVICE_ORGANIZATION: &str = "Authorized Service Organization";
    /// The account team member answerable for the account (T4.2).
    pub const ACCOUNT_MANAGER: &str = "Account Manager";
}

/// The five services of the suite, used for service identities and change feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceName {
    Identity,
    Role,
    AccountTeam,
    CaseAccess,
    Licensing,
}

impl ServiceName {
    pub const ALL: [ServiceName; 5] = [
        ServiceName::Identity,
        ServiceName::Role,
        ServiceName::AccountTeam,
        ServiceName::CaseAccess,
        ServiceName::Licensing,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ServiceName::Identity => "identity",
            ServiceName::Role => "role",
            ServiceName::AccountTeam => "account-team",
            ServiceName::CaseAccess => "case-access",
            ServiceName::Licensing => "licensing",
        }
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceName {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        ServiceName::ALL
            .into_iter()
            .find(|service| service.as_str() == value)
            .ok_or_else(|| format!("unknown service {value:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_wire_form() {
        let id = AccountId::new();
        assert_eq!(AccountId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn a_malformed_id_names_its_kind() {
        let err = ProfileId::parse("not-a-uuid").unwrap_err();
        assert_eq!(err.kind, "profile_id");
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let first = CaseId::new();
        let second = CaseId::new();
        assert!(first < second);
    }

    #[test]
    fn service_names_parse_back() {
        for service in ServiceName::ALL {
            assert_eq!(service.as_str().parse::<ServiceName>(), Ok(service));
        }
    }
}
