//! Renderers of a [`RunReport`](crate::RunReport), and the files of a run they make:
//!
//! - `kaic-results.json`: the report itself, serialised with serde (schema `kaic.dev/results/v1`);
//! - `report.md` ([`markdown`]): for people;
//! - `junit.xml` ([`junit`]), `results.json` ([`go_json`], a `go test -json` stream) and `e2e.log`
//!   ([`e2e_log`], `go test -v` text): the test output the program's validator parses, all three from one
//!   [`test_log::TestLog`]; written for the whole run and again per check under `evidence/<check>/`, so
//!   a requirement that was met can cite files with no failure of another check in them.

pub mod e2e_log;
pub mod go_json;
pub mod junit;
pub mod markdown;
pub mod test_log;

use crate::report::RunReport;
use test_log::TestLog;

/// kaic's own report, the rich one (`kaic.dev/results/v1`).
pub const REPORT_FILE: &str = "kaic-results.json";
/// The name kaic's report had before `results.json` became a `go test -json` stream; read, never written.
pub const LEGACY_REPORT_FILE: &str = "results.json";
pub const MARKDOWN_FILE: &str = "report.md";
pub const JUNIT_FILE: &str = "junit.xml";
/// The `go test -json` stream (the program's name for it).
pub const GO_JSON_FILE: &str = "results.json";
pub const E2E_LOG_FILE: &str = "e2e.log";
/// The test output files, in the order a checklist cites them.
pub const TEST_FILES: [&str; 3] = [JUNIT_FILE, GO_JSON_FILE, E2E_LOG_FILE];

/// Why the files could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("failed to render junit.xml: {0}")]
    Junit(#[from] quick_junit::SerializeError),
    #[error("failed to serialise the report: {0}")]
    Json(#[from] serde_json::Error),
}

/// The folder of a check's evidence, relative to the output directory.
pub fn check_dir(check: &str) -> String {
    format!("evidence/{check}")
}

/// The test output files of one check, relative to the output directory.
pub fn check_test_files(check: &str) -> [String; 3] {
    TEST_FILES.map(|name| format!("{}/{name}", check_dir(check)))
}

/// One file of a run: its path relative to the output directory, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFile {
    pub path: String,
    pub contents: String,
}

/// Every file rendered from the report (evidence items, the YAML objects and logs of each check, are
/// written by the caller): kaic-results.json, report.md, the three test files of the whole run, and the
/// three of each check.
///
/// # Errors
/// If a renderer fails, which it does not for in-memory output.
pub fn run_files(report: &RunReport) -> Result<Vec<RunFile>, RenderError> {
    let file = |path: &str, contents: String| RunFile { path: path.to_string(), contents };
    let log = TestLog::of(report);
    let mut files = vec![
        file(REPORT_FILE, serde_json::to_string_pretty(report)? + "\n"),
        file(MARKDOWN_FILE, markdown::render(report)),
    ];
    files.extend(test_files("", &log)?);
    for check in &report.checks {
        files.extend(test_files(&format!("{}/", check_dir(&check.id)), &log.only(&check.id))?);
    }
    Ok(files)
}

fn test_files(folder: &str, log: &TestLog) -> Result<[RunFile; 3], RenderError> {
    Ok([
        RunFile { path: format!("{folder}{JUNIT_FILE}"), contents: junit::render(log)? },
        RunFile { path: format!("{folder}{GO_JSON_FILE}"), contents: go_json::render(log) },
        RunFile { path: format!("{folder}{E2E_LOG_FILE}"), contents: e2e_log::render(log) },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_report;

    #[test]
    fn each_check_has_its_own_test_files_with_only_itself() {
        let report = sample_report();
        let files = run_files(&report).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "kaic-results.json",
                "report.md",
                "junit.xml",
                "results.json",
                "e2e.log",
                "evidence/dra_support/junit.xml",
                "evidence/dra_support/results.json",
                "evidence/dra_support/e2e.log",
                "evidence/gang_scheduling/junit.xml",
                "evidence/gang_scheduling/results.json",
                "evidence/gang_scheduling/e2e.log",
            ]
        );
        assert_eq!(check_test_files("dra_support").to_vec(), paths[5..8]);
        let text = |path: &str| files.iter().find(|f| f.path == path).unwrap().contents.as_str();
        // dra_support passed: its own files hold no failure although gang_scheduling failed.
        for path in check_test_files("dra_support") {
            let text = text(&path);
            assert!(text.contains("dra_support"), "{path}");
            assert!(!text.contains("gang_scheduling") && !text.contains("robust_controller"), "{path}: {text}");
            assert!(!text.contains("FAIL") && !text.contains("\"fail\"") && !text.contains("<failure"), "{path}");
        }
        assert!(text("evidence/dra_support/e2e.log").ends_with("PASS\nok  \tkaic.dev/checks\t60.000s\n"));
        assert!(text("evidence/gang_scheduling/e2e.log").contains("\n--- FAIL: gang_scheduling (30.00s)\n"));
        assert!(text("e2e.log").contains("\n--- FAIL: gang_scheduling (30.00s)\n"));
        let back: RunReport = serde_json::from_str(text("kaic-results.json")).unwrap();
        assert_eq!(back, report);
        assert!(
            go_json::is_stream(text("results.json")) && go_json::is_stream(text("evidence/dra_support/results.json"))
        );
    }
}
