//! Strongly typed identifiers for the CSM Access Suite.
//!
//! Every entity id is a UUID (v7 for new rows, so ids sort by creation time and
//! keep B-tree inserts local). The newtypes keep a `ProfileId` from being passed
//! where an `AccountId` is expected; parsing is the only way in from the wire.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// Role names the whole suite speaks of (SPEC §2.2), written once.
pub mod roles {
    /// Full administration of the suite.
    pub const ADMIN: &str = "admin";
    pub const AGENT: &str = "sn_customerservice_agent";
    pub const MANAGER: &str = "sn_customerservice_manager";
    pub const CONSUMER_AGENT: &str = "sn_customerservice.consumer_agent";
    pub const CUSTOMER: &str = "sn_customerservice.customer";
    pub const CUSTOMER_ADMIN: &str = "sn_customerservice.customer_admin";
    pub const CUSTOMER_CASE_MANAGER: &str = "sn_customerservice.customer_case_manager";
    pub const PARTNER: &str = "sn_customerservice.partner";
    pub const PARTNER_ADMIN: &str = "sn_customerservice.partner_admin";
    pub const CONSUMER: &str = "sn_customerservice.consumer";
    pub const UNIFIED_CONSUMER: &str = "sn_customerservice.unified_consumer";
    pub const SNC_INTERNAL: &str = "snc_internal";
    pub const SNC_EXTERNAL: &str = "snc_external";
}

/// Responsibility names the suite's rules refer to (SPEC §3.4, T4.2).
pub mod responsibilities {
    /// Lets a consumer act for the consumer it represents (T4.2).
    pub const AUTHORIZED_REPRESENTATIVE: &str = "Authorized Representative";
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
