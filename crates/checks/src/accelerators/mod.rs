//! Accelerator checks: DRA, driver and runtime versions, GPU sharing, virtualised accelerators; and the
//! shared pieces they (and `security`) use: the vendor table, the inventory of accelerator nodes, probe
//! pods, and the rule that turns per-path results into one verdict.

pub mod dra_support;
pub mod driver_runtime;
pub mod gpu_sharing;
pub mod inventory;
pub mod probe;
pub mod vendor;
pub mod virtualized;

use kaic_model::Verdict;

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
    /// The case could not be exercised; the text says why (e.g. no free device).
    Skipped(String),
}

/// Rolls case results into a verdict, with the inventory's unrecognised accelerators:
/// any violation → fail; else unrecognised accelerators → unknown (never a false fail); else at least
/// one pass → pass; else (nothing exercised) → unknown with the reasons.
pub fn conclude(cases: &[(String, CaseResult)], inventory: &Inventory) -> Verdict {
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
    if let Some(note) = inventory.unrecognised_note() {
        let shown = if passed.is_empty() { String::new() } else { format!("{}; ", passed.join("; ")) };
        return Verdict::unknown(format!("{shown}{note}"));
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
        CaseResult::Passed(t) | CaseResult::Skipped(t) => t,
        CaseResult::Violated(_) => "",
    }
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
        let v = conclude(&cases, &Inventory::default());
        assert_eq!(v.outcome, Outcome::Fail);
        assert_eq!(v.reason, "device-plugin: leak");
        assert_eq!(v.expected.unwrap(), "device-plugin: 0 devices");
    }

    #[test]
    fn unrecognised_accelerators_make_it_unknown_not_pass() {
        let inv =
            Inventory { nodes: vec![], unrecognised: vec!["extended resource acme.example/npu on node n".into()] };
        let v = conclude(&[("DRA".into(), CaseResult::Passed("ok".into()))], &inv);
        assert_eq!(v.outcome, Outcome::Unknown);
        assert!(v.reason.starts_with("DRA: ok; kaic does not recognise extended resource acme.example/npu"));
    }

    #[test]
    fn nothing_exercised_is_unknown_and_skips_are_reported() {
        let v = conclude(&[("DRA".into(), CaseResult::Skipped("no free device".into()))], &Inventory::default());
        assert_eq!(v.outcome, Outcome::Unknown);
        assert_eq!(v.reason, "nothing could be exercised: DRA: no free device");
        let v = conclude(
            &[
                ("DRA".into(), CaseResult::Passed("ok".into())),
                ("device-plugin".into(), CaseResult::Skipped("busy".into())),
            ],
            &Inventory::default(),
        );
        assert_eq!(v.outcome, Outcome::Pass);
        assert_eq!(v.reason, "DRA: ok (not exercised: device-plugin: busy)");
    }
}
