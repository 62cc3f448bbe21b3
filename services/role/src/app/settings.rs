//! The role settings (collision policies, delegated assignment, X1): read by
//! any authenticated caller, updated by role administrators.

use csm_auth::Caller;
use csm_errors::{CsmError, CsmResult};

use super::RoleApp;
use crate::domain::collisions::{MixingPolicy, PersonaPolicy, Policies};
use crate::domain::settings::{
    CONTACT_ROLE_ASSIGNMENT_KEY, MIXING_POLICY_KEY, PERSONA_POLICY_KEY, RoleSettings, SettingsChange,
};

impl RoleApp {
    pub(super) async fn policies(&self) -> CsmResult<Policies> {
        Ok(self.settings().await?.policies)
    }

    /// The role settings (any authenticated caller may read them).
    pub async fn settings(&self) -> CsmResult<RoleSettings> {
        let (values, updated_at) = self.store.settings().await?;
        Ok(RoleSettings::from_stored(&values, updated_at))
    }

    /// Updates the settings named in `change` (role administrators only).
    pub async fn update_settings(&self, caller: &Caller, change: SettingsChange) -> CsmResult<(RoleSettings, String)> {
        self.authorize_role_administration(caller, "UpdateRoleSettings").await?;
        let mut values: Vec<(&str, String)> = Vec::new();
        if let Some(mixing) = change.mixing {
            values.push((MIXING_POLICY_KEY, if mixing == MixingPolicy::Warn { "WARN" } else { "DENY" }.to_owned()));
        }
        if let Some(persona) = change.persona {
            values
                .push((PERSONA_POLICY_KEY, if persona == PersonaPolicy::Warn { "WARN" } else { "REJECT" }.to_owned()));
        }
        if let Some(roles) = change.contact_role_assignment {
            let mut canonical = Vec::new();
            for role in roles {
                canonical.push(self.known_role(&role)?);
            }
            canonical.dedup();
            values.push((CONTACT_ROLE_ASSIGNMENT_KEY, canonical.join(",")));
        }
        // Loading the suspect edges (X1) is a containment edit with all its
        // checks, in its own transaction under the role-graph lock.
        let suspect_revision = match change.load_suspect_edges {
            Some(load) => Some(self.set_load_suspect_edges(load).await?.0),
            None => None,
        };
        if values.is_empty() {
            let revision = suspect_revision
                .ok_or_else(|| CsmError::invalid_field("update_mask", "must name at least one setting"))?;
            return Ok((self.settings().await?, self.feed.token(revision)));
        }
        let revision = self.store.write_settings(&values).await?;
        self.feed.committed(revision);
        Ok((self.settings().await?, self.feed.token(revision)))
    }
}
