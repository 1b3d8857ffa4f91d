//! Accelerator checks: DRA, driver and runtime versions, GPU sharing, virtualised accelerators; and the
//! shared pieces they (and `security`) use: the vendor table, the inventory of accelerator nodes, probe
//! pods, and the rule that turns per-path results into one verdict.

pub mod classes;
pub mod counters;
pub mod dra_allocation;
pub mod dra_support;
pub mod driver_runtime;
pub mod gpu_sharing;
pub mod inventory;
pub mod probe;
pub mod sharing;
pub mod tools;
pub mod vendor;
pub mod virtualized;

use kaic_model::solutions::{Subject, roll_up};
use kaic_model::{SolutionResult, Verdict};

use crate::check::CheckContext;
use inventory::Inventory;

/// One thing a check expected and did not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub what: String,
    pub expected: String,
    pub observed: String,
}

/// How one exercised case (an allocation path, a sharing mechanism, a node) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseResult {
    /// Everything held; the text says what was shown.
    Passed(String),
    /// Something did not hold.
    Violated(Vec<Finding>),
    /// The case could not be exercised; the text says why and what a person can do (e.g. no free device).
    Skipped(String),
    /// kaic could not run the case; the text says why (a probe image that cannot be pulled, a vendor tool
    /// that failed where a device was granted, a pod that never ran).
    Error(String),
}

/// How the cases of a check make its verdict.
#[derive(Debug, Clone, Copy)]
pub enum Policy {
    /// Every exercised case must hold (isolation, versions): any violation fails, accelerators kaic does
    /// not recognise leave it unknown, a case kaic could not run makes it an error; cases that could not
    /// be exercised are named in the reason.
    EveryCase,
    /// Any one case holding meets the requirement (sharing: one mechanism is enough): the one roll-up
    /// policy for requirements several solutions can meet ([`roll_up`]).
    AnyCase(Subject<'static>),
}

/// A case as a solution result, for the evidence and [`roll_up`].
pub fn solution(name: &str, result: &CaseResult) -> SolutionResult {
    let join =
        |findings: &[Finding], part: fn(&Finding) -> &str| findings.iter().map(part).collect::<Vec<_>>().join("; ");
    match result {
        CaseResult::Passed(text) => SolutionResult::pass(name, text),
        CaseResult::Violated(findings) => SolutionResult::fail(
            name,
            join(findings, |f| f.what.as_str()),
            join(findings, |f| f.expected.as_str()),
            join(findings, |f| f.observed.as_str()),
        ),
        CaseResult::Skipped(text) => SolutionResult::unknown(name, text),
        CaseResult::Error(text) => SolutionResult::error(name, text),
    }
}

/// Records each case as a solution result in the evidence and concludes.
pub fn finish(ctx: &CheckContext, policy: Policy, cases: &[(String, CaseResult)], inventory: &Inventory) -> Verdict {
    for (name, result) in cases {
        let result = solution(name, result);
        ctx.record(|e| e.solution(result));
    }
    conclude(policy, cases, inventory)
}

/// Rolls case results into a verdict with the inventory's unrecognised accelerators (see [`Policy`]).
pub fn conclude(policy: Policy, cases: &[(String, CaseResult)], inventory: &Inventory) -> Verdict {
    if let Policy::AnyCase(subject) = policy {
        let results: Vec<SolutionResult> = cases.iter().map(|(name, r)| solution(name, r)).collect();
        return roll_up(subject, &results, &inventory.unrecognised);
    }
    let findings: Vec<(&String, &Finding)> = cases
        .iter()
        .flat_map(|(case, result)| match result {
            CaseResult::Violated(findings) => findings.iter().map(|f| (case, f)).collect(),
            _ => Vec::new(),
        })
        .collect();
    if !findings.is_empty() {
        let reason = findings.iter().map(|(case, f)| format!("{case}: {}", f.what)).collect::<Vec<_>>().join("; ");
        let expected =
            findings.iter().map(|(case, f)| format!("{case}: {}", f.expected)).collect::<Vec<_>>().join("; ");
        let observed =
            findings.iter().map(|(case, f)| format!("{case}: {}", f.observed)).collect::<Vec<_>>().join("; ");
        return Verdict::fail(reason, expected, observed);
    }
    let described = |wanted: fn(&CaseResult) -> bool| -> Vec<String> {
        cases.iter().filter(|(_, r)| wanted(r)).map(|(case, r)| format!("{case}: {}", text(r))).collect()
    };
    let passed = described(|r| matches!(r, CaseResult::Passed(_)));
    let skipped = described(|r| matches!(r, CaseResult::Skipped(_)));
    let errors = described(|r| matches!(r, CaseResult::Error(_)));
    if let Some(note) = inventory.unrecognised_note() {
        let shown = if passed.is_empty() { String::new() } else { format!("{}; ", passed.join("; ")) };
        return Verdict::unknown(format!("{shown}{note}"));
    }
    if !errors.is_empty() {
        let shown = if passed.is_empty() { String::new() } else { format!(" (passed: {})", passed.join("; ")) };
        return Verdict::error(format!("{}{shown}", errors.join("; ")));
    }
    if passed.is_empty() {
        return Verdict::unknown(format!("nothing could be exercised: {}", skipped.join("; ")));
    }
    let mut reason = passed.join("; ");
    if !skipped.is_empty() {
        reason.push_str(&format!(" (not exercised: {})", skipped.join("; ")));
    }
    Verdict::pass(reason)
}

fn text(result: &CaseResult) -> &str {
    match result {
        CaseResult::Passed(t) | CaseResult::Skipped(t) | CaseResult::Error(t) => t,
        CaseResult::Violated(_) => "",
    }
}

/// The case to report when DRA is served at a beta version only: kaic drives `resource.k8s.io/v1`, so
/// the DRA path is left to a person, never failed.
pub fn dra_beta_only_case(ctx: &CheckContext) -> Option<(String, CaseResult)> {
    ctx.capabilities.dra_beta_only().then(|| {
        (
            "DRA".to_string(),
            CaseResult::Skipped(
                "DRA is served at a beta version of resource.k8s.io only (v1beta2/v1beta1); kaic drives v1: verify by \
                 hand that a pod's ResourceClaim gets exactly the device it was allocated"
                    .into(),
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaic_model::Outcome;

    fn finding() -> Finding {
        Finding { what: "leak".into(), expected: "0 devices".into(), observed: "4 devices".into() }
    }

    #[test]
    fn a_violation_fails_whatever_else_passed() {
        let cases = vec![
            ("DRA".to_string(), CaseResult::Passed("ok".into())),
            ("device-plugin".to_string(), CaseResult::Violated(vec![finding()])),
        ];
        let v = conclude(Policy::EveryCase, &cases, &Inventory::default());
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(v.reason, "device-plugin: leak");
        assert_eq!(v.expected.unwrap(), "device-plugin: 0 devices");
    }

    #[test]
    fn unrecognised_accelerators_make_it_unknown_not_pass() {
        let inv =
            Inventory { nodes: vec![], unrecognised: vec!["extended resource acme.example/npu on node n".into()] };
        let v = conclude(Policy::EveryCase, &[("DRA".into(), CaseResult::Passed("ok".into()))], &inv);
        assert_eq!(v.outcome, Outcome::Unknown);
        assert!(v.reason.starts_with("DRA: ok; kaic does not recognise extended resource acme.example/npu"));
    }

    #[test]
    fn nothing_exercised_is_unknown_and_skips_are_reported() {
        let v = conclude(
            Policy::EveryCase,
            &[("DRA".into(), CaseResult::Skipped("no free device".into()))],
            &Inventory::default(),
        );
        assert_eq!(v.outcome, Outcome::Unknown);
        assert_eq!(v.reason, "nothing could be exercised: DRA: no free device");
        let v = conclude(
            Policy::EveryCase,
            &[
                ("DRA".into(), CaseResult::Passed("ok".into())),
                ("device-plugin".into(), CaseResult::Skipped("busy".into())),
            ],
            &Inventory::default(),
        );
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.reason, "DRA: ok (not exercised: device-plugin: busy)");
    }

    #[test]
    fn an_error_in_one_case_is_an_error_not_a_pass_for_every_case_checks() {
        let cases = vec![
            ("device-plugin".to_string(), CaseResult::Passed("ok".into())),
            ("DRA".to_string(), CaseResult::Error("pod p: container c cannot start: ImagePullBackOff".into())),
        ];
        let v = conclude(Policy::EveryCase, &cases, &Inventory::default());
        assert_eq!(v.outcome, Outcome::Error);
        assert_eq!(v.reason, "DRA: pod p: container c cannot start: ImagePullBackOff (passed: device-plugin: ok)");
    }

    const SHARING: Subject<'static> = Subject { works: "GPU sharing works", kinds: "sharing mechanisms" };

    #[test]
    fn any_case_checks_roll_up_one_pass_and_never_fail_without_a_violation() {
        let cases = vec![
            ("DRA shared claim".to_string(), CaseResult::Passed("2 pods saw the same device".into())),
            ("time-slicing".to_string(), CaseResult::Violated(vec![finding()])),
        ];
        let v = conclude(Policy::AnyCase(SHARING), &cases, &Inventory::default());
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(v.reason.contains("time-slicing failed: leak"), "{}", v.reason);
        // No free device anywhere: unknown with what to do, never fail.
        let busy =
            vec![("DRA shared claim".to_string(), CaseResult::Skipped("every DRA device is in use: free one".into()))];
        let v = conclude(Policy::AnyCase(SHARING), &busy, &Inventory::default());
        assert_eq!(v.outcome, Outcome::Unknown);
        assert!(v.reason.contains("every DRA device is in use: free one"), "{}", v.reason);
    }

    #[tokio::test]
    async fn beta_only_dra_is_a_case_for_a_person_never_a_failure() {
        let mut ctx = CheckContext::offline("secure_accelerator_access", crate::check::CheckOptions::default());
        assert!(dra_beta_only_case(&ctx).is_none());
        ctx.capabilities.insert(crate::Capability::DraBeta);
        let (name, case) = dra_beta_only_case(&ctx).unwrap();
        assert_eq!(name, "DRA");
        let cases = vec![("device-plugin".to_string(), CaseResult::Passed("ok".into())), (name, case)];
        let v = conclude(Policy::EveryCase, &cases, &Inventory::default());
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(
            v.reason.contains("(not exercised: DRA: DRA is served at a beta version of resource.k8s.io only"),
            "{}",
            v.reason
        );
        ctx.capabilities.insert(crate::Capability::Dra);
        assert!(dra_beta_only_case(&ctx).is_none(), "v1 served too");
    }

    #[test]
    fn cases_become_solution_results() {
        let failed = solution("DRA", &CaseResult::Violated(vec![finding(), finding()]));
        assert_eq!(failed.status, kaic_model::SolutionStatus::Fail);
        assert_eq!(failed.expected.as_deref(), Some("0 devices; 0 devices"));
        assert_eq!(solution("x", &CaseResult::Skipped("s".into())).status, kaic_model::SolutionStatus::Unknown);
        assert_eq!(solution("x", &CaseResult::Error("e".into())).status, kaic_model::SolutionStatus::Error);
    }
}
