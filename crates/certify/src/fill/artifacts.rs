//! The run's files a filled checklist cites, as paths relative to PRODUCT.yaml's folder, and reading
//! kaic's report back.
//!
//! A run writes kaic's report (`kaic-results.json`), `report.md`, and per check `evidence/<check>/` with
//! that check's own test files (`junit.xml`, `results.json`, `e2e.log`). Those are what the program's
//! validator parses; a requirement that was met cites its check's files with the check's name as the
//! fragment (`evidence/<check>/junit.xml#<check>`), so that a failure of another check does not spoil
//! them. Runs of older kaic versions (the report in `results.json`, no per-check test files) are still
//! read, with a warning.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use kaic_model::render::{self, LEGACY_REPORT_FILE, MARKDOWN_FILE, REPORT_FILE, go_json};
use kaic_model::report::{RunReport, SCHEMA_VERSION};

use super::FillError;
use crate::source;

/// The files a run wrote, as paths relative to the folder PRODUCT.yaml goes into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunArtifacts {
    /// kaic's report: `kaic-results.json` (`results.json` for a run of an older kaic).
    pub results: String,
    pub report_md: Option<String>,
    /// Per check id, the folders holding its evidence files.
    pub check_evidence: BTreeMap<String, Vec<String>>,
    /// Per check id, its own test files with the check as fragment (`evidence/C/junit.xml#C`), those
    /// that exist.
    pub check_tests: BTreeMap<String, Vec<String>>,
    /// Things a person should know (evidence outside the submission folder, missing files).
    pub warnings: Vec<String>,
}

impl RunArtifacts {
    /// Finds the files next to `results` (report.md, the evidence folders the report names, each check's
    /// test files) and makes their paths relative to `product_dir`.
    ///
    /// # Errors
    /// When `results` or `product_dir` do not exist.
    pub fn locate(results: &Path, report: &RunReport, product_dir: &Path) -> Result<Self, FillError> {
        let canon = |p: &Path| {
            std::fs::canonicalize(p)
                .map_err(|e| FillError::Artifacts { message: format!("failed to resolve {}: {e}", p.display()) })
        };
        let results_abs = canon(results)?;
        let run_dir = results_abs.parent().map(Path::to_path_buf).unwrap_or_default();
        let product_abs = canon(product_dir)?;
        let rel = |p: &Path| relative_path(&product_abs, p);
        let mut artifacts = RunArtifacts { results: rel(&results_abs), ..Default::default() };
        let md = run_dir.join(MARKDOWN_FILE);
        artifacts.report_md = md.is_file().then(|| rel(&md));
        let mut without_tests = Vec::new();
        for check in &report.checks {
            let mut folders: Vec<String> = Vec::new();
            // The folders of its evidence files (its own test files among them, in a run of this kaic).
            let parents = check.evidence_files.iter().filter_map(|f| Path::new(f).parent());
            for parent in parents.filter(|p| !p.as_os_str().is_empty()) {
                let folder = run_dir.join(parent);
                if !folder.is_dir() {
                    artifacts.warnings.push(format!(
                        "the evidence folder {} of check {} does not exist; it is not listed",
                        folder.display(),
                        check.id
                    ));
                    continue;
                }
                let entry = format!("{}/", rel(&folder));
                if !folders.contains(&entry) {
                    folders.push(entry);
                }
            }
            if !folders.is_empty() {
                artifacts.check_evidence.insert(check.id.clone(), folders);
            }
            let tests: Vec<String> = render::check_test_files(&check.id)
                .iter()
                .map(|file| run_dir.join(file))
                .filter(|path| path.is_file())
                .map(|path| format!("{}#{}", rel(&path), check.id))
                .collect();
            if tests.len() < render::TEST_FILES.len() {
                without_tests.push(check.id.as_str());
            }
            if !tests.is_empty() {
                artifacts.check_tests.insert(check.id.clone(), tests);
            }
        }
        if results_abs.file_name().is_some_and(|n| n == LEGACY_REPORT_FILE) {
            artifacts.warnings.push(format!(
                "kaic's report is in {} as older kaic versions wrote it: the program's validator reads any file \
                 named results.json as `go test -json` output and rejects this one; rerun kaic, which writes \
                 {REPORT_FILE} and test files the validator accepts",
                results_abs.display()
            ));
        } else if !without_tests.is_empty() {
            artifacts.warnings.push(format!(
                "the run has no test files (evidence/<check>/junit.xml, results.json, e2e.log) for {}: they \
                 are not cited",
                without_tests.join(", ")
            ));
        }
        if artifacts.results.starts_with("../") {
            artifacts.warnings.push(format!(
                "the run's files are outside the folder of PRODUCT.yaml ({}): evidence paths start with ../ and \
                 reviewers will not see them; write PRODUCT.yaml next to {REPORT_FILE}",
                product_abs.display()
            ));
        }
        Ok(artifacts)
    }
}

/// `target` relative to the folder `base` (both absolute), with `/` separators.
fn relative_path(base: &Path, target: &Path) -> String {
    let base: Vec<Component> = base.components().collect();
    let target: Vec<Component> = target.components().collect();
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); base.len() - common];
    parts.extend(target[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    if parts.is_empty() { ".".to_string() } else { parts.join("/") }
}

/// Reads kaic's report: `kaic-results.json`, or `results.json` where an older kaic wrote it there (told
/// apart from a `go test -json` stream by its content).
///
/// # Errors
/// When the file cannot be read or is not a kaic run report of the schema this kaic writes.
pub fn load_report(path: &Path) -> Result<RunReport, FillError> {
    let text = source::read_text(path, source::MAX_RUN_REPORT_BYTES)?;
    let report_err = |message: String| FillError::Report { path: path.to_path_buf(), message };
    if go_json::is_stream(&text) {
        let beside = path.with_file_name(REPORT_FILE);
        let hint = if beside.is_file() { format!("; use {}", beside.display()) } else { String::new() };
        return Err(report_err(format!(
            "it is a `go test -json` stream (the test output the program's validator reads), not kaic's report \
             ({REPORT_FILE}){hint}"
        )));
    }
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| report_err(format!("not JSON: {e}")))?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA_VERSION) => {}
        Some(other) => return Err(report_err(format!("schema '{other}' is not {SCHEMA_VERSION}"))),
        None => return Err(report_err(format!("it has no schema field; expected {SCHEMA_VERSION}"))),
    }
    serde_json::from_value(value).map_err(|e| report_err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaic_model::catalogue::ConformanceVersion;
    use kaic_model::outcome::Outcome;

    fn all_pass(version: ConformanceVersion) -> RunReport {
        crate::synthetic::report(version, |_| Some(Outcome::Pass))
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative_path(Path::new("/a/b"), Path::new("/a/b/c/d.json")), "c/d.json");
        assert_eq!(relative_path(Path::new("/a/b"), Path::new("/a/x/d.json")), "../x/d.json");
        assert_eq!(relative_path(Path::new("/a/b"), Path::new("/a/b")), ".");
    }

    #[test]
    fn artifacts_are_found_beside_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let report = all_pass(ConformanceVersion::V1_36);
        crate::synthetic::write_run_files(dir.path(), &report).unwrap();
        std::fs::remove_dir_all(dir.path().join("evidence/ai_inference")).unwrap();
        let results = dir.path().join("kaic-results.json");
        let a = RunArtifacts::locate(&results, &report, dir.path()).unwrap();
        assert_eq!(a.results, "kaic-results.json");
        assert_eq!(a.report_md.as_deref(), Some("report.md"));
        assert_eq!(a.check_evidence["gang_scheduling"], ["evidence/gang_scheduling/"]);
        assert_eq!(
            a.check_tests["gang_scheduling"],
            [
                "evidence/gang_scheduling/junit.xml#gang_scheduling",
                "evidence/gang_scheduling/results.json#gang_scheduling",
                "evidence/gang_scheduling/e2e.log#gang_scheduling",
            ]
        );
        assert!(!a.check_evidence.contains_key("ai_inference"), "missing folders are not listed");
        assert!(!a.check_tests.contains_key("ai_inference"), "missing test files are not cited");
        assert!(
            a.warnings.iter().any(|w| w.contains("evidence folder") && w.contains("ai_inference")),
            "{:?}",
            a.warnings
        );
        assert!(
            a.warnings
                .iter()
                .any(|w| w.starts_with("the run has no test files")
                    && w.ends_with("for ai_inference: they are not cited")),
            "{:?}",
            a.warnings
        );
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let a = RunArtifacts::locate(&results, &report, &sub).unwrap();
        assert_eq!(a.results, "../kaic-results.json");
        assert_eq!(a.check_tests["gang_scheduling"][0], "../evidence/gang_scheduling/junit.xml#gang_scheduling");
        assert!(a.warnings.iter().any(|w| w.contains("outside the folder of PRODUCT.yaml")));
    }

    #[test]
    fn a_run_of_an_older_kaic_is_read_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let report = all_pass(ConformanceVersion::V1_36);
        // The old layout: the report in results.json, one junit.xml for the run, no per-check test files.
        let results = dir.path().join("results.json");
        std::fs::write(&results, serde_json::to_string_pretty(&report).unwrap()).unwrap();
        std::fs::write(dir.path().join("junit.xml"), "<testsuites name=\"kaic 1.36\"/>").unwrap();
        std::fs::create_dir_all(dir.path().join("evidence/gang_scheduling")).unwrap();
        assert_eq!(load_report(&results).unwrap(), report);
        let a = RunArtifacts::locate(&results, &report, dir.path()).unwrap();
        assert_eq!(a.results, "results.json");
        assert!(a.check_tests.is_empty());
        assert_eq!(a.check_evidence["gang_scheduling"], ["evidence/gang_scheduling/"]);
        assert!(
            a.warnings.iter().any(|w| w.contains("as older kaic versions wrote it") && w.contains("rerun kaic")),
            "{:?}",
            a.warnings
        );
    }

    #[test]
    fn the_report_must_be_kaics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        std::fs::write(&path, "{\"Action\":\"run\"}\n{\"Action\":\"pass\"}\n").unwrap();
        let err = load_report(&path).unwrap_err().to_string();
        assert!(err.contains("it is a `go test -json` stream"), "{err}");
        assert!(err.ends_with("not kaic's report (kaic-results.json)"), "{err}");
        std::fs::write(dir.path().join("kaic-results.json"), "{}").unwrap();
        let err = load_report(&path).unwrap_err().to_string();
        assert!(err.ends_with(&format!("; use {}", dir.path().join("kaic-results.json").display())), "{err}");
        std::fs::write(&path, "{\"schema\":\"other/v9\"}").unwrap();
        assert!(load_report(&path).unwrap_err().to_string().contains("schema 'other/v9' is not kaic.dev/results/v1"));
        std::fs::write(&path, "not json").unwrap();
        assert!(load_report(&path).unwrap_err().to_string().contains("not JSON"));
        let path = dir.path().join("kaic-results.json");
        std::fs::write(&path, serde_json::to_string(&all_pass(ConformanceVersion::V1_36)).unwrap()).unwrap();
        assert_eq!(load_report(&path).unwrap().run_id, "r-test");
    }
}
