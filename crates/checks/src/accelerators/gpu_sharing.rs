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
//! recorded as evidence. One mechanism shown to work is enough ([`Policy::AnyCase`]). A mechanism that is
//! offered but has no free device is unknown with what to do, never a failure; only a vendor whose
//! accelerators support sharing with no mechanism offered at all fails.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::resource::v1::ResourceClaim;
use kaic_model::Verdict;
use kaic_model::solutions::Subject;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use super::inventory::{AcceleratorNode, Inventory, Path};
use super::probe::{self, Grant, PodClaim, ProbePod, ProbeResults};
use super::{CaseResult, Finding, Policy, dra_beta_only_case, finish};
use crate::check::{AcceleratorUse, Check, CheckContext, CheckError, from_json};
use crate::timeouts::Wait;

pub struct GpuSharing;

const SHARING: Subject<'static> = Subject { works: "GPU sharing works", kinds: "accelerator sharing mechanisms" };

#[async_trait::async_trait]
impl Check for GpuSharing {
    fn id(&self) -> &'static str {
        "gpu_sharing"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["gpu_sharing"]
    }

    fn accelerators(&self) -> AcceleratorUse {
        AcceleratorUse::Throughout
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }

    /// One batch of probe pods per mechanism: DRA shared claim, time-slicing, partition.
    fn waits(&self) -> &'static [(Wait, u32)] {
        &[(Wait::ProbePod, 3)]
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
            if let Some((_, CaseResult::Skipped(beta))) = dra_beta_only_case(ctx) {
                return Ok(Verdict::unknown(format!("no accelerator node found outside DRA, and {beta}")));
            }
            return Ok(Verdict::not_applicable("the cluster has no accelerator nodes"));
        }
        record_dra_sharing_features(ctx, &inventory);
        let mode = ctx.options.allocation_mode;
        let mut cases = Vec::new();
        if mode.allows(Path::Dra) && inventory.nodes.iter().any(|n| n.offers(Path::Dra)) {
            let case = match inventory.best_node(Path::Dra, 1) {
                Some(node) => shared_claim(ctx, node).await?,
                None => CaseResult::Skipped(inventory.no_free_device(Path::Dra)),
            };
            cases.push(("DRA shared claim".to_string(), case));
        }
        if mode.allows(Path::Dra)
            && let Some((_, beta)) = dra_beta_only_case(ctx)
        {
            cases.push(("DRA shared claim".to_string(), beta));
        }
        if mode.allows(Path::DevicePlugin) {
            if let Some(offer) = time_sliced(&inventory) {
                let name = format!("time-slicing ({} replicas)", offer.replicas);
                let case = match offer.node {
                    Some(node) => time_slicing(ctx, node, offer.physical).await?,
                    None => CaseResult::Skipped(offer.why_not),
                };
                cases.push((name, case));
            }
            if let Some((resource, node)) = partition_offer(&inventory) {
                let case = match node {
                    Some(node) => partition(ctx, node, &resource).await?,
                    None => CaseResult::Skipped(format!(
                        "no Ready, uncordoned node has a free {resource}: free one and rerun, or verify by hand"
                    )),
                };
                cases.push((format!("partition {resource}"), case));
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
                    "no DRA devices, replicas label at most 1, no partition resources",
                ));
            }
        }
        Ok(finish(ctx, Policy::AnyCase(SHARING), &cases, &inventory))
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
    ctx.step(format!(
        "DRA shared claim: one claim for a {driver} device through kaic's DeviceClass {class}, two pods on {}",
        node.name
    ));
    let pod = |name: &str| {
        ProbePod::on(
            node,
            name,
            vec![("probe".into(), Grant::Claim { entry: "accel".into() })],
            vec![PodClaim::Existing { entry: "accel".into(), claim: "shared".into() }],
        )
    };
    let results = probe::run(ctx, &[pod("share-a"), pod("share-b")]).await?;
    if let Some(error) = results.unusable(&[], &[("share-a", "probe"), ("share-b", "probe")]) {
        return Ok(error);
    }
    Ok(judge_shared(&results, &["share-a", "share-b"]))
}

/// Both pods see exactly one device, the same.
fn judge_shared(results: &ProbeResults, pods: &[&str]) -> CaseResult {
    let seen: Vec<_> = pods.iter().map(|p| results.get(p, "probe")).collect();
    let ids: BTreeSet<Vec<String>> = seen.iter().map(|s| s.ids()).collect();
    if seen.iter().all(|s| s.count() == 1) && ids.len() == 1 {
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

/// Time-slicing or MPS replicas offered on a node, and the node to exercise them on if one has room.
struct TimeSliced<'a> {
    replicas: i64,
    physical: i64,
    /// A Ready, uncordoned node with enough free replicas for physical + 1 pods.
    node: Option<&'a AcceleratorNode>,
    /// Why no node has room, for the unknown verdict.
    why_not: String,
}

/// Nodes advertising more replicas than physical devices; the first with room for physical + 1 pods.
fn time_sliced(inventory: &Inventory) -> Option<TimeSliced<'_>> {
    let offers: Vec<(&AcceleratorNode, i64, i64)> = inventory
        .nodes
        .iter()
        .filter_map(|node| {
            let replicas: i64 = node.labels.get(node.vendor.replicas_label?)?.parse().ok()?;
            let physical: i64 = node.labels.get(node.vendor.count_label?)?.parse().ok()?;
            (replicas > 1).then_some((node, replicas, physical))
        })
        .collect();
    let (_, replicas, physical) = *offers.first()?;
    let room = offers.iter().find(|(n, _, p)| n.schedulable && n.free(Path::DevicePlugin) > *p);
    let why_not = format!(
        "time-slicing needs {} free replicas on one Ready, uncordoned node to show two pods sharing a device; {}: free some and rerun, or verify by hand",
        physical + 1,
        offers
            .iter()
            .map(|(n, _, _)| format!("{} has {} free", n.name, n.free(Path::DevicePlugin)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Some(match room {
        Some((node, replicas, physical)) => {
            TimeSliced { replicas: *replicas, physical: *physical, node: Some(node), why_not }
        }
        None => TimeSliced { replicas, physical, node: None, why_not },
    })
}

async fn time_slicing(ctx: &CheckContext, node: &AcceleratorNode, physical: i64) -> Result<CaseResult, CheckError> {
    let resource = node.free_extended().map(|(r, _)| r.to_string()).unwrap_or_default();
    let names: Vec<String> = (0..=physical).map(|i| format!("slice-{i}")).collect();
    let pods: Vec<ProbePod> = names
        .iter()
        .map(|name| {
            let grant = Grant::Extended { resource: resource.clone(), count: 1 };
            ProbePod::on(node, name, vec![("probe".into(), grant)], vec![])
        })
        .collect();
    let results = probe::run(ctx, &pods).await?;
    let holders: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "probe")).collect();
    if let Some(error) = results.unusable(&[], &holders) {
        return Ok(error);
    }
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

/// A hardware-partition resource some node advertises, and a Ready, uncordoned node with one free.
fn partition_offer(inventory: &Inventory) -> Option<(String, Option<&AcceleratorNode>)> {
    let is_partition = |node: &AcceleratorNode, resource: &str| {
        node.vendor.partition_resource_prefix.is_some_and(|prefix| resource.starts_with(prefix))
    };
    let free = inventory.nodes.iter().filter(|n| n.schedulable).find_map(|node| {
        node.extended
            .iter()
            .find(|(r, (alloc, used))| is_partition(node, r) && alloc > used)
            .map(|(r, _)| (r.clone(), Some(node)))
    });
    free.or_else(|| {
        inventory.nodes.iter().find_map(|node| {
            node.extended
                .iter()
                .find(|(r, (alloc, _))| is_partition(node, r) && *alloc > 0)
                .map(|(r, _)| (r.clone(), None))
        })
    })
}

async fn partition(ctx: &CheckContext, node: &AcceleratorNode, resource: &str) -> Result<CaseResult, CheckError> {
    let grant = Grant::Extended { resource: resource.into(), count: 1 };
    let pod = ProbePod::on(node, "partition", vec![("probe".into(), grant)], vec![]);
    let results = probe::run(ctx, &[pod]).await?;
    if let Some(error) = results.unusable(&[], &[("partition", "probe")]) {
        return Ok(error);
    }
    let seen = results.get("partition", "probe");
    Ok(if seen.count() == 1 {
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
    use crate::accelerators::inventory::tests::gpu_node;
    use crate::accelerators::probe::Seen;
    use crate::accelerators::tools::{Device, Listing};

    fn with(a: &str, b: &str) -> ProbeResults {
        let mut r = ProbeResults::default();
        for (pod, uuid) in [("share-a", a), ("share-b", b)] {
            let seen = Seen {
                devices: vec!["/dev/nvidia0".into()],
                listing: Listing::Devices(vec![Device { id: uuid.into(), product: "p".into() }]),
                driver_version: None,
            };
            r.seen.insert((pod.into(), "probe".into()), seen);
        }
        r
    }

    fn labelled(name: &str, replicas: &str, gpus: i64) -> k8s_openapi::api::core::v1::Node {
        let mut node = gpu_node(name, gpus);
        let labels = node.metadata.labels.as_mut().unwrap();
        labels.insert("nvidia.com/gpu.replicas".into(), replicas.into());
        labels.insert("nvidia.com/gpu.count".into(), "2".into());
        node
    }

    #[test]
    fn time_slicing_without_room_is_offered_but_not_exercised() {
        let inv = Inventory::from_objects(&[labelled("gpu-0", "4", 8)], &[], &[], &[]);
        let offer = time_sliced(&inv).unwrap();
        assert_eq!((offer.replicas, offer.physical), (4, 2));
        assert_eq!(offer.node.unwrap().name, "gpu-0");
        // Only 2 of 8 replicas free: not enough for 3 pods on 2 GPUs.
        let busy = Inventory::from_objects(&[labelled("gpu-0", "4", 2)], &[], &[], &[]);
        let offer = time_sliced(&busy).unwrap();
        assert!(offer.node.is_none());
        assert!(
            offer.why_not.contains("needs 3 free replicas") && offer.why_not.contains("gpu-0 has 2 free"),
            "{}",
            offer.why_not
        );
        assert!(time_sliced(&Inventory::from_objects(&[labelled("gpu-0", "1", 8)], &[], &[], &[])).is_none());
    }

    #[test]
    fn the_budget_covers_the_waits() {
        assert!(GpuSharing.timeout() >= crate::timeouts::sum(GpuSharing.waits()));
    }

    #[test]
    fn shared_claim_needs_the_same_device() {
        assert!(matches!(judge_shared(&with("GPU-1", "GPU-1"), &["share-a", "share-b"]), CaseResult::Passed(_)));
        let CaseResult::Violated(f) = judge_shared(&with("GPU-1", "GPU-2"), &["share-a", "share-b"]) else { panic!() };
        assert!(f[0].observed.contains("share-b sees /dev/nvidia0 [GPU-2]"));
    }
}
