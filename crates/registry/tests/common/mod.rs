//! Fixtures shared by the registry's integration tests: submissions filled by kaic's own `fill` from
//! the official templates kept in crates/certify/testdata (as `cargo bench -p kaic-certify` builds
//! them), laid out as in the program's repository, and a temporary SQLite registry.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kaic_certify::fill::{FillInput, fill};
use kaic_certify::synthetic;
use kaic_model::catalogue::ConformanceVersion;
use kaic_model::outcome::Outcome;
use kaic_registry::db::Db;

pub fn template_path(version: ConformanceVersion) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../certify/testdata/checklists/AIConformance-{version}.yaml"))
}

/// A run in which every check passes except gpu_sharing (not applicable): a submission filled from it
/// is valid.
pub fn passing_run(version: ConformanceVersion) -> kaic_model::RunReport {
    synthetic::report(version, |id| Some(if id == "gpu_sharing" { Outcome::NotApplicable } else { Outcome::Pass }))
}

/// Writes a valid submission of `vendor`'s `platform` under `root/v<version>/<folder>/`, with the run's
/// files (kaic-results.json, junit.xml, …) beside it, and returns the PRODUCT.yaml path.
pub fn write_submission(
    root: &Path,
    version: ConformanceVersion,
    folder: &str,
    vendor: &str,
    platform: &str,
    platform_version: &str,
) -> PathBuf {
    let dir = root.join(format!("v{version}")).join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let report = passing_run(version);
    synthetic::write_run_files(&dir, &report).unwrap();
    let mut info = synthetic::platform_info(version);
    info.metadata.vendor_name = Some(vendor.into());
    info.metadata.platform_name = Some(platform.into());
    info.metadata.platform_version = Some(platform_version.into());
    let template_path = template_path(version);
    let template_text = std::fs::read_to_string(&template_path).unwrap();
    let filled = fill(FillInput {
        template_path: &template_path,
        template_text: &template_text,
        platform_info_path: Path::new("platform-info.yaml"),
        platform_info: &info,
        report: &report,
        artifacts: &synthetic::artifacts(&report),
    })
    .unwrap();
    let product = dir.join("PRODUCT.yaml");
    std::fs::write(&product, filled.yaml).unwrap();
    product
}

/// Makes a submission invalid by `kaic validate`'s rules: one status is not one of the four.
pub fn break_submission(product: &Path) {
    let text = std::fs::read_to_string(product).unwrap();
    assert!(text.contains("status: \"Implemented\""), "the fixture has an Implemented status to break");
    std::fs::write(product, text.replacen("status: \"Implemented\"", "status: \"Done\"", 1)).unwrap();
}

/// A fresh SQLite registry in a temporary folder.
pub async fn sqlite_db(dir: &Path) -> Db {
    Db::connect(&format!("sqlite://{}", dir.join("registry.db").display())).await.unwrap()
}

/// A certification of platform `i` stored directly (no file): for tests that need many entries.
pub fn synthetic_certification(i: usize) -> kaic_registry::model::NewCertification {
    use kaic_registry::model::{Facts, NewCertification, platform_id};
    let (vendor, platform) = (format!("Bulk Vendor {}", i % 7), format!("Bulk Platform {i:03}"));
    NewCertification {
        platform_id: platform_id(&vendor, &platform, "1.37"),
        conformance_version: "1.37".into(),
        facts: Facts { vendor_name: vendor, platform_name: platform, platform_version: "1".into(), ..Facts::default() },
        certified_on: kaic_registry::dates::today(),
        date_source: kaic_registry::dates::DateSource::Imported,
        source: "test".into(),
        requirements: vec![],
        results_attached: false,
    }
}
