//! Free capacity, computed the way the scheduler sees it: a node's allocatable amount of a resource minus
//! the requests of the pods bound to it that have not finished. gang_scheduling sizes gangs beyond it and
//! cluster_autoscaling sizes its scale-up beyond it. Pure functions over listed objects, so that the
//! arithmetic behind "larger than free capacity" is unit-tested.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Parses a Kubernetes quantity into thousandths of a unit, rounding up as the API server does
/// (`"500m"` → 500, `"2"` → 2000, `"1Ki"` → 1 024 000, `"1.5"` → 1500). `None` if it is not a quantity.
pub fn milli(quantity: &str) -> Option<i128> {
    let q = quantity.trim();
    let split = q.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    // (numerator, denominator) of the suffix's multiplier.
    let (num, den): (i128, i128) = match suffix {
        "" => (1, 1),
        "n" => (1, 1_000_000_000),
        "u" => (1, 1_000_000),
        "m" => (1, 1000),
        "k" => (1_000, 1),
        "M" => (1_000_000, 1),
        "G" => (1_000_000_000, 1),
        "T" => (1_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000, 1),
        "E" => (1_000_000_000_000_000_000, 1),
        "Ki" => (1 << 10, 1),
        "Mi" => (1 << 20, 1),
        "Gi" => (1 << 30, 1),
        "Ti" => (1 << 40, 1),
        "Pi" => (1 << 50, 1),
        "Ei" => (1 << 60, 1),
        s if s.starts_with(['e', 'E']) => {
            let exponent: u32 = s[1..].parse().ok()?;
            (10_i128.checked_pow(exponent)?, 1)
        }
        _ => return None,
    };
    let (negative, number) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    if !digits.chars().all(|c| c.is_ascii_digit()) || fraction.len() > 18 {
        return None;
    }
    let mantissa: i128 = digits.parse().ok()?;
    let scale = 10_i128.pow(u32::try_from(fraction.len()).ok()?);
    let top = mantissa.checked_mul(num)?.checked_mul(1000)?;
    let bottom = den.checked_mul(scale)?;
    let value = (top + bottom - 1) / bottom;
    Some(if negative { -value } else { value })
}

fn quantity_milli(map: Option<&BTreeMap<String, Quantity>>, resource: &str) -> Option<i128> {
    map.and_then(|m| m.get(resource)).and_then(|q| milli(&q.0))
}

/// What one container asks for: its request, or its limit when it sets no request (the API server
/// defaults the request to the limit, so both readings agree for stored pods).
fn container_request(container: &Container, resource: &str) -> i128 {
    let resources = container.resources.as_ref();
    quantity_milli(resources.and_then(|r| r.requests.as_ref()), resource)
        .or_else(|| quantity_milli(resources.and_then(|r| r.limits.as_ref()), resource))
        .unwrap_or(0)
}

/// A pod's effective request for `resource`, as the scheduler computes it: the larger of the sum over its
/// containers (plus restartable init containers, i.e. sidecars) and the largest plain init container, plus
/// the pod overhead.
pub fn pod_request(pod: &Pod, resource: &str) -> i128 {
    let Some(spec) = pod.spec.as_ref() else { return 0 };
    let inits = spec.init_containers.as_deref().unwrap_or_default();
    let sidecar = |c: &&Container| c.restart_policy.as_deref() == Some("Always");
    let running: i128 =
        spec.containers.iter().chain(inits.iter().filter(sidecar)).map(|c| container_request(c, resource)).sum();
    let init_peak = inits.iter().filter(|c| !sidecar(c)).map(|c| container_request(c, resource)).max().unwrap_or(0);
    running.max(init_peak) + quantity_milli(spec.overhead.as_ref(), resource).unwrap_or(0)
}

/// True while a pod holds its node's resources: bound and not finished.
pub fn holds_resources(pod: &Pod) -> bool {
    let bound = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    bound && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// Whether new pods can land on `node`: Ready, not cordoned, no `NoExecute` taint, and no `NoSchedule`
/// taint unless the pods kaic places there tolerate those (`tolerate_no_schedule`).
pub fn node_usable(node: &Node, tolerate_no_schedule: bool) -> bool {
    let tainted =
        node.spec.as_ref().and_then(|s| s.taints.as_ref()).into_iter().flatten().any(|t| match t.effect.as_str() {
            "NoExecute" => true,
            "NoSchedule" => !tolerate_no_schedule,
            _ => false,
        });
    crate::pods::node_ready_and_schedulable(node) && !tainted
}

/// Free amount of `resource` (in thousandths) per usable node that offers it at all, for nodes whose labels
/// include every one of `node_labels`.
pub fn free_per_node(
    nodes: &[Node],
    pods: &[Pod],
    resource: &str,
    node_labels: &BTreeMap<String, String>,
    tolerate_no_schedule: bool,
) -> BTreeMap<String, i128> {
    let mut free = BTreeMap::new();
    for node in nodes {
        let Some(name) = node.metadata.name.clone() else { continue };
        let labels = node.metadata.labels.clone().unwrap_or_default();
        if !node_labels.iter().all(|(k, v)| labels.get(k) == Some(v)) || !node_usable(node, tolerate_no_schedule) {
            continue;
        }
        let Some(allocatable) = quantity_milli(node.status.as_ref().and_then(|s| s.allocatable.as_ref()), resource)
        else {
            continue;
        };
        free.insert(name, allocatable);
    }
    for pod in pods.iter().filter(|p| holds_resources(p)) {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or_default();
        if let Some(left) = free.get_mut(node) {
            *left -= pod_request(pod, resource);
        }
    }
    free
}

/// How many pods asking for one whole unit each fit into `free` (per-node amounts in thousandths).
pub fn whole_units(free: &BTreeMap<String, i128>) -> i128 {
    free.values().map(|f| (*f).max(0) / 1000).sum()
}

/// Extended resources (`vendor.example/thing`) nodes advertise, e.g. `nvidia.com/gpu`; hugepages and the
/// `kubernetes.io/` namespace are not accelerators.
pub fn is_extended_resource(name: &str) -> bool {
    name.contains('/') && !name.starts_with("hugepages-") && !name.contains("kubernetes.io/")
}

/// Formats thousandths of a CPU as a quantity (`1500` → `"1500m"`, `2000` → `"2"`).
pub fn format_milli(value: i128) -> String {
    if value % 1000 == 0 { (value / 1000).to_string() } else { format!("{value}m") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_quantities_into_thousandths() {
        assert_eq!(milli("500m"), Some(500));
        assert_eq!(milli("2"), Some(2000));
        assert_eq!(milli("1.5"), Some(1500));
        assert_eq!(milli("1Ki"), Some(1_024_000));
        assert_eq!(milli("64Gi"), Some(64 * (1 << 30) * 1000));
        assert_eq!(milli("1e3"), Some(1_000_000));
        assert_eq!(milli("1k"), Some(1_000_000));
        assert_eq!(milli("100u"), Some(1), "rounds up like the API server");
        assert_eq!(milli("-1"), Some(-1000));
        assert_eq!(milli("abc"), None);
        assert_eq!(milli("1Xi"), None);
        assert_eq!(milli(""), None);
        assert_eq!(format_milli(1500), "1500m");
        assert_eq!(format_milli(4000), "4");
    }

    fn node(name: &str, cpu: &str, gpus: Option<&str>, extra: serde_json::Value) -> Node {
        let mut allocatable = json!({"cpu": cpu, "memory": "64Gi", "pods": "110"});
        if let Some(g) = gpus {
            allocatable["nvidia.com/gpu"] = json!(g);
        }
        let mut value = json!({
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {},
            "status": {"allocatable": allocatable, "conditions": [{"type": "Ready", "status": "True"}]}
        });
        if let Some(spec) = extra.get("spec") {
            value["spec"] = spec.clone();
        }
        if let Some(labels) = extra.get("labels") {
            value["metadata"]["labels"].as_object_mut().unwrap().extend(labels.as_object().unwrap().clone());
        }
        serde_json::from_value(value).unwrap()
    }

    fn pod(node: Option<&str>, phase: &str, containers: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"nodeName": node, "containers": containers},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    #[test]
    fn pod_request_follows_the_scheduler_rules() {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "a", "image": "i", "resources": {"requests": {"cpu": "250m"}}},
                    {"name": "b", "image": "i", "resources": {"limits": {"cpu": "1", "nvidia.com/gpu": "1"}}}
                ],
                "initContainers": [
                    {"name": "big-init", "image": "i", "resources": {"requests": {"cpu": "2"}}},
                    {"name": "sidecar", "image": "i", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m"}}}
                ],
                "overhead": {"cpu": "50m"}
            }
        }))
        .unwrap();
        // max(250m + 1 + 100m sidecar, 2 init) + 50m overhead
        assert_eq!(pod_request(&p, "cpu"), 2050);
        assert_eq!(pod_request(&p, "nvidia.com/gpu"), 1000);
        assert_eq!(pod_request(&p, "memory"), 0);
    }

    #[test]
    fn free_capacity_subtracts_live_bound_pods_only() {
        let nodes = vec![
            node("gpu-0", "64", Some("4"), json!({})),
            node("gpu-1", "64", Some("4"), json!({"labels": {"pool": "b"}})),
            node("cpu-0", "16", None, json!({})),
            node("cordoned", "64", Some("4"), json!({"spec": {"unschedulable": true}})),
            node(
                "tainted",
                "64",
                Some("4"),
                json!({"spec": {"taints": [{"key": "nvidia.com/gpu", "effect": "NoSchedule"}]}}),
            ),
        ];
        let gpu =
            |n: u32| json!([{"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": n.to_string()}}}]);
        let pods = vec![
            pod(Some("gpu-0"), "Running", gpu(3)),
            pod(Some("gpu-1"), "Succeeded", gpu(4)),
            pod(None, "Pending", gpu(4)),
            pod(Some("tainted"), "Running", gpu(1)),
        ];
        let none = BTreeMap::new();
        let free = free_per_node(&nodes, &pods, "nvidia.com/gpu", &none, false);
        assert_eq!(free, BTreeMap::from([("gpu-0".to_string(), 1000), ("gpu-1".to_string(), 4000)]));
        assert_eq!(whole_units(&free), 5);
        let tolerant = free_per_node(&nodes, &pods, "nvidia.com/gpu", &none, true);
        assert_eq!(whole_units(&tolerant), 8, "the tainted node counts when kaic's pods tolerate NoSchedule");
        let pool_b = BTreeMap::from([("pool".to_string(), "b".to_string())]);
        assert_eq!(free_per_node(&nodes, &pods, "nvidia.com/gpu", &pool_b, true).len(), 1);
        assert_eq!(free_per_node(&nodes, &pods, "cpu", &none, false)["cpu-0"], 16_000);
    }

    #[test]
    fn extended_resources_are_vendor_resources() {
        assert!(is_extended_resource("nvidia.com/gpu"));
        assert!(is_extended_resource("amd.com/gpu"));
        assert!(!is_extended_resource("cpu"));
        assert!(!is_extended_resource("hugepages-2Mi"));
        assert!(!is_extended_resource("kubernetes.io/batch-cpu"));
    }
}
