//! The program's artifact and path rules in both directions, on the small files of
//! `testdata/artefacts/`: a file that satisfies a rule passes it, one that breaks it is caught.

use kaic_model::catalogue::ConformanceVersion;

use super::super::policy::{MustNaRow, MustNotApplicable, Policy};
use super::super::{Basis, Rule, Severity, ValidationReport, validate_with_policy};
use super::{Fixture, rules, set_field};

/// Copies `testdata/artefacts/<folder>/<file>` into the submission as `<into>/<file>`.
fn copy(f: &Fixture, folder: &str, into: &str) {
    let from = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("testdata/artefacts")
        .join(folder);
    let to = f.dir.join(into);
    std::fs::create_dir_all(&to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn found(report: &ValidationReport) -> Vec<(Rule, String)> {
    report.problems.iter().map(|p| (p.rule, p.path.clone())).collect()
}

const GANG: &str = "spec.schedulingOrchestration[0] (gang_scheduling)";

#[test]
fn the_upstream_suites_files_pass_with_or_without_fragments() {
    for version in [ConformanceVersion::V1_37, ConformanceVersion::V1_33] {
        let f = Fixture::new(version);
        copy(&f, "upstream", "upstream");
        let product = format!("v{version}/acme");
        // Bare names look up the mapped upstream test; fragments name any test; file:// forms resolve in
        // the product folder, with or without the product's own vX.Y/<dir>/ and a third slash.
        let evidence = format!(
            "[upstream/junit.xml, \"upstream/e2e.log#TestGangScheduling\", \"file://upstream/results.json\", \
             \"file:///{product}/upstream/junit.xml#TestGangScheduling\", \"file://{product}/upstream/e2e.log\"]"
        );
        let text = set_field(&f.product, "gang_scheduling", "evidence", &evidence);
        let report = f.validate(&text);
        assert!(report.problems.is_empty(), "{version}:\n{}", report.to_text());
    }
}

#[test]
fn a_skipped_test_is_fine_unless_the_requirement_is_implemented() {
    let f = Fixture::new(ConformanceVersion::V1_37);
    copy(&f, "upstream", "results");
    // cluster_autoscaling's upstream test was skipped: Implemented cannot cite it …
    let text = set_field(&f.product, "cluster_autoscaling", "evidence", "[results/junit.xml]");
    let report = f.validate(&text);
    let at = "spec.schedulingOrchestration[1] (cluster_autoscaling).evidence[0]";
    assert_eq!(found(&report), [(Rule::ArtifactTestSkipped, at.to_string())], "{}", report.to_text());
    assert!(report.problems[0].message.contains("test 'TestAcceleratorClusterAutoscaling' was skipped"));
    // … but an honest Not Implemented can (the MUST itself is then the program's error).
    let text = set_field(&text, "cluster_autoscaling", "status", "\"Not Implemented\"");
    let report = f.validate(&text);
    assert_eq!(rules(&report), [Rule::MustNotImplemented, Rule::KaicDisagreement].into(), "{}", report.to_text());
}

#[test]
fn failures_anywhere_in_a_cited_file_are_reported_once_per_file() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    copy(&f, "failing", "upstream");
    // TestGangScheduling passed, but the file also holds a failed unit test; two requirements cite it.
    let text = set_field(&f.product, "gang_scheduling", "evidence", "[\"upstream/junit.xml#TestGangScheduling\"]");
    let text = set_field(&text, "ai_inference", "evidence", "[\"upstream/junit.xml#TestGangScheduling\"]");
    let report = f.validate(&text);
    assert_eq!(
        found(&report),
        [(Rule::ArtifactFailing, "spec.networking[0] (ai_inference).evidence[0]".to_string())],
        "{}",
        report.to_text()
    );
    assert!(report.problems[0].message.contains("contains failing tests: TestParseConfig, TestHelper"));
    // results.json: a failed test and a package that failed to build.
    let text = set_field(&f.product, "gang_scheduling", "evidence", "[\"upstream/results.json#TestGangScheduling\"]");
    let report = f.validate(&text);
    assert_eq!(found(&report), [(Rule::ArtifactFailing, format!("{GANG}.evidence[0]"))]);
    assert!(report.problems[0].message.contains("TestParseConfig, package example.com/broken"));
}

#[test]
fn unreadable_files_are_reported_once_and_then_left_alone() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    copy(&f, "ginkgo", "logs");
    let text = set_field(&f.product, "gang_scheduling", "evidence", "[logs/e2e.log, \"logs/e2e.log#gang\"]");
    let report = f.validate(&text);
    assert_eq!(found(&report), [(Rule::ArtifactUnreadable, format!("{GANG}.evidence[0]"))], "{}", report.to_text());
    assert!(report.problems[0].message.contains("is not go test -v output (no test results found"));
    // The same file under another name is not parsed at all (the program's rename loophole, #143).
    std::fs::rename(f.dir.join("logs/e2e.log"), f.dir.join("logs/e2e-results.log")).unwrap();
    let text = set_field(&f.product, "gang_scheduling", "evidence", "[\"logs/e2e-results.log#gang\"]");
    assert!(f.validate(&text).problems.is_empty());
}

#[test]
fn kaics_report_under_the_old_name_is_named_in_the_message() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    std::fs::copy(f.dir.join("kaic-results.json"), f.dir.join("results.json")).unwrap();
    let text = set_field(&f.product, "gang_scheduling", "evidence", "[results.json]");
    let report = f.validate(&text);
    assert_eq!(found(&report), [(Rule::ArtifactUnreadable, format!("{GANG}.evidence[0]"))], "{}", report.to_text());
    let message = &report.problems[0].message;
    assert!(message.contains("is kaic's own report") && message.contains("cite kaic's report as kaic-results.json"));
    assert!(message.contains("parsing go test JSON at line 1"), "{message}");
}

#[test]
fn parsing_applies_to_every_version_and_the_recommendation_from_1_37() {
    for version in [ConformanceVersion::V1_33, ConformanceVersion::V1_36, ConformanceVersion::V1_37] {
        let f = Fixture::new(version);
        // kaic's own files without fragments: the program looks for the upstream name.
        let text = set_field(&f.product, "gang_scheduling", "evidence", "[evidence/gang_scheduling/e2e.log]");
        let report = f.validate(&text);
        assert_eq!(found(&report), [(Rule::ArtifactTestMissing, format!("{GANG}.evidence[0]"))], "{version}");
        assert!(report.problems[0].message.contains("looks for TestGangScheduling"));
        // No test file at all: a warning from 1.37 on, on the program's basis for a mapped requirement.
        let text = set_field(&f.product, "gang_scheduling", "evidence", "[kaic-results.json]");
        let report = f.validate(&text);
        if version >= ConformanceVersion::V1_37 {
            assert_eq!(found(&report), [(Rule::ArtifactsRecommended, format!("{GANG}.evidence"))]);
            assert_eq!((report.problems[0].severity, report.problems[0].basis), (Severity::Warning, Basis::Program));
            assert!(report.is_valid());
        } else {
            assert!(report.problems.is_empty(), "{version}: {}", report.to_text());
        }
    }
}

#[test]
fn a_recommendation_is_not_made_where_no_automated_test_exists() {
    let f = Fixture::new(ConformanceVersion::V1_37);
    // A requirement kaic has no passing check for, completed by hand with a page: nothing to cite.
    std::fs::write(f.dir.join("ingress.md"), "# Ingress\n").unwrap();
    let report = crate::synthetic::report(f.version, |id| match id {
        "gpu_sharing" => Some(kaic_model::outcome::Outcome::NotApplicable),
        "advanced_inference_ingress" => None,
        _ => Some(kaic_model::outcome::Outcome::Pass),
    });
    super::write_run_files(&f.dir, &report);
    let text = set_field(&f.product, "advanced_inference_ingress", "evidence", "[ingress.md]");
    let report = f.validate(&text);
    assert!(report.problems.is_empty(), "{}", report.to_text());
}

#[test]
fn which_musts_may_be_na_is_the_policy_tables_data() {
    let f = Fixture::new(ConformanceVersion::V1_37);
    let na = |id: &str| {
        let text = set_field(&f.product, id, "status", "\"N/A\"");
        set_field(&text, id, "notes", "\"No node group can scale: the platform has no autoscaler.\"")
    };
    let validate =
        |text: &str, policy: Policy| validate_with_policy(&f.path(), text, Some(&f.template()), policy).unwrap();
    // Today's program: an error, which says that the requirement is conditional.
    let report = validate(&na("cluster_autoscaling"), Policy::PROGRAM);
    assert!(report.breaks(Rule::MustNotImplemented), "{}", report.to_text());
    assert!(report.problems.iter().any(|p| p.message.contains("the program's validator still demands Implemented")));
    // The pending revision (#146, 9fc8e9b), as one table row: a warning for cluster_autoscaling only.
    const PENDING: &[MustNaRow] = &[MustNaRow {
        id: "cluster_autoscaling",
        from: ConformanceVersion::V1_37,
        to: ConformanceVersion::V1_37,
        program: MustNotApplicable::Reviewed,
    }];
    let pending = Policy { must_not_applicable: PENDING, ..Policy::PROGRAM };
    let report = validate(&na("cluster_autoscaling"), pending);
    // (kaic's own read-back still disagrees: the synthetic run found it met.)
    assert_eq!(rules(&report), [Rule::MustNotApplicable, Rule::KaicDisagreement].into(), "{}", report.to_text());
    let at = "spec.schedulingOrchestration[1] (cluster_autoscaling).status";
    assert!(report.problems.iter().all(|p| p.path == at));
    assert!(report.is_valid());
    // Still not for another MUST, and still only with notes.
    assert!(validate(&na("pod_autoscaling"), pending).breaks(Rule::MustNotImplemented));
    let bare = set_field(&na("cluster_autoscaling"), "cluster_autoscaling", "notes", "\"\"");
    assert!(validate(&bare, pending).breaks(Rule::NotesMissing));
}
