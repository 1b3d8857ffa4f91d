//! `cluster_autoscaling` end to end on testenv, with Karpenter v1.14.1's kwok provider as the node
//! autoscaler (testenv/karpenter.sh):
//! - on `default` a pod beyond the free devices makes Karpenter add a 4-GPU node that joins Ready and runs
//!   it, the node is removed once the pod is gone, and a pod asking for an accelerator no NodePool offers
//!   gets no node while Karpenter says why: pass;
//! - on `stuck-autoscaler` (consolidateAfter Never) the node stays: fail on scale-down, naming the node; there
//!   the test also deletes kaic's first scale-up pod while it waits (as the taint-eviction controller does in
//!   the startup-taint race, kubernetes/kubernetes#119862) and kaic creates it again and still sees the scale-up;
//! - on `autoscaler-no-gpu` (only a CPU instance type) Karpenter refuses the GPU pod: fail on scale-up,
//!   quoting Karpenter's event;
//! - on `fake-sandbox` (no node autoscaler at all) the requirement's condition does not hold: not applicable;
//! - there, with cluster-autoscaler's status ConfigMap put in place by the test (an autoscaler that says it
//!   runs but never adds a node): unknown without `--include-opt-in` (its nodes would cost money), and with it a
//!   failure naming the pod kept off every existing node.
//!
//! Karpenter's kwok nodes cost nothing, so on them the check runs without opt-in. The `fake-sandbox` tests
//! take turns: one adds the ConfigMap the other must not see.

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kaic_e2e::{client, cluster, run_kaic};
use kube::Api;
use kube::api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams};

/// The `fake-sandbox` tests take turns (see the header).
static NO_AUTOSCALER_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

const FOCUS: &[&str] = &["--focus", "cluster_autoscaling", "--conformance-version", "1.37"];

/// Deletes every NodeClaim (and so every node Karpenter made) of the cluster, and waits until they are
/// gone: `stuck-autoscaler` never removes its nodes, and the NodePool's GPU limit would stop a later run.
async fn remove_karpenter_nodes(kubeconfig: &std::path::Path) {
    let client = client(kubeconfig).await;
    let gvk = GroupVersionKind::gvk("karpenter.sh", "v1", "NodeClaim");
    let claims: Api<DynamicObject> = Api::all_with(client, &ApiResource::from_gvk_with_plural(&gvk, "nodeclaims"));
    let _ = claims.delete_collection(&DeleteParams::default(), &ListParams::default()).await;
    for _ in 0..240 {
        if claims.list(&ListParams::default()).await.map(|l| l.items.is_empty()).unwrap_or(false) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("Karpenter's NodeClaims were not gone 2 minutes after their deletion");
}

#[test]
fn karpenter_adds_a_gpu_node_removes_it_and_refuses_an_unoffered_accelerator() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, FOCUS);
    let check = run.check("cluster_autoscaling");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.starts_with("Karpenter (NodePools amd-gpu [karpenter.kwok.sh/KWOKNodeClass], gpu ["), "{reason}");
    assert!(reason.contains("1 pod of one nvidia.com/gpu went pending (Unschedulable), node kwok-gpu-"), "{reason}");
    assert!(reason.contains(" (4 nvidia.com/gpu) appeared after "), "{reason}");
    assert!(reason.contains(" s after kaic's pods were deleted"), "{reason}");
    assert!(
        reason.contains(
            "a pod asking for kaic.dev/unoffered-accelerator got no node and the autoscaler said why: karpenter \
             FailedScheduling: Failed to schedule pod, "
        ),
        "{reason}"
    );
    let timings = run.file("evidence/cluster_autoscaling/results.json");
    assert!(timings.contains("scale-down: kaic's pods deleted to the added nodes removed"), "{timings}");
}

/// Deletes kaic's first scale-up pod once, as soon as it exists (within 10 minutes): what the taint-eviction
/// controller does to a pod in the startup-taint race. Returns the deleted pod's name.
fn delete_first_scale_up_pod(kubeconfig: std::path::PathBuf) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let pods: Api<Pod> = Api::all(client(&kubeconfig).await);
            let scale_up = ListParams::default().labels("kaic.dev/autoscaling-role=scale-up");
            for _ in 0..6000 {
                if let Some(pod) = pods.list(&scale_up).await.unwrap().items.into_iter().next() {
                    let (namespace, name) = (pod.metadata.namespace.unwrap(), pod.metadata.name.unwrap());
                    let in_namespace: Api<Pod> = Api::namespaced(pods.clone().into_client(), &namespace);
                    in_namespace.delete(&name, &DeleteParams::default().grace_period(0)).await.unwrap();
                    return name;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("no scale-up pod of kaic appeared within 10 minutes");
        })
    })
}

#[test]
fn an_autoscaler_that_never_removes_its_node_fails_on_scale_down() {
    let kubeconfig = cluster("stuck-autoscaler");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(remove_karpenter_nodes(&kubeconfig));
    let mut args = FOCUS.to_vec();
    args.extend(["--wait", "node-scale-down=60"]);
    let deleter = delete_first_scale_up_pod(kubeconfig.clone());
    let run = run_kaic(&kubeconfig, &args);
    runtime.block_on(remove_karpenter_nodes(&kubeconfig));
    let deleted = deleter.join().expect("the test deleted a scale-up pod");
    let results = run.file("evidence/cluster_autoscaling/results.json");
    assert!(
        results
            .contains(&format!("pod {deleted} was removed before it ran (no event said why): kaic creates it again")),
        "{results}"
    );
    let check = run.check("cluster_autoscaling");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.ends_with("the node it added was not removed once kaic's pods were gone"), "{reason}");
    let expected = check["expected"].as_str().unwrap();
    assert!(expected.starts_with("the added node removed within 60 s"), "{expected}");
    let observed = check["observed"].as_str().unwrap();
    assert!(observed.starts_with("still present after 60 s, running no pods but DaemonSets': kwok-gpu-"), "{observed}");
}

#[test]
fn an_autoscaler_without_accelerator_instance_types_fails_on_scale_up_quoting_it() {
    let kubeconfig = cluster("autoscaler-no-gpu");
    let run = run_kaic(&kubeconfig, &[FOCUS, &["--wait", "scale-up-refused=20"]].concat());
    let check = run.check("cluster_autoscaling");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.ends_with("refused to add a node for pods asking for one nvidia.com/gpu"), "{reason}");
    let observed = check["observed"].as_str().unwrap();
    assert!(
        observed.contains(
            "it said: karpenter FailedScheduling: Failed to schedule pod, nodepool requirements filtered out all \
             available instance types"
        ),
        "{observed}"
    );
    assert!(observed.contains("scale-up-0: phase Pending on no node"), "{observed}");
}

#[test]
fn no_node_autoscaler_is_not_applicable() {
    let _turn = NO_AUTOSCALER_TURN.lock().unwrap_or_else(|p| p.into_inner());
    let kubeconfig = cluster("fake-sandbox");
    // What an interrupted run of the other test may have left.
    tokio::runtime::Runtime::new().unwrap().block_on(cluster_autoscaler_status(&kubeconfig, false));
    let run = run_kaic(&kubeconfig, FOCUS);
    let check = run.check("cluster_autoscaling");
    assert_eq!(check["outcome"], "not_applicable", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.starts_with("no node autoscaler found: no Karpenter NodePool"), "{reason}");
}

/// Puts cluster-autoscaler's status ConfigMap in kube-system (`present`) or removes it.
async fn cluster_autoscaler_status(kubeconfig: &std::path::Path, present: bool) {
    let config_maps: Api<ConfigMap> = Api::namespaced(client(kubeconfig).await, "kube-system");
    let _ = config_maps.delete("cluster-autoscaler-status", &DeleteParams::default()).await;
    if present {
        let status: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "cluster-autoscaler-status"},
            "data": {"status": "Cluster-autoscaler status at 2026-12-01 12:00:00 UTC:\nCluster-wide:\n  Health: Healthy"}
        }))
        .unwrap();
        config_maps.create(&PostParams::default(), &status).await.unwrap();
    }
}

#[test]
fn a_cluster_autoscaler_is_exercised_only_with_consent_and_fails_when_it_adds_nothing() {
    let _turn = NO_AUTOSCALER_TURN.lock().unwrap_or_else(|p| p.into_inner());
    let kubeconfig = cluster("fake-sandbox");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(cluster_autoscaler_status(&kubeconfig, true));
    let without = run_kaic(&kubeconfig, FOCUS);
    let with = run_kaic(&kubeconfig, &[FOCUS, &["--include-opt-in", "--wait", "node-scale-up=15"]].concat());
    runtime.block_on(cluster_autoscaler_status(&kubeconfig, false));

    let check = without.check("cluster_autoscaling");
    assert_eq!(check["outcome"], "unknown", "{check:#}\nstderr:\n{}", without.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("cluster-autoscaler (ConfigMap kube-system/cluster-autoscaler-status) found; kaic has not"),
        "{reason}"
    );
    assert!(reason.contains("would add a real accelerator node (billable)"), "{reason}");
    assert!(reason.contains("rerun with --include-opt-in"), "{reason}");

    let check = with.check("cluster_autoscaling");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", with.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "cluster-autoscaler (ConfigMap kube-system/cluster-autoscaler-status): no node with nvidia.com/gpu was added \
         for pods beyond the free devices"
    );
    let observed = check["observed"].as_str().unwrap();
    assert!(
        observed.starts_with("new nodes: none; autoscaler said: nothing; pods: scale-up-0: phase Pending"),
        "{observed}"
    );
    assert!(observed.contains("didn't match Pod's node affinity/selector"), "{observed}");
}
