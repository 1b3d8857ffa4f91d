//! The certification subcommands, `kaic checklist fill|fetch`, `kaic report render` and
//! `kaic validate`, and the hook `kaic run --checklist … --platform-info …` calls after a run.
//!
//! Only argument parsing lives here; the behaviour (and its tests) is in `kaic_certify::cli`. Every
//! entry point returns the exit code: 0 done, 1 the submission is invalid or not every MUST is
//! Implemented, 2 an input could not be read or used (then nothing is written).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use kaic_certify::cli as certify;
use kaic_certify::fetch::TEMPLATE_BASE_URL;
use kaic_certify::online::OnlineOptions;
use kaic_model::ConformanceVersion;

fn parse_version(text: &str) -> Result<ConformanceVersion, String> {
    text.parse().map_err(|e: kaic_model::catalogue::UnknownVersion| e.to_string())
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(0) | Err(_) => Err(format!("'{text}' is not a whole number of seconds above 0")),
        Ok(s) => Ok(Duration::from_secs(s)),
    }
}

/// `kaic checklist …`: the official checklist (PRODUCT.yaml).
#[derive(Debug, Subcommand)]
pub enum ChecklistCommand {
    /// Fill the official checklist template from a run: writes PRODUCT.yaml with metadata from the
    /// platform-info file and status, evidence and notes for every requirement.
    Fill(FillArgs),
    /// Download the official checklist template of a conformance version from the program's
    /// public repository (github.com/cncf/k8s-ai-conformance).
    Fetch(FetchArgs),
}

#[derive(Debug, Args)]
pub struct FillArgs {
    /// The run's kaic-results.json (results.json for a run of an older kaic); evidence paths are made
    /// relative to the folder of --output.
    #[arg(long, value_name = "FILE")]
    pub results: PathBuf,
    /// The official template, e.g. AIConformance-1.36.yaml (`kaic checklist fetch` downloads it).
    #[arg(long, value_name = "FILE")]
    pub template: PathBuf,
    /// The platform's metadata, extra evidence links and notes (format: crates/certify/README.md).
    #[arg(long, value_name = "FILE")]
    pub platform_info: PathBuf,
    /// Where to write the checklist [default: PRODUCT.yaml next to --results].
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The conformance version whose template to download, e.g. 1.36.
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub conformance_version: ConformanceVersion,
    /// Where to write it [default: AIConformance-<VERSION>.yaml in the current folder].
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Where the raw templates are served (for a mirror).
    #[arg(long, value_name = "URL", default_value = TEMPLATE_BASE_URL)]
    pub from: String,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = parse_seconds)]
    pub timeout: Duration,
}

/// `kaic checklist …`.
///
/// # Errors
/// Never for a bad input (that is exit code 2 with a message); the `Result` is for the binary's
/// common error path.
pub async fn run_checklist(cmd: ChecklistCommand) -> anyhow::Result<u8> {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    Ok(match cmd {
        ChecklistCommand::Fill(args) => certify::fill(
            &certify::FillOptions {
                results: args.results,
                template: args.template,
                platform_info: args.platform_info,
                output: args.output,
            },
            &mut out,
            &mut err,
        ),
        ChecklistCommand::Fetch(args) => {
            let options = certify::FetchOptions {
                version: args.conformance_version,
                output: args.output,
                base_url: args.from,
                timeout: args.timeout,
            };
            certify::fetch(&options, &mut out, &mut err).await
        }
    })
}

/// `kaic report …`: renderings of a submission.
#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Render PRODUCT.yaml as PRODUCT.md: platform facts, a summary by category and level, and every
    /// requirement with its evidence.
    Render(RenderArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The filled checklist.
    #[arg(value_name = "PRODUCT.yaml")]
    pub input: PathBuf,
    /// Where to write the Markdown; `-` for standard output [default: the input with .md].
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `kaic report …`.
///
/// # Errors
/// As [`run_checklist`].
pub fn run_report(cmd: ReportCommand) -> anyhow::Result<u8> {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    Ok(match cmd {
        ReportCommand::Render(args) => {
            certify::render(&certify::RenderOptions { input: args.input, output: args.output }, &mut out, &mut err)
        }
    })
}

/// How `kaic validate` reports.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum ValidateFormat {
    /// One line per problem with its path in the file, then the verdict.
    #[default]
    Text,
    /// One JSON object, for bots.
    Json,
}

/// Check a submission (PRODUCT.yaml) the way a careful reviewer would.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The filled checklist.
    #[arg(value_name = "PRODUCT.yaml")]
    pub file: PathBuf,
    /// The official template to compare ids, descriptions and levels with [default: kaic's catalogue,
    /// which has no description texts; with --online, the template downloaded for the file's version].
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Also check that every link answers (HEAD, then GET).
    #[arg(long)]
    pub online: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t)]
    pub output: ValidateFormat,
    /// With --online: links checked at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub link_concurrency: usize,
    /// With --online: seconds one request may take.
    #[arg(long, value_name = "SECONDS", default_value = "15", value_parser = parse_seconds)]
    pub link_timeout: Duration,
    /// With --online: seconds all link checks together may take.
    #[arg(long, value_name = "SECONDS", default_value = "120", value_parser = parse_seconds)]
    pub link_deadline: Duration,
}

/// `kaic validate`. Exit code 0 valid, 1 invalid, 2 could not read.
///
/// # Errors
/// As [`run_checklist`].
pub async fn run_validate(args: ValidateArgs) -> anyhow::Result<u8> {
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut options = certify::ValidateOptions::new(args.file);
    options.template = args.template;
    options.online = args.online;
    options.format = match args.output {
        ValidateFormat::Text => certify::Format::Text,
        ValidateFormat::Json => certify::Format::Json,
    };
    options.online_options =
        OnlineOptions { concurrency: args.link_concurrency, timeout: args.link_timeout, deadline: args.link_deadline };
    Ok(certify::validate(&options, &mut out, &mut err).await)
}

/// Fills `template` after `kaic run` wrote kaic-results.json, report.md, the test files and evidence/
/// into `output_dir`: writes `output_dir/PRODUCT.yaml`, prints what was filled and what is left, and
/// returns its path.
///
/// # Errors
/// When the template or the platform-info file cannot be read or used, or PRODUCT.yaml cannot be
/// written; nothing is written then.
pub fn fill_after_run(
    template: &Path,
    platform_info: &Path,
    report: &kaic_model::RunReport,
    output_dir: &Path,
) -> anyhow::Result<PathBuf> {
    let (path, filled) = certify::fill_after_run(template, platform_info, report, output_dir)?;
    certify::print_summary(&filled, &path, &template.display().to_string(), &mut std::io::stdout());
    Ok(path)
}
