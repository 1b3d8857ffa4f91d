//! The Gateway API Inference Extension side of `advanced_inference_ingress`: the objects kaic creates (two
//! InferencePools of three model servers each, each pool's endpoint picker with the permissions it needs, and
//! per GatewayClass an HTTPRoute whose backends are the pools) and reading a pool's status.
//!
//! The steered pool's picker is the extension's own lightweight endpoint picker (lwepp), the one its
//! conformance suite deploys: it round-robins over the pool's ready pods, and a request carrying
//! `test-epp-endpoint-selection: <pod IP>[,<pod IP>]` makes it pick among those pods only. That header is how
//! kaic tells the picker what to decide, so that it can see whether the gateway does what the picker decided.
//! The scored pool's picker is the extension's full one, which decides by its pods' load (`scored_pool.rs`).

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
/// The scored pool (whose picker decides by its pods' load) and the request header its route rule matches.
pub const SCORED_POOL: &str = "kaic-scored-pool";
pub const SCORED_HEADER: (&str, &str) = ("x-kaic-pool", "scored");
/// The key of `--probe-image` for the picker's image, and its default: the release the extension promoted.
pub const PICKER_IMAGE_KEY: &str = "endpoint-picker";
pub const DEFAULT_PICKER_IMAGE: &str = "registry.k8s.io/gateway-api-inference-extension/lwepp:v1.6.0";

/// The alpha API group of the extension's InferenceObjective and InferenceModelRewrite, which the full picker
/// watches where they are served.
pub const ALPHA_GROUP: &str = "inference.networking.x-k8s.io";

/// A model server of pool `pool`: the ai_inference model server (its responses name the pod), labelled for it.
pub fn member_pod(ctx: &CheckContext, name: &str, pool: &str) -> Value {
    let mut pod = gateway::model_pod(ctx, name);
    pod["metadata"]["labels"][MEMBER_LABEL] = json!(pool);
    pod
}

/// InferencePool `pool`: its members at the model servers' port, picked by `picker` (fail closed: without the
/// picker a request must not be served).
pub fn pool_manifest(ctx: &CheckContext, pool: &str, picker: &str) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "InferencePool",
        "metadata": {"name": pool, "namespace": ctx.namespace, "labels": ctx.labels()},
        "spec": {
            "selector": {"matchLabels": {MEMBER_LABEL: pool}},
            "targetPorts": [{"number": MODEL_PORT}],
            "endpointPickerRef": {"name": picker, "port": {"number": PICKER_PORT}, "failureMode": "FailClose"}
        }
    })
}

/// The pickers' service account (both pickers run as it), and a Role and RoleBinding with what they read, in
/// the check's namespace only: the pools and their pods, and the full picker's InferenceObjectives and
/// InferenceModelRewrites (it watches them where their API is served, and stops without the right).
pub fn picker_access(ctx: &CheckContext) -> (Value, Value, Value) {
    let meta = json!({"name": PICKER, "namespace": ctx.namespace, "labels": ctx.labels()});
    let account = json!({"metadata": meta});
    let role = json!({
        "metadata": meta,
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [GROUP], "resources": ["inferencepools"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [ALPHA_GROUP], "resources": ["inferenceobjectives", "inferencemodelrewrites"],
             "verbs": ["get", "list", "watch"]}
        ]
    });
    let binding = json!({
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": PICKER},
        "subjects": [{"kind": "ServiceAccount", "name": PICKER, "namespace": ctx.namespace}]
    });
    (account, role, binding)
}

/// The steered pool's picker: lwepp for kaic's pool, with its defaults (ext_proc over TLS on 9002).
pub fn picker_pod(ctx: &CheckContext) -> Value {
    let image = ctx.options.probe_image(PICKER_IMAGE_KEY, DEFAULT_PICKER_IMAGE);
    let args = vec!["--pool-name".to_string(), POOL.into(), "--pool-namespace".into(), ctx.namespace.clone()];
    picker_pod_of(ctx, PICKER, &image, args, Vec::new())
}

/// Picker pod `name`: `image` with `args`, serving ext_proc on [`PICKER_PORT`] and `extra_ports`, as the pickers'
/// service account; the Service of the same name selects it.
pub fn picker_pod_of(ctx: &CheckContext, name: &str, image: &str, args: Vec<String>, extra_ports: Vec<Value>) -> Value {
    let mut labels = ctx.labels();
    labels.insert("kaic.dev/endpoint-picker".into(), name.into());
    let mut ports = vec![json!({"name": "grpc", "containerPort": PICKER_PORT})];
    ports.extend(extra_ports);
    let spec = pods::hardened(json!({
        "serviceAccountName": PICKER,
        "terminationGracePeriodSeconds": 0,
        "containers": [{
            "name": "endpoint-picker",
            "image": image,
            "args": args,
            "ports": ports,
            "readinessProbe": {"tcpSocket": {"port": PICKER_PORT}, "periodSeconds": 2},
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}
        }]
    }));
    json!({"metadata": {"name": name, "labels": labels}, "spec": spec})
}

/// The Service an endpointPickerRef names: picker pod `picker`'s ext_proc port.
pub fn picker_service(ctx: &CheckContext, picker: &str) -> Value {
    json!({
        "metadata": {"name": picker, "labels": ctx.labels()},
        "spec": {
            "selector": {"kaic.dev/endpoint-picker": picker},
            "ports": [{"name": "grpc", "port": PICKER_PORT, "targetPort": "grpc", "appProtocol": "http2"}]
        }
    })
}

/// The route of one class: requests on its hostname carrying [`SCORED_HEADER`] to the scored pool, every other
/// request to the steered pool.
pub fn route_manifest(ctx: &CheckContext, names: &Names) -> Value {
    let (header, value) = SCORED_HEADER;
    json!({
        "apiVersion": format!("{}/{}", gateway::GROUP, gateway::VERSION),
        "kind": "HTTPRoute",
        "metadata": {"name": names.route, "namespace": ctx.namespace, "labels": ctx.labels()},
        "spec": {
            "parentRefs": [{"name": names.gateway}],
            "hostnames": [names.host],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"group": GROUP, "kind": "InferencePool", "name": POOL}]
                },
                {
                    "matches": [{
                        "path": {"type": "PathPrefix", "value": "/"},
                        "headers": [{"type": "Exact", "name": header, "value": value}]
                    }],
                    "backendRefs": [{"group": GROUP, "kind": "InferencePool", "name": SCORED_POOL}]
                }
            ]
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
        let pool = pool_manifest(&ctx, POOL, PICKER);
        let member = member_pod(&ctx, MEMBERS[0], POOL);
        let (key, value) = pool["spec"]["selector"]["matchLabels"].as_object().unwrap().iter().next().unwrap();
        assert_eq!(&member["metadata"]["labels"][key], value);
        assert_eq!(pool["spec"]["targetPorts"][0]["number"], MODEL_PORT);
        assert_eq!(pool["spec"]["endpointPickerRef"]["name"], PICKER);
        let service = picker_service(&ctx, PICKER);
        let picker = picker_pod(&ctx);
        let (k, v) = service["spec"]["selector"].as_object().unwrap().iter().next().unwrap();
        assert_eq!(&picker["metadata"]["labels"][k], v);
        assert_eq!(picker["spec"]["containers"][0]["image"], DEFAULT_PICKER_IMAGE);
        assert_eq!(picker["spec"]["containers"][0]["args"][3], ctx.namespace);
        let (_, role, binding) = picker_access(&ctx);
        assert_eq!(role["rules"][1]["resources"][0], "inferencepools");
        assert_eq!(role["rules"][2]["resources"][0], "inferenceobjectives");
        assert_eq!(binding["subjects"][0]["name"], PICKER);
        let route = route_manifest(&ctx, &Names::for_class(&ctx, "inference"));
        assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["kind"], "InferencePool");
        assert_eq!(route["spec"]["rules"][1]["backendRefs"][0]["name"], SCORED_POOL);
        assert_eq!(route["spec"]["rules"][1]["matches"][0]["headers"][0]["name"], SCORED_HEADER.0);
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
