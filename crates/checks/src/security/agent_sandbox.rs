//! The Agent Sandbox API (kubernetes-sigs/agent-sandbox, group `agents.x-k8s.io`, kind `Sandbox`) as a
//! solution of `workload_sandboxing`: where it is served, kaic creates a Sandbox of its own whose pod uses a
//! RuntimeClass that passed the sandbox probe, on the node it passed on, and waits for the Sandbox's `Ready`
//! condition (the controller sets it when the Sandbox's pod is ready). The API is served at `v1alpha1` and
//! `v1beta1`, both with `spec.podTemplate`; kaic uses the version the server prefers.

use std::time::Instant;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::node::v1::RuntimeClass;
use kaic_model::SolutionResult;
use kube::api::DynamicObject;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::runtime_classes::tolerations;
use super::workload_sandboxing::probe_image;
use crate::check::{CheckContext, CheckError, create_dynamic};
use crate::timeouts::Wait;
use crate::{pods, wait};

/// The solution's name in reports.
pub const NAME: &str = "Agent Sandbox";
pub const GROUP: &str = "agents.x-k8s.io";
/// kaic's Sandbox, in the check's namespace.
const SANDBOX: &str = "kaic-sandbox";

/// kaic's Sandbox: one long-running container, hardened, pinned to `node`, with `class`.
pub fn sandbox(ctx: &CheckContext, api_version: &str, class: &RuntimeClass, node: &Node) -> Value {
    let spec = pods::hardened(json!({
        "runtimeClassName": class.name_any(),
        "terminationGracePeriodSeconds": 0,
        "affinity": pods::pin_to(&node.name_any()),
        "tolerations": tolerations(node, Some(class)),
        "containers": [{"name": "sandbox", "image": probe_image(ctx), "command": ["sleep", "3600"]}]
    }));
    json!({
        "apiVersion": api_version, "kind": "Sandbox",
        "metadata": {"name": SANDBOX, "labels": ctx.labels()},
        "spec": {"podTemplate": {"metadata": {"labels": ctx.labels()}, "spec": spec}}
    })
}

/// Whether the Sandbox's `Ready` condition is `True`.
pub fn ready(sandbox: Option<&DynamicObject>) -> bool {
    conditions(sandbox).iter().any(|c| c["type"] == "Ready" && c["status"] == "True")
}

fn conditions(sandbox: Option<&DynamicObject>) -> Vec<Value> {
    let conditions = sandbox.and_then(|s| s.data.pointer("/status/conditions")).and_then(Value::as_array);
    conditions.cloned().unwrap_or_default()
}

/// The Sandbox's conditions in one line, for a timeout.
pub fn describe(sandbox: &DynamicObject) -> String {
    let all = conditions(Some(sandbox));
    if all.is_empty() {
        return "no conditions yet (is the agent-sandbox controller running?)".into();
    }
    let text = |c: &Value, key: &str| c[key].as_str().unwrap_or_default().to_string();
    let parts: Vec<String> = all
        .iter()
        .map(|c| {
            format!("{}={} {}: {}", text(c, "type"), text(c, "status"), text(c, "reason"), text(c, "message"))
                .trim_end_matches([' ', ':'])
                .to_string()
        })
        .collect();
    parts.join("; ")
}

/// Creates kaic's Sandbox with `class` on `node` and waits until it is Ready. A Sandbox that does not become
/// Ready is not operational (the API is there, nothing runs it), never a failure of the requirement.
///
/// # Errors
/// Only when kaic itself built an invalid object; API failures are the solution's error.
pub async fn exercise(ctx: &CheckContext, class: &RuntimeClass, node: &Node) -> Result<SolutionResult, CheckError> {
    let resource = match kube::discovery::group(&ctx.client, GROUP).await {
        Ok(group) => match group.recommended_kind("Sandbox") {
            Some((resource, _)) => resource,
            None => {
                return Ok(SolutionResult::not_operational(NAME, format!("{GROUP} is served without a Sandbox kind")));
            }
        },
        Err(e) => return Ok(SolutionResult::error(NAME, format!("discovery of {GROUP} failed: {e}"))),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource);
    let object = sandbox(ctx, &resource.api_version, class, node);
    let created = Instant::now();
    match create_dynamic(ctx, &api, object).await {
        Ok(_) => {}
        Err(CheckError::Api { what, message }) => {
            return Ok(SolutionResult::error(NAME, format!("failed to {what}: {message}")));
        }
        Err(other) => return Err(other),
    }
    ctx.step(format!(
        "Agent Sandbox: created Sandbox {SANDBOX} ({}) with RuntimeClass {}",
        resource.api_version,
        class.name_any()
    ));
    let waited = ctx.wait(Wait::OperatorReconcile);
    match wait::until(&api, SANDBOX, "the Sandbox to become Ready", waited, ready, describe).await {
        Ok(object) => {
            ctx.object(&format!("Sandbox-{SANDBOX}"), &object);
            let took = created.elapsed();
            ctx.record(|e| e.timing("Agent Sandbox: created to Ready", took));
            Ok(SolutionResult::pass(
                NAME,
                format!(
                    "Sandbox {SANDBOX} with RuntimeClass {} became Ready in {:.1}s",
                    class.name_any(),
                    took.as_secs_f64()
                ),
            ))
        }
        Err(CheckError::Timeout { last_seen, .. }) => Ok(SolutionResult::not_operational(
            NAME,
            format!(
                "Sandbox {SANDBOX} with RuntimeClass {} did not become Ready within {}s: {last_seen}",
                class.name_any(),
                waited.as_secs()
            ),
        )),
        Err(e) => Ok(SolutionResult::error(NAME, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckOptions;

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    #[tokio::test]
    async fn the_sandbox_uses_the_class_on_the_node_and_is_hardened() {
        let ctx = CheckContext::offline("workload_sandboxing", CheckOptions::default());
        let class: RuntimeClass =
            serde_json::from_value(json!({"metadata": {"name": "gvisor"}, "handler": "runsc"})).unwrap();
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "w"}})).unwrap();
        let sandbox = sandbox(&ctx, "agents.x-k8s.io/v1alpha1", &class, &node);
        assert_eq!(sandbox["kind"], "Sandbox");
        assert_eq!(sandbox["metadata"]["labels"]["kaic.dev/check"], "workload-sandboxing");
        let spec = &sandbox["spec"]["podTemplate"]["spec"];
        assert_eq!(spec["runtimeClassName"], "gvisor");
        assert_eq!(spec["affinity"], pods::pin_to("w"));
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        assert_eq!(spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"], false);
        let _: DynamicObject = serde_json::from_value(sandbox).unwrap();
    }

    #[test]
    fn ready_means_the_ready_condition_is_true() {
        let pending = object(
            json!({"apiVersion": "agents.x-k8s.io/v1alpha1", "kind": "Sandbox", "metadata": {"name": "s"},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "DependenciesNotReady", "message": "Pod is not ready"}]}}),
        );
        assert!(!ready(Some(&pending)));
        assert_eq!(describe(&pending), "Ready=False DependenciesNotReady: Pod is not ready");
        let done =
            object(json!({"apiVersion": "agents.x-k8s.io/v1alpha1", "kind": "Sandbox", "metadata": {"name": "s"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}));
        assert!(ready(Some(&done)));
        let fresh =
            object(json!({"apiVersion": "agents.x-k8s.io/v1alpha1", "kind": "Sandbox", "metadata": {"name": "s"}}));
        assert!(!ready(Some(&fresh)) && !ready(None));
        assert!(describe(&fresh).contains("is the agent-sandbox controller running?"));
    }
}
