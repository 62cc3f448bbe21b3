//! What `csm load seed` created (the plan plus the ids the suite returned),
//! written as JSON so `run` needs no listing and a stopped seed can resume.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::plan::Plan;

/// One created case: its id and whom it belongs to (indexes into the plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRecord {
    pub id: String,
    /// The customer account (None for a B2C case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<usize>,
    /// The partner account stamped on it (cases opened by partner contacts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub plan: Plan,
    /// Ids per planned account / contact (profile id) / agent (profile id) /
    /// consumer; empty = not created yet.
    pub account_ids: Vec<String>,
    pub contact_ids: Vec<String>,
    pub agent_ids: Vec<String>,
    pub consumer_ids: Vec<String>,
    /// Roles assigned to contacts and agents (all of them).
    pub roles_assigned: bool,
    pub partner_relationships_created: bool,
    /// Cases created so far, in plan order.
    pub cases: Vec<CaseRecord>,
    /// (case index, contact index) related parties added.
    #[serde(default)]
    pub related_parties: Vec<(usize, usize)>,
    /// Set when the related-party phase ended (or why it was skipped).
    #[serde(default)]
    pub related_parties_done: bool,
    #[serde(default)]
    pub related_parties_note: String,
}

impl Manifest {
    pub fn new(plan: Plan) -> Self {
        Self {
            account_ids: vec![String::new(); plan.accounts.len()],
            contact_ids: vec![String::new(); plan.contacts.len()],
            agent_ids: vec![String::new(); plan.agents.len()],
            consumer_ids: vec![String::new(); plan.consumers],
            roles_assigned: false,
            partner_relationships_created: false,
            cases: Vec::new(),
            related_parties: Vec::new(),
            related_parties_done: false,
            related_parties_note: String::new(),
            plan,
        }
    }

    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the manifest {} (run `csm load seed` first)", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a load manifest", path.display()))
    }

    /// Writes atomically (a temporary file renamed over the old one).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let temporary = path.with_extension("json.tmp");
        let text = serde_json::to_string(self)?;
        std::fs::write(&temporary, text).with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}
