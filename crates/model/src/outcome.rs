//! Outcomes of checks and the roll-up of several outcomes into one requirement status.
//!
//! A check failing (the platform does not meet the requirement) is kept apart from a check that could not
//! run (`Error`), as nextest keeps `Fail` apart from `ExecFail`: the first is a finding about the platform,
//! the second a finding about the run.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The platform meets the requirement, with positive evidence.
    Pass,
    /// The platform does not meet the requirement: expected and observed say how.
    Fail,
    /// The requirement's condition does not hold on this platform (the reason says why).
    NotApplicable,
    /// kaic cannot decide automatically; the reason says what a human must verify.
    Unknown,
    /// kaic could not run the check (unreachable, forbidden, timed out, …).
    Error,
}

impl Outcome {
    /// The word used in terminal output and reports.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::NotApplicable => "not applicable",
            Self::Unknown => "unknown",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A check's verdict: the outcome, a one-line reason, and for a failure what was expected and observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    pub outcome: Outcome,
    /// One line a person can act on: why it passed, failed, does not apply, or what to verify.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
}

impl Verdict {
    fn new(outcome: Outcome, reason: impl Into<String>) -> Self {
        Self { outcome, reason: reason.into(), expected: None, observed: None }
    }

    pub fn pass(reason: impl Into<String>) -> Self {
        Self::new(Outcome::Pass, reason)
    }

    /// A failure always says what was expected and what was observed.
    pub fn fail(reason: impl Into<String>, expected: impl Into<String>, observed: impl Into<String>) -> Self {
        Self { expected: Some(expected.into()), observed: Some(observed.into()), ..Self::new(Outcome::Fail, reason) }
    }

    pub fn not_applicable(reason: impl Into<String>) -> Self {
        Self::new(Outcome::NotApplicable, reason)
    }

    pub fn unknown(what_to_verify: impl Into<String>) -> Self {
        Self::new(Outcome::Unknown, what_to_verify)
    }

    pub fn error(cause: impl Into<String>) -> Self {
        Self::new(Outcome::Error, cause)
    }
}

/// The status of one requirement after rolling up the outcomes of its checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequirementStatus {
    /// Every check passed (or some passed and the rest do not apply).
    Met,
    /// Some checks passed and some did not decide: partially shown.
    Partial,
    /// At least one check failed.
    NotMet,
    /// Every check found the requirement's condition does not hold.
    NotApplicable,
    /// No check could decide (no evidence is never a pass).
    Unknown,
    /// A check could not run and nothing failed.
    Error,
}

impl RequirementStatus {
    /// Rolls up the outcomes of all checks proving one requirement.
    ///
    /// Any fail → not met; all pass (ignoring not applicable) → met; all not applicable → not applicable;
    /// some pass and some unknown or error → partial; otherwise error if any check could not run, else
    /// unknown. No outcomes at all → unknown: no evidence is never a pass.
    pub fn roll_up(outcomes: &[Outcome]) -> Self {
        let has = |o: Outcome| outcomes.contains(&o);
        if has(Outcome::Fail) {
            Self::NotMet
        } else if outcomes.is_empty() {
            Self::Unknown
        } else if outcomes.iter().all(|o| *o == Outcome::NotApplicable) {
            Self::NotApplicable
        } else if outcomes.iter().all(|o| matches!(o, Outcome::Pass | Outcome::NotApplicable)) {
            Self::Met
        } else if has(Outcome::Pass) {
            Self::Partial
        } else if has(Outcome::Error) {
            Self::Error
        } else {
            Self::Unknown
        }
    }

    /// Whether this status counts as meeting a MUST for the exit code: met, or not applicable.
    pub fn satisfies(self) -> bool {
        matches!(self, Self::Met | Self::NotApplicable)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Met => "met",
            Self::Partial => "partial",
            Self::NotMet => "not met",
            Self::NotApplicable => "not applicable",
            Self::Unknown => "unknown",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for RequirementStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome::*;
    use super::RequirementStatus as S;

    #[test]
    fn no_evidence_is_never_a_pass() {
        assert_eq!(S::roll_up(&[]), S::Unknown);
    }

    #[test]
    fn any_failure_means_not_met() {
        assert_eq!(S::roll_up(&[Pass, Fail]), S::NotMet);
        assert_eq!(S::roll_up(&[Error, Fail, Unknown]), S::NotMet);
    }

    #[test]
    fn passes_and_not_applicable_mean_met() {
        assert_eq!(S::roll_up(&[Pass]), S::Met);
        assert_eq!(S::roll_up(&[Pass, NotApplicable]), S::Met);
        assert_eq!(S::roll_up(&[NotApplicable, NotApplicable]), S::NotApplicable);
    }

    #[test]
    fn undecided_checks_beside_a_pass_are_partial() {
        assert_eq!(S::roll_up(&[Pass, Unknown]), S::Partial);
        assert_eq!(S::roll_up(&[Pass, Error]), S::Partial);
    }

    #[test]
    fn errors_and_unknowns_alone() {
        assert_eq!(S::roll_up(&[Error, Unknown]), S::Error);
        assert_eq!(S::roll_up(&[Unknown, NotApplicable]), S::Unknown);
    }

    #[test]
    fn only_met_and_not_applicable_satisfy() {
        let all = [S::Met, S::Partial, S::NotMet, S::NotApplicable, S::Unknown, S::Error];
        let satisfying: Vec<_> = all.into_iter().filter(|s| s.satisfies()).collect();
        assert_eq!(satisfying, vec![S::Met, S::NotApplicable]);
    }
}
