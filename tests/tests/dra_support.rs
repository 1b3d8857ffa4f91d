//! `dra_support` end to end: passes on testenv's default cluster (real scheduler allocating from the
//! simulated driver's slices) and fails with a clear reason when the API server does not serve DRA.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::resource::v1::{DeviceClass, ResourceSlice};
use kaic_e2e::{client, cluster, live_labelled, run_kaic};

#[tokio::test(flavor = "multi_thread")]
async fn dra_support_passes_on_a_conformant_cluster_and_leaves_nothing_behind() {
    let kubeconfig = cluster("default");
    // 1.35 is the newest catalogue with dra_support (the server is 1.37).
    let run = run_kaic(&kubeconfig, &["--focus", "dra_support", "--conformance-version", "1.35"]);
    let check = run.check("dra_support");
    assert_eq!(check["outcome"], "pass", "dra_support did not pass: {check:#}\nstderr:\n{}", run.stderr());
    // The other MUSTs had no check, so they are unknown: none failed, some undecided → exit code 3.
    assert_eq!(run.code(), 3, "stderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("gpu.nvidia.com"), "the reason names the real driver used: {reason}");
    // Allocated as a user would too: through the platform's own class (the simulated NVIDIA driver installs
    // gpu.nvidia.com and mig.nvidia.com; only the first selects the free whole GPUs).
    assert!(reason.contains("through the platform's DeviceClass gpu.nvidia.com a claim got gpu-node-"), "{reason}");

    // Evidence: the round trip steps, the allocation timing, the claim and pod as files.
    let steps: Vec<&str> =
        check["evidence"]["items"].as_array().unwrap().iter().filter_map(|i| i["text"].as_str()).collect();
    for kind in ["DeviceClass", "ResourceSlice", "ResourceClaimTemplate", "ResourceClaim"] {
        assert!(
            steps.iter().any(|s| s.starts_with(kind) && s.contains("created, read, updated, deleted")),
            "no round trip step for {kind}: {steps:#?}"
        );
    }
    let files: Vec<&str> = check["evidence_files"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
    assert!(files.iter().any(|f| f.contains("ResourceClaim-")), "claim evidence written: {files:?}");
    assert!(files.iter().any(|f| f.contains("Pod-dra-consumer-platform")), "the platform-class pod kept: {files:?}");
    assert!(
        steps.iter().any(|s| s
            .starts_with("DRA: allocating through gpu.nvidia.com: the platform's DeviceClass gpu.nvidia.com selects")),
        "which class and why: {steps:#?}"
    );
    for file in &files {
        assert!(run.dir.path().join(file).is_file(), "{file} listed but not written");
    }
    let junit = run.file("junit.xml");
    assert!(junit.contains(r#"<testcase name="dra_support""#));
    assert!(run.file("report.md").contains("dra_support — pass"));

    // Cleanup: nothing labelled with this run is left alive.
    let run_id = run.results()["run_id"].as_str().unwrap().to_string();
    let selector = format!("kaic.dev/run-id={run_id}");
    let client = client(&kubeconfig).await;
    assert!(live_labelled::<Namespace>(&client, &selector).await.is_empty(), "namespace left behind");
    assert!(live_labelled::<DeviceClass>(&client, &selector).await.is_empty(), "DeviceClass left behind");
    assert!(live_labelled::<ResourceSlice>(&client, &selector).await.is_empty(), "ResourceSlice left behind");
}

#[test]
fn dra_support_fails_when_the_dra_api_is_switched_off() {
    let kubeconfig = cluster("no-dra");
    let run = run_kaic(&kubeconfig, &["--focus", "dra_support", "--conformance-version", "1.35"]);
    let check = run.check("dra_support");
    assert_eq!(check["outcome"], "fail", "{check:#}");
    assert!(check["reason"].as_str().unwrap().contains("resource.k8s.io/v1 is not served"), "{check:#}");
    assert!(check["observed"].as_str().unwrap().contains("absent from API discovery"));
    assert_eq!(run.code(), 1);
    let requirement =
        run.results()["requirements"].as_array().unwrap().iter().find(|r| r["id"] == "dra_support").cloned().unwrap();
    assert_eq!(requirement["status"], "not_met");
    assert!(run.stdout().contains("dra_support"), "summary table printed");
}
