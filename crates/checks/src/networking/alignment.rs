//! GPU–NIC alignment for `high_performance_networking`: where an accelerator and a NIC publish the same
//! `resource.kubernetes.io/pcieRoot` (the standard DRA attribute for a device's PCIe root complex), a single
//! ResourceClaim asking for one of each with `matchAttribute` on it must get a pair behind the same root: the
//! placement GPUDirect RDMA needs, and the one KAR-0010 names. kaic picks a node with such a free pair, claims
//! one accelerator and one NIC through its own DeviceClasses, and reads the allocation: both devices' roots must
//! match. Where no accelerator shares a root with a NIC the platform does not offer alignment through DRA; kaic
//! says so and judges nothing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::resource::v1::{ResourceClaim, ResourceClaimTemplate, ResourceSlice};
use kaic_model::Verdict;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

use super::nics::NetDevice;
use crate::accelerators::inventory::{allocated_devices, attributes_text};
use crate::accelerators::vendor::VENDORS;
use crate::check::{CheckContext, CheckError, from_json};
use crate::timeouts::Wait;

/// The standard attribute of a device's PCIe root complex.
pub const PCIE_ROOT: &str = "resource.kubernetes.io/pcieRoot";

/// A device as DRA names it: driver, pool, device.
pub type DeviceId = (String, String, String);

/// An accelerator and a NIC behind the same PCIe root, both free, on one node.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub accelerator: DeviceId,
    pub nic: NetDevice,
    pub root: String,
}

/// Every device's PCIe root, where it publishes one.
pub fn roots(slices: &[ResourceSlice]) -> Vec<(DeviceId, Option<String>, String)> {
    let mut found = Vec::new();
    for slice in slices {
        let spec = &slice.spec;
        for device in spec.devices.iter().flatten() {
            if let Some(root) = attributes_text(device).get(PCIE_ROOT) {
                let node = device.node_name.clone().or_else(|| spec.node_name.clone());
                let id = (spec.driver.clone(), spec.pool.name.clone(), device.name.clone());
                found.push((id, node, root.clone()));
            }
        }
    }
    found
}

/// The first free NIC of `nics` (on a node `usable` accepts) with a free accelerator of a known vendor's DRA
/// driver behind the same PCIe root.
pub fn free_pair(
    slices: &[ResourceSlice],
    nics: &[NetDevice],
    taken: &BTreeSet<DeviceId>,
    usable: impl Fn(&str) -> bool,
) -> Option<Pair> {
    let accelerator_drivers: BTreeSet<&str> = VENDORS.iter().flat_map(|v| v.dra_drivers.iter().copied()).collect();
    let roots = roots(slices);
    nics.iter().find_map(|nic| {
        let node = nic.node.as_deref().filter(|n| usable(n))?;
        let root = nic.attribute("pcieRoot")?;
        let id = (nic.driver.clone(), nic.pool.clone(), nic.name.clone());
        if taken.contains(&id) {
            return None;
        }
        let (accelerator, _, _) = roots.iter().find(|(dev, dev_node, dev_root)| {
            accelerator_drivers.contains(dev.0.as_str())
                && dev_node.as_deref() == Some(node)
                && dev_root == root
                && !taken.contains(dev)
        })?;
        Some(Pair { accelerator: accelerator.clone(), nic: nic.clone(), root: root.to_string() })
    })
}

/// The claim template: one device of each class, constrained to one PCIe root.
pub fn template(ctx: &CheckContext, name: &str, accelerator_class: &str, nic_class: &str) -> serde_json::Value {
    json!({
        "metadata": {"name": name, "labels": ctx.labels()},
        "spec": {"spec": {"devices": {
            "requests": [
                {"name": "accelerator", "exactly": {"deviceClassName": accelerator_class, "count": 1}},
                {"name": "nic", "exactly": {"deviceClassName": nic_class, "count": 1}}
            ],
            "constraints": [{"requests": ["accelerator", "nic"], "matchAttribute": PCIE_ROOT}]
        }}}
    })
}

/// Creates the aligned claim's template and, through `create_probe` (a probe pod named `pod` on `node` claiming
/// it), the pod; waits until it is scheduled and reads what was allocated. `Ok(text)` when both devices share a
/// root; `Err(verdict)` when they do not, the scheduler refuses, or nothing happens in time.
pub async fn exercise(
    ctx: &CheckContext,
    pair: &Pair,
    classes: (&str, &str),
    roots: &[(DeviceId, Option<String>, String)],
    create_pod: impl std::future::Future<Output = Result<String, CheckError>>,
) -> Result<Result<String, Verdict>, CheckError> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let name = create_pod.await?;
    let started = Instant::now();
    let claim_name = loop {
        let pod = api.get(&name).await.map_err(|e| CheckError::api(format!("read pod {name}"), e))?;
        if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some()
            && let Some(claim) = crate::pods::generated_claim(&pod, None)
        {
            break claim;
        }
        if let Some(why) = crate::wait::unschedulable(&pod) {
            return Ok(Err(Verdict::fail(
                "a claim for an accelerator and a NIC behind one PCIe root was refused, though a free pair exists",
                format!(
                    "pod {name} scheduled with {} and {} (both on PCIe root {})",
                    pair.accelerator.2, pair.nic.name, pair.root
                ),
                why,
            )));
        }
        if started.elapsed() >= ctx.wait(Wait::ClaimedPodScheduled) {
            return Ok(Err(Verdict::unknown(format!(
                "pod {name}, claiming an accelerator and a NIC behind one PCIe root, was neither scheduled nor \
                 refused within {} s: {}",
                started.elapsed().as_secs(),
                crate::wait::describe_pod(&pod)
            ))));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let claim = Api::<ResourceClaim>::namespaced(ctx.client.clone(), &ctx.namespace)
        .get(&claim_name)
        .await
        .map_err(|e| CheckError::api(format!("read ResourceClaim {claim_name}"), e))?;
    ctx.object(&format!("ResourceClaim {claim_name}"), &claim);
    let allocated = allocated_devices(&claim);
    let root_of = |id: &DeviceId| roots.iter().find(|(dev, _, _)| dev == id).map(|(_, _, root)| root.clone());
    let described: Vec<String> = allocated
        .iter()
        .map(|id| format!("{} ({}) on root {}", id.2, id.0, root_of(id).unwrap_or_else(|| "none".into())))
        .collect();
    let (accelerator_class, nic_class) = classes;
    let of_class = |driver_of_class: &str| allocated.iter().find(|id| id.0 == driver_of_class);
    let (Some(accelerator), Some(nic)) = (of_class(&pair.accelerator.0), of_class(&pair.nic.driver)) else {
        return Ok(Err(Verdict::fail(
            "the aligned claim was not allocated one accelerator and one NIC",
            format!("one device of {accelerator_class} and one of {nic_class}"),
            format!("allocated: {}", described.join(", ")),
        )));
    };
    match (root_of(accelerator), root_of(nic)) {
        (Some(a), Some(n)) if a == n => Ok(Ok(format!(
            "pod {name} claimed an accelerator and a NIC with matchAttribute {PCIE_ROOT} and got {} ({}) and {} ({}) \
             on root {a}",
            accelerator.2, accelerator.0, nic.2, nic.0
        ))),
        _ => Ok(Err(Verdict::fail(
            "an accelerator and a NIC claimed with matchAttribute on their PCIe root were allocated on different roots",
            format!("both devices of pod {name}'s claim on one {PCIE_ROOT}"),
            format!("allocated: {}", described.join(", ")),
        ))),
    }
}

/// Creates the aligned claim template `name`.
pub async fn create_template(
    ctx: &CheckContext,
    name: &str,
    accelerator_class: &str,
    nic_class: &str,
) -> Result<(), CheckError> {
    let template: ResourceClaimTemplate = from_json(template(ctx, name, accelerator_class, nic_class))?;
    Api::<ResourceClaimTemplate>::namespaced(ctx.client.clone(), &ctx.namespace)
        .create(&PostParams::default(), &template)
        .await
        .map_err(|e| CheckError::api(format!("create ResourceClaimTemplate {name}"), e))?;
    Ok(())
}

/// Whether `node` is one kaic may place a pod on.
pub fn usable(nodes: &[Node], name: &str) -> bool {
    nodes.iter().any(|n| n.metadata.name.as_deref() == Some(name) && crate::pods::node_ready_and_schedulable(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(driver: &str, node: &str, devices: serde_json::Value) -> ResourceSlice {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{node}-{driver}")},
            "spec": {"driver": driver, "nodeName": node, "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                     "devices": devices}
        }))
        .unwrap()
    }

    fn device(name: &str, root: &str) -> serde_json::Value {
        json!({"name": name, "attributes": {PCIE_ROOT: {"string": root}}})
    }

    #[test]
    fn pairs_a_free_nic_with_a_free_accelerator_behind_its_root() {
        let slices = vec![
            slice("gpu.nvidia.com", "n1", json!([device("gpu-0", "pci0000:00"), device("gpu-2", "pci0000:10")])),
            slice("dra.net", "n1", json!([device("nic-0", "pci0000:00"), device("nic-1", "pci0000:10")])),
        ];
        let nics = super::super::nics::network_devices(&slices);
        let nic0 = ("dra.net".to_string(), "n1".to_string(), "nic-0".to_string());
        let gpu2 = ("gpu.nvidia.com".to_string(), "n1".to_string(), "gpu-2".to_string());
        let pair = free_pair(&slices, &nics, &BTreeSet::from([nic0.clone()]), |_| true).unwrap();
        assert_eq!(
            (pair.nic.name.as_str(), pair.accelerator.2.as_str(), pair.root.as_str()),
            ("nic-1", "gpu-2", "pci0000:10")
        );
        assert!(free_pair(&slices, &nics, &BTreeSet::from([nic0, gpu2]), |_| true).is_none());
        assert!(free_pair(&slices, &nics, &BTreeSet::new(), |_| false).is_none(), "no usable node");
        // A device of a driver kaic does not know as an accelerator is never the accelerator.
        let others = vec![slice("example.com/fpga", "n1", json!([device("f", "pci0000:00")])), slices[1].clone()];
        assert!(free_pair(&others, &nics, &BTreeSet::new(), |_| true).is_none());
    }

    #[tokio::test]
    async fn the_template_constrains_both_requests_to_one_root() {
        let ctx = CheckContext::offline("high_performance_networking", Default::default());
        let t = template(&ctx, "aligned", "gpus", "nics");
        let devices = &t["spec"]["spec"]["devices"];
        assert_eq!(devices["constraints"][0]["matchAttribute"], PCIE_ROOT);
        assert_eq!(devices["constraints"][0]["requests"], json!(["accelerator", "nic"]));
        assert_eq!(devices["requests"][1]["exactly"]["deviceClassName"], "nics");
        let _: ResourceClaimTemplate = from_json(t).unwrap();
    }
}
