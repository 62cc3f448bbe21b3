//! The request edge: every request body is checked against its message's
//! descriptor before any handler runs, the same way on every service and
//! backend.
//!
//! - A body that is not a valid encoding of the RPC's request message is
//!   INVALID_ARGUMENT `MALFORMED_REQUEST` (tonic would answer INTERNAL).
//! - A string field holding a NUL or another control character (tab, line
//!   feed and carriage return aside) is INVALID_ARGUMENT naming the field:
//!   PostgreSQL cannot store NUL, SQLite can, and the answer must not depend
//!   on the backend.
//! - A string field longer than its bound is INVALID_ARGUMENT naming the
//!   field: ids and tokens ([`ID_MAX_CHARS`]), any other text
//!   ([`TEXT_MAX_CHARS`]). Handlers keep their own, tighter rules (a name's
//!   200 characters, a UUID's shape).
//!
//! The check walks the protobuf wire format with the descriptor (no message
//! is built), so it costs one pass over the bytes.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use csm_errors::{CsmError, FieldErrors};
use http::{Request, Response};
use http_body_util::BodyExt as _;
use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use tower::{Layer, Service};

/// Longest id, token or key a request may carry (fields named `*_id`, `*_ids`, `*_token`).
pub const ID_MAX_CHARS: usize = 256;
/// Longest text any other string field may carry.
pub const TEXT_MAX_CHARS: usize = 65_536;
/// Deepest nesting of messages followed.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone)]
struct FieldInfo {
    name: String,
    kind: Type,
    repeated: bool,
    /// For messages and enums: the full type name (without the leading dot).
    message: Option<String>,
}

/// The request messages of every CSM RPC and the fields of every message.
#[derive(Debug, Default)]
pub struct Descriptors {
    inputs: HashMap<String, String>,
    messages: HashMap<String, HashMap<u32, FieldInfo>>,
    /// The declared values of every enum.
    enums: HashMap<String, Vec<i32>>,
}

impl Descriptors {
    /// The suite's contracts (parsed once).
    pub fn suite() -> &'static Descriptors {
        static DESCRIPTORS: OnceLock<Descriptors> = OnceLock::new();
        DESCRIPTORS.get_or_init(|| Descriptors::from_encoded(csm_proto::FILE_DESCRIPTOR_SET))
    }

    fn from_encoded(encoded: &[u8]) -> Descriptors {
        let set = prost_types::FileDescriptorSet::decode(encoded).expect("the compiled descriptor set decodes");
        let mut descriptors = Descriptors::default();
        for file in &set.file {
            let package = file.package();
            for message in &file.message_type {
                descriptors.add_message(package, message);
            }
            for enumeration in &file.enum_type {
                descriptors.add_enum(package, enumeration);
            }
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{package}.{}/{}", service.name(), method.name());
                    descriptors.inputs.insert(path, method.input_type().trim_start_matches('.').to_owned());
                }
            }
        }
        descriptors
    }

    fn add_message(&mut self, scope: &str, message: &prost_types::DescriptorProto) {
        let full = if scope.is_empty() { message.name().to_owned() } else { format!("{scope}.{}", message.name()) };
        let fields = message
            .field
            .iter()
            .map(|field| {
                let info = FieldInfo {
                    name: field.name().to_owned(),
                    kind: field.r#type(),
                    repeated: field.label() == Label::Repeated,
                    message: matches!(field.r#type(), Type::Message | Type::Enum)
                        .then(|| field.type_name().trim_start_matches('.').to_owned()),
                };
                (u32::try_from(field.number()).unwrap_or_default(), info)
            })
            .collect();
        for nested in &message.nested_type {
            self.add_message(&full, nested);
        }
        for enumeration in &message.enum_type {
            self.add_enum(&full, enumeration);
        }
        self.messages.insert(full, fields);
    }

    fn add_enum(&mut self, scope: &str, enumeration: &prost_types::EnumDescriptorProto) {
        let full = format!("{scope}.{}", enumeration.name());
        self.enums.insert(full, enumeration.value.iter().map(|value| value.number()).collect());
    }

    /// Whether `value` is declared by the enum `field` holds (unknown enums pass).
    fn enum_allows(&self, field: &FieldInfo, value: u64) -> bool {
        let Some(values) = field.message.as_deref().and_then(|name| self.enums.get(name)) else { return true };
        // An int32 enum value is sign-extended on the wire.
        let value = value as i64;
        i32::try_from(value).is_ok_and(|value| values.contains(&value))
    }

    /// Whether `message` (a request) takes a page token.
    pub fn is_paged(&self, message: &str) -> bool {
        self.messages.get(message).is_some_and(|fields| fields.values().any(|field| field.name == "page_token"))
    }

    /// The request message of an RPC path (`/csm.identity.v1.IdentityService/GetLogin`).
    pub fn input_of(&self, path: &str) -> Option<&str> {
        self.inputs.get(path).map(String::as_str)
    }

    /// Checks `body` (one encoded `message`): `Err` when it is not a valid
    /// encoding; otherwise the violations found (empty when fine).
    pub fn check(&self, message: &str, body: &[u8]) -> Result<FieldErrors, Malformed> {
        let mut errors = FieldErrors::new();
        self.walk(message, body, Path::Root, 0, &mut errors)?;
        Ok(errors)
    }

    fn walk(
        &self,
        message: &str,
        mut buf: &[u8],
        prefix: Path<'_>,
        depth: usize,
        errors: &mut FieldErrors,
    ) -> Result<(), Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed("messages nested too deeply"));
        }
        // Well-known types (Timestamp, FieldMask …) are not in the index: skipped like unknown fields.
        let fields = self.messages.get(message);
        // The next index of each repeated field seen (a message has few).
        let mut repeated_index: Vec<(u32, usize)> = Vec::new();
        while !buf.is_empty() {
            let key = varint(&mut buf)?;
            let number = u32::try_from(key >> 3).map_err(|_| Malformed("field number out of range"))?;
            let wire = key & 7;
            if number == 0 {
                return Err(Malformed("field number 0"));
            }
            let field = fields.and_then(|fields| fields.get(&number));
            match wire {
                0 => {
                    let value = varint(&mut buf)?;
                    expect_wire(field, &[WireKind::Varint])?;
                    if let Some(field) = field.filter(|field| field.kind == Type::Enum)
                        && !self.enum_allows(field, value)
                    {
                        errors.add(
                            prefix.field(&field.name, None).to_string(),
                            format!("is not a value of {}", field.message.as_deref().unwrap_or("its enum")),
                        );
                    }
                }
                1 => {
                    take(&mut buf, 8)?;
                    expect_wire(field, &[WireKind::Fixed64])?;
                }
                5 => {
                    take(&mut buf, 4)?;
                    expect_wire(field, &[WireKind::Fixed32])?;
                }
                2 => {
                    let length = usize::try_from(varint(&mut buf)?).map_err(|_| Malformed("length out of range"))?;
                    let bytes = take(&mut buf, length)?;
                    let Some(field) = field else { continue };
                    let index = field.repeated.then(|| next_index(&mut repeated_index, number));
                    let path = prefix.field(&field.name, index);
                    match field.kind {
                        Type::String => {
                            let text = std::str::from_utf8(bytes).map_err(|_| Malformed("a string is not UTF-8"))?;
                            check_text(&field.name, path, text, errors);
                        }
                        Type::Message => {
                            let nested = field.message.as_deref().unwrap_or_default();
                            self.walk(nested, bytes, path, depth + 1, errors)?;
                        }
                        Type::Bytes => {}
                        // Packed repeated enums: every value must be declared.
                        Type::Enum if field.repeated => {
                            let mut packed = bytes;
                            let mut position = 0usize;
                            while !packed.is_empty() {
                                let value = varint(&mut packed)?;
                                if !self.enum_allows(field, value) {
                                    errors.add(
                                        prefix.field(&field.name, Some(position)).to_string(),
                                        format!("is not a value of {}", field.message.as_deref().unwrap_or("its enum")),
                                    );
                                    break;
                                }
                                position += 1;
                            }
                        }
                        // Packed repeated scalars: a run of varints or fixed values.
                        _ if field.repeated => {}
                        _ => return Err(Malformed("a length-delimited value for a scalar field")),
                    }
                }
                _ => return Err(Malformed("an unsupported wire type")),
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum WireKind {
    Varint,
    Fixed64,
    Fixed32,
}

fn expect_wire(field: Option<&FieldInfo>, allowed: &[WireKind]) -> Result<(), Malformed> {
    let Some(field) = field else { return Ok(()) };
    let kind = match field.kind {
        Type::Double | Type::Fixed64 | Type::Sfixed64 => WireKind::Fixed64,
        Type::Float | Type::Fixed32 | Type::Sfixed32 => WireKind::Fixed32,
        Type::String | Type::Bytes | Type::Message | Type::Group => {
            return Err(Malformed("a scalar value for a length-delimited field"));
        }
        _ => WireKind::Varint,
    };
    if allowed.iter().any(|wire| std::mem::discriminant(wire) == std::mem::discriminant(&kind)) {
        Ok(())
    } else {
        Err(Malformed("a value of the wrong wire type"))
    }
}

/// Where a value sits in a request (`items[2].target.case_id`), written out
/// only for a violation: a valid request builds no path string.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field { parent: &'a Path<'a>, name: &'a str, index: Option<usize> },
}

impl<'a> Path<'a> {
    fn field(&'a self, name: &'a str, index: Option<usize>) -> Path<'a> {
        Path::Field { parent: self, name, index }
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Path::Field { parent, name, index } = self else { return Ok(()) };
        if let Path::Field { .. } = parent {
            write!(f, "{parent}.")?;
        }
        f.write_str(name)?;
        match index {
            Some(index) => write!(f, "[{index}]"),
            None => Ok(()),
        }
    }
}

/// The index the next value of repeated field `number` gets.
fn next_index(seen: &mut Vec<(u32, usize)>, number: u32) -> usize {
    match seen.iter_mut().find(|(field, _)| *field == number) {
        Some((_, next)) => {
            *next += 1;
            *next - 1
        }
        None => {
            seen.push((number, 1));
            0
        }
    }
}

fn check_text(name: &str, path: Path<'_>, text: &str, errors: &mut FieldErrors) {
    if let Some(bad) = text.chars().find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
        errors.add(path.to_string(), format!("must not contain control characters (found U+{:04X})", u32::from(bad)));
        return;
    }
    let is_id = name.ends_with("_id") || name.ends_with("_ids") || name.ends_with("_token") || name == "kid";
    let max = if is_id { ID_MAX_CHARS } else { TEXT_MAX_CHARS };
    // Bytes first: a cheap bound, characters only when it could matter.
    if text.len() > max && text.chars().count() > max {
        errors.add(path.to_string(), format!("is too long ({} characters; at most {max})", text.chars().count()));
    }
}

/// Why a body is not a valid encoding of its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed(&'static str);

fn varint(buf: &mut &[u8]) -> Result<u64, Malformed> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let (&byte, rest) = buf.split_first().ok_or(Malformed("a truncated varint"))?;
        *buf = rest;
        if shift == 63 && byte > 1 {
            return Err(Malformed("a varint out of range"));
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Malformed("a varint longer than 10 bytes"))
}

fn take<'a>(buf: &mut &'a [u8], length: usize) -> Result<&'a [u8], Malformed> {
    if buf.len() < length {
        return Err(Malformed("a truncated value"));
    }
    let (value, rest) = buf.split_at(length);
    *buf = rest;
    Ok(value)
}

/// The [`Edge`] of every service.
#[derive(Clone)]
pub struct EdgeLayer {
    descriptors: &'static Descriptors,
    /// Keys the page-token bindings: the same on every replica of a service.
    page_secret: [u8; 32],
}

impl EdgeLayer {
    /// `page_secret`: the service's secret for page tokens (replicas share it).
    pub fn new(page_secret: [u8; 32]) -> Self {
        Self { descriptors: Descriptors::suite(), page_secret }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Edge { inner, descriptors: self.descriptors, page_secret: self.page_secret }
    }
}

#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    descriptors: &'static Descriptors,
    page_secret: [u8; 32],
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The answer to a refused request.
fn refuse<B: Default>(error: CsmError) -> Response<B> {
    error.to_status().into_http::<B>()
}

impl<S, ResBody> Service<Request<tonic::body::Body>> for Edge<S>
where
    S: Service<Request<tonic::body::Body>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<tonic::body::Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(message) = self.descriptors.input_of(request.uri().path()).map(str::to_owned) else {
            // Health, reflection (a stream) and unknown paths: not ours to check.
            return Box::pin(inner.call(request));
        };
        let descriptors = self.descriptors;
        let page_secret = self.page_secret;
        // Only lists take page tokens: the rest skip the binding.
        let paged = descriptors.is_paged(&message);
        let scope = paged.then(|| {
            request
                .extensions()
                .get::<csm_auth::Caller>()
                .map_or_else(|| "anonymous".to_owned(), csm_auth::Caller::request_scope)
        });
        let path = request.uri().path().to_owned();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes: Bytes = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => {
                    return Ok(refuse(
                        CsmError::invalid_argument("MALFORMED_REQUEST", "the request body could not be read")
                            .with_field("request", "the body could not be read"),
                    ));
                }
            };
            if let Err(error) = check_frame(descriptors, &message, &bytes) {
                return Ok(refuse(error));
            }
            let binding = scope.map(|scope| page_binding(descriptors, &page_secret, &scope, &path, &message, &bytes));
            let request = Request::from_parts(parts, tonic::body::Body::new(http_body_util::Full::new(bytes)));
            match binding {
                Some(binding) => csm_db::paging::bound(binding, inner.call(request)).await,
                None => inner.call(request).await,
            }
        })
    }
}

/// What a page token of this call is bound to: the service's secret, the
/// caller, the RPC and every top-level field but `page_token` and
/// `page_size` (in field-number order, so an encoder's field order does not matter).
fn page_binding(
    descriptors: &Descriptors,
    secret: &[u8; 32],
    scope: &str,
    path: &str,
    message: &str,
    frame: &[u8],
) -> [u8; 32] {
    use sha2::{Digest as _, Sha256};
    let page_fields: Vec<u32> = descriptors
        .messages
        .get(message)
        .map(|fields| {
            fields
                .iter()
                .filter(|(_, field)| matches!(field.name.as_str(), "page_token" | "page_size"))
                .map(|(number, _)| *number)
                .collect()
        })
        .unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(secret);
    hasher.update(scope.as_bytes());
    hasher.update([0]);
    hasher.update(path.as_bytes());
    hasher.update([0]);
    if frame.len() >= 5 && frame[0] == 0 {
        let mut fields = top_level_fields(&frame[5..]);
        fields.retain(|(number, _)| !page_fields.contains(number));
        fields.sort_by_key(|(number, _)| *number);
        for (_, bytes) in fields {
            hasher.update(bytes);
        }
    }
    hasher.finalize().into()
}

/// The top-level fields of an (already checked) message: number and encoded bytes.
fn top_level_fields(mut buf: &[u8]) -> Vec<(u32, &[u8])> {
    let mut fields = Vec::new();
    while !buf.is_empty() {
        let start = buf;
        let Ok(key) = varint(&mut buf) else { break };
        let number = (key >> 3) as u32;
        let skipped = match key & 7 {
            0 => varint(&mut buf).map(|_| ()),
            1 => take(&mut buf, 8).map(|_| ()),
            5 => take(&mut buf, 4).map(|_| ()),
            2 => varint(&mut buf).and_then(|length| take(&mut buf, length as usize).map(|_| ())),
            _ => Err(Malformed("an unsupported wire type")),
        };
        if skipped.is_err() {
            break;
        }
        fields.push((number, &start[..start.len() - buf.len()]));
    }
    fields
}

/// Checks one gRPC frame (flag, length, message) of `message`.
fn check_frame(descriptors: &Descriptors, message: &str, frame: &[u8]) -> Result<(), CsmError> {
    let malformed = |why: &str| {
        CsmError::invalid_argument("MALFORMED_REQUEST", format!("the request is not a valid {message}: {why}"))
            .with_field("request", format!("is not a valid {message}: {why}"))
    };
    if frame.is_empty() {
        // No message at all: tonic answers that itself (not a decode error).
        return Ok(());
    }
    if frame.len() < 5 {
        return Err(malformed("a truncated gRPC frame"));
    }
    if frame[0] != 0 {
        // Compressed: tonic decides (and refuses compression it was not configured for).
        return Ok(());
    }
    let length = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    if frame.len() != 5 + length {
        return Err(malformed("the gRPC frame length does not match its body"));
    }
    let errors = descriptors.check(message, &frame[5..]).map_err(|Malformed(why)| malformed(why))?;
    errors.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use csm_proto::identity as pb;

    fn frame(message: &impl prost::Message) -> Vec<u8> {
        let body = message.encode_to_vec();
        let mut frame = vec![0u8];
        frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
        frame.extend_from_slice(&body);
        frame
    }

    fn fields(error: &CsmError) -> Vec<String> {
        error.field_errors().iter().map(|error| error.field.clone()).collect()
    }

    #[test]
    fn every_rpc_has_its_request_message() {
        let descriptors = Descriptors::suite();
        assert_eq!(
            descriptors.input_of("/csm.identity.v1.IdentityService/CreateAccount"),
            Some("csm.identity.v1.CreateAccountRequest")
        );
        assert!(descriptors.inputs.len() > 200);
    }

    #[test]
    fn nul_and_control_characters_are_refused_with_the_field_path() {
        let descriptors = Descriptors::suite();
        let request = pb::CreateAccountRequest { name: "Acme\0".into(), ..Default::default() };
        let error = check_frame(descriptors, "csm.identity.v1.CreateAccountRequest", &frame(&request)).unwrap_err();
        assert_eq!(error.reason(), "INVALID_ARGUMENT");
        assert_eq!(fields(&error), vec!["name"]);
        let nested = pb::UpdateProfileRequest {
            profile: Some(pb::Profile { display_name: "bell\u{7}".into(), ..Default::default() }),
            ..Default::default()
        };
        let error = check_frame(descriptors, "csm.identity.v1.UpdateProfileRequest", &frame(&nested)).unwrap_err();
        assert_eq!(fields(&error), vec!["profile.display_name"]);
        // In a repeated message: the item's index, then the path within it.
        use csm_proto::case_access as ca;
        let item = |case_id: &str| ca::BatchCheckItem {
            target: Some(ca::Target { resource: Some(ca::target::Resource::CaseId(case_id.into())) }),
            action: ca::Action::Read as i32,
        };
        let batch = ca::BatchCheckRequest { items: vec![item("a"), item("b\0"), item("c\u{1}")], ..Default::default() };
        let error = check_frame(descriptors, "csm.case_access.v1.BatchCheckRequest", &frame(&batch)).unwrap_err();
        assert_eq!(fields(&error), vec!["items[1].target.case_id", "items[2].target.case_id"]);
        let fine = pb::CreateAccountRequest { name: "Line\nbreaks\tand tabs".into(), ..Default::default() };
        assert!(check_frame(descriptors, "csm.identity.v1.CreateAccountRequest", &frame(&fine)).is_ok());
    }

    #[test]
    fn undeclared_enum_values_are_refused_with_the_field() {
        let descriptors = Descriptors::suite();
        let request = pb::CreateAccountRequest { name: "Acme".into(), kind: 9999, ..Default::default() };
        let error = check_frame(descriptors, "csm.identity.v1.CreateAccountRequest", &frame(&request)).unwrap_err();
        assert_eq!(fields(&error), vec!["kind"]);
        let negative = pb::CreateAccountRequest { name: "Acme".into(), kind: -1, ..Default::default() };
        assert!(check_frame(descriptors, "csm.identity.v1.CreateAccountRequest", &frame(&negative)).is_err());
        let declared = pb::CreateAccountRequest { name: "Acme".into(), kind: 1, ..Default::default() };
        assert!(check_frame(descriptors, "csm.identity.v1.CreateAccountRequest", &frame(&declared)).is_ok());
        let channels = pb::CreateEmployeeRequest { channels: vec![1, 4242], ..Default::default() };
        let error = check_frame(descriptors, "csm.identity.v1.CreateEmployeeRequest", &frame(&channels)).unwrap_err();
        assert_eq!(fields(&error), vec!["channels[1]"]);
    }

    #[test]
    fn oversized_ids_and_text_are_refused() {
        let descriptors = Descriptors::suite();
        let request = pb::GetAccountRequest { account_id: "a".repeat(100_000) };
        let error = check_frame(descriptors, "csm.identity.v1.GetAccountRequest", &frame(&request)).unwrap_err();
        assert_eq!(fields(&error), vec!["account_id"]);
        assert!(error.to_status().details().len() < 2048);
        let request = pb::BatchGetProfilesRequest { profile_ids: vec!["ok".into(), "b".repeat(300)] };
        let error = check_frame(descriptors, "csm.identity.v1.BatchGetProfilesRequest", &frame(&request)).unwrap_err();
        assert_eq!(fields(&error), vec!["profile_ids[1]"]);
    }

    #[test]
    fn undecodable_bodies_are_malformed_requests() {
        let descriptors = Descriptors::suite();
        let message = "csm.identity.v1.CreateAccountRequest";
        for body in [vec![0xff, 0xff, 0xff], vec![0x12, 0x05, b'a'], vec![0x10, 0x02, 0x03], vec![0x0b]] {
            let mut frame = vec![0u8];
            frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
            frame.extend_from_slice(&body);
            let error = check_frame(descriptors, message, &frame).unwrap_err();
            assert_eq!(error.reason(), "MALFORMED_REQUEST", "{body:?}");
            assert_eq!(fields(&error), vec!["request"]);
        }
        // A string field that is not UTF-8.
        let body = vec![0x12, 0x02, 0xc3, 0x28];
        let mut frame = vec![0u8, 0, 0, 0, 4];
        frame.extend_from_slice(&body);
        assert_eq!(check_frame(descriptors, message, &frame).unwrap_err().reason(), "MALFORMED_REQUEST");
    }
}
