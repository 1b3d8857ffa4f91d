//! How fast is offline validation? Builds hundreds of synthetic submissions from the four official
//! templates (each with kaic's kaic-results.json, junit.xml, report.md and evidence files beside it, so the
//! evidence and cross-check rules do real work), then validates every one and prints the timings.
//!
//! Run with `cargo bench -p kaic-certify` (optimised) or `cargo run -p kaic-certify --example …` style
//! via `cargo bench -p kaic-certify -- --quick` for fewer files.

use std::path::{Path, PathBuf};
use std::time::Instant;

use kaic_certify::checklist::Template;
use kaic_certify::fill::{FillInput, fill};
use kaic_certify::synthetic;
use kaic_certify::validate::validate_file;
use kaic_model::catalogue::ConformanceVersion;
use kaic_model::outcome::Outcome;

/// Small defects applied in turn, so most files are invalid in some way and every rule family runs.
const DEFECTS: &[(&str, &str)] = &[
    ("", ""),
    ("status: \"Implemented\"", "status: \"\""),
    ("status: \"Implemented\"", "status: \"Done\""),
    ("\"Acme Corp\"", "\"[Vendor Name]\""),
    ("- \"kaic-results.json\"", "- \"missing/kaic-results.json\""),
    ("- \"report.md\"", "- \"https://docs.acme.example/report\""),
    ("level: MUST", "level: SHOULD"),
    ("ai-platform.svg", "ai-platform.png"),
    ("/junit.xml#", "/junit.xml#TestNoSuchTest"),
];

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let per_version = if quick { 25 } else { 100 };
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let checklists = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("testdata/checklists");

    let started = Instant::now();
    let mut files: Vec<(PathBuf, Template)> = Vec::new();
    for version in ConformanceVersion::ALL {
        let template_path = checklists.join(format!("AIConformance-{version}.yaml"));
        let template_text = std::fs::read_to_string(&template_path).expect("the official template");
        let template = Template::parse(&template_path, &template_text).expect("a template");
        let dir = tmp.path().join(format!("v{version}")).join("acme");
        std::fs::create_dir_all(&dir).expect("a folder");
        let report = synthetic::report(version, |id| {
            Some(if id == "gpu_sharing" { Outcome::NotApplicable } else { Outcome::Pass })
        });
        synthetic::write_run_files(&dir, &report).expect("run files");
        let base = fill(FillInput {
            template_path: &template_path,
            template_text: &template_text,
            platform_info_path: Path::new("platform-info.yaml"),
            platform_info: &synthetic::platform_info(version),
            report: &report,
            artifacts: &synthetic::artifacts(&report),
        })
        .expect("a filled checklist")
        .yaml;
        for i in 0..per_version {
            let (from, to) = DEFECTS[i % DEFECTS.len()];
            let text = if from.is_empty() { base.clone() } else { base.replacen(from, to, 1 + i / DEFECTS.len() % 3) };
            let path = dir.join(format!("PRODUCT-{i:03}.yaml"));
            std::fs::write(&path, text).expect("a submission");
            files.push((path, template.clone()));
        }
    }
    let prepared = started.elapsed();

    // A first pass warms the file cache; the second is timed.
    for (path, template) in &files {
        validate_file(path, Some(template)).expect("validated");
    }
    let started = Instant::now();
    let (mut valid, mut problems) = (0, 0);
    for (path, template) in &files {
        let report = validate_file(path, Some(template)).expect("validated");
        valid += usize::from(report.is_valid());
        problems += report.problems.len();
    }
    let elapsed = started.elapsed();
    println!(
        "prepared {} submissions (4 templates x {per_version}) in {:.0} ms",
        files.len(),
        prepared.as_secs_f64() * 1000.0
    );
    println!(
        "validated {} submissions offline in {:.1} ms ({:.0} µs each): {valid} valid, {problems} problems found",
        files.len(),
        elapsed.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1e6 / files.len() as f64
    );
}
