//! `gpu_sharing`: at least one way to share an accelerator works, proven by two workloads landing on the
//! same physical device.
//!
//! Mechanisms exercised when present:
//! - **DRA shared claim**: one ResourceClaim referenced by two pods; both must see exactly one device, the
//!   same one.
//! - **time-slicing / MPS replicas** (device plugin, node label such as `nvidia.com/gpu.replicas` > 1): one
//!   more single-device pod than the node has physical devices; by pigeonhole two must share a device.
//! - **hardware partitions** (MIG-style extended resources such as `nvidia.com/mig-1g.10gb`): a pod asking
//!   for one partition sees exactly one device.
//!
//! DRA devices that allow multiple allocations or consume shared counters (partitionable devices) are
//! recorded as evidence. None exercisable: fail for a vendor whose accelerators are known to support
//! sharing, unknown otherwise.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::resource::v1::ResourceClaim;
use kaic_model::Verdict;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use super::inventory::{AcceleratorNode, Inventory, Path};
use super::probe::{self, Grant, PodClaim, ProbePod, ProbeResults};
use super::{CaseResult, Finding, conclude};
use crate::check::{Check, CheckContext, CheckError, from_json};

pub struct GpuSharing;

#[async_trait::async_trait]
impl Check for GpuSharing {
    fn id(&self) -> &'static str {
        "gpu_sharing"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["gpu_sharing"]
    }

    fn uses_accelerators(&self) -> bool {
        true
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "DRA: a DeviceClass, one ResourceClaim and two probe pods sharing it",
            "time-slicing: physical-count + 1 single-device probe pods on one node",
            "partitions: one probe pod asking for one partition",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let inventory = Inventory::read(ctx).await?;
        if inventory.nodes.is_empty() && inventory.unrecognised.is_empty() {
            return Ok(Verdict::not_applicable("the cluster has no accelerator nodes"));
        }
        record_dra_sharing_features(ctx, &inventory);
        let mode = ctx.options.allocation_mode;
        let mut cases = Vec::new();
        if mode.allows(Path::Dra)
            && let Some(node) = inventory.best_node(Path::Dra, 1)
        {
            cases.push(("DRA shared claim".to_string(), shared_claim(ctx, node).await?));
        }
        if mode.allows(Path::DevicePlugin) {
            if let Some((node, replicas, physical)) = time_sliced_node(&inventory) {
                cases.push((format!("time-slicing ({replicas} replicas)"), time_slicing(ctx, node, physical).await?));
            }
            if let Some((node, resource)) = partition_node(&inventory) {
                cases.push((format!("partition {resource}"), partition(ctx, node, &resource).await?));
            }
        }
        if cases.is_empty() {
            let supports = inventory
                .nodes
                .iter()
                .any(|n| n.vendor.replicas_label.is_some() || n.vendor.partition_resource_prefix.is_some());
            if supports && inventory.unrecognised.is_empty() {
                return Ok(Verdict::fail(
                    "no GPU sharing mechanism is offered",
                    "DRA devices that can be claimed (shared claims), time-slicing/MPS replicas > 1, or partition resources",
                    "no free DRA device, replicas label at most 1, no partition resources",
                ));
            }
        }
        Ok(conclude(&cases, &inventory))
    }
}

fn record_dra_sharing_features(ctx: &CheckContext, inventory: &Inventory) {
    for node in &inventory.nodes {
        let shareable = node.dra.iter().filter(|d| d.shareable).count();
        let partitions = node.dra.iter().filter(|d| d.partition).count();
        if shareable + partitions > 0 {
            ctx.step(format!("node {}: {shareable} DRA devices allow multiple allocations, {partitions} are partitions of shared counters", node.name));
        }
    }
}

/// Two pods share one ResourceClaim and must see the same single device.
async fn shared_claim(ctx: &CheckContext, node: &AcceleratorNode) -> Result<CaseResult, CheckError> {
    let driver = node.free_dra().first().map(|d| d.driver.clone()).unwrap_or_default();
    let class = probe::device_class(ctx, &driver).await?;
    let claims: Api<ResourceClaim> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let claim: ResourceClaim = from_json(json!({
        "metadata": {"name": "shared", "labels": ctx.labels()},
        "spec": {"devices": {"requests": [{"name": "dev", "exactly": {"deviceClassName": class}}]}}
    }))?;
    claims
        .create(&PostParams::default(), &claim)
        .await
        .map_err(|e| CheckError::api("create ResourceClaim shared", e))?;
    let pod = |name: &str| ProbePod {
        name: name.into(),
        node: node.name.clone(),
        vendor: node.vendor,
        containers: vec![("probe".into(), Grant::Claim { entry: "accel".into() })],
        claims: vec![PodClaim::Existing { entry: "accel".into(), claim: "shared".into() }],
    };
    let results = probe::run(ctx, &[pod("share-a"), pod("share-b")], Duration::from_secs(180)).await?;
    Ok(judge_shared(&results, &["share-a", "share-b"]))
}

/// Both pods see exactly one device, the same.
fn judge_shared(results: &ProbeResults, pods: &[&str]) -> CaseResult {
    let seen: Vec<_> = pods.iter().map(|p| results.get(p, "probe")).collect();
    let ids: BTreeSet<Vec<String>> = seen.iter().map(|s| s.ids()).collect();
    if seen.iter().all(|s| s.devices.len() == 1) && ids.len() == 1 {
        CaseResult::Passed(format!("{} pods saw the same device {} through one claim", pods.len(), seen[0].describe()))
    } else {
        CaseResult::Violated(vec![Finding {
            what: "pods sharing one claim do not see the same single device".into(),
            expected: "each pod sees 1 device, the same one".into(),
            observed: seen
                .iter()
                .zip(pods)
                .map(|(s, p)| format!("{p} sees {}", s.describe()))
                .collect::<Vec<_>>()
                .join(", "),
        }])
    }
}

/// A node advertising more replicas than physical devices, with enough free replicas for physical + 1 pods.
fn time_sliced_node(inventory: &Inventory) -> Option<(&AcceleratorNode, i64, i64)> {
    inventory.nodes.iter().find_map(|node| {
        let replicas: i64 = node.labels.get(node.vendor.replicas_label?)?.parse().ok()?;
        let physical: i64 = node.labels.get(node.vendor.count_label?)?.parse().ok()?;
        (replicas > 1 && node.free(Path::DevicePlugin) > physical).then_some((node, replicas, physical))
    })
}

async fn time_slicing(ctx: &CheckContext, node: &AcceleratorNode, physical: i64) -> Result<CaseResult, CheckError> {
    let resource = node.free_extended().map(|(r, _)| r.to_string()).unwrap_or_default();
    let names: Vec<String> = (0..=physical).map(|i| format!("slice-{i}")).collect();
    let pods: Vec<ProbePod> = names
        .iter()
        .map(|name| ProbePod {
            name: name.clone(),
            node: node.name.clone(),
            vendor: node.vendor,
            containers: vec![("probe".into(), Grant::Extended { resource: resource.clone(), count: 1 })],
            claims: vec![],
        })
        .collect();
    let results = probe::run(ctx, &pods, Duration::from_secs(180)).await?;
    let ids: Vec<Vec<String>> = names.iter().map(|n| results.get(n, "probe").ids()).collect();
    let distinct: BTreeSet<&Vec<String>> = ids.iter().collect();
    if ids.iter().all(|i| i.len() == 1) && distinct.len() < ids.len() {
        Ok(CaseResult::Passed(format!("{} pods ran on {physical} physical devices, sharing them", ids.len())))
    } else {
        Ok(CaseResult::Violated(vec![Finding {
            what: "time-slicing is advertised but pods did not share devices".into(),
            expected: format!("{} single-device pods on {physical} physical devices, some sharing one", ids.len()),
            observed: format!("devices seen: {ids:?}"),
        }]))
    }
}

/// A node with a free hardware-partition resource.
fn partition_node(inventory: &Inventory) -> Option<(&AcceleratorNode, String)> {
    inventory.nodes.iter().find_map(|node| {
        let prefix = node.vendor.partition_resource_prefix?;
        node.extended
            .iter()
            .find(|(r, (alloc, used))| r.starts_with(prefix) && alloc > used)
            .map(|(r, _)| (node, r.clone()))
    })
}

async fn partition(ctx: &CheckContext, node: &AcceleratorNode, resource: &str) -> Result<CaseResult, CheckError> {
    let pod = ProbePod {
        name: "partition".into(),
        node: node.name.clone(),
        vendor: node.vendor,
        containers: vec![("probe".into(), Grant::Extended { resource: resource.into(), count: 1 })],
        claims: vec![],
    };
    let results = probe::run(ctx, &[pod], Duration::from_secs(180)).await?;
    let seen = results.get("partition", "probe");
    Ok(if seen.devices.len() == 1 {
        CaseResult::Passed(format!("a pod asking for one {resource} saw {}", seen.describe()))
    } else {
        CaseResult::Violated(vec![Finding {
            what: format!("a pod asking for one {resource} does not see exactly one device"),
            expected: "1 device".into(),
            observed: seen.describe(),
        }])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accelerators::probe::{Gpu, Seen};

    fn with(a: &str, b: &str) -> ProbeResults {
        let mut r = ProbeResults::default();
        for (pod, uuid) in [("share-a", a), ("share-b", b)] {
            let seen = Seen {
                devices: vec!["/dev/nvidia0".into()],
                gpus: vec![Gpu { uuid: uuid.into(), driver_version: "1".into(), product: "p".into() }],
            };
            r.seen.insert((pod.into(), "probe".into()), seen);
        }
        r
    }

    #[test]
    fn shared_claim_needs_the_same_device() {
        assert!(matches!(judge_shared(&with("GPU-1", "GPU-1"), &["share-a", "share-b"]), CaseResult::Passed(_)));
        let CaseResult::Violated(f) = judge_shared(&with("GPU-1", "GPU-2"), &["share-a", "share-b"]) else { panic!() };
        assert!(f[0].observed.contains("share-b sees /dev/nvidia0 [GPU-2]"));
    }
}
