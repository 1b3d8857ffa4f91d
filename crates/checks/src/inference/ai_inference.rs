//! `ai_inference`: the platform's Gateway API routes inference traffic by weight and by an OpenAI-style header.
//!
//! kaic finds the GatewayClasses a controller Accepted and exercises each of them (at most [`gateway::MAX_CLASSES`],
//! by name; the others are named): one that routes right meets the requirement, the others are reported beside
//! it (the one roll-up, [`kaic_model::solutions::roll_up`]). In its namespace it runs two model servers (llm-d's
//! vLLM simulator, each naming its pod in the `x-inference-pod` response header) behind a Service each, and per
//! class a Gateway and an HTTPRoute: requests with `x-model-variant: canary` go to the canary only, all others
//! split 80/20 between stable and canary. Once the Gateway is Programmed with an address and the route Accepted
//! with its refs resolved, kaic sends 200 completions without the header, 50 with it and 20 with its value in
//! other case (`CANARY`, which must not match: header values are case-sensitive) through the Gateway's address
//! (directly when kaic reaches it, else from a client pod whose log it reads), and 50 straight to the stable pod
//! as the latency baseline.
//!
//! A class passes when the canary's share of the 200 lies in the exact 99.9 % binomial interval of 20 % (the
//! interval is in the reason), no request failed, every header request reached the canary, and the other-case
//! requests did not all reach it (at least one went to stable, as the weighted rule sends 80 %). The gateway's
//! added latency (median through the Gateway minus median direct) is recorded, not judged. A failing class names
//! expected and observed: the split and interval, the header requests that went elsewhere, failed requests by
//! status, or the condition of a Gateway or route the controller did not accept. A Gateway whose statuses are
//! all right but that never answers within its serving wait (minutes where a load balancer serves its address:
//! [`address`]) is unknown with the remedies, and no judged request is sent to it. One class's API error or
//! timeout is that class's error, never the others' verdict. The requirement has no condition: without the
//! Gateway API or an Accepted GatewayClass the verdict is unknown, naming what to install.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, Service};
use kaic_model::Verdict;
use kaic_model::solutions::{self, SolutionResult, Subject};
use kube::api::{Api, DynamicObject, PostParams};

use super::address;
use super::gateway::{self, CANARY, Class, HEADER, MODEL_PORT, Names, STABLE};
use super::http;
use super::stats::{self, Split};
use super::traffic::{self, Batch, Sample};
use crate::capability::Capability;
use crate::check::{Check, CheckContext, CheckError, create_dynamic, from_json};
use crate::timeouts::Wait;
use crate::wait;

pub struct AiInference;

const INSTALL: &str = "install a Gateway API implementation whose controller accepts a GatewayClass (e.g. Envoy \
                       Gateway, Istio, kgateway, Traefik, NGINX Gateway Fabric, a cloud provider's) and rerun";

const SUBJECT: Subject<'static> =
    Subject { works: "the Gateway API routes inference traffic", kinds: "Gateway API implementations" };

#[async_trait::async_trait]
impl Check for AiInference {
    fn id(&self) -> &'static str {
        "ai_inference"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["ai_inference"]
    }

    /// The waits below, plus each class's client pod sending its judged batches ([`traffic::JUDGED_ALLOWANCE`]).
    fn timeout(&self) -> Duration {
        Duration::from_secs(3720)
    }

    /// The model servers once, then per class (at most [`gateway::MAX_CLASSES`]) its Gateway, route, traffic and
    /// client.
    fn waits(&self) -> &'static [(Wait, u32)] {
        &[
            (Wait::ModelServerReady, 1),
            (Wait::GatewayProgrammed, 3),
            (Wait::RouteAccepted, 3),
            (Wait::LoadBalancerServing, 3),
            (Wait::ProbePod, 3),
        ]
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "two model-server pods (llm-d-inference-sim) with a Service each",
            "for each Accepted GatewayClass (at most 3): a Gateway and an HTTPRoute: header x-model-variant: canary to the canary, all other requests 80/20 stable/canary",
            "when kaic cannot reach a Gateway's address: a client pod (curl) that sends the requests and prints one line per response",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        if !ctx.capabilities.has(Capability::GatewayApi) {
            return Ok(Verdict::unknown(format!(
                "the Gateway API (gateway.networking.k8s.io/v1) is not served: no Gateway or HTTPRoute can route \
                 inference traffic; {INSTALL}"
            )));
        }
        let classes = gateway::accepted_classes(ctx).await?;
        if classes.exercised.is_empty() {
            return Ok(Verdict::unknown(format!(
                "the Gateway API CRDs are installed but no controller accepted a GatewayClass ({}); {INSTALL}",
                classes.described
            )));
        }

        let stable_ip = match deploy_backends(ctx).await? {
            Ok(ip) => ip,
            Err(verdict) => return Ok(verdict),
        };
        let mut results = Vec::new();
        for class in &classes.exercised {
            // One class's API failure or timeout is that class's error, never the others' verdict.
            let mut verdict =
                exercise(ctx, class, stable_ip.as_deref()).await.unwrap_or_else(|e| Verdict::error(e.to_string()));
            verdict.reason = format!("controller {}, {}", class.controller, verdict.reason);
            let result = SolutionResult::from_verdict(format!("GatewayClass {}", class.name), &verdict);
            ctx.step(result.line());
            ctx.record(|e| e.solution(result.clone()));
            results.push(result);
        }
        Ok(solutions::roll_up(SUBJECT, &results, &classes.unexercised))
    }
}

/// Creates the two model servers and their Services, and waits until they are Ready. Returns the stable pod's
/// IP (the latency baseline), or the verdict when they cannot run.
async fn deploy_backends(ctx: &CheckContext) -> Result<Result<Option<String>, Verdict>, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    for name in [STABLE, CANARY] {
        let pod: Pod = from_json(gateway::model_pod(ctx, name))?;
        pods.create(&PostParams::default(), &pod)
            .await
            .map_err(|e| CheckError::api(format!("create pod {name}"), e))?;
        let service: Service = from_json(gateway::model_service(ctx, name))?;
        services
            .create(&PostParams::default(), &service)
            .await
            .map_err(|e| CheckError::api(format!("create Service {name}"), e))?;
    }
    let mut stable_ip = None;
    for name in [STABLE, CANARY] {
        let ready = wait::until(
            &pods,
            name,
            "model server Ready",
            ctx.wait(Wait::ModelServerReady),
            wait::pod_ready,
            wait::describe_pod,
        )
        .await;
        match ready {
            Ok(ready) if name == STABLE => stable_ip = ready.status.and_then(|s| s.pod_ip),
            Ok(_) => {}
            Err(e) => return Ok(Err(Verdict::error(format!("the model servers could not run: {e}")))),
        }
    }
    ctx.step(format!("model servers {STABLE} and {CANARY} Ready behind their Services"));
    Ok(Ok(stable_ip))
}

/// Creates the Gateway and the route for `class`, sends the traffic and judges it: the class's verdict, its
/// reason without the class's name (the roll-up names it).
async fn exercise(ctx: &CheckContext, class: &Class, stable_ip: Option<&str>) -> Result<Verdict, CheckError> {
    let names = Names::for_class(ctx, &class.name);
    let port = gateway::listener_port(&class.controller);
    let gateways: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &gateway::resource("Gateway", "gateways"));
    let routes: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &gateway::resource("HTTPRoute", "httproutes"));
    create_dynamic(ctx, &gateways, gateway::gateway_manifest(ctx, &names, &class.name, port)).await?;
    create_dynamic(ctx, &routes, gateway::route_manifest(ctx, &names)).await?;
    let (gw_name, route_name) = (names.gateway.as_str(), names.route.as_str());
    ctx.step(format!("created Gateway {gw_name} (class {}, listener port {port}), HTTPRoute {route_name}", class.name));

    let gw = gateway::poll(&gateways, gw_name, ctx.wait(Wait::GatewayProgrammed), |g| {
        gateway::is_true(&g["status"]["conditions"], "Programmed") && !gateway::gateway_addresses(g, port).is_empty()
    })
    .await?;
    ctx.object(&format!("Gateway-{gw_name}-status"), &gw.1["status"]);
    if !gw.0 {
        return Ok(Verdict::fail(
            format!(
                "Gateway {gw_name} was not Programmed with an address within {:?}",
                ctx.wait(Wait::GatewayProgrammed)
            ),
            "Gateway Accepted and Programmed, with an address in status.addresses",
            gateway::describe_gateway(&gw.1),
        ));
    }
    let route =
        gateway::poll(&routes, route_name, ctx.wait(Wait::RouteAccepted), |r| gateway::route_accepted(r, gw_name))
            .await?;
    ctx.object(&format!("HTTPRoute-{route_name}-status"), &route.1["status"]);
    if !route.0 {
        return Ok(Verdict::fail(
            format!("HTTPRoute {route_name} was not accepted within {:?}", ctx.wait(Wait::RouteAccepted)),
            format!("HTTPRoute Accepted and ResolvedRefs for parent Gateway {gw_name}"),
            gateway::describe_route(&route.1, gw_name),
        ));
    }
    let addresses = gateway::gateway_addresses(&gw.1, port);
    ctx.step(format!("Gateway {gw_name} Programmed; addresses: {}; route Accepted", addresses.join(", ")));
    let stable_addr = stable_ip
        .map(|ip| if ip.contains(':') { format!("[{ip}]:{MODEL_PORT}") } else { format!("{ip}:{MODEL_PORT}") });

    let (samples, path) = send(ctx, &names, &addresses, stable_addr.as_deref()).await?;
    let samples = match samples {
        Ok(samples) => samples,
        // The Gateway is Programmed and the route Accepted with its refs resolved: no status shows a routing
        // error, so a gateway that never answers is most often infrastructure kaic cannot see (a load balancer
        // still registering targets or failing its health checks, a firewall between kaic and the address).
        Err(why) => return Ok(never_served(&path, &why)),
    };
    Ok(judge(ctx, &class.name, &path, &samples))
}

/// Sends the batches directly when kaic reaches one of the Gateway's addresses, else from a client pod. Each
/// address is first resolved to what serves it ([`address`]: a LoadBalancer Service's port and a load balancer's
/// wait). Returns the samples (or why the Gateway never served) and the path taken, in words.
async fn send(
    ctx: &CheckContext,
    names: &Names,
    addresses: &[String],
    stable: Option<&str>,
) -> Result<(Result<Vec<Sample>, String>, String), CheckError> {
    let targets = address::resolve_all(ctx, addresses).await?;
    for target in targets.iter().filter(|t| t.serving == Wait::LoadBalancerServing) {
        ctx.step(format!(
            "address {} of Gateway {}: {}; waiting up to {}s for it to serve ({})",
            target.address,
            names.gateway,
            target.described,
            ctx.wait(target.serving).as_secs(),
            target.serving
        ));
    }
    let from_kaic = ctx.options.send_from == traffic::SendFrom::Auto;
    for target in targets.iter().filter(|_| from_kaic) {
        if http::reachable(&target.address, Duration::from_secs(3)).await {
            let baseline = match stable {
                Some(s) if http::reachable(s, Duration::from_secs(2)).await => Some(s),
                _ => None,
            };
            let path = format!("direct from kaic to {}", target.address);
            ctx.step(format!("sending through Gateway {}: {path}", names.gateway));
            let serving = ctx.wait(target.serving);
            return Ok((traffic::direct(&target.address, &names.host, baseline, serving).await, path));
        }
    }
    let target = &targets[0];
    let client = format!("kaic-client-{}", names.gateway.trim_start_matches("kaic-gateway-"));
    let why =
        if from_kaic { format!("kaic cannot reach {}", addresses.join(", ")) } else { "--send-from cluster".into() };
    let path = format!("from client pod {client} to {} ({why})", target.address);
    ctx.step(format!("sending through Gateway {}: {path}", names.gateway));
    let serving = ctx.wait(target.serving);
    let script =
        traffic::client_script(&target.address, &names.host, stable.unwrap_or(&target.address), serving.as_secs());
    let budget = traffic::client_budget(ctx.wait(Wait::ProbePod), serving);
    let log = traffic::run_client(ctx, &client, &script, budget).await?;
    if let Some(line) = log.lines().find(|l| l.starts_with(traffic::UNSERVED)) {
        let last = line.trim_start_matches(traffic::UNSERVED).trim();
        return Ok((
            Err(format!(
                "the client pod never got {} answers 200 in a row from the Gateway within {}s (last status {last}); no \
                 judged request was sent",
                traffic::CONSECUTIVE_OK,
                serving.as_secs()
            )),
            path,
        ));
    }
    let samples = traffic::parse_client_log(&log);
    if samples.iter().all(|s| s.batch == Batch::Direct) {
        return Ok((Err("the client pod never got a 200 from the Gateway".into()), path));
    }
    Ok((Ok(samples), path))
}

/// The verdict when a Gateway whose statuses are all right never answered 200: unknown with the remedies, never a
/// failure of routing that kaic did not see.
fn never_served(path: &str, why: &str) -> Verdict {
    Verdict::unknown(format!(
        "the Gateway never served the route ({path}) although it is Programmed and the route Accepted with its refs \
         resolved: {why}. Where a cloud load balancer fronts it, check that its health checks pass (GKE \
         health-checks / unless a HealthCheckPolicy says otherwise) and that its firewall admits kaic, raise \
         --wait load-balancer-serving=SECONDS, or send from inside the cluster with --send-from cluster"
    ))
}

/// The verdict of class `class` from the samples (its reason does not name the class: the roll-up does).
fn judge(ctx: &CheckContext, class: &str, path: &str, samples: &[Sample]) -> Verdict {
    let (by_backend, failures) = traffic::tally(samples, Batch::Split);
    let split = Split {
        minor: CANARY.into(),
        major: STABLE.into(),
        weight: f64::from(gateway::CANARY_WEIGHT) / f64::from(gateway::CANARY_WEIGHT + gateway::STABLE_WEIGHT),
        by_backend,
        failures,
    };
    let split_judgement = stats::judge_split(&split);
    let (header_by, header_failures) = traffic::tally(samples, Batch::Header);
    let (header_ok, header_text) = stats::judge_header(CANARY, &header_by, &header_failures);
    let (case_by, case_failures) = traffic::tally(samples, Batch::WrongCase);
    let (case_ok, case_text) = stats::judge_other_case(CANARY, STABLE, &case_by, &case_failures);
    let latency = latency_text(samples);
    ctx.record(|e| {
        e.value(format!("{class}: split"), split_judgement.text.clone());
        e.value(
            format!("{class}: binomial-interval"),
            format!("{}..={} of {}", split_judgement.interval.0, split_judgement.interval.1, split_judgement.n),
        );
        e.value(format!("{class}: header"), header_text.clone());
        e.value(format!("{class}: header-other-case"), case_text.clone());
        e.value(format!("{class}: latency"), latency.clone());
        e.value(format!("{class}: path"), path.to_string());
    });
    let header = format!("{}: {}", HEADER.0, HEADER.1);
    let other_case = format!("{}: {}", HEADER.0, traffic::WRONG_CASE_VALUE);
    if split_judgement.passed && header_ok && case_ok {
        return Verdict::pass(format!(
            "{path}: weighted rule {}; header {header}: {header_text}; {other_case} (values are case-sensitive): \
             {case_text}; {latency}",
            split_judgement.text
        ));
    }
    let mut expected = Vec::new();
    let mut observed = Vec::new();
    if !split_judgement.passed {
        let (lo, hi) = split_judgement.interval;
        expected.push(format!(
            "without the header: {}/{} {STABLE}/{CANARY}, {lo}–{hi} of {} to {CANARY} ({:.1} % binomial interval), no failures",
            gateway::STABLE_WEIGHT,
            gateway::CANARY_WEIGHT,
            split_judgement.n,
            100.0 * stats::CONFIDENCE
        ));
        observed.push(format!("without the header: {}", split_judgement.text));
    }
    if !header_ok {
        expected.push(format!("with {header}: every request to {CANARY}"));
        observed.push(format!("with {header}: {header_text}"));
    }
    if !case_ok {
        expected.push(format!("with {other_case}: the weighted rule (header values match case-sensitively)"));
        observed.push(format!("with {other_case}: {case_text}"));
    }
    Verdict::fail(
        format!("{path}: the Gateway does not route as the HTTPRoute says"),
        expected.join("; "),
        observed.join("; "),
    )
}

/// The latency the gateway adds, in words: medians through the Gateway and direct, and their difference.
fn latency_text(samples: &[Sample]) -> String {
    let mut through = traffic::latencies(samples, Batch::Split);
    through.extend(traffic::latencies(samples, Batch::Header));
    let direct = traffic::latencies(samples, Batch::Direct);
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    match (stats::median(&through), stats::median(&direct)) {
        (Some(t), Some(d)) => format!(
            "latency added by the gateway: {} (median {} through the Gateway, {} straight to {STABLE})",
            if t >= d { ms(t - d) } else { format!("-{}", ms(d - t)) },
            ms(t),
            ms(d)
        ),
        (Some(t), None) => {
            format!("median latency through the Gateway {} ({STABLE}'s pod not reachable for a baseline)", ms(t))
        }
        _ => "no latency measured".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(canary: u32, stable: u32, header_canary: u32, header_stable: u32) -> Vec<Sample> {
        let s = |batch, backend: &str| Sample {
            batch,
            status: 200,
            backend: Some(backend.to_string()),
            elapsed: Duration::from_millis(if batch == Batch::Direct { 2 } else { 3 }),
        };
        let mut all = Vec::new();
        all.extend((0..canary).map(|_| s(Batch::Split, CANARY)));
        all.extend((0..stable).map(|_| s(Batch::Split, STABLE)));
        all.extend((0..header_canary).map(|_| s(Batch::Header, CANARY)));
        all.extend((0..header_stable).map(|_| s(Batch::Header, STABLE)));
        all.extend((0..16).map(|_| s(Batch::WrongCase, STABLE)));
        all.extend((0..4).map(|_| s(Batch::WrongCase, CANARY)));
        all.extend((0..10).map(|_| s(Batch::Direct, STABLE)));
        all
    }

    #[tokio::test]
    async fn passes_a_correct_gateway_with_the_interval_in_the_reason() {
        let ctx = CheckContext::offline("ai_inference", Default::default());
        let v = judge(&ctx, "t", "direct", &samples(38, 162, 50, 0));
        assert_eq!(v.outcome, kaic_model::Outcome::Pass, "{v:?}");
        assert!(v.reason.contains("binomial interval"), "{}", v.reason);
        assert!(v.reason.contains("latency added by the gateway: 1.00 ms"), "{}", v.reason);
    }

    #[tokio::test]
    async fn fails_a_gateway_that_ignores_weights_and_headers() {
        let ctx = CheckContext::offline("ai_inference", Default::default());
        let v = judge(&ctx, "naive", "direct", &samples(200, 0, 50, 0));
        assert_eq!(v.outcome, kaic_model::Outcome::Fail);
        let text = format!("{v:?}");
        assert!(text.contains("200 of 200 to model-canary (100.0 %)"), "{text}");
        let v = judge(&ctx, "naive", "direct", &samples(0, 200, 0, 50));
        let text = format!("{v:?}");
        assert!(text.contains("every request to model-canary") && text.contains("0 of 50 to model-canary"), "{text}");
    }
}
