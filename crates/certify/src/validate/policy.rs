//! The program's rules that are data rather than logic, kept in one place so that a change of the
//! program's validator is a change of a table row here, not of code: which MUSTs it lets a submission
//! mark N/A, which requirements it maps to an upstream test, and from which version it recommends test
//! artifacts as evidence.
//!
//! Source: the research note `hybrid-verification-1.37.md` (cncf/k8s-ai-conformance PR #141, merged,
//! and the pending #146).

use kaic_model::catalogue::ConformanceVersion;

/// What the program's validator does with a MUST marked N/A.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MustNotApplicable {
    /// An error: the program accepts only Implemented for a MUST.
    Rejected,
    /// Accepted with notes, with a warning that asks reviewers to check the justification.
    Reviewed,
}

/// One MUST whose N/A the program treats specially, for the versions `from..=to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MustNaRow {
    pub id: &'static str,
    pub from: ConformanceVersion,
    pub to: ConformanceVersion,
    pub program: MustNotApplicable,
}

/// One requirement the program checks against an upstream test when an artifact is cited without a
/// `#fragment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoTested {
    pub id: &'static str,
    /// The upstream suite's test name (kubernetes-sigs/ai-conformance).
    pub test: &'static str,
}

/// The program's data-driven rules for a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// MUSTs that are conditional in the checklist ("if the platform provides …"). A MUST not listed
    /// here, or listed as [`MustNotApplicable::Rejected`], must be Implemented.
    pub must_not_applicable: &'static [MustNaRow],
    /// The program's requirement → upstream test mapping (its `autoTestedRequirements`).
    pub auto_tested: &'static [AutoTested],
    /// From this version on, an automatically tested requirement marked Implemented should cite a test
    /// artifact (a warning). Parsing cited artifacts is not gated by version.
    pub artifacts_recommended_from: ConformanceVersion,
}

impl Policy {
    /// The rules of the program's validator as merged (PR #141).
    pub const PROGRAM: Policy = Policy {
        must_not_applicable: &[
            // Both are conditional in every checklist, and the program's FAQ allows N/A with a
            // justification, but its validator still demands Implemented (issue #145). The pending PR
            // #146 would make cluster_autoscaling `Reviewed` (and leave pod_autoscaling rejected): change
            // the row when it is merged.
            MustNaRow {
                id: "cluster_autoscaling",
                from: ConformanceVersion::V1_33,
                to: ConformanceVersion::NEWEST,
                program: MustNotApplicable::Rejected,
            },
            MustNaRow {
                id: "pod_autoscaling",
                from: ConformanceVersion::V1_33,
                to: ConformanceVersion::NEWEST,
                program: MustNotApplicable::Rejected,
            },
        ],
        auto_tested: &[
            AutoTested { id: "secure_accelerator_access", test: "TestSecureAcceleratorAccess" },
            AutoTested { id: "gang_scheduling", test: "TestGangScheduling" },
            AutoTested { id: "cluster_autoscaling", test: "TestAcceleratorClusterAutoscaling" },
        ],
        artifacts_recommended_from: ConformanceVersion::V1_37,
    };

    /// What the program does with N/A on the MUST `id` of `version`, if it is one of the conditional
    /// ones; `None` for every other MUST (N/A is rejected like any status but Implemented).
    pub fn must_not_applicable(&self, version: Option<ConformanceVersion>, id: &str) -> Option<MustNotApplicable> {
        let version = version?;
        self.must_not_applicable
            .iter()
            .find(|row| row.id == id && (row.from..=row.to).contains(&version))
            .map(|row| row.program)
    }

    /// The upstream test the program looks for when `id` cites an artifact without a fragment.
    pub fn auto_test(&self, id: &str) -> Option<&'static str> {
        self.auto_tested.iter().find(|a| a.id == id).map(|a| a.test)
    }

    /// Whether test artifacts are recommended for automatically tested requirements of `version`.
    pub fn recommends_artifacts(&self, version: Option<ConformanceVersion>) -> bool {
        version.is_some_and(|v| v >= self.artifacts_recommended_from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_programs_table_rejects_na_on_every_must_today() {
        let p = Policy::PROGRAM;
        for version in ConformanceVersion::ALL {
            assert_eq!(p.must_not_applicable(Some(version), "cluster_autoscaling"), Some(MustNotApplicable::Rejected));
            assert_eq!(p.must_not_applicable(Some(version), "pod_autoscaling"), Some(MustNotApplicable::Rejected));
            assert_eq!(p.must_not_applicable(Some(version), "gang_scheduling"), None);
        }
        assert_eq!(p.must_not_applicable(None, "cluster_autoscaling"), None);
    }

    #[test]
    fn rows_are_keyed_by_version_and_id() {
        const ROWS: &[MustNaRow] = &[MustNaRow {
            id: "cluster_autoscaling",
            from: ConformanceVersion::V1_37,
            to: ConformanceVersion::V1_37,
            program: MustNotApplicable::Reviewed,
        }];
        let p = Policy { must_not_applicable: ROWS, ..Policy::PROGRAM };
        assert_eq!(
            p.must_not_applicable(Some(ConformanceVersion::V1_37), "cluster_autoscaling"),
            Some(MustNotApplicable::Reviewed)
        );
        assert_eq!(p.must_not_applicable(Some(ConformanceVersion::V1_36), "cluster_autoscaling"), None);
        assert_eq!(p.must_not_applicable(Some(ConformanceVersion::V1_37), "pod_autoscaling"), None);
    }

    #[test]
    fn auto_tests_and_recommendation() {
        let p = Policy::PROGRAM;
        assert_eq!(p.auto_test("gang_scheduling"), Some("TestGangScheduling"));
        assert_eq!(p.auto_test("robust_controller"), None);
        assert!(p.recommends_artifacts(Some(ConformanceVersion::V1_37)));
        assert!(!p.recommends_artifacts(Some(ConformanceVersion::V1_36)));
        assert!(!p.recommends_artifacts(None));
    }
}
