//! The command-line behaviour of `kaic checklist fill|fetch`, `kaic report render` and `kaic validate`,
//! without the argument parsing (that lives in the binary, which maps its flags to these options).
//!
//! Each entry point writes what a person reads to `out`, errors to `err`, and returns the exit code:
//! [`EXIT_OK`], [`EXIT_NOT_MET`] (the submission is invalid, or MUSTs are not Implemented yet) or
//! [`EXIT_CANNOT`] (an input could not be read or used; nothing was written). Keeping them here makes
//! them testable with plain unit tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kaic_model::catalogue::{ConformanceVersion, Level};
use kaic_model::report::RunReport;

use crate::checklist::{Status, Submission, Template};
use crate::fetch::{self, TEMPLATE_BASE_URL};
use crate::fill::{self, FillError, FillInput, Filled, RunArtifacts, Source};
use crate::online::{self, OnlineOptions};
use crate::platform_info::PlatformInfo;
use crate::render;
use crate::source;
use crate::validate::{self, ValidateError};

/// Done, and nothing is left to do.
pub const EXIT_OK: u8 = 0;
/// Done, but the submission is invalid or not every MUST is Implemented.
pub const EXIT_NOT_MET: u8 = 1;
/// An input could not be read or used; nothing was written.
pub const EXIT_CANNOT: u8 = 2;

/// Output sinks for the entry points (Send, so the futures can move between threads).
pub type Sink<'a> = &'a mut (dyn Write + Send);

/// `kaic checklist fill`.
#[derive(Debug, Clone)]
pub struct FillOptions {
    pub results: PathBuf,
    pub template: PathBuf,
    pub platform_info: PathBuf,
    /// Defaults to PRODUCT.yaml next to `results`, where the evidence paths are simplest.
    pub output: Option<PathBuf>,
}

/// Fills a template from kaic's report (kaic-results.json); see [`FillOptions`].
pub fn fill(options: &FillOptions, out: Sink<'_>, err: Sink<'_>) -> u8 {
    let output = options.output.clone().unwrap_or_else(|| {
        options.results.parent().map(|p| p.join("PRODUCT.yaml")).unwrap_or_else(|| PathBuf::from("PRODUCT.yaml"))
    });
    let result = (|| {
        let report = fill::load_report(&options.results)?;
        let product_dir = folder_of(&output);
        let artifacts = RunArtifacts::locate(&options.results, &report, &product_dir)?;
        write_filled(&options.template, &options.platform_info, &report, &artifacts, &output)
    })();
    match result {
        Ok(filled) => {
            print_summary(&filled, &output, &report_template(&options.template), out);
            if filled.complete() { EXIT_OK } else { EXIT_NOT_MET }
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}\nnothing was written");
            EXIT_CANNOT
        }
    }
}

/// Fills `template` for a run whose files (kaic-results.json, report.md, evidence/) are in
/// `output_dir`, and writes `output_dir/PRODUCT.yaml`. For `kaic run --checklist … --platform-info …`.
///
/// # Errors
/// As [`fill::fill`], and when the template or platform-info cannot be read or the file not written.
pub fn fill_after_run(
    template: &Path,
    platform_info: &Path,
    report: &RunReport,
    output_dir: &Path,
) -> Result<(PathBuf, Filled), FillError> {
    let output = output_dir.join("PRODUCT.yaml");
    let results = output_dir.join(kaic_model::render::REPORT_FILE);
    let artifacts = if results.is_file() {
        RunArtifacts::locate(&results, report, output_dir)?
    } else {
        return Err(FillError::Artifacts {
            message: format!("{} does not exist: write it before filling", results.display()),
        });
    };
    let filled = write_filled(template, platform_info, report, &artifacts, &output)?;
    Ok((output, filled))
}

fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn report_template(template: &Path) -> String {
    template.display().to_string()
}

fn write_filled(
    template: &Path,
    platform_info: &Path,
    report: &RunReport,
    artifacts: &RunArtifacts,
    output: &Path,
) -> Result<Filled, FillError> {
    let template_text = source::read_text(template, source::MAX_CHECKLIST_BYTES)?;
    let info = PlatformInfo::load(platform_info)?;
    let filled = fill::fill(FillInput {
        template_path: template,
        template_text: &template_text,
        platform_info_path: platform_info,
        platform_info: &info,
        report,
        artifacts,
    })?;
    source::write_atomic(output, &filled.yaml)?;
    Ok(filled)
}

/// What was filled, what is left, and what to do next.
pub fn print_summary(filled: &Filled, output: &Path, template: &str, out: Sink<'_>) {
    let _ = writeln!(out, "wrote {}", output.display());
    for status in Status::ALL {
        let rows: Vec<_> = filled.rows.iter().filter(|r| r.status == Some(status)).collect();
        if rows.is_empty() {
            continue;
        }
        let vendor = rows.iter().filter(|r| r.source == Source::Vendor).count();
        let kept = rows.iter().filter(|r| r.source == Source::Kept).count();
        let mut from = Vec::new();
        if vendor > 0 {
            from.push(format!("{vendor} from platform-info"));
        }
        if kept > 0 {
            from.push(format!("{kept} kept from the template"));
        }
        let from = if from.is_empty() { String::new() } else { format!(" ({})", from.join(", ")) };
        let _ = writeln!(out, "  {:<22} {:>2}{from}", status.as_str(), rows.len());
    }
    let open: Vec<_> = filled.rows.iter().filter(|r| r.status.is_none()).collect();
    if !open.is_empty() {
        let _ = writeln!(out, "left for a person (status empty; the notes say what to verify):");
        for r in &open {
            let _ = writeln!(out, "  - {} ({})", r.id, r.level);
        }
    }
    let unmet: Vec<String> = filled
        .rows
        .iter()
        .filter(|r| r.level == Level::Must && r.status.is_some_and(|s| s != Status::Implemented))
        .map(|r| format!("{} ({})", r.id, r.status.map(Status::as_str).unwrap_or_default()))
        .collect();
    if !unmet.is_empty() {
        let _ = writeln!(
            out,
            "MUST requirements not Implemented (the program certifies only all of them): {}",
            unmet.join(", ")
        );
    }
    for warning in &filled.warnings {
        let _ = writeln!(out, "warning: {warning}");
    }
    let _ = writeln!(out, "next: review it, then `kaic validate {} --template {template}`", output.display());
}

/// `kaic checklist fetch`.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub version: ConformanceVersion,
    /// Defaults to `AIConformance-<version>.yaml` in the current folder.
    pub output: Option<PathBuf>,
    pub base_url: String,
    pub timeout: Duration,
}

impl FetchOptions {
    pub fn new(version: ConformanceVersion) -> Self {
        Self { version, output: None, base_url: TEMPLATE_BASE_URL.into(), timeout: fetch::DEFAULT_TIMEOUT }
    }
}

/// Downloads a template; see [`FetchOptions`].
pub async fn fetch(options: &FetchOptions, out: Sink<'_>, err: Sink<'_>) -> u8 {
    let output =
        options.output.clone().unwrap_or_else(|| PathBuf::from(format!("AIConformance-{}.yaml", options.version)));
    match fetch::fetch_template(options.version, &options.base_url, options.timeout).await {
        Ok((text, template)) => match source::write_atomic(&output, &text) {
            Ok(()) => {
                let _ = writeln!(
                    out,
                    "wrote {} ({} requirements, {} MUST) from {}",
                    output.display(),
                    template.requirements.len(),
                    template.requirements.iter().filter(|r| r.level == Level::Must).count(),
                    fetch::template_url(&options.base_url, options.version)
                );
                EXIT_OK
            }
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                EXIT_CANNOT
            }
        },
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            EXIT_CANNOT
        }
    }
}

/// `kaic report render`.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub input: PathBuf,
    /// Defaults to the input with the extension `.md`; `-` writes to `out`.
    pub output: Option<PathBuf>,
}

/// Renders PRODUCT.yaml as Markdown; see [`RenderOptions`].
pub fn render(options: &RenderOptions, out: Sink<'_>, err: Sink<'_>) -> u8 {
    let markdown = match render::render_file(&options.input) {
        Ok(md) => md,
        Err(e) => {
            let _ = writeln!(err, "error: {e}\nnothing was written");
            return EXIT_CANNOT;
        }
    };
    let output = options.output.clone().unwrap_or_else(|| options.input.with_extension("md"));
    if output.as_os_str() == "-" {
        let _ = out.write_all(markdown.as_bytes());
        return EXIT_OK;
    }
    match source::write_atomic(&output, &markdown) {
        Ok(()) => {
            let _ = writeln!(out, "wrote {}", output.display());
            EXIT_OK
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            EXIT_CANNOT
        }
    }
}

/// How `kaic validate` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// For people: one line per problem, then the verdict.
    #[default]
    Text,
    /// For bots: one JSON object.
    Json,
}

/// `kaic validate`.
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    pub file: PathBuf,
    pub template: Option<PathBuf>,
    pub online: bool,
    pub format: Format,
    pub online_options: OnlineOptions,
    /// Where `--online` fetches the template from when none is given.
    pub template_base_url: String,
}

impl ValidateOptions {
    pub fn new(file: impl Into<PathBuf>) -> Self {
        Self {
            file: file.into(),
            template: None,
            online: false,
            format: Format::Text,
            online_options: OnlineOptions::default(),
            template_base_url: TEMPLATE_BASE_URL.into(),
        }
    }
}

/// Validates a submission; see [`ValidateOptions`].
pub async fn validate(options: &ValidateOptions, out: Sink<'_>, err: Sink<'_>) -> u8 {
    let fail = |e: &dyn std::fmt::Display, out: Sink<'_>, err: Sink<'_>| {
        match options.format {
            Format::Json => {
                let value = serde_json::json!({
                    "file": options.file,
                    "valid": false,
                    "error": e.to_string(),
                });
                let _ = writeln!(out, "{value:#}");
            }
            Format::Text => {
                let _ = writeln!(err, "error: {e}");
            }
        }
        EXIT_CANNOT
    };
    let template = match &options.template {
        Some(path) => match Template::load(path) {
            Ok(t) => Some(t),
            Err(e) => return fail(&ValidateError::from(e), out, err),
        },
        None if options.online => {
            // Compare the descriptions too: fetch the official template of the file's version.
            let version = Submission::load(&options.file).ok().and_then(|s| s.version);
            match version {
                Some(v) => match fetch::fetch_template(v, &options.template_base_url, fetch::DEFAULT_TIMEOUT).await {
                    Ok((_, t)) => Some(t),
                    Err(e) => {
                        let _ = writeln!(err, "note: {e}; descriptions are not compared");
                        None
                    }
                },
                None => None,
            }
        }
        None => None,
    };
    let mut report = match validate::validate_file(&options.file, template.as_ref()) {
        Ok(r) => r,
        Err(e) => return fail(&e, out, err),
    };
    if options.online {
        online::check_links(&mut report, options.online_options).await;
    }
    match options.format {
        Format::Json => {
            let _ = writeln!(out, "{:#}", report.to_json());
        }
        Format::Text => {
            let _ = write!(out, "{}", report.to_text());
        }
    }
    if report.is_valid() { EXIT_OK } else { EXIT_NOT_MET }
}

#[cfg(test)]
mod tests;
