//! The authorization matrix: for every RPC of the suite, which kinds of
//! caller may reach its handler, and in words within which scope.
//!
//! One data file, `shared/auth/authorization.csv`, compiled in; rendered into
//! `docs/authorization.md` (a test keeps the two equal). The [`crate::AuthLayer`]
//! of every service enforces it before any handler runs; handlers keep the
//! finer checks the `scope` column describes (roles, own records, R4.9
//! visibility …).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use csm_types::ServiceName;

/// The matrix as checked in.
pub const MATRIX_CSV: &str = include_str!("../authorization.csv");

/// A kind of caller. A person has one base kind from the kind of its active
/// profile (agent, customer, partner, consumer) and may add role kinds
/// (manager, admin, customer_admin, partner_admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CallerKind {
    /// No credentials.
    Anonymous,
    /// A service token (the row names which services).
    Service,
    /// A person acting with an INTERNAL (employee) profile.
    Agent,
    /// An internal person holding `sn_customerservice_manager`.
    Manager,
    /// A person holding `admin`.
    Admin,
    /// A person acting with a CONTACT profile (B2B contact of a customer account).
    Customer,
    /// A contact holding `sn_customerservice.customer_admin`.
    CustomerAdmin,
    /// A person acting with a PARTNER_CONTACT profile.
    Partner,
    /// A partner contact holding `sn_customerservice.partner_admin`.
    PartnerAdmin,
    /// A person acting with a CONSUMER (or consumer sub-) profile.
    Consumer,
}

impl CallerKind {
    /// In the order of the matrix's columns.
    pub const ALL: [CallerKind; 10] = [
        CallerKind::Anonymous,
        CallerKind::Service,
        CallerKind::Agent,
        CallerKind::Manager,
        CallerKind::Admin,
        CallerKind::Customer,
        CallerKind::CustomerAdmin,
        CallerKind::Partner,
        CallerKind::PartnerAdmin,
        CallerKind::Consumer,
    ];

    /// The column name.
    pub const fn as_str(self) -> &'static str {
        match self {
            CallerKind::Anonymous => "anonymous",
            CallerKind::Service => "service",
            CallerKind::Agent => "agent",
            CallerKind::Manager => "manager",
            CallerKind::Admin => "admin",
            CallerKind::Customer => "customer",
            CallerKind::CustomerAdmin => "customer_admin",
            CallerKind::Partner => "partner",
            CallerKind::PartnerAdmin => "partner_admin",
            CallerKind::Consumer => "consumer",
        }
    }

    const fn bit(self) -> u16 {
        1 << self as u16
    }

    /// Whether this kind is granted by a role (rather than by the profile's kind).
    pub const fn comes_from_a_role(self) -> bool {
        matches!(self, CallerKind::Manager | CallerKind::Admin | CallerKind::CustomerAdmin | CallerKind::PartnerAdmin)
    }

    /// The role that grants a role kind.
    pub const fn role(self) -> Option<&'static str> {
        match self {
            CallerKind::Manager => Some(csm_types::roles::MANAGER),
            CallerKind::Admin => Some(csm_types::roles::ADMIN),
            CallerKind::CustomerAdmin => Some(csm_types::roles::CUSTOMER_ADMIN),
            CallerKind::PartnerAdmin => Some(csm_types::roles::PARTNER_ADMIN),
            _ => None,
        }
    }

    /// Whether this role kind applies to a person of base kind `base`: a
    /// manager is an agent first, a customer admin a customer, a partner admin
    /// a partner; `admin` applies to whoever holds it.
    pub const fn applies_to(self, base: CallerKind) -> bool {
        match self {
            CallerKind::Manager => matches!(base, CallerKind::Agent),
            CallerKind::CustomerAdmin => matches!(base, CallerKind::Customer),
            CallerKind::PartnerAdmin => matches!(base, CallerKind::Partner),
            CallerKind::Admin => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for CallerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of caller kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CallerKinds(u16);

impl CallerKinds {
    pub const fn empty() -> Self {
        Self(0)
    }

    pub const fn of(kind: CallerKind) -> Self {
        Self(kind.bit())
    }

    pub fn insert(&mut self, kind: CallerKind) {
        self.0 |= kind.bit();
    }

    pub fn with(mut self, kind: CallerKind) -> Self {
        self.insert(kind);
        self
    }

    pub const fn contains(self, kind: CallerKind) -> bool {
        self.0 & kind.bit() != 0
    }

    pub const fn intersects(self, other: CallerKinds) -> bool {
        self.0 & other.0 != 0
    }

    pub fn iter(self) -> impl Iterator<Item = CallerKind> {
        CallerKind::ALL.into_iter().filter(move |kind| self.contains(*kind))
    }

    pub fn names(self) -> String {
        self.iter().map(CallerKind::as_str).collect::<Vec<_>>().join(", ")
    }
}

/// One RPC's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `csm.identity.v1.IdentityService/CreateAccount`.
    pub method: String,
    /// Person kinds and `anonymous` allowed (the `service` bit is set when any service is).
    pub kinds: CallerKinds,
    /// The services whose tokens may call it.
    pub services: Vec<ServiceName>,
    pub scope: String,
}

impl Rule {
    pub fn allows_service(&self, service: ServiceName) -> bool {
        self.services.contains(&service)
    }

    /// Whether a person with `kinds` may reach the handler.
    pub fn allows_person(&self, kinds: CallerKinds) -> bool {
        self.kinds.intersects(kinds)
    }

    /// Whether deciding for a person of base kind `base` needs its roles:
    /// the base kind is not enough, but a role kind on top of it would be.
    pub fn needs_roles_for(&self, base: CallerKind) -> bool {
        !self.kinds.contains(base)
            && CallerKind::ALL
                .into_iter()
                .any(|kind| kind.comes_from_a_role() && kind.applies_to(base) && self.kinds.contains(kind))
    }
}

/// The whole matrix, by method path.
#[derive(Debug, Clone)]
pub struct Matrix {
    rules: Vec<Rule>,
    by_path: HashMap<String, usize>,
}

const HEADER: &str =
    "method,anonymous,service,agent,manager,admin,customer,customer_admin,partner,partner_admin,consumer,scope";

impl Matrix {
    /// The checked-in matrix (parsed once).
    pub fn suite() -> &'static Matrix {
        static MATRIX: OnceLock<Matrix> = OnceLock::new();
        MATRIX.get_or_init(|| Matrix::parse(MATRIX_CSV).expect("shared/auth/authorization.csv is valid"))
    }

    pub fn parse(csv: &str) -> anyhow::Result<Matrix> {
        let mut lines = csv.lines().enumerate().filter(|(_, line)| !line.trim().is_empty());
        let (_, header) = lines.next().ok_or_else(|| anyhow::anyhow!("the matrix is empty"))?;
        anyhow::ensure!(header.trim() == HEADER, "the matrix header must be {HEADER:?}");
        let mut rules = Vec::new();
        let mut by_path = HashMap::new();
        for (index, line) in lines {
            let number = index + 1;
            let cells: Vec<&str> = line.splitn(12, ',').collect();
            anyhow::ensure!(cells.len() == 12, "line {number}: 12 columns expected");
            let method = cells[0].trim().to_owned();
            anyhow::ensure!(
                method.contains('/') && method.starts_with("csm."),
                "line {number}: {method:?} is not a csm method path"
            );
            let mut kinds = CallerKinds::empty();
            for (kind, cell) in CallerKind::ALL.into_iter().zip(&cells[1..11]) {
                let cell = cell.trim();
                if kind == CallerKind::Service {
                    continue;
                }
                match cell {
                    "" => {}
                    "x" => kinds.insert(kind),
                    other => anyhow::bail!("line {number}: column {kind} must be x or empty, not {other:?}"),
                }
            }
            let mut services = Vec::new();
            for name in cells[2].split_whitespace() {
                let service: ServiceName =
                    name.parse().map_err(|_| anyhow::anyhow!("line {number}: unknown service {name:?}"))?;
                services.push(service);
            }
            if !services.is_empty() {
                kinds.insert(CallerKind::Service);
            }
            anyhow::ensure!(
                by_path.insert(method.clone(), rules.len()).is_none(),
                "line {number}: {method} appears twice"
            );
            rules.push(Rule { method, kinds, services, scope: cells[11].trim().to_owned() });
        }
        Ok(Matrix { rules, by_path })
    }

    /// The rule of a request path (`/csm.identity.v1.IdentityService/CreateAccount`).
    pub fn rule(&self, path: &str) -> Option<&Rule> {
        self.by_path.get(path.trim_start_matches('/')).map(|index| &self.rules[*index])
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The matrix as Markdown (`docs/authorization.md`).
    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        out.push_str("# Authorization matrix\n\n");
        out.push_str(
            "Generated from `shared/auth/authorization.csv` by `cargo test -p csm-auth` \
             (set `CSM_BLESS=1` to rewrite it); do not edit by hand.\n\n",
        );
        out.push_str(
            "Every RPC of every service has one row. The auth layer of each service enforces it before the \
             handler runs: a caller without credentials is `anonymous`; a service token is let through only \
             for the services named; a person is let through when any of its kinds is marked. A person's kinds: \
             its active profile's kind gives `agent` (INTERNAL), `customer` (CONTACT), `partner` \
             (PARTNER_CONTACT) or `consumer` (CONSUMER, consumer sub-profile); its effective roles add \
             `manager` (sn_customerservice_manager), `admin` (admin), `customer_admin` \
             (sn_customerservice.customer_admin) and `partner_admin` (sn_customerservice.partner_admin). \
             Refusals: UNAUTHENTICATED `MISSING_CREDENTIALS` for anonymous callers, PERMISSION_DENIED \
             `CALLER_KIND_NOT_ALLOWED` for people, `SERVICE_NOT_ALLOWED` for services. The scope column says \
             what the handler checks further.\n\n",
        );
        let _ = writeln!(out, "## Callers per kind\n");
        out.push_str("| kind | RPCs |\n|---|---:|\n");
        for kind in CallerKind::ALL {
            let count = self.rules.iter().filter(|rule| rule.kinds.contains(kind)).count();
            let _ = writeln!(out, "| {kind} | {count} |");
        }
        let _ = writeln!(out, "| (all RPCs) | {} |\n", self.rules.len());
        let mut service = "";
        for rule in &self.rules {
            let (package_service, method) = rule.method.split_once('/').unwrap_or((&rule.method, ""));
            if package_service != service {
                service = package_service;
                let _ = writeln!(out, "\n## {service}\n");
                out.push_str("| RPC | anon | services | agent | manager | admin | customer | cust. admin | partner | partner admin | consumer | scope |\n");
                out.push_str("|---|:-:|---|:-:|:-:|:-:|:-:|:-:|:-:|:-:|:-:|---|\n");
            }
            let mark = |kind: CallerKind| if rule.kinds.contains(kind) { "✓" } else { "" };
            let services = rule.services.iter().map(|service| service.as_str()).collect::<Vec<_>>().join(" ");
            let _ = writeln!(
                out,
                "| {method} | {} | {services} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                mark(CallerKind::Anonymous),
                mark(CallerKind::Agent),
                mark(CallerKind::Manager),
                mark(CallerKind::Admin),
                mark(CallerKind::Customer),
                mark(CallerKind::CustomerAdmin),
                mark(CallerKind::Partner),
                mark(CallerKind::PartnerAdmin),
                mark(CallerKind::Consumer),
                rule.scope.replace('|', "\\|"),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_matrix_parses() {
        let matrix = Matrix::suite();
        assert!(matrix.rules().len() > 200, "{} rows", matrix.rules().len());
    }

    #[test]
    fn docs_authorization_md_is_the_rendered_matrix() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/authorization.md");
        let rendered = Matrix::suite().render_markdown();
        if std::env::var_os("CSM_BLESS").is_some() {
            std::fs::write(path, &rendered).unwrap();
        }
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(on_disk == rendered, "docs/authorization.md is stale: run `CSM_BLESS=1 cargo test -p csm-auth`");
    }

    #[test]
    fn rows_are_parsed_and_checked() {
        let csv = format!(
            "{HEADER}\ncsm.x.v1.XService/A,x,case-access role,x,,,,,,,,anyone\ncsm.x.v1.XService/B,,,,,x,,,,,,admins; own"
        );
        let matrix = Matrix::parse(&csv).unwrap();
        let a = matrix.rule("/csm.x.v1.XService/A").unwrap();
        assert!(a.kinds.contains(CallerKind::Anonymous));
        assert!(a.allows_service(ServiceName::Role));
        assert!(!a.allows_service(ServiceName::Licensing));
        let b = matrix.rule("csm.x.v1.XService/B").unwrap();
        assert!(!b.allows_person(CallerKinds::of(CallerKind::Agent)));
        assert!(b.allows_person(CallerKinds::of(CallerKind::Agent).with(CallerKind::Admin)));
        assert!(b.needs_roles_for(CallerKind::Agent));
        assert!(!a.needs_roles_for(CallerKind::Agent));
        assert!(Matrix::parse(&format!("{HEADER}\ncsm.x.v1.XService/A,y,,,,,,,,,,")).is_err());
        assert!(Matrix::parse(&format!("{HEADER}\ncsm.x.v1.XService/A,,nobody,,,,,,,,,")).is_err());
        assert!(
            Matrix::parse(&format!("{HEADER}\ncsm.x.v1.XService/A,,,,,,,,,,,\ncsm.x.v1.XService/A,,,,,,,,,,,"))
                .is_err()
        );
    }
}
