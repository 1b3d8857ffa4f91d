//! `disaggregated_inference` end to end on testenv. kaic deploys its llm-d-shaped pair: prefill pods of llm-d's
//! vLLM simulator and decode pods of the simulator behind llm-d's routing sidecar (`pd-sidecar` of
//! llm-d-inference-scheduler v0.4.0, built from its module and run by podrun), one simulated accelerator per pod.
//! On `default` every traced request id shows in a prefill pod's and a decode pod's log, and each phase scales on
//! its own: pass. On `isolated-pods` (a pod network that carries node-to-pod but no pod-to-pod traffic) the decode
//! pod's sidecar cannot reach its prefill pod: fail, naming the refused dial.

use kaic_e2e::{cluster, run_kaic};

const ARGS: &[&str] = &["--focus", "disaggregated_inference", "--conformance-version", "1.37"];

#[test]
fn a_request_is_traced_through_both_phases_and_each_phase_scales_alone() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("disaggregated_inference");
    assert_eq!(check["outcome"], "pass", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("15 of 15 completions traced through both phases"), "{reason}");
    assert!(reason.contains("prefill scaled 1 → 2 → 1 with decode untouched"), "{reason}");
    assert!(reason.contains("decode scaled 1 → 2 with prefill untouched"), "{reason}");
    let items = check["evidence"]["items"].as_array().unwrap();
    let of_kind = |kind: &str| -> Vec<&str> {
        items.iter().filter(|i| i["kind"] == kind).filter_map(|i| i["text"].as_str()).collect()
    };
    let steps = of_kind("step");
    for batch in ["batch a: 5 of 5", "batch b: 5 of 5", "batch c: 5 of 5"] {
        assert!(steps.iter().any(|s| s.starts_with(batch) && s.contains("every id in both pods' logs")), "{steps:?}");
    }
    // The new pods hold devices of their own: four pods over the run, each named with its device.
    let holding = steps.iter().filter(|s| s.contains(" pod kaic-") && s.contains("(claim ")).count();
    assert_eq!(holding, 4, "{steps:?}");
    assert!(steps.iter().any(|s| s.contains("without a prefill pod: decoded in kaic-decode-")), "{steps:?}");
    // The pods' logs are the evidence of the trace.
    let first = format!("(req id kaic-pd-{}-a-01)", run.results()["run_id"].as_str().unwrap());
    let logs = of_kind("log");
    assert!(logs.iter().filter(|log| log.contains(&first)).count() >= 2, "{first} in a prefill and a decode log");
}

#[test]
fn a_decode_pod_that_cannot_reach_its_prefill_pod_fails() {
    let kubeconfig = cluster("isolated-pods");
    let run = run_kaic(&kubeconfig, ARGS);
    let check = run.check("disaggregated_inference");
    assert_eq!(check["outcome"], "fail", "{check:#}\nstderr:\n{}", run.stderr());
    let reason = check["reason"].as_str().unwrap();
    assert!(reason.contains("could not serve request kaic-pd-"), "{reason}");
    assert!(reason.contains("its routing sidecar said: proxy error: dial tcp 10."), "{reason}");
    assert!(check["observed"].as_str().unwrap().contains("answered 502"), "{check:#}");
}
