//! Writing the report: `results.json`, `junit.xml`, `report.md` and `evidence/<check>/` under the output
//! directory. The directory is proven writable before the run starts, so a long run never ends in a
//! write error.

use std::fs;
use std::path::Path;

use anyhow::Context as _;
use kaic_model::RunReport;
use kaic_model::render::{junit, markdown};

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

/// Writes every report file, filling each check's `evidence_files` with the paths written.
///
/// # Errors
/// If a file cannot be written.
pub fn write_all(dir: &Path, report: &mut RunReport) -> anyhow::Result<()> {
    for check in &mut report.checks {
        check.evidence_files.clear();
        for (position, item) in check.evidence.items.iter().enumerate() {
            let (Some(name), Some(contents)) = (item.file_name(position), item.file_contents()) else { continue };
            let relative = format!("evidence/{}/{name}", check.id);
            let path = dir.join(&relative);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).with_context(|| format!("failed to create {}", parent.display()))?;
            }
            fs::write(&path, contents).with_context(|| format!("failed to write {}", path.display()))?;
            check.evidence_files.push(relative);
        }
    }
    let json = serde_json::to_string_pretty(report)?;
    fs::write(dir.join("results.json"), json + "\n").context("failed to write results.json")?;
    fs::write(dir.join("junit.xml"), junit::render(report)?).context("failed to write junit.xml")?;
    fs::write(dir.join("report.md"), markdown::render(report)).context("failed to write report.md")?;
    Ok(())
}
