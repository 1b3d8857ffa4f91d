//! Tests of the validator on synthetic submissions made from the official templates (kept in
//! `testdata/checklists/`): a complete, honest submission passes with no problem at all, every rule
//! catches its single defect ([`cases`]), what reviewers accept is accepted ([`reviewers`]), the
//! program's artifact rules hold both ways on small files ([`artifacts`]), and a generated submission
//! passes an independent re-implementation of the program's rules ([`program_rules`], [`submission`]).

mod artifact_cases;
mod artifacts;
mod cases;
pub(crate) mod program_rules;
mod reviewers;
mod submission;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kaic_model::catalogue::ConformanceVersion;
use kaic_model::outcome::Outcome;
use kaic_model::report::RunReport;

use super::*;
use crate::checklist::tests::template_path;
use crate::fill::tests::{artifacts_for, metadata_only, synthetic_report};
use crate::fill::{FillInput, fill};

/// A submission folder laid out as in the program's repository: `<tmp>/v1.36/acme/` holding
/// PRODUCT.yaml and kaic's files.
pub(crate) struct Fixture {
    pub _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    pub version: ConformanceVersion,
    pub product: String,
}

/// The run behind the valid baseline: everything passes, except that gpu_sharing (1.35 on) does not
/// apply, so the baseline also holds an N/A.
pub(crate) fn baseline_report(version: ConformanceVersion) -> RunReport {
    synthetic_report(version, |id| Some(if id == "gpu_sharing" { Outcome::NotApplicable } else { Outcome::Pass }))
}

pub(crate) fn write_run_files(dir: &Path, report: &RunReport) {
    crate::synthetic::write_run_files(dir, report).unwrap();
}

impl Fixture {
    pub(crate) fn new(version: ConformanceVersion) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(format!("v{version}")).join("acme");
        std::fs::create_dir_all(&dir).unwrap();
        let report = baseline_report(version);
        write_run_files(&dir, &report);
        let template = template_path(version);
        let text = std::fs::read_to_string(&template).unwrap();
        let product = fill(FillInput {
            template_path: &template,
            template_text: &text,
            platform_info_path: Path::new("platform-info.yaml"),
            platform_info: &metadata_only(version),
            report: &report,
            artifacts: &artifacts_for(&report),
        })
        .unwrap()
        .yaml;
        Self { _tmp: tmp, dir, version, product }
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.join("PRODUCT.yaml")
    }

    pub(crate) fn template(&self) -> Template {
        Template::load(&template_path(self.version)).unwrap()
    }

    pub(crate) fn validate(&self, text: &str) -> ValidationReport {
        std::fs::write(self.path(), text).unwrap();
        validate_file(&self.path(), Some(&self.template())).unwrap()
    }
}

/// The byte range of one requirement's lines.
pub(super) fn item_range(text: &str, id: &str) -> std::ops::Range<usize> {
    let start = text.find(&format!("    - id: {id}\n")).unwrap_or_else(|| panic!("no item {id}"));
    let mut end = start;
    for (i, line) in text[start..].split_inclusive('\n').enumerate() {
        let indent = line.len() - line.trim_start().len();
        if i > 0 && (line.trim_start().starts_with("- id:") || indent <= 2) {
            break;
        }
        end += line.len();
    }
    start..end
}

pub(super) fn in_item(text: &str, id: &str, from: &str, to: &str) -> String {
    let range = item_range(text, id);
    let item = &text[range.clone()];
    assert!(item.contains(from), "{id} has no {from:?}:\n{item}");
    format!("{}{}{}", &text[..range.start], item.replacen(from, to, 1), &text[range.end..])
}

pub(super) fn set_field(text: &str, id: &str, field: &str, value: &str) -> String {
    let range = item_range(text, id);
    let mut out = String::new();
    let mut skipping = false;
    for line in text[range.clone()].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if skipping && trimmed.starts_with("- ") && !trimmed.starts_with("- id:") {
            continue;
        }
        skipping = false;
        if trimmed.starts_with(&format!("{field}:")) {
            out.push_str(&format!("      {field}: {value}\n"));
            skipping = field == "evidence";
            continue;
        }
        out.push_str(line);
    }
    format!("{}{}{}", &text[..range.start], out, &text[range.end..])
}

pub(super) fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "no {from:?}");
    text.replacen(from, to, 1)
}

pub(super) fn rules(report: &ValidationReport) -> BTreeSet<Rule> {
    report.problems.iter().map(|p| p.rule).collect()
}

#[test]
fn a_complete_honest_submission_of_every_version_passes_with_no_problem() {
    for version in ConformanceVersion::ALL {
        let f = Fixture::new(version);
        let report = f.validate(&f.product);
        assert!(report.problems.is_empty(), "{version}: {}", report.to_text());
        assert!(report.is_valid());
        assert_eq!(report.version, Some(version));
        // The links found are the metadata URLs (no evidence URL in the baseline).
        assert_eq!(report.links.len(), 5, "{:?}", report.links);
    }
}

#[test]
fn without_a_template_the_catalogue_is_used_and_that_is_said() {
    let f = Fixture::new(ConformanceVersion::V1_35);
    std::fs::write(f.path(), &f.product).unwrap();
    let report = validate_file(&f.path(), None).unwrap();
    assert_eq!(rules(&report), BTreeSet::from([Rule::TemplateNotGiven]));
    assert!(report.is_valid());
    assert!(report.compared_with.contains("catalogue"));
    // The catalogue still knows ids, sections and levels.
    let moved = in_item(&f.product, "ai_inference", "level: MUST", "level: SHOULD");
    std::fs::write(f.path(), moved).unwrap();
    let report = validate_file(&f.path(), None).unwrap();
    assert!(report.breaks(Rule::RequirementChanged));
}

#[test]
fn files_that_are_not_checklists_cannot_be_validated() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    let err = |text: &str| {
        std::fs::write(f.path(), text).unwrap();
        validate_file(&f.path(), Some(&f.template())).unwrap_err().to_string()
    };
    assert!(err("metadata: [unclosed\n").contains("as YAML"));
    assert!(err("- a\n- b\n").contains("the top level is a list, not a mapping"));
    assert!(err("apiVersion: v1\nkind: Pod\n").contains("neither metadata nor spec (its keys: apiVersion, kind)"));
    // A template of another version.
    std::fs::write(f.path(), &f.product).unwrap();
    let other = Template::load(&template_path(ConformanceVersion::V1_35)).unwrap();
    let e = validate_file(&f.path(), Some(&other)).unwrap_err().to_string();
    assert!(e.contains("it is for conformance version 1.36 but the template") && e.contains("is for 1.35"), "{e}");
    // 50 MB.
    let big = f.dir.join("big.yaml");
    std::fs::File::create(&big).unwrap().set_len(50 * 1024 * 1024).unwrap();
    let e = validate_file(&big, None).unwrap_err().to_string();
    assert!(e.contains("it is 50.0 MiB, more than the 4.0 MiB"), "{e}");
}

#[test]
fn files_no_entry_cites_are_not_read() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    // An upstream Go suite's results.json (go test -json) and a gotestsum junit.xml in the folder, with
    // no test kaic's entries name: only what an entry cites is parsed.
    std::fs::write(f.dir.join("results.json"), "{\"Action\":\"run\",\"Test\":\"TestX\"}\n{\"Action\":\"pass\"}\n")
        .unwrap();
    std::fs::write(f.dir.join("junit.xml"), "<testsuites name=\"gotestsum\"><testsuite name=\"x\" tests=\"1\"><testcase name=\"TestX\" classname=\"x\"/></testsuite></testsuites>").unwrap();
    let report = f.validate(&f.product);
    assert!(report.problems.is_empty(), "{}", report.to_text());
}

#[test]
fn text_and_json_reports() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    let text = set_field(&f.product, "secure_accelerator_access", "status", "\"\"");
    let text = replace(&text, "\"Acme Corp\"", "\"[Vendor Name]\"");
    let text = set_field(&text, "gpu_sharing", "notes", "\"\"");
    // One of kaic's own rules too, so the verdict tells them apart.
    let text = replace(&text, "conformance@acme.example", "conformance at acme");
    let mut report = f.validate(&text);
    report.file = PathBuf::from("v1.36/acme/PRODUCT.yaml");
    report.compared_with = "AIConformance-1.36.yaml".into();
    insta::assert_snapshot!(report.to_text());
    let json = report.to_json();
    assert_eq!(json["valid"], false);
    assert_eq!(json["errors"], 4);
    assert_eq!((json["program_errors"].as_u64(), json["kaic_errors"].as_u64()), (Some(3), Some(1)));
    assert_eq!(json["problems"][0]["rule"], "metadata-placeholder");
    assert_eq!(json["problems"][0]["path"], "metadata.vendorName");
    assert_eq!(json["problems"][0]["basis"], "program");
    insta::assert_json_snapshot!(json);
}

#[test]
fn the_readme_documents_every_rule() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("README.md"),
    )
    .unwrap();
    for rule in Rule::ALL {
        let row = format!("| `{}` | {} | {} | {} |", rule.code(), rule.severity(), rule.basis(), rule.summary());
        assert!(readme.contains(&row), "README lacks: {row}");
    }
}
