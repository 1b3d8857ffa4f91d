//! The Gateway API Inference Extension side of `advanced_inference_ingress`: the objects kaic creates (three
//! model servers selected by an InferencePool, the pool's endpoint picker with the permissions it needs, and
//! per GatewayClass an HTTPRoute whose backend is the pool) and reading the pool's status.
//!
//! The picker is the extension's own lightweight endpoint picker (lwepp), the one its conformance suite
//! deploys: it round-robins over the pool's ready pods, and a request carrying `test-epp-endpoint-selection:
//! <pod IP>[,<pod IP>]` makes it pick among those pods only. That header is how kaic tells the picker what to
//! decide, so that it can see whether the gateway does what the picker decided.

use serde_json::{Value, json};

use super::gateway::{self, MODEL_PORT, Names};
use crate::check::CheckContext;
use crate::pods;

pub const GROUP: &str = "inference.networking.k8s.io";
pub const VERSION: &str = "v1";

/// The resource of the InferencePool kind at `v1`.
pub fn pool_resource() -> kube::api::ApiResource {
    kube::api::ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk(GROUP, VERSION, "InferencePool"),
        "inferencepools",
    )
}

/// The pool and its picker (a pod, a Service and a service account of that name).
pub const POOL: &str = "kaic-pool";
pub const PICKER: &str = "kaic-endpoint-picker";
/// The model servers the pool selects.
pub const MEMBERS: [&str; 3] = ["pool-model-0", "pool-model-1", "pool-model-2"];
/// The label the pool selects its members by.
const MEMBER_LABEL: &str = "kaic.dev/inference-pool";
/// The picker's ext_proc port, and its health port.
pub const PICKER_PORT: u16 = 9002;
/// The request header lwepp narrows its choice by (pod IPs, comma-separated).
pub const SELECTION_HEADER: &str = "test-epp-endpoint-selection";
/// The key of `--probe-image` for the picker's image, and its default: the release the extension promoted.
pub const PICKER_IMAGE_KEY: &str = "endpoint-picker";
pub const DEFAULT_PICKER_IMAGE: &str = "registry.k8s.io/gateway-api-inference-extension/lwepp:v1.6.0";

/// A model server of the pool: the ai_inference model server (its responses name the pod), labelled for the pool.
pub fn member_pod(ctx: &CheckContext, name: &str) -> Value {
    let mut pod = gateway::model_pod(ctx, name);
    pod["metadata"]["labels"][MEMBER_LABEL] = json!(POOL);
    pod
}

/// The InferencePool: the members at the model servers' port, picked by kaic's picker (fail closed: without
/// the picker a request must not be served).
pub fn pool_manifest(ctx: &CheckContext) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "InferencePool",
        "metadata": {"name": POOL, "namespace": ctx.namespace, "labels": ctx.labels()},
        "spec": {
            "selector": {"matchLabels": {MEMBER_LABEL: POOL}},
            "targetPorts": [{"number": MODEL_PORT}],
            "endpointPickerRef": {"name": PICKER, "port": {"number": PICKER_PORT}, "failureMode": "FailClose"}
        }
    })
}

/// The picker's service account, and a Role and RoleBinding with what lwepp reads: the pool and its pods, in
/// the check's namespace only.
pub fn picker_access(ctx: &CheckContext) -> (Value, Value, Value) {
    let meta = json!({"name": PICKER, "namespace": ctx.namespace, "labels": ctx.labels()});
    let account = json!({"metadata": meta});
    let role = json!({
        "metadata": meta,
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [GROUP], "resources": ["inferencepools"], "verbs": ["get", "list", "watch"]}
        ]
    });
    let binding = json!({
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": PICKER},
        "subjects": [{"kind": "ServiceAccount", "name": PICKER, "namespace": ctx.namespace}]
    });
    (account, role, binding)
}

/// The picker's pod: lwepp for kaic's pool, with its defaults (ext_proc over TLS on 9002).
pub fn picker_pod(ctx: &CheckContext) -> Value {
    let image = ctx.options.probe_images.get(PICKER_IMAGE_KEY).cloned().unwrap_or_else(|| DEFAULT_PICKER_IMAGE.into());
    let mut labels = ctx.labels();
    labels.insert("kaic.dev/endpoint-picker".into(), PICKER.into());
    let spec = pods::hardened(json!({
        "serviceAccountName": PICKER,
        "terminationGracePeriodSeconds": 0,
        "containers": [{
            "name": "endpoint-picker",
            "image": image,
            "args": ["--pool-name", POOL, "--pool-namespace", ctx.namespace],
            "ports": [{"name": "grpc", "containerPort": PICKER_PORT}],
            "readinessProbe": {"tcpSocket": {"port": PICKER_PORT}, "periodSeconds": 2},
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}
        }]
    }));
    json!({"metadata": {"name": PICKER, "labels": labels}, "spec": spec})
}

/// The Service the pool's endpointPickerRef names.
pub fn picker_service(ctx: &CheckContext) -> Value {
    json!({
        "metadata": {"name": PICKER, "labels": ctx.labels()},
        "spec": {
            "selector": {"kaic.dev/endpoint-picker": PICKER},
            "ports": [{"name": "grpc", "port": PICKER_PORT, "targetPort": "grpc", "appProtocol": "http2"}]
        }
    })
}

/// The route of one class: every request on its hostname to the pool.
pub fn route_manifest(ctx: &CheckContext, names: &Names) -> Value {
    json!({
        "apiVersion": format!("{}/{}", gateway::GROUP, gateway::VERSION),
        "kind": "HTTPRoute",
        "metadata": {"name": names.route, "namespace": ctx.namespace, "labels": ctx.labels()},
        "spec": {
            "parentRefs": [{"name": names.gateway}],
            "hostnames": [names.host],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [{"group": GROUP, "kind": "InferencePool", "name": POOL}]
            }]
        }
    })
}

/// The pool's status entry for Gateway `gateway` (GAIE v1: `status.parents[].parentRef`).
pub fn pool_parent<'a>(pool: &'a Value, gateway: &str) -> Option<&'a Value> {
    pool["status"]["parents"].as_array()?.iter().find(|p| p["parentRef"]["name"] == gateway)
}

/// Whether the Gateway's controller accepted the pool as a backend (its parent entry Accepted).
pub fn pool_accepted(pool: &Value, gateway: &str) -> bool {
    pool_parent(pool, gateway).is_some_and(|p| gateway::is_true(&p["conditions"], "Accepted"))
}

/// The pool's state for Gateway `gateway`, for reports.
pub fn describe_pool(pool: &Value, gateway: &str) -> String {
    match pool_parent(pool, gateway) {
        Some(parent) => format!(
            "{}; {}",
            gateway::describe_condition(&parent["conditions"], "Accepted"),
            gateway::describe_condition(&parent["conditions"], "ResolvedRefs")
        ),
        None => format!("no status.parents entry for Gateway {gateway}"),
    }
}

/// Whether the route's controller explicitly refused it for Gateway `gateway`: Accepted or ResolvedRefs False.
pub fn route_refused(route: &Value, gateway: &str) -> bool {
    gateway::route_parent(route, gateway).is_some_and(|p| {
        ["Accepted", "ResolvedRefs"]
            .iter()
            .any(|t| gateway::condition(&p["conditions"], t).is_some_and(|(status, _, _)| status == "False"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pool_selects_its_members_and_names_its_picker() {
        let ctx = CheckContext::offline("advanced_inference_ingress", Default::default());
        let pool = pool_manifest(&ctx);
        let member = member_pod(&ctx, MEMBERS[0]);
        let (key, value) = pool["spec"]["selector"]["matchLabels"].as_object().unwrap().iter().next().unwrap();
        assert_eq!(&member["metadata"]["labels"][key], value);
        assert_eq!(pool["spec"]["targetPorts"][0]["number"], MODEL_PORT);
        assert_eq!(pool["spec"]["endpointPickerRef"]["name"], PICKER);
        let service = picker_service(&ctx);
        let picker = picker_pod(&ctx);
        let (k, v) = service["spec"]["selector"].as_object().unwrap().iter().next().unwrap();
        assert_eq!(&picker["metadata"]["labels"][k], v);
        assert_eq!(picker["spec"]["containers"][0]["image"], DEFAULT_PICKER_IMAGE);
        assert_eq!(picker["spec"]["containers"][0]["args"][3], ctx.namespace);
        let (_, role, binding) = picker_access(&ctx);
        assert_eq!(role["rules"][1]["resources"][0], "inferencepools");
        assert_eq!(binding["subjects"][0]["name"], PICKER);
        let route = route_manifest(&ctx, &Names::for_class(&ctx, "inference"));
        assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["kind"], "InferencePool");
    }

    #[test]
    fn reads_the_pool_and_route_statuses() {
        let pool = json!({"status": {"parents": [{"parentRef": {"name": "gw"}, "conditions": [
            {"type": "Accepted", "status": "True", "reason": "Accepted", "message": ""}]}]}});
        assert!(pool_accepted(&pool, "gw"));
        assert!(!pool_accepted(&pool, "other"));
        assert!(describe_pool(&pool, "other").contains("no status.parents entry"));
        let refused = json!({"status": {"parents": [{"parentRef": {"name": "gw"}, "conditions": [
            {"type": "Accepted", "status": "True"},
            {"type": "ResolvedRefs", "status": "False", "reason": "InvalidKind", "message": "InferencePool"}]}]}});
        assert!(route_refused(&refused, "gw"));
        assert!(!route_refused(&json!({}), "gw"));
    }
}
