//! kaic's HorizontalPodAutoscaler (`autoscaling/v2`): the Deployment's replicas between 1 and
//! [`MAX_REPLICAS`] on a per-pod custom metric (type `Pods`, an average value per pod), with behaviour that
//! lets it move at once (no stabilisation window, whole steps per 5 s), so the controller's own sync period
//! is what kaic measures. And the judgement of its status: it reads the metric only when its
//! `ScalingActive` condition is true and `currentMetrics` carries a value; `ScalingActive=False` (e.g.
//! `FailedGetPodsMetric`) is the controller saying it cannot, with its message.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use serde_json::{Value, json};

use crate::check::CheckContext;

/// The HPA's name (the Deployment's too).
pub const NAME: &str = "kaic-model-server";
/// The most replicas kaic lets it reach: each takes one accelerator.
pub const MAX_REPLICAS: i32 = 3;

/// The HPA scaling Deployment [`NAME`] on `metric`, aiming at `target` per pod.
pub fn manifest(ctx: &CheckContext, metric: &str, target: &str) -> Value {
    json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": NAME, "labels": ctx.labels()},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
            "minReplicas": 1,
            "maxReplicas": MAX_REPLICAS,
            "metrics": [{
                "type": "Pods",
                "pods": {"metric": {"name": metric}, "target": {"type": "AverageValue", "averageValue": target}}
            }],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                            "policies": [{"type": "Pods", "value": MAX_REPLICAS, "periodSeconds": 5}]},
                "scaleDown": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                              "policies": [{"type": "Percent", "value": 100, "periodSeconds": 5}]}
            }
        }
    })
}

/// What the HPA's status says, in the terms kaic judges.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reading {
    /// `ScalingActive`: status, reason and message; `None` before the controller's first sync.
    pub active: Option<(bool, String, String)>,
    /// The current average of the metric per pod, as the controller read it (`currentMetrics`).
    pub current: Option<String>,
    pub current_replicas: i32,
    pub desired_replicas: i32,
}

impl Reading {
    pub fn of(hpa: &HorizontalPodAutoscaler) -> Self {
        let Some(status) = hpa.status.as_ref() else { return Self::default() };
        let active =
            status.conditions.iter().flatten().find(|c| c.type_ == "ScalingActive").map(|c| {
                (c.status == "True", c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default())
            });
        let current = status
            .current_metrics
            .iter()
            .flatten()
            .filter_map(|m| m.pods.as_ref())
            .find_map(|p| Some(p.current.average_value.as_ref()?.0.clone()));
        Self {
            active,
            current,
            current_replicas: status.current_replicas.unwrap_or(0),
            desired_replicas: status.desired_replicas,
        }
    }

    /// In one line, for steps and timeouts.
    pub fn describe(&self) -> String {
        let active = match &self.active {
            None => "no ScalingActive condition yet".to_string(),
            Some((ok, reason, message)) => {
                format!("ScalingActive={} {reason}: {message}", if *ok { "True" } else { "False" })
            }
        };
        format!(
            "{active}; current value {}; replicas {} (desired {})",
            self.current.as_deref().unwrap_or("none"),
            self.current_replicas,
            self.desired_replicas
        )
    }
}

/// Whether the HPA reads its metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// `ScalingActive=True` and a current value: the controller read the metric.
    Reads(String),
    /// `ScalingActive=False`: the controller says it cannot (reason, message).
    CannotRead(String, String),
    /// Not decided yet (no sync yet, or active without a value).
    NotYet,
}

pub fn judge(reading: &Reading) -> Judgement {
    match (&reading.active, &reading.current) {
        (Some((true, _, _)), Some(value)) => Judgement::Reads(value.clone()),
        (Some((false, reason, message)), _) => Judgement::CannotRead(reason.clone(), message.clone()),
        _ => Judgement::NotYet,
    }
}

/// A quantity as a number (`"1500m"` → 1.5, `"2"` → 2), for comparing the value under load with idle.
pub fn quantity(text: &str) -> Option<f64> {
    let (number, factor) = match text.strip_suffix('m') {
        Some(milli) => (milli, 1e-3),
        None => match text.strip_suffix('k') {
            Some(kilo) => (kilo, 1e3),
            None => (text, 1.0),
        },
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckOptions, from_json};

    fn hpa(status: Value) -> HorizontalPodAutoscaler {
        from_json(json!({
            "metadata": {"name": NAME},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": NAME}, "maxReplicas": 3},
            "status": status
        }))
        .unwrap()
    }

    fn active(status: &str, reason: &str, message: &str) -> Value {
        json!({"type": "ScalingActive", "status": status, "reason": reason, "message": message})
    }

    #[tokio::test]
    async fn the_manifest_scales_the_deployment_on_a_pods_metric_at_once() {
        let ctx = CheckContext::offline("pod_autoscaling", CheckOptions::default());
        let m = manifest(&ctx, "vllm_num_requests_waiting", "1");
        assert_eq!(m["spec"]["metrics"][0]["pods"]["metric"]["name"], "vllm_num_requests_waiting");
        assert_eq!(m["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"], 0);
        assert_eq!(m["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 0);
        assert_eq!(m["metadata"]["labels"]["kaic.dev/check"], "pod-autoscaling");
        let _: HorizontalPodAutoscaler = from_json(m).unwrap();
    }

    #[test]
    fn reads_only_when_active_with_a_current_value() {
        let reading = Reading::of(&hpa(json!({
            "currentReplicas": 3, "desiredReplicas": 3,
            "currentMetrics": [{"type": "Pods", "pods": {"metric": {"name": "vllm_num_requests_waiting"},
                                "current": {"averageValue": "1500m"}}}],
            "conditions": [active("True", "ValidMetricFound", "the HPA was able to successfully calculate a replica count")]
        })));
        assert_eq!(judge(&reading), Judgement::Reads("1500m".into()));
        assert_eq!((reading.current_replicas, reading.desired_replicas), (3, 3));
        assert!(reading.describe().contains("ScalingActive=True ValidMetricFound"));
        assert_eq!(quantity("1500m"), Some(1.5));
        assert_eq!(quantity("2"), Some(2.0));
        assert_eq!(quantity("x"), None);
    }

    #[test]
    fn an_unreadable_metric_is_the_controllers_refusal_never_a_reading() {
        let message = "the HPA was unable to compute the replica count: unable to get metric vllm_num_requests_waiting: \
                       unable to fetch metrics from custom metrics API: the server could not find the metric";
        let reading = Reading::of(&hpa(json!({
            "currentReplicas": 1, "desiredReplicas": 0,
            "conditions": [active("False", "FailedGetPodsMetric", message)]
        })));
        assert_eq!(judge(&reading), Judgement::CannotRead("FailedGetPodsMetric".into(), message.into()));
        // Active but no value yet, and no sync at all: undecided.
        let no_value =
            Reading::of(&hpa(json!({"desiredReplicas": 1, "conditions": [active("True", "ValidMetricFound", "")]})));
        assert_eq!(judge(&no_value), Judgement::NotYet);
        let fresh = Reading::of(&hpa(json!(null)));
        assert_eq!(judge(&fresh), Judgement::NotYet);
        assert!(fresh.describe().starts_with("no ScalingActive condition yet"));
    }
}
