//! `disaggregated_inference` (SHOULD): the platform runs a disaggregated inference solution — the prefill and
//! decode phases in separate pods on separate accelerators, a request served through both, each phase scaled
//! on its own — proven with kaic's own llm-d-shaped pair ([`pd`]), whose phases talk over the pod network.
//!
//! 1. **Detect** what already runs (reported, not exercised: kaic cannot know such a stack's entry or change
//!    it): llm-d model servers by their `llm-d.ai/role` label, NVIDIA Dynamo's and KServe's P/D APIs.
//! 2. **Deploy** a prefill Deployment and a decode Deployment (llm-d's vLLM simulator; decode pods behind llm-d's
//!    routing sidecar), one accelerator per pod. Needs [`NEEDED`] free accelerators (one per phase, and one for a
//!    phase to grow into); fewer: unknown.
//! 3. **Trace:** kaic plays llm-d's picker and sends [`TRACED`] completions to the decode pod's sidecar (through
//!    the API server's pod proxy) naming the prefill pod; every one must be answered, and each request id must
//!    be in the prefill pod's log and in the decode pod's log. A control request without a prefill pod must
//!    reach the decode pod only (the logs tell the phases apart). A decode pod that cannot reach its prefill
//!    pod fails the check with its sidecar's reason (unknown where NetworkPolicies in kaic's namespace may be
//!    the cause); an answer without the prefill phase fails it.
//! 4. **Scale each phase on its own:** prefill 1 → 2 (decode untouched), the new prefill pod serves traced
//!    requests; prefill back to 1; decode 1 → 2 (prefill untouched), the new decode pod serves traced requests.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::resource::v1::ResourceClaim;
use kaic_model::Verdict;
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::pd::{self, PREFILLER_HEADER, Phase, REQUEST_ID_HEADER, ROLE_LABEL, SERVE_PORT};
use super::stats;
use crate::accelerators::inventory::Inventory;
use crate::autoscaling::workload::{self, Device};
use crate::check::{AcceleratorUse, Check, CheckContext, CheckError, from_json};
use crate::observability::endpoint::{Endpoint, Headers};
use crate::observability::model_server;
use crate::timeouts::Wait;
use crate::wait;

pub struct DisaggregatedInference;

/// Completions traced through the phases per batch.
pub const TRACED: u32 = 5;
/// Free accelerators the check needs: a prefill pod, a decode pod, and one for a phase to grow into.
pub const NEEDED: i64 = 3;
/// kaic's ResourceClaimTemplate for the pods' devices (DRA path).
const TEMPLATE: &str = "kaic-pd-accelerator";
/// How often kaic looks at the pods (a list in its own namespace: cheap).
const EVERY: Duration = Duration::from_secs(1);
/// How long a model server's log may lag behind its answer (a runtime writes container logs asynchronously).
const LOG_LAG: Duration = Duration::from_secs(10);

const EXPECTED: &str = "the decode pod's routing sidecar has the named prefill pod do the prefill over the pod network, \
                        then its own decoder completes the request: the request id in both pods' logs";

#[async_trait::async_trait]
impl Check for DisaggregatedInference {
    fn id(&self) -> &'static str {
        "disaggregated_inference"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["disaggregated_inference"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(1080)
    }

    /// Both phases Ready, then three scalings each waiting for pods, one of them for a pod to go.
    fn waits(&self) -> &'static [(Wait, u32)] {
        &[(Wait::ModelServerReady, 5), (Wait::ClaimReleased, 1)]
    }

    fn accelerators(&self) -> AcceleratorUse {
        AcceleratorUse::Throughout
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "a prefill Deployment (llm-d-inference-sim, label llm-d.ai/role=prefill), one accelerator per pod (DRA claim template or device-plugin resource)",
            "a decode Deployment (llm-d-inference-sim behind llm-d's routing sidecar, llm-d.ai/role=decode), one accelerator per pod",
            "completions through the API server's pod proxy to the decode pods, naming a prefill pod in x-prefiller-host-port",
            "each Deployment scaled through its scale subresource (prefill 1 → 2 → 1, decode 1 → 2)",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let installed = installed_stacks(ctx).await;
        let others = if installed.is_empty() {
            "no P/D stack found running".to_string()
        } else {
            format!("running, not exercised by kaic: {}", installed.join("; "))
        };
        ctx.step(others.clone());

        let inventory = Inventory::read(ctx).await?;
        let Some(device) = workload::choose_device(ctx, &inventory, NEEDED, TEMPLATE).await? else {
            return Ok(Verdict::unknown(format!(
                "kaic's prefill/decode pair needs {NEEDED} free accelerators it recognises on schedulable nodes (a pod per \
                 phase and one for a phase to scale into){}; free devices and rerun, or verify a P/D deployment by hand \
                 ({others})",
                inventory.unrecognised_note().map(|n| format!(" ({n})")).unwrap_or_default()
            )));
        };
        ctx.step(format!("each pod takes {}", device.describe()));
        let tolerations = workload::merged_tolerations(&inventory);
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        for phase in [Phase::Prefill, Phase::Decode] {
            let created = deployments
                .create(&PostParams::default(), &from_json(pd::deployment(ctx, phase, &device, &tolerations))?)
                .await
                .map_err(|e| CheckError::api(format!("create the {} Deployment", phase.role()), e))?;
            ctx.object("Deployment", &created);
        }
        let started = Instant::now();
        let mut ready = Vec::new();
        for phase in [Phase::Prefill, Phase::Decode] {
            match ready_pods(ctx, phase, 1).await? {
                Ok(pods) => ready.push(pods[0].clone()),
                Err(why) => return Ok(Verdict::error(format!("kaic's {} pod could not run: {why}", phase.role()))),
            }
        }
        let (prefill, decode) = (ready[0].clone(), ready[1].clone());
        ctx.record(|e| e.timing("pair: create to both phases Ready", started.elapsed()));
        for (phase, pod) in [(Phase::Prefill, &prefill), (Phase::Decode, &decode)] {
            if let Err(verdict) = holds_device(ctx, phase, pod, &device).await? {
                return Ok(verdict);
            }
        }
        let health = Endpoint::pod(&ctx.namespace, name(&decode), &SERVE_PORT.to_string(), "");
        if let Err(e) = health.get(&ctx.client, &Headers(Vec::new()), "/health").await {
            return Ok(Verdict::error(format!(
                "kaic cannot reach its decode pod's sidecar through the API server's pod proxy: {e}"
            )));
        }

        let first = match trace(ctx, "a", &decode, &prefill).await? {
            Ok(traced) => traced,
            Err(verdict) => return Ok(verdict),
        };
        if let Err(verdict) = control(ctx, &decode, &prefill).await? {
            return Ok(verdict);
        }

        // Prefill grows while decode stays; then it shrinks back, freeing the device decode grows into.
        let new_prefill = match grow(ctx, Phase::Prefill, &prefill, &decode, &device).await? {
            Ok(pod) => pod,
            Err(verdict) => return Ok(verdict),
        };
        let second = match trace(ctx, "b", &decode, &new_prefill).await? {
            Ok(traced) => traced,
            Err(verdict) => return Ok(verdict),
        };
        scale(ctx, Phase::Prefill, 1).await?;
        let remaining = phase_down_to_one(ctx, Phase::Prefill).await?;

        let new_decode = match grow(ctx, Phase::Decode, &decode, &remaining, &device).await? {
            Ok(pod) => pod,
            Err(verdict) => return Ok(verdict),
        };
        let third = match trace(ctx, "c", &new_decode, &remaining).await? {
            Ok(traced) => traced,
            Err(verdict) => return Ok(verdict),
        };

        let mut latencies = [first.latencies, second.latencies, third.latencies].concat();
        latencies.sort_unstable();
        if let Some(median) = stats::median(&latencies) {
            ctx.record(|e| e.timing("a completion through both phases (median, via the API server's proxy)", median));
        }
        Ok(Verdict::pass(format!(
            "kaic's llm-d prefill/decode pair ran on separate pods and accelerators ({}): {} of {} completions traced \
             through both phases (each request id in a prefill pod's and a decode pod's log), a control request \
             without a prefill pod stayed in the decode pod; prefill scaled 1 → 2 → 1 with decode untouched and the \
             new prefill pod {} served its phase; decode scaled 1 → 2 with prefill untouched and the new decode pod {} \
             served its phase; {others}",
            device.describe(),
            3 * TRACED,
            3 * TRACED,
            name(&new_prefill),
            name(&new_decode)
        )))
    }
}

fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

/// P/D stacks the cluster already runs, in words (what kaic may read; nothing it cannot read is an error here).
async fn installed_stacks(ctx: &CheckContext) -> Vec<String> {
    let pods: Api<Pod> = Api::all(ctx.client.clone());
    let mut found = match crate::list::all(&pods, ListParams::default().labels(ROLE_LABEL)).await {
        Ok(list) => pd::describe_llmd(&list, &ctx.namespace),
        Err(_) => Vec::new(),
    };
    for (group_version, resource, what) in [
        ("nvidia.com/v1alpha1", "dynamographdeployments", "NVIDIA Dynamo's DynamoGraphDeployment API"),
        ("serving.kserve.io/v1alpha1", "llminferenceservices", "KServe's LLMInferenceService API"),
    ] {
        let served = ctx
            .client
            .list_api_group_resources(group_version)
            .await
            .is_ok_and(|list| list.resources.iter().any(|r| r.name == resource));
        if served {
            found.push(format!("{what} ({group_version})"));
        }
    }
    found
}

/// Waits until the phase has exactly `n` pods, all Ready; `Err` inside when one of them cannot run.
async fn ready_pods(ctx: &CheckContext, phase: Phase, n: usize) -> Result<Result<Vec<Pod>, String>, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let deadline = Instant::now() + ctx.wait(Wait::ModelServerReady);
    let query = pd::label_query(ctx, phase);
    loop {
        let list = crate::list::all(&pods, ListParams::default().labels(&query))
            .await
            .map_err(|e| CheckError::api(format!("list the {} pods", phase.role()), e))?;
        if let Some(why) = list.iter().find_map(crate::pods::fatal_state) {
            return Ok(Err(why));
        }
        let live: Vec<Pod> = list.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).cloned().collect();
        if live.len() == n && live.iter().all(|p| wait::pod_ready(Some(p))) {
            return Ok(Ok(live));
        }
        if Instant::now() > deadline {
            let seen: Vec<String> = list.iter().map(|p| format!("{}: {}", name(p), wait::describe_pod(p))).collect();
            return Err(CheckError::Timeout {
                what: format!("{n} Ready {} pod(s)", phase.role()),
                after: ctx.wait(Wait::ModelServerReady),
                last_seen: if seen.is_empty() { "no pod".into() } else { seen.join("; ") },
            });
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Scales one phase's Deployment through its scale subresource, as an autoscaler would.
async fn scale(ctx: &CheckContext, phase: Phase, replicas: i32) -> Result<(), CheckError> {
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let patch = Patch::Merge(json!({"spec": {"replicas": replicas}}));
    deployments
        .patch_scale(phase.deployment(), &PatchParams::default(), &patch)
        .await
        .map_err(|e| CheckError::api(format!("scale Deployment {} to {replicas}", phase.deployment()), e))?;
    ctx.step(format!("scaled the {} Deployment to {replicas} (scale subresource)", phase.role()));
    Ok(())
}

/// Waits until one pod of the phase is left (the other gone, its device released with it); returns it.
async fn phase_down_to_one(ctx: &CheckContext, phase: Phase) -> Result<Pod, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let deadline = Instant::now() + ctx.wait(Wait::ClaimReleased);
    let query = pd::label_query(ctx, phase);
    loop {
        let list = crate::list::all(&pods, ListParams::default().labels(&query))
            .await
            .map_err(|e| CheckError::api(format!("list the {} pods", phase.role()), e))?;
        if let [only] = list.as_slice()
            && wait::pod_ready(Some(only))
        {
            ctx.step(format!("{} back to one pod: {}", phase.role(), name(only)));
            return Ok(only.clone());
        }
        if Instant::now() > deadline {
            let seen: Vec<String> = list.iter().map(|p| format!("{}: {}", name(p), wait::describe_pod(p))).collect();
            return Err(CheckError::Timeout {
                what: format!("the {} Deployment back to one pod", phase.role()),
                after: ctx.wait(Wait::ClaimReleased),
                last_seen: seen.join("; "),
            });
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Scales `phase` from its one pod `old` to two while the other phase keeps its one pod `other`: the new pod
/// must run holding a device of its own, and the other phase must keep exactly its pod. Returns the new pod.
async fn grow(
    ctx: &CheckContext,
    phase: Phase,
    old: &Pod,
    other: &Pod,
    device: &Device,
) -> Result<Result<Pod, Verdict>, CheckError> {
    scale(ctx, phase, 2).await?;
    let started = Instant::now();
    let pods = match ready_pods(ctx, phase, 2).await? {
        Ok(pods) => pods,
        Err(why) => return Ok(Err(scale_failed(phase, &why))),
    };
    let new = pods.iter().find(|p| name(p) != name(old)).cloned().unwrap_or_else(|| old.clone());
    ctx.record(|e| e.timing(format!("{} 1 → 2: scaled to new pod Ready", phase.role()), started.elapsed()));
    if let Err(verdict) = holds_device(ctx, phase, &new, device).await? {
        return Ok(Err(verdict));
    }
    let other_phase = if phase == Phase::Prefill { Phase::Decode } else { Phase::Prefill };
    untouched(ctx, other_phase, other).await.map(|kept| kept.map(|()| new))
}

/// The other phase kept exactly its one pod while this one scaled.
async fn untouched(ctx: &CheckContext, phase: Phase, before: &Pod) -> Result<Result<(), Verdict>, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let list = crate::list::all(&pods, ListParams::default().labels(&pd::label_query(ctx, phase)))
        .await
        .map_err(|e| CheckError::api(format!("list the {} pods", phase.role()), e))?;
    let now: Vec<&str> = list.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).map(name).collect();
    if now == [name(before)] {
        return Ok(Ok(()));
    }
    Ok(Err(Verdict::fail(
        format!("scaling the other phase changed the {} pods", phase.role()),
        format!("{} pod {} untouched", phase.role(), name(before)),
        format!("{} pods now: {}", phase.role(), now.join(", ")),
    )))
}

fn scale_failed(phase: Phase, why: &str) -> Verdict {
    Verdict::fail(
        format!("the {} phase could not scale on its own: {why}", phase.role()),
        format!("a second {} pod Running with its own accelerator", phase.role()),
        why.to_string(),
    )
}

/// The pod holds an accelerator of its own (said as a step), or the verdict that it runs without one.
async fn holds_device(
    ctx: &CheckContext,
    phase: Phase,
    pod: &Pod,
    device: &Device,
) -> Result<Result<(), Verdict>, CheckError> {
    let claims: Api<ResourceClaim> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let claims = match device {
        Device::Dra(_) => crate::list::all(&claims, ListParams::default())
            .await
            .map_err(|e| CheckError::api("list kaic's ResourceClaims", e))?,
        Device::Extended(_) => Vec::new(),
    };
    match workload::device_of(pod, device, &claims) {
        Ok(held) => {
            ctx.step(format!("{} pod {}: {held}", phase.role(), name(pod)));
            Ok(Ok(()))
        }
        Err(why) => Ok(Err(Verdict::fail(
            format!("{} pod {} runs without its accelerator: {why}", phase.role(), name(pod)),
            "each pod of each phase holds an accelerator of its own",
            why,
        ))),
    }
}

/// A batch of traced completions and how long each took.
struct Traced {
    latencies: Vec<Duration>,
}

/// Sends [`TRACED`] completions to `decode` naming `prefill`, then finds each id in both pods' logs.
async fn trace(
    ctx: &CheckContext,
    batch: &str,
    decode: &Pod,
    prefill: &Pod,
) -> Result<Result<Traced, Verdict>, CheckError> {
    let target = pd::pod_ip(prefill).map(|ip| format!("{ip}:{SERVE_PORT}")).unwrap_or_default();
    let endpoint = Endpoint::pod(&ctx.namespace, name(decode), &SERVE_PORT.to_string(), "");
    let mut ids = Vec::new();
    let mut latencies = Vec::new();
    for i in 1..=TRACED {
        let id = pd::request_id(ctx, batch, i);
        let headers = Headers(vec![(REQUEST_ID_HEADER.into(), id.clone()), (PREFILLER_HEADER.into(), target.clone())]);
        let sent = Instant::now();
        let answer = endpoint.post_json(&ctx.client, &headers, "/v1/completions", &model_server::completion(i)).await;
        if let Err(e) = answered(answer) {
            return Ok(Err(handoff_failed(ctx, decode, prefill, &id, &e).await?));
        }
        latencies.push(sent.elapsed());
        ids.push(id);
    }
    let (in_prefill, in_decode) = find_in_logs(ctx, prefill, decode, &ids).await?;
    let missing_decode: Vec<&String> = ids.iter().filter(|id| !in_decode.contains(id)).collect();
    if !missing_decode.is_empty() {
        return Ok(Err(Verdict::unknown(format!(
            "decode pod {} answered, but its model server's log does not name request(s) {}: kaic cannot trace \
             requests through this simulator image ({}); verify by hand",
            name(decode),
            join(&missing_decode),
            model_server::image(ctx)
        ))));
    }
    let missing_prefill: Vec<&String> = ids.iter().filter(|id| !in_prefill.contains(id)).collect();
    if !missing_prefill.is_empty() {
        return Ok(Err(Verdict::fail(
            format!(
                "decode pod {} answered request(s) {} without the prefill phase: prefill pod {} never saw them",
                name(decode),
                join(&missing_prefill),
                name(prefill)
            ),
            EXPECTED,
            format!("{} of {TRACED} ids in prefill pod {}'s log", in_prefill.len(), name(prefill)),
        )));
    }
    ctx.step(format!(
        "batch {batch}: {TRACED} of {TRACED} completions through decode pod {} with prefill pod {} ({target}); every id \
         in both pods' logs",
        name(decode),
        name(prefill)
    ));
    Ok(Ok(Traced { latencies }))
}

/// A completion's answer, or what was wrong with it.
fn answered(answer: Result<String, String>) -> Result<(), String> {
    let text = answer?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("answered with something else than JSON ({e}): {text}"))?;
    if json["choices"].as_array().is_none_or(Vec::is_empty) {
        return Err(format!("answered without a completion: {text}"));
    }
    Ok(())
}

/// A control: a request that names no prefill pod is decoded in place and never reaches the prefill pod.
async fn control(ctx: &CheckContext, decode: &Pod, prefill: &Pod) -> Result<Result<(), Verdict>, CheckError> {
    let id = pd::request_id(ctx, "control", 1);
    let endpoint = Endpoint::pod(&ctx.namespace, name(decode), &SERVE_PORT.to_string(), "");
    let headers = Headers(vec![(REQUEST_ID_HEADER.into(), id.clone())]);
    let answer = endpoint.post_json(&ctx.client, &headers, "/v1/completions", &model_server::completion(0)).await;
    if let Err(e) = answered(answer) {
        return Ok(Err(Verdict::error(format!(
            "decode pod {} did not answer a request without a prefill pod ({id}): {e}",
            name(decode)
        ))));
    }
    let (in_prefill, in_decode) = find_in_logs(ctx, prefill, decode, std::slice::from_ref(&id)).await?;
    if !in_prefill.is_empty() || in_decode.is_empty() {
        return Ok(Err(Verdict::unknown(format!(
            "the control request {id} (no prefill pod named) was {} in prefill pod {}'s log and {} in decode pod {}'s: \
             the logs do not tell the phases apart; verify by hand",
            if in_prefill.is_empty() { "not" } else { "also" },
            name(prefill),
            if in_decode.is_empty() { "not" } else { "" },
            name(decode)
        ))));
    }
    ctx.step(format!("control {id} without a prefill pod: decoded in {} only", name(decode)));
    Ok(Ok(()))
}

/// The ids found in the prefill pod's and the decode pod's model-server logs, read again while some are
/// missing for at most [`LOG_LAG`]. Both logs go to the evidence.
async fn find_in_logs(
    ctx: &CheckContext,
    prefill: &Pod,
    decode: &Pod,
    ids: &[String],
) -> Result<(Vec<String>, Vec<String>), CheckError> {
    let deadline = Instant::now() + LOG_LAG;
    loop {
        let prefill_log = server_log(ctx, prefill).await?;
        let decode_log = server_log(ctx, decode).await?;
        let found = |log: &str| ids.iter().filter(|id| pd::seen_in(log, id)).cloned().collect::<Vec<_>>();
        let (in_prefill, in_decode) = (found(&prefill_log), found(&decode_log));
        if (in_prefill.len() == ids.len() && in_decode.len() == ids.len()) || Instant::now() > deadline {
            ctx.record(|e| {
                e.log(format!("{}.{}", name(prefill), pd::SERVER), prefill_log);
                e.log(format!("{}.{}", name(decode), pd::SERVER), decode_log);
            });
            return Ok((in_prefill, in_decode));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn server_log(ctx: &CheckContext, pod: &Pod) -> Result<String, CheckError> {
    container_log(ctx, pod, pd::SERVER).await
}

async fn container_log(ctx: &CheckContext, pod: &Pod, container: &str) -> Result<String, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let params = LogParams { container: Some(container.to_string()), ..Default::default() };
    pods.logs(name(pod), &params)
        .await
        .map_err(|e| CheckError::api(format!("read the log of {container} in pod {}", name(pod)), e))
}

/// The verdict when a traced request failed: the decode pod's sidecar says why. NetworkPolicies in kaic's
/// namespace (which kaic did not create) may be what blocks the phases: then kaic cannot tell platform from
/// policy, and says so.
async fn handoff_failed(
    ctx: &CheckContext,
    decode: &Pod,
    prefill: &Pod,
    id: &str,
    error: &str,
) -> Result<Verdict, CheckError> {
    let sidecar_log = container_log(ctx, decode, pd::SIDECAR).await?;
    let sidecar = pd::sidecar_error(&sidecar_log).unwrap_or_else(|| "no error in its log".into());
    ctx.record(|e| e.log(format!("{}.{}", name(decode), pd::SIDECAR), sidecar_log));
    let reason = format!(
        "decode pod {} could not serve request {id} through prefill pod {} ({}): {error}; its routing sidecar said: {sidecar}",
        name(decode),
        name(prefill),
        pd::pod_ip(prefill).unwrap_or_default()
    );
    let suspects = super::network_policy_suspects(ctx).await?;
    if !suspects.is_empty() {
        return Ok(Verdict::unknown(format!(
            "{reason}. {} and may block pod-to-pod traffic: verify with a P/D deployment whose policies allow its \
             phases to talk",
            suspects.join("; ")
        )));
    }
    Ok(Verdict::fail(reason, EXPECTED, format!("request {id}: {error}")))
}

fn join(ids: &[&String]) -> String {
    ids.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_counts_only_with_a_completion() {
        assert!(answered(Ok(r#"{"choices":[{"text":"hi"}]}"#.into())).is_ok());
        assert!(answered(Ok(r#"{"choices":[]}"#.into())).unwrap_err().contains("without a completion"));
        assert!(answered(Ok("<html>".into())).unwrap_err().contains("JSON"));
        assert_eq!(answered(Err("status 502".into())).unwrap_err(), "status 502");
    }
}
