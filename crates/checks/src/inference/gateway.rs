//! The Gateway API side of `ai_inference`: which GatewayClasses a controller accepted, the objects kaic
//! creates (two model-server pods and their Services, then for each class a Gateway and an HTTPRoute with a
//! header rule and an 80/20 weighted rule), reading their status conditions, and the addresses the Gateway
//! reports.

use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::{Value, json};

use crate::check::{CheckContext, CheckError};
use crate::{list, pods};

pub const GROUP: &str = "gateway.networking.k8s.io";
pub const VERSION: &str = "v1";

/// The resource of one Gateway API kind at `v1`.
pub fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, kind), plural)
}

/// The backends: the stable model server gets the default rule's major weight, the canary the minor weight and
/// every request with the header.
pub const STABLE: &str = "model-stable";
pub const CANARY: &str = "model-canary";
/// The model both backends serve.
pub const MODEL: &str = "kaic-model";
/// The port the model servers listen on.
pub const MODEL_PORT: u16 = 8000;
/// The OpenAI-style routing header and the value that selects the canary.
pub const HEADER: (&str, &str) = ("x-model-variant", "canary");
/// The canary's share of the weighted rule.
pub const CANARY_WEIGHT: u32 = 20;
pub const STABLE_WEIGHT: u32 = 80;
/// The response header llm-d's simulator sets to its pod's name (env `POD_NAME`).
pub const POD_HEADER: &str = "x-inference-pod";

/// The names of kaic's Gateway and HTTPRoute for one GatewayClass, and the route's hostname: unique to the
/// class and the check's namespace, so that implementations sharing one data plane between Gateways
/// (Traefik's entrypoints) never merge kaic's route with another class's or run's on the same port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub gateway: String,
    pub route: String,
    /// Requests carry it as `Host`.
    pub host: String,
}

impl Names {
    pub fn for_class(ctx: &CheckContext, class: &str) -> Self {
        // Class names are DNS subdomains; object names and host labels get a plain, short form of it.
        let mut label: String =
            class.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        label.truncate(40);
        let label = label.trim_matches('-').to_string();
        Self {
            gateway: format!("kaic-gateway-{label}"),
            route: format!("kaic-route-{label}"),
            host: format!("{label}.{}.kaic.test", ctx.namespace),
        }
    }
}

/// The listener port for a controller: implementations that bind the Gateway's listener port in a fixed data
/// plane need one of theirs (Traefik maps a listener to the entrypoint with that port: `web` is 8000 in its
/// Helm chart); the others provision a listener on any port, 80 by convention.
pub fn listener_port(controller: &str) -> u16 {
    match controller {
        "traefik.io/gateway-controller" => 8000,
        _ => 80,
    }
}

/// The condition `type` of an object's `status.conditions` (or of the list at `conditions`): (status, reason,
/// message).
pub fn condition<'a>(conditions: &'a Value, type_: &str) -> Option<(&'a str, &'a str, &'a str)> {
    conditions.as_array()?.iter().find(|c| c["type"] == type_).map(|c| {
        (c["status"].as_str().unwrap_or(""), c["reason"].as_str().unwrap_or(""), c["message"].as_str().unwrap_or(""))
    })
}

/// Whether condition `type_` is True.
pub fn is_true(conditions: &Value, type_: &str) -> bool {
    condition(conditions, type_).is_some_and(|(status, _, _)| status == "True")
}

/// `Accepted=False (InvalidParameters: …)`, or `no Accepted condition`, for reports.
pub fn describe_condition(conditions: &Value, type_: &str) -> String {
    match condition(conditions, type_) {
        Some((status, reason, message)) => format!("{type_}={status} ({reason}: {message})"),
        None => format!("no {type_} condition"),
    }
}

/// A GatewayClass as kaic sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub name: String,
    pub controller: String,
    pub accepted: bool,
    /// Its Accepted condition, in words.
    pub state: String,
}

pub fn class_of(object: &DynamicObject) -> Class {
    let conditions = &object.data["status"]["conditions"];
    Class {
        name: object.metadata.name.clone().unwrap_or_default(),
        controller: object.data["spec"]["controllerName"].as_str().unwrap_or_default().to_string(),
        accepted: is_true(conditions, "Accepted"),
        state: describe_condition(conditions, "Accepted"),
    }
}

/// The Gateway's addresses as `host:port` for `port`, IP addresses first, then hostnames (which kaic resolves
/// as any client would).
pub fn gateway_addresses(gateway: &Value, port: u16) -> Vec<String> {
    let mut ips = Vec::new();
    let mut names = Vec::new();
    for address in gateway["status"]["addresses"].as_array().into_iter().flatten() {
        let Some(value) = address["value"].as_str().filter(|v| !v.is_empty()) else { continue };
        match address["type"].as_str().unwrap_or("IPAddress") {
            "IPAddress" if value.contains(':') => ips.push(format!("[{value}]:{port}")),
            "IPAddress" => ips.push(format!("{value}:{port}")),
            "Hostname" => names.push(format!("{value}:{port}")),
            _ => {}
        }
    }
    ips.extend(names);
    ips
}

/// The most Accepted GatewayClasses a check exercises in one run (each may provision a load balancer).
pub const MAX_CLASSES: usize = 3;

/// The GatewayClasses a check exercises: the first [`MAX_CLASSES`] a controller Accepted, by name; the Accepted
/// ones beyond them, named for the report; and every class in words (none Accepted: `exercised` is empty).
pub struct Classes {
    pub exercised: Vec<Class>,
    pub unexercised: Vec<String>,
    pub described: String,
}

/// Lists the GatewayClasses (its step is written here: both checks that send traffic through Gateways start
/// from it).
pub async fn accepted_classes(ctx: &CheckContext) -> Result<Classes, CheckError> {
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &resource("GatewayClass", "gatewayclasses"));
    let mut classes: Vec<Class> = list::all(&api, ListParams::default())
        .await
        .map_err(|e| CheckError::api("list GatewayClasses", e))?
        .iter()
        .map(class_of)
        .collect();
    classes.sort_by(|a, b| a.name.cmp(&b.name));
    let described: Vec<String> =
        classes.iter().map(|c| format!("{} (controller {}, {})", c.name, c.controller, c.state)).collect();
    let described = if described.is_empty() { "there is none".to_string() } else { described.join("; ") };
    ctx.step(format!("GatewayClasses: {described}"));
    let mut exercised: Vec<Class> = classes.into_iter().filter(|c| c.accepted).collect();
    let unexercised = exercised
        .split_off(exercised.len().min(MAX_CLASSES))
        .iter()
        .map(|c| format!("GatewayClass {} (beyond the first {MAX_CLASSES})", c.name))
        .collect();
    Ok(Classes { exercised, unexercised, described })
}

/// Polls the object `name` every second until `done` holds or `timeout` passes; returns whether it held and
/// the last object seen (as JSON).
pub async fn poll(
    api: &Api<DynamicObject>,
    name: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Result<(bool, Value), CheckError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let object = api.get(name).await.map_err(|e| CheckError::api(format!("get {name}"), e))?;
        let value = serde_json::to_value(&object).unwrap_or_default();
        if done(&value) {
            return Ok((true, value));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok((false, value));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether the route's status has a parent entry for Gateway `gateway` with Accepted and ResolvedRefs True.
pub fn route_accepted(route: &Value, gateway: &str) -> bool {
    route_parent(route, gateway)
        .is_some_and(|p| is_true(&p["conditions"], "Accepted") && is_true(&p["conditions"], "ResolvedRefs"))
}

/// The route's status entry for Gateway `gateway`.
pub fn route_parent<'a>(route: &'a Value, gateway: &str) -> Option<&'a Value> {
    route["status"]["parents"].as_array()?.iter().find(|p| p["parentRef"]["name"] == gateway)
}

/// The route's state for reports: its parent's Accepted and ResolvedRefs conditions, or that no controller
/// wrote any status.
pub fn describe_route(route: &Value, gateway: &str) -> String {
    match route_parent(route, gateway) {
        Some(parent) => format!(
            "{}; {}",
            describe_condition(&parent["conditions"], "Accepted"),
            describe_condition(&parent["conditions"], "ResolvedRefs")
        ),
        None => format!("no controller wrote a status for parent Gateway {gateway}"),
    }
}

/// The Gateway's state for reports.
pub fn describe_gateway(gateway: &Value) -> String {
    let conditions = &gateway["status"]["conditions"];
    let addresses: Vec<&str> =
        gateway["status"]["addresses"].as_array().into_iter().flatten().filter_map(|a| a["value"].as_str()).collect();
    format!(
        "{}; {}; addresses: {}",
        describe_condition(conditions, "Accepted"),
        describe_condition(conditions, "Programmed"),
        if addresses.is_empty() { "none".to_string() } else { addresses.join(", ") }
    )
}

/// A model-server pod named `name` (its responses carry `x-inference-pod: name`).
pub fn model_pod(ctx: &CheckContext, name: &str) -> Value {
    // The same image (and `--probe-image model-server=`) as ai_service_metrics' model server: llm-d's vLLM
    // simulator names its pod in every response.
    let image = crate::observability::model_server::image(ctx);
    let mut labels = ctx.labels();
    labels.insert("kaic.dev/model-backend".into(), name.into());
    let spec = pods::hardened(json!({
        "terminationGracePeriodSeconds": 0,
        "containers": [{
            "name": "model-server",
            "image": image,
            // A dummy tokenizer: the simulator otherwise asks a model hub for MODEL's tokenizer at start, which
            // waits for a TCP timeout where egress is dropped.
            "args": ["--model", MODEL, "--port", MODEL_PORT.to_string(), "--force-dummy-tokenizer"],
            "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "ports": [{"name": "http", "containerPort": MODEL_PORT}],
            "readinessProbe": {"tcpSocket": {"port": MODEL_PORT}, "periodSeconds": 2},
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
        }]
    }));
    json!({"metadata": {"name": name, "labels": labels}, "spec": spec})
}

/// The Service in front of model pod `name`.
pub fn model_service(ctx: &CheckContext, name: &str) -> Value {
    json!({
        "metadata": {"name": name, "labels": ctx.labels()},
        "spec": {
            "selector": {"kaic.dev/model-backend": name},
            "ports": [{"name": "http", "port": MODEL_PORT, "targetPort": "http"}]
        }
    })
}

/// kaic's Gateway of `class`: one HTTP listener on `port`, routes from its own namespace only.
pub fn gateway_manifest(ctx: &CheckContext, names: &Names, class: &str, port: u16) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "Gateway",
        "metadata": {"name": names.gateway, "namespace": ctx.namespace, "labels": ctx.labels()},
        "spec": {
            "gatewayClassName": class,
            "listeners": [{"name": "http", "protocol": "HTTP", "port": port,
                           "allowedRoutes": {"namespaces": {"from": "Same"}}}]
        }
    })
}

/// The route: requests with the header go to the canary only; all others split 80/20 between stable and canary.
pub fn route_manifest(ctx: &CheckContext, names: &Names) -> Value {
    let backend = |name: &str, weight: u32| json!({"name": name, "port": MODEL_PORT, "weight": weight});
    json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "HTTPRoute",
        "metadata": {"name": names.route, "namespace": ctx.namespace, "labels": ctx.labels()},
        "spec": {
            "parentRefs": [{"name": names.gateway}],
            "hostnames": [names.host],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"},
                                 "headers": [{"type": "Exact", "name": HEADER.0, "value": HEADER.1}]}],
                    "backendRefs": [backend(CANARY, 1)]
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [backend(STABLE, STABLE_WEIGHT), backend(CANARY, CANARY_WEIGHT)]
                }
            ]
        }
    })
}

/// The completion request kaic sends (small: the point is the route, not the model).
pub fn completion_body() -> String {
    json!({"model": MODEL, "prompt": "kaic", "max_tokens": 2}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_put_ips_first_and_bracket_ipv6() {
        let gw = json!({"status": {"addresses": [
            {"type": "Hostname", "value": "gw.example.com"},
            {"type": "IPAddress", "value": "10.0.0.5"},
            {"value": "fd00::1"},
            {"type": "example.com/custom", "value": "x"},
            {"type": "IPAddress", "value": ""}
        ]}});
        assert_eq!(gateway_addresses(&gw, 8000), vec!["10.0.0.5:8000", "[fd00::1]:8000", "gw.example.com:8000"]);
        assert!(gateway_addresses(&json!({"status": {}}), 80).is_empty());
    }

    #[test]
    fn reads_conditions_of_classes_routes_and_gateways() {
        let class: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "traefik"},
            "spec": {"controllerName": "traefik.io/gateway-controller"},
            "status": {"conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "ok"}]}
        }))
        .unwrap();
        let seen = class_of(&class);
        assert!(seen.accepted);
        assert_eq!(seen.state, "Accepted=True (Accepted: ok)");
        assert_eq!(listener_port(&seen.controller), 8000);
        assert_eq!(listener_port("gateway.envoyproxy.io/gatewayclass-controller"), 80);
        let route = json!({"status": {"parents": [{"parentRef": {"name": "kaic-gateway-traefik"}, "conditions": [
            {"type": "Accepted", "status": "True"},
            {"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound", "message": "service model-canary"}
        ]}]}});
        assert!(!route_accepted(&route, "kaic-gateway-traefik"));
        assert_eq!(
            describe_route(&route, "kaic-gateway-traefik"),
            "Accepted=True (: ); ResolvedRefs=False (BackendNotFound: service model-canary)"
        );
        assert!(describe_route(&json!({}), "kaic-gateway-traefik").contains("no controller wrote a status"));
        assert!(describe_route(&route, "kaic-gateway-naive").contains("for parent Gateway kaic-gateway-naive"));
        assert_eq!(describe_gateway(&json!({})), "no Accepted condition; no Programmed condition; addresses: none");
    }

    #[tokio::test]
    async fn the_route_sends_the_header_to_the_canary_and_splits_the_rest() {
        let ctx = CheckContext::offline("ai_inference", Default::default());
        let names = Names::for_class(&ctx, "Example.com/GW_1");
        assert_eq!(names.gateway, "kaic-gateway-example-com-gw-1");
        let route = route_manifest(&ctx, &names);
        let rules = route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules[0]["matches"][0]["headers"][0]["name"], HEADER.0);
        assert_eq!(route["spec"]["parentRefs"][0]["name"], "kaic-gateway-example-com-gw-1");
        assert_eq!(route["spec"]["hostnames"][0], "example-com-gw-1.ns.kaic.test");
        assert_eq!(rules[0]["backendRefs"][0]["name"], CANARY);
        let weights: Vec<(String, u64)> = rules[1]["backendRefs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["name"].as_str().unwrap().to_string(), b["weight"].as_u64().unwrap()))
            .collect();
        assert_eq!(weights, vec![(STABLE.to_string(), 80), (CANARY.to_string(), 20)]);
        let pod = model_pod(&ctx, STABLE);
        assert_eq!(pod["spec"]["containers"][0]["env"][0]["name"], "POD_NAME");
        let args = pod["spec"]["containers"][0]["args"].as_array().unwrap();
        assert!(args.contains(&json!("--force-dummy-tokenizer")), "no call to a model hub: {args:?}");
        assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
        assert_eq!(gateway_manifest(&ctx, &names, "traefik", 8000)["spec"]["listeners"][0]["port"], 8000);
    }
}
