//! `robust_controller` end to end on testenv, both ways: on `default` Kueue, JobSet and LeaderWorkerSet
//! each have their CRDs Established, their webhooks deny an invalid object that schema validation admits,
//! and their controllers reconcile a valid one (a ClusterQueue to Active, a JobSet to Completed, a
//! LeaderWorkerSet to Available); on `dead-webhooks` (webhooks pointing where nothing listens, failures
//! ignored) every invalid object is admitted and the check fails, leaving nothing behind; on `no-gang` (no
//! operator kaic recognises) the check is unknown, never a false fail.

use kaic_e2e::{client, cluster, live_kueue, run_kaic};

fn steps(check: &serde_json::Value) -> Vec<String> {
    let items = check["evidence"]["items"].as_array().cloned().unwrap_or_default();
    items.iter().filter_map(|i| i["text"].as_str().map(String::from)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn robust_controller_passes_with_kueue_jobset_and_lws_and_leaves_nothing_behind() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, &["--focus", "robust_controller"]);
    let check = run.check("robust_controller");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.starts_with("an AI operator works — Kueue: "), "{reason}");
    assert!(
        reason.contains("Kueue: CRDs Established (11); webhook vresourceflavor.kb.io denied a ResourceFlavor"),
        "{reason}"
    );
    assert!(reason.contains("JobSet: CRDs Established (1); webhook vjobset.kb.io denied a JobSet"), "{reason}");
    assert!(reason.contains("JobSet kaic-operator ran its Job and reached Completed"), "{reason}");
    assert!(
        reason.contains("LeaderWorkerSet: CRDs Established (1); webhook vleaderworkerset.kb.io denied"),
        "{reason}"
    );
    assert!(reason.contains("LeaderWorkerSet kaic-operator started its leader and became Available"), "{reason}");
    let steps = steps(&check);
    let denial = steps.iter().find(|s| s.contains("denied by admission webhook vresourceflavor.kb.io"));
    let denial = denial.unwrap_or_else(|| panic!("the webhook denial is a step: {steps:#?}"));
    assert!(denial.contains("spec.nodeTaints[0].value: Invalid value"), "the webhook's own message: {denial}");
    assert!(denial.contains("its valid twin was admitted"), "{denial}");
    let jobset = steps.iter().find(|s| s.starts_with("JobSet: dry run")).unwrap_or_else(|| panic!("{steps:#?}"));
    assert!(
        jobset.contains("'kaic-missing' does not appear in .spec.ReplicatedJobs"),
        "JobSet's own message: {jobset}"
    );
    assert!(steps.iter().any(|s| s.contains("CRDs of kueue.x-k8s.io Established")), "{steps:#?}");
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
    let kubeconfig = cluster("dead-webhooks");
    let run = run_kaic(&kubeconfig, &["--focus", "robust_controller"]);
    let check = run.check("robust_controller");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    assert_eq!(
        check["reason"],
        "Kueue: the operator's webhook admitted an invalid object; JobSet: the operator's webhook admitted an invalid \
         object; LeaderWorkerSet: the operator's webhook admitted an invalid object"
    );
    let expected = check["expected"].as_str().unwrap();
    assert_eq!(expected.matches("denied by a validating admission webhook").count(), 3, "{expected}");
    let observed = check["observed"].as_str().unwrap();
    assert_eq!(observed.matches("admitted (server-side dry run, nothing stored)").count(), 3, "{observed}");
    for webhook in ["vresourceflavor.kb.io", "vjobset.kb.io", "vleaderworkerset.kb.io"] {
        assert!(observed.contains(webhook), "names the webhook that should have denied: {observed}");
    }
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
    assert!(reason.starts_with("no AI operator kaic recognises is installed (looked for: Kueue, JobSet"), "{reason}");
    assert!(reason.contains("its webhook rejects an invalid object"), "says what to verify: {reason}");
}
