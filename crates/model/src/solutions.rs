//! One roll-up policy for requirements that several solutions can meet: gang schedulers, AI operators,
//! accelerator allocation paths. Every check with more than one way to meet its requirement reports one
//! [`SolutionResult`] per solution and turns them into its verdict with [`roll_up`], so the rule is the same
//! everywhere:
//!
//! - one solution passes → pass; every other solution's outcome stays in the reason (and in the evidence);
//! - a solution that is installed but not running (CRDs left over, no scheduler behind them) is *not
//!   operational*: reported, never a failure of the requirement;
//! - an unrecognised solution in use (YuniKorn, Koordinator, …) and nothing passing → unknown, with what a
//!   human must verify: kaic never says "none found, fail" about a platform it cannot see into;
//! - otherwise any failure → fail; any error → error; else unknown.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::outcome::Verdict;

/// How one solution fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SolutionStatus {
    /// It meets the requirement, with positive evidence.
    Pass,
    /// It runs and does not meet the requirement.
    Fail,
    /// It is installed (its API is served) but nothing acts on it: no scheduler, no controller.
    NotOperational,
    /// kaic cannot decide for it; the summary says what a human must verify.
    Unknown,
    /// kaic could not exercise it (API failure, timeout, no room to set the case up).
    Error,
}

impl SolutionStatus {
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "passed",
            Self::Fail => "failed",
            Self::NotOperational => "not operational",
            Self::Unknown => "undecided",
            Self::Error => "could not be exercised",
        }
    }
}

impl fmt::Display for SolutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The result of exercising one solution (or one allocation path) of a requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SolutionResult {
    /// The solution's name in reports (`Kueue`, `Volcano`, `DRA`, …).
    pub name: String,
    pub status: SolutionStatus,
    /// What was shown, in a sentence (for a failure: the reason).
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
}

impl SolutionResult {
    fn new(name: impl Into<String>, status: SolutionStatus, summary: impl Into<String>) -> Self {
        Self { name: name.into(), status, summary: summary.into(), expected: None, observed: None }
    }

    pub fn pass(name: impl Into<String>, summary: impl Into<String>) -> Self {
        Self::new(name, SolutionStatus::Pass, summary)
    }

    pub fn fail(
        name: impl Into<String>,
        reason: impl Into<String>,
        expected: impl Into<String>,
        observed: impl Into<String>,
    ) -> Self {
        Self {
            expected: Some(expected.into()),
            observed: Some(observed.into()),
            ..Self::new(name, SolutionStatus::Fail, reason)
        }
    }

    pub fn not_operational(name: impl Into<String>, why: impl Into<String>) -> Self {
        Self::new(name, SolutionStatus::NotOperational, why)
    }

    pub fn unknown(name: impl Into<String>, what_to_verify: impl Into<String>) -> Self {
        Self::new(name, SolutionStatus::Unknown, what_to_verify)
    }

    pub fn error(name: impl Into<String>, cause: impl Into<String>) -> Self {
        Self::new(name, SolutionStatus::Error, cause)
    }

    /// A solution's result from the verdict of exercising it alone (a check that exercises each solution as if
    /// it were the only one): pass, fail, error and unknown carry over; not applicable cannot happen for a
    /// solution that was found, and is kept as unknown with its reason.
    pub fn from_verdict(name: impl Into<String>, verdict: &Verdict) -> Self {
        use crate::outcome::Outcome;
        let status = match verdict.outcome {
            Outcome::Pass => SolutionStatus::Pass,
            Outcome::Fail => SolutionStatus::Fail,
            Outcome::Error => SolutionStatus::Error,
            Outcome::Unknown | Outcome::NotApplicable => SolutionStatus::Unknown,
        };
        Self {
            expected: verdict.expected.clone(),
            observed: verdict.observed.clone(),
            ..Self::new(name, status, verdict.reason.clone())
        }
    }

    /// `name status: summary`, for sentences that list several solutions.
    pub fn line(&self) -> String {
        format!("{} {}: {}", self.name, self.status, self.summary)
    }
}

/// What the requirement is about, for the sentences of [`roll_up`]: `gang scheduling`, `a robust AI operator`.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// What works when one solution passes: `gang scheduling works`.
    pub works: &'a str,
    /// The kind of solution, plural: `gang scheduling solutions`.
    pub kinds: &'a str,
}

/// Rolls the results of every solution into one verdict (the rules are in the module header).
/// `unrecognised` names solutions in use that kaic cannot exercise (e.g. `YuniKorn (pods with
/// schedulerName yunikorn)`), each with what to verify. With no results and nothing unrecognised the
/// verdict is unknown: the caller decides first what "nothing found" means for its requirement.
pub fn roll_up(subject: Subject<'_>, results: &[SolutionResult], unrecognised: &[String]) -> Verdict {
    let with = |status: SolutionStatus| results.iter().filter(move |r| r.status == status);
    let others = |except: SolutionStatus| {
        let lines: Vec<String> = results.iter().filter(|r| r.status != except).map(SolutionResult::line).collect();
        let mut parts = lines;
        parts.extend(unrecognised.iter().map(|u| format!("{u} not exercised")));
        if parts.is_empty() { String::new() } else { format!(" (also: {})", parts.join("; ")) }
    };
    let passes: Vec<String> = with(SolutionStatus::Pass).map(|r| format!("{}: {}", r.name, r.summary)).collect();
    if !passes.is_empty() {
        return Verdict::pass(format!("{} — {}{}", subject.works, passes.join("; "), others(SolutionStatus::Pass)));
    }
    if !unrecognised.is_empty() {
        let tried: Vec<String> = results.iter().map(SolutionResult::line).collect();
        let tried =
            if tried.is_empty() { String::new() } else { format!(" Exercised without success: {}.", tried.join("; ")) };
        return Verdict::unknown(format!(
            "{} kaic does not recognise are in use: {}; verify by hand that one of them meets the requirement.{tried}",
            subject.kinds,
            unrecognised.join("; ")
        ));
    }
    let fails: Vec<&SolutionResult> = with(SolutionStatus::Fail).collect();
    if !fails.is_empty() {
        let join = |part: fn(&SolutionResult) -> &str| {
            fails.iter().map(|r| format!("{}: {}", r.name, part(r))).collect::<Vec<_>>().join("; ")
        };
        let mut verdict = Verdict::fail(
            join(|r| r.summary.as_str()),
            join(|r| r.expected.as_deref().unwrap_or("")),
            join(|r| r.observed.as_deref().unwrap_or("")),
        );
        verdict.reason.push_str(&others(SolutionStatus::Fail));
        return verdict;
    }
    let errors: Vec<String> = with(SolutionStatus::Error).map(|r| format!("{}: {}", r.name, r.summary)).collect();
    if !errors.is_empty() {
        return Verdict::error(format!("{}{}", errors.join("; "), others(SolutionStatus::Error)));
    }
    if results.is_empty() {
        return Verdict::unknown(format!("no {} found to exercise", subject.kinds));
    }
    let undecided: Vec<String> = results.iter().map(SolutionResult::line).collect();
    Verdict::unknown(format!(
        "no {} could be shown to work: {}; verify that one of them runs and meets the requirement",
        subject.kinds,
        undecided.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;

    const GANG: Subject<'static> = Subject { works: "gang scheduling works", kinds: "gang scheduling solutions" };

    fn failed(name: &str) -> SolutionResult {
        SolutionResult::fail(name, "bound partially", "0 of 4 bound", "3 of 4 bound")
    }

    #[test]
    fn a_verdict_becomes_a_solution_result_with_its_expected_and_observed() {
        let failed =
            SolutionResult::from_verdict("GatewayClass naive", &Verdict::fail("split wrong", "80/20", "0/100"));
        assert_eq!(failed, SolutionResult::fail("GatewayClass naive", "split wrong", "80/20", "0/100"));
        let passed = SolutionResult::from_verdict("GatewayClass traefik", &Verdict::pass("routes right"));
        assert_eq!(passed, SolutionResult::pass("GatewayClass traefik", "routes right"));
        assert_eq!(SolutionResult::from_verdict("x", &Verdict::error("timed out")).status, SolutionStatus::Error);
    }

    #[test]
    fn one_passing_solution_meets_the_requirement_and_the_others_are_kept() {
        let verdict = roll_up(
            GANG,
            &[
                SolutionResult::pass("Kueue", "a gang of 3 ran"),
                failed("Volcano"),
                SolutionResult::not_operational("KAI scheduler", "no scheduler acted on kaic's pods"),
            ],
            &[],
        );
        assert_eq!(verdict.outcome, Outcome::Pass);
        assert_eq!(
            verdict.reason,
            "gang scheduling works — Kueue: a gang of 3 ran (also: Volcano failed: bound partially; KAI scheduler not \
             operational: no scheduler acted on kaic's pods)"
        );
    }

    #[test]
    fn failures_without_a_pass_fail_with_expected_and_observed_per_solution() {
        let verdict = roll_up(GANG, &[failed("Volcano"), SolutionResult::error("KAI scheduler", "timed out")], &[]);
        assert_eq!(verdict.outcome, Outcome::Fail, "a failure outweighs an error");
        assert_eq!(verdict.reason, "Volcano: bound partially (also: KAI scheduler could not be exercised: timed out)");
        assert_eq!(verdict.expected.as_deref(), Some("Volcano: 0 of 4 bound"));
        assert_eq!(verdict.observed.as_deref(), Some("Volcano: 3 of 4 bound"));
    }

    #[test]
    fn not_operational_is_never_a_failure() {
        let verdict = roll_up(GANG, &[SolutionResult::not_operational("Volcano", "CRDs only")], &[]);
        assert_eq!(verdict.outcome, Outcome::Unknown);
        assert!(verdict.reason.contains("Volcano not operational: CRDs only"), "{}", verdict.reason);
    }

    #[test]
    fn an_unrecognised_solution_in_use_is_unknown_not_a_failure() {
        let verdict = roll_up(GANG, &[failed("Volcano")], &["YuniKorn (pods use schedulerName yunikorn)".into()]);
        assert_eq!(verdict.outcome, Outcome::Unknown);
        assert!(verdict.reason.contains("YuniKorn (pods use schedulerName yunikorn)"), "{}", verdict.reason);
        assert!(verdict.reason.contains("Volcano failed: bound partially"), "{}", verdict.reason);
        // A passing solution still decides.
        let pass = roll_up(GANG, &[SolutionResult::pass("Kueue", "ok")], &["YuniKorn".into()]);
        assert_eq!(pass.outcome, Outcome::Pass);
        assert!(pass.reason.ends_with("(also: YuniKorn not exercised)"), "{}", pass.reason);
    }

    #[test]
    fn errors_alone_are_errors_and_nothing_is_unknown() {
        assert_eq!(roll_up(GANG, &[SolutionResult::error("Kueue", "boom")], &[]).outcome, Outcome::Error);
        assert_eq!(roll_up(GANG, &[], &[]).outcome, Outcome::Unknown);
    }
}
