//! The CSM role catalog seeded at start-up (SPEC §2.2, §5.4). Pure data plus a
//! few pure lookups; no I/O.
//!
//! * [`SEED_ROLES`] — every role named in the two §2.2 tables ("Role catalog
//!   with containment" and "Contributor and related roles"), the base and
//!   explicit roles of R2.3–R2.5, the CAM granular and functional roles of
//!   R5.14, and the other roles the SPEC refers to by name (`admin`, the
//!   `sn_crm_*` data-manager/admin roles of §3 and §5, the unified-consumer and
//!   account-consumer roles of R1.12–R1.15, the service-location roles of
//!   R1.15). Roles from outside CSM (`knowledge`, `chat_admin`, …) are opaque
//!   leaves.
//! * [`SEED_EDGES`] — every "contains" edge of those tables, in table order.
//!   The documented edge `escalation_requester ⊃ consumer_agent` is seeded
//!   with `suspect: true` (X1) so it is loaded only when `load_suspect_edges`
//!   is on. `notify_view` (manager row, only with the Chat Zoom Connector
//!   plugin) is left out: we model no plugins.
//!
//! # Naming rule for the CAM roles (R5.14)
//!
//! The SPEC names CAM roles by their short form (`case_read`,
//! `sold_product_authorized_contact`, …). We store them under the names
//! ServiceNow gives them ([SN:r_rolesinstalledwithcustaccessmgmt]):
//!
//! * scope: `case_*` roles live in `sn_customerservice.`; `sold_product_*`,
//!   `install_base_*` and `installed_product_*` roles live in `sn_install_base.`;
//! * **granular** roles carry ServiceNow's `_granular` suffix
//!   (`case_read` → `sn_customerservice.case_read_granular`,
//!   "contact read" → `sn_install_base.sold_product_contact_read_granular`);
//! * **functional** roles carry no suffix
//!   (`case_authorized_contact` → `sn_customerservice.case_authorized_contact`,
//!   `sold_product_authorized_contact` → `sn_install_base.sold_product_authorized_contact`,
//!   install base authorized contact → `sn_install_base.install_base_authorized_contact`).
//!
//! The module-level granular roles (Yokohama+) keep the names the SPEC already
//! gives in full: `sn_customerservice.cust_data_resp_granular`,
//! `sn_customerservice.case_mgmt_resp_granular`, `sn_install_base.resp_granular`,
//! `sn_customerservice.contract_entitlement_resp_granular`.
//!
//! Short role names used in SPEC prose (`customer`, `partner_admin`,
//! `account_contributor`, `case_admin`, `all_cases_viewer`, `requester`,
//! `svc_location_manager_contributor`, …) are the `sn_customerservice.` roles.

use std::collections::BTreeMap;

/// Where a seeded role comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedSource {
    /// Named in the seed documents (SPEC [SEED]).
    Seed,
    /// Named only in other vendor documentation (SPEC [DOC]).
    Doc,
}

/// One containment edge of the seeded catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedEdge {
    pub parent: &'static str,
    pub child: &'static str,
    /// Documented but contradicting other sources; loaded only on request (X1).
    pub suspect: bool,
}

/// One role of the seeded catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRole {
    pub name: &'static str,
    pub description: &'static str,
    pub source: SeedSource,
}

/// A role of the catalog as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRole {
    pub name: String,
    pub description: String,
    /// "seed", "doc" or "custom".
    pub origin: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Set by DefineRole/UpdateRole; seeded roles show their description until then.
    pub display_name: Option<String>,
    /// When the role or its direct edges last changed (None: never since seeding).
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A containment edge of the catalog as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainmentEdge {
    pub parent: String,
    pub child: String,
    pub suspect: bool,
    /// "seed" or "custom".
    pub origin: String,
}

/// The whole catalog as stored: roles, every edge (suspect ones too), aliases
/// and whether suspect edges are loaded (X1).
#[derive(Debug, Clone)]
pub struct CatalogSnapshot {
    pub roles: Vec<CatalogRole>,
    pub edges: Vec<ContainmentEdge>,
    /// alias → canonical role.
    pub aliases: BTreeMap<String, String>,
    pub load_suspect_edges: bool,
    /// The role-graph lock's version when read: every catalog edit bumps it,
    /// so a newer snapshot never gets replaced by an older one.
    pub version: i64,
}

/// The names rules elsewhere speak of: explicit roles of internal and external
/// users (R2.4), the base roles every CSM role contains (R2.6), `public` (no
/// login, R2.5) and the platform administrator — written once, in `csm_types`.
pub use csm_types::roles::{
    ADMIN, ESM_AGENT as SN_ESM_AGENT, ESM_USER as SN_ESM_USER, PUBLIC, SNC_EXTERNAL, SNC_INTERNAL,
};

/// The default of the `contact_role_assignment` setting (R4.7): the roles a
/// customer or partner admin may grant from the portal. The property's
/// documented value lists the short names `partner_admin, partner,
/// customer_admin, customer`; these are their full role names.
pub const DEFAULT_CONTACT_ROLE_ASSIGNMENT: &[&str] = &[
    "sn_customerservice.partner_admin",
    "sn_customerservice.partner",
    "sn_customerservice.customer_admin",
    "sn_customerservice.customer",
];

/// Alternative spellings accepted on input, as `(alias, canonical name)` (X11).
pub const ROLE_ALIASES: &[(&str, &str)] = &[("sn_csm_proxy_cont", "sn_customerservice.proxy_contact")];

const fn seed(name: &'static str, description: &'static str) -> SeedRole {
    SeedRole { name, description, source: SeedSource::Seed }
}

const fn doc(name: &'static str, description: &'static str) -> SeedRole {
    SeedRole { name, description, source: SeedSource::Doc }
}

const fn e(parent: &'static str, child: &'static str) -> SeedEdge {
    SeedEdge { parent, child, suspect: false }
}

const fn suspect(parent: &'static str, child: &'static str) -> SeedEdge {
    SeedEdge { parent, child, suspect: true }
}

/// Every seeded role. `source` follows the SPEC tag of the rule or table row
/// that names the role (a role first named in a [SEED] row is `Seed` even if
/// some of its edges are [DOC]).
pub const SEED_ROLES: &[SeedRole] = &[
    // ---- Explicit and platform roles (R2.4, R2.5, R3.2) ----
    seed(SNC_INTERNAL, "Explicit role: internal user (employee)"),
    seed(SNC_EXTERNAL, "Explicit role: external user (customer, partner, consumer)"),
    seed(PUBLIC, "No login required (public resources)"),
    doc(ADMIN, "Platform administrator"),
    // ---- CSM base roles (R2.3) ----
    seed(SN_ESM_AGENT, "CSM base role of internal (agent-family) roles"),
    seed("sn_esm_admin", "CSM base administrator role"),
    seed("sn_esm_partner", "CSM base role of partner contacts"),
    seed("sn_esm_partner_admin", "CSM base role of partner administrators"),
    seed(SN_ESM_USER, "CSM base role of external (requester-family) roles"),
    seed("sn_esm_user_admin", "CSM base role of customer administrators"),
    // ---- The nine primary CSM roles (R2.1) ----
    seed("sn_customerservice_agent", "Customer service agent (B2B)"),
    seed("sn_customerservice_manager", "Customer service manager (B2B and B2C)"),
    seed("sn_customerservice.customer", "Customer contact (B2B)"),
    seed("sn_customerservice.customer_admin", "Customer administrator (B2B)"),
    seed("sn_customerservice.customer_case_manager", "Customer case manager (B2B)"),
    seed("sn_customerservice.partner", "Partner contact (B2B)"),
    seed("sn_customerservice.partner_admin", "Partner administrator (B2B)"),
    seed("sn_customerservice.consumer", "Consumer (B2C)"),
    seed("sn_customerservice.consumer_agent", "Consumer service agent (B2C)"),
    // ---- Other CSM roles of the §2.2 role catalog table ----
    seed("sn_customerservice.case_contributor_editor", "Limited write on cases already readable"),
    seed("sn_customerservice.case_contributor_viewer", "Read case related lists as a case contributor"),
    seed("sn_customerservice.case_task_agent", "Works case tasks assigned to self or own groups"),
    seed("sn_customerservice.case_task_viewer", "Read all case tasks"),
    seed("sn_customerservice.case_viewer", "Read all cases"),
    seed("sn_customerservice.contact_manager", "Manages contacts"),
    seed("sn_customerservice.projectmanager", "CSM project manager (com.snc.csm_ppm)"),
    seed("sn_customerservice.projectstakeholder", "CSM project stakeholder (com.snc.csm_ppm)"),
    seed("sn_customerservice.customer_data_viewer", "Read-only access to customer data"),
    seed("sn_customerservice.deescalation_requester", "Requests de-escalation of cases"),
    seed("sn_customerservice.escalation_requester", "Requests escalation of cases"),
    seed("sn_customerservice.proxy_case_creator", "Creates cases on behalf of customers"),
    seed("sn_customerservice.proxy_contact", "Employee acting as proxy case contact (com.snc.csm_proxy_contacts)"),
    seed("sn_customerservice.csm_workspace_user", "CSM workspace user"),
    doc("csm_admin", "CSM administrator"),
    seed("csm_ws_integration", "CSM workspace integration user"),
    // ---- Contributor and related roles table (§2.2, §4.4) ----
    seed("sn_customerservice.account_contributor", "Creates cases on behalf of accounts (internal)"),
    seed("sn_customerservice.consumer_contributor", "Creates cases on behalf of consumers (internal)"),
    seed("sn_customerservice.self_contributor", "Creates cases for oneself (employee)"),
    seed("sn_customerservice.service_organization_contributor", "Creates cases for own service organization"),
    seed("sn_customerservice.relationship_contributor", "Contributor for customers one has a relationship with"),
    doc("sn_customerservice.case_contributor_creator", "Base role of the contributor roles"),
    doc("sn_customerservice.relationship_agent", "Agent for customers one has a relationship with"),
    doc("sn_customerservice.unified_consumer", "Unified consumer (employee or contact as consumer)"),
    doc("sn_customerservice.requester", "Requester base role, parallel to sn_esm_user"),
    doc("sn_customerservice.case_admin", "Case administrator"),
    doc("sn_customerservice.all_cases_viewer", "Read all cases (limited fields)"),
    // Module-level granular roles (R5.14, Yokohama+).
    doc("sn_customerservice.cust_data_resp_granular", "Responsibility-based access to customer data"),
    doc("sn_install_base.resp_granular", "Responsibility-based access to install base and sold products"),
    doc("sn_customerservice.case_mgmt_resp_granular", "Responsibility-based access to cases"),
    doc(
        "sn_customerservice.contract_entitlement_resp_granular",
        "Responsibility-based access to contracts and entitlements",
    ),
    // ---- CAM granular roles (R5.14) ----
    doc("sn_customerservice.case_read_granular", "CAM granular: read case"),
    doc("sn_customerservice.case_create_granular", "CAM granular: create case"),
    doc("sn_customerservice.case_write_granular", "CAM granular: write case"),
    doc("sn_customerservice.case_related_party_write_granular", "CAM granular: write case related parties"),
    doc("sn_install_base.sold_product_read_granular", "CAM granular: read sold product"),
    doc("sn_install_base.sold_product_contact_read_granular", "CAM granular: read sold product related contacts"),
    doc("sn_install_base.sold_product_contact_write_granular", "CAM granular: write sold product related contacts"),
    doc("sn_install_base.sold_product_consumer_read_granular", "CAM granular: read sold product related consumers"),
    doc("sn_install_base.sold_product_consumer_write_granular", "CAM granular: write sold product related consumers"),
    doc("sn_install_base.install_base_read_granular", "CAM granular: read install base"),
    doc("sn_install_base.install_base_related_party_read_granular", "CAM granular: read install base related parties"),
    doc(
        "sn_install_base.install_base_related_party_write_granular",
        "CAM granular: write install base related parties",
    ),
    doc("sn_install_base.installed_product_read_granular", "CAM granular: read installed product"),
    // ---- CAM functional roles (R5.14) ----
    doc("sn_customerservice.case_authorized_contact", "CAM functional: case related party (contact)"),
    doc("sn_customerservice.case_authorized_consumer", "CAM functional: case related party (consumer)"),
    doc("sn_customerservice.case_authorized_contributor", "CAM functional: case related party (internal user)"),
    doc("sn_install_base.sold_product_authorized_contact", "CAM functional: sold product related party (contact)"),
    doc("sn_install_base.sold_product_authorized_consumer", "CAM functional: sold product related party (consumer)"),
    doc("sn_install_base.install_base_authorized_contact", "CAM functional: install base related party (contact)"),
    doc("sn_install_base.install_base_authorized_consumer", "CAM functional: install base related party (consumer)"),
    doc(
        "sn_install_base.install_base_authorized_contributor",
        "CAM functional: install base related party (internal user)",
    ),
    doc(
        "sn_install_base.install_base_authorized_member",
        "CAM functional: install base related party (service org member)",
    ),
    // ---- CRM data-manager and admin roles (R3.2, R3.5, R3.11, R3.12, R5.2, R5.12) ----
    doc("sn_crm_account_data_manager", "CRM account data manager"),
    doc("sn_crm_account_relationship_data_manager", "CRM account relationship data manager"),
    doc("sn_crm_foundation_data_manager", "CRM foundation data manager"),
    doc("sn_crm_foundation_admin", "CRM foundation administrator"),
    doc("sn_crm_customer_access_management_admin", "Customer access management administrator"),
    // ---- Account consumer and service-location roles (R1.14, R1.15) ----
    doc("sn_acct_consumer.consumer", "Account consumer (B2B2C)"),
    doc("sn_acct_consumer.agent", "Account consumer agent (B2B2C)"),
    doc("sn_customerservice.svc_location_consumer_agent", "Service location consumer agent"),
    doc("sn_customerservice.svc_location_agent", "Service location agent"),
    doc("sn_customerservice.svc_location_manager", "Service location manager (fulfiller)"),
    doc("sn_customerservice.svc_location_manager_contributor", "Service location manager contributor"),
    doc("sn_bus_loc.location_relationship_manager", "Business location relationship manager"),
    // ---- Opaque leaf roles from outside CSM ----
    // sn_customerservice_agent row
    seed("knowledge", "Knowledge user (opaque)"),
    seed("chat_admin", "Chat administrator (opaque)"),
    seed("timecard_user", "Time card user (opaque)"),
    seed("template_editor", "Template editor (opaque)"),
    seed("sn_shn.editor", "Social hub editor (opaque)"),
    seed("domain_expand_scope", "Domain scope expansion (opaque)"),
    // sn_customerservice_manager row
    seed("timecard_manager", "Time card manager (opaque)"),
    seed("timecard_approver", "Time card approver (opaque)"),
    seed("skill_admin", "Skill administrator (opaque)"),
    seed("sn_app_cs_social_social_profile_user", "Social customer service profile user (opaque)"),
    doc("sam", "Software asset management (opaque, X12)"),
    seed("asset", "Asset user (opaque)"),
    seed("sn_shn.admin", "Social hub administrator (opaque)"),
    seed("sn_publications.approver", "Publications approver (opaque)"),
    seed("contract_manager", "Contract manager (opaque)"),
    seed("sn_app_cs_social_log_user", "Social customer service log user (opaque)"),
    seed("awa_manager", "Advanced work assignment manager (opaque)"),
    seed("sn_majorissue_mgt.major_issue_manager", "Major issue manager (opaque)"),
    seed("email_client_quick_message_author", "Email client quick message author (opaque)"),
    seed("workspace_admin", "Workspace administrator (opaque)"),
    seed("skill_model_user", "Skill model user (opaque)"),
    seed("sn_templated_snip.template_snippet_writer", "Template snippet writer (opaque)"),
    seed("approver_user", "Approver user (opaque)"),
    // case_contributor_viewer row
    seed("sn_shn.user", "Social hub user (opaque)"),
    seed("wm_read", "Work management read (opaque)"),
    // csm_workspace_user row
    doc("agent_workspace_user", "Agent workspace user (opaque)"),
    doc("canvas_user", "Canvas user (opaque)"),
    doc("sn_templated_snip.template_snippet_reader", "Template snippet reader (opaque)"),
    doc("email_composer", "Email composer (opaque)"),
    // csm_admin row
    doc("sn_res_shaper.admin", "Resource shaper administrator (opaque)"),
    // sn_esm_agent row
    seed("assignment_workbench", "Assignment workbench user (opaque)"),
    seed("cmdb_read", "CMDB read (opaque)"),
    seed("agent_schedule_user", "Agent schedule user (opaque)"),
    seed("interaction_agent", "Interaction agent (opaque)"),
    seed("sn_publications_recipients_list_user", "Publications recipients list user (opaque)"),
    // sn_esm_user row
    seed("sn_apptmnt_booking.appointment_booking_user", "Appointment booking user (opaque)"),
    // relationship_agent row
    doc("sn_fsm_servicedesk_agent", "Field service desk agent (opaque)"),
];

/// Every seeded "contains" edge, in the order of the SPEC tables.
pub const SEED_EDGES: &[SeedEdge] = &[
    // ===== §2.2 Role catalog with containment =====
    // | sn_customerservice_agent | knowledge, chat_admin, sn_customerservice.deescalation_requester,
    //   timecard_user, template_editor, sn_esm_agent, sn_shn.editor, domain_expand_scope |
    e("sn_customerservice_agent", "knowledge"),
    e("sn_customerservice_agent", "chat_admin"),
    e("sn_customerservice_agent", "sn_customerservice.deescalation_requester"),
    e("sn_customerservice_agent", "timecard_user"),
    e("sn_customerservice_agent", "template_editor"),
    e("sn_customerservice_agent", SN_ESM_AGENT),
    e("sn_customerservice_agent", "sn_shn.editor"),
    e("sn_customerservice_agent", "domain_expand_scope"),
    // | sn_customerservice_manager | sn_customerservice_agent, timecard_manager, timecard_approver,
    //   skill_admin, sn_app_cs_social_social_profile_user, sam (X12), sn_customerservice.consumer_agent,
    //   asset, sn_shn.admin, sn_publications.approver, contract_manager, sn_app_cs_social_log_user,
    //   awa_manager, sn_majorissue_mgt.major_issue_manager, email_client_quick_message_author,
    //   workspace_admin, skill_model_user, sn_templated_snip.template_snippet_writer, approver_user;
    //   notify_view only if Chat Zoom Connector installed |
    // notify_view is left out: it depends on the Chat Zoom Connector plugin, which we do not model.
    // approval_admin (replaced by approver_user from Xanadu) is not seeded.
    e("sn_customerservice_manager", "sn_customerservice_agent"),
    e("sn_customerservice_manager", "timecard_manager"),
    e("sn_customerservice_manager", "timecard_approver"),
    e("sn_customerservice_manager", "skill_admin"),
    e("sn_customerservice_manager", "sn_app_cs_social_social_profile_user"),
    e("sn_customerservice_manager", "sam"),
    e("sn_customerservice_manager", "sn_customerservice.consumer_agent"),
    e("sn_customerservice_manager", "asset"),
    e("sn_customerservice_manager", "sn_shn.admin"),
    e("sn_customerservice_manager", "sn_publications.approver"),
    e("sn_customerservice_manager", "contract_manager"),
    e("sn_customerservice_manager", "sn_app_cs_social_log_user"),
    e("sn_customerservice_manager", "awa_manager"),
    e("sn_customerservice_manager", "sn_majorissue_mgt.major_issue_manager"),
    e("sn_customerservice_manager", "email_client_quick_message_author"),
    e("sn_customerservice_manager", "workspace_admin"),
    e("sn_customerservice_manager", "skill_model_user"),
    e("sn_customerservice_manager", "sn_templated_snip.template_snippet_writer"),
    e("sn_customerservice_manager", "approver_user"),
    // | sn_customerservice.consumer_agent | sn_esm_agent, chat_admin, sn_shn.editor, template_editor, knowledge |
    e("sn_customerservice.consumer_agent", SN_ESM_AGENT),
    e("sn_customerservice.consumer_agent", "chat_admin"),
    e("sn_customerservice.consumer_agent", "sn_shn.editor"),
    e("sn_customerservice.consumer_agent", "template_editor"),
    e("sn_customerservice.consumer_agent", "knowledge"),
    // | sn_customerservice.customer | sn_esm_user, snc_external |
    e("sn_customerservice.customer", SN_ESM_USER),
    e("sn_customerservice.customer", SNC_EXTERNAL),
    // | sn_customerservice.customer_admin | sn_customerservice.customer, sn_esm_user_admin |
    e("sn_customerservice.customer_admin", "sn_customerservice.customer"),
    e("sn_customerservice.customer_admin", "sn_esm_user_admin"),
    // | sn_customerservice.customer_case_manager | sn_customerservice.customer |
    e("sn_customerservice.customer_case_manager", "sn_customerservice.customer"),
    // | sn_customerservice.partner | sn_customerservice.customer, sn_esm_partner |
    e("sn_customerservice.partner", "sn_customerservice.customer"),
    e("sn_customerservice.partner", "sn_esm_partner"),
    // | sn_customerservice.partner_admin | sn_customerservice.partner, sn_customerservice.customer_admin,
    //   sn_esm_partner_admin |
    e("sn_customerservice.partner_admin", "sn_customerservice.partner"),
    e("sn_customerservice.partner_admin", "sn_customerservice.customer_admin"),
    e("sn_customerservice.partner_admin", "sn_esm_partner_admin"),
    // | sn_customerservice.consumer | sn_esm_user, snc_external |
    e("sn_customerservice.consumer", SN_ESM_USER),
    e("sn_customerservice.consumer", SNC_EXTERNAL),
    // | sn_customerservice.case_contributor_editor | — |
    // | sn_customerservice.case_contributor_viewer | sn_shn.user, wm_read |
    e("sn_customerservice.case_contributor_viewer", "sn_shn.user"),
    e("sn_customerservice.case_contributor_viewer", "wm_read"),
    // | sn_customerservice.case_task_agent | sn_customerservice.customer_data_viewer,
    //   sn_customerservice.csm_workspace_user, sn_customerservice.case_contributor_editor |
    e("sn_customerservice.case_task_agent", "sn_customerservice.customer_data_viewer"),
    e("sn_customerservice.case_task_agent", "sn_customerservice.csm_workspace_user"),
    e("sn_customerservice.case_task_agent", "sn_customerservice.case_contributor_editor"),
    // | sn_customerservice.case_task_viewer | — |
    // | sn_customerservice.case_viewer | — |
    // | sn_customerservice.contact_manager | — |
    // | sn_customerservice.projectmanager | sn_customerservice.customer_data_viewer |
    e("sn_customerservice.projectmanager", "sn_customerservice.customer_data_viewer"),
    // | sn_customerservice.projectstakeholder | — |
    // | sn_customerservice.customer_data_viewer | — |
    // | sn_customerservice.deescalation_requester | sn_customerservice.escalation_requester |
    e("sn_customerservice.deescalation_requester", "sn_customerservice.escalation_requester"),
    // | sn_customerservice.escalation_requester | documented: sn_customerservice.consumer_agent —
    //   SUSPECT, not implemented by default (X1) |
    suspect("sn_customerservice.escalation_requester", "sn_customerservice.consumer_agent"),
    // | sn_customerservice.proxy_case_creator | — |
    // | sn_customerservice.proxy_contact | — (alias sn_csm_proxy_cont, X11) |
    // | sn_customerservice.csm_workspace_user | agent_workspace_user, canvas_user,
    //   sn_templated_snip.template_snippet_reader, email_composer [DOC] |
    e("sn_customerservice.csm_workspace_user", "agent_workspace_user"),
    e("sn_customerservice.csm_workspace_user", "canvas_user"),
    e("sn_customerservice.csm_workspace_user", "sn_templated_snip.template_snippet_reader"),
    e("sn_customerservice.csm_workspace_user", "email_composer"),
    // | csm_admin | sn_shn.admin, sn_res_shaper.admin [DOC] |
    e("csm_admin", "sn_shn.admin"),
    e("csm_admin", "sn_res_shaper.admin"),
    // | sn_esm_agent | assignment_workbench, wm_read, cmdb_read, agent_schedule_user, interaction_agent,
    //   sn_publications_recipients_list_user |
    e(SN_ESM_AGENT, "assignment_workbench"),
    e(SN_ESM_AGENT, "wm_read"),
    e(SN_ESM_AGENT, "cmdb_read"),
    e(SN_ESM_AGENT, "agent_schedule_user"),
    e(SN_ESM_AGENT, "interaction_agent"),
    e(SN_ESM_AGENT, "sn_publications_recipients_list_user"),
    // | sn_esm_partner | sn_esm_user |
    e("sn_esm_partner", SN_ESM_USER),
    // | sn_esm_user_admin | sn_esm_user |
    e("sn_esm_user_admin", SN_ESM_USER),
    // | sn_esm_admin | none |
    // | sn_esm_user | snc_external, sn_apptmnt_booking.appointment_booking_user |
    // (also R2.4: "sn_esm_user contains snc_external" — the same edge)
    e(SN_ESM_USER, SNC_EXTERNAL),
    e(SN_ESM_USER, "sn_apptmnt_booking.appointment_booking_user"),
    // | sn_esm_partner_admin | sn_esm_user_admin, sn_esm_admin |
    e("sn_esm_partner_admin", "sn_esm_user_admin"),
    e("sn_esm_partner_admin", "sn_esm_admin"),
    // | csm_ws_integration | snc_internal |
    e("csm_ws_integration", SNC_INTERNAL),
    // ===== §2.2 Contributor and related roles =====
    // | sn_customerservice.account_contributor | sn_customerservice.case_contributor_creator |
    e("sn_customerservice.account_contributor", "sn_customerservice.case_contributor_creator"),
    // | sn_customerservice.consumer_contributor | sn_customerservice.case_contributor_creator |
    e("sn_customerservice.consumer_contributor", "sn_customerservice.case_contributor_creator"),
    // | sn_customerservice.self_contributor | sn_customerservice.case_contributor_creator |
    e("sn_customerservice.self_contributor", "sn_customerservice.case_contributor_creator"),
    // | sn_customerservice.service_organization_contributor | sn_customerservice.case_contributor_creator |
    e("sn_customerservice.service_organization_contributor", "sn_customerservice.case_contributor_creator"),
    // | sn_customerservice.relationship_contributor | sn_customerservice.case_contributor_creator,
    //   sn_customerservice.cust_data_resp_granular, sn_install_base.resp_granular,
    //   sn_customerservice.case_mgmt_resp_granular |
    e("sn_customerservice.relationship_contributor", "sn_customerservice.case_contributor_creator"),
    e("sn_customerservice.relationship_contributor", "sn_customerservice.cust_data_resp_granular"),
    e("sn_customerservice.relationship_contributor", "sn_install_base.resp_granular"),
    e("sn_customerservice.relationship_contributor", "sn_customerservice.case_mgmt_resp_granular"),
    // | sn_customerservice.relationship_agent | agent_workspace_user, snc_internal, sn_shn.editor,
    //   email_composer, sn_fsm_servicedesk_agent, sn_customerservice.csm_workspace_user,
    //   sn_templated_snip.template_snippet_reader, + cust_data_resp_granular,
    //   install_base.resp_granular, case_mgmt_resp_granular, contract_entitlement_resp_granular |
    e("sn_customerservice.relationship_agent", "agent_workspace_user"),
    e("sn_customerservice.relationship_agent", SNC_INTERNAL),
    e("sn_customerservice.relationship_agent", "sn_shn.editor"),
    e("sn_customerservice.relationship_agent", "email_composer"),
    e("sn_customerservice.relationship_agent", "sn_fsm_servicedesk_agent"),
    e("sn_customerservice.relationship_agent", "sn_customerservice.csm_workspace_user"),
    e("sn_customerservice.relationship_agent", "sn_templated_snip.template_snippet_reader"),
    e("sn_customerservice.relationship_agent", "sn_customerservice.cust_data_resp_granular"),
    e("sn_customerservice.relationship_agent", "sn_install_base.resp_granular"),
    e("sn_customerservice.relationship_agent", "sn_customerservice.case_mgmt_resp_granular"),
    e("sn_customerservice.relationship_agent", "sn_customerservice.contract_entitlement_resp_granular"),
    // | sn_customerservice.unified_consumer | sn_customerservice.requester | (and not snc_external, R1.13)
    e("sn_customerservice.unified_consumer", "sn_customerservice.requester"),
    // | sn_customerservice.case_admin | sn_customerservice.all_cases_viewer (limited fields) |
    e("sn_customerservice.case_admin", "sn_customerservice.all_cases_viewer"),
    // ===== §5.4 R5.14 CAM roles (naming rule in the module docs) =====
    // Granular: case_create ⊃ case_read
    e("sn_customerservice.case_create_granular", "sn_customerservice.case_read_granular"),
    // Granular: case_write ⊃ case_read, case_create
    e("sn_customerservice.case_write_granular", "sn_customerservice.case_read_granular"),
    e("sn_customerservice.case_write_granular", "sn_customerservice.case_create_granular"),
    // Granular: (sold product) contact write ⊃ contact read
    e("sn_install_base.sold_product_contact_write_granular", "sn_install_base.sold_product_contact_read_granular"),
    // Granular: (sold product) consumer write ⊃ consumer read
    e("sn_install_base.sold_product_consumer_write_granular", "sn_install_base.sold_product_consumer_read_granular"),
    // Granular: install base related party write ⊃ read
    e(
        "sn_install_base.install_base_related_party_write_granular",
        "sn_install_base.install_base_related_party_read_granular",
    ),
    // Functional: case_authorized_contact|consumer|contributor ⊃ case_write
    e("sn_customerservice.case_authorized_contact", "sn_customerservice.case_write_granular"),
    e("sn_customerservice.case_authorized_consumer", "sn_customerservice.case_write_granular"),
    e("sn_customerservice.case_authorized_contributor", "sn_customerservice.case_write_granular"),
    // Functional: sold_product_authorized_contact ⊃ case_authorized_contact + sold_product_contact_read
    //   + sold_product_read + install_base_read + installed_product_read
    e("sn_install_base.sold_product_authorized_contact", "sn_customerservice.case_authorized_contact"),
    e("sn_install_base.sold_product_authorized_contact", "sn_install_base.sold_product_contact_read_granular"),
    e("sn_install_base.sold_product_authorized_contact", "sn_install_base.sold_product_read_granular"),
    e("sn_install_base.sold_product_authorized_contact", "sn_install_base.install_base_read_granular"),
    e("sn_install_base.sold_product_authorized_contact", "sn_install_base.installed_product_read_granular"),
    // Functional: sold_product_authorized_consumer "analogous" ⊃ case_authorized_consumer
    //   + sold_product_consumer_read + sold_product_read + install_base_read + installed_product_read
    e("sn_install_base.sold_product_authorized_consumer", "sn_customerservice.case_authorized_consumer"),
    e("sn_install_base.sold_product_authorized_consumer", "sn_install_base.sold_product_consumer_read_granular"),
    e("sn_install_base.sold_product_authorized_consumer", "sn_install_base.sold_product_read_granular"),
    e("sn_install_base.sold_product_authorized_consumer", "sn_install_base.install_base_read_granular"),
    e("sn_install_base.sold_product_authorized_consumer", "sn_install_base.installed_product_read_granular"),
    // Functional: install base authorized contact/consumer/contributor/member ⊃ case_write
    //   + install_base_related_party_write + sold_product_read + install_base_read + installed_product_read
    e("sn_install_base.install_base_authorized_contact", "sn_customerservice.case_write_granular"),
    e("sn_install_base.install_base_authorized_contact", "sn_install_base.install_base_related_party_write_granular"),
    e("sn_install_base.install_base_authorized_contact", "sn_install_base.sold_product_read_granular"),
    e("sn_install_base.install_base_authorized_contact", "sn_install_base.install_base_read_granular"),
    e("sn_install_base.install_base_authorized_contact", "sn_install_base.installed_product_read_granular"),
    e("sn_install_base.install_base_authorized_consumer", "sn_customerservice.case_write_granular"),
    e("sn_install_base.install_base_authorized_consumer", "sn_install_base.install_base_related_party_write_granular"),
    e("sn_install_base.install_base_authorized_consumer", "sn_install_base.sold_product_read_granular"),
    e("sn_install_base.install_base_authorized_consumer", "sn_install_base.install_base_read_granular"),
    e("sn_install_base.install_base_authorized_consumer", "sn_install_base.installed_product_read_granular"),
    e("sn_install_base.install_base_authorized_contributor", "sn_customerservice.case_write_granular"),
    e(
        "sn_install_base.install_base_authorized_contributor",
        "sn_install_base.install_base_related_party_write_granular",
    ),
    e("sn_install_base.install_base_authorized_contributor", "sn_install_base.sold_product_read_granular"),
    e("sn_install_base.install_base_authorized_contributor", "sn_install_base.install_base_read_granular"),
    e("sn_install_base.install_base_authorized_contributor", "sn_install_base.installed_product_read_granular"),
    e("sn_install_base.install_base_authorized_member", "sn_customerservice.case_write_granular"),
    e("sn_install_base.install_base_authorized_member", "sn_install_base.install_base_related_party_write_granular"),
    e("sn_install_base.install_base_authorized_member", "sn_install_base.sold_product_read_granular"),
    e("sn_install_base.install_base_authorized_member", "sn_install_base.install_base_read_granular"),
    e("sn_install_base.install_base_authorized_member", "sn_install_base.installed_product_read_granular"),
];

/// The canonical name of `name`: the target of an alias (X11), else `name` itself.
pub fn canonical_role_name(name: &str) -> &str {
    ROLE_ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, canonical)| canonical)
}

/// The seeded role named `name` (aliases resolved), if any.
pub fn seed_role(name: &str) -> Option<&'static SeedRole> {
    let name = canonical_role_name(name);
    SEED_ROLES.iter().find(|role| role.name == name)
}

/// Whether `name` is one of the two explicit roles (`snc_internal`, `snc_external`),
/// which may not contain other roles (R2.8).
pub fn is_explicit_role(name: &str) -> bool {
    name == SNC_INTERNAL || name == SNC_EXTERNAL
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn closure(role: &'static str, include_suspect: bool) -> BTreeSet<&'static str> {
        let mut seen = BTreeSet::from([role]);
        let mut stack = vec![role];
        while let Some(current) = stack.pop() {
            for edge in SEED_EDGES.iter().filter(|edge| edge.parent == current && (include_suspect || !edge.suspect)) {
                if seen.insert(edge.child) {
                    stack.push(edge.child);
                }
            }
        }
        seen
    }

    fn role_names() -> BTreeSet<&'static str> {
        SEED_ROLES.iter().map(|role| role.name).collect()
    }

    #[test]
    fn role_names_are_unique() {
        let mut seen = BTreeSet::new();
        for role in SEED_ROLES {
            assert!(seen.insert(role.name), "duplicate role {}", role.name);
        }
    }

    #[test]
    fn every_suite_wide_role_name_is_in_the_catalog() {
        for name in csm_types::roles::ALL {
            let known =
                SEED_ROLES.iter().any(|role| role.name == *name) || ROLE_ALIASES.iter().any(|(alias, _)| alias == name);
            assert!(known, "csm_types::roles names {name}, the catalog does not");
        }
    }

    #[test]
    fn descriptions_are_single_non_empty_lines() {
        for role in SEED_ROLES {
            assert!(!role.description.trim().is_empty(), "{} has no description", role.name);
            assert!(!role.description.contains('\n'), "{} has a multi-line description", role.name);
        }
    }

    #[test]
    fn every_edge_endpoint_is_a_seeded_role() {
        let names = role_names();
        for edge in SEED_EDGES {
            assert!(names.contains(edge.parent), "edge parent {} is not seeded", edge.parent);
            assert!(names.contains(edge.child), "edge child {} is not seeded", edge.child);
        }
    }

    #[test]
    fn edges_are_unique_and_not_self_loops() {
        let mut seen = BTreeSet::new();
        for edge in SEED_EDGES {
            assert_ne!(edge.parent, edge.child, "self loop on {}", edge.parent);
            assert!(seen.insert((edge.parent, edge.child)), "duplicate edge {} > {}", edge.parent, edge.child);
        }
    }

    #[test]
    fn explicit_roles_contain_nothing() {
        for edge in SEED_EDGES {
            assert!(!is_explicit_role(edge.parent), "R2.8: {} may not contain {}", edge.parent, edge.child);
        }
    }

    #[test]
    fn only_the_x1_edge_is_suspect() {
        let suspect: Vec<_> = SEED_EDGES.iter().filter(|edge| edge.suspect).collect();
        assert_eq!(suspect.len(), 1);
        assert_eq!(suspect[0].parent, "sn_customerservice.escalation_requester");
        assert_eq!(suspect[0].child, "sn_customerservice.consumer_agent");
    }

    fn assert_acyclic(include_suspect: bool) {
        // Kahn's algorithm over the chosen edges.
        let mut indegree: BTreeMap<&str, usize> = role_names().into_iter().map(|name| (name, 0)).collect();
        let edges: Vec<_> = SEED_EDGES.iter().filter(|edge| include_suspect || !edge.suspect).collect();
        for edge in &edges {
            *indegree.entry(edge.child).or_default() += 1;
        }
        let mut ready: Vec<&str> = indegree.iter().filter(|(_, d)| **d == 0).map(|(n, _)| *n).collect();
        let mut visited = 0;
        while let Some(role) = ready.pop() {
            visited += 1;
            for edge in edges.iter().filter(|edge| edge.parent == role) {
                let degree = indegree.get_mut(edge.child).expect("child counted");
                *degree -= 1;
                if *degree == 0 {
                    ready.push(edge.child);
                }
            }
        }
        assert_eq!(visited, indegree.len(), "containment graph has a cycle (include_suspect={include_suspect})");
    }

    #[test]
    fn containment_graph_is_acyclic() {
        assert_acyclic(false);
        assert_acyclic(true);
    }

    #[test]
    fn manager_is_an_agent_and_not_external() {
        let closure = closure("sn_customerservice_manager", false);
        assert!(closure.contains(SN_ESM_AGENT));
        assert!(closure.contains("sn_customerservice_agent"));
        assert!(closure.contains("sn_customerservice.consumer_agent"));
        assert!(closure.contains("sam"));
        assert!(!closure.contains(SNC_EXTERNAL));
        assert!(!closure.contains(SN_ESM_USER));
    }

    #[test]
    fn customer_is_external() {
        let closure = closure("sn_customerservice.customer", false);
        assert!(closure.contains(SNC_EXTERNAL));
        assert!(closure.contains(SN_ESM_USER));
    }

    #[test]
    fn unified_consumer_is_not_external() {
        let closure = closure("sn_customerservice.unified_consumer", true);
        assert!(closure.contains("sn_customerservice.requester"));
        assert!(!closure.contains(SNC_EXTERNAL));
        assert!(!closure.contains(SN_ESM_USER));
    }

    #[test]
    fn agent_is_not_a_consumer_agent_without_suspect_edges() {
        assert!(!closure("sn_customerservice_agent", false).contains("sn_customerservice.consumer_agent"));
    }

    #[test]
    fn agent_is_a_consumer_agent_with_suspect_edges() {
        assert!(closure("sn_customerservice_agent", true).contains("sn_customerservice.consumer_agent"));
    }

    #[test]
    fn no_role_is_both_internal_and_external_or_both_families() {
        for include_suspect in [false, true] {
            for role in SEED_ROLES {
                let closure = closure(role.name, include_suspect);
                assert!(
                    !(closure.contains(SNC_INTERNAL) && closure.contains(SNC_EXTERNAL)),
                    "R2.10: {} contains both explicit roles",
                    role.name
                );
                assert!(
                    !(closure.contains(SN_ESM_AGENT) && closure.contains(SN_ESM_USER)),
                    "R2.6: {} is in both CSM families",
                    role.name
                );
            }
        }
    }

    #[test]
    fn primary_external_roles_are_external() {
        for role in DEFAULT_CONTACT_ROLE_ASSIGNMENT
            .iter()
            .copied()
            .chain(["sn_customerservice.customer_case_manager", "sn_customerservice.consumer"])
        {
            let closure = closure(role, false);
            assert!(closure.contains(SNC_EXTERNAL) && closure.contains(SN_ESM_USER), "{role} is not external");
        }
    }

    #[test]
    fn contributor_roles_contain_case_contributor_creator() {
        // R4.14
        for role in [
            "sn_customerservice.account_contributor",
            "sn_customerservice.consumer_contributor",
            "sn_customerservice.relationship_contributor",
            "sn_customerservice.self_contributor",
            "sn_customerservice.service_organization_contributor",
        ] {
            assert!(closure(role, false).contains("sn_customerservice.case_contributor_creator"), "{role}");
        }
    }

    #[test]
    fn cam_functional_roles_reach_case_read() {
        for role in [
            "sn_customerservice.case_authorized_contact",
            "sn_customerservice.case_authorized_consumer",
            "sn_customerservice.case_authorized_contributor",
            "sn_install_base.sold_product_authorized_contact",
            "sn_install_base.sold_product_authorized_consumer",
            "sn_install_base.install_base_authorized_contact",
            "sn_install_base.install_base_authorized_consumer",
            "sn_install_base.install_base_authorized_contributor",
            "sn_install_base.install_base_authorized_member",
        ] {
            let closure = closure(role, false);
            assert!(closure.contains("sn_customerservice.case_read_granular"), "{role}");
            assert!(closure.contains("sn_customerservice.case_create_granular"), "{role}");
        }
    }

    #[test]
    fn named_constants_and_settings_are_seeded() {
        let names = role_names();
        for name in [SNC_INTERNAL, SNC_EXTERNAL, SN_ESM_AGENT, SN_ESM_USER, PUBLIC, ADMIN] {
            assert!(names.contains(name), "{name} not seeded");
        }
        for name in DEFAULT_CONTACT_ROLE_ASSIGNMENT {
            assert!(names.contains(name), "{name} not seeded");
        }
        assert!(!DEFAULT_CONTACT_ROLE_ASSIGNMENT.contains(&"sn_customerservice.customer_case_manager"));
    }

    #[test]
    fn aliases_point_at_seeded_roles() {
        let names = role_names();
        for (alias, canonical) in ROLE_ALIASES {
            assert!(!names.contains(alias), "alias {alias} is also a role");
            assert!(names.contains(canonical), "alias target {canonical} not seeded");
        }
        assert_eq!(canonical_role_name("sn_csm_proxy_cont"), "sn_customerservice.proxy_contact");
        assert_eq!(canonical_role_name("sn_customerservice_agent"), "sn_customerservice_agent");
        assert_eq!(seed_role("sn_csm_proxy_cont").map(|role| role.name), Some("sn_customerservice.proxy_contact"));
        assert!(seed_role("no_such_role").is_none());
    }

    #[test]
    fn notify_view_is_not_seeded() {
        assert!(!role_names().contains("notify_view"));
    }
}
