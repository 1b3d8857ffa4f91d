//! `secure_accelerator_access`: a container sees exactly the accelerators allocated to it.
//!
//! For every allocation path the cluster offers (DRA claims, device-plugin extended resources; narrowed by
//! `--allocation-mode`), on one Ready, uncordoned accelerator node, with the vendor's probe:
//! 1. a container holding one device sees exactly one device;
//! 2. a second container in the same pod, holding nothing, sees none;
//! 3. a pod with no request, pinned to the same node, sees none;
//! 4. a second pod holding one device on the same node sees a different device than the first
//!    (so neither can open the other's device node); on the DRA path it allocates through the platform's
//!    own DeviceClass ([`classes`]), as a user would, so a broken vendor class is caught;
//! 5. on the DRA path, the device each holder sees is the one its claim was allocated.
//!
//! Once per run, for vendors whose runtime reads a variable to inject devices (`NVIDIA_VISIBLE_DEVICES`),
//! the pod with no request has a further container that sets it to `all`: it must still see nothing (the
//! named case "NVIDIA_VISIBLE_DEVICES escalation").
//!
//! Every exercised case must hold. Unrecognised accelerators → unknown; no free device → unknown with
//! what to do; no accelerator node at all → not applicable.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::resource::v1::{DeviceClass, ResourceClaim};
use kaic_model::Verdict;
use kube::Api;

use crate::accelerators::classes::{self, PlatformClass};
use crate::accelerators::inventory::{AcceleratorNode, Inventory, Path, list_all};
use crate::accelerators::probe::{self, Grant, PodProblem, ProbePod, ProbeResults};
use crate::accelerators::{CaseResult, Finding, Policy, dra_beta_only_case, finish};
use crate::capability::Capability;
use crate::check::{AcceleratorUse, Check, CheckContext, CheckError};
use crate::timeouts::Wait;

pub struct SecureAcceleratorAccess;

#[async_trait::async_trait]
impl Check for SecureAcceleratorAccess {
    fn id(&self) -> &'static str {
        "secure_accelerator_access"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["secure_accelerator_access"]
    }

    fn accelerators(&self) -> AcceleratorUse {
        AcceleratorUse::Throughout
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(600)
    }

    /// One batch of probe pods per allocation path.
    fn waits(&self) -> &'static [(Wait, u32)] {
        &[(Wait::ProbePod, 2)]
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "per allocation path, on one accelerator node: a probe pod with one device and a sidecar holding none, a probe pod with no request (once with a container setting NVIDIA_VISIBLE_DEVICES=all), a second probe pod with one device",
            "for DRA: a DeviceClass kaic-secure-accelerator-access-<driver>-<run>, and ResourceClaimTemplates through it and through the platform's own DeviceClass",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let inventory = Inventory::read(ctx).await?;
        if inventory.nodes.is_empty() && inventory.unrecognised.is_empty() {
            if let Some((_, CaseResult::Skipped(beta))) = dra_beta_only_case(ctx) {
                return Ok(Verdict::unknown(format!("no accelerator node found outside DRA, and {beta}")));
            }
            return Ok(Verdict::not_applicable(
                "the cluster has no accelerator nodes (no known extended resource, DRA driver or node label)",
            ));
        }
        let classes: Vec<DeviceClass> = if ctx.capabilities.has(Capability::Dra) {
            list_all(&Api::all(ctx.client.clone()), Default::default(), "DeviceClasses").await?
        } else {
            Vec::new()
        };
        let mut cases = Vec::new();
        let mut escalation_tried = false;
        for path in inventory.paths(ctx.options.allocation_mode) {
            let Some(node) = inventory.best_node(path, 1) else {
                cases.push((path.name().to_string(), CaseResult::Skipped(inventory.no_free_device(path))));
                continue;
            };
            let escalate = !escalation_tried && node.vendor.visible_devices_env.is_some();
            let exercised = exercise(ctx, &inventory, &classes, node, path, escalate).await?;
            escalation_tried |= exercised.len() > 1;
            cases.extend(exercised);
        }
        cases.extend(dra_beta_only_case(ctx));
        if cases.is_empty() && !inventory.nodes.is_empty() {
            return Ok(Verdict::not_applicable(format!(
                "no accelerator node offers the allocation path chosen with --allocation-mode ({:?})",
                ctx.options.allocation_mode
            )));
        }
        Ok(finish(ctx, Policy::EveryCase, &cases, &inventory))
    }
}

/// The pods of one path, by name.
struct Names {
    holder: String,
    bare: String,
    second: String,
}

/// Runs the probes through one path on one node: the path's case, and the escalation case when asked.
async fn exercise(
    ctx: &CheckContext,
    inventory: &Inventory,
    classes: &[DeviceClass],
    node: &AcceleratorNode,
    path: Path,
    escalate: bool,
) -> Result<Vec<(String, CaseResult)>, CheckError> {
    let vendor = node.vendor;
    let prefix = match path {
        Path::Dra => "dra",
        Path::DevicePlugin => "dp",
    };
    let names = Names {
        holder: format!("{prefix}-holder"),
        bare: format!("{prefix}-no-request"),
        second: format!("{prefix}-second"),
    };
    let (grant, claims) = probe::prepare_one_device(ctx, node, path, &format!("{prefix}-one-device")).await?;
    let two_pods = node.free(path) >= 2;
    let platform = if path == Path::Dra && two_pods { platform_class(ctx, inventory, classes, node) } else { None };
    let (second_grant, second_claims) = match &platform {
        Some(class) => {
            probe::claim_template(ctx, "dra-platform-one-device", &class.name, 1).await?;
            probe::one_device(Path::Dra, "", "dra-platform-one-device")
        }
        None => (grant.clone(), claims.clone()),
    };
    let mut bare_containers = vec![("probe".to_string(), Grant::Nothing)];
    if escalate {
        bare_containers.push(("escalate".to_string(), Grant::AskForAll));
    }
    let mut pods = vec![
        ProbePod::on(node, &names.holder, vec![("holder".into(), grant), ("sidecar".into(), Grant::Nothing)], claims),
        ProbePod::on(node, &names.bare, bare_containers, vec![]),
    ];
    if two_pods {
        pods.push(ProbePod::on(node, &names.second, vec![("holder".into(), second_grant)], second_claims));
    }
    ctx.step(format!("{}: probing node {} ({}) with {} pods", path.name(), node.name, vendor.name, pods.len()));
    let results = probe::run(ctx, &pods).await?;

    let mut findings = Vec::new();
    let mut second_ran = two_pods;
    let mut platform_note = String::new();
    if let (Some(class), Some(PodProblem::Unschedulable(message))) = (&platform, results.problems.get(&names.second)) {
        second_ran = false;
        match broken_class(ctx, node, class, message).await? {
            Some(finding) => findings.push(finding),
            None => {
                platform_note = format!(
                    "; the platform's DeviceClass {} was not exercised: no device was left free for it",
                    class.name
                )
            }
        }
    }
    let except: Vec<&str> = if second_ran { vec![] } else { vec![names.second.as_str()] };
    let mut holders = vec![(names.holder.as_str(), "holder")];
    if second_ran {
        holders.push((names.second.as_str(), "holder"));
    }
    if let Some(error) = results.unusable(&except, &holders) {
        let mut cases = vec![(path.name().to_string(), error)];
        if !findings.is_empty() {
            cases[0].1 = CaseResult::Violated(findings);
        }
        return Ok(cases);
    }
    findings.extend(judge(&results, &names, second_ran, &node.name));
    if path == Path::Dra && findings.is_empty() {
        for pod in holders.iter().map(|(pod, _)| *pod) {
            findings.extend(claim_matches(ctx, pod, &results, vendor.uuid_attribute, inventory).await?);
        }
    }
    let mut cases = Vec::new();
    if findings.is_empty() {
        let extra = match (second_ran, &platform) {
            (true, Some(class)) => format!(
                ", a second pod, allocated through the platform's DeviceClass {}, saw another device",
                class.name
            ),
            (true, None) => ", a second pod saw another device".to_string(),
            (false, _) => " (one free device only: the two-pod case was not run)".to_string(),
        };
        cases.push((
            path.name().to_string(),
            CaseResult::Passed(format!(
                "on {} the holder saw exactly {}, its sidecar and a pod without a request saw none{extra}{platform_note}",
                node.name,
                results.get(&names.holder, "holder").describe()
            )),
        ));
    } else {
        cases.push((path.name().to_string(), CaseResult::Violated(findings)));
    }
    if escalate && let Some(variable) = vendor.visible_devices_env {
        cases.push((format!("{variable} escalation"), judge_escalation(&results, &names.bare, variable, &node.name)));
    }
    Ok(cases)
}

/// The platform's DeviceClass for the node's free DRA devices, recorded with why it was chosen.
fn platform_class(
    ctx: &CheckContext,
    inventory: &Inventory,
    classes: &[DeviceClass],
    node: &AcceleratorNode,
) -> Option<PlatformClass> {
    let free = node.free_dra();
    let driver = free.first().map(|d| d.driver.clone())?;
    let free_here: Vec<_> = free.iter().filter(|d| d.driver == driver).map(|d| &d.attributes).collect();
    let chosen = classes::choose(classes, &driver, &free_here, &inventory.dra_attributes(&driver));
    match &chosen {
        Some(class) => ctx.step(format!("DRA: the second pod allocates through {}: {}", class.name, class.why)),
        None => ctx.step(format!("DRA: {}", classes::none_note(classes, &driver))),
    }
    chosen
}

/// The platform's class left its pod unschedulable: broken if a device of the node is still free (so it
/// was not a matter of capacity), else not exercised.
async fn broken_class(
    ctx: &CheckContext,
    node: &AcceleratorNode,
    class: &PlatformClass,
    message: &str,
) -> Result<Option<Finding>, CheckError> {
    let again = Inventory::read(ctx).await?;
    let free = again.nodes.iter().find(|n| n.name == node.name).map_or(0, |n| n.free(Path::Dra));
    ctx.step(format!(
        "DRA: the pod through {} was never scheduled ({message}); {free} device(s) free on {} now",
        class.name, node.name
    ));
    Ok((free > 0).then(|| Finding {
        what: format!(
            "the platform's DeviceClass {} does not allocate a device that kaic's own class allocates",
            class.name
        ),
        expected: format!(
            "a pod claiming one device through {} runs on {}, where {free} device(s) are free",
            class.name, node.name
        ),
        observed: format!(
            "never scheduled: {message}{}",
            if class.selects_nothing { format!(" ({})", class.why) } else { String::new() }
        ),
    }))
}

/// The isolation rules over what the probes saw (pure, so it is unit-tested).
fn judge(results: &ProbeResults, names: &Names, second_ran: bool, node: &str) -> Vec<Finding> {
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
    let held = results.get(&names.holder, "holder");
    if held.count() != 1 {
        findings.push(Finding {
            what: "a container holding one device does not see exactly one".into(),
            expected: "holder container sees 1 device".into(),
            observed: format!("holder container sees {} ({})", held.count(), held.describe()),
        });
    }
    for (pod, container, who) in [
        (&names.holder, "sidecar", "a container without a grant in the same pod"),
        (&names.bare, "probe", "a pod without a request on the same node"),
    ] {
        let seen = results.get(pod, container);
        if !seen.sees_nothing() {
            findings.push(Finding {
                what: format!("{who} sees devices"),
                expected: format!("{pod}/{container} sees no device"),
                observed: format!("{pod}/{container} sees {}", seen.describe()),
            });
        }
    }
    if second_ran {
        let other = results.get(&names.second, "holder");
        let shared: Vec<String> = other.ids().into_iter().filter(|id| held.ids().contains(id)).collect();
        if other.count() != 1 || !shared.is_empty() {
            findings.push(Finding {
                what: "two pods holding one device each do not see one distinct device each".into(),
                expected: "each sees 1 device, and not the same one".into(),
                observed: format!("first sees {}, second sees {}", held.describe(), other.describe()),
            });
        }
    }
    findings
}

/// The escalation case: a container without a grant that asks the runtime for every device sees none.
fn judge_escalation(results: &ProbeResults, bare: &str, variable: &str, node: &str) -> CaseResult {
    let seen = results.get(bare, "escalate");
    if seen.sees_nothing() {
        CaseResult::Passed(format!("on {node} a container without a grant that sets {variable}=all saw no device"))
    } else {
        CaseResult::Violated(vec![Finding {
            what: format!("a container without a grant that sets {variable}=all sees devices"),
            expected: format!("{bare}/escalate sees no device"),
            observed: format!("{bare}/escalate sees {}", seen.describe()),
        }])
    }
}

/// On the DRA path: the id the holder saw is the uuid attribute of the device its claim was allocated.
async fn claim_matches(
    ctx: &CheckContext,
    holder: &str,
    results: &ProbeResults,
    uuid_attribute: Option<&str>,
    inventory: &Inventory,
) -> Result<Vec<Finding>, CheckError> {
    let (Some(attribute), Some(seen)) = (uuid_attribute, results.get(holder, "holder").listing.devices().first())
    else {
        return Ok(Vec::new());
    };
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let pod = pods.get(holder).await.map_err(|e| CheckError::api(format!("read pod {holder}"), e))?;
    let claim_name = crate::pods::generated_claim(&pod, None)
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
            what: format!("the claim of {holder} has no allocation"),
            expected: format!("claim {claim_name} allocated"),
            observed: "status.allocation empty".into(),
        }]);
    };
    let uuid = inventory
        .nodes
        .iter()
        .flat_map(|n| &n.dra)
        .find(|d| d.driver == allocated.driver && d.pool == allocated.pool && d.name == allocated.device)
        .and_then(|d| d.attributes.get(attribute));
    Ok(match uuid {
        Some(uuid) if uuid == &seen.id => Vec::new(),
        other => vec![Finding {
            what: format!("the device {holder} sees is not the one its claim was allocated"),
            expected: format!(
                "{} ({attribute} {})",
                allocated.device,
                other.cloned().unwrap_or_else(|| "unknown".into())
            ),
            observed: seen.id.clone(),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accelerators::probe::Seen;
    use crate::accelerators::tools::{Device, Listing};

    fn seen(devices: &[&str]) -> Seen {
        Seen {
            devices: devices.iter().map(|d| d.to_string()).collect(),
            listing: Listing::Devices(
                devices.iter().map(|d| Device { id: format!("GPU-{d}"), product: "p".into() }).collect(),
            ),
            driver_version: None,
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

    fn names() -> Names {
        Names { holder: "h".into(), bare: "b".into(), second: "s".into() }
    }

    #[test]
    fn isolated_devices_pass() {
        let r = results(&[
            ("h", "holder", &["/dev/nvidia0"]),
            ("h", "sidecar", &[]),
            ("b", "probe", &[]),
            ("b", "escalate", &[]),
            ("s", "holder", &["/dev/nvidia1"]),
        ]);
        assert!(judge(&r, &names(), true, "gpu-0").is_empty());
        assert!(matches!(judge_escalation(&r, "b", "NVIDIA_VISIBLE_DEVICES", "gpu-0"), CaseResult::Passed(_)));
    }

    #[test]
    fn a_leaking_node_is_caught_on_every_rule() {
        let all: &[&str] = &["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidia2", "/dev/nvidia3"];
        let r = results(&[("h", "holder", all), ("h", "sidecar", all), ("b", "probe", all), ("s", "holder", all)]);
        let findings = judge(&r, &names(), true, "gpu-0");
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
    fn the_env_var_escalation_is_its_own_case() {
        let r = results(&[("b", "probe", &[]), ("b", "escalate", &["/dev/nvidia0", "/dev/nvidia1"])]);
        let CaseResult::Violated(findings) = judge_escalation(&r, "b", "NVIDIA_VISIBLE_DEVICES", "gpu-0") else {
            panic!()
        };
        assert_eq!(findings[0].what, "a container without a grant that sets NVIDIA_VISIBLE_DEVICES=all sees devices");
        assert!(findings[0].observed.contains("/dev/nvidia1"));
    }

    #[test]
    fn a_failed_tool_in_a_container_without_a_grant_is_no_device() {
        let mut r = results(&[("h", "holder", &["/dev/nvidia0"]), ("b", "probe", &[])]);
        let failed = Seen {
            devices: vec![],
            listing: Listing::Failed {
                command: "nvidia-smi -L".into(),
                code: 6,
                output: "No devices were found".into(),
            },
            driver_version: None,
        };
        r.seen.insert(("h".into(), "sidecar".into()), failed);
        assert!(judge(&r, &names(), false, "gpu-0").is_empty());
    }

    #[test]
    fn the_same_device_in_two_pods_is_caught() {
        let r = results(&[
            ("h", "holder", &["/dev/nvidia0"]),
            ("h", "sidecar", &[]),
            ("b", "probe", &[]),
            ("s", "holder", &["/dev/nvidia0"]),
        ]);
        let findings = judge(&r, &names(), true, "gpu-0");
        assert_eq!(findings.len(), 1);
        assert!(findings[0].observed.contains("first sees /dev/nvidia0"));
    }

    #[test]
    fn a_pod_on_another_node_is_caught() {
        let mut r = results(&[("h", "holder", &["/dev/nvidia0"]), ("h", "sidecar", &[]), ("b", "probe", &[])]);
        r.nodes.insert("b".into(), "gpu-1".into());
        let findings = judge(&r, &names(), false, "gpu-0");
        assert_eq!(findings[0].observed, "b on gpu-1");
    }

    #[test]
    fn the_budget_covers_the_waits() {
        let check = SecureAcceleratorAccess;
        assert!(check.timeout() >= crate::timeouts::sum(check.waits()));
    }
}
