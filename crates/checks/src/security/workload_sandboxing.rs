//! `workload_sandboxing`: untrusted workloads can run in a sandbox that isolates them from the node.
//!
//! kaic finds the sandbox runtimes the cluster offers: RuntimeClasses whose handler (or, failing that,
//! name) is gVisor's (`runsc`, `gvisor`), Kata Containers' (`kata*`) or another VM-based runtime's
//! (Firecracker, Cloud Hypervisor, libkrun). For each, on one Ready, schedulable node its scheduling allows,
//! it runs the sandbox probe ([`sandbox_probe`]) twice: in a pod with the RuntimeClass and in a pod without
//! one. The sandboxed pod must see a kernel that is not the node's and nothing of the host; the plain pod
//! must see the node's kernel, which proves the probe can tell the two apart. One RuntimeClass that passes
//! meets the requirement (the solutions roll-up); one that claims a sandbox but runs its pod on the node's
//! kernel fails. Where the Agent Sandbox API is served, kaic's own Sandbox with a passing RuntimeClass must
//! become Ready ([`agent_sandbox`]).
//!
//! The requirement has no condition: no sandbox runtime is unknown, with what to install, never "not
//! applicable".

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use kaic_model::Verdict;
use kaic_model::solutions::{SolutionResult, Subject, roll_up};
use kube::api::{ListParams, LogParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::agent_sandbox;
use super::runtime_classes::{Classes, choose_node, classify, node_kernel, solution_name, tolerations};
use super::sandbox_probe::{self, Target, View};
use crate::accelerators::probe::PodProblem;
use crate::capability::Capability;
use crate::check::{Check, CheckContext, CheckError, from_json};
use crate::timeouts::Wait;
use crate::{list, pods, wait};

pub struct WorkloadSandboxing;

/// The key of `--probe-image` for the sandbox probe's image (`--probe-image sandbox=IMAGE`).
pub const PROBE_IMAGE_KEY: &str = "sandbox";
/// The sandbox probe needs a shell, `uname`, `tr`, `cut`, `sed` and `tail`: busybox has them all.
pub const DEFAULT_PROBE_IMAGE: &str = "docker.io/library/busybox:1.37";
/// The label that tells a runtime (and testenv's simulated one) that a pod is kaic's sandbox probe.
const PROBE_LABEL: (&str, &str) = ("kaic.dev/probe", "sandbox");

const SUBJECT: Subject<'static> = Subject { works: "workload sandboxing works", kinds: "sandbox runtimes" };

/// The image of the sandbox probe: `--probe-image sandbox=IMAGE`, else busybox.
pub fn probe_image(ctx: &CheckContext) -> String {
    ctx.options.probe_image(PROBE_IMAGE_KEY, DEFAULT_PROBE_IMAGE)
}

/// A probe pod pinned to `node`, with `class` or without a RuntimeClass.
pub fn probe_pod(ctx: &CheckContext, name: &str, node: &Node, class: Option<&RuntimeClass>) -> Value {
    let mut labels = ctx.labels();
    labels.insert(PROBE_LABEL.0.into(), PROBE_LABEL.1.into());
    // The probe prints, then stays up briefly so its log is readable before the pod completes.
    let script = format!("{}\nsleep 5", sandbox_probe::SCRIPT);
    let mut spec = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "affinity": pods::pin_to(&node.name_any()),
        "tolerations": tolerations(node, class),
        "containers": [{"name": "probe", "image": probe_image(ctx), "command": ["sh", "-c", script]}]
    });
    if let Some(class) = class {
        spec["runtimeClassName"] = json!(class.name_any());
    }
    pods::harden(&mut spec);
    json!({"metadata": {"name": name, "labels": labels}, "spec": spec})
}

/// What to install when the cluster offers no sandbox runtime.
fn install_hint(classes: &Classes, agent_api: bool) -> String {
    let mut text = "no sandbox runtime found: no RuntimeClass has a gVisor (runsc, gvisor), Kata Containers \
                    (kata*) or other VM-based handler (firecracker, clh, krun)"
        .to_string();
    if !classes.unrecognised.is_empty() {
        text.push_str(&format!(
            "; {} kaic does not recognise: if one is a sandbox, verify by hand that its pods run on a kernel of \
             their own",
            classes.unrecognised.join(", ")
        ));
    }
    if !classes.plain.is_empty() {
        text.push_str(&format!("; not sandboxes: {}", classes.plain.join(", ")));
    }
    if agent_api {
        text.push_str(
            "; the Agent Sandbox API (agents.x-k8s.io) is served, but a Sandbox is only as isolated as the \
             runtime of its pod",
        );
    }
    text.push_str(
        ". Install one and rerun: gVisor or Kata Containers with a RuntimeClass naming its handler; on GKE, GKE \
         Sandbox (RuntimeClass gvisor); on AKS, pod sandboxing (RuntimeClass kata-vm-isolation); on OpenShift, \
         OpenShift sandboxed containers (RuntimeClass kata)",
    );
    text
}

#[async_trait::async_trait]
impl Check for WorkloadSandboxing {
    fn id(&self) -> &'static str {
        "workload_sandboxing"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["workload_sandboxing"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(360)
    }

    /// The probe pods run side by side; then, where the API is served, one Sandbox becomes Ready.
    fn waits(&self) -> &'static [(Wait, u32)] {
        &[(Wait::ProbePod, 1), (Wait::OperatorReconcile, 1)]
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "per sandbox RuntimeClass, on one Ready node it may use: a probe pod with the RuntimeClass, and a probe pod without a RuntimeClass on the same node",
            "where the Agent Sandbox API (agents.x-k8s.io) is served: a Sandbox with a RuntimeClass that passed",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let api: Api<RuntimeClass> = Api::all(ctx.client.clone());
        let found = match list::all(&api, ListParams::default()).await {
            Ok(found) => found,
            // node.k8s.io not served: no RuntimeClass can exist.
            Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
            Err(e) => return Err(CheckError::api("list RuntimeClasses", e)),
        };
        let classes = classify(found);
        let agent_api = ctx.capabilities.has(Capability::AgentSandbox);
        ctx.step(format!(
            "sandbox RuntimeClasses: {}; not recognised: {}; plain: {}; Agent Sandbox API served: {agent_api}",
            names(classes.sandboxes.iter().map(|(f, c)| format!("{} (handler {}, {f})", c.name_any(), c.handler))),
            names(classes.unrecognised.iter().cloned()),
            names(classes.plain.iter().cloned()),
        ));
        if classes.sandboxes.is_empty() {
            return Ok(Verdict::unknown(install_hint(&classes, agent_api)));
        }
        let nodes: Vec<Node> = list::all(&Api::all(ctx.client.clone()), ListParams::default())
            .await
            .map_err(|e| CheckError::api("list nodes", e))?;
        let mut results = Vec::new();
        let passed = probe_classes(ctx, &classes, &nodes, &mut results).await?;
        if agent_api {
            let result = match &passed {
                Some((class, node)) => agent_sandbox::exercise(ctx, class, node).await?,
                None => SolutionResult::unknown(
                    agent_sandbox::NAME,
                    "not exercised: no RuntimeClass passed, and a Sandbox is only as isolated as its pod's runtime",
                ),
            };
            ctx.record(|e| e.solution(result.clone()));
            results.push(result);
        }
        Ok(roll_up(SUBJECT, &results, &classes.unrecognised))
    }
}

/// `a, b` or `none`.
fn names(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.collect();
    if all.is_empty() { "none".into() } else { all.join(", ") }
}

/// Probes every sandbox RuntimeClass against a plain pod on the same node, pushes one result per class, and
/// returns the first class that passed with its node (for the Agent Sandbox).
async fn probe_classes(
    ctx: &CheckContext,
    classes: &Classes,
    nodes: &[Node],
    results: &mut Vec<SolutionResult>,
) -> Result<Option<(RuntimeClass, Node)>, CheckError> {
    // (family, class, node, pod name, plain pod name) of every class with a node to run on.
    let mut planned = Vec::new();
    let mut manifests = Vec::new();
    let mut plain_pods: BTreeMap<String, String> = BTreeMap::new();
    for (found, class) in &classes.sandboxes {
        let found = solution_name(&classes.sandboxes, found, class);
        let Some(node) = choose_node(nodes, class) else {
            let result = SolutionResult::not_operational(
                found.clone(),
                format!(
                    "RuntimeClass {} (handler {}): no Ready, schedulable Linux node matches its scheduling.nodeSelector",
                    class.name_any(),
                    class.handler
                ),
            );
            ctx.record(|e| e.solution(result.clone()));
            results.push(result);
            continue;
        };
        let node_name = node.name_any();
        let plain = match plain_pods.get(&node_name) {
            Some(plain) => plain.clone(),
            None => {
                let plain = format!("plain-{}", plain_pods.len());
                manifests.push((plain.clone(), probe_pod(ctx, &plain, node, None)));
                plain_pods.insert(node_name.clone(), plain.clone());
                plain
            }
        };
        let name = format!("sandboxed-{}", class.name_any());
        manifests.push((name.clone(), probe_pod(ctx, &name, node, Some(class))));
        ctx.step(format!(
            "RuntimeClass {} (handler {}): probing on node {node_name} (kernel {:?}) against {plain}",
            class.name_any(),
            class.handler,
            node_kernel(node)
        ));
        planned.push((found, class, node, name, plain));
    }
    if planned.is_empty() {
        return Ok(None);
    }
    let seen = run_probes(ctx, &manifests).await?;
    let mut passed = None;
    for (found, class, node, name, plain) in planned {
        let kernel = node_kernel(node);
        let node_name = node.name_any();
        let target = Target {
            family: &found,
            class: &class.name_any(),
            handler: &class.handler,
            node: &node_name,
            node_kernel: &kernel,
        };
        let result = match (seen.get(&name), seen.get(&plain)) {
            (Some(Ok(sandboxed)), Some(Ok(plain))) => sandbox_probe::judge(&target, plain, sandboxed),
            (Some(Err(problem)), _) => sandboxed_problem(&target, problem, ctx.wait(Wait::ProbePod)),
            (_, Some(Err(problem))) => plain_problem(&target, problem),
            _ => SolutionResult::error(&found, format!("kaic lost track of the probe pods {name} and {plain}")),
        };
        if result.status == kaic_model::solutions::SolutionStatus::Pass && passed.is_none() {
            passed = Some((class.clone(), node.clone()));
        }
        ctx.record(|e| e.solution(result.clone()));
        results.push(result);
    }
    Ok(passed)
}

/// The result when the pod with the RuntimeClass gave no output.
fn sandboxed_problem(t: &Target<'_>, problem: &PodProblem, waited: Duration) -> SolutionResult {
    let who = format!("RuntimeClass {} (handler {})", t.class, t.handler);
    match problem {
        PodProblem::Fatal(why) => SolutionResult::error(t.family, format!("{who}: {why}")),
        PodProblem::Unschedulable(why) => {
            SolutionResult::error(t.family, format!("{who}: its probe pod was never scheduled on {}: {why}", t.node))
        }
        // A handler the node's container runtime does not know leaves the pod creating its sandbox forever.
        PodProblem::TimedOut(last) => SolutionResult::not_operational(
            t.family,
            format!(
                "{who}: its probe pod gave no output on {} within {}s (is the handler configured in the node's \
                 container runtime?); last seen: {last}",
                t.node,
                waited.as_secs()
            ),
        ),
    }
}

/// The result when the pod without a RuntimeClass gave no output: without it the probe cannot compare.
fn plain_problem(t: &Target<'_>, problem: &PodProblem) -> SolutionResult {
    let why = match problem {
        PodProblem::Fatal(why) => return SolutionResult::error(t.family, why.clone()),
        PodProblem::Unschedulable(why) => format!("was never scheduled: {why}"),
        PodProblem::TimedOut(last) => format!("gave no output in time: {last}"),
    };
    SolutionResult::unknown(
        t.family,
        format!(
            "RuntimeClass {}: the probe pod without a RuntimeClass on {} {why}, so kaic cannot show that the \
             probe tells the node's kernel from a sandbox's; verify by hand",
            t.class, t.node
        ),
    )
}

/// Creates the probe pods, then waits for each to run and print its probe, all within one
/// [`Wait::ProbePod`] (the pods run side by side). Returns each pod's view or why it gave none.
async fn run_probes(
    ctx: &CheckContext,
    manifests: &[(String, Value)],
) -> Result<BTreeMap<String, Result<View, PodProblem>>, CheckError> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let submitted = Instant::now();
    for (name, manifest) in manifests {
        let pod: Pod = from_json(manifest.clone())?;
        api.create(&PostParams::default(), &pod)
            .await
            .map_err(|e| CheckError::api(format!("create probe pod {name}"), e))?;
    }
    let deadline = submitted + ctx.wait(Wait::ProbePod);
    let mut seen = BTreeMap::new();
    for (name, _) in manifests {
        seen.insert(name.clone(), probe_one(ctx, &api, name, submitted, deadline).await?);
    }
    Ok(seen)
}

/// Waits for one probe pod to run, then reads its log until the probe's end marker appears.
async fn probe_one(
    ctx: &CheckContext,
    api: &Api<Pod>,
    name: &str,
    submitted: Instant,
    deadline: Instant,
) -> Result<Result<View, PodProblem>, CheckError> {
    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
    let started_or_stuck = |p: Option<&Pod>| wait::pod_running(p) || p.is_some_and(|p| pods::fatal_state(p).is_some());
    let running = match wait::until(api, name, "the probe pod to run", left, started_or_stuck, wait::describe_pod).await
    {
        Ok(running) => running,
        Err(CheckError::Timeout { last_seen, .. }) => {
            let pod = api.get_opt(name).await.ok().flatten();
            return Ok(Err(match pod.as_ref().and_then(wait::unschedulable) {
                Some(message) => PodProblem::Unschedulable(message),
                None => PodProblem::TimedOut(last_seen),
            }));
        }
        Err(e) => return Err(e),
    };
    ctx.object(&format!("Pod-{name}"), &running);
    if let Some(why) = pods::fatal_state(&running) {
        return Ok(Err(PodProblem::Fatal(why)));
    }
    ctx.record(|e| e.timing(format!("probe pod {name}: submit to running"), submitted.elapsed()));
    let params = LogParams { container: Some("probe".into()), ..Default::default() };
    loop {
        let last = match api.logs(name, &params).await {
            Ok(log) => match sandbox_probe::parse(&log) {
                Some(view) => {
                    ctx.record(|e| e.log(name.to_string(), log));
                    return Ok(Ok(view));
                }
                None => format!("log so far: {:?}", log.chars().take(200).collect::<String>()),
            },
            Err(e) => format!("log not readable: {e}"),
        };
        if Instant::now() >= deadline {
            return Ok(Err(PodProblem::TimedOut(last)));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::super::runtime_classes::tests::{class, node};
    use super::*;
    use crate::check::CheckOptions;
    use kaic_model::Outcome;

    #[tokio::test]
    async fn probe_pods_are_pinned_hardened_and_name_their_runtime_class() {
        let mut options = CheckOptions::default();
        let ctx = CheckContext::offline("workload_sandboxing", options.clone());
        let worker = node("w", json!({}), json!([]), true);
        let gvisor = class("gvisor", "runsc", json!(null));
        let sandboxed = probe_pod(&ctx, "sandboxed-gvisor", &worker, Some(&gvisor));
        let spec = &sandboxed["spec"];
        assert_eq!(spec["runtimeClassName"], "gvisor");
        assert_eq!(spec["affinity"], pods::pin_to("w"));
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        assert_eq!(spec["containers"][0]["image"], DEFAULT_PROBE_IMAGE);
        assert!(spec["containers"][0]["command"][2].as_str().unwrap().starts_with("echo KAIC-SANDBOX-BEGIN"));
        assert_eq!(sandboxed["metadata"]["labels"]["kaic.dev/probe"], "sandbox");
        let plain = probe_pod(&ctx, "plain-0", &worker, None);
        assert!(plain["spec"].get("runtimeClassName").is_none());
        let _: Pod = from_json(sandboxed).unwrap();
        options.probe_images.insert(PROBE_IMAGE_KEY.into(), "mirror.example/busybox:1.37".into());
        let ctx = CheckContext::offline("workload_sandboxing", options);
        assert_eq!(
            probe_pod(&ctx, "p", &worker, None)["spec"]["containers"][0]["image"],
            "mirror.example/busybox:1.37"
        );
    }

    #[test]
    fn no_sandbox_runtime_is_unknown_with_what_to_install() {
        let sorted = classify(vec![class("nvidia", "nvidia", json!(null)), class("odd", "vm-runtime", json!(null))]);
        let hint = install_hint(&sorted, true);
        assert!(hint.starts_with("no sandbox runtime found: no RuntimeClass has a gVisor"), "{hint}");
        assert!(hint.contains("RuntimeClass odd (handler vm-runtime) kaic does not recognise"), "{hint}");
        assert!(hint.contains("not sandboxes: RuntimeClass nvidia (handler nvidia)"), "{hint}");
        assert!(hint.contains("Agent Sandbox API (agents.x-k8s.io) is served"), "{hint}");
        for platform in ["GKE Sandbox", "AKS, pod sandboxing", "OpenShift sandboxed containers", "Kata Containers"] {
            assert!(hint.contains(platform), "{platform}: {hint}");
        }
        // The requirement has no condition: the roll-up of nothing is unknown, never not applicable.
        assert_eq!(roll_up(SUBJECT, &[], &[]).outcome, Outcome::Unknown);
    }

    #[test]
    fn a_probe_pod_without_output_never_passes() {
        let t = Target { family: "gVisor", class: "gvisor", handler: "runsc", node: "w", node_kernel: "6.8.0" };
        let stuck = sandboxed_problem(&t, &PodProblem::TimedOut("phase Pending".into()), Duration::from_secs(180));
        assert_eq!(stuck.status, kaic_model::solutions::SolutionStatus::NotOperational);
        assert!(stuck.summary.contains("is the handler configured"), "{}", stuck.summary);
        let pull = sandboxed_problem(&t, &PodProblem::Fatal("ImagePullBackOff".into()), Duration::from_secs(180));
        assert_eq!(pull.status, kaic_model::solutions::SolutionStatus::Error);
        let plain = plain_problem(&t, &PodProblem::Unschedulable("0/3 nodes".into()));
        assert_eq!(plain.status, kaic_model::solutions::SolutionStatus::Unknown);
        assert!(plain.summary.contains("cannot show that the probe tells"), "{}", plain.summary);
    }

    #[test]
    fn the_budget_covers_the_waits() {
        let check = WorkloadSandboxing;
        assert!(check.timeout() >= crate::timeouts::sum(check.waits()));
    }
}
