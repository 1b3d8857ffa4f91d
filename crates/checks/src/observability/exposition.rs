//! Reading an exporter's `/metrics`: the Prometheus text exposition format parsed with the
//! `prometheus-parse` crate into flat series, and what each series is about: which device it describes (by
//! the per-device labels the upstream suite uses, plus AMD's), and whether it is utilisation, memory,
//! temperature, power or interconnect, with the OpenTelemetry hardware semantic-convention name where one
//! exists (`hw.gpu.utilization`, `hw.gpu.memory.usage`).

use std::collections::BTreeMap;
use std::fmt;

/// Labels that make a series per device: the upstream suite's list (`gpu, UUID, uuid, device_id, dev_id,
/// card_id, GPU_I_ID, minor_number, pci_bus_id`) and AMD's device metrics exporter's `gpu_id`, `gpu_uuid`.
pub const DEVICE_LABELS: &[&str] = &[
    "gpu",
    "UUID",
    "uuid",
    "device_id",
    "dev_id",
    "card_id",
    "GPU_I_ID",
    "minor_number",
    "pci_bus_id",
    "gpu_id",
    "gpu_uuid",
];

/// Labels holding a device's unique id (compared with DRA's `uuid` attribute).
pub const UUID_LABELS: &[&str] = &["UUID", "uuid", "gpu_uuid"];

/// Labels holding a device's index on its node.
pub const INDEX_LABELS: &[&str] = &["gpu", "gpu_id", "minor_number", "device_id", "dev_id", "card_id"];

/// One sample: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Series {
    /// Whether this series describes one device (it has a per-device label).
    pub fn per_device(&self) -> bool {
        DEVICE_LABELS.iter().any(|l| self.labels.contains_key(*l))
    }

    /// The device's unique id, if the series carries one.
    pub fn uuid(&self) -> Option<&str> {
        UUID_LABELS.iter().find_map(|l| self.labels.get(*l)).map(String::as_str)
    }

    /// The device's index on its node, if the series carries one.
    pub fn index(&self) -> Option<&str> {
        INDEX_LABELS.iter().find_map(|l| self.labels.get(*l)).map(String::as_str)
    }

    /// A key naming the device: its uuid, else its index, else all its per-device labels. `None` for a
    /// node-level series.
    pub fn device_key(&self) -> Option<String> {
        if let Some(uuid) = self.uuid() {
            return Some(uuid.to_string());
        }
        if let Some(index) = self.index() {
            return Some(format!("index {index}"));
        }
        let parts: Vec<String> =
            DEVICE_LABELS.iter().filter_map(|l| self.labels.get(*l).map(|v| format!("{l}={v}"))).collect();
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// The pod the exporter attributes this series to, as `namespace/pod`.
    pub fn pod(&self) -> Option<String> {
        let pod = ["pod", "exported_pod", "pod_name"].iter().find_map(|l| self.labels.get(*l))?;
        if pod.is_empty() {
            return None;
        }
        let namespace = ["namespace", "exported_namespace", "pod_namespace"]
            .iter()
            .find_map(|l| self.labels.get(*l))
            .cloned()
            .unwrap_or_default();
        Some(format!("{namespace}/{pod}"))
    }
}

/// Parses exposition text into series; histograms and summaries are left out (no exporter reports device
/// utilisation as one).
///
/// # Errors
/// The parser's message when the text is not the exposition format.
pub fn parse(text: &str) -> Result<Vec<Series>, String> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).map_err(|e| format!("not the Prometheus text format: {e}"))?;
    Ok(scrape
        .samples
        .into_iter()
        .filter_map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => return None,
            };
            let labels = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            Some(Series { name: s.metric, labels, value })
        })
        .collect())
}

/// What a series measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Utilisation,
    Memory,
    Temperature,
    Power,
    Interconnect,
}

impl Kind {
    pub const OPTIONAL: [Kind; 3] = [Kind::Temperature, Kind::Power, Kind::Interconnect];

    /// The OpenTelemetry hardware semantic-convention metric for this kind, where the GPU conventions
    /// name one (`hw.gpu.*`, status Development).
    pub fn otel_name(self) -> Option<&'static str> {
        match self {
            Kind::Utilisation => Some("hw.gpu.utilization"),
            Kind::Memory => Some("hw.gpu.memory.usage"),
            Kind::Temperature | Kind::Power | Kind::Interconnect => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Utilisation => "utilisation",
            Kind::Memory => "memory",
            Kind::Temperature => "temperature",
            Kind::Power => "power",
            Kind::Interconnect => "interconnect",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of a metric by its name, as the upstream suite decides it (utilisation: `util`; memory: `mem`,
/// `memory`, `fb`, `vram`, `hbm`), with temperature, power and interconnect told apart first and clocks
/// left out (a memory clock is not memory). DCGM's `DCGM_FI_PROF_GR_ENGINE_ACTIVE` and AMD's
/// `gpu_gfx_activity` are utilisation too.
pub fn kind(name: &str) -> Option<Kind> {
    let n = name.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
    if has(&["clock", "clk", "freq"]) {
        return None;
    }
    if has(&["temp"]) {
        return Some(Kind::Temperature);
    }
    if has(&["power", "energy"]) {
        return Some(Kind::Power);
    }
    if has(&["nvlink", "xgmi", "xelink", "interconnect", "pcie", "scaleout"]) {
        return Some(Kind::Interconnect);
    }
    let memory = has(&["mem", "fb_", "_fb", "vram", "hbm"]);
    if !memory && has(&["util", "engine_active", "gfx_activity"]) {
        return Some(Kind::Utilisation);
    }
    memory.then_some(Kind::Memory)
}

/// The preferred compute-utilisation metrics, best first: what the load judgement reads.
pub const UTILISATION_PREFERENCE: &[&str] = &[
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    "gpu_gfx_activity",
    "xpum_engine_group_compute_all_utilization",
    "habanalabs_utilization",
];

/// The compute-utilisation metric to follow in `series`: the first of [`UTILISATION_PREFERENCE`] present
/// per device, else any per-device utilisation metric (by name, for a stable choice).
pub fn utilisation_metric(series: &[Series]) -> Option<String> {
    let per_device: Vec<&Series> =
        series.iter().filter(|s| s.per_device() && kind(&s.name) == Some(Kind::Utilisation)).collect();
    UTILISATION_PREFERENCE
        .iter()
        .find(|m| per_device.iter().any(|s| s.name == **m))
        .map(|m| m.to_string())
        .or_else(|| per_device.iter().map(|s| s.name.clone()).min())
}

/// Whether a utilisation metric is a ratio (0–1) rather than a percentage (0–100).
pub fn is_ratio(metric: &str) -> bool {
    metric.starts_with("DCGM_FI_PROF_") || metric.ends_with("_ratio")
}

/// The value of `metric` for each device, by [`Series::device_key`] (the largest if a device has several
/// series, e.g. one per engine).
pub fn by_device(series: &[Series], metric: &str) -> BTreeMap<String, f64> {
    let mut values: BTreeMap<String, f64> = BTreeMap::new();
    for s in series.iter().filter(|s| s.name == metric) {
        if let Some(key) = s.device_key() {
            let entry = values.entry(key).or_insert(f64::NEG_INFINITY);
            *entry = entry.max(s.value);
        }
    }
    values
}

/// The pods `metric`'s series attribute to each device.
pub fn pods_by_device(series: &[Series], metric: &str) -> BTreeMap<String, Vec<String>> {
    let mut pods: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in series.iter().filter(|s| s.name == metric) {
        if let (Some(key), Some(pod)) = (s.device_key(), s.pod()) {
            let list = pods.entry(key).or_default();
            if !list.contains(&pod) {
                list.push(pod);
            }
        }
    }
    pods
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const DCGM: &str = include_str!("testdata/dcgm-exporter.h100x4.prom");

    #[test]
    fn parses_a_real_dcgm_exporter_page() {
        let series = parse(DCGM).unwrap();
        assert_eq!(series.len(), 18 * 4 + 1);
        let util: Vec<&Series> = series.iter().filter(|s| s.name == "DCGM_FI_DEV_GPU_UTIL").collect();
        assert_eq!(util.len(), 4);
        let held = util.iter().find(|s| s.labels["gpu"] == "1").unwrap();
        assert_eq!(held.value, 87.0);
        assert_eq!(held.uuid(), Some("GPU-3b1f0c9e-6a2d-4f7e-9c51-0d8e2b7a4f16"));
        assert_eq!(held.labels["modelName"], "NVIDIA H100 80GB HBM3", "a label value with spaces");
        assert_eq!(held.pod().as_deref(), Some("team-a/llm-train-0"));
        let build = series.iter().find(|s| s.name == "dcgm_exporter_build_info").unwrap();
        assert!(!build.per_device() && build.device_key().is_none(), "a node-level series");
        assert_eq!(utilisation_metric(&series).as_deref(), Some("DCGM_FI_DEV_GPU_UTIL"));
        let values = by_device(&series, "DCGM_FI_DEV_GPU_UTIL");
        assert_eq!(values.len(), 4);
        assert_eq!(values["GPU-3b1f0c9e-6a2d-4f7e-9c51-0d8e2b7a4f16"], 87.0);
        assert_eq!(
            pods_by_device(&series, "DCGM_FI_DEV_GPU_UTIL")["GPU-3b1f0c9e-6a2d-4f7e-9c51-0d8e2b7a4f16"],
            vec!["team-a/llm-train-0"]
        );
    }

    #[test]
    fn kinds_follow_the_names_and_keep_clocks_out() {
        assert_eq!(kind("DCGM_FI_DEV_GPU_UTIL"), Some(Kind::Utilisation));
        assert_eq!(kind("DCGM_FI_PROF_GR_ENGINE_ACTIVE"), Some(Kind::Utilisation));
        assert_eq!(kind("gpu_gfx_activity"), Some(Kind::Utilisation));
        assert_eq!(kind("DCGM_FI_DEV_FB_USED"), Some(Kind::Memory));
        assert_eq!(kind("DCGM_FI_DEV_MEM_COPY_UTIL"), Some(Kind::Memory), "memory bandwidth, not compute");
        assert_eq!(kind("gpu_used_vram"), Some(Kind::Memory));
        assert_eq!(kind("DCGM_FI_DEV_MEM_CLOCK"), None);
        assert_eq!(kind("DCGM_FI_DEV_MEMORY_TEMP"), Some(Kind::Temperature));
        assert_eq!(kind("DCGM_FI_DEV_POWER_USAGE"), Some(Kind::Power));
        assert_eq!(kind("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL"), Some(Kind::Interconnect));
        assert_eq!(kind("DCGM_FI_DEV_XID_ERRORS"), None);
        assert!(is_ratio("DCGM_FI_PROF_GR_ENGINE_ACTIVE") && !is_ratio("DCGM_FI_DEV_GPU_UTIL"));
        assert_eq!(Kind::Utilisation.otel_name(), Some("hw.gpu.utilization"));
        assert_eq!(Kind::Memory.otel_name(), Some("hw.gpu.memory.usage"));
    }

    #[test]
    fn garbage_is_not_metrics() {
        // The parser skips lines it does not understand; an HTML error page has no series.
        assert!(parse("<html><body>502 Bad Gateway</body></html>").unwrap().is_empty());
    }
}
