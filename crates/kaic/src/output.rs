//! Writing the report under the output directory: `kaic-results.json` (kaic's report), `report.md`, the
//! test output the program's validator reads (`junit.xml`, `results.json` as a `go test -json` stream,
//! `e2e.log`) for the whole run, and `evidence/<check>/` with each check's objects and logs and the same
//! three test files for that check alone. The directory is proven writable before the run starts, so a
//! long run never ends in a write error.

use std::fs;
use std::path::Path;

use anyhow::Context as _;
use kaic_model::RunReport;
use kaic_model::render;

/// Creates the output directory and proves it is writable.
///
/// # Errors
/// A one-line error naming the directory, the cause and the fix.
pub fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    let probe = dir.join(".kaic-write-test");
    fs::create_dir_all(dir).and_then(|()| fs::write(&probe, b"ok")).and_then(|()| fs::remove_file(&probe)).map_err(
        |e| {
            anyhow::anyhow!("cannot write to output directory {}: {e}: choose another with --output-dir", dir.display())
        },
    )
}

/// Writes every report file, filling each check's `evidence_files` with the paths written (its own test
/// files included, so report.md links them).
///
/// # Errors
/// If a file cannot be written.
pub fn write_all(dir: &Path, report: &mut RunReport) -> anyhow::Result<()> {
    for check in &mut report.checks {
        check.evidence_files.clear();
        for (position, item) in check.evidence.items.iter().enumerate() {
            let (Some(name), Some(contents)) = (item.file_name(position), item.file_contents()) else { continue };
            let relative = format!("{}/{name}", render::check_dir(&check.id));
            write(dir, &relative, contents)?;
            check.evidence_files.push(relative);
        }
        check.evidence_files.extend(render::check_test_files(&check.id));
    }
    for file in render::run_files(report)? {
        write(dir, &file.path, &file.contents)?;
    }
    Ok(())
}

fn write(dir: &Path, relative: &str, contents: &str) -> anyhow::Result<()> {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).with_context(|| format!("failed to create {}", parent.display()))?;
    }
    fs::write(&path, contents).with_context(|| format!("failed to write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaic_model::catalogue::{ConformanceVersion, requirements};
    use kaic_model::outcome::Verdict;
    use kaic_model::render::test_log::{TestLog, looks_upstream};
    use kaic_model::report::{CheckReport, ClusterInfo, RequirementReport, RunSelection, SCHEMA_VERSION, Summary};
    use kaic_model::{Evidence, SolutionResult};

    fn report() -> RunReport {
        let check = |id: &str, verdict: Verdict| {
            let mut evidence = Evidence::default();
            evidence.step(format!("{id} step"));
            evidence.object("Pod-probe", "kind: Pod\n");
            evidence.solution(SolutionResult::pass("Kueue", "a gang ran whole"));
            CheckReport {
                id: id.into(),
                requirements: vec![id.into()],
                verdict,
                duration_millis: 1500,
                started_after_millis: 0,
                namespace: None,
                evidence,
                evidence_files: vec![],
            }
        };
        let version = ConformanceVersion::V1_36;
        let checks = vec![
            check("gang_scheduling", Verdict::pass("Kueue works")),
            check("gpu_sharing", Verdict::fail("no sharing", "two pods share a device", "the second pod pending")),
        ];
        let requirements: Vec<RequirementReport> =
            requirements(version).iter().map(|r| RequirementReport::roll_up(r, &checks)).collect();
        RunReport {
            schema: SCHEMA_VERSION.into(),
            kaic_version: "0.1.0".into(),
            run_id: "r-out".into(),
            started_at: "2026-01-10T10:00:00Z".into(),
            finished_at: "2026-01-10T10:00:10Z".into(),
            cluster: ClusterInfo {
                server: "https://127.0.0.1:6443".into(),
                server_version: "v1.36.0".into(),
                conformance_version: version,
                catalogue_note: None,
                capabilities: vec![],
                missing_permissions: vec![],
            },
            summary: Summary::of(&requirements, &checks),
            requirements,
            checks,
            selection: RunSelection::default(),
            left_out: vec![],
            interrupted: false,
        }
    }

    #[test]
    fn writes_the_report_the_test_files_and_each_checks_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut report = report();
        write_all(dir.path(), &mut report).unwrap();
        let read = |path: &str| fs::read_to_string(dir.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        let back: RunReport = serde_json::from_str(&read("kaic-results.json")).unwrap();
        assert_eq!(back, report);
        assert_eq!(
            report.checks[0].evidence_files,
            [
                "evidence/gang_scheduling/01-Pod-probe.yaml",
                "evidence/gang_scheduling/junit.xml",
                "evidence/gang_scheduling/results.json",
                "evidence/gang_scheduling/e2e.log",
            ]
        );
        assert_eq!(read("evidence/gang_scheduling/01-Pod-probe.yaml"), "kind: Pod\n");
        assert!(read("report.md").contains("[evidence/gang_scheduling/e2e.log](evidence/gang_scheduling/e2e.log)"));
        // The whole run holds gpu_sharing's failure; gang_scheduling's own files hold none.
        assert!(read("e2e.log").contains("\n--- FAIL: gpu_sharing (1.50s)\n"));
        assert!(
            read("results.json")
                .lines()
                .any(|l| l.contains("\"Action\":\"fail\",\"Package\":\"kaic.dev/checks\",\"Test\":\"gpu_sharing\""))
        );
        assert!(read("junit.xml").contains("<failure message=\"fail: no sharing\""));
        let gang_log = read("evidence/gang_scheduling/e2e.log");
        assert!(
            gang_log.contains("\n--- PASS: gang_scheduling (1.50s)\n    --- PASS: gang_scheduling/kueue (0.00s)\n")
        );
        assert!(gang_log.ends_with("PASS\nok  \tkaic.dev/checks\t10.000s\n"), "{gang_log}");
        for file in ["junit.xml", "results.json", "e2e.log"] {
            let text = read(&format!("evidence/gang_scheduling/{file}"));
            assert!(!text.contains("gpu_sharing"), "{file}: {text}");
            assert!(!text.contains("FAIL") && !text.contains("\"fail\"") && !text.contains("<failure"), "{file}");
            assert!(read(&format!("evidence/gpu_sharing/{file}")).contains("gpu_sharing"), "{file}");
        }
        // Nothing else is written: no file of a check that did not run.
        assert!(!dir.path().join("evidence/robust_controller").exists());
    }

    #[test]
    fn no_check_of_kaic_is_named_after_an_upstream_test() {
        let mut report = report();
        let template = report.checks[0].clone();
        report.checks = kaic_checks::all_checks()
            .iter()
            .map(|c| CheckReport {
                id: c.id().into(),
                requirements: vec![c.requirements()[0].into()],
                ..template.clone()
            })
            .collect();
        assert!(report.checks.len() >= 7);
        let log = TestLog::of(&report);
        for check in kaic_checks::all_checks() {
            assert!(log.names().contains(&check.id()), "{}", check.id());
        }
        for name in log.names() {
            assert!(!looks_upstream(name), "{name} reads as a test of the upstream suite");
        }
    }
}
