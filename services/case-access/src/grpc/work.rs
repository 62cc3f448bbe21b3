//! work

use csm_proto::case_access as pb;
use tonic::{Request, Response, Status};

use crate::CaseAccessApp;

pub(super) async fn create_case_from_email(
    _app: &CaseAccessApp,
    _request: Request<pb::CreateCaseFromEmailRequest>,
) -> Result<Response<pb::CreateCaseFromEmailResponse>, Status> {
    Err(Status::unimplemented("CreateCaseFromEmail is not built yet"))
}

pub(super) async fn update_case(
    _app: &CaseAccessApp,
    _request: Request<pb::UpdateCaseRequest>,
) -> Result<Response<pb::UpdateCaseResponse>, Status> {
    Err(Status::unimplemented("UpdateCase is not built yet"))
}

pub(super) async fn delete_case(
    _app: &CaseAccessApp,
    _request: Request<pb::DeleteCaseRequest>,
) -> Result<Response<pb::DeleteCaseResponse>, Status> {
    Err(Status::unimplemented("DeleteCase is not built yet"))
}

pub(super) async fn list_my_consumer_cases(
    _app: &CaseAccessApp,
    _request: Request<pb::ListMyConsumerCasesRequest>,
) -> Result<Response<pb::ListMyConsumerCasesResponse>, Status> {
    Err(Status::unimplemented("ListMyConsumerCases is not built yet"))
}

pub(super) async fn add_comment(
    _app: &CaseAccessApp,
    _request: Request<pb::AddCommentRequest>,
) -> Result<Response<pb::AddCommentResponse>, Status> {
    Err(Status::unimplemented("AddComment is not built yet"))
}

pub(super) async fn list_comments(
    _app: &CaseAccessApp,
    _request: Request<pb::ListCommentsRequest>,
) -> Result<Response<pb::ListCommentsResponse>, Status> {
    Err(Status::unimplemented("ListComments is not built yet"))
}

pub(super) async fn add_attachment(
    _app: &CaseAccessApp,
    _request: Request<pb::AddAttachmentRequest>,
) -> Result<Response<pb::AddAttachmentResponse>, Status> {
    Err(Status::unimplemented("AddAttachment is not built yet"))
}

pub(super) async fn list_attachments(
    _app: &CaseAccessApp,
    _request: Request<pb::ListAttachmentsRequest>,
) -> Result<Response<pb::ListAttachmentsResponse>, Status> {
    Err(Status::unimplemented("ListAttachments is not built yet"))
}

pub(super) async fn create_case_task(
    _app: &CaseAccessApp,
    _request: Request<pb::CreateCaseTaskRequest>,
) -> Result<Response<pb::CreateCaseTaskResponse>, Status> {
    Err(Status::unimplemented("CreateCaseTask is not built yet"))
}

pub(super) async fn get_case_task(
    _app: &CaseAccessApp,
    _request: Request<pb::GetCaseTaskRequest>,
) -> Result<Response<pb::GetCaseTaskResponse>, Status> {
    Err(Status::unimplemented("GetCaseTask is not built yet"))
}

pub(super) async fn update_case_task(
    _app: &CaseAccessApp,
    _request: Request<pb::UpdateCaseTaskRequest>,
) -> Result<Response<pb::UpdateCaseTaskResponse>, Status> {
    Err(Status::unimplemented("UpdateCaseTask is not built yet"))
}

pub(super) async fn delete_case_task(
    _app: &CaseAccessApp,
    _request: Request<pb::DeleteCaseTaskRequest>,
) -> Result<Response<pb::DeleteCaseTaskResponse>, Status> {
    Err(Status::unimplemented("DeleteCaseTask is not built yet"))
}

pub(super) async fn list_case_tasks(
    _app: &CaseAccessApp,
    _request: Request<pb::ListCaseTasksRequest>,
) -> Result<Response<pb::ListCaseTasksResponse>, Status> {
    Err(Status::unimplemented("ListCaseTasks is not built yet"))
}
