//! Every rule catches its single defect, at its path (which names the requirement), and nothing else
//! is reported.

use std::collections::BTreeSet;
use std::path::Path;

use kaic_model::catalogue::ConformanceVersion;
use kaic_model::outcome::Outcome;

use super::super::{Rule, Severity, ValidationReport, validate_file};
use super::{Fixture, baseline_report, in_item, item_range, replace, rules, set_field, write_run_files};
use crate::fill::tests::synthetic_report;

/// A defect and where its problem must be reported.
pub(super) struct Case {
    pub rule: Rule,
    /// Makes the defect: from the valid text and folder to the defective text (the folder may change).
    pub defect: fn(&Fixture) -> String,
    /// The path the problem must name.
    pub path: &'static str,
    /// Other rules the same defect cannot help breaking.
    pub also: &'static [Rule],
}

fn cases() -> Vec<Case> {
    let mut cases = path_and_answer_cases();
    cases.extend(super::artifact_cases::cases());
    cases
}

fn path_and_answer_cases() -> Vec<Case> {
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
            "spec.security (secure_accelerator_access)",
            |f| {
                let r = item_range(&f.product, "secure_accelerator_access");
                format!("{}{}", &f.product[..r.start], &f.product[r.end..])
            },
            &[],
        ),
        c(
            RequirementAdded,
            "spec.security[1] (secure_accelerator_sharing).id",
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
            "spec.security[1] (secure_accelerator_access).id",
            |f| {
                let r = item_range(&f.product, "secure_accelerator_access");
                format!("{}{}{}", &f.product[..r.end], &f.product[r.clone()], &f.product[r.end..])
            },
            &[],
        ),
        c(
            RequirementMoved,
            "spec.security[1] (gang_scheduling).id",
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
            "spec.networking[0] (ai_inference).description",
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
            "spec.networking[0] (ai_inference).level",
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
            "spec.networking[0] (ai_inference).owner",
            |f| in_item(&f.product, "ai_inference", "      level: MUST\n", "      level: MUST\n      owner: me\n"),
            &[],
        ),
        c(
            StatusInvalid,
            "spec.networking[0] (ai_inference).status",
            |f| set_field(&f.product, "ai_inference", "status", "\"implemented\""),
            &[],
        ),
        c(
            StatusInvalid,
            "spec.networking[0] (ai_inference).status",
            |f| set_field(&f.product, "ai_inference", "status", "\"\""),
            &[],
        ),
        c(
            StatusInvalid,
            "spec.networking[0] (ai_inference).status",
            |f| set_field(&f.product, "ai_inference", "status", "[Implemented]"),
            &[],
        ),
        c(
            MustNotImplemented,
            "spec.networking[0] (ai_inference).status",
            |f| set_field(&f.product, "ai_inference", "status", "\"Partially Implemented\""),
            &[],
        ),
        c(
            EvidenceMissing,
            "spec.networking[0] (ai_inference).evidence",
            |f| set_field(&f.product, "ai_inference", "evidence", "[]"),
            &[],
        ),
        c(
            EvidenceRecommended,
            "{acc0}.evidence",
            |f| set_field(&f.product, first_accelerator(f), "evidence", "[]"),
            &[],
        ),
        c(
            EvidenceType,
            "spec.networking[0] (ai_inference).evidence",
            |f| set_field(&f.product, "ai_inference", "evidence", "\"kaic-results.json\""),
            &[],
        ),
        c(
            EvidenceType,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, {a: b}]"),
            &[],
        ),
        c(
            EvidenceInvalid,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, \"ftp://acme.example/x\"]"),
            &[],
        ),
        c(
            EvidenceInvalid,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, /home/me/results.json]"),
            &[],
        ),
        c(
            EvidenceInvalid,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, \"evidence\\\\ai_inference\"]"),
            &[],
        ),
        c(
            EvidenceEmpty,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, \"\"]"),
            &[],
        ),
        c(
            EvidenceOutside,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, ../other/results.json]"),
            &[],
        ),
        c(
            EvidenceNotFound,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, docs/gateway.md]"),
            &[],
        ),
        // Unreadable paths: through a file as if it were a folder, and a name no file system allows.
        c(
            EvidenceNotFound,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, kaic-results.json/inner.txt]"),
            &[],
        ),
        c(
            EvidenceNotFound,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, \"docs/a\\0b.md\"]"),
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
            "spec.networking[0] (ai_inference).notes",
            |f| set_field(&f.product, "ai_inference", "notes", "\"TO VERIFY: check the gateway\""),
            &[],
        ),
        c(
            KaicUnreadable,
            "{acc0}.evidence[3]",
            |f| {
                std::fs::write(f.dir.join("kaic-results.json"), "{\"schema\": \"kaic.dev/results/v1\", \"run_id\": 5}")
                    .unwrap();
                f.product.clone()
            },
            &[],
        ),
        c(
            KaicVersion,
            "{acc0}.evidence[3]",
            |f| {
                let other = if f.version == ConformanceVersion::V1_36 {
                    ConformanceVersion::V1_35
                } else {
                    ConformanceVersion::V1_36
                };
                let mut report = baseline_report(f.version);
                report.cluster.conformance_version = other;
                std::fs::write(f.dir.join("kaic-results.json"), serde_json::to_string(&report).unwrap()).unwrap();
                f.product.clone()
            },
            &[],
        ),
        c(
            KaicInterrupted,
            "{acc0}.evidence[3]",
            |f| {
                let mut report = baseline_report(f.version);
                report.interrupted = true;
                std::fs::write(f.dir.join("kaic-results.json"), serde_json::to_string(&report).unwrap()).unwrap();
                f.product.clone()
            },
            &[],
        ),
        c(
            KaicNotRun,
            "spec.schedulingOrchestration[0] (gang_scheduling).status",
            |f| {
                // gang_scheduling left out with --skip; PRODUCT.yaml still claims it, citing kaic-results.json.
                let report = crate::synthetic::skip(baseline_report(f.version), "gang_scheduling");
                std::fs::write(f.dir.join("kaic-results.json"), serde_json::to_string(&report).unwrap()).unwrap();
                f.product.clone()
            },
            &[],
        ),
        c(
            KaicNotRun,
            "spec.schedulingOrchestration[0] (gang_scheduling).status",
            |f| {
                // The check ended in error; the answer cites only the vendor's own page, not kaic's files.
                let report = synthetic_report(f.version, |id| {
                    Some(match id {
                        "gpu_sharing" => Outcome::NotApplicable,
                        "gang_scheduling" => Outcome::Error,
                        _ => Outcome::Pass,
                    })
                });
                write_run_files(&f.dir, &report);
                std::fs::write(f.dir.join("gang.md"), "# Gang scheduling\n").unwrap();
                set_field(&f.product, "gang_scheduling", "evidence", "[gang.md]")
            },
            &[],
        ),
        c(
            KaicNotBacked,
            "spec.schedulingOrchestration[0] (gang_scheduling).status",
            |f| {
                let report = synthetic_report(f.version, |id| {
                    Some(match id {
                        "gpu_sharing" => Outcome::NotApplicable,
                        "gang_scheduling" => Outcome::Unknown,
                        _ => Outcome::Pass,
                    })
                });
                std::fs::write(f.dir.join("kaic-results.json"), serde_json::to_string(&report).unwrap()).unwrap();
                f.product.clone()
            },
            &[],
        ),
        c(
            KaicContradiction,
            "spec.schedulingOrchestration[0] (gang_scheduling).status",
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
            &[ArtifactFailing, ArtifactTestFailed],
        ),
        c(
            KaicDisagreement,
            "spec.networking[0] (ai_inference).status",
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

/// The first requirement of the version, a SHOULD the baseline marks Implemented (in 1.33, 1.34 and
/// 1.36; 1.35's is dra_support as a MUST, and 1.35 is not among the versions the cases run on).
fn first_accelerator(f: &Fixture) -> &'static str {
    if f.version >= ConformanceVersion::V1_36 { "driver_runtime_management" } else { "dra_support" }
}

/// A case's path with its placeholders for the version's requirement ids filled in.
fn expected_path(case: &Case, version: ConformanceVersion) -> String {
    let (should, first) = if version >= ConformanceVersion::V1_35 {
        ("spec.accelerators[1] (gpu_sharing)", "spec.accelerators[0] (driver_runtime_management)")
    } else {
        ("spec.accelerators[0] (dra_support)", "spec.accelerators[0] (dra_support)")
    };
    case.path.replace("{should}", should).replace("{acc0}", first)
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

/// The versions a case runs on: the artifact recommendation is a rule from 1.37 on.
fn versions(case: &Case) -> &'static [ConformanceVersion] {
    if case.rule == Rule::ArtifactsRecommended {
        &[ConformanceVersion::V1_37]
    } else {
        &[ConformanceVersion::V1_36, ConformanceVersion::V1_33]
    }
}

#[test]
fn every_single_defect_is_caught_at_its_path_and_nothing_else_is_reported() {
    for version in [ConformanceVersion::V1_37, ConformanceVersion::V1_36, ConformanceVersion::V1_33] {
        for (i, case) in cases().iter().enumerate().filter(|(_, c)| versions(c).contains(&version)) {
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
            assert_eq!(
                problem.path,
                expected_path(case, version),
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
    // Tested elsewhere: without a template (below), online (in `online`), and under a pending revision
    // of the program's rules (in `artifacts`).
    let elsewhere = [Rule::TemplateNotGiven, Rule::UrlUnreachable, Rule::UrlNotChecked, Rule::MustNotApplicable];
    for rule in Rule::ALL {
        assert!(covered.contains(rule) || elsewhere.contains(rule), "no test case for {rule}");
    }
    let codes: BTreeSet<&str> = Rule::ALL.iter().map(|r| r.code()).collect();
    assert_eq!(codes.len(), Rule::ALL.len(), "rule codes are unique");
}
