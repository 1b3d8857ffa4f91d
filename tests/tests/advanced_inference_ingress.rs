//! `advanced_inference_ingress` end to end on testenv. On `default` three GatewayClasses are Accepted: testenv's
//! inference gateway (`inference`: a real Envoy 1.39.1 that `kaic-testenv infgw` configures as the Inference
//! Extension's standalone Envoy is, asking the pool's endpoint picker over ext_proc), the naive gateway and
//! Traefik. kaic's steered InferencePool of three llm-d simulators with the extension's own lightweight picker
//! (lwepp v1.6.0, built from its module) is routed by the inference class exactly where the picker was told
//! (every steered request), and fails closed once the picker is gone; its scored pool, whose full endpoint
//! picker (`cmd/epp` v1.5.0, built from its module) scrapes one idle simulator, one with 50 requests waiting and
//! one with its KV cache 99 % used, gets every request on the idle one: the check passes naming it, and reports
//! Traefik refusing the InferencePool backend (InvalidKind) and the naive gateway never accepting the pool. On
//! `epp-bypassed` the inference gateway writes every status but sends pool traffic round robin without asking
//! the picker: the check fails naming the misrouted requests, and the scored pool's requests on full servers.
//! On `epp-streamed-only` the gateway asks every picker in lwepp's ext_proc body mode only: the steering passes,
//! every request to the scored pool fails. On `isolated-pods` (no pod reaches another) the full picker never
//! reads its pool's load: the check fails saying so. On `naive-gateway` (the Gateway API without the
//! InferencePool API) it is unknown, naming what to install. With `--send-from cluster` curl client pods send the same requests (steered, scored, then without
//! the picker) to the same verdict.

use kaic_e2e::{cluster, run_kaic};

const ARGS: &[&str] = &["--focus", "advanced_inference_ingress", "--conformance-version", "1.37"];
/// Every request to the scored pool on its idle server, none on the two full ones.
const SCORED_ALL_IDLE: &str = "every request to the scored pool went to its idle server (scored-model-idle (idle) 30, \
                               scored-model-kv (KV cache 99 % used) 0, scored-model-queue (50 requests waiting) 0 of 30; median ";

#[test]
fn envoy_sends_each_request_where_the_endpoint_picker_decides() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("advanced_inference_ingress");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "the gateway routes to an InferencePool where its endpoint picker decides — GatewayClass inference: \
             controller kaic.dev/inference-gateway, direct from kaic to 10."
        ),
        "{reason}"
    );
    assert!(reason.contains(": 50 of 50 steered requests answered by a pod the picker chose"), "{reason}");
    assert!(reason.contains("unsteered: pool-model-0 "), "{reason}");
    assert!(reason.contains(SCORED_ALL_IDLE), "{reason}");
    assert!(reason.contains("without its picker the pool failed closed (status 500)"), "{reason}");
    let steps = run.file("e2e.log");
    assert!(
        steps.contains(
            "its picker kaic-scoring-picker reports queue sizes: scored-model-idle 0, scored-model-kv 0, \
             scored-model-queue 50"
        ),
        "{steps}"
    );
    assert!(
        reason.contains("GatewayClass traefik failed: controller traefik.io/gateway-controller, HTTPRoute"),
        "{reason}"
    );
    assert!(reason.contains("GatewayClass naive failed: "), "{reason}");
    let evidence = check["evidence"].to_string();
    assert!(evidence.contains("InvalidKind"), "Traefik's refusal of the InferencePool backend: {evidence}");
}

#[test]
fn a_gateway_that_bypasses_the_picker_fails_with_the_misrouted_requests() {
    let kubeconfig = cluster("epp-bypassed");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("advanced_inference_ingress");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("the gateway does not send requests where the pool's endpoint picker decides"), "{reason}");
    let observed = check["observed"].as_str().unwrap();
    assert!(observed.contains("told pool-model-0 → answered by pool-model-1"), "{observed}");
    assert!(
        observed
            .contains("scored pool: requests to the scored pool reached servers that report a full queue or KV cache"),
        "{observed}"
    );
    let expected = check["expected"].as_str().unwrap();
    assert!(expected.contains("test-epp-endpoint-selection: <pod IP> answered 200 by that pod"), "{expected}");
}

#[test]
fn a_gateway_that_speaks_only_the_lightweight_pickers_protocol_fails_on_the_scored_pool() {
    let kubeconfig = cluster("epp-streamed-only");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("advanced_inference_ingress");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "50 of 50 steered requests answered by a pod the picker chose, but 30 of 30 requests to the scored pool failed"
        ),
        "{reason}"
    );
    let observed = check["observed"].as_str().unwrap();
    assert!(observed.contains("scored-model-idle (idle) 0") && observed.contains("failed: 500 x30"), "{observed}");
}

#[test]
fn a_picker_that_cannot_read_its_pools_load_fails() {
    let kubeconfig = cluster("isolated-pods");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("advanced_inference_ingress");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "the scored pool's endpoint picker kaic-scoring-picker never reported its model servers' load within 60s"
        ),
        "{reason}"
    );
    assert!(reason.contains("last: queue sizes: "), "the picker answered, without the load: {reason}");
    let observed = check["observed"].as_str().unwrap();
    assert!(observed.starts_with("its log says: failed to fetch data from "), "{observed}");
}

#[test]
fn no_inference_pool_api_is_unknown_with_what_to_install() {
    let kubeconfig = cluster("naive-gateway");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("advanced_inference_ingress");
    assert_eq!(check["outcome"], "unknown", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("the InferencePool API is not served; install the Gateway API Inference Extension's CRDs"),
        "{reason}"
    );
}

#[test]
fn from_client_pods_in_the_cluster_the_verdict_is_the_same() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, &[ARGS, &["--send-from", "cluster"]].concat());
    let check = run.check("advanced_inference_ingress");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "GatewayClass inference: controller kaic.dev/inference-gateway, from client pod kaic-steer-inference to 10."
        ),
        "{reason}"
    );
    assert!(reason.contains(":80 (--send-from cluster): 50 of 50 steered requests"), "{reason}");
    assert!(reason.contains(SCORED_ALL_IDLE), "{reason}");
    assert!(reason.contains("without its picker the pool failed closed (status 500)"), "{reason}");
    let evidence = check["evidence"].to_string();
    assert!(evidence.contains("kaic-nopicker-inference"), "the second client pod's log: {evidence}");
}
