//! `PRODUCT.yaml` → `PRODUCT.md`: the submission as a reviewer or a customer reads it.
//!
//! The page starts with the platform's facts (and, where kaic's report is among the evidence,
//! which run produced the answers), then a summary table by category and level with a one-line verdict
//! on the MUSTs, then every requirement with its status, the official description, the notes and the
//! evidence as links. Rendering is lenient: it shows what the file says, gaps included; `kaic validate`
//! is the place that judges them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kaic_model::report::RunReport;

use crate::checklist::{Entry, Status, Submission, TemplateError};
use crate::fill;

/// Why a file could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Read(#[from] TemplateError),
}

/// Reads a PRODUCT.yaml and renders it, with the run facts of the first kaic report it cites
/// (`kaic-results.json`, or an older kaic's `results.json`; a `go test -json` stream is passed over).
///
/// # Errors
/// When the file cannot be read or is not shaped like a checklist.
pub fn render_file(path: &Path) -> Result<String, RenderError> {
    let submission = Submission::load(path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let run = submission
        .sections
        .iter()
        .flat_map(|s| &s.entries)
        .flat_map(|e| &e.evidence)
        .filter(|link| link.ends_with(".json") && !link.contains("://"))
        .find_map(|link| fill::load_report(&dir.join(link)).ok());
    Ok(render(&submission, run.as_ref()))
}

/// The heading of a checklist section.
fn section_title(key: &str) -> String {
    match key {
        "accelerators" => "Accelerators".into(),
        "networking" => "Networking".into(),
        "schedulingOrchestration" => "Scheduling and orchestration".into(),
        "observability" => "Observability".into(),
        "security" => "Security".into(),
        "operator" => "Operators".into(),
        other => other.to_string(),
    }
}

fn status_label(status: &str) -> String {
    match Status::parse(status) {
        Some(Status::Implemented) => "✅ Implemented".into(),
        Some(Status::PartiallyImplemented) => "🟡 Partially Implemented".into(),
        Some(Status::NotImplemented) => "❌ Not Implemented".into(),
        Some(Status::NotApplicable) => "➖ N/A".into(),
        None if status.trim().is_empty() => "❓ To verify".into(),
        None => format!("❓ {} (not a valid status)", inline(status)),
    }
}

/// Text safe inside a Markdown paragraph or table cell: no raw HTML, no table breaks, one line.
fn inline(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('|', "\\|").replace('\n', "<br>")
}

/// A Markdown link to an evidence entry: URLs as they are, paths with spaces encoded.
fn link(target: &str) -> String {
    let text = inline(target).replace('[', "\\[").replace(']', "\\]");
    let href = target.replace(' ', "%20").replace('(', "%28").replace(')', "%29");
    format!("[{text}]({href})")
}

/// Renders a submission; `run` adds the facts of the kaic run behind it.
pub fn render(submission: &Submission, run: Option<&RunReport>) -> String {
    let mut out = String::new();
    let meta = |key: &str| submission.metadata_value(key).map(str::trim).filter(|v| !v.is_empty());
    let name = meta("platformName").unwrap_or("Unnamed platform");
    let version = meta("kubernetesVersion").unwrap_or("unknown version");
    let _ = writeln!(
        out,
        "# {} {} — Kubernetes AI Conformance {}\n",
        inline(name),
        inline(meta("platformVersion").unwrap_or("")),
        inline(version)
    );
    if let Some(description) = meta("description") {
        let _ = writeln!(out, "{}\n", inline(description));
    }

    let _ = writeln!(out, "## Platform\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let mut row = |label: &str, value: Option<String>| {
        if let Some(value) = value {
            let _ = writeln!(out, "| {label} | {value} |");
        }
    };
    let url = |key: &str| meta(key).map(|v| if v.starts_with("http") { link(v) } else { inline(v) });
    row("Vendor", meta("vendorName").map(inline));
    row("Platform", Some(format!("{} {}", inline(name), inline(meta("platformVersion").unwrap_or("")))));
    row("Kubernetes version", Some(inline(version)));
    row("Website", url("websiteUrl"));
    row("Repository", url("repoUrl"));
    row("Documentation", url("documentationUrl"));
    row("Logo", url("productLogoUrl"));
    row("Contact", meta("contactEmailAddress").map(inline));
    row("Kubernetes conformance", url("k8sConformanceUrl"));
    if let Some(run) = run {
        row(
            "Tested with",
            Some(format!(
                "kaic {}, run `{}`, {} → {}, against a {} server",
                inline(&run.kaic_version),
                inline(&run.run_id),
                inline(&run.started_at),
                inline(&run.finished_at),
                inline(&run.cluster.server_version)
            )),
        );
        if !run.cluster.capabilities.is_empty() {
            row("Capabilities found", Some(inline(&run.cluster.capabilities.join(", "))));
        }
    }
    if !submission.vendor_notes.is_empty() {
        let _ = writeln!(out, "\n## Notes from the vendor\n");
        for line in &submission.vendor_notes {
            let _ = writeln!(out, "{}", inline(line));
        }
    }

    // Summary by category and level.
    let _ = writeln!(out, "\n## Summary\n");
    let entries: Vec<(&str, &Entry)> =
        submission.sections.iter().flat_map(|s| s.entries.iter().map(move |e| (s.key.as_str(), e))).collect();
    let musts: Vec<&Entry> = entries.iter().filter(|(_, e)| e.level == "MUST").map(|(_, e)| *e).collect();
    let open_musts: Vec<String> = musts
        .iter()
        .filter(|e| Status::parse(&e.status) != Some(Status::Implemented))
        .map(|e| format!("`{}`", inline(&e.id)))
        .collect();
    if musts.is_empty() {
        let _ = writeln!(out, "**The file lists no MUST requirements.**\n");
    } else if open_musts.is_empty() {
        let _ = writeln!(out, "**All {} MUST requirements are Implemented.**\n", musts.len());
    } else {
        let _ = writeln!(
            out,
            "**{} of {} MUST requirements are Implemented; not yet: {}.**\n",
            musts.len() - open_musts.len(),
            musts.len(),
            open_musts.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "| Category | Level | Requirements | Implemented | Partially | Not implemented | N/A | To verify |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|");
    let mut groups: Vec<(String, String)> = Vec::new();
    for (section, entry) in &entries {
        let key = (section.to_string(), entry.level.clone());
        if !groups.contains(&key) {
            groups.push(key);
        }
    }
    let count = |filter: &dyn Fn(&str, &Entry) -> bool| {
        let of = |status: Option<Status>| {
            entries.iter().filter(|(s, e)| filter(s, e) && Status::parse(&e.status) == status).count()
        };
        [
            entries.iter().filter(|(s, e)| filter(s, e)).count(),
            of(Some(Status::Implemented)),
            of(Some(Status::PartiallyImplemented)),
            of(Some(Status::NotImplemented)),
            of(Some(Status::NotApplicable)),
            of(None),
        ]
        .map(|n| n.to_string())
        .join(" | ")
    };
    for (section, level) in &groups {
        let counts = count(&|s, e| s == section && &e.level == level);
        let _ = writeln!(out, "| {} | {} | {counts} |", section_title(section), inline(level));
    }
    let _ = writeln!(out, "| **Total** | | {} |", count(&|_, _| true));

    // Every requirement.
    let _ = writeln!(out, "\n## Requirements");
    for section in &submission.sections {
        let _ = writeln!(out, "\n### {}", section_title(&section.key));
        for entry in &section.entries {
            let _ = writeln!(
                out,
                "\n#### `{}` ({}) — {}\n",
                inline(&entry.id),
                inline(&entry.level),
                status_label(&entry.status)
            );
            for line in entry.description.lines() {
                let _ = writeln!(out, "> {}", inline(line));
            }
            if !entry.notes.trim().is_empty() {
                let _ = writeln!(out, "\n**Notes:** {}", inline(entry.notes.trim()));
            }
            if entry.evidence.is_empty() {
                let _ = writeln!(out, "\n_No evidence given._");
            } else {
                let _ = writeln!(out, "\n**Evidence:**\n");
                for e in &entry.evidence {
                    let _ = writeln!(out, "- {}", link(e));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::tests::Fixture;
    use kaic_model::catalogue::ConformanceVersion;

    #[test]
    fn product_md_snapshot() {
        let f = Fixture::new(ConformanceVersion::V1_36);
        // One of each status.
        let text = f
            .product
            .replacen("status: \"Implemented\"", "status: \"Partially Implemented\"", 1)
            .replacen("status: \"Implemented\"", "status: \"Not Implemented\"", 1)
            .replacen("status: \"Implemented\"", "status: \"\"", 1);
        std::fs::write(f.path(), text).unwrap();
        insta::assert_snapshot!(render_file(&f.path()).unwrap());
    }

    #[test]
    fn run_facts_come_from_kaics_report_not_the_test_stream() {
        let f = Fixture::new(ConformanceVersion::V1_36);
        // The go test -json results.json cited first (without a fragment): passed over for kaic's report.
        let line = f.product.lines().find(|l| l.trim() == "- \"kaic-results.json\"").unwrap();
        let both = format!("{}\n{line}", line.replace("kaic-results.json", "results.json"));
        std::fs::write(f.path(), f.product.replacen(line, &both, 1)).unwrap();
        let md = render_file(&f.path()).unwrap();
        assert!(md.contains("- [results.json](results.json)\n- [kaic-results.json](kaic-results.json)"), "{md}");
        assert!(md.contains("| Tested with | kaic 0.1.0, run `r-test`"), "{md}");
        // Only the stream: no run facts.
        std::fs::write(f.path(), f.product.replace("\"kaic-results.json\"", "\"results.json\"")).unwrap();
        assert!(!render_file(&f.path()).unwrap().contains("| Tested with |"));
    }

    #[test]
    fn markdown_is_escaped() {
        assert_eq!(inline("a | b <script>\nc"), "a \\| b &lt;script&gt;<br>c");
        assert_eq!(link("docs/my file (v2).md"), "[docs/my file (v2).md](docs/my%20file%20%28v2%29.md)");
        assert_eq!(status_label("Done"), "❓ Done (not a valid status)");
    }

    #[test]
    fn not_a_checklist_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("PRODUCT.yaml");
        std::fs::write(&path, "just: text\n").unwrap();
        let err = render_file(&path).unwrap_err().to_string();
        assert!(err.contains("it has no metadata mapping"), "{err}");
        std::fs::write(&path, "[1, 2").unwrap();
        assert!(render_file(&path).unwrap_err().to_string().contains("as YAML"));
    }
}
