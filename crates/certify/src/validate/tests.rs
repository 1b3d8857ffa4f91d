//! Tests of the validator on synthetic submissions made from the official templates: a complete,
//! honest submission passes with no problem at all, and every rule catches its single defect.

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
fn item_range(text: &str, id: &str) -> std::ops::Range<usize> {
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

fn in_item(text: &str, id: &str, from: &str, to: &str) -> String {
    let range = item_range(text, id);
    let item = &text[range.clone()];
    assert!(item.contains(from), "{id} has no {from:?}:\n{item}");
    format!("{}{}{}", &text[..range.start], item.replacen(from, to, 1), &text[range.end..])
}

fn set_field(text: &str, id: &str, field: &str, value: &str) -> String {
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

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "no {from:?}");
    text.replacen(from, to, 1)
}

fn rules(report: &ValidationReport) -> BTreeSet<Rule> {
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

/// A defect and where its problem must be reported.
struct Case {
    rule: Rule,
    /// Makes the defect: from the valid text and folder to the defective text (the folder may change).
    defect: fn(&Fixture) -> String,
    /// The path the problem must name.
    path: &'static str,
    /// Other rules the same defect cannot help breaking.
    also: &'static [Rule],
}

fn cases() -> Vec<Case> {
    use Rule::*;
    let c = |rule, path, defect, also| Case { rule, defect, path, also };
    vec![
        c(MetadataMissing, "metadata.vendorName", |f| replace(&f.product, "  vendorName: \"Acme Corp\"\n", ""), &[]),
        c(
            MetadataMissing,
            "metadata.description",
            |f| {
                replace(
                    &f.product,
                    "  description: \"Acme AI Platform runs training and inference on managed Kubernetes with GPUs.\"",
                    "  description: \"\"",
                )
            },
            &[],
        ),
        c(
            MetadataType,
            "metadata.platformVersion",
            |f| replace(&f.product, "platformVersion: \"2.4.1\"", "platformVersion: 2.4"),
            &[],
        ),
        c(
            MetadataPlaceholder,
            "metadata.platformName",
            |f| replace(&f.product, "\"Acme AI Platform\"", "\"[Platform Name]\""),
            &[],
        ),
        c(
            MetadataDuplicate,
            "metadata.platformName",
            |f| replace(&f.product, "metadata:\n", "metadata:\n  platform_name: Acme\n"),
            &[MetadataSpelling],
        ),
        c(MetadataSpelling, "metadata.website_url", |f| replace(&f.product, "  websiteUrl:", "  website_url:"), &[]),
        c(
            MetadataUnknown,
            "metadata.slogan",
            |f| replace(&f.product, "metadata:\n", "metadata:\n  slogan: fast\n"),
            &[],
        ),
        c(
            MetadataUrl,
            "metadata.documentationUrl",
            |f| replace(&f.product, "\"https://docs.acme.example/ai-platform\"", "\"docs.acme.example\""),
            &[],
        ),
        c(
            MetadataUrl,
            "metadata.websiteUrl",
            |f| replace(&f.product, "\"https://acme.example/ai-platform\"", "\"ftp://acme.example/\""),
            &[],
        ),
        c(MetadataLogo, "metadata.productLogoUrl", |f| replace(&f.product, "ai-platform.svg", "ai-platform.png"), &[]),
        c(
            MetadataEmail,
            "metadata.contactEmailAddress",
            |f| replace(&f.product, "conformance@acme.example", "conformance at acme"),
            &[],
        ),
        c(
            MetadataK8sConformance,
            "metadata.k8sConformanceUrl",
            |f| {
                replace(
                    &f.product,
                    "https://github.com/cncf/k8s-conformance/tree/master/",
                    "https://github.com/acme/k8s-conformance/tree/master/",
                )
            },
            &[],
        ),
        c(
            MetadataK8sConformanceVersion,
            "metadata.k8sConformanceUrl",
            |f| replace(&f.product, &format!("/tree/master/v{}/", f.version), "/tree/master/v1.30/"),
            &[],
        ),
        c(
            VersionUnknown,
            "metadata.kubernetesVersion",
            |f| replace(&f.product, &format!("kubernetesVersion: v{}", f.version), "kubernetesVersion: v1.99"),
            &[],
        ),
        c(
            VersionFolder,
            "metadata.kubernetesVersion",
            |f| {
                // The same submission, filed under another version's folder.
                let folder = if f.version == ConformanceVersion::V1_35 { "v1.36" } else { "v1.35" };
                let other = f.dir.parent().unwrap().parent().unwrap().join(folder).join("acme");
                copy_dir(&f.dir, &other);
                std::fs::write(other.join("PRODUCT.yaml"), &f.product).unwrap();
                format!("@{}", other.join("PRODUCT.yaml").display())
            },
            &[],
        ),
        c(
            SpecShape,
            "spec",
            |f| format!("{}spec: [accelerators]\n", &f.product[..f.product.find("spec:").unwrap()]),
            &[],
        ),
        c(
            SpecShape,
            "spec.security",
            |f| {
                let r = item_range(&f.product, "secure_accelerator_access");
                let header = f.product[..r.start].rfind("  security:\n").unwrap();
                format!("{}  security: 5\n{}", &f.product[..header], &f.product[r.end..])
            },
            &[RequirementMissing],
        ),
        c(
            RequirementMissing,
            "spec.security",
            |f| {
                let r = item_range(&f.product, "secure_accelerator_access");
                format!("{}{}", &f.product[..r.start], &f.product[r.end..])
            },
            &[],
        ),
        c(
            RequirementAdded,
            "spec.security[1].id",
            |f| {
                let r = item_range(&f.product, "secure_accelerator_access");
                let item =
                    f.product[r.clone()].replace("id: secure_accelerator_access", "id: secure_accelerator_sharing");
                format!("{}{item}{}", &f.product[..r.end], &f.product[r.end..])
            },
            &[],
        ),
        c(RequirementAdded, "spec.extras", |f| format!("{}  extras: []\n", f.product), &[]),
        c(
            RequirementDuplicate,
            "spec.security[1].id",
            |f| {
                let r = item_range(&f.product, "secure_accelerator_access");
                format!("{}{}{}", &f.product[..r.end], &f.product[r.clone()], &f.product[r.end..])
            },
            &[],
        ),
        c(
            RequirementMoved,
            "spec.security[1].id",
            |f| {
                let r = item_range(&f.product, "gang_scheduling");
                let item = f.product[r.clone()].to_string();
                let without = format!("{}{}", &f.product[..r.start], &f.product[r.end..]);
                let s = item_range(&without, "secure_accelerator_access");
                format!("{}{item}{}", &without[..s.end], &without[s.end..])
            },
            &[],
        ),
        c(
            RequirementChanged,
            "spec.networking[0].description",
            |f| {
                in_item(
                    &f.product,
                    "ai_inference",
                    "Support the Kubernetes Gateway API",
                    "Supports the Kubernetes Gateway API",
                )
            },
            &[],
        ),
        c(
            RequirementChanged,
            "spec.networking[0].level",
            |f| in_item(&f.product, "ai_inference", "level: MUST", "level: SHOULD"),
            &[],
        ),
        c(
            RequirementChanged,
            "spec.networking[0].id",
            |f| in_item(&f.product, "ai_inference", "- id: ai_inference", "- id: 42"),
            &[RequirementMissing],
        ),
        c(
            RequirementUnknownField,
            "spec.networking[0].owner",
            |f| in_item(&f.product, "ai_inference", "      level: MUST\n", "      level: MUST\n      owner: me\n"),
            &[],
        ),
        c(
            StatusInvalid,
            "spec.networking[0].status",
            |f| set_field(&f.product, "ai_inference", "status", "\"implemented\""),
            &[],
        ),
        c(StatusInvalid, "spec.networking[0].status", |f| set_field(&f.product, "ai_inference", "status", "\"\""), &[]),
        c(
            StatusInvalid,
            "spec.networking[0].status",
            |f| set_field(&f.product, "ai_inference", "status", "[Implemented]"),
            &[],
        ),
        c(
            MustNotImplemented,
            "spec.networking[0].status",
            |f| set_field(&f.product, "ai_inference", "status", "\"Partially Implemented\""),
            &[],
        ),
        c(
            EvidenceMissing,
            "spec.networking[0].evidence",
            |f| set_field(&f.product, "ai_inference", "evidence", "[]"),
            &[],
        ),
        c(
            EvidenceType,
            "spec.networking[0].evidence",
            |f| set_field(&f.product, "ai_inference", "evidence", "\"results.json\""),
            &[],
        ),
        c(
            EvidenceType,
            "spec.networking[0].evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[results.json, {a: b}]"),
            &[],
        ),
        c(
            EvidenceInvalid,
            "spec.networking[0].evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[results.json, \"ftp://acme.example/x\"]"),
            &[],
        ),
        c(
            EvidenceInvalid,
            "spec.networking[0].evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[results.json, /home/me/results.json]"),
            &[],
        ),
        c(
            EvidenceInvalid,
            "spec.networking[0].evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[results.json, \"evidence\\\\ai_inference\"]"),
            &[],
        ),
        c(
            EvidenceInvalid,
            "spec.networking[0].evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[results.json, \"\"]"),
            &[],
        ),
        c(
            EvidenceOutside,
            "spec.networking[0].evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[results.json, ../other/results.json]"),
            &[],
        ),
        c(
            EvidenceNotFound,
            "spec.networking[0].evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[results.json, docs/gateway.md]"),
            &[],
        ),
        c(
            EvidenceNotFound,
            "spec.networking[0].evidence[1]",
            |f| {
                set_field(
                    &f.product,
                    "ai_inference",
                    "evidence",
                    "[results.json, \"file://v1.99/acme/junit.xml#TestX\"]",
                )
            },
            &[],
        ),
        // Unreadable paths: through a file as if it were a folder, and a name no file system allows.
        c(
            EvidenceNotFound,
            "spec.networking[0].evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[results.json, results.json/inner.txt]"),
            &[],
        ),
        c(
            EvidenceNotFound,
            "spec.networking[0].evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[results.json, \"docs/a\\0b.md\"]"),
            &[],
        ),
        c(NotesMissing, "{should}.notes", |f| set_field(&f.product, first_should(f), "notes", "\"\""), &[]),
        c(
            NotesRecommended,
            "{should}.notes",
            |f| {
                let id = first_should(f);
                set_field(&set_field(&f.product, id, "status", "\"Not Implemented\""), id, "notes", "\"\"")
            },
            &[KaicDisagreement],
        ),
        c(
            NotesToVerify,
            "spec.networking[0].notes",
            |f| set_field(&f.product, "ai_inference", "notes", "\"TO VERIFY: check the gateway\""),
            &[],
        ),
        c(
            KaicUnreadable,
            "spec.accelerators[0].evidence[0]",
            |f| {
                std::fs::write(f.dir.join("results.json"), "{\"schema\": \"kaic.dev/results/v1\", \"run_id\": 5}")
                    .unwrap();
                f.product.clone()
            },
            &[],
        ),
        c(
            KaicVersion,
            "spec.accelerators[0].evidence[0]",
            |f| {
                let other = if f.version == ConformanceVersion::V1_36 {
                    ConformanceVersion::V1_35
                } else {
                    ConformanceVersion::V1_36
                };
                let mut report = baseline_report(f.version);
                report.cluster.conformance_version = other;
                std::fs::write(f.dir.join("results.json"), serde_json::to_string(&report).unwrap()).unwrap();
                f.product.clone()
            },
            &[],
        ),
        c(
            KaicNotBacked,
            "spec.schedulingOrchestration[0].status",
            |f| {
                let report = synthetic_report(f.version, |id| {
                    Some(match id {
                        "gpu_sharing" => Outcome::NotApplicable,
                        "gang_scheduling" => Outcome::Unknown,
                        _ => Outcome::Pass,
                    })
                });
                std::fs::write(f.dir.join("results.json"), serde_json::to_string(&report).unwrap()).unwrap();
                f.product.clone()
            },
            &[],
        ),
        c(
            KaicContradiction,
            "spec.schedulingOrchestration[0].status",
            |f| {
                let report = synthetic_report(f.version, |id| {
                    Some(match id {
                        "gpu_sharing" => Outcome::NotApplicable,
                        "gang_scheduling" => Outcome::Fail,
                        _ => Outcome::Pass,
                    })
                });
                write_run_files(&f.dir, &report);
                f.product.clone()
            },
            &[],
        ),
        c(
            KaicDisagreement,
            "spec.networking[0].status",
            |f| set_field(&f.product, "ai_inference", "status", "\"Not Implemented\""),
            &[MustNotImplemented],
        ),
    ]
}

/// The first SHOULD of the version that the baseline marks N/A (gpu_sharing from 1.35), or the first
/// SHOULD made N/A here for older versions.
fn first_should(f: &Fixture) -> &'static str {
    if f.version >= ConformanceVersion::V1_35 { "gpu_sharing" } else { "dra_support" }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs one case; `"@path"` as the defect's text means "validate that file instead".
fn run_case(f: &Fixture, case: &Case) -> ValidationReport {
    let text = (case.defect)(f);
    if let Some(path) = text.strip_prefix('@') {
        return validate_file(Path::new(path), Some(&f.template())).unwrap();
    }
    f.validate(&text)
}

#[test]
fn every_single_defect_is_caught_at_its_path_and_nothing_else_is_reported() {
    for version in [ConformanceVersion::V1_36, ConformanceVersion::V1_33] {
        for (i, case) in cases().iter().enumerate() {
            let mut f = Fixture::new(version);
            if case.path.contains("{should}") && version < ConformanceVersion::V1_35 {
                // Before 1.35 the first accelerator is dra_support, which the baseline passes: make it
                // an N/A with notes first, as the 1.35+ baseline has for gpu_sharing.
                f.product = set_field(&f.product, "dra_support", "status", "\"N/A\"");
                let report = synthetic_report(version, |id| {
                    Some(if id == "dra_support" { Outcome::NotApplicable } else { Outcome::Pass })
                });
                write_run_files(&f.dir, &report);
            }
            let report = run_case(&f, case);
            let problem = report.problems.iter().find(|p| p.rule == case.rule);
            let Some(problem) = problem else {
                panic!("{version} case {i}: {} not caught:\n{}", case.rule, report.to_text());
            };
            let should =
                if version >= ConformanceVersion::V1_35 { "spec.accelerators[1]" } else { "spec.accelerators[0]" };
            assert_eq!(
                problem.path,
                case.path.replace("{should}", should),
                "{version} case {i}: {}\n{}",
                case.rule,
                report.to_text()
            );
            let mut allowed: BTreeSet<Rule> = case.also.iter().copied().collect();
            allowed.insert(case.rule);
            assert!(
                rules(&report).is_subset(&allowed),
                "{version} case {i}: {} also reported others:\n{}",
                case.rule,
                report.to_text()
            );
            assert_eq!(
                report.is_valid(),
                case.rule.severity() == Severity::Warning
                    && case.also.iter().all(|r| r.severity() == Severity::Warning),
                "{version} case {i}: {}",
                case.rule
            );
        }
    }
}

#[test]
fn every_rule_has_a_test() {
    let covered: BTreeSet<Rule> = cases().iter().map(|c| c.rule).collect();
    // Tested elsewhere: without a template (below) and online (in `online`).
    let elsewhere = [Rule::TemplateNotGiven, Rule::UrlUnreachable, Rule::UrlNotChecked];
    for rule in Rule::ALL {
        assert!(covered.contains(rule) || elsewhere.contains(rule), "no test case for {rule}");
    }
    let codes: BTreeSet<&str> = Rule::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(codes.len(), Rule::ALL.len(), "rule codes are unique");
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
fn kaic_files_of_other_tools_are_left_alone() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    // The upstream Go suite's results.json (go test -json) and a gotestsum junit.xml.
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
    let mut report = f.validate(&text);
    report.file = PathBuf::from("v1.36/acme/PRODUCT.yaml");
    report.compared_with = "AIConformance-1.36.yaml".into();
    insta::assert_snapshot!(report.to_text());
    let json = report.to_json();
    assert_eq!(json["valid"], false);
    assert_eq!(json["errors"], 3);
    assert_eq!(json["problems"][0]["rule"], "metadata-placeholder");
    assert_eq!(json["problems"][0]["path"], "metadata.vendorName");
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
        let row = format!("| `{}` | {} | {} |", rule.code(), rule.severity(), rule.summary());
        assert!(readme.contains(&row), "README lacks: {row}");
    }
}
