//! `dra_support`'s allocation steps: which devices real DRA drivers publish and which are free, and a
//! pod whose claim is allocated from a real slice, placed on that slice's node and released afterwards —
//! once through kaic's own DeviceClass, once through the platform's own class for the driver, as a user
//! would allocate (see [`classes`](super::classes)).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::resource::v1::{DeviceClass, ResourceClaim, ResourceSlice};
use kaic_model::Verdict;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::classes::{self, PlatformClass};
use super::counters;
use super::dra_support::TEST_DRIVER;
use super::inventory::{allocated_devices, attributes_text, list_all};
use super::probe;
use crate::check::{CheckContext, CheckError, from_json};
use crate::timeouts::Wait;
use crate::{labels, pods, wait};

/// One device a real driver publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The node of a node-local device; `None` for network-attached pools.
    pub node: Option<String>,
    pub attributes: BTreeMap<String, String>,
}

/// The devices real drivers publish, which of them are allocated, and where kaic may place a pod.
pub struct Inventory {
    /// Per driver: (pool, device) → the device.
    pub devices: BTreeMap<String, BTreeMap<(String, String), DeviceInfo>>,
    /// Allocated (driver, pool, device).
    pub allocated: BTreeSet<(String, String, String)>,
    /// Not allocated, but out of the shared counters they need because of allocated devices
    /// ([`counters`](super::counters)): the scheduler cannot allocate them either.
    pub exhausted: BTreeSet<(String, String, String)>,
    /// Ready, uncordoned nodes, with the tolerations for their own dedicated taints.
    pub schedulable: BTreeMap<String, Value>,
}

/// Device attributes by name, as text.
type Attributes = BTreeMap<String, String>;

/// Where the pod with a claim goes: a driver with a free device, and that device's node.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub driver: String,
    /// `None` for a network-attached device (any node may use it).
    pub node: Option<String>,
    pub tolerations: Value,
}

impl Inventory {
    /// Reads ResourceSlices (not kaic's own), ResourceClaims and nodes, a page at a time.
    ///
    /// # Errors
    /// [`CheckError::Api`] when a list call fails.
    pub async fn read(ctx: &CheckContext) -> Result<Self, CheckError> {
        let slices: Vec<ResourceSlice> =
            list_all(&Api::all(ctx.client.clone()), ListParams::default(), "ResourceSlices").await?;
        let claims: Vec<ResourceClaim> =
            list_all(&Api::all(ctx.client.clone()), ListParams::default(), "ResourceClaims").await?;
        let nodes: Vec<Node> = list_all(&Api::all(ctx.client.clone()), ListParams::default(), "nodes").await?;
        let inventory = Self::from_objects(&slices, &claims, &nodes);
        for (driver, devices) in &inventory.devices {
            let nodes: BTreeSet<_> = devices.values().filter_map(|d| d.node.as_ref()).collect();
            ctx.step(format!(
                "driver {driver} publishes {} devices on {} nodes; {} allocated",
                devices.len(),
                nodes.len(),
                inventory.allocated.iter().filter(|(d, _, _)| d == driver).count()
            ));
        }
        Ok(inventory)
    }

    /// Builds the inventory from listed objects (pure, so it is unit-tested).
    pub fn from_objects(slices: &[ResourceSlice], claims: &[ResourceClaim], nodes: &[Node]) -> Self {
        let mut devices: BTreeMap<String, BTreeMap<(String, String), DeviceInfo>> = BTreeMap::new();
        for slice in slices {
            let ours = slice.labels().get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE);
            if ours || slice.spec.driver == TEST_DRIVER {
                continue;
            }
            let entry = devices.entry(slice.spec.driver.clone()).or_default();
            for device in slice.spec.devices.iter().flatten() {
                let info = DeviceInfo {
                    node: device.node_name.clone().or_else(|| slice.spec.node_name.clone()),
                    attributes: attributes_text(device),
                };
                entry.insert((slice.spec.pool.name.clone(), device.name.clone()), info);
            }
        }
        let schedulable = nodes
            .iter()
            .filter(|n| pods::node_ready_and_schedulable(n))
            .map(|n| (n.name_any(), pods::tolerations_for(n)))
            .collect();
        let allocated = claims.iter().flat_map(allocated_devices).collect();
        let exhausted = counters::exhausted(slices, &allocated);
        Self { devices, allocated, exhausted, schedulable }
    }

    /// The free devices of `driver` that kaic may use: neither allocated nor out of shared counters, and
    /// network-attached or on a Ready, uncordoned node.
    fn free(&self, driver: &str) -> Vec<(&(String, String), &DeviceInfo)> {
        self.devices
            .get(driver)
            .into_iter()
            .flatten()
            .filter(|((pool, device), _)| {
                let key = (driver.to_string(), pool.clone(), device.clone());
                !self.allocated.contains(&key) && !self.exhausted.contains(&key)
            })
            .filter(|(_, info)| info.node.as_ref().is_none_or(|n| self.schedulable.contains_key(n)))
            .collect()
    }

    /// The driver with the most usable free devices, on the node where it has most.
    pub fn target(&self) -> Option<Target> {
        let driver = self.devices.keys().filter(|d| !self.free(d).is_empty()).max_by_key(|d| self.free(d).len())?;
        let mut per_node: BTreeMap<Option<&String>, usize> = BTreeMap::new();
        for (_, info) in self.free(driver) {
            *per_node.entry(info.node.as_ref()).or_default() += 1;
        }
        let node = per_node.into_iter().max_by_key(|(node, count)| (*count, node.is_some())).and_then(|(n, _)| n);
        let tolerations = node.and_then(|n| self.schedulable.get(n)).cloned().unwrap_or_else(|| json!([]));
        Some(Target { driver: driver.clone(), node: node.cloned(), tolerations })
    }

    /// Unknown, saying what to do, when no device can be used to prove allocation.
    pub fn no_free_device_verdict(&self) -> Verdict {
        if self.devices.values().all(BTreeMap::is_empty) {
            return Verdict::unknown(
                "the DRA API works, but no driver publishes devices in ResourceSlices: install the accelerator's DRA driver \
                 (e.g. NVIDIA's dra-driver-gpu) and rerun, or verify by hand that workloads can claim devices",
            );
        }
        let drivers = self.devices.keys().cloned().collect::<Vec<_>>().join(", ");
        let free_elsewhere = self.devices.iter().any(|(driver, devices)| {
            devices.iter().any(|((pool, device), _)| {
                let key = (driver.clone(), pool.clone(), device.clone());
                !self.allocated.contains(&key) && !self.exhausted.contains(&key)
            })
        });
        if free_elsewhere {
            Verdict::unknown(format!(
                "the DRA API works and {drivers} publish devices, but the free ones are on cordoned or NotReady nodes: make one \
                 schedulable and rerun to prove allocation"
            ))
        } else {
            Verdict::unknown(format!(
                "the DRA API works and {drivers} publish devices, but every device is allocated: free one device and rerun \
                 to prove allocation"
            ))
        }
    }

    /// The attributes of the target's free devices on its node, and of all the driver's devices.
    fn attributes(&self, target: &Target) -> (Vec<&Attributes>, Vec<&Attributes>) {
        let here =
            self.free(&target.driver).into_iter().filter(|(_, i)| i.node == target.node).map(|(_, i)| &i.attributes);
        let all = self.devices.get(&target.driver).into_iter().flatten().map(|(_, i)| &i.attributes);
        (here.collect(), all.collect())
    }
}

/// A claim allocated and released: what it got.
struct Allocated {
    pool: String,
    device: String,
    node: String,
}

/// Step 4: allocation through kaic's class, then through the platform's class.
///
/// # Errors
/// [`CheckError`] when an object cannot be created or read, or a pod never runs.
pub async fn allocation(ctx: &CheckContext, inventory: &Inventory, target: &Target) -> Result<Verdict, CheckError> {
    let driver = &target.driver;
    let own_class = probe::device_class(ctx, driver).await?;
    let own = match allocate(ctx, inventory, target, &own_class, "dra-consumer", "one-device", None).await? {
        Ok(allocated) => allocated,
        Err(verdict) => return Ok(verdict),
    };
    let _ = Api::<DeviceClass>::all(ctx.client.clone()).delete(&own_class, &DeleteParams::default()).await;
    let classes: Vec<DeviceClass> =
        list_all(&Api::all(ctx.client.clone()), ListParams::default(), "DeviceClasses").await?;
    let (here, all) = inventory.attributes(target);
    let platform = match classes::choose(&classes, driver, &here, &all) {
        None => classes::none_note(&classes, driver),
        Some(class) => {
            ctx.step(format!("DRA: allocating through {}: {}", class.name, class.why));
            match allocate(
                ctx,
                inventory,
                target,
                &class.name,
                "dra-consumer-platform",
                "platform-one-device",
                Some(&class),
            )
            .await?
            {
                Ok(got) => format!(
                    "through the platform's DeviceClass {} a claim got {}/{} on {} too",
                    class.name, got.pool, got.device, got.node
                ),
                Err(verdict) => return Ok(verdict),
            }
        }
    };
    let where_ = if own.node.is_empty() { "a network-attached pool".to_string() } else { format!("node {}", own.node) };
    Ok(Verdict::pass(format!(
        "all four resource.k8s.io/v1 kinds served and round-tripped; through kaic's DeviceClass a pod's claim got {driver} \
         device {}/{} on {where_}, ran there, and the claim was released; {platform}",
        own.pool, own.device
    )))
}

/// One pod with a claim through `class`: allocated from a real slice of the target's driver, on the
/// device's node, reserved for the pod, released once the pod is gone. `Ok(Err(verdict))` ends the check.
async fn allocate(
    ctx: &CheckContext,
    inventory: &Inventory,
    target: &Target,
    class: &str,
    name: &str,
    template: &str,
    platform: Option<&PlatformClass>,
) -> Result<Result<Allocated, Verdict>, CheckError> {
    let driver = &target.driver;
    probe::claim_template(ctx, template, class, 1).await?;
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let pod: Pod = from_json(consumer(ctx, name, template, target))?;
    let submitted = Instant::now();
    pods_api
        .create(&PostParams::default(), &pod)
        .await
        .map_err(|e| CheckError::api(format!("create pod {name}"), e))?;
    let runs_or_stuck = |p: Option<&Pod>| wait::pod_running(p) || p.is_some_and(|p| pods::fatal_state(p).is_some());
    let waited = wait::until(
        &pods_api,
        name,
        "the pod with a claim to be scheduled and run",
        ctx.wait(Wait::ClaimedPodScheduled),
        runs_or_stuck,
        wait::describe_pod,
    )
    .await;
    let running = match (waited, platform) {
        (Ok(pod), _) => pod,
        (Err(CheckError::Timeout { last_seen, .. }), Some(class)) => {
            return Ok(Err(broken_class(ctx, target, class, &last_seen).await?));
        }
        (Err(e), _) => return Err(e),
    };
    if let Some(why) = pods::fatal_state(&running) {
        return Err(CheckError::Other(why));
    }
    ctx.record(|e| e.timing(format!("{name}: pod with a claim, submit to running"), submitted.elapsed()));
    ctx.object(&format!("Pod-{name}"), &running);
    let node = running.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    let claim_name = crate::pods::generated_claim(&running, Some("dev")).ok_or_else(|| {
        CheckError::Other(format!(
            "the running pod {name} names no generated ResourceClaim in status.resourceClaimStatuses"
        ))
    })?;
    let claims: Api<ResourceClaim> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let claim =
        claims.get(&claim_name).await.map_err(|e| CheckError::api(format!("read ResourceClaim {claim_name}"), e))?;
    ctx.object(&format!("ResourceClaim-{claim_name}"), &claim);
    let Some((got_driver, pool, device)) = allocated_devices(&claim).first().cloned() else {
        return Ok(Err(Verdict::fail(
            format!("the pod {name} runs but its claim has no allocation"),
            format!("claim {claim_name} (DeviceClass {class}) allocated one device of {driver}"),
            "status.allocation is empty",
        )));
    };
    ctx.step(format!(
        "claim {claim_name} (DeviceClass {class}) allocated {got_driver}/{pool}/{device}; pod runs on {node}"
    ));
    if &got_driver != driver {
        return Ok(Err(Verdict::fail(
            format!("the claim through DeviceClass {class} was allocated a device of another driver"),
            format!("a device of {driver}"),
            format!("{got_driver}/{pool}/{device}"),
        )));
    }
    let device_node =
        inventory.devices.get(driver).and_then(|d| d.get(&(pool.clone(), device.clone()))).and_then(|i| i.node.clone());
    if let Some(device_node) = &device_node
        && device_node != &node
    {
        return Ok(Err(Verdict::fail(
            "the pod was placed on another node than the device allocated to it",
            format!("pod on {device_node}, where {pool}/{device} is published"),
            format!("pod on {node}"),
        )));
    }
    let reserved =
        claim.status.as_ref().and_then(|s| s.reserved_for.as_ref()).is_some_and(|r| r.iter().any(|c| c.name == name));
    if !reserved {
        return Ok(Err(Verdict::fail(
            "the claim is allocated but not reserved for the pod using it",
            format!("status.reservedFor names pod {name}"),
            "status.reservedFor does not",
        )));
    }
    release(ctx, &pods_api, &claims, name, &claim_name).await?;
    Ok(Ok(Allocated { pool, device, node: device_node.unwrap_or_default() }))
}

/// The consumer pod: the pause image with one claim, pinned to the target's node, hardened.
fn consumer(ctx: &CheckContext, name: &str, template: &str, target: &Target) -> Value {
    let mut spec = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "tolerations": target.tolerations,
        "resourceClaims": [{"name": "dev", "resourceClaimTemplateName": template}],
        "containers": [{"name": "main", "image": ctx.options.pause_image, "resources": {"claims": [{"name": "dev"}]}}]
    });
    if let Some(node) = &target.node {
        spec["affinity"] = pods::pin_to(node);
    }
    pods::harden(&mut spec);
    json!({"metadata": {"name": name, "labels": ctx.labels()}, "spec": spec})
}

/// Deletes the pod; the claim generated for it must go (or at least be unreserved).
async fn release(
    ctx: &CheckContext,
    pods_api: &Api<Pod>,
    claims: &Api<ResourceClaim>,
    pod: &str,
    claim: &str,
) -> Result<(), CheckError> {
    pods_api
        .delete(pod, &DeleteParams::default())
        .await
        .map_err(|e| CheckError::api(format!("delete pod {pod}"), e))?;
    let released = wait::until(
        claims,
        claim,
        "the claim to be released after its pod was deleted",
        ctx.wait(Wait::ClaimReleased),
        |c: Option<&ResourceClaim>| {
            c.is_none_or(|c| c.status.as_ref().and_then(|s| s.reserved_for.as_ref()).is_none_or(Vec::is_empty))
        },
        |c| {
            let reserved = c.status.as_ref().and_then(|s| s.reserved_for.as_ref());
            format!("reservedFor: {:?}", reserved.map(|r| r.iter().map(|c| c.name.clone()).collect::<Vec<_>>()))
        },
    )
    .await;
    match released {
        Ok(_) => {}
        Err(CheckError::Other(message)) if message.contains("was deleted") => {}
        Err(e) => return Err(e),
    }
    ctx.step(format!("claim {claim} released after pod {pod} was deleted"));
    Ok(())
}

/// The pod through the platform's class never ran: the class is broken when a device it could have had
/// is still free (so it was not a matter of capacity); otherwise nothing is shown, and a person must look.
async fn broken_class(
    ctx: &CheckContext,
    target: &Target,
    class: &PlatformClass,
    last_seen: &str,
) -> Result<Verdict, CheckError> {
    let again = Inventory::read(ctx).await?;
    let free = free_for_class(&again, target, class);
    let place = target.node.as_deref().unwrap_or("a network-attached pool");
    if free == 0 {
        return Ok(Verdict::unknown(format!(
            "kaic's own DeviceClass allocated a {} device, but by the time a pod claimed one through the platform's DeviceClass {} \
             no device that class selects was free on {place} ({last_seen}): free one and rerun, or verify the platform's class by hand",
            target.driver, class.name
        )));
    }
    let note = if class.selects_nothing { format!(" ({})", class.why) } else { String::new() };
    Ok(Verdict::fail(
        format!(
            "the platform's DeviceClass {} does not allocate {} devices that kaic's own class allocates{note}",
            class.name, target.driver
        ),
        format!("a pod claiming one device through {} runs on {place}, where {free} device(s) are free", class.name),
        format!("never ran: {last_seen}"),
    ))
}

/// The free devices on the target's node that the platform's class could have been given: those it may
/// select (another kind of device, such as a MIG partition for a whole-GPU class, is no evidence against
/// it), or any free device when it selects none of the driver's devices at all (then it is broken as such).
fn free_for_class(inventory: &Inventory, target: &Target, class: &PlatformClass) -> usize {
    inventory
        .free(&target.driver)
        .into_iter()
        .filter(|(_, info)| info.node == target.node)
        .filter(|(_, info)| class.selects_nothing || class.may_select(&target.driver, &info.attributes))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(driver: &str, node: &str, devices: &[&str]) -> ResourceSlice {
        let devices: Vec<_> =
            devices.iter().map(|d| json!({"name": d, "attributes": {"type": {"string": "gpu"}}})).collect();
        serde_json::from_value(json!({
            "metadata": {"name": format!("{node}-{driver}")},
            "spec": {"driver": driver, "nodeName": node, "pool": {"name": node, "generation": 1, "resourceSliceCount": 1}, "devices": devices}
        }))
        .unwrap()
    }

    fn claim(driver: &str, pool: &str, device: &str) -> ResourceClaim {
        serde_json::from_value(json!({
            "metadata": {"name": "c"}, "spec": {},
            "status": {"allocation": {"devices": {"results": [{"request": "r", "driver": driver, "pool": pool, "device": device}]}}}
        }))
        .unwrap()
    }

    fn node(name: &str, ready: bool, cordoned: bool) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"unschedulable": cordoned, "taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap()
    }

    #[test]
    fn targets_the_driver_and_node_with_most_free_devices() {
        let inv = Inventory::from_objects(
            &[slice("a", "n1", &["0"]), slice("b", "n1", &["0", "1"]), slice("b", "n2", &["0", "1", "2"])],
            &[claim("b", "n2", "0"), claim("b", "n2", "1")],
            &[node("n1", true, false), node("n2", true, false)],
        );
        let target = inv.target().unwrap();
        assert_eq!((target.driver.as_str(), target.node.as_deref()), ("b", Some("n1")));
        assert_eq!(
            target.tolerations,
            json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
        );
        assert_eq!(inv.attributes(&target).0.len(), 2);
    }

    #[test]
    fn no_devices_or_none_free_is_unknown_not_fail() {
        let empty = Inventory::from_objects(&[], &[], &[]);
        assert!(empty.target().is_none());
        let verdict = empty.no_free_device_verdict();
        assert_eq!(verdict.outcome, kaic_model::Outcome::Unknown);
        assert!(verdict.reason.contains("no driver publishes devices"));

        let busy =
            Inventory::from_objects(&[slice("a", "n1", &["0"])], &[claim("a", "n1", "0")], &[node("n1", true, false)]);
        assert!(busy.target().is_none());
        assert!(busy.no_free_device_verdict().reason.contains("every device is allocated"));
    }

    #[test]
    fn cordoned_and_not_ready_nodes_are_never_targets() {
        let inv = Inventory::from_objects(
            &[slice("a", "n1", &["0", "1"]), slice("a", "n2", &["0"])],
            &[],
            &[node("n1", true, true), node("n2", false, false)],
        );
        assert!(inv.target().is_none());
        assert!(
            inv.no_free_device_verdict().reason.contains("cordoned or NotReady"),
            "{}",
            inv.no_free_device_verdict().reason
        );
    }

    /// A mixed node after the platform class's pod was left unscheduled: the whole GPU is allocated (by
    /// kaic's own claim), its partitions are out of counters, and the free GPU-less MIG devices of another
    /// GPU are not the GPU class's to take. Nothing the class selects is free: unknown, never broken.
    #[test]
    fn only_devices_the_class_selects_and_counters_allow_count_as_free_for_it() {
        let mut mixed = crate::accelerators::counters::tests::partitionable_slice("n1");
        mixed.spec.devices.as_mut().unwrap().retain(|d| d.name != "gpu-1");
        let other_mig: ResourceSlice = serde_json::from_value(json!({
            "metadata": {"name": "n1-mig"},
            "spec": {"driver": "gpu.nvidia.com", "nodeName": "n1", "pool": {"name": "n1-b", "generation": 1, "resourceSliceCount": 1},
                     "devices": [{"name": "gpu-1-mig-0", "attributes": {"type": {"string": "mig"}}}]}
        }))
        .unwrap();
        let inv = Inventory::from_objects(
            &[mixed, other_mig],
            &[claim("gpu.nvidia.com", "n1", "gpu-0")],
            &[node("n1", true, false)],
        );
        let target = Target { driver: "gpu.nvidia.com".into(), node: Some("n1".into()), tolerations: json!([]) };
        assert_eq!(inv.free(&target.driver).len(), 1, "only the other GPU's MIG device is free");
        let gpu_class = PlatformClass {
            name: "gpu.nvidia.com".into(),
            why: String::new(),
            selects_nothing: false,
            selectors: vec![Some(
                "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'".into(),
            )],
        };
        assert_eq!(free_for_class(&inv, &target, &gpu_class), 0);
        let mig_class = PlatformClass {
            selectors: vec![Some("device.attributes['gpu.nvidia.com'].type == 'mig'".into())],
            ..gpu_class.clone()
        };
        assert_eq!(free_for_class(&inv, &target, &mig_class), 1);
        let broken = PlatformClass { selects_nothing: true, ..gpu_class };
        assert_eq!(free_for_class(&inv, &target, &broken), 1, "a class that selects nothing is broken as such");
    }

    #[tokio::test]
    async fn the_consumer_pod_is_pinned_and_hardened() {
        let ctx = CheckContext::offline("dra_support", crate::check::CheckOptions::default());
        let target = Target { driver: "a".into(), node: Some("n1".into()), tolerations: json!([]) };
        let pod = consumer(&ctx, "dra-consumer", "one-device", &target);
        assert_eq!(pod["spec"]["affinity"], pods::pin_to("n1"));
        assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
        assert_eq!(pod["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"][0], "ALL");
        let _: Pod = from_json(pod).unwrap();
    }
}
