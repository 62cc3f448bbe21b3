//! Which related parties a principal acts as (R5.8, R5.11): the party kind and
//! id, the responsibility it must hold and the functional role that makes it
//! count. The case table's R5.9 / R5.11 rows and the asset rules in
//! [`super::parties`] read the same lists, so a case and its sold product or
//! install base cannot disagree about who is related.

use csm_types::responsibilities::{AUTHORIZED_ACCOUNT, AUTHORIZED_REPRESENTATIVE, AUTHORIZED_SERVICE_ORGANIZATION};
use csm_types::roles::{
    INSTALL_BASE_AUTHORIZED_CONSUMER, INSTALL_BASE_AUTHORIZED_CONTACT, INSTALL_BASE_AUTHORIZED_CONTRIBUTOR,
    INSTALL_BASE_AUTHORIZED_MEMBER, SOLD_PRODUCT_AUTHORIZED_CONSUMER, SOLD_PRODUCT_AUTHORIZED_CONTACT,
};
use uuid::Uuid;

use super::case::PartyKind;
use super::principal::{PrincipalContext, PrincipalKind};

/// A related party the principal acts as, with the functional role that makes it count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartyGrant {
    pub kind: PartyKind,
    pub party: Uuid,
    pub responsibility: &'static str,
    pub role: &'static str,
}

fn party(kind: PartyKind, party: Uuid, responsibility: &'static str, role: &'static str) -> PartyGrant {
    PartyGrant { kind, party, responsibility, role }
}

/// R5.8: sold-product related parties that grant (Authorized Representative for
/// contacts and consumers, Authorized Account for the contact's account) when the
/// principal holds the functional role.
pub fn sold_product_parties(ctx: &PrincipalContext) -> Vec<PartyGrant> {
    let mut parties = Vec::new();
    if ctx.has(SOLD_PRODUCT_AUTHORIZED_CONTACT)
        && matches!(ctx.kind, PrincipalKind::Contact | PrincipalKind::PartnerContact)
    {
        let role = SOLD_PRODUCT_AUTHORIZED_CONTACT;
        parties.push(party(PartyKind::Contact, *ctx.profile.as_uuid(), AUTHORIZED_REPRESENTATIVE, role));
        if let Some(account) = ctx.account {
            parties.push(party(PartyKind::Account, *account.as_uuid(), AUTHORIZED_ACCOUNT, role));
        }
    }
    if ctx.has(SOLD_PRODUCT_AUTHORIZED_CONSUMER)
        && let Some(consumer) = ctx.consumer
    {
        parties.push(party(
            PartyKind::Consumer,
            *consumer.as_uuid(),
            AUTHORIZED_REPRESENTATIVE,
            SOLD_PRODUCT_AUTHORIZED_CONSUMER,
        ));
    }
    parties
}

/// R5.11: install-base related parties that grant, by functional role: contacts
/// (and their account as Authorized Account), consumers and members, internal
/// contributors, and service organizations of a member's business locations.
pub fn install_base_parties(ctx: &PrincipalContext) -> Vec<PartyGrant> {
    let mut parties = Vec::new();
    if ctx.has(INSTALL_BASE_AUTHORIZED_CONTACT)
        && matches!(ctx.kind, PrincipalKind::Contact | PrincipalKind::PartnerContact)
    {
        let role = INSTALL_BASE_AUTHORIZED_CONTACT;
        parties.push(party(PartyKind::Contact, *ctx.profile.as_uuid(), AUTHORIZED_REPRESENTATIVE, role));
        if let Some(account) = ctx.account {
            parties.push(party(PartyKind::Account, *account.as_uuid(), AUTHORIZED_ACCOUNT, role));
        }
    }
    if let Some(consumer) = ctx.consumer {
        for role in [INSTALL_BASE_AUTHORIZED_CONSUMER, INSTALL_BASE_AUTHORIZED_MEMBER] {
            if ctx.has(role) {
                parties.push(party(PartyKind::Consumer, *consumer.as_uuid(), AUTHORIZED_REPRESENTATIVE, role));
                break;
            }
        }
    }
    if ctx.has(INSTALL_BASE_AUTHORIZED_CONTRIBUTOR) && ctx.kind == PrincipalKind::Employee {
        parties.push(party(
            PartyKind::User,
            *ctx.profile.as_uuid(),
            AUTHORIZED_REPRESENTATIVE,
            INSTALL_BASE_AUTHORIZED_CONTRIBUTOR,
        ));
    }
    if ctx.has(INSTALL_BASE_AUTHORIZED_MEMBER) {
        for location in &ctx.business_locations {
            parties.push(party(
                PartyKind::ServiceOrganization,
                *location,
                AUTHORIZED_SERVICE_ORGANIZATION,
                INSTALL_BASE_AUTHORIZED_MEMBER,
            ));
        }
    }
    parties
}
