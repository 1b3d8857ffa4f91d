//! `secure_accelerator_access`: a container sees exactly the accelerators allocated to it.
//!
//! For every allocation path the cluster offers (DRA claims, device-plugin extended resources; narrowed by
//! `--allocation-mode`), on one accelerator node, with the vendor's probe:
//! 1. a container holding one device sees exactly one device;
//! 2. a second container in the same pod, holding nothing, sees none;
//! 3. a pod with no request, pinned to the same node, sees none;
//! 4. a second pod holding one device on the same node sees a different device than the first
//!    (so neither can open the other's device node);
//! 5. on the DRA path, the device the container sees is the one its claim was allocated.
//!
//! Unrecognised accelerators → unknown; no accelerator node at all → not applicable.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::resource::v1::ResourceClaim;
use kaic_model::Verdict;
use kube::Api;

use crate::accelerators::inventory::{AcceleratorNode, Inventory, Path};
use crate::accelerators::probe::{self, Grant, ProbePod, ProbeResults};
use crate::accelerators::{CaseResult, Finding, conclude};
use crate::check::{Check, CheckContext, CheckError};

pub struct SecureAcceleratorAccess;

#[async_trait::async_trait]
impl Check for SecureAcceleratorAccess {
    fn id(&self) -> &'static str {
        "secure_accelerator_access"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["secure_accelerator_access"]
    }

    fn uses_accelerators(&self) -> bool {
        true
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "per allocation path, on one accelerator node: a probe pod with one device and a sidecar holding none, a probe pod with no request, a second probe pod with one device",
            "for DRA: a DeviceClass kaic-secure-accelerator-access-<driver>-<run> and a ResourceClaimTemplate",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let inventory = Inventory::read(ctx).await?;
        if inventory.nodes.is_empty() && inventory.unrecognised.is_empty() {
            return Ok(Verdict::not_applicable(
                "the cluster has no accelerator nodes (no known extended resource, DRA driver or node label)",
            ));
        }
        let mut cases = Vec::new();
        for path in inventory.paths(ctx.options.allocation_mode) {
            let result = match inventory.best_node(path, 1) {
                None => CaseResult::Skipped(format!("no node has a free device through {}", path.name())),
                Some(node) => exercise(ctx, node, path).await?,
            };
            cases.push((path.name().to_string(), result));
        }
        if cases.is_empty() && !inventory.nodes.is_empty() {
            return Ok(Verdict::not_applicable(format!(
                "no accelerator node offers the allocation path chosen with --allocation-mode ({:?})",
                ctx.options.allocation_mode
            )));
        }
        Ok(conclude(&cases, &inventory))
    }
}

/// Runs the four probes through one path on one node and lists what did not hold.
async fn exercise(ctx: &CheckContext, node: &AcceleratorNode, path: Path) -> Result<CaseResult, CheckError> {
    let vendor = node.vendor;
    let prefix = match path {
        Path::Dra => "dra",
        Path::DevicePlugin => "dp",
    };
    let template = format!("{prefix}-one-device");
    let (grant, claims) = probe::prepare_one_device(ctx, node, path, &template).await?;
    let two_pods = node.free(path) >= 2;
    let holder = format!("{prefix}-holder");
    let bare = format!("{prefix}-no-request");
    let second = format!("{prefix}-second");
    let mut pods = vec![
        ProbePod {
            name: holder.clone(),
            node: node.name.clone(),
            vendor,
            containers: vec![("holder".into(), grant.clone()), ("sidecar".into(), Grant::Nothing)],
            claims: claims.clone(),
        },
        ProbePod {
            name: bare.clone(),
            node: node.name.clone(),
            vendor,
            containers: vec![("probe".into(), Grant::Nothing)],
            claims: vec![],
        },
    ];
    if two_pods {
        pods.push(ProbePod {
            name: second.clone(),
            node: node.name.clone(),
            vendor,
            containers: vec![("holder".into(), grant)],
            claims,
        });
    }
    ctx.step(format!("{}: probing node {} ({}) with {} pods", path.name(), node.name, vendor.name, pods.len()));
    let results = probe::run(ctx, &pods, Duration::from_secs(180)).await?;
    let mut findings = judge(&results, &holder, &bare, two_pods.then_some(second.as_str()), &node.name);
    if path == Path::Dra && findings.is_empty() {
        findings.extend(claim_matches(ctx, &holder, &results, vendor.uuid_attribute, node).await?);
    }
    if findings.is_empty() {
        let extra = if two_pods {
            ", a second pod saw another device"
        } else {
            " (one free device only: the two-pod case was not run)"
        };
        Ok(CaseResult::Passed(format!(
            "on {} the holder saw exactly {}, its sidecar and a pod without a request saw none{extra}",
            node.name,
            results.get(&holder, "holder").describe()
        )))
    } else {
        Ok(CaseResult::Violated(findings))
    }
}

/// The isolation rules over what the probes saw (pure, so it is unit-tested).
fn judge(results: &ProbeResults, holder: &str, bare: &str, second: Option<&str>, node: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (pod, ran_on) in &results.nodes {
        if ran_on != node {
            findings.push(Finding {
                what: format!("probe pod {pod} ran on another node"),
                expected: format!("{pod} on {node}"),
                observed: format!("{pod} on {ran_on}"),
            });
        }
    }
    let held = results.get(holder, "holder");
    if held.devices.len() != 1 {
        findings.push(Finding {
            what: "a container holding one device does not see exactly one".into(),
            expected: "holder container sees 1 device".into(),
            observed: format!("holder container sees {} ({})", held.devices.len(), held.describe()),
        });
    }
    for (pod, container, who) in [
        (holder, "sidecar", "a container without a grant in the same pod"),
        (bare, "probe", "a pod without a request on the same node"),
    ] {
        let seen = results.get(pod, container);
        if !seen.devices.is_empty() || !seen.gpus.is_empty() {
            findings.push(Finding {
                what: format!("{who} sees devices"),
                expected: format!("{pod}/{container} sees no device"),
                observed: format!("{pod}/{container} sees {}", seen.describe()),
            });
        }
    }
    if let Some(second) = second {
        let other = results.get(second, "holder");
        let shared: Vec<String> = other.ids().into_iter().filter(|id| held.ids().contains(id)).collect();
        if other.devices.len() != 1 || !shared.is_empty() {
            findings.push(Finding {
                what: "two pods holding one device each do not see one distinct device each".into(),
                expected: "each sees 1 device, and not the same one".into(),
                observed: format!("first sees {}, second sees {}", held.describe(), other.describe()),
            });
        }
    }
    findings
}

/// On the DRA path: the uuid the holder saw is the uuid attribute of the device its claim was allocated.
async fn claim_matches(
    ctx: &CheckContext,
    holder: &str,
    results: &ProbeResults,
    uuid_attribute: Option<&str>,
    node: &AcceleratorNode,
) -> Result<Vec<Finding>, CheckError> {
    let (Some(attribute), Some(seen)) = (uuid_attribute, results.get(holder, "holder").gpus.first()) else {
        return Ok(Vec::new());
    };
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let pod = pods.get(holder).await.map_err(|e| CheckError::api(format!("read pod {holder}"), e))?;
    let claim_name = pod
        .status
        .and_then(|s| s.resource_claim_statuses)
        .and_then(|s| s.into_iter().find_map(|c| c.resource_claim_name))
        .ok_or_else(|| CheckError::Other(format!("pod {holder} names no generated claim")))?;
    let claims: Api<ResourceClaim> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let claim = claims.get(&claim_name).await.map_err(|e| CheckError::api(format!("read claim {claim_name}"), e))?;
    ctx.object(&format!("ResourceClaim-{claim_name}"), &claim);
    let allocated = claim
        .status
        .and_then(|s| s.allocation)
        .and_then(|a| a.devices)
        .and_then(|d| d.results)
        .and_then(|r| r.into_iter().next());
    let Some(allocated) = allocated else {
        return Ok(vec![Finding {
            what: "the holder's claim has no allocation".into(),
            expected: format!("claim {claim_name} allocated"),
            observed: "status.allocation empty".into(),
        }]);
    };
    let uuid = node
        .dra
        .iter()
        .find(|d| d.pool == allocated.pool && d.name == allocated.device)
        .and_then(|d| d.attributes.get(attribute));
    Ok(match uuid {
        Some(uuid) if uuid == &seen.uuid => Vec::new(),
        other => vec![Finding {
            what: "the device the container sees is not the one its claim was allocated".into(),
            expected: format!(
                "{} ({attribute} {})",
                allocated.device,
                other.cloned().unwrap_or_else(|| "unknown".into())
            ),
            observed: seen.uuid.clone(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accelerators::probe::{Gpu, Seen};

    fn seen(devices: &[&str]) -> Seen {
        Seen {
            devices: devices.iter().map(|d| d.to_string()).collect(),
            gpus: devices
                .iter()
                .map(|d| Gpu { uuid: format!("GPU-{d}"), driver_version: "1".into(), product: "p".into() })
                .collect(),
        }
    }

    fn results(entries: &[(&str, &str, &[&str])]) -> ProbeResults {
        let mut r = ProbeResults::default();
        for (pod, container, devices) in entries {
            r.seen.insert((pod.to_string(), container.to_string()), seen(devices));
            r.nodes.insert(pod.to_string(), "gpu-0".into());
        }
        r
    }

    #[test]
    fn isolated_devices_pass() {
        let r = results(&[
            ("h", "holder", &["/dev/nvidia0"]),
            ("h", "sidecar", &[]),
            ("b", "probe", &[]),
            ("s", "holder", &["/dev/nvidia1"]),
        ]);
        assert!(judge(&r, "h", "b", Some("s"), "gpu-0").is_empty());
    }

    #[test]
    fn a_leaking_node_is_caught_on_every_rule() {
        let all: &[&str] = &["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidia2", "/dev/nvidia3"];
        let r = results(&[("h", "holder", all), ("h", "sidecar", all), ("b", "probe", all), ("s", "holder", all)]);
        let findings = judge(&r, "h", "b", Some("s"), "gpu-0");
        let whats: Vec<&str> = findings.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(
            whats,
            vec![
                "a container holding one device does not see exactly one",
                "a container without a grant in the same pod sees devices",
                "a pod without a request on the same node sees devices",
                "two pods holding one device each do not see one distinct device each",
            ]
        );
        assert!(findings[2].observed.contains("/dev/nvidia3"));
    }

    #[test]
    fn the_same_device_in_two_pods_is_caught() {
        let r = results(&[
            ("h", "holder", &["/dev/nvidia0"]),
            ("h", "sidecar", &[]),
            ("b", "probe", &[]),
            ("s", "holder", &["/dev/nvidia0"]),
        ]);
        let findings = judge(&r, "h", "b", Some("s"), "gpu-0");
        assert_eq!(findings.len(), 1);
        assert!(findings[0].observed.contains("first sees /dev/nvidia0"));
    }

    #[test]
    fn a_pod_on_another_node_is_caught() {
        let mut r = results(&[("h", "holder", &["/dev/nvidia0"]), ("h", "sidecar", &[]), ("b", "probe", &[])]);
        r.nodes.insert("b".into(), "gpu-1".into());
        let findings = judge(&r, "h", "b", None, "gpu-0");
        assert_eq!(findings[0].observed, "b on gpu-1");
    }
}
