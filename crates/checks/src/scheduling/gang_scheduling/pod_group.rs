//! The sub-case for every solution whose **scheduler** enforces the gang through a pod group: the native
//! Workload/PodGroup API ([`super::native`]), Volcano, KAI scheduler and scheduler-plugins coscheduling
//! ([`super::crd_group`]). What differs between them — how a group is created and how a pod joins it — is a
//! [`GroupApi`]; the flow is the same:
//!
//! - positive: a group of 3 pods that fits anywhere is bound whole and its Job completes;
//! - negative: on the node with the least free CPU that can be split four ways, a blocker pod takes a quarter
//!   of the free CPU and a gang of 4 pods (group minimum 4) each asks for a quarter. Three would fit; a gang
//!   scheduler binds none for the whole window. When the blocker goes, all four must be bound and complete.
//!
//! Real node capacity is used (not a quota), because these schedulers decide placement themselves. The
//! blocker is an ordinary pod of the default scheduler: every scheduler counts every pod bound to a node.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

use super::detect::SubResult;
use super::negative::{self, Judgement};
use super::observe;
use super::{
    GangJob, POSITIVE_SIZE, create_blocker, delete_gang_pods, gang_selector, merge_fields, secs, wait_complete,
};
use crate::capacity::{self, format_milli};
use crate::check::{CheckContext, CheckError};
use crate::timeouts::Wait;

/// Pods in the negative gang (its group minimum).
pub const NEGATIVE_SIZE: usize = 4;
/// The smallest CPU request (thousandths) kaic gives one pod of the negative gang.
const MIN_UNIT_MILLI: i128 = 100;

/// What puts a pod into a group: fields of its spec (e.g. `schedulingGroup`, `schedulerName`), and labels
/// and annotations on its metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Join {
    pub pod_spec: Value,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// How one gang solution creates a pod group and joins pods to it.
#[async_trait::async_trait]
pub trait GroupApi: Send + Sync {
    /// A short DNS-safe tag, used in object names (`<tag>-fit`), steps and timings.
    fn tag(&self) -> &'static str;
    /// The group's policy in words, for sentences: `gang minCount 4`, `minMember 4`.
    fn policy(&self, min_member: usize) -> String;
    /// Creates the group object(s) for a gang of at least `min_member` pods, named `name`, and records them.
    async fn create_group(&self, ctx: &CheckContext, name: &str, min_member: usize) -> Result<(), CheckError>;
    /// What joins a pod to group `name`.
    fn join(&self, name: &str) -> Join;
    /// Whether the gang is submitted as bare pods rather than a Job (see `crd_group::Flavor::bare_pods`).
    fn bare_pods(&self) -> bool {
        false
    }
    /// The group's state in one line (its phase or conditions), recording the object.
    async fn group_state(&self, ctx: &CheckContext, name: &str) -> String;
    /// What the group's own status says about the gang being held back (an Unschedulable condition), if
    /// anything: proof for the negative case beside the pods' conditions.
    async fn held_back(&self, _ctx: &CheckContext, _name: &str) -> Option<String> {
        None
    }
    /// Which scheduler should act on the group's pods, for a "not operational" message.
    fn scheduler_hint(&self) -> String {
        "the default scheduler".into()
    }
}

/// Where the negative gang goes and how much each pod asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    pub node: String,
    /// Free CPU on the node before the blocker, in thousandths.
    pub free_milli: i128,
    /// CPU per pod (blocker and each gang member), in thousandths.
    pub unit_milli: i128,
}

/// Picks the node with the least free CPU that still gives each of the [`NEGATIVE_SIZE`] pods at least
/// 100m (the least disruptive choice, and the one the scheduler is least likely to fill meanwhile).
/// The unit is a quarter of the free CPU, so the gang fits exactly once the blocker (one unit) is gone, and
/// with the blocker there is room for 3 of the 4.
pub fn choose_node(free: &BTreeMap<String, i128>) -> Option<NodePlan> {
    let size = i128::try_from(NEGATIVE_SIZE).unwrap_or(4);
    free.iter()
        .filter(|(_, f)| **f / size >= MIN_UNIT_MILLI)
        .min_by_key(|(name, f)| (**f, (*name).clone()))
        .map(|(node, f)| NodePlan { node: node.clone(), free_milli: *f, unit_milli: *f / size })
}

pub use crate::pods::pin_to;

/// The Job of one gang: `size` pods of `cpu_milli` CPU each, joined to group `name`, with `extra` pod spec
/// fields (affinity).
pub fn gang_job<'a>(name: &'a str, size: usize, cpu_milli: i128, join: Join, extra: Value) -> GangJob<'a> {
    let mut pod_spec = join.pod_spec;
    merge_fields(&mut pod_spec, &extra);
    GangJob {
        name,
        parallelism: size,
        completions: size,
        resources: json!({"requests": {"cpu": format_milli(cpu_milli)}}),
        exits: true,
        job_labels: BTreeMap::new(),
        pod_labels: join.labels,
        pod_annotations: join.annotations,
        pod_spec,
        suspend: false,
    }
}

/// Free CPU per usable untainted node (thousandths), leaving out pods in `skip_namespace`.
async fn free_cpu(ctx: &CheckContext, skip_namespace: Option<&str>) -> Result<BTreeMap<String, i128>, CheckError> {
    let nodes = crate::list::all(&Api::<Node>::all(ctx.client.clone()), ListParams::default())
        .await
        .map_err(|e| CheckError::api("list nodes", e))?;
    let running = ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed");
    let pods = crate::list::all(&Api::<Pod>::all(ctx.client.clone()), running)
        .await
        .map_err(|e| CheckError::api("list pods", e))?;
    let pods: Vec<Pod> = pods
        .into_iter()
        .filter(|p| skip_namespace.is_none_or(|ns| p.metadata.namespace.as_deref() != Some(ns)))
        .collect();
    Ok(capacity::free_per_node(&nodes, &pods, "cpu", &BTreeMap::new(), false))
}

/// Submits the gang `name`: a Job, or (where the solution needs it) bare pods `<name>-<i>` built from the
/// same pod template.
async fn submit(ctx: &CheckContext, api: &dyn GroupApi, gang: GangJob<'_>) -> Result<(), CheckError> {
    if !api.bare_pods() {
        gang.create(ctx).await?;
        return Ok(());
    }
    let job = gang.build(ctx)?;
    let template = job.spec.map(|s| s.template).unwrap_or_default();
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ctx.namespace);
    for i in 0..gang.parallelism {
        let name = format!("{}-{i}", gang.name);
        let mut metadata = template.metadata.clone().unwrap_or_default();
        metadata.name = Some(name.clone());
        let pod = Pod { metadata, spec: template.spec.clone(), ..Pod::default() };
        pods.create(&PostParams::default(), &pod)
            .await
            .map_err(|e| CheckError::api(format!("create pod {name}"), e))?;
    }
    Ok(())
}

/// The gang's workload in words: `Job <name>` or `bare pods <name>-N`.
fn workload(api: &dyn GroupApi, gang: &str) -> String {
    if api.bare_pods() { format!("bare pods {gang}-N") } else { format!("Job {gang}") }
}

/// Waits for a bound gang to finish (its Job to complete, or all its bare pods to succeed): `Some(failure)`
/// when it does not.
async fn completion_failure(
    ctx: &CheckContext,
    api: &dyn GroupApi,
    gang: &str,
    size: usize,
) -> Result<Option<SubResult>, CheckError> {
    let outcome = if api.bare_pods() {
        let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ctx.namespace);
        observe::wait_all_succeeded(&pods, &gang_selector(gang), size, ctx.wait(Wait::GangComplete)).await.map(|_| ())
    } else {
        wait_complete(ctx, gang).await?
    };
    let Err(seen) = outcome else { return Ok(None) };
    let what = workload(api, gang);
    Ok(Some(SubResult::Fail {
        reason: format!("the gang of {size} was bound but did not complete"),
        expected: format!("{what} finished successfully within {}s", ctx.wait(Wait::GangComplete).as_secs()),
        observed: format!("{seen}; {}", api.group_state(ctx, gang).await),
    }))
}

/// Whether any scheduler has looked at the pods of `gang`: one of them has a `PodScheduled` condition.
async fn any_pod_considered(ctx: &CheckContext, gang: &str) -> bool {
    let pods = Api::<Pod>::namespaced(ctx.client.clone(), &ctx.namespace);
    let Ok(list) = pods.list(&ListParams::default().labels(&gang_selector(gang))).await else { return true };
    list.items.iter().any(|p| {
        p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "PodScheduled"))
    })
}

/// Runs the positive and the negative case through `api`.
///
/// # Errors
/// [`CheckError`] when an API call fails.
pub async fn run(ctx: &CheckContext, api: &dyn GroupApi) -> Result<SubResult, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let tag = api.tag();
    let bind_timeout = ctx.wait(Wait::GangBind);

    // Positive: a gang of 3 that fits anywhere.
    let fit = format!("{tag}-fit");
    let fit = fit.as_str();
    api.create_group(ctx, fit, POSITIVE_SIZE).await?;
    submit(ctx, api, gang_job(fit, POSITIVE_SIZE, 10, api.join(fit), json!({}))).await?;
    let submitted = Instant::now();
    ctx.step(format!(
        "{tag}: submitted {}, {POSITIVE_SIZE} pods in PodGroup {fit} ({})",
        workload(api, fit),
        api.policy(POSITIVE_SIZE)
    ));
    if let Err(seen) = observe::wait_all_bound(&pods, &gang_selector(fit), POSITIVE_SIZE, bind_timeout).await {
        if !any_pod_considered(ctx, fit).await {
            return Ok(SubResult::NotOperational(format!(
                "its API is served, but no scheduler acted on the {POSITIVE_SIZE} pods of PodGroup {fit} within {}s (none has \
                 a PodScheduled condition): {}; if its scheduler runs under another name, pass --scheduler-name ({})",
                bind_timeout.as_secs(),
                api.scheduler_hint(),
                api.group_state(ctx, fit).await
            )));
        }
        return Ok(SubResult::Fail {
            reason: format!("a gang of {POSITIVE_SIZE} that fits was not bound within {}s", bind_timeout.as_secs()),
            expected: format!("all {POSITIVE_SIZE} pods of PodGroup {fit} bound"),
            observed: format!("{seen}; {}", api.group_state(ctx, fit).await),
        });
    }
    let took = submitted.elapsed();
    ctx.record(|e| e.timing(format!("{tag}: gang of {POSITIVE_SIZE} that fits, submit to all bound"), took));
    ctx.step(format!("{tag}: all {POSITIVE_SIZE} pods of {fit} bound {} after submission", secs(took)));
    if let Some(failure) = completion_failure(ctx, api, fit, POSITIVE_SIZE).await? {
        return Ok(failure);
    }
    ctx.step(format!("{tag}: {} finished; {}", workload(api, fit), api.group_state(ctx, fit).await));
    let positive =
        format!("a gang of {POSITIVE_SIZE} ({}) was bound in {} and completed", api.policy(POSITIVE_SIZE), secs(took));

    // Negative, at most twice: a gang bound whole during the window means capacity appeared.
    let length = negative::window_length(ctx.wait(Wait::GangWindow), took);
    for attempt in 1..=2 {
        match negative_case(ctx, api, attempt, length).await? {
            Negative::Done(SubResult::Pass(summary)) => return Ok(SubResult::Pass(format!("{positive}; {summary}"))),
            Negative::Done(result) => return Ok(result),
            Negative::Inconclusive(why) if attempt == 1 => {
                ctx.step(format!("{tag}: inconclusive ({why}); trying the negative case once more"));
            }
            Negative::Inconclusive(why) => {
                return Ok(SubResult::Unknown(format!(
                    "{positive}, but the negative case was inconclusive twice ({why}): verify on a quiet node that a gang \
                     larger than free capacity gets no pod bound until it fits"
                )));
            }
        }
    }
    unreachable!("the loop returns on its second attempt")
}

/// How one negative attempt ended.
enum Negative {
    /// A result for the solution (a pass carries the negative case's summary only).
    Done(SubResult),
    /// Capacity appeared during the window: try again.
    Inconclusive(String),
}

/// One negative attempt: on one node, a blocker takes a quarter of the free CPU; the gang of 4 asks for a
/// quarter each and must be held back (with the scheduler's word) for the window, then bound whole once the
/// blocker goes.
async fn negative_case(
    ctx: &CheckContext,
    api: &dyn GroupApi,
    attempt: u32,
    length: Duration,
) -> Result<Negative, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let tag = api.tag();
    let bind_timeout = ctx.wait(Wait::GangBind);
    let suffix = if attempt == 1 { String::new() } else { attempt.to_string() };
    let blocker = format!("{tag}-blocker{suffix}");
    let big = format!("{tag}-big{suffix}");
    let big = big.as_str();
    // Pods of this namespace are left out: an earlier attempt's gang is being deleted.
    let free = free_cpu(ctx, Some(&ctx.namespace)).await?;
    let Some(plan) = choose_node(&free) else {
        return Ok(Negative::Done(SubResult::Error(format!(
            "no Ready, untainted, schedulable node has {}m CPU free to split between a blocker and a gang of {NEGATIVE_SIZE}",
            MIN_UNIT_MILLI * i128::try_from(NEGATIVE_SIZE).unwrap_or(4)
        ))));
    };
    let NodePlan { node, free_milli, unit_milli } = plan.clone();
    let cpu = format_milli(unit_milli);
    let unit = format!("{cpu} CPU");
    let placement = json!({"affinity": pin_to(&node)});
    create_blocker(ctx, &blocker, &blocker, placement, json!({"requests": {"cpu": cpu}})).await?;
    if let Err(seen) = observe::wait_all_bound(&pods, &gang_selector(&blocker), 1, bind_timeout).await {
        return Ok(Negative::Done(SubResult::Error(format!(
            "the blocker pod ({unit} on node {node}) was not bound within {}s, so the negative case could not be set up: {seen}",
            bind_timeout.as_secs()
        ))));
    }
    let left = free_milli - unit_milli;
    ctx.step(format!(
        "{tag}: node {node} had {} CPU free; blocker pod {blocker} takes {unit}, leaving {} — room for {} of {NEGATIVE_SIZE} pods of {unit}",
        format_milli(free_milli),
        format_milli(left),
        NEGATIVE_SIZE - 1
    ));
    api.create_group(ctx, big, NEGATIVE_SIZE).await?;
    let gang = gang_job(big, NEGATIVE_SIZE, unit_milli, api.join(big), json!({"affinity": pin_to(&node)}));
    submit(ctx, api, gang).await?;
    ctx.step(format!(
        "{tag}: submitted {}, {NEGATIVE_SIZE} pods of {unit} on {node} in PodGroup {big} ({})",
        workload(api, big),
        api.policy(NEGATIVE_SIZE)
    ));
    let window = observe::watch_window(
        &pods,
        &gang_selector(big),
        NEGATIVE_SIZE,
        observe::Start::WhenAllExist(bind_timeout),
        length,
    )
    .await?;
    let group = api.group_state(ctx, big).await;
    let expected = || {
        format!(
            "0 of {NEGATIVE_SIZE} pods of PodGroup {big} bound for {}s: node {node} has {} CPU free after the blocker, room \
             for {} pods of {unit}",
            length.as_secs(),
            format_milli(left),
            NEGATIVE_SIZE - 1
        )
    };
    let signal = match negative::judge(&window, NEGATIVE_SIZE, api.held_back(ctx, big).await) {
        Judgement::Held { signal } => signal,
        Judgement::Partial => {
            return Ok(Negative::Done(SubResult::Fail {
                reason: format!(
                    "the scheduler started a gang ({}) larger than free capacity partially: at most {} of {NEGATIVE_SIZE} \
                     pods ran at once",
                    api.policy(NEGATIVE_SIZE),
                    window.peak_running
                ),
                expected: expected(),
                observed: format!("{}; {group}", window.observed(NEGATIVE_SIZE)),
            }));
        }
        Judgement::Whole => {
            remove_gang(ctx, api, big, &blocker).await?;
            return Ok(Negative::Inconclusive(format!(
                "all {NEGATIVE_SIZE} pods of {big} were bound together during the window, so CPU was freed on {node} meanwhile: \
                 {}",
                window.timeline()
            )));
        }
        Judgement::MembersMissing { existed } => {
            return Ok(Negative::Done(SubResult::Unknown(format!(
                "only {existed} of the {NEGATIVE_SIZE} pods of {} existed after {}s, so the gang could not be observed being \
                 held back: {}; {group}",
                workload(api, big),
                bind_timeout.as_secs(),
                window.at_end
            ))));
        }
        Judgement::NoSignal => {
            return Ok(Negative::Done(SubResult::Unknown(format!(
                "no pod of {big} was bound for {}s, but neither its pods (PodScheduled=False with a reason) nor its PodGroup \
                 showed that a scheduler considered the gang and held it back: verify that the scheduler runs and refuses \
                 gangs larger than free capacity ({}; {group})",
                length.as_secs(),
                window.at_end
            ))));
        }
    };
    ctx.step(format!(
        "{tag}: 0 of {NEGATIVE_SIZE} pods of {big} bound during the {}s window, which started {} after submission when all \
         {} pods existed; held back: {signal}; {group}",
        length.as_secs(),
        secs(window.members_after.unwrap_or_default()),
        window.pods_at_end
    ));
    ctx.record(|e| {
        e.value(
            format!("{tag}: zero-bound window"),
            format!("{}s, 0 of {NEGATIVE_SIZE} pods bound; held back: {signal}", length.as_secs()),
        )
    });

    // Free capacity: the whole gang must now be bound.
    pods.delete(&blocker, &DeleteParams::default().grace_period(0))
        .await
        .map_err(|e| CheckError::api(format!("delete pod {blocker}"), e))?;
    let freed = Instant::now();
    ctx.step(format!("{tag}: deleted the blocker pod {blocker}"));
    let requeue = ctx.wait(Wait::GangRequeue);
    if let Err(seen) = observe::wait_all_bound(&pods, &gang_selector(big), NEGATIVE_SIZE, requeue).await {
        let now = free_cpu(ctx, Some(&ctx.namespace)).await.ok().and_then(|f| f.get(&node).copied()).unwrap_or(0);
        if now < unit_milli * i128::try_from(NEGATIVE_SIZE).unwrap_or(4) {
            return Ok(Negative::Done(SubResult::Error(format!(
                "after the blocker went, other pods took CPU on node {node} ({} free now, the gang needs {} × {unit}), so kaic \
                 cannot tell whether the gang would have started: {seen}",
                format_milli(now),
                NEGATIVE_SIZE
            ))));
        }
        return Ok(Negative::Done(SubResult::Fail {
            reason: "the gang was not bound whole after capacity was freed".into(),
            expected: format!(
                "all {NEGATIVE_SIZE} pods of PodGroup {big} bound within {}s of deleting the blocker ({} CPU free on {node})",
                requeue.as_secs(),
                format_milli(now)
            ),
            observed: format!("{seen}; {}", api.group_state(ctx, big).await),
        }));
    }
    let started = freed.elapsed();
    ctx.record(|e| e.timing(format!("{tag}: gang of {NEGATIVE_SIZE}, capacity freed to all bound"), started));
    ctx.step(format!("{tag}: all {NEGATIVE_SIZE} pods of {big} bound {} after the blocker was deleted", secs(started)));
    if let Some(failure) = completion_failure(ctx, api, big, NEGATIVE_SIZE).await? {
        return Ok(Negative::Done(failure));
    }
    let group = api.group_state(ctx, big).await;
    ctx.step(format!("{tag}: {} finished; {group}", workload(api, big)));
    Ok(Negative::Done(SubResult::Pass(format!(
        "a gang of {NEGATIVE_SIZE} on node {node} with room for {} stayed with 0 pods bound for {}s (held back: {signal}), was \
         bound whole {} after the blocker went, and completed",
        NEGATIVE_SIZE - 1,
        length.as_secs(),
        secs(started)
    ))))
}

/// Deletes an attempt's gang (its Job or bare pods) and blocker, and waits until their pods are gone, so
/// the next attempt measures free capacity without them.
async fn remove_gang(ctx: &CheckContext, api: &dyn GroupApi, gang: &str, blocker: &str) -> Result<(), CheckError> {
    if !api.bare_pods() {
        Api::<k8s_openapi::api::batch::v1::Job>::namespaced(ctx.client.clone(), &ctx.namespace)
            .delete(gang, &DeleteParams::foreground())
            .await
            .map_err(|e| CheckError::api(format!("delete Job {gang}"), e))?;
    }
    delete_gang_pods(ctx, gang).await?;
    delete_gang_pods(ctx, blocker).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_least_free_node_that_splits_four_ways() {
        let free = BTreeMap::from([
            ("cpu-node-0".to_string(), 16_000),
            ("cpu-node-1".to_string(), 15_500),
            ("gpu-node-0".to_string(), 64_000),
            ("full".to_string(), 300),
        ]);
        let plan = choose_node(&free).unwrap();
        assert_eq!(plan, NodePlan { node: "cpu-node-1".into(), free_milli: 15_500, unit_milli: 3875 });
        // With the blocker (one unit) there is room for 3 pods, not 4; without it for all 4.
        let size = i128::try_from(NEGATIVE_SIZE).unwrap();
        assert!(plan.free_milli - plan.unit_milli >= (size - 1) * plan.unit_milli);
        assert!(plan.free_milli - plan.unit_milli < size * plan.unit_milli);
        assert!(plan.free_milli >= size * plan.unit_milli);
        assert!(choose_node(&BTreeMap::from([("full".to_string(), 399)])).is_none());
    }

    #[test]
    fn gang_jobs_carry_what_joins_them_to_the_group() {
        let join = Join {
            pod_spec: json!({"schedulerName": "volcano"}),
            labels: BTreeMap::from([("q".to_string(), "default".to_string())]),
            annotations: BTreeMap::from([("scheduling.k8s.io/group-name".to_string(), "volcano-big".to_string())]),
        };
        let job = gang_job("volcano-big", 4, 3875, join, json!({"affinity": pin_to("n1")}));
        assert_eq!(job.pod_spec["schedulerName"], "volcano");
        assert_eq!(
            job.pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
                [0]["matchFields"][0]["values"][0],
            "n1"
        );
        assert_eq!(job.resources["requests"]["cpu"], "3875m");
        assert_eq!(job.pod_labels["q"], "default");
        assert_eq!(job.pod_annotations["scheduling.k8s.io/group-name"], "volcano-big");
        assert!(!job.suspend);
    }
}
