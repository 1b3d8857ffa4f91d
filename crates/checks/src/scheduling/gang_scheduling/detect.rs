//! Which gang scheduling solutions a cluster offers, and how the results of exercising them roll up into
//! one verdict. Pure: the inputs are the capabilities preflight discovered and what discovery says about
//! the native Workload API.

use kaic_model::Verdict;

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
    /// kaic could not reach a verdict for this solution.
    Error(String),
}

/// The result of exercising one solution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubCase {
    pub solution: Solution,
    pub result: SubResult,
}

/// Rolls the sub-cases up: none found → fail; found but none exercisable → unknown; any exercised one
/// fails → fail; otherwise any error → error; otherwise pass. Solutions found but not exercised are named.
pub fn roll_up(found: &[Found], cases: &[SubCase]) -> Verdict {
    if found.is_empty() {
        let looked_for =
            Solution::ALL.iter().map(|s| format!("{} ({})", s.name(), s.api())).collect::<Vec<_>>().join(", ");
        return Verdict::fail(
            "no gang scheduling solution found",
            format!("one of: {looked_for}"),
            "none of these APIs is served by the API server",
        );
    }
    let not_exercised: Vec<&Found> = found.iter().filter(|f| f.exercised.is_err()).collect();
    let also = if not_exercised.is_empty() {
        String::new()
    } else {
        let names = not_exercised.iter().map(|f| f.solution.name()).collect::<Vec<_>>().join(", ");
        format!(" (also installed, not exercised: {names})")
    };
    if cases.is_empty() {
        let what = not_exercised.iter().filter_map(|f| f.exercised.clone().err()).collect::<Vec<_>>().join("; ");
        return Verdict::unknown(what);
    }
    // Each failure as (reason, expected, observed), every part prefixed with the solution's name.
    let fails: Vec<[String; 3]> = cases
        .iter()
        .filter_map(|c| match &c.result {
            SubResult::Fail { reason, expected, observed } => {
                Some([reason, expected, observed].map(|part| format!("{}: {part}", c.solution.name())))
            }
            _ => None,
        })
        .collect();
    if !fails.is_empty() {
        let join = |i: usize| fails.iter().map(|f| f[i].as_str()).collect::<Vec<_>>().join("; ");
        return Verdict::fail(join(0), join(1), join(2));
    }
    let errors: Vec<String> = cases
        .iter()
        .filter_map(|c| match &c.result {
            SubResult::Error(e) => Some(format!("{}: {e}", c.solution.name())),
            _ => None,
        })
        .collect();
    if !errors.is_empty() {
        return Verdict::error(errors.join("; "));
    }
    let passes: Vec<String> = cases
        .iter()
        .filter_map(|c| match &c.result {
            SubResult::Pass(summary) => Some(format!("{}: {summary}", c.solution.name())),
            _ => None,
        })
        .collect();
    Verdict::pass(format!("gang scheduling works — {}{also}", passes.join("; ")))
}

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
    fn nothing_found_fails_and_names_what_was_looked_for() {
        let verdict = roll_up(&[], &[]);
        assert_eq!(verdict.outcome, Outcome::Fail);
        assert_eq!(verdict.reason, "no gang scheduling solution found");
        let expected = verdict.expected.unwrap();
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
    fn only_unexercisable_solutions_is_unknown_with_what_to_verify() {
        let verdict = roll_up(&found(&[(Solution::Volcano, false)]), &[]);
        assert_eq!(verdict.outcome, Outcome::Unknown);
        assert_eq!(verdict.reason, "verify X");
    }

    #[test]
    fn every_exercised_solution_must_pass() {
        let both = found(&[(Solution::Kueue, true), (Solution::Native, true), (Solution::Volcano, false)]);
        let pass = roll_up(
            &both,
            &[
                case(Solution::Kueue, SubResult::Pass("ok".into())),
                case(Solution::Native, SubResult::Pass("ok".into())),
            ],
        );
        assert_eq!(pass.outcome, Outcome::Pass);
        assert_eq!(
            pass.reason,
            "gang scheduling works — Kueue: ok; native Workload/PodGroup API: ok (also installed, not exercised: Volcano)"
        );

        let one_fails = roll_up(
            &both,
            &[case(Solution::Kueue, fail("Kueue")), case(Solution::Native, SubResult::Error("boom".into()))],
        );
        assert_eq!(one_fails.outcome, Outcome::Fail, "a failure outweighs an error");
        assert_eq!(one_fails.reason, "Kueue: Kueue bound partially");
        assert_eq!(one_fails.expected.as_deref(), Some("Kueue: 0 of 8 bound"));
        assert_eq!(one_fails.observed.as_deref(), Some("Kueue: 7 of 8 bound"));

        let one_errors = roll_up(
            &both,
            &[
                case(Solution::Kueue, SubResult::Pass("ok".into())),
                case(Solution::Native, SubResult::Error("boom".into())),
            ],
        );
        assert_eq!(one_errors.outcome, Outcome::Error);
        assert_eq!(one_errors.reason, "native Workload/PodGroup API: boom");
    }
}
