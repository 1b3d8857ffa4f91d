//! The single-defect cases of the program's evidence-path and artifact rules (see [`super::cases`]): each
//! breaks one rule of the program's validator (PR #141) in an otherwise valid generated submission.

use super::cases::Case;
use super::{baseline_report, in_item, set_field};
use crate::validate::Rule;

pub(super) fn cases() -> Vec<Case> {
    use Rule::*;
    let c = |rule, path, defect, also| Case { rule, defect, path, also };
    vec![
        c(
            EvidenceOtherProduct,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| {
                set_field(
                    &f.product,
                    "ai_inference",
                    "evidence",
                    "[kaic-results.json, \"file://v1.99/acme/junit.xml#TestX\"]",
                )
            },
            &[],
        ),
        c(
            EvidenceOtherProduct,
            "spec.networking[0] (ai_inference).evidence[0]",
            |f| {
                // Another product's file, which exists: the program looks in this product's folder only.
                let other = f.dir.parent().unwrap().join("other");
                std::fs::create_dir_all(&other).unwrap();
                std::fs::write(other.join("gateway.md"), "# Gateway\n").unwrap();
                let link = format!("file://v{}/other/gateway.md", f.version);
                set_field(&f.product, "ai_inference", "evidence", &format!("[\"{link}\"]"))
            },
            &[],
        ),
        c(
            EvidenceNoFile,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, \"#ai_inference\"]"),
            &[],
        ),
        c(
            EvidenceNoFile,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| {
                let own = format!("file://v{}/acme/", f.version);
                set_field(&f.product, "ai_inference", "evidence", &format!("[kaic-results.json, \"{own}\"]"))
            },
            &[],
        ),
        c(
            ArtifactUnreadable,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| {
                // kaic's own report under its old name: the program parses it as go test -json.
                let report = serde_json::to_string_pretty(&baseline_report(f.version)).unwrap();
                std::fs::write(f.dir.join("results.json"), report).unwrap();
                set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, results.json]")
            },
            &[],
        ),
        c(
            ArtifactUnreadable,
            "spec.networking[0] (ai_inference).evidence[0]",
            |f| {
                std::fs::write(f.dir.join("evidence/ai_inference/junit.xml"), "<testsuites>\n").unwrap();
                f.product.clone()
            },
            &[],
        ),
        c(
            ArtifactUnreadable,
            "spec.networking[0] (ai_inference).evidence[2]",
            |f| {
                // Ginkgo output under the name the program parses as go test -v.
                std::fs::write(f.dir.join("evidence/ai_inference/e2e.log"), "Ran 2 of 7000 Specs\nSUCCESS!\n").unwrap();
                f.product.clone()
            },
            &[],
        ),
        c(
            ArtifactFailing,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| {
                // The named test passed, but another test in the same file failed.
                let junit = "<testsuites><testsuite name=\"x\"><testcase name=\"ai_inference\"/>\
                             <testcase name=\"TestUnrelated\"><failure message=\"boom\"/></testcase></testsuite></testsuites>";
                std::fs::write(f.dir.join("junit.xml"), junit).unwrap();
                set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, \"junit.xml#ai_inference\"]")
            },
            &[],
        ),
        c(
            ArtifactTestMissing,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| {
                let link = "evidence/ai_inference/results.json#TestAiInference";
                set_field(&f.product, "ai_inference", "evidence", &format!("[kaic-results.json, \"{link}\"]"))
            },
            &[],
        ),
        c(
            ArtifactTestMissing,
            "spec.schedulingOrchestration[0] (gang_scheduling).evidence[0]",
            |f| {
                // Without a fragment the program looks for the upstream TestGangScheduling.
                in_item(&f.product, "gang_scheduling", "junit.xml#gang_scheduling", "junit.xml")
            },
            &[],
        ),
        c(
            ArtifactTestFailed,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| {
                std::fs::write(f.dir.join("e2e.log"), "=== RUN   ai_inference\n--- FAIL: ai_inference (1.20s)\nFAIL\n")
                    .unwrap();
                set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, \"e2e.log#ai_inference\"]")
            },
            &[ArtifactFailing],
        ),
        c(
            ArtifactTestSkipped,
            "spec.networking[0] (ai_inference).evidence[1]",
            |f| {
                let stream = "{\"Action\":\"skip\",\"Package\":\"p\",\"Test\":\"ai_inference/gateway\"}\n\
                              {\"Action\":\"skip\",\"Package\":\"p\",\"Test\":\"ai_inference/ingress\"}\n\
                              {\"Action\":\"pass\",\"Package\":\"p\"}\n";
                std::fs::create_dir_all(f.dir.join("upstream")).unwrap();
                std::fs::write(f.dir.join("upstream/results.json"), stream).unwrap();
                let link = "file://upstream/results.json#ai_inference";
                set_field(&f.product, "ai_inference", "evidence", &format!("[kaic-results.json, \"{link}\"]"))
            },
            &[],
        ),
        c(
            ArtifactsRecommended,
            "spec.schedulingOrchestration[0] (gang_scheduling).evidence",
            |f| set_field(&f.product, "gang_scheduling", "evidence", "[kaic-results.json, report.md]"),
            &[],
        ),
        c(
            ArtifactsRecommended,
            "spec.networking[0] (ai_inference).evidence",
            |f| set_field(&f.product, "ai_inference", "evidence", "[kaic-results.json, evidence/ai_inference/]"),
            &[],
        ),
    ]
}
