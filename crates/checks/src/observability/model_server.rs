//! `ai_service_metrics`' workload: a model server with vLLM's metrics (by default llm-d's inference
//! simulator, `ghcr.io/llm-d/llm-d-inference-sim`, which serves the OpenAI API on CPU and exports vLLM's
//! metric names), a Service in front of it, and its registration for scraping the way the platform
//! discovers workloads: a PodMonitor where the Prometheus Operator's API is served (carrying the labels the
//! cluster's Prometheus objects select PodMonitors by), a PodMonitoring where Google Cloud Managed Service
//! for Prometheus is served, and always the `prometheus.io/scrape|port|path` annotations.

use std::collections::BTreeMap;
use std::time::Instant;

use kube::api::{Api, DynamicObject, ListParams};
use serde_json::{Value, json};

use super::endpoint::{Endpoint, Headers};
use crate::capability::Capability;
use crate::check::{CheckContext, CheckError, create_dynamic, pinned_resource};
use crate::pods;

/// The key of `--probe-image` for the model server (`--probe-image model-server=IMAGE`).
pub const IMAGE_KEY: &str = "model-server";
/// llm-d's vLLM-compatible simulator, pinned by tag.
pub const DEFAULT_IMAGE: &str = "ghcr.io/llm-d/llm-d-inference-sim:v0.10.2";
/// The pod's and the Service's name.
pub const NAME: &str = "model-server";
/// The port it serves the API and `/metrics` on, and the port's name.
pub const PORT: i32 = 8000;
pub const PORT_NAME: &str = "http";
/// The model it serves: not a Hugging Face name, so the simulator needs no tokenizer download.
pub const MODEL: &str = "kaic-sim-model";
/// The label selecting it (with the run id).
const APP: (&str, &str) = ("app.kubernetes.io/name", "kaic-model-server");

/// The model server's image: `--probe-image model-server=IMAGE`, else the simulator.
pub fn image(ctx: &CheckContext) -> String {
    ctx.options.probe_image(IMAGE_KEY, DEFAULT_IMAGE)
}

/// The labels that select kaic's model server.
pub fn selector(ctx: &CheckContext) -> BTreeMap<String, String> {
    BTreeMap::from([(crate::labels::RUN_ID.to_string(), ctx.run_id.clone()), (APP.0.to_string(), APP.1.to_string())])
}

/// The model server pod: the simulator's own flags (`--model`, `--port`, echo mode, the dummy tokenizer),
/// the scrape annotations, a readiness probe on `/health`, hardened.
pub fn pod(ctx: &CheckContext) -> Value {
    let mut labels = ctx.labels();
    labels.extend(selector(ctx));
    let mut spec = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "containers": [{
            "name": "server",
            "image": image(ctx),
            "args": ["--model", MODEL, "--port", PORT.to_string(), "--mode", "echo", "--force-dummy-tokenizer"],
            "ports": [{"name": PORT_NAME, "containerPort": PORT}],
            "readinessProbe": {"httpGet": {"path": "/health", "port": PORT}, "periodSeconds": 2},
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}
        }]
    });
    pods::harden(&mut spec);
    json!({
        "metadata": {
            "name": NAME,
            "labels": labels,
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": PORT.to_string(), "prometheus.io/path": "/metrics"}
        },
        "spec": spec
    })
}

/// The Service in front of it.
pub fn service(ctx: &CheckContext) -> Value {
    json!({
        "metadata": {"name": NAME, "labels": ctx.labels()},
        "spec": {"selector": selector(ctx), "ports": [{"name": PORT_NAME, "port": PORT, "targetPort": PORT}]}
    })
}

/// A Prometheus Operator PodMonitor for it, with `extra` labels (what the cluster's Prometheus objects
/// select PodMonitors by).
pub fn pod_monitor(ctx: &CheckContext, extra: &BTreeMap<String, String>) -> Value {
    let mut labels = ctx.labels();
    labels.extend(extra.clone());
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": NAME, "namespace": ctx.namespace, "labels": labels},
        "spec": {
            "selector": {"matchLabels": selector(ctx)},
            "podMetricsEndpoints": [{"port": PORT_NAME, "path": "/metrics", "interval": "5s"}]
        }
    })
}

/// A Google Cloud Managed Service for Prometheus PodMonitoring for it.
pub fn pod_monitoring(ctx: &CheckContext) -> Value {
    json!({
        "apiVersion": "monitoring.googleapis.com/v1",
        "kind": "PodMonitoring",
        "metadata": {"name": NAME, "namespace": ctx.namespace, "labels": ctx.labels()},
        "spec": {
            "selector": {"matchLabels": selector(ctx)},
            "endpoints": [{"port": PORT_NAME, "path": "/metrics", "interval": "5s"}]
        }
    })
}

/// The `matchLabels` of the Prometheus objects' `podMonitorSelector`s, merged: a PodMonitor carrying them is
/// picked up by each Prometheus that selects by labels (kube-prometheus-stack selects `release: <name>`).
pub fn selected_labels(prometheuses: &[Value]) -> BTreeMap<String, String> {
    prometheuses
        .iter()
        .filter_map(|p| p["spec"]["podMonitorSelector"]["matchLabels"].as_object())
        .flat_map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())))
        .collect()
}

/// Registers the model server for scraping every way the cluster offers; returns what was registered.
///
/// # Errors
/// [`CheckError`] when an object the cluster's API serves cannot be created.
pub async fn register(ctx: &CheckContext) -> Result<Vec<String>, CheckError> {
    let mut done = vec!["prometheus.io/scrape, /port and /path annotations on the pod".to_string()];
    if ctx.capabilities.has(Capability::PrometheusOperator) {
        let prometheus = pinned_resource(ctx, "monitoring.coreos.com", "v1", "Prometheus").await?;
        let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &prometheus);
        let found = crate::list::all(&api, ListParams::default())
            .await
            .map_err(|e| CheckError::api("list Prometheus objects (monitoring.coreos.com)", e))?;
        let values: Vec<Value> = found.iter().filter_map(|p| serde_json::to_value(p).ok()).collect();
        let extra = selected_labels(&values);
        let resource = pinned_resource(ctx, "monitoring.coreos.com", "v1", "PodMonitor").await?;
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource);
        create_dynamic(ctx, &api, pod_monitor(ctx, &extra)).await?;
        let with = if extra.is_empty() {
            String::new()
        } else {
            format!(" labelled {}", extra.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
        };
        done.push(format!("a PodMonitor{with} ({} Prometheus object(s) in the cluster)", found.len()));
    }
    if ctx.capabilities.has(Capability::ManagedPrometheus) {
        let resource = pinned_resource(ctx, "monitoring.googleapis.com", "v1", "PodMonitoring").await?;
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource);
        create_dynamic(ctx, &api, pod_monitoring(ctx)).await?;
        done.push("a PodMonitoring (Google Cloud Managed Service for Prometheus)".to_string());
    }
    Ok(done)
}

/// The body of completion request `i`.
pub fn completion(i: u32) -> Value {
    json!({"model": MODEL, "prompt": format!("kaic conformance request {i}"), "max_tokens": 8, "temperature": 0})
}

/// Sends exactly `n` completions through the API server's service proxy, each with its own `X-Request-Id`;
/// returns when the last one was answered.
///
/// # Errors
/// The first request that was not answered with a completion, with what came back.
pub async fn send(ctx: &CheckContext, n: u32) -> Result<Instant, String> {
    let endpoint = Endpoint::service(&ctx.namespace, NAME, PORT_NAME, "");
    for i in 1..=n {
        let headers = Headers(vec![("X-Request-Id".into(), format!("kaic-{}-{i}", ctx.run_id))]);
        let answer = post_once(ctx, &endpoint, &headers, i).await.map_err(|e| format!("request {i} of {n}: {e}"))?;
        let json: Value = serde_json::from_str(&answer)
            .map_err(|e| format!("request {i} of {n} was answered with something else than JSON ({e}): {answer}"))?;
        if json["choices"].as_array().is_none_or(Vec::is_empty) {
            return Err(format!("request {i} of {n} was answered without a completion: {answer}"));
        }
    }
    Ok(Instant::now())
}

/// Posts completion `i`, asking again while the API server says the Service has no endpoint yet (its
/// EndpointSlice follows the pod's readiness by a moment): such a request never reached the server, so it
/// cannot be counted twice (and the server's own count is checked against N afterwards anyway).
async fn post_once(ctx: &CheckContext, endpoint: &Endpoint, headers: &Headers, i: u32) -> Result<String, String> {
    let mut tries = 0;
    loop {
        match endpoint.post_json(&ctx.client, headers, "/v1/completions", &completion(i)).await {
            Err(e) if tries < 15 && e.contains("no endpoints available") => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

/// The request counter the model server itself reports on `/metrics` (summed over its label sets).
pub fn served(metrics: &str, metric: &str) -> Option<f64> {
    let values: Vec<f64> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.strip_prefix(metric).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckOptions, from_json};

    #[tokio::test]
    async fn the_model_server_is_hardened_annotated_and_selected() {
        let ctx = CheckContext::offline("ai_service_metrics", CheckOptions::default());
        let manifest = pod(&ctx);
        assert_eq!(manifest["metadata"]["annotations"]["prometheus.io/scrape"], "true");
        assert_eq!(manifest["metadata"]["annotations"]["prometheus.io/port"], "8000");
        assert_eq!(manifest["metadata"]["labels"]["kaic.dev/run-id"], "r1");
        let container = &manifest["spec"]["containers"][0];
        assert_eq!(container["image"], DEFAULT_IMAGE);
        assert_eq!(
            container["args"],
            json!(["--model", MODEL, "--port", "8000", "--mode", "echo", "--force-dummy-tokenizer"])
        );
        assert_eq!(manifest["spec"]["securityContext"]["runAsNonRoot"], true);
        let _: k8s_openapi::api::core::v1::Pod = from_json(manifest).unwrap();
        let svc = service(&ctx);
        assert_eq!(svc["spec"]["selector"], json!(selector(&ctx)));
        let _: k8s_openapi::api::core::v1::Service = from_json(svc).unwrap();
    }

    #[tokio::test]
    async fn monitors_select_it_and_carry_what_prometheus_selects() {
        let ctx = CheckContext::offline("ai_service_metrics", CheckOptions::default());
        let prometheuses = vec![
            json!({"spec": {"podMonitorSelector": {"matchLabels": {"release": "kube-prometheus-stack"}}}}),
            json!({"spec": {"podMonitorSelector": {}}}),
        ];
        let extra = selected_labels(&prometheuses);
        let monitor = pod_monitor(&ctx, &extra);
        assert_eq!(monitor["metadata"]["labels"]["release"], "kube-prometheus-stack");
        assert_eq!(monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"], "kaic-model-server");
        assert_eq!(monitor["spec"]["podMetricsEndpoints"][0]["port"], "http");
        let gmp = pod_monitoring(&ctx);
        assert_eq!(gmp["spec"]["endpoints"][0]["port"], "http");
        let _: DynamicObject = from_json(monitor).unwrap();
    }

    #[test]
    fn reads_the_servers_own_counter() {
        let page = "# HELP vllm:request_success_total Count of successfully processed requests.\n\
                    # TYPE vllm:request_success_total counter\n\
                    vllm:request_success_total{finish_reason=\"length\",model_name=\"kaic-sim-model\"} 8\n\
                    vllm:request_success_total{finish_reason=\"stop\",model_name=\"kaic-sim-model\"} 2\n\
                    vllm:request_success_total_created 1.7e9\n";
        assert_eq!(served(page, "vllm:request_success_total"), Some(10.0));
        assert_eq!(served(page, "vllm:e2e_request_latency_seconds_count"), None);
        assert_eq!(completion(3)["prompt"], "kaic conformance request 3");
    }
}
