//! Related parties on cases, sold products and install base items (R5.6–R5.11),
//! and the sold products and install base items themselves (R4.10, R4.16).
//! Every permission comes from the case table (cases) or the asset rules
//! (domain::parties); list and get read the same rules.

use csm_auth::Caller;
use csm_changefeed::idempotency::RequestKey;
use csm_changefeed::{NewChange, Operation, append};
use csm_errors::{CsmError, CsmResult};
use csm_peers::AccountTeamPeer;
use csm_proto::account_team::{PartyEntityType, RecordTable};
use csm_proto::identity::ProfileKind;
use csm_types::{AccountId, CaseId, ConsumerId, ProfileId};
use uuid::Uuid;

use super::case_cache::CaseRead;
use super::{CaseAccessApp, Decided, access_denied};
use crate::domain::case::PartyKind;
use crate::domain::parties::{
    self, AssetCond, AssetFacts, AssetInUse, AssetKind, InstallBaseItemRecord, PartySubject, PartyType,
    RelatedPartyRecord, SoldProductRecord, type_mismatch,
};
use crate::domain::principal::PrincipalContext;
use crate::domain::record::{Draft, Stamps};
use crate::domain::table::{Action, Outcome};
use crate::store::parties::{self as store, ItemFilter, SoldProductFilter, StoredAsset};

/// What UpdateRelatedParty changes (contract: update_mask paths).
#[derive(Clone, Debug, Default)]
pub struct PartyChanges {
    pub configuration: Option<Uuid>,
    /// `Some(None)`: clear the responsibility.
    pub responsibility: Option<Option<Uuid>>,
    pub order: Option<i64>,
}

/// Who writes an asset: a service identity, or a principal the asset rules allow.
pub enum AssetWriter {
    Service,
    Principal(std::sync::Arc<PrincipalContext>),
}

fn asset_not_found(kind: AssetKind, id: Uuid) -> CsmError {
    match kind {
        AssetKind::SoldProduct => CsmError::not_found("sold product", id),
        AssetKind::InstallBaseItem => CsmError::not_found("install base item", id),
    }
}

fn referenced_not_found(field: &str, id: impl std::fmt::Display) -> CsmError {
    CsmError::not_found("referenced entity", id).with_metadata("field", field.to_owned())
}

fn party_kind_of(entity: PartyEntityType) -> Option<PartyKind> {
    Some(match entity {
        PartyEntityType::Contact => PartyKind::Contact,
        PartyEntityType::Consumer => PartyKind::Consumer,
        PartyEntityType::Account => PartyKind::Account,
        PartyEntityType::User => PartyKind::User,
        PartyEntityType::ServiceOrganization => PartyKind::ServiceOrganization,
        PartyEntityType::Unspecified => return None,
    })
}

impl CaseAccessApp {
    /// Decides `action` on sold product `id` for `ctx` (Check, BatchCheck, Explain).
    pub async fn decide_on_sold_product(&self, ctx: &PrincipalContext, id: Uuid, action: Action) -> CsmResult<Decided> {
        Ok(self.decide_on_asset(ctx, AssetKind::SoldProduct, id, action).await?.0)
    }

    /// Decides `action` on install base item `id` for `ctx` (Check, BatchCheck, Explain).
    pub async fn decide_on_install_base_item(
        &self,
        ctx: &PrincipalContext,
        id: Uuid,
        action: Action,
    ) -> CsmResult<Decided> {
        Ok(self.decide_on_asset(ctx, AssetKind::InstallBaseItem, id, action).await?.0)
    }

    pub(crate) async fn decide_on_asset(
        &self,
        ctx: &PrincipalContext,
        kind: AssetKind,
        id: Uuid,
        action: Action,
    ) -> CsmResult<(Decided, AssetFacts)> {
        if !parties::accepts(action) {
            return Err(CsmError::invalid_argument(
                "INVALID_ACTION_FOR_TARGET",
                format!("{} does not apply to sold products and install base items", super::action_name(action)),
            ));
        }
        let facts = store::load_asset_facts(&self.db, kind, id).await?.ok_or_else(|| asset_not_found(kind, id))?;
        let outcome = parties::decide_asset_action(ctx, &self.settings(), action, &facts);
        let decided = Decided {
            action,
            outcome,
            requires_license: false,
            license_escalated: false,
            consistency_token: self.token().await?,
        };
        Ok((decided, facts))
    }

    // ------------------------------------------------------------------ sold products, install base

    /// Whether `writer` may create assets (T4.3 manager row, `admin`, service identities).
    pub fn authorize_asset_create(&self, writer: &AssetWriter, kind: AssetKind) -> CsmResult<()> {
        let AssetWriter::Principal(ctx) = writer else { return Ok(()) };
        let rules = parties::asset_rules(ctx, &self.settings(), kind, Action::WriteFull);
        if rules.grants.iter().any(|grant| grant.cond == AssetCond::Any) {
            Ok(())
        } else {
            Err(access_denied(Action::WriteFull, &Outcome::NoGrant { closest: None }))
        }
    }

    async fn authorize_asset_write(
        &self,
        writer: &AssetWriter,
        kind: AssetKind,
        id: Uuid,
        action: Action,
    ) -> CsmResult<()> {
        match writer {
            AssetWriter::Service => {
                store::load_asset_facts(&self.db, kind, id).await?.ok_or_else(|| asset_not_found(kind, id))?;
                Ok(())
            }
            AssetWriter::Principal(ctx) => {
                let (decided, _) = self.decide_on_asset(ctx, kind, id, action).await?;
                if decided.outcome.allowed() { Ok(()) } else { Err(access_denied(action, &decided.outcome)) }
            }
        }
    }

    /// GetSoldProduct / GetInstallBaseItem: READ from the asset rules.
    pub async fn authorize_asset_read(&self, ctx: &PrincipalContext, kind: AssetKind, id: Uuid) -> CsmResult<String> {
        let (decided, _) = self.decide_on_asset(ctx, kind, id, Action::Read).await?;
        if !decided.outcome.allowed() {
            return Err(access_denied(Action::Read, &decided.outcome));
        }
        Ok(decided.consistency_token)
    }

    /// GetSoldProduct / GetInstallBaseItem: the asset when `ctx` may read it.
    pub async fn get_asset<A: StoredAsset>(&self, ctx: &PrincipalContext, id: Uuid) -> CsmResult<(A, String)> {
        let consistency_token = self.authorize_asset_read(ctx, A::KIND, id).await?;
        let asset = A::get(&self.db, id).await?.ok_or_else(|| asset_not_found(A::KIND, id))?;
        Ok((asset, consistency_token))
    }

    /// CreateSoldProduct / CreateInstallBaseItem: the writer must be allowed
    /// to create, a retried request id replays, an item's sold product and
    /// parent must exist.
    pub async fn create_asset<A: StoredAsset>(
        &self,
        writer: &AssetWriter,
        request_id: Option<&str>,
        mut asset: A,
    ) -> CsmResult<(A, String)> {
        let kind = A::KIND;
        self.authorize_asset_create(writer, kind)?;
        let key = RequestKey::new(kind.create_rpc(), writer_scope(writer), request_id, &asset.requested());
        loop {
            if let Some((id, revision)) = self.replayed(&key).await? {
                let stored = A::get(&self.db, id).await?.ok_or_else(|| asset_not_found(kind, id))?;
                return Ok((stored, self.feed.token(revision)));
            }
            asset.stamp_new(Uuid::now_v7(), csm_db::now());
            if let Some(error) = asset.invalid() {
                return Err(error);
            }
            self.check_item_references(asset.id(), asset.references()).await?;
            let mut tx = self.db.begin().await?;
            A::save(&mut tx, &asset, false).await?;
            let change = NewChange::new(kind.entity_type(), asset.id(), Operation::Created);
            let revision = append(&mut tx, &change).await?;
            if !key.record(&mut tx, asset.id(), revision, "").await? {
                // A concurrent retry recorded the request id first: answer as it did.
                continue;
            }
            tx.commit().await?;
            self.committed(revision, &change);
            return Ok((asset, self.feed.token(revision)));
        }
    }

    /// UpdateSoldProduct / UpdateInstallBaseItem (WRITE_FULL on the asset):
    /// `change` applies the request to the stored record.
    pub async fn update_asset<A: StoredAsset>(
        &self,
        writer: &AssetWriter,
        id: Uuid,
        change: impl FnOnce(&mut A),
    ) -> CsmResult<(A, String)> {
        let kind = A::KIND;
        self.authorize_asset_write(writer, kind, id, Action::WriteFull).await?;
        let mut asset = A::get(&self.db, id).await?.ok_or_else(|| asset_not_found(kind, id))?;
        change(&mut asset);
        asset.touch(csm_db::now());
        if let Some(error) = asset.invalid() {
            return Err(error);
        }
        self.check_item_references(id, asset.references()).await?;
        let mut tx = self.db.begin().await?;
        A::save(&mut tx, &asset, true).await?;
        let change = NewChange::new(kind.entity_type(), id, Operation::Updated);
        let revision = append(&mut tx, &change).await?;
        tx.commit().await?;
        self.committed(revision, &change);
        Ok((asset, self.feed.token(revision)))
    }

    /// DeleteSoldProduct / DeleteInstallBaseItem (DELETE on the asset), when no other record references it.
    pub async fn delete_asset(&self, writer: &AssetWriter, kind: AssetKind, id: Uuid) -> CsmResult<String> {
        self.authorize_asset_write(writer, kind, id, Action::Delete).await?;
        let mut tx = self.db.begin().await?;
        if store::asset_in_use(&mut tx, kind, id).await? {
            let in_use = AssetInUse(kind);
            return Err(CsmError::failed_precondition(in_use.reason(), in_use.message()));
        }
        if !store::delete_asset(&mut tx, kind, id).await? {
            return Err(asset_not_found(kind, id));
        }
        let change = NewChange::new(kind.entity_type(), id, Operation::Deleted);
        let revision = append(&mut tx, &change).await?;
        tx.commit().await?;
        self.committed(revision, &change);
        Ok(self.feed.token(revision))
    }

    pub async fn list_sold_products(
        &self,
        ctx: &PrincipalContext,
        filter: &SoldProductFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> CsmResult<(Vec<SoldProductRecord>, String)> {
        let token = self.token().await?;
        let rules = parties::asset_rules(ctx, &self.settings(), AssetKind::SoldProduct, Action::Read);
        Ok((store::list_sold_products(&self.db, &rules, filter, after, limit).await?, token))
    }

    /// An item's sold product and parent must exist; the parent chain must stay acyclic.
    async fn check_item_references(&self, id: Uuid, references: (Option<Uuid>, Option<Uuid>)) -> CsmResult<()> {
        let (sold_product, parent) = references;
        if let Some(product) = sold_product
            && store::get_sold_product(&self.db, product).await?.is_none()
        {
            return Err(referenced_not_found("install_base_item.sold_product_id", product));
        }
        if let Some(parent) = parent {
            if store::get_install_base_item(&self.db, parent).await?.is_none() {
                return Err(referenced_not_found("install_base_item.parent_install_base_item_id", parent));
            }
            let mut tx = self.db.begin().await?;
            let chain = store::ancestors(&mut tx, parent).await?;
            tx.commit().await?;
            if chain.contains(&id) {
                return Err(CsmError::invalid_field(
                    "install_base_item.parent_install_base_item_id",
                    "would make the item its own ancestor",
                ));
            }
        }
        Ok(())
    }

    pub async fn list_install_base_items(
        &self,
        ctx: &PrincipalContext,
        filter: &ItemFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> CsmResult<(Vec<InstallBaseItemRecord>, String)> {
        let token = self.token().await?;
        let rules = parties::asset_rules(ctx, &self.settings(), AssetKind::InstallBaseItem, Action::Read);
        Ok((store::list_install_base_items(&self.db, &rules, filter, after, limit).await?, token))
    }

    // ------------------------------------------------------------------ related parties

    /// The outcome of `action` on a related-party subject (which must exist).
    async fn subject_outcome(
        &self,
        ctx: &PrincipalContext,
        subject: PartySubject,
        action: Action,
    ) -> CsmResult<Outcome> {
        match subject {
            PartySubject::Case(id) => {
                Ok(self.decide_on_case(ctx, CaseId::from_uuid(id), action, CaseRead::Through).await?.outcome)
            }
            PartySubject::SoldProduct(id) => {
                Ok(self.decide_on_asset(ctx, AssetKind::SoldProduct, id, action).await?.0.outcome)
            }
            PartySubject::InstallBaseItem(id) => {
                Ok(self.decide_on_asset(ctx, AssetKind::InstallBaseItem, id, action).await?.0.outcome)
            }
        }
    }

    /// The subject must exist and `ctx` must READ it (lists) or write its parties:
    /// WRITE_FULL on it, or READ with the granular related-party write role (R5.6, R5.14).
    async fn authorize_subject(&self, ctx: &PrincipalContext, subject: PartySubject, write: bool) -> CsmResult<()> {
        if !write {
            let read = self.subject_outcome(ctx, subject, Action::Read).await?;
            return if read.allowed() { Ok(()) } else { Err(access_denied(Action::Read, &read)) };
        }
        let full = self.subject_outcome(ctx, subject, Action::WriteFull).await?;
        if full.allowed() {
            return Ok(());
        }
        let granular = match subject {
            PartySubject::Case(_) => parties::CASE_RELATED_PARTY_WRITE,
            PartySubject::SoldProduct(_) | PartySubject::InstallBaseItem(_) => {
                parties::INSTALL_BASE_RELATED_PARTY_WRITE
            }
        };
        if granular.iter().any(|role| ctx.has(role))
            && self.subject_outcome(ctx, subject, Action::Read).await?.allowed()
        {
            return Ok(());
        }
        Err(access_denied(Action::WriteFull, &full))
    }

    fn account_team(&self) -> CsmResult<&AccountTeamPeer> {
        self.account_team
            .as_ref()
            .ok_or_else(|| CsmError::unavailable("DEPENDENCY_UNAVAILABLE", "account-team is not configured"))
    }

    /// The name of responsibility definition `id` (account-team).
    async fn responsibility_name(&self, id: Uuid, field: &str) -> CsmResult<String> {
        match self.account_team()?.responsibility_definition(&id.to_string()).await? {
            Some(definition) => Ok(definition.name),
            None => Err(referenced_not_found(field, id)),
        }
    }

    /// Related-party type `id` from account-team (R5.4), with its default responsibility's name.
    async fn party_type(&self, id: Uuid, field: &str) -> CsmResult<PartyType> {
        let configuration = self
            .account_team()?
            .related_party_configuration(&id.to_string())
            .await?
            .ok_or_else(|| referenced_not_found(field, id))?;
        let applies_to = match RecordTable::try_from(configuration.applies_to) {
            Ok(RecordTable::Case) => Some("case"),
            Ok(RecordTable::SoldProduct) => Some("sold_product"),
            Ok(RecordTable::InstallBase) => Some("install_base_item"),
            _ => None,
        };
        let entity_type = PartyEntityType::try_from(configuration.entity_type).ok().and_then(party_kind_of);
        let default_responsibility = match Uuid::parse_str(&configuration.default_responsibility_id) {
            Ok(responsibility) => Some((responsibility, self.responsibility_name(responsibility, field).await?)),
            Err(_) => None,
        };
        Ok(PartyType {
            id,
            name: configuration.name,
            applies_to,
            entity_type,
            default_responsibility,
            default_order: i64::from(configuration.default_order),
        })
    }

    /// The party must exist in identity and be of its kind (contacts and users are profiles).
    async fn check_party(&self, kind: PartyKind, party: Uuid) -> CsmResult<()> {
        let known = match kind {
            PartyKind::Contact | PartyKind::User => {
                match self.identity.profile_kind(ProfileId::from_uuid(party)).await? {
                    Some(profile_kind) => {
                        let fits = match kind {
                            PartyKind::Contact => {
                                matches!(profile_kind, ProfileKind::Contact | ProfileKind::PartnerContact)
                            }
                            _ => profile_kind == ProfileKind::Internal,
                        };
                        if !fits {
                            return Err(CsmError::failed_precondition(
                                "RELATED_PARTY_TYPE_MISMATCH",
                                format!("profile {party} is not a {kind:?} profile"),
                            )
                            .with_metadata("field", "party_id"));
                        }
                        true
                    }
                    None => false,
                }
            }
            PartyKind::Consumer => self.identity.consumer_exists(ConsumerId::from_uuid(party)).await?,
            PartyKind::Account => self.identity.account_exists(AccountId::from_uuid(party)).await?,
            // Service organizations are not kept by identity: taken as given.
            PartyKind::ServiceOrganization => true,
        };
        if known { Ok(()) } else { Err(referenced_not_found("party_id", party)) }
    }

    /// The type `configuration` of a party `kind`/`party` about to be related
    /// to `subject` (AddRelatedParty, and PreviewAccessChange's proposals):
    /// the type must exist and fit the subject and the party kind, and the
    /// party must exist. `prefix` names where the fields sit in the request.
    pub(super) async fn checked_party_type(
        &self,
        subject: PartySubject,
        kind: PartyKind,
        party: Uuid,
        configuration: Uuid,
        prefix: &str,
    ) -> CsmResult<PartyType> {
        let field = format!("{prefix}related_party_configuration_id");
        let party_type = self.party_type(configuration, &field).await?;
        if let Some(why) = type_mismatch(&party_type, subject, kind) {
            return Err(CsmError::failed_precondition("RELATED_PARTY_TYPE_MISMATCH", why).with_metadata("field", field));
        }
        self.check_party(kind, party).await.map_err(|error| match prefix {
            "" => error,
            prefix => error.with_metadata("field", format!("{prefix}party_id")),
        })?;
        Ok(party_type)
    }

    /// AddRelatedParty (R5.6): responsibility and order from the type's defaults.
    pub async fn add_related_party(
        &self,
        ctx: &PrincipalContext,
        request_id: Option<&str>,
        subject: PartySubject,
        kind: PartyKind,
        party: Uuid,
        configuration: Uuid,
    ) -> CsmResult<(RelatedPartyRecord, String)> {
        let key = RequestKey::new("AddRelatedParty", ctx.profile, request_id, &(subject, kind, party, configuration));
        if let Some((id, revision)) = self.replayed(&key).await? {
            let stored = store::get_related_party(&self.db, id)
                .await?
                .ok_or_else(|| CsmError::not_found("related party", id))?;
            return Ok((stored, self.feed.token(revision)));
        }
        self.authorize_subject(ctx, subject, true).await?;
        let party_type = self.checked_party_type(subject, kind, party, configuration, "").await?;
        let now = csm_db::now();
        let record = RelatedPartyRecord {
            id: Uuid::now_v7(),
            subject,
            kind,
            party,
            configuration: Some(configuration),
            type_name: party_type.name.clone(),
            responsibility: party_type.default_responsibility.as_ref().map(|(id, _)| *id),
            responsibility_name: party_type.default_responsibility.map(|(_, name)| name),
            order: party_type.default_order,
            created_by: ctx.profile,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        store::save_related_party(&mut tx, &record, false).await?;
        let change = party_change(&record, Operation::Created);
        let revision = append(&mut tx, &change).await?;
        if !key.record(&mut tx, record.id, revision, "").await? {
            drop(tx);
            return Box::pin(self.add_related_party(ctx, request_id, subject, kind, party, configuration)).await;
        }
        tx.commit().await?;
        self.committed(revision, &change);
        Ok((record, self.feed.token(revision)))
    }

    /// UpdateRelatedParty: a new type re-fills responsibility and order unless they are changed too.
    pub async fn update_related_party(
        &self,
        ctx: &PrincipalContext,
        id: Uuid,
        changes: PartyChanges,
    ) -> CsmResult<(RelatedPartyRecord, String)> {
        let mut record =
            store::get_related_party(&self.db, id).await?.ok_or_else(|| CsmError::not_found("related party", id))?;
        self.authorize_subject(ctx, record.subject, true).await?;
        if let Some(configuration) = changes.configuration {
            let field = "related_party.related_party_configuration_id";
            let party_type = self.party_type(configuration, field).await?;
            if let Some(why) = type_mismatch(&party_type, record.subject, record.kind) {
                return Err(
                    CsmError::failed_precondition("RELATED_PARTY_TYPE_MISMATCH", why).with_metadata("field", field)
                );
            }
            record.configuration = Some(configuration);
            record.type_name = party_type.name;
            record.responsibility = party_type.default_responsibility.as_ref().map(|(id, _)| *id);
            record.responsibility_name = party_type.default_responsibility.map(|(_, name)| name);
            record.order = party_type.default_order;
        }
        if let Some(responsibility) = changes.responsibility {
            record.responsibility = responsibility;
            record.responsibility_name = match responsibility {
                Some(id) => Some(self.responsibility_name(id, "related_party.responsibility_id").await?),
                None => None,
            };
        }
        if let Some(order) = changes.order {
            record.order = order;
        }
        record.updated_at = csm_db::now();
        let mut tx = self.db.begin().await?;
        store::save_related_party(&mut tx, &record, true).await?;
        let change = party_change(&record, Operation::Updated);
        let revision = append(&mut tx, &change).await?;
        tx.commit().await?;
        self.committed(revision, &change);
        Ok((record, self.feed.token(revision)))
    }

    /// RemoveRelatedParty: access derived from the row ends at once (R5.9).
    pub async fn remove_related_party(&self, ctx: &PrincipalContext, id: Uuid) -> CsmResult<String> {
        let record =
            store::get_related_party(&self.db, id).await?.ok_or_else(|| CsmError::not_found("related party", id))?;
        self.authorize_subject(ctx, record.subject, true).await?;
        let mut tx = self.db.begin().await?;
        if !store::delete_related_party(&mut tx, id).await? {
            return Err(CsmError::not_found("related party", id));
        }
        let change = party_change(&record, Operation::Deleted);
        let revision = append(&mut tx, &change).await?;
        tx.commit().await?;
        self.committed(revision, &change);
        Ok(self.feed.token(revision))
    }

    /// ListRelatedParties: needs READ on the subject.
    pub async fn list_related_parties(
        &self,
        ctx: &PrincipalContext,
        subject: PartySubject,
        kind: Option<PartyKind>,
        authorized_only: bool,
        after: Option<(i64, Uuid)>,
        limit: i64,
    ) -> CsmResult<(Vec<RelatedPartyRecord>, String)> {
        let token = self.token().await?;
        self.authorize_subject(ctx, subject, false).await?;
        Ok((store::list_related_parties(&self.db, subject, kind, authorized_only, after, limit).await?, token))
    }

    // ------------------------------------------------------------------ case creation (R5.10, R5.11, R5.13)

    /// R5.13: `contact` may be the partner contact of `case`: eligible through
    /// the case account's Account Access record (account-team decides: every
    /// partner contact, or partner admins only under restrict_account_access),
    /// or a partner contact related to the case's install base as Authorized
    /// Representative (itself) or Authorized Account (its account).
    /// FAILED_PRECONDITION PARTNER_CONTACT_NOT_ELIGIBLE otherwise.
    pub(super) async fn require_eligible_partner_contact(
        &self,
        case: &PartnerContactCase,
        contact: ProfileId,
        field: &str,
    ) -> CsmResult<()> {
        let not_eligible = |why: String| {
            CsmError::failed_precondition("PARTNER_CONTACT_NOT_ELIGIBLE", why).with_metadata("field", field.to_owned())
        };
        let profile = self.identity.profile(contact).await?.ok_or_else(|| referenced_not_found(field, contact))?;
        if profile.kind != ProfileKind::PartnerContact as i32 {
            return Err(not_eligible(format!("profile {contact} is not a partner contact")));
        }
        if let Some(item) = case.install_base_item
            && let Some(facts) = store::load_asset_facts(&self.db, AssetKind::InstallBaseItem, item).await?
            && parties::install_base_partner_contact(&facts, contact, AccountId::parse(&profile.account_id).ok())
        {
            return Ok(());
        }
        let Some(account) = case.account else {
            return Err(not_eligible("a case without an account has no eligible partner contacts".to_owned()));
        };
        if self.account_team()?.partner_contact_eligible(account, case.partner_account, contact).await? {
            Ok(())
        } else {
            Err(not_eligible(format!("partner contact {contact} is not eligible on cases of account {account}")))
        }
    }

    /// CreateCase checks on the sold product and install base item a draft names:
    /// both must exist; a chosen contact / consumer must have full access to the
    /// sold product (R5.10); the install base must belong to the contact's and the
    /// case's account (R5.11).
    pub(super) async fn validate_case_assets(
        &self,
        _ctx: &PrincipalContext,
        draft: &Draft,
        stamps: &Stamps,
        contact_account: Option<AccountId>,
    ) -> CsmResult<()> {
        let contact: Option<ProfileId> = draft.contact.or(stamps.contact);
        let consumer = draft.consumer.or(stamps.consumer);
        if let Some(product_id) = draft.sold_product {
            let product = store::get_sold_product(&self.db, product_id)
                .await?
                .ok_or_else(|| referenced_not_found("draft.sold_product_id", product_id))?;
            let subject = PartySubject::SoldProduct(product_id);
            if let Some(contact) = contact {
                let owner = contact_account.is_some() && contact_account == product.account;
                let named =
                    store::is_authorized_party(&self.db, subject, PartyKind::Contact, *contact.as_uuid()).await?;
                let by_account = match contact_account {
                    Some(account) => {
                        store::is_authorized_party(&self.db, subject, PartyKind::Account, *account.as_uuid()).await?
                    }
                    None => false,
                };
                if !(owner || named || by_account) {
                    return Err(CsmError::failed_precondition(
                        "CONTACT_NOT_AUTHORIZED_FOR_SOLD_PRODUCT",
                        "the case contact has no full access to the sold product",
                    )
                    .with_metadata("field", "draft.contact_id"));
                }
            }
            if let Some(consumer) = consumer
                && draft.account.is_none()
                && product.consumer != Some(consumer)
                && !store::is_authorized_party(&self.db, subject, PartyKind::Consumer, *consumer.as_uuid()).await?
            {
                return Err(CsmError::failed_precondition(
                    "CONTACT_NOT_AUTHORIZED_FOR_SOLD_PRODUCT",
                    "the case consumer has no full access to the sold product",
                )
                .with_metadata("field", "draft.consumer_id"));
            }
        }
        if let Some(item_id) = draft.install_base_item {
            let item = store::get_install_base_item(&self.db, item_id)
                .await?
                .ok_or_else(|| referenced_not_found("draft.install_base_item_id", item_id))?;
            if let Some(item_account) = item.account {
                let case_mismatch = draft.account.is_some_and(|account| account != item_account);
                let contact_mismatch =
                    contact.is_some() && contact_account.is_some_and(|account| account != item_account);
                if case_mismatch || contact_mismatch {
                    return Err(CsmError::failed_precondition(
                        "INSTALL_BASE_ACCOUNT_MISMATCH",
                        "the contact, the case and the install base must belong to the same account",
                    )
                    .with_metadata("field", "draft.install_base_item_id"));
                }
            }
        }
        Ok(())
    }
}

fn party_change(record: &RelatedPartyRecord, operation: Operation) -> NewChange {
    NewChange::new("related_party", record.id, operation)
        .attribute("subject_kind", record.subject.code())
        .attribute("subject_id", record.subject.id())
}

/// Idempotency keys are per caller: a retry by the same caller replays.
/// Whose request ids an asset writer's are.
fn writer_scope(writer: &AssetWriter) -> String {
    match writer {
        AssetWriter::Service => "service".to_owned(),
        AssetWriter::Principal(ctx) => ctx.profile.to_string(),
    }
}

/// What R5.13 reads of a case (created or updated) to judge its partner contact.
#[derive(Clone, Copy, Debug, Default)]
pub struct PartnerContactCase {
    pub account: Option<AccountId>,
    pub partner_account: Option<AccountId>,
    pub install_base_item: Option<Uuid>,
}

/// Who a mutation of assets is made by (contract: service identities need no profile).
pub async fn asset_writer(
    app: &CaseAccessApp,
    caller: &Caller,
    requested: Option<ProfileId>,
    freshness: &super::cache::Freshness,
) -> CsmResult<AssetWriter> {
    match caller {
        Caller::Service(_) => Ok(AssetWriter::Service),
        Caller::Human(_) => {
            let profile = app.principal(caller, requested, super::Access::Mutation).await?;
            let ctx = app.mutation_context(profile, freshness).await?;
            Ok(AssetWriter::Principal(ctx))
        }
    }
}
