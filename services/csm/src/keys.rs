//! `csm keys`: the key material a deployment needs (deploy/README.md).
//!
//! - `generate --out DIR` writes a fresh set: identity's signing key, one
//!   service key per service, and the two public JWKS documents.
//! - `jwks --owner NAME KEY.pem…` prints the public JWKS of existing keys
//!   (for a rotation: publish the new key next to the old one first).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use csm_auth::{Jwks, KeyPair};
use csm_types::ServiceName;

/// Options of `csm keys`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Write a fresh key set into a directory: `identity/signing-key.pem`,
    /// `<service>/service-key.pem` per service, `public/identity-jwks.json`
    /// and `public/service-jwks.json`.
    Generate {
        /// Where to write (created; existing key files are not overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print the public JWKS of PEM private keys of one owner (`identity` or a service name).
    Jwks {
        #[arg(long)]
        owner: String,
        /// PKCS#8 PEM files.
        keys: Vec<PathBuf>,
    },
}

pub fn main(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Generate { out } => {
            let written = generate(&out)?;
            for path in written {
                println!("{}", path.display());
            }
            Ok(())
        }
        KeysCommand::Jwks { owner, keys } => {
            let pairs = keys
                .iter()
                .map(|path| {
                    let pem =
                        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
                    KeyPair::from_pem(&owner, &pem).with_context(|| path.display().to_string())
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            println!("{}", Jwks::of(&pairs).to_json());
            Ok(())
        }
    }
}

/// Writes a fresh key set under `out`; returns the files written.
pub fn generate(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut write = |relative: String, content: String, private: bool| -> anyhow::Result<()> {
        let path = out.join(relative);
        anyhow::ensure!(!path.exists(), "{} exists: keys are never overwritten", path.display());
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))?;
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        #[cfg(not(unix))]
        let _ = private;
        written.push(path);
        Ok(())
    };
    let identity = KeyPair::generate(csm_auth::keys::IDENTITY_KEY_OWNER);
    write("identity/signing-key.pem".to_owned(), identity.to_pem(), true)?;
    let mut services = Vec::new();
    for service in ServiceName::ALL {
        let key = KeyPair::generate(service.as_str());
        write(format!("{service}/service-key.pem"), key.to_pem(), true)?;
        services.push(key);
    }
    write("public/identity-jwks.json".to_owned(), Jwks::of([&identity]).to_json(), false)?;
    write("public/service-jwks.json".to_owned(), Jwks::of(&services).to_json(), false)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_set_configures_every_service() {
        let out = std::env::temp_dir().join(format!("csm-keys-{}", uuid::Uuid::new_v4().simple()));
        generate(&out).unwrap();
        for service in ServiceName::ALL {
            let env = |key: &str| -> Option<String> {
                match key {
                    "CSM_AUTH_SERVICE_KEY_FILE" => {
                        Some(out.join(format!("{service}/service-key.pem")).display().to_string())
                    }
                    "CSM_AUTH_SERVICE_JWKS" => Some(format!("@{}", out.join("public/service-jwks.json").display())),
                    "CSM_AUTH_IDENTITY_JWKS" => Some(format!("@{}", out.join("public/identity-jwks.json").display())),
                    "CSM_IDENTITY_SIGNING_KEY_FILES" => {
                        Some(out.join("identity/signing-key.pem").display().to_string())
                    }
                    _ => None,
                }
            };
            csm_auth::AuthConfig::from_lookup(service, &env).unwrap_or_else(|error| panic!("{service}: {error:#}"));
        }
        assert!(generate(&out).is_err(), "never overwrites keys");
        std::fs::remove_dir_all(&out).unwrap();
    }
}
