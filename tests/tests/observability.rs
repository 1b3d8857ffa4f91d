//! The observability checks end to end on testenv. On `default` the GPU nodes `gpu-node-0` and `gpu-node-1`
//! run the DCGM exporter simulator (namespace `gpu-operator`, pods labelled `app=nvidia-dcgm-exporter`, port
//! 9400) with dcgm-exporter's metric names and labels for each of their 4 H100s, and a pod holding devices
//! and labelled `kaic.dev/probe-load=compute` drives exactly its devices' utilisation up; Prometheus
//! (namespace `monitoring`, Service `prometheus`, port `web`) discovers pods by the `prometheus.io`
//! annotations every 2 s. So `accelerator_metrics` passes with its workload-driven case, and
//! `ai_service_metrics` sees exactly the 10 requests it sent, in the one series of its pod. On
//! `no-custom-metrics` Prometheus collects every pod under two jobs (like kube-prometheus-stack's PodMonitor
//! job beside the common annotation job): two series of 10, healthy, so `ai_service_metrics` passes there too.
//! Each broken profile fails the check it breaks, naming what was expected and what was seen:
//! `no-accelerator-metrics` (the exporter on `gpu-node-0` only), `frozen-metrics` (values never change) and
//! `no-scrape` (Prometheus does not collect workload pods). With no exporter anywhere (`no-gang`)
//! `accelerator_metrics` is unknown: nothing installed is never a failure.

use kaic_e2e::{Run, cluster, run_kaic};

const GPU_NODES: [&str; 2] = ["gpu-node-0", "gpu-node-1"];

fn run(profile: &str, check: &str) -> (Run, serde_json::Value) {
    run_scaled(profile, check, "1")
}

/// A broken profile's verdict comes only after the whole wait for something that never happens; testenv is
/// fast, so those runs shorten every wait (`--timeout-scale`) to keep CI short.
fn run_scaled(profile: &str, check: &str, scale: &str) -> (Run, serde_json::Value) {
    let kubeconfig = cluster(profile);
    let run = run_kaic(&kubeconfig, &["--focus", check, "--conformance-version", "1.36", "--timeout-scale", scale]);
    let report = run.check(check);
    (run, report)
}

fn text<'a>(check: &'a serde_json::Value, field: &str) -> &'a str {
    check[field].as_str().unwrap_or_else(|| panic!("no {field}: {check:#}"))
}

/// (name, status) of the cases recorded as solutions.
fn cases(check: &serde_json::Value) -> Vec<(String, String)> {
    check["evidence"]["solutions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string()))
        .collect()
}

fn item_names(check: &serde_json::Value, kind: &str) -> Vec<String> {
    check["evidence"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|i| i["kind"] == kind)
        .filter_map(|i| i["name"].as_str().map(String::from))
        .collect()
}

#[test]
fn every_gpu_reports_per_device_metrics_that_follow_kaics_load() {
    let (run, check) = run("default", "accelerator_metrics");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = text(&check, "reason");
    for node in GPU_NODES {
        assert!(
            reason.contains(&format!("node {node}: 4 device(s) matched by UUID, each with utilisation (")),
            "{node}: {reason}"
        );
    }
    assert!(reason.contains("DCGM_FI_DEV_GPU_UTIL") && reason.contains("DCGM_FI_DEV_FB_USED"), "{reason}");
    assert!(reason.contains("OpenTelemetry hw.gpu.utilization") && reason.contains("hw.gpu.memory.usage"), "{reason}");
    assert!(reason.contains("via DCGM exporter pod gpu-operator/"), "{reason}");
    assert!(reason.contains("temperature: DCGM_FI_DEV_GPU_TEMP"), "{reason}");
    assert!(reason.contains("interconnect: DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL"), "{reason}");
    // The workload-driven case: the loaded device (by its DRA uuid) rose, idle ones stayed, the series named
    // kaic's pod, and it fell back after the pod was deleted.
    assert!(reason.contains("workload-driven: on node gpu-node-"), "{reason}");
    assert!(reason.contains("DCGM_FI_DEV_GPU_UTIL of GPU-"), "{reason}");
    assert!(reason.contains("idle devices stayed put"), "{reason}");
    assert!(reason.contains("the series carried kaic's pod kaic-accelerator-metrics-"), "{reason}");
    assert!(reason.contains("/gpu-load)") && reason.contains("fell back to"), "{reason}");
    assert_eq!(
        cases(&check),
        vec![
            ("node gpu-node-0".to_string(), "pass".to_string()),
            ("node gpu-node-1".to_string(), "pass".to_string()),
            ("workload-driven".to_string(), "pass".to_string()),
        ]
    );
    let logs = item_names(&check, "log");
    for node in GPU_NODES {
        assert!(logs.contains(&format!("metrics-{node}")), "the scraped page of {node} is evidence: {logs:?}");
    }
    let values = item_names(&check, "value");
    assert!(values.iter().any(|v| v.starts_with("baseline DCGM_FI_DEV_GPU_UTIL on gpu-node-")), "{values:?}");
}

/// A recognised exporter that runs on one GPU node and not on the other leaves that node's devices without
/// metrics: a failure naming the node and the remedy, while the covered node still passes.
#[test]
fn a_gpu_node_without_the_exporter_that_runs_elsewhere_fails_naming_it_and_the_remedy() {
    let (run, check) = run("no-accelerator-metrics", "accelerator_metrics");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = text(&check, "reason");
    assert!(reason.contains("node gpu-node-1: no accelerator metrics exporter on NVIDIA node gpu-node-1"), "{reason}");
    assert!(!reason.contains("exporter on NVIDIA node gpu-node-0"), "gpu-node-0 runs the exporter: {reason}");
    assert!(reason.contains("--accelerator-metrics-url"), "{reason}");
    let expected = text(&check, "expected");
    assert!(
        expected.contains("a DCGM exporter pod on node gpu-node-1 (labelled app=nvidia-dcgm-exporter"),
        "{expected}"
    );
    let observed = text(&check, "observed");
    assert!(observed.contains("no such pod among the pods on node gpu-node-1"), "{observed}");
    let cases = cases(&check);
    assert!(cases.contains(&("node gpu-node-0".to_string(), "pass".to_string())), "{cases:?}");
    assert!(cases.contains(&("node gpu-node-1".to_string(), "fail".to_string())), "{cases:?}");
}

/// The requirement asks that the platform *allow* the installation of an accelerator metrics solution: with
/// no exporter kaic recognises on any GPU node (`no-gang` runs none), the verdict is the model's one "nothing
/// installed" unknown naming what was looked for, never a failure.
#[test]
fn no_exporter_on_any_gpu_node_is_unknown_naming_what_to_install() {
    let (run, check) = run("no-gang", "accelerator_metrics");
    assert_eq!(check["outcome"], "unknown", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = text(&check, "reason");
    assert!(reason.starts_with("no accelerator metrics exporter kaic recognises is installed (looked for: the DCGM exporter on NVIDIA nodes"), "{reason}");
    assert!(reason.contains("--accelerator-metrics-url"), "{reason}");
    assert!(cases(&check).iter().all(|(_, status)| status != "fail"), "{check:#}");
}

#[test]
fn an_exporter_whose_values_never_change_fails_the_workload_driven_case() {
    let (run, check) = run_scaled("frozen-metrics", "accelerator_metrics", "0.4");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = text(&check, "reason");
    assert!(reason.starts_with("workload-driven: DCGM_FI_DEV_GPU_UTIL of GPU-"), "{reason}");
    assert!(reason.contains("did not rise while kaic's load held it"), "{reason}");
    let expected = text(&check, "expected");
    assert!(expected.contains("a rise of at least 20 from its baseline"), "{expected}");
    let observed = text(&check, "observed");
    assert!(observed.starts_with("workload-driven: samples during the load: "), "{observed}");
    // The failure rests on positive evidence that the load ran: testenv's dcgmproftester logged its work.
    assert!(observed.contains("the load generator ran throughout, its log: "), "{observed}");
    assert!(observed.contains("TensorEngineActive"), "{observed}");
    // The per-device series are all there: presence passes, behaviour fails.
    assert_eq!(
        cases(&check),
        vec![
            ("node gpu-node-0".to_string(), "pass".to_string()),
            ("node gpu-node-1".to_string(), "pass".to_string()),
            ("workload-driven".to_string(), "fail".to_string()),
        ]
    );
}

/// The broken twin of kaic's own load generator: an image without dcgmproftester (the e2e busybox image, whose
/// busybox answers "applet not found" and exits 127) dies at once on a healthy exporter. kaic must say that its
/// own tool died, quoting its log, and never blame the exporter: error, not fail.
#[test]
fn a_load_generator_that_dies_at_once_is_an_error_quoting_its_log_never_a_failure() {
    let kubeconfig = cluster("default");
    let run = run_kaic(
        &kubeconfig,
        &[
            "--focus",
            "accelerator_metrics",
            "--conformance-version",
            "1.36",
            "--probe-image",
            "gpu-load=registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
        ],
    );
    let check = run.check("accelerator_metrics");
    assert_eq!(check["outcome"], "error", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = text(&check, "reason");
    assert!(
        reason.contains("kaic's load generator (registry.k8s.io/e2e-test-images/busybox:1.36.1-1) stopped"),
        "{reason}"
    );
    assert!(reason.contains("applet not found"), "quotes the tool's log: {reason}");
    assert!(reason.contains("dcgmproftester usually needs the SYS_ADMIN capability"), "{reason}");
    assert_eq!(
        cases(&check),
        vec![
            ("node gpu-node-0".to_string(), "pass".to_string()),
            ("node gpu-node-1".to_string(), "pass".to_string()),
            ("workload-driven".to_string(), "error".to_string()),
        ]
    );
    assert!(item_names(&check, "log").contains(&"gpu-load".to_string()), "the load's log is evidence");
}

/// The recorded values whose name starts with `prefix`.
fn values<'a>(check: &'a serde_json::Value, prefix: &str) -> Vec<&'a str> {
    check["evidence"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["kind"] == "value" && i["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .filter_map(|i| i["value"].as_str())
        .collect()
}

/// The series kaic's pod has, judged each on its own: exactly 10 requests in one, none above; registered
/// once, by the annotations (testenv's Prometheus has no Prometheus Operator, and no GMP).
#[test]
fn the_monitoring_system_collects_exactly_the_requests_sent() {
    let (run, check) = run("default", "ai_service_metrics");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = text(&check, "reason");
    assert!(
        reason.starts_with(
            "Prometheus at service monitoring/prometheus:web (through the API server's proxy) collected exactly the 10 \
             requests sent to kaic's model server kaic-ai-service-metrics-"
        ),
        "{reason}"
    );
    assert!(
        reason.contains("/model-server: vllm:request_success_total{namespace=\"kaic-ai-service-metrics-"),
        "{reason}"
    );
    assert!(
        reason.contains(
            "pod=\"model-server\"} at 10 in its series and vllm:e2e_request_latency_seconds_count at 10 in its series, \
             none above"
        ),
        "{reason}"
    );
    assert!(
        reason.contains("registered by: prometheus.io/scrape, /port and /path annotations on the pod)"),
        "{reason}"
    );
    let timings = item_names(&check, "timing");
    assert!(timings.iter().any(|t| t.starts_with("scrape lag")), "{timings:?}");
    let series = values(&check, "vllm:request_success_total{");
    assert!(
        series.len() == 1 && series[0].contains("job=\"kubernetes-pods\"") && series[0].contains("} 10;"),
        "{series:?}"
    );
}

/// A Prometheus collecting each pod under two jobs (a PodMonitor job beside the annotation job) holds two
/// series of kaic's counter, 10 each: every request collected, twice; a sum would say 20 ("too many").
#[test]
fn a_pod_collected_by_two_jobs_is_not_too_many() {
    let (run, check) = run("no-custom-metrics", "ai_service_metrics");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = text(&check, "reason");
    assert!(reason.contains("collected exactly the 10 requests sent to kaic's model server"), "{reason}");
    assert!(reason.contains("of its 2 collected series"), "{reason}");
    assert!(reason.contains("none above"), "{reason}");
    let series = values(&check, "vllm:request_success_total{");
    assert_eq!(series.len(), 1, "{check:#}");
    assert!(series[0].contains("job=\"kubernetes-pods\""), "{series:?}");
    assert!(series[0].contains("job=\"podMonitor/monitoring/workloads/0\""), "{series:?}");
}

#[test]
fn a_prometheus_that_does_not_collect_workloads_fails_with_the_query_and_its_answer() {
    let (run, check) = run_scaled("no-scrape", "ai_service_metrics", "0.4");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = text(&check, "reason");
    assert!(
        reason.starts_with(
            "the monitoring system (Prometheus at service monitoring/prometheus:web (through the API server's proxy)) \
             answers queries and kaic's model server served all 10 requests, but they were not collected within 120s"
        ),
        "{reason}"
    );
    let expected = text(&check, "expected");
    assert!(
        expected.starts_with("a series of vllm:request_success_total{namespace=\"kaic-ai-service-metrics-"),
        "{expected}"
    );
    assert!(
        expected.ends_with("at 10 and one of vllm:e2e_request_latency_seconds_count at 10, none above"),
        "{expected}"
    );
    let observed = text(&check, "observed");
    assert!(observed.contains("no series for kaic's pod under any of the label pairs"), "{observed}");
}
