//! The one timeout table: every wait kaic makes has a name, a documented base duration and a reason, as
//! gateway-api's conformance suite names its timeouts. `--timeout-scale F` multiplies every entry (and
//! every check's budget) for slow clusters: a cloud that takes minutes to pull an image or bring up a node.
//!
//! Each check declares the waits it may make in sequence ([`crate::Check::waits`]); a unit test asserts
//! that the check's budget ([`crate::Check::timeout`]) covers their sum, so a check is never cut off by
//! the runner while one of its own waits is still legitimately running.

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
    /// An operator reconciles a valid object to its ready or finished condition.
    OperatorReconcile,
    /// A check's namespace, pods and claims are really gone (finalizers run, devices released) before the
    /// next accelerator check starts.
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
}

impl Wait {
    /// Every wait, for the table in `--help` and the README.
    pub const ALL: [Wait; 21] = [
        Self::ProbePod,
        Self::ClaimedPodScheduled,
        Self::ClaimReleased,
        Self::GangBind,
        Self::GangWindow,
        Self::GangComplete,
        Self::GangRequeue,
        Self::QueueActive,
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
    fn every_wait_has_a_distinct_name() {
        let mut names: Vec<&str> = Wait::ALL.iter().map(|w| w.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Wait::ALL.len());
    }
}
