//! Holding a submission to kaic's own results cited as evidence (`kaic-results.json`, `junit.xml`): a
//! requirement marked Implemented that cites them must have a passing check there, no answer may
//! claim what a failing check contradicts, and a MUST whose check was left out of the run or ended in
//! error cannot be marked Implemented by hand. These are kaic's rules, not the program's: the program
//! reads test files as evidence for people.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kaic_model::catalogue::{ConformanceVersion, Level};
use kaic_model::outcome::RequirementStatus;

use super::paths::{EvidenceRef, classify};
use super::spec::{SpecEntry, level_of};
use super::{Rule, ValidationReport};
use crate::checklist::{Status, Template};
use crate::run_evidence::{self, KaicRun, Reading};
use crate::source::Node;

/// A kaic run file cited as evidence: where it was first cited, as what, and what it says.
#[derive(Debug, Clone)]
pub(super) struct Citation {
    at: String,
    link: String,
    run: KaicRun,
}

impl Citation {
    /// What the file says.
    pub(super) fn run(&self) -> &KaicRun {
        &self.run
    }
}

/// Reads a cited evidence file that may be one of kaic's; `None` when it is not (or cannot be read as
/// such, which is reported).
pub(super) fn read_citation(file: &Path, at: &str, link: &str, report: &mut ValidationReport) -> Option<Citation> {
    match run_evidence::read(file) {
        Reading::Kaic(run) => Some(Citation { at: at.to_string(), link: link.to_string(), run }),
        Reading::Foreign => None,
        Reading::Broken(why) => {
            report.push(Rule::KaicUnreadable, at, format!("'{link}' looks like kaic's but cannot be read: {why}"));
            None
        }
    }
}

/// Checks every requirement's answer against every kaic run file the submission cites.
pub(super) fn check(
    entries: &[SpecEntry],
    version: Option<ConformanceVersion>,
    template: Option<&Template>,
    product_dir: &Path,
    kaic_runs: &HashMap<PathBuf, Option<Citation>>,
    report: &mut ValidationReport,
) {
    let mut runs: Vec<(&PathBuf, &Citation)> =
        kaic_runs.iter().filter_map(|(p, c)| c.as_ref().map(|c| (p, c))).collect();
    if runs.is_empty() {
        return;
    }
    runs.sort_by(|a, b| a.1.at.cmp(&b.1.at));
    for (_, Citation { at, link, run }) in &runs {
        if let (Some(ours), Some(theirs)) = (version, run.version)
            && ours != theirs
        {
            report.push(
                Rule::KaicVersion,
                at.as_str(),
                format!("kaic's {} is for conformance {theirs}, the submission for {ours}", run.kind),
            );
        }
        if run.interrupted {
            report.push(
                Rule::KaicInterrupted,
                at.as_str(),
                format!(
                    "kaic's {} '{link}' is from a run that was interrupted, so its results are partial: rerun kaic \
                     to completion and cite that run",
                    run.kind
                ),
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
                    EvidenceRef::File { path, .. } => Some(path),
                    EvidenceRef::Url(_) => None,
                })
                .filter_map(|p| runs.iter().find(|(rp, _)| **rp == p).map(|(rp, _)| *rp))
                .collect(),
            _ => Vec::new(),
        };
        let must = level_of(entry, template) == Some(Level::Must);
        for (file, Citation { link, run, .. }) in &runs {
            let verdict = run.requirements.get(id);
            // Checks not run count only where the ones that ran did not meet the requirement on their own.
            let met = verdict.is_some_and(|v| v.status == RequirementStatus::Met);
            let not_run = run.not_run.get(id).filter(|why| !why.is_empty() && !met);
            let says = match verdict {
                Some(v) => format!("says '{}': {}", v.status.label(), v.reason),
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
            } else if let Some(why) = not_run.filter(|_| must && status == Status::Implemented) {
                // A vendor cannot overrule kaic by leaving a check out or ignoring its error: the MUST
                // stays undecided until a run shows it, whatever other evidence the answer cites.
                report.push(
                    Rule::KaicNotRun,
                    status_path.clone(),
                    format!(
                        "a MUST marked 'Implemented' but kaic's {} '{link}' shows its check {}: kaic's verdict \
                         stands; rerun kaic with the check, fix what it finds and cite that run",
                        run.kind,
                        why.join("; ")
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
