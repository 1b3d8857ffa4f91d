//! The terminal reporter: a spinner with elapsed time per running check on a terminal, plain lines
//! otherwise, a line per finished check, then the summary table.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kaic_checks::runner::RunEvent;
use kaic_model::{Outcome, RunReport};
use tokio::sync::mpsc::UnboundedReceiver;

/// Consumes run events until the runner drops its sender.
pub async fn report(mut events: UnboundedReceiver<RunEvent>, live: bool) {
    let live = live && std::io::stderr().is_terminal();
    let bars =
        MultiProgress::with_draw_target(if live { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
    let style = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let mut running: HashMap<String, ProgressBar> = HashMap::new();
    let say = |bars: &MultiProgress, line: String| {
        if live {
            let _ = bars.println(line);
        } else {
            eprintln!("{line}");
        }
    };
    while let Some(event) = events.recv().await {
        match event {
            RunEvent::Started { id, namespace } => {
                let bar = bars.add(ProgressBar::new_spinner().with_style(style.clone()));
                bar.set_message(format!("{id} (namespace {namespace})"));
                bar.enable_steady_tick(Duration::from_millis(120));
                running.insert(id.to_string(), bar);
                if !live {
                    eprintln!("start {id} in namespace {namespace}");
                }
            }
            RunEvent::Finished(check) => {
                if let Some(bar) = running.remove(&check.id) {
                    bar.finish_and_clear();
                }
                let v = &check.verdict;
                say(
                    &bars,
                    format!(
                        "{:<15} {} ({:.1}s): {}",
                        symbol(v.outcome),
                        check.id,
                        check.duration_millis as f64 / 1000.0,
                        v.reason
                    ),
                );
            }
            RunEvent::Interrupted => say(&bars, "interrupted: stopping checks and cleaning up…".into()),
            RunEvent::CleaningUp => say(&bars, "cleaning up everything this run created…".into()),
            RunEvent::Cleaned(cleanup) => {
                say(
                    &bars,
                    format!("cleanup: {} objects deleted, {} failed", cleanup.deleted.len(), cleanup.failed.len()),
                );
            }
        }
    }
    for bar in running.into_values() {
        bar.finish_and_clear();
    }
}

fn symbol(outcome: Outcome) -> String {
    match outcome {
        Outcome::Pass => "✔ pass".into(),
        Outcome::Fail => "✘ FAIL".into(),
        Outcome::NotApplicable => "– n/a".into(),
        Outcome::Unknown => "? unknown".into(),
        Outcome::Error => "! ERROR".into(),
    }
}

/// Prints the requirement table and where the report went.
pub fn print_summary(report: &RunReport, dir: &Path) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(["requirement", "level", "status", "checks"]);
    for r in &report.requirements {
        let checks = if r.checks.is_empty() { "none (verify by hand)".to_string() } else { r.checks.join(", ") };
        table.add_row([r.id.clone(), r.level.to_string(), r.status.to_string(), checks]);
    }
    out!("{table}");
    let counts: Vec<String> = report.summary.checks.iter().map(|(k, v)| format!("{v} {k}")).collect();
    out!("checks: {}", if counts.is_empty() { "none ran".to_string() } else { counts.join(", ") });
    for line in report.summary.verdict_lines() {
        out!("verdict: {line}");
    }
    out!("report: {}/report.md, kaic-results.json, junit.xml, results.json, e2e.log, evidence/", dir.display());
}
