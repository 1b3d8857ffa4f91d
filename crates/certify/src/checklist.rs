//! The vocabulary of the official checklist (`AIConformance-<version>.yaml` and a vendor's
//! `PRODUCT.yaml`): its four statuses, its metadata fields, and two readings of the file.
//!
//! - [`Template`]: a strict reading of an official template (or of an earlier PRODUCT.yaml used as one):
//!   the requirements in order with their sections, ids, descriptions and levels. The fill and the
//!   validator compare against it. Without a template file, [`Template::from_catalogue`] builds one from
//!   kaic's own catalogue, which knows everything but the official description texts (kept out of the
//!   binary on purpose).
//! - [`Submission`]: a lenient reading of a PRODUCT.yaml for rendering, which tolerates missing fields
//!   (the validator, not the renderer, is the place to complain about them).

use std::fmt;
use std::path::{Path, PathBuf};

use kaic_model::catalogue::{self, ConformanceVersion, Level};

use crate::source::{self, Node, SourceError};

/// The status of one requirement in a submission: exactly these four spellings are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Implemented,
    PartiallyImplemented,
    NotImplemented,
    NotApplicable,
}

impl Status {
    pub const ALL: [Status; 4] =
        [Self::Implemented, Self::PartiallyImplemented, Self::NotImplemented, Self::NotApplicable];

    /// The spelling in the checklist.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Implemented => "Implemented",
            Self::PartiallyImplemented => "Partially Implemented",
            Self::NotImplemented => "Not Implemented",
            Self::NotApplicable => "N/A",
        }
    }

    /// Parses the exact spelling (no case folding: the program's validator compares exactly).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The allowed spellings, quoted, for messages.
    pub fn allowed_list() -> String {
        Self::ALL.map(|s| format!("'{}'", s.as_str())).join(", ")
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field of the checklist's `metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataField {
    /// The spelling of the official templates (camelCase).
    pub key: &'static str,
    /// The snake_case spelling the program's instructions also show and its validator also accepts.
    pub snake: &'static str,
    /// Whether a submission must fill it.
    pub required: bool,
    /// Whether the value must be an http(s) URL.
    pub url: bool,
}

const fn field(key: &'static str, snake: &'static str, required: bool, url: bool) -> MetadataField {
    MetadataField { key, snake, required, url }
}

/// Every metadata field, in template order. `repoUrl` is optional (open-source products only);
/// `k8sConformanceUrl` is required for every version because the program's validator requires it
/// even though the 1.33 and 1.34 templates do not list it.
pub const METADATA_FIELDS: [MetadataField; 11] = [
    field("kubernetesVersion", "kubernetes_version", true, false),
    field("platformName", "platform_name", true, false),
    field("platformVersion", "platform_version", true, false),
    field("vendorName", "vendor_name", true, false),
    field("websiteUrl", "website_url", true, true),
    field("repoUrl", "repo_url", false, true),
    field("documentationUrl", "documentation_url", true, true),
    field("productLogoUrl", "product_logo_url", true, true),
    field("description", "description", true, false),
    field("contactEmailAddress", "contact_email_address", true, false),
    field("k8sConformanceUrl", "k8s_conformance_url", true, true),
];

/// The metadata field spelled `key` (either spelling).
pub fn metadata_field(key: &str) -> Option<&'static MetadataField> {
    METADATA_FIELDS.iter().find(|f| f.key == key || f.snake == key)
}

/// Whether a value is a placeholder rather than an answer: the templates' `[Platform Name]` style, an
/// `<angle>` style, or a word people type while drafting.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    let bracketed = |open: char, close: char| v.len() >= 2 && v.starts_with(open) && v.ends_with(close);
    if bracketed('[', ']') || bracketed('<', '>') || bracketed('{', '}') {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    ["todo", "tbd", "tba", "fixme", "xxx", "changeme", "placeholder", "n/a", "none", "-", "?"].contains(&lower.as_str())
}

/// The comment line that starts the vendor's general notes in a filled PRODUCT.yaml (from the
/// platform-info file). Comments are the only place the checklist format leaves for them; the renderer
/// reads them back from there.
pub const VENDOR_NOTES_MARKER: &str = "# Notes from the vendor:";

/// The vendor's general notes written under [`VENDOR_NOTES_MARKER`], one string per line.
pub fn vendor_notes(text: &str) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| l.trim_end() != VENDOR_NOTES_MARKER);
    if lines.next().is_none() {
        return Vec::new();
    }
    lines.map_while(|l| l.strip_prefix('#')).map(|l| l.strip_prefix(' ').unwrap_or(l).trim_end().to_string()).collect()
}

/// Why a template could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("failed to read {path} as a checklist template: {problem}")]
    Shape { path: PathBuf, problem: String },
}

/// One requirement as a template states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRequirement {
    /// The key under `spec:` (e.g. `schedulingOrchestration`).
    pub section: String,
    pub id: String,
    /// The official text; `None` when the template came from kaic's catalogue, which does not carry it.
    pub description: Option<String>,
    pub level: Level,
    /// kaic's condition for conditional requirements ("if the platform provides …"), when kaic knows it.
    pub condition: Option<&'static str>,
}

/// Where a [`Template`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateOrigin {
    File(PathBuf),
    Catalogue,
}

impl fmt::Display for TemplateOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Catalogue => f.write_str("kaic's catalogue (ids and levels only)"),
        }
    }
}

/// An official checklist template, read strictly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub origin: TemplateOrigin,
    pub version: ConformanceVersion,
    /// `metadata.kubernetesVersion` as the template writes it (e.g. `v1.36`).
    pub kubernetes_version: String,
    /// The metadata keys the template lists, in order.
    pub metadata_keys: Vec<String>,
    /// The section keys in order (sections may be empty only in theory; the official ones are not).
    pub sections: Vec<String>,
    pub requirements: Vec<TemplateRequirement>,
}

impl Template {
    /// Reads a template file.
    ///
    /// # Errors
    /// When the file cannot be read, is not YAML, or does not have a template's shape.
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = source::read_text(path, source::MAX_CHECKLIST_BYTES)?;
        Self::parse(path, &text)
    }

    /// Parses template text; `path` is used in messages.
    ///
    /// # Errors
    /// When the text is not YAML or lacks what every template has: a `metadata` mapping with a known
    /// `kubernetesVersion`, and a `spec` mapping of sections listing requirements, each with a string
    /// `id` and `description` and a `level` of MUST or SHOULD, ids unique.
    pub fn parse(path: &Path, text: &str) -> Result<Self, TemplateError> {
        let root = source::parse_yaml(path, text)?;
        let shape = |problem: String| TemplateError::Shape { path: path.to_path_buf(), problem };
        let Node::Map(_) = root else {
            return Err(shape(format!("the top level is {}, not a mapping with metadata and spec", root.kind())));
        };
        let metadata =
            root.get("metadata").and_then(Node::as_map).ok_or_else(|| shape("it has no metadata mapping".into()))?;
        let kubernetes_version = metadata
            .iter()
            .find(|(k, _)| k == "kubernetesVersion" || k == "kubernetes_version")
            .and_then(|(_, v)| v.as_str())
            .ok_or_else(|| shape("metadata.kubernetesVersion is missing or not a string".into()))?
            .to_string();
        let version: ConformanceVersion =
            kubernetes_version.parse().map_err(|e| shape(format!("metadata.kubernetesVersion: {e}")))?;
        let spec = root.get("spec").and_then(Node::as_map).ok_or_else(|| shape("it has no spec mapping".into()))?;
        let mut requirements: Vec<TemplateRequirement> = Vec::new();
        let mut sections = Vec::new();
        for (section, items) in spec {
            let items =
                items.as_seq().ok_or_else(|| shape(format!("spec.{section} is {}, not a list", items.kind())))?;
            sections.push(section.clone());
            for (i, item) in items.iter().enumerate() {
                let at = format!("spec.{section}[{i}]");
                let text_field = |name: &str| {
                    item.get(name)
                        .and_then(Node::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| shape(format!("{at}.{name} is missing or not a string")))
                };
                let id = text_field("id")?;
                let description = text_field("description")?;
                let level = match text_field("level")?.as_str() {
                    "MUST" => Level::Must,
                    "SHOULD" => Level::Should,
                    other => return Err(shape(format!("{at}.level is '{other}', not MUST or SHOULD"))),
                };
                if requirements.iter().any(|r| r.id == id) {
                    return Err(shape(format!("{at}.id '{id}' appears twice")));
                }
                let condition = catalogue::requirement(version, &id).and_then(|r| r.condition);
                requirements.push(TemplateRequirement {
                    section: section.clone(),
                    id,
                    description: Some(description),
                    level,
                    condition,
                });
            }
        }
        if requirements.is_empty() {
            return Err(shape("spec lists no requirements".into()));
        }
        Ok(Self {
            origin: TemplateOrigin::File(path.to_path_buf()),
            version,
            kubernetes_version,
            metadata_keys: metadata.iter().map(|(k, _)| k.clone()).collect(),
            sections,
            requirements,
        })
    }

    /// A template built from kaic's catalogue: ids, sections and levels, but no description texts.
    pub fn from_catalogue(version: ConformanceVersion) -> Self {
        let requirements: Vec<TemplateRequirement> = catalogue::requirements(version)
            .into_iter()
            .map(|r| TemplateRequirement {
                section: r.area.checklist_section().to_string(),
                id: r.id.to_string(),
                description: None,
                level: r.level,
                condition: r.condition,
            })
            .collect();
        let mut sections: Vec<String> = Vec::new();
        for r in &requirements {
            if !sections.contains(&r.section) {
                sections.push(r.section.clone());
            }
        }
        let mut metadata_keys: Vec<String> = METADATA_FIELDS.iter().map(|f| f.key.to_string()).collect();
        // Of the official templates only 1.35 lists k8sConformanceUrl (the program requires it anyway).
        if version != ConformanceVersion::V1_35 {
            metadata_keys.retain(|k| k != "k8sConformanceUrl");
        }
        Self {
            origin: TemplateOrigin::Catalogue,
            version,
            kubernetes_version: format!("v{version}"),
            metadata_keys,
            sections,
            requirements,
        }
    }

    /// The requirement with this id.
    pub fn requirement(&self, id: &str) -> Option<&TemplateRequirement> {
        self.requirements.iter().find(|r| r.id == id)
    }
}

/// One requirement of a submission as written, with missing fields empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub description: String,
    pub level: String,
    pub status: String,
    pub evidence: Vec<String>,
    pub notes: String,
}

/// A section of a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub key: String,
    pub entries: Vec<Entry>,
}

/// A PRODUCT.yaml read leniently, for rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    /// Metadata in file order, values as text.
    pub metadata: Vec<(String, String)>,
    pub version: Option<ConformanceVersion>,
    pub sections: Vec<Section>,
    /// The vendor's general notes (see [`VENDOR_NOTES_MARKER`]).
    pub vendor_notes: Vec<String>,
}

impl Submission {
    /// Reads a PRODUCT.yaml that has at least the checklist's shape.
    ///
    /// # Errors
    /// When the file cannot be read, is not YAML, or is not shaped like a checklist (top-level mapping
    /// with a `metadata` mapping and a `spec` mapping of lists).
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = source::read_text(path, source::MAX_CHECKLIST_BYTES)?;
        Self::parse(path, &text)
    }

    /// Parses PRODUCT.yaml text; `path` is used in messages.
    ///
    /// # Errors
    /// As [`Submission::load`].
    pub fn parse(path: &Path, text: &str) -> Result<Self, TemplateError> {
        let root = source::parse_yaml(path, text)?;
        let shape = |problem: String| TemplateError::Shape { path: path.to_path_buf(), problem };
        let Node::Map(_) = root else {
            return Err(shape(format!("the top level is {}, not a mapping with metadata and spec", root.kind())));
        };
        let metadata: Vec<(String, String)> = root
            .get("metadata")
            .and_then(Node::as_map)
            .ok_or_else(|| shape("it has no metadata mapping".into()))?
            .iter()
            .map(|(k, v)| (k.clone(), v.scalar_text().unwrap_or_default()))
            .collect();
        let version = metadata
            .iter()
            .find(|(k, _)| k == "kubernetesVersion" || k == "kubernetes_version")
            .and_then(|(_, v)| v.parse().ok());
        let spec = root.get("spec").and_then(Node::as_map).ok_or_else(|| shape("it has no spec mapping".into()))?;
        let mut sections = Vec::new();
        for (key, items) in spec {
            let items = items.as_seq().ok_or_else(|| shape(format!("spec.{key} is {}, not a list", items.kind())))?;
            let text = |item: &Node, name: &str| item.get(name).and_then(Node::scalar_text).unwrap_or_default();
            let entries = items
                .iter()
                .map(|item| Entry {
                    id: text(item, "id"),
                    description: text(item, "description"),
                    level: text(item, "level"),
                    status: text(item, "status"),
                    evidence: match item.get("evidence") {
                        Some(Node::Seq(links)) => links.iter().filter_map(Node::scalar_text).collect(),
                        Some(Node::Str(link)) => vec![link.clone()],
                        _ => Vec::new(),
                    },
                    notes: text(item, "notes"),
                })
                .collect();
            sections.push(Section { key: key.clone(), entries });
        }
        Ok(Self { metadata, version, sections, vendor_notes: vendor_notes(text) })
    }

    /// A metadata value by its camelCase key (the snake_case spelling is looked up too).
    pub fn metadata_value(&self, key: &str) -> Option<&str> {
        let snake = metadata_field(key).map(|f| f.snake).unwrap_or(key);
        self.metadata.iter().find(|(k, _)| k == key || k == snake).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The folder of the official templates: copies kept in this repository (`testdata/README.md`), so
    /// no test reads outside it.
    pub(crate) fn checklists_dir() -> PathBuf {
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("testdata/checklists")
    }

    pub(crate) fn template_path(version: ConformanceVersion) -> PathBuf {
        checklists_dir().join(format!("AIConformance-{version}.yaml"))
    }

    #[test]
    fn every_official_template_agrees_with_the_catalogue() {
        for version in ConformanceVersion::ALL {
            let template = Template::load(&template_path(version)).unwrap();
            assert_eq!(template.version, version);
            let from_catalogue = Template::from_catalogue(version);
            let strip = |t: &Template| {
                t.requirements.iter().map(|r| (r.section.clone(), r.id.clone(), r.level)).collect::<Vec<_>>()
            };
            assert_eq!(strip(&template), strip(&from_catalogue), "{version}");
            assert_eq!(template.sections, from_catalogue.sections, "{version}");
            assert_eq!(template.metadata_keys, from_catalogue.metadata_keys, "{version}");
            assert!(template.requirements.iter().all(|r| r.description.as_deref().is_some_and(|d| !d.is_empty())));
        }
    }

    /// The 1.37 template through fill: every byte of it that fill does not answer stays as it was (the
    /// hybrid-verification comment block, the typo "makes they available", no newline at the end),
    /// k8sConformanceUrl is added as for the other templates that lack it, and filling the result
    /// again changes nothing.
    #[test]
    fn the_1_37_template_survives_fill_byte_for_byte() {
        use crate::fill::tests::{fill_template, metadata_only, synthetic_report};
        use kaic_model::outcome::Outcome;

        let version = ConformanceVersion::V1_37;
        let template = std::fs::read_to_string(template_path(version)).unwrap();
        assert!(!template.ends_with('\n') && template.contains("makes they available"));
        let report = synthetic_report(version, |id| (id != "workload_sandboxing").then_some(Outcome::Pass));
        let filled = fill_template(version, &report, &metadata_only(version)).unwrap().yaml;

        // The comment block opens the file unchanged; kaic's own header lines follow it.
        let block_end = template.find("\n\nmetadata:").unwrap();
        assert!(filled.starts_with(&template[..block_end + 1]), "{filled}");
        assert!(template[..block_end].contains("file://results/junit.xml#TestSecureAcceleratorAccess"));
        // Everything but the answers is the template's text: drop the lines fill writes (metadata values,
        // status, evidence, notes, its header comments) from both, and the rest is equal.
        let unanswered = |text: &str| -> Vec<String> {
            let mut in_metadata = false;
            let mut kept = Vec::new();
            for line in text.split('\n') {
                let t = line.trim_start();
                in_metadata = (in_metadata || line == "metadata:") && line != "spec:";
                let answer = ["status:", "evidence:", "notes:", "- \""].iter().any(|k| t.starts_with(k))
                    || t.starts_with("# Filled by kaic")
                    || t.starts_with(VENDOR_NOTES_MARKER)
                    || (in_metadata && line.starts_with("  ") && !t.starts_with("kubernetesVersion:"));
                if !answer {
                    kept.push(line.to_string());
                }
            }
            kept
        };
        let (before, after) = (unanswered(&template), unanswered(&filled));
        let header = before.iter().position(|l| l.is_empty()).unwrap();
        let kaic_header: Vec<&String> =
            after[header..].iter().take_while(|l| l.starts_with('#') || l.is_empty()).collect();
        assert!(kaic_header.iter().all(|l| l.is_empty() || l.starts_with("# ")), "{kaic_header:?}");
        let after: Vec<String> = after[..header].iter().chain(&after[header + kaic_header.len()..]).cloned().collect();
        let before: Vec<String> = before[..header].iter().chain(&before[header + 1..]).cloned().collect();
        assert_eq!(before, after);
        assert!(filled.contains("makes they available"));
        assert!(!filled.ends_with('\n'), "the template ends without a newline, and so does the filled file");

        let submission = Submission::parse(Path::new("PRODUCT.yaml"), &filled).unwrap();
        assert_eq!(
            submission.metadata_value("k8sConformanceUrl"),
            Some("https://github.com/cncf/k8s-conformance/tree/master/v1.37/acme-ai-platform")
        );
        assert_eq!(Template::parse(Path::new("PRODUCT.yaml"), &filled).unwrap().requirements, {
            let mut t = Template::load(&template_path(version)).unwrap();
            for r in &mut t.requirements {
                r.condition = catalogue::requirement(version, &r.id).and_then(|c| c.condition);
            }
            t.requirements
        });
        // Filling the filled file (an earlier PRODUCT.yaml used as the template) is a fixed point.
        let dir = tempfile::tempdir().unwrap();
        let again_path = dir.path().join("PRODUCT.yaml");
        std::fs::write(&again_path, &filled).unwrap();
        let again = crate::fill::fill(crate::fill::FillInput {
            template_path: &again_path,
            template_text: &filled,
            platform_info_path: Path::new("platform-info.yaml"),
            platform_info: &metadata_only(version),
            report: &report,
            artifacts: &crate::synthetic::artifacts(&report),
        })
        .unwrap()
        .yaml;
        assert_eq!(again, filled);
    }

    #[test]
    fn template_shape_errors_name_the_place() {
        let p = Path::new("t.yaml");
        let err = |text: &str| Template::parse(p, text).unwrap_err().to_string();
        assert_eq!(
            err("- a\n- b\n"),
            "failed to read t.yaml as a checklist template: the top level is a list, not a mapping with metadata and spec"
        );
        assert!(
            err("metadata: {kubernetesVersion: v1.32}\nspec: {}\n").contains("unknown conformance version 'v1.32'")
        );
        assert!(
            err("metadata: {kubernetesVersion: v1.36}\nspec: {a: [{id: x, description: d, level: MAY}]}\n")
                .contains("spec.a[0].level is 'MAY'")
        );
        assert!(err("metadata: {kubernetesVersion: v1.36}\nspec: {a: x}\n").contains("spec.a is a string, not a list"));
        assert!(err("metadata: {kubernetesVersion: v1.36}\nspec: {}\n").contains("spec lists no requirements"));
    }

    #[test]
    fn placeholders_are_recognised() {
        for p in ["[Platform Name]", "<vendor>", "TODO", "tbd", " N/A "] {
            assert!(is_placeholder(p), "{p}");
        }
        for v in ["Acme AI", "v1.2 [beta]", "https://acme.example/"] {
            assert!(!is_placeholder(v), "{v}");
        }
    }

    #[test]
    fn statuses_parse_exactly() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("implemented"), None);
        assert_eq!(Status::parse("NA"), None);
    }

    #[test]
    fn vendor_notes_are_read_from_their_comment_block() {
        let text = "# header\n# Notes from the vendor:\n#   Tested on 4 nodes.\n# Second line.\n\nmetadata: {}\n";
        assert_eq!(vendor_notes(text), ["  Tested on 4 nodes.", "Second line."]);
        assert!(vendor_notes("# header\nmetadata: {}\n").is_empty());
    }
}
