//! `driver_runtime_management`: the driver version the platform advertises is the one containers get.
//!
//! Reads what the platform advertises for one accelerator node — DRA device attributes (preferred by the
//! requirement) and node labels — runs the vendor probe on that node with one device, and compares each
//! advertised version with the version the runtime reports (e.g. `nvidia-smi`). Versions compare by their
//! numeric parts, so `580.95.5` (semver in DRA) equals `580.95.05` (nvidia-smi).
//!
//! Nothing advertised, or a probe that cannot read a version (vendor without a version tool) → unknown
//! with what to verify; unrecognised accelerator → unknown; no accelerators → not applicable.

use std::time::Duration;

use kaic_model::Verdict;

use super::inventory::{AcceleratorNode, Inventory, Path};
use super::probe::{self, ProbePod};
use super::{CaseResult, Finding, Policy, finish};
use crate::check::{AcceleratorUse, Check, CheckContext, CheckError};
use crate::timeouts::Wait;

pub struct DriverRuntimeManagement;

#[async_trait::async_trait]
impl Check for DriverRuntimeManagement {
    fn id(&self) -> &'static str {
        "driver_runtime_management"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["driver_runtime_management"]
    }

    fn accelerators(&self) -> AcceleratorUse {
        AcceleratorUse::Throughout
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(300)
    }

    fn waits(&self) -> &'static [(Wait, u32)] {
        &[(Wait::ProbePod, 1)]
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "one probe pod with one device on an accelerator node (DRA claim when the driver publishes devices, else the extended resource)",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let inventory = Inventory::read(ctx).await?;
        if inventory.nodes.is_empty() && inventory.unrecognised.is_empty() {
            return Ok(Verdict::not_applicable("the cluster has no accelerator nodes"));
        }
        // DRA first: the requirement prefers DRA as the mechanism for advertising versions.
        let paths: Vec<Path> = inventory.paths(ctx.options.allocation_mode).into_iter().rev().collect();
        let chosen = paths.iter().find_map(|p| inventory.best_node(*p, 1).map(|n| (*p, n)));
        let case = match (chosen, paths.first()) {
            (Some((path, node)), _) => compare(ctx, node, path).await?,
            (None, Some(path)) => CaseResult::Skipped(inventory.no_free_device(*path)),
            (None, None) => CaseResult::Skipped(
                "no accelerator node offers the allocation path chosen with --allocation-mode".into(),
            ),
        };
        Ok(finish(ctx, Policy::EveryCase, &[("driver version".into(), case)], &inventory))
    }
}

/// The versions a node advertises, as (source, version).
fn advertised(node: &AcceleratorNode) -> Vec<(String, String)> {
    let vendor = node.vendor;
    let mut found = Vec::new();
    for attribute in vendor.driver_version_attributes {
        let mut versions: Vec<&String> = node.dra.iter().filter_map(|d| d.attributes.get(*attribute)).collect();
        versions.dedup();
        for version in versions {
            found.push((format!("DRA attribute {attribute}"), version.clone()));
        }
    }
    for label in vendor.driver_version_labels {
        if let Some(version) = node.labels.get(*label) {
            found.push((format!("node label {label}"), version.clone()));
        }
    }
    found
}

async fn compare(ctx: &CheckContext, node: &AcceleratorNode, path: Path) -> Result<CaseResult, CheckError> {
    let advertised = advertised(node);
    if advertised.is_empty() {
        return Ok(CaseResult::Skipped(format!(
            "node {} advertises no {} driver version (looked for DRA attributes {:?} and node labels {:?}): verify by hand how the platform reports it",
            node.name, node.vendor.name, node.vendor.driver_version_attributes, node.vendor.driver_version_labels
        )));
    }
    for (source, version) in &advertised {
        ctx.step(format!("node {} advertises driver {version} via {source}", node.name));
    }
    let (grant, claims) = probe::prepare_one_device(ctx, node, path, "one-device").await?;
    let pod = ProbePod::on(node, "driver-probe", vec![("probe".into(), grant)], claims);
    let results = probe::run(ctx, &[pod]).await?;
    if let Some(error) = results.unusable(&[], &[("driver-probe", "probe")]) {
        return Ok(error);
    }
    let seen = results.get("driver-probe", "probe");
    let Some(runtime) = seen.driver_version.as_deref() else {
        return Ok(CaseResult::Skipped(format!(
            "the {} probe could not read a driver version in a container on {} (it saw {}): verify by hand with the vendor's tool",
            node.vendor.name,
            node.name,
            seen.describe()
        )));
    };
    ctx.step(format!("a container on {} ({} path) reports driver {runtime}", node.name, path.name()));
    let findings: Vec<Finding> = advertised
        .iter()
        .filter(|(_, version)| !same_version(version, runtime))
        .map(|(source, version)| Finding {
            what: format!("the advertised driver version ({source}) is not the one containers get"),
            expected: format!("{version} (advertised via {source})"),
            observed: format!("{runtime} reported inside a container on {}", node.name),
        })
        .collect();
    if !findings.is_empty() {
        return Ok(CaseResult::Violated(findings));
    }
    let sources: Vec<&str> = advertised.iter().map(|(s, _)| s.as_str()).collect();
    Ok(CaseResult::Passed(format!(
        "{} driver {runtime} advertised via {} matches what a container on {} reports",
        node.vendor.name,
        sources.join(" and "),
        node.name
    )))
}

/// Versions equal by their numeric parts (`580.95.05` == `580.95.5`; `v1.2` == `1.2.0`).
fn same_version(a: &str, b: &str) -> bool {
    fn parts(v: &str) -> Vec<u64> {
        let mut parts: Vec<u64> =
            v.trim().trim_start_matches('v').split(['.', '-', '+']).map_while(|p| p.parse::<u64>().ok()).collect();
        while parts.last() == Some(&0) && parts.len() > 1 {
            parts.pop();
        }
        parts
    }
    let (pa, pb) = (parts(a), parts(b));
    if pa.is_empty() || pb.is_empty() { a.trim() == b.trim() } else { pa == pb }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accelerators::inventory::tests::{gpu_node, slice};

    #[test]
    fn the_budget_covers_the_waits() {
        assert!(DriverRuntimeManagement.timeout() >= crate::timeouts::sum(DriverRuntimeManagement.waits()));
    }

    #[test]
    fn versions_compare_by_numbers() {
        assert!(same_version("580.95.05", "580.95.5"));
        assert!(same_version("v1.2", "1.2.0"));
        assert!(!same_version("580.95.05", "570.172.08"));
        assert!(same_version("weird", "weird"));
    }

    #[test]
    fn advertised_versions_come_from_dra_and_labels() {
        let inv = Inventory::from_objects(&[gpu_node("gpu-0", 4)], &[], &[slice("gpu-0", &["gpu-0", "gpu-1"])], &[]);
        let found = advertised(&inv.nodes[0]);
        assert_eq!(
            found,
            vec![
                ("DRA attribute driverVersion".to_string(), "580.95.5".to_string()),
                ("node label nvidia.com/cuda.driver-version.full".to_string(), "580.95.05".to_string()),
            ]
        );
    }
}
