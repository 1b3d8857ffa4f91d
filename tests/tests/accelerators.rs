//! Accelerator checks end to end on testenv, both ways: the conformant `default` cluster, and the broken
//! profiles `leaky-devices` (every container on a GPU node sees every device) and `wrong-driver-version`
//! (the runtime reports another driver than the one advertised).

use kaic_e2e::{Run, cluster, run_kaic};

const ACCELERATOR_CHECKS: &str =
    "secure_accelerator_access,driver_runtime_management,gpu_sharing,virtualized_accelerator";

fn steps(check: &serde_json::Value) -> Vec<String> {
    check["evidence"]["items"].as_array().unwrap().iter().filter_map(|i| i["text"].as_str().map(String::from)).collect()
}

fn outcome(run: &Run, id: &str) -> (String, String) {
    let check = run.check(id);
    (check["outcome"].as_str().unwrap().to_string(), check["reason"].as_str().unwrap().to_string())
}

#[test]
fn accelerator_checks_pass_on_a_conformant_cluster() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, &["--focus", ACCELERATOR_CHECKS, "--conformance-version", "1.36"]);
    let stderr = run.stderr();

    let (outcome_, reason) = outcome(&run, "secure_accelerator_access");
    assert_eq!(outcome_, "pass", "{reason}\n{stderr}");
    // Both allocation paths were exercised, each with the two-pod case.
    assert!(reason.contains("device-plugin: on gpu-node-") && reason.contains("DRA: on gpu-node-"), "{reason}");
    assert!(reason.contains("a second pod saw another device"), "{reason}");
    let secure = run.check("secure_accelerator_access");
    let logs: Vec<&str> = secure["evidence"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "log")
        .filter_map(|i| i["name"].as_str())
        .collect();
    for expected in ["dra-holder-holder", "dra-holder-sidecar", "dra-no-request-probe", "dp-second-holder"] {
        assert!(logs.contains(&expected), "probe log {expected} kept as evidence: {logs:?}");
    }

    let (outcome_, reason) = outcome(&run, "driver_runtime_management");
    assert_eq!(outcome_, "pass", "{reason}");
    assert!(reason.contains("580.95.05") && reason.contains("DRA attribute driverVersion"), "{reason}");

    let (outcome_, reason) = outcome(&run, "gpu_sharing");
    assert_eq!(outcome_, "pass", "{reason}");
    assert!(reason.contains("DRA shared claim: 2 pods saw the same device"), "{reason}");

    let (outcome_, reason) = outcome(&run, "virtualized_accelerator");
    assert_eq!(outcome_, "not_applicable", "{reason}");
    assert!(reason.contains("no virtualised accelerators found"), "{reason}");

    // Timings are recorded for the probes.
    assert!(steps(&secure).iter().any(|s| s.starts_with("DRA: probing node")));
    assert!(secure["evidence"]["items"].as_array().unwrap().iter().any(|i| i["kind"] == "timing"));
}

#[test]
fn a_node_leaking_devices_fails_secure_access() {
    let kubeconfig = cluster("leaky-devices");
    let run = run_kaic(&kubeconfig, &["--focus", "secure_accelerator_access", "--conformance-version", "1.36"]);
    let check = run.check("secure_accelerator_access");
    assert_eq!(check["outcome"], "fail", "{check:#}");
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("a pod without a request on the same node sees devices"), "{reason}");
    assert!(reason.contains("a container without a grant in the same pod sees devices"), "{reason}");
    let observed = check["observed"].as_str().unwrap();
    assert!(observed.contains("/dev/nvidia3"), "{observed}");
    assert_eq!(run.code(), 1);
}

#[test]
fn a_wrong_driver_version_fails_driver_runtime_management() {
    let kubeconfig = cluster("wrong-driver-version");
    let run = run_kaic(&kubeconfig, &["--focus", "driver_runtime_management", "--conformance-version", "1.36"]);
    let check = run.check("driver_runtime_management");
    assert_eq!(check["outcome"], "fail", "{check:#}");
    assert!(check["expected"].as_str().unwrap().contains("580.95"), "{check:#}");
    assert!(check["observed"].as_str().unwrap().contains("570.172.08"), "{check:#}");
    // A SHOULD failing does not fail the run's MUSTs by itself; the exit code reflects the MUSTs.
    assert_eq!(run.results()["summary"]["checks"]["fail"], 1);
}

#[test]
fn device_plugin_only_mode_skips_dra() {
    let kubeconfig = cluster("default");
    let run = run_kaic(
        &kubeconfig,
        &[
            "--focus",
            "secure_accelerator_access",
            "--allocation-mode",
            "device-plugin",
            "--conformance-version",
            "1.36",
        ],
    );
    let (outcome_, reason) = outcome(&run, "secure_accelerator_access");
    assert_eq!(outcome_, "pass", "{reason}");
    assert!(reason.contains("device-plugin:") && !reason.contains("DRA:"), "{reason}");
}

#[test]
fn without_dra_or_replicas_gpu_sharing_fails_and_device_plugin_checks_still_pass() {
    // no-dra: only the device-plugin path, replicas 1, no partitions: no sharing mechanism at all.
    let kubeconfig = cluster("no-dra");
    let run = run_kaic(&kubeconfig, &["--focus", ACCELERATOR_CHECKS, "--conformance-version", "1.36"]);
    let (outcome_, reason) = outcome(&run, "gpu_sharing");
    assert_eq!(outcome_, "fail", "{reason}");
    assert_eq!(reason, "no GPU sharing mechanism is offered");
    let (outcome_, reason) = outcome(&run, "secure_accelerator_access");
    assert_eq!(outcome_, "pass", "{reason}");
    assert!(reason.starts_with("device-plugin:") && !reason.contains("DRA"), "{reason}");
    let (outcome_, reason) = outcome(&run, "driver_runtime_management");
    assert_eq!(outcome_, "pass", "{reason}");
    assert!(
        reason.contains("node label nvidia.com/cuda.driver-version.full") && !reason.contains("DRA attribute"),
        "{reason}"
    );
}
