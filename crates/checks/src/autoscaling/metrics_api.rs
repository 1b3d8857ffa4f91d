//! The metrics APIs a HorizontalPodAutoscaler reads, as the cluster registers them: an `APIService` for
//! `custom.metrics.k8s.io` (prometheus-adapter, KEDA's is `external.metrics.k8s.io`, Datadog, Google's
//! Stackdriver adapter, …) with its `Available` condition; KEDA by its API group `keda.sh`; and, from the
//! custom metrics API's resource list (`/apis/custom.metrics.k8s.io/<version>`), the per-pod metric kaic
//! scales on: a vLLM metric of requests waiting or running, or the one named with `--hpa-metric`. Names come
//! as the adapter writes them: prometheus-adapter's rules (`vllm_num_requests_waiting`), or the Stackdriver
//! adapter's Cloud Monitoring types with `/` as `|` (`prometheus.googleapis.com|vllm:num_requests_waiting|gauge`
//! for Google Cloud Managed Service for Prometheus), listed for every resource (`*/…`) and, by default, only
//! one of them (the adapter lists a single metric unless started with full listing).

use serde_json::Value;

use crate::observability::model_server::Reader;

/// The custom metrics API's group (per-object and per-pod metrics: HPA metric types `Pods` and `Object`).
pub const CUSTOM_GROUP: &str = "custom.metrics.k8s.io";
/// The external metrics API's group (HPA metric type `External`; KEDA serves it).
pub const EXTERNAL_GROUP: &str = "external.metrics.k8s.io";
/// KEDA's own API group (ScaledObject, ScaledJob).
pub const KEDA_GROUP: &str = "keda.sh";

/// What to install when no custom metrics API is served.
pub const INSTALL: &str = "install a custom metrics API for the HorizontalPodAutoscaler: prometheus-adapter \
    (sigs.k8s.io/prometheus-adapter, with a rule exposing a vLLM per-pod metric such as vllm:num_requests_waiting \
    from the platform's Prometheus) or KEDA (keda.sh: ScaledObjects, external.metrics.k8s.io), and rerun";

/// vLLM metric names kaic scales on, best first: requests waiting rise with load on any server; requests
/// running rise until the server's batch is full.
pub const PREFERRED: &[&str] = &["num_requests_waiting", "num_requests_running"];

/// One registered metrics API version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The APIService's name, e.g. `v1beta1.custom.metrics.k8s.io`.
    pub name: String,
    pub group: String,
    pub version: String,
    /// `namespace/name` of the Service behind it; `None` for an API served by the API server itself.
    pub service: Option<String>,
    pub available: bool,
    /// The `Available` condition's reason and message, for a person.
    pub condition: String,
}

impl Registration {
    /// Who serves it, guessed from the Service's name, for the report.
    pub fn provider(&self) -> String {
        let service = self.service.clone().unwrap_or_else(|| "the API server".into());
        let lower = service.to_lowercase();
        let known = [
            ("prometheus-adapter", "prometheus-adapter"),
            ("keda", "KEDA"),
            ("datadog", "Datadog Cluster Agent"),
            ("stackdriver", "Stackdriver adapter"),
            ("custom-metrics", "a custom metrics adapter"),
        ];
        match known.iter().find(|(needle, _)| lower.contains(needle)) {
            Some((_, name)) => format!("{name} (Service {service})"),
            None => format!("Service {service}"),
        }
    }

    /// Who collects the metrics it serves, which decides how kaic registers its pods: the Stackdriver adapter
    /// reads Cloud Monitoring (Google Cloud Managed Service for Prometheus collects through PodMonitorings),
    /// prometheus-adapter a Prometheus.
    pub fn reader(&self) -> Reader {
        let service = self.service.clone().unwrap_or_default().to_lowercase();
        if service.contains("stackdriver") {
            Reader::Gmp
        } else if service.contains("prometheus-adapter") {
            Reader::Prometheus
        } else {
            Reader::Unknown
        }
    }

    /// Whether it is Google's Stackdriver adapter, which lists one metric only by default.
    pub fn is_stackdriver(&self) -> bool {
        self.reader() == Reader::Gmp
    }
}

/// The registrations of the custom and external metrics APIs among the cluster's APIServices (JSON).
pub fn registrations(apiservices: &[Value]) -> Vec<Registration> {
    apiservices
        .iter()
        .filter_map(|a| {
            let group = a["spec"]["group"].as_str()?;
            if group != CUSTOM_GROUP && group != EXTERNAL_GROUP {
                return None;
            }
            let condition =
                a["status"]["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "Available");
            let available = condition.is_some_and(|c| c["status"] == "True");
            let condition = condition.map_or_else(
                || "no Available condition yet".to_string(),
                |c| {
                    format!(
                        "Available={} {}: {}",
                        c["status"].as_str().unwrap_or("?"),
                        c["reason"].as_str().unwrap_or_default(),
                        c["message"].as_str().unwrap_or_default()
                    )
                },
            );
            let service = a["spec"]["service"]["name"]
                .as_str()
                .map(|name| format!("{}/{name}", a["spec"]["service"]["namespace"].as_str().unwrap_or_default()));
            Some(Registration {
                name: a["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                group: group.to_string(),
                version: a["spec"]["version"].as_str().unwrap_or_default().to_string(),
                service,
                available,
                condition,
            })
        })
        .collect()
}

/// How the custom metrics API is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// An Available version (the newest, v1beta2 before v1beta1).
    Available(Registration),
    /// Registered, but no version is Available: its condition says why.
    NotAvailable(Vec<Registration>),
    /// No APIService for the group.
    Absent,
}

/// How `group` is served, from the registrations.
pub fn served(registrations: &[Registration], group: &str) -> Served {
    let mut of_group: Vec<&Registration> = registrations.iter().filter(|r| r.group == group).collect();
    if of_group.is_empty() {
        return Served::Absent;
    }
    of_group.sort_by(|a, b| b.version.cmp(&a.version));
    match of_group.iter().find(|r| r.available) {
        Some(r) => Served::Available((*r).clone()),
        None => Served::NotAvailable(of_group.into_iter().cloned().collect()),
    }
}

/// The per-pod metrics in a custom metrics API resource list: `pods/<metric>` entries, and `*/<metric>` (the
/// Stackdriver adapter's, for any resource).
pub fn pod_metrics(resource_list: &Value) -> Vec<String> {
    resource_list["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let name = r["name"].as_str()?;
            name.strip_prefix("pods/").or_else(|| name.strip_prefix("*/")).map(str::to_string)
        })
        .collect()
}

/// A metric's own name: the Stackdriver adapter's `domain|name|kind` gives the Prometheus name in the middle
/// (`prometheus.googleapis.com|vllm:num_requests_waiting|gauge`), other adapters the name itself.
fn base_name(name: &str) -> &str {
    match (name.split_once('|'), name.rsplit_once('|')) {
        (Some((domain, _)), Some((_, kind))) if domain.contains('.') && domain.len() + kind.len() + 2 < name.len() => {
            &name[domain.len() + 1..name.len() - kind.len() - 1]
        }
        _ => name,
    }
}

/// The metric kaic scales on among `names`: a vLLM metric (`vllm:` or `vllm_`, as adapters rename colons)
/// of requests waiting, else of requests running, under its own name or the Stackdriver adapter's.
pub fn choose(names: &[String]) -> Option<String> {
    PREFERRED.iter().find_map(|wanted| {
        names
            .iter()
            .find(|n| {
                let base = base_name(n);
                base.to_lowercase().contains("vllm") && base.ends_with(wanted)
            })
            .cloned()
    })
}

/// The Stackdriver adapter's name for the vLLM gauge `metric` (e.g. `num_requests_waiting`) collected by
/// Google Cloud Managed Service for Prometheus, as GKE's HPA examples write it.
pub fn stackdriver_name(metric: &str) -> String {
    format!("prometheus.googleapis.com|vllm:{metric}|gauge")
}

/// The average per pod kaic's HPA aims at for `metric`: one request waiting per pod (with load that keeps
/// several waiting on one pod, the HPA scales up), half a request running (the server runs one at a time).
pub fn target(metric: &str) -> &'static str {
    if metric.contains("waiting") { "1" } else { "500m" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apiservice(name: &str, group: &str, version: &str, service: Option<&str>, available: &str) -> Value {
        json!({
            "metadata": {"name": name},
            "spec": {"group": group, "version": version,
                     "service": service.map(|s| json!({"namespace": "monitoring", "name": s}))},
            "status": {"conditions": [{"type": "Available", "status": available, "reason": "Passed", "message": "all checks passed"}]}
        })
    }

    #[test]
    fn finds_the_available_custom_metrics_api_and_its_provider() {
        let list = vec![
            apiservice("v1.apps", "apps", "v1", None, "True"),
            apiservice("v1beta1.custom.metrics.k8s.io", CUSTOM_GROUP, "v1beta1", Some("prometheus-adapter"), "True"),
            apiservice("v1beta2.custom.metrics.k8s.io", CUSTOM_GROUP, "v1beta2", Some("prometheus-adapter"), "True"),
        ];
        let regs = registrations(&list);
        assert_eq!(regs.len(), 2);
        let Served::Available(r) = served(&regs, CUSTOM_GROUP) else { panic!("not available") };
        assert_eq!(r.version, "v1beta2");
        assert_eq!(r.provider(), "prometheus-adapter (Service monitoring/prometheus-adapter)");
        assert_eq!(served(&regs, EXTERNAL_GROUP), Served::Absent);
    }

    #[test]
    fn a_registered_api_without_a_backend_is_not_available_with_why() {
        let mut down = apiservice(
            "v1beta1.external.metrics.k8s.io",
            EXTERNAL_GROUP,
            "v1beta1",
            Some("keda-operator-metrics-apiserver"),
            "False",
        );
        down["status"]["conditions"][0]["reason"] = json!("MissingEndpoints");
        down["status"]["conditions"][0]["message"] =
            json!("endpoints for service/keda-operator-metrics-apiserver in \"keda\" have no addresses");
        let regs = registrations(&[down]);
        let Served::NotAvailable(rs) = served(&regs, EXTERNAL_GROUP) else { panic!("available?") };
        assert!(rs[0].condition.contains("MissingEndpoints"), "{}", rs[0].condition);
        assert!(rs[0].provider().starts_with("KEDA"));
        assert_eq!(served(&regs, CUSTOM_GROUP), Served::Absent);
    }

    #[test]
    fn picks_a_vllm_pod_metric_from_the_resource_list() {
        let list = json!({
            "kind": "APIResourceList", "groupVersion": "custom.metrics.k8s.io/v1beta1",
            "resources": [
                {"name": "namespaces/vllm_num_requests_waiting", "namespaced": false, "kind": "MetricValueList", "verbs": ["get"]},
                {"name": "pods/vllm_kv_cache_usage_perc", "namespaced": true, "kind": "MetricValueList", "verbs": ["get"]},
                {"name": "pods/vllm_num_requests_running", "namespaced": true, "kind": "MetricValueList", "verbs": ["get"]},
                {"name": "pods/vllm_num_requests_waiting", "namespaced": true, "kind": "MetricValueList", "verbs": ["get"]},
                {"name": "pods/http_requests", "namespaced": true, "kind": "MetricValueList", "verbs": ["get"]}
            ]
        });
        let names = pod_metrics(&list);
        assert_eq!(names.len(), 4);
        assert_eq!(choose(&names).as_deref(), Some("vllm_num_requests_waiting"));
        let running_only: Vec<String> = vec!["vllm:num_requests_running".into(), "http_requests".into()];
        assert_eq!(choose(&running_only).as_deref(), Some("vllm:num_requests_running"));
        assert_eq!(choose(&["http_requests".to_string()]), None);
        assert_eq!(pod_metrics(&json!({"resources": []})), Vec::<String>::new());
        assert_eq!(target("vllm_num_requests_waiting"), "1");
        assert_eq!(target("vllm_num_requests_running"), "500m");
    }

    #[test]
    fn matches_the_stackdriver_adapters_names() {
        let list = json!({
            "kind": "APIResourceList", "groupVersion": "custom.metrics.k8s.io/v1beta2",
            "resources": [
                {"name": "*/prometheus.googleapis.com|vllm:kv_cache_usage_perc|gauge", "namespaced": true},
                {"name": "*/prometheus.googleapis.com|vllm:num_requests_running|gauge", "namespaced": true},
                {"name": "*/prometheus.googleapis.com|vllm:num_requests_waiting|gauge", "namespaced": true},
                {"name": "*/custom.googleapis.com|http_requests", "namespaced": true}
            ]
        });
        let names = pod_metrics(&list);
        assert_eq!(names.len(), 4);
        assert_eq!(choose(&names).as_deref(), Some("prometheus.googleapis.com|vllm:num_requests_waiting|gauge"));
        let running = vec!["prometheus.googleapis.com|vllm:num_requests_running|gauge".to_string()];
        assert_eq!(choose(&running).as_deref(), Some("prometheus.googleapis.com|vllm:num_requests_running|gauge"));
        // A metric that only mentions vLLM in its domain or kind is not vLLM's.
        assert_eq!(choose(&["custom.googleapis.com|num_requests_waiting".to_string()]), None);
        assert_eq!(
            stackdriver_name("num_requests_waiting"),
            "prometheus.googleapis.com|vllm:num_requests_waiting|gauge"
        );
        assert_eq!(target(&stackdriver_name("num_requests_waiting")), "1");
        assert_eq!(base_name("prometheus.googleapis.com|vllm:num_requests_waiting|gauge"), "vllm:num_requests_waiting");
        assert_eq!(base_name("vllm_num_requests_waiting"), "vllm_num_requests_waiting");
    }

    #[test]
    fn the_adapter_says_who_collects() {
        let reg = |service: &str| {
            registrations(&[apiservice(
                "v1beta1.custom.metrics.k8s.io",
                CUSTOM_GROUP,
                "v1beta1",
                Some(service),
                "True",
            )])[0]
                .clone()
        };
        assert_eq!(reg("custom-metrics-stackdriver-adapter").reader(), Reader::Gmp);
        assert!(reg("custom-metrics-stackdriver-adapter").is_stackdriver());
        assert_eq!(reg("prometheus-adapter").reader(), Reader::Prometheus);
        assert_eq!(reg("datadog-cluster-agent-metrics-api").reader(), Reader::Unknown);
    }
}
