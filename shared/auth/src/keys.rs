//! Ed25519 signing keys and their public halves as JSON Web Keys.
//!
//! identity signs person tokens with its keys; each service signs its own
//! service tokens with a key of its own. Private keys are read as PKCS#8
//! (PEM files in production, one-line base64 DER in `csm dev`'s data
//! directory); public keys travel as a JWKS (RFC 7517), each key named by a
//! `kid` of the form `<owner>.<thumbprint>`: the owner (`identity` or a
//! service name) and the first 16 characters of its RFC 7638 thumbprint.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The owner part of identity's key ids.
pub const IDENTITY_KEY_OWNER: &str = "identity";

/// An Ed25519 key pair with its key id.
#[derive(Clone)]
pub struct KeyPair {
    kid: String,
    signing: SigningKey,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl KeyPair {
    /// A fresh random key of `owner` (`identity` or a service name).
    pub fn generate(owner: &str) -> Self {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system provides random bytes");
        Self::from_signing_key(owner, SigningKey::from_bytes(&seed))
    }

    /// A key of `owner` from a PKCS#8 PEM document (`openssl genpkey -algorithm ed25519`).
    pub fn from_pem(owner: &str, pem: &str) -> anyhow::Result<Self> {
        let signing = SigningKey::from_pkcs8_pem(pem)
            .map_err(|error| anyhow::anyhow!("not an Ed25519 PKCS#8 private key (PEM): {error}"))?;
        Ok(Self::from_signing_key(owner, signing))
    }

    /// A key of `owner` from base64 PKCS#8 DER (the one-line form `csm dev` keeps).
    pub fn from_base64_der(owner: &str, encoded: &str) -> anyhow::Result<Self> {
        let der = STANDARD.decode(encoded.trim()).map_err(|error| anyhow::anyhow!("not base64 PKCS#8 DER: {error}"))?;
        let signing = SigningKey::from_pkcs8_der(&der)
            .map_err(|error| anyhow::anyhow!("not an Ed25519 PKCS#8 private key: {error}"))?;
        Ok(Self::from_signing_key(owner, signing))
    }

    fn from_signing_key(owner: &str, signing: SigningKey) -> Self {
        let kid = key_id(owner, &signing.verifying_key());
        Self { kid, signing }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The PKCS#8 DER of the private key.
    pub fn pkcs8_der(&self) -> Vec<u8> {
        self.signing.to_pkcs8_der().expect("an Ed25519 key encodes as PKCS#8").as_bytes().to_vec()
    }

    /// The private key as one line of base64 PKCS#8 DER.
    pub fn to_base64_der(&self) -> String {
        STANDARD.encode(self.pkcs8_der())
    }

    /// The private key as a PKCS#8 PEM document.
    pub fn to_pem(&self) -> String {
        self.signing.to_pkcs8_pem(Default::default()).expect("an Ed25519 key encodes as PEM").to_string()
    }

    /// The public half as a JWK.
    pub fn public_jwk(&self) -> Jwk {
        Jwk::ed25519(&self.kid, &self.signing.verifying_key())
    }

    /// Signs arbitrary claims as this key (EdDSA, with its kid): for tools
    /// and tests that need a token the suite's issuers would not make.
    pub fn sign_json(&self, claims: &serde_json::Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key()).expect("Ed25519 signing cannot fail")
    }

    pub(crate) fn encoding_key(&self) -> jsonwebtoken::EncodingKey {
        jsonwebtoken::EncodingKey::from_ed_der(&self.pkcs8_der())
    }
}

/// `<owner>.<first 16 characters of the RFC 7638 thumbprint>`.
fn key_id(owner: &str, key: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    // RFC 7638: the required members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    let thumbprint = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    format!("{owner}.{}", &thumbprint[..16])
}

/// One public key (RFC 7517). Only the members the suite reads and writes;
/// unknown members of foreign keys (OIDC providers) are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub alg: String,
    #[serde(default, rename = "use", skip_serializing_if = "String::is_empty")]
    pub key_use: String,
    /// Curve (OKP, EC).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub crv: String,
    /// Public point (OKP: the key; EC: x coordinate), base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub x: String,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub y: String,
    /// RSA modulus and exponent, base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub n: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub e: String,
}

impl Jwk {
    fn ed25519(kid: &str, key: &VerifyingKey) -> Self {
        Self {
            kty: "OKP".to_owned(),
            kid: kid.to_owned(),
            alg: "EdDSA".to_owned(),
            key_use: "sig".to_owned(),
            crv: "Ed25519".to_owned(),
            x: URL_SAFE_NO_PAD.encode(key.as_bytes()),
            y: String::new(),
            n: String::new(),
            e: String::new(),
        }
    }

    /// The owner named by a suite key id (`identity`, a service name), if any.
    pub fn owner(&self) -> Option<&str> {
        self.kid.split_once('.').map(|(owner, _)| owner)
    }

    /// The algorithm and verification key of this JWK.
    pub(crate) fn decoding_key(&self) -> anyhow::Result<(jsonwebtoken::Algorithm, jsonwebtoken::DecodingKey)> {
        use jsonwebtoken::{Algorithm, DecodingKey};
        match (self.kty.as_str(), self.crv.as_str()) {
            ("OKP", "Ed25519") => {
                let bytes = URL_SAFE_NO_PAD
                    .decode(self.x.trim_end_matches('='))
                    .map_err(|_| anyhow::anyhow!("key {:?}: x is not base64url", self.kid))?;
                anyhow::ensure!(bytes.len() == 32, "key {:?}: an Ed25519 key has 32 bytes", self.kid);
                VerifyingKey::from_bytes(bytes.as_slice().try_into().expect("32 bytes"))
                    .map_err(|_| anyhow::anyhow!("key {:?}: not an Ed25519 point", self.kid))?;
                Ok((Algorithm::EdDSA, DecodingKey::from_ed_der(&bytes)))
            }
            ("EC", "P-256") => Ok((Algorithm::ES256, DecodingKey::from_ec_components(&self.x, &self.y)?)),
            ("EC", "P-384") => Ok((Algorithm::ES384, DecodingKey::from_ec_components(&self.x, &self.y)?)),
            ("RSA", _) => {
                let algorithm = match self.alg.as_str() {
                    "" | "RS256" => Algorithm::RS256,
                    "RS384" => Algorithm::RS384,
                    "RS512" => Algorithm::RS512,
                    "PS256" => Algorithm::PS256,
                    other => anyhow::bail!("key {:?}: unsupported RSA algorithm {other:?}", self.kid),
                };
                Ok((algorithm, DecodingKey::from_rsa_components(&self.n, &self.e)?))
            }
            (kty, crv) => anyhow::bail!("key {:?}: unsupported key type {kty:?} {crv:?}", self.kid),
        }
    }
}

/// A JSON Web Key Set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

impl Jwks {
    /// The public keys of `pairs`.
    pub fn of<'a>(pairs: impl IntoIterator<Item = &'a KeyPair>) -> Self {
        Self { keys: pairs.into_iter().map(KeyPair::public_jwk).collect() }
    }

    pub fn parse(json: &str) -> anyhow::Result<Self> {
        serde_json::from_str(json).map_err(|error| anyhow::anyhow!("not a JWKS document: {error}"))
    }

    /// A setting that is either the JWKS itself (`{"keys":[…]}`) or `@<path>` of a file holding it.
    pub fn from_setting(value: &str) -> anyhow::Result<Self> {
        let value = value.trim();
        match value.strip_prefix('@') {
            Some(path) => {
                let json = std::fs::read_to_string(path)
                    .map_err(|error| anyhow::anyhow!("cannot read the JWKS file {path}: {error}"))?;
                Self::parse(&json)
            }
            None => Self::parse(value),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a JWKS serializes")
    }

    pub fn extend(&mut self, other: Jwks) {
        for key in other.keys {
            if !self.keys.iter().any(|existing| existing.kid == key.kid && !key.kid.is_empty()) {
                self.keys.push(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_pem_and_base64_der() {
        let key = KeyPair::generate("identity");
        assert!(key.kid().starts_with("identity."));
        let from_pem = KeyPair::from_pem("identity", &key.to_pem()).unwrap();
        let from_der = KeyPair::from_base64_der("identity", &key.to_base64_der()).unwrap();
        assert_eq!(from_pem.kid(), key.kid());
        assert_eq!(from_der.kid(), key.kid());
        assert_eq!(from_pem.public_jwk(), key.public_jwk());
    }

    #[test]
    fn a_jwks_round_trips_and_names_its_owner() {
        let keys = [KeyPair::generate("identity"), KeyPair::generate("case-access")];
        let jwks = Jwks::of(&keys);
        let parsed = Jwks::parse(&jwks.to_json()).unwrap();
        assert_eq!(parsed, jwks);
        assert_eq!(parsed.keys[1].owner(), Some("case-access"));
        assert!(parsed.keys[0].decoding_key().is_ok());
    }

    #[test]
    fn broken_keys_are_refused_with_a_reason() {
        assert!(KeyPair::from_pem("identity", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err());
        let mut jwk = KeyPair::generate("identity").public_jwk();
        jwk.x = "short".to_owned();
        assert!(jwk.decoding_key().is_err());
        assert!(Jwks::parse("{").is_err());
    }
}
