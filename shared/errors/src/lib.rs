//! Errors of the CSM Access Suite.
//!
//! Every failure a client can see is a [`CsmError`]: one of a closed set of
//! [`ErrorCode`]s, a stable machine-readable `reason` (sent as
//! `google.rpc.ErrorInfo.reason`), a human message, and for invalid input the
//! offending fields (sent as `google.rpc.BadRequest` field violations).
//! Internal failures are logged with their cause and reach the client only as
//! an opaque INTERNAL with a correlation id — never with internal text.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt};

/// Longest status message sent (characters).
pub const MAX_MESSAGE_CHARS: usize = 240;
/// Longest violation description sent (characters).
pub const MAX_DETAIL_CHARS: usize = 120;
/// Longest metadata value sent (characters): metadata carries data clients
/// read (collision paths, ids), so it is cut later than prose.
pub const MAX_METADATA_CHARS: usize = 512;
/// Most field violations sent in one BadRequest.
pub const MAX_VIOLATIONS: usize = 5;

/// `text` cut to `max` characters (with "…" when cut).
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((index, _)) => format!("{}…", &text[..index]),
        None => text.to_owned(),
    }
}

/// A short quotation of a client's value for an error message: its first
/// 32 characters, debug-quoted, and its length when longer.
pub fn quote(value: &str) -> String {
    let count = value.chars().count();
    if count <= 32 {
        format!("{value:?}")
    } else {
        let prefix: String = value.chars().take(32).collect();
        format!("{prefix:?}… ({count} characters)")
    }
}

/// The `ErrorInfo.domain` of every error the suite returns.
pub const ERROR_DOMAIN: &str = "csm.access-suite";

/// The closed set of error codes. Each maps to exactly one gRPC code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    PermissionDenied,
    Unauthenticated,
    ResourceExhausted,
    Aborted,
    Unavailable,
    DeadlineExceeded,
    Unimplemented,
    Internal,
}

impl ErrorCode {
    pub const fn grpc_code(self) -> Code {
        match self {
            ErrorCode::InvalidArgument => Code::InvalidArgument,
            ErrorCode::NotFound => Code::NotFound,
            ErrorCode::AlreadyExists => Code::AlreadyExists,
            ErrorCode::FailedPrecondition => Code::FailedPrecondition,
            ErrorCode::PermissionDenied => Code::PermissionDenied,
            ErrorCode::Unauthenticated => Code::Unauthenticated,
            ErrorCode::ResourceExhausted => Code::ResourceExhausted,
            ErrorCode::Aborted => Code::Aborted,
            ErrorCode::Unavailable => Code::Unavailable,
            ErrorCode::DeadlineExceeded => Code::DeadlineExceeded,
            ErrorCode::Unimplemented => Code::Unimplemented,
            ErrorCode::Internal => Code::Internal,
        }
    }

    /// The default `ErrorInfo.reason` when a more specific one is not given.
    pub const fn default_reason(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::AlreadyExists => "ALREADY_EXISTS",
            ErrorCode::FailedPrecondition => "FAILED_PRECONDITION",
            ErrorCode::PermissionDenied => "PERMISSION_DENIED",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            ErrorCode::Aborted => "ABORTED",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
            ErrorCode::Unimplemented => "UNIMPLEMENTED",
            ErrorCode::Internal => "INTERNAL",
        }
    }
}

/// One invalid field of a request: `field` is the proto field path
/// (e.g. `account.parent_account_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub description: String,
}

/// An error a client can see. Construct it with the named constructors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsmError {
    code: ErrorCode,
    reason: Cow<'static, str>,
    message: String,
    field_errors: Vec<FieldError>,
    metadata: BTreeMap<String, String>,
    /// When to try again (`google.rpc.RetryInfo`), for refusals that pass.
    retry_after: Option<std::time::Duration>,
}

pub type CsmResult<T> = Result<T, CsmError>;

impl CsmError {
    pub fn new(code: ErrorCode, reason: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            message: message.into(),
            field_errors: Vec::new(),
            metadata: BTreeMap::new(),
            retry_after: None,
        }
    }

    /// Adds a field violation (sent in `BadRequest`) to an error of any reason.
    pub fn with_field(mut self, field: impl Into<String>, description: impl Into<String>) -> Self {
        self.field_errors.push(FieldError { field: field.into(), description: description.into() });
        self
    }

    /// Tells the client when trying again may succeed (`google.rpc.RetryInfo`).
    pub fn with_retry_after(mut self, delay: std::time::Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }

    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }

    /// One invalid field (INVALID_ARGUMENT with a BadRequest field violation).
    pub fn invalid_field(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldErrors::single(field, description)
    }

    /// A rule on the request as a whole is violated (INVALID_ARGUMENT, specific reason).
    pub fn invalid_argument(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, reason, message)
    }

    /// The entity `kind` with `id` does not exist (reason `<KIND>_NOT_FOUND`,
    /// e.g. `ACCOUNT_NOT_FOUND`).
    pub fn not_found(kind: &'static str, id: impl fmt::Display) -> Self {
        let id = id.to_string();
        let reason = format!("{}_NOT_FOUND", kind.to_ascii_uppercase().replace([' ', '-'], "_"));
        Self::new(ErrorCode::NotFound, reason, format!("{kind} {id} not found"))
            .with_metadata("kind", kind)
            .with_metadata("id", id)
    }

    pub fn already_exists(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::AlreadyExists, reason, message)
    }

    pub fn failed_precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::FailedPrecondition, reason, message)
    }

    pub fn permission_denied(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PermissionDenied, reason, message)
    }

    pub fn unauthenticated(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, reason, message)
    }

    pub fn resource_exhausted(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceExhausted, reason, message)
    }

    pub fn aborted(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Aborted, reason, message)
    }

    pub fn unavailable(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, reason, message)
    }

    /// The RPC exists in the contract but is not built yet.
    pub fn unimplemented(rpc: &str) -> Self {
        Self::new(ErrorCode::Unimplemented, "NOT_IMPLEMENTED", format!("{rpc} is not implemented yet"))
    }

    /// An unexpected failure. The cause is logged here with a correlation id;
    /// the client sees only the correlation id.
    pub fn internal(cause: impl fmt::Display) -> Self {
        let correlation_id = uuid_like_correlation_id();
        tracing::error!(%correlation_id, error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "INTERNAL", format!("internal error (correlation id {correlation_id})"))
            .with_metadata("correlation_id", correlation_id)
    }

    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn field_errors(&self) -> &[FieldError] {
        &self.field_errors
    }

    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The gRPC status with `ErrorInfo` (always) and `BadRequest` (when fields
    /// are invalid). Small whatever the input: the message, each violation and
    /// each metadata value are cut to a bounded length and at most
    /// [`MAX_VIOLATIONS`] violations are sent, so an error never echoes a huge
    /// value back (its details stay well under 2 KiB).
    pub fn to_status(&self) -> Status {
        let metadata = self
            .metadata
            .iter()
            .map(|(key, value)| (cut(key, 64), cut(value, MAX_METADATA_CHARS)))
            .collect::<std::collections::HashMap<_, _>>();
        let mut details = ErrorDetails::with_error_info(self.reason.clone(), ERROR_DOMAIN, metadata);
        if self.field_errors.is_empty() && self.code == ErrorCode::InvalidArgument {
            // Every INVALID_ARGUMENT names a field: the one the error's
            // metadata names, else the request as a whole.
            let field = self.metadata.get("field").map_or("request", String::as_str);
            details.set_bad_request(vec![FieldViolation::new(cut(field, 64), cut(&self.message, MAX_DETAIL_CHARS))]);
        }
        if !self.field_errors.is_empty() {
            let mut violations: Vec<FieldViolation> = self
                .field_errors
                .iter()
                .take(MAX_VIOLATIONS)
                .map(|error| FieldViolation::new(cut(&error.field, 64), cut(&error.description, MAX_DETAIL_CHARS)))
                .collect();
            if self.field_errors.len() > MAX_VIOLATIONS
                && let Some(last) = violations.last_mut()
            {
                last.description.push_str(&format!(" (and {} more)", self.field_errors.len() - MAX_VIOLATIONS));
            }
            details.set_bad_request(violations);
        }
        if let Some(delay) = self.retry_after {
            details.set_retry_info(Some(delay));
        }
        Status::with_error_details(self.code.grpc_code(), cut(&self.message, MAX_MESSAGE_CHARS), details)
    }
}

impl fmt::Display for CsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}/{}: {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for CsmError {}

/// One id field checked on its own: INVALID_ARGUMENT naming `field` when it
/// is empty or malformed.
pub fn required_id<T>(
    field: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, csm_types::InvalidId>,
) -> CsmResult<T> {
    let mut errors = FieldErrors::new();
    let id = errors.required_id(field, value, parse);
    errors.finish()?;
    validated(id)
}

/// A value the request's checks produced: after [`FieldErrors::finish`]
/// succeeded every checked field is `Some`, so `None` is a bug (INTERNAL).
/// The parse-at-the-edge idiom: collect with [`FieldErrors`], `finish()?`,
/// then take each value with `validated(x)?`.
pub fn validated<T>(value: Option<T>) -> CsmResult<T> {
    value.ok_or_else(|| CsmError::internal("validated fields missing"))
}

/// The paths of an update mask, each checked against `updatable`: a missing
/// or empty mask names `update_mask`; a path that cannot be updated is reason
/// FIELD_NOT_UPDATABLE, naming `update_mask` and the path.
pub fn update_paths(mask: Option<&prost_types::FieldMask>, updatable: &[&str]) -> CsmResult<Vec<String>> {
    let mut errors = FieldErrors::new();
    let paths = errors.update_paths(mask, updatable);
    match errors.finish() {
        Ok(()) => Ok(paths),
        Err(error) => match paths.into_iter().find(|path| !updatable.contains(&path.as_str())) {
            Some(path) => Err(error.with_metadata("path", path)),
            None => Err(error),
        },
    }
}

impl From<CsmError> for Status {
    fn from(error: CsmError) -> Self {
        error.to_status()
    }
}

impl From<csm_types::InvalidId> for CsmError {
    fn from(error: csm_types::InvalidId) -> Self {
        CsmError::invalid_field(error.kind, format!("must be a UUID, got {}", quote(&error.value)))
    }
}

/// Longest accepted idempotency key.
pub const REQUEST_ID_MAX_LEN: usize = 128;

/// Collects every invalid field of a request, so one response names them all.
#[derive(Debug, Default)]
pub struct FieldErrors {
    errors: Vec<FieldError>,
    /// A more precise reason than INVALID_ARGUMENT, kept when it explains every error.
    reason: Option<&'static str>,
}

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    fn single(field: impl Into<String>, description: impl Into<String>) -> CsmError {
        let mut errors = Self::new();
        errors.add(field, description);
        errors.into_error()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.errors.push(FieldError { field: field.into(), description: description.into() });
    }

    /// Records the error of `result` (if any) under `field` and returns the value.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error.to_string());
                None
            }
        }
    }

    /// Parses a required id field; an empty value is "required", a malformed one "must be a UUID".
    pub fn required_id<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, csm_types::InvalidId>,
    ) -> Option<T> {
        if value.trim().is_empty() {
            self.add(field, "is required");
            return None;
        }
        match parse(value) {
            Ok(id) => Some(id),
            Err(_) => {
                self.add(field, format!("must be a UUID, got {}", quote(value)));
                None
            }
        }
    }

    /// Parses an optional id field; empty means absent.
    pub fn optional_id<T>(
        &mut self,
        field: &str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, csm_types::InvalidId>,
    ) -> Option<T> {
        if value.trim().is_empty() {
            return None;
        }
        self.required_id(field, value, parse)
    }

    /// A required, non-blank string of at most `max_len` characters.
    pub fn required_text(&mut self, field: &str, value: &str, max_len: usize) -> Option<String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.add(field, "is required");
            return None;
        }
        if trimmed.chars().count() > max_len {
            self.add(field, format!("must be at most {max_len} characters"));
            return None;
        }
        Some(trimmed.to_owned())
    }

    /// Text of at most `max_len` characters (trimmed); may be empty.
    pub fn optional_text(&mut self, field: &str, value: &str, max_len: usize) -> String {
        let trimmed = value.trim();
        if trimmed.chars().count() > max_len {
            self.add(field, format!("must be at most {max_len} characters"));
        }
        trimmed.to_owned()
    }

    /// A row id (UUID) of the service's own tables: empty is "is required".
    pub fn required_uuid(&mut self, field: &str, value: &str) -> Option<uuid::Uuid> {
        if value.trim().is_empty() {
            self.add(field, "is required");
            return None;
        }
        match uuid::Uuid::parse_str(value.trim()) {
            Ok(id) => Some(id),
            Err(_) => {
                self.add(field, format!("must be a UUID, got {}", quote(value)));
                None
            }
        }
    }

    /// An optional row id (UUID); empty means absent.
    pub fn optional_uuid(&mut self, field: &str, value: &str) -> Option<uuid::Uuid> {
        if value.trim().is_empty() { None } else { self.required_uuid(field, value) }
    }

    /// A client's idempotency key (`request_id`): empty means none; at most
    /// [`REQUEST_ID_MAX_LEN`] characters.
    pub fn optional_request_id(&mut self, value: &str) -> Option<String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return None;
        }
        if trimmed.chars().count() > REQUEST_ID_MAX_LEN {
            self.add("request_id", format!("must be at most {REQUEST_ID_MAX_LEN} characters"));
            return None;
        }
        Some(trimmed.to_owned())
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(())` when no field was invalid, else INVALID_ARGUMENT naming every field.
    pub fn finish(self) -> CsmResult<()> {
        if self.errors.is_empty() { Ok(()) } else { Err(self.into_error()) }
    }

    /// Adds a violation with its own reason (e.g. `INVALID_PAGE_TOKEN`): the
    /// error carries that reason when it is the only violation.
    pub fn add_with_reason(&mut self, reason: &'static str, field: impl Into<String>, description: impl Into<String>) {
        self.reason = Some(reason);
        self.add(field, description);
    }

    /// The paths of an update mask, checked against `updatable` and collected
    /// with the request's other violations: a missing or empty mask names
    /// `update_mask`; each path that cannot be updated is reason
    /// FIELD_NOT_UPDATABLE on `update_mask`. Every path is returned (the
    /// refused ones too: the caller finishes before it uses them).
    pub fn update_paths(&mut self, mask: Option<&prost_types::FieldMask>, updatable: &[&str]) -> Vec<String> {
        let paths: Vec<String> = mask.map(|mask| mask.paths.clone()).unwrap_or_default();
        if paths.is_empty() {
            self.add("update_mask", "must name at least one path");
        }
        for path in paths.iter().filter(|path| !updatable.contains(&path.as_str())) {
            self.add_with_reason(
                "FIELD_NOT_UPDATABLE",
                "update_mask",
                format!("{} cannot be updated; updatable paths: {}", quote(path), updatable.join(", ")),
            );
        }
        paths
    }

    /// Takes over the violations (and reason) of `error`.
    pub fn absorb(&mut self, error: CsmError) {
        if error.field_errors.is_empty() {
            self.add("request", error.message);
            return;
        }
        if error.reason != "INVALID_ARGUMENT"
            && let std::borrow::Cow::Borrowed(reason) = error.reason
        {
            self.reason = Some(reason);
        }
        self.errors.extend(error.field_errors);
    }

    fn into_error(self) -> CsmError {
        let reason = match (self.reason, self.errors.len()) {
            (Some(reason), 1) => reason,
            _ => "INVALID_ARGUMENT",
        };
        let summary = self
            .errors
            .iter()
            .map(|error| format!("{}: {}", error.field, error.description))
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = CsmError::new(ErrorCode::InvalidArgument, reason, summary);
        error.field_errors = self.errors;
        error
    }
}

fn uuid_like_correlation_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos =
        SystemTime::now().duration_since(UNIX_EPOCH).map(|elapsed| elapsed.as_nanos() as u64).unwrap_or_default();
    format!("{:016x}-{:04x}", nanos, COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff)
}

/// The `ErrorInfo.reason` of a status from another service, if it carries one.
pub fn reason_of_status(status: &Status) -> Option<String> {
    status.get_error_details().error_info().map(|info| info.reason.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_become_bad_request_details() {
        let mut errors = FieldErrors::new();
        errors.add("account.name", "is required");
        errors.add("account.parent_account_id", "must be a UUID");
        let status = errors.finish().unwrap_err().to_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad_request = details.bad_request().expect("bad request details");
        assert_eq!(bad_request.field_violations.len(), 2);
        assert_eq!(details.error_info().unwrap().reason, "INVALID_ARGUMENT");
    }

    #[test]
    fn reasons_are_carried_in_error_info() {
        let status = CsmError::failed_precondition("ROLE_COLLISION", "snc_internal and snc_external").to_status();
        assert_eq!(status.code(), Code::FailedPrecondition);
        let details = status.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, "ROLE_COLLISION");
        assert_eq!(info.domain, ERROR_DOMAIN);
    }

    #[test]
    fn request_ids_are_optional_trimmed_and_bounded() {
        let mut errors = FieldErrors::new();
        assert_eq!(errors.optional_request_id("  "), None);
        assert_eq!(errors.optional_request_id(" retry-1 "), Some("retry-1".to_owned()));
        assert!(errors.is_empty());
        assert_eq!(errors.optional_request_id(&"x".repeat(REQUEST_ID_MAX_LEN + 1)), None);
        let error = errors.finish().unwrap_err();
        assert_eq!(error.field_errors()[0].field, "request_id");
    }

    #[test]
    fn not_found_names_the_kind_in_its_reason() {
        let error = CsmError::not_found("account", "0191");
        assert_eq!(error.reason(), "ACCOUNT_NOT_FOUND");
        assert_eq!(error.metadata()["id"], "0191");
    }

    #[test]
    fn errors_stay_small_whatever_the_input() {
        let huge = "x".repeat(100_000);
        let mut errors = FieldErrors::new();
        for index in 0..20 {
            errors.add(format!("field_{index}_{huge}"), format!("bad value {huge}"));
        }
        let error = errors.finish().unwrap_err().with_metadata("value", huge.clone());
        let error = CsmError { message: huge.clone(), ..error };
        let status = error.to_status();
        assert!(status.message().chars().count() <= MAX_MESSAGE_CHARS + 1);
        assert!(status.details().len() < 2048, "details: {} bytes", status.details().len());
        assert!(quote(&huge).len() < 64);
        assert_eq!(quote("short"), "\"short\"");
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let status = CsmError::internal("connection refused to 10.0.0.1").to_status();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("10.0.0.1"));
    }
}
