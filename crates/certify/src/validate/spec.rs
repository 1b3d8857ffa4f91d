//! The requirements of a submission: the spec has the template's shape (nothing missing, added,
//! duplicated or moved), and each requirement keeps the template's id, description and level and gives
//! an allowed status with the evidence and notes it needs.
//!
//! Where the program's own validator is lenient and its instructions say nothing, so is this module: a
//! SHOULD left blank, an empty evidence entry, or a SHOULD claimed without evidence is at most a warning.

use std::collections::BTreeMap;

use kaic_model::catalogue::Level;

use super::artifacts::rules::Citing;
use super::policy::MustNotApplicable;
use super::{Context, Rule, ValidationReport, paths};
use crate::checklist::{Status, Template};
use crate::fill::TO_VERIFY;
use crate::source::Node;

/// One requirement of the submission, with where it is.
pub(super) struct SpecEntry<'a> {
    /// `spec.<section>[<index>] (<id>)`, the id left out when the entry has none.
    pub path: String,
    pub section: String,
    pub node: &'a Node,
    pub id: Option<String>,
}

/// Checks the shape of `spec` and which requirements it holds; returns the requirement entries.
pub(super) fn check_shape<'a>(
    root: &'a Node,
    template: Option<&Template>,
    report: &mut ValidationReport,
) -> Vec<SpecEntry<'a>> {
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
            let at = format!("spec.{section}[{i}]");
            if node.as_map().is_none() {
                report.push(Rule::SpecShape, at, format!("a requirement is a mapping, this is {}", node.kind()));
                continue;
            }
            let (path, id) = match node.get("id") {
                // The id in the path lets a person find the requirement without counting list items.
                Some(Node::Str(id)) if !id.trim().is_empty() => (format!("{at} ({id})"), Some(id.clone())),
                _ => {
                    report.push(Rule::RequirementChanged, format!("{at}.id"), "the id is missing or not a string");
                    (at, None)
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
                    format!("spec.{} ({})", expected.section, expected.id),
                    format!(
                        "requirement '{}' ({}) is missing: copy it from the template into spec.{}",
                        expected.id, expected.level, expected.section
                    ),
                );
            }
        }
    }
    entries
}

/// The level of an entry as the template states it (the submission's own may have been changed).
pub(super) fn level_of(entry: &SpecEntry, template: Option<&Template>) -> Option<Level> {
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

/// Checks one requirement's fields.
pub(super) fn check_entry(
    entry: &SpecEntry,
    template: Option<&Template>,
    context: &mut Context,
    report: &mut ValidationReport,
) {
    let node = entry.node;
    let path = &entry.path;
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
    check_description_and_level(
        entry,
        expected.and_then(|e| e.description.as_deref()),
        expected.map(|e| e.level),
        report,
    );
    let level = level_of(entry, template);

    // The program's validator skips a SHOULD with an empty status and no evidence: an unanswered SHOULD
    // is allowed.
    let blank_status =
        matches!(node.get("status"), None | Some(Node::Null)) || node.get("status").and_then(Node::as_str) == Some("");
    let no_evidence = match node.get("evidence") {
        None | Some(Node::Null) => true,
        Some(Node::Seq(items)) => items.is_empty(),
        Some(_) => false,
    };
    if level == Some(Level::Should) && blank_status && no_evidence {
        return;
    }
    let status = check_status(entry, level, expected.and_then(|e| e.condition), context, report);
    let notes = node.get("notes").and_then(Node::scalar_text).unwrap_or_default();
    check_evidence(entry, level, status, &notes, context, report);

    // Notes.
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

/// The description and level exactly as in the template. A description that differs only in trailing
/// whitespace (a folded `>` block ends in a newline) is the same text to a reviewer.
fn check_description_and_level(
    entry: &SpecEntry,
    official: Option<&str>,
    template_level: Option<Level>,
    report: &mut ValidationReport,
) {
    let (node, path) = (entry.node, &entry.path);
    match (node.get("description"), official) {
        (Some(Node::Str(given)), Some(official)) if given.trim_end() != official.trim_end() => report.push(
            Rule::RequirementChanged,
            format!("{path}.description"),
            format!(
                "the description differs from the template{}: the program's instructions allow no change to id, \
                 description and level; copy it from the template",
                first_difference(given.trim_end(), official.trim_end())
            ),
        ),
        (Some(Node::Str(_)), _) => {}
        (_, _) => report.push(
            Rule::RequirementChanged,
            format!("{path}.description"),
            "the description is missing or not a string",
        ),
    }
    match (node.get("level").and_then(Node::as_str), template_level) {
        (Some(given), Some(level)) if given != level.to_string() => report.push(
            Rule::RequirementChanged,
            format!("{path}.level"),
            format!("the level is '{given}' but the template says {level}"),
        ),
        (Some("MUST" | "SHOULD"), _) | (Some(_), Some(_)) => {}
        (Some(given), None) => report.push(
            Rule::RequirementChanged,
            format!("{path}.level"),
            format!("the level '{given}' is neither MUST nor SHOULD"),
        ),
        (None, _) => {
            report.push(Rule::RequirementChanged, format!("{path}.level"), "the level is missing or not a string")
        }
    }
}

/// The status, if it is one of the four; a MUST must be Implemented, unless the program's table lets
/// this one be N/A ([`super::policy`]).
fn check_status(
    entry: &SpecEntry,
    level: Option<Level>,
    condition: Option<&str>,
    context: &Context,
    report: &mut ValidationReport,
) -> Option<Status> {
    let at = format!("{}.status", entry.path);
    let allowed = Status::allowed_list();
    let status = match entry.node.get("status") {
        Some(Node::Str(s)) => match Status::parse(s) {
            Some(status) => Some(status),
            None => {
                let hint = if s.trim().is_empty() && level == Some(Level::Should) {
                    "status is empty but evidence is given (a SHOULD may be left blank only without evidence)"
                        .to_string()
                } else if s.trim().is_empty() {
                    "status is empty".to_string()
                } else if let Some(close) = Status::ALL.iter().find(|st| st.as_str().eq_ignore_ascii_case(s.trim())) {
                    format!("status '{s}' must be spelt exactly '{close}'")
                } else {
                    format!("status '{s}' is not allowed")
                };
                report.push(Rule::StatusInvalid, at.clone(), format!("{hint}: use one of {allowed}"));
                None
            }
        },
        None | Some(Node::Null) => {
            let hint =
                if level == Some(Level::Should) { " (or remove the evidence to leave the SHOULD blank)" } else { "" };
            report.push(Rule::StatusInvalid, at.clone(), format!("status is missing: use one of {allowed}{hint}"));
            None
        }
        Some(other) => {
            report.push(Rule::StatusInvalid, at.clone(), format!("status is {}, not one of {allowed}", other.kind()));
            None
        }
    };
    if level == Some(Level::Must)
        && let Some(status) = status
        && status != Status::Implemented
    {
        let conditional = entry.id.as_deref().and_then(|id| context.policy.must_not_applicable(context.version, id));
        if status == Status::NotApplicable && conditional == Some(MustNotApplicable::Reviewed) {
            report.push(
                Rule::MustNotApplicable,
                at,
                "a conditional MUST marked 'N/A': the program accepts it with notes that justify it, and its \
                 reviewers check the justification",
            );
        } else {
            let condition = match (condition, conditional) {
                (_, None) => String::new(),
                (Some(c), Some(_)) => {
                    format!(" (it applies only if {c}, but the program's validator still demands Implemented for it)")
                }
                (None, Some(_)) => {
                    " (it is conditional, but the program's validator still demands Implemented for it)".to_string()
                }
            };
            report.push(
                Rule::MustNotImplemented,
                at,
                format!("a MUST marked '{status}': the program accepts only 'Implemented' for a MUST{condition}"),
            );
        }
    }
    status
}

/// The evidence: a list of strings, each a link or a file in the submission folder; present for every
/// MUST (an error) and for a SHOULD claimed (Partially) Implemented (a warning).
fn check_evidence(
    entry: &SpecEntry,
    level: Option<Level>,
    status: Option<Status>,
    notes: &str,
    context: &mut Context,
    report: &mut ValidationReport,
) {
    let path = &entry.path;
    let mut evidence: Vec<(String, String)> = Vec::new();
    match entry.node.get("evidence") {
        None | Some(Node::Null) => {}
        Some(Node::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("{path}.evidence[{i}]");
                match item {
                    // The program's validator skips empty entries; a reviewer sees a stray line.
                    Node::Str(s) if s.trim().is_empty() => {
                        report.push(Rule::EvidenceEmpty, at, "an empty evidence entry: remove it")
                    }
                    Node::Str(s) => evidence.push((at, s.clone())),
                    other => report.push(
                        Rule::EvidenceType,
                        at,
                        format!("an evidence entry is {}, not a string", other.kind()),
                    ),
                }
            }
        }
        Some(other) => report.push(
            Rule::EvidenceType,
            format!("{path}.evidence"),
            format!("evidence is {}, not a list: write it as a list of links", other.kind()),
        ),
    }
    let claims = matches!(status, Some(Status::Implemented | Status::PartiallyImplemented));
    if evidence.is_empty() && !report.breaks_at(Rule::EvidenceType, &format!("{path}.")) {
        // Evidence written into the notes is the usual slip: say where it belongs.
        let hint = if notes.contains("http://") || notes.contains("https://") {
            "; the notes hold a URL: move the URL from notes into evidence"
        } else {
            ""
        };
        if level == Some(Level::Must) {
            report.push(
                Rule::EvidenceMissing,
                format!("{path}.evidence"),
                format!(
                    "no evidence for a MUST: the program's instructions require status, evidence and notes for \
                     every MUST{hint}"
                ),
            );
        } else if claims {
            report.push(
                Rule::EvidenceRecommended,
                format!("{path}.evidence"),
                format!(
                    "no evidence although it is marked '{}': reviewers look for a link or a test file{hint}",
                    status.map(Status::as_str).unwrap_or_default()
                ),
            );
        }
    }
    let citing = Citing { id: entry.id.as_deref(), status };
    for (at, link) in &evidence {
        paths::check_evidence_entry(at, link, &citing, context, report);
    }
}

/// Where two texts first differ, for a description that was edited.
fn first_difference(given: &str, official: &str) -> String {
    let at = given.chars().zip(official.chars()).take_while(|(a, b)| a == b).count();
    let snippet = |s: &str| s.chars().skip(at.saturating_sub(10)).take(30).collect::<String>();
    format!(" from character {}: '…{}…' instead of '…{}…'", at + 1, snippet(given), snippet(official))
}
