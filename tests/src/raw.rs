//! Calls to any RPC by its path with raw protobuf bytes, for tests that walk
//! every method of the descriptor set (the authorization matrix test).

use std::collections::BTreeMap;

use bytes::{Buf as _, BufMut as _};
use prost::Message as _;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::{Status, Streaming};

use crate::TestChannel;

/// One RPC of the suite's contracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Method {
    /// `csm.identity.v1.IdentityService`.
    pub service: String,
    pub name: String,
    pub server_streaming: bool,
    /// The top-level fields of its request message.
    pub fields: Vec<Field>,
}

/// A field of a request message, as the wire format sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub number: u32,
    pub kind: FieldKind,
    pub repeated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    String,
    /// int32, int64, uint32, uint64, sint*, bool: a varint.
    Integer,
    Enum,
    Message,
    Other,
}

impl Field {
    /// This field alone, holding `value`, as an encoded message.
    pub fn encode_string(&self, value: &str) -> Vec<u8> {
        let mut out = key(self.number, 2);
        out.extend(varint(value.len() as u64));
        out.extend_from_slice(value.as_bytes());
        out
    }

    pub fn encode_varint(&self, value: u64) -> Vec<u8> {
        let mut out = key(self.number, 0);
        out.extend(varint(value));
        out
    }

    /// A string field numbered `number` (to build nested messages).
    pub fn string(number: u32) -> Field {
        Field { name: String::new(), number, kind: FieldKind::String, repeated: false }
    }

    /// `nested` (an encoded message) in this field.
    pub fn encode_message(&self, nested: &[u8]) -> Vec<u8> {
        let mut out = key(self.number, 2);
        out.extend(varint(nested.len() as u64));
        out.extend_from_slice(nested);
        out
    }

    /// An empty nested message in this field.
    pub fn encode_empty_message(&self) -> Vec<u8> {
        let mut out = key(self.number, 2);
        out.push(0);
        out
    }
}

fn key(number: u32, wire: u64) -> Vec<u8> {
    varint((u64::from(number) << 3) | wire)
}

fn varint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

impl Method {
    /// `csm.identity.v1.IdentityService/CreateAccount`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.service, self.name)
    }
}

/// Every RPC of every `csm.*` service in the descriptor set, by service.
pub fn methods() -> BTreeMap<String, Vec<Method>> {
    use prost_types::field_descriptor_proto::{Label, Type};
    let set = prost_types::FileDescriptorSet::decode(csm_proto::FILE_DESCRIPTOR_SET).expect("the descriptor set");
    let mut messages = BTreeMap::new();
    for file in &set.file {
        for message in &file.message_type {
            let fields: Vec<Field> = message
                .field
                .iter()
                .map(|field| Field {
                    name: field.name().to_owned(),
                    number: u32::try_from(field.number()).unwrap_or_default(),
                    kind: match field.r#type() {
                        Type::String => FieldKind::String,
                        Type::Enum => FieldKind::Enum,
                        Type::Message => FieldKind::Message,
                        Type::Int32
                        | Type::Int64
                        | Type::Uint32
                        | Type::Uint64
                        | Type::Bool
                        | Type::Sint32
                        | Type::Sint64 => FieldKind::Integer,
                        _ => FieldKind::Other,
                    },
                    repeated: field.label() == Label::Repeated,
                })
                .collect();
            messages.insert(format!(".{}.{}", file.package(), message.name()), fields);
        }
    }
    let mut out: BTreeMap<String, Vec<Method>> = BTreeMap::new();
    for file in set.file {
        let package = file.package().to_owned();
        if !package.starts_with("csm.") {
            continue;
        }
        for service in file.service {
            let full = format!("{package}.{}", service.name());
            for method in service.method {
                out.entry(full.clone()).or_default().push(Method {
                    service: full.clone(),
                    name: method.name().to_owned(),
                    server_streaming: method.server_streaming(),
                    fields: messages.get(method.input_type()).cloned().unwrap_or_default(),
                });
            }
        }
    }
    out
}

/// A codec that sends and receives message bytes as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

#[derive(Debug, Clone, Copy, Default)]
pub struct RawCoder;

impl Encoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCoder {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCoder;
    type Decoder = RawCoder;
    fn encoder(&mut self) -> RawCoder {
        RawCoder
    }
    fn decoder(&mut self) -> RawCoder {
        RawCoder
    }
}

/// Calls `method` with `body` (encoded protobuf; empty = the default message)
/// and returns the status it answered with (OK when it succeeded; for a
/// server stream, the status before its first message).
pub async fn call(channel: TestChannel, method: &Method, body: Vec<u8>) -> Status {
    let mut client = tonic::client::Grpc::new(channel);
    if let Err(error) = client.ready().await {
        return Status::unavailable(format!("not ready: {error}"));
    }
    let path: http::uri::PathAndQuery = format!("/{}", method.path()).parse().expect("a path");
    let request = tonic::Request::new(body);
    if method.server_streaming {
        match client.server_streaming(request, path, RawCodec).await {
            Ok(response) => {
                let mut stream: Streaming<Vec<u8>> = response.into_inner();
                // Opened: the first item (or its end) says whether it was refused late.
                match tokio::time::timeout(std::time::Duration::from_millis(200), stream.message()).await {
                    Ok(Err(status)) => status,
                    _ => Status::ok(""),
                }
            }
            Err(status) => status,
        }
    } else {
        match client.unary(request, path, RawCodec).await {
            Ok(_) => Status::ok(""),
            Err(status) => status,
        }
    }
}
