//! The Kueue sub-case. Kueue gang-schedules by admitting a whole Job against ClusterQueue quota or none of
//! it; that protects a gang only as far as the quota matches the capacity really on the nodes. So kaic tests
//! the platform's own queue against real capacity where it can:
//!
//! - **Platform queue** (preferred, chosen in [`super::kueue_plan`]): a ClusterQueue that is Active, admits kaic's namespace and gives quota
//!   for an extended resource nodes offer (an accelerator, e.g. `nvidia.com/gpu`) in a single flavor, no
//!   more than that flavor's nodes have. With `C` = min(free quota, free units on the nodes), the gang has
//!   `G` = min(C, 8) pods of one unit, and a blocker Job through the same queue holds quota so that exactly
//!   `G − 1` is left: the gang must wait in Kueue. Pods that other workloads run outside Kueue cannot make
//!   this fail, they only shrink `G`. kaic never places pods outside Kueue to judge a queue.
//! - **kaic's own queue** (fallback, when no platform queue fits, e.g. none admits kaic's namespace, too much
//!   is free to fill, or the quota is above what the nodes have today): a labelled ResourceFlavor and
//!   ClusterQueue `kaic-gang-<run>` admitting only the check's namespace with a quota of 4 × 100m CPU; the
//!   blocker Job holds 100m, the gang asks for 4 × 100m. This proves Kueue's all-or-nothing admission, not
//!   the platform's quota configuration, and the evidence says so.
//! - **A quota above today's nodes** (normal on an autoscaled pool) is reported as a note, and where no node
//!   autoscaler is found the platform's queue is asked, through itself only, what it does with a gang its
//!   nodes cannot hold ([`super::kueue_overcommit`]).
//!
//! Both: a positive gang of 3 is bound whole and completes; the gang larger than what is left stays with zero
//! pods bound for the window; deleting the blocker lets it be bound whole, and its Job completes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::GangJob;
use super::detect::SubResult;
use super::kueue_overcommit::{self, Decision, OverCommit};
use super::kueue_plan::{Choice, PlatformPlan, QueueView, plan_platform};
use crate::capacity;
use crate::check::{CheckContext, CheckError, create_dynamic};
use crate::timeouts::Wait;
use crate::wait;

/// The LocalQueue kaic creates in its namespace.
pub const LOCAL_QUEUE: &str = "kaic-gang";
/// The LocalQueue pointing at an over-committed platform ClusterQueue, for the probe.
pub const PROBE_QUEUE: &str = "kaic-gang-platform";
/// The label that sends a Job to a LocalQueue.
pub const QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";
/// Gang size and per-pod CPU (thousandths) with kaic's own queue.
const OWN_GANG: usize = 4;
pub(super) const OWN_UNIT_MILLI: i128 = 100;

/// The `kueue.x-k8s.io` kinds kaic uses, at the version it talks.
pub(crate) struct Apis {
    pub cluster_queues: ApiResource,
    pub local_queues: ApiResource,
    pub flavors: ApiResource,
    pub workloads: ApiResource,
}

impl Apis {
    /// Discovers the kinds at v1beta2, or at the preferred version where v1beta2 is not served.
    pub async fn discover(ctx: &CheckContext) -> Result<Self, CheckError> {
        let group = kube::discovery::group(&ctx.client, "kueue.x-k8s.io")
            .await
            .map_err(|e| CheckError::Other(format!("failed to discover the kueue.x-k8s.io API: {e}")))?;
        let version = if group.versions().any(|v| v == "v1beta2") {
            "v1beta2".to_string()
        } else {
            group.preferred_version_or_latest().to_string()
        };
        let resources = group.versioned_resources(&version);
        let find = |kind: &str| {
            resources.iter().find(|(r, _)| r.kind == kind).map(|(r, _)| r.clone()).ok_or_else(|| {
                CheckError::Other(format!("kueue.x-k8s.io/{version} does not serve {kind} (is Kueue fully installed?)"))
            })
        };
        Ok(Self {
            cluster_queues: find("ClusterQueue")?,
            local_queues: find("LocalQueue")?,
            flavors: find("ResourceFlavor")?,
            workloads: find("Workload")?,
        })
    }
}

/// What the scenario runs with, whichever ClusterQueue it goes through.
pub(super) struct Setup {
    pub(super) cluster_queue: String,
    /// The LocalQueue in kaic's namespace that its Jobs name.
    pub(super) local_queue: &'static str,
    /// In words, for evidence: whose queue, and what limits the gang.
    pub(super) origin: String,
    pub(super) resource: String,
    pub(super) resources: Value,
    pub(super) tolerations: Value,
    pub(super) gang: usize,
    pub(super) blocker: usize,
    pub(super) platform: Option<PlatformPlan>,
}

impl Setup {
    pub(super) fn job<'a>(&self, name: &'a str, parallelism: usize, completions: usize, exits: bool) -> GangJob<'a> {
        GangJob {
            name,
            parallelism,
            completions,
            resources: self.resources.clone(),
            exits,
            job_labels: BTreeMap::from([(QUEUE_LABEL.to_string(), self.local_queue.to_string())]),
            pod_labels: BTreeMap::new(),
            pod_annotations: BTreeMap::new(),
            pod_spec: json!({"tolerations": self.tolerations}),
            suspend: true,
        }
    }
}

/// Runs the Kueue sub-case.
///
/// # Errors
/// [`CheckError`] when an API call fails or the Kueue API is incomplete.
pub async fn run(ctx: &CheckContext) -> Result<SubResult, CheckError> {
    let apis = Apis::discover(ctx).await?;
    let choice = choose(ctx, &apis).await?;
    if let Some(plan) = choice.plan {
        let setup = platform_setup(ctx, &apis, plan).await?;
        return super::kueue_case::scenario(ctx, &apis, &setup).await;
    }
    let setup = own_setup(ctx, &apis).await?;
    let own = super::kueue_case::scenario(ctx, &apis, &setup).await;
    // The final sweep deletes these too; deleting here keeps a long run tidy.
    let _ = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ctx.namespace, &apis.local_queues)
        .delete(LOCAL_QUEUE, &DeleteParams::background())
        .await;
    let _ = Api::<DynamicObject>::all_with(ctx.client.clone(), &apis.cluster_queues)
        .delete(&setup.cluster_queue, &DeleteParams::background())
        .await;
    let _ = Api::<DynamicObject>::all_with(ctx.client.clone(), &apis.flavors)
        .delete(&setup.cluster_queue, &DeleteParams::background())
        .await;
    let own = own?;
    let Some(over) = choice.over_committed.into_iter().next() else { return Ok(own) };
    over_committed(ctx, &apis, own, &over).await
}

/// Kueue's own admission was tested with kaic's queue; `over` is a platform queue whose quota is above its
/// nodes' capacity today. Notes it, and where no node autoscaler explains it, asks that queue itself.
async fn over_committed(
    ctx: &CheckContext,
    apis: &Apis,
    own: SubResult,
    over: &OverCommit,
) -> Result<SubResult, CheckError> {
    let decision = match crate::autoscaling::cluster_autoscaling::detect(ctx).await {
        Ok(found) => kueue_overcommit::decide(over, &found.iter().map(|a| a.describe()).collect::<Vec<_>>()),
        Err(e) => Decision::NotProbed(format!("kaic could not look for a node autoscaler: {e}")),
    };
    let pods_ready = kueue_overcommit::read_pods_ready(ctx).await;
    let note = match &decision {
        Decision::Autoscaled(autoscaler) => format!(
            "{}; node autoscaler {autoscaler} can add nodes, so that is how an autoscaled pool is configured and kaic \
             did not judge that queue against today's nodes (a gang it admits beyond them waits for new nodes; {})",
            over.describe(),
            pods_ready.describe()
        ),
        Decision::Probe { .. } => format!(
            "{}, and no node autoscaler was found (no Karpenter NodePool, no cluster-autoscaler), so kaic asked that \
             queue through itself only; {}",
            over.describe(),
            pods_ready.describe()
        ),
        Decision::NotProbed(why) => {
            format!("{}; kaic did not judge that queue ({why}); {}", over.describe(), pods_ready.describe())
        }
    };
    ctx.step(format!("Kueue: {note}"));
    ctx.record(|e| e.value("Kueue: quota above today's nodes", note.as_str()));
    let Decision::Probe { gang, blocker } = decision else {
        return Ok(kueue_overcommit::combine(own, &note, None));
    };
    if !matches!(own, SubResult::Pass(_)) {
        return Ok(own);
    }
    create_local_queue(ctx, apis, PROBE_QUEUE, &over.cluster_queue).await?;
    let setup = Setup {
        cluster_queue: over.cluster_queue.clone(),
        local_queue: PROBE_QUEUE,
        origin: format!("the platform's ClusterQueue {}, flavor {}", over.cluster_queue, over.flavor),
        resource: over.resource.clone(),
        resources: json!({"limits": {over.resource.as_str(): "1"}}),
        tolerations: flavor_tolerations(ctx, &over.node_labels).await?,
        gang,
        blocker,
        platform: None,
    };
    let outcome = kueue_overcommit::probe(ctx, apis, &setup, over, &pods_ready).await?;
    Ok(kueue_overcommit::combine(own, &note, Some(outcome)))
}

/// Reads queues, flavors, nodes and pods, and picks a platform queue if one fits.
async fn choose(ctx: &CheckContext, apis: &Apis) -> Result<Choice, CheckError> {
    let client = &ctx.client;
    let queues =
        crate::list::all(&Api::<DynamicObject>::all_with(client.clone(), &apis.cluster_queues), ListParams::default())
            .await
            .map_err(|e| CheckError::api("list ClusterQueues", e))?;
    let queues: Vec<QueueView> = queues.iter().map(QueueView::parse).collect();
    let flavors =
        crate::list::all(&Api::<DynamicObject>::all_with(client.clone(), &apis.flavors), ListParams::default())
            .await
            .map_err(|e| CheckError::api("list ResourceFlavors", e))?;
    let flavor_node_labels = flavors
        .iter()
        .map(|f| {
            let labels = serde_json::from_value(f.data["spec"]["nodeLabels"].clone()).unwrap_or_default();
            (f.name_any(), labels)
        })
        .collect();
    let nodes = crate::list::all(&Api::<Node>::all(client.clone()), ListParams::default())
        .await
        .map_err(|e| CheckError::api("list nodes", e))?;
    let running = ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed");
    let pods = crate::list::all(&Api::<Pod>::all(client.clone()), running)
        .await
        .map_err(|e| CheckError::api("list pods", e))?;
    let namespace = Api::<Namespace>::all(client.clone())
        .get(&ctx.namespace)
        .await
        .map_err(|e| CheckError::api(format!("read namespace {}", ctx.namespace), e))?;
    let choice = plan_platform(&queues, &flavor_node_labels, &nodes, &pods, namespace.labels());
    for note in &choice.notes {
        ctx.step(format!("Kueue: {note}"));
    }
    Ok(choice)
}

fn api_version(resource: &ApiResource) -> String {
    resource.api_version.clone()
}

async fn create_local_queue(
    ctx: &CheckContext,
    apis: &Apis,
    name: &str,
    cluster_queue: &str,
) -> Result<(), CheckError> {
    let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ctx.namespace, &apis.local_queues);
    create_dynamic(
        ctx,
        &api,
        json!({
            "apiVersion": api_version(&apis.local_queues), "kind": "LocalQueue",
            "metadata": {"name": name, "namespace": ctx.namespace, "labels": ctx.labels()},
            "spec": {"clusterQueue": cluster_queue}
        }),
    )
    .await
    .map(|_| ())
}

async fn platform_setup(ctx: &CheckContext, apis: &Apis, plan: PlatformPlan) -> Result<Setup, CheckError> {
    let queue = Api::<DynamicObject>::all_with(ctx.client.clone(), &apis.cluster_queues)
        .get(&plan.cluster_queue)
        .await
        .map_err(|e| CheckError::api(format!("read ClusterQueue {}", plan.cluster_queue), e))?;
    ctx.object(&format!("ClusterQueue-{}", plan.cluster_queue), &queue);
    create_local_queue(ctx, apis, LOCAL_QUEUE, &plan.cluster_queue).await?;
    ctx.step(format!(
        "Kueue: testing the platform's ClusterQueue {} through LocalQueue {LOCAL_QUEUE}: {} {} free by quota, {} free on \
         the nodes of flavor {}",
        plan.cluster_queue, plan.free_quota, plan.resource, plan.free_nodes, plan.flavor
    ));
    Ok(Setup {
        cluster_queue: plan.cluster_queue.clone(),
        local_queue: LOCAL_QUEUE,
        origin: format!("the platform's ClusterQueue {}, flavor {}", plan.cluster_queue, plan.flavor),
        resource: plan.resource.clone(),
        resources: json!({"limits": {plan.resource.as_str(): "1"}}),
        // Accelerator nodes are often tainted: tolerate the dedicated taints of the flavor's nodes (never a
        // cordon), since quota and capacity decide here.
        tolerations: flavor_tolerations(ctx, &plan.node_labels).await?,
        gang: plan.gang,
        blocker: plan.blocker,
        platform: Some(plan),
    })
}

/// Tolerations for the dedicated taints of the Ready, schedulable nodes that carry `node_labels`.
async fn flavor_tolerations(ctx: &CheckContext, node_labels: &BTreeMap<String, String>) -> Result<Value, CheckError> {
    let selector = node_labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    let nodes = crate::list::all(&Api::<Node>::all(ctx.client.clone()), ListParams::default().labels(&selector))
        .await
        .map_err(|e| CheckError::api("list nodes", e))?;
    Ok(crate::pods::tolerations_for_all(nodes.iter().filter(|n| crate::pods::node_ready_and_schedulable(n))))
}

async fn own_setup(ctx: &CheckContext, apis: &Apis) -> Result<Setup, CheckError> {
    let name = ctx.cluster_name("gang");
    let quota = capacity::format_milli(OWN_UNIT_MILLI * i128::try_from(OWN_GANG).unwrap_or(4));
    let flavors = Api::<DynamicObject>::all_with(ctx.client.clone(), &apis.flavors);
    create_dynamic(
        ctx,
        &flavors,
        json!({
            "apiVersion": api_version(&apis.flavors), "kind": "ResourceFlavor",
            "metadata": {"name": name, "labels": ctx.labels()}, "spec": {}
        }),
    )
    .await?;
    let queues = Api::<DynamicObject>::all_with(ctx.client.clone(), &apis.cluster_queues);
    create_dynamic(
        ctx,
        &queues,
        json!({
            "apiVersion": api_version(&apis.cluster_queues), "kind": "ClusterQueue",
            "metadata": {"name": name, "labels": ctx.labels()},
            "spec": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ctx.namespace}},
                "resourceGroups": [{
                    "coveredResources": ["cpu", "memory"],
                    "flavors": [{"name": name, "resources": [
                        {"name": "cpu", "nominalQuota": quota},
                        // Memory is covered only so that a LimitRange's default requests cannot make Jobs inadmissible.
                        {"name": "memory", "nominalQuota": "1Ti"}
                    ]}]
                }]
            }
        }),
    )
    .await?;
    wait::until(
        &queues,
        &name,
        "kaic's ClusterQueue to become Active",
        ctx.wait(Wait::QueueActive),
        |q: Option<&DynamicObject>| q.is_some_and(|q| QueueView::parse(q).active),
        |q| format!("conditions: {}", q.data["status"]["conditions"]),
    )
    .await?;
    create_local_queue(ctx, apis, LOCAL_QUEUE, &name).await?;
    ctx.step(format!(
        "Kueue: no platform ClusterQueue fits a capacity test, so kaic tests Kueue's all-or-nothing admission with its own \
         ClusterQueue {name} (quota {quota} CPU, {OWN_GANG} pods of {OWN_UNIT_MILLI}m)"
    ));
    Ok(Setup {
        cluster_queue: name.clone(),
        local_queue: LOCAL_QUEUE,
        origin: format!("kaic's own ClusterQueue {name} with a quota of {quota} CPU"),
        resource: "cpu".into(),
        resources: json!({"requests": {"cpu": capacity::format_milli(OWN_UNIT_MILLI)}}),
        tolerations: json!([]),
        gang: OWN_GANG,
        blocker: 1,
        platform: None,
    })
}
