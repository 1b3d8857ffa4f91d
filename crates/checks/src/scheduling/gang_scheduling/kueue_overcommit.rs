//! A platform ClusterQueue whose quota is above what its nodes have today. On an autoscaled pool that is
//! the normal configuration (the quota is the pool's maximum), and Kueue then admits gangs that wait for
//! new nodes; kaic never judges such a queue against today's nodes with pods that bypass it. Instead
//! ([`super::kueue::run`]):
//!
//! - Kueue's all-or-nothing admission is tested with kaic's own ClusterQueue, and the over-commit is a note;
//! - when a node autoscaler is found (Karpenter NodePools, cluster-autoscaler), that is all: it adds the
//!   nodes the quota promises;
//! - when none is found, kaic asks the platform's queue itself, with every pod going through it: a blocker
//!   Job takes all but `G − 1` of the free units on the nodes, then a gang of `G`, which the quota still
//!   covers, is submitted. Held back (an admission check, e.g. ProvisioningRequest) or bound whole: fine.
//!   Started partially: if Kueue's `waitForPodsReady` (read from its configuration) evicts and requeues it
//!   within kaic's wait, that is Kueue's all-or-nothing by eviction, reported as such with the timeout;
//!   otherwise the queue starts gangs partially and nothing rescues them: a failure.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{DeleteParams, DynamicObject};
use kube::{Api, ResourceExt};
use serde_json::Value;

use super::detect::SubResult;
use super::kueue::{Apis, Setup};
use super::kueue_case::{describe_workload, wait_workload, workload_held, workload_of};
use super::kueue_plan::{MAX_BLOCKER, MAX_GANG, MIN_GANG};
use super::negative::{self, Judgement};
use super::{delete_gang_pods, gang_selector, observe};
use crate::check::{CheckContext, CheckError};
use crate::timeouts::Wait;

/// Where Kueue's manifests and Helm chart keep its configuration, and the key holding it.
pub const CONFIG_MAP: (&str, &str) = ("kueue-system", "kueue-manager-config");
const CONFIG_KEY: &str = "controller_manager_config.yaml";
/// The slack kaic gives Kueue beyond its `waitForPodsReady` timeout to evict a workload.
const EVICTION_SLACK: Duration = Duration::from_secs(60);
/// The probe's pods run the pause image until deleted, as a training job's pods would run; this label says
/// so to testenv's simulated kubelet, which otherwise completes Job pods after 3 s (a pod finishing and its
/// replacement racing for the freed unit would blur "how many ran at once").
const KEEPS_RUNNING: (&str, &str) = ("kaic.dev/sim-keep-running", "true");

/// A platform ClusterQueue whose quota for one resource in one flavor is above what its nodes have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverCommit {
    pub cluster_queue: String,
    pub flavor: String,
    pub resource: String,
    /// The nominal quota, in whole units.
    pub nominal: i128,
    /// Whole units the flavor's nodes have allocatable in all.
    pub on_nodes: i128,
    /// Whole units the queue's quota has unreserved.
    pub free_quota: i128,
    /// Whole units free on the flavor's nodes.
    pub free_nodes: i128,
    /// The flavor's `nodeLabels`: where its capacity is.
    pub node_labels: BTreeMap<String, String>,
}

impl OverCommit {
    /// The over-commit in words.
    pub fn describe(&self) -> String {
        format!(
            "ClusterQueue {}'s quota of {} {} (flavor {}) is above the {} its nodes have today",
            self.cluster_queue, self.nominal, self.resource, self.flavor, self.on_nodes
        )
    }
}

/// What Kueue's configuration says about `waitForPodsReady`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodsReady {
    /// Kueue evicts (and requeues) an admitted workload whose pods are not all ready within `timeout`.
    On {
        timeout: Duration,
        block_admission: bool,
        /// Where the values come from: the configuration, or the defaults of its API version.
        from: String,
    },
    /// Off (configuration v1beta1 without `enable: true`): nothing evicts a partially started workload.
    Off,
    /// kaic could not read the configuration; why.
    Unread(String),
}

impl PodsReady {
    /// In words, for evidence.
    pub fn describe(&self) -> String {
        match self {
            Self::On { timeout, block_admission, from } => format!(
                "Kueue's waitForPodsReady is on: timeout {}, blockAdmission {block_admission} ({from})",
                go_duration(*timeout)
            ),
            Self::Off => "Kueue's waitForPodsReady is off".to_string(),
            Self::Unread(why) => format!("Kueue's configuration could not be read ({why})"),
        }
    }

    /// How long kaic waits for Kueue to evict a partially started gang: the timeout plus a minute where that
    /// fits in `limit` (the `kueue-eviction` wait); the whole limit when the configuration is unknown (Kueue may
    /// still evict); none when it is off or its timeout is longer than kaic waits.
    pub fn eviction_wait(&self, limit: Duration) -> Option<Duration> {
        match self {
            Self::On { timeout, .. } => Some(*timeout + EVICTION_SLACK).filter(|wait| *wait <= limit),
            Self::Off => None,
            Self::Unread(_) => Some(limit),
        }
    }
}

/// Reads Kueue's `Configuration` (config.kueue.x-k8s.io v1beta1 or v1beta2) for `waitForPodsReady`. v1beta1
/// has it off unless `enable: true` (then timeout 5m, blockAdmission true by default); v1beta2 always has it
/// on (timeout 30m, blockAdmission false by default).
pub fn parse_config(text: &str) -> PodsReady {
    let config: Value = match serde_saphyr::from_str(text) {
        Ok(config) => config,
        Err(e) => return PodsReady::Unread(format!("its configuration is not YAML: {e}")),
    };
    let api = config["apiVersion"].as_str().unwrap_or_default();
    let (enabled_by_default, timeout, block) = match api {
        "config.kueue.x-k8s.io/v1beta1" => (false, Duration::from_secs(300), true),
        "config.kueue.x-k8s.io/v1beta2" => (true, Duration::from_secs(1800), false),
        other => return PodsReady::Unread(format!("apiVersion {other:?} is not a Kueue configuration kaic reads")),
    };
    let wait = &config["waitForPodsReady"];
    if !enabled_by_default && wait["enable"].as_bool() != Some(true) {
        return PodsReady::Off;
    }
    let set_timeout = wait["timeout"].as_str().and_then(parse_go_duration);
    let set_block = wait["blockAdmission"].as_bool();
    let from = if set_timeout.is_some() || set_block.is_some() {
        "set in Kueue's configuration".to_string()
    } else {
        format!("the defaults of {api}")
    };
    PodsReady::On { timeout: set_timeout.unwrap_or(timeout), block_admission: set_block.unwrap_or(block), from }
}

/// A Go duration (`5m`, `1h30m`, `90s`, `10m0s`, `500ms`).
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let seconds = match &rest[..unit] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += Duration::from_secs_f64(number * seconds);
        rest = &rest[unit..];
    }
    Some(total)
}

/// A duration as Kueue writes it: `30m`, `5m30s`, `45s`.
fn go_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

/// Reads `waitForPodsReady` from Kueue's ConfigMap ([`CONFIG_MAP`]).
pub async fn read_pods_ready(ctx: &CheckContext) -> PodsReady {
    let (namespace, name) = CONFIG_MAP;
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    match api.get_opt(name).await {
        Ok(Some(map)) => {
            let data = map.data.unwrap_or_default();
            let text =
                data.get(CONFIG_KEY).or_else(|| data.values().find(|v| v.contains("kind: Configuration"))).cloned();
            match text {
                Some(text) => parse_config(&text),
                None => PodsReady::Unread(format!("ConfigMap {namespace}/{name} has no {CONFIG_KEY}")),
            }
        }
        Ok(None) => PodsReady::Unread(format!(
            "no ConfigMap {namespace}/{name}, where Kueue's manifests and Helm chart keep it"
        )),
        Err(e) => PodsReady::Unread(format!("reading ConfigMap {namespace}/{name} failed: {e}")),
    }
}

/// What kaic does about an over-committed queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A node autoscaler adds the nodes the quota promises: a note only.
    Autoscaled(String),
    /// No autoscaler found: probe the queue with a blocker Job of `blocker` units and a gang of `gang`.
    Probe { gang: usize, blocker: usize },
    /// No autoscaler found, but the sizes do not allow a probe; why.
    NotProbed(String),
}

/// Decides what to do about `over`, given the node autoscalers found (described).
pub fn decide(over: &OverCommit, autoscalers: &[String]) -> Decision {
    if !autoscalers.is_empty() {
        return Decision::Autoscaled(autoscalers.join(", "));
    }
    let gang = over.free_nodes.min(MAX_GANG);
    if gang < MIN_GANG {
        return Decision::NotProbed(format!(
            "no node autoscaler was found, but only {} {} are free on its nodes and a gang needs {MIN_GANG}",
            over.free_nodes, over.resource
        ));
    }
    // Leave gang − 1 on the nodes; the blocker goes through the queue, so it takes as much quota.
    let blocker = over.free_nodes - gang + 1;
    if blocker > MAX_BLOCKER {
        return Decision::NotProbed(format!(
            "no node autoscaler was found, but {} {} are free on its nodes: a blocker of {blocker} is more than kaic \
             places (at most {MAX_BLOCKER})",
            over.free_nodes, over.resource
        ));
    }
    if over.free_quota - blocker < gang {
        return Decision::NotProbed(format!(
            "no node autoscaler was found, but with {} free by quota and {} on the nodes the quota is the tighter \
             limit today",
            over.free_quota, over.free_nodes
        ));
    }
    match (usize::try_from(gang), usize::try_from(blocker)) {
        (Ok(gang), Ok(blocker)) => Decision::Probe { gang, blocker },
        _ => Decision::NotProbed("sizes out of range".into()),
    }
}

/// How the platform's over-committed queue treated a gang its nodes could not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// No pod bound, with Kueue's or the scheduler's reason.
    HeldBack(String),
    /// Bound whole: capacity appeared meanwhile.
    Whole(String),
    /// Started partially, then evicted by Kueue's `waitForPodsReady`: all-or-nothing by eviction.
    Evicted(String),
    /// Started partially and left so.
    Partial { reason: String, expected: String, observed: String },
    /// kaic could not tell; why.
    Inconclusive(String),
}

/// Kueue's eviction of a workload whose pods were not ready in time: `Evicted=True` with a `PodsReady…`
/// reason, and its requeueing state where Kueue wrote one.
pub fn workload_evicted(workload: &DynamicObject) -> Option<String> {
    let conditions = workload.data["status"]["conditions"].as_array()?;
    let evicted = conditions.iter().find(|c| {
        c["type"] == "Evicted" && c["status"] == "True" && c["reason"].as_str().is_some_and(|r| r.contains("PodsReady"))
    })?;
    let requeued = conditions.iter().find(|c| c["type"] == "Requeued").map_or(String::new(), |c| {
        format!("; Requeued={} {}", c["status"].as_str().unwrap_or("?"), c["reason"].as_str().unwrap_or_default())
    });
    Some(format!(
        "Kueue Workload {}: Evicted=True {}: {}{requeued}",
        workload.name_any(),
        evicted["reason"].as_str().unwrap_or_default(),
        evicted["message"].as_str().unwrap_or_default()
    ))
}

/// Folds what the platform's over-committed queue did into the result of kaic's own queue. `note` says what
/// the over-commit is and what kaic made of it.
pub fn combine(own: SubResult, note: &str, outcome: Option<ProbeOutcome>) -> SubResult {
    let SubResult::Pass(own) = own else { return own };
    let pass = |more: String| SubResult::Pass(format!("{own}; note: {note}{more}"));
    match outcome {
        None => pass(String::new()),
        Some(ProbeOutcome::HeldBack(signal)) => {
            pass(format!("; through that queue, a gang its nodes could not hold was held back ({signal})"))
        }
        Some(ProbeOutcome::Whole(how)) => pass(format!(
            "; through that queue, a gang beyond today's free nodes was bound whole, so capacity appeared meanwhile \
             ({how})"
        )),
        Some(ProbeOutcome::Evicted(how)) => pass(format!("; through that queue, all-or-nothing by eviction: {how}")),
        Some(ProbeOutcome::Inconclusive(why)) => pass(format!("; that queue could not be probed: {why}")),
        Some(ProbeOutcome::Partial { reason, expected, observed }) => {
            SubResult::Fail { reason, expected, observed: format!("{observed}; Kueue's own admission works: {own}") }
        }
    }
}

/// Probes the over-committed queue: a blocker Job and a gang through `setup`'s LocalQueue (pointing at the
/// platform's ClusterQueue), both labelled for the run and deleted at the end.
///
/// # Errors
/// [`CheckError`] when an API call fails.
pub(super) async fn probe(
    ctx: &CheckContext,
    apis: &Apis,
    setup: &Setup,
    over: &OverCommit,
    pods_ready: &PodsReady,
) -> Result<ProbeOutcome, CheckError> {
    let outcome = probe_steps(ctx, apis, setup, over, pods_ready).await;
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    for job in [BLOCKER, BIG] {
        let _ = jobs.delete(job, &DeleteParams::background()).await;
        let _ = delete_gang_pods(ctx, job).await;
    }
    outcome
}

const BLOCKER: &str = "kueue-oc-blocker";
const BIG: &str = "kueue-oc-big";

/// A Job of `size` pods through `setup`'s queue whose pods run until deleted.
fn running_job<'a>(setup: &Setup, name: &'a str, size: usize) -> super::GangJob<'a> {
    let mut job = setup.job(name, size, size, false);
    job.pod_labels.insert(KEEPS_RUNNING.0.to_string(), KEEPS_RUNNING.1.to_string());
    job
}

async fn probe_steps(
    ctx: &CheckContext,
    apis: &Apis,
    setup: &Setup,
    over: &OverCommit,
    pods_ready: &PodsReady,
) -> Result<ProbeOutcome, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let bind_timeout = ctx.wait(Wait::GangBind);
    let (gang, blocker) = (setup.gang, setup.blocker);
    let resource = &over.resource;
    // The blocker goes through the platform's queue like any workload: it takes quota and nodes alike.
    running_job(setup, BLOCKER, blocker).create(ctx).await?;
    let bound = match observe::wait_all_bound(&pods, &gang_selector(BLOCKER), blocker, bind_timeout).await {
        Ok(took) => took,
        Err(seen) => {
            return Ok(ProbeOutcome::Inconclusive(format!(
                "the blocker Job {BLOCKER} ({blocker} × 1 {resource}) was not bound within {}s: {seen}",
                bind_timeout.as_secs()
            )));
        }
    };
    let left_quota = over.free_quota - i128::try_from(blocker).unwrap_or(i128::MAX);
    ctx.step(format!(
        "Kueue: probing the over-committed ClusterQueue {}: blocker Job {BLOCKER} holds {blocker} {resource}; {left_quota} \
         left by quota, {} on the nodes; submitting a gang of {gang}",
        over.cluster_queue,
        gang - 1
    ));
    running_job(setup, BIG, gang).create(ctx).await?;
    if !wait_workload(ctx, apis, BIG, bind_timeout).await {
        return Ok(ProbeOutcome::Inconclusive(format!("Kueue made no Workload for Job {BIG}")));
    }
    let length = negative::window_length(ctx.wait(Wait::GangWindow), bound);
    let window = observe::watch_window(&pods, &gang_selector(BIG), gang, observe::Start::Now, length).await?;
    let workload = workload_of(ctx, apis, BIG).await;
    let state = workload.as_ref().map_or_else(|| format!("no Workload for Job {BIG}"), describe_workload);
    if let Some(workload) = &workload {
        ctx.object(&format!("Workload-{}", workload.name_any()), workload);
    }
    match negative::judge(&window, gang, workload.as_ref().and_then(workload_held)) {
        Judgement::Held { signal } => return Ok(ProbeOutcome::HeldBack(signal)),
        Judgement::Whole => return Ok(ProbeOutcome::Whole(window.timeline())),
        Judgement::MembersMissing { .. } | Judgement::NoSignal => {
            return Ok(ProbeOutcome::Inconclusive(format!(
                "no pod of Job {BIG} was bound for {}s, and nothing showed why ({state})",
                length.as_secs()
            )));
        }
        Judgement::Partial => {}
    }
    let started = format!("at most {} of {gang} pods ran at once", window.peak_running);
    let limit = ctx.wait(Wait::KueueEviction);
    let rescue = match (pods_ready.eviction_wait(limit), workload) {
        (Some(wait), Some(workload)) => {
            ctx.step(format!(
                "Kueue: the gang started partially ({started}); waiting up to {}s for Kueue to evict it ({})",
                wait.as_secs(),
                pods_ready.describe()
            ));
            let api = Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ctx.namespace, &apis.workloads);
            let waiting = std::time::Instant::now();
            let evicted = crate::wait::until(
                &api,
                &workload.name_any(),
                "Kueue to evict the partially started gang",
                wait,
                |w: Option<&DynamicObject>| w.is_some_and(|w| workload_evicted(w).is_some()),
                describe_workload,
            )
            .await;
            match evicted {
                Ok(workload) => {
                    let how = workload_evicted(&workload).unwrap_or_default();
                    let timeout = match pods_ready {
                        PodsReady::On { timeout, .. } => {
                            format!("its waitForPodsReady timeout of {}", go_duration(*timeout))
                        }
                        _ => "its waitForPodsReady timeout".to_string(),
                    };
                    return Ok(ProbeOutcome::Evicted(format!(
                        "a gang of {gang} admitted beyond the {} free on the nodes started partially ({started}) and \
                         Kueue evicted it for requeueing within {timeout} ({} after the window): {how}",
                        gang - 1,
                        super::secs(waiting.elapsed())
                    )));
                }
                Err(CheckError::Timeout { last_seen, .. }) => {
                    format!(
                        "Kueue did not evict it within {}s ({}): {last_seen}",
                        wait.as_secs(),
                        pods_ready.describe()
                    )
                }
                Err(e) => return Err(e),
            }
        }
        (None, _) => match pods_ready {
            PodsReady::On { timeout, .. } => format!(
                "{}: it would evict the gang only after {}, longer than kaic waits (kueue-eviction, {}s)",
                pods_ready.describe(),
                go_duration(*timeout),
                limit.as_secs()
            ),
            _ => format!("{}: nothing evicts a partially started gang", pods_ready.describe()),
        },
        (Some(_), None) => format!("Kueue's Workload for Job {BIG} could not be read, so no eviction could be seen"),
    };
    Ok(ProbeOutcome::Partial {
        reason: format!(
            "the platform's ClusterQueue {} admits gangs its nodes cannot hold and starts them partially: {started}, no \
             node autoscaler was found to add nodes, and {rescue}",
            over.cluster_queue
        ),
        expected: format!(
            "a gang of {gang} × 1 {resource} through ClusterQueue {} with {left_quota} free by quota but {} free on the \
             nodes of flavor {}: held back (quota within the nodes' capacity, or an admission check such as \
             ProvisioningRequest), or evicted and requeued by Kueue's waitForPodsReady while kaic waits",
            over.cluster_queue,
            gang - 1,
            over.flavor
        ),
        observed: format!("{}; {state}", window.observed(gang)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn over(free_quota: i128, free_nodes: i128) -> OverCommit {
        OverCommit {
            cluster_queue: "team-a".into(),
            flavor: "default-flavor".into(),
            resource: "nvidia.com/gpu".into(),
            nominal: 16,
            on_nodes: 8,
            free_quota,
            free_nodes,
            node_labels: BTreeMap::new(),
        }
    }

    #[test]
    fn an_autoscaler_makes_the_over_commit_a_note_and_without_one_kaic_probes_through_the_queue() {
        assert_eq!(
            decide(&over(16, 8), &["Karpenter (NodePools gpu [karpenter.kwok.sh/KWOKNodeClass])".to_string()]),
            Decision::Autoscaled("Karpenter (NodePools gpu [karpenter.kwok.sh/KWOKNodeClass])".into())
        );
        // 8 free on the nodes: a blocker of 1 through the queue leaves 7, and the gang of 8 still fits the
        // 15 left by quota.
        assert_eq!(decide(&over(16, 8), &[]), Decision::Probe { gang: 8, blocker: 1 });
        assert_eq!(decide(&over(16, 5), &[]), Decision::Probe { gang: 5, blocker: 1 });
        assert_eq!(decide(&over(16, 12), &[]), Decision::Probe { gang: 8, blocker: 5 });
        let Decision::NotProbed(why) = decide(&over(16, 2), &[]) else { panic!() };
        assert!(why.contains("only 2 nvidia.com/gpu are free"), "{why}");
        let Decision::NotProbed(why) = decide(&over(64, 40), &[]) else { panic!() };
        assert!(why.contains("more than kaic places"), "{why}");
        // Others reserved quota: free quota no longer exceeds what is free on the nodes.
        let Decision::NotProbed(why) = decide(&over(8, 8), &[]) else { panic!() };
        assert!(why.contains("the quota is the tighter limit"), "{why}");
    }

    #[test]
    fn reads_wait_for_pods_ready_from_both_configuration_versions() {
        let v1beta2_default =
            "apiVersion: config.kueue.x-k8s.io/v1beta2\nkind: Configuration\nnamespace: kueue-system\n";
        assert_eq!(
            parse_config(v1beta2_default),
            PodsReady::On {
                timeout: Duration::from_secs(1800),
                block_admission: false,
                from: "the defaults of config.kueue.x-k8s.io/v1beta2".into()
            }
        );
        let v1beta2_set = "apiVersion: config.kueue.x-k8s.io/v1beta2\nkind: Configuration\n\
                           waitForPodsReady: {timeout: 5m, blockAdmission: true}\n";
        assert_eq!(
            parse_config(v1beta2_set),
            PodsReady::On {
                timeout: Duration::from_secs(300),
                block_admission: true,
                from: "set in Kueue's configuration".into()
            }
        );
        let v1beta1_off = "apiVersion: config.kueue.x-k8s.io/v1beta1\nkind: Configuration\n";
        assert_eq!(parse_config(v1beta1_off), PodsReady::Off);
        let v1beta1_on = "apiVersion: config.kueue.x-k8s.io/v1beta1\nkind: Configuration\n\
                          waitForPodsReady:\n  enable: true\n  timeout: 10m0s\n";
        assert_eq!(
            parse_config(v1beta1_on),
            PodsReady::On {
                timeout: Duration::from_secs(600),
                block_admission: true,
                from: "set in Kueue's configuration".into()
            }
        );
        assert!(matches!(parse_config("apiVersion: v1\nkind: Pod\n"), PodsReady::Unread(_)));
        assert!(matches!(parse_config(": : :"), PodsReady::Unread(_)));
    }

    #[test]
    fn kaic_waits_for_an_eviction_only_when_the_timeout_fits_its_wait() {
        let limit = Duration::from_secs(390);
        let on =
            |secs| PodsReady::On { timeout: Duration::from_secs(secs), block_admission: true, from: String::new() };
        assert_eq!(on(300).eviction_wait(limit), Some(Duration::from_secs(360)));
        assert_eq!(on(1800).eviction_wait(limit), None, "30 minutes is longer than kaic waits");
        assert_eq!(PodsReady::Off.eviction_wait(limit), None);
        assert_eq!(PodsReady::Unread("403".into()).eviction_wait(limit), Some(limit), "it may still evict");
        assert_eq!(on(1800).describe(), "Kueue's waitForPodsReady is on: timeout 30m, blockAdmission true ()");
    }

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("10m0s"), Some(Duration::from_secs(600)));
        assert_eq!(parse_go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("5 minutes"), None);
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(go_duration(Duration::from_secs(330)), "5m30s");
    }

    #[test]
    fn an_eviction_for_pods_ready_timeout_is_read_with_its_requeueing() {
        let workload: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload",
            "metadata": {"name": "job-kueue-oc-big-1"},
            "status": {"conditions": [
                {"type": "Evicted", "status": "True", "reason": "PodsReadyTimeout", "message": "Exceeded the PodsReady timeout ns/job-kueue-oc-big-1"},
                {"type": "Requeued", "status": "False", "reason": "PodsReadyTimeout", "message": "Exceeded the PodsReady timeout"}
            ]}
        }))
        .unwrap();
        assert_eq!(
            workload_evicted(&workload).unwrap(),
            "Kueue Workload job-kueue-oc-big-1: Evicted=True PodsReadyTimeout: Exceeded the PodsReady timeout \
             ns/job-kueue-oc-big-1; Requeued=False PodsReadyTimeout"
        );
        let preempted: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "Workload", "metadata": {"name": "w"},
            "status": {"conditions": [{"type": "Evicted", "status": "True", "reason": "Preempted", "message": "x"}]}
        }))
        .unwrap();
        assert_eq!(workload_evicted(&preempted), None, "only waitForPodsReady's eviction counts");
    }

    #[test]
    fn the_platform_queues_behaviour_is_folded_into_kaics_own_queue_result() {
        let own = || SubResult::Pass("with kaic's own ClusterQueue q: a gang of 3 was bound".into());
        let note = "ClusterQueue team-a's quota of 16 nvidia.com/gpu (flavor f) is above the 8 its nodes have today";
        let SubResult::Pass(text) = combine(own(), note, None) else { panic!() };
        assert_eq!(text, format!("with kaic's own ClusterQueue q: a gang of 3 was bound; note: {note}"));
        let SubResult::Pass(text) = combine(own(), note, Some(ProbeOutcome::Evicted("evicted after 5m".into()))) else {
            panic!()
        };
        assert!(text.ends_with("; through that queue, all-or-nothing by eviction: evicted after 5m"), "{text}");
        let partial = ProbeOutcome::Partial { reason: "r".into(), expected: "e".into(), observed: "o".into() };
        let SubResult::Fail { reason, observed, .. } = combine(own(), note, Some(partial)) else { panic!() };
        assert_eq!(reason, "r");
        assert!(observed.starts_with("o; Kueue's own admission works"), "{observed}");
        // A failure of Kueue itself stands as it is.
        let broken = SubResult::Fail { reason: "x".into(), expected: "y".into(), observed: "z".into() };
        assert_eq!(combine(broken.clone(), note, Some(ProbeOutcome::HeldBack("s".into()))), broken);
    }
}
