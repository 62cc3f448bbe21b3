//! Direct role assignments to profiles (R2.10–R2.17, R1.6).

use uuid::Uuid;

/// A role assigned directly to a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectAssignment {
    pub id: Uuid,
    pub role: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}
