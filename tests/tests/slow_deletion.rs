//! Accelerator checks take turns, and a turn ends only when the previous check's pods and claims are really
//! gone. On the `slow-deletion` profile every deleted pod stays Terminating for 8 s (a kwok
//! finalizer, as a kubelet still stopping containers): the checks must still reach the verdicts they reach on
//! a cluster where deletion is instant, and each must have waited for its namespace to go.

use kaic_e2e::{cluster, run_kaic};

const CHECKS: [&str; 3] = ["secure_accelerator_access", "gpu_sharing", "driver_runtime_management"];

#[test]
fn accelerator_checks_wait_for_terminating_pods_before_the_next_one_starts() {
    let kubeconfig = cluster("slow-deletion");
    let run = run_kaic(&kubeconfig, &["--focus", &CHECKS.join(","), "--conformance-version", "1.36"]);
    let stderr = run.stderr();
    for id in CHECKS {
        let check = run.check(id);
        assert_eq!(check["outcome"], "pass", "{id} on slow-deletion: {check:#}\nstderr:\n{stderr}");
        let waited = check["evidence"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["kind"] == "timing"
                    && i["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("namespace deleted to its pods and claims gone"))
            })
            .and_then(|i| i["millis"].as_u64())
            .unwrap_or_else(|| panic!("{id} recorded no wait for its namespace to go: {check:#}"));
        // Its pods lingered 8 s after deletion, so the turn cannot have moved on sooner.
        assert!(
            waited >= 7_500,
            "{id}: pods and claims gone after {waited} ms, before its pods could have been removed"
        );
    }
}
