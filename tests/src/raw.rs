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
}

impl Method {
    /// `csm.identity.v1.IdentityService/CreateAccount`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.service, self.name)
    }
}

/// Every RPC of every `csm.*` service in the descriptor set, by service.
pub fn methods() -> BTreeMap<String, Vec<Method>> {
    let set = prost_types::FileDescriptorSet::decode(csm_proto::FILE_DESCRIPTOR_SET).expect("the descriptor set");
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
