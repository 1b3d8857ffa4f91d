//! Finding each accelerator node's metrics exporter and scraping it. Exporters are recognised per vendor by
//! the labels their installers put on the pods or by their image (NVIDIA's dcgm-exporter as the GPU
//! Operator or its Helm chart deploys it, AMD's device metrics exporter, Intel's XPU Manager, the Intel
//! Gaudi metric exporter); the user may name the endpoint instead (`--accelerator-metrics-url`). Each
//! node's exporter pod is scraped through the API server's pod proxy, so kaic needs no route to pod IPs.

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use super::endpoint::{Endpoint, Headers};
use super::exposition::{self, Series};
use crate::check::CheckContext;
use crate::list;

/// One vendor's exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exporter {
    /// The vendor's name in kaic's vendor table ([`crate::accelerators::vendor::VENDORS`]).
    pub vendor: &'static str,
    /// The exporter's own name, for reports.
    pub name: &'static str,
    /// Pod labels its installers set (any one identifies it).
    pub labels: &'static [(&'static str, &'static str)],
    /// A part of its image name (any container).
    pub image: &'static str,
    /// Its default metrics port and path.
    pub port: i32,
    pub path: &'static str,
}

/// The exporters kaic recognises, one row per vendor.
pub const EXPORTERS: &[Exporter] = &[
    Exporter {
        vendor: "NVIDIA",
        name: "DCGM exporter",
        labels: &[
            ("app", "nvidia-dcgm-exporter"),
            ("app.kubernetes.io/name", "dcgm-exporter"),
            ("app", "dcgm-exporter"),
        ],
        image: "dcgm-exporter",
        port: 9400,
        path: "/metrics",
    },
    Exporter {
        vendor: "AMD",
        name: "AMD device metrics exporter",
        labels: &[("app.kubernetes.io/name", "device-metrics-exporter"), ("app", "device-metrics-exporter")],
        image: "device-metrics-exporter",
        port: 5000,
        path: "/metrics",
    },
    Exporter {
        vendor: "Intel",
        name: "Intel XPU Manager exporter",
        labels: &[("app", "intel-xpumanager"), ("app.kubernetes.io/name", "xpu-manager")],
        image: "xpumanager",
        port: 29999,
        path: "/metrics",
    },
    Exporter {
        vendor: "Intel Gaudi",
        name: "Intel Gaudi metric exporter",
        labels: &[("app", "metric-exporter"), ("app.kubernetes.io/name", "metric-exporter")],
        image: "gaudi-metric-exporter",
        port: 41611,
        path: "/metrics",
    },
];

/// Port names exporters commonly give their metrics port.
const METRICS_PORT_NAMES: &[&str] = &["metrics", "http-metrics", "prometheus", "http"];

impl Exporter {
    /// The exporter row for a vendor.
    pub fn for_vendor(vendor: &str) -> Option<&'static Exporter> {
        EXPORTERS.iter().find(|e| e.vendor == vendor)
    }

    /// Whether `pod` is this exporter: one of its labels, or its image in a container.
    pub fn matches(&self, pod: &Pod) -> bool {
        let labels = pod.labels();
        let labelled = self.labels.iter().any(|(k, v)| labels.get(*k).is_some_and(|x| x == v));
        let imaged = pod
            .spec
            .iter()
            .flat_map(|s| &s.containers)
            .any(|c| c.image.as_deref().is_some_and(|i| i.contains(self.image)));
        labelled || imaged
    }

    /// The port to scrape on `pod`: a container port named like a metrics port, else one with the exporter's
    /// default number, else the default number.
    pub fn port_of(&self, pod: &Pod) -> i32 {
        let ports: Vec<_> =
            pod.spec.iter().flat_map(|s| &s.containers).flat_map(|c| c.ports.iter().flatten()).collect();
        ports
            .iter()
            .find(|p| p.name.as_deref().is_some_and(|n| METRICS_PORT_NAMES.contains(&n)))
            .or_else(|| ports.iter().find(|p| p.container_port == self.port))
            .map_or(self.port, |p| p.container_port)
    }
}

/// Where one node's metrics come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub node: String,
    pub endpoint: Endpoint,
    /// For the user's endpoint (one for every node): keep only the series whose host label names this node.
    pub filter_by_host: bool,
    /// In words, for reports: `DCGM exporter pod gpu-operator/nvidia-dcgm-exporter-abc12`.
    pub what: String,
}

/// Labels an exporter names its host with.
const HOST_LABELS: &[&str] = &["Hostname", "hostname", "node", "nodename", "kubernetes_node", "node_name"];

impl Source {
    /// Scrapes the endpoint and parses it; for a shared endpoint keeps this node's series (all of them when
    /// no series names a host).
    ///
    /// # Errors
    /// Why the page could not be read or parsed.
    pub async fn scrape(&self, ctx: &CheckContext) -> Result<Vec<Series>, String> {
        let text = self.endpoint.get(&ctx.client, &Headers::default(), "").await?;
        let series = exposition::parse(&text)?;
        if series.is_empty() {
            return Err(format!("{} answered, but with no metric series", self.endpoint));
        }
        Ok(if self.filter_by_host { for_host(series, &self.node) } else { series })
    }
}

/// The series of `node` in a page covering several hosts; all of them when none names a host.
pub fn for_host(series: Vec<Series>, node: &str) -> Vec<Series> {
    let host = |s: &Series| HOST_LABELS.iter().find_map(|l| s.labels.get(*l)).cloned();
    if series.iter().all(|s| host(s).is_none()) {
        return series;
    }
    series.into_iter().filter(|s| host(s).is_none_or(|h| h == node || h.split('.').next() == Some(node))).collect()
}

/// What was found for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A running exporter (or the user's endpoint) to scrape.
    Source(Source),
    /// An exporter pod that is not running: its phase.
    NotRunning(String),
    /// No exporter of the node's vendor on it.
    Missing,
}

/// Finds the exporter pod of `vendor` on `node` (all namespaces, pods on that node only).
///
/// # Errors
/// The API error when the node's pods cannot be listed.
pub async fn find_on_node(ctx: &CheckContext, node: &str, exporter: &Exporter) -> Result<Found, kube::Error> {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let pods = list::all(&api, ListParams::default().fields(&format!("spec.nodeName={node}"))).await?;
    Ok(choose(node, exporter, &pods))
}

/// The exporter among a node's pods: a running one first.
pub fn choose(node: &str, exporter: &Exporter, pods: &[Pod]) -> Found {
    let ours: Vec<&Pod> = pods.iter().filter(|p| exporter.matches(p)).collect();
    let running = ours.iter().find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
    match (running, ours.first()) {
        (Some(pod), _) => {
            let namespace = pod.namespace().unwrap_or_default();
            let port = exporter.port_of(pod).to_string();
            Found::Source(Source {
                node: node.to_string(),
                endpoint: Endpoint::pod(&namespace, &pod.name_any(), &port, exporter.path),
                filter_by_host: false,
                what: format!("{} pod {namespace}/{}", exporter.name, pod.name_any()),
            })
        }
        (None, Some(pod)) => {
            let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into());
            Found::NotRunning(format!(
                "{} pod {}/{} is {phase}: {}",
                exporter.name,
                pod.namespace().unwrap_or_default(),
                pod.name_any(),
                crate::wait::describe_pod(pod)
            ))
        }
        (None, None) => Found::Missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, labels: serde_json::Value, image: &str, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "gpu-operator", "labels": labels},
            "spec": {"nodeName": "gpu-node-0", "containers": [{"name": "c", "image": image,
                     "ports": [{"name": "metrics", "containerPort": 9400}]}]},
            "status": {"phase": phase}
        }))
        .unwrap()
    }

    #[test]
    fn recognises_the_gpu_operators_exporter_by_label_or_image() {
        let nvidia = Exporter::for_vendor("NVIDIA").unwrap();
        let operator = pod(
            "nvidia-dcgm-exporter-x",
            json!({"app": "nvidia-dcgm-exporter"}),
            "nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04",
            "Running",
        );
        let renamed =
            pod("metrics-x", json!({"app": "gpu-metrics"}), "registry.example/mirror/dcgm-exporter:4.2.3", "Running");
        let other = pod(
            "device-plugin-x",
            json!({"app": "nvidia-device-plugin-daemonset"}),
            "nvcr.io/nvidia/k8s-device-plugin:v0.17.0",
            "Running",
        );
        assert!(nvidia.matches(&operator) && nvidia.matches(&renamed) && !nvidia.matches(&other));
        let Found::Source(source) = choose("gpu-node-0", nvidia, &[other.clone(), operator.clone()]) else { panic!() };
        assert_eq!(source.endpoint, Endpoint::pod("gpu-operator", "nvidia-dcgm-exporter-x", "9400", "/metrics"));
        assert_eq!(source.what, "DCGM exporter pod gpu-operator/nvidia-dcgm-exporter-x");
        assert_eq!(choose("gpu-node-0", nvidia, &[other]), Found::Missing);
        let crashing =
            pod("nvidia-dcgm-exporter-y", json!({"app": "nvidia-dcgm-exporter"}), "dcgm-exporter", "Pending");
        let Found::NotRunning(why) = choose("gpu-node-0", nvidia, &[crashing]) else { panic!() };
        assert!(why.starts_with("DCGM exporter pod gpu-operator/nvidia-dcgm-exporter-y is Pending"), "{why}");
    }

    #[test]
    fn a_shared_endpoint_is_split_by_host_label() {
        let page = "m{gpu=\"0\",Hostname=\"gpu-node-0\"} 1\nm{gpu=\"0\",Hostname=\"gpu-node-1\"} 2\n";
        let series = exposition::parse(page).unwrap();
        let mine = for_host(series.clone(), "gpu-node-1");
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].value, 2.0);
        let unnamed = exposition::parse("m{gpu=\"0\"} 1\n").unwrap();
        assert_eq!(for_host(unnamed, "gpu-node-1").len(), 1, "no host label: every series");
    }
}
