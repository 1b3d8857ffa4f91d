//! The run's files a filled checklist cites (results.json, junit.xml, report.md, evidence folders), as
//! paths relative to PRODUCT.yaml's folder, and reading kaic's results.json back.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use kaic_model::report::{RunReport, SCHEMA_VERSION};

use super::FillError;
use crate::source;

/// The files a run wrote, as paths relative to the folder PRODUCT.yaml goes into.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunArtifacts {
    pub results: String,
    pub junit: Option<String>,
    pub report_md: Option<String>,
    /// Per check id, the folders holding its evidence files.
    pub check_evidence: BTreeMap<String, Vec<String>>,
    /// Things a person should know (evidence outside the submission folder, missing files).
    pub warnings: Vec<String>,
}

impl RunArtifacts {
    /// Finds the files next to `results` (junit.xml, report.md, the evidence folders the report names)
    /// and makes their paths relative to `product_dir`.
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
        let beside = |name: &str| {
            let p = run_dir.join(name);
            p.is_file().then(|| rel(&p))
        };
        artifacts.junit = beside("junit.xml");
        artifacts.report_md = beside("report.md");
        for check in &report.checks {
            let mut folders: Vec<String> = Vec::new();
            for file in &check.evidence_files {
                let Some(parent) = Path::new(file).parent().filter(|p| !p.as_os_str().is_empty()) else {
                    continue;
                };
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
        }
        if artifacts.results.starts_with("../") {
            artifacts.warnings.push(format!(
                "the run's files are outside the folder of PRODUCT.yaml ({}): evidence paths start with ../ and \
                 reviewers will not see them; write PRODUCT.yaml next to results.json",
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

/// Reads kaic's `results.json`.
///
/// # Errors
/// When the file cannot be read or is not a kaic run report of the schema this kaic writes.
pub fn load_report(path: &Path) -> Result<RunReport, FillError> {
    let text = source::read_text(path, source::MAX_RUN_REPORT_BYTES)?;
    let report_err = |message: String| FillError::Report { path: path.to_path_buf(), message };
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
    fn artifacts_are_found_beside_results() {
        let dir = tempfile::tempdir().unwrap();
        let report = all_pass(ConformanceVersion::V1_36);
        std::fs::write(dir.path().join("results.json"), "{}").unwrap();
        std::fs::write(dir.path().join("junit.xml"), "<x/>").unwrap();
        std::fs::create_dir_all(dir.path().join("evidence/gang_scheduling")).unwrap();
        let a = RunArtifacts::locate(&dir.path().join("results.json"), &report, dir.path()).unwrap();
        assert_eq!(a.results, "results.json");
        assert_eq!(a.junit.as_deref(), Some("junit.xml"));
        assert_eq!(a.report_md, None);
        assert_eq!(a.check_evidence["gang_scheduling"], ["evidence/gang_scheduling/"]);
        assert!(!a.check_evidence.contains_key("ai_inference"), "missing folders are not listed");
        assert!(a.warnings.iter().any(|w| w.contains("ai_inference")));
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let a = RunArtifacts::locate(&dir.path().join("results.json"), &report, &sub).unwrap();
        assert_eq!(a.results, "../results.json");
        assert!(a.warnings.iter().any(|w| w.contains("outside the folder of PRODUCT.yaml")));
    }

    #[test]
    fn results_json_must_be_kaics() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.json");
        std::fs::write(&path, "{\"Action\":\"run\"}\n{\"Action\":\"pass\"}\n").unwrap();
        assert!(load_report(&path).unwrap_err().to_string().contains("not JSON"));
        std::fs::write(&path, "{\"schema\":\"other/v9\"}").unwrap();
        assert!(load_report(&path).unwrap_err().to_string().contains("schema 'other/v9' is not kaic.dev/results/v1"));
        std::fs::write(&path, serde_json::to_string(&all_pass(ConformanceVersion::V1_36)).unwrap()).unwrap();
        assert_eq!(load_report(&path).unwrap().run_id, "r-test");
    }
}
