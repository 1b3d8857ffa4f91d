//! `disaggregated_inference`'s workload and evidence: kaic's own prefill/decode pair shaped as llm-d deploys
//! one, the requests traced through it, and the P/D stacks a platform may already run.
//!
//! The pair is two Deployments labelled `llm-d.ai/role=prefill|decode` (llm-d's convention), each pod holding one
//! accelerator. Prefill pods run llm-d's vLLM simulator on [`SERVE_PORT`]; decode pods run it on
//! [`DECODER_PORT`] behind llm-d's routing sidecar (`llm-d-inference-scheduler`'s `pd-sidecar`, NIXL v2
//! connector) on [`SERVE_PORT`]. kaic plays llm-d's endpoint picker: it names the prefill pod in
//! [`PREFILLER_HEADER`], so the sidecar first asks that pod for the prefill (`do_remote_decode`, one token)
//! over the pod network, then hands its KV-transfer answer to the local decoder (`do_remote_prefill`). Both
//! simulators take the request id from `X-Request-Id` and log it, so one id can be found in both phases' logs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use crate::autoscaling::workload::{self, Device};
use crate::check::CheckContext;
use crate::observability::model_server::{self, MODEL};
use crate::pods;

/// The key of `--probe-image` for llm-d's routing sidecar.
pub const SIDECAR_IMAGE_KEY: &str = "routing-sidecar";
/// llm-d's routing sidecar (the `pd-sidecar` of llm-d-inference-scheduler v0.4.0), pinned by tag.
pub const DEFAULT_SIDECAR_IMAGE: &str = "ghcr.io/llm-d/llm-d-routing-sidecar:v0.4.0";
/// The label llm-d puts on its model-server pods, with the phase as value.
pub const ROLE_LABEL: &str = "llm-d.ai/role";
/// Where a prefill pod serves, and where a decode pod's sidecar takes requests.
pub const SERVE_PORT: i32 = 8000;
/// Where a decode pod's own decoder listens, behind its sidecar.
pub const DECODER_PORT: i32 = 8001;
/// The header naming the prefill pod (`<ip>:<port>`) to a decode pod's sidecar, as llm-d's picker sets it.
pub const PREFILLER_HEADER: &str = "x-prefiller-host-port";
/// The request id both simulators adopt and log.
pub const REQUEST_ID_HEADER: &str = "X-Request-Id";
/// The container running the model server in both phases.
pub const SERVER: &str = "vllm";
/// The decode pod's routing sidecar container.
pub const SIDECAR: &str = "routing-sidecar";

/// A serving phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Prefill,
    Decode,
}

impl Phase {
    /// The value of [`ROLE_LABEL`].
    pub fn role(self) -> &'static str {
        match self {
            Self::Prefill => "prefill",
            Self::Decode => "decode",
        }
    }

    /// The Deployment's name.
    pub fn deployment(self) -> &'static str {
        match self {
            Self::Prefill => "kaic-prefill",
            Self::Decode => "kaic-decode",
        }
    }

    /// The port the model server of this phase listens on.
    fn server_port(self) -> i32 {
        match self {
            Self::Prefill => SERVE_PORT,
            Self::Decode => DECODER_PORT,
        }
    }
}

/// The routing sidecar's image: `--probe-image routing-sidecar=IMAGE`, else llm-d's.
pub fn sidecar_image(ctx: &CheckContext) -> String {
    ctx.options.probe_image(SIDECAR_IMAGE_KEY, DEFAULT_SIDECAR_IMAGE)
}

/// The labels selecting one phase's pods (with the run id).
pub fn selector(ctx: &CheckContext, phase: Phase) -> BTreeMap<String, String> {
    BTreeMap::from([
        (crate::labels::RUN_ID.to_string(), ctx.run_id.clone()),
        ("app.kubernetes.io/name".to_string(), "kaic-pd".to_string()),
        (ROLE_LABEL.to_string(), phase.role().to_string()),
    ])
}

/// The selector as a label query.
pub fn label_query(ctx: &CheckContext, phase: Phase) -> String {
    selector(ctx, phase).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// One phase's Deployment: one replica, each pod one accelerator for its model server; decode pods also run
/// the routing sidecar in front of it.
pub fn deployment(ctx: &CheckContext, phase: Phase, device: &Device, tolerations: &Value) -> Value {
    let mut labels = ctx.labels();
    labels.extend(selector(ctx, phase));
    let port = phase.server_port();
    let mut resources = json!({"requests": {"cpu": "100m", "memory": "64Mi"}});
    let mut spec = json!({
        "terminationGracePeriodSeconds": 0,
        "tolerations": tolerations,
        "containers": [{
            "name": SERVER,
            "image": model_server::image(ctx),
            // --v=4: the simulator logs each finished request with its id at that level.
            "args": ["--model", MODEL, "--port", port.to_string(), "--mode", "echo", "--force-dummy-tokenizer",
                     "--enable-request-id-headers", "--v=4"],
            "ports": [{"name": "http", "containerPort": port}],
            "readinessProbe": {"httpGet": {"path": "/health", "port": port}, "periodSeconds": 2}
        }]
    });
    workload::give_device(&mut spec, &mut resources, device);
    spec["containers"][0]["resources"] = resources;
    if phase == Phase::Decode {
        spec["containers"].as_array_mut().expect("containers").push(json!({
            "name": SIDECAR,
            "image": sidecar_image(ctx),
            "args": [format!("--port={SERVE_PORT}"), format!("--vllm-port={DECODER_PORT}"), "--connector=nixlv2",
                     "--secure-proxy=false"],
            "ports": [{"name": "sidecar", "containerPort": SERVE_PORT}],
            "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}}
        }));
    }
    pods::harden(&mut spec);
    json!({
        "metadata": {"name": phase.deployment(), "labels": ctx.labels()},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector(ctx, phase)},
            "template": {"metadata": {"labels": labels}, "spec": spec}
        }
    })
}

/// The id of traced request `i` of batch `batch`: unique to the run, and never the start of another id of it.
pub fn request_id(ctx: &CheckContext, batch: &str, i: u32) -> String {
    format!("kaic-pd-{}-{batch}-{i:02}", ctx.run_id)
}

/// Whether a model server's log names request `id` (and not merely a longer id that starts with it).
pub fn seen_in(log: &str, id: &str) -> bool {
    log.match_indices(id).any(|(at, _)| {
        let next = log[at + id.len()..].chars().next();
        !next.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// Why a routing sidecar says a request failed: its reverse proxy's last error (which names the dial that failed),
/// else the message of its last error entry (JSON, without the stack trace).
pub fn sidecar_error(log: &str) -> Option<String> {
    if let Some(at) = log.lines().rev().find_map(|l| l.find("proxy error").map(|at| &l[at..])) {
        return Some(at.trim().to_string());
    }
    log.lines().rev().find_map(|l| {
        let entry: Value = serde_json::from_str(l).ok()?;
        (entry["level"] == "error").then(|| {
            let extra = ["error", "code"].iter().filter_map(|k| entry.get(*k).map(|v| format!("{k} {v}")));
            [entry["msg"].as_str().unwrap_or("error").to_string()]
                .into_iter()
                .chain(extra)
                .collect::<Vec<_>>()
                .join(", ")
        })
    })
}

/// A pod's IP, once it has one.
pub fn pod_ip(pod: &Pod) -> Option<String> {
    pod.status.as_ref().and_then(|s| s.pod_ip.clone())
}

/// P/D stacks already running in the cluster, in words: llm-d model servers by their role label, grouped by
/// namespace (kaic's own namespace left out).
pub fn describe_llmd(pods: &[Pod], own_namespace: &str) -> Vec<String> {
    let mut per_namespace: BTreeMap<&str, BTreeMap<&str, u32>> = BTreeMap::new();
    for pod in pods {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
        if namespace == own_namespace || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Some(role) = pod.metadata.labels.as_ref().and_then(|l| l.get(ROLE_LABEL)) {
            *per_namespace.entry(namespace).or_default().entry(role.as_str()).or_default() += 1;
        }
    }
    per_namespace
        .into_iter()
        .map(|(namespace, roles)| {
            let counts: Vec<String> = roles.iter().map(|(role, n)| format!("{n} {role}")).collect();
            format!("llm-d model servers in namespace {namespace} ({} pods)", counts.join(", "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckOptions, from_json};

    #[test]
    fn an_id_is_found_only_as_itself() {
        let log = r#"I1202 http.go:282] "Received" new HTTP="text completion request (req id kaic-pd-r1-a-01)"
I1202 worker.go:74] "Finished processing request" id="kaic-pd-r1-a-01-0""#;
        assert!(seen_in(log, "kaic-pd-r1-a-01"));
        assert!(!seen_in(log, "kaic-pd-r1-a-0"), "a prefix of a logged id is not that id");
        assert!(!seen_in(log, "kaic-pd-r1-b-01"));
        assert!(!seen_in("", "kaic-pd-r1-a-01"));
    }

    #[tokio::test]
    async fn ids_of_one_run_never_prefix_each_other() {
        let ctx = CheckContext::offline("disaggregated_inference", CheckOptions::default());
        let ids: Vec<String> = (1..=12).map(|i| request_id(&ctx, "a", i)).collect();
        for a in &ids {
            for b in &ids {
                assert!(a == b || !seen_in(b, a), "{a} found in {b}");
            }
        }
    }

    #[test]
    fn the_sidecars_reason_is_its_last_error() {
        let log = "{\"level\":\"info\",\"msg\":\"starting\"}\n\
                   2026/12/02 02:42:13 http: proxy error: dial tcp 10.0.0.7:8000: connect: no route to host\n\
                   {\"level\":\"error\",\"msg\":\"request failed\",\"code\":502}\n";
        assert_eq!(
            sidecar_error(log).as_deref(),
            Some("proxy error: dial tcp 10.0.0.7:8000: connect: no route to host")
        );
        let json_only = "{\"level\":\"error\",\"msg\":\"request failed\",\"code\":502,\"stacktrace\":\"a\\nb\"}";
        assert_eq!(sidecar_error(json_only).as_deref(), Some("request failed, code 502"));
        assert_eq!(sidecar_error("{\"level\":\"info\"}"), None);
    }

    #[tokio::test]
    async fn decode_pods_carry_the_sidecar_and_both_phases_one_device() {
        let ctx = CheckContext::offline("disaggregated_inference", CheckOptions::default());
        let device = Device::Dra("kaic-pd-accelerator".into());
        let decode = deployment(&ctx, Phase::Decode, &device, &json!([]));
        let prefill = deployment(&ctx, Phase::Prefill, &device, &json!([]));
        let _: k8s_openapi::api::apps::v1::Deployment = from_json(decode.clone()).unwrap();
        let labels = &decode["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels[ROLE_LABEL], "decode");
        assert_eq!(prefill["spec"]["template"]["metadata"]["labels"][ROLE_LABEL], "prefill");
        let containers = decode["spec"]["template"]["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[1]["image"], DEFAULT_SIDECAR_IMAGE);
        assert!(containers[1]["args"].as_array().unwrap().contains(&json!("--vllm-port=8001")));
        assert_eq!(containers[0]["ports"][0]["containerPort"], DECODER_PORT);
        assert_eq!(containers[0]["resources"]["claims"][0]["name"], workload::CLAIM_ENTRY);
        assert!(containers[1]["resources"].get("claims").is_none(), "the sidecar holds no device");
        let prefill_server = &prefill["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(prefill_server["ports"][0]["containerPort"], SERVE_PORT);
        assert!(prefill_server["args"].as_array().unwrap().contains(&json!("--enable-request-id-headers")));
        let extended = deployment(&ctx, Phase::Prefill, &Device::Extended("nvidia.com/gpu".into()), &json!([]));
        assert_eq!(extended["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"], 1);
    }

    #[test]
    fn running_stacks_are_counted_per_namespace_without_kaics_own() {
        let pod = |ns: &str, role: &str| -> Pod {
            from_json(json!({"metadata": {"name": "p", "namespace": ns, "labels": {ROLE_LABEL: role}}})).unwrap()
        };
        let pods = [pod("llm-d", "prefill"), pod("llm-d", "decode"), pod("llm-d", "decode"), pod("kaic-x", "decode")];
        assert_eq!(
            describe_llmd(&pods, "kaic-x"),
            ["llm-d model servers in namespace llm-d (2 decode, 1 prefill pods)"]
        );
        assert!(describe_llmd(&pods[3..], "kaic-x").is_empty());
    }
}
