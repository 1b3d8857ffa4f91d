//! `kaic`: the command line. Parses arguments, wires the engine to the reporters, and maps results to
//! exit codes: 0 every MUST met, 1 some MUST failed (or a submission invalid), 2 kaic could not run, 3 no MUST
//! failed but some are undecided.

/// `println!` that ignores a closed stdout (`kaic requirements | head` must not panic).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod certify_cli;
mod cli;
mod cmd_cleanup;
mod cmd_images;
mod cmd_rbac;
mod cmd_requirements;
mod cmd_run;
mod output;
mod progress;
mod registry_cli;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// Exit code: every MUST met / the input is valid.
pub const EXIT_OK: u8 = 0;
/// Exit code: some MUST failed / the input is invalid (with `--strict`: also some MUST undecided).
pub const EXIT_NOT_MET: u8 = 1;
/// Exit code: kaic could not run (bad arguments, unreachable cluster, unwritable output, interrupted).
pub const EXIT_CANNOT_RUN: u8 = 2;
/// Exit code: no MUST failed, but some are undecided (unknown, error, or no automated check yet).
pub const EXIT_UNDECIDED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    // One rustls crypto provider for the whole process (ring), before any TLS client is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return ExitCode::from(EXIT_CANNOT_RUN);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => cmd_run::run(*args).await,
            Command::Requirements(args) => cmd_requirements::run(&args),
            Command::Cleanup(args) => cmd_cleanup::run(args).await,
            Command::Checklist(cmd) => certify_cli::run_checklist(cmd).await,
            Command::Report(cmd) => certify_cli::run_report(cmd),
            Command::Validate(args) => certify_cli::run_validate(args).await,
            Command::Rbac(args) => cmd_rbac::run(&args),
            Command::Images(args) => cmd_images::run(&args),
            Command::Registry(cmd) => registry_cli::run(cmd).await,
            Command::Schema => {
                out!("{:#}", kaic_model::RunReport::json_schema());
                Ok(EXIT_OK)
            }
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // One line naming the problem and the fix; the chain, if any, after a colon.
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_CANNOT_RUN)
        }
    }
}

/// Logs go to stderr: kaic's own warnings by default (the terminal output is for people; libraries' logs
/// would repeat kaic's one-line errors); `RUST_LOG=kaic_checks=debug` shows each step as it happens.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off,kaic=warn,kaic_checks=warn,kaic_certify=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}
