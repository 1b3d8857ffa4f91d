//! `dra_support`: Dynamic Resource Allocation is served and usable.
//!
//! 1. All four `resource.k8s.io/v1` kinds are served (DeviceClass, ResourceClaim, ResourceClaimTemplate,
//!    ResourceSlice).
//! 2. Each kind survives a create / read / update / delete round trip. kaic's objects use the driver name
//!    `dra.kaic.dev`, which no real driver uses, and its ResourceSlice selects no node, so nothing real can
//!    ever be allocated from it.
//! 3. At least one installed driver publishes devices in ResourceSlices.
//! 4. When a driver has a free device, a pod with a claim for it gets an allocation from a real slice, is
//!    placed on that slice's node, and the claim is released when the pod goes.
//!
//! Outcomes: API not served or a round trip broken → fail. API works but no driver publishes devices, or
//! every device is in use → unknown (the API works; whether it is usable needs a driver or a free device,
//! which a human must provide or confirm). Allocation on the wrong node or no release → fail.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::resource::v1::{DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice};
use kaic_model::Verdict;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::inventory::allocated_devices;
use super::probe;
use crate::capability::Capability;
use crate::check::{Check, CheckContext, CheckError, from_json};
use crate::labels;
use crate::wait;

/// The driver name on kaic's own test objects; no real driver uses it.
pub const TEST_DRIVER: &str = "dra.kaic.dev";

/// The four kinds the DRA API must serve, as discovery names them.
const KINDS: [&str; 4] = ["deviceclasses", "resourceclaims", "resourceclaimtemplates", "resourceslices"];

pub struct DraSupport;

#[async_trait::async_trait]
impl Check for DraSupport {
    fn id(&self) -> &'static str {
        "dra_support"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["dra_support"]
    }

    fn needs(&self) -> &'static [Capability] {
        &[Capability::Dra]
    }

    fn when_missing(&self, _: Capability) -> Verdict {
        Verdict::fail(
            "the DRA API resource.k8s.io/v1 is not served by the API server",
            "resource.k8s.io/v1 served with deviceclasses, resourceclaims, resourceclaimtemplates, resourceslices",
            "resource.k8s.io/v1 absent from API discovery (is the API switched off with --runtime-config?)",
        )
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(300)
    }

    fn uses_accelerators(&self) -> bool {
        true
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "DeviceClass kaic-dra-roundtrip-<run> and ResourceSlice kaic-dra-roundtrip-<run> (driver dra.kaic.dev, selects no node), deleted at once",
            "ResourceClaimTemplate and ResourceClaim in the check's namespace, deleted at once",
            "DeviceClass kaic-dra-support-<driver>-<run> selecting the chosen real driver, a ResourceClaimTemplate, and one pause pod with a claim for one device",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        if let Some(verdict) = served_kinds(ctx).await? {
            return Ok(verdict);
        }
        if let Some(verdict) = round_trips(ctx).await? {
            return Ok(verdict);
        }
        let inventory = Inventory::read(ctx).await?;
        let Some(driver) = inventory.driver_with_most_free() else {
            return Ok(inventory.no_free_device_verdict());
        };
        allocation(ctx, &inventory, &driver).await
    }
}

/// Step 1: discovery lists all four kinds. `Some(verdict)` ends the check.
async fn served_kinds(ctx: &CheckContext) -> Result<Option<Verdict>, CheckError> {
    let resources = match ctx.client.list_api_group_resources("resource.k8s.io/v1").await {
        Ok(list) => list.resources.into_iter().map(|r| r.name).collect::<Vec<_>>(),
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(e) => return Err(CheckError::api("list resource.k8s.io/v1 resources", e)),
    };
    let missing: Vec<&str> = KINDS.into_iter().filter(|k| !resources.iter().any(|r| r == k)).collect();
    ctx.step(format!("resource.k8s.io/v1 serves: {}", resources.join(", ")));
    if missing.is_empty() {
        return Ok(None);
    }
    Ok(Some(Verdict::fail(
        format!("resource.k8s.io/v1 does not serve {}", missing.join(", ")),
        KINDS.join(", "),
        if resources.is_empty() { "nothing".to_string() } else { resources.join(", ") },
    )))
}

/// Step 2: create, read, update and delete one object of each kind.
async fn round_trips(ctx: &CheckContext) -> Result<Option<Verdict>, CheckError> {
    let name = ctx.cluster_name("dra-roundtrip");
    let labels = ctx.labels();
    let class: DeviceClass = from_json(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {"selectors": [{"cel": {"expression": format!("device.driver == '{TEST_DRIVER}'")}}]}
    }))?;
    let slice: ResourceSlice = from_json(json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "driver": TEST_DRIVER,
            "pool": {"name": name, "generation": 1, "resourceSliceCount": 1},
            // A selector no node matches: these devices can never be allocated.
            "nodeSelector": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kaic.dev/no-such-node", "operator": "In", "values": ["true"]}
            ]}]},
            "devices": [{"name": "probe-0", "attributes": {"kaic.dev/purpose": {"string": "api-round-trip"}}}]
        }
    }))?;
    let claim_spec = json!({"devices": {"requests": [{"name": "dev", "exactly": {"deviceClassName": name}}]}});
    let template: ResourceClaimTemplate = from_json(json!({
        "metadata": {"name": "roundtrip", "labels": labels},
        "spec": {"spec": claim_spec}
    }))?;
    let claim: ResourceClaim = from_json(json!({
        "metadata": {"name": "roundtrip", "labels": labels},
        "spec": claim_spec
    }))?;

    let ns = ctx.namespace.as_str();
    let client = &ctx.client;
    // The class goes first (the claims name it) and last (after the claims are gone).
    let class_api: Api<DeviceClass> = Api::all(client.clone());
    let mut broken = Vec::new();
    let class_created = create(ctx, &class_api, &class).await;
    if let Err(e) = &class_created {
        broken.push(format!("DeviceClass: {e}"));
    }
    for (kind, result) in [
        ("ResourceSlice", round_trip(ctx, &Api::all(client.clone()), &slice).await),
        ("ResourceClaimTemplate", round_trip(ctx, &Api::namespaced(client.clone(), ns), &template).await),
        ("ResourceClaim", round_trip(ctx, &Api::namespaced(client.clone(), ns), &claim).await),
    ] {
        if let Err(e) = result {
            broken.push(format!("{kind}: {e}"));
        }
    }
    if class_created.is_ok()
        && let Err(e) = read_update_delete(ctx, &class_api, &name).await
    {
        broken.push(format!("DeviceClass: {e}"));
    }
    if broken.is_empty() {
        ctx.step("create/read/update/delete round trip passed for DeviceClass, ResourceSlice, ResourceClaimTemplate, ResourceClaim");
        return Ok(None);
    }
    Ok(Some(Verdict::fail(
        format!("the DRA API round trip broke: {}", broken.join("; ")),
        "each of the four kinds can be created, read, updated and deleted",
        broken.join("; "),
    )))
}

async fn create<K>(ctx: &CheckContext, api: &Api<K>, object: &K) -> Result<K, String>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let created = api.create(&PostParams::default(), object).await.map_err(|e| format!("create failed: {e}"))?;
    ctx.object(&format!("{}-{}", K::kind(&()), created.name_any()), &created);
    Ok(created)
}

async fn round_trip<K>(ctx: &CheckContext, api: &Api<K>, object: &K) -> Result<(), String>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let created = create(ctx, api, object).await?;
    read_update_delete(ctx, api, &created.name_any()).await
}

/// Reads the object back, adds a label and reads it again, deletes it and confirms it is gone.
async fn read_update_delete<K>(ctx: &CheckContext, api: &Api<K>, name: &str) -> Result<(), String>
where
    K: Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned,
{
    let kind = K::kind(&());
    let mut read = api.get(name).await.map_err(|e| format!("read back failed: {e}"))?;
    read.labels_mut().insert("kaic.dev/updated".into(), "true".into());
    api.replace(name, &PostParams::default(), &read).await.map_err(|e| format!("update failed: {e}"))?;
    let updated = api.get(name).await.map_err(|e| format!("read after update failed: {e}"))?;
    if updated.labels().get("kaic.dev/updated").map(String::as_str) != Some("true") {
        return Err("the update did not stick: the label kaic set is missing on read".into());
    }
    api.delete(name, &DeleteParams::default()).await.map_err(|e| format!("delete failed: {e}"))?;
    match api.get_opt(name).await {
        Ok(None) => {}
        Ok(Some(o)) if o.meta().deletion_timestamp.is_some() => {}
        Ok(Some(_)) => return Err("still present after delete".into()),
        Err(e) => return Err(format!("read after delete failed: {e}")),
    }
    ctx.step(format!("{kind} {name}: created, read, updated, deleted"));
    Ok(())
}

/// Step 3: the devices real drivers publish, and which of them are allocated.
struct Inventory {
    /// Per driver: (pool, device) → node name (for node-local devices).
    devices: BTreeMap<String, BTreeMap<(String, String), Option<String>>>,
    /// Allocated (driver, pool, device).
    allocated: Vec<(String, String, String)>,
}

impl Inventory {
    async fn read(ctx: &CheckContext) -> Result<Self, CheckError> {
        let slices: Api<ResourceSlice> = Api::all(ctx.client.clone());
        let slices =
            slices.list(&ListParams::default()).await.map_err(|e| CheckError::api("list ResourceSlices", e))?;
        let mut devices: BTreeMap<String, BTreeMap<(String, String), Option<String>>> = BTreeMap::new();
        for slice in slices.items {
            let ours = slice.labels().get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE);
            if ours || slice.spec.driver == TEST_DRIVER {
                continue;
            }
            let entry = devices.entry(slice.spec.driver.clone()).or_default();
            for device in slice.spec.devices.iter().flatten() {
                let node = device.node_name.clone().or_else(|| slice.spec.node_name.clone());
                entry.insert((slice.spec.pool.name.clone(), device.name.clone()), node);
            }
        }
        let claims: Api<ResourceClaim> = Api::all(ctx.client.clone());
        let claims =
            claims.list(&ListParams::default()).await.map_err(|e| CheckError::api("list ResourceClaims", e))?;
        let allocated = claims.items.iter().flat_map(allocated_devices).collect::<Vec<_>>();
        let inventory = Self { devices, allocated };
        for (driver, devices) in &inventory.devices {
            let nodes: std::collections::BTreeSet<_> = devices.values().flatten().collect();
            ctx.step(format!(
                "driver {driver} publishes {} devices on {} nodes; {} allocated",
                devices.len(),
                nodes.len(),
                inventory.allocated_of(driver)
            ));
        }
        Ok(inventory)
    }

    fn allocated_of(&self, driver: &str) -> usize {
        self.allocated.iter().filter(|(d, _, _)| d == driver).count()
    }

    fn free_of(&self, driver: &str) -> usize {
        self.devices[driver].len().saturating_sub(self.allocated_of(driver))
    }

    /// The driver with the most free devices, if any has one.
    fn driver_with_most_free(&self) -> Option<String> {
        self.devices.keys().filter(|d| self.free_of(d) > 0).max_by_key(|d| self.free_of(d)).cloned()
    }

    fn no_free_device_verdict(&self) -> Verdict {
        if self.devices.values().all(BTreeMap::is_empty) {
            Verdict::unknown(
                "the DRA API works, but no driver publishes devices in ResourceSlices: install the accelerator's DRA driver \
                 (e.g. NVIDIA's dra-driver-gpu) and rerun, or verify by hand that workloads can claim devices",
            )
        } else {
            let drivers = self.devices.keys().cloned().collect::<Vec<_>>().join(", ");
            Verdict::unknown(format!(
                "the DRA API works and {drivers} publish devices, but every device is allocated: free one device and rerun \
                 to prove allocation"
            ))
        }
    }
}

/// Step 4: a pod's claim is allocated from a real slice on the pod's node and released afterwards.
async fn allocation(ctx: &CheckContext, inventory: &Inventory, driver: &str) -> Result<Verdict, CheckError> {
    let labels = ctx.labels();
    let class_name = probe::device_class(ctx, driver).await?;
    probe::claim_template(ctx, "one-device", &class_name, 1).await?;
    let ns = ctx.namespace.as_str();
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let pod: Pod = from_json(json!({
        "metadata": {"name": "dra-consumer", "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            // Accelerator nodes are often tainted; the claim decides the node, so tolerate NoSchedule taints.
            "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
            "resourceClaims": [{"name": "dev", "resourceClaimTemplateName": "one-device"}],
            "containers": [{"name": "main", "image": ctx.options.pause_image, "resources": {"claims": [{"name": "dev"}]}}]
        }
    }))?;
    let submitted = Instant::now();
    pods.create(&PostParams::default(), &pod).await.map_err(|e| CheckError::api("create pod dra-consumer", e))?;
    let scheduled = wait::until(
        &pods,
        "dra-consumer",
        "the pod with a claim to be scheduled",
        Duration::from_secs(120),
        wait::pod_scheduled,
        wait::describe_pod,
    )
    .await?;
    ctx.record(|e| e.timing("pod with a claim: submit to scheduled", submitted.elapsed()));
    let node = scheduled.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
    let running = wait::until(
        &pods,
        "dra-consumer",
        "the pod with a claim to run",
        Duration::from_secs(120),
        wait::pod_running,
        wait::describe_pod,
    )
    .await?;
    ctx.object("Pod-dra-consumer", &running);

    let claim_name = running
        .status
        .as_ref()
        .and_then(|s| s.resource_claim_statuses.as_ref())
        .and_then(|statuses| statuses.iter().find(|s| s.name == "dev"))
        .and_then(|s| s.resource_claim_name.clone())
        .ok_or_else(|| {
            CheckError::Other("the running pod names no generated ResourceClaim in status.resourceClaimStatuses".into())
        })?;
    let claims: Api<ResourceClaim> = Api::namespaced(ctx.client.clone(), ns);
    let claim =
        claims.get(&claim_name).await.map_err(|e| CheckError::api(format!("read ResourceClaim {claim_name}"), e))?;
    ctx.object(&format!("ResourceClaim-{claim_name}"), &claim);

    let results = allocated_devices(&claim);
    let Some((got_driver, pool, device)) = results.first().cloned() else {
        return Ok(Verdict::fail(
            "the pod runs but its claim has no allocation",
            format!("claim {claim_name} allocated one device of {driver}"),
            "status.allocation is empty",
        ));
    };
    let device_node =
        inventory.devices.get(&got_driver).and_then(|d| d.get(&(pool.clone(), device.clone()))).cloned().flatten();
    ctx.step(format!("claim {claim_name} allocated {got_driver}/{pool}/{device}; pod runs on {node}"));
    if got_driver != driver {
        return Ok(Verdict::fail(
            "the claim was allocated a device of another driver than its class selects",
            format!("a device of {driver}"),
            format!("{got_driver}/{pool}/{device}"),
        ));
    }
    if let Some(device_node) = &device_node
        && device_node != &node
    {
        return Ok(Verdict::fail(
            "the pod was placed on another node than the device allocated to it",
            format!("pod on {device_node}, where {pool}/{device} is published"),
            format!("pod on {node}"),
        ));
    }
    let reserved = claim
        .status
        .as_ref()
        .and_then(|s| s.reserved_for.as_ref())
        .is_some_and(|r| r.iter().any(|c| c.name == "dra-consumer"));
    if !reserved {
        return Ok(Verdict::fail(
            "the claim is allocated but not reserved for the pod using it",
            "status.reservedFor names pod dra-consumer",
            "status.reservedFor does not",
        ));
    }

    // Release: delete the pod; the claim generated for it must go (or at least be unreserved).
    pods.delete("dra-consumer", &DeleteParams::default())
        .await
        .map_err(|e| CheckError::api("delete pod dra-consumer", e))?;
    let released = wait::until(
        &claims,
        &claim_name,
        "the claim to be released after its pod was deleted",
        Duration::from_secs(90),
        |c: Option<&ResourceClaim>| {
            c.is_none_or(|c| c.status.as_ref().and_then(|s| s.reserved_for.as_ref()).is_none_or(Vec::is_empty))
        },
        |c| {
            format!(
                "reservedFor: {:?}",
                c.status
                    .as_ref()
                    .and_then(|s| s.reserved_for.as_ref())
                    .map(|r| r.iter().map(|c| c.name.clone()).collect::<Vec<_>>())
            )
        },
    )
    .await;
    match released {
        Ok(_) => {}
        Err(CheckError::Other(message)) if message.contains("was deleted") => {}
        Err(e) => return Err(e),
    }
    ctx.step(format!("claim {claim_name} released after the pod was deleted"));
    let classes: Api<DeviceClass> = Api::all(ctx.client.clone());
    let _ = classes.delete(&class_name, &DeleteParams::default()).await;
    let where_ = device_node.map_or_else(|| "a network-attached pool".to_string(), |n| format!("node {n}"));
    Ok(Verdict::pass(format!(
        "all four resource.k8s.io/v1 kinds served and round-tripped; a pod's claim got {driver} device {pool}/{device} on {where_}, ran there, and the claim was released"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory(devices: &[(&str, &str)], allocated: &[(&str, &str)]) -> Inventory {
        let mut map: BTreeMap<String, BTreeMap<(String, String), Option<String>>> = BTreeMap::new();
        for (driver, device) in devices {
            map.entry(driver.to_string()).or_default().insert(("pool".into(), device.to_string()), Some("n".into()));
        }
        Inventory {
            devices: map,
            allocated: allocated.iter().map(|(d, dev)| (d.to_string(), "pool".into(), dev.to_string())).collect(),
        }
    }

    #[test]
    fn picks_the_driver_with_most_free_devices() {
        let inv = inventory(&[("a", "0"), ("b", "0"), ("b", "1")], &[("b", "0"), ("b", "1")]);
        assert_eq!(inv.driver_with_most_free().as_deref(), Some("a"));
    }

    #[test]
    fn no_devices_or_none_free_is_unknown_not_fail() {
        let empty = inventory(&[], &[]);
        assert!(empty.driver_with_most_free().is_none());
        let verdict = empty.no_free_device_verdict();
        assert_eq!(verdict.outcome, kaic_model::Outcome::Unknown);
        assert!(verdict.reason.contains("no driver publishes devices"));

        let busy = inventory(&[("a", "0")], &[("a", "0")]);
        assert!(busy.driver_with_most_free().is_none());
        assert!(busy.no_free_device_verdict().reason.contains("every device is allocated"));
    }
}
