//! Filling the official checklist from a kaic run: the template in, PRODUCT.yaml out.
//!
//! The template is edited in place with yaml-edit, so its comments, key order, quoting and the exact
//! bytes of every `id`, `description` and `level` survive; only `metadata` values and each
//! requirement's `status`, `evidence` and `notes` change. After editing, the result is read back and
//! compared with what was meant to be written, so an editing surprise is an error rather than a quietly
//! wrong submission.
//!
//! Mapping from kaic's roll-up to the checklist: met → Implemented; not met → Not Implemented with the
//! reason; partial → Partially Implemented; not applicable → N/A with the reason in the notes; unknown
//! or error → status left empty with a note saying what a person must verify.
//!
//! A vendor cannot overrule kaic. The platform-info file may give a status only for a requirement kaic
//! has no check for, or whose check ran and ended unknown; a check that was left out of the run
//! (`--skip`, `--focus`) or ended in error must be rerun instead. An answer a person already wrote into
//! the template (an earlier PRODUCT.yaml) is kept under the same condition, and an interrupted run is
//! not filled from at all: its results are partial.

mod artifacts;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use kaic_model::catalogue::{ConformanceVersion, Level};
use kaic_model::outcome::{Outcome, RequirementStatus};
use kaic_model::report::RunReport;
use yaml_edit::{Document, Mapping, ScalarValue, YamlValue};

pub use artifacts::{RunArtifacts, load_report};

use crate::checklist::{METADATA_FIELDS, Status, Submission, Template, TemplateError, VENDOR_NOTES_MARKER};
use crate::platform_info::{PlatformInfo, PlatformInfoError};
use crate::source::{self, Node, SourceError};

/// The words that start a note kaic leaves where a person must decide; `kaic validate` warns when a
/// status was set but this note was left in place.
pub const TO_VERIFY: &str = "TO VERIFY:";

/// The comment line kaic writes above the metadata to say where the answers came from.
const FILLED_BY: &str = "# Filled by kaic";

/// Why a checklist could not be filled. Nothing is written when any of these happens.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    PlatformInfo(#[from] PlatformInfoError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("failed to read {path} as kaic's report (kaic-results.json): {message}")]
    Report { path: PathBuf, message: String },
    #[error(
        "failed to fill {template}: the template is for conformance version {template_version} but the run used \
         the {run_version} catalogue; use AIConformance-{run_version}.yaml \
         (`kaic checklist fetch --conformance-version {run_version}`)"
    )]
    VersionMismatch { template: PathBuf, template_version: ConformanceVersion, run_version: ConformanceVersion },
    #[error("failed to use {platform_info}: it names requirement '{id}', which the {version} template does not have")]
    UnknownRequirement { platform_info: PathBuf, id: String, version: ConformanceVersion },
    #[error(
        "failed to use {platform_info}: metadata.kubernetesVersion '{given}' does not match the template's {version}"
    )]
    KubernetesVersion { platform_info: PathBuf, given: String, version: ConformanceVersion },
    #[error(
        "failed to use {platform_info}: it sets requirements.{id}.status to '{given}', but {why}. kaic's verdict \
         stands: a status may be given only for a requirement kaic has no check for, or whose check ran and ended \
         unknown (then with evidence); remove requirements.{id}.status"
    )]
    VendorStatus { platform_info: PathBuf, id: String, given: String, why: String },
    #[error(
        "failed to fill from run {run_id}: it was interrupted before every check finished, so its results are \
         partial; rerun `kaic run` to completion and fill from that run's kaic-results.json"
    )]
    Interrupted { run_id: String },
    #[error("failed to fill {template}: {message}")]
    Edit { template: PathBuf, message: String },
    #[error("failed to locate the run's files: {message}")]
    Artifacts { message: String },
}

/// Who decided a requirement's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// kaic's checks.
    Kaic,
    /// The vendor's platform-info, where kaic could not decide.
    Vendor,
    /// An answer already in the template, kept because kaic could not decide.
    Kept,
    /// Nobody yet: left for a person.
    ToVerify,
}

/// One requirement as filled, for the summary the command line prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilledRow {
    pub section: String,
    pub id: String,
    pub level: Level,
    /// `None`: left empty for a person.
    pub status: Option<Status>,
    pub source: Source,
}

/// The result of a fill.
#[derive(Debug, Clone)]
pub struct Filled {
    pub yaml: String,
    pub rows: Vec<FilledRow>,
    pub warnings: Vec<String>,
}

impl Filled {
    /// Whether every MUST is Implemented and nothing is left for a person: ready to submit as far as the
    /// answers go (validate checks the rest).
    pub fn complete(&self) -> bool {
        self.rows
            .iter()
            .all(|r| r.status.is_some() && (r.level != Level::Must || r.status == Some(Status::Implemented)))
    }
}

/// Everything a fill needs.
#[derive(Debug, Clone, Copy)]
pub struct FillInput<'a> {
    pub template_path: &'a Path,
    pub template_text: &'a str,
    pub platform_info_path: &'a Path,
    pub platform_info: &'a PlatformInfo,
    pub report: &'a RunReport,
    pub artifacts: &'a RunArtifacts,
}

/// What the run says about one requirement.
struct Decision {
    status: Option<Status>,
    notes: String,
    /// Whether kaic ran checks for it (then its files are evidence).
    checked: bool,
    checks: Vec<String>,
    /// Why nobody but kaic may give this requirement's status: kaic decided it, or its check was left
    /// out or ended in error (rerun it). `None`: kaic has no check for it, or its checks ended unknown.
    locked: Option<String>,
}

fn decide(report: &RunReport, id: &str) -> Decision {
    let run = format!("kaic {}, run {}", report.kaic_version, report.run_id);
    let left_out: Vec<String> = report
        .left_out
        .iter()
        .filter(|l| l.requirements.iter().any(|r| r == id))
        .map(|l| format!("{} ({})", l.id, l.why))
        .collect();
    let errored: Vec<String> = report
        .checks
        .iter()
        .filter(|c| c.requirements.iter().any(|r| r == id) && c.verdict.outcome == Outcome::Error)
        .map(|c| format!("{} ({})", c.id, c.verdict.reason.trim_end_matches('.')))
        .collect();
    let left_out_why = (!left_out.is_empty()).then(|| {
        format!("kaic's check {} was left out of run {}; rerun kaic with it", left_out.join(", "), report.run_id)
    });
    let Some(req) = report.requirements.iter().find(|r| r.id == id) else {
        return Decision {
            status: None,
            notes: format!(
                "{TO_VERIFY} kaic's report has no entry for this requirement. Verify it by hand, then set status, \
                 evidence and notes."
            ),
            checked: false,
            checks: Vec::new(),
            locked: left_out_why,
        };
    };
    // The reason, with what was expected and seen for each failed check, so a reader need not open
    // kaic-results.json to learn why.
    let mut reason = req.reason.trim_end_matches('.').to_string();
    for check in report.checks.iter().filter(|c| req.checks.contains(&c.id)) {
        let v = &check.verdict;
        if v.outcome == Outcome::Fail
            && let (Some(expected), Some(observed)) = (&v.expected, &v.observed)
        {
            reason.push_str(&format!(" ({}: expected {expected}; observed {observed})", check.id));
        }
    }
    let stands = "kaic's result stands over a status given by hand";
    let (status, notes) = match req.status {
        RequirementStatus::Met => (Some(Status::Implemented), format!("Verified by {run}: {reason}.")),
        RequirementStatus::NotMet => (Some(Status::NotImplemented), format!("Not met in {run}: {reason}.")),
        RequirementStatus::Partial => {
            (Some(Status::PartiallyImplemented), format!("Shown only in part by {run}: {reason}."))
        }
        RequirementStatus::NotApplicable => (Some(Status::NotApplicable), format!("Not applicable ({run}): {reason}.")),
        _ if !left_out.is_empty() => (
            None,
            format!(
                "{TO_VERIFY} kaic's check {} was left out of this run ({run}). Rerun kaic with it: {stands}.",
                left_out.join(", ")
            ),
        ),
        RequirementStatus::Unknown => (
            None,
            format!(
                "{TO_VERIFY} kaic could not decide this automatically ({run}): {reason}. Verify it by hand, then \
                 set status, evidence and notes."
            ),
        ),
        RequirementStatus::Error => (
            None,
            format!(
                "{TO_VERIFY} kaic could not run its check ({run}): {reason}. Fix the cause and rerun kaic: {stands}."
            ),
        ),
    };
    let locked = match status {
        Some(_) => Some(format!("kaic decided this requirement ({})", req.status.label())),
        None if left_out_why.is_some() => left_out_why,
        None if !errored.is_empty() => {
            Some(format!("kaic's check {} ended in error; fix the cause and rerun kaic", errored.join(", ")))
        }
        None => None,
    };
    Decision { status, notes, checked: !req.checks.is_empty(), checks: req.checks.clone(), locked }
}

/// A scalar written the way the templates write theirs (double-quoted), unless it holds characters
/// other than printable ASCII: yaml-edit would escape those (`\xE9` for é), so such text is left to
/// yaml-edit's own choice of style, which keeps it readable.
fn scalar(text: &str) -> YamlValue {
    if text.chars().all(|c| (' '..='~').contains(&c)) {
        YamlValue::from(ScalarValue::double_quoted(text))
    } else {
        YamlValue::from(ScalarValue::string(text))
    }
}

fn joined_notes(parts: &[&str]) -> String {
    parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Fills the template. Pure: reads and writes no files.
///
/// # Errors
/// When the template is not a template, is for another version than the run, the platform-info names
/// requirements the template lacks or claims a status kaic decided otherwise, or the edit goes wrong.
pub fn fill(input: FillInput<'_>) -> Result<Filled, FillError> {
    let FillInput { template_path, template_text, platform_info_path, platform_info, report, artifacts } = input;
    if report.interrupted {
        return Err(FillError::Interrupted { run_id: report.run_id.clone() });
    }
    let template = Template::parse(template_path, template_text)?;
    let run_version = report.cluster.conformance_version;
    if template.version != run_version {
        return Err(FillError::VersionMismatch {
            template: template_path.to_path_buf(),
            template_version: template.version,
            run_version,
        });
    }
    for id in platform_info.requirements.keys() {
        if template.requirement(id).is_none() {
            return Err(FillError::UnknownRequirement {
                platform_info: platform_info_path.to_path_buf(),
                id: id.clone(),
                version: template.version,
            });
        }
    }
    if let Some(given) = &platform_info.metadata.kubernetes_version
        && given.parse::<ConformanceVersion>().ok() != Some(template.version)
    {
        return Err(FillError::KubernetesVersion {
            platform_info: platform_info_path.to_path_buf(),
            given: given.clone(),
            version: template.version,
        });
    }
    let edit_err = |message: String| FillError::Edit { template: template_path.to_path_buf(), message };
    // The answers already in the template (it may be an earlier PRODUCT.yaml), to keep a person's answer
    // where kaic has none.
    let existing = source::parse_yaml(template_path, template_text)?;

    let doc = Document::from_str(template_text).map_err(|e| edit_err(format!("yaml-edit cannot read it: {e}")))?;
    let root = doc.as_mapping().ok_or_else(|| edit_err("the top level is not a mapping".into()))?;
    let mut warnings = artifacts.warnings.clone();

    // Metadata.
    let metadata = root.get_mapping("metadata").ok_or_else(|| edit_err("it has no metadata mapping".into()))?;
    let mut expected_metadata: Vec<(String, String)> = Vec::new();
    let given = platform_info.metadata.fields();
    for field in METADATA_FIELDS {
        let present = [field.key, field.snake].into_iter().find(|k| metadata.contains_key(*k));
        let value = given.iter().find(|(k, _)| *k == field.key).map(|(_, v)| v.to_string());
        let value = match (value, field.key) {
            (Some(v), _) => v,
            // The template's kubernetesVersion is the conformance version: keep it.
            (None, "kubernetesVersion") => continue,
            // An optional field left as the template's placeholder would be rejected; empty is accepted.
            (None, _) if !field.required => {
                if present.is_none() {
                    continue;
                }
                String::new()
            }
            (None, _) => {
                warnings.push(format!(
                    "metadata.{} is not in the platform-info file: PRODUCT.yaml keeps the template's placeholder",
                    field.key
                ));
                continue;
            }
        };
        metadata.set(present.unwrap_or(field.key), scalar(&value));
        expected_metadata.push((present.unwrap_or(field.key).to_string(), value));
    }

    // Requirements.
    let spec = root.get_mapping("spec").ok_or_else(|| edit_err("it has no spec mapping".into()))?;
    let mut rows = Vec::new();
    let mut expected_entries: BTreeMap<String, (String, Vec<String>, String)> = BTreeMap::new();
    for section in &template.sections {
        let items = spec.get_sequence(section).ok_or_else(|| edit_err(format!("spec.{section} is not a list")))?;
        let existing_items = existing.get("spec").and_then(|s| s.get(section)).and_then(Node::as_seq).unwrap_or(&[]);
        for (index, item) in items.values().enumerate() {
            let item =
                item.as_mapping().ok_or_else(|| edit_err(format!("spec.{section}[{index}] is not a mapping")))?;
            let current = existing_items.get(index);
            let id = current
                .and_then(|n| n.get("id"))
                .and_then(Node::as_str)
                .ok_or_else(|| edit_err(format!("spec.{section}[{index}] has no id")))?
                .to_string();
            let requirement =
                template.requirement(&id).ok_or_else(|| edit_err(format!("spec.{section}[{index}] is unknown")))?;
            let decision = decide(report, &id);
            let vendor = platform_info.requirements.get(&id);
            let text_of = |name: &str| current.and_then(|n| n.get(name)).and_then(Node::scalar_text);
            let current_status = text_of("status").and_then(|s| Status::parse(&s));

            let vendor_status = vendor.and_then(|v| v.status.as_deref());
            if let (Some(given), Some(why)) = (vendor_status, &decision.locked) {
                return Err(FillError::VendorStatus {
                    platform_info: platform_info_path.to_path_buf(),
                    id,
                    given: given.to_string(),
                    why: why.clone(),
                });
            }
            let vendor_notes = vendor.and_then(|v| v.notes.as_deref()).unwrap_or("");
            let (status, notes, source) = match (decision.status, vendor_status) {
                (Some(status), _) => (Some(status), joined_notes(&[&decision.notes, vendor_notes]), Source::Kaic),
                (None, Some(given)) => {
                    let why = decision.notes.trim_start_matches(TO_VERIFY).trim();
                    let why = why.split(". Verify").next().unwrap_or(why);
                    (
                        Status::parse(given),
                        joined_notes(&[
                            vendor_notes,
                            &format!("(Status given by the vendor; {}.)", why.trim_end_matches('.')),
                        ]),
                        Source::Vendor,
                    )
                }
                (None, None) if current_status.is_some() && decision.locked.is_none() => {
                    // A person already answered this one: leave the whole entry as it is.
                    warnings.push(format!(
                        "kept the existing answer for {id} ({}): kaic could not decide it",
                        current_status.map(Status::as_str).unwrap_or_default()
                    ));
                    rows.push(FilledRow {
                        section: section.clone(),
                        id: id.clone(),
                        level: requirement.level,
                        status: current_status,
                        source: Source::Kept,
                    });
                    continue;
                }
                (None, None) => {
                    if let (Some(kept), Some(why)) = (current_status, &decision.locked) {
                        warnings.push(format!(
                            "dropped the existing answer for {id} ({kept}): {why}; kaic's verdict stands over an \
                             answer given by hand"
                        ));
                    }
                    (None, joined_notes(&[&decision.notes, vendor_notes]), Source::ToVerify)
                }
            };

            let mut evidence: Vec<String> = Vec::new();
            // kaic's files back what kaic decided. Where the vendor decided, they only show that kaic
            // could not: citing them there would claim support they do not give (and `kaic validate`
            // rejects an Implemented that cites kaic's results without a passing check).
            if decision.checked && source != Source::Vendor {
                // A met requirement cites its checks' own test files, each naming its check: the program's
                // validator looks that test up and wants it passed. Anything else cites only the report and
                // the evidence folder, which the validator does not parse: a failed or skipped test there
                // would be an error, though the answer is honest.
                if source == Source::Kaic && status == Some(Status::Implemented) {
                    for check in &decision.checks {
                        evidence.extend(artifacts.check_tests.get(check).cloned().unwrap_or_default());
                    }
                }
                evidence.push(artifacts.results.clone());
                evidence.extend(artifacts.report_md.clone());
                for check in &decision.checks {
                    evidence.extend(artifacts.check_evidence.get(check).cloned().unwrap_or_default());
                }
            }
            for link in vendor.map(|v| v.evidence.as_slice()).unwrap_or(&[]) {
                if !evidence.contains(link) {
                    evidence.push(link.clone());
                }
            }
            let status_text = status.map(Status::as_str).unwrap_or("").to_string();
            set_entry(item, &status_text, &evidence, &notes);
            expected_entries.insert(id.clone(), (status_text, evidence, notes));
            rows.push(FilledRow { section: section.clone(), id, level: requirement.level, status, source });
        }
    }

    let mut yaml = doc.to_string();
    yaml = with_header_comments(&yaml, report, platform_info.notes.as_deref());
    // The template's last byte too: the 1.37 template ends without a newline, and so does its fill.
    if !template_text.ends_with('\n') {
        yaml.truncate(yaml.trim_end_matches('\n').len());
    }
    verify(template_path, template_text, &yaml, &expected_metadata, &expected_entries)?;
    Ok(Filled { yaml, rows, warnings })
}

fn set_entry(item: &Mapping, status: &str, evidence: &[String], notes: &str) {
    item.set("status", scalar(status));
    item.set("evidence", evidence.iter().map(|e| scalar(e)).collect::<Vec<YamlValue>>());
    item.set("notes", scalar(notes));
}

/// Puts kaic's provenance line and the vendor's notes between the template's header comments and the
/// first key, replacing those of an earlier fill.
fn with_header_comments(yaml: &str, report: &RunReport, vendor_notes: Option<&str>) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    // The header: leading comment and blank lines.
    let header_len = lines.iter().take_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#')).count();
    let mut header: Vec<String> = Vec::new();
    let mut in_notes = false;
    for line in &lines[..header_len] {
        if line.starts_with(FILLED_BY) {
            continue;
        }
        if line.trim_end() == VENDOR_NOTES_MARKER {
            in_notes = true;
            continue;
        }
        if in_notes && line.starts_with('#') {
            continue;
        }
        in_notes = false;
        header.push((*line).to_string());
    }
    while header.last().is_some_and(|l| l.trim().is_empty()) {
        header.pop();
    }
    if !header.is_empty() {
        header.push(String::new());
    }
    header.push(format!(
        "{FILLED_BY} {} from run {} (finished {}); check it with `kaic validate`.",
        report.kaic_version, report.run_id, report.finished_at
    ));
    if let Some(notes) = vendor_notes.filter(|n| !n.trim().is_empty()) {
        header.push(VENDOR_NOTES_MARKER.to_string());
        for line in notes.trim_end().lines() {
            header.push(if line.is_empty() { "#".to_string() } else { format!("# {line}") });
        }
    }
    header.push(String::new());
    let mut out = header.join("\n");
    out.push('\n');
    for line in &lines[header_len..] {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Reads the filled text back and checks that it says what was meant and that the template's
/// requirements are unchanged.
fn verify(
    template_path: &Path,
    template_text: &str,
    yaml: &str,
    metadata: &[(String, String)],
    entries: &BTreeMap<String, (String, Vec<String>, String)>,
) -> Result<(), FillError> {
    let edit_err = |message: String| FillError::Edit {
        template: template_path.to_path_buf(),
        message: format!("{message} (this is a bug in kaic: please report it with the template)"),
    };
    let before = Submission::parse(template_path, template_text)?;
    let after =
        Submission::parse(template_path, yaml).map_err(|e| edit_err(format!("the result does not parse: {e}")))?;
    for (key, value) in metadata {
        if after.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v) != Some(value) {
            return Err(edit_err(format!("metadata.{key} did not take its new value")));
        }
    }
    let ids = |s: &Submission| {
        s.sections
            .iter()
            .flat_map(|sec| {
                sec.entries.iter().map(move |e| (sec.key.clone(), e.id.clone(), e.description.clone(), e.level.clone()))
            })
            .collect::<Vec<_>>()
    };
    if ids(&before) != ids(&after) {
        return Err(edit_err("the requirements' ids, descriptions or levels changed".into()));
    }
    for entry in after.sections.iter().flat_map(|s| &s.entries) {
        if let Some((status, evidence, notes)) = entries.get(&entry.id)
            && (&entry.status != status || &entry.evidence != evidence || &entry.notes != notes)
        {
            return Err(edit_err(format!("{} did not take its new values", entry.id)));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
