//! `advanced_inference_ingress`: the platform's gateway routes inference requests to an InferencePool (Gateway
//! API Inference Extension) where the pool's endpoint picker decides, proven with real requests.
//!
//! In its namespace kaic runs two InferencePools of three model servers each (llm-d's vLLM simulator, naming its
//! pod in `x-inference-pod`). The steered pool's endpoint picker is the extension's lightweight picker (lwepp),
//! the one its conformance suite uses, which honours `test-epp-endpoint-selection: <pod IP>[,…]`. The scored
//! pool's is the extension's full picker, which scores pods by the queue and KV cache they report: one member
//! is idle, one reports 50 requests waiting, one a KV cache 99 % used (`scored_pool.rs`); kaic waits until the
//! picker reports that load. Per Accepted GatewayClass (at most [`gateway::MAX_CLASSES`]) a Gateway and an
//! HTTPRoute whose backends are the pools (the scored one for requests with `x-kaic-pool: scored`). Once the
//! Gateway is Programmed, the route Accepted with its refs resolved and the steered pool's `status.parents`
//! Accepted for the Gateway, kaic sends completions through the Gateway's address: 10 steered to each member in
//! turn, 20 steered to two of the three, 30 unsteered (their spread is reported), 30 to the scored pool. A class
//! passes when every steered request was answered by a pod the picker was told to choose (the gateway asks the
//! picker and sends the request where it said, more than "Accepted") and every scored request by the idle
//! server (the picker decides by load, and requests avoid a full queue or KV cache). Then the steered pool's
//! picker goes (its pod deleted; the pool fails closed): a class that kept answering 200 for
//! [`Wait::RouteServing`] without its picker fails (it never needed the picker), one that answered 5xx shows
//! the positive refusal.
//!
//! One class that passes meets the requirement; the others are reported (the one roll-up). Without the Gateway
//! API, the InferencePool API (`inference.networking.k8s.io/v1`) or an Accepted GatewayClass the verdict is
//! unknown, naming what to install. kaic sends from itself when it reaches the Gateway's address, else (or always,
//! with `--send-from cluster`) from curl client pods in its namespace whose logs it reads. A scored pool whose
//! picker never reports its members' load (it scrapes them over the pod network) fails the check before any
//! class is exercised; unknown where NetworkPolicies kaic did not create apply in its namespace.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kaic_model::Verdict;
use kaic_model::solutions::{self, SolutionResult, Subject};
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use serde_json::Value;

use super::gateway::{self, Class, Names};
use super::http;
use super::pool::{self, MEMBERS, PICKER, POOL, SCORED_POOL, SELECTION_HEADER};
use super::pool_traffic::{
    Answer, Ask, Member, PER_MEMBER, Sender, TO_PAIR, WITHOUT_PICKER, client_name, completion, parse_answers,
    refusals_at_end, steer, steer_script, until_serving, without_picker_script,
};
use super::scored_pool::{self, SCORER};
use super::stats;
use super::traffic;
use crate::capability::Capability;
use crate::check::{Check, CheckContext, CheckError, create_dynamic, from_json};
use crate::timeouts::Wait;
use crate::wait;

pub struct AdvancedInferenceIngress;

const INSTALL: &str = "install the Gateway API Inference Extension's CRDs (InferencePool, inference.networking.k8s.io/v1) \
                       and a gateway that implements it (e.g. GKE Inference Gateway, Istio, kgateway with agentgateway, \
                       NGINX Gateway Fabric) and rerun";

const SUBJECT: Subject<'static> = Subject {
    works: "the gateway routes to an InferencePool where its endpoint picker decides",
    kinds: "Gateway API implementations",
};

/// How long a controller's refusal of the route (Accepted or ResolvedRefs False) must hold before kaic believes it.
const REFUSAL_HOLDS: Duration = Duration::from_secs(10);

#[async_trait::async_trait]
impl Check for AdvancedInferenceIngress {
    fn id(&self) -> &'static str {
        "advanced_inference_ingress"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["advanced_inference_ingress"]
    }

    /// The worst case of every wait below: three classes each behind a load balancer, sending from client pods.
    fn timeout(&self) -> Duration {
        Duration::from_secs(2820)
    }

    /// The model servers and the pickers once, the scored pool's picker reading their load, then per class its
    /// Gateway, route, pool status, traffic, and the traffic without the picker.
    fn waits(&self) -> &'static [(Wait, u32)] {
        &[
            (Wait::ModelServerReady, 2),
            (Wait::PickerScraped, 1),
            (Wait::GatewayProgrammed, 3),
            (Wait::RouteAccepted, 6),
            (Wait::RouteServing, 6),
            (Wait::ProbePod, 6),
        ]
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "two InferencePools of three model-server pods (llm-d-inference-sim) each; in the scored pool two fake a full queue and a full KV cache",
            "each pool's endpoint picker (lwepp; the full picker for the scored pool): a pod and a Service each, a ServiceAccount with a Role reading the pools, their pods and InferenceObjectives",
            "for each Accepted GatewayClass (at most 3): a Gateway and an HTTPRoute to the two InferencePools",
            "when kaic cannot reach a Gateway's address (or with --send-from cluster): two client pods (curl) per class, one steering requests through the picker, one sending while the picker is gone",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        if !ctx.capabilities.has(Capability::GatewayApi) {
            return Ok(Verdict::unknown(format!(
                "the Gateway API (gateway.networking.k8s.io/v1) is not served, so no route can reach an InferencePool; {INSTALL}"
            )));
        }
        if !ctx.capabilities.has(Capability::InferenceExtension) {
            return Ok(Verdict::unknown(format!("the InferencePool API is not served; {INSTALL}")));
        }
        let classes = gateway::accepted_classes(ctx).await?;
        if classes.exercised.is_empty() {
            return Ok(Verdict::unknown(format!(
                "no controller accepted a GatewayClass ({}); {INSTALL}",
                classes.described
            )));
        }
        let members = match deploy(ctx).await? {
            Ok(members) => members,
            Err(verdict) => return Ok(verdict),
        };

        let mut verdicts = Vec::new();
        for class in &classes.exercised {
            // One class's API failure or timeout is that class's error, never the others' verdict.
            let (verdict, address) =
                exercise(ctx, class, &members).await.unwrap_or_else(|e| (Verdict::error(e.to_string()), None));
            verdicts.push((class, verdict, address));
        }
        // Without its picker a pool that fails closed must not be served: kaic deletes the picker once, then
        // asks every class that routed right so far.
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        if verdicts.iter().any(|(_, v, sender)| v.outcome == kaic_model::Outcome::Pass && sender.is_some()) {
            pods.delete(PICKER, &DeleteParams::default().grace_period(0))
                .await
                .map_err(|e| CheckError::api(format!("delete pod {PICKER}"), e))?;
            ctx.step(format!("deleted the endpoint picker's pod {PICKER} (the pool's failureMode is FailClose)"));
        }
        let mut results = Vec::new();
        for (class, mut verdict, sender) in verdicts {
            if let (kaic_model::Outcome::Pass, Some(sender)) = (verdict.outcome, sender) {
                let names = Names::for_class(ctx, &class.name);
                let routed = verdict.reason.clone();
                verdict = without_picker(ctx, &names, &sender, verdict)
                    .await
                    .unwrap_or_else(|e| Verdict::error(format!("{e} (with its picker it routed right: {routed})")));
            }
            verdict.reason = format!("controller {}, {}", class.controller, verdict.reason);
            let result = SolutionResult::from_verdict(format!("GatewayClass {}", class.name), &verdict);
            ctx.step(result.line());
            ctx.record(|e| e.solution(result.clone()));
            results.push(result);
        }
        Ok(solutions::roll_up(SUBJECT, &results, &classes.unexercised))
    }
}

/// Creates the picker (with its permissions), the pool and its members, and waits until they are Ready.
/// Returns the members, or the verdict when the pool cannot be made or its pods cannot run.
async fn deploy(ctx: &CheckContext) -> Result<Result<Vec<Member>, Verdict>, CheckError> {
    let client = ctx.client.clone();
    let post = PostParams::default();
    let (account, role, binding) = pool::picker_access(ctx);
    Api::<ServiceAccount>::namespaced(client.clone(), &ctx.namespace)
        .create(&post, &from_json(account)?)
        .await
        .map_err(|e| CheckError::api(format!("create ServiceAccount {PICKER}"), e))?;
    Api::<Role>::namespaced(client.clone(), &ctx.namespace)
        .create(&post, &from_json(role)?)
        .await
        .map_err(|e| CheckError::api(format!("create Role {PICKER}"), e))?;
    Api::<RoleBinding>::namespaced(client.clone(), &ctx.namespace)
        .create(&post, &from_json(binding)?)
        .await
        .map_err(|e| CheckError::api(format!("create RoleBinding {PICKER}"), e))?;
    let pools: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ctx.namespace, &pool::pool_resource());
    for (name, picker) in [(POOL, PICKER), (SCORED_POOL, SCORER)] {
        match pools.create(&post, &from_json(pool::pool_manifest(ctx, name, picker))?).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {
                return Ok(Err(Verdict::unknown(format!(
                    "InferencePool {}/{} is not served (only an older version of the extension is installed?); {INSTALL}",
                    pool::GROUP,
                    pool::VERSION
                ))));
            }
            Err(e) => return Err(CheckError::api(format!("create InferencePool {name}"), e)),
        }
    }
    let services: Api<Service> = Api::namespaced(client.clone(), &ctx.namespace);
    for picker in [PICKER, SCORER] {
        services
            .create(&post, &from_json(pool::picker_service(ctx, picker))?)
            .await
            .map_err(|e| CheckError::api(format!("create Service {picker}"), e))?;
    }
    let pods: Api<Pod> = Api::namespaced(client, &ctx.namespace);
    let mut manifests = vec![(PICKER, pool::picker_pod(ctx)), (SCORER, scored_pool::scorer_pod(ctx))];
    manifests.extend(MEMBERS.iter().map(|m| (*m, pool::member_pod(ctx, m, POOL))));
    manifests.extend(scored_pool::MEMBERS.iter().map(|m| (m.name, scored_pool::member_pod(ctx, m))));
    for (name, manifest) in &manifests {
        pods.create(&post, &from_json(manifest.clone())?)
            .await
            .map_err(|e| CheckError::api(format!("create pod {name}"), e))?;
    }
    let mut members = Vec::new();
    for (name, manifest) in &manifests {
        let ready =
            wait::until(&pods, name, "Ready", ctx.wait(Wait::ModelServerReady), wait::pod_ready, wait::describe_pod)
                .await;
        match ready {
            Ok(pod) if MEMBERS.contains(name) => {
                let ip = pod.status.and_then(|s| s.pod_ip).unwrap_or_default();
                members.push(Member { name: name.to_string(), ip });
            }
            Ok(_) => {}
            Err(e) => {
                let what = if [PICKER, SCORER].contains(name) {
                    format!("the endpoint picker {name} (image {})", manifest["spec"]["containers"][0]["image"])
                } else {
                    "the pools' model servers".to_string()
                };
                return Ok(Err(Verdict::error(format!("{what} could not run: {e}"))));
            }
        }
    }
    let listed: Vec<String> = members.iter().map(|m| format!("{} at {}", m.name, m.ip)).collect();
    ctx.step(format!("InferencePool {POOL} of {}; its endpoint picker {PICKER} Ready", listed.join(", ")));
    let view = match scored_pool::until_scraped(ctx).await? {
        Ok(view) => view,
        Err(verdict) => return Ok(Err(verdict)),
    };
    let loads: Vec<String> = scored_pool::MEMBERS.iter().map(|m| format!("{} ({})", m.name, m.load)).collect();
    ctx.step(format!(
        "InferencePool {SCORED_POOL} of {}; its picker {SCORER} reports {}",
        loads.join(", "),
        view.describe()
    ));
    ctx.record(|e| e.value("scored pool: the picker's view", view.describe()));
    Ok(Ok(members))
}

/// Creates the Gateway and the route to the pool for `class`, waits for their status and the pool's, and sends the
/// steered requests: the class's verdict (its reason without the class's name) and the address kaic reached.
async fn exercise(
    ctx: &CheckContext,
    class: &Class,
    members: &[Member],
) -> Result<(Verdict, Option<Sender>), CheckError> {
    let names = Names::for_class(ctx, &class.name);
    let port = gateway::listener_port(&class.controller);
    let ns = &ctx.namespace;
    let gateways: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), ns, &gateway::resource("Gateway", "gateways"));
    let routes: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), ns, &gateway::resource("HTTPRoute", "httproutes"));
    let pools: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &pool::pool_resource());
    create_dynamic(ctx, &gateways, gateway::gateway_manifest(ctx, &names, &class.name, port)).await?;
    create_dynamic(ctx, &routes, pool::route_manifest(ctx, &names)).await?;
    let (gw_name, route_name) = (names.gateway.as_str(), names.route.as_str());
    ctx.step(format!(
        "created Gateway {gw_name} (class {}), HTTPRoute {route_name} to InferencePool {POOL} ({SCORED_POOL} for {}: {})",
        class.name,
        pool::SCORED_HEADER.0,
        pool::SCORED_HEADER.1
    ));

    let gw = gateway::poll(&gateways, gw_name, ctx.wait(Wait::GatewayProgrammed), |g| {
        gateway::is_true(&g["status"]["conditions"], "Programmed") && !gateway::gateway_addresses(g, port).is_empty()
    })
    .await?;
    ctx.object(&format!("Gateway-{gw_name}-status"), &gw.1["status"]);
    if !gw.0 {
        let verdict = Verdict::fail(
            format!(
                "Gateway {gw_name} was not Programmed with an address within {:?}",
                ctx.wait(Wait::GatewayProgrammed)
            ),
            "Gateway Accepted and Programmed, with an address in status.addresses",
            gateway::describe_gateway(&gw.1),
        );
        return Ok((verdict, None));
    }
    let (accepted, route) = route_decision(ctx, &routes, route_name, gw_name).await?;
    ctx.object(&format!("HTTPRoute-{route_name}-status"), &route["status"]);
    if !accepted {
        let verdict = Verdict::fail(
            format!("HTTPRoute {route_name} to the InferencePool was not accepted"),
            format!("HTTPRoute Accepted and ResolvedRefs for parent Gateway {gw_name}"),
            gateway::describe_route(&route, gw_name),
        );
        return Ok((verdict, None));
    }
    let pool_status =
        gateway::poll(&pools, pool::POOL, ctx.wait(Wait::RouteAccepted), |p| pool::pool_accepted(p, gw_name)).await?;
    ctx.object(&format!("InferencePool-{}-status", pool::POOL), &pool_status.1["status"]);
    if !pool_status.0 {
        let verdict = Verdict::fail(
            format!("InferencePool {} was not accepted by Gateway {gw_name}'s controller", pool::POOL),
            format!("an entry for Gateway {gw_name} in the pool's status.parents, Accepted"),
            pool::describe_pool(&pool_status.1, gw_name),
        );
        return Ok((verdict, None));
    }
    let addresses = gateway::gateway_addresses(&gw.1, port);
    ctx.step(format!("Gateway {gw_name} Programmed at {}; route and pool Accepted", addresses.join(", ")));
    let from_kaic = ctx.options.send_from == traffic::SendFrom::Auto;
    let mut reachable = None;
    for a in addresses.iter().filter(|_| from_kaic) {
        if http::reachable(a, Duration::from_secs(3)).await {
            reachable = Some(a.clone());
            break;
        }
    }
    let sender = match reachable {
        Some(address) => Sender::Kaic(address),
        None => {
            let why = if from_kaic {
                format!("kaic cannot reach {}", addresses.join(", "))
            } else {
                "--send-from cluster".into()
            };
            Sender::Pod { address: addresses[0].clone(), why }
        }
    };
    ctx.step(format!("sending through Gateway {gw_name}: {}", sender.describe(&names)));
    let samples = match &sender {
        Sender::Kaic(address) => match until_serving(address, &names.host, ctx.wait(Wait::RouteServing)).await {
            Ok(()) => Ok(steer(address, &names.host, members).await),
            Err(why) => Err(why),
        },
        Sender::Pod { address, .. } => {
            let script = steer_script(address, &names.host, members, ctx.wait(Wait::RouteServing).as_secs());
            let budget = ctx.wait(Wait::ProbePod) + ctx.wait(Wait::RouteServing);
            let log = traffic::run_client(ctx, &client_name(&names, "steer"), &script, budget).await?;
            let samples = parse_answers(&log);
            if samples.is_empty() {
                Err("the client pod never got 200 from the Gateway".to_string())
            } else {
                Ok(samples)
            }
        }
    };
    let samples = match samples {
        Ok(samples) => samples,
        Err(why) => {
            let verdict = Verdict::fail(
                format!("{}: the Gateway never served the route to the InferencePool", sender.describe(&names)),
                "completions answered 200 through the Gateway once the route and the pool are Accepted",
                why,
            );
            return Ok((verdict, Some(sender)));
        }
    };
    let verdict = judge(ctx, &class.name, &sender.describe(&names), members, &samples);
    Ok((verdict, Some(sender)))
}

/// Waits until the route is Accepted with its refs resolved for `gateway`, or its controller refused it (Accepted
/// or ResolvedRefs False) for [`REFUSAL_HOLDS`] in a row: a controller that does not implement InferencePool
/// backends says so at once, and kaic need not wait the whole [`Wait::RouteAccepted`] for it.
async fn route_decision(
    ctx: &CheckContext,
    routes: &Api<DynamicObject>,
    name: &str,
    gateway: &str,
) -> Result<(bool, Value), CheckError> {
    let deadline = tokio::time::Instant::now() + ctx.wait(Wait::RouteAccepted);
    let mut refused_since = None;
    loop {
        let object = routes.get(name).await.map_err(|e| CheckError::api(format!("get HTTPRoute {name}"), e))?;
        let route = serde_json::to_value(&object).unwrap_or_default();
        if gateway::route_accepted(&route, gateway) {
            return Ok((true, route));
        }
        let now = tokio::time::Instant::now();
        refused_since = if pool::route_refused(&route, gateway) { refused_since.or(Some(now)) } else { None };
        if now >= deadline || refused_since.is_some_and(|since| now - since >= REFUSAL_HOLDS) {
            return Ok((false, route));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The class's verdict from its answers (its reason does not name the class: the roll-up does).
fn judge(ctx: &CheckContext, class: &str, path: &str, members: &[Member], samples: &[Answer]) -> Verdict {
    let steered: Vec<&Answer> = samples.iter().filter(|s| matches!(s.ask, Ask::Steered(_))).collect();
    let obeyed = steered
        .iter()
        .filter(|s| s.status == 200 && s.answered_by.as_ref().is_some_and(|by| s.ask.allowed().contains(by)))
        .count();
    let mut misrouted: BTreeMap<String, u32> = BTreeMap::new();
    for s in steered.iter().filter(|s| s.status == 200) {
        if let Some(by) = s.answered_by.as_ref().filter(|by| !s.ask.allowed().contains(by)) {
            *misrouted.entry(format!("told {} → answered by {by}", s.ask.allowed().join(" or "))).or_insert(0) += 1;
        }
    }
    let mut failures: BTreeMap<u16, u32> = BTreeMap::new();
    for s in steered.iter().filter(|s| s.status != 200 || s.answered_by.is_none()) {
        *failures.entry(s.status).or_insert(0) += 1;
    }
    let mut spread: BTreeMap<String, u32> = members.iter().map(|m| (m.name.clone(), 0)).collect();
    let unsteered: Vec<&Answer> = samples.iter().filter(|s| s.ask == Ask::Free).collect();
    for s in &unsteered {
        if let (200, Some(by)) = (s.status, &s.answered_by) {
            *spread.entry(by.clone()).or_insert(0) += 1;
        }
    }
    let spread_text = format!(
        "unsteered: {} of {}",
        spread.iter().map(|(pod, n)| format!("{pod} {n}")).collect::<Vec<_>>().join(", "),
        unsteered.len()
    );
    let latencies: Vec<Duration> = samples.iter().filter(|s| s.status == 200).map(|s| s.elapsed).collect();
    let latency = stats::median(&latencies)
        .map(|d| format!("median latency through the Gateway and the picker {:.2} ms", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "no latency measured".into());
    let steered_text = format!("{obeyed} of {} steered requests answered by a pod the picker chose", steered.len());
    let scored = scored_pool::judge(samples);
    let scored_text = match &scored {
        Ok(text) => text.clone(),
        Err((what, observed)) => format!("{what}: {observed}"),
    };
    ctx.record(|e| {
        e.value(format!("{class}: steered"), steered_text.clone());
        e.value(format!("{class}: unsteered spread"), spread_text.clone());
        e.value(format!("{class}: scored pool"), scored_text.clone());
        e.value(format!("{class}: latency"), latency.clone());
    });
    if obeyed == steered.len() {
        return match scored {
            Ok(scored_text) => Verdict::pass(format!(
                "{path}: {steered_text} ({PER_MEMBER} to each of {} pods, {TO_PAIR} to two of them); \
                 {spread_text}; {scored_text}; {latency}",
                members.len()
            )),
            Err((what, observed)) => {
                Verdict::fail(format!("{path}: {steered_text}, but {what}"), scored_pool::expected(), observed)
            }
        };
    }
    let mut observed = Vec::new();
    if !misrouted.is_empty() {
        observed.push(misrouted.iter().map(|(what, n)| format!("{n}× {what}")).collect::<Vec<_>>().join("; "));
    }
    if !failures.is_empty() {
        observed.push(format!("failed: {}", stats::describe_failures(&failures)));
    }
    observed.push(format!("scored pool: {scored_text}"));
    Verdict::fail(
        format!("{path}: the gateway does not send requests where the pool's endpoint picker decides ({steered_text})"),
        format!("every request with {SELECTION_HEADER}: <pod IP> answered 200 by that pod (the picker chose it)"),
        observed.join("; "),
    )
}

/// With the picker gone, sends completions (from where the steered ones went) until [`WITHOUT_PICKER`] in a row
/// fail with 5xx, within [`Wait::RouteServing`], and judges them ([`judge_without_picker`]).
async fn without_picker(
    ctx: &CheckContext,
    names: &Names,
    sender: &Sender,
    verdict: Verdict,
) -> Result<Verdict, CheckError> {
    let serving = ctx.wait(Wait::RouteServing);
    let statuses = match sender {
        Sender::Kaic(address) => {
            let deadline = std::time::Instant::now() + serving;
            let mut statuses = Vec::new();
            while std::time::Instant::now() < deadline && refusals_at_end(&statuses) < WITHOUT_PICKER {
                statuses.push(completion(address, &names.host, None).await.status);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            statuses
        }
        Sender::Pod { address, .. } => {
            let script = without_picker_script(address, &names.host, serving.as_secs());
            let budget = ctx.wait(Wait::ProbePod) + serving;
            let log = traffic::run_client(ctx, &client_name(names, "nopicker"), &script, budget).await?;
            log.lines().filter_map(|l| l.strip_prefix("nopicker ")?.trim().parse().ok()).collect()
        }
    };
    Ok(judge_without_picker(ctx, names, &statuses, serving, verdict))
}

/// [`WITHOUT_PICKER`] answers 5xx in a row: the pool failed closed, `verdict` stands with that added. The last
/// [`WITHOUT_PICKER`] answered 200: served without the picker, fail. Neither: `verdict` stands, saying so.
fn judge_without_picker(
    ctx: &CheckContext,
    names: &Names,
    statuses: &[u16],
    serving: Duration,
    verdict: Verdict,
) -> Verdict {
    let last = statuses.last().map(|s| format!("status {s}")).unwrap_or_else(|| "no answer".into());
    if statuses.windows(WITHOUT_PICKER as usize).any(|w| w.iter().all(|s| (500..=599).contains(s))) {
        ctx.record(|e| e.value(format!("{}: without the picker", names.gateway), last.clone()));
        return Verdict::pass(format!("{}; without its picker the pool failed closed ({last})", verdict.reason));
    }
    let served = statuses.iter().rev().take_while(|s| **s == 200).count();
    if served >= WITHOUT_PICKER as usize {
        return Verdict::fail(
            format!("{}; but with its picker gone the gateway kept serving the pool", verdict.reason),
            "no request served while the pool's endpoint picker is gone (failureMode FailClose)",
            format!(
                "completions still answered 200 after {serving:?} without the picker ({served} in a row at the end)"
            ),
        );
    }
    Verdict::pass(format!(
        "{}; without its picker the gateway neither refused with 5xx nor served steadily (last: {last})",
        verdict.reason
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<Member> {
        MEMBERS.iter().enumerate().map(|(i, m)| Member { name: m.to_string(), ip: format!("10.0.0.{i}") }).collect()
    }

    fn sample(allowed: &[&str], by: &str) -> Answer {
        let ask =
            if allowed.is_empty() { Ask::Free } else { Ask::Steered(allowed.iter().map(|s| s.to_string()).collect()) };
        Answer { ask, status: 200, answered_by: Some(by.to_string()), elapsed: Duration::from_millis(2) }
    }

    fn scored(by: &str) -> Answer {
        Answer { ask: Ask::Scored, ..sample(&[], by) }
    }

    #[tokio::test]
    async fn passes_a_gateway_that_follows_the_picker() {
        let ctx = CheckContext::offline("advanced_inference_ingress", Default::default());
        let idle = scored_pool::MEMBERS[0].name;
        let samples = vec![
            sample(&[MEMBERS[0]], MEMBERS[0]),
            sample(&[MEMBERS[1]], MEMBERS[1]),
            sample(&[MEMBERS[0], MEMBERS[1]], MEMBERS[1]),
            sample(&[], MEMBERS[2]),
            scored(idle),
            scored(idle),
        ];
        let v = judge(&ctx, "inference", "10.0.0.9:80", &members(), &samples);
        assert_eq!(v.outcome, kaic_model::Outcome::Pass, "{v:?}");
        assert!(v.reason.contains("3 of 3 steered requests"), "{}", v.reason);
        assert!(v.reason.contains("pool-model-2 1"), "{}", v.reason);
        assert!(v.reason.contains("every request to the scored pool went to its idle server"), "{}", v.reason);
    }

    #[tokio::test]
    async fn fails_a_gateway_that_follows_the_steering_but_not_the_load() {
        let ctx = CheckContext::offline("advanced_inference_ingress", Default::default());
        let samples = vec![
            sample(&[MEMBERS[0]], MEMBERS[0]),
            scored(scored_pool::MEMBERS[0].name),
            scored(scored_pool::MEMBERS[1].name),
        ];
        let v = judge(&ctx, "inference", "10.0.0.9:80", &members(), &samples);
        assert_eq!(v.outcome, kaic_model::Outcome::Fail, "{v:?}");
        let text = format!("{v:?}");
        assert!(text.contains("1 of 1 steered requests answered by a pod the picker chose, but requests to the scored pool reached servers that report a full queue or KV cache"), "{text}");
        assert!(text.contains("scored-model-queue (50 requests waiting) 1"), "{text}");
    }

    #[tokio::test]
    async fn without_the_picker_5xx_is_the_refusal_and_200_a_failure() {
        let ctx = CheckContext::offline("advanced_inference_ingress", Default::default());
        let names = Names::for_class(&ctx, "inference");
        let serving = Duration::from_secs(60);
        let passed = || Verdict::pass("steered right");
        let v = judge_without_picker(&ctx, &names, &[200, 200, 500, 500, 500, 500, 500], serving, passed());
        assert_eq!(v.outcome, kaic_model::Outcome::Pass);
        assert!(v.reason.ends_with("without its picker the pool failed closed (status 500)"), "{}", v.reason);
        let v = judge_without_picker(&ctx, &names, &[500, 200, 200, 200, 200, 200], serving, passed());
        assert_eq!(v.outcome, kaic_model::Outcome::Fail, "{v:?}");
        let v = judge_without_picker(&ctx, &names, &[0, 0, 503], serving, passed());
        assert!(v.reason.contains("neither refused with 5xx nor served steadily (last: status 503)"), "{}", v.reason);
        assert_eq!(refusals_at_end(&[200, 503, 500]), 2);
    }

    #[tokio::test]
    async fn fails_a_gateway_that_ignores_the_picker() {
        let ctx = CheckContext::offline("advanced_inference_ingress", Default::default());
        let mut failed = sample(&[MEMBERS[1]], "");
        (failed.status, failed.answered_by) = (503, None);
        let samples = vec![
            sample(&[MEMBERS[0]], MEMBERS[0]),
            sample(&[MEMBERS[0]], MEMBERS[2]),
            failed,
            scored(scored_pool::MEMBERS[2].name),
        ];
        let v = judge(&ctx, "bypassed", "10.0.0.9:80", &members(), &samples);
        assert_eq!(v.outcome, kaic_model::Outcome::Fail);
        let text = format!("{v:?}");
        assert!(text.contains("1 of 3 steered requests"), "{text}");
        assert!(text.contains("1× told pool-model-0 → answered by pool-model-2"), "{text}");
        assert!(text.contains("failed:") && text.contains("503"), "{text}");
        assert!(text.contains("scored pool: requests to the scored pool reached servers"), "{text}");
    }
}
