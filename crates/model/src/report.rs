//! The run report: everything one `kaic run` found, as written to `results.json`.
//!
//! The schema is versioned by [`SCHEMA_VERSION`]: additions keep the version, renames and removals bump
//! it. `kaic schema` prints the JSON Schema generated from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::catalogue::{Area, ConformanceVersion, Level, Requirement};
use crate::evidence::Evidence;
use crate::outcome::{Outcome, RequirementStatus, Verdict};

/// The version of the `results.json` schema.
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
    /// MUST requirements that are not met or could not be decided.
    pub musts_not_met: Vec<String>,
    /// True when every MUST is met or not applicable.
    pub all_musts_met: bool,
}

impl RequirementReport {
    /// Rolls up the check reports that prove `requirement`.
    pub fn roll_up(requirement: &Requirement, checks: &[CheckReport]) -> Self {
        let mine: Vec<&CheckReport> =
            checks.iter().filter(|c| c.requirements.iter().any(|r| r == requirement.id)).collect();
        let outcomes: Vec<Outcome> = mine.iter().map(|c| c.verdict.outcome).collect();
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
            }
        }
        summary.all_musts_met = summary.musts_not_met.is_empty();
        summary
    }
}

impl RunReport {
    /// The JSON Schema of `results.json`.
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
    fn report_round_trips_through_json() {
        let report = sample_report();
        let text = serde_json::to_string(&report).unwrap();
        let back: RunReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
    }

    #[test]
    fn schema_names_the_top_level_fields() {
        let schema = RunReport::json_schema();
        let props = schema["properties"].as_object().unwrap();
        for field in ["schema", "run_id", "cluster", "requirements", "checks", "summary"] {
            assert!(props.contains_key(field), "schema lacks {field}");
        }
    }
}
