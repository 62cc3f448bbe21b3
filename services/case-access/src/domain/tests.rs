//! The decision table against hand-built worlds (SPEC §4 tests, in pure form).

use csm_types::roles;
use std::collections::BTreeSet;

use csm_types::{AccountId, ConsumerId, GroupId, ProfileId, SecurityGroupId};
use uuid::Uuid;

use super::case::{CaseFacts, PartyKind, RelatedParty};
use super::principal::{OwnershipRelation, PrincipalContext, PrincipalKind, RecordRight};
use super::table::*;

fn contact(roles: &[&str], account: AccountId) -> PrincipalContext {
    let mut ctx = PrincipalContext::new(ProfileId::new(), PrincipalKind::Contact, roles.iter().copied());
    ctx.account = Some(account);
    ctx
}

fn check(ctx: &PrincipalContext, action: Action, case: &CaseFacts) -> Outcome {
    decide(&rules(ctx, &TableSettings::default(), action), case)
}

fn account_case(account: AccountId) -> CaseFacts {
    CaseFacts { account: Some(account), opened_by: Some(ProfileId::new()), ..CaseFacts::default() }
}

#[test]
fn customer_reads_only_own_cases() {
    let a = AccountId::new();
    let k = contact(&[CUSTOMER], a);
    let mut case = account_case(a);
    assert!(!check(&k, Action::Read, &case).allowed(), "a colleague's case is not OWN");
    case.contact = Some(k.profile);
    let outcome = check(&k, Action::Read, &case);
    assert_eq!(outcome.rule(), "T4.1.customer");
    assert!(check(&k, Action::WriteCustomer, &case).allowed());
    assert!(!check(&k, Action::WriteFull, &case).allowed());
}

#[test]
fn customer_admin_scope_has_descendants_and_contact_relationships_but_no_ancestors() {
    let (parent, own, child, related) = (AccountId::new(), AccountId::new(), AccountId::new(), AccountId::new());
    let mut admin = contact(&[CUSTOMER, CUSTOMER_ADMIN], own);
    admin.descendants.insert(child);
    admin.contact_relationships.insert(related, Uuid::now_v7());
    for account in [own, child, related] {
        assert_eq!(check(&admin, Action::Read, &account_case(account)).rule(), "T4.1.customer_admin");
    }
    assert!(!check(&admin, Action::Read, &account_case(parent)).allowed(), "X5: no ancestors");
}

#[test]
fn partner_path_is_field_based() {
    let (p, c) = (AccountId::new(), AccountId::new());
    let mut partner_admin = contact(&[CUSTOMER, CUSTOMER_ADMIN, PARTNER, PARTNER_ADMIN], p);
    partner_admin.kind = PrincipalKind::PartnerContact;
    partner_admin.partner_customers.insert(c, Uuid::now_v7());
    let historic = account_case(c);
    let mut stamped = account_case(c);
    stamped.partner_account = Some(p);
    stamped.partner_contact = Some(ProfileId::new());
    assert!(!check(&partner_admin, Action::Read, &historic).allowed());
    assert_eq!(check(&partner_admin, Action::Read, &stamped).rule(), "T4.1.partner_admin");
    // The partner may create for its customers…
    assert!(check(&partner_admin, Action::CreateObo, &account_case(c)).allowed());
    // …but not for accounts outside PCUST.
    assert!(!check(&partner_admin, Action::CreateObo, &account_case(AccountId::new())).allowed());
}

#[test]
fn agents_are_partitioned_but_managers_see_both() {
    let agent = PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, [AGENT, roles::SNC_INTERNAL]);
    let b2c = CaseFacts { consumer: Some(ConsumerId::new()), ..CaseFacts::default() };
    let b2b = account_case(AccountId::new());
    assert_eq!(check(&agent, Action::Read, &b2b).rule(), "T4.3.agent");
    let outcome = check(&agent, Action::Read, &b2c);
    assert!(matches!(outcome, Outcome::Denied { rule: "R4.3", .. }), "{outcome:?}");
    // Even case_viewer's READ-all cannot lift the partition.
    let mut viewer_agent = agent.clone();
    viewer_agent.roles.insert(CASE_VIEWER.to_owned());
    assert!(!check(&viewer_agent, Action::Read, &b2c).allowed());
    let manager = PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, [AGENT, CONSUMER_AGENT]);
    assert!(check(&manager, Action::Read, &b2c).allowed());
    assert!(check(&manager, Action::WriteFull, &b2b).allowed());
}

#[test]
fn nonb2x_setting_decides_who_handles_employee_cases() {
    let agent = PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, [AGENT]);
    let employee_case = CaseFacts { requested_by: Some(ProfileId::new()), ..CaseFacts::default() };
    assert!(check(&agent, Action::Read, &employee_case).allowed());
    let none = TableSettings { nonb2x_case_agents_both: false, ..TableSettings::default() };
    assert!(!decide(&rules(&agent, &none, Action::Read), &employee_case).allowed());
}

#[test]
fn writes_need_read_and_stronger_writes_satisfy_weaker_ones() {
    let agent = PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, [AGENT]);
    let case = account_case(AccountId::new());
    for action in [Action::WriteFull, Action::WriteLimited, Action::WriteCustomer] {
        assert_eq!(check(&agent, action, &case).rule(), "T4.3.agent", "{action:?}");
    }
    // A Cherwell Edit right without View does not write: every write needs READ.
    let mut editor = PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, Vec::<String>::new());
    editor.ownership.security_group = Some(SecurityGroupId::new());
    editor.ownership.base.insert(RecordRight::Edit);
    let settings = TableSettings::default();
    assert!(check(&editor, Action::WriteFull, &case).allowed());
    assert!(!decide_action(&editor, &settings, Action::WriteFull, &case).allowed());
    editor.ownership.base.insert(RecordRight::View);
    assert!(decide_action(&editor, &settings, Action::WriteFull, &case).allowed());
}

#[test]
fn contributor_editor_writes_limited_only_where_it_reads() {
    let case = account_case(AccountId::new());
    let editor = PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, [CASE_CONTRIBUTOR_EDITOR]);
    assert!(!check(&editor, Action::WriteLimited, &case).allowed());
    let mut viewer_editor = editor.clone();
    viewer_editor.roles.insert(CASE_VIEWER.to_owned());
    assert_eq!(check(&viewer_editor, Action::WriteLimited, &case).rule(), "R4.18");
    assert!(!check(&viewer_editor, Action::WriteFull, &case).allowed());
}

#[test]
fn self_contributor_creates_only_for_itself() {
    let me = ProfileId::new();
    let ctx = PrincipalContext::new(me, PrincipalKind::Employee, [SELF_CONTRIBUTOR, SNC_INTERNAL]);
    let for_account = CaseFacts { account: Some(AccountId::new()), requested_by: Some(me), ..CaseFacts::default() };
    assert!(!check(&ctx, Action::CreateSelf, &for_account).allowed());
    assert!(!check(&ctx, Action::CreateObo, &for_account).allowed());
    let for_myself = CaseFacts { requested_by: Some(me), ..CaseFacts::default() };
    assert_eq!(check(&ctx, Action::CreateSelf, &for_myself).rule(), "T4.4.self_contributor");
}

#[test]
fn authorized_consumer_needs_the_functional_role() {
    let consumer = ConsumerId::new();
    let mut ctx = PrincipalContext::new(ProfileId::new(), PrincipalKind::Consumer, [CONSUMER]);
    ctx.consumer = Some(consumer);
    let party = |responsibility: Option<&str>| RelatedParty {
        id: Uuid::now_v7(),
        kind: PartyKind::Consumer,
        party_id: *consumer.as_uuid(),
        responsibility: responsibility.map(str::to_owned),
    };
    let mut case = CaseFacts { consumer: Some(ConsumerId::new()), ..CaseFacts::default() };
    case.related_parties.push(party(None));
    assert!(!check(&ctx, Action::Read, &case).allowed(), "listed consumer");
    case.related_parties[0] = party(Some(AUTHORIZED_REPRESENTATIVE));
    assert!(!check(&ctx, Action::Read, &case).allowed(), "no functional role");
    ctx.roles.insert(CASE_AUTHORIZED_CONSUMER.to_owned());
    assert_eq!(check(&ctx, Action::Read, &case).rule(), "R5.7");
    assert!(check(&ctx, Action::WriteCustomer, &case).allowed());
    assert!(!check(&ctx, Action::WriteFull, &case).allowed());
}

#[test]
fn manager_of_owner_views_but_does_not_edit() {
    let owner = ProfileId::new();
    let mut manager = PrincipalContext::new(ProfileId::new(), PrincipalKind::Contact, Vec::<String>::new());
    manager.reports.insert(owner);
    manager.ownership.security_group = Some(SecurityGroupId::new());
    manager
        .ownership
        .by_relation
        .insert(OwnershipRelation::Owner, BTreeSet::from([RecordRight::View, RecordRight::Edit]));
    manager.ownership.by_relation.insert(OwnershipRelation::ManagerOfOwner, BTreeSet::from([RecordRight::View]));
    let case = CaseFacts { owner: Some(owner), ..CaseFacts::default() };
    assert_eq!(check(&manager, Action::Read, &case).rule(), "R6.4.manager_of_owner");
    assert!(!check(&manager, Action::WriteCustomer, &case).allowed());
    // Without the Manager "Holds" attribute the relation is absent from the context.
    manager.ownership.by_relation.remove(&OwnershipRelation::ManagerOfOwner);
    assert!(!check(&manager, Action::Read, &case).allowed());
}

#[test]
fn contributor_viewer_reads_through_its_groups() {
    let group = GroupId::new();
    let mut ctx = PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, [CASE_CONTRIBUTOR_VIEWER]);
    ctx.groups.insert(group);
    let mut case = account_case(AccountId::new());
    assert!(!check(&ctx, Action::Read, &case).allowed());
    case.contributor_groups.insert(group);
    assert_eq!(check(&ctx, Action::Read, &case).rule(), "R4.17");
}

#[test]
fn denial_explains_the_closest_rule() {
    let a = AccountId::new();
    let k = contact(&[CUSTOMER], a);
    // A draft for another account names the customer row as the closest miss.
    let draft = CaseFacts { account: Some(AccountId::new()), contact: Some(k.profile), ..CaseFacts::default() };
    let outcome = check(&k, Action::CreateSelf, &draft);
    assert_eq!(outcome, Outcome::NoGrant { closest: Some(("T4.1.customer", outcome_path(&k, &draft))) });
    let nobody = PrincipalContext::new(ProfileId::new(), PrincipalKind::Contact, Vec::<String>::new());
    assert_eq!(check(&nobody, Action::Read, &draft), Outcome::NoGrant { closest: None });
    assert_eq!(check(&nobody, Action::Read, &draft).rule(), "R2.20");
}

fn outcome_path(ctx: &PrincipalContext, draft: &CaseFacts) -> Vec<Step> {
    let rules = rules(ctx, &TableSettings::default(), Action::CreateSelf);
    let considered = consider(&rules, draft);
    assert!(considered.iter().all(|rule| !rule.matched));
    considered[0].path.clone()
}

#[test]
fn licence_is_needed_only_for_customers_on_records_not_theirs() {
    let a = AccountId::new();
    let k = contact(&[CUSTOMER, CUSTOMER_ADMIN], a);
    let mut case = account_case(a);
    assert!(needs_license(&k, &case, Action::Read, LicenseMode::Access));
    assert!(!needs_license(&k, &case, Action::Read, LicenseMode::Edit));
    assert!(needs_license(&k, &case, Action::WriteCustomer, LicenseMode::Edit));
    case.contact = Some(k.profile);
    assert!(!needs_license(&k, &case, Action::WriteCustomer, LicenseMode::Access));
    let agent = PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, [AGENT]);
    assert!(!needs_license(&agent, &account_case(a), Action::Read, LicenseMode::Access));
}

#[test]
fn a_related_party_record_is_the_customers_own_for_licensing() {
    // R7.4: requester, contact and related party all make the record the customer's own.
    let a = AccountId::new();
    let k = contact(&[CUSTOMER, CUSTOMER_ADMIN], a);
    let mut case = account_case(a);
    assert!(needs_license(&k, &case, Action::WriteCustomer, LicenseMode::Access));
    case.related_parties.push(RelatedParty {
        id: Uuid::now_v7(),
        kind: PartyKind::Contact,
        party_id: *k.profile.as_uuid(),
        responsibility: Some(AUTHORIZED_REPRESENTATIVE.to_owned()),
    });
    for action in [Action::Read, Action::WriteCustomer] {
        assert!(!needs_license(&k, &case, action, LicenseMode::Access), "{action:?}");
        assert!(!needs_license(&k, &case, action, LicenseMode::Edit), "{action:?}");
    }
    // A consumer is associated through its consumer record.
    let consumer = ConsumerId::new();
    let mut z = PrincipalContext::new(ProfileId::new(), PrincipalKind::Consumer, [CONSUMER]);
    z.consumer = Some(consumer);
    let mut b2c = CaseFacts { consumer: Some(ConsumerId::new()), ..CaseFacts::default() };
    assert!(needs_license(&z, &b2c, Action::WriteCustomer, LicenseMode::Access));
    b2c.related_parties.push(RelatedParty {
        id: Uuid::now_v7(),
        kind: PartyKind::Consumer,
        party_id: *consumer.as_uuid(),
        responsibility: None,
    });
    assert!(!needs_license(&z, &b2c, Action::WriteCustomer, LicenseMode::Access));
}

#[test]
fn create_for_others_takes_contacts_of_the_account_or_related_to_it() {
    // T4.1 customer_admin CREATE_OBO: the contact must be of the case account (R3.7: or related to it).
    let a = AccountId::new();
    let admin = contact(&[CUSTOMER_ADMIN], a);
    let mut draft = CaseFacts {
        account: Some(a),
        contact: Some(ProfileId::new()),
        contact_account: Some(AccountId::new()),
        opened_by: Some(admin.profile),
        ..CaseFacts::default()
    };
    let rules_obo = rules(&admin, &TableSettings::default(), Action::CreateObo);
    assert!(!decide(&rules_obo, &draft).allowed());
    assert!(refused_only_for_the_contact(&rules_obo, &draft), "CONTACT_NOT_OF_ACCOUNT, not ACCESS_DENIED");
    draft.contact_related_accounts.insert(a);
    assert_eq!(decide(&rules_obo, &draft).rule(), "T4.1.customer_admin");
    // Outside the creator's scope the contact is not the reason.
    let elsewhere = CaseFacts { account: Some(AccountId::new()), ..draft.clone() };
    assert!(!refused_only_for_the_contact(&rules_obo, &elsewhere));
    // T4.3: an agent's row has no contact condition at all.
    let agent = PrincipalContext::new(ProfileId::new(), PrincipalKind::Employee, [AGENT]);
    draft.contact_related_accounts.clear();
    assert_eq!(check(&agent, Action::CreateObo, &draft).rule(), "T4.3.agent");
}
