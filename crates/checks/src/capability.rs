//! Capabilities: what the cluster's API offers (DRA, Gateway API, Kueue, …), found by API discovery in
//! preflight. Checks declare the capabilities they need, as Gateway API conformance tests declare features.

use std::collections::BTreeSet;
use std::fmt;

/// Something a check may need from the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// `resource.k8s.io/v1` (Dynamic Resource Allocation) is served.
    Dra,
    /// `resource.k8s.io` is served at a beta version (`v1beta2` or `v1beta1`). Without [`Self::Dra`] the
    /// cluster serves DRA at a beta version only (Kubernetes 1.32–1.33, or a later one with v1 switched
    /// off), which kaic does not drive: its DRA steps are reported unknown, never failed.
    DraBeta,
    /// `gateway.networking.k8s.io` (Gateway API) is served.
    GatewayApi,
    /// The Gateway API Inference Extension (`inference.networking.k8s.io` or its x-k8s.io predecessor).
    InferenceExtension,
    /// Kueue (`kueue.x-k8s.io`).
    Kueue,
    /// Volcano (`scheduling.volcano.sh`).
    Volcano,
    /// scheduler-plugins coscheduling (`scheduling.x-k8s.io` PodGroups).
    Coscheduling,
    /// NVIDIA KAI scheduler (`scheduling.run.ai` PodGroups and Queues).
    KaiScheduler,
    /// The native Workload/PodGroup API (`scheduling.k8s.io` beyond v1).
    NativeWorkload,
    /// JobSet (`jobset.x-k8s.io`).
    JobSet,
    /// LeaderWorkerSet (`leaderworkerset.x-k8s.io`).
    LeaderWorkerSet,
    /// KubeRay (`ray.io`).
    KubeRay,
    /// Kubeflow Trainer (`trainer.kubeflow.org` or `kubeflow.org`).
    KubeflowTrainer,
    /// The Prometheus operator (`monitoring.coreos.com`).
    PrometheusOperator,
    /// Google Cloud Managed Service for Prometheus (`monitoring.googleapis.com`: PodMonitoring).
    ManagedPrometheus,
    /// The custom metrics API (`custom.metrics.k8s.io`).
    CustomMetrics,
    /// The resource metrics API (`metrics.k8s.io`).
    ResourceMetrics,
    /// Karpenter (`karpenter.sh`).
    Karpenter,
    /// The Agent Sandbox API (`agents.x-k8s.io`, kubernetes-sigs/agent-sandbox).
    AgentSandbox,
    /// A cluster-wide network policy API: Calico's GlobalNetworkPolicy, Cilium's clusterwide policies, or the
    /// AdminNetworkPolicy API (`policy.networking.k8s.io`). Such policies apply to kaic's namespaces although
    /// none is in them: where kaic's pods cannot talk, they may be the cause rather than the pod network.
    ClusterNetworkPolicy,
}

impl Capability {
    /// The API group whose presence shows this capability, and a version it must serve (`None`: any).
    fn evidence(self) -> &'static [(&'static str, Option<&'static str>)] {
        match self {
            Self::Dra => &[("resource.k8s.io", Some("v1"))],
            Self::DraBeta => &[("resource.k8s.io", Some("v1beta2")), ("resource.k8s.io", Some("v1beta1"))],
            Self::GatewayApi => &[("gateway.networking.k8s.io", Some("v1"))],
            Self::InferenceExtension => {
                &[("inference.networking.k8s.io", None), ("inference.networking.x-k8s.io", None)]
            }
            Self::Kueue => &[("kueue.x-k8s.io", None)],
            Self::Volcano => &[("scheduling.volcano.sh", None)],
            Self::Coscheduling => &[("scheduling.x-k8s.io", None)],
            Self::KaiScheduler => &[("scheduling.run.ai", None)],
            Self::NativeWorkload => &[
                ("scheduling.k8s.io", Some("v1beta1")),
                ("scheduling.k8s.io", Some("v1alpha2")),
                ("scheduling.k8s.io", Some("v1alpha1")),
            ],
            Self::JobSet => &[("jobset.x-k8s.io", None)],
            Self::LeaderWorkerSet => &[("leaderworkerset.x-k8s.io", None)],
            Self::KubeRay => &[("ray.io", None)],
            Self::KubeflowTrainer => &[("trainer.kubeflow.org", None), ("kubeflow.org", None)],
            Self::PrometheusOperator => &[("monitoring.coreos.com", None)],
            Self::ManagedPrometheus => &[("monitoring.googleapis.com", None)],
            Self::CustomMetrics => &[("custom.metrics.k8s.io", None)],
            Self::ResourceMetrics => &[("metrics.k8s.io", None)],
            Self::Karpenter => &[("karpenter.sh", None)],
            Self::AgentSandbox => &[("agents.x-k8s.io", None)],
            Self::ClusterNetworkPolicy => &[
                ("crd.projectcalico.org", None),
                ("projectcalico.org", None),
                ("cilium.io", None),
                ("policy.networking.k8s.io", None),
            ],
        }
    }

    pub const ALL: [Capability; 20] = [
        Self::Dra,
        Self::DraBeta,
        Self::GatewayApi,
        Self::InferenceExtension,
        Self::Kueue,
        Self::Volcano,
        Self::Coscheduling,
        Self::KaiScheduler,
        Self::NativeWorkload,
        Self::JobSet,
        Self::LeaderWorkerSet,
        Self::KubeRay,
        Self::KubeflowTrainer,
        Self::PrometheusOperator,
        Self::ManagedPrometheus,
        Self::CustomMetrics,
        Self::ResourceMetrics,
        Self::Karpenter,
        Self::AgentSandbox,
        Self::ClusterNetworkPolicy,
    ];

    /// The name used in reports and `--output json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dra => "dra",
            Self::DraBeta => "dra-beta",
            Self::GatewayApi => "gateway-api",
            Self::InferenceExtension => "inference-extension",
            Self::Kueue => "kueue",
            Self::Volcano => "volcano",
            Self::Coscheduling => "coscheduling",
            Self::KaiScheduler => "kai-scheduler",
            Self::NativeWorkload => "native-workload",
            Self::JobSet => "jobset",
            Self::LeaderWorkerSet => "leaderworkerset",
            Self::KubeRay => "kuberay",
            Self::KubeflowTrainer => "kubeflow-trainer",
            Self::PrometheusOperator => "prometheus-operator",
            Self::ManagedPrometheus => "managed-prometheus",
            Self::CustomMetrics => "custom-metrics",
            Self::ResourceMetrics => "resource-metrics",
            Self::Karpenter => "karpenter",
            Self::AgentSandbox => "agent-sandbox",
            Self::ClusterNetworkPolicy => "cluster-network-policy",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The capabilities one cluster offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(BTreeSet<Capability>);

impl Capabilities {
    /// Derives capabilities from the served API groups, given as `(group, [versions])`.
    pub fn from_groups<'a>(groups: impl IntoIterator<Item = (&'a str, Vec<&'a str>)>) -> Self {
        let groups: Vec<(&str, Vec<&str>)> = groups.into_iter().collect();
        let served = |group: &str, version: Option<&str>| {
            groups.iter().any(|(g, versions)| *g == group && version.is_none_or(|v| versions.contains(&v)))
        };
        Self(
            Capability::ALL
                .into_iter()
                .filter(|cap| cap.evidence().iter().any(|(group, version)| served(group, *version)))
                .collect(),
        )
    }

    pub fn has(&self, capability: Capability) -> bool {
        self.0.contains(&capability)
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|c| c.name().to_string()).collect()
    }

    pub fn insert(&mut self, capability: Capability) {
        self.0.insert(capability);
    }

    /// Whether DRA is served at a beta version only (no `resource.k8s.io/v1`).
    pub fn dra_beta_only(&self) -> bool {
        self.has(Capability::DraBeta) && !self.has(Capability::Dra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dra_needs_the_v1_version() {
        let beta_only = Capabilities::from_groups([("resource.k8s.io", vec!["v1beta2", "v1beta1"])]);
        assert!(!beta_only.has(Capability::Dra));
        assert!(beta_only.dra_beta_only());
        assert!(Capabilities::from_groups([("resource.k8s.io", vec!["v1beta1"])]).dra_beta_only());
        let ga = Capabilities::from_groups([("resource.k8s.io", vec!["v1", "v1beta2"])]);
        assert!(ga.has(Capability::Dra));
        assert!(!ga.dra_beta_only());
        assert!(!Capabilities::from_groups([]).dra_beta_only());
    }

    #[test]
    fn core_scheduling_v1_is_not_the_workload_api() {
        let caps = Capabilities::from_groups([("scheduling.k8s.io", vec!["v1"]), ("kueue.x-k8s.io", vec!["v1beta2"])]);
        assert!(!caps.has(Capability::NativeWorkload));
        assert_eq!(caps.names(), vec!["kueue"]);
    }
}
