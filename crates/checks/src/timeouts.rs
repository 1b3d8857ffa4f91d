//! The one timeout table: every wait kaic makes has a name, a documented base duration and a reason, as
//! gateway-api's conformance suite names its timeouts. `--timeout-scale F` multiplies every entry (and
//! every check's budget) for slow clusters: a cloud that takes minutes to pull an image or bring up a node.
//!
//! Each check declares the waits it may make in sequence ([`crate::Check::waits`]); a unit test asserts
//! that the check's budget ([`crate::Check::timeout`]) covers their sum, so a check is never cut off by
//! the runner while one of its own waits is still legitimately running.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A named wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Wait {
    /// A probe pod is scheduled, runs and prints its probe output (image pull included).
    ProbePod,
    /// A pod with a ResourceClaim is scheduled (the claim is allocated), then runs.
    ClaimedPodScheduled,
    /// The claim generated for a deleted pod is released.
    ClaimReleased,
    /// A gang that fits is bound whole.
    GangBind,
    /// The shortest observation window of a gang larger than free capacity (the window grows to three times
    /// the bind latency measured in the positive case).
    GangWindow,
    /// A bound gang's Job (or bare pods) completes.
    GangComplete,
    /// A gang rejected by its scheduler is requeued and bound once capacity is freed (kube-scheduler's
    /// unschedulable-pod flush is 5 minutes).
    GangRequeue,
    /// Kueue's own ClusterQueue becomes Active.
    QueueActive,
    /// Kueue's `waitForPodsReady` evicts a gang it admitted beyond its nodes' capacity: kaic waits for that
    /// only when the configured timeout plus a minute fits in this wait.
    KueueEviction,
    /// An operator reconciles a valid object to its ready or finished condition.
    OperatorReconcile,
    /// An accelerator check's namespace is deleted and its pods and claims are really gone (finalizers run,
    /// devices released) before the next accelerator check starts.
    NamespaceGone,
    /// The utilisation of the device kaic's load pod holds rises in the exporter's output (dcgm-exporter
    /// collects every 30 s by default, and the load generator takes seconds to start).
    MetricsRise,
    /// The device's utilisation falls back after the load pod is deleted.
    MetricsFall,
    /// The monitoring system's query API returns the request counter of kaic's model server at the number of
    /// requests sent (scrape interval, ingestion and query delays of managed back-ends).
    MetricsCollected,
    /// The custom metrics API lists a metric of kaic's model server pods (adapters relist their series
    /// periodically: prometheus-adapter's chart relists every minute).
    MetricListed,
    /// The HorizontalPodAutoscaler controller reads kaic's metric (its sync period is 15 s by default, plus
    /// the adapter's and the monitoring system's lag).
    HpaMetricRead,
    /// Under load the HPA scales kaic's Deployment up and the new pods run with their devices.
    HpaScaleUp,
    /// After the load the HPA scales kaic's Deployment back to one replica.
    HpaScaleDown,
    /// A model server pod (ai_inference) is scheduled, pulls its image and answers on its port (Ready).
    ModelServerReady,
    /// A Gateway is Accepted and Programmed with an address (a cloud load balancer may take a minute or two).
    GatewayProgrammed,
    /// An HTTPRoute is Accepted with its references resolved by the Gateway's controller.
    RouteAccepted,
    /// An Accepted route answers through the Gateway (the data plane is programmed after the status is written).
    RouteServing,
    /// A Gateway address served by infrastructure outside the cluster (a LoadBalancer Service's address, or a
    /// hostname) answers through the Gateway: an NLB registers its targets and its DNS name resolves minutes
    /// after the Gateway is Programmed, a cloud L7 load balancer programs its health checks.
    LoadBalancerServing,
    /// An InferencePool's endpoint picker reports the load its model servers publish (the full picker scrapes
    /// each every 250 ms as kaic runs it; its pool gauges are flushed every 5 s).
    PickerScraped,
    /// A pod no node can take makes the node autoscaler add a node with the accelerator, which joins Ready
    /// and runs the pod (cloud GPU nodes take minutes: VM start, driver installation, device plugin).
    NodeScaleUp,
    /// After kaic's pods are gone the autoscaler removes the node it added (cluster-autoscaler waits 10 min
    /// before it removes an unneeded node; Karpenter waits the NodePool's `consolidateAfter`).
    NodeScaleDown,
    /// The autoscaler says why it adds no node for a pod that no node group can serve (an event on the pod).
    ScaleUpRefused,
}

impl Wait {
    /// Every wait, for the table in `--help` and the README.
    pub const ALL: [Wait; 27] = [
        Self::ProbePod,
        Self::ClaimedPodScheduled,
        Self::ClaimReleased,
        Self::GangBind,
        Self::GangWindow,
        Self::GangComplete,
        Self::GangRequeue,
        Self::QueueActive,
        Self::KueueEviction,
        Self::OperatorReconcile,
        Self::NamespaceGone,
        Self::MetricsRise,
        Self::MetricsFall,
        Self::MetricsCollected,
        Self::MetricListed,
        Self::HpaMetricRead,
        Self::HpaScaleUp,
        Self::HpaScaleDown,
        Self::ModelServerReady,
        Self::GatewayProgrammed,
        Self::RouteAccepted,
        Self::RouteServing,
        Self::LoadBalancerServing,
        Self::PickerScraped,
        Self::NodeScaleUp,
        Self::NodeScaleDown,
        Self::ScaleUpRefused,
    ];

    /// The duration before scaling.
    pub fn base(self) -> Duration {
        Duration::from_secs(match self {
            Self::ProbePod => 180,
            Self::ClaimedPodScheduled => 120,
            Self::ClaimReleased => 90,
            Self::GangBind => 90,
            Self::GangWindow => 12,
            Self::GangComplete => 90,
            Self::GangRequeue => 330,
            Self::QueueActive => 60,
            Self::KueueEviction => 390,
            Self::OperatorReconcile => 120,
            Self::NamespaceGone => 180,
            Self::MetricsRise => 150,
            Self::MetricsFall => 120,
            Self::MetricsCollected => 300,
            Self::MetricListed => 120,
            Self::HpaMetricRead => 120,
            Self::HpaScaleUp => 180,
            Self::HpaScaleDown => 180,
            Self::ModelServerReady => 180,
            Self::GatewayProgrammed => 180,
            Self::RouteAccepted => 60,
            Self::RouteServing => 60,
            Self::LoadBalancerServing => 600,
            Self::PickerScraped => 60,
            Self::NodeScaleUp => 900,
            Self::NodeScaleDown => 1500,
            Self::ScaleUpRefused => 120,
        })
    }

    /// Its name in the table and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::ProbePod => "probe-pod",
            Self::ClaimedPodScheduled => "claimed-pod-scheduled",
            Self::ClaimReleased => "claim-released",
            Self::GangBind => "gang-bind",
            Self::GangWindow => "gang-window",
            Self::GangComplete => "gang-complete",
            Self::GangRequeue => "gang-requeue",
            Self::QueueActive => "queue-active",
            Self::KueueEviction => "kueue-eviction",
            Self::OperatorReconcile => "operator-reconcile",
            Self::NamespaceGone => "namespace-gone",
            Self::MetricsRise => "metrics-rise",
            Self::MetricsFall => "metrics-fall",
            Self::MetricsCollected => "metrics-collected",
            Self::MetricListed => "metric-listed",
            Self::HpaMetricRead => "hpa-metric-read",
            Self::HpaScaleUp => "hpa-scale-up",
            Self::HpaScaleDown => "hpa-scale-down",
            Self::ModelServerReady => "model-server-ready",
            Self::GatewayProgrammed => "gateway-programmed",
            Self::RouteAccepted => "route-accepted",
            Self::RouteServing => "route-serving",
            Self::LoadBalancerServing => "load-balancer-serving",
            Self::PickerScraped => "picker-scraped",
            Self::NodeScaleUp => "node-scale-up",
            Self::NodeScaleDown => "node-scale-down",
            Self::ScaleUpRefused => "scale-up-refused",
        }
    }
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The factor `--timeout-scale` sets (1.0 by default). Always finite and positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeoutScale(f64);

impl Default for TimeoutScale {
    fn default() -> Self {
        Self(1.0)
    }
}

impl TimeoutScale {
    /// # Errors
    /// A sentence naming the problem when `factor` is not a finite number between 0.1 and 100.
    pub fn new(factor: f64) -> Result<Self, String> {
        if factor.is_finite() && (0.1..=100.0).contains(&factor) {
            Ok(Self(factor))
        } else {
            Err(format!(
                "--timeout-scale {factor} is out of range: give a factor between 0.1 and 100 (1 = the documented timeouts)"
            ))
        }
    }

    pub fn factor(self) -> f64 {
        self.0
    }

    /// `base` scaled.
    pub fn apply(self, base: Duration) -> Duration {
        base.mul_f64(self.0)
    }

    /// The scaled duration of `wait`.
    pub fn of(self, wait: Wait) -> Duration {
        self.apply(wait.base())
    }
}

/// Named waits set outright with `--wait NAME=SECONDS` (not scaled): a platform whose autoscaler removes
/// nodes after 30 minutes, or a test environment that knows its own delays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WaitOverrides(BTreeMap<Wait, Duration>);

impl WaitOverrides {
    /// Parses one `NAME=SECONDS`.
    ///
    /// # Errors
    /// A sentence naming the problem and the table's names.
    pub fn parse(text: &str) -> Result<(Wait, Duration), String> {
        let names = || Wait::ALL.iter().map(|w| w.name()).collect::<Vec<_>>().join(", ");
        let (name, seconds) = text.split_once('=').ok_or_else(|| {
            format!("--wait '{text}' is not NAME=SECONDS (e.g. node-scale-down=1800); names: {}", names())
        })?;
        let wait = Wait::ALL
            .into_iter()
            .find(|w| w.name() == name.trim())
            .ok_or_else(|| format!("--wait: no wait is named '{name}'; names: {}", names()))?;
        let seconds: u64 =
            seconds.trim().parse().ok().filter(|s| (1..=86_400).contains(s)).ok_or_else(|| {
                format!("--wait {name}: '{seconds}' is not a whole number of seconds from 1 to 86400")
            })?;
        Ok((wait, Duration::from_secs(seconds)))
    }

    pub fn new(entries: impl IntoIterator<Item = (Wait, Duration)>) -> Self {
        Self(entries.into_iter().collect())
    }

    /// The duration of `wait`: its override, else the table's scaled by `scale`.
    pub fn of(&self, scale: TimeoutScale, wait: Wait) -> Duration {
        self.0.get(&wait).copied().unwrap_or_else(|| scale.of(wait))
    }

    /// What the overrides add to the budget of a check making `waits` (overrides shorter than the scaled
    /// table entry never shrink it).
    pub fn extra(&self, scale: TimeoutScale, waits: &[(Wait, u32)]) -> Duration {
        waits.iter().map(|(wait, times)| self.of(scale, *wait).saturating_sub(scale.of(*wait)) * *times).sum()
    }
}

/// The sum of `waits` (each wait with how many times it may happen in sequence), before scaling.
pub fn sum(waits: &[(Wait, u32)]) -> Duration {
    waits.iter().map(|(wait, times)| wait.base() * *times).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_multiplies_and_refuses_nonsense() {
        let scale = TimeoutScale::new(2.5).unwrap();
        assert_eq!(scale.of(Wait::GangWindow), Duration::from_secs(30));
        assert!(TimeoutScale::new(0.0).is_err());
        assert!(TimeoutScale::new(f64::NAN).unwrap_err().contains("--timeout-scale"));
        assert_eq!(sum(&[(Wait::GangBind, 2), (Wait::GangWindow, 1)]), Duration::from_secs(192));
    }

    #[test]
    fn an_override_replaces_one_wait_and_grows_the_budget_by_the_difference() {
        let (wait, duration) = WaitOverrides::parse("node-scale-down=1800").unwrap();
        assert_eq!((wait, duration), (Wait::NodeScaleDown, Duration::from_secs(1800)));
        let overrides = WaitOverrides::new([(wait, duration), (Wait::ScaleUpRefused, Duration::from_secs(10))]);
        let scale = TimeoutScale::default();
        assert_eq!(overrides.of(scale, Wait::NodeScaleDown), Duration::from_secs(1800));
        assert_eq!(overrides.of(scale, Wait::NodeScaleUp), Duration::from_secs(900));
        let waits = [(Wait::NodeScaleDown, 1), (Wait::ScaleUpRefused, 1)];
        assert_eq!(overrides.extra(scale, &waits), Duration::from_secs(300));
        assert!(WaitOverrides::parse("node-scale-down").unwrap_err().contains("NAME=SECONDS"));
        assert!(WaitOverrides::parse("scale-down=60").unwrap_err().contains("node-scale-down"));
        assert!(WaitOverrides::parse("node-scale-down=0").unwrap_err().contains("whole number of seconds"));
    }

    #[test]
    fn every_wait_has_a_distinct_name() {
        let mut names: Vec<&str> = Wait::ALL.iter().map(|w| w.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Wait::ALL.len());
    }
}
