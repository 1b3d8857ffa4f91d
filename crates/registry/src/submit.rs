//! From a submission file to a certification the registry may store. The only gate is `kaic validate`
//! itself ([`kaic_certify::validate::validate_file`], the same call and the same rules as the command):
//! a file with an error is refused with validate's own problem list, never a list of the registry's.
//!
//! Kaic results attached to a submission (`--results`, or `kaic-results.json` beside an imported
//! PRODUCT.yaml) mark each requirement *verified by kaic* when a check for it passed there; every other
//! requirement is *self-attested*.

use std::path::{Path, PathBuf};

use jiff::civil::Date;
use kaic_certify::checklist::Submission;
use kaic_certify::validate::{self, ValidateError, ValidationReport};
use kaic_model::RunReport;
use kaic_model::outcome::Outcome;

use crate::dates::DateSource;
use crate::model::{Facts, NewCertification, Requirement, Verification, platform_id};

/// Why a submission was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// `kaic validate` found errors: its report, problems and all.
    #[error("{}", .0.to_text().trim_end())]
    Invalid(Box<ValidationReport>),
    /// The file could not be validated at all (unreadable, not YAML, not a checklist).
    #[error(transparent)]
    Unreadable(#[from] ValidateError),
    /// The attached kaic results cannot be used.
    #[error("{0}")]
    Results(String),
}

/// A submission that passed validation, ready to be dated and stored.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub certification: NewCertification,
    /// Validate's report (warnings only), for the caller to show.
    pub report: ValidationReport,
}

/// Where a submission comes from and how it is dated.
#[derive(Debug, Clone)]
pub struct Intake<'a> {
    pub file: &'a Path,
    pub results: Option<&'a Path>,
    /// The certification date stated by the submitter; `None`: `fallback_date` with `fallback_source`.
    pub certified_on: Option<Date>,
    pub fallback_date: Date,
    pub fallback_source: DateSource,
    pub source: String,
}

/// Validates `intake.file` with exactly `kaic validate`'s rules and turns it into a certification.
///
/// # Errors
/// [`Refusal`]: invalid (with validate's problems), unreadable, or results that do not fit.
pub fn accept(intake: &Intake<'_>) -> Result<Accepted, Refusal> {
    let report = validate::validate_file(intake.file, None)?;
    if !report.is_valid() {
        return Err(Refusal::Invalid(Box::new(report)));
    }
    // Validation passed, so the file has the checklist's shape and a known version: read it for its facts.
    let submission = Submission::load(intake.file).map_err(ValidateError::from)?;
    let version = report.version.or(submission.version).ok_or_else(|| {
        Refusal::Results(format!("{}: metadata.kubernetesVersion names no known version", intake.file.display()))
    })?;
    let results = match intake.results {
        Some(path) => {
            let run = kaic_certify::fill::load_report(path).map_err(|e| Refusal::Results(e.to_string()))?;
            if run.cluster.conformance_version != version {
                return Err(Refusal::Results(format!(
                    "the kaic results {} are for conformance version {} but {} is for {version}: attach the \
                     results of a run with --conformance-version {version}",
                    path.display(),
                    run.cluster.conformance_version,
                    intake.file.display()
                )));
            }
            Some(run)
        }
        None => None,
    };
    let value = |key: &str| submission.metadata_value(key).unwrap_or_default().trim().to_string();
    let facts = Facts {
        vendor_name: value("vendorName"),
        platform_name: value("platformName"),
        platform_version: value("platformVersion"),
        description: value("description"),
        website_url: value("websiteUrl"),
        documentation_url: value("documentationUrl"),
        repo_url: value("repoUrl"),
        product_logo_url: value("productLogoUrl"),
        k8s_conformance_url: value("k8sConformanceUrl"),
    };
    let requirements = submission
        .sections
        .iter()
        .flat_map(|s| s.entries.iter().map(move |e| (s, e)))
        .map(|(section, e)| Requirement {
            section: section.key.clone(),
            id: e.id.clone(),
            level: e.level.clone(),
            status: e.status.clone(),
            evidence: e.evidence.clone(),
            notes: e.notes.clone(),
            verification: match &results {
                Some(run) if verified_by(run, &e.id) => Verification::Kaic,
                _ => Verification::SelfAttested,
            },
        })
        .collect();
    let version = version.to_string();
    let (certified_on, date_source) = match intake.certified_on {
        Some(d) => (d, DateSource::Submission),
        None => (intake.fallback_date, intake.fallback_source),
    };
    Ok(Accepted {
        certification: NewCertification {
            platform_id: platform_id(&facts.vendor_name, &facts.platform_name, &version),
            conformance_version: version,
            facts,
            certified_on,
            date_source,
            source: intake.source.clone(),
            requirements,
            results_attached: results.is_some(),
        },
        report,
    })
}

/// Whether a check for requirement `id` passed in `run`.
fn verified_by(run: &RunReport, id: &str) -> bool {
    run.checks.iter().any(|c| c.verdict.outcome == Outcome::Pass && c.requirements.iter().any(|r| r == id))
}

/// The kaic results beside an imported PRODUCT.yaml, if any: `kaic-results.json`, else a `results.json`
/// that is kaic's report (an older kaic's name; a `go test -json` stream of that name is not).
pub fn results_beside(product: &Path) -> Option<PathBuf> {
    let dir = product.parent()?;
    let current = dir.join(kaic_model::render::REPORT_FILE);
    if current.is_file() {
        return Some(current);
    }
    let older = dir.join("results.json");
    (older.is_file() && kaic_certify::fill::load_report(&older).is_ok()).then_some(older)
}
