//! ValidateAssignment's findings (R2.8–R2.17, R1.15, R4.7, R4.8): what a
//! mutation's own check says about a proposal, reported instead of acted on.
//!
//! Every dry run calls the check function of its mutation (in a transaction
//! it never writes in and drops), so the two cannot disagree; this module
//! only turns the check's outcome into findings. A refusal of the proposal
//! (collision, unknown role/group/profile, an existing entry, a graph or
//! hierarchy rule) is a blocking finding with the mutation's reason and rule;
//! the caller's lack of authority, malformed input and failures stay errors.

use csm_errors::{CsmError, CsmResult, ErrorCode};
use csm_types::{GroupId, ProfileId};

use crate::domain::catalog_admin::HolderFinding;
use crate::domain::collisions::Finding;
use crate::domain::groups::GroupFinding;

/// One finding of ValidateAssignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationFinding {
    /// The ErrorInfo reason the mutation refuses with (blocking) or the flag it sets (warning).
    pub reason: String,
    /// The SPEC rule the mutation names; empty when it names none.
    pub rule: String,
    pub blocking: bool,
    /// Where the collision is; none for refusals that are not collisions.
    pub path: Option<FindingPath>,
}

/// Where a collision is (the proto's ConflictPath).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingPath {
    /// The profile affected, if a profile is affected.
    pub profile: Option<ProfileId>,
    /// From the membership (or the affected group) up to the group granting the added role.
    pub group_path: Vec<GroupId>,
    /// From the added role down to the colliding one.
    pub role_path: Vec<String>,
    /// The role already held that collides.
    pub conflicting_role: String,
}

impl ValidationFinding {
    /// A collision-engine finding of a direct-role change to `profile`.
    pub(crate) fn of_profile(profile: ProfileId, finding: &Finding, blocking: bool) -> Self {
        let has_path = !finding.existing_path.is_empty() || !finding.new_path.is_empty();
        Self {
            reason: finding.reason.to_owned(),
            rule: finding.rule.to_owned(),
            blocking,
            path: has_path.then(|| FindingPath {
                profile: Some(profile),
                group_path: Vec::new(),
                role_path: finding.new_path.clone(),
                conflicting_role: finding.conflicting_role().to_owned(),
            }),
        }
    }

    /// A refusal by the mutation as a blocking finding with its reason and its
    /// `rule` metadata. Errors that do not refuse the proposal itself are
    /// returned: PERMISSION_DENIED (the caller may not make it at all), field
    /// violations (malformed input) and failures.
    pub(crate) fn refusal(error: CsmError) -> CsmResult<Self> {
        let refuses_the_proposal = match error.code() {
            ErrorCode::NotFound | ErrorCode::AlreadyExists | ErrorCode::FailedPrecondition => true,
            // A rule on the proposal as a whole (CONTAINMENT_CYCLE, GROUP_HIERARCHY_CYCLE, …), not a bad field.
            ErrorCode::InvalidArgument => error.field_errors().is_empty(),
            _ => false,
        };
        if !refuses_the_proposal {
            return Err(error);
        }
        Ok(Self {
            reason: error.reason().to_owned(),
            rule: error.metadata().get("rule").cloned().unwrap_or_default(),
            blocking: true,
            path: None,
        })
    }
}

/// A check outcome that names where it collides.
pub(crate) trait AsFinding {
    fn as_finding(&self, blocking: bool) -> ValidationFinding;
}

impl<T: AsFinding + ?Sized> AsFinding for Box<T> {
    fn as_finding(&self, blocking: bool) -> ValidationFinding {
        (**self).as_finding(blocking)
    }
}

impl AsFinding for GroupFinding {
    fn as_finding(&self, blocking: bool) -> ValidationFinding {
        ValidationFinding {
            reason: self.finding.reason.to_owned(),
            rule: self.finding.rule.to_owned(),
            blocking,
            path: Some(FindingPath {
                profile: self.profile(),
                group_path: self.group_path.clone(),
                role_path: self.finding.new_path.clone(),
                conflicting_role: self.finding.conflicting_role().to_owned(),
            }),
        }
    }
}

impl AsFinding for HolderFinding {
    fn as_finding(&self, blocking: bool) -> ValidationFinding {
        ValidationFinding {
            reason: self.finding.reason.to_owned(),
            rule: self.finding.rule.to_owned(),
            blocking,
            path: Some(FindingPath {
                profile: self.profile,
                group_path: self.group.into_iter().collect(),
                role_path: self.finding.new_path.clone(),
                conflicting_role: self.finding.conflicting_role().to_owned(),
            }),
        }
    }
}

/// The findings of a dry run from its mutation's check: `Ok(Ok(warnings))`
/// passes with the WARN-policy warnings, `Ok(Err(blocked))` is the collision
/// the mutation refuses with, and `Err` any other refusal (a blocking finding,
/// see [`ValidationFinding::refusal`]) or an error the RPC answers.
pub(crate) fn dry_run_findings<W: AsFinding, B: AsFinding>(
    checked: CsmResult<Result<Vec<W>, B>>,
) -> CsmResult<Vec<ValidationFinding>> {
    match checked {
        Ok(Ok(warnings)) => Ok(warnings.iter().map(|warning| warning.as_finding(false)).collect()),
        Ok(Err(blocked)) => Ok(vec![blocked.as_finding(true)]),
        Err(error) => Ok(vec![ValidationFinding::refusal(error)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_the_proposal_become_blocking_findings_with_their_rule() {
        let cycle = CsmError::invalid_argument("CONTAINMENT_CYCLE", "a ⊃ b ⊃ a").with_metadata("rule", "R2.9");
        let finding = ValidationFinding::refusal(cycle).unwrap();
        assert_eq!(
            (finding.reason.as_str(), finding.rule.as_str(), finding.blocking),
            ("CONTAINMENT_CYCLE", "R2.9", true)
        );
        let unknown = ValidationFinding::refusal(CsmError::not_found("group", GroupId::new())).unwrap();
        assert_eq!((unknown.reason.as_str(), unknown.rule.as_str()), ("GROUP_NOT_FOUND", ""));
        assert!(ValidationFinding::refusal(CsmError::already_exists("MEMBERSHIP_EXISTS", "member")).is_ok());
    }

    #[test]
    fn authority_bad_fields_and_failures_stay_errors() {
        for error in [
            CsmError::permission_denied("MISSING_ROLE", "requires admin"),
            CsmError::invalid_field("group_id", "is not a UUID"),
            CsmError::unavailable("DATABASE_UNAVAILABLE", "down"),
        ] {
            assert_eq!(ValidationFinding::refusal(error.clone()), Err(error));
        }
    }
}
