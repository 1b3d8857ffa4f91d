//! A submission kaic generates (its run files written by kaic's own writers, PRODUCT.yaml filled from
//! them, citing `results.json`, `junit.xml` and `e2e.log` with fragments) passes both the independent
//! re-implementation of the program's rules ([`super::program_rules`]) and `kaic validate`; each
//! broken variant fails both.

use kaic_model::catalogue::ConformanceVersion;
use kaic_model::outcome::Outcome;

use super::super::{Basis, Rule, Severity, validate_file};
use super::program_rules;
use super::{Fixture, baseline_report, in_item, set_field, write_run_files};

/// The generated submission, with gang_scheduling also citing the whole run's three files, by the
/// program's `file://vX.Y/<product>/` form and bare, with fragments.
fn generated(version: ConformanceVersion) -> (Fixture, String) {
    let f = Fixture::new(version);
    let own = format!("v{version}/acme");
    let last = "        - \"evidence/gang_scheduling/e2e.log#gang_scheduling\"\n";
    let text = in_item(
        &f.product,
        "gang_scheduling",
        last,
        &format!(
            "{last}        - \"file://{own}/junit.xml#gang_scheduling\"\n        - \
             \"file:///{own}/results.json#gang_scheduling\"\n        - \"e2e.log#gang_scheduling\"\n"
        ),
    );
    (f, text)
}

/// Both verdicts on `text` in the fixture's folder: (the program's errors, kaic's report).
fn both(f: &Fixture, text: &str) -> (Vec<String>, super::super::ValidationReport) {
    std::fs::write(f.path(), text).unwrap();
    let program = program_rules::check(&f.path());
    let kaic = validate_file(&f.path(), Some(&f.template())).unwrap();
    (program.errors, kaic)
}

#[test]
fn a_generated_submission_passes_the_programs_rules_and_kaic_validate() {
    for version in ConformanceVersion::ALL {
        let (f, text) = generated(version);
        assert!(text.contains("evidence/gang_scheduling/results.json#gang_scheduling"), "{text}");
        std::fs::write(f.path(), &text).unwrap();
        let program = program_rules::check(&f.path());
        assert!(program.errors.is_empty() && program.warnings.is_empty(), "{version}: {program:?}");
        let kaic = validate_file(&f.path(), Some(&f.template())).unwrap();
        assert!(kaic.problems.is_empty(), "{version}:\n{}", kaic.to_text());
    }
}

#[test]
fn a_broken_submission_fails_both() {
    let version = ConformanceVersion::V1_37;
    type Break = fn(&Fixture, &str) -> String;
    let breaks: [(&str, Rule, &str, Break); 7] = [
        ("a check failed after the checklist was filled", Rule::ArtifactTestFailed, "failed in", |f, text| {
            let report = crate::synthetic::report(f.version, |id| {
                Some(match id {
                    "gpu_sharing" => Outcome::NotApplicable,
                    "gang_scheduling" => Outcome::Fail,
                    _ => Outcome::Pass,
                })
            });
            write_run_files(&f.dir, &report);
            text.to_string()
        }),
        ("a fragment names a test the file does not hold", Rule::ArtifactTestMissing, "was not found", |_, text| {
            in_item(text, "ai_inference", "junit.xml#ai_inference", "junit.xml#TestAIInference")
        }),
        (
            "no fragment on a mapped requirement: the upstream test is looked for",
            Rule::ArtifactTestMissing,
            "'TestSecureAcceleratorAccess' referenced by 'secure_accelerator_access' was not found",
            |_, text| in_item(text, "secure_accelerator_access", "e2e.log#secure_accelerator_access", "e2e.log"),
        ),
        ("a skipped test backs an Implemented", Rule::ArtifactTestSkipped, "was skipped", |_, text| {
            set_field(text, "ai_inference", "evidence", "[\"evidence/gpu_sharing/results.json#gpu_sharing\"]")
        }),
        ("another product's folder", Rule::EvidenceOtherProduct, "a different product directory", |f, text| {
            let other = f.dir.parent().unwrap().join("other");
            std::fs::create_dir_all(&other).unwrap();
            std::fs::copy(f.dir.join("junit.xml"), other.join("junit.xml")).unwrap();
            let link = format!("file://v{}/other/junit.xml#ai_inference", f.version);
            set_field(text, "ai_inference", "evidence", &format!("[\"{link}\"]"))
        }),
        (
            "kaic's report cited under its old name",
            Rule::ArtifactUnreadable,
            "parsing go test JSON at line 1",
            |f, text| {
                let report = serde_json::to_string_pretty(&baseline_report(f.version)).unwrap();
                std::fs::write(f.dir.join("results.json"), report).unwrap();
                text.to_string()
            },
        ),
        ("Ginkgo output as e2e.log", Rule::ArtifactUnreadable, "no test results", |f, text| {
            std::fs::write(f.dir.join("e2e.log"), "Ran 2 of 7000 Specs in 41.3 seconds\nSUCCESS!\n").unwrap();
            text.to_string()
        }),
    ];
    for (what, rule, says, make) in breaks {
        let (f, text) = generated(version);
        let text = make(&f, &text);
        let (program, kaic) = both(&f, &text);
        assert!(
            program.iter().any(|e| e.contains(says)),
            "{what}: the program's rules do not say {says:?}: {program:?}"
        );
        let caught = kaic.problems.iter().find(|p| p.rule == rule);
        assert!(
            caught.is_some_and(|p| p.severity == Severity::Error && p.basis == Basis::Program),
            "{what}: kaic validate does not report {rule}:\n{}",
            kaic.to_text()
        );
    }
}
