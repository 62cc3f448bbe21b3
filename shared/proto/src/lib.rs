//! Generated code for the CSM contracts (`proto/csm/<service>/v1`).
//!
//! Domain crates never see these types: each service's `grpc` module converts
//! between them and its domain types.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod csm {
    pub mod common {
        pub mod v1 {
            tonic::include_proto!("csm.common.v1");
        }
    }
    pub mod identity {
        pub mod v1 {
            tonic::include_proto!("csm.identity.v1");
        }
    }
    pub mod role {
        pub mod v1 {
            tonic::include_proto!("csm.role.v1");
        }
    }
    pub mod account_team {
        pub mod v1 {
            tonic::include_proto!("csm.account_team.v1");
        }
    }
    pub mod case_access {
        pub mod v1 {
            tonic::include_proto!("csm.case_access.v1");
        }
    }
    pub mod licensing {
        pub mod v1 {
            tonic::include_proto!("csm.licensing.v1");
        }
    }
    pub mod audit {
        pub mod v1 {
            tonic::include_proto!("csm.audit.v1");
        }
    }
}

pub use csm::account_team::v1 as account_team;
pub use csm::audit::v1 as audit;
pub use csm::case_access::v1 as case_access;
pub use csm::common::v1 as common;
pub use csm::identity::v1 as identity;
pub use csm::licensing::v1 as licensing;
pub use csm::role::v1 as role;

/// The encoded `FileDescriptorSet` of every CSM proto (for server reflection).
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("csm_descriptor");

/// Fully qualified names of the five CSM gRPC services.
pub const SERVICE_NAMES: [&str; 5] = [
    "csm.identity.v1.IdentityService",
    "csm.role.v1.RoleService",
    "csm.account_team.v1.AccountTeamService",
    "csm.case_access.v1.CaseAccessService",
    "csm.licensing.v1.LicensingService",
];

/// `google.protobuf.Timestamp` of a UTC time.
pub fn timestamp(value: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: value.timestamp(), nanos: value.timestamp_subsec_nanos() as i32 }
}

/// [`timestamp`] as a message field (`Option`), the form prost gives them.
pub fn some_timestamp(value: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(timestamp(value))
}
