//! The scored pool of `advanced_inference_ingress`: proof that the pool's endpoint picker decides by its model
//! servers' load, and that the gateway sends each request where it decided.
//!
//! Three llm-d simulators form the pool: one idle, one reporting a full queue (50 requests waiting), one a full
//! KV cache (99 % used), through the simulator's fake metrics under vLLM's names, which the picker scrapes from
//! each pod (`vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc`). The picker is the extension's full
//! endpoint picker (`cmd/epp` of v1.5.0, the last release that carries it), configured with its queue and
//! KV-cache scorers and its max-score picker only: its default prefix-cache scorer would favour the pod that
//! served a prompt before, which could outweigh a full queue. Once the picker reports the load (its own
//! `/metrics`, read through the API server's pod proxy), every request through the Gateway to this pool must be
//! answered by the idle pod; a round robin sends two in three elsewhere, and 30 to the idle pod by chance has
//! odds of 3⁻³⁰.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kaic_model::Verdict;
use kube::api::{Api, LogParams};
use serde_json::{Value, json};

use super::pool::{self, SCORED_HEADER, SCORED_POOL};
use super::pool_traffic::{Answer, Ask};
use crate::check::{CheckContext, CheckError};
use crate::observability::endpoint::{Endpoint, Headers};
use crate::observability::exposition;
use crate::timeouts::Wait;

/// The scored pool's picker (a pod and a Service of that name).
pub const SCORER: &str = "kaic-scoring-picker";
/// The key of `--probe-image` for its image, and its default.
pub const SCORER_IMAGE_KEY: &str = "scoring-endpoint-picker";
pub const DEFAULT_SCORER_IMAGE: &str = "registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0";
/// The picker's own metrics port (its `--metrics-port` default).
const SCORER_METRICS_PORT: u16 = 9090;
/// Requests sent to the scored pool, per class.
pub const SCORED_REQUESTS: u32 = 30;

/// A model server of the scored pool and the load it reports.
pub struct Loaded {
    pub name: &'static str,
    /// The simulator's `--fake-metrics` (none: its real metrics, idle).
    fake: Option<&'static str>,
    pub load: &'static str,
}

/// The scored pool's members: the first is the one the picker must choose.
pub const MEMBERS: [Loaded; 3] = [
    Loaded { name: "scored-model-idle", fake: None, load: "idle" },
    Loaded {
        name: "scored-model-queue",
        fake: Some(r#"{"waiting-requests":50,"running-requests":8}"#),
        load: "50 requests waiting",
    },
    Loaded {
        name: "scored-model-kv",
        fake: Some(r#"{"kv-cache-usage":0.99,"running-requests":4}"#),
        load: "KV cache 99 % used",
    },
];

/// The queue size the queue member reports, as the picker must see it.
const FULL_QUEUE: f64 = 50.0;

/// The picker's configuration: queue depth and KV-cache use, equally weighted, and the highest score wins.
const CONFIG: &str = "apiVersion: inference.networking.x-k8s.io/v1alpha1
kind: EndpointPickerConfig
plugins:
- type: queue-scorer
- type: kv-cache-utilization-scorer
- type: max-score-picker
schedulingProfiles:
- name: default
  plugins:
  - pluginRef: queue-scorer
    weight: 1
  - pluginRef: kv-cache-utilization-scorer
    weight: 1
  - pluginRef: max-score-picker
";

/// A member's pod: the pool's model server with the load it fakes.
pub fn member_pod(ctx: &CheckContext, member: &Loaded) -> Value {
    let mut pod = pool::member_pod(ctx, member.name, SCORED_POOL);
    if let (Some(fake), Some(args)) = (member.fake, pod["spec"]["containers"][0]["args"].as_array_mut()) {
        args.extend([json!("--fake-metrics"), json!(fake)]);
    }
    pod
}

/// The picker's pod: the full endpoint picker for the scored pool, without tracing (it would export to a
/// collector kaic does not run) and with its `/metrics` open to the API server's proxy.
pub fn scorer_pod(ctx: &CheckContext) -> Value {
    let image = ctx.options.probe_image(SCORER_IMAGE_KEY, DEFAULT_SCORER_IMAGE);
    let args = [
        "--pool-name",
        SCORED_POOL,
        "--pool-namespace",
        &ctx.namespace,
        "--config-text",
        CONFIG,
        "--tracing=false",
        "--metrics-endpoint-auth=false",
        "--refresh-metrics-interval=250ms",
    ];
    let metrics = json!({"name": "metrics", "containerPort": SCORER_METRICS_PORT});
    pool::picker_pod_of(ctx, SCORER, &image, args.iter().map(|a| a.to_string()).collect(), vec![metrics])
}

/// What the picker reports of the pool: the queue size per member, and the pool's average KV-cache use.
#[derive(Debug, Default, PartialEq)]
pub struct PickerView {
    pub queues: BTreeMap<String, f64>,
    pub average_kv: Option<f64>,
}

impl PickerView {
    /// From the picker's `/metrics`: `inference_pool_per_pod_queue_size{model_server_pod}` (the picker names a
    /// pod's endpoint `<pod>-rank-<n>` per target port) and `inference_pool_average_kv_cache_utilization`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut view = Self::default();
        for s in exposition::parse(text)? {
            if s.labels.get("name").map(String::as_str) != Some(SCORED_POOL) {
                continue;
            }
            match s.name.as_str() {
                "inference_pool_per_pod_queue_size" => {
                    let endpoint = s.labels.get("model_server_pod").cloned().unwrap_or_default();
                    if let Some(member) = MEMBERS.iter().find(|m| endpoint.starts_with(m.name)) {
                        view.queues.insert(member.name.to_string(), s.value);
                    }
                }
                "inference_pool_average_kv_cache_utilization" => view.average_kv = Some(s.value),
                _ => {}
            }
        }
        Ok(view)
    }

    /// Whether the picker holds every member and has read the full queue and the full KV cache (the average is
    /// above zero only once the KV member was scraped: the others use none).
    pub fn sees_the_load(&self) -> bool {
        self.queues.len() == MEMBERS.len()
            && self.queues.get(MEMBERS[1].name) == Some(&FULL_QUEUE)
            && self.average_kv.is_some_and(|kv| kv > 0.0)
    }

    pub fn describe(&self) -> String {
        let queues: Vec<String> = self.queues.iter().map(|(pod, q)| format!("{pod} {q}")).collect();
        let kv = self.average_kv.map(|kv| format!("{:.0} %", kv * 100.0)).unwrap_or_else(|| "not reported".into());
        format!(
            "queue sizes: {}; average KV-cache use {kv}",
            if queues.is_empty() { "none".to_string() } else { queues.join(", ") }
        )
    }
}

/// Waits until the picker reports the load its members fake ([`Wait::PickerScraped`]): its view, or the verdict
/// when it never did. kaic reads the picker's own `/metrics` through the API server's pod proxy: where that
/// never answered, kaic could not observe its helper (a control plane that reaches nodes only on 443 and 10250,
/// as on GKE private clusters) and the verdict is unknown. Where the picker answered without the load, it cannot
/// reach the pods' metrics on the model port: unknown where network policies may be the cause, else a failure of
/// the pod network, quoting the picker's log.
pub async fn until_scraped(ctx: &CheckContext) -> Result<Result<PickerView, Verdict>, CheckError> {
    let endpoint = Endpoint::pod(&ctx.namespace, SCORER, &SCORER_METRICS_PORT.to_string(), "/metrics");
    let deadline = tokio::time::Instant::now() + ctx.wait(Wait::PickerScraped);
    let mut ever_read = false;
    let last = loop {
        let last = match endpoint.get(&ctx.client, &Headers::default(), "").await.and_then(|t| PickerView::parse(&t)) {
            Ok(view) if view.sees_the_load() => return Ok(Ok(view)),
            Ok(view) => {
                ever_read = true;
                view.describe()
            }
            Err(e) => e,
        };
        if tokio::time::Instant::now() >= deadline {
            break last;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    if !ever_read {
        return Ok(Err(unreadable_picker(ctx.wait(Wait::PickerScraped), &last)));
    }
    let reason = format!(
        "the scored pool's endpoint picker {SCORER} never reported its model servers' load within {:?} (it scrapes \
         each pod's /metrics on port {} over the pod network); last: {last}",
        ctx.wait(Wait::PickerScraped),
        super::gateway::MODEL_PORT
    );
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let params = LogParams { tail_lines: Some(500), ..Default::default() };
    let log = pods.logs(SCORER, &params).await.map_err(|e| CheckError::api(format!("read the log of {SCORER}"), e))?;
    let said = scrape_error(&log)
        .map(|e| format!("its log says: {e}"))
        .unwrap_or_else(|| "its log names no failed scrape".into());
    ctx.record(|e| e.log(SCORER, log));
    let suspects = super::network_policy_suspects(ctx).await?;
    if !suspects.is_empty() {
        return Ok(Err(Verdict::unknown(format!(
            "{reason}. {} and may block the picker: verify with policies that let an endpoint picker reach its \
             pool's pods",
            suspects.join("; ")
        ))));
    }
    Ok(Err(Verdict::fail(
        reason,
        format!("the picker's inference_pool_per_pod_queue_size shows {} with {FULL_QUEUE} waiting", MEMBERS[1].name),
        said,
    )))
}

/// The verdict when kaic never read its picker's own `/metrics`: kaic's harness could not observe its helper,
/// which says nothing about the gateway or the picker.
fn unreadable_picker(waited: Duration, last: &str) -> Verdict {
    Verdict::unknown(format!(
        "kaic could not read its scored pool's endpoint picker {SCORER} (/metrics on port {SCORER_METRICS_PORT} \
         through the API server's pod proxy) within {waited:?}: {last}. Where the control plane reaches nodes only on \
         443 and 10250 (GKE private clusters), allow it to reach port {SCORER_METRICS_PORT} (a firewall rule from the \
         control plane's range) and rerun"
    ))
}

/// The last failed scrape in the picker's log (zap's JSON lines: `"msg":"poll failed"` with its `error`).
fn scrape_error(log: &str) -> Option<String> {
    log.lines().rev().find_map(|line| {
        let entry: Value = serde_json::from_str(&line[line.find('{')?..]).ok()?;
        let failed = entry["msg"].as_str()?.contains("poll failed");
        failed.then(|| entry["error"].as_str().map(str::to_string)).flatten()
    })
}

/// The outcome of the scored requests among `answers`: `Ok` with what they show when every one was answered by
/// the idle member, else `Err((what went wrong, what was observed))`.
pub fn judge(answers: &[Answer]) -> Result<String, (String, String)> {
    let scored: Vec<&Answer> = answers.iter().filter(|a| a.ask == Ask::Scored).collect();
    let mut by_pod: BTreeMap<&str, u32> = MEMBERS.iter().map(|m| (m.name, 0)).collect();
    let mut failures: BTreeMap<u16, u32> = BTreeMap::new();
    for a in &scored {
        match (&a.answered_by, a.status) {
            (Some(by), 200) => *by_pod.entry(by.as_str()).or_insert(0) += 1,
            (_, status) => *failures.entry(status).or_insert(0) += 1,
        }
    }
    let (sent, failed) = (scored.len(), failures.values().sum::<u32>() as usize);
    let load = |pod: &str| MEMBERS.iter().find(|m| m.name == pod).map(|m| m.load).unwrap_or("not a member");
    let spread: Vec<String> = by_pod.iter().map(|(pod, n)| format!("{pod} ({}) {n}", load(pod))).collect();
    let spread = format!("{} of {sent}", spread.join(", "));
    let idle = by_pod[MEMBERS[0].name];
    if sent > 0 && idle as usize == sent {
        let latencies: Vec<Duration> = scored.iter().map(|a| a.elapsed).collect();
        let median = super::stats::median(&latencies).unwrap_or_default();
        return Ok(format!(
            "every request to the scored pool went to its idle server ({spread}; median {:.2} ms through the full picker)",
            median.as_secs_f64() * 1000.0
        ));
    }
    let mut observed = vec![spread.clone()];
    if !failures.is_empty() {
        observed.push(format!("failed: {}", super::stats::describe_failures(&failures)));
    }
    let what = if sent == 0 {
        "no request was sent to the scored pool".to_string()
    } else if idle as usize + failed == sent {
        format!("{failed} of {sent} requests to the scored pool failed")
    } else {
        format!("requests to the scored pool reached servers that report a full queue or KV cache ({spread})")
    };
    Err((what, observed.join("; ")))
}

/// What the scored step expects, for a failing verdict.
pub fn expected() -> String {
    format!(
        "every request with {}: {} answered 200 by {} (the others report {} and {})",
        SCORED_HEADER.0, SCORED_HEADER.1, MEMBERS[0].name, MEMBERS[1].load, MEMBERS[2].load
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(by: Option<&str>, status: u16) -> Answer {
        Answer { ask: Ask::Scored, status, answered_by: by.map(str::to_string), elapsed: Duration::from_millis(3) }
    }

    #[test]
    fn a_picker_kaic_never_read_is_unknown_with_the_remedy_never_a_failure() {
        let verdict = unreadable_picker(Duration::from_secs(60), "error trying to connect: timed out");
        assert_eq!(verdict.outcome, kaic_model::Outcome::Unknown);
        assert!(verdict.reason.contains("kaic could not read its scored pool's endpoint picker"), "{}", verdict.reason);
        assert!(verdict.reason.contains("timed out"), "{}", verdict.reason);
        assert!(verdict.reason.contains("GKE private clusters"), "{}", verdict.reason);
    }

    #[tokio::test]
    async fn members_fake_their_load_and_the_picker_is_configured_to_score_it() {
        let ctx = CheckContext::offline("advanced_inference_ingress", Default::default());
        let idle = member_pod(&ctx, &MEMBERS[0]);
        assert!(!idle["spec"]["containers"][0]["args"].to_string().contains("fake-metrics"));
        let queue = member_pod(&ctx, &MEMBERS[1]);
        let args = queue["spec"]["containers"][0]["args"].as_array().unwrap();
        assert_eq!(args[args.len() - 2], "--fake-metrics");
        assert!(args[args.len() - 1].as_str().unwrap().contains(r#""waiting-requests":50"#));
        assert_eq!(queue["metadata"]["labels"]["kaic.dev/inference-pool"], SCORED_POOL);
        let scorer = scorer_pod(&ctx);
        let container = &scorer["spec"]["containers"][0];
        assert_eq!(container["image"], DEFAULT_SCORER_IMAGE);
        assert!(container["args"].to_string().contains("kv-cache-utilization-scorer"));
        assert_eq!(container["ports"][1]["containerPort"], 9090);
        assert_eq!(scorer["metadata"]["labels"]["kaic.dev/endpoint-picker"], SCORER);
    }

    #[test]
    fn reads_the_pickers_view_of_the_load() {
        let text = "# TYPE inference_pool_per_pod_queue_size gauge\n\
            inference_pool_per_pod_queue_size{model_server_pod=\"scored-model-idle-rank-0\",name=\"kaic-scored-pool\"} 0\n\
            inference_pool_per_pod_queue_size{model_server_pod=\"scored-model-queue-rank-0\",name=\"kaic-scored-pool\"} 50\n\
            inference_pool_per_pod_queue_size{model_server_pod=\"scored-model-kv-rank-0\",name=\"kaic-scored-pool\"} 0\n\
            inference_pool_per_pod_queue_size{model_server_pod=\"pool-model-0-rank-0\",name=\"kaic-pool\"} 7\n\
            # TYPE inference_pool_average_kv_cache_utilization gauge\n\
            inference_pool_average_kv_cache_utilization{name=\"kaic-scored-pool\"} 0.33\n";
        let view = PickerView::parse(text).unwrap();
        assert!(view.sees_the_load(), "{view:?}");
        assert_eq!(
            view.describe(),
            "queue sizes: scored-model-idle 0, scored-model-kv 0, scored-model-queue 50; average KV-cache use 33 %"
        );
        // Before the first scrape: every pod at 0, no KV average yet.
        let early = PickerView::parse(&text.replace("} 50", "} 0").replace("} 0.33", "} 0")).unwrap();
        assert!(!early.sees_the_load());
        assert!(!PickerView::default().sees_the_load());
    }

    #[test]
    fn a_failed_scrape_is_read_from_the_pickers_log() {
        let log = "{\"level\":\"info\",\"msg\":\"Starting\"}\n\
            2026-12-02T08:22:55Z stdout F {\"level\":\"error\",\"msg\":\"poll failed\",\"error\":\"failed to fetch data from ns/scored-model-kv-rank-0: Get \\\"http://10.172.0.9:8000/metrics\\\": context deadline exceeded\"}\n\
            not json\n";
        let said = scrape_error(log).unwrap();
        assert!(
            said.starts_with(
                "failed to fetch data from ns/scored-model-kv-rank-0: Get \"http://10.172.0.9:8000/metrics\""
            ),
            "{said}"
        );
        assert_eq!(scrape_error("{\"msg\":\"Starting\"}\n"), None);
    }

    #[test]
    fn only_the_idle_server_may_answer() {
        let all_idle: Vec<Answer> = (0..30).map(|_| answer(Some(MEMBERS[0].name), 200)).collect();
        let ok = judge(&all_idle).unwrap();
        assert!(ok.contains("scored-model-idle (idle) 30, scored-model-kv (KV cache 99 % used) 0"), "{ok}");
        assert!(ok.ends_with("0 of 30; median 3.00 ms through the full picker)"), "{ok}");

        let mut round_robin = Vec::new();
        for i in 0..30 {
            round_robin.push(answer(Some(MEMBERS[i % 3].name), 200));
        }
        let (what, observed) = judge(&round_robin).unwrap_err();
        assert!(what.contains("reached servers that report a full queue or KV cache"), "{what}");
        assert!(observed.contains("scored-model-queue (50 requests waiting) 10"), "{observed}");

        let failing = [answer(Some(MEMBERS[0].name), 200), answer(None, 500)];
        let (what, observed) = judge(&failing).unwrap_err();
        assert_eq!(what, "1 of 2 requests to the scored pool failed");
        assert!(observed.contains("failed:") && observed.contains("500"), "{observed}");
        assert!(judge(&[]).unwrap_err().0.contains("no request was sent"));
    }
}
