//! `kaic registry …`: the public registry of certified platforms. Only argument parsing lives here; the
//! behaviour (and its tests) is in `kaic_registry::cli`. Exit codes: 0 done, 1 a submission was
//! refused (its problems printed as `kaic validate` prints them), 2 the registry could not run.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use jiff::civil::Date;
use kaic_registry::cli as registry;

fn parse_date(text: &str) -> Result<Date, String> {
    kaic_registry::dates::parse_date(text)
}

/// `--database`, shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// sqlite://PATH (a file, created on first use) or postgres://USER:PASSWORD@HOST:PORT/DB
    /// [default: sqlite://$XDG_DATA_HOME/kaic/registry.db, or ~/.local/share/kaic/registry.db].
    #[arg(long, value_name = "URL", env = "KAIC_REGISTRY_DATABASE")]
    pub database: Option<String>,
}

impl DatabaseArgs {
    fn url(&self) -> String {
        self.database.clone().unwrap_or_else(kaic_registry::db::default_url)
    }
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Add one submission (PRODUCT.yaml), if `kaic validate` accepts it.
    Add(AddArgs),
    /// Import a tree in the layout of the program's repository (vX.Y/<product>/PRODUCT.yaml): valid
    /// submissions are added in one transaction, invalid ones listed with their problems.
    Import(ImportArgs),
    /// Serve the web pages, badges, feed and JSON API.
    Serve(ServeArgs),
    /// Write tokens for POST /api/v1/submissions.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The submission, PRODUCT.yaml (evidence paths are resolved beside it).
    pub file: PathBuf,
    /// kaic's results of the run (kaic-results.json; results.json from an older kaic): requirements
    /// whose check passed there are marked verified by kaic, the others self-attested.
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    /// The certification date (YYYY-MM-DD) [default: today, recorded as the day it was added].
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub certified_on: Option<Date>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The root of a checkout of the program's repository (holding v1.33/, v1.34/, …).
    pub dir: PathBuf,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a write token: printed once on stdout, only its hash is stored.
    Create(TokenCreateArgs),
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// What the token is for (shown nowhere public; for the operator).
    #[arg(long, default_value = "default")]
    pub label: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `kaic registry …`.
///
/// # Errors
/// Never for a bad input (that is exit code 2 with a message); the `Result` is for the binary's common
/// error path.
pub async fn run(cmd: RegistryCommand) -> anyhow::Result<u8> {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    Ok(match cmd {
        RegistryCommand::Add(args) => {
            let options = registry::AddOptions {
                database: args.database.url(),
                file: args.file,
                results: args.results,
                certified_on: args.certified_on,
            };
            registry::add(&options, &mut out, &mut err).await
        }
        RegistryCommand::Import(args) => registry::import(&args.database.url(), &args.dir, &mut out, &mut err).await,
        RegistryCommand::Serve(args) => registry::serve(&args.database.url(), args.listen, &mut out, &mut err).await,
        RegistryCommand::Token(TokenCommand::Create(args)) => {
            registry::token_create(&args.database.url(), &args.label, &mut out, &mut err).await
        }
    })
}
