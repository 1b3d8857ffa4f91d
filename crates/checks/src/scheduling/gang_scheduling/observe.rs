//! Watching a gang's pods: how many are bound at each moment, whether any was bound during an observation
//! window, and how long it takes until all are bound. Every function watches (kube-runtime's watcher); none
//! sleeps and polls.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::time::Instant;

use crate::check::CheckError;
use crate::wait;

/// The pods of one gang as last seen, by name.
#[derive(Debug, Default, Clone)]
pub struct GangPods {
    pods: BTreeMap<String, Pod>,
    /// Filled during a watch's initial listing; swapped in at `InitDone`.
    buffer: Option<BTreeMap<String, Pod>>,
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).filter(|n| !n.is_empty())
}

fn name_of(pod: &Pod) -> String {
    pod.metadata.name.clone().unwrap_or_default()
}

impl GangPods {
    /// Applies one watch event. Returns the pods that this event showed bound (for "ever bound" tracking,
    /// which also catches a pod that was bound and deleted between two looks).
    pub fn apply(&mut self, event: Event<Pod>) -> Vec<(String, String)> {
        let bound = |pod: &Pod| node_of(pod).map(|n| (name_of(pod), n.to_string()));
        match event {
            Event::Init => {
                self.buffer = Some(BTreeMap::new());
                Vec::new()
            }
            Event::InitApply(pod) => {
                let seen = bound(&pod).into_iter().collect();
                self.buffer.get_or_insert_with(BTreeMap::new).insert(name_of(&pod), pod);
                seen
            }
            Event::InitDone => {
                if let Some(buffer) = self.buffer.take() {
                    self.pods = buffer;
                }
                Vec::new()
            }
            Event::Apply(pod) => {
                let seen = bound(&pod).into_iter().collect();
                self.pods.insert(name_of(&pod), pod);
                seen
            }
            Event::Delete(pod) => {
                let seen = bound(&pod).into_iter().collect();
                self.pods.remove(&name_of(&pod));
                seen
            }
        }
    }

    /// Replaces the state with a fresh listing.
    pub fn reset(&mut self, pods: Vec<Pod>) {
        self.pods = pods.into_iter().map(|p| (name_of(&p), p)).collect();
    }

    /// How many pods exist now.
    pub fn count(&self) -> usize {
        self.pods.len()
    }

    /// How many pods are bound and not finished now.
    pub fn running(&self) -> usize {
        self.pods.values().filter(|p| crate::capacity::holds_resources(p)).count()
    }

    /// How many pods finished successfully.
    pub fn succeeded(&self) -> usize {
        self.pods.values().filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Succeeded")).count()
    }

    /// Pod name → node, for the pods bound now.
    pub fn bound(&self) -> BTreeMap<String, String> {
        self.pods.values().filter_map(|p| node_of(p).map(|n| (name_of(p), n.to_string()))).collect()
    }

    /// The pods as a person wants to read them: how many of `size` exist and are bound, bound pods per
    /// node, and why each unbound pod waits (the scheduler's message).
    pub fn describe(&self, size: usize) -> String {
        let bound = self.bound();
        let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
        for node in bound.values() {
            *per_node.entry(node.as_str()).or_default() += 1;
        }
        let mut text = format!("{} of {size} pods bound", bound.len());
        if !per_node.is_empty() {
            let nodes = per_node.iter().map(|(n, c)| format!("{n}: {c}")).collect::<Vec<_>>().join(", ");
            text.push_str(&format!(" ({nodes})"));
        }
        if self.pods.len() != size {
            text.push_str(&format!("; {} pods exist", self.pods.len()));
        }
        let waiting: Vec<String> = self
            .pods
            .values()
            .filter(|p| node_of(p).is_none())
            .take(3)
            .map(|p| format!("{}: {}", name_of(p), wait::describe_pod(p)))
            .collect();
        if !waiting.is_empty() {
            text.push_str(&format!("; unbound: {}", waiting.join(" | ")));
        }
        text
    }
}

/// Bindings further apart than this belong to different bursts (a gang scheduler binds a gang in one).
const BURST_GAP: Duration = Duration::from_secs(1);

/// What a watch saw of a gang that must not be bound during a window.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// Every pod seen bound during the watch: pod → (node, when it was first seen bound, from the watch's
    /// start), even if it finished or went away again.
    pub ever_bound: BTreeMap<String, (String, Duration)>,
    /// The most pods bound and not finished at the same time: how much of the gang really ran together.
    pub peak_running: usize,
    /// The pods at the end of the window, described.
    pub at_end: String,
    /// How many pods existed at the end.
    pub pods_at_end: usize,
    /// When every member of the gang existed, from the watch's start: the window starts then, because a
    /// gang whose pods are not all there yet cannot have been held back. `None`: they never all existed.
    pub members_after: Option<Duration>,
    /// How long the window itself lasted (zero when the members never all existed).
    pub length: Duration,
    /// The first sign that the scheduler considered the gang and held it back: a pod's `PodScheduled=False`
    /// condition with the scheduler's reason and message.
    pub held: Option<String>,
}

/// When the window starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Once every one of the gang's pods exists, waiting at most this long for them.
    WhenAllExist(Duration),
    /// At once: the gang exists as another object (a Kueue Workload keeps its Job's pods uncreated while it
    /// is not admitted).
    Now,
}

/// The scheduler's sign that it considered `pod` and left it unbound: `PodScheduled=False` with a reason
/// other than `SchedulingGated` (a gate means nobody has looked at the pod yet).
pub fn held_signal(pod: &Pod) -> Option<String> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let condition = conditions.iter().find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    let reason = condition.reason.as_deref().unwrap_or_default();
    if reason == "SchedulingGated" || reason.is_empty() && condition.message.as_deref().unwrap_or_default().is_empty() {
        return None;
    }
    let mut message = condition.message.clone().unwrap_or_default();
    message.truncate(240);
    Some(
        format!("pod {}: PodScheduled=False {reason}: {message}", name_of(pod))
            .trim_end_matches([' ', ':'])
            .to_string(),
    )
}

impl Window {
    /// When the first pod was seen bound.
    pub fn first_bound(&self) -> Option<Duration> {
        self.ever_bound.values().map(|(_, at)| *at).min()
    }

    /// The bindings grouped into bursts: "at 0.1s: 7 pods (a→n1, …); at 3.2s: 1 pod (h→n2)".
    pub fn timeline(&self) -> String {
        let mut by_time: Vec<(&Duration, &String, &String)> =
            self.ever_bound.iter().map(|(pod, (node, at))| (at, pod, node)).collect();
        by_time.sort();
        let mut bursts: Vec<Vec<(&Duration, &String, &String)>> = Vec::new();
        for binding in by_time {
            match bursts.last_mut() {
                Some(burst) if burst.last().is_some_and(|last| *binding.0 - *last.0 <= BURST_GAP) => {
                    burst.push(binding)
                }
                _ => bursts.push(vec![binding]),
            }
        }
        bursts
            .iter()
            .map(|burst| {
                let pods: Vec<String> = burst.iter().take(8).map(|(_, p, n)| format!("{p}→{n}")).collect();
                let more = if burst.len() > 8 { ", …" } else { "" };
                let noun = if burst.len() == 1 { "pod" } else { "pods" };
                format!("at {}: {} {noun} bound ({}{more})", super::secs(*burst[0].0), burst.len(), pods.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The window in words for a failure: when pods were bound, how many ran at once, how it ended.
    pub fn observed(&self, size: usize) -> String {
        format!(
            "{}; at most {} of {size} ran at once; at the end of the window {}",
            self.timeline(),
            self.peak_running,
            self.at_end
        )
    }
}

/// Watches the pods matching `selector`: first (with [`Start::WhenAllExist`]) until all `size` pods exist,
/// then for `window`, recording every binding and the scheduler's first sign of holding the gang back.
/// Bindings before the window started count too: a pod bound early was bound all the same.
///
/// # Errors
/// [`CheckError::Other`] if the watch never completes its initial listing, [`CheckError::Api`] if the
/// closing cross-check listing fails.
pub async fn watch_window(
    api: &Api<Pod>,
    selector: &str,
    size: usize,
    start: Start,
    window: Duration,
) -> Result<Window, CheckError> {
    let started = Instant::now();
    let mut window_start = match start {
        Start::Now => Some(started),
        Start::WhenAllExist(_) => None,
    };
    let members_deadline = match start {
        Start::Now => started,
        Start::WhenAllExist(timeout) => started + timeout,
    };
    let mut state = GangPods::default();
    let mut seen = Window::default();
    let mut listed = false;
    let mut last_error = None;
    let stream = watcher::watcher(api.clone(), watcher::Config::default().labels(selector)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    loop {
        let deadline = window_start.map_or(members_deadline, |at| at + window);
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(Err(e))) => last_error = Some(e.to_string()),
            Ok(Some(Ok(event))) => {
                listed |= matches!(event, Event::InitDone);
                if let Event::Apply(pod) | Event::InitApply(pod) = &event
                    && seen.held.is_none()
                {
                    seen.held = held_signal(pod);
                }
                for (pod, node) in state.apply(event) {
                    seen.ever_bound.entry(pod).or_insert_with(|| (node, started.elapsed()));
                }
                seen.peak_running = seen.peak_running.max(state.running());
                if window_start.is_none() && listed && state.count() >= size {
                    window_start = Some(Instant::now());
                }
            }
        }
    }
    if !listed {
        return Err(CheckError::Other(format!(
            "the watch of pods {selector} did not start within {}s: {}",
            (deadline_len(started, members_deadline) + window).as_secs(),
            last_error.unwrap_or_else(|| "no initial listing arrived".into())
        )));
    }
    // Cross-check with a fresh listing, so a lost watch event cannot hide a bound pod.
    let listing = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| CheckError::api(format!("list pods {selector}"), e))?;
    state.reset(listing.items);
    for (pod, node) in state.bound() {
        seen.ever_bound.entry(pod).or_insert((node, started.elapsed()));
    }
    if seen.held.is_none() {
        seen.held = state.pods.values().find_map(held_signal);
    }
    seen.peak_running = seen.peak_running.max(state.running());
    seen.at_end = state.describe(size);
    seen.pods_at_end = state.count();
    seen.members_after = window_start.map(|at| at - started);
    seen.length = window_start.map_or(Duration::ZERO, |at| at.elapsed());
    Ok(seen)
}

fn deadline_len(started: Instant, deadline: Instant) -> Duration {
    deadline.saturating_duration_since(started)
}

/// Watches the pods matching `selector` until `size` of them are bound at once, for at most `timeout`.
/// `Ok` carries the time it took; `Err` the pods as last seen, described.
///
/// # Errors
/// `Err(description)` when the time runs out.
pub async fn wait_all_bound(
    api: &Api<Pod>,
    selector: &str,
    size: usize,
    timeout: Duration,
) -> Result<Duration, String> {
    wait_pods(api, selector, timeout, |state| state.bound().len() >= size)
        .await
        .map_err(|(state, error)| format!("{}{error}", state.describe(size)))
}

/// Watches the pods matching `selector` until none is left (deleted and finalized), for at most `timeout`.
///
/// # Errors
/// `Err(description)` of the pods still there when the time runs out.
pub async fn wait_gone(api: &Api<Pod>, selector: &str, timeout: Duration) -> Result<Duration, String> {
    wait_pods(api, selector, timeout, |state| state.count() == 0)
        .await
        .map_err(|(state, error)| format!("{} pods left{error}", state.count()))
}

/// Watches the pods matching `selector` until `size` of them have succeeded (bare gang pods, which have no
/// Job to report completion), for at most `timeout`.
///
/// # Errors
/// `Err(description)` when the time runs out.
pub async fn wait_all_succeeded(
    api: &Api<Pod>,
    selector: &str,
    size: usize,
    timeout: Duration,
) -> Result<Duration, String> {
    wait_pods(api, selector, timeout, |state| state.succeeded() >= size).await.map_err(|(state, error)| {
        format!("{} of {size} pods succeeded; {}{error}", state.succeeded(), state.describe(size))
    })
}

/// Watches the pods matching `selector` until `done` holds; on timeout, the pods as last listed and the
/// last watch error (worded to append).
async fn wait_pods(
    api: &Api<Pod>,
    selector: &str,
    timeout: Duration,
    done: impl Fn(&GangPods) -> bool,
) -> Result<Duration, (GangPods, String)> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut state = GangPods::default();
    let stream = watcher::watcher(api.clone(), watcher::Config::default().labels(selector)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut last_error = String::new();
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) | Ok(None) => break,
            Ok(Some(Err(e))) => last_error = format!(" (last watch error: {e})"),
            Ok(Some(Ok(event))) => {
                state.apply(event);
                if done(&state) {
                    return Ok(started.elapsed());
                }
                // A pod that cannot start (image pull back-off, bad configuration, failed) will not get
                // there by waiting: stop now and say why.
                if let Some(fatal) = state.pods.values().find_map(crate::pods::fatal_state) {
                    return Err((state, format!(" (stopped waiting: {fatal})")));
                }
            }
        }
    }
    if let Ok(listing) = api.list(&ListParams::default().labels(selector)).await {
        state.reset(listing.items);
    }
    Err((state, last_error))
}

/// True once the Job finished, successfully or not.
pub fn job_finished(job: Option<&Job>) -> bool {
    job_condition(job, "Complete") || job_condition(job, "Failed")
}

/// True if the Job has condition `kind` with status True.
pub fn job_condition(job: Option<&Job>, kind: &str) -> bool {
    job.and_then(|j| j.status.as_ref())
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == kind && c.status == "True"))
}

/// A Job's state in one line: suspended or not, pod counts, and its true conditions with reasons.
pub fn describe_job(job: &Job) -> String {
    let suspended = job.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false);
    let status = job.status.as_ref();
    let count = |v: Option<i32>| v.unwrap_or(0);
    let mut text = format!(
        "suspend={suspended}, active {}, ready {}, succeeded {}, failed {}",
        count(status.and_then(|s| s.active)),
        count(status.and_then(|s| s.ready)),
        count(status.and_then(|s| s.succeeded)),
        count(status.and_then(|s| s.failed)),
    );
    for c in status.and_then(|s| s.conditions.as_ref()).into_iter().flatten().filter(|c| c.status == "True") {
        text.push_str(format!("; {} {}", c.type_, c.reason.clone().unwrap_or_default()).trim_end());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, node: Option<&str>) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Pending", "conditions": [{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
            }]}
        }))
        .unwrap()
    }

    #[test]
    fn tracks_bindings_across_events_including_deleted_pods() {
        let mut gang = GangPods::default();
        assert!(gang.apply(Event::Init).is_empty());
        assert!(gang.apply(Event::InitApply(pod("a", None))).is_empty());
        gang.apply(Event::InitDone);
        assert_eq!(gang.count(), 1);
        assert_eq!(gang.apply(Event::Apply(pod("a", Some("n1")))), vec![("a".to_string(), "n1".to_string())]);
        gang.apply(Event::Apply(pod("b", Some("n2"))));
        gang.apply(Event::Apply(pod("c", None)));
        assert_eq!(gang.bound().len(), 2);
        let seen = gang.apply(Event::Delete(pod("b", Some("n2"))));
        assert_eq!(seen, vec![("b".to_string(), "n2".to_string())], "a deleted bound pod still counts as seen bound");
        assert_eq!(gang.bound().len(), 1);
        assert_eq!(
            gang.describe(3),
            "1 of 3 pods bound (n1: 1); 2 pods exist; unbound: c: phase Pending on no node; PodScheduled Unschedulable: \
             0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
        );
    }

    #[test]
    fn the_timeline_groups_bindings_into_bursts() {
        let ms = Duration::from_millis;
        let window = Window {
            ever_bound: BTreeMap::from([
                ("a".to_string(), ("n1".to_string(), ms(100))),
                ("b".to_string(), ("n2".to_string(), ms(150))),
                ("c".to_string(), ("n2".to_string(), ms(3300))),
            ]),
            peak_running: 2,
            at_end: "3 of 3 pods bound".into(),
            pods_at_end: 3,
            ..Window::default()
        };
        assert_eq!(window.first_bound(), Some(ms(100)));
        assert_eq!(
            window.observed(3),
            "at 0.1s: 2 pods bound (a→n1, b→n2); at 3.3s: 1 pod bound (c→n2); at most 2 of 3 ran at once; at the end of \
             the window 3 of 3 pods bound"
        );
    }

    #[test]
    fn the_scheduler_holding_a_pod_back_is_a_signal_and_a_gate_is_not() {
        let held = pod("a", None);
        assert_eq!(
            held_signal(&held).unwrap(),
            "pod a: PodScheduled=False Unschedulable: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu."
        );
        let gated: Pod = serde_json::from_value(json!({
            "metadata": {"name": "g"},
            "spec": {"containers": []},
            "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}
        }))
        .unwrap();
        assert_eq!(held_signal(&gated), None);
    }

    #[test]
    fn a_relist_replaces_what_was_known() {
        let mut gang = GangPods::default();
        gang.apply(Event::Apply(pod("old", Some("n1"))));
        gang.apply(Event::Init);
        gang.apply(Event::InitApply(pod("new", None)));
        assert_eq!(gang.bound().len(), 1, "the old state holds until the relist is complete");
        gang.apply(Event::InitDone);
        assert_eq!(gang.count(), 1);
        assert!(gang.bound().is_empty());
    }

    #[test]
    fn describes_jobs() {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": "j"},
            "spec": {"suspend": true, "template": {"spec": {"containers": []}}},
            "status": {"active": 0, "conditions": [
                {"type": "Suspended", "status": "True", "reason": "JobSuspended"},
                {"type": "Complete", "status": "False"}
            ]}
        }))
        .unwrap();
        assert_eq!(
            describe_job(&job),
            "suspend=true, active 0, ready 0, succeeded 0, failed 0; Suspended JobSuspended"
        );
        assert!(!job_finished(Some(&job)));
        assert!(job_condition(Some(&job), "Suspended"));
    }
}
