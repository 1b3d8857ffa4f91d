//! The workload-driven case's judgement and its load pod. kaic puts a compute load on one device and reads
//! the exporter before (baseline), during and after: the utilisation of **that** device must rise (by at
//! least 20 points, 0.2 for ratio metrics, or from 0 to above 0 on exporters that quantise), an idle
//! device must not rise with it (a rise on every device is node-level, not per-device, reporting), and the
//! utilisation must fall back once the pod is gone. All of it is pure, so it is unit-tested.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::accelerators::probe::Grant;
use crate::accelerators::vendor::Vendor;
use crate::check::CheckContext;
use crate::pods;

/// The key of `--probe-image` for the load image (`--probe-image gpu-load=IMAGE`).
pub const LOAD_IMAGE_KEY: &str = "gpu-load";

/// The label that tells a runtime (and testenv's simulated exporter) that a pod is kaic's compute load.
pub const LOAD_LABEL: (&str, &str) = ("kaic.dev/probe-load", "compute");

/// What the load pod runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSpec {
    pub image: String,
    /// The command; empty: the image's own entrypoint.
    pub command: Vec<String>,
}

/// NVIDIA's load: DCGM's CUDA load generator, as NVIDIA documents for exercising dcgm-exporter
/// (`dcgmproftester12 --no-dcgm-validation -t 1004`: tensor-core half-precision matrix multiplies). It runs
/// for 5 minutes, longer than kaic waits for the rise; kaic deletes the pod when done.
pub const NVIDIA_LOAD_IMAGE: &str = "nvcr.io/nvidia/cloud-native/dcgm:4.2.3-1-ubuntu22.04";
const NVIDIA_LOAD_COMMAND: &[&str] = &["dcgmproftester12", "--no-dcgm-validation", "-t", "1004", "-d", "300"];

/// The load for `vendor`: `--probe-image gpu-load=IMAGE` (for NVIDIA with dcgmproftester's command, a
/// mirror of DCGM's image; for another vendor the image's own entrypoint), else NVIDIA's default. `None`:
/// kaic knows no load for the vendor and none was given.
pub fn spec(ctx: &CheckContext, vendor: &Vendor) -> Option<LoadSpec> {
    let given = ctx.options.probe_images.get(LOAD_IMAGE_KEY);
    let nvidia = vendor.probe_label == "nvidia";
    let command = if nvidia { NVIDIA_LOAD_COMMAND.iter().map(|s| s.to_string()).collect() } else { Vec::new() };
    match (given, nvidia) {
        (Some(image), _) => Some(LoadSpec { image: image.clone(), command }),
        (None, true) => Some(LoadSpec { image: ctx.options.probe_image(LOAD_IMAGE_KEY, NVIDIA_LOAD_IMAGE), command }),
        (None, false) => None,
    }
}

/// The load pod: one device through `grant` (and `claims` for DRA), pinned to `node`, hardened, labelled as
/// kaic's compute load.
pub fn manifest(
    ctx: &CheckContext,
    name: &str,
    node: &crate::accelerators::inventory::AcceleratorNode,
    load: &LoadSpec,
    grant: &Grant,
    claims: &[crate::accelerators::probe::PodClaim],
) -> Value {
    let mut labels = ctx.labels();
    labels.insert(LOAD_LABEL.0.into(), LOAD_LABEL.1.into());
    // Not labelled kaic.dev/probe: it is no probe that prints and exits, it must keep the device busy.
    let resources = match grant {
        Grant::Extended { resource, count } => json!({"limits": {resource.as_str(): count.to_string()}}),
        Grant::Claim { entry } => json!({"claims": [{"name": entry}]}),
        Grant::Nothing | Grant::AskForAll => json!({}),
    };
    // A writable working directory: load generators write logs next to themselves, and kaic's user owns no
    // other directory of the image.
    let mut container = json!({"name": "load", "image": load.image, "resources": resources, "workingDir": "/tmp",
                               "env": crate::accelerators::probe::visible_devices_env(node.vendor, grant)});
    if !load.command.is_empty() {
        container["command"] = json!(load.command);
    }
    let claims: Vec<Value> = claims.iter().map(crate::accelerators::probe::PodClaim::manifest).collect();
    let mut spec = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "affinity": pods::pin_to(&node.name),
        "tolerations": node.tolerations,
        "resourceClaims": claims,
        "containers": [container]
    });
    pods::harden(&mut spec);
    json!({"metadata": {"name": name, "labels": labels}, "spec": spec})
}

/// Why kaic's load generator is no longer producing load, or `None` while it runs: the pod ended (Succeeded,
/// Failed), its container terminated or restarted, or it cannot start. kaic reads this on every scrape: a load
/// that died says nothing about the exporter, so its case ends as an error quoting the tool's log, never as a
/// failure of the platform.
pub fn stopped(pod: Option<&k8s_openapi::api::core::v1::Pod>) -> Option<String> {
    let Some(pod) = pod else { return Some("the load pod is gone".into()) };
    if let Some(fatal) = pods::fatal_state(pod) {
        return Some(fatal);
    }
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    if phase != "Running" {
        return Some(format!("the load pod is {phase}"));
    }
    for container in status.and_then(|s| s.container_statuses.as_ref()).into_iter().flatten() {
        if let Some(t) = container.state.as_ref().and_then(|s| s.terminated.as_ref()) {
            return Some(format!(
                "container {} exited {}{}",
                container.name,
                t.exit_code,
                t.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
            ));
        }
        if container.restart_count > 0 {
            return Some(format!("container {} restarted {} time(s)", container.name, container.restart_count));
        }
    }
    None
}

/// Whether the load generator's log shows that it started working: a tool that runs prints (dcgmproftester
/// its test and per-worker progress). An empty log is no evidence that any load existed.
pub fn log_shows_work(log: &str) -> bool {
    log.lines().any(|l| !l.trim().is_empty())
}

/// The last `lines` lines of a log, for a reason.
pub fn log_tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

/// The smallest rise that counts: 20 points of a percentage, 0.2 of a ratio.
pub fn threshold(ratio: bool) -> f64 {
    if ratio { 0.2 } else { 20.0 }
}

/// One scrape during the load, judged.
#[derive(Debug, Clone, PartialEq)]
pub enum Rise {
    /// The target rose; idle devices that rose too (a note when others stayed put).
    Moved { value: f64, idle_moved: Vec<String> },
    /// The target rose, and so did every idle device: the exporter reports the node, not the device.
    NodeWide { value: f64, idle_moved: Vec<String> },
    /// The target has not risen (yet); its value, if the scrape had it.
    NotYet(Option<f64>),
}

/// Judges one scrape against the baseline. `busy` are devices other workloads use (attributed to other
/// pods): they may move on their own and are not idle.
pub fn judge_rise(
    target: &str,
    baseline: &BTreeMap<String, f64>,
    now: &BTreeMap<String, f64>,
    busy: &[String],
    ratio: bool,
) -> Rise {
    let step = threshold(ratio);
    let rose = |key: &str| match (baseline.get(key), now.get(key)) {
        (Some(before), Some(after)) => after - before >= step || (*before == 0.0 && *after > 0.0 && key == target),
        _ => false,
    };
    let Some(value) = now.get(target).copied() else { return Rise::NotYet(None) };
    if !rose(target) {
        return Rise::NotYet(Some(value));
    }
    let idle: Vec<&String> =
        baseline.keys().filter(|k| k.as_str() != target && !busy.contains(k) && now.contains_key(*k)).collect();
    let idle_moved: Vec<String> = idle.iter().filter(|k| rose(k)).map(|k| k.to_string()).collect();
    if !idle.is_empty() && idle_moved.len() == idle.len() {
        Rise::NodeWide { value, idle_moved }
    } else {
        Rise::Moved { value, idle_moved }
    }
}

/// Whether the target fell back after the load: within half a threshold of its baseline, or a threshold
/// below the peak it reached.
pub fn fell_back(baseline: f64, peak: f64, now: f64, ratio: bool) -> bool {
    let step = threshold(ratio);
    now <= baseline + step / 2.0 || now <= peak - step
}

/// A sample series for evidence: `12:00:03 0, 12:00:33 95, …`.
pub fn samples_text(samples: &[(String, Option<f64>)]) -> String {
    if samples.is_empty() {
        return "no sample".into();
    }
    samples
        .iter()
        .map(|(at, v)| format!("{at} {}", v.map_or_else(|| "absent".to_string(), |v| v.to_string())))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn pod(status: serde_json::Value) -> k8s_openapi::api::core::v1::Pod {
        serde_json::from_value(json!({"metadata": {"name": "gpu-load"}, "status": status})).unwrap()
    }

    #[test]
    fn a_load_generator_that_ended_or_restarted_is_no_longer_load() {
        let running = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "load", "restartCount": 0, "ready": true, "image": "x", "imageID": "", "state": {"running": {}}}]}));
        assert_eq!(stopped(Some(&running)), None);
        let exited = pod(json!({"phase": "Failed", "containerStatuses": [
            {"name": "load", "restartCount": 0, "ready": false, "image": "x", "imageID": "",
             "state": {"terminated": {"exitCode": 127, "reason": "Error"}}}]}));
        let why = stopped(Some(&exited)).unwrap();
        assert!(why.contains("failed") && why.contains("exited 127"), "{why}");
        let done = pod(json!({"phase": "Succeeded"}));
        assert_eq!(stopped(Some(&done)).as_deref(), Some("the load pod is Succeeded"));
        let restarted = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "load", "restartCount": 2, "ready": true, "image": "x", "imageID": "", "state": {"running": {}}}]}));
        assert_eq!(stopped(Some(&restarted)).as_deref(), Some("container load restarted 2 time(s)"));
        let terminated_in_running = pod(json!({"phase": "Running", "containerStatuses": [
            {"name": "load", "restartCount": 0, "ready": false, "image": "x", "imageID": "",
             "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}));
        assert_eq!(stopped(Some(&terminated_in_running)).as_deref(), Some("container load exited 1 (Error)"));
        assert_eq!(stopped(None).as_deref(), Some("the load pod is gone"));
    }

    #[test]
    fn only_a_log_with_output_shows_that_the_load_worked() {
        assert!(!log_shows_work(""));
        assert!(!log_shows_work("\n  \n"));
        assert!(log_shows_work("Worker 0:0[1004]: TensorEngineActive: generated 0.950\n"));
        assert_eq!(log_tail("a\n\nb\nc\nd\n", 2), "c | d");
    }

    #[test]
    fn the_loaded_device_moves_and_idle_ones_stay() {
        let before = values(&[("GPU-a", 0.0), ("GPU-b", 0.0), ("GPU-c", 3.0)]);
        let during = values(&[("GPU-a", 95.0), ("GPU-b", 0.0), ("GPU-c", 4.0)]);
        assert_eq!(judge_rise("GPU-a", &before, &during, &[], false), Rise::Moved { value: 95.0, idle_moved: vec![] });
        // Not yet: 10 points is noise, and a device the scrape lacks is not yet seen.
        let small = values(&[("GPU-a", 10.0), ("GPU-b", 0.0), ("GPU-c", 3.0)]);
        let before_busy = values(&[("GPU-a", 5.0), ("GPU-b", 0.0)]);
        assert_eq!(judge_rise("GPU-a", &before_busy, &small, &[], false), Rise::NotYet(Some(10.0)));
        assert_eq!(judge_rise("GPU-z", &before, &during, &[], false), Rise::NotYet(None));
        // A quantising exporter: from 0 to above 0 counts.
        let coarse = values(&[("GPU-a", 1.0), ("GPU-b", 0.0), ("GPU-c", 3.0)]);
        assert!(matches!(judge_rise("GPU-a", &before, &coarse, &[], false), Rise::Moved { .. }));
        // Ratio metrics move by 0.2.
        let r0 = values(&[("GPU-a", 0.01), ("GPU-b", 0.0)]);
        let r1 = values(&[("GPU-a", 0.9), ("GPU-b", 0.0)]);
        assert!(matches!(judge_rise("GPU-a", &r0, &r1, &[], true), Rise::Moved { .. }));
    }

    #[test]
    fn a_frozen_exporter_never_moves() {
        let frozen = values(&[("GPU-a", 0.0), ("GPU-b", 0.0)]);
        assert_eq!(judge_rise("GPU-a", &frozen, &frozen, &[], false), Rise::NotYet(Some(0.0)));
    }

    #[test]
    fn every_device_rising_together_is_node_wide_but_a_busy_neighbour_is_not() {
        let before = values(&[("GPU-a", 0.0), ("GPU-b", 0.0), ("GPU-c", 0.0)]);
        let all = values(&[("GPU-a", 90.0), ("GPU-b", 90.0), ("GPU-c", 90.0)]);
        assert_eq!(
            judge_rise("GPU-a", &before, &all, &[], false),
            Rise::NodeWide { value: 90.0, idle_moved: vec!["GPU-b".into(), "GPU-c".into()] }
        );
        // GPU-b started another user's job: only GPU-c is idle, and it stayed.
        let one_busy = values(&[("GPU-a", 90.0), ("GPU-b", 90.0), ("GPU-c", 0.0)]);
        assert_eq!(
            judge_rise("GPU-a", &before, &one_busy, &["GPU-b".into()], false),
            Rise::Moved { value: 90.0, idle_moved: vec![] }
        );
        // An idle neighbour moved but not all: reported, not node-wide.
        assert_eq!(
            judge_rise("GPU-a", &before, &one_busy, &[], false),
            Rise::Moved { value: 90.0, idle_moved: vec!["GPU-b".into()] }
        );
    }

    #[test]
    fn falling_back_is_near_the_baseline_or_well_below_the_peak() {
        assert!(fell_back(0.0, 95.0, 5.0, false));
        assert!(fell_back(30.0, 95.0, 60.0, false), "a threshold below the peak");
        assert!(!fell_back(0.0, 95.0, 90.0, false));
        assert!(fell_back(0.0, 0.9, 0.05, true));
        assert_eq!(samples_text(&[("t1".into(), Some(0.0)), ("t2".into(), None)]), "t1 0, t2 absent");
    }

    #[tokio::test]
    async fn the_load_pod_is_labelled_pinned_and_hardened() {
        use crate::accelerators::inventory::{Inventory, tests::gpu_node};
        let ctx = CheckContext::offline("accelerator_metrics", crate::check::CheckOptions::default());
        let inv = Inventory::from_objects(&[gpu_node("gpu-0", 4)], &[], &[], &[]);
        let node = &inv.nodes[0];
        let load = spec(&ctx, node.vendor).unwrap();
        let grant = Grant::Extended { resource: "nvidia.com/gpu".into(), count: 1 };
        let pod = manifest(&ctx, "gpu-load", node, &load, &grant, &[]);
        assert_eq!(pod["metadata"]["labels"]["kaic.dev/probe-load"], "compute");
        assert!(pod["metadata"]["labels"].get("kaic.dev/probe").is_none(), "a load pod is no probe pod");
        assert_eq!(pod["spec"]["affinity"], pods::pin_to("gpu-0"));
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["resources"]["limits"]["nvidia.com/gpu"], "1");
        assert_eq!(container["command"][0], "dcgmproftester12");
        assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
        let _: k8s_openapi::api::core::v1::Pod = crate::check::from_json(pod).unwrap();
    }

    #[tokio::test]
    async fn only_nvidia_has_a_default_load_and_an_override_wins() {
        use crate::accelerators::vendor::VENDORS;
        let ctx = CheckContext::offline("accelerator_metrics", crate::check::CheckOptions::default());
        let nvidia = spec(&ctx, &VENDORS[0]).unwrap();
        assert_eq!(nvidia.image, NVIDIA_LOAD_IMAGE);
        assert_eq!(nvidia.command[0], "dcgmproftester12");
        assert!(spec(&ctx, &VENDORS[1]).is_none(), "AMD: no known load");
        let mut options = crate::check::CheckOptions::default();
        options.probe_images.insert(LOAD_IMAGE_KEY.into(), "registry.example/rocm-burn:1".into());
        let ctx = CheckContext::offline("accelerator_metrics", options);
        let amd = spec(&ctx, &VENDORS[1]).unwrap();
        assert_eq!(amd, LoadSpec { image: "registry.example/rocm-burn:1".into(), command: vec![] });
    }
}
