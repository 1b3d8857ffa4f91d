//! `pod_autoscaling` end to end on testenv. On `default` prometheus-adapter (namespace `monitoring`, built from
//! its Go module, run as a served pod) serves `custom.metrics.k8s.io` from testenv's Prometheus, mapping vLLM's
//! per-pod gauges (`vllm:num_requests_waiting` → `vllm_num_requests_waiting`); the controller-manager's HPA
//! controller scales kaic's Deployment of llm-d-inference-sim pods, each holding one GPU, up under load and
//! back down after it; its pods are registered once, by the `prometheus.io` annotations (prometheus-adapter
//! reads a Prometheus, and testenv has no Prometheus Operator). `no-custom-metrics` has the same served pods
//! and a Prometheus (collecting each pod under two jobs) but no adapter and no APIService: the check must be
//! unknown, naming what to install.

use kaic_e2e::{cluster, run_kaic};

fn run(profile: &str, scale: &str) -> (kaic_e2e::Run, serde_json::Value) {
    let kubeconfig = cluster(profile);
    let run = run_kaic(
        &kubeconfig,
        &["--focus", "pod_autoscaling", "--conformance-version", "1.36", "--timeout-scale", scale],
    );
    let check = run.check("pod_autoscaling");
    (run, check)
}

/// The check's recorded timings, by name, in milliseconds.
fn timing(check: &serde_json::Value, name: &str) -> u64 {
    check["evidence"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["kind"] == "timing" && i["name"] == name)
        .and_then(|i| i["millis"].as_u64())
        .unwrap_or_else(|| panic!("no timing {name}: {check:#}"))
}

#[test]
fn the_hpa_scales_accelerator_pods_up_under_load_and_back_down_on_a_custom_metric() {
    let (run, check) = run("default", "1");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("on the custom metric vllm_num_requests_waiting"), "{reason}");
    assert!(reason.contains("prometheus-adapter (Service monitoring/prometheus-adapter)"), "{reason}");
    assert!(reason.contains("each new pod Running with one DRA device"), "{reason}");
    assert!(reason.contains("back to 1 replica"), "{reason}");
    // Both directions happened and were timed; the HPA read the metric before any load.
    let up = timing(&check, "scale-up: load to new pods Running with a device");
    let down = timing(&check, "scale-down: load stopped to 1 replica");
    assert!(up > 0 && down > 0, "{check:#}");
    timing(&check, "HPA: create to metric read");
    let steps: Vec<&str> = check["evidence"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "step")
        .filter_map(|i| i["text"].as_str())
        .collect();
    assert!(steps.iter().any(|s| s.contains("at idle: 0 (ScalingActive=True)")), "{steps:#?}");
    assert!(
        steps.contains(
            &"the Deployment's pods are registered for scraping by: prometheus.io/scrape, /port and /path annotations on the pod"
        ),
        "{steps:#?}"
    );
    // Every pod counted under load holds its own device.
    let pods = steps.iter().find(|s| s.starts_with("under load the HPA read")).expect("the scale-up step");
    let devices: Vec<&str> = pods.split("gpu.nvidia.com/").skip(1).map(|d| d.split(' ').next().unwrap()).collect();
    let mut distinct = devices.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(devices.len() >= 2 && distinct.len() == devices.len(), "{pods}");
}

#[test]
fn without_a_custom_metrics_api_it_is_unknown_and_names_what_to_install() {
    let (run, check) = run("no-custom-metrics", "0.2");
    assert_eq!(check["outcome"], "unknown", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains("no custom metrics API is registered (no APIService for custom.metrics.k8s.io)"),
        "{reason}"
    );
    assert!(reason.contains("prometheus-adapter") && reason.contains("KEDA"), "{reason}");
    assert_eq!(run.code(), 3, "an undecided MUST exits 3:\n{}", run.stderr());
}
