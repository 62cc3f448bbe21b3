//! Named agent seats (R7.9–R7.13, R4.21; the JSM model): one seat plan per
//! licensed product, seats granted to profiles by name, and whether a profile
//! holds an agent licence.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Products licensed by named seats (R7.10, R7.13, R4.21).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicensedProduct {
    JiraServiceManagement = 1,
    Jira = 2,
    ServicenowCsm = 3,
}

impl LicensedProduct {
    pub fn from_i64(value: i64) -> Option<Self> {
        match value {
            1 => Some(LicensedProduct::JiraServiceManagement),
            2 => Some(LicensedProduct::Jira),
            3 => Some(LicensedProduct::ServicenowCsm),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatKind {
    Agent = 1,
    Collaborator = 2,
}

impl SeatKind {
    pub fn from_i64(value: i64) -> Option<Self> {
        match value {
            1 => Some(SeatKind::Agent),
            2 => Some(SeatKind::Collaborator),
            _ => None,
        }
    }

    /// Collaborators only on JIRA plans, agents only on the others (R7.13).
    pub fn fits(self, product: LicensedProduct) -> bool {
        match self {
            SeatKind::Collaborator => product == LicensedProduct::Jira,
            SeatKind::Agent => product != LicensedProduct::Jira,
        }
    }
}

/// HasAgentLicense's answer (R7.11, R7.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentLicenseStatus {
    Licensed = 1,
    NoSeatPlan = 2,
    NoSeat = 3,
    CollaboratorOnly = 4,
    LicenseExpired = 5,
    SeatsOverrun = 6,
}

/// `hasAgentLicense`: an AGENT seat in a valid plan that is not overrun (R7.11).
pub fn agent_license_status(
    plan_exists: bool,
    seat_kind: Option<SeatKind>,
    is_customer: bool,
    license_valid: bool,
    overrun: bool,
) -> AgentLicenseStatus {
    if !plan_exists {
        return AgentLicenseStatus::NoSeatPlan;
    }
    match seat_kind {
        // Customers need and hold no agent licence (R7.9).
        _ if is_customer => AgentLicenseStatus::NoSeat,
        None => AgentLicenseStatus::NoSeat,
        Some(SeatKind::Collaborator) => AgentLicenseStatus::CollaboratorOnly,
        Some(SeatKind::Agent) if !license_valid => AgentLicenseStatus::LicenseExpired,
        Some(SeatKind::Agent) if overrun => AgentLicenseStatus::SeatsOverrun,
        Some(SeatKind::Agent) => AgentLicenseStatus::Licensed,
    }
}

/// A seat plan (R7.10, R7.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatPlan {
    pub id: Uuid,
    pub product: LicensedProduct,
    pub seat_limit: i64,
    pub seats_used: i64,
    pub license_valid_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl SeatPlan {
    pub fn overrun(&self) -> bool {
        self.seats_used > self.seat_limit
    }

    pub fn license_valid(&self, now: DateTime<Utc>) -> bool {
        self.license_valid_until.is_none_or(|until| now < until)
    }
}

/// The fields an UpdateSeatPlan names.
#[derive(Debug, Clone, Default)]
pub struct SeatPlanPatch {
    pub seat_limit: Option<i64>,
    /// Some(None) clears the validity end.
    pub license_valid_until: Option<Option<DateTime<Utc>>>,
}

impl SeatPlanPatch {
    /// Writes the named fields into `plan`.
    pub fn apply_to(self, plan: &mut SeatPlan) {
        if let Some(limit) = self.seat_limit {
            plan.seat_limit = limit;
        }
        if let Some(until) = self.license_valid_until {
            plan.license_valid_until = until;
        }
    }
}

/// A named seat (R7.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSeat {
    pub id: Uuid,
    pub seat_plan_id: Uuid,
    pub product: LicensedProduct,
    pub profile_id: Uuid,
    pub kind: SeatKind,
    pub granted_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_licence_needs_a_valid_not_overrun_agent_seat() {
        use AgentLicenseStatus::*;
        assert_eq!(agent_license_status(false, None, false, true, false), NoSeatPlan);
        assert_eq!(agent_license_status(true, Some(SeatKind::Agent), false, true, false), Licensed);
        assert_eq!(agent_license_status(true, Some(SeatKind::Agent), false, true, true), SeatsOverrun);
        assert_eq!(agent_license_status(true, Some(SeatKind::Agent), false, false, false), LicenseExpired);
        assert_eq!(agent_license_status(true, Some(SeatKind::Collaborator), false, true, false), CollaboratorOnly);
        assert_eq!(agent_license_status(true, Some(SeatKind::Agent), true, true, false), NoSeat);
        assert!(!SeatKind::Collaborator.fits(LicensedProduct::JiraServiceManagement));
        assert!(SeatKind::Collaborator.fits(LicensedProduct::Jira));
        assert!(!SeatKind::Agent.fits(LicensedProduct::Jira));
    }
}
