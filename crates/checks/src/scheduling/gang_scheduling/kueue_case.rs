//! The Kueue sub-case's scenario ([`super::kueue`] chooses the queue and the sizes): a positive gang that
//! fits, then a negative gang one unit larger than what the blocker leaves, which Kueue must hold back —
//! with proof: its Workload not admitted (`QuotaReserved=False` and Kueue's message) or its pods
//! `PodScheduled=False` — for the whole window, and admit whole once the blocker goes.

use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, DynamicObject, ListParams};
use kube::{Api, ResourceExt};

use super::detect::SubResult;
use super::kueue::{Apis, OWN_UNIT_MILLI, Setup};
use super::kueue_plan::{PlatformPlan, QueueView};
use super::negative::{self, Judgement};
use super::observe::{self, describe_job};
use super::{POSITIVE_SIZE, delete_gang_pods, gang_selector, secs};
use crate::capacity;
use crate::check::{CheckContext, CheckError};
use crate::timeouts::Wait;

/// The Kueue Workload of a Job, in one line (its conditions with reasons and messages).
async fn workload_state(ctx: &CheckContext, apis: &Apis, job: &str) -> String {
    let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ctx.namespace, &apis.workloads);
    let Ok(list) = api.list(&ListParams::default()).await else { return "its Kueue Workload could not be read".into() };
    let owned = list.items.into_iter().find(|w| w.owner_references().iter().any(|o| o.kind == "Job" && o.name == job));
    let Some(workload) = owned else { return format!("no Kueue Workload exists for Job {job}") };
    ctx.object(&format!("Workload-{}", workload.name_any()), &workload);
    describe_workload(&workload)
}

/// A Kueue Workload's conditions in one line.
pub fn describe_workload(workload: &DynamicObject) -> String {
    let conditions = workload.data["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let parts: Vec<String> = conditions
        .iter()
        .map(|c| {
            let mut message = c["message"].as_str().unwrap_or_default().to_string();
            message.truncate(240);
            format!(
                "{}={} {} {}",
                c["type"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?"),
                c["reason"].as_str().unwrap_or(""),
                message
            )
            .trim()
            .to_string()
        })
        .collect();
    format!(
        "Kueue Workload {}: {}",
        workload.name_any(),
        if parts.is_empty() { "no conditions yet".to_string() } else { parts.join("; ") }
    )
}

async fn job_state(ctx: &CheckContext, name: &str) -> String {
    match Api::<Job>::namespaced(ctx.client.clone(), &ctx.namespace).get(name).await {
        Ok(job) => {
            ctx.object(&format!("Job-{name}"), &job);
            format!("Job {name}: {}", describe_job(&job))
        }
        Err(e) => format!("Job {name} could not be read: {e}"),
    }
}

/// What Kueue's Workload of a Job says about it being held back: `QuotaReserved=False` (or, in older
/// Kueue, `Admitted=False`) with Kueue's message.
pub fn workload_held(workload: &DynamicObject) -> Option<String> {
    let conditions = workload.data["status"]["conditions"].as_array()?;
    let held = conditions.iter().find(|c| {
        matches!(c["type"].as_str(), Some("QuotaReserved" | "Admitted"))
            && c["status"] == "False"
            && !c["message"].as_str().unwrap_or_default().is_empty()
    })?;
    let mut message = held["message"].as_str().unwrap_or_default().to_string();
    message.truncate(240);
    Some(format!(
        "Kueue Workload {}: {}=False {}: {message}",
        workload.name_any(),
        held["type"].as_str().unwrap_or_default(),
        held["reason"].as_str().unwrap_or_default()
    ))
}

/// The Workload Kueue made for Job `job`, if it exists yet.
pub(super) async fn workload_of(ctx: &CheckContext, apis: &Apis, job: &str) -> Option<DynamicObject> {
    let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ctx.namespace, &apis.workloads);
    let list = api.list(&ListParams::default()).await.ok()?;
    list.items.into_iter().find(|w| w.owner_references().iter().any(|o| o.kind == "Job" && o.name == job))
}

/// Waits (watching the namespace's Workloads) until Kueue has made the Workload of Job `job`.
pub(super) async fn wait_workload(ctx: &CheckContext, apis: &Apis, job: &str, timeout: Duration) -> bool {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ctx.namespace, &apis.workloads);
    let owned = |w: &DynamicObject| w.owner_references().iter().any(|o| o.kind == "Job" && o.name == job);
    let stream = watcher::watcher(api, watcher::Config::default()).default_backoff().applied_objects();
    let mut stream = std::pin::pin!(stream);
    let deadline = tokio::time::Instant::now() + timeout;
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, stream.next()).await {
        if event.is_ok_and(|w| owned(&w)) {
            return true;
        }
    }
    false
}

pub(super) async fn scenario(ctx: &CheckContext, apis: &Apis, setup: &Setup) -> Result<SubResult, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let unit = unit(setup);
    let bind_timeout = ctx.wait(Wait::GangBind);

    // Positive: a gang that fits is bound whole and completes.
    let fit = "kueue-fit";
    setup.job(fit, POSITIVE_SIZE, POSITIVE_SIZE, true).create(ctx).await?;
    let submitted = Instant::now();
    ctx.step(format!("Kueue: submitted Job {fit}, a gang of {POSITIVE_SIZE} pods of {unit} that fits"));
    if let Err(seen) = observe::wait_all_bound(&pods, &gang_selector(fit), POSITIVE_SIZE, bind_timeout).await {
        if workload_of(ctx, apis, fit).await.is_none() {
            return Ok(SubResult::NotOperational(format!(
                "the Kueue API is served, but Kueue made no Workload for Job {fit} within {}s: its controller does not run \
                 ({seen}; {})",
                bind_timeout.as_secs(),
                job_state(ctx, fit).await
            )));
        }
        return Ok(SubResult::Fail {
            reason: format!("a gang of {POSITIVE_SIZE} that fits was not bound within {}s", bind_timeout.as_secs()),
            expected: format!("all {POSITIVE_SIZE} pods of Job {fit} admitted by {} and bound", setup.origin),
            observed: format!("{seen}; {}; {}", job_state(ctx, fit).await, workload_state(ctx, apis, fit).await),
        });
    }
    let took = submitted.elapsed();
    ctx.record(|e| e.timing(format!("Kueue: gang of {POSITIVE_SIZE} that fits, submit to all bound"), took));
    ctx.step(format!("Kueue: all {POSITIVE_SIZE} pods of {fit} bound {} after submission", secs(took)));
    if let Err(seen) = super::wait_complete(ctx, fit).await? {
        return Ok(SubResult::Fail {
            reason: format!("the gang of {POSITIVE_SIZE} was bound but its Job did not complete"),
            expected: format!("Job {fit} Complete within {}s", ctx.wait(Wait::GangComplete).as_secs()),
            observed: format!("{seen}; {}", workload_state(ctx, apis, fit).await),
        });
    }
    ctx.step(format!("Kueue: Job {fit} completed; {}", workload_state(ctx, apis, fit).await));
    let positive = format!("a gang of {POSITIVE_SIZE} was bound in {} and completed", secs(took));

    let length = negative::window_length(ctx.wait(Wait::GangWindow), took);
    for attempt in 1..=2 {
        match negative_case(ctx, apis, setup, attempt, length).await? {
            Ok(SubResult::Pass(summary)) => {
                return Ok(SubResult::Pass(format!("with {}: {positive}; {summary}", setup.origin)));
            }
            Ok(result) => return Ok(result),
            Err(why) if attempt == 1 => {
                ctx.step(format!("Kueue: inconclusive ({why}); trying the negative case once more"))
            }
            Err(why) => {
                return Ok(SubResult::Unknown(format!(
                    "{positive}, but the negative case was inconclusive twice ({why}): verify on a quiet queue that a gang \
                     larger than free quota is admitted only once it fits"
                )));
            }
        }
    }
    unreachable!("the loop returns on its second attempt")
}

fn unit(setup: &Setup) -> String {
    if setup.resource == "cpu" { format!("{OWN_UNIT_MILLI}m CPU") } else { format!("1 {}", setup.resource) }
}

/// One negative attempt. `Ok(Err(why))`: inconclusive (the gang was admitted and bound whole during the
/// window, so quota or capacity appeared): the attempt's Jobs are deleted and the caller tries again.
async fn negative_case(
    ctx: &CheckContext,
    apis: &Apis,
    setup: &Setup,
    attempt: u32,
    length: Duration,
) -> Result<Result<SubResult, String>, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let unit = unit(setup);
    let bind_timeout = ctx.wait(Wait::GangBind);
    let suffix = if attempt == 1 { String::new() } else { attempt.to_string() };
    // Hold capacity with a blocker so that one unit less than the gang needs is left.
    let blocker = format!("kueue-blocker{suffix}");
    let blocker_selector = gang_selector(&blocker);
    // Through the same queue: kaic never bypasses the queue it judges. Many completions: where pods are
    // completed for it (kwok) the Job keeps running and holding quota.
    setup.job(&blocker, setup.blocker, setup.blocker * 100_000, false).create(ctx).await?;
    let holds =
        format!("blocker Job {blocker} (through {}) holds {} × {unit} of quota", setup.local_queue, setup.blocker);
    if let Err(seen) = observe::wait_all_bound(&pods, &blocker_selector, setup.blocker, bind_timeout).await {
        return Ok(Ok(SubResult::Error(format!(
            "the blocker ({} pods of {unit}) was not bound within {}s, so the negative case could not be set up: {seen}; {}",
            setup.blocker,
            bind_timeout.as_secs(),
            workload_state(ctx, apis, &blocker).await
        ))));
    }
    let left = setup.gang - 1;
    ctx.step(format!("Kueue: {holds}; {left} left in {}", setup.origin));
    let big = format!("kueue-big{suffix}");
    let big = big.as_str();
    setup.job(big, setup.gang, setup.gang, true).create(ctx).await?;
    ctx.step(format!("Kueue: submitted Job {big}, a gang of {} pods of {unit}, one more than is left", setup.gang));
    // The gang exists as its Workload (Kueue creates no pods while it is not admitted): the window starts
    // when Kueue has made it.
    if !wait_workload(ctx, apis, big, bind_timeout).await {
        return Ok(Ok(SubResult::Unknown(format!(
            "Kueue made no Workload for Job {big} within {}s, so the gang could not be observed being held back: {}",
            bind_timeout.as_secs(),
            job_state(ctx, big).await
        ))));
    }
    let window = observe::watch_window(&pods, &gang_selector(big), setup.gang, observe::Start::Now, length).await?;
    let workload = workload_of(ctx, apis, big).await;
    let workload_text = workload_state(ctx, apis, big).await;
    let signal = match negative::judge(&window, setup.gang, workload.as_ref().and_then(workload_held)) {
        Judgement::Held { signal } => signal,
        Judgement::Partial => {
            let real = setup.platform.as_ref().map_or(String::new(), |p| {
                let b = to_i128(setup.blocker);
                format!(" (quota: {} free, nodes: {} free)", p.free_quota - b, p.free_nodes - b)
            });
            return Ok(Ok(SubResult::Fail {
                reason: format!(
                    "a gang larger than free capacity was admitted and started partially: at most {} of {} pods ran at once",
                    window.peak_running, setup.gang
                ),
                expected: format!(
                    "0 of {} pods of Job {big} bound for {}s: the gang needs {} × {unit} and only {left} are free{real} in {}",
                    setup.gang,
                    length.as_secs(),
                    setup.gang,
                    setup.origin
                ),
                observed: format!("{}; {workload_text}", window.observed(setup.gang)),
            }));
        }
        Judgement::Whole => {
            for job in [big, blocker.as_str()] {
                let _ = jobs.delete(job, &DeleteParams::foreground()).await;
            }
            delete_gang_pods(ctx, big).await?;
            delete_gang_pods(ctx, &blocker).await?;
            return Ok(Err(format!(
                "all {} pods of {big} were bound together during the window, so quota or capacity was freed meanwhile: {}",
                setup.gang,
                window.timeline()
            )));
        }
        Judgement::MembersMissing { .. } | Judgement::NoSignal => {
            return Ok(Ok(SubResult::Unknown(format!(
                "no pod of Job {big} was bound for {}s, but neither its Workload (QuotaReserved=False with Kueue's message) \
                 nor its pods showed that Kueue held the gang back: verify that Kueue's controller runs and keeps a gang \
                 larger than free quota waiting ({workload_text}; {})",
                length.as_secs(),
                job_state(ctx, big).await
            ))));
        }
    };
    ctx.step(format!(
        "Kueue: 0 of {} pods of {big} bound during the {}s window; held back: {signal}; {}",
        setup.gang,
        length.as_secs(),
        job_state(ctx, big).await
    ));
    ctx.record(|e| {
        e.value(
            "Kueue: zero-bound window",
            format!("{}s, 0 of {} pods bound; held back: {signal}", length.as_secs(), setup.gang),
        )
    });

    // Free capacity: the gang must now start whole.
    jobs.delete(&blocker, &DeleteParams::background())
        .await
        .map_err(|e| CheckError::api(format!("delete Job {blocker}"), e))?;
    let freed = Instant::now();
    ctx.step("Kueue: deleted the blocker");
    if let Err(seen) = observe::wait_all_bound(&pods, &gang_selector(big), setup.gang, bind_timeout).await {
        if let Some(plan) = &setup.platform
            && let Some(quota) = quota_taken_meanwhile(ctx, apis, plan, big).await
        {
            return Ok(Ok(SubResult::Error(format!(
                "after the blocker went, other workloads reserved quota in ClusterQueue {} ({quota} {} free now, the gang \
                 needs {}), so kaic cannot tell whether the gang would have been admitted: {seen}",
                plan.cluster_queue, plan.resource, setup.gang
            ))));
        }
        if let Some(plan) = &setup.platform
            && let Some(now) = free_now(ctx, plan).await
            && now < to_i128(setup.gang)
        {
            return Ok(Ok(SubResult::Error(format!(
                "after the blocker went, other workloads took {} on the nodes of flavor {} ({now} free now, the gang needs \
                 {}), so kaic cannot tell whether the gang would have started: {seen}",
                plan.resource, plan.flavor, setup.gang
            ))));
        }
        return Ok(Ok(SubResult::Fail {
            reason: "the gang was not bound whole after capacity was freed".into(),
            expected: format!(
                "all {} pods of Job {big} bound within {}s of deleting the blocker",
                setup.gang,
                bind_timeout.as_secs()
            ),
            observed: format!("{seen}; {}; {}", job_state(ctx, big).await, workload_state(ctx, apis, big).await),
        }));
    }
    let started = freed.elapsed();
    ctx.record(|e| e.timing(format!("Kueue: gang of {}, capacity freed to all bound", setup.gang), started));
    ctx.step(format!("Kueue: all {} pods of {big} bound {} after the blocker was deleted", setup.gang, secs(started)));
    if let Err(seen) = super::wait_complete(ctx, big).await? {
        return Ok(Ok(SubResult::Fail {
            reason: format!("the gang of {} was bound but its Job did not complete", setup.gang),
            expected: format!("Job {big} Complete within {}s", ctx.wait(Wait::GangComplete).as_secs()),
            observed: format!("{seen}; {}", workload_state(ctx, apis, big).await),
        }));
    }
    ctx.step(format!("Kueue: Job {big} completed; {}", workload_state(ctx, apis, big).await));
    let _ = job_state(ctx, big).await;
    Ok(Ok(SubResult::Pass(format!(
        "a gang of {} with {left} × {unit} free stayed with 0 pods bound for {}s (held back: {signal}), was bound whole {} \
         after the blocker went, and completed",
        setup.gang,
        length.as_secs(),
        secs(started)
    ))))
}

fn to_i128(n: usize) -> i128 {
    i128::try_from(n).unwrap_or(i128::MAX)
}

/// When the gang's Workload is still not admitted and the queue has less free quota than the gang needs, the
/// free quota: others reserved it after the blocker went.
async fn quota_taken_meanwhile(ctx: &CheckContext, apis: &Apis, plan: &PlatformPlan, job: &str) -> Option<i128> {
    let workloads = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ctx.namespace, &apis.workloads);
    let list = workloads.list(&ListParams::default()).await.ok()?;
    let workload = list.items.into_iter().find(|w| w.owner_references().iter().any(|o| o.name == job))?;
    let conditions = workload.data["status"]["conditions"].as_array().cloned().unwrap_or_default();
    if conditions.iter().any(|c| c["type"] == "QuotaReserved" && c["status"] == "True") {
        return None;
    }
    let queue =
        Api::<DynamicObject>::all_with(ctx.client.clone(), &apis.cluster_queues).get(&plan.cluster_queue).await.ok()?;
    let view = QueueView::parse(&queue);
    let key = (plan.flavor.clone(), plan.resource.clone());
    let free =
        (view.quota.get(&key).copied().unwrap_or(0) - view.reserved.get(&key).copied().unwrap_or(0)).max(0) / 1000;
    (free < to_i128(plan.gang)).then_some(free)
}

/// Whole units of the plan's resource free on its flavor's nodes now, if they can be read.
async fn free_now(ctx: &CheckContext, plan: &PlatformPlan) -> Option<i128> {
    let nodes = crate::list::all(&Api::<Node>::all(ctx.client.clone()), ListParams::default()).await.ok()?;
    let running = ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed");
    let pods = crate::list::all(&Api::<Pod>::all(ctx.client.clone()), running).await.ok()?;
    // The gang's own pods are bound-or-pending; count capacity as if they were not there.
    let others: Vec<Pod> =
        pods.into_iter().filter(|p| p.metadata.namespace.as_deref() != Some(ctx.namespace.as_str())).collect();
    Some(capacity::whole_units(&capacity::free_per_node(&nodes, &others, &plan.resource, &plan.node_labels, true)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pending_workload_is_proof_of_holding_back_and_an_admitted_one_is_not() {
        let pending: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
            "metadata": {"name": "job-kueue-big-1"},
            "status": {"conditions": [{"type": "QuotaReserved", "status": "False", "reason": "Pending",
                "message": "couldn't assign flavors to pod set main: insufficient unused quota"}]}
        }))
        .unwrap();
        assert_eq!(
            workload_held(&pending).unwrap(),
            "Kueue Workload job-kueue-big-1: QuotaReserved=False Pending: couldn't assign flavors to pod set main: \
             insufficient unused quota"
        );
        let admitted: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
            "metadata": {"name": "w"},
            "status": {"conditions": [{"type": "QuotaReserved", "status": "True", "reason": "QuotaReserved", "message": "ok"}]}
        }))
        .unwrap();
        assert_eq!(workload_held(&admitted), None);
    }

    #[test]
    fn describes_a_pending_workload() {
        let workload: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
            "metadata": {"name": "job-kueue-big-1"},
            "status": {"conditions": [{"type": "QuotaReserved", "status": "False", "reason": "Pending",
                "message": "couldn't assign flavors to pod set main: insufficient unused quota for nvidia.com/gpu in flavor default-flavor, 1 more needed"}]}
        }))
        .unwrap();
        assert_eq!(
            describe_workload(&workload),
            "Kueue Workload job-kueue-big-1: QuotaReserved=False Pending couldn't assign flavors to pod set main: insufficient \
             unused quota for nvidia.com/gpu in flavor default-flavor, 1 more needed"
        );
    }
}
