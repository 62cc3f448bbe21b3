//! The shape of a generated data set, computed from the sizes and the seed
//! alone (no IO): which accounts form which hierarchies, who holds which role,
//! which partner serves which customers, and who opens each case.

use serde::{Deserialize, Serialize};

use super::Rng;

use csm_types::roles;

pub use csm_types::roles::{AGENT, CONSUMER_AGENT, CUSTOMER, CUSTOMER_ADMIN, PARTNER, PARTNER_ADMIN};

/// The class a first login gives an employee (R2.13a).
pub const INTERNAL: &str = roles::SNC_INTERNAL;

/// Deepest hierarchy level (0 = a top account): depth up to 5 levels.
pub const MAX_DEPTH: u32 = 4;

// RNG streams (and request-id streams) per kind of item.
pub const STREAM_ACCOUNT: u64 = 1;
pub const STREAM_CONTACT: u64 = 2;
pub const STREAM_ROLE: u64 = 3;
pub const STREAM_AGENT: u64 = 4;
pub const STREAM_CONSUMER: u64 = 5;
pub const STREAM_PARTNER_REL: u64 = 6;
pub const STREAM_CASE: u64 = 7;
pub const STREAM_RELATED_PARTY: u64 = 8;
const STREAM_SHAPE: u64 = 100;

/// Sizes and seed of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    pub accounts: usize,
    pub contacts: usize,
    pub cases: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Customer,
    Partner,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAccount {
    pub kind: AccountKind,
    pub parent: Option<usize>,
    pub depth: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactRole {
    Customer,
    CustomerAdmin,
    Partner,
    PartnerAdmin,
}

impl ContactRole {
    pub fn role(self) -> &'static str {
        match self {
            ContactRole::Customer => CUSTOMER,
            ContactRole::CustomerAdmin => CUSTOMER_ADMIN,
            ContactRole::Partner => PARTNER,
            ContactRole::PartnerAdmin => PARTNER_ADMIN,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedContact {
    pub account: usize,
    pub role: ContactRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAgent {
    /// Also a consumer agent (handles B2C cases, may create them).
    pub consumer_agent: bool,
}

impl PlannedAgent {
    pub fn roles(&self) -> Vec<&'static str> {
        let mut roles = vec![INTERNAL, AGENT];
        if self.consumer_agent {
            roles.push(CONSUMER_AGENT);
        }
        roles
    }
}

/// Who opens a case, for whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlannedCase {
    /// A customer contact for its own account (CREATE_SELF).
    Customer { contact: usize, account: usize },
    /// A partner contact for a customer of its partner account (stamps partner fields).
    Partner { contact: usize, account: usize },
    /// An agent for an account (CREATE_OBO).
    Agent { agent: usize, account: usize },
    /// A consumer agent for a consumer (B2C).
    Consumer { agent: usize, consumer: usize },
}

/// The whole shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub sizes: Sizes,
    pub accounts: Vec<PlannedAccount>,
    pub contacts: Vec<PlannedContact>,
    pub agents: Vec<PlannedAgent>,
    pub consumers: usize,
    /// (partner account, customer account): PCUST.
    pub partner_relationships: Vec<(usize, usize)>,
}

impl Plan {
    /// Customers first (in hierarchies sized so that an admin of a top account
    /// sees about `visible_target` cases), then flat partner accounts.
    pub fn new(sizes: Sizes, visible_target: usize) -> Plan {
        let mut rng = Rng::derive(sizes.seed, STREAM_SHAPE, 0);
        let partners = if sizes.accounts >= 2 { (sizes.accounts / 10).max(1) } else { 0 };
        let customers = sizes.accounts - partners;

        // Hierarchies: mean size chosen so a top admin sees ≈ visible_target cases.
        let cases_per_account = sizes.cases as f64 / customers.max(1) as f64;
        let mean_tree = ((visible_target as f64 / cases_per_account.max(1.0)).round() as usize).clamp(1, 50);
        let mut accounts: Vec<PlannedAccount> = Vec::with_capacity(sizes.accounts);
        let mut first_tree = true;
        while accounts.len() < customers {
            // The first tree has exactly the mean size (the ListVisibleCases subject).
            let size = if first_tree { mean_tree } else { 1 + rng.below(2 * mean_tree - 1) };
            first_tree = false;
            let size = size.min(customers - accounts.len());
            let root = accounts.len();
            accounts.push(PlannedAccount { kind: AccountKind::Customer, parent: None, depth: 0 });
            for _ in 1..size {
                let candidates: Vec<usize> =
                    (root..accounts.len()).filter(|&index| accounts[index].depth < MAX_DEPTH).collect();
                let parent = *rng.pick(&candidates).expect("the root is a candidate");
                let depth = accounts[parent].depth + 1;
                accounts.push(PlannedAccount { kind: AccountKind::Customer, parent: Some(parent), depth });
            }
        }
        for _ in 0..partners {
            accounts.push(PlannedAccount { kind: AccountKind::Partner, parent: None, depth: 0 });
        }

        // Contacts: an admin per top customer account and per partner, a partner
        // contact per partner, a customer per customer account, then the rest at
        // random (a tenth of them partner contacts).
        let mut contacts = Vec::with_capacity(sizes.contacts);
        let partner_accounts: Vec<usize> = (customers..sizes.accounts).collect();
        let roots: Vec<usize> = (0..customers).filter(|&index| accounts[index].parent.is_none()).collect();
        for &root in &roots {
            contacts.push(PlannedContact { account: root, role: ContactRole::CustomerAdmin });
        }
        for &partner in &partner_accounts {
            contacts.push(PlannedContact { account: partner, role: ContactRole::PartnerAdmin });
            contacts.push(PlannedContact { account: partner, role: ContactRole::Partner });
        }
        for account in 0..customers {
            contacts.push(PlannedContact { account, role: ContactRole::Customer });
        }
        while contacts.len() < sizes.contacts {
            if !partner_accounts.is_empty() && rng.chance(0.1) {
                let account = *rng.pick(&partner_accounts).expect("not empty");
                contacts.push(PlannedContact { account, role: ContactRole::Partner });
            } else if customers > 0 {
                contacts.push(PlannedContact { account: rng.below(customers), role: ContactRole::Customer });
            } else {
                break;
            }
        }
        contacts.truncate(sizes.contacts);

        let agent_count = (sizes.accounts / 50).max(2);
        let agents = (0..agent_count).map(|index| PlannedAgent { consumer_agent: index % 2 == 1 }).collect();
        let consumers = (sizes.contacts / 20).max(1);

        // PCUST: each partner serves 3–10 distinct customer accounts.
        let mut partner_relationships = Vec::new();
        if customers > 0 {
            for &partner in &partner_accounts {
                let count = (3 + rng.below(8)).min(customers);
                let mut chosen: Vec<usize> = Vec::with_capacity(count);
                while chosen.len() < count {
                    let customer = rng.below(customers);
                    if !chosen.contains(&customer) {
                        chosen.push(customer);
                    }
                }
                partner_relationships.extend(chosen.into_iter().map(|customer| (partner, customer)));
            }
        }
        Plan { sizes, accounts, contacts, agents, consumers, partner_relationships }
    }

    /// Who opens case `index`: a pure function of the seed and the index.
    pub fn case(&self, index: usize, lookup: &CaseLookup) -> Option<PlannedCase> {
        let mut rng = Rng::derive(self.sizes.seed, STREAM_CASE, index as u64);
        let roll = rng.below(100);
        let customers = lookup.customers_count;
        let consumer_agents: Vec<usize> = (0..self.agents.len()).filter(|&a| self.agents[a].consumer_agent).collect();
        if roll < 5 && self.consumers > 0 && !consumer_agents.is_empty() {
            let agent = *rng.pick(&consumer_agents).expect("not empty");
            return Some(PlannedCase::Consumer { agent, consumer: rng.below(self.consumers) });
        }
        if roll < 20
            && let Some(&contact) = rng.pick(&lookup.serving_partner_contacts)
        {
            let served = &lookup.served_by_partner[self.contacts[contact].account];
            let account = *rng.pick(served).expect("a serving partner serves someone");
            return Some(PlannedCase::Partner { contact, account });
        }
        if customers == 0 {
            let agent = rng.pick(&consumer_agents).copied()?;
            return (self.consumers > 0).then(|| PlannedCase::Consumer { agent, consumer: rng.below(self.consumers) });
        }
        let account = rng.below(customers);
        if roll < 70
            && let Some(&contact) = rng.pick(&lookup.customer_contacts_of[account])
        {
            return Some(PlannedCase::Customer { contact, account });
        }
        Some(PlannedCase::Agent { agent: rng.below(self.agents.len()), account })
    }

    pub fn lookup(&self) -> CaseLookup {
        let customers = self.accounts.iter().filter(|account| account.kind == AccountKind::Customer).count();
        let mut customer_contacts_of = vec![Vec::new(); self.accounts.len()];
        for (index, contact) in self.contacts.iter().enumerate() {
            if contact.role == ContactRole::Customer {
                customer_contacts_of[contact.account].push(index);
            }
        }
        let mut served_by_partner = vec![Vec::new(); self.accounts.len()];
        for &(partner, customer) in &self.partner_relationships {
            served_by_partner[partner].push(customer);
        }
        let serving_partner_contacts = (0..self.contacts.len())
            .filter(|&index| {
                let contact = &self.contacts[index];
                contact.role == ContactRole::Partner && !served_by_partner[contact.account].is_empty()
            })
            .collect();
        CaseLookup { customers_count: customers, customer_contacts_of, served_by_partner, serving_partner_contacts }
    }

    /// The accounts in the hierarchy under `account` (itself included).
    pub fn subtree(&self, account: usize) -> Vec<usize> {
        let mut children = vec![Vec::new(); self.accounts.len()];
        for (index, planned) in self.accounts.iter().enumerate() {
            if let Some(parent) = planned.parent {
                children[parent].push(index);
            }
        }
        let mut out = vec![account];
        let mut next = 0;
        while next < out.len() {
            out.extend(children[out[next]].iter().copied());
            next += 1;
        }
        out
    }
}

/// Indexes that case planning needs.
pub struct CaseLookup {
    customers_count: usize,
    customer_contacts_of: Vec<Vec<usize>>,
    served_by_partner: Vec<Vec<usize>>,
    serving_partner_contacts: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(accounts: usize, contacts: usize, cases: usize) -> Sizes {
        Sizes { accounts, contacts, cases, seed: 42 }
    }

    #[test]
    fn the_plan_depends_only_on_the_sizes_and_seed() {
        assert_eq!(Plan::new(sizes(100, 500, 2000), 1000), Plan::new(sizes(100, 500, 2000), 1000));
        assert_ne!(Plan::new(sizes(100, 500, 2000), 1000), Plan::new(Sizes { seed: 1, ..sizes(100, 500, 2000) }, 1000));
    }

    #[test]
    fn hierarchies_stay_within_five_levels_and_parents_come_first() {
        let plan = Plan::new(sizes(1000, 10_000, 100_000), 1000);
        assert_eq!(plan.accounts.len(), 1000);
        assert_eq!(plan.contacts.len(), 10_000);
        assert_eq!(plan.accounts.iter().filter(|a| a.kind == AccountKind::Partner).count(), 100);
        for (index, account) in plan.accounts.iter().enumerate() {
            assert!(account.depth <= MAX_DEPTH);
            if let Some(parent) = account.parent {
                assert!(parent < index);
                assert_eq!(plan.accounts[parent].depth + 1, account.depth);
                assert_eq!(plan.accounts[parent].kind, AccountKind::Customer);
            }
        }
        // The first hierarchy is sized for ≈1,000 visible cases (900 customers, 100k cases → 9 accounts).
        assert_eq!(plan.subtree(0).len(), 9);
        assert!(plan.accounts.iter().any(|a| a.depth >= 2));
    }

    #[test]
    fn cases_use_every_kind_of_creator() {
        let plan = Plan::new(sizes(50, 300, 1000), 100);
        let lookup = plan.lookup();
        let cases: Vec<PlannedCase> = (0..1000).filter_map(|index| plan.case(index, &lookup)).collect();
        assert_eq!(cases.len(), 1000);
        assert!(cases.iter().any(|c| matches!(c, PlannedCase::Customer { .. })));
        assert!(cases.iter().any(|c| matches!(c, PlannedCase::Partner { .. })));
        assert!(cases.iter().any(|c| matches!(c, PlannedCase::Agent { .. })));
        assert!(cases.iter().any(|c| matches!(c, PlannedCase::Consumer { .. })));
        for case in cases {
            if let PlannedCase::Partner { contact, account } = case {
                let partner = plan.contacts[contact].account;
                assert!(plan.partner_relationships.contains(&(partner, account)));
            }
        }
        assert_eq!(plan.case(7, &lookup), plan.case(7, &lookup));
    }
}
