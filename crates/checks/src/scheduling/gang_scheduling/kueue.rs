//! The Kueue sub-case. Kueue gang-schedules by admitting a whole Job against ClusterQueue quota or none of
//! it; that protects a gang only as far as the quota matches the capacity really on the nodes. So kaic tests
//! the platform's own queue against real capacity where it can:
//!
//! - **Platform queue** (preferred): a ClusterQueue that is Active, admits kaic's namespace and gives quota
//!   for an extended resource nodes offer (an accelerator, e.g. `nvidia.com/gpu`) in a single flavor. With
//!   `C` = min(free quota, free units on that flavor's nodes), the gang has `G` = min(C, 8) pods of one unit.
//!   A blocker leaves exactly `G − 1` of the limit that is meant to protect the gang:
//!   - quota within the nodes' capacity (a sound configuration): a blocker Job through the same queue holds
//!     quota, so the gang must wait in Kueue; pods that other workloads run outside Kueue cannot make this
//!     fail, they only shrink `G`;
//!   - quota beyond the nodes' capacity (over-committed): blocker pods outside Kueue hold node capacity;
//!     Kueue then admits a gang the nodes cannot hold and the scheduler starts it partially, which is the
//!     failure this check exists to catch.
//! - **kaic's own queue** (fallback, when no platform queue fits, e.g. none admits kaic's namespace or too much
//!   is free to fill): a labelled ResourceFlavor and ClusterQueue `kaic-gang-<run>` admitting only the check's
//!   namespace with a quota of 4 × 100m CPU; the blocker Job holds 100m, the gang asks for 4 × 100m. This
//!   proves Kueue's all-or-nothing admission, not the platform's quota configuration, and the evidence says so.
//!
//! Both: a positive gang of 3 is bound whole and completes; the gang larger than what is left stays with zero
//! pods bound for the window; deleting the blocker lets it be bound whole, and its Job completes.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::GangJob;
use super::detect::SubResult;
use crate::capacity::{self, milli};
use crate::check::{CheckContext, CheckError, create_dynamic};
use crate::labels;
use crate::wait;

/// The LocalQueue kaic creates in its namespace.
pub const LOCAL_QUEUE: &str = "kaic-gang";
/// The label that sends a Job to a LocalQueue.
pub const QUEUE_LABEL: &str = "kueue.x-k8s.io/queue-name";
/// A gang needs at least this many pods.
const MIN_GANG: i128 = 3;
/// The largest gang kaic submits to a platform queue.
const MAX_GANG: i128 = 8;
/// The most units a blocker holds; more free capacity than `MAX_GANG + MAX_BLOCKER − 1` is not filled.
const MAX_BLOCKER: i128 = 8;
/// Gang size and per-pod CPU (thousandths) with kaic's own queue.
const OWN_GANG: usize = 4;
pub(super) const OWN_UNIT_MILLI: i128 = 100;

/// A ClusterQueue, reduced to what choosing one needs.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueView {
    pub name: String,
    /// Created by kaic (never used as "the platform's").
    pub ours: bool,
    pub active: bool,
    /// `None` is Kueue's default: no namespace may use the queue.
    pub namespace_selector: Option<LabelSelector>,
    /// (flavor, resource) → nominal quota in thousandths.
    pub quota: BTreeMap<(String, String), i128>,
    /// (flavor, resource) → quota reserved by workloads now, in thousandths.
    pub reserved: BTreeMap<(String, String), i128>,
}

impl QueueView {
    /// Reads a ClusterQueue (`kueue.x-k8s.io` v1beta1 or v1beta2: the fields used are the same).
    pub fn parse(object: &DynamicObject) -> Self {
        let spec = &object.data["spec"];
        let status = &object.data["status"];
        let items = |v: &Value| v.as_array().cloned().unwrap_or_default();
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let mut quota = BTreeMap::new();
        for group in items(&spec["resourceGroups"]) {
            for flavor in items(&group["flavors"]) {
                for resource in items(&flavor["resources"]) {
                    let amount = resource["nominalQuota"].as_str().and_then(milli).unwrap_or(0);
                    quota.insert((text(&flavor["name"]), text(&resource["name"])), amount);
                }
            }
        }
        let usage = if status["flavorsReservation"].is_array() {
            &status["flavorsReservation"]
        } else {
            &status["flavorsUsage"]
        };
        let mut reserved = BTreeMap::new();
        for flavor in items(usage) {
            for resource in items(&flavor["resources"]) {
                let amount = resource["total"].as_str().and_then(milli).unwrap_or(0);
                reserved.insert((text(&flavor["name"]), text(&resource["name"])), amount);
            }
        }
        Self {
            name: object.name_any(),
            ours: object.labels().get(labels::MANAGED_BY).map(String::as_str) == Some(labels::MANAGED_BY_VALUE),
            active: items(&status["conditions"]).iter().any(|c| c["type"] == "Active" && c["status"] == "True"),
            namespace_selector: spec
                .get("namespaceSelector")
                .filter(|v| !v.is_null())
                .and_then(|v| serde_json::from_value(v.clone()).ok()),
            quota,
            reserved,
        }
    }
}

/// Whether a label selector matches `labels`; `None` matches nothing (Kueue's default for a ClusterQueue).
pub fn selector_matches(selector: Option<&LabelSelector>, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = selector else { return false };
    let plain = selector.match_labels.iter().flatten().all(|(k, v)| labels.get(k) == Some(v));
    let expressions = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    plain && expressions
}

/// The platform ClusterQueue kaic tests and the sizes it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformPlan {
    pub cluster_queue: String,
    pub flavor: String,
    pub resource: String,
    /// The flavor's nominal quota for the resource, in whole units.
    pub nominal: i128,
    /// Whole units the flavor's nodes have allocatable in all.
    pub on_nodes: i128,
    /// Whole units the queue's quota has unreserved.
    pub free_quota: i128,
    /// Whole units free on the flavor's nodes.
    pub free_nodes: i128,
    pub gang: usize,
    pub blocker: usize,
    /// What the blocker holds.
    pub holds: Holds,
    /// The flavor's `nodeLabels`: where its capacity is.
    pub node_labels: BTreeMap<String, String>,
}

/// Chooses a platform ClusterQueue to test against real capacity (the first by name that fits), with a
/// sentence for every queue and resource considered.
pub fn plan_platform(
    queues: &[QueueView],
    flavor_node_labels: &BTreeMap<String, BTreeMap<String, String>>,
    nodes: &[Node],
    pods: &[Pod],
    namespace_labels: &BTreeMap<String, String>,
) -> (Option<PlatformPlan>, Vec<String>) {
    let mut notes = Vec::new();
    let mut sorted: Vec<&QueueView> = queues.iter().filter(|q| !q.ours).collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    if sorted.is_empty() {
        notes.push("the platform has no ClusterQueue".to_string());
    }
    for queue in sorted {
        let name = &queue.name;
        if !queue.active {
            notes.push(format!("ClusterQueue {name} is not Active"));
            continue;
        }
        if !selector_matches(queue.namespace_selector.as_ref(), namespace_labels) {
            notes.push(format!("ClusterQueue {name}'s namespaceSelector does not admit kaic's namespace"));
            continue;
        }
        let mut flavors_of: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (flavor, resource) in queue.quota.keys() {
            if capacity::is_extended_resource(resource) {
                flavors_of.entry(resource.as_str()).or_default().push(flavor.as_str());
            }
        }
        if flavors_of.is_empty() {
            notes.push(format!("ClusterQueue {name} gives no quota for an extended (accelerator) resource"));
            continue;
        }
        for (resource, flavors) in flavors_of {
            let [flavor] = flavors[..] else {
                notes.push(format!(
                    "ClusterQueue {name}: {resource} is split over flavors {} and kaic cannot tell which one a gang lands in",
                    flavors.join(", ")
                ));
                continue;
            };
            let Some(node_labels) = flavor_node_labels.get(flavor) else {
                notes.push(format!("ClusterQueue {name}: ResourceFlavor {flavor} does not exist"));
                continue;
            };
            let key = (flavor.to_string(), resource.to_string());
            let nominal = queue.quota[&key] / 1000;
            let free_quota = (queue.quota[&key] - queue.reserved.get(&key).copied().unwrap_or(0)).max(0) / 1000;
            let on_nodes = capacity::whole_units(&capacity::free_per_node(nodes, &[], resource, node_labels, true));
            let free_nodes = capacity::whole_units(&capacity::free_per_node(nodes, pods, resource, node_labels, true));
            // A quota within what the flavor's nodes have is the limit Kueue enforces, so the blocker holds quota
            // (and other workloads using the nodes outside Kueue cannot make the test fail). A quota beyond the
            // nodes' capacity is a configuration that can start gangs partially: then the nodes are the limit,
            // and the blocker holds node capacity outside Kueue.
            let holds = if nominal <= on_nodes { Holds::Quota } else { Holds::Nodes };
            let usable = free_quota.min(free_nodes);
            let sizes = format!(
                "quota {nominal} {resource} in flavor {flavor} for {on_nodes} on its nodes{}; {free_quota} free by quota, \
                 {free_nodes} free on the nodes",
                if holds == Holds::Nodes { " (over-committed)" } else { "" }
            );
            if usable < MIN_GANG {
                notes.push(format!("ClusterQueue {name}: {sizes}; a gang of {MIN_GANG} needs more"));
                continue;
            }
            let gang = usable.min(MAX_GANG);
            // Leave exactly gang − 1 of the limiting amount.
            let blocker = match holds {
                Holds::Quota => free_quota - gang + 1,
                Holds::Nodes => free_nodes - gang + 1,
            };
            if blocker > MAX_BLOCKER || blocker > free_nodes {
                notes.push(format!(
                    "ClusterQueue {name}: {sizes}; a blocker of {blocker} is more than kaic places (at most {MAX_BLOCKER}, \
                     and no more than is free on the nodes)"
                ));
                continue;
            }
            let who = match holds {
                Holds::Quota => "a blocker Job holding quota",
                Holds::Nodes => "blocker pods outside Kueue holding node capacity",
            };
            notes.push(format!("ClusterQueue {name}: {sizes} → {who}: {blocker}, and a gang of {gang}"));
            let (Ok(gang), Ok(blocker)) = (usize::try_from(gang), usize::try_from(blocker)) else { continue };
            return (
                Some(PlatformPlan {
                    cluster_queue: name.clone(),
                    flavor: flavor.to_string(),
                    resource: resource.to_string(),
                    nominal,
                    on_nodes,
                    free_quota,
                    free_nodes,
                    gang,
                    blocker,
                    holds,
                    node_labels: node_labels.clone(),
                }),
                notes,
            );
        }
    }
    (None, notes)
}

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
    /// In words, for evidence: whose queue, and what limits the gang.
    pub(super) origin: String,
    pub(super) resource: String,
    pub(super) resources: Value,
    pub(super) tolerations: Value,
    pub(super) gang: usize,
    pub(super) blocker: usize,
    pub(super) blocker_holds: Holds,
    pub(super) platform: Option<PlatformPlan>,
}

/// What the blocker holds: the limit that protects the gang.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    /// Quota (and node capacity): a Job through the same LocalQueue.
    Quota,
    /// Node capacity only: plain pods outside Kueue, because the queue's quota exceeds what its nodes have.
    Nodes,
}

/// One pod outside Kueue holding one unit on the nodes until deleted.
pub(super) async fn create_blocker_pod(
    ctx: &CheckContext,
    setup: &Setup,
    name: &str,
    gang: &str,
) -> Result<(), CheckError> {
    let node_selector = setup.platform.as_ref().map_or_else(|| json!({}), |plan| json!(plan.node_labels));
    let placement = json!({"nodeSelector": node_selector, "tolerations": setup.tolerations});
    super::create_blocker(ctx, name, gang, placement, setup.resources.clone()).await
}

impl Setup {
    pub(super) fn job<'a>(&self, name: &'a str, parallelism: usize, completions: usize, exits: bool) -> GangJob<'a> {
        GangJob {
            name,
            parallelism,
            completions,
            resources: self.resources.clone(),
            exits,
            job_labels: BTreeMap::from([(QUEUE_LABEL.to_string(), LOCAL_QUEUE.to_string())]),
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
    let setup = match choose(ctx, &apis).await? {
        Some(plan) => platform_setup(ctx, &apis, plan).await?,
        None => own_setup(ctx, &apis).await?,
    };
    let result = super::kueue_case::scenario(ctx, &apis, &setup).await;
    if setup.platform.is_none() {
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
    }
    result
}

/// Reads queues, flavors, nodes and pods, and picks a platform queue if one fits.
async fn choose(ctx: &CheckContext, apis: &Apis) -> Result<Option<PlatformPlan>, CheckError> {
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
    let (plan, notes) = plan_platform(&queues, &flavor_node_labels, &nodes, &pods, namespace.labels());
    for note in notes {
        ctx.step(format!("Kueue: {note}"));
    }
    Ok(plan)
}

fn api_version(resource: &ApiResource) -> String {
    resource.api_version.clone()
}

async fn create_local_queue(ctx: &CheckContext, apis: &Apis, cluster_queue: &str) -> Result<(), CheckError> {
    let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ctx.namespace, &apis.local_queues);
    create_dynamic(
        ctx,
        &api,
        json!({
            "apiVersion": api_version(&apis.local_queues), "kind": "LocalQueue",
            "metadata": {"name": LOCAL_QUEUE, "namespace": ctx.namespace, "labels": ctx.labels()},
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
    create_local_queue(ctx, apis, &plan.cluster_queue).await?;
    ctx.step(format!(
        "Kueue: testing the platform's ClusterQueue {} through LocalQueue {LOCAL_QUEUE}: {} {} free by quota, {} free on \
         the nodes of flavor {}",
        plan.cluster_queue, plan.free_quota, plan.resource, plan.free_nodes, plan.flavor
    ));
    Ok(Setup {
        cluster_queue: plan.cluster_queue.clone(),
        origin: format!("the platform's ClusterQueue {}, flavor {}", plan.cluster_queue, plan.flavor),
        resource: plan.resource.clone(),
        resources: json!({"limits": {plan.resource.as_str(): "1"}}),
        // Accelerator nodes are often tainted: tolerate the dedicated taints of the flavor's nodes (never a
        // cordon), since quota and capacity decide here.
        tolerations: flavor_tolerations(ctx, &plan.node_labels).await?,
        gang: plan.gang,
        blocker: plan.blocker,
        blocker_holds: plan.holds,
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
        Duration::from_secs(60),
        |q: Option<&DynamicObject>| q.is_some_and(|q| QueueView::parse(q).active),
        |q| format!("conditions: {}", q.data["status"]["conditions"]),
    )
    .await?;
    create_local_queue(ctx, apis, &name).await?;
    ctx.step(format!(
        "Kueue: no platform ClusterQueue fits a capacity test, so kaic tests Kueue's all-or-nothing admission with its own \
         ClusterQueue {name} (quota {quota} CPU, {OWN_GANG} pods of {OWN_UNIT_MILLI}m)"
    ));
    Ok(Setup {
        cluster_queue: name.clone(),
        origin: format!("kaic's own ClusterQueue {name} with a quota of {quota} CPU"),
        resource: "cpu".into(),
        resources: json!({"requests": {"cpu": capacity::format_milli(OWN_UNIT_MILLI)}}),
        tolerations: json!([]),
        gang: OWN_GANG,
        blocker: 1,
        blocker_holds: Holds::Quota,
        platform: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduling::gang_scheduling::kueue_case::describe_workload;
    use serde_json::json;

    fn queue(value: Value) -> QueueView {
        QueueView::parse(&serde_json::from_value(value).unwrap())
    }

    fn platform_queue(gpu_quota: &str, reserved: &str) -> Value {
        json!({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "ClusterQueue",
            "metadata": {"name": "team-a"},
            "spec": {
                "namespaceSelector": {},
                "resourceGroups": [{"coveredResources": ["cpu", "nvidia.com/gpu"], "flavors": [{"name": "default-flavor", "resources": [
                    {"name": "cpu", "nominalQuota": "160"},
                    {"name": "nvidia.com/gpu", "nominalQuota": gpu_quota}
                ]}]}]
            },
            "status": {
                "conditions": [{"type": "Active", "status": "True", "reason": "Ready"}],
                "flavorsReservation": [{"name": "default-flavor", "resources": [{"name": "nvidia.com/gpu", "total": reserved}]}]
            }
        })
    }

    fn gpu_nodes(count: usize, gpus: &str) -> Vec<Node> {
        (0..count)
            .map(|i| {
                serde_json::from_value(json!({
                    "metadata": {"name": format!("gpu-{i}"), "labels": {"pool": "gpu"}},
                    "status": {"allocatable": {"cpu": "64", "nvidia.com/gpu": gpus}, "conditions": [{"type": "Ready", "status": "True"}]}
                }))
                .unwrap()
            })
            .collect()
    }

    fn flavors() -> BTreeMap<String, BTreeMap<String, String>> {
        BTreeMap::from([("default-flavor".to_string(), BTreeMap::new())])
    }

    fn ns_labels() -> BTreeMap<String, String> {
        BTreeMap::from([("kubernetes.io/metadata.name".to_string(), "kaic-gang-scheduling-r1".to_string())])
    }

    #[test]
    fn parses_quota_and_reservation() {
        let q = queue(platform_queue("8", "3"));
        assert!(q.active && !q.ours);
        assert_eq!(q.quota[&("default-flavor".to_string(), "nvidia.com/gpu".to_string())], 8000);
        assert_eq!(q.reserved[&("default-flavor".to_string(), "nvidia.com/gpu".to_string())], 3000);
        assert!(selector_matches(q.namespace_selector.as_ref(), &ns_labels()));
    }

    #[test]
    fn quota_equal_to_capacity_gives_a_gang_of_all_and_a_blocker_of_one() {
        let (plan, notes) =
            plan_platform(&[queue(platform_queue("8", "0"))], &flavors(), &gpu_nodes(2, "4"), &[], &ns_labels());
        let plan = plan.unwrap();
        assert_eq!((plan.gang, plan.blocker, plan.free_quota, plan.free_nodes, plan.holds), (8, 1, 8, 8, Holds::Quota));
        assert_eq!(
            notes,
            vec![
                "ClusterQueue team-a: quota 8 nvidia.com/gpu in flavor default-flavor for 8 on its nodes; 8 free by quota, \
                 8 free on the nodes → a blocker Job holding quota: 1, and a gang of 8"
            ]
        );
    }

    fn gpu_pod(node: &str, gpus: u32) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("other-{node}"), "namespace": "other"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": gpus.to_string()}}}]},
            "status": {"phase": "Running"}
        }))
        .unwrap()
    }

    #[test]
    fn pods_outside_kueue_shrink_the_gang_but_the_blocker_still_holds_quota() {
        // 2 of 8 GPUs taken by pods that did not go through Kueue (e.g. another check running meanwhile): the gang
        // is sized to what is really free (6) and the blocker takes quota down to 5, so the gang waits for quota
        // and, once the blocker goes, fits on the nodes.
        let others = [gpu_pod("gpu-0", 2)];
        let (plan, _) =
            plan_platform(&[queue(platform_queue("8", "0"))], &flavors(), &gpu_nodes(2, "4"), &others, &ns_labels());
        let plan = plan.unwrap();
        assert_eq!((plan.gang, plan.blocker, plan.holds), (6, 3, Holds::Quota));
        assert_eq!(plan.free_quota - 3, 5, "one less than the gang is left by quota");
        assert!(plan.free_nodes - 3 >= 0 && plan.free_nodes >= 6, "the blocker fits, and the gang fits once it goes");
    }

    #[test]
    fn an_over_committed_quota_is_sized_by_real_capacity() {
        // 16 GPUs of quota on 8 real GPUs: the gang of 8 is one more than is really free after the blocker, so
        // Kueue admits it and the scheduler binds 7: the partial gang the check must catch.
        let (plan, notes) =
            plan_platform(&[queue(platform_queue("16", "0"))], &flavors(), &gpu_nodes(2, "4"), &[], &ns_labels());
        let plan = plan.unwrap();
        assert_eq!(
            (plan.gang, plan.blocker, plan.free_quota, plan.free_nodes, plan.holds),
            (8, 1, 16, 8, Holds::Nodes)
        );
        assert!(notes[0].contains("(over-committed)") && notes[0].contains("blocker pods outside Kueue"), "{notes:?}");
    }

    #[test]
    fn large_free_capacity_is_filled_up_to_a_limit() {
        let (plan, _) =
            plan_platform(&[queue(platform_queue("12", "0"))], &flavors(), &gpu_nodes(4, "4"), &[], &ns_labels());
        assert_eq!(plan.map(|p| (p.gang, p.blocker, p.holds)), Some((8, 5, Holds::Quota)));
        let (plan, notes) =
            plan_platform(&[queue(platform_queue("64", "0"))], &flavors(), &gpu_nodes(16, "4"), &[], &ns_labels());
        assert!(plan.is_none());
        assert!(notes[0].contains("is more than kaic places"), "{notes:?}");
    }

    #[test]
    fn unusable_queues_are_explained() {
        let mut closed = platform_queue("8", "0");
        closed["spec"].as_object_mut().unwrap().remove("namespaceSelector");
        let mut inactive = platform_queue("8", "0");
        inactive["metadata"]["name"] = json!("b-inactive");
        inactive["status"]["conditions"][0]["status"] = json!("False");
        let mut busy = platform_queue("8", "6");
        busy["metadata"]["name"] = json!("c-busy");
        let mut ours = platform_queue("8", "0");
        ours["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "kaic"});
        let queues = [queue(closed), queue(inactive), queue(busy), queue(ours)];
        let (plan, notes) = plan_platform(&queues, &flavors(), &gpu_nodes(2, "4"), &[], &ns_labels());
        assert!(plan.is_none());
        assert_eq!(
            notes,
            vec![
                "ClusterQueue b-inactive is not Active",
                "ClusterQueue c-busy: quota 8 nvidia.com/gpu in flavor default-flavor for 8 on its nodes; 2 free by quota, 8 free \
                 on the nodes; a gang of 3 needs more",
                "ClusterQueue team-a's namespaceSelector does not admit kaic's namespace",
            ]
        );
        let (none, notes) = plan_platform(&[], &flavors(), &[], &[], &ns_labels());
        assert!(none.is_none());
        assert_eq!(notes, vec!["the platform has no ClusterQueue"]);
    }

    #[test]
    fn flavor_node_labels_limit_real_capacity() {
        let pinned = BTreeMap::from([(
            "default-flavor".to_string(),
            BTreeMap::from([("pool".to_string(), "other".to_string())]),
        )]);
        let (plan, notes) =
            plan_platform(&[queue(platform_queue("8", "0"))], &pinned, &gpu_nodes(2, "4"), &[], &ns_labels());
        assert!(plan.is_none());
        assert!(notes[0].contains("for 0 on its nodes (over-committed)"), "{notes:?}");
    }

    #[test]
    fn label_selectors_match_like_the_api_server() {
        let labels = BTreeMap::from([("team".to_string(), "a".to_string())]);
        let sel = |v: Value| -> LabelSelector { serde_json::from_value(v).unwrap() };
        assert!(!selector_matches(None, &labels), "no selector admits nothing");
        assert!(selector_matches(Some(&sel(json!({}))), &labels));
        assert!(selector_matches(Some(&sel(json!({"matchLabels": {"team": "a"}}))), &labels));
        assert!(!selector_matches(Some(&sel(json!({"matchLabels": {"team": "b"}}))), &labels));
        let expr = |op: &str, values: Value| {
            sel(json!({"matchExpressions": [{"key": "team", "operator": op, "values": values}]}))
        };
        assert!(selector_matches(Some(&expr("In", json!(["a", "b"]))), &labels));
        assert!(!selector_matches(Some(&expr("NotIn", json!(["a"]))), &labels));
        assert!(selector_matches(Some(&expr("Exists", json!(null))), &labels));
        assert!(!selector_matches(Some(&expr("DoesNotExist", json!(null))), &labels));
    }

    #[test]
    fn describes_a_pending_workload() {
        let workload: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
            "metadata": {"name": "job-kueue-big-1"},
            "status": {"conditions": [{"type": "QuotaReserved", "status": "False", "reason": "Pending",
                "message": "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor default-flavor, 1 more needed"}]}
        }))
        .unwrap();
        assert_eq!(
            describe_workload(&workload),
            "Kueue Workload job-kueue-big-1: QuotaReserved=False Pending couldn't assign flavors to pod set main: insufficient \
             unused quota for nvidia.com/gpu in flavor default-flavor, 1 more needed"
        );
    }
}
