//! Filling the registry: one submission (`kaic registry add`) or a whole tree in the layout of the
//! program's public repository (`kaic registry import`: `vX.Y/<product>/PRODUCT.yaml`, evidence files
//! beside it). Every file goes through [`crate::submit::accept`], i.e. `kaic validate`'s rules; the valid
//! ones of a tree are stored in one transaction, so an import is all of them or none.

use std::path::{Path, PathBuf};

use jiff::civil::Date;

use crate::dates::DateSource;
use crate::db::{Db, DbError, Stored, content_hash};
use crate::model::NewCertification;
use crate::submit::{Accepted, Intake, Refusal, accept, results_beside};

/// The file name of a submission in the program's repository.
pub const PRODUCT_FILE: &str = "PRODUCT.yaml";

/// Why an import or add could not run at all (as opposed to a refused submission).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "{0} holds no vX.Y folder: `kaic registry import` reads the program's repository layout, \
         vX.Y/<product>/PRODUCT.yaml (e.g. v1.37/acme-ai-platform/PRODUCT.yaml)"
    )]
    NoVersionFolders(PathBuf),
    #[error("failed to read the folder {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// One submission that was stored (or found already stored).
#[derive(Debug, Clone)]
pub struct Added {
    pub file: PathBuf,
    pub platform_id: String,
    pub stored: Stored,
    pub certified_on: Date,
    pub date_source: DateSource,
    pub results: Option<PathBuf>,
    pub warnings: usize,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub added: Vec<Added>,
    /// Submissions refused, each with why (validate's problem list for an invalid one).
    pub refused: Vec<(PathBuf, Refusal)>,
}

/// Adds one submission.
///
/// # Errors
/// `Ok(Err(refusal))` when the submission is refused; `Err` when the database fails.
pub async fn add(
    db: &Db,
    file: &Path,
    results: Option<&Path>,
    certified_on: Option<Date>,
    today: Date,
) -> Result<Result<Added, Refusal>, DbError> {
    let intake = Intake {
        file,
        results,
        certified_on,
        fallback_date: today,
        fallback_source: DateSource::Added,
        source: format!("kaic registry add: {}", tail(file)),
    };
    let accepted = match accept(&intake) {
        Ok(a) => a,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let hash = hash_of(file, results);
    let stored = db.store(&accepted.certification, &hash).await?;
    Ok(Ok(added(file, results.map(Path::to_path_buf), &accepted, stored)))
}

/// Imports every `vX.Y/<product>/PRODUCT.yaml` under `dir`: the valid ones in one transaction, the
/// invalid ones listed with their problems. Each certification is dated `today` (the import's day), as
/// the repository's files state no date.
///
/// # Errors
/// When `dir` does not have the layout, cannot be read, or the database fails (then nothing is stored).
pub async fn import_tree(db: &Db, dir: &Path, today: Date) -> Result<ImportReport, ImportError> {
    let files = submissions_in(dir)?;
    let mut report = ImportReport::default();
    let mut batch: Vec<(NewCertification, String)> = Vec::new();
    let mut accepted_files = Vec::new();
    for file in files {
        let results = results_beside(&file);
        let relative = file.strip_prefix(dir).unwrap_or(&file).display().to_string();
        let intake = Intake {
            file: &file,
            results: results.as_deref(),
            certified_on: None,
            fallback_date: today,
            fallback_source: DateSource::Imported,
            source: format!("kaic registry import: {relative}"),
        };
        match accept(&intake) {
            Ok(accepted) => {
                batch.push((accepted.certification.clone(), hash_of(&file, results.as_deref())));
                accepted_files.push((file, results, accepted));
            }
            Err(refusal) => report.refused.push((file, refusal)),
        }
    }
    let stored = db.store_all(&batch).await?;
    for ((file, results, accepted), stored) in accepted_files.into_iter().zip(stored) {
        report.added.push(added(&file, results, &accepted, stored));
    }
    Ok(report)
}

fn added(file: &Path, results: Option<PathBuf>, accepted: &Accepted, stored: Stored) -> Added {
    Added {
        file: file.to_path_buf(),
        platform_id: accepted.certification.platform_id.clone(),
        stored,
        certified_on: accepted.certification.certified_on,
        date_source: accepted.certification.date_source,
        results,
        warnings: accepted.report.warnings(),
    }
}

/// The last three components of a path (`v1.37/acme/PRODUCT.yaml`): enough to recognise a submission
/// in the history, without publishing the operator's folders.
fn tail(path: &Path) -> String {
    let parts: Vec<String> =
        path.components().rev().take(3).map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

/// What identifies a submission's content: its bytes and its results' bytes.
fn hash_of(file: &Path, results: Option<&Path>) -> String {
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    let product = read(file);
    let results = results.map(read).unwrap_or_default();
    content_hash(&[&product, &results])
}

/// The submission files of a tree, sorted: `vX.Y/<product>/PRODUCT.yaml`. A product folder without
/// PRODUCT.yaml is listed too (its path), so that the refusal names it.
fn submissions_in(dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let read = |path: &Path| -> Result<Vec<PathBuf>, ImportError> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|source| ImportError::Read { path: path.to_path_buf(), source })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        entries.sort();
        Ok(entries)
    };
    let versions: Vec<PathBuf> = read(dir)?
        .into_iter()
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.strip_prefix('v')
                    .is_some_and(|rest| rest.split('.').all(|d| !d.is_empty() && d.parse::<u32>().is_ok()))
            })
        })
        .collect();
    if versions.is_empty() {
        return Err(ImportError::NoVersionFolders(dir.to_path_buf()));
    }
    let mut files = Vec::new();
    for version in versions {
        for product in read(&version)? {
            files.push(product.join(PRODUCT_FILE));
        }
    }
    Ok(files)
}
