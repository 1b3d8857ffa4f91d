//! Where `cluster_autoscaling` puts its pods so that only the node autoscaler can make room for them, and
//! how many it needs: Karpenter's pods are pinned to its NodePools (tolerating their taints) and go one
//! beyond the devices free on those pools' nodes; cluster-autoscaler's are kept off every existing node and
//! tolerate every NoSchedule taint (its node groups' taints are not in the API). Accelerator node groups are
//! usually tainted with the resource's name (GKE, EKS and AKS GPU pools), so that taint is always tolerated.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use super::node_autoscaler::{Autoscaler, NODEPOOL_LABEL};
use crate::accelerators::vendor::VENDORS;
use crate::capacity;
use crate::check::{CheckContext, CheckError};
use crate::pods;

/// The accelerator resource to ask for: one a NodePool sets a limit on, else one some node advertises,
/// else NVIDIA's.
pub fn accelerator_resource(autoscaler: &Autoscaler, nodes: &[Node]) -> String {
    let known: Vec<&str> = VENDORS.iter().flat_map(|v| v.extended_resources.iter().copied()).collect();
    if let Autoscaler::Karpenter(pools) = autoscaler
        && let Some(limited) = known.iter().find(|r| pools.iter().any(|p| p.limit(r).is_some()))
    {
        return (*limited).to_string();
    }
    known
        .iter()
        .find(|r| nodes.iter().any(|n| allocatable(n, r) > 0))
        .map_or_else(|| "nvidia.com/gpu".to_string(), |r| (*r).to_string())
}

/// The allocatable amount of `resource` on `node`, in whole units (any quantity form, as the scheduler
/// reads it).
pub fn allocatable(node: &Node, resource: &str) -> i64 {
    node.status
        .as_ref()
        .and_then(|s| s.allocatable.as_ref())
        .and_then(|a| a.get(resource))
        .and_then(|q| capacity::milli(&q.0))
        .map_or(0, |m| i64::try_from(m / 1000).unwrap_or(i64::MAX))
}

/// Where kaic's pods may go, so that only the autoscaler can make room for them.
pub struct Placement {
    /// `requiredDuringScheduling` node selector terms.
    pub affinity: Value,
    pub tolerations: Value,
    /// The existing nodes they may use (their free devices are counted).
    pub eligible: Vec<String>,
    words: String,
}

impl Placement {
    pub fn for_autoscaler(autoscaler: &Autoscaler, nodes: &[Node], resource: &str) -> Self {
        // Accelerator node groups are usually tainted with the resource's name (GKE, EKS and AKS GPU pools); the
        // existing accelerator nodes' dedicated taints and a Karpenter NodePool's own taints are tolerated too.
        let mut tolerations = vec![json!({"key": resource, "operator": "Exists", "effect": "NoSchedule"})];
        let accelerator_nodes = nodes.iter().filter(|n| allocatable(n, resource) > 0);
        let of_nodes = pods::tolerations_for_all(accelerator_nodes).as_array().cloned().unwrap_or_default();
        let of_pools = match autoscaler {
            Autoscaler::Karpenter(pools) => pools.iter().flat_map(|p| p.tolerations.clone()).collect(),
            Autoscaler::ClusterAutoscaler(_) => Vec::new(),
        };
        for toleration in of_nodes.into_iter().chain(of_pools) {
            if !tolerations.contains(&toleration) {
                tolerations.push(toleration);
            }
        }
        match autoscaler {
            Autoscaler::Karpenter(pools) => {
                let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
                let eligible = nodes
                    .iter()
                    .filter(|n| {
                        n.metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get(NODEPOOL_LABEL))
                            .is_some_and(|p| names.contains(&p.as_str()))
                    })
                    .filter_map(|n| n.metadata.name.clone())
                    .collect();
                Self {
                    affinity: json!([{"matchExpressions": [{"key": NODEPOOL_LABEL, "operator": "In", "values": names}]}]),
                    tolerations: Value::Array(tolerations),
                    eligible,
                    words: format!("pods pinned to Karpenter's NodePools ({NODEPOOL_LABEL} in {})", names.join(", ")),
                }
            }
            Autoscaler::ClusterAutoscaler(_) => {
                // cluster-autoscaler's node groups carry taints kaic cannot read (AKS GPU pools created with
                // `--node-taints sku=gpu:NoSchedule` at zero nodes, EKS groups with custom taints): its simulation
                // adds a node only for a pod that tolerates the group's taints. The pods are kept off every
                // existing node anyway, so tolerating every NoSchedule taint lets only the new node take them.
                let every_no_schedule = json!({"operator": "Exists", "effect": "NoSchedule"});
                if !tolerations.contains(&every_no_schedule) {
                    tolerations.push(every_no_schedule);
                }
                let hostnames: Vec<String> = nodes
                    .iter()
                    .filter_map(|n| {
                        let labels = n.metadata.labels.as_ref();
                        labels
                            .and_then(|l| l.get("kubernetes.io/hostname"))
                            .cloned()
                            .or_else(|| n.metadata.name.clone())
                    })
                    .collect();
                Self {
                    affinity: json!([{"matchExpressions": [
                        {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": hostnames}
                    ]}]),
                    tolerations: Value::Array(tolerations),
                    eligible: Vec::new(),
                    words: format!("pods kept off the {} existing nodes (kubernetes.io/hostname NotIn)", nodes.len()),
                }
            }
        }
    }

    pub fn describe(&self) -> String {
        self.words.clone()
    }
}

/// Free whole units of `resource` on the eligible nodes, as the scheduler counts them (gang_scheduling's
/// [`capacity`]: allocatable minus the effective requests of the pods bound there).
pub async fn free_on(
    ctx: &CheckContext,
    nodes: &[Node],
    placement: &Placement,
    resource: &str,
) -> Result<i64, CheckError> {
    let eligible: Vec<Node> = nodes
        .iter()
        .filter(|n| n.metadata.name.as_ref().is_some_and(|name| placement.eligible.contains(name)))
        .cloned()
        .collect();
    let all: Api<Pod> = Api::all(ctx.client.clone());
    let mut bound = Vec::new();
    for name in eligible.iter().filter_map(|n| n.metadata.name.as_deref()) {
        let on_node = crate::list::all(&all, ListParams::default().fields(&format!("spec.nodeName={name}")))
            .await
            .map_err(|e| CheckError::api(format!("list pods on node {name}"), e))?;
        bound.extend(on_node);
    }
    let free = capacity::free_per_node(&eligible, &bound, resource, &BTreeMap::new(), true);
    Ok(i64::try_from(capacity::whole_units(&free)).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}})).unwrap()
    }

    /// An AKS GPU pool at zero nodes tainted sku=gpu:NoSchedule: cluster-autoscaler adds a node only for a pod
    /// that tolerates it, and kaic cannot read the pool's taints.
    #[test]
    fn cluster_autoscalers_pods_tolerate_every_no_schedule_taint_and_avoid_existing_nodes() {
        let nodes = [node("cpu-0"), node("cpu-1")];
        let placement =
            Placement::for_autoscaler(&Autoscaler::ClusterAutoscaler("ConfigMap".into()), &nodes, "nvidia.com/gpu");
        let tolerations = placement.tolerations.as_array().unwrap();
        assert!(tolerations.contains(&json!({"operator": "Exists", "effect": "NoSchedule"})), "{tolerations:?}");
        assert_eq!(placement.affinity[0]["matchExpressions"][0]["values"], json!(["cpu-0", "cpu-1"]));
        assert!(placement.eligible.is_empty());
    }

    #[test]
    fn karpenters_pods_tolerate_only_the_resource_and_known_taints() {
        let placement = Placement::for_autoscaler(&Autoscaler::Karpenter(Vec::new()), &[node("n")], "nvidia.com/gpu");
        let tolerations = placement.tolerations.as_array().unwrap();
        assert_eq!(tolerations, &vec![json!({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})]);
    }
}
