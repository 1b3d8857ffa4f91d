//! JUnit XML, rendered from the [`TestLog`]: one test suite per area, one test case per check, one per
//! solution a check exercised (`gang_scheduling/kueue`), and one per requirement that no check covered
//! (reported as skipped, so CI dashboards show the gap instead of hiding it).
//!
//! Mapping: pass → success; fail → `<failure>` with expected/observed; error → `<error>`;
//! not applicable, unknown and a check left out of the run → `<skipped>` with the reason. The report is
//! named `kaic <version>` and each class name is `<area>.<requirement>`: kaic reads its own file back by
//! them.

use std::collections::BTreeMap;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::test_log::{Test, TestLog, TestResult};

/// Renders the log as JUnit XML.
///
/// # Errors
/// Only if the XML writer fails, which it does not for in-memory output.
pub fn render(log: &TestLog) -> Result<String, quick_junit::SerializeError> {
    let mut junit = Report::new(log.name.clone());
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for test in &log.tests {
        let suite = suites.entry(&test.suite).or_insert_with(|| TestSuite::new(test.suite.clone()));
        suite.add_test_case(case(test));
        for sub in &test.subtests {
            suite.add_test_case(case(sub));
        }
    }
    junit.add_test_suites(suites.into_values());
    junit.to_string()
}

fn case(test: &Test) -> TestCase {
    let mut status = match test.result {
        TestResult::Pass => TestCaseStatus::success(),
        TestResult::Fail => TestCaseStatus::non_success(NonSuccessKind::Failure),
        TestResult::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
        TestResult::Skip => TestCaseStatus::skipped(),
    };
    if let Some(message) = &test.message {
        status.set_message(message.clone());
    }
    if let Some(kind) = &test.kind {
        status.set_type(kind.clone());
    }
    if let Some(details) = &test.details {
        status.set_description(details.clone());
    }
    let mut case = TestCase::new(test.name.clone(), status);
    case.set_classname(test.classname.clone());
    if let Some(millis) = test.elapsed_millis {
        case.set_time(Duration::from_millis(millis));
    }
    // A requirement without a check has only its reason, already the message.
    if test.kind.is_some() || test.result == TestResult::Pass {
        case.set_system_out(test.output.join("\n"));
    }
    case
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Verdict;
    use crate::render::test_log::tests::with_solutions;
    use crate::report::fixtures::sample_report;

    #[test]
    fn junit_snapshot() {
        insta::assert_snapshot!(render(&TestLog::of(&sample_report())).unwrap());
    }

    #[test]
    fn failures_carry_expected_and_observed() {
        let xml = render(&TestLog::of(&sample_report())).unwrap();
        assert!(xml.contains("expected: 0 of 5 pods bound while capacity is short"));
        assert!(xml.contains("observed: 3 of 5 pods bound after 10s"));
    }

    /// Every test case's name and status, read back with quick-junit's own reader.
    fn cases(xml: &str) -> Vec<(String, String, String)> {
        let report = Report::deserialize_from_str(xml).unwrap();
        report
            .test_suites
            .iter()
            .flat_map(|s| &s.test_cases)
            .map(|c| {
                let status = match &c.status {
                    TestCaseStatus::Success { .. } => "pass",
                    TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, .. } => "failure",
                    TestCaseStatus::NonSuccess { .. } => "error",
                    TestCaseStatus::Skipped { .. } => "skipped",
                };
                let class = c.classname.as_ref().map(|n| n.as_str().to_string()).unwrap_or_default();
                (c.name.as_str().to_string(), class, status.to_string())
            })
            .collect()
    }

    #[test]
    fn solutions_are_test_cases_and_fail_only_in_a_failing_check() {
        let passed = cases(&render(&TestLog::of(&with_solutions(Verdict::pass("Kueue passed")))).unwrap());
        let class = "scheduling.gang_scheduling".to_string();
        assert!(passed.contains(&("gang_scheduling".into(), class.clone(), "pass".into())), "{passed:?}");
        assert!(passed.contains(&("gang_scheduling/kueue".into(), class.clone(), "pass".into())), "{passed:?}");
        assert!(passed.contains(&("gang_scheduling/volcano".into(), class.clone(), "skipped".into())), "{passed:?}");
        assert!(!passed.iter().any(|c| c.2 == "failure" || c.2 == "error"), "{passed:?}");
        let failed = Verdict::fail("no solution works", "a gang held back", "a gang partly bound");
        let failed = cases(&render(&TestLog::of(&with_solutions(failed))).unwrap());
        assert!(failed.contains(&("gang_scheduling".into(), class.clone(), "failure".into())), "{failed:?}");
        assert!(failed.contains(&("gang_scheduling/volcano".into(), class.clone(), "failure".into())), "{failed:?}");
        assert!(failed.contains(&("gang_scheduling/kai-scheduler".into(), class, "skipped".into())), "{failed:?}");
    }

    #[test]
    fn errors_and_left_out_checks() {
        let mut report = sample_report();
        report.checks[0].verdict = Verdict::error("timed out after 300s");
        report.left_out.push(crate::report::LeftOutCheck {
            id: "robust_controller".into(),
            requirements: vec!["robust_controller".into()],
            why: "in --skip".into(),
        });
        let xml = render(&TestLog::of(&report)).unwrap();
        let cases = cases(&xml);
        assert!(cases.contains(&("dra_support".into(), "accelerators.dra_support".into(), "error".into())));
        assert!(cases.contains(&("robust_controller".into(), "operators.robust_controller".into(), "skipped".into())));
        assert!(xml.contains("<error message=\"error: timed out after 300s\" type=\"error\""), "{xml}");
        assert!(xml.contains("<skipped message=\"left out: in --skip\" type=\"left out\""), "{xml}");
    }
}
