//! How kaic shapes every pod it creates so that it runs on a real, locked-down cluster and nowhere it
//! should not: one place for placement (pinned by `matchFields metadata.name`, tolerating only the target
//! node's own taints, never a cordon or a NotReady node), for pod security (a securityContext that the
//! `restricted` Pod Security Standard admits, with the namespace labelled to enforce it), and for the pod
//! states that make waiting pointless (image pull back-off, bad configuration, a failed pod).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value, json};

/// The Pod Security Admission labels on every namespace kaic creates: kaic's pods meet `restricted`, and
/// saying so explicitly keeps a cluster default (or an OpenShift-style override) from deciding for it.
pub fn pod_security_labels() -> BTreeMap<String, String> {
    ["enforce", "audit", "warn"]
        .into_iter()
        .flat_map(|mode| {
            [
                (format!("pod-security.kubernetes.io/{mode}"), "restricted".to_string()),
                (format!("pod-security.kubernetes.io/{mode}-version"), "latest".to_string()),
            ]
        })
        .collect()
}

/// The user and group kaic's containers run as: `nobody`, which every image kaic uses has, so images
/// whose default user is root (the CUDA base image) still satisfy `runAsNonRoot`.
pub const RUN_AS: i64 = 65534;

/// Makes a pod spec (JSON) `restricted`-compliant: a pod-level securityContext (non-root, seccomp
/// RuntimeDefault) and, on every container and init container, no privilege escalation and no
/// capabilities. Fields the caller already set are kept.
pub fn harden(pod_spec: &mut Value) {
    let Some(spec) = pod_spec.as_object_mut() else { return };
    let pod = spec.entry("securityContext").or_insert_with(|| json!({}));
    fill(
        pod,
        &json!({
            "runAsNonRoot": true,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"}
        }),
    );
    for list in ["containers", "initContainers"] {
        for container in spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            let Some(container) = container.as_object_mut() else { continue };
            let context = container.entry("securityContext").or_insert_with(|| json!({}));
            fill(context, &json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}));
        }
    }
}

/// `pod_spec` made `restricted`-compliant by [`harden`], for manifests written inline.
pub fn hardened(mut pod_spec: Value) -> Value {
    harden(&mut pod_spec);
    pod_spec
}

/// Adds the fields of `defaults` that `target` lacks.
fn fill(target: &mut Value, defaults: &Value) {
    if let (Some(target), Some(defaults)) = (target.as_object_mut(), defaults.as_object()) {
        for (key, value) in defaults {
            target.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
}

/// Node affinity that pins a pod to the node named `node` by its name field (`matchFields
/// metadata.name`): node labels such as `kubernetes.io/hostname` may differ from the name on real clusters.
pub fn pin_to(node: &str) -> Value {
    json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
    ]}}})
}

/// Taints the node lifecycle controller and `kubectl cordon` set: a pod must never tolerate them, or kaic
/// would place work on a node being drained, cordoned or gone.
const LIFECYCLE_TAINTS: &[&str] = &[
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/out-of-disk",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/network-unavailable",
    "node.cloudprovider.kubernetes.io/uninitialized",
    "node.cloudprovider.kubernetes.io/shutdown",
    "ToBeDeletedByClusterAutoscaler",
    "karpenter.sh/disrupted",
];

/// Tolerations for exactly the `NoSchedule` taints of `node` that mark it as dedicated (e.g.
/// `nvidia.com/gpu`, `sku=gpu`), and none of the lifecycle taints: a pod pinned to an accelerator node
/// lands there, but never on a cordoned or NotReady one.
pub fn tolerations_for(node: &Node) -> Value {
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_ref()).into_iter().flatten();
    Value::Array(
        taints
            .filter(|t| t.effect == "NoSchedule" && !LIFECYCLE_TAINTS.contains(&t.key.as_str()))
            .map(|t| match &t.value {
                Some(value) => json!({"key": t.key, "operator": "Equal", "value": value, "effect": "NoSchedule"}),
                None => json!({"key": t.key, "operator": "Exists", "effect": "NoSchedule"}),
            })
            .collect(),
    )
}

/// Tolerations for the `NoSchedule` taints that any of `nodes` carries (not the lifecycle ones), for pods
/// that may land on any node of a group (a gang across accelerator nodes).
pub fn tolerations_for_all<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Value {
    let mut all: Vec<Value> = Vec::new();
    for node in nodes {
        for toleration in tolerations_for(node).as_array().into_iter().flatten() {
            if !all.contains(toleration) {
                all.push(toleration.clone());
            }
        }
    }
    Value::Array(all)
}

/// Whether kaic may place a pod on `node`: Ready and not cordoned. (Dedicated-node taints are handled by
/// [`tolerations_for`].)
pub fn node_ready_and_schedulable(node: &Node) -> bool {
    let cordoned = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    ready && !cordoned
}

/// Container waiting reasons after which a pod will not start without a person fixing something.
const FATAL_WAITING: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "CrashLoopBackOff",
];

/// Why `pod` will never get where kaic waits for it to go, if it will not: it failed, or a container waits
/// for something only a person can fix (an image that cannot be pulled, a configuration the runtime
/// refuses). kaic stops waiting at once and names the cause instead of timing out.
pub fn fatal_state(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let name = pod.metadata.name.as_deref().unwrap_or("pod");
    if status.phase.as_deref() == Some("Failed") {
        let why = [status.reason.as_deref(), status.message.as_deref()].into_iter().flatten().collect::<Vec<_>>();
        let terminated: Vec<String> = status
            .container_statuses
            .iter()
            .flatten()
            .filter_map(|c| {
                let t = c.state.as_ref()?.terminated.as_ref()?;
                Some(format!("container {} exited {} {}", c.name, t.exit_code, t.reason.clone().unwrap_or_default()))
            })
            .collect();
        let mut text = format!("pod {name} failed");
        if !why.is_empty() {
            text.push_str(&format!(": {}", why.join(" ")));
        }
        if !terminated.is_empty() {
            text.push_str(&format!(" ({})", terminated.join(", ").trim_end()));
        }
        return Some(text);
    }
    let containers = status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten());
    for container in containers {
        let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) else { continue };
        let reason = waiting.reason.as_deref().unwrap_or_default();
        if FATAL_WAITING.contains(&reason) {
            let message = waiting.message.as_deref().unwrap_or_default();
            return Some(
                format!("pod {name}: container {} cannot start: {reason} {message}", container.name)
                    .trim_end()
                    .to_string(),
            );
        }
    }
    None
}

/// The name of the ResourceClaim generated for the pod's claim entry `entry` (its first generated one when
/// `None`), once the controller has written it into `status.resourceClaimStatuses`.
pub fn generated_claim(pod: &Pod, entry: Option<&str>) -> Option<String> {
    pod.status
        .as_ref()?
        .resource_claim_statuses
        .as_ref()?
        .iter()
        .filter(|s| entry.is_none_or(|e| s.name == e))
        .find_map(|s| s.resource_claim_name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(value: Value) -> Node {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn hardening_meets_restricted_and_keeps_what_was_set() {
        let mut spec = json!({
            "securityContext": {"runAsUser": 1000},
            "containers": [{"name": "a", "image": "i"}, {"name": "b", "image": "i", "securityContext": {"readOnlyRootFilesystem": true}}],
            "initContainers": [{"name": "init", "image": "i"}]
        });
        harden(&mut spec);
        assert_eq!(spec["securityContext"]["runAsUser"], 1000, "kept");
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        assert_eq!(spec["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
        for c in [&spec["containers"][0], &spec["containers"][1], &spec["initContainers"][0]] {
            assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
            assert_eq!(c["securityContext"]["capabilities"]["drop"][0], "ALL");
        }
        assert_eq!(spec["containers"][1]["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(pod_security_labels()["pod-security.kubernetes.io/enforce"], "restricted");
    }

    #[test]
    fn tolerates_dedicated_taints_but_never_a_cordon() {
        let gpu = node(json!({
            "metadata": {"name": "g"},
            "spec": {"unschedulable": true, "taints": [
                {"key": "nvidia.com/gpu", "effect": "NoSchedule"},
                {"key": "sku", "value": "gpu", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                {"key": "spot", "effect": "PreferNoSchedule"}
            ]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }));
        assert_eq!(
            tolerations_for(&gpu),
            json!([
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}
            ])
        );
        assert!(!node_ready_and_schedulable(&gpu), "cordoned");
        let not_ready =
            node(json!({"metadata": {"name": "n"}, "status": {"conditions": [{"type": "Ready", "status": "False"}]}}));
        assert!(!node_ready_and_schedulable(&not_ready));
        assert_eq!(tolerations_for_all([&gpu, &gpu]).as_array().unwrap().len(), 2);
        assert_eq!(
            pin_to("g")["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchFields"]
                [0]["key"],
            "metadata.name"
        );
    }

    fn pod(status: Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": []}, "status": status}))
            .unwrap()
    }

    #[test]
    fn names_states_that_will_not_resolve_by_waiting() {
        let pull = pod(
            json!({"phase": "Pending", "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}}}]}),
        );
        assert_eq!(
            fatal_state(&pull).unwrap(),
            "pod p: container c cannot start: ImagePullBackOff Back-off pulling image \"x\""
        );
        let failed = pod(
            json!({"phase": "Failed", "reason": "Evicted", "containerStatuses": [{"name": "c", "image": "i", "imageID": "",
            "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
        );
        assert_eq!(fatal_state(&failed).unwrap(), "pod p failed: Evicted (container c exited 137 OOMKilled)");
        let creating = pod(
            json!({"phase": "Pending", "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        assert_eq!(fatal_state(&creating), None);
    }

    #[test]
    fn a_pods_generated_claim_is_found_by_entry_or_first() {
        let pod: Pod = serde_json::from_value(json!({"status": {"resourceClaimStatuses": [
            {"name": "nic"},
            {"name": "accel", "resourceClaimName": "p-accel-x1"},
            {"name": "dev", "resourceClaimName": "p-dev-y2"}
        ]}}))
        .unwrap();
        assert_eq!(generated_claim(&pod, None).as_deref(), Some("p-accel-x1"), "the first one generated");
        assert_eq!(generated_claim(&pod, Some("dev")).as_deref(), Some("p-dev-y2"));
        assert_eq!(generated_claim(&pod, Some("nic")), None, "not generated yet");
        assert_eq!(generated_claim(&Pod::default(), None), None);
    }
}
