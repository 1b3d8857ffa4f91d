//! Sending `ai_inference`'s requests and collecting what answered. Two paths, as a user's client would reach
//! the Gateway: **direct**, from kaic to the Gateway's address when kaic can open a connection to it; else a
//! **client pod** in the cluster (curl) that sends the same requests and prints one line per response, which
//! kaic reads from its log. Either way the same three batches: requests without the header (the weighted
//! rule), requests with the header (the header rule), and requests straight to the stable model server's pod,
//! the baseline for the latency the gateway adds.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams, PostParams};

use super::gateway::{HEADER, POD_HEADER, completion_body};
use super::http;
use crate::check::{CheckContext, CheckError, from_json};
use crate::pods;
use crate::wait;

/// Requests on the weighted rule (the issue asks for at least 200).
pub const SPLIT_REQUESTS: u32 = 200;
/// Requests with the header.
pub const HEADER_REQUESTS: u32 = 50;
/// Requests with the header's value in other case, which must not match (Gateway API header values are
/// case-sensitive): they follow the weighted rule.
pub const WRONG_CASE_REQUESTS: u32 = 20;
/// The header value in other case.
pub const WRONG_CASE_VALUE: &str = "CANARY";
/// Requests straight to the stable model server, for the latency baseline.
pub const DIRECT_REQUESTS: u32 = 50;
/// The path of every request: OpenAI's completions API.
pub const PATH: &str = "/v1/completions";
/// The key of `--probe-image` for the client pod's image, and its default (any image with curl >= 7.84 and sh).
pub const CLIENT_IMAGE_KEY: &str = "http-client";
pub const DEFAULT_CLIENT_IMAGE: &str = "docker.io/curlimages/curl:8.17.0";

/// Where kaic sends inference requests from (`--send-from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SendFrom {
    /// From kaic when it reaches the Gateway's address, else from a client pod.
    #[default]
    Auto,
    /// Always from a client pod in the cluster, as a workload in the cluster would reach the Gateway.
    Cluster,
}

/// Which batch a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Batch {
    Split,
    Header,
    WrongCase,
    Direct,
}

impl Batch {
    fn label(self) -> &'static str {
        match self {
            Self::Split => "split",
            Self::Header => "header",
            Self::WrongCase => "wrongcase",
            Self::Direct => "direct",
        }
    }
}

/// One response: its status (0: none), the backend that answered (from `x-inference-pod`), the time it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub batch: Batch,
    pub status: u16,
    pub backend: Option<String>,
    pub elapsed: Duration,
}

/// Successful responses by backend and failures by status, of one batch. A 200 without the pod header counts as
/// a failure of status 200 (kaic cannot tell who answered).
pub fn tally(samples: &[Sample], batch: Batch) -> (BTreeMap<String, u32>, BTreeMap<u16, u32>) {
    let mut by_backend = BTreeMap::new();
    let mut failures = BTreeMap::new();
    for s in samples.iter().filter(|s| s.batch == batch) {
        match (&s.backend, s.status) {
            (Some(backend), 200) => *by_backend.entry(backend.clone()).or_insert(0) += 1,
            _ => *failures.entry(s.status).or_insert(0) += 1,
        }
    }
    (by_backend, failures)
}

/// The elapsed times of a batch's successful responses.
pub fn latencies(samples: &[Sample], batch: Batch) -> Vec<Duration> {
    samples.iter().filter(|s| s.batch == batch && s.status == 200).map(|s| s.elapsed).collect()
}

fn sample(batch: Batch, r: &http::Response) -> Sample {
    Sample { batch, status: r.status, backend: r.headers.get(POD_HEADER).cloned(), elapsed: r.elapsed }
}

/// Consecutive 200s on both rules before kaic starts counting: data planes converge after the status is written
/// (a new Service's endpoints reach the proxy a moment later), as gateway-api's conformance suite waits for
/// consecutive successes before it judges.
pub const CONSECUTIVE_OK: u32 = 10;

/// Sends from kaic: waits up to `serving` until the Gateway answers both rules with 200 [`CONSECUTIVE_OK`] times
/// in a row, then the batches one after the other. Returns the samples, or the last responses seen while
/// waiting when the Gateway never served.
pub async fn direct(
    gateway: &str,
    host: &str,
    backend_pod: Option<&str>,
    serving: Duration,
) -> Result<Vec<Sample>, String> {
    let body = completion_body();
    let timeout = Duration::from_secs(10);
    let started = Instant::now();
    let header = [HEADER];
    let wrong_case = [(HEADER.0, WRONG_CASE_VALUE)];
    let mut in_a_row = 0;
    while in_a_row < CONSECUTIVE_OK {
        let plain = http::post(gateway, host, PATH, &[], &body, timeout).await;
        let with_header = http::post(gateway, host, PATH, &header, &body, timeout).await;
        if plain.status == 200 && with_header.status == 200 {
            in_a_row += 1;
            continue;
        }
        in_a_row = 0;
        if started.elapsed() > serving {
            let last = [&plain, &with_header]
                .iter()
                .map(|r| match &r.error {
                    Some(e) => e.clone(),
                    None => format!("status {}", r.status),
                })
                .collect::<Vec<_>>()
                .join(" / ");
            return Err(format!(
                "the Gateway at {gateway} did not answer 200 {CONSECUTIVE_OK} times in a row within {serving:?}; \
                 last: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut samples = Vec::new();
    for _ in 0..SPLIT_REQUESTS {
        samples.push(sample(Batch::Split, &http::post(gateway, host, PATH, &[], &body, timeout).await));
    }
    for _ in 0..HEADER_REQUESTS {
        samples.push(sample(Batch::Header, &http::post(gateway, host, PATH, &header, &body, timeout).await));
    }
    for _ in 0..WRONG_CASE_REQUESTS {
        samples.push(sample(Batch::WrongCase, &http::post(gateway, host, PATH, &wrong_case, &body, timeout).await));
    }
    if let Some(pod) = backend_pod {
        for _ in 0..DIRECT_REQUESTS {
            samples.push(sample(Batch::Direct, &http::post(pod, pod, PATH, &[], &body, timeout).await));
        }
    }
    Ok(samples)
}

/// The prefix of the client pod's line when the Gateway never answered [`CONSECUTIVE_OK`] times in a row: the
/// judged batches are skipped (requests to a gateway that does not serve yet say nothing about its routing).
pub const UNSERVED: &str = "unserved";

/// The most the judged batches of the client script may take once the Gateway serves (320 requests that each
/// answer in milliseconds; a request that hangs is cut at 10 s), beyond the warm-up: part of the client pod's
/// budget ([`client_budget`]).
pub const JUDGED_ALLOWANCE: Duration = Duration::from_secs(120);

/// The client pod's budget: the pod starting, the warm-up's `serving` (a wall-clock deadline in the script) and
/// the judged batches.
pub fn client_budget(probe_pod: Duration, serving: Duration) -> Duration {
    probe_pod + serving + JUDGED_ALLOWANCE
}

/// The client pod's script: wait until the Gateway answers 200 [`CONSECUTIVE_OK`] times in a row (at most
/// `serving_s` seconds of wall clock), then the batches, one line per response: `BATCH STATUS SECONDS [POD]`.
/// A Gateway that never served in time gets one line `unserved LAST-STATUS` and no judged request.
pub fn client_script(gateway: &str, host: &str, backend_pod: &str, serving_s: u64) -> String {
    let body = completion_body();
    let url = |addr: &str| format!("http://{addr}{PATH}");
    let mut script = format!(
        "B='{body}'\nG='{}'\nD='{}'\nH='Host: {host}'\n\
         req() {{ l=$1; shift; curl -s -o /dev/null -m 10 -w \"$l %{{http_code}} %{{time_total}} %header{{{POD_HEADER}}}\\n\" \
         -H 'Content-Type: application/json' -d \"$B\" \"$@\" || true; }}\n\
         end=$(( $(date +%s) + {serving_s} )); n=0; c=none\n\
         while [ $n -lt {CONSECUTIVE_OK} ] && [ $(date +%s) -lt $end ]; do\n  \
         c=$(curl -s -o /dev/null -m 5 -w '%{{http_code}}' -H 'Content-Type: application/json' -H \"$H\" -d \"$B\" \"$G\")\n  \
         if [ \"$c\" = 200 ]; then n=$((n+1)); else n=0; sleep 1; fi\ndone\n\
         if [ $n -lt {CONSECUTIVE_OK} ]; then echo \"{UNSERVED} $c\"; exit 0; fi\n",
        url(gateway),
        url(backend_pod)
    );
    for (batch, count, extra) in [
        (Batch::Split, SPLIT_REQUESTS, "-H \"$H\" \"$G\"".to_string()),
        (Batch::Header, HEADER_REQUESTS, format!("-H \"$H\" -H '{}: {}' \"$G\"", HEADER.0, HEADER.1)),
        (Batch::WrongCase, WRONG_CASE_REQUESTS, format!("-H \"$H\" -H '{}: {WRONG_CASE_VALUE}' \"$G\"", HEADER.0)),
        (Batch::Direct, DIRECT_REQUESTS, "\"$D\"".to_string()),
    ] {
        script
            .push_str(&format!("i=0; while [ $i -lt {count} ]; do req {} {extra}; i=$((i+1)); done\n", batch.label()));
    }
    script
}

/// Parses the client pod's log into samples; lines that are not results are ignored.
pub fn parse_client_log(log: &str) -> Vec<Sample> {
    log.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let batch = match *fields.first()? {
                "split" => Batch::Split,
                "header" => Batch::Header,
                "wrongcase" => Batch::WrongCase,
                "direct" => Batch::Direct,
                _ => return None,
            };
            let status = fields.get(1)?.parse().ok()?;
            let seconds: f64 = fields.get(2)?.parse().ok()?;
            let backend = fields.get(3).map(|s| s.to_string());
            Some(Sample { batch, status, backend, elapsed: Duration::from_secs_f64(seconds.max(0.0)) })
        })
        .collect()
}

/// Runs client pod `name` with `script` and returns its log once it finished (within `budget`), recorded as
/// evidence.
pub async fn run_client(ctx: &CheckContext, name: &str, script: &str, budget: Duration) -> Result<String, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let pod: Pod = from_json(client_pod(ctx, name, script))?;
    pods.create(&PostParams::default(), &pod).await.map_err(|e| CheckError::api(format!("create pod {name}"), e))?;
    wait::until(&pods, name, "client pod finished", budget, pod_done, wait::describe_pod).await?;
    let log = pods
        .logs(name, &LogParams::default())
        .await
        .map_err(|e| CheckError::api(format!("read the log of pod {name}"), e))?;
    ctx.record(|e| e.log(name, log.clone()));
    Ok(log)
}

fn pod_done(pod: Option<&Pod>) -> bool {
    let phase = pod.and_then(|p| p.status.as_ref()).and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

/// The client pod: curl in a loop, then it exits; kaic reads its log once it Succeeded.
pub fn client_pod(ctx: &CheckContext, name: &str, script: &str) -> Value {
    let image = ctx.options.probe_image(CLIENT_IMAGE_KEY, DEFAULT_CLIENT_IMAGE);
    let spec = pods::hardened(json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "client", "image": image, "command": ["sh", "-c", script],
                        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}}]
    }));
    json!({"metadata": {"name": name, "labels": ctx.labels()}, "spec": spec})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_by_backend_and_counts_failures() {
        let s = |batch, status, backend: Option<&str>| Sample {
            batch,
            status,
            backend: backend.map(str::to_string),
            elapsed: Duration::from_millis(1),
        };
        let samples = vec![
            s(Batch::Split, 200, Some("a")),
            s(Batch::Split, 200, Some("a")),
            s(Batch::Split, 200, Some("b")),
            s(Batch::Split, 503, None),
            s(Batch::Split, 200, None),
            s(Batch::Header, 200, Some("b")),
        ];
        let (by_backend, failures) = tally(&samples, Batch::Split);
        assert_eq!(by_backend, [("a".to_string(), 2), ("b".to_string(), 1)].into_iter().collect());
        assert_eq!(failures, [(200, 1), (503, 1)].into_iter().collect());
        assert_eq!(latencies(&samples, Batch::Header).len(), 1);
    }

    #[test]
    fn reads_the_client_pods_lines() {
        let log = "curl: noise\nsplit 200 0.004512 model-stable\nheader 200 0.003 model-canary\nsplit 000 10.001\ndirect 200 0.002 model-stable\n";
        let samples = parse_client_log(log);
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].backend.as_deref(), Some("model-stable"));
        assert_eq!(samples[0].elapsed, Duration::from_micros(4512));
        assert_eq!((samples[2].status, samples[2].backend.clone()), (0, None));
        assert_eq!(samples[3].batch, Batch::Direct);
    }

    /// The script run for real (the host's sh and curl, as in the curl image) against a port where nothing
    /// listens: the warm-up gives up at its deadline and no judged request is sent.
    #[test]
    fn the_script_skips_the_judged_batches_when_the_gateway_never_serves() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
        let script = client_script(&closed, "ns.kaic.test", &closed, 2);
        let output = std::process::Command::new("sh").args(["-c", &script]).output().expect("sh runs");
        let out = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{out}");
        assert_eq!(out.trim(), "unserved 000", "only the unserved line: {out}");
        assert!(parse_client_log(&out).is_empty());
    }

    #[test]
    fn the_script_sends_every_batch() {
        let script = client_script("10.0.0.5:8000", "ns.kaic.test", "10.0.0.9:8000", 60);
        assert!(script.contains("G='http://10.0.0.5:8000/v1/completions'"), "{script}");
        assert!(script.contains("H='Host: ns.kaic.test'"), "{script}");
        assert!(script.contains("while [ $i -lt 200 ]; do req split -H \"$H\" \"$G\""), "{script}");
        assert!(script.contains("req header -H \"$H\" -H 'x-model-variant: canary' \"$G\""), "{script}");
        assert!(script.contains("%header{x-inference-pod}"), "{script}");
        assert!(script.contains("req wrongcase -H \"$H\" -H 'x-model-variant: CANARY' \"$G\""), "{script}");
        assert_eq!(parse_client_log("wrongcase 200 0.1 model-stable")[0].batch, Batch::WrongCase);
    }
}
