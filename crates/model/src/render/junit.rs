//! JUnit XML: one test suite per area, one test case per check, and one per requirement that no check
//! covered (reported as skipped, so CI dashboards show the gap instead of hiding it).
//!
//! Mapping: pass → success; fail → `<failure>` with expected/observed; error → `<error>`;
//! not applicable and unknown → `<skipped>` with the reason.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::outcome::Outcome;
use crate::report::{CheckReport, RunReport};

/// Renders the report as JUnit XML.
///
/// # Errors
/// Only if the XML writer fails, which it does not for in-memory output.
pub fn render(report: &RunReport) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Report::new(format!("kaic {}", report.cluster.conformance_version));
    let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
    for requirement in &report.requirements {
        let area = requirement.area.to_string();
        let suite = suites.entry(area.clone()).or_insert_with(|| TestSuite::new(area.clone()));
        let checks: Vec<&CheckReport> = report.checks.iter().filter(|c| requirement.checks.contains(&c.id)).collect();
        if checks.is_empty() {
            let mut status = TestCaseStatus::skipped();
            status.set_message(requirement.reason.clone());
            let mut case = TestCase::new(requirement.id.clone(), status);
            case.set_classname(format!("{area}.{}", requirement.id));
            suite.add_test_case(case);
        }
        for check in checks {
            let mut case = TestCase::new(check.id.clone(), status_of(check));
            case.set_classname(format!("{area}.{}", requirement.id));
            case.set_time(Duration::from_millis(check.duration_millis));
            let steps: Vec<&str> = check.evidence.steps().collect();
            if !steps.is_empty() {
                case.set_system_out(steps.join("\n"));
            }
            suite.add_test_case(case);
        }
    }
    junit.add_test_suites(suites.into_values());
    junit.to_string()
}

fn status_of(check: &CheckReport) -> TestCaseStatus {
    let verdict = &check.verdict;
    let mut status = match verdict.outcome {
        Outcome::Pass => return TestCaseStatus::success(),
        Outcome::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
        Outcome::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
        Outcome::NotApplicable | Outcome::Unknown => TestCaseStatus::skipped(),
    };
    status.set_message(format!("{}: {}", verdict.outcome, verdict.reason));
    status.set_type(verdict.outcome.label());
    if let (Some(expected), Some(observed)) = (&verdict.expected, &verdict.observed) {
        status.set_description(format!("expected: {expected}\nobserved: {observed}"));
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_report;

    #[test]
    fn junit_snapshot() {
        insta::assert_snapshot!(render(&sample_report()).unwrap());
    }

    #[test]
    fn failures_carry_expected_and_observed() {
        let xml = render(&sample_report()).unwrap();
        assert!(xml.contains("expected: 0 of 5 pods bound while capacity is short"));
        assert!(xml.contains("observed: 3 of 5 pods bound after 10s"));
    }
}
