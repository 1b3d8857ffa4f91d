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
//! or error → status left empty with a note saying what a person must verify. A vendor may give a status
//! in the platform-info file only where kaic could not decide, and an answer a person already wrote into
//! the template for such a requirement is kept.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use kaic_model::catalogue::{ConformanceVersion, Level};
use kaic_model::outcome::{Outcome, RequirementStatus};
use kaic_model::report::{RunReport, SCHEMA_VERSION};
use yaml_edit::{Document, Mapping, ScalarValue, YamlValue};

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
    #[error("failed to read {path} as kaic's results.json: {message}")]
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
        "failed to use {platform_info}: it sets requirements.{id}.status to '{given}', but kaic decided this \
         requirement ({kaic}); a status may be given only where kaic could not decide (remove it, or fix the \
         cause and rerun kaic)"
    )]
    Conflict { platform_info: PathBuf, id: String, given: String, kaic: RequirementStatus },
    #[error("failed to fill {template}: {message}")]
    Edit { template: PathBuf, message: String },
    #[error("failed to locate the run's files: {message}")]
    Artifacts { message: String },
}

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
    kaic: Option<RequirementStatus>,
    notes: String,
    /// Whether kaic ran checks for it (then its files are evidence).
    checked: bool,
    checks: Vec<String>,
}

fn decide(report: &RunReport, id: &str) -> Decision {
    let Some(req) = report.requirements.iter().find(|r| r.id == id) else {
        return Decision {
            status: None,
            kaic: None,
            notes: format!(
                "{TO_VERIFY} kaic's report has no entry for this requirement. Verify it by hand, then set status, \
                 evidence and notes."
            ),
            checked: false,
            checks: Vec::new(),
        };
    };
    let run = format!("kaic {}, run {}", report.kaic_version, report.run_id);
    // The reason, with what was expected and seen for each failed check, so a reader need not open
    // results.json to learn why.
    let mut reason = req.reason.trim_end_matches('.').to_string();
    for check in report.checks.iter().filter(|c| req.checks.contains(&c.id)) {
        let v = &check.verdict;
        if v.outcome == Outcome::Fail
            && let (Some(expected), Some(observed)) = (&v.expected, &v.observed)
        {
            reason.push_str(&format!(" ({}: expected {expected}; observed {observed})", check.id));
        }
    }
    let (status, notes) = match req.status {
        RequirementStatus::Met => (Some(Status::Implemented), format!("Verified by {run}: {reason}.")),
        RequirementStatus::NotMet => (Some(Status::NotImplemented), format!("Not met in {run}: {reason}.")),
        RequirementStatus::Partial => {
            (Some(Status::PartiallyImplemented), format!("Shown only in part by {run}: {reason}."))
        }
        RequirementStatus::NotApplicable => (Some(Status::NotApplicable), format!("Not applicable ({run}): {reason}.")),
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
                "{TO_VERIFY} kaic could not run its check ({run}): {reason}. Fix the cause and rerun kaic, or \
                 verify it by hand and set status, evidence and notes."
            ),
        ),
    };
    Decision { status, kaic: Some(req.status), notes, checked: !req.checks.is_empty(), checks: req.checks.clone() }
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

            let (status, notes, source) = match (decision.status, vendor.and_then(|v| v.status.as_deref())) {
                (Some(_), Some(given)) => {
                    return Err(FillError::Conflict {
                        platform_info: platform_info_path.to_path_buf(),
                        id,
                        given: given.to_string(),
                        kaic: decision.kaic.unwrap_or(RequirementStatus::Unknown),
                    });
                }
                (Some(status), None) => (
                    Some(status),
                    joined_notes(&[&decision.notes, vendor.and_then(|v| v.notes.as_deref()).unwrap_or("")]),
                    Source::Kaic,
                ),
                (None, Some(given)) => {
                    let why = decision.notes.trim_start_matches(TO_VERIFY).trim();
                    let why = why.split(". Verify").next().unwrap_or(why).split(". Fix").next().unwrap_or(why);
                    (
                        Status::parse(given),
                        joined_notes(&[
                            vendor.and_then(|v| v.notes.as_deref()).unwrap_or(""),
                            &format!("(Status given by the vendor; {}.)", why.trim_end_matches('.')),
                        ]),
                        Source::Vendor,
                    )
                }
                (None, None) if current_status.is_some() => {
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
                (None, None) => (
                    None,
                    joined_notes(&[&decision.notes, vendor.and_then(|v| v.notes.as_deref()).unwrap_or("")]),
                    Source::ToVerify,
                ),
            };

            let mut evidence: Vec<String> = Vec::new();
            // kaic's files back what kaic decided. Where the vendor decided, they only show that kaic
            // could not: citing them there would claim support they do not give (and `kaic validate`
            // rejects an Implemented that cites kaic's results without a passing check).
            if decision.checked && source != Source::Vendor {
                evidence.push(artifacts.results.clone());
                evidence.extend(artifacts.junit.clone());
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
pub(crate) mod tests {
    use super::*;
    use crate::checklist::tests::template_path;
    use kaic_model::catalogue::requirements;
    use kaic_model::evidence::Evidence;
    use kaic_model::outcome::Verdict;
    use kaic_model::report::{CheckReport, RequirementReport};

    pub(crate) use crate::synthetic::{artifacts as artifacts_for, report as synthetic_report};

    pub(crate) fn example_platform_info() -> PlatformInfo {
        let path = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("examples/platform-info.yaml");
        PlatformInfo::load(&path).unwrap()
    }

    /// Platform-info with the example's metadata for `version`, and nothing per requirement.
    pub(crate) fn metadata_only(version: ConformanceVersion) -> PlatformInfo {
        let info = crate::synthetic::platform_info(version);
        let example = example_platform_info();
        assert_eq!(info.metadata.platform_name, example.metadata.platform_name, "the example and synthetic agree");
        assert_eq!(info.notes, example.notes);
        info
    }

    pub(crate) fn fill_template(
        version: ConformanceVersion,
        report: &RunReport,
        info: &PlatformInfo,
    ) -> Result<Filled, FillError> {
        let path = template_path(version);
        let text = std::fs::read_to_string(&path).unwrap();
        fill(FillInput {
            template_path: &path,
            template_text: &text,
            platform_info_path: Path::new("platform-info.yaml"),
            platform_info: info,
            report,
            artifacts: &artifacts_for(report),
        })
    }

    fn all_pass(version: ConformanceVersion) -> RunReport {
        synthetic_report(version, |_| Some(Outcome::Pass))
    }

    #[test]
    fn ids_descriptions_levels_and_comments_stay_byte_for_byte() {
        for version in ConformanceVersion::ALL {
            let template = std::fs::read_to_string(template_path(version)).unwrap();
            let filled = fill_template(version, &all_pass(version), &metadata_only(version)).unwrap();
            // Every template line that carries an id, description, level or comment is in the output, in order.
            let spec_starts = template.lines().position(|l| l == "spec:").unwrap();
            let kept: Vec<&str> = template
                .lines()
                .enumerate()
                .filter(|(i, l)| {
                    let t = l.trim_start();
                    let in_spec = *i >= spec_starts
                        && (t.starts_with("- id:") || t.starts_with("description:") || t.starts_with("level:"));
                    in_spec || t.starts_with('#') || t.ends_with(':')
                })
                .map(|(_, l)| l)
                .collect();
            let mut out = filled.yaml.lines();
            for line in &kept {
                assert!(out.any(|o| o == *line), "{version}: line missing or out of order: {line}");
            }
            // The trailing comments of the 1.33–1.35 templates survive on their lines.
            for comment in
                ["# Implemented, Not Implemented, Partially Implemented, N/A", "# Must provide a justification"]
            {
                assert_eq!(
                    template.matches(comment).count(),
                    filled.yaml.matches(comment).count(),
                    "{version}: {comment}"
                );
            }
        }
    }

    #[test]
    fn all_passing_run_fills_every_requirement_implemented() {
        let version = ConformanceVersion::V1_36;
        let filled = fill_template(version, &all_pass(version), &metadata_only(version)).unwrap();
        assert!(filled.complete());
        let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
        for entry in sub.sections.iter().flat_map(|s| &s.entries) {
            assert_eq!(entry.status, "Implemented", "{}", entry.id);
            assert_eq!(entry.evidence[..3], ["results.json", "junit.xml", "report.md"]);
            assert_eq!(entry.evidence[3], format!("evidence/{}/", entry.id));
            assert!(entry.notes.starts_with("Verified by kaic 0.1.0, run r-test:"), "{}", entry.notes);
        }
        assert_eq!(sub.metadata_value("platformName"), Some("Acme AI Platform"));
        assert_eq!(sub.metadata_value("kubernetesVersion"), Some("v1.36"));
        assert_eq!(sub.metadata_value("repoUrl"), Some("https://github.com/acme/ai-platform"));
        assert_eq!(
            sub.vendor_notes,
            ["Tested on a 4-node cluster (2 nodes with 8 NVIDIA H100 each) with the default add-ons enabled."]
        );
    }

    #[test]
    fn each_outcome_maps_to_its_status_and_note() {
        let version = ConformanceVersion::V1_36;
        let report = synthetic_report(version, |id| match id {
            "ai_inference" => Some(Outcome::Fail),
            "cluster_autoscaling" => Some(Outcome::NotApplicable),
            "driver_runtime_management" => Some(Outcome::Unknown),
            "gpu_sharing" => Some(Outcome::Error),
            "disaggregated_inference" => None,
            _ => Some(Outcome::Pass),
        });
        let filled = fill_template(version, &report, &metadata_only(version)).unwrap();
        assert!(!filled.complete());
        let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
        let entry = |id: &str| sub.sections.iter().flat_map(|s| &s.entries).find(|e| e.id == id).unwrap().clone();
        let fail = entry("ai_inference");
        assert_eq!(fail.status, "Not Implemented");
        assert!(fail.notes.contains("ai_inference broken"), "{}", fail.notes);
        assert!(fail.notes.contains("expected all pods bound; observed 3 of 5 bound"), "{}", fail.notes);
        let na = entry("cluster_autoscaling");
        assert_eq!(na.status, "N/A");
        assert!(na.notes.contains("no cluster autoscaler found"));
        let unknown = entry("driver_runtime_management");
        assert_eq!(unknown.status, "");
        assert!(unknown.notes.starts_with(TO_VERIFY));
        assert!(unknown.notes.contains("check the driver version"));
        assert_eq!(unknown.evidence[0], "results.json");
        let error = entry("gpu_sharing");
        assert_eq!(error.status, "");
        assert!(error.notes.contains("could not run its check"));
        let none = entry("disaggregated_inference");
        assert_eq!(none.status, "");
        assert!(none.evidence.is_empty(), "no check ran: no kaic evidence");
        let rows: BTreeMap<&str, Source> = filled.rows.iter().map(|r| (r.id.as_str(), r.source)).collect();
        assert_eq!(rows["gpu_sharing"], Source::ToVerify);
        assert_eq!(rows["ai_inference"], Source::Kaic);
    }

    #[test]
    fn partial_maps_to_partially_implemented() {
        let version = ConformanceVersion::V1_34;
        let mut report = all_pass(version);
        let extra = CheckReport {
            id: "gang_scheduling_negative".into(),
            requirements: vec!["gang_scheduling".into()],
            verdict: Verdict::unknown("could not fill the cluster"),
            duration_millis: 5,
            namespace: None,
            evidence: Evidence::default(),
            evidence_files: vec![],
        };
        report.checks.push(extra);
        report.requirements =
            requirements(version).iter().map(|r| RequirementReport::roll_up(r, &report.checks)).collect();
        let filled = fill_template(version, &report, &metadata_only(version)).unwrap();
        let row = filled.rows.iter().find(|r| r.id == "gang_scheduling").unwrap();
        assert_eq!(row.status, Some(Status::PartiallyImplemented));
    }

    #[test]
    fn vendor_links_notes_and_status_where_kaic_could_not_decide() {
        let version = ConformanceVersion::V1_36;
        let report = synthetic_report(version, |id| (id != "high_performance_networking").then_some(Outcome::Pass));
        let info = example_platform_info();
        let filled = fill_template(version, &report, &info).unwrap();
        let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
        let entry = |id: &str| sub.sections.iter().flat_map(|s| &s.entries).find(|e| e.id == id).unwrap().clone();
        let gang = entry("gang_scheduling");
        assert_eq!(gang.evidence.last().unwrap(), "https://docs.acme.example/ai-platform/scheduling/gang");
        assert!(gang.notes.ends_with("Kueue is installed and enabled by default."));
        let virt = entry("high_performance_networking");
        assert_eq!(virt.status, "N/A");
        assert!(
            virt.notes.starts_with("No workload on this platform needs high-performance pod-to-pod networking; no RDMA or multi-NIC offered. (Status given by the vendor;"),
            "{}",
            virt.notes
        );
        assert!(!virt.notes.contains(TO_VERIFY));
    }

    #[test]
    fn vendor_status_cannot_overrule_kaic() {
        let version = ConformanceVersion::V1_36;
        let report = synthetic_report(version, |id| {
            Some(if id == "high_performance_networking" { Outcome::Fail } else { Outcome::Pass })
        });
        let err = fill_template(version, &report, &example_platform_info()).unwrap_err().to_string();
        assert!(
            err.contains(
                "requirements.high_performance_networking.status to 'N/A', but kaic decided this requirement (not met)"
            ),
            "{err}"
        );
    }

    #[test]
    fn wrong_version_and_unknown_ids_are_refused() {
        let report = all_pass(ConformanceVersion::V1_36);
        let err = fill_template(ConformanceVersion::V1_35, &report, &metadata_only(ConformanceVersion::V1_35))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the template is for conformance version 1.35 but the run used the 1.36 catalogue"),
            "{err}"
        );
        // high_performance_networking is not in 1.33.
        let report = all_pass(ConformanceVersion::V1_33);
        let err = fill_template(ConformanceVersion::V1_33, &report, &example_platform_info()).unwrap_err().to_string();
        assert!(
            err.contains("names requirement 'high_performance_networking', which the 1.33 template does not have"),
            "{err}"
        );
        let mut info = metadata_only(ConformanceVersion::V1_33);
        info.metadata.kubernetes_version = Some("v1.34.1".into());
        let err = fill_template(ConformanceVersion::V1_33, &report, &info).unwrap_err().to_string();
        assert!(err.contains("metadata.kubernetesVersion 'v1.34.1' does not match the template's 1.33"), "{err}");
    }

    #[test]
    fn k8s_conformance_url_is_added_to_old_templates_and_missing_metadata_warned() {
        let version = ConformanceVersion::V1_33;
        let filled = fill_template(version, &all_pass(version), &metadata_only(version)).unwrap();
        let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
        assert!(sub.metadata_value("k8sConformanceUrl").unwrap().ends_with("/v1.33/acme-ai-platform"));
        let mut info = metadata_only(version);
        info.metadata.vendor_name = None;
        info.metadata.repo_url = None;
        let filled = fill_template(version, &all_pass(version), &info).unwrap();
        assert!(filled.warnings.iter().any(|w| w.contains("metadata.vendorName is not in the platform-info file")));
        let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
        assert_eq!(sub.metadata_value("vendorName"), Some("[Vendor Name]"));
        assert_eq!(sub.metadata_value("repoUrl"), Some(""), "optional placeholder emptied");
    }

    #[test]
    fn unusual_text_survives_the_round_trip() {
        let version = ConformanceVersion::V1_36;
        let mut info = metadata_only(version);
        info.metadata.vendor_name = Some("Société Générale: \"AI\" #1 \\ ✓".into());
        info.notes = Some("line one\n\nline: three # not a comment".into());
        let mut report = all_pass(version);
        report.requirements[0].reason = "weird: 'quotes' \"double\" \t tab\nnewline ünïcode".into();
        let filled = fill_template(version, &report, &info).unwrap();
        let sub = Submission::parse(Path::new("p.yaml"), &filled.yaml).unwrap();
        assert_eq!(sub.metadata_value("vendorName"), info.metadata.vendor_name.as_deref());
        assert_eq!(sub.vendor_notes, ["line one", "", "line: three # not a comment"]);
        assert!(filled.yaml.contains("Société"), "non-ASCII is written as is, not escaped");
        assert!(sub.sections[0].entries[0].notes.contains("ünïcode"));
    }

    #[test]
    fn refilling_keeps_a_persons_answers_and_replaces_kaics_header() {
        let version = ConformanceVersion::V1_36;
        let first =
            synthetic_report(version, |id| Some(if id == "gpu_sharing" { Outcome::Unknown } else { Outcome::Pass }));
        let filled = fill_template(version, &first, &metadata_only(version)).unwrap();
        // A person answers gpu_sharing by hand.
        let answered = filled.yaml.replacen("status: \"\"", "status: \"Implemented\"", 1);
        let path = Path::new("PRODUCT.yaml");
        let second = fill(FillInput {
            template_path: path,
            template_text: &answered,
            platform_info_path: Path::new("pi.yaml"),
            platform_info: &metadata_only(version),
            report: &first,
            artifacts: &artifacts_for(&first),
        })
        .unwrap();
        let row = second.rows.iter().find(|r| r.id == "gpu_sharing").unwrap();
        assert_eq!((row.status, row.source), (Some(Status::Implemented), Source::Kept));
        assert_eq!(second.yaml.matches(FILLED_BY).count(), 1);
        assert_eq!(second.yaml.matches(VENDOR_NOTES_MARKER).count(), 1);
        assert!(second.yaml.starts_with("# Kubernetes AI Conformance Checklist\n"));
    }

    #[test]
    fn filled_checklist_snapshot() {
        let version = ConformanceVersion::V1_33;
        let report = synthetic_report(version, |id| match id {
            "gang_scheduling" => Some(Outcome::Fail),
            "cluster_autoscaling" => Some(Outcome::NotApplicable),
            "pod_autoscaling" => Some(Outcome::Unknown),
            _ => Some(Outcome::Pass),
        });
        let mut info = example_platform_info();
        info.requirements.remove("high_performance_networking");
        let filled = fill_template(version, &report, &info).unwrap();
        insta::assert_snapshot!(filled.yaml);
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
