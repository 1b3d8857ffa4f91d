//! Every Kubernetes API call kaic makes, read from the code of this crate, as (group, resource, verb,
//! where). The unit tests hold [`super::PERMISSIONS`] to it both ways: every call is granted, and every
//! granted verb is used by a call. A source scan catches the common ways to add a call without adding it
//! here: a typed `Api<Kind>` of a new kind, or a method needing a verb no call uses yet (`.patch(`).
//!
//! Not listed: discovery (`/api`, `/apis`) and `/version`, which are not resources ([`super::NON_RESOURCE_URLS`]).
//! `wait::until` (`await_condition`) lists and watches the object and reads it once more on timeout; a
//! kube-runtime `watcher` lists and watches.

/// (group, resource, verb, where: file and purpose).
pub const CALLS: &[(&str, &str, &str, &str)] = &[
    ("", "namespaces", "create", "runner.rs: the check's namespace"),
    ("", "namespaces", "delete", "runner.rs: the check's namespace; cleanup.rs: by label"),
    ("", "namespaces", "list", "preflight.rs: leftovers of earlier runs; cleanup.rs: by label; runner.rs"),
    ("", "namespaces", "get", "gang_scheduling/kueue.rs: the namespace's labels against a ClusterQueue's selector"),
    (
        "",
        "nodes",
        "list",
        "accelerators/inventory.rs, gang_scheduling/pod_group.rs, kueue.rs: capacity; workload_sandboxing.rs",
    ),
    (
        "",
        "pods",
        "create",
        "probe.rs, dra_allocation.rs, gang_scheduling/mod.rs (blockers), pod_group.rs; ai_inference.rs",
    ),
    ("", "pods", "get", "security/secure_accelerator_access.rs: the holder's claim; wait.rs on timeout"),
    ("", "pods", "list", "inventory.rs, gang_scheduling/*.rs (all namespaces); observe.rs; robust_controller.rs"),
    ("", "pods", "watch", "wait.rs (probe and DRA pods running); gang_scheduling/observe.rs (bound, gone)"),
    (
        "",
        "pods",
        "delete",
        "dra_allocation.rs (release the claim), pod_group.rs (free the blocker's CPU), advanced_inference_ingress.rs (the picker)",
    ),
    (
        "",
        "pods",
        "deletecollection",
        "gang_scheduling/kueue_case.rs, pod_group.rs: blockers and bare gangs; runner.rs: an accelerator check's",
    ),
    ("", "pods/log", "get", "accelerators/probe.rs; workload_sandboxing.rs; ai_inference.rs (client pod)"),
    (
        "",
        "pods/proxy",
        "get",
        "observability/exporters.rs: exporters' /metrics; ai_service_metrics.rs: the server's own; scored_pool.rs: the picker's",
    ),
    ("", "pods/proxy", "create", "inference/disaggregated_inference.rs: completions (POST) to its decode pods"),
    (
        "",
        "services",
        "list",
        "observability/prometheus.rs: the monitoring system's query API; inference/address.rs: the LoadBalancer Service behind a Gateway's address",
    ),
    (
        "",
        "services",
        "create",
        "observability/ai_service_metrics.rs; inference/ai_inference.rs: model servers' Services",
    ),
    ("", "services/proxy", "get", "observability/prometheus.rs: queries; endpoint.rs: --accelerator-metrics-url"),
    ("", "services/proxy", "create", "observability/model_server.rs: completions (POST) to the model server"),
    (
        "apps",
        "deployments",
        "create",
        "autoscaling/pod_autoscaling.rs (the model servers the HPA scales), disaggregated_inference.rs (the phases)",
    ),
    ("apps", "deployments/scale", "patch", "inference/disaggregated_inference.rs: each phase scaled on its own"),
    (
        "networking.k8s.io",
        "networkpolicies",
        "list",
        "inference/mod.rs: policies in the namespace (disaggregated_inference, the scored pool)",
    ),
    ("autoscaling", "horizontalpodautoscalers", "create", "autoscaling/pod_autoscaling.rs"),
    ("autoscaling", "horizontalpodautoscalers", "get", "autoscaling/pod_autoscaling.rs: conditions, metrics, replicas"),
    ("apiregistration.k8s.io", "apiservices", "list", "autoscaling/pod_autoscaling.rs: the metrics APIs"),
    ("batch", "jobs", "create", "gang_scheduling/mod.rs: gangs"),
    ("batch", "jobs", "list", "gang_scheduling/mod.rs: wait_complete (wait.rs)"),
    ("batch", "jobs", "watch", "gang_scheduling/mod.rs: wait_complete (wait.rs)"),
    ("batch", "jobs", "get", "gang_scheduling/kueue_case.rs: the Job's state for the report; wait.rs on timeout"),
    ("batch", "jobs", "delete", "gang_scheduling/kueue_case.rs (the quota blocker), pod_group.rs (a gang)"),
    ("node.k8s.io", "runtimeclasses", "list", "security/workload_sandboxing.rs: the sandbox runtimes"),
    ("", "events", "list", "autoscaling/cluster_autoscaling.rs: the autoscaler's events on kaic's pods"),
    (
        "",
        "configmaps",
        "get",
        "autoscaling/cluster_autoscaling.rs: kube-system/cluster-autoscaler-status; \
         gang_scheduling/kueue_overcommit.rs: kueue-system/kueue-manager-config",
    ),
    ("authorization.k8s.io", "selfsubjectaccessreviews", "create", "preflight.rs"),
    ("resource.k8s.io", "deviceclasses", "create", "dra_support.rs (round trip), probe.rs (kaic's class per driver)"),
    ("resource.k8s.io", "deviceclasses", "get", "dra_support.rs: round trip"),
    ("resource.k8s.io", "deviceclasses", "update", "dra_support.rs: round trip"),
    ("resource.k8s.io", "deviceclasses", "delete", "dra_support.rs, dra_allocation.rs; cleanup.rs"),
    ("resource.k8s.io", "deviceclasses", "list", "dra_allocation.rs, secure_accelerator_access.rs; cleanup.rs"),
    ("resource.k8s.io", "resourceslices", "create", "dra_support.rs: round trip"),
    ("resource.k8s.io", "resourceslices", "get", "dra_support.rs: round trip"),
    ("resource.k8s.io", "resourceslices", "update", "dra_support.rs: round trip"),
    ("resource.k8s.io", "resourceslices", "delete", "dra_support.rs; cleanup.rs"),
    ("resource.k8s.io", "resourceslices", "list", "dra_allocation.rs, inventory.rs: published devices; cleanup.rs"),
    ("resource.k8s.io", "resourceclaims", "create", "dra_support.rs: round trip; gpu_sharing.rs: shared claim"),
    ("resource.k8s.io", "resourceclaims", "get", "dra_allocation.rs, secure_accelerator_access.rs: the allocation"),
    ("resource.k8s.io", "resourceclaims", "update", "dra_support.rs: round trip"),
    ("resource.k8s.io", "resourceclaims", "delete", "dra_support.rs: round trip"),
    ("resource.k8s.io", "resourceclaims", "list", "dra_allocation.rs, inventory.rs (all namespaces); wait.rs"),
    ("resource.k8s.io", "resourceclaims", "watch", "dra_allocation.rs: the claim released after its pod (wait.rs)"),
    (
        "resource.k8s.io",
        "resourceclaimtemplates",
        "create",
        "dra_support.rs: round trip; probe.rs (probe pods' claims)",
    ),
    ("resource.k8s.io", "resourceclaimtemplates", "get", "dra_support.rs: round trip"),
    ("resource.k8s.io", "resourceclaimtemplates", "update", "dra_support.rs: round trip"),
    ("resource.k8s.io", "resourceclaimtemplates", "delete", "dra_support.rs: round trip"),
    ("scheduling.k8s.io", "workloads", "create", "gang_scheduling/native.rs"),
    ("scheduling.k8s.io", "podgroups", "create", "gang_scheduling/native.rs"),
    ("scheduling.k8s.io", "podgroups", "get", "gang_scheduling/native.rs: its status for the report"),
    ("kueue.x-k8s.io", "clusterqueues", "list", "gang_scheduling/kueue.rs: platform queues"),
    ("kueue.x-k8s.io", "clusterqueues", "get", "gang_scheduling/kueue.rs: the chosen queue; wait.rs on timeout"),
    ("kueue.x-k8s.io", "clusterqueues", "watch", "kueue.rs and operators/robust_controller.rs: until Active (wait.rs)"),
    ("kueue.x-k8s.io", "clusterqueues", "create", "gang_scheduling/kueue.rs, operators/kueue.rs"),
    ("kueue.x-k8s.io", "clusterqueues", "delete", "gang_scheduling/kueue.rs; cleanup.rs"),
    ("kueue.x-k8s.io", "resourceflavors", "list", "gang_scheduling/kueue.rs: flavors' node labels; cleanup.rs"),
    ("kueue.x-k8s.io", "resourceflavors", "create", "gang_scheduling/kueue.rs; operators/kueue.rs (and dry runs)"),
    ("kueue.x-k8s.io", "resourceflavors", "delete", "gang_scheduling/kueue.rs; cleanup.rs"),
    ("kueue.x-k8s.io", "localqueues", "create", "gang_scheduling/kueue.rs"),
    ("kueue.x-k8s.io", "localqueues", "delete", "gang_scheduling/kueue.rs"),
    ("kueue.x-k8s.io", "workloads", "list", "gang_scheduling/kueue_case.rs: the Job's admission state"),
    ("kueue.x-k8s.io", "workloads", "watch", "gang_scheduling/kueue_case.rs: until Kueue made the Job's Workload"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "list", "operators/robust_controller.rs"),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", "list", "operators/robust_controller.rs"),
    ("discovery.k8s.io", "endpointslices", "list", "operators/robust_controller.rs: the webhook's backends"),
    ("jobset.x-k8s.io", "jobsets", "create", "operators/jobset.rs (and dry runs)"),
    ("jobset.x-k8s.io", "jobsets", "list", "operators/robust_controller.rs: until Completed (wait.rs)"),
    ("jobset.x-k8s.io", "jobsets", "watch", "operators/robust_controller.rs: until Completed (wait.rs)"),
    ("jobset.x-k8s.io", "jobsets", "get", "wait.rs on timeout"),
    ("leaderworkerset.x-k8s.io", "leaderworkersets", "create", "operators/lws.rs (and dry runs)"),
    ("leaderworkerset.x-k8s.io", "leaderworkersets", "list", "operators/robust_controller.rs: until Available"),
    ("leaderworkerset.x-k8s.io", "leaderworkersets", "watch", "operators/robust_controller.rs: until Available"),
    ("leaderworkerset.x-k8s.io", "leaderworkersets", "get", "wait.rs on timeout"),
    ("scheduling.volcano.sh", "podgroups", "create", "gang_scheduling/crd_group.rs"),
    ("scheduling.volcano.sh", "podgroups", "get", "gang_scheduling/crd_group.rs: status for the report"),
    ("scheduling.run.ai", "podgroups", "create", "gang_scheduling/crd_group.rs"),
    ("scheduling.run.ai", "podgroups", "get", "gang_scheduling/crd_group.rs: status for the report"),
    ("scheduling.x-k8s.io", "podgroups", "create", "gang_scheduling/crd_group.rs"),
    ("scheduling.x-k8s.io", "podgroups", "get", "gang_scheduling/crd_group.rs: status for the report"),
    ("agents.x-k8s.io", "sandboxes", "create", "security/agent_sandbox.rs: kaic's Sandbox"),
    ("agents.x-k8s.io", "sandboxes", "list", "security/agent_sandbox.rs: until Ready (wait.rs)"),
    ("agents.x-k8s.io", "sandboxes", "watch", "security/agent_sandbox.rs: until Ready (wait.rs)"),
    ("agents.x-k8s.io", "sandboxes", "get", "wait.rs on timeout"),
    ("monitoring.coreos.com", "prometheuses", "list", "observability/model_server.rs: their podMonitorSelector"),
    ("monitoring.coreos.com", "podmonitors", "create", "observability/model_server.rs"),
    ("monitoring.googleapis.com", "podmonitorings", "create", "observability/model_server.rs"),
    ("karpenter.sh", "nodepools", "list", "autoscaling/cluster_autoscaling.rs: detect Karpenter, its pools"),
    ("gateway.networking.k8s.io", "gatewayclasses", "list", "inference/ai_inference.rs: Accepted classes"),
    ("gateway.networking.k8s.io", "gateways", "create", "inference/ai_inference.rs"),
    ("gateway.networking.k8s.io", "gateways", "get", "inference/ai_inference.rs: polled until Programmed"),
    ("gateway.networking.k8s.io", "httproutes", "create", "inference/ai_inference.rs"),
    ("gateway.networking.k8s.io", "httproutes", "get", "inference/ai_inference.rs: polled until Accepted"),
    ("", "serviceaccounts", "create", "inference/advanced_inference_ingress.rs: the endpoint picker's"),
    ("rbac.authorization.k8s.io", "roles", "create", "inference/advanced_inference_ingress.rs: the picker's"),
    ("rbac.authorization.k8s.io", "rolebindings", "create", "inference/advanced_inference_ingress.rs"),
    ("inference.networking.k8s.io", "inferencepools", "create", "inference/advanced_inference_ingress.rs"),
    ("inference.networking.k8s.io", "inferencepools", "get", "advanced_inference_ingress.rs: until Accepted"),
    (
        "inference.networking.k8s.io",
        "inferencepools",
        "list",
        "none by kaic: granted to its endpoint picker's Role, so kaic must hold it (RBAC escalation check)",
    ),
    (
        "inference.networking.k8s.io",
        "inferencepools",
        "watch",
        "none by kaic: granted to its endpoint picker's Role, so kaic must hold it (RBAC escalation check)",
    ),
    ("inference.networking.x-k8s.io", "inferenceobjectives", "get", ALPHA_GRANT),
    ("inference.networking.x-k8s.io", "inferenceobjectives", "list", ALPHA_GRANT),
    ("inference.networking.x-k8s.io", "inferenceobjectives", "watch", ALPHA_GRANT),
    ("inference.networking.x-k8s.io", "inferencemodelrewrites", "get", ALPHA_GRANT),
    ("inference.networking.x-k8s.io", "inferencemodelrewrites", "list", ALPHA_GRANT),
    ("inference.networking.x-k8s.io", "inferencemodelrewrites", "watch", ALPHA_GRANT),
];

/// Why kaic holds rights on the extension's alpha objects without reading them.
const ALPHA_GRANT: &str = "none by kaic: granted to its full endpoint picker's Role (advanced_inference_ingress), \
                           which watches them where served, so kaic must hold it (RBAC escalation check)";

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::PERMISSIONS;
    use super::CALLS;

    fn granted(group: &str, resource: &str, verb: &str) -> bool {
        PERMISSIONS.iter().any(|p| p.group == group && p.resource == resource && p.verbs.contains(&verb))
    }

    #[test]
    fn every_call_is_granted() {
        for (group, resource, verb, site) in CALLS {
            assert!(granted(group, resource, verb), "{verb} {resource} ({group:?}) at {site} is not in PERMISSIONS");
        }
    }

    #[test]
    fn every_granted_verb_is_used_by_a_call() {
        for p in PERMISSIONS {
            for verb in p.verbs {
                assert!(
                    CALLS.iter().any(|(g, r, v, _)| (*g, *r, *v) == (p.group, p.resource, *verb)),
                    "PERMISSIONS grants {verb} {} but no call in audit::CALLS needs it",
                    p.name()
                );
            }
        }
    }

    #[test]
    fn no_call_is_listed_twice() {
        let mut keys: Vec<_> = CALLS.iter().map(|(g, r, v, _)| (g, r, v)).collect();
        keys.sort();
        let before = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), before);
    }

    /// Typed kinds the code uses, with their (group, resource).
    const KINDS: &[(&str, &str, &str)] = &[
        ("Namespace", "", "namespaces"),
        ("Node", "", "nodes"),
        ("Pod", "", "pods"),
        ("Service", "", "services"),
        ("ServiceAccount", "", "serviceaccounts"),
        ("Role", "rbac.authorization.k8s.io", "roles"),
        ("RoleBinding", "rbac.authorization.k8s.io", "rolebindings"),
        ("Event", "", "events"),
        ("ConfigMap", "", "configmaps"),
        ("Job", "batch", "jobs"),
        ("Deployment", "apps", "deployments"),
        ("HorizontalPodAutoscaler", "autoscaling", "horizontalpodautoscalers"),
        ("SelfSubjectAccessReview", "authorization.k8s.io", "selfsubjectaccessreviews"),
        ("DeviceClass", "resource.k8s.io", "deviceclasses"),
        ("ResourceSlice", "resource.k8s.io", "resourceslices"),
        ("ResourceClaim", "resource.k8s.io", "resourceclaims"),
        ("ResourceClaimTemplate", "resource.k8s.io", "resourceclaimtemplates"),
        ("Workload", "scheduling.k8s.io", "workloads"),
        ("PodGroup", "scheduling.k8s.io", "podgroups"),
        ("CustomResourceDefinition", "apiextensions.k8s.io", "customresourcedefinitions"),
        ("ValidatingWebhookConfiguration", "admissionregistration.k8s.io", "validatingwebhookconfigurations"),
        ("EndpointSlice", "discovery.k8s.io", "endpointslices"),
        ("RuntimeClass", "node.k8s.io", "runtimeclasses"),
        ("NetworkPolicy", "networking.k8s.io", "networkpolicies"),
    ];

    /// Methods of `kube::Api` (and kube-runtime) that need a verb, with the subresource where they name one.
    const METHODS: &[(&str, Option<&str>, &str)] = &[
        (".watch(", None, "watch"),
        ("watcher(", None, "watch"),
        ("await_condition(", None, "watch"),
        ("delete_and_finalize(", None, "watch"),
        (".patch(", None, "patch"),
        (".patch_status(", None, "patch"),
        (".patch_scale(", None, "patch"),
        (".replace_status(", None, "update"),
        (".delete_collection(", None, "deletecollection"),
        (".logs(", Some("pods/log"), "get"),
        (".log_stream(", Some("pods/log"), "get"),
        (".evict(", Some("pods/eviction"), "create"),
        (".exec(", Some("pods/exec"), "create"),
        (".attach(", Some("pods/attach"), "create"),
        ("create_token_request(", Some("serviceaccounts/token"), "create"),
    ];

    /// The crate's source files, without this module (whose tests name the patterns they look for).
    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("rbac") {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Code lines (comments left out) of every source file, with the file's name.
    fn code_lines() -> Vec<(String, String)> {
        let mut files = Vec::new();
        sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files);
        assert!(files.len() > 20, "the scan found only {} files", files.len());
        files
            .iter()
            .flat_map(|file| {
                let name = file.display().to_string();
                let text = std::fs::read_to_string(file).unwrap();
                text.lines()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .map(|l| (name.clone(), l.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The type in `Api<T>` / `Api::<T>`, last path segment: `Pod` from `Api<k8s_openapi::…::Pod>`.
    fn api_types(line: &str) -> Vec<String> {
        let mut found = Vec::new();
        for marker in ["Api<", "Api::<"] {
            for (at, _) in line.match_indices(marker) {
                let rest = &line[at + marker.len()..];
                let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
                found.push(path.rsplit("::").next().unwrap_or_default().to_string());
            }
        }
        found
    }

    #[test]
    fn every_typed_kind_in_the_code_is_audited() {
        for (file, line) in code_lines() {
            for kind in api_types(&line) {
                // Generic parameters and dynamic objects: the concrete kinds are audited where they are chosen.
                if kind.len() <= 1 || kind == "DynamicObject" {
                    continue;
                }
                let Some((_, group, resource)) = KINDS.iter().find(|(k, _, _)| *k == kind) else {
                    panic!("{file} uses Api<{kind}>: add it to KINDS here, its calls to audit::CALLS and PERMISSIONS");
                };
                assert!(
                    CALLS.iter().any(|(g, r, _, _)| (g, r) == (group, resource)),
                    "{file} uses Api<{kind}> but audit::CALLS has no call on {resource}"
                );
            }
        }
    }

    #[test]
    fn every_verb_method_in_the_code_is_audited() {
        for (file, line) in code_lines() {
            for (method, resource, verb) in METHODS {
                if line.contains(method) {
                    assert!(
                        CALLS.iter().any(|(_, r, v, _)| v == verb && resource.is_none_or(|want| *r == want)),
                        "{file} calls {method} which needs {verb} {}: add the call to audit::CALLS and PERMISSIONS",
                        resource.unwrap_or("on some resource")
                    );
                }
            }
        }
    }

    #[test]
    fn the_scan_sees_typed_apis() {
        assert_eq!(api_types("let a: Api<Pod> = Api::namespaced(c, ns);"), vec!["Pod"]);
        assert_eq!(api_types("Api::<k8s_openapi::api::core::v1::Node>::all(c)"), vec!["Node"]);
        assert!(api_types("let x = 1;").is_empty());
    }
}
