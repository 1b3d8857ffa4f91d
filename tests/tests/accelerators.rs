//! Accelerator checks end to end on testenv, both ways: the conformant `default` cluster, and the broken
//! profiles `leaky-devices` (every container on a GPU node sees every device) and `wrong-driver-version`
//! (the runtime reports another driver than the one advertised). testenv's simulated runtime prints what
//! kaic's probe prints on a real node (device nodes, `nvidia-smi -L` output), so kaic's parsing runs as it
//! would there. Nodes with broken runtimes, busy devices and a broken vendor DeviceClass are in
//! `exotic_nodes.rs`.

use kaic_e2e::{Run, cluster, run_kaic};

const ACCELERATOR_CHECKS: &str =
    "secure_accelerator_access,driver_runtime_management,gpu_sharing,virtualized_accelerator";

fn steps(check: &serde_json::Value) -> Vec<String> {
    check["evidence"]["items"].as_array().unwrap().iter().filter_map(|i| i["text"].as_str().map(String::from)).collect()
}

/// The text of the evidence file of a probe log, by its name.
fn log_file(run: &Run, check: &serde_json::Value, name: &str) -> String {
    let files: Vec<&str> = check["evidence_files"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
    let file = files
        .iter()
        .find(|f| f.ends_with(&format!("-{name}.log")))
        .unwrap_or_else(|| panic!("no log {name}: {files:?}"));
    std::fs::read_to_string(run.dir.path().join(file)).unwrap()
}

/// (name, status) of the solution results recorded for a check, one per case.
fn solutions(check: &serde_json::Value) -> Vec<(String, String)> {
    check["evidence"]["solutions"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|r| (r["name"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
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
    // Both allocation paths were exercised, each with the two-pod case; on DRA the second pod allocated
    // through the platform's own DeviceClass (not mig.nvidia.com, which selects none of the free GPUs).
    assert!(reason.contains("device-plugin: on gpu-node-") && reason.contains("DRA: on gpu-node-"), "{reason}");
    assert!(reason.contains("a second pod saw another device"), "{reason}");
    assert!(
        reason
            .contains("a second pod, allocated through the platform's DeviceClass gpu.nvidia.com, saw another device"),
        "{reason}"
    );
    // The env-var escalation is its own case.
    assert!(
        reason.contains("NVIDIA_VISIBLE_DEVICES escalation: on gpu-node-")
            && reason.contains("a container without a grant that sets NVIDIA_VISIBLE_DEVICES=all saw no device"),
        "{reason}"
    );
    let secure = run.check("secure_accelerator_access");
    assert_eq!(
        solutions(&secure),
        vec![
            ("device-plugin".to_string(), "pass".to_string()),
            ("NVIDIA_VISIBLE_DEVICES escalation".to_string(), "pass".to_string()),
            ("DRA".to_string(), "pass".to_string()),
        ]
    );
    let logs: Vec<&str> = secure["evidence"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "log")
        .filter_map(|i| i["name"].as_str())
        .collect();
    for expected in [
        "dra-holder-holder",
        "dra-holder-sidecar",
        "dra-no-request-probe",
        "dp-second-holder",
        "dp-no-request-escalate",
    ] {
        assert!(logs.contains(&expected), "probe log {expected} kept as evidence: {logs:?}");
    }
    // The probe logs carry the tool's own output, which kaic parsed.
    let holder = log_file(&run, &secure, "dra-holder-holder");
    assert!(
        holder.contains("KAIC-TOOL-BEGIN list nvidia-smi -L\nGPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-"),
        "{holder}"
    );
    let sidecar = log_file(&run, &secure, "dra-holder-sidecar");
    assert!(sidecar.contains("KAIC-TOOL-MISSING list nvidia-smi -L"), "{sidecar}");
    // Every probe pod was pinned by node affinity and hardened.
    let pod = std::fs::read_to_string(
        run.dir.path().join(
            secure["evidence_files"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.contains("Pod-dra-holder"))
                .unwrap(),
        ),
    )
    .unwrap();
    assert!(
        pod.contains("matchFields") && pod.contains("runAsNonRoot: true") && pod.contains("NVIDIA_VISIBLE_DEVICES"),
        "{pod}"
    );

    let (outcome_, reason) = outcome(&run, "driver_runtime_management");
    assert_eq!(outcome_, "pass", "{reason}");
    assert!(reason.contains("580.95.05") && reason.contains("DRA attribute driverVersion"), "{reason}");

    let (outcome_, reason) = outcome(&run, "gpu_sharing");
    assert_eq!(outcome_, "pass", "{reason}");
    assert!(reason.contains("DRA shared claim: 2 pods saw the same device"), "{reason}");
    assert_eq!(solutions(&run.check("gpu_sharing")), vec![("DRA shared claim".to_string(), "pass".to_string())]);

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
    assert!(
        reason.contains(
            "NVIDIA_VISIBLE_DEVICES escalation: a container without a grant that sets NVIDIA_VISIBLE_DEVICES=all sees devices"
        ),
        "{reason}"
    );
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

/// no-dra: only the device-plugin path, replicas 1, no partitions: no sharing mechanism is configured.
/// The requirement is about what the platform supports, and a pool without sharing configured says
/// nothing against it: gpu_sharing is unknown, saying how to enable a mechanism (it used to fail).
#[test]
fn without_dra_or_replicas_gpu_sharing_is_unknown_and_device_plugin_checks_still_pass() {
    let kubeconfig = cluster("no-dra");
    let run = run_kaic(&kubeconfig, &["--focus", ACCELERATOR_CHECKS, "--conformance-version", "1.36"]);
    let (outcome_, reason) = outcome(&run, "gpu_sharing");
    assert_eq!(outcome_, "unknown", "{reason}");
    assert!(reason.starts_with("no accelerator sharing mechanism is configured"), "{reason}");
    assert!(reason.contains("Enable one on a pool and rerun"), "{reason}");
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
