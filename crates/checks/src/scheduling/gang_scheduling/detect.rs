//! Which gang scheduling solutions a cluster offers (and which schedulers kaic does not recognise are in
//! use), and how the results of exercising them roll up into one verdict. Pure: the inputs are the capabilities preflight discovered and what discovery says about
//! the native Workload API.

use kaic_model::Verdict;
use kaic_model::solutions::{self, SolutionResult, Subject};

use crate::capability::{Capabilities, Capability};

/// A gang scheduling solution kaic can recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Solution {
    /// Kueue: all-or-nothing admission of a job against ClusterQueue quota.
    Kueue,
    /// The native `scheduling.k8s.io` Workload/PodGroup API with the scheduler's gang policy.
    Native,
    /// Volcano (`scheduling.volcano.sh` PodGroups).
    Volcano,
    /// NVIDIA KAI scheduler (`scheduling.run.ai` PodGroups).
    Kai,
    /// scheduler-plugins coscheduling (`scheduling.x-k8s.io` PodGroups).
    Coscheduling,
}

impl Solution {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kueue => "Kueue",
            Self::Native => "native Workload/PodGroup API",
            Self::Volcano => "Volcano",
            Self::Kai => "KAI scheduler",
            Self::Coscheduling => "scheduler-plugins coscheduling",
        }
    }

    /// The API that shows it is installed.
    pub fn api(self) -> &'static str {
        match self {
            Self::Kueue => "kueue.x-k8s.io",
            Self::Native => "scheduling.k8s.io/v1beta1 workloads and podgroups",
            Self::Volcano => "scheduling.volcano.sh",
            Self::Kai => "scheduling.run.ai",
            Self::Coscheduling => "scheduling.x-k8s.io",
        }
    }

    /// Every solution, in the order kaic looks for them.
    pub const ALL: [Solution; 5] = [Self::Kueue, Self::Native, Self::Volcano, Self::Kai, Self::Coscheduling];

    fn capability(self) -> Capability {
        match self {
            Self::Kueue => Capability::Kueue,
            Self::Native => Capability::NativeWorkload,
            Self::Volcano => Capability::Volcano,
            Self::Kai => Capability::KaiScheduler,
            Self::Coscheduling => Capability::Coscheduling,
        }
    }
}

/// What discovery says about the native Workload API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeApi {
    /// `scheduling.k8s.io/v1beta1` serves `workloads` and `podgroups` (Kubernetes 1.37 with `GenericWorkload`).
    V1beta1,
    /// Only an alpha version (1.35's v1alpha1, 1.36's v1alpha2) is served.
    AlphaOnly,
    /// Not served.
    Absent,
}

/// One solution found, and whether kaic exercises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub solution: Solution,
    /// `Ok(())`: kaic runs a positive and a negative gang through it. `Err`: what a human must verify instead.
    pub exercised: Result<(), String>,
}

/// Finds the gang solutions a cluster offers.
pub fn detect(capabilities: &Capabilities, native: NativeApi) -> Vec<Found> {
    Solution::ALL
        .into_iter()
        .filter_map(|solution| {
            let exercised = match solution {
                Solution::Kueue => capabilities.has(Capability::Kueue).then_some(Ok(())),
                Solution::Native => match native {
                    NativeApi::V1beta1 => Some(Ok(())),
                    NativeApi::AlphaOnly => Some(Err(
                        "the native Workload API is served only at an alpha version (scheduling.k8s.io/v1alpha1 or \
                         v1alpha2) and kaic exercises the v1beta1 shape of Kubernetes 1.37: create a Workload and \
                         PodGroup with a gang policy whose minCount exceeds free capacity, confirm no pod is bound \
                         until all fit, that they then start together, and that the job completes"
                            .to_string(),
                    )),
                    NativeApi::Absent => None,
                },
                // Driven through their PodGroup custom resources (`crd_group`).
                Solution::Volcano | Solution::Kai | Solution::Coscheduling => {
                    capabilities.has(solution.capability()).then_some(Ok(()))
                }
            };
            exercised.map(|exercised| Found { solution, exercised })
        })
        .collect()
}

/// How one exercised solution fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubResult {
    /// Positive and negative case passed; the summary says with what.
    Pass(String),
    /// The solution does not gang-schedule.
    Fail { reason: String, expected: String, observed: String },
    /// Installed but nothing acts on it (no scheduler took kaic's pods): reported, not a failure.
    NotOperational(String),
    /// kaic could not decide (no proof that a gang was held back); what a human must verify.
    Unknown(String),
    /// kaic could not reach a verdict for this solution.
    Error(String),
}

/// The result of exercising one solution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubCase {
    pub solution: Solution,
    pub result: SubResult,
}

impl SubCase {
    /// The sub-case in the model's terms, for the one roll-up policy and the evidence.
    pub fn to_solution(&self) -> SolutionResult {
        let name = self.solution.name();
        match &self.result {
            SubResult::Pass(summary) => SolutionResult::pass(name, summary.as_str()),
            SubResult::Fail { reason, expected, observed } => {
                SolutionResult::fail(name, reason.as_str(), expected.as_str(), observed.as_str())
            }
            SubResult::NotOperational(why) => SolutionResult::not_operational(name, why.as_str()),
            SubResult::Unknown(what) => SolutionResult::unknown(name, what.as_str()),
            SubResult::Error(cause) => SolutionResult::error(name, cause.as_str()),
        }
    }
}

/// What `gang_scheduling` is about, for the model's roll-up sentences.
pub const SUBJECT: Subject<'static> = Subject { works: "gang scheduling works", kinds: "gang scheduling solutions" };

/// Rolls the sub-cases up with the model's policy ([`kaic_model::solutions::roll_up`]): one solution that
/// passes meets the requirement, the others are reported beside it. Nothing found (and no unrecognised
/// scheduler in use) → the model's one "nothing installed" policy (unknown: the requirement asks that the
/// platform *allow* one); found but none exercisable (an alpha-only native API) → unknown.
pub fn roll_up(found: &[Found], cases: &[SubCase], unrecognised: &[String]) -> Verdict {
    if found.is_empty() && unrecognised.is_empty() {
        let looked_for =
            Solution::ALL.iter().map(|s| format!("{} ({})", s.name(), s.api())).collect::<Vec<_>>().join(", ");
        return kaic_model::installable::nothing_installed("gang_scheduling", &looked_for);
    }
    let mut results: Vec<SolutionResult> = cases.iter().map(SubCase::to_solution).collect();
    results.extend(
        found
            .iter()
            .filter_map(|f| f.exercised.clone().err().map(|what| SolutionResult::unknown(f.solution.name(), what))),
    );
    solutions::roll_up(SUBJECT, &results, unrecognised)
}

/// API groups of gang schedulers kaic recognises but does not exercise, with their names.
pub const UNRECOGNISED_GROUPS: &[(&str, &str)] = &[
    ("scheduling.koordinator.sh", "Koordinator"),
    ("scheduling.sigs.k8s.io", "scheduler-plugins (pre-v0.25 API) or Koordinator coscheduling"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use kaic_model::Outcome;

    fn caps(groups: &[(&'static str, &'static str)]) -> Capabilities {
        Capabilities::from_groups(groups.iter().map(|(g, v)| (*g, vec![*v])))
    }

    fn solutions(found: &[Found]) -> Vec<(Solution, bool)> {
        found.iter().map(|f| (f.solution, f.exercised.is_ok())).collect()
    }

    #[test]
    fn detects_every_installed_solution_and_leaves_only_an_alpha_native_api_to_a_human() {
        let all = caps(&[
            ("kueue.x-k8s.io", "v1beta2"),
            ("scheduling.k8s.io", "v1beta1"),
            ("scheduling.volcano.sh", "v1beta1"),
            ("scheduling.run.ai", "v2alpha2"),
            ("scheduling.x-k8s.io", "v1alpha1"),
        ]);
        assert_eq!(
            solutions(&detect(&all, NativeApi::V1beta1)),
            vec![
                (Solution::Kueue, true),
                (Solution::Native, true),
                (Solution::Volcano, true),
                (Solution::Kai, true),
                (Solution::Coscheduling, true)
            ]
        );
        let alpha = detect(&caps(&[("scheduling.k8s.io", "v1alpha2")]), NativeApi::AlphaOnly);
        assert_eq!(solutions(&alpha), vec![(Solution::Native, false)]);
        assert!(alpha[0].exercised.as_ref().unwrap_err().contains("alpha"));
        assert!(detect(&caps(&[("scheduling.k8s.io", "v1")]), NativeApi::Absent).is_empty());
    }

    fn found(list: &[(Solution, bool)]) -> Vec<Found> {
        list.iter()
            .map(|(solution, ok)| Found {
                solution: *solution,
                exercised: if *ok { Ok(()) } else { Err("verify X".into()) },
            })
            .collect()
    }

    fn case(solution: Solution, result: SubResult) -> SubCase {
        SubCase { solution, result }
    }

    fn fail(what: &str) -> SubResult {
        SubResult::Fail {
            reason: format!("{what} bound partially"),
            expected: "0 of 8 bound".into(),
            observed: "7 of 8 bound".into(),
        }
    }

    #[test]
    fn nothing_found_is_the_nothing_installed_policy_and_names_what_was_looked_for() {
        let verdict = roll_up(&[], &[], &[]);
        assert_eq!(verdict.outcome, Outcome::Unknown);
        assert!(kaic_model::installable::is_nothing_installed(&verdict), "{}", verdict.reason);
        let expected = verdict.reason;
        for api in [
            "kueue.x-k8s.io",
            "scheduling.volcano.sh",
            "scheduling.run.ai",
            "scheduling.x-k8s.io",
            "scheduling.k8s.io/v1beta1",
        ] {
            assert!(expected.contains(api), "{expected} names {api}");
        }
    }

    #[test]
    fn an_unrecognised_scheduler_in_use_is_unknown_never_none_found() {
        // Which schedulers count is schedulers.rs's; here, how the roll-up treats one.
        let yunikorn = vec!["YuniKorn (schedulerName yunikorn, 2 pods)".to_string()];
        let verdict = roll_up(&[], &[], &yunikorn);
        assert_eq!(verdict.outcome, Outcome::Unknown);
        assert!(verdict.reason.contains("YuniKorn (schedulerName yunikorn, 2 pods)"), "{}", verdict.reason);
    }

    #[test]
    fn only_unexercisable_solutions_is_unknown_with_what_to_verify() {
        let verdict = roll_up(&found(&[(Solution::Volcano, false)]), &[], &[]);
        assert_eq!(verdict.outcome, Outcome::Unknown);
        assert!(verdict.reason.contains("verify X"), "{}", verdict.reason);
    }

    #[test]
    fn one_passing_solution_is_enough_and_the_others_are_reported() {
        let both = found(&[(Solution::Kueue, true), (Solution::Native, true), (Solution::Volcano, true)]);
        let pass = roll_up(
            &both,
            &[
                case(Solution::Kueue, SubResult::Pass("ok".into())),
                case(Solution::Native, fail("native")),
                case(Solution::Volcano, SubResult::NotOperational("no scheduler named volcano acted".into())),
            ],
            &[],
        );
        assert_eq!(pass.outcome, Outcome::Pass);
        assert_eq!(
            pass.reason,
            "gang scheduling works — Kueue: ok (also: native Workload/PodGroup API failed: native bound partially; Volcano \
             not operational: no scheduler named volcano acted)"
        );

        let one_fails = roll_up(
            &both,
            &[case(Solution::Kueue, fail("Kueue")), case(Solution::Native, SubResult::Error("boom".into()))],
            &[],
        );
        assert_eq!(one_fails.outcome, Outcome::Fail, "a failure outweighs an error");
        assert_eq!(
            one_fails.reason,
            "Kueue: Kueue bound partially (also: native Workload/PodGroup API could not be exercised: boom)"
        );
        assert_eq!(one_fails.expected.as_deref(), Some("Kueue: 0 of 8 bound"));
        assert_eq!(one_fails.observed.as_deref(), Some("Kueue: 7 of 8 bound"));

        let not_operational = roll_up(
            &found(&[(Solution::Volcano, true)]),
            &[case(Solution::Volcano, SubResult::NotOperational("CRDs only".into()))],
            &[],
        );
        assert_eq!(not_operational.outcome, Outcome::Unknown, "left-over CRDs are not a failure");
    }
}
