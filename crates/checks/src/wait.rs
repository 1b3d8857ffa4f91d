//! Waiting on objects: watch with kube-runtime's `await_condition` under a deadline, and on timeout report
//! the last observed state (e.g. the scheduler's "0/4 nodes are available" message) instead of a bare
//! "timed out".

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::wait::{Condition, await_condition};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use crate::check::CheckError;

/// Waits until `condition` holds for the object `name`, for at most `timeout`.
///
/// # Errors
/// [`CheckError::Timeout`] with `describe` of the last seen object, or [`CheckError::Api`] if the watch fails.
pub async fn until<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    condition: impl Condition<K>,
    describe: impl Fn(&K) -> String,
) -> Result<K, CheckError>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + 'static,
{
    match tokio::time::timeout(timeout, await_condition(api.clone(), name, condition)).await {
        Ok(Ok(Some(object))) => Ok(object),
        Ok(Ok(None)) => Err(CheckError::Other(format!("{what}: {name} was deleted while kaic waited for it"))),
        Ok(Err(e)) => Err(CheckError::Other(format!("failed to watch {name} while waiting for {what}: {e}"))),
        Err(_) => {
            let last_seen = match api.get_opt(name).await {
                Ok(Some(object)) => describe(&object),
                Ok(None) => "the object no longer exists".to_string(),
                Err(e) => format!("could not read it: {e}"),
            };
            Err(CheckError::Timeout { what: format!("{what} ({name})"), after: timeout, last_seen })
        }
    }
}

/// A pod's state in one line: phase, node, and the reason of any condition that is not true
/// (Unschedulable with the scheduler's message, image pull back-off, crash loop).
pub fn describe_pod(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into());
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_else(|| "no node".into());
    let mut parts = vec![format!("phase {phase} on {node}")];
    for condition in status.and_then(|s| s.conditions.as_ref()).into_iter().flatten() {
        if condition.status != "True" {
            let reason = condition.reason.clone().unwrap_or_default();
            let message = condition.message.clone().unwrap_or_default();
            parts.push(format!("{} {}: {}", condition.type_, reason, message).trim().to_string());
        }
    }
    for container in status.and_then(|s| s.container_statuses.as_ref()).into_iter().flatten() {
        if let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            parts.push(format!(
                "container {} waiting: {} {}",
                container.name,
                waiting.reason.clone().unwrap_or_default(),
                waiting.message.clone().unwrap_or_default()
            ));
        }
    }
    parts.join("; ")
}

/// True once the pod is bound to a node.
pub fn pod_scheduled(pod: Option<&Pod>) -> bool {
    pod.and_then(|p| p.spec.as_ref()).and_then(|s| s.node_name.as_ref()).is_some()
}

/// True once the pod's Ready condition is true.
pub fn pod_ready(pod: Option<&Pod>) -> bool {
    pod.and_then(|p| p.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The scheduler's message when it could not place the pod (`PodScheduled=False`, reason `Unschedulable`).
pub fn unschedulable(pod: &Pod) -> Option<String> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let condition = conditions.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    (condition.reason.as_deref() == Some("Unschedulable")).then(|| condition.message.clone().unwrap_or_default())
}

/// True once the pod runs (or already finished successfully).
pub fn pod_running(pod: Option<&Pod>) -> bool {
    let phase = pod.and_then(|p| p.status.as_ref()).and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Running" | "Succeeded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_an_unschedulable_pod_with_the_scheduler_message() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
            }]}
        }))
        .unwrap();
        assert_eq!(
            describe_pod(&pod),
            "phase Pending on no node; PodScheduled Unschedulable: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
        );
        assert!(!pod_scheduled(Some(&pod)));
        assert!(!pod_running(Some(&pod)));
    }
}
