//! Use cases of responsibility definitions (R3.12, R3.18) and account
//! relationship types (R3.4). Reads are open to every authenticated caller.

use csm_auth::Caller;
use csm_db::PageRequest;
use csm_errors::{CsmError, CsmResult};
use csm_types::ResponsibilityId;

use super::Written;
use crate::AccountTeamApp;
use crate::domain::definitions::{
    FORCE_DELETE_ROLES, NewRelationshipType, NewResponsibilityDefinition, RELATIONSHIP_TYPE_ADMIN_ROLES,
    RESPONSIBILITY_ADMIN_ROLES, RelationshipType, RelationshipTypeChanges, RelationshipTypeId, ResponsibilityChanges,
    ResponsibilityDefinition, ResponsibilityKind,
};

impl AccountTeamApp {
    // ------------------------------------------------ responsibility definitions

    /// Creates a responsibility definition (R3.12); idempotent by `request_id`.
    pub async fn create_responsibility(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewResponsibilityDefinition,
    ) -> CsmResult<Written<ResponsibilityDefinition>> {
        const RPC: &str = "CreateResponsibilityDefinition";
        self.roles.authorize(caller, RESPONSIBILITY_ADMIN_ROLES, RPC).await?;
        let fingerprint = format!("{new:?}");
        if let Some((id, revision)) = self.replayed(RPC, caller, request_id, &fingerprint).await? {
            let definition = self.get_responsibility(caller, ResponsibilityId::from_uuid(id)).await?;
            return Ok(self.written(definition, revision));
        }
        let mut tx = self.store.db().begin().await?;
        let (definition, revision) = self.store.insert_responsibility(&mut tx, &new).await?;
        if !self
            .record_created(&mut tx, RPC, caller, request_id, &fingerprint, *definition.id.as_uuid(), revision)
            .await?
        {
            drop(tx);
            return Box::pin(self.create_responsibility(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(definition, revision))
    }

    pub async fn get_responsibility(
        &self,
        _caller: &Caller,
        id: ResponsibilityId,
    ) -> CsmResult<ResponsibilityDefinition> {
        self.store.get_responsibility(id).await?.ok_or_else(|| CsmError::not_found("responsibility", id))
    }

    /// Updates a definition (R3.12). The kind cannot change while rows use it
    /// (RESPONSIBILITY_IN_USE); becoming unique fails while a team has several
    /// holders (UNIQUE_RESPONSIBILITY_VIOLATED, enforced by the index).
    pub async fn update_responsibility(
        &self,
        caller: &Caller,
        id: ResponsibilityId,
        changes: ResponsibilityChanges,
    ) -> CsmResult<Written<ResponsibilityDefinition>> {
        self.roles.authorize(caller, RESPONSIBILITY_ADMIN_ROLES, "UpdateResponsibilityDefinition").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.responsibility_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("responsibility", id))?;
        let updated = changes.apply_to(&current);
        if updated.kind != current.kind {
            let references = self.store.responsibility_reference_count(&mut tx, id).await?;
            if references > 0 {
                return Err(in_use(&current, references));
            }
        }
        let (definition, revision) = self.store.save_responsibility(&mut tx, &current, &updated).await?;
        tx.commit().await?;
        Ok(self.committed(definition, revision))
    }

    /// Deletes a definition (R3.18, X7): refused while referenced unless
    /// `force` (role admin), which deletes the referencing rows in the same transaction.
    pub async fn delete_responsibility(
        &self,
        caller: &Caller,
        id: ResponsibilityId,
        force: bool,
    ) -> CsmResult<Written<i64>> {
        const RPC: &str = "DeleteResponsibilityDefinition";
        self.roles.authorize(caller, RESPONSIBILITY_ADMIN_ROLES, RPC).await?;
        if force {
            self.roles.authorize(caller, FORCE_DELETE_ROLES, RPC).await.map_err(|error| {
                if error.code() == csm_errors::ErrorCode::PermissionDenied {
                    CsmError::permission_denied("FORCE_REQUIRES_ADMIN", "force=true requires the admin role")
                } else {
                    error
                }
            })?;
        }
        let mut tx = self.store.db().begin().await?;
        let current = self.store.responsibility_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("responsibility", id))?;
        if !force {
            let references = self.store.responsibility_reference_count(&mut tx, id).await?;
            if references > 0 {
                return Err(in_use(&current, references));
            }
        }
        let (cascaded, revision) = self.store.delete_responsibility(&mut tx, id, force).await?;
        tx.commit().await?;
        Ok(self.committed(cascaded, revision))
    }

    /// One page of definitions ordered by name, and the next page token.
    pub async fn list_responsibilities(
        &self,
        _caller: &Caller,
        page: PageRequest,
        kind: Option<ResponsibilityKind>,
    ) -> CsmResult<(Vec<ResponsibilityDefinition>, String)> {
        let rows = self.store.list_responsibilities(&page, kind).await?;
        let (rows, token) = page.finish(rows, |(_, key)| key.clone());
        Ok((rows.into_iter().map(|(definition, _)| definition).collect(), token))
    }

    // ------------------------------------------------------ relationship types

    /// Creates an account relationship type (R3.4); idempotent by `request_id`.
    pub async fn create_relationship_type(
        &self,
        caller: &Caller,
        request_id: Option<&str>,
        new: NewRelationshipType,
    ) -> CsmResult<Written<RelationshipType>> {
        const RPC: &str = "CreateAccountRelationshipType";
        self.roles.authorize(caller, RELATIONSHIP_TYPE_ADMIN_ROLES, RPC).await?;
        let fingerprint = format!("{new:?}");
        if let Some((id, revision)) = self.replayed(RPC, caller, request_id, &fingerprint).await? {
            let kind = self.get_relationship_type(caller, RelationshipTypeId::from_uuid(id)).await?;
            return Ok(self.written(kind, revision));
        }
        let mut tx = self.store.db().begin().await?;
        let (kind, revision) = self.store.insert_relationship_type(&mut tx, &new).await?;
        if !self.record_created(&mut tx, RPC, caller, request_id, &fingerprint, *kind.id.as_uuid(), revision).await? {
            drop(tx);
            return Box::pin(self.create_relationship_type(caller, request_id, new)).await;
        }
        tx.commit().await?;
        Ok(self.committed(kind, revision))
    }

    pub async fn get_relationship_type(&self, _caller: &Caller, id: RelationshipTypeId) -> CsmResult<RelationshipType> {
        self.store.get_relationship_type(id).await?.ok_or_else(|| CsmError::not_found("relationship_type", id))
    }

    /// Updates a type (R3.4). Labels are read from the type by every view, so a
    /// rename shows on existing relationships at once. Kinds cannot change while
    /// relationships of the type exist (RELATIONSHIP_TYPE_IN_USE).
    pub async fn update_relationship_type(
        &self,
        caller: &Caller,
        id: RelationshipTypeId,
        changes: RelationshipTypeChanges,
    ) -> CsmResult<Written<RelationshipType>> {
        self.roles.authorize(caller, RELATIONSHIP_TYPE_ADMIN_ROLES, "UpdateAccountRelationshipType").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.relationship_type_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("relationship_type", id))?;
        if changes.changes_kinds(&current) {
            let (total, _) = self.store.relationship_counts_of_type(&mut tx, id).await?;
            if total > 0 {
                return Err(CsmError::failed_precondition(
                    "RELATIONSHIP_TYPE_IN_USE",
                    format!("{} has {total} relationships; its end kinds cannot change", current.name),
                )
                .with_metadata("relationship_count", total.to_string()));
            }
        }
        let (kind, revision) = self.store.save_relationship_type(&mut tx, &changes.apply_to(&current)).await?;
        tx.commit().await?;
        Ok(self.committed(kind, revision))
    }

    /// Deletes a type and its relationships (R3.4): with active relationships
    /// and no `confirm`, the warning RELATIONSHIP_TYPE_IN_USE; the default
    /// partner type is protected (DEFAULT_TYPE_PROTECTED). Cases never change.
    pub async fn delete_relationship_type(
        &self,
        caller: &Caller,
        id: RelationshipTypeId,
        confirm: bool,
    ) -> CsmResult<Written<i64>> {
        self.roles.authorize(caller, RELATIONSHIP_TYPE_ADMIN_ROLES, "DeleteAccountRelationshipType").await?;
        let mut tx = self.store.db().begin().await?;
        let current = self.store.relationship_type_for_update(&mut tx, id).await?;
        let current = current.ok_or_else(|| CsmError::not_found("relationship_type", id))?;
        if current.default_partner_type {
            return Err(CsmError::failed_precondition(
                "DEFAULT_TYPE_PROTECTED",
                "the default partner type cannot be deleted",
            ));
        }
        let (_, active) = self.store.relationship_counts_of_type(&mut tx, id).await?;
        if active > 0 && !confirm {
            return Err(CsmError::failed_precondition(
                "RELATIONSHIP_TYPE_IN_USE",
                format!("{} has {active} active relationships; confirm to delete them with the type", current.name),
            )
            .with_metadata("active_relationship_count", active.to_string()));
        }
        let (deleted, revision) = self.store.delete_relationship_type(&mut tx, id).await?;
        tx.commit().await?;
        Ok(self.committed(deleted, revision))
    }

    /// One page of relationship types ordered by name, and the next page token.
    pub async fn list_relationship_types(
        &self,
        _caller: &Caller,
        page: PageRequest,
        include_inactive: bool,
    ) -> CsmResult<(Vec<RelationshipType>, String)> {
        let rows = self.store.list_relationship_types(&page, include_inactive).await?;
        let (rows, token) = page.finish(rows, |(_, key)| key.clone());
        Ok((rows.into_iter().map(|(kind, _)| kind).collect(), token))
    }
}

/// FAILED_PRECONDITION reason RESPONSIBILITY_IN_USE (R3.18).
fn in_use(definition: &ResponsibilityDefinition, references: i64) -> CsmError {
    CsmError::failed_precondition(
        "RESPONSIBILITY_IN_USE",
        format!("{} is referenced by {references} records", definition.name),
    )
    .with_metadata("reference_count", references.to_string())
}
