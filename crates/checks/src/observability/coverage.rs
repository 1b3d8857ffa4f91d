//! Whether an exporter's output covers every accelerator of a node: each device kaic's inventory knows
//! (by DRA `uuid` attribute where the driver publishes one, else by count: DRA devices or the device
//! plugin's capacity) must have a per-device utilisation series with a value in range and a per-device
//! memory series. Temperature, power and interconnect are reported when present; their absence is a note,
//! never a failure. Series without a device label (node-level) cannot show a device and are counted apart.

use std::collections::{BTreeMap, BTreeSet};

use super::exposition::{Kind, Series, is_ratio, kind};
use crate::accelerators::Finding;

/// The devices one node advertises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedDevices {
    pub node: String,
    /// Unique ids published for the node's whole devices (DRA `uuid` attribute).
    pub uuids: Vec<String>,
    /// How many whole devices the node advertises (DRA devices or device-plugin capacity, the larger).
    pub count: usize,
}

/// The judgement of one node's exporter output.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeCoverage {
    /// What is missing or wrong; empty when every device is covered.
    pub findings: Vec<Finding>,
    /// The devices covered and the metrics that covered them, in a sentence.
    pub summary: String,
    /// Optional kinds (temperature, power, interconnect) → the per-device metrics present.
    pub optional: BTreeMap<Kind, Vec<String>>,
    /// How many series had no device label.
    pub node_level: usize,
}

impl NodeCoverage {
    /// The optional kinds as a note: `temperature: DCGM_FI_DEV_GPU_TEMP; power: …; interconnect: absent`.
    pub fn optional_note(&self) -> String {
        Kind::OPTIONAL
            .iter()
            .map(|k| match self.optional.get(k) {
                Some(metrics) => format!("{k}: {}", metrics.join(", ")),
                None => format!("{k}: absent"),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Per device key, the metrics of `wanted` kind that describe it.
fn metrics_by_device(series: &[Series], wanted: Kind) -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for s in series.iter().filter(|s| kind(&s.name) == Some(wanted)) {
        if let Some(key) = s.device_key() {
            found.entry(key).or_default().insert(s.name.clone());
        }
    }
    found
}

/// Judges `series` (one scrape of the node's exporter) against the devices the node advertises.
pub fn judge(expected: &ExpectedDevices, series: &[Series]) -> NodeCoverage {
    let node = &expected.node;
    let node_level = series.iter().filter(|s| !s.per_device()).count();
    let util = metrics_by_device(series, Kind::Utilisation);
    let memory = metrics_by_device(series, Kind::Memory);
    let mut findings = Vec::new();
    if util.is_empty() && memory.is_empty() {
        let unlabelled: BTreeSet<&str> = series
            .iter()
            .filter(|s| !s.per_device() && matches!(kind(&s.name), Some(Kind::Utilisation | Kind::Memory)))
            .map(|s| s.name.as_str())
            .collect();
        let observed = if unlabelled.is_empty() {
            format!("{} series, none of them utilisation or memory with a device label", series.len())
        } else {
            format!(
                "only node-level series without a device label: {}",
                unlabelled.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        findings.push(Finding {
            what: format!("the exporter on node {node} reports no per-device utilisation or memory"),
            expected: format!(
                "a utilisation and a memory series for each of the {} device(s), each with a device label ({})",
                expected.count,
                super::exposition::DEVICE_LABELS.join(", ")
            ),
            observed,
        });
        return NodeCoverage { findings, node_level, ..Default::default() };
    }
    let series_have_uuids = series.iter().any(|s| s.uuid().is_some());
    let by_uuid = !expected.uuids.is_empty() && series_have_uuids;
    for (wanted, found, example) in
        [(Kind::Utilisation, &util, "DCGM_FI_DEV_GPU_UTIL"), (Kind::Memory, &memory, "DCGM_FI_DEV_FB_USED")]
    {
        if by_uuid {
            let missing: Vec<&String> = expected.uuids.iter().filter(|u| !found.contains_key(*u)).collect();
            if !missing.is_empty() {
                findings.push(Finding {
                    what: format!(
                        "{} of the {} devices of node {node} have no per-device {wanted} series: {}",
                        missing.len(),
                        expected.uuids.len(),
                        missing.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                    expected: format!("a {wanted} series (e.g. {example}) labelled with each device's UUID"),
                    observed: format!("{wanted} series for {}", keys(found)),
                });
            }
        } else if found.len() < expected.count {
            findings.push(Finding {
                what: format!(
                    "node {node} advertises {} device(s) but the exporter reports {wanted} for {}",
                    expected.count,
                    found.len()
                ),
                expected: format!(
                    "a per-device {wanted} series (e.g. {example}) for each of {} device(s)",
                    expected.count
                ),
                observed: format!("{wanted} series for {}", keys(found)),
            });
        }
    }
    for s in series.iter().filter(|s| s.per_device() && kind(&s.name) == Some(Kind::Utilisation)) {
        let top = if is_ratio(&s.name) { 1.0 } else { 100.0 };
        if !(0.0..=top).contains(&s.value) {
            findings.push(Finding {
                what: format!("{} of {} on node {node} is out of range", s.name, s.device_key().unwrap_or_default()),
                expected: format!("a utilisation between 0 and {top}"),
                observed: format!("{}", s.value),
            });
        }
    }
    let mut optional = BTreeMap::new();
    for k in Kind::OPTIONAL {
        let metrics: BTreeSet<String> = metrics_by_device(series, k).into_values().flatten().collect();
        if !metrics.is_empty() {
            optional.insert(k, metrics.into_iter().collect());
        }
    }
    let names = |found: &BTreeMap<String, BTreeSet<String>>| {
        found.values().flatten().cloned().collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>().join(", ")
    };
    let matched = if by_uuid { "matched by UUID" } else { "counted" };
    let summary = format!(
        "{} device(s) {matched}, each with utilisation ({}; OpenTelemetry hw.gpu.utilization) and memory ({}; \
         hw.gpu.memory.usage)",
        expected.count.max(expected.uuids.len()),
        names(&util),
        names(&memory)
    );
    NodeCoverage { findings, summary, optional, node_level }
}

fn keys(found: &BTreeMap<String, BTreeSet<String>>) -> String {
    if found.is_empty() { "no device".to_string() } else { found.keys().cloned().collect::<Vec<_>>().join(", ") }
}

#[cfg(test)]
mod tests {
    use super::super::exposition::parse;
    use super::*;

    const DCGM: &str = include_str!("testdata/dcgm-exporter.h100x4.prom");
    const UUIDS: [&str; 4] = [
        "GPU-8e27b4d1-90fa-13c6-5d2e-a4f81c6b7d03",
        "GPU-3b1f0c9e-6a2d-4f7e-9c51-0d8e2b7a4f16",
        "GPU-c4d5e6f7-0a1b-2c3d-4e5f-60718293a4b5",
        "GPU-f0e1d2c3-b4a5-9687-7869-5a4b3c2d1e0f",
    ];

    fn expected(uuids: &[&str], count: usize) -> ExpectedDevices {
        ExpectedDevices { node: "gpu-node-0".into(), uuids: uuids.iter().map(|u| u.to_string()).collect(), count }
    }

    #[test]
    fn every_device_covered_by_uuid_passes_and_optional_kinds_are_reported() {
        let series = parse(DCGM).unwrap();
        let coverage = judge(&expected(&UUIDS, 4), &series);
        assert!(coverage.findings.is_empty(), "{:?}", coverage.findings);
        assert!(
            coverage.summary.starts_with("4 device(s) matched by UUID, each with utilisation"),
            "{}",
            coverage.summary
        );
        assert!(coverage.summary.contains("DCGM_FI_DEV_GPU_UTIL"), "{}", coverage.summary);
        assert_eq!(coverage.node_level, 1);
        assert_eq!(
            coverage.optional_note(),
            "temperature: DCGM_FI_DEV_GPU_TEMP, DCGM_FI_DEV_MEMORY_TEMP; power: DCGM_FI_DEV_POWER_USAGE, \
             DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION; interconnect: DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL, \
             DCGM_FI_DEV_PCIE_REPLAY_COUNTER"
        );
        // Device-plugin only (no UUIDs known): counted.
        assert!(judge(&expected(&[], 4), &series).findings.is_empty());
    }

    #[test]
    fn a_device_without_series_fails_by_name() {
        let series: Vec<Series> =
            parse(DCGM).unwrap().into_iter().filter(|s| s.labels.get("gpu").map(String::as_str) != Some("2")).collect();
        let coverage = judge(&expected(&UUIDS, 4), &series);
        assert_eq!(coverage.findings.len(), 2, "utilisation and memory: {:?}", coverage.findings);
        assert!(
            coverage.findings[0].what.contains("1 of the 4 devices of node gpu-node-0 have no per-device utilisation")
        );
        assert!(coverage.findings[0].what.ends_with("GPU-c4d5e6f7-0a1b-2c3d-4e5f-60718293a4b5"));
        // A fifth device the exporter does not know.
        let coverage = judge(&expected(&[], 5), &parse(DCGM).unwrap());
        assert!(
            coverage.findings[0].what.contains("advertises 5 device(s) but the exporter reports utilisation for 4")
        );
    }

    #[test]
    fn node_level_series_do_not_cover_devices() {
        let text = "# TYPE DCGM_FI_DEV_GPU_UTIL gauge\nDCGM_FI_DEV_GPU_UTIL{Hostname=\"gpu-node-0\"} 3\n\
                    DCGM_FI_DEV_FB_USED{Hostname=\"gpu-node-0\"} 100\n";
        let coverage = judge(&expected(&UUIDS, 4), &parse(text).unwrap());
        assert_eq!(coverage.findings.len(), 1);
        assert_eq!(
            coverage.findings[0].observed,
            "only node-level series without a device label: DCGM_FI_DEV_FB_USED, DCGM_FI_DEV_GPU_UTIL"
        );
        assert_eq!(coverage.node_level, 2);
    }

    #[test]
    fn utilisation_out_of_range_fails() {
        let text = DCGM.replace("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",", "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",bogus=\"1\",");
        let mut series = parse(&text).unwrap();
        series.iter_mut().filter(|s| s.labels.contains_key("bogus")).for_each(|s| s.value = 250.0);
        let coverage = judge(&expected(&UUIDS, 4), &series);
        assert_eq!(coverage.findings.len(), 1, "{:?}", coverage.findings);
        assert!(
            coverage.findings[0].what.starts_with("DCGM_FI_DEV_GPU_UTIL of GPU-8e27b4d1"),
            "{:?}",
            coverage.findings
        );
        assert_eq!(coverage.findings[0].observed, "250");
    }
}
