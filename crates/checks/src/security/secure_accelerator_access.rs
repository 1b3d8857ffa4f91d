//! `secure_accelerator_access`: a container sees exactly the accelerators allocated to it.
//!
//! For every allocation path the cluster offers (DRA claims, device-plugin extended resources; narrowed by
//! `--allocation-mode`), on one Ready, uncordoned accelerator node, with the vendor's probe:
//! 1. a container holding one device sees exactly one device;
//! 2. a second container in the same pod, holding nothing, sees none;
//! 3. a pod with no request, pinned to the same node, sees none;
//! 4. a second pod holding one device on the same node sees one device, and a different one than the
//!    first (so neither can open the other's device node); on the DRA path it allocates through the
//!    platform's own DeviceClass ([`classes`]), as a user would, so a broken vendor class is caught;
//! 5. on the DRA path, the device each holder sees is the one its claim was allocated.
//!
//! Shared devices: time-slicing, MPS and GKE time-sharing hand one physical device to several containers
//! on purpose, so two pods there rightly see the same one. kaic prefers a node whose devices are not
//! shared ([`AcceleratorNode::sharing`]); where every node shares them, rule 4 keeps "one device each"
//! and drops "a different one", and the reason says so. The other rules hold on shared devices too.
//!
//! A platform DeviceClass is "broken" only when its pod stays unschedulable while a device it could
//! select is free (not allocated, not out of shared counters); otherwise that part is not exercised and
//! is reported as such, never failed.
//!
//! Once per run, for vendors whose runtime reads a variable to inject devices (`NVIDIA_VISIBLE_DEVICES`),
//! the pod with no request has a further container that sets it to `all`: it must still see nothing. This
//! is its own named finding, "NVIDIA_VISIBLE_DEVICES escalation": a runtime that honours the variable in
//! unprivileged containers (the NVIDIA Container Toolkit's legacy mode, still the default on EKS's NVIDIA
//! AMIs and GPU Operator before v25.10) lets any pod use every GPU of its node, so the requirement fails;
//! but the reason first says whether device isolation itself holds, then names the escalation and the
//! remedy from the vendor table, so the two results stay apart.
//!
//! Every exercised case must hold. Unrecognised accelerators → unknown; no free device → unknown with
//! what to do; no accelerator node at all → not applicable.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::resource::v1::{DeviceClass, ResourceClaim};
use kaic_model::Verdict;
use kube::Api;

use super::accelerator_rules::{
    Names, conclude_access, escalation_case, free_for_class, judge, judge_escalation, preferred_node,
};
use crate::accelerators::classes::{self, PlatformClass};
use crate::accelerators::inventory::{AcceleratorNode, Inventory, Path, list_all};
use crate::accelerators::probe::{self, Grant, PodProblem, ProbePod, ProbeResults};
use crate::accelerators::{CaseResult, Finding, dra_beta_only_case, solution};
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
            let Some(node) = preferred_node(&inventory, path) else {
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
        for (name, result) in &cases {
            let result = solution(name, result);
            ctx.record(|e| e.solution(result));
        }
        Ok(conclude_access(&cases, &inventory))
    }
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
    let shared = node.sharing(path);
    if let (true, Some(why)) = (two_pods, &shared) {
        ctx.step(format!(
            "{}: every candidate node shares its devices; on {} ({why}) two pods may rightly see the same device: \
             the distinct-device rule is not applied",
            path.name(),
            node.name
        ));
    }
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
    let mut not_exercised = None;
    if let (Some(class), Some(PodProblem::Unschedulable(message))) = (&platform, results.problems.get(&names.second)) {
        second_ran = false;
        match broken_class(ctx, node, class, message).await? {
            Ok(finding) => findings.push(finding),
            Err(why) => not_exercised = Some((format!("DRA through the platform's DeviceClass {}", class.name), why)),
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
    findings.extend(judge(&results, &names, second_ran, shared.is_none(), &node.name));
    if path == Path::Dra && findings.is_empty() {
        for pod in holders.iter().map(|(pod, _)| *pod) {
            findings.extend(claim_matches(ctx, pod, &results, vendor.uuid_attribute, inventory).await?);
        }
    }
    let mut cases = Vec::new();
    if findings.is_empty() {
        let through = platform
            .as_ref()
            .map(|class| format!(", allocated through the platform's DeviceClass {},", class.name))
            .unwrap_or_default();
        let extra = match (second_ran, &shared) {
            (true, None) => format!(", a second pod{through} saw another device"),
            (true, Some(why)) => format!(
                ", a second pod{through} saw one device too ({} shares its devices: {why}; two pods may rightly see \
                 the same one, so the distinct-device rule was not applied)",
                node.name
            ),
            (false, _) if two_pods => " (the two-pod case was not run: see the platform DeviceClass case)".to_string(),
            (false, _) => " (one free device only: the two-pod case was not run)".to_string(),
        };
        cases.push((
            path.name().to_string(),
            CaseResult::Passed(format!(
                "on {} the holder saw exactly {}, its sidecar and a pod without a request saw none{extra}",
                node.name,
                results.get(&names.holder, "holder").describe()
            )),
        ));
    } else {
        cases.push((path.name().to_string(), CaseResult::Violated(findings)));
    }
    cases.extend(not_exercised.map(|(name, why)| (name, CaseResult::Skipped(why))));
    if escalate && let Some(variable) = vendor.visible_devices_env {
        let result = judge_escalation(&results, &names.bare, variable, vendor.visible_devices_remedy, &node.name);
        cases.push((escalation_case(variable), result));
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

/// The platform's class left its pod unschedulable: broken if a device of the node that the class could
/// have had is still free (so it was not a matter of capacity); else `Err` with why it was not exercised.
async fn broken_class(
    ctx: &CheckContext,
    node: &AcceleratorNode,
    class: &PlatformClass,
    message: &str,
) -> Result<Result<Finding, String>, CheckError> {
    let again = Inventory::read(ctx).await?;
    let free = again.nodes.iter().find(|n| n.name == node.name).map_or(0, |n| free_for_class(n, class));
    ctx.step(format!(
        "DRA: the pod through {} was never scheduled ({message}); {free} device(s) it may select free on {} now",
        class.name, node.name
    ));
    if free == 0 {
        return Ok(Err(format!(
            "no device that class selects was free on {} for a second pod ({message}): free one and rerun, or verify by \
             hand that a pod claiming a device through {} sees only its own",
            node.name, class.name
        )));
    }
    Ok(Ok(Finding {
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

    #[test]
    fn the_budget_covers_the_waits() {
        let check = SecureAcceleratorAccess;
        assert!(check.timeout() >= crate::timeouts::sum(check.waits()));
    }
}
