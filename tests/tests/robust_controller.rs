//! `robust_controller` end to end on testenv, both ways: on `default` Kueue's CRDs are Established, its
//! webhook denies an invalid ResourceFlavor that schema validation admits, and its controller reconciles a
//! ClusterQueue to Active; on `kueue-dead-webhooks` (webhooks pointing where nothing listens, failures
//! ignored) the invalid object is admitted and the check fails, leaving nothing behind; on `no-gang` (no
//! operator kaic recognises) the check is unknown, never a false fail.

use kaic_e2e::{client, cluster, live_kueue, run_kaic};

fn steps(check: &serde_json::Value) -> Vec<String> {
    let items = check["evidence"]["items"].as_array().cloned().unwrap_or_default();
    items.iter().filter_map(|i| i["text"].as_str().map(String::from)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn robust_controller_passes_with_kueue_and_leaves_nothing_behind() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, &["--focus", "robust_controller"]);
    let check = run.check("robust_controller");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.starts_with("an AI operator works — Kueue: "), "{reason}");
    assert!(reason.contains("webhook vresourceflavor.kb.io denied an invalid ResourceFlavor"), "{reason}");
    let steps = steps(&check);
    let denial = steps.iter().find(|s| s.contains("denied by admission webhook vresourceflavor.kb.io"));
    let denial = denial.unwrap_or_else(|| panic!("the webhook denial is a step: {steps:#?}"));
    assert!(denial.contains("spec.nodeTaints[0].value: Invalid value"), "the webhook's own message: {denial}");
    assert!(denial.contains("the same object with value \"valid\" was admitted"), "{denial}");
    assert!(steps.iter().any(|s| s.contains("CRDs of kueue.x-k8s.io are Established")), "{steps:#?}");
    assert!(steps.iter().any(|s| s.contains("served by URL https://127.0.0.1:")), "testenv serves by URL: {steps:#?}");
    assert!(steps.iter().any(|s| s.contains("became Active")), "{steps:#?}");

    let run_id = run.results()["run_id"].as_str().unwrap().to_string();
    let client = client(&kubeconfig).await;
    for kind in ["ClusterQueue", "ResourceFlavor"] {
        assert!(live_kueue(&client, kind, &format!("kaic.dev/run-id={run_id}")).await.is_empty(), "{kind} left behind");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn robust_controller_fails_when_the_webhook_admits_an_invalid_object() {
    let kubeconfig = cluster("kueue-dead-webhooks");
    let run = run_kaic(&kubeconfig, &["--focus", "robust_controller"]);
    let check = run.check("robust_controller");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    assert_eq!(check["reason"], "Kueue: the operator's webhook admitted an invalid object");
    let expected = check["expected"].as_str().unwrap();
    assert!(expected.contains("denied by a validating admission webhook"), "{expected}");
    let observed = check["observed"].as_str().unwrap();
    assert!(observed.contains("admitted (server-side dry run, nothing stored)"), "{observed}");
    assert!(observed.contains("vresourceflavor.kb.io"), "names the webhook that should have denied: {observed}");
    // The dry run stored nothing: no ResourceFlavor with an invalid taint exists, labelled or not.
    let client = client(&kubeconfig).await;
    let names = live_kueue(&client, "ResourceFlavor", "app.kubernetes.io/managed-by=kaic").await;
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn robust_controller_is_unknown_without_an_operator_kaic_recognises() {
    let kubeconfig = cluster("no-gang");
    let run = run_kaic(&kubeconfig, &["--focus", "robust_controller"]);
    let check = run.check("robust_controller");
    assert_eq!(check["outcome"], "unknown", "{check:#}");
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.starts_with("no AI operator kaic recognises (Kueue, JobSet"), "{reason}");
    assert!(reason.contains("its webhook rejects an invalid object"), "says what to verify: {reason}");
}
