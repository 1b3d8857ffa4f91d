//! Unusual accelerator nodes, added by the test itself to testenv's `exotic` cluster (kwok manages any
//! node annotated `kwok.x-k8s.io/node=fake`; the simulated NVIDIA driver serves any node labelled
//! `nvidia.com/gpu.present=true`):
//! - a vGPU node makes `virtualized_accelerator` pass (it is not applicable on `default`);
//! - a node with an accelerator kaic does not recognise makes the accelerator checks **unknown**,
//!   never a false fail.
//!
//! One test does both in order, so the two node kinds never overlap.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kaic_e2e::{client, cluster, run_kaic};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

/// Creates a kwok-managed node with loopback addresses (the API server reaches kwok's log endpoint
/// there). Both an InternalIP and a Hostname address are needed: with either missing, kwok's
/// node-initialize stage rewrites the whole address list.
async fn add_kwok_node(nodes: &Api<Node>, name: &str, labels: serde_json::Value, capacity: serde_json::Value) {
    let node: Node = serde_json::from_value(json!({
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": labels,
        },
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
            "capacity": capacity,
            "allocatable": capacity,
        }
    }))
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
}

async fn wait_ready(nodes: &Api<Node>, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = nodes
            .get(name)
            .await
            .ok()
            .and_then(|n| n.status)
            .and_then(|s| s.conditions)
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "node {name} never became Ready");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn vgpu_nodes_pass_and_unrecognised_accelerators_are_unknown() {
    let kubeconfig = cluster("exotic");
    let client = client(&kubeconfig).await;
    let nodes: Api<Node> = Api::all(client);
    let suffix = std::process::id();

    // 1. A vGPU node: GFD's vGPU label, the simulated driver publishes its devices.
    let vgpu = format!("vgpu-node-{suffix}");
    let labels = json!({
        "kubernetes.io/hostname": vgpu, "type": "kwok",
        "nvidia.com/gpu.present": "true", "nvidia.com/vgpu.present": "true",
        "nvidia.com/gpu.product": "NVIDIA-A100-4C", "nvidia.com/cuda.driver-version.full": "580.95.05",
    });
    let capacity = json!({"cpu": "32", "memory": "128Gi", "pods": "110", "nvidia.com/gpu": "4"});
    add_kwok_node(&nodes, &vgpu, labels, capacity).await;
    wait_ready(&nodes, &vgpu).await;
    let run = run_kaic(&kubeconfig, &["--focus", "virtualized_accelerator", "--conformance-version", "1.36"]);
    let check = run.check("virtualized_accelerator");
    nodes.delete(&vgpu, &DeleteParams::default()).await.unwrap();
    assert_eq!(check["outcome"], "pass", "{check:#}\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("a pod on {vgpu}")) && reason.contains("used virtual device /dev/nvidia"),
        "{reason}"
    );

    // 2. An accelerator of no vendor kaic knows.
    let npu = format!("npu-node-{suffix}");
    let labels = json!({"kubernetes.io/hostname": npu, "type": "kwok"});
    let capacity = json!({"cpu": "32", "memory": "128Gi", "pods": "110", "acme.example/npu": "8"});
    add_kwok_node(&nodes, &npu, labels, capacity).await;
    wait_ready(&nodes, &npu).await;
    let run = run_kaic(
        &kubeconfig,
        &["--focus", "secure_accelerator_access,virtualized_accelerator", "--conformance-version", "1.36"],
    );
    nodes.delete(&npu, &DeleteParams::default()).await.unwrap();
    for id in ["secure_accelerator_access", "virtualized_accelerator"] {
        let check = run.check(id);
        assert_eq!(check["outcome"], "unknown", "{id}: {check:#}");
        let reason = check["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("kaic does not recognise extended resource acme.example/npu on node {npu}")),
            "{id}: {reason}"
        );
        assert!(reason.contains("verify by hand"), "{reason}");
    }
    // The NVIDIA nodes were still exercised and their result is kept in the reason.
    let secure = run.check("secure_accelerator_access");
    assert!(secure["reason"].as_str().unwrap().contains("DRA: on gpu-node-"), "{secure:#}");
}
