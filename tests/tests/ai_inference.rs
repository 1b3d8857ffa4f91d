//! `ai_inference` end to end on testenv: on `default` three GatewayClasses are Accepted, Traefik v3.6.12's
//! (`traefik`), the naive gateway's (`naive`) and testenv's Envoy-based inference gateway (`inference`); all are
//! exercised, Traefik routes kaic's 200 completions 80/20 between two llm-d simulators within the binomial
//! interval and every request with
//! `x-model-variant: canary` to the canary (and those with `CANARY` by weight), so the check passes with the
//! interval and the gateway's added latency in its reason, and reports the naive class failing beside it (one
//! working implementation meets the requirement); on `naive-gateway`, where the naive gateway is the only one,
//! the check fails naming the expected and the observed split; with `--send-from cluster` the requests go from a
//! client pod (curl) whose log kaic reads, to the same verdict; on `fake-sandbox` (no Gateway API) the check is
//! unknown and says what to install, never not applicable.

use kaic_e2e::{cluster, run_kaic};

const ARGS: &[&str] = &["--focus", "ai_inference", "--conformance-version", "1.37"];

#[test]
fn traefik_splits_80_20_and_routes_the_header_exactly() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("ai_inference");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    // testenv's inference gateway (Envoy, class `inference`, first by name) routes Service backends too; Traefik
    // must pass either way.
    assert!(reason.starts_with("the Gateway API routes inference traffic — GatewayClass "), "{reason}");
    assert!(
        reason.contains("GatewayClass traefik: controller traefik.io/gateway-controller, direct from kaic to 10."),
        "{reason}"
    );
    // The naive class fails beside it (how exactly is the `naive-gateway` test's business: with several routes
    // of concurrent runs it sends everything to the oldest one's first backend).
    assert!(reason.contains("(also: GatewayClass naive failed: controller kaic.dev/naive-gateway, "), "{reason}");
    assert!(reason.contains(" of 200 to model-canary ("), "{reason}");
    assert!(reason.contains("80/20 expects "), "{reason}");
    assert!(reason.contains("99.9 % binomial interval"), "{reason}");
    assert!(reason.contains("header x-model-variant: canary: 50 of 50 to model-canary"), "{reason}");
    assert!(reason.contains("x-model-variant: CANARY (values are case-sensitive): "), "{reason}");
    assert!(reason.contains("latency added by the gateway: "), "{reason}");
}

#[test]
fn a_gateway_that_ignores_weights_and_headers_fails_with_the_split() {
    let kubeconfig = cluster("naive-gateway");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("ai_inference");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("GatewayClass naive: controller kaic.dev/naive-gateway, direct from kaic to 10."),
        "{reason}"
    );
    assert!(reason.ends_with("the Gateway does not route as the HTTPRoute says"), "{reason}");
    let expected = check["expected"].as_str().unwrap();
    assert!(expected.contains("without the header: 80/20 model-stable/model-canary"), "{expected}");
    assert!(expected.contains("99.9 % binomial interval"), "{expected}");
    // The naive gateway sends everything to the first backendRef of the first rule: the header rule's canary.
    let observed = check["observed"].as_str().unwrap();
    assert!(observed.contains("200 of 200 to model-canary (100.0 %)"), "{observed}");
    assert!(observed.contains("the split is outside the interval"), "{observed}");
}

#[test]
fn no_gateway_api_is_unknown_with_what_to_install() {
    let kubeconfig = cluster("fake-sandbox");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("ai_inference");
    assert_eq!(check["outcome"], "unknown", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.starts_with("the Gateway API (gateway.networking.k8s.io/v1) is not served"), "{reason}");
    assert!(reason.contains("install a Gateway API implementation"), "{reason}");
}

#[test]
fn from_a_client_pod_in_the_cluster_the_verdict_is_the_same() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, &[ARGS, &["--send-from", "cluster"]].concat());
    let check = run.check("ai_inference");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    // testenv serves curl's image with the host's shell and curl in the pod's network namespace.
    assert!(
        reason.contains(
            "GatewayClass traefik: controller traefik.io/gateway-controller, from client pod kaic-client-traefik to 10."
        ),
        "{reason}"
    );
    assert!(reason.contains(":8000 (--send-from cluster): weighted rule "), "{reason}");
    assert!(reason.contains("latency added by the gateway: "), "{reason}");
    let evidence = check["evidence"].to_string();
    assert!(evidence.contains("kaic-client-traefik"), "the client pod's log is in the evidence: {evidence}");
}
