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

/// Fills a template from a results.json; see [`FillOptions`].
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

/// Fills `template` for a run whose files (results.json, junit.xml, report.md, evidence/) are in
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
    let results = output_dir.join("results.json");
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
mod tests {
    use super::*;
    use crate::checklist::tests::template_path;
    use crate::fill::tests::metadata_only;
    use crate::validate::tests::{Fixture, baseline_report, write_run_files};

    fn example_info() -> PathBuf {
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("examples/platform-info.yaml")
    }

    /// A run folder with kaic's files and a platform-info with the metadata only.
    fn run_dir(version: ConformanceVersion) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let report = baseline_report(version);
        write_run_files(tmp.path(), &report);
        let info = metadata_only(version);
        let mut yaml = String::from("metadata:\n");
        for (k, v) in info.metadata.fields() {
            yaml.push_str(&format!("  {k}: \"{v}\"\n"));
        }
        let info_path = tmp.path().join("platform-info.yaml");
        std::fs::write(&info_path, yaml).unwrap();
        (tmp, info_path)
    }

    fn run<F: FnOnce(Sink<'_>, Sink<'_>) -> u8>(f: F) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = f(&mut out, &mut err);
        (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    #[tokio::test]
    async fn fill_then_validate_then_render() {
        let version = ConformanceVersion::V1_36;
        let (tmp, info) = run_dir(version);
        let options = FillOptions {
            results: tmp.path().join("results.json"),
            template: template_path(version),
            platform_info: info,
            output: None,
        };
        let (code, out, err) = run(|o, e| fill(&options, o, e));
        assert_eq!(code, EXIT_OK, "{out}{err}");
        let product = tmp.path().join("PRODUCT.yaml");
        assert!(
            out.starts_with(&format!(
                "wrote {}\n  Implemented            13\n  N/A                     1\n",
                product.display()
            )),
            "{out}"
        );

        let mut v = ValidateOptions::new(&product);
        v.template = Some(template_path(version));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let code = validate(&v, &mut o, &mut e).await;
        let text = String::from_utf8(o).unwrap();
        assert_eq!(code, EXIT_OK, "{text}");
        assert!(text.contains("VALID:"), "{text}");

        v.format = Format::Json;
        let (mut o, mut e) = (Vec::new(), Vec::new());
        assert_eq!(validate(&v, &mut o, &mut e).await, EXIT_OK);
        let json: serde_json::Value = serde_json::from_slice(&o).unwrap();
        assert_eq!(json["valid"], true);

        let (code, out, _) = run(|o, e| render(&RenderOptions { input: product.clone(), output: None }, o, e));
        assert_eq!(code, EXIT_OK);
        assert_eq!(out, format!("wrote {}\n", tmp.path().join("PRODUCT.md").display()));
        let (code, md, _) =
            run(|o, e| render(&RenderOptions { input: product.clone(), output: Some("-".into()) }, o, e));
        assert_eq!(code, EXIT_OK);
        assert!(md.starts_with("# Acme AI Platform 2.4.1 — Kubernetes AI Conformance v1.36"));
    }

    #[test]
    fn fill_exit_code_says_what_is_left() {
        let version = ConformanceVersion::V1_36;
        let (tmp, _) = run_dir(version);
        let options = FillOptions {
            results: tmp.path().join("results.json"),
            template: template_path(version),
            // The example asks for an N/A on high_performance_networking, which the baseline run passed.
            platform_info: example_info(),
            output: Some(tmp.path().join("out.yaml")),
        };
        let (code, _, err) = run(|o, e| fill(&options, o, e));
        assert_eq!(code, EXIT_CANNOT);
        assert!(
            err.contains("requirements.high_performance_networking.status") && err.ends_with("nothing was written\n"),
            "{err}"
        );
        assert!(!tmp.path().join("out.yaml").exists());

        // A run that could not decide a MUST: written, exit 1, and the summary says what is left.
        let report = crate::fill::tests::synthetic_report(version, |id| {
            Some(if id == "pod_autoscaling" {
                kaic_model::outcome::Outcome::Unknown
            } else {
                kaic_model::outcome::Outcome::Pass
            })
        });
        std::fs::write(tmp.path().join("results.json"), serde_json::to_string(&report).unwrap()).unwrap();
        let options = FillOptions { platform_info: tmp.path().join("platform-info.yaml"), ..options };
        let (code, out, _) = run(|o, e| fill(&options, o, e));
        assert_eq!(code, EXIT_NOT_MET, "{out}");
        assert!(
            out.contains(
                "left for a person (status empty; the notes say what to verify):\n  - pod_autoscaling (MUST)\n"
            ),
            "{out}"
        );
    }

    #[tokio::test]
    async fn a_vendor_answer_where_kaic_could_not_decide_validates() {
        let version = ConformanceVersion::V1_36;
        let (tmp, info) = run_dir(version);
        let report = crate::synthetic::report(version, |id| {
            use kaic_model::outcome::Outcome;
            Some(match id {
                "pod_autoscaling" => Outcome::Unknown,
                "gpu_sharing" => Outcome::NotApplicable,
                _ => Outcome::Pass,
            })
        });
        write_run_files(tmp.path(), &report);
        let mut yaml = std::fs::read_to_string(&info).unwrap();
        yaml.push_str(
            "requirements:\n  pod_autoscaling:\n    status: Implemented\n    evidence: [docs/hpa.md]\n    notes: Verified by hand.\n",
        );
        std::fs::write(&info, yaml).unwrap();
        std::fs::create_dir(tmp.path().join("docs")).unwrap();
        std::fs::write(tmp.path().join("docs/hpa.md"), "# HPA on custom metrics\n").unwrap();
        let options = FillOptions {
            results: tmp.path().join("results.json"),
            template: template_path(version),
            platform_info: info,
            output: None,
        };
        let (code, out, err) = run(|o, e| fill(&options, o, e));
        assert_eq!(code, EXIT_OK, "{out}{err}");
        assert!(out.contains("Implemented            13 (1 from platform-info)"), "{out}");
        let submission = Submission::load(&tmp.path().join("PRODUCT.yaml")).unwrap();
        let hpa = submission.sections.iter().flat_map(|s| &s.entries).find(|e| e.id == "pod_autoscaling").unwrap();
        assert_eq!(hpa.evidence, ["docs/hpa.md"], "kaic's files do not back a vendor's answer");
        let mut v = ValidateOptions::new(tmp.path().join("PRODUCT.yaml"));
        v.template = Some(template_path(version));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let code = validate(&v, &mut o, &mut e).await;
        assert_eq!(code, EXIT_OK, "{}", String::from_utf8_lossy(&o));
    }

    #[test]
    fn fill_after_run_writes_product_yaml_into_the_run_folder() {
        let version = ConformanceVersion::V1_34;
        let (tmp, info) = run_dir(version);
        let report = baseline_report(version);
        let (path, filled) = fill_after_run(&template_path(version), &info, &report, tmp.path()).unwrap();
        assert_eq!(path, tmp.path().join("PRODUCT.yaml"));
        assert!(filled.complete());
        let submission = Submission::load(&path).unwrap();
        let first = &submission.sections[0].entries[0];
        assert_eq!(first.evidence, ["results.json", "junit.xml", "report.md", "evidence/dra_support/"]);
        // Without results.json in the folder there is nothing to cite: refused, nothing written.
        let empty = tempfile::tempdir().unwrap();
        let err = fill_after_run(&template_path(version), &info, &report, empty.path()).unwrap_err();
        assert!(err.to_string().contains("results.json does not exist"), "{err}");
        assert!(!empty.path().join("PRODUCT.yaml").exists());
    }

    #[test]
    fn bad_inputs_write_nothing() {
        let version = ConformanceVersion::V1_36;
        let (tmp, info) = run_dir(version);
        let output = tmp.path().join("PRODUCT.yaml");
        let base = FillOptions {
            results: tmp.path().join("results.json"),
            template: template_path(version),
            platform_info: info.clone(),
            output: Some(output.clone()),
        };
        let not_yaml = tmp.path().join("not.yaml");
        std::fs::write(&not_yaml, "metadata: [\n").unwrap();
        let list = tmp.path().join("list.yaml");
        std::fs::write(&list, "- 1\n").unwrap();
        let big = tmp.path().join("big.yaml");
        std::fs::File::create(&big).unwrap().set_len(50 * 1024 * 1024).unwrap();
        let cases = [
            (FillOptions { template: not_yaml.clone(), ..base.clone() }, "as YAML"),
            (FillOptions { template: list.clone(), ..base.clone() }, "the top level is a list"),
            (
                FillOptions { template: template_path(ConformanceVersion::V1_35), ..base.clone() },
                "the template is for conformance version 1.35 but the run used the 1.36 catalogue",
            ),
            (FillOptions { template: big.clone(), ..base.clone() }, "50.0 MiB"),
            (FillOptions { platform_info: not_yaml.clone(), ..base.clone() }, "as platform-info"),
            (FillOptions { results: list.clone(), ..base.clone() }, "as kaic's results.json"),
            (FillOptions { results: tmp.path().join("missing.json"), ..base.clone() }, "failed to read"),
            (
                FillOptions { output: Some(tmp.path().join("no/such/dir/PRODUCT.yaml")), ..base.clone() },
                "failed to resolve",
            ),
        ];
        for (options, expected) in cases {
            let (code, out, err) = run(|o, e| fill(&options, o, e));
            assert_eq!(code, EXIT_CANNOT, "{expected}: {out}");
            assert!(err.contains(expected), "{expected}: {err}");
            assert!(!output.exists(), "{expected}: written");
        }
        let (code, _, err) = run(|o, e| render(&RenderOptions { input: list.clone(), output: None }, o, e));
        assert_eq!(code, EXIT_CANNOT);
        assert!(err.contains("not a mapping"));
        assert!(!tmp.path().join("list.md").exists());
    }

    #[tokio::test]
    async fn validate_exit_codes() {
        let f = Fixture::new(ConformanceVersion::V1_35);
        std::fs::write(f.path(), f.product.replacen("status: \"Implemented\"", "status: \"Done\"", 1)).unwrap();
        let mut options = ValidateOptions::new(f.path());
        let (mut o, mut e) = (Vec::new(), Vec::new());
        assert_eq!(validate(&options, &mut o, &mut e).await, EXIT_NOT_MET);
        let text = String::from_utf8(o).unwrap();
        assert!(text.contains("status 'Done' is not allowed") && text.contains("INVALID"), "{text}");

        options.file = f.dir.join("nope.yaml");
        let (mut o, mut e) = (Vec::new(), Vec::new());
        assert_eq!(validate(&options, &mut o, &mut e).await, EXIT_CANNOT);
        assert!(String::from_utf8(e).unwrap().starts_with("error: failed to read"));
        options.format = Format::Json;
        let (mut o, mut e) = (Vec::new(), Vec::new());
        assert_eq!(validate(&options, &mut o, &mut e).await, EXIT_CANNOT);
        let json: serde_json::Value = serde_json::from_slice(&o).unwrap();
        assert_eq!(json["valid"], false);
        assert!(json["error"].as_str().unwrap().starts_with("failed to read"));

        options.file = f.path();
        options.template = Some(f.dir.join("missing-template.yaml"));
        let (mut o, mut e) = (Vec::new(), Vec::new());
        assert_eq!(validate(&options, &mut o, &mut e).await, EXIT_CANNOT);
    }

    #[tokio::test]
    async fn validate_online_fetches_the_template_and_checks_links() {
        let server = crate::http::tests::serve(|_, path| match path {
            "/docs/AIConformance-1.36.yaml" => {
                (200, std::fs::read_to_string(template_path(ConformanceVersion::V1_36)).unwrap())
            }
            "/up" => (200, String::new()),
            _ => (404, String::new()),
        });
        let f = Fixture::new(ConformanceVersion::V1_36);
        // Point every metadata link at the local server: one answers, the rest do not.
        let mut text = f.product.clone();
        for url in [
            "https://acme.example/ai-platform",
            "https://docs.acme.example/ai-platform",
            "https://github.com/acme/ai-platform",
        ] {
            text = text.replace(&format!("\"{url}\""), &format!("\"{}/up\"", server.base));
        }
        text = text.replace("https://acme.example/assets/ai-platform.svg", &format!("{}/logo.svg", server.base));
        // Tests send nothing beyond 127.0.0.1: drop the one link that must point at github.com.
        let k8s = text.lines().find(|l| l.contains("k8sConformanceUrl")).unwrap().to_string();
        text = text.replace(&format!("{k8s}\n"), "");
        std::fs::write(f.path(), text).unwrap();
        let mut options = ValidateOptions::new(f.path());
        options.online = true;
        options.template_base_url = format!("{}/docs", server.base);
        options.format = Format::Json;
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let code = validate(&options, &mut o, &mut e).await;
        let json: serde_json::Value = serde_json::from_slice(&o).unwrap();
        assert_eq!(code, EXIT_NOT_MET, "{json:#}");
        assert!(json["compared_with"].as_str().unwrap().ends_with("/docs/AIConformance-1.36.yaml"), "{json:#}");
        assert_eq!(json["online"], true);
        let unreachable: Vec<&str> = json["problems"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["rule"] == "url-unreachable")
            .map(|p| p["path"].as_str().unwrap())
            .collect();
        // The logo is served by no route.
        assert!(unreachable.contains(&"metadata.productLogoUrl"), "{json:#}");
        assert!(!unreachable.contains(&"metadata.websiteUrl"), "{json:#}");
    }
}
