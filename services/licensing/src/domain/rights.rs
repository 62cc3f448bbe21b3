//! The licence right (R7.6): a customer may have a seat escalated for records
//! it does not own only when it, or its security group, was granted the right.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A licence-right grant (R7.6): to a profile or to a security group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseRightGrant {
    pub id: Uuid,
    pub profile_id: Option<Uuid>,
    pub security_group_id: Option<Uuid>,
    pub granted_at: DateTime<Utc>,
}
