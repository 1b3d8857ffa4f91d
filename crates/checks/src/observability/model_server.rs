//! `ai_service_metrics`' workload: a model server with vLLM's metrics (by default llm-d's inference
//! simulator, `ghcr.io/llm-d/llm-d-inference-sim`, which serves the OpenAI API on CPU and exports vLLM's
//! metric names), a Service in front of it, and its registration for scraping, one way, the way the platform
//! discovers workloads ([`choose`], also used by `pod_autoscaling`): a PodMonitor where a Prometheus
//! Operator's Prometheus selects it in kaic's namespace (carrying the labels it selects PodMonitors by), else a
//! PodMonitoring where Google Cloud Managed Service for Prometheus is served and may be what is read, else the
//! `prometheus.io/scrape|port|path` annotations.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::{Value, json};

use super::endpoint::{Endpoint, Headers};
use crate::capability::Capability;
use crate::check::{CheckContext, CheckError, create_dynamic, pinned_resource};
use crate::pods;
use crate::scheduling::gang_scheduling::kueue_plan::selector_matches;

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
/// the registration's annotations, a readiness probe on `/health`, hardened.
pub fn pod(ctx: &CheckContext, registration: &Registration) -> Value {
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
            "annotations": registration.annotations()
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

/// Which monitoring system reads what kaic registers: it decides how a pod is registered when several
/// mechanisms are served (GKE serves Google Cloud Managed Service for Prometheus's PodMonitoring on most
/// clusters, whatever else collects the workloads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// A Prometheus-compatible server kaic found in the cluster (or prometheus-adapter's Prometheus): it
    /// collects by its own configuration (Prometheus Operator objects, or annotations), never PodMonitorings.
    Prometheus,
    /// Google Cloud Managed Service for Prometheus (`monitoring.googleapis.com`), or the Stackdriver adapter
    /// reading it: managed collection reads PodMonitorings only.
    Gmp,
    /// Something kaic cannot tell (a `--prometheus-url` elsewhere, an unrecognised metrics adapter).
    Unknown,
}

/// The one way kaic registers a pod for scraping. Registering several ways at once makes a pod collected
/// by two jobs wherever two mechanisms are live (kube-prometheus-stack with the common annotation job), so
/// kaic registers once, the way the platform discovers workloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// A Prometheus Operator PodMonitor carrying these labels (what a Prometheus selecting kaic's namespace
    /// selects PodMonitors by).
    PodMonitor(BTreeMap<String, String>),
    /// A Google Cloud Managed Service for Prometheus PodMonitoring.
    PodMonitoring,
    /// The `prometheus.io/scrape|port|path` annotations on the pod (the community chart's convention).
    Annotations,
}

impl Registration {
    /// The pod's annotations under this registration (none but under [`Registration::Annotations`]).
    pub fn annotations(&self) -> Value {
        match self {
            Self::Annotations => json!({
                "prometheus.io/scrape": "true", "prometheus.io/port": PORT.to_string(), "prometheus.io/path": "/metrics"
            }),
            _ => json!({}),
        }
    }

    /// In words, for the report.
    pub fn describe(&self) -> String {
        match self {
            Self::PodMonitor(labels) if labels.is_empty() => "a PodMonitor (monitoring.coreos.com)".into(),
            Self::PodMonitor(labels) => format!(
                "a PodMonitor (monitoring.coreos.com) labelled {}",
                labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
            ),
            Self::PodMonitoring => "a PodMonitoring (Google Cloud Managed Service for Prometheus)".into(),
            Self::Annotations => "prometheus.io/scrape, /port and /path annotations on the pod".into(),
        }
    }
}

/// A label selector in JSON (`null` stays `None`: it matches nothing, see [`selector_matches`]).
fn label_selector(value: &Value) -> Option<LabelSelector> {
    serde_json::from_value(value.clone()).ok().filter(|_| !value.is_null())
}

/// How to register a pod, from what the cluster serves and who reads it: `prometheuses` are the Prometheus
/// Operator's Prometheus objects (`None` where PodMonitors are not served), `namespace` the labels of kaic's
/// namespace, `pod_monitorings` whether PodMonitorings are served. A PodMonitor where a Prometheus picks it
/// up in kaic's namespace, a PodMonitoring where GMP is served and may be what is read, else the annotations.
///
/// A Prometheus picks up a PodMonitor when its `podMonitorNamespaceSelector` selects the namespace and its
/// `podMonitorSelector` the PodMonitor's labels; null selects nothing, or only the Prometheus' own namespace
/// (the Prometheus Operator's API), so kaic's PodMonitor carries the `matchLabels` asked for
/// (kube-prometheus-stack asks `release: <name>`, with `podMonitorNamespaceSelector: {}`).
pub fn choose(
    prometheuses: Option<&[Value]>,
    namespace: &BTreeMap<String, String>,
    pod_monitorings: bool,
    reader: Reader,
) -> Registration {
    let pod_monitor = prometheuses.and_then(|all| {
        let reaching: Vec<&Value> = all
            .iter()
            .filter(|p| selector_matches(label_selector(&p["spec"]["podMonitorNamespaceSelector"]).as_ref(), namespace))
            .collect();
        let labels = selected_labels(&reaching);
        reaching
            .iter()
            .any(|p| selector_matches(label_selector(&p["spec"]["podMonitorSelector"]).as_ref(), &labels))
            .then_some(Registration::PodMonitor(labels))
    });
    let gmp = pod_monitorings.then_some(Registration::PodMonitoring);
    let chosen = match reader {
        Reader::Gmp => gmp.or(pod_monitor),
        Reader::Unknown => pod_monitor.or(gmp),
        Reader::Prometheus => pod_monitor,
    };
    chosen.unwrap_or(Registration::Annotations)
}

/// Reads what [`choose`] needs from the cluster and chooses.
///
/// # Errors
/// [`CheckError::Api`] when the Prometheus objects or kaic's namespace cannot be read.
pub async fn registration(ctx: &CheckContext, reader: Reader) -> Result<Registration, CheckError> {
    let prometheuses = if ctx.capabilities.has(Capability::PrometheusOperator) {
        let prometheus = pinned_resource(ctx, "monitoring.coreos.com", "v1", "Prometheus").await?;
        let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &prometheus);
        let found = crate::list::all(&api, ListParams::default())
            .await
            .map_err(|e| CheckError::api("list Prometheus objects (monitoring.coreos.com)", e))?;
        Some(found.iter().filter_map(|p| serde_json::to_value(p).ok()).collect::<Vec<Value>>())
    } else {
        None
    };
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    let namespace = namespaces
        .get(&ctx.namespace)
        .await
        .map_err(|e| CheckError::api(format!("read namespace {}", ctx.namespace), e))?;
    let labels = namespace.metadata.labels.unwrap_or_default();
    let pod_monitorings = ctx.capabilities.has(Capability::ManagedPrometheus);
    Ok(choose(prometheuses.as_deref(), &labels, pod_monitorings, reader))
}

/// A Prometheus Operator PodMonitor named `name` for the pods `selector` selects, with `extra` labels
/// (what the cluster's Prometheus objects select PodMonitors by).
pub fn pod_monitor(
    ctx: &CheckContext,
    name: &str,
    selector: &BTreeMap<String, String>,
    extra: &BTreeMap<String, String>,
) -> Value {
    let mut labels = ctx.labels();
    labels.extend(extra.clone());
    json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": name, "namespace": ctx.namespace, "labels": labels},
        "spec": {
            "selector": {"matchLabels": selector},
            "podMetricsEndpoints": [{"port": PORT_NAME, "path": "/metrics", "interval": "5s"}]
        }
    })
}

/// A Google Cloud Managed Service for Prometheus PodMonitoring named `name` for the pods `selector` selects.
pub fn pod_monitoring(ctx: &CheckContext, name: &str, selector: &BTreeMap<String, String>) -> Value {
    json!({
        "apiVersion": "monitoring.googleapis.com/v1",
        "kind": "PodMonitoring",
        "metadata": {"name": name, "namespace": ctx.namespace, "labels": ctx.labels()},
        "spec": {
            "selector": {"matchLabels": selector},
            "endpoints": [{"port": PORT_NAME, "path": "/metrics", "interval": "5s"}]
        }
    })
}

/// The `matchLabels` of the Prometheus objects' `podMonitorSelector`s, merged: a PodMonitor carrying them is
/// picked up by each Prometheus that selects by labels (kube-prometheus-stack selects `release: <name>`).
pub fn selected_labels(prometheuses: &[&Value]) -> BTreeMap<String, String> {
    prometheuses
        .iter()
        .filter_map(|p| p["spec"]["podMonitorSelector"]["matchLabels"].as_object())
        .flat_map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())))
        .collect()
}

/// Creates the object `registration` needs for the pods `selector` selects (named `name`); the annotations
/// are the pod's own ([`Registration::annotations`]). Returns what was registered, in words.
///
/// # Errors
/// [`CheckError`] when the object cannot be created.
pub async fn register(
    ctx: &CheckContext,
    registration: &Registration,
    name: &str,
    selector: &BTreeMap<String, String>,
) -> Result<String, CheckError> {
    let (group, kind, manifest) = match registration {
        Registration::Annotations => return Ok(registration.describe()),
        Registration::PodMonitor(extra) => {
            ("monitoring.coreos.com", "PodMonitor", pod_monitor(ctx, name, selector, extra))
        }
        Registration::PodMonitoring => {
            ("monitoring.googleapis.com", "PodMonitoring", pod_monitoring(ctx, name, selector))
        }
    };
    let resource = pinned_resource(ctx, group, "v1", kind).await?;
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource);
    create_dynamic(ctx, &api, manifest).await?;
    Ok(registration.describe())
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

/// The label names the model server itself puts on `metric` on its own `/metrics`: every other label of a
/// collected series comes from the collection (job, instance, namespace, pod, an HA replica's label, …), so
/// series that differ only in those were collected separately, and ones that differ in these are parts of
/// one count (vLLM splits its request counter by `finish_reason`).
pub fn own_labels(metrics: &str, metric: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let Some(mut rest) = line.strip_prefix(metric).and_then(|r| r.strip_prefix('{')) else { continue };
        // name="value" pairs; a value may hold commas, braces and escaped quotes.
        while let Some((name, after)) = rest.split_once('=') {
            names.insert(name.trim_start_matches(',').trim().to_string());
            let Some(value) = after.strip_prefix('"') else { break };
            let mut escaped = false;
            let Some(end) = value.char_indices().find_map(|(i, c)| {
                let closes = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                closes.then_some(i)
            }) else {
                break;
            };
            rest = &value[end + 1..];
            if rest.starts_with('}') {
                break;
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckOptions, from_json};

    #[tokio::test]
    async fn the_model_server_is_hardened_selected_and_annotated_only_when_so_registered() {
        let ctx = CheckContext::offline("ai_service_metrics", CheckOptions::default());
        let manifest = pod(&ctx, &Registration::Annotations);
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
        let monitored = pod(&ctx, &Registration::PodMonitor(BTreeMap::new()));
        assert_eq!(monitored["metadata"]["annotations"], json!({}), "one registration, not two");
        assert_eq!(pod(&ctx, &Registration::PodMonitoring)["metadata"]["annotations"], json!({}));
        let svc = service(&ctx);
        assert_eq!(svc["spec"]["selector"], json!(selector(&ctx)));
        let _: k8s_openapi::api::core::v1::Service = from_json(svc).unwrap();
    }

    #[tokio::test]
    async fn monitors_select_it_and_carry_what_prometheus_selects() {
        let ctx = CheckContext::offline("ai_service_metrics", CheckOptions::default());
        let extra = BTreeMap::from([("release".to_string(), "kube-prometheus-stack".to_string())]);
        let monitor = pod_monitor(&ctx, NAME, &selector(&ctx), &extra);
        assert_eq!(monitor["metadata"]["labels"]["release"], "kube-prometheus-stack");
        assert_eq!(monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"], "kaic-model-server");
        assert_eq!(monitor["spec"]["podMetricsEndpoints"][0]["port"], "http");
        let gmp = pod_monitoring(&ctx, NAME, &selector(&ctx));
        assert_eq!(gmp["spec"]["endpoints"][0]["port"], "http");
        assert_eq!(gmp["spec"]["selector"]["matchLabels"]["kaic.dev/run-id"], "r1");
        let _: DynamicObject = from_json(monitor).unwrap();
        let _: DynamicObject = from_json(gmp).unwrap();
    }

    /// A Prometheus object as kube-prometheus-stack renders it (`release` label, every namespace) or as
    /// given: `pods` is its `podMonitorSelector`, `namespaces` its `podMonitorNamespaceSelector`.
    fn prometheus(pods: Value, namespaces: Value) -> Value {
        json!({"spec": {"podMonitorSelector": pods, "podMonitorNamespaceSelector": namespaces}})
    }

    #[test]
    fn registers_one_way_chosen_from_what_is_served_and_who_reads_it() {
        let ns = BTreeMap::from([
            ("kubernetes.io/metadata.name".to_string(), "kaic-ai-service-metrics-r1".to_string()),
            ("kaic.dev/run-id".to_string(), "r1".to_string()),
        ]);
        let stack = [prometheus(json!({"matchLabels": {"release": "kps"}}), json!({}))];
        let release = BTreeMap::from([("release".to_string(), "kps".to_string())]);
        // kube-prometheus-stack: a PodMonitor with its label, whoever reads (GMP served beside it or not).
        for reader in [Reader::Prometheus, Reader::Unknown] {
            assert_eq!(choose(Some(&stack), &ns, true, reader), Registration::PodMonitor(release.clone()));
        }
        assert_eq!(choose(Some(&stack), &ns, false, Reader::Gmp), Registration::PodMonitor(release.clone()));
        // Read through GMP where it is served: its PodMonitoring, even beside the Prometheus Operator.
        assert_eq!(choose(Some(&stack), &ns, true, Reader::Gmp), Registration::PodMonitoring);
        // GKE serves PodMonitorings on most clusters: an in-cluster Prometheus without the operator reads
        // annotations, an unknown reader gets the PodMonitoring.
        assert_eq!(choose(None, &ns, true, Reader::Prometheus), Registration::Annotations);
        assert_eq!(choose(None, &ns, true, Reader::Unknown), Registration::PodMonitoring);
        assert_eq!(choose(None, &ns, false, Reader::Unknown), Registration::Annotations);
        // CRDs served but no Prometheus object picks a PodMonitor up in kaic's namespace: not a PodMonitor.
        let ignoring = [
            json!({"spec": {"serviceMonitorSelector": {}}}),
            prometheus(json!({}), Value::Null),
            prometheus(json!({}), json!({"matchLabels": {"openshift.io/cluster-monitoring": "true"}})),
        ];
        assert_eq!(choose(Some(&ignoring), &ns, false, Reader::Prometheus), Registration::Annotations);
        assert_eq!(choose(Some(&[]), &ns, false, Reader::Unknown), Registration::Annotations);
        // Every namespace but the platform's (OpenShift's user workload monitoring): a PodMonitor, no labels.
        let user_workload = [prometheus(
            json!({}),
            json!({"matchExpressions": [{"key": "openshift.io/cluster-monitoring", "operator": "NotIn", "values": ["true"]}]}),
        )];
        assert_eq!(
            choose(Some(&user_workload), &ns, false, Reader::Unknown),
            Registration::PodMonitor(BTreeMap::new())
        );
        // Two objects asking one key differently: the merged labels satisfy one of them.
        let two = [stack[0].clone(), prometheus(json!({"matchLabels": {"release": "other"}}), json!({}))];
        assert!(matches!(choose(Some(&two), &ns, false, Reader::Prometheus), Registration::PodMonitor(_)));
        assert_eq!(
            Registration::PodMonitor(release).describe(),
            "a PodMonitor (monitoring.coreos.com) labelled release=kps"
        );
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
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
        assert_eq!(own_labels(page, "vllm:request_success_total"), names(&["finish_reason", "model_name"]));
        let odd = "m{a=\"x,y}\",b=\"q\\\"z\"} 1\nm 2\nm_total{c=\"\"} 3\n";
        assert_eq!(own_labels(odd, "m"), names(&["a", "b"]));
        assert_eq!(own_labels(page, "vllm:e2e_request_latency_seconds_count"), names(&[]));
        assert_eq!(completion(3)["prompt"], "kaic conformance request 3");
    }
}
