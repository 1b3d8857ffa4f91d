//! The native sub-case: Kubernetes 1.37's `scheduling.k8s.io/v1beta1` Workload and PodGroup with a gang
//! policy, pods joined to the group through `spec.schedulingGroup.podGroupName` (shape verified against a
//! v1.37.2 API server's OpenAPI: `PodGroupSpec.schedulingPolicy.gang.minCount`, `PodGroupSpec.workloadRef`,
//! `WorkloadSpec.podGroupTemplates`, `PodSpec.schedulingGroup`).
//!
//! The scheduler itself enforces the gang, so the negative case uses real node capacity: on the node with
//! the least free CPU that can still be split four ways, a blocker pod takes a quarter of the free CPU and a
//! gang of 4 pods (minCount 4) each asks for a quarter. Three would fit; a gang scheduler binds none. When
//! the blocker goes, all four must be bound.

use std::collections::BTreeMap;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::scheduling::v1beta1::{PodGroup, Workload};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::capacity::{self, format_milli};
use super::detect::{NativeApi, SubResult};
use super::observe;
use super::{BIND_TIMEOUT, GANG_LABEL, GangJob, POSITIVE_SIZE, WINDOW, gang_selector, secs, wait_complete};
use crate::capability::Capability;
use crate::check::from_json;
use crate::check::{CheckContext, CheckError};

/// Pods in the negative gang (its minCount).
pub const NEGATIVE_SIZE: usize = 4;
/// The smallest CPU request (thousandths) kaic gives one pod of the negative gang.
const MIN_UNIT_MILLI: i128 = 100;

/// Whether `scheduling.k8s.io/v1beta1` serves Workloads and PodGroups, or only an alpha version does.
///
/// # Errors
/// [`CheckError::Api`] if discovery fails for another reason than the version not being served.
pub async fn served(ctx: &CheckContext) -> Result<NativeApi, CheckError> {
    match ctx.client.list_api_group_resources("scheduling.k8s.io/v1beta1").await {
        Ok(list) => {
            let has = |name: &str| list.resources.iter().any(|r| r.name == name);
            if has("workloads") && has("podgroups") {
                return Ok(NativeApi::V1beta1);
            }
        }
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => return Err(CheckError::api("list scheduling.k8s.io/v1beta1 resources", e)),
    }
    Ok(if ctx.capabilities.has(Capability::NativeWorkload) { NativeApi::AlphaOnly } else { NativeApi::Absent })
}

/// Where the negative gang goes and how much each pod asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    pub node: String,
    /// Free CPU on the node before the blocker, in thousandths.
    pub free_milli: i128,
    /// CPU per pod (blocker and each gang member), in thousandths.
    pub unit_milli: i128,
}

/// Picks the node with the least free CPU that still gives each of the [`NEGATIVE_SIZE`] pods at least
/// 100m (the least disruptive choice, and the one the scheduler is least likely to fill meanwhile).
/// The unit is a quarter of the free CPU, so the gang fits exactly once the blocker (one unit) is gone, and
/// with the blocker there is room for 3 of the 4.
pub fn choose_node(free: &BTreeMap<String, i128>) -> Option<NodePlan> {
    let size = i128::try_from(NEGATIVE_SIZE).unwrap_or(4);
    free.iter()
        .filter(|(_, f)| **f / size >= MIN_UNIT_MILLI)
        .min_by_key(|(name, f)| (**f, (*name).clone()))
        .map(|(node, f)| NodePlan { node: node.clone(), free_milli: *f, unit_milli: *f / size })
}

fn pin_to(node: &str) -> Value {
    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
    ]}}})
}

async fn create<K>(ctx: &CheckContext, value: Value) -> Result<K, CheckError>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + Serialize
        + DeserializeOwned,
{
    let object: K = from_json(value)?;
    let name = object.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let created = api
        .create(&PostParams::default(), &object)
        .await
        .map_err(|e| CheckError::api(format!("create {} {name}", K::kind(&())), e))?;
    ctx.object(&format!("{}-{name}", K::kind(&())), &created);
    Ok(created)
}

/// Creates the Workload (one gang template) and the PodGroup the pods join.
async fn create_group(ctx: &CheckContext, name: &str, min_count: usize) -> Result<(), CheckError> {
    let gang = json!({"gang": {"minCount": min_count}});
    create::<Workload>(
        ctx,
        json!({
            "metadata": {"name": name, "labels": ctx.labels()},
            "spec": {"podGroupTemplates": [{"name": "workers", "schedulingPolicy": gang}]}
        }),
    )
    .await?;
    create::<PodGroup>(
        ctx,
        json!({
            "metadata": {"name": name, "labels": ctx.labels()},
            "spec": {"workloadRef": {"workloadName": name, "templateName": "workers"}, "schedulingPolicy": gang}
        }),
    )
    .await?;
    Ok(())
}

/// The PodGroup's conditions in one line, recording the object.
async fn group_state(ctx: &CheckContext, name: &str) -> String {
    match Api::<PodGroup>::namespaced(ctx.client.clone(), &ctx.namespace).get(name).await {
        Ok(group) => {
            ctx.object(&format!("PodGroup-{name}"), &group);
            describe_group(&group)
        }
        Err(e) => format!("PodGroup {name} could not be read: {e}"),
    }
}

/// A PodGroup's conditions in one line.
pub fn describe_group(group: &PodGroup) -> String {
    let conditions = group.status.as_ref().and_then(|s| s.conditions.as_ref());
    let parts: Vec<String> = conditions
        .into_iter()
        .flatten()
        .map(|c| format!("{}={} {} {}", c.type_, c.status, c.reason, c.message).trim().to_string())
        .collect();
    format!(
        "PodGroup {}: {}",
        group.metadata.name.clone().unwrap_or_default(),
        if parts.is_empty() { "no conditions".to_string() } else { parts.join("; ") }
    )
}

fn gang_job<'a>(name: &'a str, size: usize, cpu_milli: i128, pod_spec: Value) -> GangJob<'a> {
    let mut spec = json!({"schedulingGroup": {"podGroupName": name}});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), pod_spec.as_object()) {
        spec.extend(extra.clone());
    }
    GangJob {
        name,
        parallelism: size,
        completions: size,
        resources: json!({"requests": {"cpu": format_milli(cpu_milli)}}),
        exits: true,
        job_labels: BTreeMap::new(),
        pod_spec: spec,
        suspend: false,
    }
}

/// Free CPU per usable untainted node (thousandths), leaving out pods in `skip_namespace`.
async fn free_cpu(ctx: &CheckContext, skip_namespace: Option<&str>) -> Result<BTreeMap<String, i128>, CheckError> {
    let nodes = Api::<Node>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(|e| CheckError::api("list nodes", e))?;
    let pods = Api::<Pod>::all(ctx.client.clone())
        .list(&ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed"))
        .await
        .map_err(|e| CheckError::api("list pods", e))?;
    let pods: Vec<Pod> = pods
        .items
        .into_iter()
        .filter(|p| skip_namespace.is_none_or(|ns| p.metadata.namespace.as_deref() != Some(ns)))
        .collect();
    Ok(capacity::free_per_node(&nodes.items, &pods, "cpu", &BTreeMap::new(), false))
}

/// Runs the native sub-case.
///
/// # Errors
/// [`CheckError`] when an API call fails.
pub async fn run(ctx: &CheckContext) -> Result<SubResult, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);

    // Positive: a gang of 3 that fits anywhere.
    let fit = "native-fit";
    create_group(ctx, fit, POSITIVE_SIZE).await?;
    gang_job(fit, POSITIVE_SIZE, 10, json!({})).create(ctx).await?;
    let submitted = Instant::now();
    ctx.step(format!(
        "native: submitted Job {fit}, {POSITIVE_SIZE} pods in PodGroup {fit} (gang minCount {POSITIVE_SIZE})"
    ));
    if let Err(seen) = observe::wait_all_bound(&pods, &gang_selector(fit), POSITIVE_SIZE, BIND_TIMEOUT).await {
        return Ok(SubResult::Fail {
            reason: format!("a gang of {POSITIVE_SIZE} that fits was not bound within {}s", BIND_TIMEOUT.as_secs()),
            expected: format!("all {POSITIVE_SIZE} pods of PodGroup {fit} bound"),
            observed: format!("{seen}; {}", group_state(ctx, fit).await),
        });
    }
    let took = submitted.elapsed();
    ctx.record(|e| e.timing(format!("native: gang of {POSITIVE_SIZE} that fits, submit to all bound"), took));
    ctx.step(format!("native: all {POSITIVE_SIZE} pods of {fit} bound {} after submission", secs(took)));
    if let Err(seen) = wait_complete(ctx, fit).await? {
        return Ok(SubResult::Fail {
            reason: format!("the gang of {POSITIVE_SIZE} was bound but its Job did not complete"),
            expected: format!("Job {fit} Complete within {}s", super::COMPLETE_TIMEOUT.as_secs()),
            observed: format!("{seen}; {}", group_state(ctx, fit).await),
        });
    }
    ctx.step(format!("native: Job {fit} completed; {}", group_state(ctx, fit).await));

    // Negative: on one node, a blocker takes a quarter of the free CPU; the gang of 4 asks for a quarter each.
    let free = free_cpu(ctx, None).await?;
    let Some(plan) = choose_node(&free) else {
        return Ok(SubResult::Error(format!(
            "no Ready, untainted, schedulable node has {}m CPU free to split between a blocker and a gang of {NEGATIVE_SIZE}",
            MIN_UNIT_MILLI * i128::try_from(NEGATIVE_SIZE).unwrap_or(4)
        )));
    };
    let NodePlan { node, free_milli, unit_milli } = plan.clone();
    let cpu = format_milli(unit_milli);
    let unit = format!("{cpu} CPU");
    let pinned = json!({"affinity": pin_to(&node)});
    let blocker = "native-blocker";
    let mut blocker_labels = ctx.labels();
    blocker_labels.insert(GANG_LABEL.into(), blocker.into());
    create::<Pod>(
        ctx,
        json!({
            "metadata": {"name": blocker, "labels": blocker_labels},
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 0,
                "affinity": pin_to(&node),
                "containers": [{"name": "main", "image": ctx.options.pause_image, "resources": {"requests": {"cpu": cpu}}}]
            }
        }),
    )
    .await?;
    if let Err(seen) = observe::wait_all_bound(&pods, &gang_selector(blocker), 1, BIND_TIMEOUT).await {
        return Ok(SubResult::Error(format!(
            "the blocker pod ({unit} on node {node}) was not bound within {}s, so the negative case could not be set up: {seen}",
            BIND_TIMEOUT.as_secs()
        )));
    }
    let left = free_milli - unit_milli;
    ctx.step(format!(
        "native: node {node} had {} CPU free; blocker pod {blocker} takes {unit}, leaving {} — room for {} of {NEGATIVE_SIZE} pods of {unit}",
        format_milli(free_milli),
        format_milli(left),
        NEGATIVE_SIZE - 1
    ));
    let big = "native-big";
    create_group(ctx, big, NEGATIVE_SIZE).await?;
    gang_job(big, NEGATIVE_SIZE, unit_milli, pinned).create(ctx).await?;
    ctx.step(format!("native: submitted Job {big}, {NEGATIVE_SIZE} pods of {unit} on {node} in PodGroup {big} (gang minCount {NEGATIVE_SIZE})"));
    let window = observe::watch_window(&pods, &gang_selector(big), NEGATIVE_SIZE, WINDOW).await?;
    let group = group_state(ctx, big).await;
    if !window.ever_bound.is_empty() {
        let reason = if window.peak_running < NEGATIVE_SIZE {
            format!(
                "the scheduler started a gang (minCount {NEGATIVE_SIZE}) larger than free capacity partially: at most {} of \
                 {NEGATIVE_SIZE} pods ran at once",
                window.peak_running
            )
        } else {
            format!(
                "{} of {NEGATIVE_SIZE} pods of a gang larger than free capacity were bound",
                window.ever_bound.len()
            )
        };
        return Ok(SubResult::Fail {
            reason,
            expected: format!(
                "0 of {NEGATIVE_SIZE} pods of PodGroup {big} bound for {}s: node {node} has {} CPU free after the blocker, \
                 room for {} pods of {unit}",
                WINDOW.as_secs(),
                format_milli(left),
                NEGATIVE_SIZE - 1
            ),
            observed: format!("{}; {group}", window.observed(NEGATIVE_SIZE)),
        });
    }
    ctx.step(format!(
        "native: 0 of {NEGATIVE_SIZE} pods of {big} bound during the {}s window ({} pods created); {}; {group}",
        WINDOW.as_secs(),
        window.pods_at_end,
        window.at_end
    ));
    ctx.record(|e| {
        e.value("native: zero-bound window", format!("{}s, 0 of {NEGATIVE_SIZE} pods bound", WINDOW.as_secs()))
    });

    // Free capacity: the whole gang must now be bound.
    Api::<Pod>::namespaced(ctx.client.clone(), &ctx.namespace)
        .delete(blocker, &DeleteParams::default().grace_period(0))
        .await
        .map_err(|e| CheckError::api(format!("delete pod {blocker}"), e))?;
    let freed = Instant::now();
    ctx.step(format!("native: deleted the blocker pod {blocker}"));
    if let Err(seen) = observe::wait_all_bound(&pods, &gang_selector(big), NEGATIVE_SIZE, BIND_TIMEOUT).await {
        let now = free_cpu(ctx, Some(&ctx.namespace)).await.ok().and_then(|f| f.get(&node).copied()).unwrap_or(0);
        if now < unit_milli * i128::try_from(NEGATIVE_SIZE).unwrap_or(4) {
            return Ok(SubResult::Error(format!(
                "after the blocker went, other pods took CPU on node {node} ({} free now, the gang needs {} × {unit}), so kaic \
                 cannot tell whether the gang would have started: {seen}",
                format_milli(now),
                NEGATIVE_SIZE
            )));
        }
        return Ok(SubResult::Fail {
            reason: "the gang was not bound whole after capacity was freed".into(),
            expected: format!(
                "all {NEGATIVE_SIZE} pods of PodGroup {big} bound within {}s of deleting the blocker ({} CPU free on {node})",
                BIND_TIMEOUT.as_secs(),
                format_milli(now)
            ),
            observed: format!("{seen}; {}", group_state(ctx, big).await),
        });
    }
    let started = freed.elapsed();
    ctx.record(|e| e.timing(format!("native: gang of {NEGATIVE_SIZE}, capacity freed to all bound"), started));
    ctx.step(format!(
        "native: all {NEGATIVE_SIZE} pods of {big} bound {} after the blocker was deleted",
        secs(started)
    ));
    if let Err(seen) = wait_complete(ctx, big).await? {
        return Ok(SubResult::Fail {
            reason: format!("the gang of {NEGATIVE_SIZE} was bound but its Job did not complete"),
            expected: format!("Job {big} Complete within {}s", super::COMPLETE_TIMEOUT.as_secs()),
            observed: format!("{seen}; {}", group_state(ctx, big).await),
        });
    }
    let group = group_state(ctx, big).await;
    ctx.step(format!("native: Job {big} completed; {group}"));
    Ok(SubResult::Pass(format!(
        "a gang of {POSITIVE_SIZE} (PodGroup minCount {POSITIVE_SIZE}) was bound in {} and completed; a gang of {NEGATIVE_SIZE} \
         on node {node} with room for {} stayed with 0 pods bound for {}s, was bound whole {} after the blocker went, and completed",
        secs(took),
        NEGATIVE_SIZE - 1,
        WINDOW.as_secs(),
        secs(started)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_least_free_node_that_splits_four_ways() {
        let free = BTreeMap::from([
            ("cpu-node-0".to_string(), 16_000),
            ("cpu-node-1".to_string(), 15_500),
            ("gpu-node-0".to_string(), 64_000),
            ("full".to_string(), 300),
        ]);
        let plan = choose_node(&free).unwrap();
        assert_eq!(plan, NodePlan { node: "cpu-node-1".into(), free_milli: 15_500, unit_milli: 3875 });
        // With the blocker (one unit) there is room for 3 pods, not 4; without it for all 4.
        let size = i128::try_from(NEGATIVE_SIZE).unwrap();
        assert!(plan.free_milli - plan.unit_milli >= (size - 1) * plan.unit_milli);
        assert!(plan.free_milli - plan.unit_milli < size * plan.unit_milli);
        assert!(plan.free_milli >= size * plan.unit_milli);
        assert!(choose_node(&BTreeMap::from([("full".to_string(), 399)])).is_none());
    }

    #[test]
    fn gang_jobs_join_their_pod_group() {
        let job = gang_job("native-big", 4, 3875, json!({"affinity": pin_to("n1")}));
        assert_eq!(job.pod_spec["schedulingGroup"]["podGroupName"], "native-big");
        assert_eq!(
            job.pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
                [0]["matchFields"][0]["values"][0],
            "n1"
        );
        assert_eq!(job.resources["requests"]["cpu"], "3875m");
        assert!(!job.suspend);
    }

    #[test]
    fn describes_pod_groups() {
        let group: PodGroup = serde_json::from_value(json!({
            "metadata": {"name": "native-big"},
            "spec": {"schedulingPolicy": {"gang": {"minCount": 4}}},
            "status": {"conditions": [{"type": "PodGroupInitiallyScheduled", "status": "False", "reason": "Unschedulable",
                "message": "not enough capacity", "lastTransitionTime": "2026-11-23T10:00:00Z"}]}
        }))
        .unwrap();
        assert_eq!(
            describe_group(&group),
            "PodGroup native-big: PodGroupInitiallyScheduled=False Unschedulable not enough capacity"
        );
    }
}
