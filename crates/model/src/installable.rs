//! One "nothing installed" policy for the requirements phrased "the platform must allow the installation and
//! successful operation of at least one …" (gang scheduling, an AI operator, accelerator metrics, a monitoring
//! system).
//!
//! Such a requirement is about what the platform *allows*: a cluster on which kaic recognises no solution may
//! still allow one to be installed, or run one kaic cannot see into (an OpenTelemetry collector, an in-house
//! scheduler). So nothing found is never "fail": it is **unknown**, worded the same everywhere, naming what
//! kaic looked for, what to install and what a human must verify. A solution kaic recognises that is installed
//! and does not work is still a failure: that is decided by each check's own cases and
//! [`crate::solutions::roll_up`], not here.

use crate::outcome::Verdict;

/// A requirement that at least one installable solution of some kind meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installable {
    /// The requirement id, e.g. `gang_scheduling`.
    pub requirement: &'static str,
    /// The kind of solution, singular: `gang scheduling solution`.
    pub kind: &'static str,
    /// Solutions a platform typically installs, for the remedy.
    pub examples: &'static str,
    /// What a human verifies where the platform's solution is one kaic does not recognise.
    pub verify: &'static str,
}

/// Every requirement phrased "must allow installation and successful operation of at least one …" (a unit
/// test reads the official templates to keep this list complete).
pub const INSTALLABLE: &[Installable] = &[
    Installable {
        requirement: "gang_scheduling",
        kind: "gang scheduling solution",
        examples: "Kueue, Volcano, KAI scheduler, scheduler-plugins coscheduling, or the native Workload API",
        verify: "the platform's gang scheduler starts every pod of a gang or none",
    },
    Installable {
        requirement: "robust_controller",
        kind: "AI operator",
        examples: "Kubeflow Trainer, KubeRay, Kueue, JobSet or LeaderWorkerSet",
        verify: "an AI operator's pods run, its CRDs are Established, its webhook rejects an invalid object, and a \
                 valid object reaches its ready condition",
    },
    Installable {
        requirement: "accelerator_metrics",
        kind: "accelerator metrics exporter",
        examples: "the NVIDIA DCGM exporter, the AMD device metrics exporter, Intel XPU Manager or the Gaudi metric \
                   exporter, usually with the vendor's operator",
        verify: "the platform's accelerator metrics endpoint serves per-device utilisation and memory (name it with \
                 --accelerator-metrics-url and rerun)",
    },
    Installable {
        requirement: "ai_service_metrics",
        kind: "monitoring system",
        examples: "Prometheus (e.g. kube-prometheus-stack) or a managed Prometheus",
        verify: "the platform's monitoring system discovers and collects a workload's Prometheus metrics (name its \
                 query API with --prometheus-url and rerun)",
    },
];

/// The policy's entry for `requirement`, if it is one of [`INSTALLABLE`].
pub fn installable(requirement: &str) -> Option<&'static Installable> {
    INSTALLABLE.iter().find(|i| i.requirement == requirement)
}

/// The verdict where kaic recognises no installed solution for `requirement`: unknown, naming what was
/// `looked_for`, what to install and what to verify.
///
/// # Panics
/// When `requirement` is not one of [`INSTALLABLE`]: a programming error caught by the checks' unit tests.
pub fn nothing_installed(requirement: &str, looked_for: &str) -> Verdict {
    let entry = installable(requirement)
        .unwrap_or_else(|| panic!("{requirement} is not a requirement phrased 'at least one installable solution'"));
    Verdict::unknown(format!(
        "no {kind} kaic recognises is installed (looked for: {looked_for}); the requirement asks that the platform \
         allow the installation and successful operation of at least one: install one ({examples}) and rerun, or \
         verify by hand that {verify}",
        kind = entry.kind,
        examples = entry.examples,
        verify = entry.verify,
    ))
}

/// Whether `verdict` is the policy's "nothing installed" verdict, for tests and reports.
pub fn is_nothing_installed(verdict: &Verdict) -> bool {
    verdict.outcome == crate::Outcome::Unknown
        && INSTALLABLE
            .iter()
            .any(|i| verdict.reason.starts_with(&format!("no {} kaic recognises is installed", i.kind)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use crate::catalogue::{ConformanceVersion, requirements};
    use std::path::PathBuf;

    /// The official description of every requirement of `version`'s template: (id, description).
    fn descriptions(version: ConformanceVersion) -> Vec<(String, String)> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../certify/testdata/checklists")
            .join(format!("AIConformance-{version}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("failed to read {}: {e}", path.display()));
        let doc: serde_json::Value = serde_saphyr::from_str(&text).expect("template is YAML");
        doc["spec"]
            .as_object()
            .expect("spec is a map")
            .values()
            .flat_map(|items| items.as_array().expect("section is a list").iter())
            .map(|item| (item["id"].as_str().unwrap().to_string(), item["description"].as_str().unwrap().to_string()))
            .collect()
    }

    /// How the templates phrase "at least one installable solution" (gang scheduling, accelerator metrics:
    /// "installation and successful operation of at least one"; robust_controller: "at least one complex AI
    /// operator … can be installed"; ai_service_metrics: "Provide a monitoring system").
    fn phrased_installable(description: &str) -> bool {
        let d = description.to_lowercase();
        d.contains("installation and successful operation of at least one")
            || (d.contains("at least one") && d.contains("can be installed"))
            || d.starts_with("provide a monitoring system")
    }

    #[test]
    fn every_requirement_phrased_at_least_one_installable_solution_follows_the_policy() {
        for version in ConformanceVersion::ALL {
            let ids: Vec<String> = requirements(version).iter().map(|r| r.id.to_string()).collect();
            for (id, description) in descriptions(version) {
                assert!(ids.contains(&id), "{version}: {id} is in the catalogue");
                assert_eq!(
                    phrased_installable(&description),
                    installable(&id).is_some(),
                    "{version} {id}: phrased as an installable solution iff listed in INSTALLABLE: {description}"
                );
            }
        }
        // And every entry is a real requirement of some version.
        for entry in INSTALLABLE {
            assert!(ConformanceVersion::ALL.iter().any(|v| requirements(*v).iter().any(|r| r.id == entry.requirement)));
        }
    }

    #[test]
    fn nothing_installed_is_unknown_with_the_same_wording_for_every_such_requirement() {
        for entry in INSTALLABLE {
            let verdict = nothing_installed(entry.requirement, "A (a.example.com), B");
            assert_eq!(verdict.outcome, Outcome::Unknown, "{}", entry.requirement);
            assert!(verdict.expected.is_none() && verdict.observed.is_none(), "not a failure");
            assert!(
                verdict.reason.starts_with(&format!(
                    "no {} kaic recognises is installed (looked for: A (a.example.com), B); the requirement asks",
                    entry.kind
                )),
                "{}",
                verdict.reason
            );
            assert!(verdict.reason.contains(entry.examples) && verdict.reason.ends_with(entry.verify));
            assert!(is_nothing_installed(&verdict));
        }
        assert!(!is_nothing_installed(&Verdict::unknown("something else")));
    }

    #[test]
    #[should_panic(expected = "is not a requirement phrased")]
    fn a_requirement_outside_the_policy_is_a_programming_error() {
        nothing_installed("dra_support", "x");
    }
}
