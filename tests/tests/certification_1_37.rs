//! The 1.37 round trip on testenv: `kaic run` with the official 1.37 template fills PRODUCT.yaml, and
//! `kaic validate` accepts it, artefact rules included (cited per-check files with `#<check>` fragments
//! that exist and pass). Every MUST of 1.37 now has a kaic check, so the vendor's platform-info carries only
//! metadata: the whole checklist is filled from the run.
//!
//! The same run shows the runner's accelerator turn: the checks that allocate accelerators never overlap,
//! and gang_scheduling gives the turn back after its Kueue sub-case, so they run while its CPU-only
//! pod-group sub-cases do.

use kaic_e2e::{cluster, kaic, run_kaic};

#[test]
fn a_1_37_run_fills_a_checklist_that_kaic_validate_accepts() {
    let kubeconfig = cluster("default");
    let template = kaic_e2e::repo_root().join("crates/certify/testdata/checklists/AIConformance-1.37.yaml");
    let info = [
        "metadata:".to_string(),
        "  platformName: testenv".into(),
        "  platformVersion: \"0.1\"".into(),
        "  vendorName: kaic".into(),
        "  websiteUrl: https://kaic.example".into(),
        "  documentationUrl: https://kaic.example/docs".into(),
        "  productLogoUrl: https://kaic.example/logo.svg".into(),
        "  description: local".into(),
        "  contactEmailAddress: dev@kaic.example".into(),
        "  k8sConformanceUrl: https://github.com/cncf/k8s-conformance/tree/master/v1.37/testenv".into(),
    ];
    let platform_info = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(platform_info.path(), info.join("\n")).unwrap();

    let run = run_kaic(
        &kubeconfig,
        &[
            "--conformance-version",
            "1.37",
            "--checklist",
            template.to_str().unwrap(),
            "--platform-info",
            platform_info.path().to_str().unwrap(),
        ],
    );
    // (start, end) of each check, in milliseconds after the run started.
    let span = |id: &str| {
        let check = run.check(id);
        let start = check["started_after_millis"].as_u64().unwrap();
        (start, start + check["duration_millis"].as_u64().unwrap())
    };
    let gang = run.check("gang_scheduling");
    assert!(gang["evidence"].to_string().contains("gave the accelerator turn back"), "{gang:#}");
    let taking_turns = [
        "driver_runtime_management",
        "gpu_sharing",
        "secure_accelerator_access",
        "accelerator_metrics",
        "pod_autoscaling",
        "cluster_autoscaling",
        "high_performance_networking",
        "disaggregated_inference",
    ];
    let mut spans: Vec<(u64, u64, &str)> = taking_turns.iter().map(|id| (span(id).0, span(id).1, *id)).collect();
    spans.sort_unstable();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "{} and {} held the accelerator turn at once: {spans:?}", pair[0].2, pair[1].2);
    }
    assert!(spans[0].0 < span("gang_scheduling").1, "no accelerator check ran beside gang_scheduling: {spans:?}");

    let product = run.dir.path().join("PRODUCT.yaml");
    assert!(product.is_file(), "no PRODUCT.yaml: {}\n{}", run.stdout(), run.stderr());
    let text = std::fs::read_to_string(&product).unwrap();
    // kaic's own MUSTs (and the SHOULDs advanced_inference_ingress and disaggregated_inference) are filled from
    // the run, citing their own test files.
    for check in [
        "gang_scheduling",
        "secure_accelerator_access",
        "robust_controller",
        "accelerator_metrics",
        "ai_service_metrics",
        "pod_autoscaling",
        "ai_inference",
        "cluster_autoscaling",
        "advanced_inference_ingress",
        "disaggregated_inference",
    ] {
        let part = text.split(&format!("- id: {check}")).nth(1).unwrap().split("- id:").next().unwrap();
        assert!(part.contains("status: \"Implemented\""), "{check}: {part}");
        assert!(part.contains(&format!("\"evidence/{check}/junit.xml#{check}\"")), "{check}: {part}");
    }

    let validate = kaic().arg("validate").arg(&product).arg("--template").arg(&template).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&validate.stdout), String::from_utf8_lossy(&validate.stderr));
    assert_eq!(validate.status.code(), Some(0), "kaic validate refused the filled 1.37 checklist:\n{said}\n{text}");
}
