//! The accelerator inventory: which nodes carry which vendor's devices, through which allocation path
//! (device-plugin extended resources, DRA ResourceSlices), how many are free, whether kaic may place a
//! pod there (Ready, not cordoned), and which accelerators kaic does not recognise.
//!
//! Cluster-wide lists are paginated, and pods are listed per accelerator node (field selector
//! `spec.nodeName`), so a large cluster is never read in one response.

use std::collections::{BTreeMap, BTreeSet};

use std::fmt::Debug;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::resource::v1::{Device, DeviceAttribute, ResourceClaim, ResourceSlice};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::ListParams;
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::counters;
use super::vendor::{Vendor, looks_like_accelerator};
use crate::capability::Capability;
use crate::check::{CheckContext, CheckError};
use crate::{labels, pods};

/// Page size of cluster-wide lists.
const PAGE: u32 = 250;

/// Above this many accelerator nodes the pods are listed cluster-wide (paginated) rather than per node.
const PER_NODE_POD_LISTS: usize = 32;

/// How a pod asks for an accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    /// An extended resource such as `nvidia.com/gpu`, served by a device plugin.
    DevicePlugin,
    /// A DRA ResourceClaim for a device published in a ResourceSlice.
    Dra,
}

impl Path {
    pub fn name(self) -> &'static str {
        match self {
            Path::DevicePlugin => "device-plugin",
            Path::Dra => "DRA",
        }
    }
}

/// Which allocation paths a check exercises (`--allocation-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllocationMode {
    /// Every path the cluster offers.
    #[default]
    Auto,
    Dra,
    DevicePlugin,
}

impl AllocationMode {
    /// The value as `--allocation-mode` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Dra => "dra",
            Self::DevicePlugin => "device-plugin",
        }
    }

    pub fn allows(self, path: Path) -> bool {
        matches!((self, path), (Self::Auto, _) | (Self::Dra, Path::Dra) | (Self::DevicePlugin, Path::DevicePlugin))
    }
}

/// One DRA device published for a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraDevice {
    pub driver: String,
    pub pool: String,
    pub name: String,
    /// Attributes as strings (`int`, `bool` and `version` values printed).
    pub attributes: BTreeMap<String, String>,
    pub allocated: bool,
    /// Not allocated, but allocated devices used up the shared counters it needs ([`counters`]), so the
    /// scheduler cannot allocate it either.
    pub exhausted: bool,
    /// Whether several claims may share it (consumable capacity).
    pub shareable: bool,
    /// Whether it consumes shared counters (a partition of a physical device).
    pub partition: bool,
}

/// One node with accelerators of one vendor.
#[derive(Debug, Clone)]
pub struct AcceleratorNode {
    pub name: String,
    pub vendor: &'static Vendor,
    pub labels: BTreeMap<String, String>,
    /// Ready and not cordoned: kaic places pods only on such nodes.
    pub schedulable: bool,
    /// Tolerations for the node's own dedicated taints, never its cordon or NotReady taints.
    pub tolerations: Value,
    /// Extended resource name → (allocatable, requested by running pods).
    pub extended: BTreeMap<String, (i64, i64)>,
    pub dra: Vec<DraDevice>,
}

impl AcceleratorNode {
    /// The vendor's device-plugin resource on this node with free capacity, and how much is free.
    pub fn free_extended(&self) -> Option<(&str, i64)> {
        self.vendor
            .extended_resources
            .iter()
            .filter_map(|r| self.extended.get(*r).map(|(alloc, used)| (*r, alloc - used)))
            .max_by_key(|(_, free)| *free)
            .filter(|(_, free)| *free > 0)
    }

    /// Free DRA devices of the vendor's drivers on this node: neither allocated nor out of shared counters.
    pub fn free_dra(&self) -> Vec<&DraDevice> {
        self.dra
            .iter()
            .filter(|d| !d.allocated && !d.exhausted && self.vendor.dra_drivers.contains(&d.driver.as_str()))
            .collect()
    }

    /// How many devices are free through `path`.
    pub fn free(&self, path: Path) -> i64 {
        match path {
            Path::DevicePlugin => self.free_extended().map_or(0, |(_, n)| n),
            Path::Dra => i64::try_from(self.free_dra().len()).unwrap_or(i64::MAX),
        }
    }

    /// Whether this node offers `path` at all (free or not).
    pub fn offers(&self, path: Path) -> bool {
        match path {
            Path::DevicePlugin => {
                self.vendor.extended_resources.iter().any(|r| self.extended.get(*r).is_some_and(|(a, _)| *a > 0))
            }
            Path::Dra => self.dra.iter().any(|d| self.vendor.dra_drivers.contains(&d.driver.as_str())),
        }
    }
}

/// Everything kaic learnt about the cluster's accelerators.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub nodes: Vec<AcceleratorNode>,
    /// Accelerator-looking resources or drivers of no known vendor, described for a human.
    pub unrecognised: Vec<String>,
}

impl Inventory {
    /// Reads nodes, ResourceSlices and ResourceClaims, then the running pods of the accelerator nodes.
    ///
    /// # Errors
    /// [`CheckError::Api`] when a list call fails.
    pub async fn read(ctx: &CheckContext) -> Result<Self, CheckError> {
        let nodes: Vec<Node> = list_all(&Api::all(ctx.client.clone()), ListParams::default(), "nodes").await?;
        let (slices, claims) = if ctx.capabilities.has(Capability::Dra) {
            (
                list_all(&Api::all(ctx.client.clone()), ListParams::default(), "ResourceSlices").await?,
                list_all(&Api::all(ctx.client.clone()), ListParams::default(), "ResourceClaims").await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        // Pods matter only on accelerator nodes (for the extended resources they hold).
        let accelerator_nodes = Self::from_objects(&nodes, &[], &slices, &claims).nodes;
        let running = "status.phase!=Succeeded,status.phase!=Failed";
        let pods_api: Api<Pod> = Api::all(ctx.client.clone());
        let mut pods = Vec::new();
        if accelerator_nodes.len() <= PER_NODE_POD_LISTS {
            for node in &accelerator_nodes {
                let fields = format!("spec.nodeName={},{running}", node.name);
                pods.extend(list_all(&pods_api, ListParams::default().fields(&fields), "pods").await?);
            }
        } else {
            pods = list_all(&pods_api, ListParams::default().fields(running), "pods").await?;
        }
        let inventory = Self::from_objects(&nodes, &pods, &slices, &claims);
        for node in inventory.nodes.iter().filter(|n| !n.schedulable) {
            ctx.step(format!("node {} is cordoned or not Ready: kaic places no pod there", node.name));
        }
        Ok(inventory)
    }

    /// Builds the inventory from listed objects (pure, so it is unit-tested).
    pub fn from_objects(nodes: &[Node], pods: &[Pod], slices: &[ResourceSlice], claims: &[ResourceClaim]) -> Self {
        let allocated: BTreeSet<(String, String, String)> = claims.iter().flat_map(allocated_devices).collect();
        let exhausted = counters::exhausted(slices, &allocated);
        let mut dra_by_node: BTreeMap<String, Vec<DraDevice>> = BTreeMap::new();
        let mut unrecognised = BTreeSet::new();
        for slice in slices {
            let ours = slice.labels().get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE);
            if ours {
                continue;
            }
            let driver = &slice.spec.driver;
            if Vendor::for_driver(driver).is_none() {
                if looks_like_accelerator(driver) {
                    unrecognised.insert(format!("DRA driver {driver}"));
                }
                continue;
            }
            for device in slice.spec.devices.iter().flatten() {
                let Some(node) = device.node_name.clone().or_else(|| slice.spec.node_name.clone()) else { continue };
                let key = (driver.clone(), slice.spec.pool.name.clone(), device.name.clone());
                dra_by_node.entry(node).or_default().push(DraDevice {
                    allocated: allocated.contains(&key),
                    exhausted: exhausted.contains(&key),
                    driver: key.0,
                    pool: key.1,
                    name: key.2,
                    attributes: attributes_text(device),
                    shareable: device.allow_multiple_allocations == Some(true),
                    partition: device.consumes_counters.as_ref().is_some_and(|c| !c.is_empty()),
                });
            }
        }
        let mut used: BTreeMap<(String, String), i64> = BTreeMap::new();
        for pod in pods {
            let Some(spec) = pod.spec.as_ref() else { continue };
            let Some(node) = spec.node_name.clone() else { continue };
            for container in &spec.containers {
                let requests = container.resources.as_ref().and_then(|r| r.limits.as_ref().or(r.requests.as_ref()));
                for (name, quantity) in requests.into_iter().flatten() {
                    *used.entry((node.clone(), name.clone())).or_default() += quantity_count(quantity);
                }
            }
        }
        let mut result = Vec::new();
        for node in nodes {
            let name = node.name_any();
            let labels = node.labels().clone();
            let allocatable = node.status.as_ref().and_then(|s| s.allocatable.clone()).unwrap_or_default();
            let mut extended: BTreeMap<String, (i64, i64)> = BTreeMap::new();
            let mut vendor: Option<&'static Vendor> = None;
            for (resource, quantity) in &allocatable {
                if let Some(v) = Vendor::for_resource(resource).or_else(|| Vendor::for_partition(resource)) {
                    // Whole devices, shared or not, and MIG-style partitions are counted with their vendor.
                    vendor.get_or_insert(v);
                } else if resource.contains('/')
                    && !resource.starts_with("hugepages")
                    && looks_like_accelerator(resource)
                {
                    unrecognised.insert(format!("extended resource {resource} on node {name}"));
                    continue;
                } else {
                    continue;
                }
                let in_use = used.get(&(name.clone(), resource.clone())).copied().unwrap_or(0);
                extended.insert(resource.clone(), (quantity_count(quantity), in_use));
            }
            let dra = dra_by_node.remove(&name).unwrap_or_default();
            let vendor = vendor.or_else(|| dra.first().and_then(|d| Vendor::for_driver(&d.driver))).or_else(|| {
                super::vendor::VENDORS
                    .iter()
                    .find(|v| v.presence_labels.iter().any(|l| labels.get(*l).is_some_and(|x| x == "true")))
            });
            if let Some(vendor) = vendor {
                result.push(AcceleratorNode {
                    name,
                    vendor,
                    labels,
                    schedulable: pods::node_ready_and_schedulable(node),
                    tolerations: pods::tolerations_for(node),
                    extended,
                    dra,
                });
            }
        }
        Self { nodes: result, unrecognised: unrecognised.into_iter().collect() }
    }

    /// The node with the most free devices through `path`, among the Ready, uncordoned nodes with at least
    /// `need` free.
    pub fn best_node(&self, path: Path, need: i64) -> Option<&AcceleratorNode> {
        self.nodes
            .iter()
            .filter(|n| n.schedulable && n.free(path) >= need)
            .max_by_key(|n| (n.free(path), std::cmp::Reverse(n.name.clone())))
    }

    /// The paths offered by any node, filtered by the mode.
    pub fn paths(&self, mode: AllocationMode) -> Vec<Path> {
        [Path::DevicePlugin, Path::Dra]
            .into_iter()
            .filter(|p| mode.allows(*p) && self.nodes.iter().any(|n| n.offers(*p)))
            .collect()
    }

    /// The unknown verdict text when accelerators of no known vendor exist.
    pub fn unrecognised_note(&self) -> Option<String> {
        (!self.unrecognised.is_empty()).then(|| {
            format!(
                "kaic does not recognise {}: verify by hand (vendor's own validator) or add the vendor to kaic's table",
                self.unrecognised.join(", ")
            )
        })
    }

    /// Why no node was chosen for `path`: every device in use, or the nodes with free devices cordoned or
    /// not Ready. Says what a person can do, for an unknown verdict.
    pub fn no_free_device(&self, path: Path) -> String {
        let unusable: Vec<&str> =
            self.nodes.iter().filter(|n| !n.schedulable && n.free(path) > 0).map(|n| n.name.as_str()).collect();
        if unusable.is_empty() {
            format!(
                "every {} device is in use: free one device on an accelerator node and rerun, or verify by hand",
                path.name()
            )
        } else {
            format!(
                "the nodes with a free {} device ({}) are cordoned or not Ready: make one schedulable and rerun, or verify by hand",
                path.name(),
                unusable.join(", ")
            )
        }
    }

    /// The attributes of every DRA device of `driver`, for choosing the platform's DeviceClass.
    pub fn dra_attributes(&self, driver: &str) -> Vec<&BTreeMap<String, String>> {
        self.nodes.iter().flat_map(|n| &n.dra).filter(|d| d.driver == driver).map(|d| &d.attributes).collect()
    }
}

/// Lists every object of a kind, a page at a time.
///
/// # Errors
/// [`CheckError::Api`] naming `what` when a page cannot be read.
pub async fn list_all<K>(api: &Api<K>, params: ListParams, what: &str) -> Result<Vec<K>, CheckError>
where
    K: Resource + Clone + Debug + DeserializeOwned,
{
    let mut items = Vec::new();
    let mut params = params.limit(PAGE);
    loop {
        let page = api.list(&params).await.map_err(|e| CheckError::api(format!("list {what}"), e))?;
        items.extend(page.items);
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(items),
        }
    }
}

/// The (driver, pool, device) triples a claim was allocated.
pub fn allocated_devices(claim: &ResourceClaim) -> Vec<(String, String, String)> {
    claim
        .status
        .as_ref()
        .and_then(|s| s.allocation.as_ref())
        .and_then(|a| a.devices.as_ref())
        .and_then(|d| d.results.as_ref())
        .into_iter()
        .flatten()
        .map(|r| (r.driver.clone(), r.pool.clone(), r.device.clone()))
        .collect()
}

/// A device count from a quantity ("4", "4k" never occurs for devices; unparsable counts as 0).
fn quantity_count(quantity: &Quantity) -> i64 {
    quantity.0.parse().unwrap_or(0)
}

/// A device's DRA attributes, each value as text.
pub fn attributes_text(device: &Device) -> BTreeMap<String, String> {
    device.attributes.iter().flatten().map(|(k, v)| (k.clone(), attribute_text(v))).collect()
}

/// A DRA attribute value as text.
pub fn attribute_text(attribute: &DeviceAttribute) -> String {
    if let Some(s) = &attribute.string {
        s.clone()
    } else if let Some(v) = &attribute.version {
        v.clone()
    } else if let Some(i) = attribute.int {
        i.to_string()
    } else if let Some(b) = attribute.bool {
        b.to_string()
    } else {
        String::new()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn gpu_node(name: &str, gpus: i64) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"nvidia.com/gpu.present": "true", "nvidia.com/cuda.driver-version.full": "580.95.05"}},
            "status": {"allocatable": {"cpu": "64", "nvidia.com/gpu": gpus.to_string()},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap()
    }

    fn cordoned(mut node: Node) -> Node {
        node.spec.get_or_insert_with(Default::default).unschedulable = Some(true);
        node
    }

    pub fn slice(node: &str, devices: &[&str]) -> ResourceSlice {
        let devices: Vec<_> = devices
            .iter()
            .map(|d| json!({"name": d, "attributes": {"uuid": {"string": format!("GPU-{node}-{d}")}, "driverVersion": {"version": "580.95.5"}}}))
            .collect();
        serde_json::from_value(json!({
            "metadata": {"name": format!("{node}-slice")},
            "spec": {"driver": "gpu.nvidia.com", "nodeName": node, "pool": {"name": node, "generation": 1, "resourceSliceCount": 1}, "devices": devices}
        }))
        .unwrap()
    }

    fn pod_using(node: &str, gpus: i64) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "user"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": gpus.to_string()}}}]}
        }))
        .unwrap()
    }

    fn claim_on(node: &str, device: &str) -> ResourceClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "c"},
            "spec": {},
            "status": {"allocation": {"devices": {"results": [{"request": "r", "driver": "gpu.nvidia.com", "pool": node, "device": device}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn counts_free_devices_on_both_paths() {
        let inv = Inventory::from_objects(
            &[gpu_node("gpu-0", 4), gpu_node("gpu-1", 4)],
            &[pod_using("gpu-0", 3)],
            &[slice("gpu-0", &["gpu-0", "gpu-1"]), slice("gpu-1", &["gpu-0"])],
            &[claim_on("gpu-1", "gpu-0")],
        );
        assert_eq!(inv.nodes.len(), 2);
        let n0 = &inv.nodes[0];
        assert_eq!(n0.free(Path::DevicePlugin), 1);
        assert_eq!(n0.free(Path::Dra), 2);
        assert_eq!(inv.nodes[1].free(Path::Dra), 0);
        assert_eq!(inv.best_node(Path::DevicePlugin, 2).unwrap().name, "gpu-1");
        assert_eq!(inv.best_node(Path::Dra, 1).unwrap().name, "gpu-0");
        assert!(inv.best_node(Path::Dra, 3).is_none());
        assert_eq!(inv.paths(AllocationMode::Auto), vec![Path::DevicePlugin, Path::Dra]);
        assert_eq!(inv.paths(AllocationMode::Dra), vec![Path::Dra]);
        assert_eq!(n0.dra[0].attributes["uuid"], "GPU-gpu-0-gpu-0");
    }

    #[test]
    fn cordoned_or_not_ready_nodes_are_never_chosen() {
        let mut not_ready = gpu_node("gpu-2", 4);
        not_ready.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "False".into();
        let inv =
            Inventory::from_objects(&[cordoned(gpu_node("gpu-0", 4)), gpu_node("gpu-1", 1), not_ready], &[], &[], &[]);
        assert_eq!(inv.nodes.len(), 3, "still accelerator nodes");
        assert_eq!(inv.best_node(Path::DevicePlugin, 1).unwrap().name, "gpu-1");
        assert!(inv.best_node(Path::DevicePlugin, 2).is_none());
        assert_eq!(
            inv.no_free_device(Path::DevicePlugin),
            "the nodes with a free device-plugin device (gpu-0, gpu-2) are cordoned or not Ready: make one schedulable and rerun, or verify by hand"
        );
        let busy = Inventory::from_objects(&[gpu_node("gpu-0", 3)], &[pod_using("gpu-0", 3)], &[], &[]);
        assert!(busy.no_free_device(Path::DevicePlugin).starts_with("every device-plugin device is in use"));
    }

    #[test]
    fn tolerations_cover_dedicated_taints_only() {
        let mut node = gpu_node("gpu-0", 4);
        node.spec = Some(
            serde_json::from_value(json!({"taints": [
                {"key": "nvidia.com/gpu", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
            ]}))
            .unwrap(),
        );
        let inv = Inventory::from_objects(&[node], &[], &[], &[]);
        assert_eq!(
            inv.nodes[0].tolerations,
            json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
        );
    }

    #[test]
    fn unknown_accelerators_are_listed_not_ignored() {
        let npu: Node = serde_json::from_value(json!({
            "metadata": {"name": "npu-0"},
            "status": {"allocatable": {"acme.example/npu": "8", "hugepages-2Mi": "0", "example.com/widget": "1"}}
        }))
        .unwrap();
        let inv = Inventory::from_objects(&[npu], &[], &[], &[]);
        assert!(inv.nodes.is_empty());
        assert_eq!(inv.unrecognised, vec!["extended resource acme.example/npu on node npu-0"]);
        assert!(inv.unrecognised_note().unwrap().contains("verify by hand"));
    }

    /// A mixed node (NVIDIA partitionable devices): the GPU allocated whole leaves its partitions free in
    /// no claim's name, but the scheduler cannot allocate them.
    #[test]
    fn devices_out_of_shared_counters_are_not_free() {
        let slices = [crate::accelerators::counters::tests::partitionable_slice("gpu-0")];
        let inv = Inventory::from_objects(&[gpu_node("gpu-0", 0)], &[], &slices, &[claim_on("gpu-0", "gpu-0")]);
        let free: Vec<&str> = inv.nodes[0].free_dra().iter().map(|d| d.name.as_str()).collect();
        assert_eq!(free, vec!["gpu-1"]);
        assert!(inv.nodes[0].dra.iter().filter(|d| d.exhausted).count() == 2);
    }

    #[test]
    fn plain_nodes_are_not_accelerator_nodes() {
        let cpu: Node =
            serde_json::from_value(json!({"metadata": {"name": "cpu-0"}, "status": {"allocatable": {"cpu": "16"}}}))
                .unwrap();
        assert!(Inventory::from_objects(&[cpu], &[], &[], &[]).nodes.is_empty());
    }
}
