//! `workload_sandboxing` end to end on testenv, every way it can end: on `default` the RuntimeClasses
//! `gvisor` (handler runsc) and `kata` (handler kata-qemu) each show their probe pod a kernel of its own
//! while a pod without a RuntimeClass on the same node sees the node's, so the check passes naming both,
//! and the Agent Sandbox controller makes kaic's Sandbox Ready;
//! on `fake-sandbox` the nodes run runsc as plain runc, so the `gvisor` class claims a sandbox its pod does
//! not get and the check fails; on `no-gang` (no RuntimeClass at all) the check is unknown and says what
//! to install, never not applicable.

use kaic_e2e::{cluster, run_kaic};

const ARGS: &[&str] = &["--focus", "workload_sandboxing", "--conformance-version", "1.37"];
/// The kernel testenv's nodes report (`gen-nodes`).
const NODE_KERNEL: &str = "6.8.0-87-generic";

fn solutions(check: &serde_json::Value) -> Vec<(String, String)> {
    let solutions = check["evidence"]["solutions"].as_array().cloned().unwrap_or_default();
    solutions
        .iter()
        .map(|s| {
            (s["name"].as_str().unwrap_or_default().to_string(), s["status"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

fn logs(check: &serde_json::Value) -> Vec<String> {
    let items = check["evidence"]["items"].as_array().cloned().unwrap_or_default();
    items.iter().filter(|i| i["kind"] == "log").filter_map(|i| i["name"].as_str().map(String::from)).collect()
}

#[test]
fn gvisor_and_kata_each_show_their_pod_a_kernel_of_its_own() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("workload_sandboxing");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("workload sandboxing works — gVisor: RuntimeClass gvisor (handler runsc) on "),
        "{reason}"
    );
    assert!(
        reason.contains(&format!("its pod saw kernel 4.4.0 while a pod without it saw the node's {NODE_KERNEL}")),
        "{reason}"
    );
    assert!(reason.contains("Kata Containers: RuntimeClass kata (handler kata-qemu) on "), "{reason}");
    assert!(reason.contains("its pod saw kernel 6.12.36"), "{reason}");
    assert!(reason.contains("PID 1 sh, no host process, host path or host network interface"), "{reason}");
    assert_eq!(
        solutions(&check),
        vec![
            ("gVisor".to_string(), "pass".to_string()),
            ("Kata Containers".to_string(), "pass".to_string()),
            ("Agent Sandbox".to_string(), "pass".to_string()),
        ],
        "{check:#}"
    );
    // testenv runs the Agent Sandbox controller (v0.2.1): kaic's Sandbox with a class that passed became Ready.
    let agent = &check["evidence"]["solutions"][2];
    assert!(
        agent["summary"].as_str().unwrap_or_default().starts_with("Sandbox kaic-sandbox with RuntimeClass "),
        "{agent:#}"
    );
    let logs = logs(&check);
    for pod in ["plain-0", "sandboxed-gvisor", "sandboxed-kata"] {
        assert!(logs.iter().any(|l| l == pod), "the probe log of {pod} is evidence: {logs:?}");
    }
}

#[test]
fn a_gvisor_class_run_by_runc_fails_on_the_nodes_kernel() {
    let kubeconfig = cluster("fake-sandbox");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("workload_sandboxing");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(&format!(
            "gVisor: RuntimeClass gvisor claims a sandbox but its pod saw the node's kernel {NODE_KERNEL} (handler runsc, node "
        )),
        "{reason}"
    );
    assert!(reason.contains("host paths in its mounts: / (overlay mount naming /var/lib/containerd/…)"), "{reason}");
    let expected = check["expected"].as_str().unwrap();
    assert!(expected.contains("runs on a kernel of its own, not the node's"), "{expected}");
    let observed = check["observed"].as_str().unwrap();
    assert!(observed.starts_with(&format!("gVisor: kernel {NODE_KERNEL} (the node's)")), "{observed}");
    assert_eq!(solutions(&check), vec![("gVisor".to_string(), "fail".to_string())], "no Kata in this profile");
}

#[test]
fn no_runtime_class_is_unknown_with_what_to_install() {
    let kubeconfig = cluster("no-gang");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("workload_sandboxing");
    assert_eq!(check["outcome"], "unknown", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.starts_with("no sandbox runtime found: no RuntimeClass has a gVisor"), "{reason}");
    for install in [
        "gVisor or Kata Containers with a RuntimeClass",
        "GKE Sandbox",
        "AKS, pod sandboxing",
        "OpenShift sandboxed containers",
    ] {
        assert!(reason.contains(install), "names {install}: {reason}");
    }
    assert!(logs(&check).is_empty(), "no probe pod runs without a sandbox runtime");
}
