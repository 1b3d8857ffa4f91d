//! kaic's permissions, in one table. Preflight asks the API server for each of them
//! (SelfSubjectAccessReview) and names the ones it lacks; `kaic rbac` grants exactly them to a
//! ServiceAccount through a ClusterRole. One table, so the two cannot drift apart.
//!
//! Everything is cluster-wide: each check runs in a namespace created for the run, so a Role bound in a
//! fixed namespace cannot cover it, and checks read nodes, pods and claims across namespaces to find free
//! capacity. [`audit`] lists every API call kaic makes, so each verb here is justified by a call.

pub mod audit;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use crate::capability::{Capabilities, Capability};

/// When kaic needs a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    /// On every cluster.
    Always,
    /// Only where the cluster offers one of these capabilities (the checks using it end early otherwise).
    With(&'static [Capability]),
}

impl Needed {
    /// Whether a cluster offering `capabilities` needs it.
    pub fn applies(self, capabilities: &Capabilities) -> bool {
        match self {
            Self::Always => true,
            Self::With(any) => any.iter().any(|c| capabilities.has(*c)),
        }
    }

    /// In words: `always`, `with dra`, `with kueue, jobset or leaderworkerset`.
    pub fn describe(self) -> String {
        match self {
            Self::Always => "always".into(),
            Self::With(any) => {
                let names: Vec<&str> = any.iter().map(|c| c.name()).collect();
                match names.split_last() {
                    Some((last, rest)) if !rest.is_empty() => format!("with {} or {last}", rest.join(", ")),
                    _ => format!("with {}", names.concat()),
                }
            }
        }
    }
}

/// One resource kaic uses, the verbs it needs on it, when, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// The API group (`""` for the core group).
    pub group: &'static str,
    /// The resource's plural, with `/subresource` where one is needed (`pods/log`).
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
    pub needed: Needed,
    /// Which checks use it, and for what: the comment on the ClusterRole's rule.
    pub why: &'static str,
}

impl Permission {
    /// The resource as Kubernetes names it in messages: `pods`, `jobs.batch`, `pods/log`.
    pub fn name(&self) -> String {
        if self.group.is_empty() { self.resource.to_string() } else { format!("{}.{}", self.resource, self.group) }
    }
}

const ROBUST_CONTROLLER: &[Capability] = &[Capability::Kueue, Capability::JobSet, Capability::LeaderWorkerSet];

/// Everything kaic may do. Verbs are in the order `get list watch create update patch delete
/// deletecollection`; a verb is here only if [`audit::CALLS`] names a call that needs it.
pub const PERMISSIONS: &[Permission] = &[
    Permission {
        group: "",
        resource: "namespaces",
        verbs: &["get", "list", "create", "delete"],
        needed: Needed::Always,
        why: "every check runs in a namespace of its own, deleted afterwards (an accelerator check's pods and claims \
              are deleted with it and awaited, so its devices are free); preflight and cleanup find earlier runs' \
              namespaces by label; Kueue's case reads its namespace's labels",
    },
    Permission {
        group: "",
        resource: "nodes",
        verbs: &["list"],
        needed: Needed::Always,
        why: "find accelerator nodes and each node's free capacity",
    },
    Permission {
        group: "",
        resource: "pods",
        verbs: &["get", "list", "watch", "create", "delete", "deletecollection"],
        needed: Needed::Always,
        why: "probe, blocker and gang pods, watched until bound, running or finished and deleted to free capacity; \
              pods of every namespace are listed to count what is in use and to find the pods behind an \
              operator's webhook; advanced_inference_ingress deletes its endpoint picker's pod to see the pool \
              fail closed",
    },
    Permission {
        group: "",
        resource: "events",
        verbs: &["list"],
        needed: Needed::Always,
        why: "cluster_autoscaling reads what the node autoscaler says about its pods (TriggeredScaleUp, \
              NotTriggerScaleUp, Karpenter's Nominated and FailedScheduling) in its own namespace",
    },
    Permission {
        group: "",
        resource: "configmaps",
        verbs: &["get"],
        needed: Needed::Always,
        why: "cluster_autoscaling (and gang_scheduling, for a Kueue quota above its nodes) finds cluster-autoscaler by its \
              status ConfigMap kube-system/cluster-autoscaler-status; gang_scheduling reads Kueue's waitForPodsReady \
              from kueue-system/kueue-manager-config",
    },
    Permission {
        group: "",
        resource: "pods/log",
        verbs: &["get"],
        needed: Needed::Always,
        why: "the accelerator probes print which devices each container sees",
    },
    Permission {
        group: "",
        resource: "pods/proxy",
        verbs: &["get", "create"],
        needed: Needed::Always,
        why: "accelerator_metrics scrapes each accelerator node's exporter, ai_service_metrics its model server's \
              own /metrics and advanced_inference_ingress its endpoint picker's, through the API server's pod proxy \
              (GET); disaggregated_inference sends completions to its decode pods (POST)",
    },
    Permission {
        group: "",
        resource: "services",
        verbs: &["list", "create"],
        needed: Needed::Always,
        why: "ai_service_metrics finds the monitoring system's query API among the Services, and puts a Service in \
              front of its model server; ai_inference puts one in front of each model server, its route's backends, \
              and finds the LoadBalancer Service behind a Gateway's address (its port and a load balancer's wait)",
    },
    Permission {
        group: "",
        resource: "services/proxy",
        verbs: &["get", "create"],
        needed: Needed::Always,
        why: "ai_service_metrics queries the monitoring system (GET) and sends completions to its model server (POST) \
              through the API server's service proxy; accelerator_metrics reads an exporter Service named with \
              --accelerator-metrics-url",
    },
    Permission {
        group: "",
        resource: "serviceaccounts",
        verbs: &["create"],
        needed: Needed::With(&[Capability::InferenceExtension]),
        why: "advanced_inference_ingress: the identity of its InferencePool's endpoint picker",
    },
    Permission {
        group: "rbac.authorization.k8s.io",
        resource: "roles",
        verbs: &["create"],
        needed: Needed::With(&[Capability::InferenceExtension]),
        why: "advanced_inference_ingress: what its endpoint picker reads (the pool and its pods, in the check's \
              namespace); kaic may grant only what it holds itself (pods and inferencepools get, list, watch; the \
              alpha InferenceObjectives and InferenceModelRewrites get, list, watch)",
    },
    Permission {
        group: "rbac.authorization.k8s.io",
        resource: "rolebindings",
        verbs: &["create"],
        needed: Needed::With(&[Capability::InferenceExtension]),
        why: "advanced_inference_ingress: binds the picker's Role to its ServiceAccount",
    },
    Permission {
        group: "inference.networking.k8s.io",
        resource: "inferencepools",
        verbs: &["get", "list", "watch", "create"],
        needed: Needed::With(&[Capability::InferenceExtension]),
        why: "advanced_inference_ingress: its InferencePool, polled until the Gateway's controller accepted it; list \
              and watch are what its endpoint picker's Role grants, which kaic must hold to grant",
    },
    Permission {
        group: "inference.networking.x-k8s.io",
        resource: "inferenceobjectives",
        verbs: &["get", "list", "watch"],
        needed: Needed::With(&[Capability::InferenceExtension]),
        why: "advanced_inference_ingress: granted to its full endpoint picker, which watches them where their API is \
              served (kaic never reads them)",
    },
    Permission {
        group: "inference.networking.x-k8s.io",
        resource: "inferencemodelrewrites",
        verbs: &["get", "list", "watch"],
        needed: Needed::With(&[Capability::InferenceExtension]),
        why: "advanced_inference_ingress: granted to its full endpoint picker, as InferenceObjectives",
    },
    Permission {
        group: "apps",
        resource: "deployments",
        verbs: &["create"],
        needed: Needed::Always,
        why: "pod_autoscaling: the Deployment of accelerator model servers its HorizontalPodAutoscaler scales; \
              disaggregated_inference: its prefill and decode Deployments",
    },
    Permission {
        group: "apps",
        resource: "deployments/scale",
        verbs: &["patch"],
        needed: Needed::Always,
        why: "disaggregated_inference scales each phase of its own pair, as an autoscaler would",
    },
    Permission {
        group: "networking.k8s.io",
        resource: "networkpolicies",
        verbs: &["list"],
        needed: Needed::Always,
        why: "disaggregated_inference (its decode pod cannot reach its prefill pod) and advanced_inference_ingress \
              (its endpoint picker cannot read its pool's pods): NetworkPolicies in its namespace (which kaic does \
              not create) may be the cause, and the verdict says so",
    },
    Permission {
        group: "autoscaling",
        resource: "horizontalpodautoscalers",
        verbs: &["get", "create"],
        needed: Needed::Always,
        why: "pod_autoscaling: a HorizontalPodAutoscaler on a per-pod custom metric, read for its conditions, \
              current metrics and replicas",
    },
    Permission {
        group: "apiregistration.k8s.io",
        resource: "apiservices",
        verbs: &["list"],
        needed: Needed::Always,
        why: "pod_autoscaling: whether the custom (and external) metrics APIs are registered and Available, and \
              by which Service",
    },
    Permission {
        group: "batch",
        resource: "jobs",
        verbs: &["get", "list", "watch", "create", "delete"],
        needed: Needed::Always,
        why: "gang_scheduling's gangs are Jobs, watched until complete; Kueue's quota blocker is deleted to free quota",
    },
    Permission {
        group: "node.k8s.io",
        resource: "runtimeclasses",
        verbs: &["list"],
        needed: Needed::Always,
        why: "workload_sandboxing: the sandbox runtimes (gVisor, Kata Containers, …) the cluster offers",
    },
    Permission {
        group: "authorization.k8s.io",
        resource: "selfsubjectaccessreviews",
        verbs: &["create"],
        needed: Needed::Always,
        why: "preflight asks which of these permissions kaic has (every authenticated user may, through \
              system:basic-user)",
    },
    Permission {
        group: "resource.k8s.io",
        resource: "deviceclasses",
        verbs: &["get", "list", "create", "update", "delete"],
        needed: Needed::With(&[Capability::Dra]),
        why: "dra_support's create/read/update/delete round trip; a class of kaic's own per driver for the \
              accelerator checks; cleanup finds kaic's classes by label",
    },
    Permission {
        group: "resource.k8s.io",
        resource: "resourceslices",
        verbs: &["get", "list", "create", "update", "delete"],
        needed: Needed::With(&[Capability::Dra]),
        why: "dra_support's round trip with a slice of a test driver; the devices drivers publish; cleanup",
    },
    Permission {
        group: "resource.k8s.io",
        resource: "resourceclaims",
        verbs: &["get", "list", "watch", "create", "update", "delete"],
        needed: Needed::With(&[Capability::Dra]),
        why: "dra_support's round trip; a claim shared by two pods (gpu_sharing); which devices are allocated \
              cluster-wide; a claim is watched until its pod released it",
    },
    Permission {
        group: "resource.k8s.io",
        resource: "resourceclaimtemplates",
        verbs: &["get", "create", "update", "delete"],
        needed: Needed::With(&[Capability::Dra]),
        why: "dra_support's round trip; the probe pods' claims come from templates",
    },
    Permission {
        group: "scheduling.k8s.io",
        resource: "workloads",
        verbs: &["create"],
        needed: Needed::With(&[Capability::NativeWorkload]),
        why: "gang_scheduling's native gangs: a Workload with a gang policy",
    },
    Permission {
        group: "scheduling.k8s.io",
        resource: "podgroups",
        verbs: &["get", "create"],
        needed: Needed::With(&[Capability::NativeWorkload]),
        why: "gang_scheduling's native gangs: the PodGroup the pods join, read for its status",
    },
    Permission {
        group: "kueue.x-k8s.io",
        resource: "clusterqueues",
        verbs: &["get", "list", "watch", "create", "delete"],
        needed: Needed::With(&[Capability::Kueue]),
        why: "gang_scheduling picks a platform ClusterQueue or creates its own and waits until it is Active; \
              robust_controller's reconciled object; cleanup",
    },
    Permission {
        group: "kueue.x-k8s.io",
        resource: "resourceflavors",
        verbs: &["list", "create", "delete"],
        needed: Needed::With(&[Capability::Kueue]),
        why: "the flavors of platform queues; kaic's own flavor; robust_controller's dry runs; cleanup",
    },
    Permission {
        group: "kueue.x-k8s.io",
        resource: "localqueues",
        verbs: &["create", "delete"],
        needed: Needed::With(&[Capability::Kueue]),
        why: "the LocalQueue in the check's namespace through which the gang Jobs go",
    },
    Permission {
        group: "kueue.x-k8s.io",
        resource: "workloads",
        verbs: &["list", "watch"],
        needed: Needed::With(&[Capability::Kueue]),
        why: "a gang Job's Workload is watched until Kueue made it, and read for why it was or was not admitted",
    },
    Permission {
        group: "apiextensions.k8s.io",
        resource: "customresourcedefinitions",
        verbs: &["list"],
        needed: Needed::With(ROBUST_CONTROLLER),
        why: "robust_controller: the operator's CRDs are Established",
    },
    Permission {
        group: "admissionregistration.k8s.io",
        resource: "validatingwebhookconfigurations",
        verbs: &["list"],
        needed: Needed::With(ROBUST_CONTROLLER),
        why: "robust_controller: the operator's validating webhook is registered",
    },
    Permission {
        group: "discovery.k8s.io",
        resource: "endpointslices",
        verbs: &["list"],
        needed: Needed::With(ROBUST_CONTROLLER),
        why: "robust_controller: ready pods serve the operator's webhook",
    },
    Permission {
        group: "jobset.x-k8s.io",
        resource: "jobsets",
        verbs: &["get", "list", "watch", "create"],
        needed: Needed::With(&[Capability::JobSet]),
        why: "robust_controller: dry runs of an invalid and a valid JobSet; one JobSet watched until Completed",
    },
    Permission {
        group: "leaderworkerset.x-k8s.io",
        resource: "leaderworkersets",
        verbs: &["get", "list", "watch", "create"],
        needed: Needed::With(&[Capability::LeaderWorkerSet]),
        why: "robust_controller: dry runs of an invalid and a valid LeaderWorkerSet; one watched until Available",
    },
    Permission {
        group: "scheduling.volcano.sh",
        resource: "podgroups",
        verbs: &["get", "create"],
        needed: Needed::With(&[Capability::Volcano]),
        why: "gang_scheduling through Volcano: the PodGroup of each gang, read for its status",
    },
    Permission {
        group: "scheduling.run.ai",
        resource: "podgroups",
        verbs: &["get", "create"],
        needed: Needed::With(&[Capability::KaiScheduler]),
        why: "gang_scheduling through the KAI scheduler: the PodGroup of each gang, read for its status",
    },
    Permission {
        group: "scheduling.x-k8s.io",
        resource: "podgroups",
        verbs: &["get", "create"],
        needed: Needed::With(&[Capability::Coscheduling]),
        why: "gang_scheduling through coscheduling: the PodGroup of each gang, read for its status",
    },
    Permission {
        group: "agents.x-k8s.io",
        resource: "sandboxes",
        verbs: &["get", "list", "watch", "create"],
        needed: Needed::With(&[Capability::AgentSandbox]),
        why: "workload_sandboxing: a Sandbox of kaic's own with a sandbox RuntimeClass, watched until Ready",
    },
    Permission {
        group: "monitoring.coreos.com",
        resource: "prometheuses",
        verbs: &["list"],
        needed: Needed::With(&[Capability::PrometheusOperator]),
        why: "ai_service_metrics and pod_autoscaling: the labels each Prometheus selects PodMonitors by",
    },
    Permission {
        group: "monitoring.coreos.com",
        resource: "podmonitors",
        verbs: &["create"],
        needed: Needed::With(&[Capability::PrometheusOperator]),
        why: "ai_service_metrics and pod_autoscaling register their model servers for scraping with a PodMonitor",
    },
    Permission {
        group: "monitoring.googleapis.com",
        resource: "podmonitorings",
        verbs: &["create"],
        needed: Needed::With(&[Capability::ManagedPrometheus]),
        why: "ai_service_metrics and pod_autoscaling register their model servers with Google Cloud Managed Service for \
              Prometheus",
    },
    Permission {
        group: "karpenter.sh",
        resource: "nodepools",
        verbs: &["list"],
        needed: Needed::With(&[Capability::Karpenter]),
        why: "cluster_autoscaling: Karpenter's NodePools, their node classes, taints and limits",
    },
    Permission {
        group: "gateway.networking.k8s.io",
        resource: "gatewayclasses",
        verbs: &["list"],
        needed: Needed::With(&[Capability::GatewayApi]),
        why: "ai_inference: the GatewayClasses a controller accepted",
    },
    Permission {
        group: "gateway.networking.k8s.io",
        resource: "gateways",
        verbs: &["get", "create"],
        needed: Needed::With(&[Capability::GatewayApi]),
        why: "ai_inference: kaic's Gateway, read until Programmed with an address",
    },
    Permission {
        group: "gateway.networking.k8s.io",
        resource: "httproutes",
        verbs: &["get", "create"],
        needed: Needed::With(&[Capability::GatewayApi]),
        why: "ai_inference: kaic's weighted and header-matched route, read until Accepted",
    },
];

/// Discovery and the server version, which kaic reads before anything else. Kubernetes grants them to every
/// authenticated user (ClusterRoles `system:discovery`, `system:public-info-viewer`); the ClusterRole repeats
/// them so it works on its own.
pub const NON_RESOURCE_URLS: &[&str] = &["/api", "/api/*", "/apis", "/apis/*", "/version"];

/// The `(permission, verb)` pairs a cluster offering `capabilities` needs, in table order.
pub fn needed(capabilities: &Capabilities) -> impl Iterator<Item = (&'static Permission, &'static str)> + '_ {
    PERMISSIONS
        .iter()
        .filter(|p| p.needed.applies(capabilities))
        .flat_map(|p| p.verbs.iter().map(move |verb| (p, *verb)))
}

/// A name `kaic rbac` accepts for the namespace and the objects: a DNS-1123 label (lowercase letters, digits
/// and '-', starting and ending with a letter or digit, at most 63 characters), valid for all four kinds.
///
/// # Errors
/// What is wrong with it, in a sentence.
pub fn check_name(name: &str) -> Result<(), String> {
    let edges_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let chars_ok = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if name.len() <= 63 && chars_ok && edges_ok(name.chars().next()) && edges_ok(name.chars().last()) {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a DNS-1123 label: use at most 63 lowercase letters, digits and '-', starting and \
             ending with a letter or digit"
        ))
    }
}

/// The label on the objects `kaic rbac` prints. Not kaic's `managed-by` label: cleanup must never touch them.
const LABEL: (&str, &str) = ("app.kubernetes.io/name", "kaic");

/// The ServiceAccount `namespace/name`, the ClusterRole `name` granting [`PERMISSIONS`], and the binding.
pub fn objects(namespace: &str, name: &str) -> (ServiceAccount, ClusterRole, ClusterRoleBinding) {
    let metadata = |namespace: Option<&str>| ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some(BTreeMap::from([(LABEL.0.to_string(), LABEL.1.to_string())])),
        ..ObjectMeta::default()
    };
    let strings = |items: &[&str]| items.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    let mut rules: Vec<PolicyRule> = PERMISSIONS
        .iter()
        .map(|p| PolicyRule {
            api_groups: Some(strings(&[p.group])),
            resources: Some(strings(&[p.resource])),
            verbs: strings(p.verbs),
            ..PolicyRule::default()
        })
        .collect();
    rules.push(PolicyRule {
        non_resource_urls: Some(strings(NON_RESOURCE_URLS)),
        verbs: strings(&["get"]),
        ..PolicyRule::default()
    });
    let account = ServiceAccount { metadata: metadata(Some(namespace)), ..ServiceAccount::default() };
    let role = ClusterRole { metadata: metadata(None), rules: Some(rules), ..ClusterRole::default() };
    let binding = ClusterRoleBinding {
        metadata: metadata(None),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: name.to_string(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.to_string(),
            namespace: Some(namespace.to_string()),
            ..Subject::default()
        }]),
    };
    (account, role, binding)
}

/// The three objects as a `v1` List in JSON, which `kubectl apply -f -` accepts too.
pub fn json_list(namespace: &str, name: &str) -> Value {
    let (account, role, binding) = objects(namespace, name);
    json!({"apiVersion": "v1", "kind": "List", "items": [account, role, binding]})
}

/// The three objects as YAML documents for `kubectl apply -f -`, each rule of the ClusterRole under a comment
/// saying when kaic needs it and why. Written by hand for the comments; `namespace` and `name` must have
/// passed [`check_name`] (the unit tests parse the text back and compare it with [`objects`]).
pub fn yaml(namespace: &str, name: &str) -> String {
    let list = |items: &[&str]| {
        let quoted: Vec<String> = items.iter().map(|i| format!("\"{i}\"")).collect();
        format!("[{}]", quoted.join(", "))
    };
    let metadata = |namespace: Option<&str>| {
        let namespace = namespace.map(|ns| format!("  namespace: \"{ns}\"\n")).unwrap_or_default();
        format!("metadata:\n  name: \"{name}\"\n{namespace}  labels:\n    {}: \"{}\"\n", LABEL.0, LABEL.1)
    };
    let mut out = format!(
        "# kaic's least-privilege identity: exactly the permissions kaic's preflight asks for. The namespace must\n\
         # exist: kubectl create namespace {namespace}; kaic rbac --namespace {namespace} --name {name} | kubectl apply -f -\n\
         apiVersion: v1\nkind: ServiceAccount\n{}---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n{}rules:\n",
        metadata(Some(namespace)),
        metadata(None)
    );
    for p in PERMISSIONS {
        out.push_str(&format!(
            "  # {}: {}\n  - apiGroups: {}\n    resources: {}\n    verbs: {}\n",
            p.needed.describe(),
            p.why,
            list(&[p.group]),
            list(&[p.resource]),
            list(p.verbs)
        ));
    }
    out.push_str(&format!(
        "  # always: API discovery and the server version\n  - nonResourceURLs: {}\n    verbs: [\"get\"]\n",
        list(NON_RESOURCE_URLS)
    ));
    out.push_str(&format!(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\n{}roleRef:\n  \
         apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: \"{name}\"\nsubjects:\n  \
         - kind: ServiceAccount\n    name: \"{name}\"\n    namespace: \"{namespace}\"\n",
        metadata(None)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yaml_parses_back_into_exactly_the_objects() {
        // "123" and "null" are valid names that YAML would read as a number and a null unless quoted.
        for (namespace, name) in [("kaic-e2e", "kaic-ci"), ("123", "null")] {
            let text = yaml(namespace, name);
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
            assert_eq!(docs.len(), 3, "{text}");
            let account: ServiceAccount = serde_json::from_value(docs[0].clone()).unwrap();
            let role: ClusterRole = serde_json::from_value(docs[1].clone()).unwrap();
            let binding: ClusterRoleBinding = serde_json::from_value(docs[2].clone()).unwrap();
            assert_eq!((account, role, binding), objects(namespace, name), "{text}");
        }
    }

    #[test]
    fn the_json_list_holds_the_same_objects() {
        let list = json_list("kaic", "kaic");
        assert_eq!((list["apiVersion"].as_str(), list["kind"].as_str()), (Some("v1"), Some("List")));
        let items = list["items"].as_array().unwrap();
        let (account, role, binding) = objects("kaic", "kaic");
        assert_eq!(items[0], serde_json::to_value(account).unwrap());
        assert_eq!(items[1], serde_json::to_value(role).unwrap());
        assert_eq!(items[2], serde_json::to_value(binding).unwrap());
        assert_eq!(items[1]["kind"], "ClusterRole");
    }

    #[test]
    fn the_objects_bind_the_account_to_the_role_with_every_permission() {
        let (account, role, binding) = objects("ops", "auditor");
        assert_eq!(account.metadata.namespace.as_deref(), Some("ops"));
        assert_eq!(binding.role_ref.name, "auditor");
        let subject = &binding.subjects.unwrap()[0];
        assert_eq!((subject.kind.as_str(), subject.name.as_str()), ("ServiceAccount", "auditor"));
        assert_eq!(subject.namespace.as_deref(), Some("ops"));
        let rules = role.rules.unwrap();
        assert_eq!(rules.len(), PERMISSIONS.len() + 1);
        let pods = rules.iter().find(|r| r.resources.as_deref() == Some(&["pods/log".to_string()])).unwrap();
        assert_eq!(pods.verbs, vec!["get"]);
        assert_eq!(pods.api_groups.as_deref(), Some(&[String::new()][..]));
    }

    #[test]
    fn names_must_be_dns_labels() {
        assert!(check_name("kaic").is_ok());
        assert!(check_name("kaic-e2e-123").is_ok());
        for bad in ["", "Kaic", "-kaic", "kaic-", "kaic\nkind: Secret", "a.b", "x: y", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_table_has_one_row_per_resource_with_known_verbs_in_order() {
        const ORDER: &[&str] = &["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];
        let mut names: Vec<String> = PERMISSIONS.iter().map(Permission::name).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "two rows for one resource");
        for p in PERMISSIONS {
            let positions: Vec<usize> = p
                .verbs
                .iter()
                .map(|v| ORDER.iter().position(|o| o == v).unwrap_or_else(|| panic!("{}: unknown verb {v}", p.name())))
                .collect();
            assert!(!positions.is_empty() && positions.is_sorted_by(|a, b| a < b), "{}: verbs {:?}", p.name(), p.verbs);
            assert!(!p.why.is_empty() && !p.why.contains('\n'), "{}: why must be one line", p.name());
            assert!(p.needed != Needed::With(&[]), "{}: With needs a capability", p.name());
        }
    }

    #[test]
    fn needed_follows_the_capabilities() {
        let none = Capabilities::default();
        let always: Vec<String> = needed(&none).map(|(p, v)| format!("{v} {}", p.name())).collect();
        assert!(always.contains(&"create namespaces".to_string()));
        assert!(always.contains(&"get pods/log".to_string()));
        assert!(!always.iter().any(|p| p.contains("resource.k8s.io")), "{always:?}");
        let mut dra = Capabilities::default();
        dra.insert(Capability::Dra);
        assert!(needed(&dra).any(|(p, v)| v == "update" && p.name() == "resourceslices.resource.k8s.io"));
        assert_eq!(Needed::With(ROBUST_CONTROLLER).describe(), "with kueue, jobset or leaderworkerset");
        assert_eq!(Needed::With(&[Capability::Dra]).describe(), "with dra");
    }
}
