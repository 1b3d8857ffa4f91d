//! The requirement catalogue: the ids, areas and levels of the Kubernetes AI Conformance checklists, per
//! conformance version, with kaic's own short titles.
//!
//! These are facts copied from the official checklists (a unit test cross-checks them against the
//! templates kept as test data in `crates/certify/testdata/checklists/`). The official description texts
//! are deliberately not in the binary: the checklist filler reads them from the template the user supplies.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A requirement id as it appears in the checklist, e.g. `gang_scheduling`.
pub type RequirementId = &'static str;

/// A Kubernetes AI Conformance version (one checklist per Kubernetes minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConformanceVersion {
    #[serde(rename = "1.33")]
    V1_33,
    #[serde(rename = "1.34")]
    V1_34,
    #[serde(rename = "1.35")]
    V1_35,
    #[serde(rename = "1.36")]
    V1_36,
    #[serde(rename = "1.37")]
    V1_37,
}

impl ConformanceVersion {
    /// Every version kaic has a catalogue for, oldest first.
    pub const ALL: [ConformanceVersion; 5] = [Self::V1_33, Self::V1_34, Self::V1_35, Self::V1_36, Self::V1_37];

    /// The newest version kaic knows.
    pub const NEWEST: ConformanceVersion = Self::V1_37;

    /// The Kubernetes minor version number (33 for 1.33).
    pub fn minor(self) -> u32 {
        match self {
            Self::V1_33 => 33,
            Self::V1_34 => 34,
            Self::V1_35 => 35,
            Self::V1_36 => 36,
            Self::V1_37 => 37,
        }
    }

    /// The catalogue version for a Kubernetes server minor, or `None` when kaic has none for it.
    pub fn for_minor(minor: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.minor() == minor)
    }

    /// The known versions as a comma-separated list, for error messages.
    pub fn known_list() -> String {
        Self::ALL.map(|v| v.to_string()).join(", ")
    }
}

impl fmt::Display for ConformanceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor())
    }
}

/// The error for a conformance version kaic has no catalogue for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown conformance version '{given}': kaic knows {known}")]
pub struct UnknownVersion {
    pub given: String,
    pub known: String,
}

impl FromStr for ConformanceVersion {
    type Err = UnknownVersion;

    /// Accepts `1.36`, `v1.36` and `1.36.2` (the patch is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim().trim_start_matches('v');
        let mut parts = trimmed.split('.');
        let minor = match (parts.next(), parts.next()) {
            (Some("1"), Some(minor)) => minor.parse::<u32>().ok(),
            _ => None,
        };
        minor
            .and_then(Self::for_minor)
            .ok_or_else(|| UnknownVersion { given: s.to_string(), known: Self::known_list() })
    }
}

/// Whether a requirement must or should be met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Must,
    Should,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Must => "MUST",
            Self::Should => "SHOULD",
        })
    }
}

/// The area of the platform a requirement is about; each area is one module of checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Accelerators,
    Networking,
    Scheduling,
    Observability,
    Security,
    Operators,
}

impl Area {
    /// The key of this area's section under `spec:` in the official checklist YAML.
    pub fn checklist_section(self) -> &'static str {
        match self {
            Self::Accelerators => "accelerators",
            Self::Networking => "networking",
            Self::Scheduling => "schedulingOrchestration",
            Self::Observability => "observability",
            Self::Security => "security",
            Self::Operators => "operator",
        }
    }

    /// The area whose checklist section key is `key`.
    pub fn from_checklist_section(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.checklist_section() == key)
    }

    /// All areas in checklist order.
    pub const ALL: [Area; 6] =
        [Self::Accelerators, Self::Networking, Self::Scheduling, Self::Observability, Self::Security, Self::Operators];
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Accelerators => "accelerators",
            Self::Networking => "networking",
            Self::Scheduling => "scheduling",
            Self::Observability => "observability",
            Self::Security => "security",
            Self::Operators => "operators",
        })
    }
}

/// One requirement as it applies to one conformance version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Requirement {
    pub id: RequirementId,
    pub area: Area,
    pub level: Level,
    /// kaic's own short title (not the official description).
    pub title: &'static str,
    /// For conditional requirements ("if the platform provides …"), the condition in a few words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<&'static str>,
}

/// Keeps "not applicable" for requirements that have a condition ("if the platform provides …") only.
/// For an unconditional requirement, a check that found nothing to test (no accelerator node: a GPU pool
/// scaled to zero looks exactly like that) cannot say the requirement does not apply: the verdict becomes
/// unknown, with what to do. `requirements` are the check's requirements in the run's catalogue; with none
/// known the verdict is kept.
pub fn honest_not_applicable(verdict: crate::Verdict, requirements: &[&Requirement]) -> crate::Verdict {
    if verdict.outcome != crate::Outcome::NotApplicable
        || requirements.is_empty()
        || requirements.iter().any(|r| r.condition.is_some())
    {
        return verdict;
    }
    let ids = requirements.iter().map(|r| r.id).collect::<Vec<_>>().join(", ");
    crate::Verdict::unknown(format!(
        "{}; {ids} applies to every platform (it has no \"if\" condition), so this is not \"not applicable\": make what \
         the check needs available (e.g. scale an accelerator node pool to at least one node) and rerun, or verify by hand",
        verdict.reason
    ))
}

/// One row of the master table: a requirement and its level in each version (`None`: not in that version).
struct Row {
    id: RequirementId,
    area: Area,
    title: &'static str,
    condition: Option<&'static str>,
    /// Levels for 1.33, 1.34, 1.35, 1.36, 1.37.
    levels: [Option<Level>; 5],
}

use Level::{Must as M, Should as S};

/// The master table, in checklist order. Source: the official checklists 1.33–1.37.
const ROWS: &[Row] = &[
    Row {
        id: "dra_support",
        area: Area::Accelerators,
        title: "Dynamic Resource Allocation APIs served and usable",
        condition: None,
        levels: [Some(S), Some(M), Some(M), None, None],
    },
    Row {
        id: "driver_runtime_management",
        area: Area::Accelerators,
        title: "Accelerator driver and runtime versions verifiable",
        condition: None,
        levels: [None, None, Some(S), Some(S), Some(S)],
    },
    Row {
        id: "gpu_sharing",
        area: Area::Accelerators,
        title: "At least one GPU sharing strategy",
        condition: Some("the accelerator supports static sharing"),
        levels: [None, None, Some(S), Some(S), Some(S)],
    },
    Row {
        id: "virtualized_accelerator",
        area: Area::Accelerators,
        title: "Virtualised accelerators exposed and managed",
        condition: Some("the accelerator supports virtualisation (e.g. vGPU)"),
        levels: [None, None, Some(S), Some(S), Some(S)],
    },
    Row {
        id: "ai_inference",
        area: Area::Networking,
        title: "Gateway API with traffic splitting and header routing",
        condition: None,
        levels: [Some(M), Some(M), Some(M), Some(M), Some(M)],
    },
    Row {
        id: "advanced_inference_ingress",
        area: Area::Networking,
        title: "Gateway API Inference Extension routes to model servers",
        condition: None,
        levels: [None, None, None, Some(S), Some(S)],
    },
    Row {
        id: "high_performance_networking",
        area: Area::Networking,
        title: "Specialised network devices discoverable and attachable",
        condition: Some("high-performance pod-to-pod networking is needed"),
        levels: [None, None, None, Some(S), Some(S)],
    },
    Row {
        id: "disaggregated_inference",
        area: Area::Networking,
        title: "Disaggregated (prefill/decode) inference runs",
        condition: None,
        levels: [None, None, None, Some(S), Some(S)],
    },
    Row {
        id: "gang_scheduling",
        area: Area::Scheduling,
        title: "All-or-nothing gang scheduling",
        condition: None,
        levels: [Some(M), Some(M), Some(M), Some(M), Some(M)],
    },
    Row {
        id: "cluster_autoscaling",
        area: Area::Scheduling,
        title: "Accelerator node groups scale up and down",
        condition: Some("the platform provides a cluster autoscaler"),
        levels: [Some(M), Some(M), Some(M), Some(M), Some(M)],
    },
    Row {
        id: "pod_autoscaling",
        area: Area::Scheduling,
        title: "Pods autoscale on custom accelerator metrics",
        condition: Some("the platform supports the HorizontalPodAutoscaler"),
        levels: [Some(M), Some(M), Some(M), Some(M), Some(M)],
    },
    Row {
        id: "accelerator_metrics",
        area: Area::Observability,
        title: "Per-accelerator metrics exposed",
        condition: None,
        levels: [Some(M), Some(M), Some(M), Some(M), Some(M)],
    },
    Row {
        id: "ai_service_metrics",
        area: Area::Observability,
        title: "Workload metrics collected by the monitoring system",
        condition: None,
        levels: [Some(M), Some(M), Some(M), Some(M), Some(M)],
    },
    Row {
        id: "secure_accelerator_access",
        area: Area::Security,
        title: "Accelerators isolated between containers",
        condition: None,
        levels: [Some(M), Some(M), Some(M), Some(M), Some(M)],
    },
    Row {
        id: "workload_sandboxing",
        area: Area::Security,
        title: "Workloads run sandboxed from the host kernel",
        condition: None,
        levels: [None, None, None, None, Some(S)],
    },
    Row {
        id: "robust_controller",
        area: Area::Operators,
        title: "An AI operator with CRDs and webhooks works",
        condition: None,
        levels: [Some(M), Some(M), Some(M), Some(M), Some(M)],
    },
];

/// The requirements of one conformance version, in checklist order.
pub fn requirements(version: ConformanceVersion) -> Vec<Requirement> {
    let column = ConformanceVersion::ALL.iter().position(|v| *v == version).expect("every version has a column");
    ROWS.iter()
        .filter_map(|row| {
            row.levels[column].map(|level| Requirement {
                id: row.id,
                area: row.area,
                level,
                title: row.title,
                condition: row.condition,
            })
        })
        .collect()
}

/// One requirement of one version, if that version has it.
pub fn requirement(version: ConformanceVersion, id: &str) -> Option<Requirement> {
    requirements(version).into_iter().find(|r| r.id == id)
}

/// Every requirement id that appears in any version.
pub fn all_ids() -> impl Iterator<Item = RequirementId> {
    ROWS.iter().map(|row| row.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn parses_version_spellings() {
        assert_eq!("1.36".parse(), Ok(ConformanceVersion::V1_36));
        assert_eq!("v1.34".parse(), Ok(ConformanceVersion::V1_34));
        assert_eq!("1.35.2".parse(), Ok(ConformanceVersion::V1_35));
        let err = "1.32".parse::<ConformanceVersion>().unwrap_err();
        assert_eq!(err.to_string(), "unknown conformance version '1.32': kaic knows 1.33, 1.34, 1.35, 1.36, 1.37");
        assert!("banana".parse::<ConformanceVersion>().is_err());
        assert!("2.33".parse::<ConformanceVersion>().is_err());
    }

    #[test]
    fn dra_support_moved_to_base_conformance_in_1_36() {
        assert_eq!(requirement(ConformanceVersion::V1_33, "dra_support").unwrap().level, Level::Should);
        assert_eq!(requirement(ConformanceVersion::V1_35, "dra_support").unwrap().level, Level::Must);
        assert!(requirement(ConformanceVersion::V1_36, "dra_support").is_none());
    }

    /// The ids, sections and levels of every official template, read the plain way.
    fn official(version: ConformanceVersion) -> Vec<(String, String, String)> {
        let path = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("../certify/testdata/checklists")
            .join(format!("AIConformance-{version}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()));
        let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("template is YAML");
        let mut out = Vec::new();
        for (section, items) in doc["spec"].as_object().expect("spec is a map") {
            for item in items.as_array().expect("section is a list") {
                out.push((
                    item["id"].as_str().unwrap().to_string(),
                    section.clone(),
                    item["level"].as_str().unwrap().to_string(),
                ));
            }
        }
        out
    }

    #[test]
    fn catalogue_matches_the_official_checklists_exactly() {
        for version in ConformanceVersion::ALL {
            let mut ours: Vec<(String, String, String)> = requirements(version)
                .into_iter()
                .map(|r| (r.id.to_string(), r.area.checklist_section().to_string(), r.level.to_string()))
                .collect();
            // The JSON map reading the template does not keep section order, so compare as sets.
            let mut theirs = official(version);
            ours.sort();
            theirs.sort();
            assert_eq!(ours, theirs, "catalogue {version} differs from the template");
        }
    }

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<_> = all_ids().collect();
        ids.sort();
        let before = ids.len();
        ids.dedup();
        assert_eq!(before, ids.len());
    }
}
