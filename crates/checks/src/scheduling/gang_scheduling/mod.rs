//! `gang_scheduling`: the platform places a group of pods all together or not at all.
//!
//! 1. **Detect** the gang solutions installed: Kueue, the native `scheduling.k8s.io/v1beta1`
//!    Workload/PodGroup API (Kubernetes 1.37), Volcano, KAI scheduler, scheduler-plugins coscheduling
//!    ([`detect`]).
//! 2. **Exercise** every one found, one after the other: Kueue through quota ([`kueue`]); the native API
//!    ([`native`]), Volcano, KAI and coscheduling ([`crd_group`]) through their pod groups and real node
//!    capacity ([`pod_group`]). Kueue goes first and is the only one that may fill accelerators: once its
//!    Jobs and pods are gone the check gives the run's accelerator turn back
//!    ([`AcceleratorUse::FirstPhase`]), and the pod-group solutions, which use CPU only, run beside the
//!    other accelerator checks. Each gets
//!    - a positive case: a gang of 3 pods that fits is bound whole and its Job completes, and
//!    - a negative case: a gang larger than free capacity leaves zero pods bound for a whole observation
//!      window (watched, not polled) *and the scheduler says it held the gang back* ([`negative`]), then
//!      capacity is freed and the gang is bound whole and completes; the time from freeing to all bound is
//!      recorded.
//! 3. **Roll up** with the model's one policy ([`detect::roll_up`]): one solution that passes meets the
//!    requirement and the others are reported; nothing found → fail, unless pods use a gang scheduler kaic
//!    does not exercise (YuniKorn, Koordinator, Run:ai, or any scheduler whose pods carry gang labels:
//!    [`schedulers`]) → unknown; found but none exercisable → unknown.
//!
//! Pods run the pause image with `-v`, which prints its version and exits 0, so Jobs complete on real
//! clusters (kwok completes Job pods in testenv). Blockers run the pause image as is and never exit.

pub mod crd_group;
pub mod detect;
pub mod kueue;
pub mod kueue_case;
pub mod kueue_overcommit;
pub mod kueue_plan;
pub mod native;
pub mod negative;
pub mod observe;
pub mod pod_group;
pub mod schedulers;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kaic_model::Verdict;
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;

use crate::check::{AcceleratorUse, Check, CheckContext, CheckError, from_json};
use crate::timeouts::Wait;
use crate::wait;
use detect::{SubCase, SubResult};

/// The size of the positive gang.
pub const POSITIVE_SIZE: usize = 3;
/// The label that names the gang a pod belongs to.
pub const GANG_LABEL: &str = "kaic.dev/gang";

pub struct GangScheduling;

#[async_trait::async_trait]
impl Check for GangScheduling {
    fn id(&self) -> &'static str {
        "gang_scheduling"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["gang_scheduling"]
    }

    fn timeout(&self) -> Duration {
        // Up to five solutions, each: positive bind + completion, blocker, window, bind after freeing,
        // completion: about 25 s each when they work. The waits' limits only bite when they do not: the
        // budget covers one solution hitting every limit, with a negative case retried once and a slow
        // requeue, plus the others working, and Kueue's eviction of a gang an over-committed queue admitted.
        Duration::from_secs(1800)
    }

    fn waits(&self) -> &'static [(Wait, u32)] {
        &[
            (Wait::GangBind, 3),
            (Wait::GangComplete, 2),
            (Wait::GangBind, 2),
            (Wait::GangWindow, 2),
            (Wait::GangRequeue, 1),
            (Wait::QueueActive, 1),
            (Wait::KueueEviction, 1),
        ]
    }

    /// The Kueue sub-case fills a platform queue's accelerators; it must not run beside checks that need a
    /// free device, nor have their pods shrink the capacity it measured. The pod-group sub-cases use CPU.
    fn accelerators(&self) -> AcceleratorUse {
        AcceleratorUse::FirstPhase
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "Kueue: a LocalQueue in the check's namespace pointing at a platform ClusterQueue that covers an accelerator \
             (or, when none fits, ResourceFlavor and ClusterQueue kaic-gang-<run> with a CPU quota); Jobs kueue-fit (3 pods) \
             and kueue-big (a gang one unit larger than what is left), and a blocker Job kueue-blocker holding quota; where \
             a platform ClusterQueue's quota is above its nodes' capacity and no node autoscaler is found, a LocalQueue \
             kaic-gang-platform pointing at it with Jobs kueue-oc-blocker and kueue-oc-big (a gang one more than its nodes \
             have free)",
            "native API: Workloads and PodGroups native-fit (minCount 3) and native-big (minCount 4), their Jobs, and a \
             blocker pod taking a quarter of one node's free CPU",
            "Volcano, KAI scheduler, coscheduling: PodGroups <tag>-fit (minMember 3) and <tag>-big (minMember 4) of that \
             project's API (tag volcano, kai, cosched), their Jobs with schedulerName set (for KAI bare pods <tag>-fit-N \
             and <tag>-big-N, which its podgrouper leaves in kaic's group), and a blocker pod as above",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let native_api = native::served(ctx).await?;
        let found = detect::detect(&ctx.capabilities, native_api);
        let unrecognised = unrecognised(ctx).await?;
        let names = |pick: fn(&detect::Found) -> bool| {
            found.iter().filter(|f| pick(f)).map(|f| f.solution.name()).collect::<Vec<_>>().join(", ")
        };
        let exercised = names(|f| f.exercised.is_ok());
        let by_hand = names(|f| f.exercised.is_err());
        ctx.step(format!(
            "gang scheduling solutions found: {}",
            if found.is_empty() { "none".to_string() } else { names(|_| true) }
        ));
        ctx.record(|e| {
            e.value("gang solutions exercised", if exercised.is_empty() { "none" } else { exercised.as_str() });
            if !by_hand.is_empty() {
                e.value("gang solutions found but not exercised", by_hand.as_str());
            }
            if !unrecognised.is_empty() {
                e.value("gang schedulers in use that kaic does not exercise", unrecognised.join("; "));
            }
        });
        let mut cases = Vec::new();
        for solution in found.iter().filter(|f| f.exercised.is_ok()).map(|f| f.solution) {
            if solution != detect::Solution::Kueue {
                give_back_accelerators(ctx).await?;
            }
            let result = match solution {
                detect::Solution::Kueue => kueue::run(ctx).await,
                detect::Solution::Native => pod_group::run(ctx, &native::NativeGroups).await,
                other => match crd_group::flavor(other) {
                    Some(flavor) => match crd_group::CrdGroups::resolve(ctx, flavor).await {
                        Ok(groups) => pod_group::run(ctx, &groups).await,
                        Err(e) => Err(e),
                    },
                    None => Ok(SubResult::Error(format!("kaic has no sub-case for {}", other.name()))),
                },
            }
            .unwrap_or_else(|e| SubResult::Error(e.to_string()));
            let case = SubCase { solution, result };
            let recorded = case.to_solution();
            ctx.step(format!("{} {}: {}", recorded.name, recorded.status, recorded.summary));
            // Kept as it comes: if a later solution hangs past the budget, this one's result still counts.
            ctx.record(|e| e.solution(recorded));
            cases.push(case);
        }
        give_back_accelerators(ctx).await?;
        Ok(detect::roll_up(&found, &cases, &unrecognised))
    }
}

/// Once the Kueue sub-case is over: deletes the Jobs and pods it left in the check's namespace, waits until
/// no pod remains (every device released), and gives the run's accelerator turn back. Does nothing after
/// the first call.
async fn give_back_accelerators(ctx: &CheckContext) -> Result<(), CheckError> {
    if !ctx.holds_accelerator_turn() {
        return Ok(());
    }
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    for job in crate::list::all(&jobs, ListParams::default()).await.map_err(|e| CheckError::api("list Jobs", e))? {
        let name = job.metadata.name.unwrap_or_default();
        jobs.delete(&name, &DeleteParams::background())
            .await
            .map_err(|e| CheckError::api(format!("delete Job {name}"), e))?;
    }
    pods.delete_collection(&DeleteParams::default().grace_period(0), &ListParams::default())
        .await
        .map_err(|e| CheckError::api("delete the Kueue sub-case's pods", e))?;
    match observe::wait_gone(&pods, &crate::labels::run_selector(&ctx.run_id), ctx.wait(Wait::NamespaceGone)).await {
        Ok(gone) => ctx.record(|e| e.timing("Kueue sub-case's pods deleted to gone", gone)),
        Err(left) => ctx.step(format!(
            "the Kueue sub-case's pods were still terminating after {} s ({left}); the next accelerator check \
             starts anyway and may find their devices busy",
            ctx.wait(Wait::NamespaceGone).as_secs()
        )),
    }
    ctx.give_back_accelerators();
    Ok(())
}

/// Gang schedulers in use that kaic does not exercise: API groups of known-but-unsupported projects, and
/// pods (not kaic's) of another scheduler that is a known gang scheduler or that carry gang labels
/// ([`schedulers::unrecognised_gang_schedulers`]); other second schedulers (EKS Fargate's, GKE's
/// optimize-utilization profile) are not gang schedulers and are left out.
async fn unrecognised(ctx: &CheckContext) -> Result<Vec<String>, CheckError> {
    let mut found = Vec::new();
    for (group, name) in detect::UNRECOGNISED_GROUPS {
        if kube::discovery::group(&ctx.client, group).await.is_ok() {
            found.push(format!("{name} (API group {group} is served)"));
        }
    }
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let params = kube::api::ListParams::default().fields("spec.schedulerName!=default-scheduler").labels(&format!(
        "{}!={}",
        crate::labels::MANAGED_BY,
        crate::labels::MANAGED_BY_VALUE
    ));
    let listed =
        crate::list::all(&pods, params).await.map_err(|e| CheckError::api("list pods by scheduler name", e))?;
    let also_known: Vec<String> = ctx.options.scheduler_names.values().cloned().collect();
    found.extend(schedulers::unrecognised_gang_schedulers(&listed, &also_known));
    Ok(found)
}

/// What a gang (or blocker) Job looks like.
pub struct GangJob<'a> {
    pub name: &'a str,
    /// Pods running at once (the gang size).
    pub parallelism: usize,
    /// Successful pods needed to complete; larger than `parallelism` for a blocker that must keep running
    /// where pods are completed for it (kwok).
    pub completions: usize,
    /// The container's `resources`.
    pub resources: serde_json::Value,
    /// Whether the pods exit at once (`pause -v`) or run until deleted (`pause`).
    pub exits: bool,
    /// Labels on the Job only (e.g. Kueue's queue name).
    pub job_labels: BTreeMap<String, String>,
    /// Labels on the pods, beside kaic's own (e.g. coscheduling's pod-group label).
    pub pod_labels: BTreeMap<String, String>,
    /// Annotations on the pods (e.g. Volcano's group name).
    pub pod_annotations: BTreeMap<String, String>,
    /// Fields merged into the pod spec (tolerations, affinity, schedulingGroup, schedulerName).
    pub pod_spec: serde_json::Value,
    /// Created suspended (Kueue admits it by unsuspending).
    pub suspend: bool,
}

impl GangJob<'_> {
    /// The Job, labelled for this check, its pods labelled with [`GANG_LABEL`].
    ///
    /// # Errors
    /// [`CheckError::Other`] if kaic built an invalid object.
    pub fn build(&self, ctx: &CheckContext) -> Result<Job, CheckError> {
        let mut job_labels = ctx.labels();
        job_labels.extend(self.job_labels.clone());
        let mut pod_labels = self.pod_labels.clone();
        pod_labels.extend(ctx.labels());
        pod_labels.insert(GANG_LABEL.into(), self.name.into());
        let mut pod_spec = json!({
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "main",
                "image": ctx.options.pause_image,
                "args": if self.exits { json!(["-v"]) } else { json!([]) },
                "resources": self.resources,
            }]
        });
        merge_fields(&mut pod_spec, &self.pod_spec);
        crate::pods::harden(&mut pod_spec);
        from_json(json!({
            "metadata": {"name": self.name, "labels": job_labels},
            "spec": {
                "parallelism": self.parallelism,
                "completions": self.completions,
                "backoffLimit": 0,
                "suspend": self.suspend,
                "template": {
                    "metadata": {"labels": pod_labels, "annotations": self.pod_annotations},
                    "spec": pod_spec
                }
            }
        }))
    }

    /// Creates the Job and records it.
    ///
    /// # Errors
    /// [`CheckError::Api`] if the API server refuses it.
    pub async fn create(&self, ctx: &CheckContext) -> Result<Job, CheckError> {
        let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let created = jobs
            .create(&PostParams::default(), &self.build(ctx)?)
            .await
            .map_err(|e| CheckError::api(format!("create Job {}", self.name), e))?;
        Ok(created)
    }
}

/// Waits for a Job to finish: `Ok(Ok(()))` when it completed, `Ok(Err(what was seen))` when it failed or
/// did not finish within [`Wait::GangComplete`].
///
/// # Errors
/// [`CheckError`] when the Job cannot be watched.
pub async fn wait_complete(ctx: &CheckContext, name: &str) -> Result<Result<(), String>, CheckError> {
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let timeout = ctx.wait(Wait::GangComplete);
    match wait::until(&jobs, name, "the Job to complete", timeout, observe::job_finished, observe::describe_job).await {
        Ok(job) if observe::job_condition(Some(&job), "Complete") => Ok(Ok(())),
        Ok(job) => Ok(Err(format!("Job {name} failed: {}", observe::describe_job(&job)))),
        Err(CheckError::Timeout { last_seen, .. }) => {
            Ok(Err(format!("Job {name} not complete after {}s: {last_seen}", timeout.as_secs())))
        }
        Err(e) => Err(e),
    }
}

/// Creates a blocker: a plain pod of the default scheduler that runs the pause image until deleted, holding
/// `resources` where `placement` (pod-spec fields: affinity, nodeSelector, tolerations) puts it. Its
/// [`GANG_LABEL`] is `gang`, so the blockers of one case are watched together.
///
/// # Errors
/// [`CheckError::Api`] if the API server refuses it.
pub async fn create_blocker(
    ctx: &CheckContext,
    name: &str,
    gang: &str,
    placement: serde_json::Value,
    resources: serde_json::Value,
) -> Result<(), CheckError> {
    let mut labels = ctx.labels();
    labels.insert(GANG_LABEL.into(), gang.into());
    let mut spec = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "containers": [{"name": "main", "image": ctx.options.pause_image, "resources": resources}]
    });
    merge_fields(&mut spec, &placement);
    crate::pods::harden(&mut spec);
    let pod: Pod = from_json(json!({"metadata": {"name": name, "labels": labels}, "spec": spec}))?;
    let created = Api::<Pod>::namespaced(ctx.client.clone(), &ctx.namespace)
        .create(&PostParams::default(), &pod)
        .await
        .map_err(|e| CheckError::api(format!("create pod {name}"), e))?;
    ctx.object(&format!("Pod-{name}"), &created);
    Ok(())
}

/// Deletes the pods of one gang (or blocker), selected by `gang`, and waits until they are gone, so that
/// what is measured next does not count them.
///
/// # Errors
/// [`CheckError::Api`] if the deletion is refused; [`CheckError::Other`] if pods are still there after
/// [`Wait::NamespaceGone`].
pub async fn delete_gang_pods(ctx: &CheckContext, gang: &str) -> Result<(), CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let selector = gang_selector(gang);
    pods.delete_collection(&DeleteParams::default().grace_period(0), &ListParams::default().labels(&selector))
        .await
        .map_err(|e| CheckError::api(format!("delete pods {selector}"), e))?;
    observe::wait_gone(&pods, &selector, ctx.wait(Wait::NamespaceGone))
        .await
        .map(|_| ())
        .map_err(|seen| CheckError::Other(format!("the pods {selector} were not gone after deletion: {seen}")))
}

/// Adds the fields of the JSON object `extra` to the JSON object `target`, replacing fields of the same name
/// (pod-spec fragments: placement, scheduling group, scheduler name).
pub fn merge_fields(target: &mut serde_json::Value, extra: &serde_json::Value) {
    if let (Some(target), Some(extra)) = (target.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
    }
}

/// The label selector of a gang's pods.
pub fn gang_selector(name: &str) -> String {
    format!("{GANG_LABEL}={name}")
}

/// Seconds with one decimal, for sentences.
pub fn secs(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckOptions;

    fn ctx() -> CheckContext {
        CheckContext::offline("gang_scheduling", CheckOptions::default())
    }

    #[tokio::test]
    async fn gang_jobs_label_pods_and_exit_or_block() {
        let job = GangJob {
            name: "kueue-big",
            parallelism: 8,
            completions: 8,
            resources: json!({"limits": {"nvidia.com/gpu": "1"}}),
            exits: true,
            job_labels: BTreeMap::from([("kueue.x-k8s.io/queue-name".to_string(), "kaic-gang".to_string())]),
            pod_labels: BTreeMap::from([("extra".to_string(), "yes".to_string())]),
            pod_annotations: BTreeMap::from([("note".to_string(), "kept".to_string())]),
            pod_spec: json!({"tolerations": [{"operator": "Exists", "effect": "NoSchedule"}]}),
            suspend: true,
        }
        .build(&ctx())
        .unwrap();
        let value = serde_json::to_value(&job).unwrap();
        assert_eq!(value["metadata"]["labels"]["kueue.x-k8s.io/queue-name"], "kaic-gang");
        assert_eq!(value["metadata"]["labels"]["kaic.dev/run-id"], "r1");
        assert_eq!(value["spec"]["suspend"], true);
        assert_eq!(value["spec"]["parallelism"], 8);
        let pod = &value["spec"]["template"];
        assert_eq!(pod["metadata"]["labels"][GANG_LABEL], "kueue-big");
        assert_eq!(pod["metadata"]["labels"]["app.kubernetes.io/managed-by"], "kaic");
        assert_eq!(pod["metadata"]["labels"]["extra"], "yes");
        assert_eq!(pod["metadata"]["annotations"]["note"], "kept");
        assert_eq!(pod["spec"]["containers"][0]["args"], json!(["-v"]));
        assert_eq!(pod["spec"]["containers"][0]["image"], "registry.k8s.io/pause:3.10");
        assert_eq!(pod["spec"]["tolerations"][0]["operator"], "Exists");
        assert_eq!(gang_selector("kueue-big"), "kaic.dev/gang=kueue-big");
        assert_eq!(secs(Duration::from_millis(1234)), "1.2s");
    }
}
