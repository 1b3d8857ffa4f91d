//! Tests of the test log: names, outcomes, subtests, and the upstream names kaic must not use.

use super::*;
use crate::catalogue::{ConformanceVersion, requirements};
use crate::outcome::Verdict;
use crate::report::fixtures::sample_report;
use crate::report::{LeftOutCheck, RequirementReport, Summary};

/// The sample report with gang_scheduling ending `verdict` after exercising three solutions: Kueue
/// (passes only when the check does), Volcano (fails) and KAI (not operational).
pub(crate) fn with_solutions(verdict: Verdict) -> RunReport {
    let mut report = sample_report();
    let gang = report.checks.iter_mut().find(|c| c.id == "gang_scheduling").unwrap();
    let kueue = if verdict.outcome == Outcome::Pass {
        SolutionResult::pass("Kueue", "a gang of 3 ran whole; a gang of 5 was held back")
    } else {
        SolutionResult::fail("Kueue", "partial", "0 bound", "2 bound")
    };
    gang.evidence.solution(kueue);
    gang.evidence.solution(SolutionResult::fail("Volcano", "partial", "0 bound", "3 bound"));
    gang.evidence.solution(SolutionResult::not_operational("KAI scheduler", "no binder pod"));
    gang.verdict = verdict;
    report.requirements =
        requirements(ConformanceVersion::V1_35).iter().map(|r| RequirementReport::roll_up(r, &report.checks)).collect();
    report.summary = Summary::of(&report.requirements, &report.checks);
    report
}

fn test<'a>(log: &'a TestLog, name: &str) -> &'a Test {
    log.tests.iter().find(|t| t.name == name).unwrap_or_else(|| panic!("no test {name}: {:?}", log.names()))
}

#[test]
fn one_test_per_check_and_per_requirement_without_one() {
    let report = sample_report();
    let log = TestLog::of(&report);
    assert_eq!(log.name, "kaic 1.35");
    assert_eq!(log.tests.len(), report.requirements.len(), "every check proves one requirement here");
    let dra = test(&log, "dra_support");
    assert_eq!((dra.result, dra.kind.as_deref(), dra.elapsed_millis), (TestResult::Pass, None, Some(4210)));
    assert_eq!(dra.classname, "accelerators.dra_support");
    assert_eq!(
        dra.output,
        [
            "pass: all four DRA kinds served; claim allocated from gpu-node-0",
            "proves: dra_support",
            "namespace: kaic-dra-support-ab12",
            "step 1: resource.k8s.io/v1 serves deviceclasses, resourceclaims, resourceclaimtemplates, resourceslices",
            "timing, claim allocated: 840 ms",
        ]
    );
    let gang = test(&log, "gang_scheduling");
    assert_eq!((gang.result, gang.kind.as_deref()), (TestResult::Fail, Some("fail")));
    assert_eq!(gang.message.as_deref(), Some("fail: gang partially bound"));
    assert_eq!(
        gang.details.as_deref(),
        Some("expected: 0 of 5 pods bound while capacity is short\nobserved: 3 of 5 pods bound after 10s")
    );
    let none = test(&log, "robust_controller");
    assert_eq!((none.result, none.kind.as_deref(), none.elapsed_millis), (TestResult::Skip, None, None));
    assert!(none.message.as_deref().unwrap().starts_with("no automated check ran"), "{none:?}");
    assert!(log.failed());
    assert_eq!(log.elapsed_millis, 60_000);
    assert!(!log.only("dra_support").failed());
    assert_eq!(log.only("dra_support").names(), ["dra_support"]);
}

#[test]
fn each_outcome_maps_to_its_result() {
    let cases = [
        (Verdict::pass("ok"), TestResult::Pass, None),
        (Verdict::fail("no", "a", "b"), TestResult::Fail, Some("fail")),
        (Verdict::error("timed out"), TestResult::Error, Some("error")),
        (Verdict::not_applicable("no vGPU"), TestResult::Skip, Some("not applicable")),
        (Verdict::unknown("verify by hand"), TestResult::Skip, Some("unknown")),
    ];
    for (verdict, result, kind) in cases {
        let mut report = sample_report();
        report.checks[0].verdict = verdict.clone();
        let log = TestLog::of(&report);
        let dra = test(&log, "dra_support");
        assert_eq!((dra.result, dra.kind.as_deref()), (result, kind), "{verdict:?}");
        assert_eq!(dra.output[0], format!("{}: {}", verdict.outcome, verdict.reason));
        assert_eq!(log.only("dra_support").failed(), matches!(result, TestResult::Fail | TestResult::Error));
    }
}

#[test]
fn solutions_are_subtests_failing_only_inside_a_failing_check() {
    let log = TestLog::of(&with_solutions(Verdict::pass("Kueue passed")));
    let gang = test(&log, "gang_scheduling");
    let subs: Vec<(&str, TestResult)> = gang.subtests.iter().map(|s| (s.name.as_str(), s.result)).collect();
    assert_eq!(
        subs,
        [
            ("gang_scheduling/kueue", TestResult::Pass),
            ("gang_scheduling/volcano", TestResult::Skip),
            ("gang_scheduling/kai-scheduler", TestResult::Skip),
        ]
    );
    let volcano = &gang.subtests[1];
    assert_eq!(volcano.kind.as_deref(), Some("failed"));
    assert_eq!(
        volcano.output,
        [
            "failed: partial",
            "expected: 0 bound",
            "observed: 3 bound",
            "recorded as a skip: gang_scheduling as a whole ended pass, not failed",
        ]
    );
    assert_eq!(gang.subtests[2].output, ["not operational: no binder pod"]);
    assert!(!log.only("gang_scheduling").failed());

    let log = TestLog::of(&with_solutions(Verdict::fail("no solution works", "a", "b")));
    let gang = test(&log, "gang_scheduling");
    let results: Vec<TestResult> = gang.subtests.iter().map(|s| s.result).collect();
    assert_eq!(results, [TestResult::Fail, TestResult::Fail, TestResult::Skip]);
    // Unknown as a whole (an unrecognised scheduler in use): no subtest fails.
    let log = TestLog::of(&with_solutions(Verdict::unknown("YuniKorn in use")));
    assert!(test(&log, "gang_scheduling").subtests.iter().all(|s| s.result == TestResult::Skip));
    assert!(!log.only("gang_scheduling").failed());
}

#[test]
fn subtest_names_have_no_whitespace_and_stay_apart() {
    assert_eq!(subtest_name("Kueue"), "kueue");
    assert_eq!(subtest_name("native Workload/PodGroup API"), "native-workload/podgroup-api");
    assert_eq!(subtest_name(" DRA  shared\tclaim "), "dra-shared-claim");
    assert_eq!(subtest_name("  "), "unnamed");
    let mut report = sample_report();
    let dra = &mut report.checks[0];
    dra.evidence.solutions.push(SolutionResult::pass("DRA", "ok"));
    dra.evidence.solutions.push(SolutionResult::pass("dra", "ok"));
    let log = TestLog::of(&report);
    let names: Vec<&str> = test(&log, "dra_support").subtests.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["dra_support/dra", "dra_support/dra#01"]);
}

#[test]
fn left_out_checks_are_skips_named_after_the_check() {
    let mut report = sample_report();
    report.checks.retain(|c| c.id != "gang_scheduling");
    report.left_out.push(LeftOutCheck {
        id: "gang_scheduling".into(),
        requirements: vec!["gang_scheduling".into()],
        why: "in --skip".into(),
    });
    report.requirements =
        requirements(ConformanceVersion::V1_35).iter().map(|r| RequirementReport::roll_up(r, &report.checks)).collect();
    let log = TestLog::of(&report);
    assert_eq!(log.names().iter().filter(|n| **n == "gang_scheduling").count(), 1, "not also as a requirement");
    let gang = test(&log, "gang_scheduling");
    assert_eq!((gang.result, gang.kind.as_deref()), (TestResult::Skip, Some("left out")));
    assert_eq!(gang.output, ["left out: in --skip"]);
    assert!(!log.failed());
}

#[test]
fn the_header_says_which_run_on_which_cluster() {
    let mut report = sample_report();
    report.cluster.catalogue_note = Some("server v1.38 is newer than the newest catalogue".into());
    report.cluster.missing_permissions = vec!["create deviceclasses.resource.k8s.io".into()];
    report.interrupted = true;
    let log = TestLog::of(&report);
    assert_eq!(
        log.header,
        [
            "kaic 0.1.0, run r-test (2026-11-23T10:00:00Z to 2026-11-23T10:01:00Z)",
            "cluster https://127.0.0.1:6443 (v1.35.1), catalogue 1.35",
            "catalogue note: server v1.38 is newer than the newest catalogue",
            "missing permissions: create deviceclasses.resource.k8s.io",
            "interrupted: the run was stopped before every check finished; this log is partial",
        ]
    );
    assert_eq!(elapsed_millis("bad", "2026-11-23T10:01:00Z"), 0);
}

#[test]
fn no_test_is_named_after_the_upstream_suite() {
    assert!(looks_upstream("TestGangScheduling") && looks_upstream("testgangscheduling/kueue"));
    assert!(looks_upstream("TestSomethingNew"));
    assert!(!looks_upstream("gang_scheduling"));
    // Every requirement of every catalogue as a check (kaic's checks are named after their requirement),
    // with solutions: no test name may be one of the upstream suite's.
    for version in ConformanceVersion::ALL {
        let mut report = with_solutions(Verdict::pass("ok"));
        report.cluster.conformance_version = version;
        let template = report.checks[0].clone();
        report.checks = requirements(version)
            .iter()
            .map(|r| CheckReport { id: r.id.to_string(), requirements: vec![r.id.to_string()], ..template.clone() })
            .collect();
        report.requirements =
            requirements(version).iter().map(|r| RequirementReport::roll_up(r, &report.checks)).collect();
        let log = TestLog::of(&report);
        assert_eq!(log.tests.len(), requirements(version).len());
        for name in log.names() {
            assert!(!looks_upstream(name), "{version}: {name} reads as an upstream test");
        }
    }
}
