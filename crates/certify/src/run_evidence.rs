//! kaic's own run files cited as evidence (its report `kaic-results.json`, or `results.json` where an
//! older kaic wrote it; its `junit.xml`, of the run or of one check), read back so the validator can
//! hold a submission to them: a requirement marked Implemented must be backed by a passing check, and
//! no answer may contradict what the checks found.
//!
//! kaic's report is recognised by its content (one JSON object with `"schema": "kaic.dev/results/v1"`),
//! not its name. Files that are not kaic's (any `go test -json` stream, kaic's own `results.json`
//! included, another tool's JUnit) are left alone here: they are evidence for a person to read, not for
//! kaic to judge.

use std::collections::BTreeMap;
use std::path::Path;

use kaic_model::catalogue::ConformanceVersion;
use kaic_model::outcome::{Outcome, RequirementStatus};
use kaic_model::report::{RunReport, SCHEMA_VERSION};
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

use crate::source::{self, SourceError};

/// The schema prefix every version of kaic's report carries.
const SCHEMA_PREFIX: &str = "kaic.dev/results/";

/// The JUnit skip type of a check left out of the run (`--skip`, `--focus`).
const LEFT_OUT: &str = "left out";

/// What kaic's file says about one requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KaicVerdict {
    pub status: RequirementStatus,
    /// The reason kaic gave, for messages.
    pub reason: String,
}

/// A kaic run file read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KaicRun {
    /// `report` (kaic's report, `kaic-results.json`) or `junit.xml`, for messages ("kaic's report 'x'").
    pub kind: &'static str,
    pub version: Option<ConformanceVersion>,
    pub run_id: Option<String>,
    pub requirements: BTreeMap<String, KaicVerdict>,
    /// Per requirement id, its checks that the run did not complete: left out by the selection
    /// (`--skip`, `--focus`) or ended in error. Each says which check and why.
    pub not_run: BTreeMap<String, Vec<String>>,
    /// Whether the run was interrupted before every check finished (kaic's report only).
    pub interrupted: bool,
}

/// The outcome of looking at a cited file.
#[derive(Debug)]
pub enum Reading {
    /// One of kaic's files.
    Kaic(KaicRun),
    /// Not kaic's: nothing to hold the submission to.
    Foreign,
    /// It says it is kaic's but cannot be read as such.
    Broken(String),
}

/// Reads a cited evidence file if it may be one of kaic's (by extension), bounded in size.
pub fn read(path: &Path) -> Reading {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let parse: fn(&str) -> Reading = match ext.as_deref() {
        Some("json") => parse_results,
        Some("xml") => parse_junit,
        _ => return Reading::Foreign,
    };
    match source::read_text(path, source::MAX_RUN_REPORT_BYTES) {
        Ok(text) => parse(&text),
        // An empty or unreadable file is reported by the evidence rules already.
        Err(SourceError::Empty { .. } | SourceError::Read { .. } | SourceError::IsDirectory { .. }) => Reading::Foreign,
        Err(e) => {
            // Too large or not text: only kaic's concern if it claims to be kaic's, which we cannot tell
            // without reading it; say so rather than guess.
            Reading::Broken(e.to_string())
        }
    }
}

/// Reads the text of kaic's report (`kaic-results.json`, or an older kaic's `results.json`).
pub fn parse_results(text: &str) -> Reading {
    if kaic_model::render::go_json::is_stream(text) {
        return Reading::Foreign;
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Reading::Foreign;
    };
    let schema = value.get("schema").and_then(|s| s.as_str()).unwrap_or_default();
    if !schema.starts_with(SCHEMA_PREFIX) {
        return Reading::Foreign;
    }
    if schema != SCHEMA_VERSION {
        return Reading::Broken(format!("its schema '{schema}' is not {SCHEMA_VERSION}, the one this kaic reads"));
    }
    let report: RunReport = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => return Reading::Broken(format!("it is not a valid kaic report: {e}")),
    };
    let requirements = report
        .requirements
        .iter()
        .map(|r| (r.id.clone(), KaicVerdict { status: r.status, reason: r.reason.clone() }))
        .collect();
    let mut not_run: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for left in &report.left_out {
        for id in &left.requirements {
            not_run.entry(id.clone()).or_default().push(format!("{} was left out of the run ({})", left.id, left.why));
        }
    }
    for check in report.checks.iter().filter(|c| c.verdict.outcome == Outcome::Error) {
        for id in &check.requirements {
            not_run
                .entry(id.clone())
                .or_default()
                .push(format!("{} ended in error: {}", check.id, check.verdict.reason));
        }
    }
    Reading::Kaic(KaicRun {
        kind: "report",
        version: Some(report.cluster.conformance_version),
        run_id: Some(report.run_id),
        requirements,
        not_run,
        interrupted: report.interrupted,
    })
}

/// Reads `junit.xml` text written by kaic (its report is named `kaic <version>`; each test case's
/// class name is `<area>.<requirement id>`). Subtests (`gang_scheduling/kueue`, one per solution) are
/// part of their check's outcome and not counted again; a check left out of the run is a skip of type
/// `left out`.
pub fn parse_junit(text: &str) -> Reading {
    let Ok(report) = Report::deserialize_from_str(text) else {
        return Reading::Foreign;
    };
    let Some(version_text) = report.name.as_ref().and_then(|n| n.as_str().strip_prefix("kaic ")) else {
        return Reading::Foreign;
    };
    let version = version_text.parse().ok();
    let mut outcomes: BTreeMap<String, (Vec<Outcome>, Vec<String>)> = BTreeMap::new();
    let mut not_run: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in report.test_suites.iter().flat_map(|s| &s.test_cases) {
        let Some(class) = &case.classname else { continue };
        if case.name.as_str().contains('/') {
            continue;
        }
        let id = class.as_str().rsplit('.').next().unwrap_or_default().to_string();
        let (outcome, message) = match &case.status {
            TestCaseStatus::Success { .. } => (Outcome::Pass, None),
            TestCaseStatus::NonSuccess { kind: NonSuccessKind::Failure, message, .. } => {
                (Outcome::Fail, message.clone())
            }
            TestCaseStatus::NonSuccess { message, .. } => (Outcome::Error, message.clone()),
            TestCaseStatus::Skipped { ty, message, .. } => {
                let outcome = if ty.as_ref().is_some_and(|t| t.as_str() == Outcome::NotApplicable.label()) {
                    Outcome::NotApplicable
                } else {
                    Outcome::Unknown
                };
                (outcome, message.clone())
            }
        };
        if outcome == Outcome::Error {
            // kaic's JUnit message starts with the outcome ("error: timed out …").
            let why = message.as_ref().map(|m| m.as_str()).unwrap_or_default();
            let why = why.strip_prefix("error: ").unwrap_or(why);
            not_run.entry(id.clone()).or_default().push(format!("{} ended in error: {why}", case.name.as_str()));
        }
        let left_out = matches!(&case.status, TestCaseStatus::Skipped { ty: Some(t), .. } if t.as_str() == LEFT_OUT);
        if left_out {
            let why = message.as_ref().map(|m| m.as_str()).unwrap_or_default();
            let why = why.strip_prefix("left out: ").unwrap_or(why);
            not_run
                .entry(id.clone())
                .or_default()
                .push(format!("{} was left out of the run ({why})", case.name.as_str()));
        }
        let entry = outcomes.entry(id).or_default();
        // A requirement with no check appears as one skipped case named after it, and a check left out of
        // the run as a skip of its own type: neither is an outcome (as in kaic's report).
        let no_check = case.name.as_str() == class.as_str().rsplit('.').next().unwrap_or_default()
            && matches!(case.status, TestCaseStatus::Skipped { ty: None, .. });
        if !no_check && !left_out {
            entry.0.push(outcome);
        }
        entry.1.push(format!(
            "{}: {}",
            case.name.as_str(),
            message.map(|m| m.as_str().to_string()).unwrap_or_else(|| outcome.label().into())
        ));
    }
    let requirements = outcomes
        .into_iter()
        .map(|(id, (outcomes, reasons))| {
            (id, KaicVerdict { status: RequirementStatus::roll_up(&outcomes), reason: reasons.join("; ") })
        })
        .collect();
    Reading::Kaic(KaicRun { kind: "junit.xml", version, run_id: None, requirements, not_run, interrupted: false })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fill::tests::synthetic_report;
    use kaic_model::render::test_log::TestLog;
    use kaic_model::solutions::SolutionResult;

    fn mixed() -> RunReport {
        synthetic_report(ConformanceVersion::V1_35, |id| match id {
            "gang_scheduling" => Some(Outcome::Fail),
            "cluster_autoscaling" => Some(Outcome::NotApplicable),
            "pod_autoscaling" => Some(Outcome::Unknown),
            "gpu_sharing" => None,
            _ => Some(Outcome::Pass),
        })
    }

    fn junit(log: &TestLog) -> String {
        kaic_model::render::junit::render(log).unwrap()
    }

    fn statuses(run: &KaicRun) -> BTreeMap<&str, RequirementStatus> {
        run.requirements.iter().map(|(k, v)| (k.as_str(), v.status)).collect()
    }

    #[test]
    fn results_json_and_junit_agree() {
        let report = mixed();
        let Reading::Kaic(from_json) = parse_results(&serde_json::to_string(&report).unwrap()) else {
            panic!("results.json not recognised")
        };
        let xml = junit(&TestLog::of(&report));
        let Reading::Kaic(from_junit) = parse_junit(&xml) else { panic!("junit not recognised") };
        assert_eq!(from_json.version, Some(ConformanceVersion::V1_35));
        assert_eq!(from_junit.version, Some(ConformanceVersion::V1_35));
        assert_eq!(statuses(&from_json), statuses(&from_junit));
        assert_eq!(statuses(&from_json)["gang_scheduling"], RequirementStatus::NotMet);
        assert_eq!(statuses(&from_json)["cluster_autoscaling"], RequirementStatus::NotApplicable);
        assert_eq!(statuses(&from_json)["gpu_sharing"], RequirementStatus::Unknown);
        assert_eq!(statuses(&from_json)["ai_inference"], RequirementStatus::Met);
    }

    #[test]
    fn subtests_and_left_out_checks_in_junit_read_as_in_the_report() {
        let mut report = mixed();
        // gang_scheduling passed with Kueue; Volcano failed (a skip in junit): still met.
        let gang = report.checks.iter_mut().find(|c| c.id == "gang_scheduling").unwrap();
        gang.verdict = kaic_model::outcome::Verdict::pass("Kueue works");
        gang.evidence.solution(SolutionResult::pass("Kueue", "a gang ran whole"));
        gang.evidence.solution(SolutionResult::fail("Volcano", "partial", "0 bound", "3 bound"));
        let report = crate::synthetic::skip(report, "ai_inference");
        let Reading::Kaic(from_json) = parse_results(&serde_json::to_string(&report).unwrap()) else { panic!() };
        let xml = junit(&TestLog::of(&report));
        assert!(xml.contains("name=\"gang_scheduling/volcano\""), "{xml}");
        let Reading::Kaic(from_junit) = parse_junit(&xml) else { panic!("junit not recognised") };
        assert_eq!(statuses(&from_junit)["gang_scheduling"], RequirementStatus::Met);
        assert_eq!(statuses(&from_json), statuses(&from_junit));
        assert_eq!(from_junit.not_run["ai_inference"], ["ai_inference was left out of the run (in --skip)"]);
        assert_eq!(from_json.not_run["ai_inference"], from_junit.not_run["ai_inference"]);
        // A check's own junit.xml speaks for its requirement only.
        let Reading::Kaic(own) = parse_junit(&junit(&TestLog::of(&report).only("gang_scheduling"))) else { panic!() };
        assert_eq!(statuses(&own).into_iter().collect::<Vec<_>>(), [("gang_scheduling", RequirementStatus::Met)]);
        // The go test -json stream is not kaic's report, whatever kaic wrote into it.
        let stream = kaic_model::render::go_json::render(&TestLog::of(&report));
        assert!(matches!(parse_results(&stream), Reading::Foreign));
        assert!(matches!(parse_results("{\"Action\":\"pass\",\"schema\":\"kaic.dev/results/v1\"}"), Reading::Foreign));
    }

    #[test]
    fn foreign_and_broken_files() {
        assert!(matches!(parse_results("{\"Action\":\"pass\"}\n{\"Action\":\"fail\"}"), Reading::Foreign));
        assert!(matches!(parse_results("{\"schema\":\"other\"}"), Reading::Foreign));
        assert!(matches!(parse_results("{\"schema\":\"kaic.dev/results/v9\"}"), Reading::Broken(_)));
        assert!(matches!(parse_results("{\"schema\":\"kaic.dev/results/v1\",\"run_id\":1}"), Reading::Broken(_)));
        assert!(matches!(parse_junit("<testsuites name=\"gotestsum\"></testsuites>"), Reading::Foreign));
        assert!(matches!(parse_junit("not xml"), Reading::Foreign));
        assert!(matches!(read(Path::new("evidence/")), Reading::Foreign));
    }
}
