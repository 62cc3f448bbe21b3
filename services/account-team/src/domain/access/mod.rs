//! Customer access management configuration (R5.1–R5.5) and account access
//! records (R5.12, R5.13): types, the table/field catalog, validation and the
//! seeded vocabulary. No I/O.

use chrono::{DateTime, Utc};
use csm_errors::{CsmError, CsmResult, FieldErrors};
use csm_types::roles;
use csm_types::{AccountId, ProfileId, ResponsibilityId};
use uuid::Uuid;

mod seed;
mod tables;

pub use seed::{SeededRelatedParty, seeded_access_configurations, seeded_related_parties, seeded_responsibility};
pub use tables::{PartyEntityType, RecordTable};

/// Who may write responsibility access and related-party configurations (R5.2, R5.4).
pub const CAM_ADMIN_ROLES: &[&str] =
    &[roles::ADMIN, roles::CRM_CUSTOMER_ACCESS_MANAGEMENT_ADMIN, roles::CRM_FOUNDATION_ADMIN];

/// Who may manage any account's access record (R5.12).
pub const ACCOUNT_ACCESS_ADMIN_ROLES: &[&str] = &[
    roles::ADMIN,
    roles::CRM_FOUNDATION_ADMIN,
    roles::CRM_FOUNDATION_DATA_MANAGER,
    roles::CRM_ACCOUNT_RELATIONSHIP_DATA_MANAGER,
    roles::MANAGER,
];

/// Manages the access records of accounts in its own scope (R5.12).
pub const CUSTOMER_ADMIN_ROLE: &str = roles::CUSTOMER_ADMIN;

/// The role that keeps a partner contact eligible when the account restricts account access (R5.13).
pub const PARTNER_ADMIN_ROLE: &str = roles::PARTNER_ADMIN;

/// Comparison of a [`FieldCondition`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionOperator {
    Equals,
    NotEquals,
    In,
    NotIn,
    IsEmpty,
    IsNotEmpty,
}

impl ConditionOperator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "equals",
            Self::NotEquals => "not_equals",
            Self::In => "in",
            Self::NotIn => "not_in",
            Self::IsEmpty => "is_empty",
            Self::IsNotEmpty => "is_not_empty",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Equals, Self::NotEquals, Self::In, Self::NotIn, Self::IsEmpty, Self::IsNotEmpty]
            .into_iter()
            .find(|operator| operator.as_str() == value)
    }
}

/// One condition on a record's field; a filter is a list that must all hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCondition {
    pub field: String,
    pub operator: ConditionOperator,
    pub values: Vec<String>,
}

/// Checks the conditions of a filter on `table` (None: any field name) and
/// records every bad one under `field_path[i]`.
pub fn check_conditions(
    errors: &mut FieldErrors,
    field_path: &str,
    table: Option<RecordTable>,
    conditions: &[FieldCondition],
) {
    for (index, condition) in conditions.iter().enumerate() {
        let path = format!("{field_path}[{index}]");
        if condition.field.trim().is_empty() {
            errors.add(format!("{path}.field"), "is required");
        } else if let Some(table) = table
            && !table.has_field(&condition.field)
        {
            errors.add(
                format!("{path}.field"),
                format!(
                    "{:?} is not a field of {}; known: {}",
                    condition.field,
                    table.as_str(),
                    table.fields().join(", ")
                ),
            );
        }
        let count = condition.values.len();
        let arity_ok = match condition.operator {
            ConditionOperator::Equals | ConditionOperator::NotEquals => count == 1,
            ConditionOperator::In | ConditionOperator::NotIn => count >= 1,
            ConditionOperator::IsEmpty | ConditionOperator::IsNotEmpty => count == 0,
        };
        if !arity_ok {
            errors.add(
                format!("{path}.values"),
                format!(
                    "{} takes {}",
                    condition.operator.as_str(),
                    match condition.operator {
                        ConditionOperator::Equals | ConditionOperator::NotEquals => "exactly one value",
                        ConditionOperator::In | ConditionOperator::NotIn => "at least one value",
                        ConditionOperator::IsEmpty | ConditionOperator::IsNotEmpty => "no values",
                    }
                ),
            );
        }
    }
}

/// Access granted by a responsibility access configuration (R5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccessLevel {
    Read,
    Write,
    /// read + write + create.
    Full,
}

impl AccessLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Full => "full",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Read, Self::Write, Self::Full].into_iter().find(|level| level.as_str() == value)
    }
}

/// How a configuration links the relationship row to the accessible record (R5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssociationType {
    Simple,
    Dependent,
    Advanced,
}

impl AssociationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Dependent => "dependent",
            Self::Advanced => "advanced",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Simple, Self::Dependent, Self::Advanced].into_iter().find(|kind| kind.as_str() == value)
    }
}

/// The built-in resolvers of ADVANCED configurations (they replace the source's scripts, R5.3).
pub const ADVANCED_RESOLVERS: &[&str] = &[
    // escalation → case → account managed by me (R5.3's example).
    "escalation_case_account_managed_by_me",
    // case → account managed by me.
    "case_account_managed_by_me",
];

/// A responsibility access configuration (R5.2), as stored and served. The
/// association fields not used by `association_type` are empty / None.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfiguration {
    pub id: Uuid,
    pub name: String,
    pub responsibility: ResponsibilityId,
    pub active: bool,
    pub required_roles: Vec<String>,
    pub access_levels: Vec<AccessLevel>,
    pub accessible_table: RecordTable,
    pub accessible_filter: Vec<FieldCondition>,
    pub relationship_table: RecordTable,
    pub relationship_filter: Vec<FieldCondition>,
    pub association_type: AssociationType,
    pub relationship_field: String,
    pub accessible_field: String,
    pub dependent_table: Option<RecordTable>,
    pub dependent_relationship_field: String,
    pub dependent_accessible_field: String,
    pub advanced_resolver: String,
    pub seeded: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The user-settable part of a configuration, before validation. Tables are
/// `None` when unspecified on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfigurationDraft {
    pub name: String,
    pub responsibility: Option<ResponsibilityId>,
    pub active: bool,
    pub required_roles: Vec<String>,
    pub access_levels: Vec<AccessLevel>,
    pub accessible_table: Option<RecordTable>,
    pub accessible_filter: Vec<FieldCondition>,
    pub relationship_table: Option<RecordTable>,
    pub relationship_filter: Vec<FieldCondition>,
    pub association_type: Option<AssociationType>,
    pub relationship_field: String,
    pub accessible_field: String,
    pub dependent_table: Option<RecordTable>,
    pub dependent_relationship_field: String,
    pub dependent_accessible_field: String,
    pub advanced_resolver: String,
}

impl AccessConfigurationDraft {
    pub fn of(configuration: &AccessConfiguration) -> Self {
        Self {
            name: configuration.name.clone(),
            responsibility: Some(configuration.responsibility),
            active: configuration.active,
            required_roles: configuration.required_roles.clone(),
            access_levels: configuration.access_levels.clone(),
            accessible_table: Some(configuration.accessible_table),
            accessible_filter: configuration.accessible_filter.clone(),
            relationship_table: Some(configuration.relationship_table),
            relationship_filter: configuration.relationship_filter.clone(),
            association_type: Some(configuration.association_type),
            relationship_field: configuration.relationship_field.clone(),
            accessible_field: configuration.accessible_field.clone(),
            dependent_table: configuration.dependent_table,
            dependent_relationship_field: configuration.dependent_relationship_field.clone(),
            dependent_accessible_field: configuration.dependent_accessible_field.clone(),
            advanced_resolver: configuration.advanced_resolver.clone(),
        }
    }

    /// Validates the configuration as a whole (R5.2): every missing or
    /// misplaced field is named (fields of `prefix`); an unknown resolver alone
    /// is INVALID_ARGUMENT reason UNKNOWN_RESOLVER.
    pub fn validate(&self, prefix: &str) -> CsmResult<ValidAccessConfiguration> {
        let mut errors = FieldErrors::new();
        let field = |name: &str| format!("{prefix}.{name}");
        if self.name.chars().count() > 200 {
            errors.add(field("name"), "must be at most 200 characters");
        }
        if self.responsibility.is_none() {
            errors.add(field("responsibility_id"), "is required");
        }
        if self.access_levels.is_empty() {
            errors.add(field("access_levels"), "must name at least one access level (R5.2)");
        }
        for (index, role) in self.required_roles.iter().enumerate() {
            if role.trim().is_empty() || role.len() > 200 {
                errors.add(format!("{}[{index}]", field("required_roles")), "must be a role name");
            }
        }
        match self.accessible_table {
            None => errors.add(field("accessible_table"), "is required"),
            Some(table) if !table.is_accessible() => errors.add(
                field("accessible_table"),
                "must be CASE, CASE_TASK, SOLD_PRODUCT, INSTALL_BASE, ACCOUNT, CONTACT, CONSUMER or HOUSEHOLD",
            ),
            Some(_) => {}
        }
        match self.relationship_table {
            None => errors.add(field("relationship_table"), "is required"),
            Some(table) if !table.is_relationship() => errors.add(
                field("relationship_table"),
                "must be a relationship or related-party table (ACCOUNT_TEAM_MEMBER … INSTALL_BASE_RELATED_PARTY)",
            ),
            Some(_) => {}
        }
        let accessible = self.accessible_table.filter(|table| table.is_accessible());
        let relationship = self.relationship_table.filter(|table| table.is_relationship());
        check_conditions(&mut errors, &field("accessible_filter"), accessible, &self.accessible_filter);
        check_conditions(&mut errors, &field("relationship_filter"), relationship, &self.relationship_filter);
        let require_field = |errors: &mut FieldErrors, name: &str, value: &str, table: Option<RecordTable>| {
            if value.trim().is_empty() {
                errors.add(field(name), "is required for this association_type");
            } else if let Some(table) = table
                && !table.has_field(value)
            {
                errors.add(field(name), format!("{value:?} is not a field of {}", table.as_str()));
            }
        };
        let forbid = |errors: &mut FieldErrors, name: &str, set: bool| {
            if set {
                errors.add(field(name), "must be empty for this association_type");
            }
        };
        let mut unknown_resolver = false;
        match self.association_type {
            None => errors.add(field("association_type"), "is required"),
            Some(AssociationType::Simple) => {
                require_field(&mut errors, "relationship_field", &self.relationship_field, relationship);
                require_field(&mut errors, "accessible_field", &self.accessible_field, accessible);
                forbid(&mut errors, "dependent_table", self.dependent_table.is_some());
                forbid(&mut errors, "dependent_relationship_field", !self.dependent_relationship_field.is_empty());
                forbid(&mut errors, "dependent_accessible_field", !self.dependent_accessible_field.is_empty());
                forbid(&mut errors, "advanced_resolver", !self.advanced_resolver.is_empty());
            }
            Some(AssociationType::Dependent) => {
                require_field(&mut errors, "relationship_field", &self.relationship_field, relationship);
                require_field(&mut errors, "accessible_field", &self.accessible_field, accessible);
                let dependent = match self.dependent_table {
                    None => {
                        errors.add(field("dependent_table"), "is required for DEPENDENT");
                        None
                    }
                    Some(table) if !table.is_dependent() => {
                        errors.add(field("dependent_table"), "must be CASE_AFFECTED_INSTALL_BASE");
                        None
                    }
                    Some(table) => Some(table),
                };
                require_field(
                    &mut errors,
                    "dependent_relationship_field",
                    &self.dependent_relationship_field,
                    dependent,
                );
                require_field(&mut errors, "dependent_accessible_field", &self.dependent_accessible_field, dependent);
                forbid(&mut errors, "advanced_resolver", !self.advanced_resolver.is_empty());
            }
            Some(AssociationType::Advanced) => {
                if self.advanced_resolver.trim().is_empty() {
                    errors.add(field("advanced_resolver"), "is required for ADVANCED");
                } else if !ADVANCED_RESOLVERS.contains(&self.advanced_resolver.as_str()) {
                    unknown_resolver = true;
                }
                require_field(&mut errors, "accessible_field", &self.accessible_field, accessible);
                forbid(&mut errors, "relationship_field", !self.relationship_field.is_empty());
                forbid(&mut errors, "dependent_table", self.dependent_table.is_some());
                forbid(&mut errors, "dependent_relationship_field", !self.dependent_relationship_field.is_empty());
                forbid(&mut errors, "dependent_accessible_field", !self.dependent_accessible_field.is_empty());
            }
        }
        errors.finish()?;
        if unknown_resolver {
            return Err(CsmError::invalid_argument(
                "UNKNOWN_RESOLVER",
                format!(
                    "unknown advanced_resolver {:?}; known: {}",
                    self.advanced_resolver,
                    ADVANCED_RESOLVERS.join(", ")
                ),
            )
            .with_metadata("field", field("advanced_resolver")));
        }
        let (Some(responsibility), Some(accessible_table), Some(relationship_table), Some(association_type)) =
            (self.responsibility, self.accessible_table, self.relationship_table, self.association_type)
        else {
            return Err(CsmError::internal("validated access configuration is incomplete"));
        };
        let mut access_levels = self.access_levels.clone();
        access_levels.sort();
        access_levels.dedup();
        Ok(ValidAccessConfiguration {
            name: self.name.trim().to_owned(),
            responsibility,
            active: self.active,
            required_roles: self.required_roles.iter().map(|role| role.trim().to_owned()).collect(),
            access_levels,
            accessible_table,
            accessible_filter: self.accessible_filter.clone(),
            relationship_table,
            relationship_filter: self.relationship_filter.clone(),
            association_type,
            relationship_field: self.relationship_field.trim().to_owned(),
            accessible_field: self.accessible_field.trim().to_owned(),
            dependent_table: self.dependent_table,
            dependent_relationship_field: self.dependent_relationship_field.trim().to_owned(),
            dependent_accessible_field: self.dependent_accessible_field.trim().to_owned(),
            advanced_resolver: self.advanced_resolver.trim().to_owned(),
        })
    }
}

/// A configuration that passed [`AccessConfigurationDraft::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidAccessConfiguration {
    pub name: String,
    pub responsibility: ResponsibilityId,
    pub active: bool,
    pub required_roles: Vec<String>,
    pub access_levels: Vec<AccessLevel>,
    pub accessible_table: RecordTable,
    pub accessible_filter: Vec<FieldCondition>,
    pub relationship_table: RecordTable,
    pub relationship_filter: Vec<FieldCondition>,
    pub association_type: AssociationType,
    pub relationship_field: String,
    pub accessible_field: String,
    pub dependent_table: Option<RecordTable>,
    pub dependent_relationship_field: String,
    pub dependent_accessible_field: String,
    pub advanced_resolver: String,
}

impl ValidAccessConfiguration {
    pub fn fingerprint(&self) -> String {
        format!("{self:?}")
    }
}

/// Filters of ListResponsibilityAccessConfigurations (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessConfigurationFilter {
    pub responsibility: Option<ResponsibilityId>,
    pub accessible_table: Option<RecordTable>,
    pub active_only: bool,
}

/// A related-party configuration, i.e. a related-party type (R5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedPartyConfiguration {
    pub id: Uuid,
    pub name: String,
    pub applies_to: RecordTable,
    pub entity_type: PartyEntityType,
    pub reference_condition: Vec<FieldCondition>,
    pub default_responsibility: Option<ResponsibilityId>,
    pub default_order: i32,
    pub seeded: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl RelatedPartyConfiguration {
    /// "Listed" types have no responsibility and grant no access (R5.4).
    pub fn listed(&self) -> bool {
        self.default_responsibility.is_none()
    }

    /// R5.4: a new record of this type without its own responsibility/order gets the type's defaults.
    pub fn fill_defaults(
        &self,
        responsibility: Option<ResponsibilityId>,
        order: Option<i32>,
    ) -> (Option<ResponsibilityId>, i32) {
        (responsibility.or(self.default_responsibility), order.unwrap_or(self.default_order))
    }

    /// FAILED_PRECONDITION RELATED_PARTY_TYPE_NOT_APPLICABLE unless the type applies to `table`.
    pub fn ensure_applies_to(&self, table: RecordTable) -> CsmResult<()> {
        if self.applies_to == table {
            Ok(())
        } else {
            Err(CsmError::failed_precondition(
                "RELATED_PARTY_TYPE_NOT_APPLICABLE",
                format!(
                    "related-party type {:?} applies to {}, not {}",
                    self.name,
                    self.applies_to.as_str(),
                    table.as_str()
                ),
            )
            .with_metadata("related_party_configuration_id", self.id.to_string()))
        }
    }
}

/// The user-settable fields of a related-party configuration, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedPartyDraft {
    pub name: String,
    pub applies_to: RecordTable,
    pub entity_type: PartyEntityType,
    pub reference_condition: Vec<FieldCondition>,
    pub default_responsibility: Option<ResponsibilityId>,
    pub default_order: i32,
}

impl RelatedPartyDraft {
    pub fn of(configuration: &RelatedPartyConfiguration) -> Self {
        Self {
            name: configuration.name.clone(),
            applies_to: configuration.applies_to,
            entity_type: configuration.entity_type,
            reference_condition: configuration.reference_condition.clone(),
            default_responsibility: configuration.default_responsibility,
            default_order: configuration.default_order,
        }
    }

    pub fn fingerprint(&self) -> String {
        format!("{self:?}")
    }
}

/// Filters of ListRelatedPartyConfigurations (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelatedPartyFilter {
    pub applies_to: Option<RecordTable>,
    pub entity_type: Option<PartyEntityType>,
}

/// The account access record of an account (R5.12, R5.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAccess {
    pub id: Uuid,
    pub account: AccountId,
    pub restrict_contact_access: bool,
    pub allowed_contacts: Vec<ProfileId>,
    pub restrict_account_access: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated CreateAccountAccess request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccountAccess {
    pub account: AccountId,
    pub restrict_contact_access: bool,
    pub allowed_contacts: Vec<ProfileId>,
    pub restrict_account_access: bool,
}

impl NewAccountAccess {
    pub fn fingerprint(&self) -> String {
        format!("{self:?}")
    }
}

/// The fields UpdateAccountAccess may write; `None` keeps the value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountAccessChanges {
    pub restrict_contact_access: Option<bool>,
    pub allowed_contacts: Option<Vec<ProfileId>>,
    pub restrict_account_access: Option<bool>,
}

/// Why a partner contact is eligible on a customer account's case (R5.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerContactPath {
    AllPartnerContacts,
    PartnerAdmin,
}

/// A partner contact eligible as partner_contact on a case (R5.13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligiblePartnerContact {
    pub contact: ProfileId,
    pub partner_account: AccountId,
    pub path: PartnerContactPath,
}

/// R5.13: whether a partner contact with `roles` is eligible, and why.
pub fn partner_contact_path(restrict_account_access: bool, holds_partner_admin: bool) -> Option<PartnerContactPath> {
    match (restrict_account_access, holds_partner_admin) {
        (false, _) => Some(PartnerContactPath::AllPartnerContacts),
        (true, true) => Some(PartnerContactPath::PartnerAdmin),
        (true, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simple_draft() -> AccessConfigurationDraft {
        AccessConfigurationDraft {
            name: "AM cases".into(),
            responsibility: Some(seeded_responsibility::ACCOUNT_MANAGER),
            active: true,
            required_roles: vec![roles::RELATIONSHIP_AGENT.into()],
            access_levels: vec![AccessLevel::Read],
            accessible_table: Some(RecordTable::Case),
            accessible_filter: Vec::new(),
            relationship_table: Some(RecordTable::AccountTeamMember),
            relationship_filter: Vec::new(),
            association_type: Some(AssociationType::Simple),
            relationship_field: "account".into(),
            accessible_field: "account".into(),
            dependent_table: None,
            dependent_relationship_field: String::new(),
            dependent_accessible_field: String::new(),
            advanced_resolver: String::new(),
        }
    }

    #[test]
    fn a_simple_configuration_is_valid_and_misplaced_fields_are_named() {
        assert!(simple_draft().validate("c").is_ok());
        let mut draft = simple_draft();
        draft.dependent_table = Some(RecordTable::CaseAffectedInstallBase);
        draft.accessible_field = String::new();
        let error = draft.validate("c").unwrap_err();
        let fields: Vec<_> = error.field_errors().iter().map(|error| error.field.clone()).collect();
        assert!(fields.contains(&"c.dependent_table".to_owned()), "{fields:?}");
        assert!(fields.contains(&"c.accessible_field".to_owned()), "{fields:?}");
    }

    #[test]
    fn unknown_resolvers_have_their_own_reason() {
        let mut draft = simple_draft();
        draft.association_type = Some(AssociationType::Advanced);
        draft.relationship_field = String::new();
        draft.advanced_resolver = "nope".into();
        assert_eq!(draft.validate("c").unwrap_err().reason(), "UNKNOWN_RESOLVER");
    }

    #[test]
    fn seeded_ids_are_distinct_and_listed_types_have_no_responsibility() {
        let seeds = seeded_related_parties();
        let mut ids: Vec<_> = seeds.iter().map(|seed| seed.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), seeds.len());
        assert!(
            seeds
                .iter()
                .filter(|seed| seed.name.starts_with("Listed"))
                .all(|seed| seed.default_responsibility.is_none())
        );
    }

    #[test]
    fn partner_contacts_need_partner_admin_only_when_restricted() {
        assert_eq!(partner_contact_path(false, false), Some(PartnerContactPath::AllPartnerContacts));
        assert_eq!(partner_contact_path(true, true), Some(PartnerContactPath::PartnerAdmin));
        assert_eq!(partner_contact_path(true, false), None);
    }
}
