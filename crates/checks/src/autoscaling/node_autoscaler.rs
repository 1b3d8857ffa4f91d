//! The node autoscalers `cluster_autoscaling` recognises, and what they say about kaic's pods.
//!
//! - **Karpenter** (also behind AKS node auto-provisioning and EKS Auto Mode): the `karpenter.sh/v1`
//!   NodePools. A NodePool whose node class is testenv's `KWOKNodeClass` makes nodes that cost nothing.
//! - **cluster-autoscaler** (GKE, most EKS and AKS clusters, OpenShift's ClusterAutoscaler): its status
//!   ConfigMap `kube-system/cluster-autoscaler-status`, or a pod running its image.
//!
//! Both explain themselves in events on the pending pods: Karpenter `Nominated` (a NodeClaim will take the
//! pod) or `FailedScheduling` (no NodePool can), cluster-autoscaler `TriggeredScaleUp` or
//! `NotTriggerScaleUp`. kaic reads those as the autoscaler's own positive signals.

use k8s_openapi::api::core::v1::Event;
use serde_json::Value;

/// The API of Karpenter's NodePools.
pub const KARPENTER_GROUP: &str = "karpenter.sh";
pub const KARPENTER_VERSION: &str = "v1";
/// The label Karpenter puts on every node it makes, naming its NodePool.
pub const NODEPOOL_LABEL: &str = "karpenter.sh/nodepool";
/// cluster-autoscaler's status ConfigMap (written every scan when `--write-status-configmap`, the default).
pub const CA_STATUS: (&str, &str) = ("kube-system", "cluster-autoscaler-status");
/// The node class of Karpenter's kwok provider: its nodes are simulated and free.
const KWOK_NODE_CLASS: &str = "KWOKNodeClass";

/// One Karpenter NodePool, as far as the check needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodePool {
    pub name: String,
    /// `group/kind` of its node class (`karpenter.kwok.sh/KWOKNodeClass`, `karpenter.k8s.aws/EC2NodeClass`).
    pub node_class: String,
    /// Tolerations for the taints its nodes are born with (`spec.template.spec.taints`).
    pub tolerations: Vec<Value>,
    /// Its resource limits (`spec.limits`), e.g. `nvidia.com/gpu: 8`.
    pub limits: Vec<(String, String)>,
}

impl NodePool {
    /// Reads a NodePool object.
    pub fn from_object(object: &Value) -> Self {
        let spec = &object["spec"]["template"]["spec"];
        let class = &spec["nodeClassRef"];
        let tolerations = spec["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|taint| {
                let key = taint["key"].as_str()?;
                let effect = taint["effect"].as_str().unwrap_or("NoSchedule");
                Some(match taint["value"].as_str() {
                    Some(value) => {
                        serde_json::json!({"key": key, "operator": "Equal", "value": value, "effect": effect})
                    }
                    None => serde_json::json!({"key": key, "operator": "Exists", "effect": effect}),
                })
            })
            .collect();
        let limits = object["spec"]["limits"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect();
        Self {
            name: object["metadata"]["name"].as_str().unwrap_or_default().to_string(),
            node_class: format!(
                "{}/{}",
                class["group"].as_str().unwrap_or_default(),
                class["kind"].as_str().unwrap_or_default()
            ),
            tolerations,
            limits,
        }
    }

    /// Whether its nodes are simulated by Karpenter's kwok provider (testenv): they cost nothing.
    pub fn simulated(&self) -> bool {
        self.node_class.ends_with(&format!("/{KWOK_NODE_CLASS}"))
    }

    /// The limit it sets on `resource`, if any.
    pub fn limit(&self, resource: &str) -> Option<&str> {
        self.limits.iter().find(|(k, _)| k == resource).map(|(_, v)| v.as_str())
    }
}

/// A node autoscaler found on the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Autoscaler {
    Karpenter(Vec<NodePool>),
    /// cluster-autoscaler, with where kaic saw it.
    ClusterAutoscaler(String),
}

impl Autoscaler {
    /// Its name and what kaic found, for reasons.
    pub fn describe(&self) -> String {
        match self {
            Self::Karpenter(pools) => format!(
                "Karpenter (NodePools {})",
                pools.iter().map(|p| format!("{} [{}]", p.name, p.node_class)).collect::<Vec<_>>().join(", ")
            ),
            Self::ClusterAutoscaler(seen) => format!("cluster-autoscaler ({seen})"),
        }
    }

    /// Whether the nodes it adds cost nothing (testenv's kwok provider), so the check needs no opt-in.
    pub fn free(&self) -> bool {
        match self {
            Self::Karpenter(pools) => !pools.is_empty() && pools.iter().all(NodePool::simulated),
            Self::ClusterAutoscaler(_) => false,
        }
    }
}

/// What an autoscaler said about a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// It will add (or has chosen) a node for the pod: Karpenter `Nominated`, cluster-autoscaler
    /// `TriggeredScaleUp`.
    ScaleUp(String),
    /// It will add no node for the pod, and says why: Karpenter `FailedScheduling`, cluster-autoscaler
    /// `NotTriggerScaleUp`.
    Refused(String),
}

/// Reads one event as an autoscaler's signal, if it is one. The scheduler's own `FailedScheduling` (component
/// `default-scheduler`) is not: only the autoscaler can say it will not add a node.
pub fn signal(event: &Event) -> Option<Signal> {
    let component = component(event);
    let reason = event.reason.as_deref().unwrap_or_default();
    let message = event.message.as_deref().unwrap_or_default().trim();
    let text = || format!("{component} {reason}: {message}");
    let karpenter = component.contains("karpenter");
    let cluster_autoscaler = component.contains("cluster-autoscaler");
    match reason {
        "TriggeredScaleUp" if cluster_autoscaler => Some(Signal::ScaleUp(text())),
        "NotTriggerScaleUp" if cluster_autoscaler => Some(Signal::Refused(text())),
        "Nominated" if karpenter => Some(Signal::ScaleUp(text())),
        "FailedScheduling" if karpenter => Some(Signal::Refused(text())),
        _ => None,
    }
}

/// Who reported `event`: its reporting component, else its source's (older clients set only that).
fn component(event: &Event) -> &str {
    event
        .reporting_component
        .as_deref()
        .filter(|c| !c.is_empty())
        .or_else(|| event.source.as_ref().and_then(|s| s.component.as_deref()))
        .unwrap_or_default()
}

/// Whether `event` is a scheduler saying it found no node for the pod (`FailedScheduling` from anyone but an
/// autoscaler): the lasting record of the pod's Unschedulable spell, which its condition loses once a new node
/// takes it.
pub fn scheduler_refused(event: &Event) -> bool {
    let component = component(event);
    event.reason.as_deref() == Some("FailedScheduling")
        && !component.contains("karpenter")
        && !component.contains("cluster-autoscaler")
}

/// An autoscaler's message cut for a reason line: Karpenter lists every NodePool's requirements after its
/// first sentence; the whole text stays in the evidence.
pub fn brief(text: &str) -> String {
    const MOST: usize = 200;
    let cut = text.find(", requirements=").unwrap_or(text.len());
    let head = &text[..cut];
    if head.chars().count() <= MOST && cut == text.len() {
        return head.to_string();
    }
    let short: String = head.chars().take(MOST).collect();
    format!("{short} …")
}

/// The signals in `events`, oldest first.
pub fn signals(events: &[Event]) -> Vec<Signal> {
    let mut events: Vec<&Event> = events.iter().collect();
    events.sort_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0).or(e.event_time.as_ref().map(|t| t.0)));
    events.into_iter().filter_map(signal).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(value: Value) -> Event {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn reads_a_kwok_gpu_nodepool_with_its_taint_and_limit() {
        let pool = NodePool::from_object(&json!({
            "metadata": {"name": "gpu"},
            "spec": {
                "limits": {"nvidia.com/gpu": "8", "cpu": 1000},
                "template": {"spec": {
                    "nodeClassRef": {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": "default"},
                    "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
                               {"key": "dedicated", "effect": "NoSchedule"}]
                }}
            }
        }));
        assert_eq!(pool.name, "gpu");
        assert!(pool.simulated());
        assert_eq!(pool.limit("nvidia.com/gpu"), Some("8"));
        assert_eq!(pool.limit("cpu"), Some("1000"));
        assert_eq!(
            pool.tolerations,
            vec![
                json!({"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}),
                json!({"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"})
            ]
        );
        assert!(Autoscaler::Karpenter(vec![pool.clone()]).free());
        let aws = NodePool { node_class: "karpenter.k8s.aws/EC2NodeClass".into(), ..pool };
        assert!(!Autoscaler::Karpenter(vec![aws]).free());
        assert!(!Autoscaler::ClusterAutoscaler("ConfigMap".into()).free());
    }

    #[test]
    fn a_long_karpenter_message_is_cut_before_its_requirements() {
        let text = "karpenter FailedScheduling: Failed to schedule pod, no instance type has enough resources, \
                    requirements=kaic.dev/autoscaled In [true], karpenter.sh/nodepool In [gpu]";
        assert_eq!(
            brief(text),
            "karpenter FailedScheduling: Failed to schedule pod, no instance type has enough resources …"
        );
        assert_eq!(
            brief("cluster-autoscaler NotTriggerScaleUp: pod didn't trigger scale-up"),
            "cluster-autoscaler NotTriggerScaleUp: pod didn't trigger scale-up"
        );
        assert_eq!(brief(&"x".repeat(300)).chars().count(), 202);
    }

    #[test]
    fn reads_karpenter_and_cluster_autoscaler_events_but_not_the_scheduler() {
        let nominated = event(json!({
            "metadata": {"name": "e1"}, "involvedObject": {}, "reason": "Nominated",
            "message": "Pod should schedule on: nodeclaim/gpu-x7k2p", "source": {"component": "karpenter"}
        }));
        assert_eq!(
            signal(&nominated),
            Some(Signal::ScaleUp("karpenter Nominated: Pod should schedule on: nodeclaim/gpu-x7k2p".into()))
        );
        let refused = event(json!({
            "metadata": {"name": "e2"}, "involvedObject": {}, "reason": "FailedScheduling",
            "message": "Failed to schedule pod, incompatible with nodepool \"gpu\", no instance type satisfied resources",
            "source": {"component": "karpenter"}
        }));
        assert!(matches!(signal(&refused), Some(Signal::Refused(t)) if t.contains("incompatible with nodepool")));
        let scheduler = event(json!({
            "metadata": {"name": "e3"}, "involvedObject": {}, "reason": "FailedScheduling",
            "message": "0/4 nodes are available", "reportingComponent": "default-scheduler"
        }));
        assert_eq!(signal(&scheduler), None);
        assert!(scheduler_refused(&scheduler));
        assert!(!scheduler_refused(&refused));
        let ca_up = event(json!({
            "metadata": {"name": "e4"}, "involvedObject": {}, "reason": "TriggeredScaleUp",
            "message": "pod triggered scale-up: [{gpu-pool 0->1 (max: 3)}]", "source": {"component": "cluster-autoscaler"}
        }));
        assert!(matches!(signal(&ca_up), Some(Signal::ScaleUp(_))));
        let ca_no = event(json!({
            "metadata": {"name": "e5"}, "involvedObject": {}, "reason": "NotTriggerScaleUp",
            "message": "pod didn't trigger scale-up: 2 Insufficient kaic.dev/unoffered-accelerator",
            "reportingComponent": "cluster-autoscaler"
        }));
        assert!(
            matches!(signal(&ca_no), Some(Signal::Refused(t)) if t.starts_with("cluster-autoscaler NotTriggerScaleUp"))
        );
    }
}
