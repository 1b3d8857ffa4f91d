//! The run report: everything one `kaic run` found, as written to `kaic-results.json` (`results.json`
//! before that name went to the `go test -json` stream the program's validator reads).
//!
//! The schema is versioned by [`SCHEMA_VERSION`]: additions keep the version, renames and removals bump
//! it. `kaic schema` prints the JSON Schema generated from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalogue::{Area, ConformanceVersion, Level, Requirement};
use crate::evidence::Evidence;
use crate::outcome::{Outcome, RequirementStatus, Verdict};

/// The version of the `kaic-results.json` schema.
pub const SCHEMA_VERSION: &str = "kaic.dev/results/v1";

/// The whole report of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunReport {
    /// Always [`SCHEMA_VERSION`].
    pub schema: String,
    pub kaic_version: String,
    /// The id labelled on everything this run created (`kaic.dev/run-id`).
    pub run_id: String,
    /// RFC 3339 timestamps.
    pub started_at: String,
    pub finished_at: String,
    pub cluster: ClusterInfo,
    /// One entry per requirement of the catalogue, in checklist order.
    pub requirements: Vec<RequirementReport>,
    /// One entry per check that was selected, in the order they finished.
    pub checks: Vec<CheckReport>,
    pub summary: Summary,
    /// What `--focus`, `--skip` and `--include-opt-in` asked for. Recorded so that a reader (and `kaic
    /// checklist fill`, `kaic validate`) can tell a check that was never run from one that ran.
    #[serde(default)]
    pub selection: RunSelection,
    /// The checks kaic has but this run left out, and why. A requirement whose check is here was not
    /// tested because the user chose so, not because kaic cannot test it.
    #[serde(default)]
    pub left_out: Vec<LeftOutCheck>,
    /// Whether the run was stopped (Ctrl-C) before every check finished: the report is then partial.
    #[serde(default)]
    pub interrupted: bool,
}

/// The check selection of a run, as given on the command line. Files of older kaic versions lack it
/// and read as the default selection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunSelection {
    /// `--focus`: only these check ids (empty: all).
    #[serde(default)]
    pub focus: Vec<String>,
    /// `--skip`: not these check ids.
    #[serde(default)]
    pub skip: Vec<String>,
    /// `--include-opt-in`: opt-in checks were run too.
    #[serde(default)]
    pub include_opt_in: bool,
}

/// A check the run's selection left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LeftOutCheck {
    pub id: String,
    /// The requirements this check would have proved.
    pub requirements: Vec<String>,
    /// Why it was left out (e.g. `in --skip`).
    pub why: String,
}

/// What preflight learnt about the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterInfo {
    /// The API server URL.
    pub server: String,
    /// The server's `gitVersion`, e.g. `v1.37.2`.
    pub server_version: String,
    pub conformance_version: ConformanceVersion,
    /// Why this catalogue was chosen (e.g. the server is newer than the newest catalogue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalogue_note: Option<String>,
    /// Capabilities discovered from the API (DRA, Gateway API, Kueue, …).
    pub capabilities: Vec<String>,
    /// Verbs kaic needs but was not granted, as `verb resource.group` strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_permissions: Vec<String>,
}

/// One requirement and the status its checks rolled up to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequirementReport {
    pub id: String,
    pub area: Area,
    pub level: Level,
    pub title: String,
    pub status: RequirementStatus,
    /// The checks that prove this requirement (empty: kaic has no automated check for it yet).
    pub checks: Vec<String>,
    /// Why the status is what it is, in a sentence.
    pub reason: String,
}

/// One check's result with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckReport {
    pub id: String,
    /// The requirements this check proves.
    pub requirements: Vec<String>,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub duration_millis: u64,
    /// When the check started, in milliseconds after the run did (after waiting for a `--concurrency` slot
    /// and, for checks that allocate accelerators, the run's accelerator turn): with `duration_millis`, the
    /// run's timeline.
    #[serde(default)]
    pub started_after_millis: u64,
    /// The namespace the check ran in, if it created one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub evidence: Evidence,
    /// Evidence files written for this check, relative to the output directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence_files: Vec<String>,
}

/// Counts for the summary line and the exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Check outcomes by label (`pass`, `fail`, …).
    pub checks: BTreeMap<String, usize>,
    /// Requirement statuses by label (`met`, `not met`, …).
    pub requirements: BTreeMap<String, usize>,
    /// MUST requirements that are not met or could not be decided (the union of the two lists below).
    pub musts_not_met: Vec<String>,
    /// MUST requirements that a check showed are not met (a failure).
    #[serde(default)]
    pub musts_failed: Vec<String>,
    /// MUST requirements that nothing failed but nothing proved either: unknown, error, partial, or no
    /// automated check. A human must verify them (or kaic rerun once what they need is there).
    #[serde(default)]
    pub musts_not_verified: Vec<String>,
    /// True when every MUST is met or not applicable.
    pub all_musts_met: bool,
}

impl RequirementReport {
    /// Rolls up the check reports that prove `requirement`.
    pub fn roll_up(requirement: &Requirement, checks: &[CheckReport]) -> Self {
        let mine: Vec<&CheckReport> =
            checks.iter().filter(|c| c.requirements.iter().any(|r| r == requirement.id)).collect();
        // Invariant: only a requirement with a condition can be "not applicable" (see
        // `catalogue::honest_not_applicable`); for any other, a check's "not applicable" counts as unknown.
        let outcomes: Vec<Outcome> = mine
            .iter()
            .map(|c| match c.verdict.outcome {
                Outcome::NotApplicable if requirement.condition.is_none() => Outcome::Unknown,
                outcome => outcome,
            })
            .collect();
        let status = RequirementStatus::roll_up(&outcomes);
        let reason = if mine.is_empty() {
            "no automated check ran for this requirement: verify it by hand and record the evidence".to_string()
        } else {
            mine.iter().map(|c| format!("{}: {}", c.id, c.verdict.reason)).collect::<Vec<_>>().join("; ")
        };
        Self {
            id: requirement.id.to_string(),
            area: requirement.area,
            level: requirement.level,
            title: requirement.title.to_string(),
            status,
            checks: mine.iter().map(|c| c.id.clone()).collect(),
            reason,
        }
    }
}

impl Summary {
    /// Counts outcomes and statuses, and lists the MUSTs that keep the run from passing.
    pub fn of(requirements: &[RequirementReport], checks: &[CheckReport]) -> Self {
        let mut summary = Summary::default();
        for check in checks {
            *summary.checks.entry(check.verdict.outcome.label().to_string()).or_default() += 1;
        }
        for requirement in requirements {
            *summary.requirements.entry(requirement.status.label().to_string()).or_default() += 1;
            if requirement.level == Level::Must && !requirement.status.satisfies() {
                summary.musts_not_met.push(requirement.id.clone());
                if requirement.status == RequirementStatus::NotMet {
                    summary.musts_failed.push(requirement.id.clone());
                } else {
                    summary.musts_not_verified.push(requirement.id.clone());
                }
            }
        }
        summary.all_musts_met = summary.musts_not_met.is_empty();
        summary
    }
}

impl Summary {
    /// The verdict in a line per finding, for the terminal and `report.md`: every MUST met, or the MUSTs that
    /// failed and those not verified, named apart (a failure is a finding about the platform; "not verified"
    /// is work left for a person or a rerun).
    pub fn verdict_lines(&self) -> Vec<String> {
        if self.all_musts_met {
            return vec!["every MUST requirement is met".to_string()];
        }
        let mut lines = Vec::new();
        if !self.musts_failed.is_empty() {
            lines.push(format!("failed: {}", self.musts_failed.join(", ")));
        }
        if !self.musts_not_verified.is_empty() {
            lines.push(format!(
                "not verified: {} (unknown, error or no automated check)",
                self.musts_not_verified.join(", ")
            ));
        }
        lines
    }
}

impl RunReport {
    /// The JSON Schema of `kaic-results.json`.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(RunReport)).expect("a schema serialises")
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A small report used by renderer snapshot tests.
    use super::*;
    use crate::catalogue::requirements;

    pub fn sample_report() -> RunReport {
        let mut evidence = Evidence::default();
        evidence
            .step("resource.k8s.io/v1 serves deviceclasses, resourceclaims, resourceclaimtemplates, resourceslices");
        evidence.object("ResourceClaim-gpu", "apiVersion: resource.k8s.io/v1\nkind: ResourceClaim\n");
        evidence.timing("claim allocated", std::time::Duration::from_millis(840));
        let checks = vec![
            CheckReport {
                id: "dra_support".into(),
                requirements: vec!["dra_support".into()],
                verdict: Verdict::pass("all four DRA kinds served; claim allocated from gpu-node-0"),
                duration_millis: 4210,
                started_after_millis: 0,
                namespace: Some("kaic-dra-support-ab12".into()),
                evidence,
                evidence_files: vec!["evidence/dra_support/01-ResourceClaim-gpu.yaml".into()],
            },
            CheckReport {
                id: "gang_scheduling".into(),
                requirements: vec!["gang_scheduling".into()],
                verdict: Verdict::fail(
                    "gang partially bound",
                    "0 of 5 pods bound while capacity is short",
                    "3 of 5 pods bound after 10s",
                ),
                duration_millis: 30000,
                started_after_millis: 4210,
                namespace: None,
                evidence: Evidence::default(),
                evidence_files: vec![],
            },
        ];
        let reqs: Vec<RequirementReport> =
            requirements(ConformanceVersion::V1_35).iter().map(|r| RequirementReport::roll_up(r, &checks)).collect();
        let summary = Summary::of(&reqs, &checks);
        RunReport {
            schema: SCHEMA_VERSION.into(),
            kaic_version: "0.1.0".into(),
            run_id: "r-test".into(),
            started_at: "2026-11-23T10:00:00Z".into(),
            finished_at: "2026-11-23T10:01:00Z".into(),
            cluster: ClusterInfo {
                server: "https://127.0.0.1:6443".into(),
                server_version: "v1.35.1".into(),
                conformance_version: ConformanceVersion::V1_35,
                catalogue_note: None,
                capabilities: vec!["dra".into(), "kueue".into()],
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
}

#[cfg(test)]
mod tests {
    use super::fixtures::sample_report;
    use super::*;

    #[test]
    fn summary_lists_unmet_musts() {
        let report = sample_report();
        assert!(!report.summary.all_musts_met);
        assert!(report.summary.musts_not_met.contains(&"gang_scheduling".to_string()));
        // dra_support passed, so it is not among them; untested MUSTs are (unknown is not met).
        assert!(!report.summary.musts_not_met.contains(&"dra_support".to_string()));
        assert!(report.summary.musts_not_met.contains(&"robust_controller".to_string()));
        assert_eq!(report.summary.checks["pass"], 1);
        assert_eq!(report.summary.checks["fail"], 1);
    }

    #[test]
    fn failed_and_not_verified_musts_are_named_apart() {
        let report = sample_report();
        assert_eq!(report.summary.musts_failed, vec!["gang_scheduling".to_string()]);
        assert!(report.summary.musts_not_verified.contains(&"robust_controller".to_string()));
        assert!(!report.summary.musts_not_verified.contains(&"gang_scheduling".to_string()));
        let union = report.summary.musts_failed.len() + report.summary.musts_not_verified.len();
        assert_eq!(union, report.summary.musts_not_met.len());
    }

    #[test]
    fn only_a_conditional_requirement_can_be_not_applicable() {
        use crate::catalogue::requirements;
        let all = requirements(ConformanceVersion::V1_35);
        let check = |id: &str| CheckReport {
            id: id.into(),
            requirements: vec![id.into()],
            verdict: Verdict::not_applicable("no accelerator node seen"),
            duration_millis: 1,
            started_after_millis: 0,
            namespace: None,
            evidence: Evidence::default(),
            evidence_files: vec![],
        };
        // Every requirement of every catalogue, with a "not applicable" check: only conditional ones stay so.
        for version in ConformanceVersion::ALL {
            for requirement in requirements(version).iter() {
                let rolled = RequirementReport::roll_up(requirement, &[check(requirement.id)]);
                if requirement.condition.is_some() {
                    assert_eq!(rolled.status, RequirementStatus::NotApplicable, "{}", requirement.id);
                } else {
                    assert_eq!(rolled.status, RequirementStatus::Unknown, "{} has no condition", requirement.id);
                }
            }
        }
        let secure = all.iter().find(|r| r.id == "secure_accelerator_access").unwrap();
        let verdict =
            crate::catalogue::honest_not_applicable(Verdict::not_applicable("no accelerator node seen"), &[secure]);
        assert_eq!(verdict.outcome, Outcome::Unknown);
        assert!(
            verdict.reason.starts_with("no accelerator node seen; secure_accelerator_access applies to every platform")
        );
        assert!(verdict.reason.contains("scale an accelerator node pool to at least one node"), "{}", verdict.reason);
        let sharing = all.iter().find(|r| r.id == "gpu_sharing").unwrap();
        let kept = crate::catalogue::honest_not_applicable(Verdict::not_applicable("no sharing"), &[sharing]);
        assert_eq!(kept.outcome, Outcome::NotApplicable, "gpu_sharing has a condition");
    }

    #[test]
    fn report_round_trips_through_json() {
        let report = sample_report();
        let text = serde_json::to_string(&report).unwrap();
        let back: RunReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn results_of_older_kaic_without_selection_still_parse() {
        let mut value = serde_json::to_value(sample_report()).unwrap();
        let map = value.as_object_mut().unwrap();
        for field in ["selection", "left_out", "interrupted"] {
            assert!(map.remove(field).is_some(), "{field} is written");
        }
        let back: RunReport = serde_json::from_value(value).unwrap();
        assert_eq!(back.selection, RunSelection::default());
        assert!(back.left_out.is_empty());
        assert!(!back.interrupted);
    }

    #[test]
    fn selection_left_out_and_interruption_round_trip() {
        let mut report = sample_report();
        report.selection = RunSelection { focus: vec![], skip: vec!["gang_scheduling".into()], include_opt_in: true };
        report.left_out = vec![LeftOutCheck {
            id: "gang_scheduling".into(),
            requirements: vec!["gang_scheduling".into()],
            why: "in --skip".into(),
        }];
        report.interrupted = true;
        let text = serde_json::to_string(&report).unwrap();
        assert!(text.contains("\"left_out\":[{\"id\":\"gang_scheduling\""), "{text}");
        assert_eq!(serde_json::from_str::<RunReport>(&text).unwrap(), report);
    }

    #[test]
    fn schema_names_the_top_level_fields() {
        let schema = RunReport::json_schema();
        let props = schema["properties"].as_object().unwrap();
        for field in
            ["schema", "run_id", "cluster", "requirements", "checks", "summary", "selection", "left_out", "interrupted"]
        {
            assert!(props.contains_key(field), "schema lacks {field}");
        }
    }
}
