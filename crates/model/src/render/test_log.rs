//! The test log: one list of tests, and the `go test -json` events they make, built from a [`RunReport`].
//! `junit.xml`, `results.json` (a `go test -json` stream) and `e2e.log` (`go test -v` text) are all
//! rendered from it, so the three files can never disagree about a name or an outcome.
//!
//! Why these formats: the program's validator parses any cited file named `junit.xml`, `results.json` or
//! `e2e.log` as test output and looks tests up by name (`junit.xml#gang_scheduling`). Test names are
//! kaic's check ids, never the upstream suite's `Test…` names: a reviewer must not read kaic's evidence as
//! "the upstream suite ran". Each solution or allocation path a check exercised is a subtest
//! `<check>/<solution>`.
//!
//! Mapping: pass → pass; fail and error → fail; not applicable, unknown, a check left out of the run and
//! a requirement without a check → skip, with the reason in the output. As in Go, a subtest fails only
//! inside a failing test: a solution that failed where the check as a whole did not (another solution
//! met the requirement) is a skip whose output says it failed.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::outcome::Outcome;
use crate::report::{CheckReport, RunReport};
use crate::solutions::{SolutionResult, SolutionStatus};

/// The Go package every kaic test is reported in.
pub const PACKAGE: &str = "kaic.dev/checks";

/// The test names of the upstream suite (kubernetes-sigs/ai-conformance), which the program's validator
/// maps requirements to. kaic must never use them: its tests are not those tests.
pub const UPSTREAM_TEST_NAMES: [&str; 8] = [
    "TestSecureAcceleratorAccess",
    "TestGangScheduling",
    "TestAcceleratorClusterAutoscaling",
    "TestRobustCRDControllerOperation",
    "TestWorkloadSandboxing",
    "TestAcceleratorDriverRuntimeManagement",
    "TestAcceleratorPerformanceMetrics",
    "TestAIServiceMetrics",
];

/// Whether `name` could be read as one of the upstream suite's tests: one of their names (in any case),
/// or Go's `Test…` naming that kaic's snake_case ids never have.
pub fn looks_upstream(name: &str) -> bool {
    let top = name.split('/').next().unwrap_or(name);
    UPSTREAM_TEST_NAMES.iter().any(|u| u.eq_ignore_ascii_case(top)) || top.starts_with("Test")
}

/// How a test ended, in the terms the three formats share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestResult {
    Pass,
    /// The platform does not meet the requirement (JUnit `<failure>`).
    Fail,
    /// kaic could not run the check (JUnit `<error>`; a failure in Go's formats).
    Error,
    Skip,
}

impl TestResult {
    fn failed(self) -> bool {
        matches!(self, Self::Fail | Self::Error)
    }

    /// The word of Go's result lines (`--- PASS:`).
    fn go_word(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Fail | Self::Error => "FAIL",
            Self::Skip => "SKIP",
        }
    }

    fn action(self) -> Action {
        match self {
            Self::Pass => Action::Pass,
            Self::Fail | Self::Error => Action::Fail,
            Self::Skip => Action::Skip,
        }
    }
}

/// One test: a check, a solution of a check (a subtest), a check left out of the run, or a requirement
/// no check covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Test {
    /// The check id, or `<check>/<solution>` for a subtest.
    pub name: String,
    /// The JUnit suite: the requirement's area.
    pub suite: String,
    /// The JUnit class name, `<area>.<requirement id>`: kaic reads its own junit.xml back by it.
    pub classname: String,
    pub result: TestResult,
    /// The JUnit `type` of a non-success: the outcome's label (`fail`, `not applicable`, `left out`).
    /// `None` on the skip of a requirement without a check, which kaic's read-back recognises by it.
    pub kind: Option<String>,
    /// One line: `<outcome>: <reason>`.
    pub message: Option<String>,
    /// `expected: …\nobserved: …` for a failure.
    pub details: Option<String>,
    /// How long it ran; `None` for what did not run (and for subtests, whose time is not measured).
    pub elapsed_millis: Option<u64>,
    /// The log lines: reason, expected/observed, steps, timings.
    pub output: Vec<String>,
    pub subtests: Vec<Test>,
}

/// Every test of a run (or of one check), in checklist order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestLog {
    /// `kaic <conformance version>`: the JUnit report's name, by which kaic recognises its own file.
    pub name: String,
    pub started_at: String,
    pub finished_at: String,
    /// Package-level lines before the tests: which kaic, which run, which cluster.
    pub header: Vec<String>,
    pub tests: Vec<Test>,
    pub elapsed_millis: u64,
}

/// A `go test -json` action (the ones kaic emits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Run,
    Output,
    Pass,
    Fail,
    Skip,
}

/// One `go test -json` event, serialised with Go's field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    pub time: String,
    pub action: Action,
    pub package: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Seconds, on pass, fail and skip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed: Option<f64>,
}

impl TestLog {
    /// The tests of a whole run.
    pub fn of(report: &RunReport) -> Self {
        let mut tests = Vec::new();
        let mut done: BTreeSet<&str> = BTreeSet::new();
        for requirement in &report.requirements {
            let area = requirement.area.to_string();
            let classname = format!("{area}.{}", requirement.id);
            let proves = |requirements: &[String]| requirements.contains(&requirement.id);
            let ran: Vec<&CheckReport> = report.checks.iter().filter(|c| proves(&c.requirements)).collect();
            let left_out: Vec<_> = report.left_out.iter().filter(|l| proves(&l.requirements)).collect();
            if ran.is_empty() && left_out.is_empty() {
                tests.push(skip(&requirement.id, &area, &classname, None, &requirement.reason));
            }
            for check in ran {
                if done.insert(&check.id) {
                    tests.push(check_test(check, &area, &classname));
                }
            }
            for left in left_out {
                if done.insert(&left.id) {
                    tests.push(skip(&left.id, &area, &classname, Some("left out"), &left.why));
                }
            }
        }
        // A check that proves no requirement of the catalogue still shows.
        for check in report.checks.iter().filter(|c| !done.contains(c.id.as_str())) {
            tests.push(check_test(check, "other", &format!("other.{}", check.id)));
        }
        Self {
            name: format!("kaic {}", report.cluster.conformance_version),
            started_at: report.started_at.clone(),
            finished_at: report.finished_at.clone(),
            header: header(report),
            tests,
            elapsed_millis: elapsed_millis(&report.started_at, &report.finished_at),
        }
    }

    /// The same log with only the test named `check` (a check id), for the files of that check alone.
    pub fn only(&self, check: &str) -> Self {
        Self { tests: self.tests.iter().filter(|t| t.name == check).cloned().collect(), ..self.clone() }
    }

    /// Whether any test failed: the package then fails, and only then (Go reports a package that fails
    /// with every test passing as a build failure).
    pub fn failed(&self) -> bool {
        self.tests.iter().any(|t| t.result.failed())
    }

    /// Every test's name, subtests included.
    pub fn names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        for test in &self.tests {
            names.push(test.name.as_str());
            names.extend(test.subtests.iter().map(|s| s.name.as_str()));
        }
        names
    }

    /// The `go test -json` events, in the order `go test -v -json` would print them. kaic records no
    /// start time per check (checks run concurrently), so the events up to a result carry the run's start
    /// and the results its end; `Elapsed` is each check's measured duration.
    pub fn events(&self) -> Vec<Event> {
        let mut events = Vec::new();
        let event = |time: &str, action: Action, test: Option<&str>, output: Option<String>| Event {
            time: time.to_string(),
            action,
            package: PACKAGE,
            test: test.map(str::to_string),
            output,
            elapsed: None,
        };
        for line in &self.header {
            events.push(event(&self.started_at, Action::Output, None, Some(format!("{line}\n"))));
        }
        for test in &self.tests {
            let name = Some(test.name.as_str());
            events.push(event(&self.started_at, Action::Run, name, None));
            events.push(event(&self.started_at, Action::Output, name, Some(format!("=== RUN   {}\n", test.name))));
            push_lines(&mut events, &self.started_at, test, 1);
            for sub in &test.subtests {
                let sub_name = Some(sub.name.as_str());
                events.push(event(&self.started_at, Action::Run, sub_name, None));
                let run_line = format!("=== RUN   {}\n", sub.name);
                events.push(event(&self.started_at, Action::Output, sub_name, Some(run_line)));
                push_lines(&mut events, &self.started_at, sub, 2);
            }
            // Go prints a test's result line, then its subtests' indented under it.
            for (depth, t) in std::iter::once((0, test)).chain(test.subtests.iter().map(|s| (1, s))) {
                let seconds = t.elapsed_millis.unwrap_or(0) as f64 / 1000.0;
                let line = format!("{}--- {}: {} ({seconds:.2}s)\n", "    ".repeat(depth), t.result.go_word(), t.name);
                events.push(event(&self.finished_at, Action::Output, Some(&t.name), Some(line)));
                let mut end = event(&self.finished_at, t.result.action(), Some(&t.name), None);
                end.elapsed = Some(seconds);
                events.push(end);
            }
        }
        let seconds = self.elapsed_millis as f64 / 1000.0;
        let (word, summary, action) = if self.failed() {
            ("FAIL", format!("FAIL\t{PACKAGE}\t{seconds:.3}s\n"), Action::Fail)
        } else {
            ("PASS", format!("ok  \t{PACKAGE}\t{seconds:.3}s\n"), Action::Pass)
        };
        events.push(event(&self.finished_at, Action::Output, None, Some(format!("{word}\n"))));
        events.push(event(&self.finished_at, Action::Output, None, Some(summary)));
        let mut end = event(&self.finished_at, action, None, None);
        end.elapsed = Some(seconds);
        events.push(end);
        events
    }
}

/// A test's output lines as events, indented as Go indents a test's log at its depth.
fn push_lines(events: &mut Vec<Event>, time: &str, test: &Test, depth: usize) {
    for line in &test.output {
        events.push(Event {
            time: time.to_string(),
            action: Action::Output,
            package: PACKAGE,
            test: Some(test.name.clone()),
            output: Some(format!("{}{line}\n", "    ".repeat(depth))),
            elapsed: None,
        });
    }
}

/// The package-level lines that say which run this is.
fn header(report: &RunReport) -> Vec<String> {
    let cluster = &report.cluster;
    let mut lines = vec![
        format!(
            "kaic {}, run {} ({} to {})",
            report.kaic_version, report.run_id, report.started_at, report.finished_at
        ),
        format!("cluster {} ({}), catalogue {}", cluster.server, cluster.server_version, cluster.conformance_version),
    ];
    if let Some(note) = &cluster.catalogue_note {
        lines.push(format!("catalogue note: {note}"));
    }
    if !cluster.missing_permissions.is_empty() {
        lines.push(format!("missing permissions: {}", cluster.missing_permissions.join(", ")));
    }
    if report.interrupted {
        lines.push("interrupted: the run was stopped before every check finished; this log is partial".into());
    }
    lines.into_iter().flat_map(|l| lines_of(&l)).collect()
}

fn skip(name: &str, suite: &str, classname: &str, kind: Option<&str>, reason: &str) -> Test {
    let message = match kind {
        Some(kind) => format!("{kind}: {reason}"),
        None => reason.to_string(),
    };
    Test {
        name: name.to_string(),
        suite: suite.to_string(),
        classname: classname.to_string(),
        result: TestResult::Skip,
        kind: kind.map(str::to_string),
        output: lines_of(&message),
        message: Some(message),
        details: None,
        elapsed_millis: None,
        subtests: Vec::new(),
    }
}

fn check_test(check: &CheckReport, suite: &str, classname: &str) -> Test {
    let verdict = &check.verdict;
    let result = match verdict.outcome {
        Outcome::Pass => TestResult::Pass,
        Outcome::Fail => TestResult::Fail,
        Outcome::Error => TestResult::Error,
        Outcome::NotApplicable | Outcome::Unknown => TestResult::Skip,
    };
    let message = format!("{}: {}", verdict.outcome, verdict.reason);
    let details = match (&verdict.expected, &verdict.observed) {
        (Some(expected), Some(observed)) => Some(format!("expected: {expected}\nobserved: {observed}")),
        _ => None,
    };
    let mut output = lines_of(&message);
    for (label, text) in [("expected", &verdict.expected), ("observed", &verdict.observed)] {
        if let Some(text) = text {
            output.extend(lines_of(&format!("{label}: {text}")));
        }
    }
    output.push(format!("proves: {}", check.requirements.join(", ")));
    if let Some(ns) = &check.namespace {
        output.push(format!("namespace: {ns}"));
    }
    for (i, step) in check.evidence.steps().enumerate() {
        output.extend(lines_of(&format!("step {}: {step}", i + 1)));
    }
    for (name, millis) in check.evidence.timings() {
        output.extend(lines_of(&format!("timing, {name}: {millis} ms")));
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    let subtests = check
        .evidence
        .solutions
        .iter()
        .map(|solution| {
            let mut name = format!("{}/{}", check.id, subtest_name(&solution.name));
            // Go tells apart subtests of the same name the same way.
            let base = name.clone();
            for n in 1.. {
                if names.insert(name.clone()) {
                    break;
                }
                name = format!("{base}#{n:02}");
            }
            solution_test(name, solution, verdict.outcome, suite, classname, &check.id)
        })
        .collect();
    Test {
        name: check.id.clone(),
        suite: suite.to_string(),
        classname: classname.to_string(),
        result,
        kind: (result != TestResult::Pass).then(|| verdict.outcome.label().to_string()),
        message: (result != TestResult::Pass).then_some(message),
        details,
        elapsed_millis: Some(check.duration_millis),
        output,
        subtests,
    }
}

fn solution_test(
    name: String,
    solution: &SolutionResult,
    parent: Outcome,
    suite: &str,
    classname: &str,
    check: &str,
) -> Test {
    let parent_failed = matches!(parent, Outcome::Fail | Outcome::Error);
    let result = match solution.status {
        SolutionStatus::Pass => TestResult::Pass,
        SolutionStatus::Fail if parent_failed => TestResult::Fail,
        SolutionStatus::Error if parent_failed => TestResult::Error,
        _ => TestResult::Skip,
    };
    let message = format!("{}: {}", solution.status, solution.summary);
    let mut output = lines_of(&message);
    for (label, text) in [("expected", &solution.expected), ("observed", &solution.observed)] {
        if let Some(text) = text {
            output.extend(lines_of(&format!("{label}: {text}")));
        }
    }
    if result == TestResult::Skip && matches!(solution.status, SolutionStatus::Fail | SolutionStatus::Error) {
        output.push(format!("recorded as a skip: {check} as a whole ended {parent}, not failed"));
    }
    let details = match (&solution.expected, &solution.observed) {
        (Some(expected), Some(observed)) => Some(format!("expected: {expected}\nobserved: {observed}")),
        _ => None,
    };
    Test {
        name,
        suite: suite.to_string(),
        classname: classname.to_string(),
        result,
        kind: (result != TestResult::Pass).then(|| solution.status.label().to_string()),
        message: (result != TestResult::Pass).then_some(message),
        details,
        elapsed_millis: None,
        output,
        subtests: Vec::new(),
    }
}

/// A solution's name as a subtest name: lowercase, whitespace to `-` (the program's e2e.log parser
/// takes a name up to the first whitespace).
pub fn subtest_name(solution: &str) -> String {
    let lower = solution.trim().to_lowercase();
    let name = lower.split_whitespace().collect::<Vec<_>>().join("-");
    if name.is_empty() { "unnamed".to_string() } else { name }
}

/// Text as log lines, each safe: no carriage return, and none that a parser of `go test -v` output
/// would take for a result or a test start (`--- FAIL: x`, `=== RUN`).
fn lines_of(text: &str) -> Vec<String> {
    text.split('\n')
        .map(|line| {
            let line = line.replace('\r', " ");
            let start = line.trim_start();
            if start.starts_with("---") || start.starts_with("===") { format!("> {line}") } else { line }
        })
        .collect()
}

/// Milliseconds between two RFC 3339 timestamps; 0 when either does not parse.
fn elapsed_millis(started_at: &str, finished_at: &str) -> u64 {
    let (Ok(start), Ok(end)) = (started_at.parse::<jiff::Timestamp>(), finished_at.parse::<jiff::Timestamp>()) else {
        return 0;
    };
    u64::try_from(end.duration_since(start).as_millis()).unwrap_or(0)
}

#[cfg(test)]
#[path = "test_log_tests.rs"]
pub(crate) mod tests;
