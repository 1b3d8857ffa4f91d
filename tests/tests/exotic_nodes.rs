//! Unusual accelerator nodes and platform states, set up by the tests themselves on testenv's `exotic`
//! cluster (kwok manages any node annotated `kwok.x-k8s.io/node=fake`; the simulated NVIDIA driver serves
//! any node labelled `nvidia.com/gpu.present=true`, and its runtime misbehaves on a node labelled
//! `testenv.kaic.dev/nvidia-runtime`):
//! - a vGPU node makes `virtualized_accelerator` pass (it is not applicable on `default`);
//! - a node with an accelerator kaic does not recognise makes the accelerator checks **unknown**;
//! - a runtime that hands every GPU to a container asking with `NVIDIA_VISIBLE_DEVICES=all` fails
//!   `secure_accelerator_access` on its own named finding, reported after "device isolation holds" with
//!   the remedy, and kaic never places a pod on a cordoned node;
//! - an `nvidia-smi` that cannot reach the driver is an **error** carrying its output, never a device;
//! - devices all in use, or only on cordoned nodes, are **unknown** with what to do, never a failure;
//! - a broken vendor DeviceClass is caught by allocating through it;
//! - a healthy time-sliced node (GPU Operator time-slicing: one GPU shared four ways) passes `gpu_sharing`
//!   and `secure_accelerator_access`, the latter without the distinct-device rule, saying so.
//!
//! The tests change shared cluster state, so they take turns (one lock) and each starts by undoing
//! whatever an earlier, interrupted test left behind.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::api::resource::v1::{DeviceClass, ResourceClaim, ResourceSlice};
use kaic_e2e::{Run, client, cluster, run_kaic};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

/// The exotic cluster's own GPU nodes (testenv's `gen-nodes`).
const GPU_NODES: [&str; 2] = ["gpu-node-0", "gpu-node-1"];
/// The label on every node a test adds, so a later test can remove leftovers.
const ADDED: &str = "kaic-e2e/exotic-node";
/// The simulated driver's main DeviceClass and its selector.
const CLASS: &str = "gpu.nvidia.com";
const SELECTOR: &str = "device.driver == 'gpu.nvidia.com' && device.attributes['gpu.nvidia.com'].type == 'gpu'";

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Creates a kwok-managed node with loopback addresses (the API server reaches kwok's log endpoint
/// there). Both an InternalIP and a Hostname address are needed: with either missing, kwok's
/// node-initialize stage rewrites the whole address list.
async fn add_kwok_node(nodes: &Api<Node>, name: &str, mut labels: serde_json::Value, capacity: serde_json::Value) {
    labels[ADDED] = json!("true");
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

/// Polls `ready` every 250 ms for up to a minute.
async fn eventually<F, Fut>(what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready().await {
        assert!(Instant::now() < deadline, "{what} did not happen within 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn wait_ready(nodes: &Api<Node>, name: &str) {
    eventually(&format!("node {name} Ready"), || async {
        nodes
            .get(name)
            .await
            .ok()
            .and_then(|n| n.status)
            .and_then(|s| s.conditions)
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
    })
    .await;
}

/// A GPU node like testenv's own, whose simulated runtime behaves as `runtime` says; waits until it is
/// Ready and the simulated driver published its ResourceSlice.
async fn add_gpu_node(client: &Client, name: &str, runtime: &str) {
    let shape = json!({"nvidia.com/gpu.count": "4", "nvidia.com/gpu.replicas": "1", "testenv.kaic.dev/nvidia-runtime": runtime});
    add_shaped_gpu_node(client, name, shape, 4).await;
}

/// A GPU node with GPU feature discovery's `labels` on top of the common ones, advertising `gpus`
/// `nvidia.com/gpu`; waits until it is Ready and the simulated driver published its ResourceSlice (with
/// the node's physical GPUs: its `nvidia.com/gpu.count`).
async fn add_shaped_gpu_node(client: &Client, name: &str, mut labels: serde_json::Value, gpus: u32) {
    let nodes: Api<Node> = Api::all(client.clone());
    for (key, value) in [
        ("kubernetes.io/hostname", name),
        ("type", "kwok"),
        ("nvidia.com/gpu.present", "true"),
        ("nvidia.com/cuda.driver-version.full", "580.95.05"),
    ] {
        labels[key] = json!(value);
    }
    let capacity = json!({"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": gpus.to_string()});
    add_kwok_node(&nodes, name, labels, capacity).await;
    wait_ready(&nodes, name).await;
    let slices: Api<ResourceSlice> = Api::all(client.clone());
    let slice = format!("{name}-gpu.nvidia.com");
    eventually(&format!("ResourceSlice {slice}"), || async { slices.get_opt(&slice).await.ok().flatten().is_some() })
        .await;
}

async fn set_cordon(client: &Client, node: &str, cordoned: bool) {
    let nodes: Api<Node> = Api::all(client.clone());
    let patch = Patch::Merge(json!({"spec": {"unschedulable": cordoned}}));
    nodes.patch(node, &PatchParams::default(), &patch).await.unwrap();
}

async fn set_class_selector(client: &Client, expression: &str) {
    let classes: Api<DeviceClass> = Api::all(client.clone());
    let patch = Patch::Merge(json!({"spec": {"selectors": [{"cel": {"expression": expression}}]}}));
    classes.patch(CLASS, &PatchParams::default(), &patch).await.unwrap();
}

/// Undoes what any test here changes: added nodes, cordons, the vendor class, the busy namespace.
async fn reset(client: &Client) {
    let nodes: Api<Node> = Api::all(client.clone());
    for node in nodes.list(&ListParams::default().labels(ADDED)).await.unwrap() {
        let name = node.metadata.name.unwrap();
        let _ = nodes.delete(&name, &DeleteParams::default()).await;
    }
    for node in GPU_NODES {
        set_cordon(client, node, false).await;
    }
    set_class_selector(client, SELECTOR).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let _ = namespaces.delete(BUSY, &DeleteParams::default()).await;
    let claims: Api<ResourceClaim> = Api::namespaced(client.clone(), BUSY);
    eventually("the busy namespace's claims gone", || async {
        claims.list(&ListParams::default()).await.map_or(true, |l| l.items.is_empty())
    })
    .await;
    eventually("added nodes gone", || async {
        nodes.list(&ListParams::default().labels(ADDED)).await.unwrap().items.is_empty()
    })
    .await;
}

fn steps(run: &Run, id: &str) -> Vec<String> {
    let check = run.check(id);
    check["evidence"]["items"].as_array().unwrap().iter().filter_map(|i| i["text"].as_str().map(String::from)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn vgpu_nodes_pass_and_unrecognised_accelerators_are_unknown() {
    let _turn = TURN.lock().await;
    let kubeconfig = cluster("exotic");
    let client = client(&kubeconfig).await;
    reset(&client).await;
    let nodes: Api<Node> = Api::all(client.clone());
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

#[tokio::test(flavor = "multi_thread")]
async fn a_runtime_honouring_nvidia_visible_devices_fails_on_its_own_case_and_cordoned_nodes_are_avoided() {
    let _turn = TURN.lock().await;
    let kubeconfig = cluster("exotic");
    let client = client(&kubeconfig).await;
    reset(&client).await;
    let node = format!("accept-env-node-{}", std::process::id());
    add_gpu_node(&client, &node, "accept-env").await;
    // The cluster's own GPU nodes are the better candidates (named first); cordoned, they must be avoided.
    for gpu in GPU_NODES {
        set_cordon(&client, gpu, true).await;
    }
    let run = run_kaic(&kubeconfig, &["--focus", "secure_accelerator_access", "--conformance-version", "1.36"]);
    reset(&client).await;
    let check = run.check("secure_accelerator_access");
    assert_eq!(check["outcome"], "fail", "{check:#}\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    // Device isolation itself holds, and says so first; the escalation is its own finding, with the remedy.
    assert!(reason.starts_with(&format!("device isolation holds (device-plugin: on {node} ")), "{reason}");
    assert!(
        reason.contains(
            "; NVIDIA_VISIBLE_DEVICES escalation: a container without a grant that sets NVIDIA_VISIBLE_DEVICES=all sees \
             devices; the NVIDIA Container Toolkit honours NVIDIA_VISIBLE_DEVICES from unprivileged containers"
        ),
        "{reason}"
    );
    assert!(reason.contains("accept-nvidia-visible-devices-envvar-when-unprivileged = false"), "{reason}");
    assert!(check["observed"].as_str().unwrap().contains("no-request/escalate sees /dev/nvidia"), "{check:#}");
    // Both paths ran on the new node, and held there.
    let solutions = check["evidence"]["solutions"].as_array().unwrap();
    for path in ["device-plugin", "DRA"] {
        let result = solutions.iter().find(|s| s["name"] == path).unwrap_or_else(|| panic!("{path}: {solutions:#?}"));
        assert_eq!(result["status"], "pass", "{result:#}");
        assert!(result["summary"].as_str().unwrap().starts_with(&format!("on {node} ")), "{result:#}");
    }
    let steps = steps(&run, "secure_accelerator_access");
    for gpu in GPU_NODES {
        assert!(
            steps.contains(&format!("node {gpu} is cordoned or not Ready: kaic places no pod there")),
            "{steps:#?}"
        );
    }
}

/// GPU Operator time-slicing (`replicas: 4` on a one-GPU node, advertised as `nvidia.com/gpu: 4`): the
/// simulated device plugin hands every replica of the GPU to its holder, as the real one does. The only
/// schedulable GPU node shares its device, so two probe pods rightly see the same GPU: isolation passes
/// without the distinct-device rule, and says so; the time-slicing case shows two pods sharing it. A
/// healthy shape, never a failure.
#[tokio::test(flavor = "multi_thread")]
async fn a_time_sliced_node_passes_sharing_and_isolation_without_the_distinct_device_rule() {
    let _turn = TURN.lock().await;
    let kubeconfig = cluster("exotic");
    let client = client(&kubeconfig).await;
    reset(&client).await;
    let node = format!("time-sliced-node-{}", std::process::id());
    let shape = json!({
        "nvidia.com/gpu.count": "1", "nvidia.com/gpu.replicas": "4",
        "nvidia.com/gpu.sharing-strategy": "time-slicing", "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3-SHARED",
    });
    add_shaped_gpu_node(&client, &node, shape, 4).await;
    for gpu in GPU_NODES {
        set_cordon(&client, gpu, true).await;
    }
    let run = run_kaic(
        &kubeconfig,
        &[
            "--focus",
            "secure_accelerator_access,gpu_sharing",
            "--allocation-mode",
            "device-plugin",
            "--conformance-version",
            "1.36",
        ],
    );
    reset(&client).await;
    let secure = run.check("secure_accelerator_access");
    assert_eq!(secure["outcome"], "pass", "{secure:#}\n{}", run.stderr());
    let reason = secure["reason"].as_str().unwrap();
    assert!(reason.starts_with(&format!("device-plugin: on {node} the holder saw exactly /dev/nvidia0")), "{reason}");
    assert!(
        reason.contains(&format!(
            "a second pod saw one device too ({node} shares its devices: nvidia.com/gpu.replicas=4, \
             nvidia.com/gpu.sharing-strategy=time-slicing; two pods may rightly see the same one, so the \
             distinct-device rule was not applied)"
        )),
        "{reason}"
    );
    assert!(reason.contains("NVIDIA_VISIBLE_DEVICES escalation: on "), "{reason}");
    let sharing = run.check("gpu_sharing");
    assert_eq!(sharing["outcome"], "pass", "{sharing:#}");
    assert!(
        sharing["reason"]
            .as_str()
            .unwrap()
            .contains("time-slicing (4 replicas): 2 pods ran on 1 physical devices, sharing them"),
        "{sharing:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_nvidia_smi_is_an_error_carrying_its_output_never_a_device() {
    let _turn = TURN.lock().await;
    let kubeconfig = cluster("exotic");
    let client = client(&kubeconfig).await;
    reset(&client).await;
    let node = format!("driver-down-node-{}", std::process::id());
    add_gpu_node(&client, &node, "driver-down").await;
    for gpu in GPU_NODES {
        set_cordon(&client, gpu, true).await;
    }
    let run = run_kaic(
        &kubeconfig,
        &[
            "--focus",
            "secure_accelerator_access,driver_runtime_management",
            "--allocation-mode",
            "device-plugin",
            "--conformance-version",
            "1.36",
        ],
    );
    reset(&client).await;
    for (id, pod) in
        [("secure_accelerator_access", "dp-holder/holder"), ("driver_runtime_management", "driver-probe/probe")]
    {
        let check = run.check(id);
        assert_eq!(check["outcome"], "error", "{id}: {check:#}\n{}", run.stderr());
        let reason = check["reason"].as_str().unwrap();
        assert!(reason.contains(&format!("the vendor tool in {pod}, which holds a device, failed")), "{id}: {reason}");
        assert!(
            reason.contains("`nvidia-smi -L` failed (exit code 9): NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"),
            "{id}: {reason}"
        );
    }
}

/// The namespace of the pods that hold every device.
const BUSY: &str = "kaic-e2e-busy";

#[tokio::test(flavor = "multi_thread")]
async fn devices_in_use_or_on_cordoned_nodes_are_unknown_never_fail() {
    let _turn = TURN.lock().await;
    let kubeconfig = cluster("exotic");
    let client = client(&kubeconfig).await;
    reset(&client).await;
    let checks = "dra_support,secure_accelerator_access,gpu_sharing,driver_runtime_management";

    // 1. Every GPU node cordoned.
    for gpu in GPU_NODES {
        set_cordon(&client, gpu, true).await;
    }
    let run = run_kaic(&kubeconfig, &["--focus", checks, "--conformance-version", "1.35"]);
    reset(&client).await;
    for id in checks.split(',') {
        let check = run.check(id);
        assert_eq!(check["outcome"], "unknown", "{id}: {check:#}\n{}", run.stderr());
        let reason = check["reason"].as_str().unwrap();
        assert!(reason.contains("cordoned or not Ready") || reason.contains("cordoned or NotReady"), "{id}: {reason}");
    }

    // 2. Every device held by pods of another tenant.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": BUSY}})).unwrap())
        .await
        .unwrap();
    let templates: Api<k8s_openapi::api::resource::v1::ResourceClaimTemplate> = Api::namespaced(client.clone(), BUSY);
    let template = json!({"metadata": {"name": "all-four"}, "spec": {"spec": {"devices": {"requests": [
        {"name": "gpus", "exactly": {"deviceClassName": CLASS, "count": 4}}]}}}});
    templates.create(&PostParams::default(), &serde_json::from_value(template).unwrap()).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), BUSY);
    for gpu in GPU_NODES {
        for (kind, resources, claims) in [
            ("plugin", json!({"limits": {"nvidia.com/gpu": "4"}}), json!([])),
            (
                "dra",
                json!({"claims": [{"name": "gpus"}]}),
                json!([{"name": "gpus", "resourceClaimTemplateName": "all-four"}]),
            ),
        ] {
            let pod = json!({"metadata": {"name": format!("{kind}-{gpu}")}, "spec": {
                "nodeSelector": {"kubernetes.io/hostname": gpu}, "resourceClaims": claims,
                "containers": [{"name": "train", "image": "registry.invalid/train:1", "resources": resources}]}});
            pods.create(&PostParams::default(), &serde_json::from_value(pod).unwrap()).await.unwrap();
        }
    }
    eventually("the busy pods running", || async {
        let list = pods.list(&ListParams::default()).await.unwrap();
        list.items.len() == 4
            && list.items.iter().all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    })
    .await;
    let run = run_kaic(&kubeconfig, &["--focus", checks, "--conformance-version", "1.35"]);
    reset(&client).await;
    for id in checks.split(',') {
        let check = run.check(id);
        assert_eq!(check["outcome"], "unknown", "{id}: {check:#}\n{}", run.stderr());
        let reason = check["reason"].as_str().unwrap();
        assert!(reason.contains("in use") || reason.contains("every device is allocated"), "{id}: {reason}");
        assert!(reason.contains("rerun"), "says what to do: {id}: {reason}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_vendor_device_class_is_caught() {
    let _turn = TURN.lock().await;
    let kubeconfig = cluster("exotic");
    let client = client(&kubeconfig).await;
    reset(&client).await;
    // A typo in the vendor's class: it selects none of the GPUs the driver publishes.
    set_class_selector(&client, &SELECTOR.replace("'gpu'", "'gpuu'")).await;
    let run = run_kaic(
        &kubeconfig,
        &[
            "--focus",
            "dra_support,secure_accelerator_access",
            "--allocation-mode",
            "dra",
            "--conformance-version",
            "1.35",
            // The pods through the broken class never run: do not wait the full default for them.
            "--timeout-scale",
            "0.25",
        ],
    );
    reset(&client).await;
    let dra = run.check("dra_support");
    assert_eq!(dra["outcome"], "fail", "{dra:#}\n{}", run.stderr());
    let reason = dra["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "the platform's DeviceClass gpu.nvidia.com does not allocate gpu.nvidia.com devices that kaic's own class allocates"
        ) && reason.contains("selects none of the"),
        "{reason}"
    );
    let secure = run.check("secure_accelerator_access");
    assert_eq!(secure["outcome"], "fail", "{secure:#}");
    assert_eq!(
        secure["reason"],
        "DRA: the platform's DeviceClass gpu.nvidia.com does not allocate a device that kaic's own class allocates"
    );
}
