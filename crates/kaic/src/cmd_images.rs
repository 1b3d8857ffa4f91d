//! `kaic images`: every image kaic's checks may run, from the checks' one image table, as a table, JSON or a
//! bare list for a mirroring script; with `--image-registry`, the names kaic will use from that mirror.

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use kaic_checks::images;

use crate::EXIT_OK;
use crate::cli::{ImagesArgs, ImagesFormat};

pub fn run(args: &ImagesArgs) -> anyhow::Result<u8> {
    // (key, image as kaic runs it, the public default it mirrors, what uses it)
    let rows: Vec<(&str, String, &str, &str)> = images::all()
        .into_iter()
        .filter_map(|i| {
            let default = i.default?;
            let used = match &args.image_registry {
                Some(registry) => images::with_registry(default, registry),
                None => default.to_string(),
            };
            Some((i.key, used, default, i.used_by))
        })
        .collect();
    match args.output {
        ImagesFormat::List => {
            let mut seen: Vec<&str> = Vec::new();
            for (_, image, _, _) in &rows {
                if !seen.contains(&image.as_str()) {
                    seen.push(image);
                    out!("{image}");
                }
            }
        }
        ImagesFormat::Json => {
            let json: Vec<serde_json::Value> = rows
                .iter()
                .map(|(key, image, default, used_by)| {
                    serde_json::json!({"key": key, "image": image, "default": default, "used_by": used_by})
                })
                .collect();
            out!("{}", serde_json::to_string_pretty(&json)?);
        }
        ImagesFormat::Table => {
            let mut table = Table::new();
            table.load_preset(UTF8_FULL_CONDENSED).set_header(["key", "image", "used by"]);
            for (key, image, _, used_by) in &rows {
                table.add_row([key.to_string(), image.clone(), used_by.to_string()]);
            }
            out!("{table}");
            out!(
                "Override one with --probe-image KEY=IMAGE (pause: --pause-image), or move every default to a mirror \
                 with --image-registry HOST."
            );
        }
    }
    Ok(EXIT_OK)
}
