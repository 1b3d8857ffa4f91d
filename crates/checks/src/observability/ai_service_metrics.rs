//! `ai_service_metrics`: the platform's monitoring system collects an AI workload's metrics.
//!
//! kaic finds the monitoring system's Prometheus-compatible query APIs ([`prometheus`]), deploys a model
//! server exporting vLLM's metrics and registers it for scraping once, the way the platform discovers
//! workloads ([`model_server::choose`]), sends exactly N completions through the API server's service proxy,
//! and asks every query API until one holds a collected series of its pod's request counter, and one of its
//! latency histogram's count, at exactly N: not "more than 0", exactly N. Each collected series is judged on
//! its own (a pod collected by two scrape jobs, or by both Prometheus of an HA pair, has two series of N, not
//! a count of 2N); a single series above N fails at once (someone else's traffic, or a collection counting
//! twice). The time from the last answered request to the count reaching N is the scrape lag, recorded as
//! evidence.
//!
//! The requirement has no condition. No query API answering is unknown, naming what to install or
//! provide; query APIs that answer while none of them ever shows the served requests fail.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Service};
use kaic_model::Verdict;
use kube::api::{Api, PostParams};

use super::endpoint::Endpoint;
use super::model_server::{self, NAME};
use super::prometheus::{self, Count, QueryApi, Series};
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
            "a model server pod (llm-d-inference-sim, vLLM metrics) and a Service in front of it",
            "its registration for scraping, one of: a PodMonitor (monitoring.coreos.com) where a Prometheus selects one in kaic's namespace, a PodMonitoring (monitoring.googleapis.com) where served, else prometheus.io scrape annotations on the pod",
            "10 completion requests through the API server's service proxy; queries to the monitoring system's query API",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let apis = match prometheus::find(ctx).await? {
            Ok(found) => found,
            Err(why) => return Ok(Verdict::unknown(format!("{why}: {PROVIDE}"))),
        };
        let registration = model_server::registration(ctx, apis[0].reader).await?;
        let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let pod: Pod = from_json(model_server::pod(ctx, &registration))?;
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
        let registered = model_server::register(ctx, &registration, NAME, &model_server::selector(ctx)).await?;
        ctx.step(format!(
            "model server {}/{NAME} ({}) registered by: {registered}",
            ctx.namespace,
            model_server::image(ctx)
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
        let own = match served_all(ctx).await {
            Ok(own) => own,
            Err(why) => return Ok(Verdict::error(why)),
        };
        let verdict = collect(ctx, &apis, last_answered, &registered, &own).await;
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
/// monitoring system's. Returns the labels the server itself puts on the counter and on the latency count
/// ([`Own`]).
async fn served_all(ctx: &CheckContext) -> Result<Own, String> {
    let own = Endpoint::pod(&ctx.namespace, NAME, &model_server::PORT.to_string(), "/metrics");
    let started = Instant::now();
    loop {
        let page = match own.get(&ctx.client, &Default::default(), "").await {
            Ok(page) => page,
            Err(e) => return Err(format!("kaic could not read its model server's own /metrics: {e}")),
        };
        let last = model_server::served(&page, COUNTER);
        if last.is_some_and(|v| (v - f64::from(REQUESTS)).abs() < 1e-9) {
            return Ok(Own {
                counter: model_server::own_labels(&page, COUNTER),
                latency: model_server::own_labels(&page, LATENCY_COUNT),
            });
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

/// The labels the model server itself puts on the counter and on the latency count: they split one
/// collected count (see [`prometheus::per_series`]).
struct Own {
    counter: BTreeSet<String>,
    latency: BTreeSet<String>,
}

/// The PromQL for `metric` of kaic's pod under one label scheme: every series, each judged on its own.
pub fn promql(metric: &str, scheme: (&str, &str), namespace: &str) -> String {
    format!("{metric}{{{}=\"{namespace}\",{}=\"{NAME}\"}}", scheme.0, scheme.1)
}

/// What the last poll of one query API saw.
#[derive(Debug, Clone, Default)]
struct Seen {
    query: String,
    counter: Vec<Series>,
    latency: Vec<Series>,
    error: Option<String>,
}

impl Seen {
    fn describe(&self) -> String {
        let list = |series: &[Series]| series.iter().map(prometheus::describe).collect::<Vec<_>>().join("; ");
        match (self.counter.is_empty(), self.latency.is_empty()) {
            (true, _) => format!("no series for kaic's pod under any of the label pairs {LABEL_SCHEMES:?}"),
            (false, true) => format!("{COUNTER}: {}; {LATENCY_COUNT}: no series", list(&self.counter)),
            (false, false) => format!("{COUNTER}: {}; {LATENCY_COUNT}: {}", list(&self.counter), list(&self.latency)),
        }
    }
}

/// One poll of one query API: the first label scheme under which kaic's pod has counter series, with its
/// latency count's series.
async fn poll(ctx: &CheckContext, endpoint: &Endpoint, own: &Own) -> Seen {
    let headers = &ctx.options.prometheus_headers;
    let mut seen = Seen { query: promql(COUNTER, LABEL_SCHEMES[0], &ctx.namespace), ..Seen::default() };
    let mut answered = false;
    for scheme in LABEL_SCHEMES {
        let query = promql(COUNTER, *scheme, &ctx.namespace);
        match prometheus::query(ctx, endpoint, headers, &query).await {
            Err(e) => seen.error = Some(e),
            Ok(samples) if samples.is_empty() => answered = true,
            Ok(samples) => {
                let latency_query = promql(LATENCY_COUNT, *scheme, &ctx.namespace);
                let latency = prometheus::query(ctx, endpoint, headers, &latency_query).await.unwrap_or_default();
                return Seen {
                    query,
                    counter: prometheus::per_series(&samples, &own.counter),
                    latency: prometheus::per_series(&latency, &own.latency),
                    error: None,
                };
            }
        }
    }
    if answered {
        seen.error = None;
    }
    seen
}

/// What one round of polls of every query API decides.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Round {
    /// Query API `i` holds a single series above the count (of either count): fail at once, whatever the
    /// others say (that collection counts requests that were never sent).
    TooMany(usize, f64),
    /// Query API `i` holds a series of each count at exactly the count, none above.
    Reached(usize),
    /// No query API has both counts yet: ask again.
    Waiting,
}

/// Decides a round from each query API's last poll, in the order they were found.
fn decide(seen: &[Seen]) -> Round {
    let judged: Vec<(Count, Count)> = seen
        .iter()
        .map(|s| (prometheus::judge_series(&s.counter, REQUESTS), prometheus::judge_series(&s.latency, REQUESTS)))
        .collect();
    let too_many = judged.iter().enumerate().find_map(|(i, judged)| match judged {
        (Count::TooMany(v), _) | (_, Count::TooMany(v)) => Some(Round::TooMany(i, *v)),
        _ => None,
    });
    let reached = || judged.iter().position(|j| *j == (Count::Reached, Count::Reached)).map(Round::Reached);
    too_many.or_else(reached).unwrap_or(Round::Waiting)
}

/// Asks every query API until one holds a series of each count at [`REQUESTS`], a single series exceeds
/// it, or [`Wait::MetricsCollected`] passes.
async fn collect(ctx: &CheckContext, apis: &[QueryApi], last: Instant, registered: &str, own: &Own) -> Verdict {
    let limit = ctx.wait(Wait::MetricsCollected);
    // The last poll of each API that saw series (else its last poll), for the verdict after the wait.
    let mut kept: Vec<Seen> = vec![Seen::default(); apis.len()];
    let mut answered_once = false;
    loop {
        let mut round = Vec::with_capacity(apis.len());
        for (api, kept) in apis.iter().zip(kept.iter_mut()) {
            let now = poll(ctx, &api.endpoint, own).await;
            answered_once |= now.error.is_none();
            if !now.counter.is_empty() || kept.counter.is_empty() {
                *kept = now.clone();
            }
            round.push(now);
        }
        match decide(&round) {
            Round::TooMany(i, v) => {
                let (api, now) = (&apis[i], &round[i]);
                return Verdict::fail(
                    format!(
                        "the monitoring system counted more requests for kaic's model server than were sent in a \
                         single collected series ({})",
                        api.what
                    ),
                    format!("each series of {} at most {REQUESTS} (and of {LATENCY_COUNT})", now.query),
                    format!(
                        "a series at {v} ({}): extra traffic reached the pod, or one collection counts it twice",
                        now.describe()
                    ),
                );
            }
            Round::Reached(i) => return reached(ctx, apis, i, &round[i], last, registered),
            Round::Waiting => {}
        }
        if last.elapsed() >= limit {
            break;
        }
        tokio::time::sleep(EVERY).await;
    }
    for (api, seen) in apis.iter().zip(&kept) {
        ctx.record(|e| e.value(format!("last answer to {} ({})", seen.query, api.what), seen.describe()));
    }
    let whats: Vec<&str> = apis.iter().map(|a| a.what.as_str()).collect();
    if !answered_once {
        let errors: Vec<String> = kept.iter().filter_map(|s| s.error.clone()).collect();
        return Verdict::error(format!(
            "{} answered vector(1) but then none of kaic's queries: {}",
            whats.join(" and "),
            errors.join("; ")
        ));
    }
    let observed: Vec<String> = if apis.len() == 1 {
        vec![kept[0].describe()]
    } else {
        apis.iter().zip(&kept).map(|(api, s)| format!("{}: {}", api.what, s.describe())).collect()
    };
    Verdict::fail(
        format!(
            "the monitoring system ({}) answers queries and kaic's model server served all {REQUESTS} requests, but \
             they were not collected within {}s (registered by: {registered})",
            whats.join(" and "),
            limit.as_secs(),
        ),
        format!(
            "a series of {} at {REQUESTS} and one of {LATENCY_COUNT} at {REQUESTS}, none above",
            promql(COUNTER, LABEL_SCHEMES[0], &ctx.namespace)
        ),
        format!("after {}s: {}", last.elapsed().as_secs(), observed.join("; ")),
    )
}

/// The pass: which query API had the counts, in how many of its series, the scrape lag, and the other
/// query APIs asked.
fn reached(ctx: &CheckContext, apis: &[QueryApi], i: usize, now: &Seen, last: Instant, registered: &str) -> Verdict {
    let what = &apis[i].what;
    let lag = last.elapsed();
    ctx.record(|e| e.timing("scrape lag: last request answered to the counter at N", lag));
    ctx.record(|e| e.value(format!("{} ({what})", now.query), now.describe()));
    let series = |s: &[Series]| {
        let at = s.iter().filter(|(_, v)| (v - f64::from(REQUESTS)).abs() < 1e-9).count();
        if s.len() == 1 { "its series".to_string() } else { format!("{at} of its {} collected series", s.len()) }
    };
    let others: Vec<&str> = apis.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, a)| a.what.as_str()).collect();
    Verdict::pass(format!(
        "{what} collected exactly the {REQUESTS} requests sent to kaic's model server {}/{NAME}: {} at {REQUESTS} in {} \
         and {LATENCY_COUNT} at {REQUESTS} in {}, none above, {:.1}s after the last request was answered (registered \
         by: {registered}{})",
        ctx.namespace,
        now.query,
        series(&now.counter),
        series(&now.latency),
        lag.as_secs_f64(),
        if others.is_empty() { String::new() } else { format!("; also asked: {}", others.join(", ")) }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_name_kaics_pod_and_keep_every_series() {
        assert_eq!(
            promql(COUNTER, LABEL_SCHEMES[0], "kaic-ai-service-metrics-r1"),
            "vllm:request_success_total{namespace=\"kaic-ai-service-metrics-r1\",pod=\"model-server\"}"
        );
        assert!(PROVIDE.contains("--prometheus-url"));
    }

    fn seen(counter: &[f64], latency: &[f64]) -> Seen {
        let series = |values: &[f64]| -> Vec<Series> {
            values
                .iter()
                .enumerate()
                .map(|(i, v)| (std::collections::BTreeMap::from([("job".to_string(), format!("job-{i}"))]), *v))
                .collect()
        };
        Seen { query: "q".into(), counter: series(counter), latency: series(latency), error: None }
    }

    #[test]
    fn every_query_api_is_asked_and_one_with_both_counts_is_enough() {
        // A platform Prometheus that never collects kaic's namespace, found first, and the workload one.
        assert_eq!(decide(&[seen(&[], &[]), seen(&[10.0, 10.0], &[10.0])]), Round::Reached(1));
        assert_eq!(decide(&[seen(&[10.0], &[10.0]), seen(&[], &[])]), Round::Reached(0));
        // Counter there, histogram not yet: wait; none anywhere: wait (a fail once the wait is over).
        assert_eq!(decide(&[seen(&[10.0], &[9.0]), seen(&[], &[])]), Round::Waiting);
        assert_eq!(decide(&[seen(&[], &[]), seen(&[9.0], &[9.0])]), Round::Waiting);
        // A single series above the count anywhere fails, even beside a query API that reached it.
        assert_eq!(decide(&[seen(&[10.0], &[10.0]), seen(&[11.0], &[10.0])]), Round::TooMany(1, 11.0));
        assert_eq!(decide(&[seen(&[10.0], &[12.0])]), Round::TooMany(0, 12.0));
    }
}
