//! `kaic requirements`: the catalogue of one version as a table or JSON.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use kaic_model::catalogue;

use crate::EXIT_OK;
use crate::cli::{ListFormat, RequirementsArgs};

pub fn run(args: &RequirementsArgs) -> anyhow::Result<u8> {
    let requirements = catalogue::requirements(args.conformance_version);
    let checks = kaic_checks::all_checks();
    let checks_of =
        |id: &str| checks.iter().filter(|c| c.requirements().contains(&id)).map(|c| c.id()).collect::<Vec<_>>();
    match args.output {
        ListFormat::Json => {
            let rows: Vec<serde_json::Value> = requirements
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "id": r.id, "area": r.area, "level": r.level, "title": r.title,
                        "condition": r.condition, "checks": checks_of(r.id),
                    })
                })
                .collect();
            out!("{}", serde_json::to_string_pretty(&rows)?);
        }
        ListFormat::Table => {
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED).set_header(["id", "area", "level", "title", "checks"]);
            for r in &requirements {
                let checks = checks_of(r.id);
                let checks = if checks.is_empty() { "none yet (manual)".to_string() } else { checks.join(", ") };
                table.add_row([r.id.to_string(), r.area.to_string(), r.level.to_string(), r.title.to_string(), checks]);
            }
            out!("Kubernetes AI Conformance {} — {} requirements", args.conformance_version, requirements.len());
            out!("{table}");
        }
    }
    Ok(EXIT_OK)
}
