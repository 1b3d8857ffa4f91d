//! Validating a submission (`PRODUCT.yaml`) the way a careful reviewer would, and more strictly than the
//! program's own validator (`scripts/validate.go` in the program's repository): everything it rejects is
//! rejected here, plus what a reviewer would send back by hand.
//!
//! Every finding is a [`Problem`] with the [`Rule`] it breaks and its path in the file
//! (`spec.security[0].status`), so a person can find it and a bot can act on it. Errors make the
//! submission invalid; warnings are worth a look but do not. Files that cannot be read as a checklist at
//! all end in a [`ValidateError`] instead (exit code 2 at the command line).
//!
//! This module is offline; [`crate::online`] adds the checks that need the network.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};

use kaic_model::catalogue::{ConformanceVersion, Level};
use kaic_model::outcome::RequirementStatus;
use serde::Serialize;

use crate::checklist::{
    METADATA_FIELDS, Status, Template, TemplateError, TemplateOrigin, is_placeholder, metadata_field,
};
use crate::fill::TO_VERIFY;
use crate::run_evidence::{self, KaicRun, Reading};
use crate::source::{self, Node, SourceError};

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

macro_rules! rules {
    ($($variant:ident => $code:literal, $severity:ident, $summary:literal;)*) => {
        /// Every rule the validator checks. The code is stable (bots match on it); the summary is the
        /// one-line rule for documentation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule { $($variant),* }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            pub fn code(self) -> &'static str {
                match self { $(Rule::$variant => $code),* }
            }

            pub fn severity(self) -> Severity {
                match self { $(Rule::$variant => Severity::$severity),* }
            }

            pub fn summary(self) -> &'static str {
                match self { $(Rule::$variant => $summary),* }
            }
        }
    };
}

rules! {
    MetadataMissing => "metadata-missing", Error, "every required metadata field is present and not empty";
    MetadataType => "metadata-type", Error, "metadata values are strings (quote versions such as \"2.4\")";
    MetadataPlaceholder => "metadata-placeholder", Error, "no metadata value is a placeholder such as [Platform Name] or TODO";
    MetadataDuplicate => "metadata-duplicate", Error, "a field is not given in both its camelCase and snake_case spelling";
    MetadataSpelling => "metadata-spelling", Warning, "fields use the template's camelCase spelling";
    MetadataUnknown => "metadata-unknown", Warning, "metadata holds only the checklist's fields";
    MetadataUrl => "metadata-url", Error, "URL fields are absolute http(s) URLs";
    MetadataLogo => "metadata-logo", Error, "productLogoUrl ends in .svg, .eps or .ai";
    MetadataEmail => "metadata-email", Error, "contactEmailAddress is an email address";
    MetadataK8sConformance => "metadata-k8s-conformance", Error, "k8sConformanceUrl points at a product folder of cncf/k8s-conformance";
    MetadataK8sConformanceVersion => "metadata-k8s-conformance-version", Warning, "k8sConformanceUrl is for the same Kubernetes version";
    VersionUnknown => "version-unknown", Error, "kubernetesVersion names a conformance version kaic knows";
    VersionFolder => "version-folder", Error, "a submission under a vX.Y folder is for that version (the program picks the template by folder)";
    SpecShape => "spec-shape", Error, "spec is a mapping of sections, each a list of requirement mappings";
    RequirementMissing => "requirement-missing", Error, "every requirement of the template is present";
    RequirementAdded => "requirement-added", Error, "no requirement or section is added";
    RequirementDuplicate => "requirement-duplicate", Error, "no requirement appears twice";
    RequirementMoved => "requirement-moved", Error, "every requirement stays in its template section";
    RequirementChanged => "requirement-changed", Error, "id, description and level are exactly as in the template";
    RequirementUnknownField => "requirement-unknown-field", Warning, "requirements hold only id, description, level, status, evidence and notes";
    StatusInvalid => "status-invalid", Error, "status is one of Implemented, Partially Implemented, Not Implemented, N/A";
    MustNotImplemented => "must-not-implemented", Error, "every MUST is Implemented (the program certifies nothing less)";
    EvidenceMissing => "evidence-missing", Error, "every MUST, and every requirement claimed (Partially) Implemented, has evidence";
    EvidenceType => "evidence-type", Error, "evidence is a list of strings";
    EvidenceInvalid => "evidence-invalid", Error, "evidence entries are http(s) URLs or relative paths";
    EvidenceOutside => "evidence-outside", Error, "evidence files are inside the submission folder";
    EvidenceNotFound => "evidence-not-found", Error, "evidence files exist and can be read";
    NotesMissing => "notes-missing", Error, "N/A comes with notes that justify it";
    NotesRecommended => "notes-recommended", Warning, "Not Implemented and Partially Implemented say why in notes";
    NotesToVerify => "notes-to-verify", Warning, "kaic's TO VERIFY note is replaced once a person has decided";
    KaicUnreadable => "kaic-unreadable", Error, "kaic's results.json and junit.xml cited as evidence can be read";
    KaicVersion => "kaic-version", Error, "kaic's results are for the submission's conformance version";
    KaicNotBacked => "kaic-not-backed", Error, "a requirement marked Implemented that cites kaic's results has a passing check there";
    KaicContradiction => "kaic-contradiction", Error, "no requirement is claimed (Partially) Implemented while kaic's results show a failing check";
    KaicDisagreement => "kaic-disagreement", Warning, "a requirement kaic found met is not marked N/A or Not Implemented";
    TemplateNotGiven => "template-not-given", Warning, "descriptions are compared with the official template (pass --template or --online)";
    UrlUnreachable => "url-unreachable", Error, "links answer (HEAD, then GET) with a status below 400 (--online)";
    UrlNotChecked => "url-not-checked", Warning, "every link could be checked within the time allowed (--online)";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub rule: Rule,
    /// Where in the file, e.g. `spec.security[0].status`.
    pub path: String,
    pub message: String,
}

/// A kaic run file cited as evidence: where it was first cited, as what, and what it says.
#[derive(Debug, Clone)]
struct KaicCitation {
    at: String,
    link: String,
    run: KaicRun,
}

/// A link to check online, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub path: String,
    pub url: String,
}

/// Why a file could not be validated at all.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("failed to validate {path}: it is not a checklist: {problem}")]
    NotAChecklist { path: PathBuf, problem: String },
    #[error(
        "failed to validate {path}: it is for conformance version {submission} but the template {template} is for \
         {template_version}; pass the {submission} template"
    )]
    TemplateMismatch {
        path: PathBuf,
        submission: ConformanceVersion,
        template: String,
        template_version: ConformanceVersion,
    },
}

/// The validation of one file.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub file: PathBuf,
    /// The conformance version the file claims, if it names a known one.
    pub version: Option<ConformanceVersion>,
    /// What the requirements were compared with: a template path, or "kaic's catalogue".
    pub compared_with: String,
    pub online: bool,
    pub problems: Vec<Problem>,
    /// The links found, for the online checks.
    #[serde(skip)]
    pub links: Vec<Link>,
}

impl ValidationReport {
    pub fn errors(&self) -> usize {
        self.problems.iter().filter(|p| p.severity == Severity::Error).count()
    }

    pub fn warnings(&self) -> usize {
        self.problems.iter().filter(|p| p.severity == Severity::Warning).count()
    }

    pub fn is_valid(&self) -> bool {
        self.errors() == 0
    }

    /// Whether any problem breaks `rule`.
    pub fn breaks(&self, rule: Rule) -> bool {
        self.problems.iter().any(|p| p.rule == rule)
    }

    /// Adds a problem of `rule`'s severity.
    pub fn push(&mut self, rule: Rule, path: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem { severity: rule.severity(), rule, path: path.into(), message: message.into() });
    }

    /// The report for people: every problem with its path, then the verdict.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let version = self.version.map(|v| format!("conformance {v}")).unwrap_or_else(|| "unknown version".into());
        out.push_str(&format!(
            "{} ({version}; requirements compared with {}{})\n",
            self.file.display(),
            self.compared_with,
            if self.online { "; links checked online" } else { "" }
        ));
        for p in &self.problems {
            out.push_str(&format!("{:<8}{}: {} [{}]\n", p.severity.to_string(), p.path, p.message, p.rule));
        }
        let (errors, warnings) = (self.errors(), self.warnings());
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        if errors == 0 {
            out.push_str(&format!(
                "VALID: {} is ready for review ({}).\n",
                self.file.display(),
                plural(warnings, "warning")
            ));
        } else {
            out.push_str(&format!(
                "INVALID: {} would not be accepted ({}, {}).\n",
                self.file.display(),
                plural(errors, "error"),
                plural(warnings, "warning")
            ));
        }
        out
    }

    /// The report for bots.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.insert("valid".into(), self.is_valid().into());
            map.insert("errors".into(), self.errors().into());
            map.insert("warnings".into(), self.warnings().into());
        }
        value
    }
}

/// Validates a file offline.
///
/// # Errors
/// When the file (or the template) cannot be read, is not YAML, is not shaped like a checklist at the
/// top level, or the template is for another version.
pub fn validate_file(path: &Path, template: Option<&Template>) -> Result<ValidationReport, ValidateError> {
    let text = source::read_text(path, source::MAX_CHECKLIST_BYTES)?;
    validate_text(path, &text, template)
}

/// Validates checklist text; `path` locates the submission folder for evidence files.
///
/// # Errors
/// As [`validate_file`].
pub fn validate_text(path: &Path, text: &str, template: Option<&Template>) -> Result<ValidationReport, ValidateError> {
    let root = source::parse_yaml(path, text)?;
    let not_a_checklist = |problem: String| ValidateError::NotAChecklist { path: path.to_path_buf(), problem };
    let Node::Map(top) = &root else {
        return Err(not_a_checklist(format!("the top level is {}, not a mapping with metadata and spec", root.kind())));
    };
    if root.get("metadata").is_none() && root.get("spec").is_none() {
        let keys: Vec<&str> = top.iter().map(|(k, _)| k.as_str()).take(5).collect();
        return Err(not_a_checklist(format!("it has neither metadata nor spec (its keys: {})", keys.join(", "))));
    }
    let mut report = ValidationReport {
        file: path.to_path_buf(),
        version: None,
        compared_with: String::new(),
        online: false,
        problems: Vec::new(),
        links: Vec::new(),
    };
    let product_dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let version = check_metadata(&root, path, &mut report);
    report.version = version;

    let fallback;
    let template = match (template, version) {
        (Some(t), Some(v)) if t.version != v => {
            return Err(ValidateError::TemplateMismatch {
                path: path.to_path_buf(),
                submission: v,
                template: t.origin.to_string(),
                template_version: t.version,
            });
        }
        (Some(t), _) => Some(t),
        (None, Some(v)) => {
            fallback = Template::from_catalogue(v);
            Some(&fallback)
        }
        (None, None) => None,
    };
    report.compared_with = template.map(|t| t.origin.to_string()).unwrap_or_else(|| "nothing (unknown version)".into());
    let entries = check_spec(&root, template, &mut report);
    let mut kaic_runs: HashMap<PathBuf, Option<KaicCitation>> = HashMap::new();
    for entry in &entries {
        check_entry(entry, template, &product_dir, &mut report, &mut kaic_runs);
    }
    check_against_kaic(&entries, version, template, &product_dir, &kaic_runs, &mut report);
    if let Some(t) = template
        && t.origin == TemplateOrigin::Catalogue
    {
        report.push(
            Rule::TemplateNotGiven,
            "spec",
            "descriptions were not compared with the official text: pass --template AIConformance-<version>.yaml or \
             --online",
        );
    }
    Ok(report)
}

fn check_metadata(root: &Node, path: &Path, report: &mut ValidationReport) -> Option<ConformanceVersion> {
    let Some(metadata) = root.get("metadata") else {
        report.push(Rule::MetadataMissing, "metadata", "the metadata section is missing");
        return None;
    };
    let Some(entries) = metadata.as_map() else {
        report.push(Rule::MetadataMissing, "metadata", format!("metadata is {}, not a mapping", metadata.kind()));
        return None;
    };
    for (key, _) in entries {
        match metadata_field(key) {
            None => report.push(
                Rule::MetadataUnknown,
                format!("metadata.{key}"),
                format!("'{key}' is not a checklist metadata field; reviewers may ask you to remove it"),
            ),
            Some(field) if field.key != key.as_str() => report.push(
                Rule::MetadataSpelling,
                format!("metadata.{key}"),
                format!("the template spells it '{}'", field.key),
            ),
            Some(_) => {}
        }
    }
    let mut version = None;
    for field in METADATA_FIELDS {
        let given: Vec<&(String, Node)> =
            entries.iter().filter(|(k, _)| k == field.key || (k == field.snake && field.snake != field.key)).collect();
        if given.len() > 1 {
            report.push(
                Rule::MetadataDuplicate,
                format!("metadata.{}", field.key),
                format!("given twice, as '{}' and '{}'", field.key, field.snake),
            );
        }
        let at = |k: &str| format!("metadata.{k}");
        let Some((key, value)) = given.first().map(|(k, v)| (k.as_str(), v)) else {
            if field.required {
                report.push(Rule::MetadataMissing, at(field.key), format!("{} is missing", field.key));
            }
            continue;
        };
        let text = match value {
            Node::Str(s) => s.trim(),
            Node::Null => "",
            other => {
                report.push(Rule::MetadataType, at(key), format!("{key} is {}, not a string: quote it", other.kind()));
                continue;
            }
        };
        if text.is_empty() {
            if field.required {
                report.push(Rule::MetadataMissing, at(key), format!("{key} is empty"));
            }
            continue;
        }
        if is_placeholder(text) {
            report.push(Rule::MetadataPlaceholder, at(key), format!("{key} is still a placeholder: '{text}'"));
            continue;
        }
        if field.url {
            match http_url(text) {
                Err(why) => {
                    report.push(Rule::MetadataUrl, at(key), format!("{key} '{text}' {why}"));
                    continue;
                }
                Ok(()) => report.links.push(Link { path: at(key), url: text.to_string() }),
            }
        }
        match field.key {
            "kubernetesVersion" => match text.parse::<ConformanceVersion>() {
                Ok(v) => version = Some(v),
                Err(e) => report.push(Rule::VersionUnknown, at(key), e.to_string()),
            },
            "productLogoUrl" => {
                // The program's validator checks the end of the whole string, so a query such as
                // `?raw=true` fails there too.
                let lower = text.to_ascii_lowercase();
                if ![".svg", ".eps", ".ai"].iter().any(|ext| lower.ends_with(ext)) {
                    report.push(
                        Rule::MetadataLogo,
                        at(key),
                        format!("productLogoUrl must end in .svg, .eps or .ai (not a PNG): '{text}'"),
                    );
                }
            }
            "contactEmailAddress" if !looks_like_email(text) => {
                report.push(Rule::MetadataEmail, at(key), format!("'{text}' is not an email address"));
            }
            "k8sConformanceUrl" => match k8s_conformance_version(text) {
                None => report.push(
                    Rule::MetadataK8sConformance,
                    at(key),
                    format!(
                        "'{text}' is not of the form https://github.com/cncf/k8s-conformance/tree/master/vX.Y/<product>"
                    ),
                ),
                Some(minor) => {
                    if let Some(v) = entries
                        .iter()
                        .find(|(k, _)| k == "kubernetesVersion" || k == "kubernetes_version")
                        .and_then(|(_, v)| v.as_str())
                        .and_then(|v| v.parse::<ConformanceVersion>().ok())
                        && v.minor() != minor
                    {
                        report.push(
                            Rule::MetadataK8sConformanceVersion,
                            at(key),
                            format!("it points at the v1.{minor} Kubernetes conformance submission, not v{v}"),
                        );
                    }
                }
            },
            _ => {}
        }
    }
    // The program's validator picks the template from the folder (v1.36/<product>/PRODUCT.yaml).
    if let Some(v) = version
        && let Some(folder) =
            path.components().filter_map(|c| c.as_os_str().to_str()).filter_map(folder_minor).next_back()
        && folder != v.minor()
    {
        report.push(
            Rule::VersionFolder,
            "metadata.kubernetesVersion",
            format!(
                "the file says {v} but sits in a v1.{folder} folder, whose template the program will check it against"
            ),
        );
    }
    version
}

/// The minor of a `v1.xx` folder name.
fn folder_minor(name: &str) -> Option<u32> {
    let (major, minor) = name.strip_prefix('v')?.split_once('.')?;
    (major == "1").then(|| minor.parse().ok()).flatten()
}

/// Ok when `text` is an absolute http(s) URL with a host; otherwise why not.
fn http_url(text: &str) -> Result<(), String> {
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(url) => Err(format!("is a {} URL; only http(s) links can be followed by reviewers", url.scheme())),
        Err(e) => Err(format!("is not a URL ({e})")),
    }
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | ',' | ';'))
}

/// The Kubernetes minor of a `https://github.com/cncf/k8s-conformance/tree/(master|main)/vX.Y/<product>`
/// URL, or `None` if it is not of that form.
fn k8s_conformance_version(url: &str) -> Option<u32> {
    let rest = url.strip_prefix("https://github.com/cncf/k8s-conformance/tree/")?;
    let rest = rest.strip_prefix("master/").or_else(|| rest.strip_prefix("main/"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (version, product) = rest.split_once('/')?;
    if product.is_empty() || product.contains('/') {
        return None;
    }
    let (major, minor) = version.strip_prefix('v')?.split_once('.')?;
    if major.is_empty()
        || !major.chars().all(|c| c.is_ascii_digit())
        || minor.is_empty()
        || !minor.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    minor.parse().ok()
}

/// One requirement of the submission, with where it is.
struct SpecEntry<'a> {
    path: String,
    section: String,
    node: &'a Node,
    id: Option<String>,
}

fn check_spec<'a>(root: &'a Node, template: Option<&Template>, report: &mut ValidationReport) -> Vec<SpecEntry<'a>> {
    let Some(spec) = root.get("spec") else {
        report.push(Rule::SpecShape, "spec", "the spec section is missing");
        return Vec::new();
    };
    let Some(sections) = spec.as_map() else {
        report.push(Rule::SpecShape, "spec", format!("spec is {}, not a mapping of sections", spec.kind()));
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (section, items) in sections {
        let known_section = template.is_none_or(|t| t.sections.contains(section));
        if !known_section {
            report.push(
                Rule::RequirementAdded,
                format!("spec.{section}"),
                format!("the template has no section '{section}'"),
            );
        }
        let items = match items {
            Node::Seq(items) => items.as_slice(),
            // An empty section written as `section:` is still a section without requirements.
            Node::Null => &[],
            other => {
                report.push(
                    Rule::SpecShape,
                    format!("spec.{section}"),
                    format!("spec.{section} is {}, not a list", other.kind()),
                );
                continue;
            }
        };
        for (i, node) in items.iter().enumerate() {
            let path = format!("spec.{section}[{i}]");
            if node.as_map().is_none() {
                report.push(Rule::SpecShape, path, format!("a requirement is a mapping, this is {}", node.kind()));
                continue;
            }
            let id = match node.get("id") {
                Some(Node::Str(id)) if !id.trim().is_empty() => Some(id.clone()),
                _ => {
                    report.push(Rule::RequirementChanged, format!("{path}.id"), "the id is missing or not a string");
                    None
                }
            };
            entries.push(SpecEntry { path, section: section.clone(), node, id });
        }
    }
    // Missing, added, duplicated and moved requirements.
    let mut seen: BTreeMap<&str, &SpecEntry> = BTreeMap::new();
    for entry in &entries {
        let Some(id) = entry.id.as_deref() else { continue };
        if let Some(first) = seen.get(id) {
            report.push(
                Rule::RequirementDuplicate,
                format!("{}.id", entry.path),
                format!("'{id}' already appears at {}", first.path),
            );
            continue;
        }
        seen.insert(id, entry);
        let Some(template) = template else { continue };
        match template.requirement(id) {
            None => report.push(
                Rule::RequirementAdded,
                format!("{}.id", entry.path),
                format!("the {} template has no requirement '{id}'", template.version),
            ),
            Some(expected) if expected.section != entry.section => report.push(
                Rule::RequirementMoved,
                format!("{}.id", entry.path),
                format!("'{id}' belongs under spec.{}", expected.section),
            ),
            Some(_) => {}
        }
    }
    if let Some(template) = template {
        for expected in &template.requirements {
            if !seen.contains_key(expected.id.as_str()) {
                report.push(
                    Rule::RequirementMissing,
                    format!("spec.{}", expected.section),
                    format!("requirement '{}' ({}) is missing", expected.id, expected.level),
                );
            }
        }
    }
    entries
}

/// The level of an entry as the template states it (the submission's own may have been changed).
fn level_of(entry: &SpecEntry, template: Option<&Template>) -> Option<Level> {
    let id = entry.id.as_deref()?;
    if let Some(t) = template {
        return t.requirement(id).map(|r| r.level);
    }
    match entry.node.get("level").and_then(Node::as_str) {
        Some("MUST") => Some(Level::Must),
        Some("SHOULD") => Some(Level::Should),
        _ => None,
    }
}

fn check_entry(
    entry: &SpecEntry,
    template: Option<&Template>,
    product_dir: &Path,
    report: &mut ValidationReport,
    kaic_runs: &mut HashMap<PathBuf, Option<KaicCitation>>,
) {
    let node = entry.node;
    let path = &entry.path;
    // Unchanged id, description and level.
    let expected = entry.id.as_deref().and_then(|id| template.and_then(|t| t.requirement(id)));
    for (key, _) in node.as_map().unwrap_or_default() {
        if !["id", "description", "level", "status", "evidence", "notes"].contains(&key.as_str()) {
            report.push(
                Rule::RequirementUnknownField,
                format!("{path}.{key}"),
                format!("'{key}' is not a checklist field; reviewers may ask you to remove it"),
            );
        }
    }
    match (node.get("description"), expected.and_then(|e| e.description.as_deref())) {
        (Some(Node::Str(given)), Some(official)) if given != official => report.push(
            Rule::RequirementChanged,
            format!("{path}.description"),
            format!("the description differs from the template{}", first_difference(given, official)),
        ),
        (Some(Node::Str(_)), _) => {}
        (_, _) => report.push(
            Rule::RequirementChanged,
            format!("{path}.description"),
            "the description is missing or not a string",
        ),
    }
    let given_level = node.get("level").and_then(Node::as_str);
    match (given_level, expected.map(|e| e.level)) {
        (Some(given), Some(level)) if given != level.to_string() => report.push(
            Rule::RequirementChanged,
            format!("{path}.level"),
            format!("the level is '{given}' but the template says {level}"),
        ),
        (Some("MUST" | "SHOULD"), _) => {}
        (Some(given), None) => report.push(
            Rule::RequirementChanged,
            format!("{path}.level"),
            format!("the level '{given}' is neither MUST nor SHOULD"),
        ),
        (Some(_), Some(_)) => {}
        (None, _) => {
            report.push(Rule::RequirementChanged, format!("{path}.level"), "the level is missing or not a string")
        }
    }

    // Status.
    let status = match node.get("status") {
        Some(Node::Str(s)) => match Status::parse(s) {
            Some(status) => Some(status),
            None => {
                let hint = if s.trim().is_empty() {
                    "status is empty".to_string()
                } else if let Some(close) = Status::ALL.iter().find(|st| st.as_str().eq_ignore_ascii_case(s.trim())) {
                    format!("status '{s}' must be spelt exactly '{close}'")
                } else {
                    format!("status '{s}' is not allowed")
                };
                report.push(
                    Rule::StatusInvalid,
                    format!("{path}.status"),
                    format!("{hint}: use one of {}", Status::allowed_list()),
                );
                None
            }
        },
        None | Some(Node::Null) => {
            report.push(
                Rule::StatusInvalid,
                format!("{path}.status"),
                format!("status is missing: use one of {}", Status::allowed_list()),
            );
            None
        }
        Some(other) => {
            report.push(
                Rule::StatusInvalid,
                format!("{path}.status"),
                format!("status is {}, not one of {}", other.kind(), Status::allowed_list()),
            );
            None
        }
    };
    let level = level_of(entry, template);
    if level == Some(Level::Must)
        && let Some(status) = status
        && status != Status::Implemented
    {
        let condition = expected
            .and_then(|e| e.condition)
            .map(|c| format!(" (kaic reads it as applying if {c}; the program's validator still demands Implemented)"))
            .unwrap_or_default();
        report.push(
            Rule::MustNotImplemented,
            format!("{path}.status"),
            format!("a MUST marked '{status}': the program accepts only 'Implemented' for a MUST{condition}"),
        );
    }

    // Evidence.
    let evidence: Vec<(String, String)> = match node.get("evidence") {
        None | Some(Node::Null) => Vec::new(),
        Some(Node::Seq(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Node::Str(s) => Some((format!("{path}.evidence[{i}]"), s.clone())),
                other => {
                    report.push(
                        Rule::EvidenceType,
                        format!("{path}.evidence[{i}]"),
                        format!("an evidence entry is {}, not a string", other.kind()),
                    );
                    None
                }
            })
            .collect(),
        Some(other) => {
            report.push(
                Rule::EvidenceType,
                format!("{path}.evidence"),
                format!("evidence is {}, not a list: write it as a list of links", other.kind()),
            );
            Vec::new()
        }
    };
    let claims = matches!(status, Some(Status::Implemented | Status::PartiallyImplemented));
    if evidence.is_empty()
        && !report.breaks_at(Rule::EvidenceType, &format!("{path}."))
        && (claims || level == Some(Level::Must))
    {
        let why = if claims {
            format!("it is marked '{}'", status.map(Status::as_str).unwrap_or_default())
        } else {
            "it is a MUST".into()
        };
        report.push(Rule::EvidenceMissing, format!("{path}.evidence"), format!("no evidence although {why}"));
    }
    for (at, link) in &evidence {
        check_evidence_entry(at, link, product_dir, report, kaic_runs);
    }

    // Notes.
    let notes = node.get("notes").and_then(Node::scalar_text).unwrap_or_default();
    match status {
        Some(Status::NotApplicable) if notes.trim().is_empty() => report.push(
            Rule::NotesMissing,
            format!("{path}.notes"),
            "N/A needs notes that say why the requirement does not apply",
        ),
        Some(s @ (Status::NotImplemented | Status::PartiallyImplemented)) if notes.trim().is_empty() => report.push(
            Rule::NotesRecommended,
            format!("{path}.notes"),
            format!("'{s}' without notes: say what is missing and when it is planned"),
        ),
        Some(_) if notes.contains(TO_VERIFY) => report.push(
            Rule::NotesToVerify,
            format!("{path}.notes"),
            "the status is set but kaic's TO VERIFY note is still there: replace it with what was verified",
        ),
        _ => {}
    }
}

impl ValidationReport {
    fn breaks_at(&self, rule: Rule, prefix: &str) -> bool {
        self.problems.iter().any(|p| p.rule == rule && p.path.starts_with(prefix))
    }
}

/// Where two texts first differ, for a description that was edited.
fn first_difference(given: &str, official: &str) -> String {
    let at = given.chars().zip(official.chars()).take_while(|(a, b)| a == b).count();
    let snippet = |s: &str| s.chars().skip(at.saturating_sub(10)).take(30).collect::<String>();
    format!(" from character {}: '…{}…' instead of '…{}…'", at + 1, snippet(given), snippet(official))
}

/// What an evidence entry refers to.
enum EvidenceRef {
    Url(String),
    File(PathBuf),
}

/// Classifies an entry: an http(s) URL, a file in the submission (relative path, optionally with a
/// `#fragment`, or a `file://` path relative to the program repository's root), or an error message.
fn classify(link: &str, product_dir: &Path) -> Result<EvidenceRef, (Rule, String)> {
    let link = link.trim();
    if link.is_empty() {
        return Err((Rule::EvidenceInvalid, "the entry is empty".into()));
    }
    if let Some(rest) = link.strip_prefix("file://") {
        // The program's instructions show `file://v1.37/<product>/junit.xml#Test…`: a path from the root
        // of its repository. Look for it from the submission folder up.
        let rel = rest.split('#').next().unwrap_or_default();
        let rel = relative_inside(rel).map_err(|why| (why.0, format!("'{link}' {}", why.1)))?;
        let found = product_dir.ancestors().take(4).map(|dir| dir.join(&rel)).find(|p| p.exists());
        return match found {
            Some(p) => Ok(EvidenceRef::File(p)),
            None => Err((
                Rule::EvidenceNotFound,
                format!("'{link}' is not found from the submission folder or its parents"),
            )),
        };
    }
    if link.contains("://") || link.starts_with("http:") || link.starts_with("https:") {
        return match http_url(link) {
            Ok(()) => Ok(EvidenceRef::Url(link.to_string())),
            Err(why) => Err((Rule::EvidenceInvalid, format!("'{link}' {why}"))),
        };
    }
    let rel = link.split('#').next().unwrap_or_default();
    let rel = relative_inside(rel).map_err(|why| (why.0, format!("'{link}' {}", why.1)))?;
    Ok(EvidenceRef::File(product_dir.join(rel)))
}

/// A relative path that stays inside its base folder, or why it is not one.
fn relative_inside(rel: &str) -> Result<PathBuf, (Rule, String)> {
    if rel.contains('\\') {
        return Err((Rule::EvidenceInvalid, "uses backslashes: write paths with /".into()));
    }
    let is_windows_absolute = rel.len() >= 2 && rel.as_bytes()[1] == b':';
    if rel.starts_with('/') || is_windows_absolute {
        return Err((
            Rule::EvidenceInvalid,
            "is an absolute path: reviewers only see the submission folder; use a path relative to PRODUCT.yaml".into(),
        ));
    }
    let mut depth: i32 = 0;
    for component in Path::new(rel).components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err((
                Rule::EvidenceOutside,
                "points outside the submission folder, which reviewers do not see".into(),
            ));
        }
    }
    if depth == 0 {
        return Err((
            Rule::EvidenceInvalid,
            "names no file (use https URLs or paths of files in the submission folder)".into(),
        ));
    }
    Ok(PathBuf::from(rel))
}

fn check_evidence_entry(
    at: &str,
    link: &str,
    product_dir: &Path,
    report: &mut ValidationReport,
    kaic_runs: &mut HashMap<PathBuf, Option<KaicCitation>>,
) {
    match classify(link, product_dir) {
        Err((rule, message)) => report.push(rule, at, message),
        Ok(EvidenceRef::Url(url)) => report.links.push(Link { path: at.to_string(), url }),
        Ok(EvidenceRef::File(file)) => {
            // Opening proves it can be read, not just that it is listed in its folder.
            let readable = match fs::metadata(&file) {
                Ok(meta) if meta.is_dir() => fs::read_dir(&file).map(|_| ()),
                Ok(_) => fs::File::open(&file).map(|_| ()),
                Err(e) => Err(e),
            };
            match readable {
                Ok(()) => {
                    if !kaic_runs.contains_key(&file) {
                        let reading = match run_evidence::read(&file) {
                            Reading::Kaic(run) => {
                                Some(KaicCitation { at: at.to_string(), link: link.to_string(), run })
                            }
                            Reading::Foreign => None,
                            Reading::Broken(why) => {
                                report.push(
                                    Rule::KaicUnreadable,
                                    at,
                                    format!("'{link}' looks like kaic's but cannot be read: {why}"),
                                );
                                None
                            }
                        };
                        kaic_runs.insert(file.clone(), reading);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.push(
                    Rule::EvidenceNotFound,
                    at,
                    format!("'{link}' does not exist in the submission folder ({})", file.display()),
                ),
                Err(e) => report.push(Rule::EvidenceNotFound, at, format!("'{link}' cannot be read: {e}")),
            }
        }
    }
}

fn check_against_kaic(
    entries: &[SpecEntry],
    version: Option<ConformanceVersion>,
    template: Option<&Template>,
    product_dir: &Path,
    kaic_runs: &HashMap<PathBuf, Option<KaicCitation>>,
    report: &mut ValidationReport,
) {
    let mut runs: Vec<(&PathBuf, &KaicCitation)> =
        kaic_runs.iter().filter_map(|(p, c)| c.as_ref().map(|c| (p, c))).collect();
    if runs.is_empty() {
        return;
    }
    runs.sort_by(|a, b| a.1.at.cmp(&b.1.at));
    for (_, KaicCitation { at, run, .. }) in &runs {
        if let (Some(ours), Some(theirs)) = (version, run.version)
            && ours != theirs
        {
            report.push(
                Rule::KaicVersion,
                at.as_str(),
                format!("kaic's {} is for conformance {theirs}, the submission for {ours}", run.kind),
            );
        }
    }
    for entry in entries {
        let (Some(id), Some(status)) =
            (entry.id.as_deref(), entry.node.get("status").and_then(Node::as_str).and_then(Status::parse))
        else {
            continue;
        };
        // An added requirement is reported as such; kaic has nothing to say about it.
        if template.is_some_and(|t| t.requirement(id).is_none()) {
            continue;
        }
        // The kaic files this requirement cites itself.
        let cited: Vec<&PathBuf> = match entry.node.get("evidence") {
            Some(Node::Seq(items)) => items
                .iter()
                .filter_map(Node::as_str)
                .filter_map(|l| classify(l, product_dir).ok())
                .filter_map(|r| match r {
                    EvidenceRef::File(p) => Some(p),
                    EvidenceRef::Url(_) => None,
                })
                .filter_map(|p| runs.iter().find(|(rp, _)| **rp == p).map(|(rp, _)| *rp))
                .collect(),
            _ => Vec::new(),
        };
        for (file, KaicCitation { link, run, .. }) in &runs {
            let verdict = run.requirements.get(id);
            let says = match verdict {
                Some(v) => format!("says '{}', not met: {}", v.status.label(), v.reason),
                None => "has no entry for it".to_string(),
            };
            let failed = verdict.is_some_and(|v| v.status == RequirementStatus::NotMet);
            let status_path = format!("{}.status", entry.path);
            if matches!(status, Status::Implemented | Status::PartiallyImplemented) && failed {
                report.push(
                    Rule::KaicContradiction,
                    status_path.clone(),
                    format!(
                        "marked '{status}' but kaic's {} '{link}' shows a failing check: {}",
                        run.kind,
                        verdict.map(|v| v.reason.as_str()).unwrap_or_default()
                    ),
                );
            } else if status == Status::Implemented
                && cited.contains(file)
                && verdict.is_none_or(|v| v.status != RequirementStatus::Met)
            {
                report.push(
                    Rule::KaicNotBacked,
                    status_path.clone(),
                    format!("marked 'Implemented' and cites kaic's {} '{link}', which {says}", run.kind),
                );
            } else if matches!(status, Status::NotApplicable | Status::NotImplemented)
                && verdict.is_some_and(|v| v.status == RequirementStatus::Met)
            {
                report.push(
                    Rule::KaicDisagreement,
                    status_path.clone(),
                    format!("marked '{status}' but kaic's {} '{link}' found it met", run.kind),
                );
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
