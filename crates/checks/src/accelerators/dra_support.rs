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
//! 5. The same allocation through the platform's own DeviceClass for the driver, as a user would
//!    allocate, so a broken vendor class is caught ([`dra_allocation`](super::dra_allocation)).
//!
//! Outcomes: API not served or a round trip broken → fail. DRA served at a beta version only (Kubernetes
//! 1.32–1.33, or v1 switched off) → unknown: kaic drives v1. API works but no driver publishes devices, or
//! every device is in use → unknown (the API works; whether it is usable needs a driver or a free device,
//! which a human must provide or confirm). Allocation on the wrong node, no release, or a platform class
//! that cannot allocate a free device kaic's own class can → fail.

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::resource::v1::{DeviceClass, ResourceClaim, ResourceClaimTemplate, ResourceSlice};
use kaic_model::Verdict;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::dra_allocation::{Inventory, allocation};
use crate::capability::Capability;
use crate::check::{AcceleratorUse, Check, CheckContext, CheckError, from_json};
use crate::timeouts::Wait;

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

    // No `needs`: without resource.k8s.io/v1 the verdict depends on what is served instead (see
    // `missing_dra`), which `Check::when_missing` cannot see.

    fn timeout(&self) -> Duration {
        Duration::from_secs(480)
    }

    /// Through kaic's class and through the platform's: the pod runs, then its claim is released.
    fn waits(&self) -> &'static [(Wait, u32)] {
        &[(Wait::ClaimedPodScheduled, 2), (Wait::ClaimReleased, 2)]
    }

    fn accelerators(&self) -> AcceleratorUse {
        AcceleratorUse::Throughout
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "DeviceClass kaic-dra-roundtrip-<run> and ResourceSlice kaic-dra-roundtrip-<run> (driver dra.kaic.dev, selects no node), deleted at once",
            "ResourceClaimTemplate and ResourceClaim in the check's namespace, deleted at once",
            "DeviceClass kaic-dra-support-<driver>-<run> selecting the chosen real driver, a ResourceClaimTemplate, and one pause pod with a claim for one device",
            "a ResourceClaimTemplate through the platform's own DeviceClass for that driver, and a second pause pod with a claim through it",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        if !ctx.capabilities.has(Capability::Dra) {
            return Ok(missing_dra(&served_versions(ctx).await?));
        }
        if let Some(verdict) = served_kinds(ctx).await? {
            return Ok(verdict);
        }
        if let Some(verdict) = round_trips(ctx).await? {
            return Ok(verdict);
        }
        let inventory = Inventory::read(ctx).await?;
        let Some(target) = inventory.target() else {
            return Ok(inventory.no_free_device_verdict());
        };
        allocation(ctx, &inventory, &target).await
    }
}

/// The versions of `resource.k8s.io` the API server serves.
async fn served_versions(ctx: &CheckContext) -> Result<Vec<String>, CheckError> {
    let groups = ctx.client.list_api_groups().await.map_err(|e| CheckError::api("list API groups", e))?;
    Ok(groups
        .groups
        .into_iter()
        .filter(|g| g.name == "resource.k8s.io")
        .flat_map(|g| g.versions.into_iter().map(|v| v.version))
        .collect())
}

/// The verdict without `resource.k8s.io/v1`: unknown when DRA is served at a beta version only (kaic
/// drives v1; a person can check the beta API), a failure when DRA is not served at all.
fn missing_dra(served: &[String]) -> Verdict {
    match served.iter().find(|v| v.contains("beta")) {
        Some(version) => Verdict::unknown(format!(
            "DRA is served at resource.k8s.io/{version} only; kaic drives v1: verify by hand that the four kinds \
             (deviceclasses, resourceclaims, resourceclaimtemplates, resourceslices) are served at {version} and that a pod \
             with a ResourceClaimTemplate gets a device from a driver's ResourceSlice on its node"
        )),
        None if served.is_empty() => Verdict::fail(
            "the DRA API resource.k8s.io/v1 is not served by the API server",
            "resource.k8s.io/v1 served with deviceclasses, resourceclaims, resourceclaimtemplates, resourceslices",
            "resource.k8s.io/v1 absent from API discovery (is the API switched off with --runtime-config?)",
        ),
        None => Verdict::fail(
            "the DRA API resource.k8s.io/v1 is not served by the API server",
            "resource.k8s.io/v1 served with deviceclasses, resourceclaims, resourceclaimtemplates, resourceslices",
            format!("resource.k8s.io served at {} only (alpha: off by default, not for production)", served.join(", ")),
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_only_dra_is_unknown_and_names_the_served_version() {
        let verdict = missing_dra(&["v1beta2".into(), "v1beta1".into()]);
        assert_eq!(verdict.outcome, kaic_model::Outcome::Unknown);
        assert!(
            verdict.reason.starts_with("DRA is served at resource.k8s.io/v1beta2 only; kaic drives v1: verify by hand"),
            "{}",
            verdict.reason
        );
        let off = missing_dra(&[]);
        assert_eq!(off.outcome, kaic_model::Outcome::Fail);
        assert!(off.reason.contains("resource.k8s.io/v1 is not served"));
        assert!(off.observed.unwrap().contains("absent from API discovery"));
        let alpha = missing_dra(&["v1alpha3".into()]);
        assert_eq!(alpha.outcome, kaic_model::Outcome::Fail);
        assert!(alpha.observed.unwrap().contains("served at v1alpha3 only"));
    }

    #[test]
    fn the_budget_covers_the_waits() {
        assert!(DraSupport.timeout() >= crate::timeouts::sum(DraSupport.waits()));
    }
}
