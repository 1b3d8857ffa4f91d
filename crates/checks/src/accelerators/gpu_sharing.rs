//! `gpu_sharing`: at least one way to share an accelerator works, proven by two workloads landing on the
//! same physical device.
//!
//! Mechanisms exercised when present:
//! - **DRA shared claim**: one ResourceClaim referenced by two pods; both must see exactly one device, the
//!   same one. This proves sharing at the API level (both pods were given the device and list it); the
//!   probes do not run work on it at once, so a device in an exclusive compute mode would pass too, and
//!   the evidence says so.
//! - **time-slicing / MPS replicas** (device plugin; a node label with the clients per device above 1:
//!   GPU feature discovery's `nvidia.com/gpu.replicas`, GKE's `cloud.google.com/gke-max-shared-clients-per-gpu`
//!   with `cloud.google.com/gke-gpu-sharing-strategy`): one more single-device pod than the node has physical
//!   devices; by pigeonhole two must share a device.
//! - **hardware partitions**: MIG-style extended resources such as `nvidia.com/mig-1g.10gb` (the `mixed`
//!   strategy, GKE and AKS alike), or the plain resource on a node labelled with its partition profile
//!   (GKE's `cloud.google.com/gke-gpu-partition-size`, the `single` strategy's product label
//!   `…-MIG-1g.10gb`, as GPU feature discovery sets it on GPU Operator and AKS nodes): a pod asking for one
//!   partition sees exactly one device.
//!
//! DRA devices that allow multiple allocations or consume shared counters (partitionable devices) are
//! recorded as evidence. One mechanism shown to work is enough ([`Policy::AnyCase`]). A mechanism that is
//! offered but has no free device is unknown with what to do, never a failure. No mechanism configured is
//! unknown, saying how to enable one: the requirement is about what the platform supports, and kaic sees
//! only what the tested pools have configured. `--allocation-mode` leaving out every mechanism offered is
//! unknown too: the user's filter never fails the platform.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::resource::v1::ResourceClaim;
use kaic_model::Verdict;
use kaic_model::solutions::Subject;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use super::inventory::{AcceleratorNode, AllocationMode, Inventory, Path};
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
        let offered = offered(ctx, &inventory);
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
                let strategy = offer.strategy.as_deref().filter(|s| !s.is_empty() && *s != "none");
                let name = format!("{} ({} replicas)", strategy.unwrap_or("time-slicing"), offer.replicas);
                let case = match offer.node {
                    Some(node) => time_slicing(ctx, node, offer.physical).await?,
                    None => CaseResult::Skipped(offer.why_not),
                };
                cases.push((name, case));
            } else if let Some((name, why)) = unsized_sharing(&inventory) {
                cases.push((name, CaseResult::Skipped(why)));
            }
            if let Some(offer) = partition_offer(&inventory) {
                let case = match offer.node {
                    Some(node) => partition(ctx, node, &offer.resource).await?,
                    None => CaseResult::Skipped(format!(
                        "no Ready, uncordoned node has a free {}: free one and rerun, or verify by hand",
                        offer.resource
                    )),
                };
                cases.push((offer.name, case));
            }
        }
        if cases.is_empty() && inventory.unrecognised.is_empty() {
            return Ok(nothing_exercised(mode, &offered));
        }
        Ok(finish(ctx, Policy::AnyCase(SHARING), &cases, &inventory))
    }
}

/// The mechanisms the cluster offers, whatever `--allocation-mode` says, by path.
fn offered(ctx: &CheckContext, inventory: &Inventory) -> Vec<(Path, String)> {
    let mut offered = Vec::new();
    if inventory.nodes.iter().any(|n| n.offers(Path::Dra)) || dra_beta_only_case(ctx).is_some() {
        offered.push((Path::Dra, "DRA shared claims".to_string()));
    }
    if let Some(offer) = time_sliced(inventory) {
        offered.push((Path::DevicePlugin, format!("time-slicing/MPS ({} replicas)", offer.replicas)));
    } else if let Some((name, _)) = unsized_sharing(inventory) {
        offered.push((Path::DevicePlugin, name));
    }
    if let Some(offer) = partition_offer(inventory) {
        offered.push((Path::DevicePlugin, offer.name));
    }
    offered
}

/// The verdict when no mechanism was exercised: unknown, never fail. Either the mode filter left out
/// what is offered, or the tested pools have no sharing configured (the platform may still support it).
fn nothing_exercised(mode: AllocationMode, offered: &[(Path, String)]) -> Verdict {
    if !offered.is_empty() {
        let names: Vec<String> = offered.iter().map(|(path, name)| format!("{name} ({})", path.name())).collect();
        return Verdict::unknown(format!(
            "--allocation-mode {} leaves out every sharing mechanism the cluster offers ({}): rerun without it, or \
             verify by hand",
            mode.name(),
            names.join(", ")
        ));
    }
    Verdict::unknown(
        "no accelerator sharing mechanism is configured on the accelerator nodes: no DRA devices, no time-slicing or MPS \
         (nvidia.com/gpu.replicas or cloud.google.com/gke-max-shared-clients-per-gpu above 1), no MIG partitions \
         (nvidia.com/mig-* resources, the MIG single strategy, cloud.google.com/gke-gpu-partition-size). Enable one on a \
         pool and rerun — GPU Operator time-slicing or MPS (a device-plugin sharing config), MIG (GPU Operator's MIG \
         manager, AKS --gpu-instance-profile, GKE --accelerator gpu-partition-size=…), GKE \
         --accelerator gpu-sharing-strategy=time-sharing|mps,max-shared-clients-per-gpu=N, or a DRA driver such as \
         NVIDIA's — or verify by hand that the platform supports sharing",
    )
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
        CaseResult::Passed(format!(
            "{} pods saw the same device {} through one claim (API-level sharing: both were given the device and list \
             it; they did not run work on it at once)",
            pods.len(),
            seen[0].describe()
        ))
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
    /// The node's sharing strategy as its label names it (`time-slicing`, `mps`, `time-sharing`).
    strategy: Option<String>,
    replicas: i64,
    physical: i64,
    /// A Ready, uncordoned node with enough free replicas for physical + 1 pods.
    node: Option<&'a AcceleratorNode>,
    /// Why no node has room, for the unknown verdict.
    why_not: String,
}

/// Nodes whose device plugin shares each physical device between several containers (more clients than
/// devices); the first with room for physical + 1 pods.
fn time_sliced(inventory: &Inventory) -> Option<TimeSliced<'_>> {
    let offers: Vec<(&AcceleratorNode, i64, i64)> = inventory
        .nodes
        .iter()
        .filter_map(|node| {
            let (_, replicas) = node.shared_clients()?;
            let physical = node.physical_devices();
            (physical > 0).then_some((node, replicas, physical))
        })
        .collect();
    let (first, replicas, physical) = *offers.first()?;
    let strategy = |node: &AcceleratorNode| {
        node.vendor.sharing_strategy_labels.iter().find_map(|l| node.labels.get(*l)).map(|v| v.trim().to_string())
    };
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
            TimeSliced { strategy: strategy(node), replicas: *replicas, physical: *physical, node: Some(node), why_not }
        }
        None => TimeSliced { strategy: strategy(first), replicas, physical, node: None, why_not },
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

/// A node that shares its devices through the device plugin (a strategy label, a renamed `.shared`
/// resource) with no label saying by how many containers: offered, but kaic cannot size the pods that
/// must share a device, so it is a case for a person, never "no mechanism".
fn unsized_sharing(inventory: &Inventory) -> Option<(String, String)> {
    inventory.nodes.iter().find_map(|node| {
        let why = node.sharing(Path::DevicePlugin)?;
        Some((
            "time-slicing/MPS".to_string(),
            format!(
                "{} shares its devices ({why}) but no label says how many containers share one ({}): verify by hand that \
                 two pods share a device there",
                node.name,
                node.vendor.shared_clients_labels.join(", ")
            ),
        ))
    })
}

/// Hardware partitions some node advertises: the case's name, the resource to ask for, and a Ready,
/// uncordoned node with one free if any.
struct PartitionOffer<'a> {
    name: String,
    resource: String,
    node: Option<&'a AcceleratorNode>,
}

/// The partitions of a node, as (case name, resource, allocatable, in use): MIG-style resources, and the
/// plain resource where a label names the partition profile every device is (GKE, MIG `single`).
fn partitions(node: &AcceleratorNode) -> Vec<(String, String, i64, i64)> {
    let mut found: Vec<(String, String, i64, i64)> = node
        .extended
        .iter()
        .filter(|(r, _)| node.vendor.partition_resource_prefix.is_some_and(|prefix| r.starts_with(prefix)))
        .map(|(r, (alloc, used))| (format!("partition {r}"), r.clone(), *alloc, *used))
        .collect();
    if let Some((label, profile)) = node.partition_profile() {
        for resource in node.vendor.extended_resources {
            if let Some((alloc, used)) = node.extended.get(*resource) {
                let name = format!("partition {profile} ({resource}, node label {label})");
                found.push((name, (*resource).to_string(), *alloc, *used));
            }
        }
    }
    found
}

/// A partition some node advertises, preferring one free on a Ready, uncordoned node.
fn partition_offer(inventory: &Inventory) -> Option<PartitionOffer<'_>> {
    let free = inventory.nodes.iter().filter(|n| n.schedulable).find_map(|node| {
        partitions(node)
            .into_iter()
            .find(|(_, _, alloc, used)| alloc > used)
            .map(|(name, resource, _, _)| PartitionOffer { name, resource, node: Some(node) })
    });
    free.or_else(|| {
        inventory.nodes.iter().find_map(|node| {
            partitions(node)
                .into_iter()
                .find(|(_, _, alloc, _)| *alloc > 0)
                .map(|(name, resource, _, _)| PartitionOffer { name, resource, node: None })
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

    fn with_labels(name: &str, gpus: i64, labels: &[(&str, &str)]) -> k8s_openapi::api::core::v1::Node {
        let mut node = gpu_node(name, gpus);
        let map = node.metadata.labels.as_mut().unwrap();
        for (k, v) in labels {
            map.insert((*k).into(), (*v).into());
        }
        node
    }

    /// GKE time-sharing: no GPU feature discovery labels, only GKE's; 2 GPUs shared 3 ways advertise 6.
    #[test]
    fn gke_time_sharing_is_recognised() {
        let gke = with_labels(
            "gke-0",
            6,
            &[
                ("cloud.google.com/gke-gpu-sharing-strategy", "time-sharing"),
                ("cloud.google.com/gke-max-shared-clients-per-gpu", "3"),
            ],
        );
        let inv = Inventory::from_objects(&[gke], &[], &[], &[]);
        let offer = time_sliced(&inv).unwrap();
        assert_eq!((offer.replicas, offer.physical, offer.strategy.as_deref()), (3, 2, Some("time-sharing")));
        assert_eq!(offer.node.unwrap().name, "gke-0");
        // GPU Operator time-slicing renamed to nvidia.com/gpu.shared: the renamed resource is counted.
        let mut renamed = labelled("ts-0", "4", 0);
        let allocatable = renamed.status.as_mut().unwrap().allocatable.as_mut().unwrap();
        allocatable.insert(
            "nvidia.com/gpu.shared".into(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("8".into()),
        );
        let inv = Inventory::from_objects(&[renamed], &[], &[], &[]);
        let offer = time_sliced(&inv).unwrap();
        assert_eq!((offer.replicas, offer.physical), (4, 2));
        assert_eq!(offer.node.unwrap().free_extended(), Some(("nvidia.com/gpu.shared", 8)));
    }

    #[test]
    fn partitions_are_recognised_from_resources_and_profile_labels() {
        let gke = with_labels("gke-mig", 7, &[("cloud.google.com/gke-gpu-partition-size", "1g.5gb")]);
        let inv = Inventory::from_objects(&[gke], &[], &[], &[]);
        let offer = partition_offer(&inv).unwrap();
        assert_eq!(offer.name, "partition 1g.5gb (nvidia.com/gpu, node label cloud.google.com/gke-gpu-partition-size)");
        assert_eq!((offer.resource.as_str(), offer.node.unwrap().name.as_str()), ("nvidia.com/gpu", "gke-mig"));
        // GPU feature discovery under the MIG single strategy (GPU Operator, AKS with its device plugin).
        let single = with_labels(
            "aks-mig",
            7,
            &[("nvidia.com/mig.strategy", "single"), ("nvidia.com/gpu.product", "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb")],
        );
        let inv = Inventory::from_objects(&[single], &[], &[], &[]);
        assert!(partition_offer(&inv).unwrap().name.starts_with("partition 1g.10gb (nvidia.com/gpu"));
        // The mixed strategy: MIG resources by name, without any whole GPU.
        let mut mixed = gpu_node("mixed", 0);
        let allocatable = mixed.status.as_mut().unwrap().allocatable.as_mut().unwrap();
        allocatable.insert(
            "nvidia.com/mig-1g.5gb".into(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("7".into()),
        );
        let inv = Inventory::from_objects(&[mixed], &[], &[], &[]);
        let offer = partition_offer(&inv).unwrap();
        assert_eq!(
            (offer.name.as_str(), offer.resource.as_str()),
            ("partition nvidia.com/mig-1g.5gb", "nvidia.com/mig-1g.5gb")
        );
        // testenv's nodes: MIG-capable, not partitioned.
        let whole = with_labels(
            "whole",
            4,
            &[("nvidia.com/mig.strategy", "single"), ("nvidia.com/gpu.product", "NVIDIA-H100")],
        );
        assert!(partition_offer(&Inventory::from_objects(&[whole], &[], &[], &[])).is_none());
    }

    /// MPS named by its strategy label only: offered, a case for a person, not "nothing configured".
    #[test]
    fn sharing_without_a_clients_count_is_left_to_a_person() {
        let mps = with_labels("mps-0", 4, &[("nvidia.com/gpu.sharing-strategy", "mps")]);
        let inv = Inventory::from_objects(&[mps], &[], &[], &[]);
        assert!(time_sliced(&inv).is_none());
        let (name, why) = unsized_sharing(&inv).unwrap();
        assert_eq!(name, "time-slicing/MPS");
        assert!(why.starts_with("mps-0 shares its devices (nvidia.com/gpu.sharing-strategy=mps)"), "{why}");
        let plain = with_labels("plain", 4, &[("nvidia.com/gpu.sharing-strategy", "none")]);
        assert!(unsized_sharing(&Inventory::from_objects(&[plain], &[], &[], &[])).is_none());
    }

    /// Nothing exercised is never a failure: either the mode filter left out what the cluster offers, or
    /// no pool has sharing configured, and the verdict says how to enable it.
    #[test]
    fn no_mechanism_is_unknown_with_how_to_enable_one() {
        let none = nothing_exercised(AllocationMode::Auto, &[]);
        assert_eq!(none.outcome, kaic_model::Outcome::Unknown);
        assert!(none.reason.starts_with("no accelerator sharing mechanism is configured"), "{}", none.reason);
        for how in ["time-slicing or MPS", "gke-max-shared-clients-per-gpu", "--gpu-instance-profile", "DRA driver"] {
            assert!(none.reason.contains(how), "{how}: {}", none.reason);
        }
        let filtered =
            nothing_exercised(AllocationMode::Dra, &[(Path::DevicePlugin, "time-slicing/MPS (4 replicas)".into())]);
        assert_eq!(filtered.outcome, kaic_model::Outcome::Unknown);
        assert_eq!(
            filtered.reason,
            "--allocation-mode dra leaves out every sharing mechanism the cluster offers (time-slicing/MPS (4 replicas) \
             (device-plugin)): rerun without it, or verify by hand"
        );
    }

    #[test]
    fn the_budget_covers_the_waits() {
        assert!(GpuSharing.timeout() >= crate::timeouts::sum(GpuSharing.waits()));
    }

    #[test]
    fn shared_claim_needs_the_same_device() {
        let CaseResult::Passed(text) = judge_shared(&with("GPU-1", "GPU-1"), &["share-a", "share-b"]) else { panic!() };
        assert!(text.contains("(API-level sharing: both were given the device and list it"), "{text}");
        let CaseResult::Violated(f) = judge_shared(&with("GPU-1", "GPU-2"), &["share-a", "share-b"]) else { panic!() };
        assert!(f[0].observed.contains("share-b sees /dev/nvidia0 [GPU-2]"));
    }
}
