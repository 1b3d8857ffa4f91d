//! `gang_scheduling` end to end on testenv, both ways: the `default` cluster (Kueue whose GPU quota matches
//! the nodes, the native Workload/PodGroup API, Volcano, KAI scheduler and scheduler-plugins coscheduling)
//! passes with all five exercised, and still passes when its Kueue quota is raised above the nodes it has
//! today (Karpenter can add nodes: kaic tests with its own queue and notes the over-commit), as does
//! `partial-gang` shown a cluster-autoscaler status ConfigMap (a managed autoscaler); `no-gang`
//! (none installed) is unknown, never a failure; `partial-gang` (Kueue's GPU quota over-commits the nodes, no node
//! autoscaler, waitForPodsReady at its 30-minute default), `native-partial-gang` (the API without the
//! scheduler's gang gate) and `partial-pod-groups` (Volcano and coscheduling without their gang plugins)
//! fail because a gang larger than free capacity starts partially; on `partial-pod-groups` KAI, running
//! without its binder, fails because nothing it schedules is bound.

use std::path::Path;
use std::sync::Mutex;

use k8s_openapi::api::core::v1::Namespace;
use kaic_e2e::{Run, client, cluster, live_kueue, live_labelled, run_kaic};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};

/// Serialises the runs of gang_scheduling on `default`: one test changes its Kueue quota for a while, and two
/// Kueue sub-cases at once would fill each other's GPUs.
static DEFAULT_KUEUE: Mutex<()> = Mutex::new(());

fn default_kueue() -> std::sync::MutexGuard<'static, ()> {
    DEFAULT_KUEUE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Serialises the runs on `partial-gang`: one test shows it a cluster-autoscaler for a while.
static PARTIAL_GANG: Mutex<()> = Mutex::new(());

fn partial_gang() -> std::sync::MutexGuard<'static, ()> {
    PARTIAL_GANG.lock().unwrap_or_else(|p| p.into_inner())
}

fn items(check: &serde_json::Value) -> Vec<serde_json::Value> {
    check["evidence"]["items"].as_array().cloned().unwrap_or_default()
}

fn values(check: &serde_json::Value) -> Vec<(String, String)> {
    items(check)
        .iter()
        .filter(|i| i["kind"] == "value")
        .map(|i| (i["name"].as_str().unwrap().to_string(), i["value"].as_str().unwrap().to_string()))
        .collect()
}

fn timings(check: &serde_json::Value) -> Vec<(String, u64)> {
    items(check)
        .iter()
        .filter(|i| i["kind"] == "timing")
        .map(|i| (i["name"].as_str().unwrap().to_string(), i["millis"].as_u64().unwrap()))
        .collect()
}

fn requirement_status(run: &Run, id: &str) -> String {
    let results = run.results();
    let requirement = results["requirements"].as_array().unwrap().iter().find(|r| r["id"] == id).cloned().unwrap();
    requirement["status"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn gang_scheduling_passes_with_every_solution_installed_and_leaves_nothing_behind() {
    let kubeconfig = cluster("default");
    let run = {
        let _default = default_kueue();
        run_kaic(&kubeconfig, &["--focus", "gang_scheduling"])
    };
    let check = run.check("gang_scheduling");
    assert_eq!(check["outcome"], "pass", "gang_scheduling did not pass: {check:#}\nstderr:\n{}", run.stderr());
    assert_eq!(requirement_status(&run, "gang_scheduling"), "met");
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("Kueue: with the platform's ClusterQueue kaic-cluster-queue"), "{reason}");
    assert!(reason.contains("native Workload/PodGroup API: a gang of 3"), "{reason}");
    assert!(reason.contains("Volcano: a gang of 3 (scheduling.volcano.sh minMember 3, scheduler volcano"), "{reason}");
    assert!(
        reason.contains("KAI scheduler: a gang of 3 (scheduling.run.ai minMember 3, scheduler kai-scheduler"),
        "{reason}"
    );
    assert!(
        reason.contains("scheduler-plugins coscheduling: a gang of 3 (scheduling.x-k8s.io minMember 3"),
        "{reason}"
    );

    // Which solutions were used.
    let values = values(&check);
    let exercised = values.iter().find(|(n, _)| n == "gang solutions exercised").map(|(_, v)| v.as_str());
    assert_eq!(
        exercised,
        Some("Kueue, native Workload/PodGroup API, Volcano, KAI scheduler, scheduler-plugins coscheduling"),
        "{values:?}"
    );
    // The zero-bound window was observed for each, at least 12 s long, with the scheduler's proof that it
    // held the gang back.
    for solution in ["Kueue", "native", "volcano", "kai", "cosched"] {
        let window = values.iter().find(|(n, _)| *n == format!("{solution}: zero-bound window"));
        let (_, window) = window.unwrap_or_else(|| panic!("no zero-bound window for {solution}: {values:?}"));
        let (seconds, rest) = window.split_once("s, 0 of ").unwrap_or_else(|| panic!("window in seconds: {window}"));
        assert!(seconds.parse::<u64>().unwrap() >= 12, "{window}");
        let proof = rest.split_once("held back: ").map(|(_, p)| p).unwrap_or_else(|| panic!("no proof: {window}"));
        assert!(
            proof.contains("PodScheduled=False")
                || proof.contains("Unschedulable")
                || proof.contains("QuotaReserved=False"),
            "{solution}: {proof}"
        );
    }
    // Timings: submit → all bound for the gang that fits, freed → all bound for the gang that waited.
    let timings = timings(&check);
    let mut wanted = vec![
        "Kueue: gang of 3 that fits, submit to all bound".to_string(),
        "Kueue: gang of 8, capacity freed to all bound".into(),
    ];
    for tag in ["native", "volcano", "kai", "cosched"] {
        wanted.push(format!("{tag}: gang of 3 that fits, submit to all bound"));
        wanted.push(format!("{tag}: gang of 4, capacity freed to all bound"));
    }
    for name in &wanted {
        assert!(timings.iter().any(|(n, _)| n == name), "no timing {name}: {timings:?}");
    }
    // The objects: the Jobs, the Kueue Workloads, the PodGroups, written as evidence files.
    let files: Vec<&str> = check["evidence_files"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
    for wanted in [
        "Job-kueue-big",
        "Workload-job-kueue-big",
        "PodGroup-native-big",
        "LocalQueue-kaic-gang",
        "PodGroup-volcano-big",
        "PodGroup-kai-big",
        "PodGroup-cosched-big",
    ] {
        assert!(files.iter().any(|f| f.contains(wanted)), "{wanted} written as evidence: {files:?}");
    }
    for file in &files {
        assert!(run.dir.path().join(file).is_file(), "{file} listed but not written");
    }
    assert!(run.file("report.md").contains("gang_scheduling — pass"));

    // Cleanup: nothing labelled with this run is left alive, cluster-scoped Kueue objects included.
    let run_id = run.results()["run_id"].as_str().unwrap().to_string();
    let selector = format!("kaic.dev/run-id={run_id}");
    let client = client(&kubeconfig).await;
    assert!(live_labelled::<Namespace>(&client, &selector).await.is_empty(), "namespace left behind");
    for kind in ["ClusterQueue", "ResourceFlavor"] {
        assert!(live_kueue(&client, kind, &selector).await.is_empty(), "{kind} left behind");
    }
}

/// The requirement asks that the platform *allow* the installation of one gang scheduler: with none
/// installed kaic cannot tell, so it is the model's one "nothing installed" unknown, never a failure.
#[test]
fn gang_scheduling_is_unknown_without_a_gang_solution() {
    let kubeconfig = cluster("no-gang");
    let run = run_kaic(&kubeconfig, &["--focus", "gang_scheduling"]);
    let check = run.check("gang_scheduling");
    assert_eq!(check["outcome"], "unknown", "{check:#}");
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.starts_with("no gang scheduling solution kaic recognises is installed (looked for: "), "{reason}");
    for looked_for in [
        "kueue.x-k8s.io",
        "scheduling.k8s.io/v1beta1",
        "scheduling.volcano.sh",
        "scheduling.run.ai",
        "scheduling.x-k8s.io",
    ] {
        assert!(reason.contains(looked_for), "names {looked_for}: {reason}");
    }
    assert!(reason.contains("starts every pod of a gang or none"), "says what to verify: {reason}");
    assert_eq!(requirement_status(&run, "gang_scheduling"), "unknown");
    assert_eq!(run.code(), 3, "a MUST undecided: exit 3\nstderr:\n{}", run.stderr());
}

/// "at most A of B ran at once" → (A, B).
fn ran_at_once(text: &str) -> Option<(u32, u32)> {
    let rest = &text[text.find("at most ")? + "at most ".len()..];
    let (numbers, _) = rest.split_once(" ran at once")?;
    let (a, b) = numbers.split_once(" of ")?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// Sets the GPU quota of `default`'s platform ClusterQueue (testenv/kueue.sh writes 8, what its nodes have).
async fn set_gpu_quota(kubeconfig: &Path, quota: &str) {
    let client = client(kubeconfig).await;
    let gvk = GroupVersionKind::gvk("kueue.x-k8s.io", "v1beta2", "ClusterQueue");
    let api: kube::Api<DynamicObject> =
        kube::Api::all_with(client, &ApiResource::from_gvk_with_plural(&gvk, "clusterqueues"));
    let patch = serde_json::json!({"spec": {"resourceGroups": [{
        "coveredResources": ["cpu", "memory", "nvidia.com/gpu"],
        "flavors": [{"name": "default-flavor", "resources": [
            {"name": "cpu", "nominalQuota": "160"},
            {"name": "memory", "nominalQuota": "1152Gi"},
            {"name": "nvidia.com/gpu", "nominalQuota": quota}
        ]}]
    }]}});
    api.patch("kaic-cluster-queue", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("set kaic-cluster-queue's GPU quota to {quota}: {e}"));
}

#[test]
fn a_kueue_quota_above_todays_nodes_with_an_autoscaler_is_not_a_failure() {
    // An autoscaled GPU pool's ClusterQueue has the pool's maximum as quota: 32 GPUs where `default` has 8
    // today, and Karpenter can add GPU nodes. kaic must not judge that queue against today's nodes (it would
    // start a gang partially that the autoscaler completes minutes later): it tests Kueue with its own queue
    // and says why.
    let kubeconfig = cluster("default");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the quota patches");
    let run = {
        let _default = default_kueue();
        runtime.block_on(set_gpu_quota(&kubeconfig, "32"));
        let run = std::panic::catch_unwind(|| run_kaic(&kubeconfig, &["--focus", "gang_scheduling"]));
        runtime.block_on(set_gpu_quota(&kubeconfig, "8"));
        run.expect("kaic ran")
    };
    let check = run.check("gang_scheduling");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("Kueue: with kaic's own ClusterQueue kaic-gang-"), "{reason}");
    assert!(
        reason.contains(
            "note: ClusterQueue kaic-cluster-queue's quota of 32 nvidia.com/gpu (flavor default-flavor) is above the"
        ),
        "{reason}"
    );
    assert!(reason.contains("node autoscaler Karpenter (NodePools "), "{reason}");
    assert!(
        reason
            .contains("Kueue's waitForPodsReady is on: timeout 5m, blockAdmission true (set in Kueue's configuration)"),
        "read from ConfigMap kueue-system/kueue-manager-config: {reason}"
    );
    let noted = values(&check).into_iter().find(|(n, _)| n == "Kueue: quota above today's nodes");
    assert!(noted.is_some_and(|(_, v)| v.contains("Karpenter")), "{:?}", values(&check));
    // The over-committed queue was not probed: an autoscaler explains it.
    let files: Vec<&str> = check["evidence_files"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
    assert!(!files.iter().any(|f| f.contains("kueue-oc-")), "{files:?}");
    assert_eq!(requirement_status(&run, "gang_scheduling"), "met");
}

#[test]
fn gang_scheduling_fails_when_kueue_starts_gangs_partially() {
    // `partial-gang`: Kueue's GPU quota is 16 for 8 on the nodes, no node autoscaler, waitForPodsReady at its
    // v1beta2 default (30 minutes). kaic's own queue shows that Kueue's admission works; the platform's queue,
    // asked through itself only (blocker and gang are both Jobs through it), admits a gang its nodes cannot
    // hold and leaves it started partially: a genuine platform failure, not kaic bypassing the queue.
    let kubeconfig = cluster("partial-gang");
    let run = {
        let _partial_gang = partial_gang();
        run_kaic(&kubeconfig, &["--focus", "gang_scheduling"])
    };
    let check = run.check("gang_scheduling");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "Kueue: the platform's ClusterQueue kaic-cluster-queue admits gangs its nodes cannot hold and starts them \
             partially"
        ),
        "{reason}"
    );
    assert!(reason.contains("no node autoscaler was found"), "{reason}");
    assert!(
        reason.contains(
            "Kueue's waitForPodsReady is on: timeout 30m, blockAdmission false (the defaults of \
             config.kueue.x-k8s.io/v1beta2): it would evict the gang only after 30m, longer than kaic waits"
        ),
        "{reason}"
    );
    let expected = check["expected"].as_str().unwrap();
    assert!(expected.contains("through ClusterQueue kaic-cluster-queue with "), "{expected}");
    // Expected and observed show the partial binding: some but not all of the gang ran together.
    let observed = check["observed"].as_str().unwrap();
    let (ran, size) = ran_at_once(observed).unwrap_or_else(|| panic!("observed says how many ran at once: {observed}"));
    assert!(0 < ran && ran < size, "a partial gang: {ran} of {size} ran at once; {observed}");
    assert!(observed.contains("Admitted=True"), "Kueue admitted the gang: {observed}");
    assert!(observed.contains("Kueue's own admission works: with kaic's own ClusterQueue kaic-gang-"), "{observed}");
    // Only Kueue is installed here, and the over-commit was seen in the plan.
    let exercised = values(&check).into_iter().find(|(n, _)| n == "gang solutions exercised").map(|(_, v)| v);
    assert_eq!(exercised.as_deref(), Some("Kueue"));
    let steps: Vec<String> = items(&check).iter().filter_map(|i| i["text"].as_str().map(String::from)).collect();
    assert!(steps.iter().any(|s| s.contains("(over-committed)")), "{steps:#?}");
    // Every pod kaic placed went through the queue: Jobs only, no bare blocker pod outside Kueue.
    let files: Vec<&str> = check["evidence_files"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
    assert!(!files.iter().any(|f| f.contains("Pod-kueue-blocker")), "{files:?}");
    assert!(files.iter().any(|f| f.contains("Workload-job-kueue-oc-big")), "{files:?}");
    assert_eq!(requirement_status(&run, "gang_scheduling"), "not_met");
}

/// Creates (`Some(text)`) or deletes (`None`) cluster-autoscaler's status ConfigMap in kube-system.
async fn cluster_autoscaler_status(kubeconfig: &Path, status: Option<&str>) {
    use k8s_openapi::api::core::v1::ConfigMap;
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client(kubeconfig).await, "kube-system");
    match status {
        Some(text) => {
            let map: ConfigMap = serde_json::from_value(serde_json::json!({
                "metadata": {"name": "cluster-autoscaler-status"}, "data": {"status": text}
            }))
            .unwrap();
            api.create(&kube::api::PostParams::default(), &map).await.expect("create cluster-autoscaler-status");
        }
        None => {
            let _ = api.delete("cluster-autoscaler-status", &kube::api::DeleteParams::default()).await;
        }
    }
}

#[test]
fn an_over_committed_kueue_quota_on_a_cluster_autoscaler_platform_is_a_note() {
    // `partial-gang`'s quota (16 GPUs for 8) as a managed platform shows it: cluster-autoscaler runs in the
    // control plane (GKE, AKS) and kaic sees only its status ConfigMap. The over-commit is then the autoscaled
    // pool's maximum: a note beside kaic's own queue's pass, and the platform's queue is not probed.
    let kubeconfig = cluster("partial-gang");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the ConfigMap");
    let run = {
        let _partial_gang = partial_gang();
        runtime.block_on(cluster_autoscaler_status(&kubeconfig, Some("Cluster-autoscaler status: Healthy")));
        let run = std::panic::catch_unwind(|| run_kaic(&kubeconfig, &["--focus", "gang_scheduling"]));
        runtime.block_on(cluster_autoscaler_status(&kubeconfig, None));
        run.expect("kaic ran")
    };
    let check = run.check("gang_scheduling");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("Kueue: with kaic's own ClusterQueue kaic-gang-"), "{reason}");
    assert!(
        reason.contains(
            "note: ClusterQueue kaic-cluster-queue's quota of 16 nvidia.com/gpu (flavor default-flavor) is above the 8 its \
             nodes have today; node autoscaler cluster-autoscaler (ConfigMap kube-system/cluster-autoscaler-status) can \
             add nodes"
        ),
        "{reason}"
    );
    let files: Vec<&str> = check["evidence_files"].as_array().unwrap().iter().filter_map(|f| f.as_str()).collect();
    assert!(!files.iter().any(|f| f.contains("kueue-oc-")), "not probed: {files:?}");
    assert_eq!(requirement_status(&run, "gang_scheduling"), "met");
}

#[test]
fn gang_scheduling_fails_when_the_native_api_has_no_gang_scheduler_behind_it() {
    // The Workload/PodGroup API is served but the scheduler ignores PodGroups.
    let kubeconfig = cluster("native-partial-gang");
    let run = run_kaic(&kubeconfig, &["--focus", "gang_scheduling"]);
    let check = run.check("gang_scheduling");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "native Workload/PodGroup API: the scheduler started a gang (gang minCount 4) larger than free capacity partially"
        ),
        "{reason}"
    );
    let expected = check["expected"].as_str().unwrap();
    assert!(expected.contains("0 of 4 pods of PodGroup native-big bound for "), "{expected}");
    let observed = check["observed"].as_str().unwrap();
    let (ran, size) = ran_at_once(observed).unwrap_or_else(|| panic!("observed says how many ran at once: {observed}"));
    assert!(0 < ran && ran < size, "a partial gang: {ran} of {size} ran at once; {observed}");
    let exercised = values(&check).into_iter().find(|(n, _)| n == "gang solutions exercised").map(|(_, v)| v);
    assert_eq!(exercised.as_deref(), Some("native Workload/PodGroup API"));
    assert_eq!(requirement_status(&run, "gang_scheduling"), "not_met");
}

#[test]
fn gang_scheduling_fails_when_pod_group_schedulers_bind_gangs_partially_or_not_at_all() {
    // Volcano and coscheduling serve their PodGroup APIs but run without their gang plugins; KAI runs
    // without its binder.
    let kubeconfig = cluster("partial-pod-groups");
    let run = run_kaic(&kubeconfig, &["--focus", "gang_scheduling"]);
    let check = run.check("gang_scheduling");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    for (solution, api) in
        [("Volcano", "scheduling.volcano.sh"), ("scheduler-plugins coscheduling", "scheduling.x-k8s.io")]
    {
        let said = format!("{solution}: the scheduler started a gang ({api} minMember 4");
        assert!(reason.contains(&said), "{said} in {reason}");
    }
    assert_eq!(reason.matches("larger than free capacity partially").count(), 2, "{reason}");
    // KAI without its binder binds nothing and leaves no trace on the pods: installed but not operational,
    // reported beside the failures and never counted as one.
    assert!(
        reason.contains("(also: KAI scheduler not operational: its API is served, but no scheduler acted on the 3 pods of PodGroup kai-fit"),
        "{reason}"
    );
    let expected = check["expected"].as_str().unwrap();
    for group in ["volcano-big", "cosched-big"] {
        assert!(expected.contains(&format!("0 of 4 pods of PodGroup {group} bound for ")), "{expected}");
    }
    // Each observation shows what happened, and the group's own status.
    let observed = check["observed"].as_str().unwrap();
    let (volcano, cosched) = observed.split_once("; scheduler-plugins coscheduling: ").expect("a part per solution");
    for part in [volcano, cosched] {
        let (ran, size) = ran_at_once(part).unwrap_or_else(|| panic!("observed says how many ran at once: {part}"));
        assert!(0 < ran && ran < size, "a partial gang: {ran} of {size} ran at once; {part}");
    }
    assert!(volcano.contains("PodGroup volcano-big: phase"), "Volcano's PodGroup status: {volcano}");
    let solutions = check["evidence"]["solutions"].as_array().expect("each solution's result is kept");
    let status = |name: &str| solutions.iter().find(|s| s["name"] == name).map(|s| s["status"].clone());
    assert_eq!(status("Volcano"), Some("fail".into()));
    assert_eq!(status("scheduler-plugins coscheduling"), Some("fail".into()));
    assert_eq!(status("KAI scheduler"), Some("not_operational".into()));
    let exercised = values(&check).into_iter().find(|(n, _)| n == "gang solutions exercised").map(|(_, v)| v);
    assert_eq!(exercised.as_deref(), Some("Volcano, KAI scheduler, scheduler-plugins coscheduling"));
    assert_eq!(requirement_status(&run, "gang_scheduling"), "not_met");
}

#[test]
fn one_working_solution_meets_gang_scheduling_and_left_over_crds_are_not_operational() {
    // `exotic`: the native Workload/PodGroup API works; Volcano's CRDs are there without its scheduler.
    let kubeconfig = cluster("exotic");
    let run = run_kaic(&kubeconfig, &["--focus", "gang_scheduling"]);
    let check = run.check("gang_scheduling");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.starts_with("gang scheduling works — native Workload/PodGroup API: a gang of 3"), "{reason}");
    assert!(
        reason.contains("(also: Volcano not operational: its API is served, but no scheduler acted on the 3 pods"),
        "{reason}"
    );
    let solutions = check["evidence"]["solutions"].as_array().expect("each solution's result is kept");
    let status = |name: &str| solutions.iter().find(|s| s["name"] == name).map(|s| s["status"].clone());
    assert_eq!(status("native Workload/PodGroup API"), Some("pass".into()), "{solutions:?}");
    assert_eq!(status("Volcano"), Some("not_operational".into()), "{solutions:?}");
    assert_eq!(requirement_status(&run, "gang_scheduling"), "met");
}

#[test]
fn parses_how_many_ran_at_once() {
    assert_eq!(ran_at_once("at 0.1s: 7 pods bound (…); at most 7 of 8 ran at once; at the end"), Some((7, 8)));
    assert_eq!(ran_at_once("nothing"), None);
}
