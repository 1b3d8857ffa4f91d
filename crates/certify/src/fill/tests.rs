//! Tests of the fill on the official templates (kept in `testdata/checklists/`) and synthetic runs.

use super::*;
use crate::checklist::tests::template_path;
use kaic_model::catalogue::requirements;
use kaic_model::evidence::Evidence;
use kaic_model::outcome::Verdict;
use kaic_model::report::{CheckReport, RequirementReport};

pub(crate) use crate::synthetic::{artifacts as artifacts_for, report as synthetic_report};

pub(crate) fn example_platform_info() -> PlatformInfo {
    let path = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("examples/platform-info.yaml");
    PlatformInfo::load(&path).unwrap()
}

/// Platform-info with the example's metadata for `version`, and nothing per requirement.
pub(crate) fn metadata_only(version: ConformanceVersion) -> PlatformInfo {
    let info = crate::synthetic::platform_info(version);
    let example = example_platform_info();
    assert_eq!(info.metadata.platform_name, example.metadata.platform_name, "the example and synthetic agree");
    assert_eq!(info.notes, example.notes);
    info
}

pub(crate) fn fill_template(
    version: ConformanceVersion,
    report: &RunReport,
    info: &PlatformInfo,
) -> Result<Filled, FillError> {
    let path = template_path(version);
    let text = std::fs::read_to_string(&path).unwrap();
    fill(FillInput {
        template_path: &path,
        template_text: &text,
        platform_info_path: Path::new("platform-info.yaml"),
        platform_info: info,
        report,
        artifacts: &artifacts_for(report),
    })
}

fn all_pass(version: ConformanceVersion) -> RunReport {
    synthetic_report(version, |_| Some(Outcome::Pass))
}

#[test]
fn ids_descriptions_levels_and_comments_stay_byte_for_byte() {
    for version in ConformanceVersion::ALL {
        let template = std::fs::read_to_string(template_path(version)).unwrap();
        let filled = fill_template(version, &all_pass(version), &metadata_only(version)).unwrap();
        // Every template line that carries an id, description, level or comment is in the output, in order.
        let spec_starts = template.lines().position(|l| l == "spec:").unwrap();
        let kept: Vec<&str> = template
            .lines()
            .enumerate()
            .filter(|(i, l)| {
                let t = l.trim_start();
                let in_spec = *i >= spec_starts
                    && (t.starts_with("- id:") || t.starts_with("description:") || t.starts_with("level:"));
                in_spec || t.starts_with('#') || t.ends_with(':')
            })
            .map(|(_, l)| l)
            .collect();
        let mut out = filled.yaml.lines();
        for line in &kept {
            assert!(out.any(|o| o == *line), "{version}: line missing or out of order: {line}");
        }
        // The trailing comments of the 1.33–1.35 templates survive on their lines.
        for comment in ["# Implemented, Not Implemented, Partially Implemented, N/A", "# Must provide a justification"]
        {
            assert_eq!(template.matches(comment).count(), filled.yaml.matches(comment).count(), "{version}: {comment}");
        }
    }
}

#[test]
fn all_passing_run_fills_every_requirement_implemented() {
    let version = ConformanceVersion::V1_36;
    let filled = fill_template(version, &all_pass(version), &metadata_only(version)).unwrap();
    assert!(filled.complete());
    let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
    for entry in sub.sections.iter().flat_map(|s| &s.entries) {
        assert_eq!(entry.status, "Implemented", "{}", entry.id);
        let id = &entry.id;
        assert_eq!(
            entry.evidence,
            [
                format!("evidence/{id}/junit.xml#{id}"),
                format!("evidence/{id}/results.json#{id}"),
                format!("evidence/{id}/e2e.log#{id}"),
                "kaic-results.json".to_string(),
                "report.md".to_string(),
                format!("evidence/{id}/"),
            ]
        );
        assert!(entry.notes.starts_with("Verified by kaic 0.1.0, run r-test:"), "{}", entry.notes);
    }
    assert_eq!(sub.metadata_value("platformName"), Some("Acme AI Platform"));
    assert_eq!(sub.metadata_value("kubernetesVersion"), Some("v1.36"));
    assert_eq!(sub.metadata_value("repoUrl"), Some("https://github.com/acme/ai-platform"));
    assert_eq!(
        sub.vendor_notes,
        ["Tested on a 4-node cluster (2 nodes with 8 NVIDIA H100 each) with the default add-ons enabled."]
    );
}

#[test]
fn each_outcome_maps_to_its_status_and_note() {
    let version = ConformanceVersion::V1_36;
    let report = synthetic_report(version, |id| match id {
        "ai_inference" => Some(Outcome::Fail),
        "cluster_autoscaling" => Some(Outcome::NotApplicable),
        "driver_runtime_management" => Some(Outcome::Unknown),
        "gpu_sharing" => Some(Outcome::Error),
        "disaggregated_inference" => None,
        _ => Some(Outcome::Pass),
    });
    let filled = fill_template(version, &report, &metadata_only(version)).unwrap();
    assert!(!filled.complete());
    let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
    let entry = |id: &str| sub.sections.iter().flat_map(|s| &s.entries).find(|e| e.id == id).unwrap().clone();
    let fail = entry("ai_inference");
    assert_eq!(fail.status, "Not Implemented");
    assert!(fail.notes.contains("ai_inference broken"), "{}", fail.notes);
    assert!(fail.notes.contains("expected all pods bound; observed 3 of 5 bound"), "{}", fail.notes);
    let na = entry("cluster_autoscaling");
    assert_eq!(na.status, "N/A");
    assert!(na.notes.contains("no cluster autoscaler found"));
    let unknown = entry("driver_runtime_management");
    assert_eq!(unknown.status, "");
    assert!(unknown.notes.starts_with(TO_VERIFY));
    assert!(unknown.notes.contains("check the driver version"));
    let error = entry("gpu_sharing");
    assert_eq!(error.status, "");
    assert!(error.notes.contains("could not run its check"));
    // Anything but met cites only the report and the evidence folder: the program's validator parses
    // test files, and a skipped or failed test there is an error whatever the answer.
    assert_eq!(unknown.evidence, ["kaic-results.json", "report.md", "evidence/driver_runtime_management/"]);
    assert_eq!(fail.evidence, ["kaic-results.json", "report.md", "evidence/ai_inference/"]);
    assert_eq!(na.evidence, ["kaic-results.json", "report.md", "evidence/cluster_autoscaling/"]);
    assert_eq!(error.evidence, ["kaic-results.json", "report.md", "evidence/gpu_sharing/"]);
    let none = entry("disaggregated_inference");
    assert_eq!(none.status, "");
    assert!(none.evidence.is_empty(), "no check ran: no kaic evidence");
    let rows: BTreeMap<&str, Source> = filled.rows.iter().map(|r| (r.id.as_str(), r.source)).collect();
    assert_eq!(rows["gpu_sharing"], Source::ToVerify);
    assert_eq!(rows["ai_inference"], Source::Kaic);
}

#[test]
fn partial_maps_to_partially_implemented() {
    let version = ConformanceVersion::V1_34;
    let mut report = all_pass(version);
    let extra = CheckReport {
        id: "gang_scheduling_negative".into(),
        requirements: vec!["gang_scheduling".into()],
        verdict: Verdict::unknown("could not fill the cluster"),
        duration_millis: 5,
        started_after_millis: 0,
        namespace: None,
        evidence: Evidence::default(),
        evidence_files: vec![],
    };
    report.checks.push(extra);
    report.requirements = requirements(version).iter().map(|r| RequirementReport::roll_up(r, &report.checks)).collect();
    let filled = fill_template(version, &report, &metadata_only(version)).unwrap();
    let row = filled.rows.iter().find(|r| r.id == "gang_scheduling").unwrap();
    assert_eq!(row.status, Some(Status::PartiallyImplemented));
    // Not met in full: neither check's test files are cited, though one check passed.
    let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
    let gang = sub.sections.iter().flat_map(|s| &s.entries).find(|e| e.id == "gang_scheduling").unwrap();
    assert_eq!(
        gang.evidence,
        ["kaic-results.json", "report.md", "evidence/gang_scheduling/", "evidence/gang_scheduling_negative/"]
    );
}

#[test]
fn a_met_requirement_of_an_older_run_cites_what_there_is() {
    // A run of an older kaic: its report in results.json and no test files per check.
    let version = ConformanceVersion::V1_36;
    let report = all_pass(version);
    let mut artifacts = artifacts_for(&report);
    artifacts.results = "results.json".into();
    artifacts.check_tests.clear();
    let path = template_path(version);
    let filled = fill(FillInput {
        template_path: &path,
        template_text: &std::fs::read_to_string(&path).unwrap(),
        platform_info_path: Path::new("platform-info.yaml"),
        platform_info: &metadata_only(version),
        report: &report,
        artifacts: &artifacts,
    })
    .unwrap();
    let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
    let gang = sub.sections.iter().flat_map(|s| &s.entries).find(|e| e.id == "gang_scheduling").unwrap();
    assert_eq!(
        (gang.status.as_str(), &gang.evidence[..]),
        ("Implemented", &["results.json".to_string(), "report.md".into(), "evidence/gang_scheduling/".into()][..])
    );
}

#[test]
fn vendor_links_notes_and_status_where_kaic_could_not_decide() {
    let version = ConformanceVersion::V1_36;
    let report = synthetic_report(version, |id| (id != "high_performance_networking").then_some(Outcome::Pass));
    let info = example_platform_info();
    let filled = fill_template(version, &report, &info).unwrap();
    let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
    let entry = |id: &str| sub.sections.iter().flat_map(|s| &s.entries).find(|e| e.id == id).unwrap().clone();
    let gang = entry("gang_scheduling");
    assert_eq!(gang.evidence.last().unwrap(), "https://docs.acme.example/ai-platform/scheduling/gang");
    assert!(gang.notes.ends_with("Kueue is installed and enabled by default."));
    let virt = entry("high_performance_networking");
    assert_eq!(virt.status, "N/A");
    assert!(
        virt.notes.starts_with("No workload on this platform needs high-performance pod-to-pod networking; no RDMA or multi-NIC offered. (Status given by the vendor;"),
        "{}",
        virt.notes
    );
    assert!(!virt.notes.contains(TO_VERIFY));
}

#[test]
fn vendor_status_cannot_overrule_kaic() {
    let version = ConformanceVersion::V1_36;
    let report = synthetic_report(version, |id| {
        Some(if id == "high_performance_networking" { Outcome::Fail } else { Outcome::Pass })
    });
    let err = fill_template(version, &report, &example_platform_info()).unwrap_err().to_string();
    assert!(
        err.contains(
            "requirements.high_performance_networking.status to 'N/A', but kaic decided this requirement (not met)"
        ),
        "{err}"
    );
}

#[test]
fn wrong_version_and_unknown_ids_are_refused() {
    let report = all_pass(ConformanceVersion::V1_36);
    let err = fill_template(ConformanceVersion::V1_35, &report, &metadata_only(ConformanceVersion::V1_35))
        .unwrap_err()
        .to_string();
    assert!(err.contains("the template is for conformance version 1.35 but the run used the 1.36 catalogue"), "{err}");
    // high_performance_networking is not in 1.33.
    let report = all_pass(ConformanceVersion::V1_33);
    let err = fill_template(ConformanceVersion::V1_33, &report, &example_platform_info()).unwrap_err().to_string();
    assert!(
        err.contains("names requirement 'high_performance_networking', which the 1.33 template does not have"),
        "{err}"
    );
    let mut info = metadata_only(ConformanceVersion::V1_33);
    info.metadata.kubernetes_version = Some("v1.34.1".into());
    let err = fill_template(ConformanceVersion::V1_33, &report, &info).unwrap_err().to_string();
    assert!(err.contains("metadata.kubernetesVersion 'v1.34.1' does not match the template's 1.33"), "{err}");
}

#[test]
fn k8s_conformance_url_is_added_to_old_templates_and_missing_metadata_warned() {
    let version = ConformanceVersion::V1_33;
    let filled = fill_template(version, &all_pass(version), &metadata_only(version)).unwrap();
    let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
    assert!(sub.metadata_value("k8sConformanceUrl").unwrap().ends_with("/v1.33/acme-ai-platform"));
    let mut info = metadata_only(version);
    info.metadata.vendor_name = None;
    info.metadata.repo_url = None;
    let filled = fill_template(version, &all_pass(version), &info).unwrap();
    assert!(filled.warnings.iter().any(|w| w.contains("metadata.vendorName is not in the platform-info file")));
    let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
    assert_eq!(sub.metadata_value("vendorName"), Some("[Vendor Name]"));
    assert_eq!(sub.metadata_value("repoUrl"), Some(""), "optional placeholder emptied");
}

#[test]
fn unusual_text_survives_the_round_trip() {
    let version = ConformanceVersion::V1_36;
    let mut info = metadata_only(version);
    info.metadata.vendor_name = Some("Société Générale: \"AI\" #1 \\ ✓".into());
    info.notes = Some("line one\n\nline: three # not a comment".into());
    let mut report = all_pass(version);
    report.requirements[0].reason = "weird: 'quotes' \"double\" \t tab\nnewline ünïcode".into();
    let filled = fill_template(version, &report, &info).unwrap();
    let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
    assert_eq!(sub.metadata_value("vendorName"), info.metadata.vendor_name.as_deref());
    assert_eq!(sub.vendor_notes, ["line one", "", "line: three # not a comment"]);
    assert!(filled.yaml.contains("Société"), "non-ASCII is written as is, not escaped");
    assert!(sub.sections[0].entries[0].notes.contains("ünïcode"));
}

#[test]
fn refilling_keeps_a_persons_answers_and_replaces_kaics_header() {
    let version = ConformanceVersion::V1_36;
    let first =
        synthetic_report(version, |id| Some(if id == "gpu_sharing" { Outcome::Unknown } else { Outcome::Pass }));
    let filled = fill_template(version, &first, &metadata_only(version)).unwrap();
    // A person answers gpu_sharing by hand.
    let answered = filled.yaml.replacen("status: \"\"", "status: \"Implemented\"", 1);
    let path = Path::new("PRODUCT.yaml");
    let second = fill(FillInput {
        template_path: path,
        template_text: &answered,
        platform_info_path: Path::new("pi.yaml"),
        platform_info: &metadata_only(version),
        report: &first,
        artifacts: &artifacts_for(&first),
    })
    .unwrap();
    let row = second.rows.iter().find(|r| r.id == "gpu_sharing").unwrap();
    assert_eq!((row.status, row.source), (Some(Status::Implemented), Source::Kept));
    assert_eq!(second.yaml.matches(FILLED_BY).count(), 1);
    assert_eq!(second.yaml.matches(VENDOR_NOTES_MARKER).count(), 1);
    assert!(second.yaml.starts_with("# Kubernetes AI Conformance Checklist\n"));
}

#[test]
fn filled_checklist_snapshot() {
    let version = ConformanceVersion::V1_33;
    let report = synthetic_report(version, |id| match id {
        "gang_scheduling" => Some(Outcome::Fail),
        "cluster_autoscaling" => Some(Outcome::NotApplicable),
        "pod_autoscaling" => Some(Outcome::Unknown),
        _ => Some(Outcome::Pass),
    });
    let mut info = example_platform_info();
    info.requirements.remove("high_performance_networking");
    let filled = fill_template(version, &report, &info).unwrap();
    insta::assert_snapshot!(filled.yaml);
}

/// Platform-info with the metadata and a vendor status for `id`.
fn with_vendor_status(version: ConformanceVersion, id: &str, status: &str) -> PlatformInfo {
    let mut info = metadata_only(version);
    info.requirements.insert(
        id.to_string(),
        crate::platform_info::RequirementInfo {
            evidence: vec!["https://docs.acme.example/ai-platform/gang".into()],
            notes: Some("Verified by hand.".into()),
            status: Some(status.into()),
        },
    );
    info
}

#[test]
fn vendor_status_for_a_check_left_out_of_the_run_is_refused() {
    let version = ConformanceVersion::V1_36;
    let report = crate::synthetic::skip(all_pass(version), "gang_scheduling");
    let err = fill_template(version, &report, &with_vendor_status(version, "gang_scheduling", "Implemented"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "it sets requirements.gang_scheduling.status to 'Implemented', but kaic's check gang_scheduling (in \
             --skip) was left out of run r-test; rerun kaic with it. kaic's verdict stands"
        ),
        "{err}"
    );
    assert!(err.ends_with("remove requirements.gang_scheduling.status"), "{err}");
}

#[test]
fn vendor_status_for_a_check_that_ended_in_error_is_refused() {
    let version = ConformanceVersion::V1_36;
    let report =
        synthetic_report(version, |id| Some(if id == "gang_scheduling" { Outcome::Error } else { Outcome::Pass }));
    let err = fill_template(version, &report, &with_vendor_status(version, "gang_scheduling", "Implemented"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("but kaic's check gang_scheduling (timed out after 300s) ended in error; fix the cause and rerun"),
        "{err}"
    );
    // The same run without the vendor's status: left for a person, who is told to rerun kaic.
    let filled = fill_template(version, &report, &metadata_only(version)).unwrap();
    let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
    let gang = sub.sections.iter().flat_map(|s| &s.entries).find(|e| e.id == "gang_scheduling").unwrap();
    assert_eq!(gang.status, "");
    assert!(gang.notes.contains("Fix the cause and rerun kaic: kaic's result stands"), "{}", gang.notes);
}

#[test]
fn vendor_status_completes_a_check_that_ended_unknown() {
    let version = ConformanceVersion::V1_36;
    let report =
        synthetic_report(version, |id| Some(if id == "gang_scheduling" { Outcome::Unknown } else { Outcome::Pass }));
    let filled =
        fill_template(version, &report, &with_vendor_status(version, "gang_scheduling", "Implemented")).unwrap();
    let row = filled.rows.iter().find(|r| r.id == "gang_scheduling").unwrap();
    assert_eq!((row.status, row.source), (Some(Status::Implemented), Source::Vendor));
    assert!(filled.complete());
}

#[test]
fn an_interrupted_run_is_not_filled_from() {
    let version = ConformanceVersion::V1_36;
    let mut report = all_pass(version);
    report.interrupted = true;
    let err = fill_template(version, &report, &metadata_only(version)).unwrap_err().to_string();
    assert_eq!(
        err,
        "failed to fill from run r-test: it was interrupted before every check finished, so its results are \
         partial; rerun `kaic run` to completion and fill from that run's kaic-results.json"
    );
}

#[test]
fn a_check_left_out_leaves_its_requirement_to_verify_and_drops_an_earlier_answer() {
    let version = ConformanceVersion::V1_36;
    let report = crate::synthetic::skip(all_pass(version), "gang_scheduling");
    let filled = fill_template(version, &report, &metadata_only(version)).unwrap();
    let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
    let gang = sub.sections.iter().flat_map(|s| &s.entries).find(|e| e.id == "gang_scheduling").unwrap();
    assert_eq!(gang.status, "");
    assert!(gang.evidence.is_empty(), "no kaic check ran: no kaic evidence");
    assert!(
        gang.notes.starts_with("TO VERIFY: kaic's check gang_scheduling (in --skip) was left out of this run"),
        "{}",
        gang.notes
    );
    // An earlier PRODUCT.yaml that claims it is not kept: kaic's check was not run.
    let answered = in_gang(&filled.yaml, "status: \"\"", "status: \"Implemented\"");
    let refilled = fill(FillInput {
        template_path: Path::new("PRODUCT.yaml"),
        template_text: &answered,
        platform_info_path: Path::new("pi.yaml"),
        platform_info: &metadata_only(version),
        report: &report,
        artifacts: &artifacts_for(&report),
    })
    .unwrap();
    let row = refilled.rows.iter().find(|r| r.id == "gang_scheduling").unwrap();
    assert_eq!((row.status, row.source), (None, Source::ToVerify));
    assert!(
        refilled
            .warnings
            .iter()
            .any(|w| w.starts_with("dropped the existing answer for gang_scheduling (Implemented)")),
        "{:?}",
        refilled.warnings
    );
}

/// `text` with `from` replaced by `to` once, within the gang_scheduling item.
fn in_gang(text: &str, from: &str, to: &str) -> String {
    let start = text.find("- id: gang_scheduling").unwrap();
    let end = start + text[start..].find(from).unwrap();
    format!("{}{to}{}", &text[..end], &text[end + from.len()..])
}
