//! The human report (`report.md`): the verdict first, then a table of requirements, then each check with
//! its reason, expected/observed, timings and links to evidence files.

use std::fmt::Write as _;

use crate::outcome::Outcome;
use crate::report::RunReport;

/// Renders the report as Markdown.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let cluster = &report.cluster;
    let verdict = if report.summary.all_musts_met {
        "**All MUST requirements are met.**".to_string()
    } else {
        report
            .summary
            .verdict_lines()
            .iter()
            .map(|l| format!("**MUST requirements {l}.**"))
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    let _ = writeln!(out, "# kaic conformance report\n");
    let _ = writeln!(out, "{verdict}\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Cluster | `{}` |", cluster.server);
    let _ = writeln!(out, "| Server version | `{}` |", cluster.server_version);
    let _ = writeln!(out, "| Conformance version | {} |", cluster.conformance_version);
    if let Some(note) = &cluster.catalogue_note {
        let _ = writeln!(out, "| Catalogue note | {note} |");
    }
    let _ = writeln!(out, "| Capabilities | {} |", cluster.capabilities.join(", "));
    let _ = writeln!(out, "| Run | `{}`, {} → {} |", report.run_id, report.started_at, report.finished_at);
    let _ = writeln!(out, "| kaic | {} |", report.kaic_version);
    if !cluster.missing_permissions.is_empty() {
        let _ = writeln!(out, "| Missing permissions | {} |", cluster.missing_permissions.join(", "));
    }
    // A partial run, and checks the user chose not to run, must be visible where the verdict is read.
    if report.interrupted {
        let _ = writeln!(
            out,
            "| Interrupted | yes: the run was stopped before every check finished; this report is partial |"
        );
    }
    let selection = &report.selection;
    let mut given = Vec::new();
    if !selection.focus.is_empty() {
        given.push(format!("--focus {}", selection.focus.join(",")));
    }
    if !selection.skip.is_empty() {
        given.push(format!("--skip {}", selection.skip.join(",")));
    }
    if selection.include_opt_in {
        given.push("--include-opt-in".to_string());
    }
    if !given.is_empty() {
        let _ = writeln!(out, "| Selection | `{}` |", given.join(" "));
    }
    if !report.left_out.is_empty() {
        let left: Vec<String> =
            report.left_out.iter().map(|l| format!("`{}` ({})", l.id, escape_cell(&l.why))).collect();
        let _ = writeln!(out, "| Checks left out | {} |", left.join(", "));
    }

    let _ = writeln!(out, "\n## Requirements\n");
    let _ = writeln!(out, "| Requirement | Area | Level | Status | Checks | Reason |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in &report.requirements {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            r.id,
            r.area,
            r.level,
            r.status,
            if r.checks.is_empty() { "–".to_string() } else { r.checks.join(", ") },
            escape_cell(&r.reason)
        );
    }

    let _ = writeln!(out, "\n## Checks\n");
    if report.checks.is_empty() {
        let _ = writeln!(out, "No checks ran.");
    }
    for check in &report.checks {
        let v = &check.verdict;
        let _ = writeln!(out, "### {} {} — {}\n", icon(v.outcome), check.id, v.outcome);
        let _ = writeln!(out, "{}\n", v.reason);
        if let Some(expected) = &v.expected {
            let _ = writeln!(out, "- Expected: {expected}");
        }
        if let Some(observed) = &v.observed {
            let _ = writeln!(out, "- Observed: {observed}");
        }
        let _ = writeln!(
            out,
            "- Duration: {:.1} s, from {:.1} s into the run",
            check.duration_millis as f64 / 1000.0,
            check.started_after_millis as f64 / 1000.0
        );
        if let Some(ns) = &check.namespace {
            let _ = writeln!(out, "- Namespace: `{ns}`");
        }
        for (name, millis) in check.evidence.timings() {
            let _ = writeln!(out, "- Timing, {name}: {millis} ms");
        }
        let steps: Vec<&str> = check.evidence.steps().collect();
        if !steps.is_empty() {
            let _ = writeln!(out, "\nSteps:\n");
            for (i, step) in steps.iter().enumerate() {
                let _ = writeln!(out, "{}. {step}", i + 1);
            }
        }
        if !check.evidence_files.is_empty() {
            let _ = writeln!(out, "\nEvidence files:\n");
            for file in &check.evidence_files {
                let _ = writeln!(out, "- [{file}]({file})");
            }
        }
        let _ = writeln!(out);
    }
    out
}

fn icon(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "✅",
        Outcome::Fail => "❌",
        Outcome::NotApplicable => "➖",
        Outcome::Unknown => "❓",
        Outcome::Error => "⚠️",
    }
}

/// Keeps a table cell on one line and its pipes from ending the cell.
fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::sample_report;

    #[test]
    fn markdown_snapshot() {
        insta::assert_snapshot!(render(&sample_report()));
    }

    #[test]
    fn interruption_selection_and_left_out_checks_are_shown() {
        let mut report = sample_report();
        let plain = render(&report);
        assert!(!plain.contains("| Interrupted |") && !plain.contains("| Selection |"), "{plain}");
        report.interrupted = true;
        report.selection.skip = vec!["gang_scheduling".into()];
        report.left_out = vec![crate::report::LeftOutCheck {
            id: "gang_scheduling".into(),
            requirements: vec!["gang_scheduling".into()],
            why: "in --skip".into(),
        }];
        let md = render(&report);
        assert!(md.contains("| Interrupted | yes: the run was stopped before every check finished"), "{md}");
        assert!(md.contains("| Selection | `--skip gang_scheduling` |"), "{md}");
        assert!(md.contains("| Checks left out | `gang_scheduling` (in --skip) |"), "{md}");
    }

    #[test]
    fn cells_stay_on_one_line() {
        assert_eq!(escape_cell("a|b\nc"), "a\\|b c");
    }
}
