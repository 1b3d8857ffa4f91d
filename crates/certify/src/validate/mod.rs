//! Validating a submission (`PRODUCT.yaml`) the way a careful reviewer would: everything the program
//! rejects (its validator, `scripts/validate.go` in the program's repository, and what its instructions
//! state explicitly) is rejected here, and kaic adds a few stricter rules of its own where a reviewer
//! would send a file back. Each rule says which of the two it is ([`Basis`]), so a report never claims
//! the program would reject what only kaic does.
//!
//! Every finding is a [`Problem`] with the [`Rule`] it breaks and its path in the file, naming the
//! requirement (`spec.accelerators[2] (gpu_sharing).status`), so a person can find it and a bot can act
//! on it. Errors make the submission invalid; warnings are worth a look but do not. Files that cannot be
//! read as a checklist at all end in a [`ValidateError`] instead (exit code 2 at the command line).
//!
//! The checks are split by concern: [`metadata`] (the metadata block), [`spec`] (the requirements and
//! their answers), [`paths`] (what an evidence entry points at), [`artifacts`] (test files cited as
//! evidence, parsed as the program parses them) and [`kaic`] (holding answers to kaic's own results
//! cited as evidence). The program's rules that are data (which MUSTs may be N/A, which requirement
//! maps to which upstream test) are tables in [`policy`]. This module is offline; [`crate::online`]
//! adds the checks that need the network.

pub mod artifacts;
mod kaic;
mod metadata;
mod paths;
pub mod policy;
mod spec;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use artifacts::TestResults;
use policy::Policy;

use kaic_model::catalogue::ConformanceVersion;
use serde::Serialize;

use crate::checklist::{Template, TemplateError, TemplateOrigin};
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

/// Whose rule a problem breaks: the program's (its validator or an explicit instruction), or kaic's own
/// stricter one. The verdict says which, so kaic never claims the program rejects what only kaic does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// The program's validator rejects it, or its instructions say so explicitly.
    Program,
    /// kaic's own rule: what a careful reviewer would send back, or what kaic's results contradict.
    Kaic,
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Program => "program",
            Self::Kaic => "kaic",
        })
    }
}

macro_rules! rules {
    ($($variant:ident => $code:literal, $severity:ident, $basis:ident, $summary:literal;)*) => {
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

            /// Whose rule it is, for problems of this rule unless one says otherwise (a placeholder the
            /// program's validator does not recognise is kaic's finding, for instance).
            pub fn basis(self) -> Basis {
                match self { $(Rule::$variant => Basis::$basis),* }
            }

            pub fn summary(self) -> &'static str {
                match self { $(Rule::$variant => $summary),* }
            }
        }
    };
}

rules! {
    MetadataMissing => "metadata-missing", Error, Program, "every required metadata field is present and not empty";
    MetadataType => "metadata-type", Error, Program, "metadata values are strings (quote versions such as \"2.4\")";
    MetadataPlaceholder => "metadata-placeholder", Error, Program, "no metadata value is a placeholder such as [Platform Name] or TODO (N/A, none or - leave an optional field unset)";
    MetadataDuplicate => "metadata-duplicate", Error, Kaic, "a field is not given in both its camelCase and snake_case spelling";
    MetadataSpelling => "metadata-spelling", Warning, Kaic, "fields use the template's camelCase spelling";
    MetadataUnknown => "metadata-unknown", Warning, Kaic, "metadata holds only the checklist's fields";
    MetadataUrl => "metadata-url", Error, Kaic, "URL fields are absolute http(s) URLs";
    MetadataLogo => "metadata-logo", Error, Program, "productLogoUrl ends in .svg, .eps or .ai (the program's instructions: not a PNG)";
    MetadataEmail => "metadata-email", Error, Kaic, "contactEmailAddress is an email address";
    MetadataK8sConformance => "metadata-k8s-conformance", Error, Program, "k8sConformanceUrl points at a product folder of cncf/k8s-conformance";
    MetadataK8sConformanceVersion => "metadata-k8s-conformance-version", Warning, Kaic, "k8sConformanceUrl is for the same Kubernetes version";
    VersionUnknown => "version-unknown", Error, Kaic, "kubernetesVersion names a conformance version kaic knows";
    VersionFolder => "version-folder", Error, Program, "a submission under a vX.Y folder is for that version (the program picks the template by folder)";
    SpecShape => "spec-shape", Error, Program, "spec is a mapping of sections, each a list of requirement mappings";
    RequirementMissing => "requirement-missing", Error, Program, "every requirement of the template is present";
    RequirementAdded => "requirement-added", Error, Program, "no requirement or section is added (the program's instructions: no changes to the spec)";
    RequirementDuplicate => "requirement-duplicate", Error, Program, "no requirement appears twice (the program's instructions: no changes to the spec)";
    RequirementMoved => "requirement-moved", Error, Program, "every requirement stays in its template section";
    RequirementChanged => "requirement-changed", Error, Program, "id, description and level are as in the template (the program's instructions), trailing whitespace aside";
    RequirementUnknownField => "requirement-unknown-field", Warning, Kaic, "requirements hold only id, description, level, status, evidence and notes";
    StatusInvalid => "status-invalid", Error, Program, "status is one of Implemented, Partially Implemented, Not Implemented, N/A (a SHOULD may be left blank, without evidence)";
    MustNotImplemented => "must-not-implemented", Error, Program, "every MUST is Implemented (the program certifies nothing less), unless the program's table lets it be N/A";
    MustNotApplicable => "must-not-applicable", Warning, Program, "a MUST the program's table lets be N/A is N/A only with notes, which reviewers check";
    EvidenceMissing => "evidence-missing", Error, Program, "every MUST has evidence (the program's instructions: status, evidence and notes are filled for a MUST)";
    EvidenceRecommended => "evidence-recommended", Warning, Kaic, "a SHOULD claimed (Partially) Implemented has evidence";
    EvidenceEmpty => "evidence-empty", Warning, Kaic, "evidence holds no empty entries (the program's validator skips them)";
    EvidenceType => "evidence-type", Error, Program, "evidence is a list of strings";
    EvidenceInvalid => "evidence-invalid", Error, Kaic, "evidence entries are http(s) URLs or relative paths";
    EvidenceOutside => "evidence-outside", Error, Program, "evidence paths do not leave the folder of PRODUCT.yaml (the program resolves them there only)";
    EvidenceOtherProduct => "evidence-other-product", Error, Program, "a path that starts with vX.Y/<dir>/ names the submission's own folder, not another product's or version's";
    EvidenceNoFile => "evidence-no-file", Error, Program, "a local evidence entry names a file or folder in the submission folder (not an empty path or the folder itself)";
    EvidenceNotFound => "evidence-not-found", Error, Program, "evidence files exist and can be read";
    ArtifactUnreadable => "artifact-unreadable", Error, Program, "a cited junit.xml, results.json (go test -json) or e2e.log (go test -v) parses as such and records tests, whatever folder it is in";
    ArtifactFailing => "artifact-failing", Error, Program, "a cited junit.xml, results.json or e2e.log holds no failing test anywhere in it, whichever requirement cites it";
    ArtifactTestMissing => "artifact-test-missing", Error, Program, "the test an entry names with #fragment (without one: the upstream test the program maps the requirement to) is in the cited file, or its subtests are";
    ArtifactTestFailed => "artifact-test-failed", Error, Program, "the test an entry names did not fail";
    ArtifactTestSkipped => "artifact-test-skipped", Error, Program, "the test an entry names was not skipped where the requirement is Implemented";
    ArtifactsRecommended => "artifacts-recommended", Warning, Program, "from 1.37, a requirement with an automated test (the program's three mapped ones; kaic's rule: one kaic's cited results show met) that is Implemented cites junit.xml, results.json or e2e.log";
    NotesMissing => "notes-missing", Error, Program, "N/A comes with notes that justify it";
    NotesRecommended => "notes-recommended", Warning, Kaic, "Not Implemented and Partially Implemented say why in notes";
    NotesToVerify => "notes-to-verify", Warning, Kaic, "kaic's TO VERIFY note is replaced once a person has decided";
    KaicUnreadable => "kaic-unreadable", Error, Kaic, "kaic's report (kaic-results.json) and junit.xml cited as evidence can be read";
    KaicVersion => "kaic-version", Error, Kaic, "kaic's results are for the submission's conformance version";
    KaicInterrupted => "kaic-interrupted", Error, Kaic, "kaic's results cited as evidence come from a run that was not interrupted";
    KaicNotRun => "kaic-not-run", Error, Kaic, "no MUST is marked Implemented while kaic's cited results show its check left out (--skip, --focus) or ended in error";
    KaicNotBacked => "kaic-not-backed", Error, Kaic, "a requirement marked Implemented that cites kaic's results has a passing check there";
    KaicContradiction => "kaic-contradiction", Error, Kaic, "no requirement is claimed (Partially) Implemented while kaic's results show a failing check";
    KaicDisagreement => "kaic-disagreement", Warning, Kaic, "a requirement kaic found met is not marked N/A or Not Implemented";
    TemplateNotGiven => "template-not-given", Warning, Kaic, "descriptions are compared with the official template (pass --template or --online)";
    UrlUnreachable => "url-unreachable", Error, Program, "links answer (HEAD, then GET) with a status below 400 (--online)";
    UrlNotChecked => "url-not-checked", Warning, Kaic, "every link could be checked within the time allowed (--online)";
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
    /// Whose rule it is.
    pub basis: Basis,
    /// Where in the file, naming the requirement, e.g. `spec.security[0] (secure_accelerator_access).status`.
    pub path: String,
    /// One line: newlines of quoted text are written as `\n`.
    pub message: String,
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

    /// Adds a problem of `rule`'s severity and basis.
    pub fn push(&mut self, rule: Rule, path: impl Into<String>, message: impl Into<String>) {
        self.push_as(rule, rule.basis(), path, message);
    }

    /// Adds a problem whose basis differs from its rule's.
    pub fn push_as(&mut self, rule: Rule, basis: Basis, path: impl Into<String>, message: impl Into<String>) {
        // Quoted values and kaic's reasons may hold newlines: escape them so that every problem stays one
        // line in the text report and a log.
        let one_line = |text: String| text.replace('\r', "\\r").replace('\n', "\\n");
        self.problems.push(Problem {
            severity: rule.severity(),
            rule,
            basis,
            path: one_line(path.into()),
            message: one_line(message.into()),
        });
    }

    /// Whether a problem of `rule` is already reported at a path starting with `prefix`.
    fn breaks_at(&self, rule: Rule, prefix: &str) -> bool {
        self.problems.iter().any(|p| p.rule == rule && p.path.starts_with(prefix))
    }

    /// Errors by whose rule they break: (the program's, kaic's own).
    fn errors_by_basis(&self) -> (usize, usize) {
        let errors = self.problems.iter().filter(|p| p.severity == Severity::Error);
        let program = errors.clone().filter(|p| p.basis == Basis::Program).count();
        (program, self.errors() - program)
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
            let basis = match p.basis {
                Basis::Program => String::new(),
                Basis::Kaic => ", kaic's own rule".to_string(),
            };
            out.push_str(&format!("{:<8}{}: {} [{}{basis}]\n", p.severity.to_string(), p.path, p.message, p.rule));
        }
        let file = self.file.display();
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let warnings = plural(self.warnings(), "warning");
        // Say "would not be accepted" only when a rule of the program's is broken: kaic's own stricter
        // rules are kaic's view of what a reviewer sends back, not the program's.
        out.push_str(&match self.errors_by_basis() {
            (0, 0) => format!("VALID: {file} is ready for review ({warnings}).\n"),
            (0, kaic) => format!(
                "INVALID by kaic's own stricter rules: {file} breaks none of the program's rules that kaic checks, \
                 but has {} against kaic's own, which a careful reviewer would send back ({warnings}).\n",
                plural(kaic, "error")
            ),
            (program, 0) => format!(
                "INVALID: {file} would not be accepted: {} against the program's rules ({warnings}).\n",
                plural(program, "error")
            ),
            (program, kaic) => format!(
                "INVALID: {file} would not be accepted: {} against the program's rules, and {} against kaic's own \
                 stricter rules ({warnings}).\n",
                plural(program, "error"),
                plural(kaic, "error")
            ),
        });
        out
    }

    /// The report for bots.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.insert("valid".into(), self.is_valid().into());
            map.insert("errors".into(), self.errors().into());
            map.insert("warnings".into(), self.warnings().into());
            let (program, kaic) = self.errors_by_basis();
            map.insert("program_errors".into(), program.into());
            map.insert("kaic_errors".into(), kaic.into());
        }
        value
    }
}

/// What the checks of one submission share: the program's rules, the submission's version and folder,
/// and the cited files read so far (each is read once).
struct Context {
    policy: Policy,
    version: Option<ConformanceVersion>,
    product_dir: PathBuf,
    kaic_runs: HashMap<PathBuf, Option<kaic::Citation>>,
    /// Cited test artifacts: what they record, or `None` when they could not be read.
    artifacts: HashMap<PathBuf, Option<TestResults>>,
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
    validate_with_policy(path, text, template, Policy::PROGRAM)
}

/// Validates checklist text under `policy`: [`Policy::PROGRAM`], or another revision of the program's
/// rules (a pending change, in tests).
///
/// # Errors
/// As [`validate_file`].
pub fn validate_with_policy(
    path: &Path,
    text: &str,
    template: Option<&Template>,
    policy: Policy,
) -> Result<ValidationReport, ValidateError> {
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
    let version = metadata::check(&root, path, &mut report);
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
    let entries = spec::check_shape(&root, template, &mut report);
    let mut context = Context { policy, version, product_dir, kaic_runs: HashMap::new(), artifacts: HashMap::new() };
    for entry in &entries {
        spec::check_entry(entry, template, &mut context, &mut report);
    }
    kaic::check(&entries, version, template, &context.product_dir, &context.kaic_runs, &mut report);
    artifacts::rules::check_recommended(&entries, template, &context, &mut report);
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

#[cfg(test)]
pub(crate) mod tests;
