//! Related parties, sold products and install base items: proto ⇄ domain only.

use std::collections::BTreeSet;

use csm_db::PageRequest;
use csm_errors::{FieldErrors, update_paths, validated};
use csm_proto::case_access as pb;
use csm_types::{AccountId, ConsumerId, ProfileId};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::convert::{any_uuid, freshness_of, mutation_context, opt, read_context};
use crate::CaseAccessApp;
use crate::app::parties::{PartyChanges, asset_writer};
use crate::domain::case::PartyKind;
use crate::domain::parties::{InstallBaseItemRecord, PartySubject, RelatedPartyRecord, SoldProductRecord};
use crate::store::parties::{ItemFilter, SoldProductFilter, StoredAsset};

const NAME_MAX: usize = 200;

pub(super) fn party_kind_from_proto(value: i32) -> Option<PartyKind> {
    Some(match pb::PartyKind::try_from(value).ok()? {
        pb::PartyKind::Contact => PartyKind::Contact,
        pb::PartyKind::Consumer => PartyKind::Consumer,
        pb::PartyKind::User => PartyKind::User,
        pb::PartyKind::Account => PartyKind::Account,
        pb::PartyKind::ServiceOrganization => PartyKind::ServiceOrganization,
        pb::PartyKind::Unspecified => return None,
    })
}

fn party_kind_to_proto(kind: PartyKind) -> pb::PartyKind {
    match kind {
        PartyKind::Contact => pb::PartyKind::Contact,
        PartyKind::Consumer => pb::PartyKind::Consumer,
        PartyKind::User => pb::PartyKind::User,
        PartyKind::Account => pb::PartyKind::Account,
        PartyKind::ServiceOrganization => pb::PartyKind::ServiceOrganization,
    }
}

fn related_party_to_proto(record: &RelatedPartyRecord) -> pb::RelatedParty {
    let subject = match record.subject {
        PartySubject::Case(id) => pb::related_party::Subject::CaseId(id.to_string()),
        PartySubject::SoldProduct(id) => pb::related_party::Subject::SoldProductId(id.to_string()),
        PartySubject::InstallBaseItem(id) => pb::related_party::Subject::InstallBaseItemId(id.to_string()),
    };
    pb::RelatedParty {
        related_party_id: record.id.to_string(),
        subject: Some(subject),
        party_kind: party_kind_to_proto(record.kind) as i32,
        party_id: record.party.to_string(),
        related_party_configuration_id: opt(record.configuration),
        related_party_type_name: record.type_name.clone(),
        responsibility_id: opt(record.responsibility),
        responsibility_name: record.responsibility_name.clone().unwrap_or_default(),
        order: i32::try_from(record.order).unwrap_or(i32::MAX),
        created_by_profile_id: record.created_by.to_string(),
        created_at: Some(csm_proto::timestamp(record.created_at)),
        updated_at: Some(csm_proto::timestamp(record.updated_at)),
    }
}

fn sold_product_to_proto(product: &SoldProductRecord) -> pb::SoldProduct {
    pb::SoldProduct {
        sold_product_id: product.id.to_string(),
        name: product.name.clone(),
        product_model_id: opt(product.product_model),
        account_id: opt(product.account),
        consumer_id: opt(product.consumer),
        household_id: opt(product.household),
        consumer_profile_id: opt(product.consumer_profile),
        created_at: Some(csm_proto::timestamp(product.created_at)),
        updated_at: Some(csm_proto::timestamp(product.updated_at)),
    }
}

fn item_to_proto(item: &InstallBaseItemRecord) -> pb::InstallBaseItem {
    pb::InstallBaseItem {
        install_base_item_id: item.id.to_string(),
        name: item.name.clone(),
        sold_product_id: opt(item.sold_product),
        parent_install_base_item_id: opt(item.parent),
        account_id: opt(item.account),
        consumer_id: opt(item.consumer),
        consumer_profile_id: opt(item.consumer_profile),
        service_organization_id: opt(item.service_organization),
        asset_id: opt(item.asset),
        asset_contact_ids: item.asset_contacts.iter().map(ToString::to_string).collect(),
        created_at: Some(csm_proto::timestamp(item.created_at)),
        updated_at: Some(csm_proto::timestamp(item.updated_at)),
    }
}

fn uuid_field(errors: &mut FieldErrors, field: &str, value: &str) -> Option<Uuid> {
    errors.optional_id(field, value, any_uuid)
}

/// The sold product fields of `wire` named by `paths` (every field on create).
fn apply_sold_product(
    errors: &mut FieldErrors,
    product: &mut SoldProductRecord,
    wire: &pb::SoldProduct,
    paths: Option<&[String]>,
) {
    let named = |path: &str| paths.is_none_or(|paths| paths.iter().any(|p| p == path));
    let field = |name: &str| format!("sold_product.{name}");
    if named("name") {
        product.name = errors.required_text(&field("name"), &wire.name, NAME_MAX).unwrap_or_default();
    }
    if named("product_model_id") {
        product.product_model = uuid_field(errors, &field("product_model_id"), &wire.product_model_id);
    }
    if named("account_id") {
        product.account = uuid_field(errors, &field("account_id"), &wire.account_id).map(AccountId::from_uuid);
    }
    if named("consumer_id") {
        product.consumer = uuid_field(errors, &field("consumer_id"), &wire.consumer_id).map(ConsumerId::from_uuid);
    }
    if named("household_id") {
        product.household = uuid_field(errors, &field("household_id"), &wire.household_id);
    }
    if named("consumer_profile_id") {
        product.consumer_profile = uuid_field(errors, &field("consumer_profile_id"), &wire.consumer_profile_id);
    }
}

const SOLD_PRODUCT_PATHS: &[&str] =
    &["name", "product_model_id", "account_id", "consumer_id", "household_id", "consumer_profile_id"];
const ITEM_PATHS: &[&str] = &[
    "name",
    "sold_product_id",
    "parent_install_base_item_id",
    "account_id",
    "consumer_id",
    "consumer_profile_id",
    "service_organization_id",
    "asset_id",
    "asset_contact_ids",
];
const PARTY_PATHS: &[&str] = &["related_party_configuration_id", "responsibility_id", "order"];

fn apply_item(
    errors: &mut FieldErrors,
    item: &mut InstallBaseItemRecord,
    wire: &pb::InstallBaseItem,
    paths: Option<&[String]>,
) {
    let named = |path: &str| paths.is_none_or(|paths| paths.iter().any(|p| p == path));
    let field = |name: &str| format!("install_base_item.{name}");
    if named("name") {
        item.name = errors.required_text(&field("name"), &wire.name, NAME_MAX).unwrap_or_default();
    }
    if named("sold_product_id") {
        item.sold_product = uuid_field(errors, &field("sold_product_id"), &wire.sold_product_id);
    }
    if named("parent_install_base_item_id") {
        item.parent = uuid_field(errors, &field("parent_install_base_item_id"), &wire.parent_install_base_item_id);
    }
    if named("account_id") {
        item.account = uuid_field(errors, &field("account_id"), &wire.account_id).map(AccountId::from_uuid);
    }
    if named("consumer_id") {
        item.consumer = uuid_field(errors, &field("consumer_id"), &wire.consumer_id).map(ConsumerId::from_uuid);
    }
    if named("consumer_profile_id") {
        item.consumer_profile = uuid_field(errors, &field("consumer_profile_id"), &wire.consumer_profile_id);
    }
    if named("service_organization_id") {
        item.service_organization =
            uuid_field(errors, &field("service_organization_id"), &wire.service_organization_id);
    }
    if named("asset_id") {
        item.asset = uuid_field(errors, &field("asset_id"), &wire.asset_id);
    }
    if named("asset_contact_ids") {
        let mut contacts = BTreeSet::new();
        for contact in &wire.asset_contact_ids {
            if let Some(id) = errors.required_id(&field("asset_contact_ids"), contact, ProfileId::parse) {
                contacts.insert(id);
            }
        }
        item.asset_contacts = contacts;
    }
}

fn empty_sold_product() -> SoldProductRecord {
    let now = csm_db::now();
    SoldProductRecord {
        id: Uuid::nil(),
        name: String::new(),
        product_model: None,
        account: None,
        consumer: None,
        household: None,
        consumer_profile: None,
        created_at: now,
        updated_at: now,
    }
}

fn empty_item() -> InstallBaseItemRecord {
    let now = csm_db::now();
    InstallBaseItemRecord {
        id: Uuid::nil(),
        name: String::new(),
        sold_product: None,
        parent: None,
        account: None,
        consumer: None,
        consumer_profile: None,
        service_organization: None,
        asset: None,
        asset_contacts: BTreeSet::new(),
        created_at: now,
        updated_at: now,
    }
}

fn after_id(page: &PageRequest) -> Result<Option<Uuid>, Status> {
    Ok(page.after_key(|after| Uuid::parse_str(after).ok())?)
}

// ------------------------------------------------------------------ related parties

pub(super) async fn add_related_party(
    app: &CaseAccessApp,
    request: Request<pb::AddRelatedPartyRequest>,
) -> Result<Response<pb::AddRelatedPartyResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(&request.request_id);
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let subject = match &request.subject {
        Some(pb::add_related_party_request::Subject::CaseId(id)) => {
            errors.required_id("case_id", id, any_uuid).map(PartySubject::Case)
        }
        Some(pb::add_related_party_request::Subject::SoldProductId(id)) => {
            errors.required_id("sold_product_id", id, any_uuid).map(PartySubject::SoldProduct)
        }
        Some(pb::add_related_party_request::Subject::InstallBaseItemId(id)) => {
            errors.required_id("install_base_item_id", id, any_uuid).map(PartySubject::InstallBaseItem)
        }
        None => {
            errors.add("subject", "one of case_id, sold_product_id, install_base_item_id is required");
            None
        }
    };
    let kind = party_kind_from_proto(request.party_kind);
    if kind.is_none() {
        errors.add("party_kind", "is required");
    }
    let party = errors.required_id("party_id", &request.party_id, any_uuid);
    let configuration =
        errors.required_id("related_party_configuration_id", &request.related_party_configuration_id, any_uuid);
    errors.finish()?;
    let ctx = mutation_context(app, &caller, profile, &request.consistency).await?;
    let (record, consistency_token) = app
        .add_related_party(
            &ctx,
            request_id.as_deref(),
            validated(subject)?,
            validated(kind)?,
            validated(party)?,
            validated(configuration)?,
        )
        .await?;
    Ok(Response::new(pb::AddRelatedPartyResponse {
        related_party: Some(related_party_to_proto(&record)),
        consistency_token,
    }))
}

pub(super) async fn update_related_party(
    app: &CaseAccessApp,
    request: Request<pb::UpdateRelatedPartyRequest>,
) -> Result<Response<pb::UpdateRelatedPartyResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let paths = update_paths(request.update_mask.as_ref(), PARTY_PATHS)?;
    let wire = request.related_party.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let id = errors.required_id("related_party.related_party_id", &wire.related_party_id, any_uuid);
    let mut changes = PartyChanges::default();
    for path in &paths {
        match path.as_str() {
            "related_party_configuration_id" => {
                changes.configuration = errors.required_id(
                    "related_party.related_party_configuration_id",
                    &wire.related_party_configuration_id,
                    any_uuid,
                );
            }
            "responsibility_id" => {
                changes.responsibility =
                    Some(uuid_field(&mut errors, "related_party.responsibility_id", &wire.responsibility_id));
            }
            _ => changes.order = Some(i64::from(wire.order)),
        }
    }
    errors.finish()?;
    let ctx = mutation_context(app, &caller, profile, &request.consistency).await?;
    let (record, consistency_token) = app.update_related_party(&ctx, validated(id)?, changes).await?;
    Ok(Response::new(pb::UpdateRelatedPartyResponse {
        related_party: Some(related_party_to_proto(&record)),
        consistency_token,
    }))
}

pub(super) async fn remove_related_party(
    app: &CaseAccessApp,
    request: Request<pb::RemoveRelatedPartyRequest>,
) -> Result<Response<pb::RemoveRelatedPartyResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let id = errors.required_id("related_party_id", &request.related_party_id, any_uuid);
    errors.finish()?;
    let ctx = mutation_context(app, &caller, profile, &request.consistency).await?;
    let consistency_token = app.remove_related_party(&ctx, validated(id)?).await?;
    Ok(Response::new(pb::RemoveRelatedPartyResponse { consistency_token }))
}

pub(super) async fn list_related_parties(
    app: &CaseAccessApp,
    request: Request<pb::ListRelatedPartiesRequest>,
) -> Result<Response<pb::ListRelatedPartiesResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let subject = match &request.subject {
        Some(pb::list_related_parties_request::Subject::CaseId(id)) => {
            errors.required_id("case_id", id, any_uuid).map(PartySubject::Case)
        }
        Some(pb::list_related_parties_request::Subject::SoldProductId(id)) => {
            errors.required_id("sold_product_id", id, any_uuid).map(PartySubject::SoldProduct)
        }
        Some(pb::list_related_parties_request::Subject::InstallBaseItemId(id)) => {
            errors.required_id("install_base_item_id", id, any_uuid).map(PartySubject::InstallBaseItem)
        }
        None => {
            errors.add("subject", "one of case_id, sold_product_id, install_base_item_id is required");
            None
        }
    };
    let kind = match pb::PartyKind::try_from(request.party_kind) {
        Ok(_) => party_kind_from_proto(request.party_kind),
        Err(_) => {
            errors.add("party_kind", "unknown value");
            None
        }
    };
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let page = validated(page)?;
    let after = page.after_key(|after| {
        let (order, id) = after.split_once('|')?;
        Some((order.parse::<i64>().ok()?, Uuid::parse_str(id).ok()?))
    })?;
    let ctx = read_context(app, &caller, profile, &request.consistency).await?;
    let (rows, consistency_token) = app
        .list_related_parties(&ctx, validated(subject)?, kind, request.authorized_only, after, page.fetch_limit())
        .await?;
    let (rows, next_page_token) = page.finish(rows, |row| format!("{}|{}", row.order, row.id));
    Ok(Response::new(pb::ListRelatedPartiesResponse {
        related_parties: rows.iter().map(related_party_to_proto).collect(),
        next_page_token,
        consistency_token,
    }))
}

// ------------------------------------------------------------------ sold products, install base items

/// A sold product or an install base item as its RPCs carry it: one
/// implementation of create, get, update and delete serves both.
trait WireAsset: StoredAsset {
    type Wire;
    /// The record's field in requests and responses ("sold_product").
    const FIELD: &'static str;
    /// The update mask paths UpdateSoldProduct / UpdateInstallBaseItem accept.
    const UPDATABLE: &'static [&'static str];
    /// A record with no field set yet.
    fn empty() -> Self;
    /// Sets the fields of `wire` named by `paths` (every field on create).
    fn apply(errors: &mut FieldErrors, record: &mut Self, wire: &Self::Wire, paths: Option<&[String]>);
    /// Refusals of a new record's wire form beyond its fields' own rules.
    fn check_new(_errors: &mut FieldErrors, _wire: &Self::Wire) {}
    fn wire_id(wire: &Self::Wire) -> &str;
    fn to_proto(&self) -> Self::Wire;
}

impl WireAsset for SoldProductRecord {
    type Wire = pb::SoldProduct;
    const FIELD: &'static str = "sold_product";
    const UPDATABLE: &'static [&'static str] = SOLD_PRODUCT_PATHS;

    fn empty() -> Self {
        empty_sold_product()
    }

    fn apply(errors: &mut FieldErrors, record: &mut Self, wire: &pb::SoldProduct, paths: Option<&[String]>) {
        apply_sold_product(errors, record, wire, paths);
    }

    fn check_new(errors: &mut FieldErrors, wire: &pb::SoldProduct) {
        if wire.account_id.trim().is_empty() == wire.consumer_id.trim().is_empty() {
            errors.add("sold_product.account_id", "exactly one of account_id / consumer_id is required");
        }
    }

    fn wire_id(wire: &pb::SoldProduct) -> &str {
        &wire.sold_product_id
    }

    fn to_proto(&self) -> pb::SoldProduct {
        sold_product_to_proto(self)
    }
}

impl WireAsset for InstallBaseItemRecord {
    type Wire = pb::InstallBaseItem;
    const FIELD: &'static str = "install_base_item";
    const UPDATABLE: &'static [&'static str] = ITEM_PATHS;

    fn empty() -> Self {
        empty_item()
    }

    fn apply(errors: &mut FieldErrors, record: &mut Self, wire: &pb::InstallBaseItem, paths: Option<&[String]>) {
        apply_item(errors, record, wire, paths);
    }

    fn wire_id(wire: &pb::InstallBaseItem) -> &str {
        &wire.install_base_item_id
    }

    fn to_proto(&self) -> pb::InstallBaseItem {
        item_to_proto(self)
    }
}

/// The common fields of an asset request.
struct AssetCall<'a> {
    caller: csm_auth::Caller,
    profile_id: &'a str,
    consistency: &'a Option<csm_proto::common::Consistency>,
}

async fn create_asset<A: WireAsset>(
    app: &CaseAccessApp,
    call: AssetCall<'_>,
    request_id: &str,
    wire: Option<&A::Wire>,
) -> Result<(A::Wire, String), Status> {
    let mut errors = FieldErrors::new();
    let request_id = errors.optional_request_id(request_id);
    let profile = errors.optional_id("profile_id", call.profile_id, ProfileId::parse);
    let mut asset = A::empty();
    match wire {
        Some(wire) => {
            A::apply(&mut errors, &mut asset, wire, None);
            A::check_new(&mut errors, wire);
        }
        None => errors.add(A::FIELD, "is required"),
    }
    errors.finish()?;
    let writer = asset_writer(app, &call.caller, profile, &freshness_of(call.consistency)?).await?;
    let (asset, consistency_token) = app.create_asset(&writer, request_id.as_deref(), asset).await?;
    Ok((asset.to_proto(), consistency_token))
}

async fn get_asset<A: WireAsset>(
    app: &CaseAccessApp,
    call: AssetCall<'_>,
    id: &str,
) -> Result<(A::Wire, String), Status> {
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", call.profile_id, ProfileId::parse);
    let id = errors.required_id(&format!("{}_id", A::FIELD), id, any_uuid);
    errors.finish()?;
    let ctx = read_context(app, &call.caller, profile, call.consistency).await?;
    let (asset, consistency_token) = app.get_asset::<A>(&ctx, validated(id)?).await?;
    Ok((asset.to_proto(), consistency_token))
}

async fn update_asset<A: WireAsset>(
    app: &CaseAccessApp,
    call: AssetCall<'_>,
    wire: Option<A::Wire>,
    mask: Option<&prost_types::FieldMask>,
) -> Result<(A::Wire, String), Status>
where
    A::Wire: Default,
{
    let paths = update_paths(mask, A::UPDATABLE)?;
    let wire = wire.unwrap_or_default();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", call.profile_id, ProfileId::parse);
    let id = errors.required_id(&format!("{0}.{0}_id", A::FIELD), A::wire_id(&wire), any_uuid);
    // Validate the named fields once up front; the app applies them to the stored row.
    A::apply(&mut errors, &mut A::empty(), &wire, Some(&paths));
    errors.finish()?;
    let writer = asset_writer(app, &call.caller, profile, &freshness_of(call.consistency)?).await?;
    let (asset, consistency_token) = app
        .update_asset::<A>(&writer, validated(id)?, |asset| {
            A::apply(&mut FieldErrors::new(), asset, &wire, Some(&paths));
        })
        .await?;
    Ok((asset.to_proto(), consistency_token))
}

async fn delete_asset<A: WireAsset>(app: &CaseAccessApp, call: AssetCall<'_>, id: &str) -> Result<String, Status> {
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", call.profile_id, ProfileId::parse);
    let id = errors.required_id(&format!("{}_id", A::FIELD), id, any_uuid);
    errors.finish()?;
    let writer = asset_writer(app, &call.caller, profile, &freshness_of(call.consistency)?).await?;
    Ok(app.delete_asset(&writer, A::KIND, validated(id)?).await?)
}

pub(super) async fn create_sold_product(
    app: &CaseAccessApp,
    request: Request<pb::CreateSoldProductRequest>,
) -> Result<Response<pb::CreateSoldProductResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let call = AssetCall { caller, profile_id: &request.profile_id, consistency: &request.consistency };
    let (product, consistency_token) =
        create_asset::<SoldProductRecord>(app, call, &request.request_id, request.sold_product.as_ref()).await?;
    Ok(Response::new(pb::CreateSoldProductResponse { sold_product: Some(product), consistency_token }))
}

pub(super) async fn get_sold_product(
    app: &CaseAccessApp,
    request: Request<pb::GetSoldProductRequest>,
) -> Result<Response<pb::GetSoldProductResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let call = AssetCall { caller, profile_id: &request.profile_id, consistency: &request.consistency };
    let (product, consistency_token) = get_asset::<SoldProductRecord>(app, call, &request.sold_product_id).await?;
    Ok(Response::new(pb::GetSoldProductResponse { sold_product: Some(product), consistency_token }))
}

pub(super) async fn update_sold_product(
    app: &CaseAccessApp,
    request: Request<pb::UpdateSoldProductRequest>,
) -> Result<Response<pb::UpdateSoldProductResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let call = AssetCall { caller, profile_id: &request.profile_id, consistency: &request.consistency };
    let (product, consistency_token) =
        update_asset::<SoldProductRecord>(app, call, request.sold_product.clone(), request.update_mask.as_ref())
            .await?;
    Ok(Response::new(pb::UpdateSoldProductResponse { sold_product: Some(product), consistency_token }))
}

pub(super) async fn delete_sold_product(
    app: &CaseAccessApp,
    request: Request<pb::DeleteSoldProductRequest>,
) -> Result<Response<pb::DeleteSoldProductResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let call = AssetCall { caller, profile_id: &request.profile_id, consistency: &request.consistency };
    let consistency_token = delete_asset::<SoldProductRecord>(app, call, &request.sold_product_id).await?;
    Ok(Response::new(pb::DeleteSoldProductResponse { consistency_token }))
}

pub(super) async fn list_sold_products(
    app: &CaseAccessApp,
    request: Request<pb::ListSoldProductsRequest>,
) -> Result<Response<pb::ListSoldProductsResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let filter = SoldProductFilter {
        account: errors.optional_id("account_id", &request.account_id, AccountId::parse),
        consumer: errors.optional_id("consumer_id", &request.consumer_id, ConsumerId::parse),
    };
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let page = validated(page)?;
    let after = after_id(&page)?;
    let ctx = read_context(app, &caller, profile, &request.consistency).await?;
    let (rows, consistency_token) = app.list_sold_products(&ctx, &filter, after, page.fetch_limit()).await?;
    let (rows, next_page_token) = page.finish(rows, |row| row.id.to_string());
    Ok(Response::new(pb::ListSoldProductsResponse {
        sold_products: rows.iter().map(sold_product_to_proto).collect(),
        next_page_token,
        consistency_token,
    }))
}

pub(super) async fn create_install_base_item(
    app: &CaseAccessApp,
    request: Request<pb::CreateInstallBaseItemRequest>,
) -> Result<Response<pb::CreateInstallBaseItemResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let call = AssetCall { caller, profile_id: &request.profile_id, consistency: &request.consistency };
    let (item, consistency_token) =
        create_asset::<InstallBaseItemRecord>(app, call, &request.request_id, request.install_base_item.as_ref())
            .await?;
    Ok(Response::new(pb::CreateInstallBaseItemResponse { install_base_item: Some(item), consistency_token }))
}

pub(super) async fn get_install_base_item(
    app: &CaseAccessApp,
    request: Request<pb::GetInstallBaseItemRequest>,
) -> Result<Response<pb::GetInstallBaseItemResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let call = AssetCall { caller, profile_id: &request.profile_id, consistency: &request.consistency };
    let (item, consistency_token) =
        get_asset::<InstallBaseItemRecord>(app, call, &request.install_base_item_id).await?;
    Ok(Response::new(pb::GetInstallBaseItemResponse { install_base_item: Some(item), consistency_token }))
}

pub(super) async fn update_install_base_item(
    app: &CaseAccessApp,
    request: Request<pb::UpdateInstallBaseItemRequest>,
) -> Result<Response<pb::UpdateInstallBaseItemResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let call = AssetCall { caller, profile_id: &request.profile_id, consistency: &request.consistency };
    let (item, consistency_token) = update_asset::<InstallBaseItemRecord>(
        app,
        call,
        request.install_base_item.clone(),
        request.update_mask.as_ref(),
    )
    .await?;
    Ok(Response::new(pb::UpdateInstallBaseItemResponse { install_base_item: Some(item), consistency_token }))
}

pub(super) async fn delete_install_base_item(
    app: &CaseAccessApp,
    request: Request<pb::DeleteInstallBaseItemRequest>,
) -> Result<Response<pb::DeleteInstallBaseItemResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let call = AssetCall { caller, profile_id: &request.profile_id, consistency: &request.consistency };
    let consistency_token = delete_asset::<InstallBaseItemRecord>(app, call, &request.install_base_item_id).await?;
    Ok(Response::new(pb::DeleteInstallBaseItemResponse { consistency_token }))
}

pub(super) async fn list_install_base_items(
    app: &CaseAccessApp,
    request: Request<pb::ListInstallBaseItemsRequest>,
) -> Result<Response<pb::ListInstallBaseItemsResponse>, Status> {
    let caller = csm_auth::caller(&request)?;
    let request = request.into_inner();
    let mut errors = FieldErrors::new();
    let profile = errors.optional_id("profile_id", &request.profile_id, ProfileId::parse);
    let filter = ItemFilter {
        sold_product: errors.optional_id("sold_product_id", &request.sold_product_id, any_uuid),
        account: errors.optional_id("account_id", &request.account_id, AccountId::parse),
        parent: errors.optional_id("parent_install_base_item_id", &request.parent_install_base_item_id, any_uuid),
    };
    let page = PageRequest::collect(&mut errors, request.page_size, &request.page_token);
    errors.finish()?;
    let page = validated(page)?;
    let after = after_id(&page)?;
    let ctx = read_context(app, &caller, profile, &request.consistency).await?;
    let (rows, consistency_token) = app.list_install_base_items(&ctx, &filter, after, page.fetch_limit()).await?;
    let (rows, next_page_token) = page.finish(rows, |row| row.id.to_string());
    Ok(Response::new(pb::ListInstallBaseItemsResponse {
        install_base_items: rows.iter().map(item_to_proto).collect(),
        next_page_token,
        consistency_token,
    }))
}
