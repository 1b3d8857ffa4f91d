//! Synthetic runs and submissions for tests, the benchmark and demonstrations: a run report whose
//! checks end as the caller says, the files a run writes, and the metadata of a fictional vendor
//! (Acme, on the reserved `.example` domain).
//!
//! Nothing here touches a cluster or the network.

use std::io;
use std::path::Path;

use kaic_model::catalogue::{ConformanceVersion, requirements};
use kaic_model::evidence::Evidence;
use kaic_model::outcome::{Outcome, Verdict};
use kaic_model::report::{
    CheckReport, ClusterInfo, LeftOutCheck, RequirementReport, RunReport, RunSelection, SCHEMA_VERSION, Summary,
};

use crate::fill::RunArtifacts;
use crate::platform_info::{Metadata, PlatformInfo};

/// A run report for `version` in which each requirement has one check, named after it, that ends with
/// `outcome_of(id)`; `None`: no check ran for that requirement.
pub fn report(version: ConformanceVersion, outcome_of: impl Fn(&str) -> Option<Outcome>) -> RunReport {
    let mut checks = Vec::new();
    for r in requirements(version) {
        let Some(outcome) = outcome_of(r.id) else { continue };
        let verdict = match outcome {
            Outcome::Pass => Verdict::pass(format!("{} works", r.id)),
            Outcome::Fail => Verdict::fail(format!("{} broken", r.id), "all pods bound", "3 of 5 bound"),
            Outcome::NotApplicable => Verdict::not_applicable("no cluster autoscaler found"),
            Outcome::Unknown => Verdict::unknown("accelerator vendor not recognised: check the driver version"),
            Outcome::Error => Verdict::error("timed out after 300s"),
        };
        checks.push(CheckReport {
            id: r.id.to_string(),
            requirements: vec![r.id.to_string()],
            verdict,
            duration_millis: 1200,
            started_after_millis: 0,
            namespace: None,
            evidence: Evidence::default(),
            evidence_files: vec![format!("evidence/{}/01-pod.yaml", r.id)],
        });
    }
    let reqs: Vec<RequirementReport> =
        requirements(version).iter().map(|r| RequirementReport::roll_up(r, &checks)).collect();
    let summary = Summary::of(&reqs, &checks);
    RunReport {
        schema: SCHEMA_VERSION.into(),
        kaic_version: "0.1.0".into(),
        run_id: "r-test".into(),
        started_at: "2026-01-10T10:00:00Z".into(),
        finished_at: "2026-01-10T10:20:00Z".into(),
        cluster: ClusterInfo {
            server: "https://127.0.0.1:6443".into(),
            server_version: format!("v{version}.1"),
            conformance_version: version,
            catalogue_note: None,
            capabilities: vec!["dra".into()],
            missing_permissions: vec![],
        },
        requirements: reqs,
        checks,
        summary,
        selection: RunSelection::default(),
        left_out: vec![],
        interrupted: false,
    }
}

/// `report` as if its check `check_id` had been left out with `--skip`: the check is gone from the
/// checks, recorded as left out, and the requirements and summary are rolled up again.
pub fn skip(mut report: RunReport, check_id: &str) -> RunReport {
    let Some(at) = report.checks.iter().position(|c| c.id == check_id) else {
        return report;
    };
    let check = report.checks.remove(at);
    report.selection.skip.push(check.id.clone());
    report.left_out.push(LeftOutCheck { id: check.id, requirements: check.requirements, why: "in --skip".into() });
    let version = report.cluster.conformance_version;
    report.requirements = requirements(version).iter().map(|r| RequirementReport::roll_up(r, &report.checks)).collect();
    report.summary = Summary::of(&report.requirements, &report.checks);
    report
}

/// The fictional vendor's platform-info for `version`: every metadata field, general notes, and
/// nothing per requirement.
pub fn platform_info(version: ConformanceVersion) -> PlatformInfo {
    let s = |v: &str| Some(v.to_string());
    PlatformInfo {
        metadata: Metadata {
            kubernetes_version: None,
            platform_name: s("Acme AI Platform"),
            platform_version: s("2.4.1"),
            vendor_name: s("Acme Corp"),
            website_url: s("https://acme.example/ai-platform"),
            repo_url: s("https://github.com/acme/ai-platform"),
            documentation_url: s("https://docs.acme.example/ai-platform"),
            product_logo_url: s("https://acme.example/assets/ai-platform.svg"),
            description: s("Acme AI Platform runs training and inference on managed Kubernetes with GPUs."),
            contact_email_address: s("conformance@acme.example"),
            k8s_conformance_url: Some(format!(
                "https://github.com/cncf/k8s-conformance/tree/master/v{version}/acme-ai-platform"
            )),
        },
        notes: s("Tested on a 4-node cluster (2 nodes with 8 NVIDIA H100 each) with the default add-ons enabled.\n"),
        requirements: Default::default(),
    }
}

/// The artifacts of `report` as they lie in a run folder that also holds PRODUCT.yaml.
pub fn artifacts(report: &RunReport) -> RunArtifacts {
    let tests = |id: &str| kaic_model::render::check_test_files(id).iter().map(|f| format!("{f}#{id}")).collect();
    RunArtifacts {
        results: kaic_model::render::REPORT_FILE.into(),
        report_md: Some(kaic_model::render::MARKDOWN_FILE.into()),
        check_evidence: report.checks.iter().map(|c| (c.id.clone(), vec![format!("evidence/{}/", c.id)])).collect(),
        check_tests: report.checks.iter().map(|c| (c.id.clone(), tests(&c.id))).collect(),
        warnings: vec![],
    }
}

/// Writes the files a run writes: kaic-results.json, report.md, the test files of the run and of each
/// check, and one evidence file per check.
///
/// # Errors
/// When a file cannot be written.
pub fn write_run_files(dir: &Path, report: &RunReport) -> io::Result<()> {
    let mut files: Vec<(String, String)> = kaic_model::render::run_files(report)
        .map_err(io::Error::other)?
        .into_iter()
        .map(|f| (f.path, f.contents))
        .collect();
    for check in &report.checks {
        files.extend(check.evidence_files.iter().map(|f| (f.clone(), "kind: Pod\n".to_string())));
    }
    for (file, contents) in files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, contents)?;
    }
    Ok(())
}
