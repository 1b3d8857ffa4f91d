//! `cluster_autoscaling`: the platform's node autoscaler adds a node with an accelerator when pods need one,
//! removes it when they are gone, and adds nothing for a pod no node group can serve.
//!
//! The requirement's condition is the autoscaler itself: without Karpenter NodePools or cluster-autoscaler
//! ([`node_autoscaler`]) the check is not applicable. An autoscaler whose nodes cost money (any but testenv's
//! kwok provider) is exercised only with the user's consent (`--include-opt-in`); otherwise unknown,
//! saying how. The behaviour, in order:
//!
//! 1. **Scale-up.** Pods of one accelerator each, as many as the autoscaled nodes have free plus one,
//!    placed where only the autoscaler can make room (Karpenter: its NodePools' nodes; cluster-autoscaler:
//!    any node but those that exist now). One must be Unschedulable, a new node with the accelerator must
//!    join Ready and the pods must run, one of them on it.
//! 2. **Selectivity**, at the same time: a pod asking for an accelerator no node group offers
//!    ([`UNOFFERED`]) must get no node, and the autoscaler must say so (an event on the pod); silence is
//!    not a refusal.
//! 3. **Scale-down.** Once kaic's pods are deleted, every node added for them must be removed.
//!
//! kaic never deletes or changes a node: it deletes its pods and watches the autoscaler do the rest.
//!
//! A new node's startup taint races with the pods bound to it: the taint-eviction controller or the kubelet,
//! reading a stale copy of the node, may evict or reject a pod the scheduler rightly placed there just after
//! the taint went (kubernetes/kubernetes#119862, seen on EKS with Cilium and on testenv with Karpenter). A
//! controller would replace such a pod, so kaic does too, up to [`MAX_REPLACEMENTS`] times, and says so.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Event, Node, Pod};
use kaic_model::Verdict;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, PostParams};
use serde_json::json;

use super::node_autoscaler::{
    Autoscaler, CA_STATUS, KARPENTER_GROUP, KARPENTER_VERSION, NodePool, Signal, brief, scheduler_refused, signals,
};
use super::placement::{Placement, accelerator_resource, allocatable, free_on};
use crate::capability::Capability;
use crate::check::{AcceleratorUse, Check, CheckContext, CheckError, from_json};
use crate::pods;
use crate::timeouts::Wait;

pub struct ClusterAutoscaling;

/// An extended resource no node group offers: the selectivity case asks for one.
pub const UNOFFERED: &str = "kaic.dev/unoffered-accelerator";
/// The most scale-up pods kaic creates (free devices on autoscaled nodes plus one).
const MAX_PODS: i64 = 16;
/// How often kaic looks at pods, nodes and events.
const EVERY: Duration = Duration::from_secs(3);
/// The label telling kaic's scale-up pods from its selectivity pod.
const ROLE: &str = "kaic.dev/autoscaling-role";
/// How many times kaic replaces one scale-up pod removed or rejected before it ever ran (see the header).
const MAX_REPLACEMENTS: u32 = 3;

#[async_trait::async_trait]
impl Check for ClusterAutoscaling {
    fn id(&self) -> &'static str {
        "cluster_autoscaling"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["cluster_autoscaling"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(2580)
    }

    fn waits(&self) -> &'static [(Wait, u32)] {
        &[(Wait::NodeScaleUp, 1), (Wait::ScaleUpRefused, 1), (Wait::NodeScaleDown, 1)]
    }

    /// Its pods take accelerators on new nodes only, but a node appearing would change what other
    /// accelerator checks count as free: it runs alone among them.
    fn accelerators(&self) -> AcceleratorUse {
        AcceleratorUse::Throughout
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "pause pods asking for one accelerator each (free devices on autoscaled nodes plus one), placed where only the node autoscaler can make room: it adds an accelerator node (billable outside testenv: opt-in)",
            "one pause pod asking for kaic.dev/unoffered-accelerator, which no node group offers",
            "nothing else: kaic deletes its pods and waits for the autoscaler to remove the node it added",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let autoscalers = detect(ctx).await?;
        let Some(autoscaler) = autoscalers.first() else {
            return Ok(Verdict::not_applicable(
                "no node autoscaler found: no Karpenter NodePool (karpenter.sh/v1), no cluster-autoscaler (ConfigMap \
                 kube-system/cluster-autoscaler-status or a pod running its image); the requirement applies only to \
                 platforms that provide one",
            ));
        };
        for other in &autoscalers[1..] {
            ctx.step(format!("also found {}; kaic exercises the first", other.describe()));
        }
        ctx.step(format!("node autoscaler: {}", autoscaler.describe()));
        if !autoscaler.free() && !ctx.options.allow_costly {
            return Ok(Verdict::unknown(format!(
                "{} found; kaic has not exercised it because it would add a real accelerator node (billable) and wait \
                 up to {} min for its removal: rerun with --include-opt-in (e.g. --focus cluster_autoscaling \
                 --include-opt-in) to let it",
                autoscaler.describe(),
                ctx.wait(Wait::NodeScaleDown).as_secs() / 60
            )));
        }

        let nodes: Api<Node> = Api::all(ctx.client.clone());
        let baseline =
            crate::list::all(&nodes, ListParams::default()).await.map_err(|e| CheckError::api("list nodes", e))?;
        let resource = accelerator_resource(autoscaler, &baseline);
        let placement = Placement::for_autoscaler(autoscaler, &baseline, &resource);
        let free = free_on(ctx, &baseline, &placement, &resource).await?;
        if free + 1 > MAX_PODS {
            return Ok(Verdict::unknown(format!(
                "the autoscaled nodes have {free} free {resource}: kaic would need {} pods to go beyond them (at most \
                 {MAX_PODS}); verify scale-up by hand, or rerun when fewer are free",
                free + 1
            )));
        }
        ctx.step(format!("{}; {free} {resource} free there: {} pod(s) of one each", placement.describe(), free + 1));

        let trial = Trial {
            ctx,
            autoscaler,
            pods: Api::namespaced(ctx.client.clone(), &ctx.namespace),
            nodes,
            events: Api::namespaced(ctx.client.clone(), &ctx.namespace),
            resource,
            placement,
        };
        let unoffered = trial.create_pod("unoffered", UNOFFERED).await?;
        let started = Instant::now();
        let mut scale_up = Vec::new();
        for i in 0..=free {
            scale_up.push(trial.create_pod(&format!("scale-up-{i}"), &trial.resource).await?);
        }
        let known: BTreeSet<String> = baseline.iter().filter_map(|n| n.metadata.uid.clone()).collect();

        let up = match trial.scale_up(&known, &scale_up, started).await? {
            Ok(up) => up,
            Err(failed) => return Ok(failed),
        };
        let selectivity = trial.refusal(&unoffered).await?;
        if let Selectivity::AddedNode(what) = &selectivity {
            return Ok(Verdict::fail(
                format!("{} added capacity for a pod no node group can serve", autoscaler.describe()),
                format!("no node for pod {unoffered} (it asks for {UNOFFERED}), and the autoscaler saying why"),
                what.clone(),
            ));
        }

        for name in scale_up.iter().chain([&unoffered]) {
            trial
                .pods
                .delete(name, &DeleteParams::default().grace_period(0))
                .await
                .map_err(|e| CheckError::api(format!("delete pod {name}"), e))?;
        }
        let deleted = Instant::now();
        if let Some(stuck) = trial.scale_down(&up.added).await? {
            return Ok(stuck);
        }
        let removed = deleted.elapsed();
        ctx.record(|e| e.timing("scale-down: kaic's pods deleted to the added nodes removed", removed));

        let summary = format!(
            "{}: {}; removed {} s after kaic's pods were deleted",
            autoscaler.describe(),
            up.summary,
            removed.as_secs()
        );
        Ok(match selectivity {
            Selectivity::Refused(why) => {
                ctx.step(format!("the autoscaler on the pod asking for {UNOFFERED}: {why}"));
                Verdict::pass(format!(
                    "{summary}; a pod asking for {UNOFFERED} got no node and the autoscaler said why: {}",
                    brief(&why)
                ))
            }
            Selectivity::Silent(what) => Verdict::unknown(format!(
                "{summary}; but the autoscaler never said why it added no node for a pod asking for {UNOFFERED} \
                 ({what}): verify by hand that it refuses pods no node group can serve"
            )),
            Selectivity::AddedNode(_) => unreachable!("returned above"),
        })
    }
}

/// Every node autoscaler kaic recognises on the cluster, Karpenter first (gang_scheduling asks too: an
/// autoscaler explains a Kueue quota above today's nodes).
pub(crate) async fn detect(ctx: &CheckContext) -> Result<Vec<Autoscaler>, CheckError> {
    let mut found = Vec::new();
    if ctx.capabilities.has(Capability::Karpenter) {
        let gvk = GroupVersionKind::gvk(KARPENTER_GROUP, KARPENTER_VERSION, "NodePool");
        let api: Api<DynamicObject> =
            Api::all_with(ctx.client.clone(), &ApiResource::from_gvk_with_plural(&gvk, "nodepools"));
        let pools = crate::list::all(&api, ListParams::default())
            .await
            .map_err(|e| CheckError::api("list Karpenter NodePools (karpenter.sh/v1)", e))?;
        let pools: Vec<NodePool> =
            pools.iter().filter_map(|p| serde_json::to_value(p).ok()).map(|p| NodePool::from_object(&p)).collect();
        if !pools.is_empty() {
            found.push(Autoscaler::Karpenter(pools));
        }
    }
    let (namespace, name) = CA_STATUS;
    let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    match config_maps.get_opt(name).await {
        Ok(Some(_)) => found.push(Autoscaler::ClusterAutoscaler(format!("ConfigMap {namespace}/{name}"))),
        Ok(None) => {
            let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
            let running = crate::list::all(&pods, ListParams::default())
                .await
                .map_err(|e| CheckError::api(format!("list pods in {namespace}"), e))?;
            let image = running.iter().find_map(|p| {
                let spec = p.spec.as_ref()?;
                spec.containers.iter().find_map(|c| c.image.clone().filter(|i| i.contains("cluster-autoscaler")))
            });
            if let Some(image) = image {
                found.push(Autoscaler::ClusterAutoscaler(format!("a pod in {namespace} running {image}")));
            }
        }
        // Managed platforms may hide kube-system's ConfigMaps from kaic's role: say so instead of guessing.
        Err(e) => ctx.step(format!("could not read ConfigMap {namespace}/{name}: {e}")),
    }
    Ok(found)
}

/// What the scale-up produced: the nodes added for kaic's pods, and a sentence with the timings.
struct ScaleUp {
    added: Vec<String>,
    summary: String,
}

/// The autoscaler's signals on pod `name`, from `events` of the namespace.
fn signals_for(events: &[Event], name: &str) -> Vec<Signal> {
    let mine: Vec<Event> = events.iter().filter(|e| e.involved_object.name.as_deref() == Some(name)).cloned().collect();
    signals(&mine)
}

/// What became of the pod no node group can serve.
enum Selectivity {
    /// The autoscaler said it adds no node, and none took the pod.
    Refused(String),
    /// No node took it, but the autoscaler said nothing.
    Silent(String),
    /// It was scheduled, or the autoscaler chose a node for it.
    AddedNode(String),
}

/// One run of the behaviour: the autoscaler under test and the APIs kaic watches it through.
struct Trial<'a> {
    ctx: &'a CheckContext,
    autoscaler: &'a Autoscaler,
    pods: Api<Pod>,
    nodes: Api<Node>,
    events: Api<Event>,
    /// The accelerator resource the scale-up pods ask for.
    resource: String,
    /// Where every pod of the trial goes.
    placement: Placement,
}

impl Trial<'_> {
    /// Creates a pause pod asking for one `resource`, placed by the trial's placement; returns its name.
    async fn create_pod(&self, name: &str, resource: &str) -> Result<String, CheckError> {
        let (ctx, api, placement) = (self.ctx, &self.pods, &self.placement);
        let mut labels = ctx.labels();
        labels.insert(ROLE.into(), if resource == UNOFFERED { "selectivity" } else { "scale-up" }.into());
        let spec = pods::hardened(json!({
            "terminationGracePeriodSeconds": 0,
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": placement.affinity
            }}},
            "tolerations": placement.tolerations,
            "containers": [{
                "name": "pause",
                "image": ctx.options.pause_image,
                "resources": {
                    "requests": {"cpu": "10m", "memory": "16Mi", resource: "1"},
                    "limits": {resource: "1"}
                }
            }]
        }));
        let pod: Pod = from_json(json!({"metadata": {"name": name, "labels": labels}, "spec": spec}))?;
        let created = api
            .create(&PostParams::default(), &pod)
            .await
            .map_err(|e| CheckError::api(format!("create pod {name}"), e))?;
        ctx.object(&format!("Pod {name}"), &created);
        Ok(name.to_string())
    }

    /// Waits until every scale-up pod runs, one of them on a node that did not exist before, or fails: a
    /// timeout, or the autoscaler refusing them for [`Wait::ScaleUpRefused`] without adding anything.
    async fn scale_up(
        &self,
        known: &BTreeSet<String>,
        pods_: &[String],
        started: Instant,
    ) -> Result<Result<ScaleUp, Verdict>, CheckError> {
        let (ctx, api, nodes, events, autoscaler) = (self.ctx, &self.pods, &self.nodes, &self.events, self.autoscaler);
        let resource = self.resource.as_str();
        let mut pending_seen = None;
        let mut node_seen: BTreeMap<String, Duration> = BTreeMap::new();
        let mut ready_seen: BTreeMap<String, Duration> = BTreeMap::new();
        let mut first_refusal: Option<Instant> = None;
        let mut replaced: BTreeMap<String, u32> = BTreeMap::new();
        loop {
            let current =
                crate::list::all(nodes, ListParams::default()).await.map_err(|e| CheckError::api("list nodes", e))?;
            let new: Vec<&Node> =
                current.iter().filter(|n| n.metadata.uid.as_ref().is_some_and(|u| !known.contains(u))).collect();
            for node in &new {
                let name = node.metadata.name.clone().unwrap_or_default();
                node_seen.entry(name.clone()).or_insert_with(|| started.elapsed());
                if pods::node_ready_and_schedulable(node) {
                    ready_seen.entry(name).or_insert_with(|| started.elapsed());
                }
            }
            let observed_events =
                crate::list::all(events, ListParams::default()).await.map_err(|e| CheckError::api("list events", e))?;
            let mut states = Vec::new();
            let mut all_running = true;
            let mut on_new = Vec::new();
            let mut refusals = Vec::new();
            let mut scale_ups = Vec::new();
            let listed = crate::list::all(api, ListParams::default().labels(&format!("{ROLE}=scale-up")))
                .await
                .map_err(|e| CheckError::api("list kaic's scale-up pods", e))?;
            for name in pods_ {
                let listed_pod = listed.iter().find(|p| p.metadata.name.as_deref() == Some(name.as_str()));
                let Some(pod) = listed_pod.filter(|p| !rejected_before_running(p)) else {
                    states.push(self.replace_lost(name, listed_pod, &observed_events, &mut replaced).await?);
                    all_running = false;
                    continue;
                };
                if let Some(fatal) = pods::fatal_state(pod) {
                    return Ok(Err(Verdict::error(format!("kaic's pod cannot run: {fatal}"))));
                }
                // The condition, or the scheduler's event when a fast autoscaler's node took the pod between
                // two looks (the condition is True again by then; the event stays).
                let refused_before = || {
                    observed_events
                        .iter()
                        .any(|e| e.involved_object.name.as_deref() == Some(name.as_str()) && scheduler_refused(e))
                };
                if pending_seen.is_none() && (crate::wait::unschedulable(pod).is_some() || refused_before()) {
                    pending_seen = Some(started.elapsed());
                }
                let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
                if let Some(node) = node.as_ref().filter(|n| node_seen.contains_key(*n)) {
                    on_new.push(node.clone());
                }
                all_running &= crate::wait::pod_running(Some(pod));
                for signal in signals_for(&observed_events, name) {
                    match signal {
                        Signal::Refused(why) => refusals.push(why),
                        Signal::ScaleUp(why) => scale_ups.push(why),
                    }
                }
                states.push(format!("{name}: {}", crate::wait::describe_pod(pod)));
            }
            if all_running && !on_new.is_empty() {
                let running = started.elapsed();
                let node = &on_new[0];
                let added: BTreeSet<String> = on_new.iter().cloned().collect();
                let added_node = current.iter().find(|n| n.metadata.name.as_deref() == Some(node.as_str()));
                let devices = added_node.map_or(0, |n| allocatable(n, resource));
                let at =
                    |seen: &BTreeMap<String, Duration>| seen.get(node).map_or("?".into(), |d| d.as_secs().to_string());
                if let Some(pending) = pending_seen {
                    ctx.record(|e| e.timing("scale-up: pods created to one seen Unschedulable", pending));
                }
                for (what, seen) in [
                    ("scale-up: pods created to the new node seen", &node_seen),
                    ("scale-up: pods created to the new node Ready", &ready_seen),
                ] {
                    if let Some(d) = seen.get(node) {
                        ctx.record(|e| e.timing(what, *d));
                    }
                }
                ctx.record(|e| e.timing("scale-up: pods created to all running", running));
                if let Some(why) = scale_ups.first() {
                    ctx.step(format!("autoscaler: {why}"));
                }
                let summary = format!(
                    "{} of one {resource} went pending{}, node {node} ({devices} {resource}) appeared after {} s, Ready \
                     after {} s, all pods running after {} s",
                    if pods_.len() == 1 { "1 pod".to_string() } else { format!("{} pods", pods_.len()) },
                    if pending_seen.is_some() { " (Unschedulable)" } else { "" },
                    at(&node_seen),
                    at(&ready_seen),
                    running.as_secs()
                );
                return Ok(Ok(ScaleUp { added: added.into_iter().collect(), summary }));
            }
            if !refusals.is_empty() && scale_ups.is_empty() && node_seen.is_empty() {
                let since = *first_refusal.get_or_insert_with(Instant::now);
                if since.elapsed() >= ctx.wait(Wait::ScaleUpRefused) {
                    return Ok(Err(Verdict::fail(
                        format!("{}: refused to add a node for pods asking for one {resource}", autoscaler.describe()),
                        format!("a new node with {resource} for kaic's pending pods"),
                        format!(
                            "for {} s it said: {}; pods: {}",
                            since.elapsed().as_secs(),
                            refusals[0],
                            states.join("; ")
                        ),
                    )));
                }
            }
            if started.elapsed() >= ctx.wait(Wait::NodeScaleUp) {
                return Ok(Err(Verdict::fail(
                    format!(
                        "{}: no node with {resource} was added for pods beyond the free devices",
                        autoscaler.describe()
                    ),
                    format!(
                        "a new node with {resource} Ready and kaic's pods running, within {} s",
                        ctx.wait(Wait::NodeScaleUp).as_secs()
                    ),
                    format!(
                        "new nodes: {}; autoscaler said: {}; pods: {}",
                        if node_seen.is_empty() {
                            "none".into()
                        } else {
                            node_seen.keys().cloned().collect::<Vec<_>>().join(", ")
                        },
                        refusals.first().or(scale_ups.first()).map_or_else(|| "nothing".to_string(), |t| brief(t)),
                        states.join("; ")
                    ),
                )));
            }
            tokio::time::sleep(EVERY).await;
        }
    }

    /// Replaces scale-up pod `name`, removed (`pod` is `None`) or rejected before it ever ran: the
    /// startup-taint race of the header. A rejected pod is deleted; a removed one is created again, at most
    /// [`MAX_REPLACEMENTS`] times. Returns the pod's state for the evidence.
    async fn replace_lost(
        &self,
        name: &str,
        pod: Option<&Pod>,
        events: &[Event],
        replaced: &mut BTreeMap<String, u32>,
    ) -> Result<String, CheckError> {
        let ctx = self.ctx;
        // The controllers that remove a pod say so in an event on it; older events of the name (a scheduler's
        // FailedScheduling) do not explain a removal.
        let why = || {
            events
                .iter()
                .filter(|e| e.involved_object.name.as_deref() == Some(name))
                .filter(|e| matches!(e.reason.as_deref(), Some("TaintManagerEviction" | "Evicted" | "Preempted")))
                .max_by_key(|e| e.last_timestamp.clone().map(|t| t.0))
                .map_or_else(
                    || "no event said why".to_string(),
                    |e| format!("{}: {}", e.reason.clone().unwrap_or_default(), e.message.clone().unwrap_or_default()),
                )
        };
        match pod {
            Some(pod) => {
                ctx.step(format!(
                    "pod {name} was rejected on node {} before it ran ({}): kaic deletes it to create it again",
                    pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default(),
                    pods::fatal_state(pod).unwrap_or_default()
                ));
                self.pods
                    .delete(name, &DeleteParams::default().grace_period(0))
                    .await
                    .map_err(|e| CheckError::api(format!("delete rejected pod {name}"), e))?;
                Ok(format!("{name}: rejected before it ran, being replaced"))
            }
            None => {
                let count = replaced.entry(name.to_string()).or_default();
                *count += 1;
                if *count > MAX_REPLACEMENTS {
                    return Err(CheckError::Other(format!(
                        "pod {name} was removed before it ran {MAX_REPLACEMENTS} times while kaic waited for it ({})",
                        why()
                    )));
                }
                ctx.step(format!(
                    "pod {name} was removed before it ran ({}): kaic creates it again, as its controller would \
                     (replacement {count} of at most {MAX_REPLACEMENTS})",
                    why()
                ));
                self.create_pod(name, &self.resource).await?;
                Ok(format!("{name}: removed before it ran, created again"))
            }
        }
    }

    /// Waits (at most [`Wait::ScaleUpRefused`]) for the autoscaler's refusal on pod `name`.
    async fn refusal(&self, name: &str) -> Result<Selectivity, CheckError> {
        let (ctx, api, events) = (self.ctx, &self.pods, &self.events);
        let started = Instant::now();
        loop {
            let pod = api.get(name).await.map_err(|e| CheckError::api(format!("read pod {name}"), e))?;
            let observed =
                crate::list::all(events, ListParams::default().fields(&format!("involvedObject.name={name}")))
                    .await
                    .map_err(|e| CheckError::api("list events", e))?;
            let signals = signals_for(&observed, name);
            if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
                return Ok(Selectivity::AddedNode(format!("pod {name} was scheduled to node {node}")));
            }
            if let Some(Signal::ScaleUp(why)) = signals.iter().find(|s| matches!(s, Signal::ScaleUp(_))) {
                return Ok(Selectivity::AddedNode(format!("the autoscaler chose a node for pod {name}: {why}")));
            }
            if let Some(Signal::Refused(why)) = signals.iter().find(|s| matches!(s, Signal::Refused(_))) {
                return Ok(Selectivity::Refused(why.clone()));
            }
            if started.elapsed() >= ctx.wait(Wait::ScaleUpRefused) {
                return Ok(Selectivity::Silent(crate::wait::describe_pod(&pod)));
            }
            tokio::time::sleep(EVERY).await;
        }
    }

    /// Waits until every node in `added` is gone. `None` when they are; otherwise the verdict: fail, or unknown
    /// when other workloads now run on a remaining node (the autoscaler is right to keep it).
    async fn scale_down(&self, added: &[String]) -> Result<Option<Verdict>, CheckError> {
        let (ctx, nodes, autoscaler) = (self.ctx, &self.nodes, self.autoscaler);
        let started = Instant::now();
        loop {
            let current =
                crate::list::all(nodes, ListParams::default()).await.map_err(|e| CheckError::api("list nodes", e))?;
            let remaining: Vec<&Node> =
                current.iter().filter(|n| n.metadata.name.as_ref().is_some_and(|name| added.contains(name))).collect();
            if remaining.is_empty() {
                return Ok(None);
            }
            if started.elapsed() >= ctx.wait(Wait::NodeScaleDown) {
                let all: Api<Pod> = Api::all(ctx.client.clone());
                let mut described = Vec::new();
                let mut others = Vec::new();
                for node in remaining {
                    let name = node.metadata.name.clone().unwrap_or_default();
                    let on_node =
                        crate::list::all(&all, ListParams::default().fields(&format!("spec.nodeName={name}")))
                            .await
                            .map_err(|e| CheckError::api(format!("list pods on node {name}"), e))?;
                    others.extend(on_node.iter().filter(|p| !daemon(p)).map(|p| {
                        format!(
                            "{}/{}",
                            p.metadata.namespace.clone().unwrap_or_default(),
                            p.metadata.name.clone().unwrap_or_default()
                        )
                    }));
                    let taints: Vec<String> = node
                        .spec
                        .iter()
                        .flat_map(|s| s.taints.iter().flatten())
                        .map(|t| format!("{}:{}", t.key, t.effect))
                        .collect();
                    described.push(format!(
                        "{name} (taints: {})",
                        if taints.is_empty() { "none".into() } else { taints.join(", ") }
                    ));
                }
                let after = ctx.wait(Wait::NodeScaleDown).as_secs();
                if !others.is_empty() {
                    return Ok(Some(Verdict::unknown(format!(
                        "scale-up worked, but the node kaic's pods made the autoscaler add now runs other workloads ({}), \
                         so it is rightly kept: verify scale-down by hand",
                        others.join(", ")
                    ))));
                }
                return Ok(Some(Verdict::fail(
                    format!("{}: the node it added was not removed once kaic's pods were gone", autoscaler.describe()),
                    format!(
                        "the added node removed within {after} s (--wait node-scale-down=SECONDS for a longer delay)"
                    ),
                    format!("still present after {after} s, running no pods but DaemonSets': {}", described.join("; ")),
                )));
            }
            tokio::time::sleep(EVERY).await;
        }
    }
}

/// Whether the kubelet rejected `pod` at admission: Failed on a node with no container ever started (a
/// kubelet that saw a stale startup taint says `TaintToleration`).
fn rejected_before_running(pod: &Pod) -> bool {
    let Some(status) = pod.status.as_ref() else { return false };
    let started = status.container_statuses.iter().flatten().any(|c| {
        c.state
            .as_ref()
            .is_some_and(|s| s.running.is_some() || s.terminated.as_ref().is_some_and(|t| t.started_at.is_some()))
    });
    status.phase.as_deref() == Some("Failed") && !started
}

/// Whether a pod belongs to the node itself, a DaemonSet's or a static (mirror) pod: it does not keep an
/// autoscaler from removing the node.
fn daemon(pod: &Pod) -> bool {
    pod.metadata.owner_references.iter().flatten().any(|o| o.kind == "DaemonSet" || o.kind == "Node")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "scale-up-0"}, "status": status})).unwrap()
    }

    #[test]
    fn a_pod_the_kubelet_refused_at_admission_was_rejected_before_running() {
        let refused = pod(json!({"phase": "Failed", "reason": "TaintToleration",
            "message": "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"}));
        assert!(rejected_before_running(&refused));
    }

    #[test]
    fn a_pod_that_ran_or_waits_was_not_rejected_before_running() {
        let exited = pod(json!({"phase": "Failed", "containerStatuses": [{"name": "pause", "image": "i",
            "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 1, "startedAt": "2026-12-01T12:00:00Z"}}}]}));
        assert!(!rejected_before_running(&exited));
        assert!(!rejected_before_running(&pod(json!({"phase": "Pending"}))));
        assert!(!rejected_before_running(&pod(json!({"phase": "Running"}))));
    }
}
