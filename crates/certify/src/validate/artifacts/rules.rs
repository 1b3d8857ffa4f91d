//! The program's rules for test artifacts cited as evidence (its PR #141), for every version:
//!
//! - a cited `junit.xml`, `results.json` or `e2e.log` must parse as its format (reported once per file);
//! - it must hold no failing test anywhere, whichever requirement cites it (once per file);
//! - the test an entry names, by its `#fragment` or else by the program's mapping of the requirement to
//!   an upstream test, must be in the file, must not have failed, and must not have been skipped where
//!   the requirement is Implemented;
//! - from 1.37, a requirement with an automated test that is marked Implemented should cite such a file
//!   (a warning): the program's three mapped requirements, and (kaic's own extension) every requirement
//!   a cited kaic run shows met.

use std::collections::hash_map::Entry;
use std::path::Path;

use kaic_model::outcome::RequirementStatus;

use super::super::paths::{EvidenceRef, classify};
use super::super::spec::SpecEntry;
use super::super::{Basis, Context, Rule, ValidationReport};
use super::{ArtifactKind, TestOutcome, TestResults};
use crate::checklist::{Status, Template};
use crate::source::{self, Node, SourceError};

/// The requirement an evidence entry belongs to.
#[derive(Debug, Clone, Copy)]
pub(in crate::validate) struct Citing<'a> {
    pub id: Option<&'a str>,
    pub status: Option<Status>,
}

/// Checks one cited file: parsed once (a file of another name is left alone), then the test the entry
/// names is looked up.
pub(in crate::validate) fn check_cited(
    at: &str,
    link: &str,
    file: &Path,
    fragment: Option<&str>,
    citing: &Citing,
    context: &mut Context,
    report: &mut ValidationReport,
) {
    let Some(kind) = ArtifactKind::of(file) else { return };
    let results = match context.artifacts.entry(file.to_path_buf()) {
        Entry::Occupied(slot) => slot.into_mut(),
        Entry::Vacant(slot) => slot.insert(read(kind, file, at, link, report)),
    };
    // A file that cannot be read was reported where it was first cited; the program says nothing more.
    let Some(results) = results else { return };
    let (test, mapped) = match (fragment, citing.id.and_then(|id| context.policy.auto_test(id))) {
        (Some(fragment), _) => (fragment, false),
        (None, Some(upstream)) => (upstream, true),
        (None, None) => return,
    };
    let id = citing.id.unwrap_or("this requirement");
    let why_this_test = if mapped {
        format!(
            " (without a #fragment the program looks for {test}, the upstream test it maps {id} to; name the test the \
             file holds with a fragment, e.g. '{link}#<test>')"
        )
    } else {
        String::new()
    };
    match results.lookup(test) {
        None => report.push(Rule::ArtifactTestMissing, at, format!("test '{test}' is not in '{link}'{why_this_test}")),
        Some(TestOutcome::Fail) => {
            report.push(Rule::ArtifactTestFailed, at, format!("test '{test}' failed in '{link}'{why_this_test}"))
        }
        Some(TestOutcome::Skip) if citing.status == Some(Status::Implemented) => report.push(
            Rule::ArtifactTestSkipped,
            at,
            format!(
                "{id} is marked 'Implemented' but test '{test}' was skipped in '{link}': a skipped test shows nothing; \
                 cite a run where it passed"
            ),
        ),
        Some(_) => {}
    }
}

/// Reads and parses a cited artifact, reporting why not and, once, its failing tests.
fn read(kind: ArtifactKind, file: &Path, at: &str, link: &str, report: &mut ValidationReport) -> Option<TestResults> {
    let unreadable = |report: &mut ValidationReport, why: String| {
        report.push(
            Rule::ArtifactUnreadable,
            at,
            format!(
                "'{link}' is not {kind} ({why}): the program parses every cited file named junit.xml, results.json \
                 or e2e.log as test output"
            ),
        );
        None
    };
    let text = match source::read_text(file, source::MAX_RUN_REPORT_BYTES) {
        Ok(text) => text,
        Err(SourceError::Empty { .. }) => return unreadable(report, "it is empty".into()),
        Err(e) => return unreadable(report, e.to_string()),
    };
    let results = match kind.parse(&text) {
        Ok(results) => results,
        Err(why) if kind == ArtifactKind::GoTestJson && is_kaic_report(&text) => {
            report.push(
                Rule::ArtifactUnreadable,
                at,
                format!(
                    "'{link}' is kaic's own report (kaic.dev/results), but the program reads every file named \
                     results.json as go test -json output and rejects it ({why}): cite kaic's report as \
                     kaic-results.json and its test output as results.json (kaic writes both so)"
                ),
            );
            return None;
        }
        Err(why) => return unreadable(report, why),
    };
    let failing = results.failing();
    if !failing.is_empty() {
        const SHOWN: usize = 5;
        let more = failing.len().saturating_sub(SHOWN);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        report.push(
            Rule::ArtifactFailing,
            at,
            format!(
                "'{link}' contains failing tests: {}{more}. The program rejects a cited test file with any failure \
                 in it, whichever requirement cites it: cite files that hold only this requirement's tests (kaic \
                 writes them under evidence/<check>/)",
                failing[..failing.len().min(SHOWN)].join(", ")
            ),
        );
    }
    Some(results)
}

/// Whether `text` is kaic's rich report rather than a test stream.
fn is_kaic_report(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("schema").and_then(|s| s.as_str()).map(|s| s.starts_with("kaic.dev/results/")))
        .unwrap_or(false)
}

/// From 1.37: a requirement with an automated test, marked Implemented, should cite a test artifact.
pub(in crate::validate) fn check_recommended(
    entries: &[SpecEntry],
    template: Option<&Template>,
    context: &Context,
    report: &mut ValidationReport,
) {
    if !context.policy.recommends_artifacts(context.version) {
        return;
    }
    for entry in entries {
        let (Some(id), Some(Status::Implemented)) =
            (entry.id.as_deref(), entry.node.get("status").and_then(Node::as_str).and_then(Status::parse))
        else {
            continue;
        };
        if template.is_some_and(|t| t.requirement(id).is_none()) {
            continue;
        }
        let upstream = context.policy.auto_test(id);
        let kaic_met = context
            .kaic_runs
            .values()
            .flatten()
            .any(|c| c.run().requirements.get(id).is_some_and(|v| v.status == RequirementStatus::Met));
        if upstream.is_none() && !kaic_met {
            continue;
        }
        let cites_artifact = match entry.node.get("evidence") {
            Some(Node::Seq(items)) => items.iter().filter_map(Node::as_str).any(|link| {
                matches!(classify(link, &context.product_dir), Ok(EvidenceRef::File { path, .. }) if ArtifactKind::of(&path).is_some())
            }),
            _ => false,
        };
        if cites_artifact {
            continue;
        }
        let at = format!("{}.evidence", entry.path);
        match upstream {
            Some(test) => report.push(
                Rule::ArtifactsRecommended,
                at,
                format!(
                    "{id} is covered by the automated test {test}: the program recommends citing test artifacts \
                     (e2e.log, junit.xml or results.json) as evidence from 1.37 on"
                ),
            ),
            None => report.push_as(
                Rule::ArtifactsRecommended,
                Basis::Kaic,
                at,
                format!(
                    "kaic's cited results show {id} met by an automated check: cite its test files too (e.g. \
                     evidence/<check>/junit.xml#<check>), as the program recommends for automated tests from 1.37 on"
                ),
            ),
        }
    }
}
