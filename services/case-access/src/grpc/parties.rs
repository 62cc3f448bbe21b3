//! parties

use csm_proto::case_access as pb;
use tonic::{Request, Response, Status};

use crate::CaseAccessApp;

pub(super) async fn add_related_party(
    _app: &CaseAccessApp,
    _request: Request<pb::AddRelatedPartyRequest>,
) -> Result<Response<pb::AddRelatedPartyResponse>, Status> {
    Err(Status::unimplemented("AddRelatedParty is not built yet"))
}

pub(super) async fn update_related_party(
    _app: &CaseAccessApp,
    _request: Request<pb::UpdateRelatedPartyRequest>,
) -> Result<Response<pb::UpdateRelatedPartyResponse>, Status> {
    Err(Status::unimplemented("UpdateRelatedParty is not built yet"))
}

pub(super) async fn remove_related_party(
    _app: &CaseAccessApp,
    _request: Request<pb::RemoveRelatedPartyRequest>,
) -> Result<Response<pb::RemoveRelatedPartyResponse>, Status> {
    Err(Status::unimplemented("RemoveRelatedParty is not built yet"))
}

pub(super) async fn list_related_parties(
    _app: &CaseAccessApp,
    _request: Request<pb::ListRelatedPartiesRequest>,
) -> Result<Response<pb::ListRelatedPartiesResponse>, Status> {
    Err(Status::unimplemented("ListRelatedParties is not built yet"))
}

pub(super) async fn create_sold_product(
    _app: &CaseAccessApp,
    _request: Request<pb::CreateSoldProductRequest>,
) -> Result<Response<pb::CreateSoldProductResponse>, Status> {
    Err(Status::unimplemented("CreateSoldProduct is not built yet"))
}

pub(super) async fn get_sold_product(
    _app: &CaseAccessApp,
    _request: Request<pb::GetSoldProductRequest>,
) -> Result<Response<pb::GetSoldProductResponse>, Status> {
    Err(Status::unimplemented("GetSoldProduct is not built yet"))
}

pub(super) async fn update_sold_product(
    _app: &CaseAccessApp,
    _request: Request<pb::UpdateSoldProductRequest>,
) -> Result<Response<pb::UpdateSoldProductResponse>, Status> {
    Err(Status::unimplemented("UpdateSoldProduct is not built yet"))
}

pub(super) async fn delete_sold_product(
    _app: &CaseAccessApp,
    _request: Request<pb::DeleteSoldProductRequest>,
) -> Result<Response<pb::DeleteSoldProductResponse>, Status> {
    Err(Status::unimplemented("DeleteSoldProduct is not built yet"))
}

pub(super) async fn list_sold_products(
    _app: &CaseAccessApp,
    _request: Request<pb::ListSoldProductsRequest>,
) -> Result<Response<pb::ListSoldProductsResponse>, Status> {
    Err(Status::unimplemented("ListSoldProducts is not built yet"))
}

pub(super) async fn create_install_base_item(
    _app: &CaseAccessApp,
    _request: Request<pb::CreateInstallBaseItemRequest>,
) -> Result<Response<pb::CreateInstallBaseItemResponse>, Status> {
    Err(Status::unimplemented("CreateInstallBaseItem is not built yet"))
}

pub(super) async fn get_install_base_item(
    _app: &CaseAccessApp,
    _request: Request<pb::GetInstallBaseItemRequest>,
) -> Result<Response<pb::GetInstallBaseItemResponse>, Status> {
    Err(Status::unimplemented("GetInstallBaseItem is not built yet"))
}

pub(super) async fn update_install_base_item(
    _app: &CaseAccessApp,
    _request: Request<pb::UpdateInstallBaseItemRequest>,
) -> Result<Response<pb::UpdateInstallBaseItemResponse>, Status> {
    Err(Status::unimplemented("UpdateInstallBaseItem is not built yet"))
}

pub(super) async fn delete_install_base_item(
    _app: &CaseAccessApp,
    _request: Request<pb::DeleteInstallBaseItemRequest>,
) -> Result<Response<pb::DeleteInstallBaseItemResponse>, Status> {
    Err(Status::unimplemented("DeleteInstallBaseItem is not built yet"))
}

pub(super) async fn list_install_base_items(
    _app: &CaseAccessApp,
    _request: Request<pb::ListInstallBaseItemsRequest>,
) -> Result<Response<pb::ListInstallBaseItemsResponse>, Status> {
    Err(Status::unimplemented("ListInstallBaseItems is not built yet"))
}
