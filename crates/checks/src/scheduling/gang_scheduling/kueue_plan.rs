//! Choosing the platform ClusterQueue the Kueue sub-case tests ([`super::kueue`]): one that is Active, admits
//! kaic's namespace and gives quota for an extended resource nodes offer in a single flavor, no more than
//! that flavor's nodes have, and sizing its gang and blocker. Queues whose quota is above what their nodes
//! have today are listed apart ([`super::kueue_overcommit`]): they are never judged against today's nodes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::ResourceExt;
use kube::api::DynamicObject;
use serde_json::Value;

use super::kueue_overcommit::OverCommit;
use crate::capacity::{self, milli};
use crate::labels;

/// A gang needs at least this many pods.
pub(super) const MIN_GANG: i128 = 3;
/// The largest gang kaic submits to a platform queue.
pub(super) const MAX_GANG: i128 = 8;
/// The most units a blocker holds; more free capacity than `MAX_GANG + MAX_BLOCKER − 1` is not filled.
pub(super) const MAX_BLOCKER: i128 = 8;

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
    /// The flavor's `nodeLabels`: where its capacity is.
    pub node_labels: BTreeMap<String, String>,
}

/// What kaic found among the platform's ClusterQueues.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Choice {
    /// The queue to test against real capacity (the first by name that fits).
    pub plan: Option<PlatformPlan>,
    /// Queues whose quota is above what their nodes have today, in the order seen.
    pub over_committed: Vec<OverCommit>,
    /// A sentence for every queue and resource considered.
    pub notes: Vec<String>,
}

/// Chooses a platform ClusterQueue to test against real capacity (the first by name that fits, with quota no
/// more than its nodes have), and lists the over-committed ones.
pub fn plan_platform(
    queues: &[QueueView],
    flavor_node_labels: &BTreeMap<String, BTreeMap<String, String>>,
    nodes: &[Node],
    pods: &[Pod],
    namespace_labels: &BTreeMap<String, String>,
) -> Choice {
    let mut notes = Vec::new();
    let mut over_committed = Vec::new();
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
            // (and other workloads using the nodes outside Kueue cannot make the test fail). A quota beyond what
            // the nodes have today is how autoscaled pools are configured: Kueue admits gangs that wait for new
            // nodes. Such a queue is never judged against today's nodes.
            let sizes = format!(
                "quota {nominal} {resource} in flavor {flavor} for {on_nodes} on its nodes{}; {free_quota} free by quota, \
                 {free_nodes} free on the nodes",
                if nominal > on_nodes { " (over-committed)" } else { "" }
            );
            if nominal > on_nodes {
                notes.push(format!(
                    "ClusterQueue {name}: {sizes}; kaic does not judge it against today's nodes (an autoscaler may add \
                     the rest)"
                ));
                over_committed.push(OverCommit {
                    cluster_queue: name.clone(),
                    flavor: flavor.to_string(),
                    resource: resource.to_string(),
                    nominal,
                    on_nodes,
                    free_quota,
                    free_nodes,
                    node_labels: node_labels.clone(),
                });
                continue;
            }
            let usable = free_quota.min(free_nodes);
            if usable < MIN_GANG {
                notes.push(format!("ClusterQueue {name}: {sizes}; a gang of {MIN_GANG} needs more"));
                continue;
            }
            let gang = usable.min(MAX_GANG);
            // Leave exactly gang − 1 of the quota.
            let blocker = free_quota - gang + 1;
            if blocker > MAX_BLOCKER || blocker > free_nodes {
                notes.push(format!(
                    "ClusterQueue {name}: {sizes}; a blocker of {blocker} is more than kaic places (at most {MAX_BLOCKER}, \
                     and no more than is free on the nodes)"
                ));
                continue;
            }
            notes.push(format!(
                "ClusterQueue {name}: {sizes} → a blocker Job holding quota: {blocker}, and a gang of {gang}"
            ));
            let (Ok(gang), Ok(blocker)) = (usize::try_from(gang), usize::try_from(blocker)) else { continue };
            return Choice {
                plan: Some(PlatformPlan {
                    cluster_queue: name.clone(),
                    flavor: flavor.to_string(),
                    resource: resource.to_string(),
                    nominal,
                    on_nodes,
                    free_quota,
                    free_nodes,
                    gang,
                    blocker,
                    node_labels: node_labels.clone(),
                }),
                over_committed,
                notes,
            };
        }
    }
    Choice { plan: None, over_committed, notes }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let Choice { plan, over_committed, notes } =
            plan_platform(&[queue(platform_queue("8", "0"))], &flavors(), &gpu_nodes(2, "4"), &[], &ns_labels());
        let plan = plan.unwrap();
        assert_eq!((plan.gang, plan.blocker, plan.free_quota, plan.free_nodes), (8, 1, 8, 8));
        assert!(over_committed.is_empty());
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
        let plan =
            plan_platform(&[queue(platform_queue("8", "0"))], &flavors(), &gpu_nodes(2, "4"), &others, &ns_labels())
                .plan
                .unwrap();
        assert_eq!((plan.gang, plan.blocker), (6, 3));
        assert_eq!(plan.free_quota - 3, 5, "one less than the gang is left by quota");
        assert!(plan.free_nodes - 3 >= 0 && plan.free_nodes >= 6, "the blocker fits, and the gang fits once it goes");
    }

    #[test]
    fn a_quota_above_todays_nodes_is_never_judged_against_them() {
        // 16 GPUs of quota on 8 real GPUs (an autoscaled pool's maximum): not used for a capacity test, listed
        // as over-committed so that kaic tests with its own queue and notes it.
        let Choice { plan, over_committed, notes } =
            plan_platform(&[queue(platform_queue("16", "0"))], &flavors(), &gpu_nodes(2, "4"), &[], &ns_labels());
        assert!(plan.is_none());
        assert_eq!(
            over_committed,
            vec![OverCommit {
                cluster_queue: "team-a".into(),
                flavor: "default-flavor".into(),
                resource: "nvidia.com/gpu".into(),
                nominal: 16,
                on_nodes: 8,
                free_quota: 16,
                free_nodes: 8,
                node_labels: BTreeMap::new(),
            }]
        );
        assert_eq!(
            notes,
            vec![
                "ClusterQueue team-a: quota 16 nvidia.com/gpu in flavor default-flavor for 8 on its nodes (over-committed); \
                 16 free by quota, 8 free on the nodes; kaic does not judge it against today's nodes (an autoscaler may \
                 add the rest)"
            ]
        );
        assert_eq!(
            over_committed[0].describe(),
            "ClusterQueue team-a's quota of 16 nvidia.com/gpu (flavor default-flavor) is above the 8 its nodes have today"
        );
    }

    #[test]
    fn a_queue_within_capacity_is_tested_even_after_an_over_committed_one() {
        let mut within = platform_queue("8", "0");
        within["metadata"]["name"] = json!("team-b");
        let queues = [queue(platform_queue("16", "0")), queue(within)];
        let Choice { plan, over_committed, .. } =
            plan_platform(&queues, &flavors(), &gpu_nodes(2, "4"), &[], &ns_labels());
        assert_eq!(plan.map(|p| (p.cluster_queue, p.gang, p.blocker)), Some(("team-b".to_string(), 8, 1)));
        assert_eq!(over_committed.len(), 1, "still noted");
    }

    #[test]
    fn large_free_capacity_is_filled_up_to_a_limit() {
        let plan =
            plan_platform(&[queue(platform_queue("12", "0"))], &flavors(), &gpu_nodes(4, "4"), &[], &ns_labels()).plan;
        assert_eq!(plan.map(|p| (p.gang, p.blocker)), Some((8, 5)));
        let Choice { plan, notes, .. } =
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
        let Choice { plan, notes, .. } = plan_platform(&queues, &flavors(), &gpu_nodes(2, "4"), &[], &ns_labels());
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
        let Choice { plan: none, notes, .. } = plan_platform(&[], &flavors(), &[], &[], &ns_labels());
        assert!(none.is_none());
        assert_eq!(notes, vec!["the platform has no ClusterQueue"]);
    }

    #[test]
    fn flavor_node_labels_limit_real_capacity() {
        let pinned = BTreeMap::from([(
            "default-flavor".to_string(),
            BTreeMap::from([("pool".to_string(), "other".to_string())]),
        )]);
        let Choice { plan, over_committed, notes } =
            plan_platform(&[queue(platform_queue("8", "0"))], &pinned, &gpu_nodes(2, "4"), &[], &ns_labels());
        assert!(plan.is_none());
        assert!(notes[0].contains("for 0 on its nodes (over-committed)"), "{notes:?}");
        assert_eq!(over_committed.len(), 1);
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
}
