//! `csm`: the suite on one machine.
//!
//! - `csm dev` starts all five services in one process, each on its own port,
//!   talking to each other over real gRPC, on SQLite files under a data
//!   directory; loads a small demo data set; prints endpoints and example calls.
//! - `csm token` mints a development token with the keys `csm dev` uses.
//! - `csm health --addr …` asks one server's `grpc.health.v1.Health` (exit 0
//!   when SERVING): the health check of the container images.
//! - `csm check` asks case-access for a decision (or its explanation) and
//!   `csm audit` lists a service's audit trail, `csm access-review` exports
//!   who can act on which cases and why: the operator client.
//! - `csm keys generate|jwks` writes the key material of a deployment.
//! - `csm load seed|run` generates a large data set and drives Check /
//!   ListVisibleCases against a running suite (docs/benchmarks.md).

/// mimalloc rather than glibc malloc: allocation is a large part of a request (issue 15, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "csm", version, about = "The CSM Access Suite on one machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run all five services locally on embedded SQLite, with demo data.
    Dev(csm_cli::dev::DevArgs),
    /// Generate a data set (`seed`) and drive case-access checks against it (`run`).
    Load(csm_cli::load::LoadArgs),
    /// Mint a development bearer token with identity's development key (the
    /// shortcut; the real flow is StartSession). The profile must belong to
    /// the login, as for any token.
    Token {
        /// The data directory of `csm dev`.
        #[arg(long, default_value = "data", env = "CSM_DATA_DIR")]
        data_dir: PathBuf,
        /// Login id (default: the development administrator's; give it with --profile).
        #[arg(long)]
        login: Option<String>,
        /// Active profile id (default: the development administrator's).
        #[arg(long)]
        profile: Option<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_seconds: u64,
    },
    /// Ask a server's grpc.health.v1.Health/Check; exit 0 when SERVING, 1 otherwise.
    Health(csm_cli::health::HealthArgs),
    /// May a profile act on a case, and why (case-access Check, or Explain with --explain).
    Check(csm_cli::ops::CheckArgs),
    /// Who can act on which cases, and why: every profile allowed each action
    /// on each case (one case, an account's cases, or all), as CSV or NDJSON.
    AccessReview(csm_cli::review::AccessReviewArgs),
    /// Which cases a profile would gain or lose under a proposed change
    /// (roles, groups, contact relationships, related parties), nothing written.
    AccessPreview(csm_cli::review::AccessPreviewArgs),
    /// A service's audit trail: mutations, refused calls and denied checks.
    Audit(csm_cli::ops::AuditArgs),
    /// Key material for a deployment: identity's signing key, one key per service, public JWKS.
    #[command(subcommand)]
    Keys(csm_cli::keys::KeysCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Dev(args) => csm_cli::dev::run(args).await,
        Command::Health(args) => {
            if csm_cli::health::run(args).await {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        Command::Load(args) => csm_cli::load::main(args).await,
        Command::Check(args) => csm_cli::ops::check(args).await,
        Command::AccessReview(args) => csm_cli::review::access_review(args).await,
        Command::AccessPreview(args) => csm_cli::review::access_preview(args).await,
        Command::Audit(args) => csm_cli::ops::audit(args).await,
        Command::Keys(command) => csm_cli::keys::main(command),
        Command::Token { data_dir, login, profile, ttl_seconds } => {
            let state = csm_cli::dev::DevState::load_or_create(&data_dir)?;
            let login =
                login.map(|value| value.parse()).transpose().map_err(|error| anyhow::anyhow!("--login: {error}"))?;
            let profile = profile
                .map(|value| value.parse())
                .transpose()
                .map_err(|error| anyhow::anyhow!("--profile: {error}"))?;
            println!(
                "{}",
                state.keys.mint_person(
                    login.unwrap_or(state.admin_login),
                    None,
                    profile.unwrap_or(state.admin_profile),
                    std::time::Duration::from_secs(ttl_seconds),
                )
            );
            Ok(())
        }
    }
}
