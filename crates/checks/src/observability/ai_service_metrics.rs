//! `ai_service_metrics`: the platform's monitoring system collects an AI workload's metrics.
//!
//! kaic finds the monitoring system's Prometheus-compatible query API ([`prometheus`]), deploys a model
//! server exporting vLLM's metrics and registers it for scraping the way the platform discovers workloads
//! ([`model_server`]), sends exactly N completions through the API server's service proxy, and queries
//! until the collected request counter of its pod, and the count of its latency histogram, equal N: not
//! "more than 0", exactly N. More than N fails at once (someone else's traffic, or double counting). The
//! time from the last answered request to the counter reaching N is the scrape lag, recorded as evidence.
//!
//! The requirement has no condition. No query API answering is unknown, naming what to install or
//! provide; a query API that answers while the served requests never show up fails.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Service};
use kaic_model::Verdict;
use kube::api::{Api, PostParams};

use super::endpoint::Endpoint;
use super::model_server::{self, NAME};
use super::prometheus::{self, Count};
use crate::check::{Check, CheckContext, CheckError, from_json};
use crate::timeouts::Wait;
use crate::{pods, wait};

pub struct AiServiceMetrics;

/// How many requests kaic sends.
pub const REQUESTS: u32 = 10;
/// The request counter and the latency histogram's count kaic queries.
pub const COUNTER: &str = "vllm:request_success_total";
pub const LATENCY_COUNT: &str = "vllm:e2e_request_latency_seconds_count";
/// The label pairs monitoring set-ups name a pod's namespace and name with, most common first
/// (Prometheus Operator, GMP and the annotation convention; the older Helm chart's; re-exported).
const LABEL_SCHEMES: &[(&str, &str)] =
    &[("namespace", "pod"), ("kubernetes_namespace", "kubernetes_pod_name"), ("exported_namespace", "exported_pod")];
/// How often the query API is asked.
const EVERY: Duration = Duration::from_secs(2);

/// What to do when no query API answers.
const PROVIDE: &str = "install a Prometheus-compatible monitoring system that discovers workloads (e.g. \
    kube-prometheus-stack, or Prometheus with kubernetes_sd and the prometheus.io annotations), or name the \
    platform's query API with --prometheus-url (URL or NAMESPACE/SERVICE:PORT), with --prometheus-bearer-token-file \
    or --prometheus-header for managed back-ends (OpenShift: the thanos-querier route with a token), and rerun";

#[async_trait::async_trait]
impl Check for AiServiceMetrics {
    fn id(&self) -> &'static str {
        "ai_service_metrics"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["ai_service_metrics"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(540)
    }

    /// The model server becomes Ready (image pull included), then its counter is collected.
    fn waits(&self) -> &'static [(Wait, u32)] {
        &[(Wait::ProbePod, 1), (Wait::MetricsCollected, 1)]
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "a model server pod (llm-d-inference-sim, vLLM metrics) with prometheus.io scrape annotations, and a Service in front of it",
            "where served: a PodMonitor (monitoring.coreos.com) and a PodMonitoring (monitoring.googleapis.com) selecting it",
            "10 completion requests through the API server's service proxy; queries to the monitoring system's query API",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let (endpoint, what) = match prometheus::find(ctx).await? {
            Ok(found) => found,
            Err(why) => return Ok(Verdict::unknown(format!("{why}: {PROVIDE}"))),
        };
        let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let pod: Pod = from_json(model_server::pod(ctx))?;
        pods_api
            .create(&PostParams::default(), &pod)
            .await
            .map_err(|e| CheckError::api("create the model server pod", e))?;
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let service: Service = from_json(model_server::service(ctx))?;
        services
            .create(&PostParams::default(), &service)
            .await
            .map_err(|e| CheckError::api("create the model server's Service", e))?;
        let registered = model_server::register(ctx).await?;
        ctx.step(format!(
            "model server {}/{NAME} ({}) registered by: {}",
            ctx.namespace,
            model_server::image(ctx),
            registered.join("; ")
        ));
        let submitted = Instant::now();
        let ready = wait::until(
            &pods_api,
            NAME,
            "the model server to be Ready",
            ctx.wait(Wait::ProbePod),
            |p: Option<&Pod>| wait::pod_ready(p) || p.is_some_and(|p| pods::fatal_state(p).is_some()),
            wait::describe_pod,
        )
        .await?;
        if let Some(why) = pods::fatal_state(&ready) {
            return Ok(Verdict::error(format!("the model server could not run: {why}")));
        }
        ctx.record(|e| e.timing("model server: submit to Ready", submitted.elapsed()));
        let last_answered = match model_server::send(ctx, REQUESTS).await {
            Ok(at) => at,
            Err(e) => return Ok(Verdict::error(format!("kaic's model server did not serve its requests: {e}"))),
        };
        ctx.step(format!("{REQUESTS} completions answered through the API server's service proxy"));
        if let Err(why) = served_all(ctx).await {
            return Ok(Verdict::error(why));
        }
        let verdict = collect(ctx, &endpoint, &what, last_answered, &registered).await;
        let restarted = pods_api
            .get(NAME)
            .await
            .ok()
            .and_then(|p| p.status?.container_statuses?.first().map(|c| c.restart_count))
            .unwrap_or(0);
        if restarted > 0 {
            return Ok(Verdict::error(format!(
                "kaic's model server restarted {restarted} time(s) during the check, so its counters were reset: rerun"
            )));
        }
        Ok(verdict)
    }
}

/// Waits briefly until the model server's own `/metrics` counts every request (the simulator updates its
/// metrics asynchronously): proof that the workload served all of them, so a missing count is the
/// monitoring system's.
async fn served_all(ctx: &CheckContext) -> Result<(), String> {
    let own = Endpoint::pod(&ctx.namespace, NAME, &model_server::PORT.to_string(), "/metrics");
    let started = Instant::now();
    loop {
        let last = match own.get(&ctx.client, &Default::default(), "").await {
            Ok(page) => model_server::served(&page, COUNTER),
            Err(e) => return Err(format!("kaic could not read its model server's own /metrics: {e}")),
        };
        if last.is_some_and(|v| (v - f64::from(REQUESTS)).abs() < 1e-9) {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(15) {
            return Err(format!(
                "kaic's model server reports {COUNTER} = {last:?} on its own /metrics after serving {REQUESTS} requests: \
                 the image (--probe-image {}=IMAGE) must export vLLM's metrics",
                model_server::IMAGE_KEY
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The PromQL for `metric` of kaic's pod under one label scheme.
pub fn promql(metric: &str, scheme: (&str, &str), namespace: &str) -> String {
    format!("sum({metric}{{{}=\"{namespace}\",{}=\"{NAME}\"}})", scheme.0, scheme.1)
}

/// What the last poll saw.
#[derive(Debug, Clone, Default)]
struct Seen {
    query: String,
    counter: Option<f64>,
    latency: Option<f64>,
    error: Option<String>,
}

/// One poll: the first label scheme under which kaic's pod has a counter, with its latency count.
async fn poll(ctx: &CheckContext, endpoint: &Endpoint) -> Seen {
    let headers = &ctx.options.prometheus_headers;
    let mut seen = Seen { query: promql(COUNTER, LABEL_SCHEMES[0], &ctx.namespace), ..Seen::default() };
    let mut answered = false;
    for scheme in LABEL_SCHEMES {
        let query = promql(COUNTER, *scheme, &ctx.namespace);
        match prometheus::query(ctx, endpoint, headers, &query).await {
            Err(e) => seen.error = Some(e),
            Ok(samples) => {
                answered = true;
                if let Some(counter) = prometheus::total(&samples) {
                    let latency_query = promql(LATENCY_COUNT, *scheme, &ctx.namespace);
                    let latency = prometheus::query(ctx, endpoint, headers, &latency_query)
                        .await
                        .ok()
                        .and_then(|s| prometheus::total(&s));
                    return Seen { query, counter: Some(counter), latency, error: None };
                }
            }
        }
    }
    if answered {
        seen.error = None;
    }
    seen
}

/// Queries until both counts equal [`REQUESTS`], one exceeds it, or [`Wait::MetricsCollected`] passes.
async fn collect(ctx: &CheckContext, endpoint: &Endpoint, what: &str, last: Instant, registered: &[String]) -> Verdict {
    let limit = ctx.wait(Wait::MetricsCollected);
    let mut seen = Seen::default();
    let mut answered_once = false;
    loop {
        let now = poll(ctx, endpoint).await;
        if now.error.is_none() {
            answered_once = true;
        }
        let (counter, latency) = (now.counter, now.latency);
        let query = now.query.clone();
        if now.counter.is_some() || seen.counter.is_none() {
            seen = now;
        }
        match (prometheus::judge_count(counter, REQUESTS), prometheus::judge_count(latency, REQUESTS)) {
            (Count::TooMany(v), _) | (_, Count::TooMany(v)) => {
                return Verdict::fail(
                    format!(
                        "the monitoring system counted more requests for kaic's model server than were sent ({what})"
                    ),
                    format!("{query} == {REQUESTS} (and {LATENCY_COUNT} == {REQUESTS})"),
                    format!("{v}: extra traffic reached the pod, or its series are counted twice"),
                );
            }
            (Count::Reached, Count::Reached) => {
                let lag = last.elapsed();
                ctx.record(|e| e.timing("scrape lag: last request answered to the counter at N", lag));
                ctx.record(|e| e.value(query.clone(), REQUESTS.to_string()));
                return Verdict::pass(format!(
                    "{what} collected exactly the {REQUESTS} requests sent to kaic's model server {}/{NAME}: {query} = \
                     {REQUESTS} and {LATENCY_COUNT} = {REQUESTS}, {:.1}s after the last request was answered (registered \
                     by: {})",
                    ctx.namespace,
                    lag.as_secs_f64(),
                    registered.join("; ")
                ));
            }
            _ => {}
        }
        if last.elapsed() >= limit {
            break;
        }
        tokio::time::sleep(EVERY).await;
    }
    ctx.record(|e| {
        e.value(format!("last answer to {}", seen.query), format!("{:?} / {:?}", seen.counter, seen.latency))
    });
    if !answered_once {
        return Verdict::error(format!(
            "{what} answered vector(1) but then none of kaic's queries: {}",
            seen.error.unwrap_or_default()
        ));
    }
    let observed = match (seen.counter, seen.latency) {
        (None, _) => format!("no series for kaic's pod under any of the label pairs {LABEL_SCHEMES:?}"),
        (Some(c), l) => {
            format!("{COUNTER} = {c}, {LATENCY_COUNT} = {}", l.map_or("no series".to_string(), |l| l.to_string()))
        }
    };
    Verdict::fail(
        format!(
            "the monitoring system ({what}) answers queries and kaic's model server served all {REQUESTS} requests, but \
             they were not collected within {}s (registered by: {})",
            limit.as_secs(),
            registered.join("; ")
        ),
        format!(
            "{} == {REQUESTS} and {LATENCY_COUNT} == {REQUESTS}",
            promql(COUNTER, LABEL_SCHEMES[0], &ctx.namespace)
        ),
        format!("after {}s: {observed}", last.elapsed().as_secs()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_name_kaics_pod() {
        assert_eq!(
            promql(COUNTER, LABEL_SCHEMES[0], "kaic-ai-service-metrics-r1"),
            "sum(vllm:request_success_total{namespace=\"kaic-ai-service-metrics-r1\",pod=\"model-server\"})"
        );
        assert!(PROVIDE.contains("--prometheus-url"));
    }
}
