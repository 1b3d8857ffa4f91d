//! `virtualized_accelerator`: virtualised accelerators (e.g. NVIDIA vGPU) are exposed and usable.
//!
//! Looks for virtual devices: vendor node labels (`nvidia.com/vgpu.present=true`), DRA device attributes
//! (`type` = `vgpu`), or product names that name vGPU/GRID profiles. None → not applicable, saying what was
//! looked for. Found → a probe pod holding one device on such a node must see exactly one device.

use std::time::Duration;

use kaic_model::Verdict;

use super::inventory::{AcceleratorNode, Inventory, Path};
use super::probe::{self, ProbePod};
use super::{CaseResult, Finding, Policy, finish};
use crate::check::{AcceleratorUse, Check, CheckContext, CheckError};
use crate::timeouts::Wait;

pub struct VirtualizedAccelerator;

#[async_trait::async_trait]
impl Check for VirtualizedAccelerator {
    fn id(&self) -> &'static str {
        "virtualized_accelerator"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["virtualized_accelerator"]
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
        &["one probe pod with one virtual device, only when the cluster has virtual devices"]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let inventory = Inventory::read(ctx).await?;
        let virtual_nodes: Vec<&AcceleratorNode> = inventory.nodes.iter().filter(|n| is_virtual(n)).collect();
        if virtual_nodes.is_empty() {
            if let Some(note) = inventory.unrecognised_note() {
                return Ok(Verdict::unknown(note));
            }
            return Ok(Verdict::not_applicable(
                "no virtualised accelerators found (looked for vGPU node labels, DRA attribute type=vgpu, vGPU/GRID product names)",
            ));
        }
        let mode = ctx.options.allocation_mode;
        let chosen = [Path::Dra, Path::DevicePlugin]
            .into_iter()
            .filter(|p| mode.allows(*p))
            .find_map(|p| virtual_nodes.iter().find(|n| n.schedulable && n.free(p) > 0).map(|n| (p, *n)));
        let case = match chosen {
            None => CaseResult::Skipped(format!(
                "no virtual device is free on a Ready, uncordoned node ({}): free one and rerun, or verify by hand",
                virtual_nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>().join(", ")
            )),
            Some((path, node)) => use_one(ctx, node, path).await?,
        };
        Ok(finish(ctx, Policy::EveryCase, &[("virtual device".into(), case)], &inventory))
    }
}

/// Whether a node's accelerators are virtual.
fn is_virtual(node: &AcceleratorNode) -> bool {
    let labelled = node.vendor.virtual_labels.iter().any(|l| node.labels.get(*l).is_some_and(|v| v == "true"));
    let dra_virtual = node.dra.iter().any(|d| {
        d.attributes.get("type").is_some_and(|t| t.eq_ignore_ascii_case("vgpu"))
            || d.attributes.get("productName").is_some_and(|p| looks_virtual(p))
    });
    labelled || dra_virtual
}

/// vGPU profile names: "GRID A100-4C", "NVIDIA A10-12Q", "… vGPU …".
fn looks_virtual(product: &str) -> bool {
    let upper = product.to_ascii_uppercase();
    upper.contains("VGPU") || upper.contains("GRID")
}

async fn use_one(ctx: &CheckContext, node: &AcceleratorNode, path: Path) -> Result<CaseResult, CheckError> {
    let (grant, claims) = probe::prepare_one_device(ctx, node, path, "one-device").await?;
    let pod = ProbePod::on(node, "vgpu-probe", vec![("probe".into(), grant)], claims);
    let results = probe::run(ctx, &[pod]).await?;
    if let Some(error) = results.unusable(&[], &[("vgpu-probe", "probe")]) {
        return Ok(error);
    }
    let seen = results.get("vgpu-probe", "probe");
    Ok(if seen.count() == 1 {
        CaseResult::Passed(format!(
            "a pod on {} ({} path) used virtual device {}",
            node.name,
            path.name(),
            seen.describe()
        ))
    } else {
        CaseResult::Violated(vec![Finding {
            what: "a pod holding one virtual device does not see exactly one".into(),
            expected: "1 device".into(),
            observed: seen.describe(),
        }])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_covers_the_waits() {
        assert!(VirtualizedAccelerator.timeout() >= crate::timeouts::sum(VirtualizedAccelerator.waits()));
    }

    #[test]
    fn recognises_vgpu_product_names() {
        assert!(looks_virtual("GRID A100-4C"));
        assert!(looks_virtual("NVIDIA A10 vGPU 12Q"));
        assert!(!looks_virtual("NVIDIA H100 80GB HBM3"));
    }
}
