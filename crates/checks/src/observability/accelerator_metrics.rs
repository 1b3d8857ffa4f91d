//! `accelerator_metrics`: every accelerator exposes per-device metrics, and they follow real work.
//!
//! For each accelerator node of kaic's inventory, kaic finds the node's exporter ([`exporters`]: DCGM
//! exporter, AMD device metrics exporter, Intel XPU Manager, Gaudi metric exporter, or the endpoint given
//! with `--accelerator-metrics-url`), scrapes it through the API server's pod proxy, and requires a
//! per-device utilisation and memory series for every device the node advertises ([`coverage`]). Then, on
//! one node with a free device, a load pod drives one device and that device's utilisation must rise while
//! idle ones stay put, and fall back after ([`workload`]).
//!
//! The requirement has no condition: a cluster without accelerator nodes is unknown (a GPU pool scaled to
//! zero looks the same), never "not applicable". A recognised exporter that runs on some accelerator nodes
//! and not on another fails (the platform exposes no metrics for that node's devices); no exporter kaic
//! recognises on any node is the model's one "nothing installed" unknown (the requirement asks that the
//! platform *allow* one; an OpenTelemetry collector or a vendor agent kaic does not know may serve them);
//! accelerators of a vendor kaic does not recognise leave it unknown; an exporter the API server cannot
//! reach is unknown with the remedy.

use std::time::Duration;

use kaic_model::Verdict;

use super::coverage::{self, ExpectedDevices};
use super::exporters::{self, Exporter, Found, Source};
use super::workload;
use crate::accelerators::inventory::{AcceleratorNode, Inventory};
use crate::accelerators::{CaseResult, Finding, Policy, finish};
use crate::check::{AcceleratorUse, Check, CheckContext, CheckError};
use crate::timeouts::Wait;

pub struct AcceleratorMetrics;

/// Exporter pages kept as evidence are cut at this size.
const EVIDENCE_BYTES: usize = 256 * 1024;

#[async_trait::async_trait]
impl Check for AcceleratorMetrics {
    fn id(&self) -> &'static str {
        "accelerator_metrics"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["accelerator_metrics"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(480)
    }

    /// The load pod runs (with its claim), its device's utilisation rises, and falls back after it is gone.
    fn waits(&self) -> &'static [(Wait, u32)] {
        &[(Wait::ClaimedPodScheduled, 1), (Wait::MetricsRise, 1), (Wait::MetricsFall, 1)]
    }

    fn accelerators(&self) -> AcceleratorUse {
        AcceleratorUse::Throughout
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "nothing for the per-device part: it reads each accelerator node's exporter through the API server's pod proxy",
            "on one node with a free device: a load pod holding one device (DRA claim from a template through kaic's DeviceClass, or the device plugin's resource), labelled kaic.dev/probe-load=compute",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let inventory = Inventory::read(ctx).await?;
        if inventory.nodes.is_empty() {
            return Ok(Verdict::unknown(match inventory.unrecognised_note() {
                Some(note) => {
                    format!("{note}; kaic cannot tell which exporter reports them: pass --accelerator-metrics-url")
                }
                None => "no accelerator node found (no node advertises a known vendor's device plugin resource, DRA \
                         devices or presence label): scale an accelerator node pool to at least one node and rerun"
                    .to_string(),
            }));
        }
        let mut cases: Vec<(String, CaseResult)> = Vec::new();
        let mut readable: Vec<Source> = Vec::new();
        // Nodes without any exporter pod: a failure only where a recognised exporter runs elsewhere.
        let mut missing: Vec<Finding> = Vec::new();
        for node in &inventory.nodes {
            let source = source_for(ctx, node).await?;
            // A cordoned or NotReady node runs no new pods, its exporter's included: left out, not failed.
            let why_none = match &source {
                NodeSource::Missing(finding) => Some(finding.observed.clone()),
                NodeSource::Ends(CaseResult::Violated(findings)) => {
                    Some(findings.iter().map(|f| f.observed.as_str()).collect::<Vec<_>>().join("; "))
                }
                _ => None,
            };
            if let (Some(why), false) = (why_none, node.schedulable) {
                ctx.step(format!(
                    "node {} is cordoned or not Ready and has no running exporter ({why}): left out",
                    node.name
                ));
                continue;
            }
            let case = match source {
                NodeSource::Missing(finding) => {
                    missing.push(finding.clone());
                    CaseResult::Violated(vec![finding])
                }
                NodeSource::Ends(case) => case,
                NodeSource::Ready(source) => {
                    let case = judge_node(ctx, node, &source).await;
                    if matches!(case, CaseResult::Passed(_)) {
                        readable.push(source);
                    }
                    case
                }
            };
            cases.push((format!("node {}", node.name), case));
        }
        if !missing.is_empty() && missing.len() == cases.len() {
            return Ok(nothing_installed(&inventory));
        }
        if cases.is_empty() {
            return Ok(Verdict::unknown(
                "every accelerator node is cordoned or not Ready and none has a running exporter: make the nodes \
                 schedulable and rerun",
            ));
        }
        if readable.is_empty() {
            ctx.step("workload-driven case not run: no node's exporter covered its devices");
        } else {
            let case = workload::exercise(ctx, &inventory, &readable).await?;
            cases.push(("workload-driven".to_string(), case));
        }
        let verdict = finish(ctx, Policy::EveryCase, &cases, &inventory);
        Ok(every_node_decided(verdict, &cases))
    }
}

/// A pass needs every node's devices shown: a node whose exporter could not be read (or whose vendor's
/// exporter kaic does not know) leaves the verdict unknown, naming the node, never a pass. The
/// workload-driven case may be left out (no free device, no load image): presence still decides.
fn every_node_decided(verdict: Verdict, cases: &[(String, CaseResult)]) -> Verdict {
    if verdict.outcome != kaic_model::Outcome::Pass {
        return verdict;
    }
    let undecided: Vec<String> = cases
        .iter()
        .filter(|(name, _)| name.starts_with("node "))
        .filter_map(|(name, case)| match case {
            CaseResult::Skipped(why) => Some(format!("{name}: {why}")),
            _ => None,
        })
        .collect();
    if undecided.is_empty() {
        verdict
    } else {
        Verdict::unknown(format!(
            "not every accelerator node could be checked: {} ({})",
            undecided.join("; "),
            verdict.reason
        ))
    }
}

/// The model's "nothing installed" verdict: no accelerator node runs an exporter kaic recognises.
fn nothing_installed(inventory: &Inventory) -> Verdict {
    let mut looked_for: Vec<String> = Vec::new();
    for node in &inventory.nodes {
        if let Some(exporter) = Exporter::for_vendor(node.vendor.name) {
            let labels: Vec<String> = exporter.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let what = format!(
                "the {} on {} nodes (pods labelled {} or running an image named *{}*)",
                exporter.name,
                node.vendor.name,
                labels.join(" or "),
                exporter.image
            );
            if !looked_for.contains(&what) {
                looked_for.push(what);
            }
        }
    }
    kaic_model::installable::nothing_installed("accelerator_metrics", &looked_for.join(", "))
}

/// Where one node's metrics come from.
enum NodeSource {
    /// An exporter (or the user's endpoint) to scrape.
    Ready(Source),
    /// No exporter pod of the node's vendor on the node: the finding, if a recognised exporter runs elsewhere.
    Missing(Finding),
    /// The case that ends the node's part (an exporter not running, a vendor without a known exporter).
    Ends(CaseResult),
}

/// Where `node`'s metrics come from, or the case that ends its part.
async fn source_for(ctx: &CheckContext, node: &AcceleratorNode) -> Result<NodeSource, CheckError> {
    if let Some(endpoint) = &ctx.options.accelerator_metrics {
        return Ok(NodeSource::Ready(Source {
            node: node.name.clone(),
            endpoint: endpoint.clone(),
            filter_by_host: true,
            what: format!("the endpoint given with --accelerator-metrics-url ({endpoint})"),
        }));
    }
    let Some(exporter) = Exporter::for_vendor(node.vendor.name) else {
        return Ok(NodeSource::Ends(CaseResult::Skipped(format!(
            "kaic knows no exporter for {} accelerators: name its endpoint with --accelerator-metrics-url",
            node.vendor.name
        ))));
    };
    let found = exporters::find_on_node(ctx, &node.name, exporter)
        .await
        .map_err(|e| CheckError::api(format!("list the pods on node {}", node.name), e))?;
    Ok(match found {
        Found::Source(source) => {
            ctx.step(format!("node {}: {}", node.name, source.what));
            NodeSource::Ready(source)
        }
        Found::NotRunning(why) => NodeSource::Ends(CaseResult::Violated(vec![Finding {
            what: format!("the {} on node {} is not running", exporter.name, node.name),
            expected: format!("a running {} pod on node {}", exporter.name, node.name),
            observed: why,
        }])),
        Found::Missing => NodeSource::Missing(missing(exporter, node)),
    })
}

/// The finding for a node of a recognised vendor without its exporter.
fn missing(exporter: &Exporter, node: &AcceleratorNode) -> Finding {
    let labels: Vec<String> = exporter.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Finding {
        what: format!(
            "no accelerator metrics exporter on {} node {}: install the {} (e.g. with the vendor's GPU operator), or \
             name the platform's endpoint with --accelerator-metrics-url",
            node.vendor.name, node.name, exporter.name
        ),
        expected: format!(
            "a {} pod on node {} (labelled {} or running an image named *{}*) serving per-device metrics",
            exporter.name,
            node.name,
            labels.join(" or "),
            exporter.image
        ),
        observed: format!("no such pod among the pods on node {}", node.name),
    }
}

/// The devices `node` advertises: DRA whole devices with their uuid, and the physical device count (the
/// vendor's count label where time-slicing multiplies the device plugin's capacity).
pub fn expected_devices(node: &AcceleratorNode) -> ExpectedDevices {
    let vendor = node.vendor;
    // Whole devices only: partitions (counters, MIG instances) are reported under their parent device.
    let partition = |d: &&crate::accelerators::inventory::DraDevice| {
        d.partition
            || d.attributes.get("type").is_some_and(|t| t == "mig")
            || d.attributes.values().any(|v| v.starts_with("MIG-"))
    };
    let whole: Vec<_> =
        node.dra.iter().filter(|d| vendor.dra_drivers.contains(&d.driver.as_str())).filter(|d| !partition(d)).collect();
    let uuids: Vec<String> =
        whole.iter().filter_map(|d| vendor.uuid_attribute.and_then(|a| d.attributes.get(a).cloned())).collect();
    let count = usize::try_from(node.physical_devices().max(0)).unwrap_or(0).max(whole.len());
    ExpectedDevices { node: node.name.clone(), uuids, count }
}

/// Scrapes `node`'s source and judges the per-device coverage.
async fn judge_node(ctx: &CheckContext, node: &AcceleratorNode, source: &Source) -> CaseResult {
    let text = match source.endpoint.get(&ctx.client, &Default::default(), "").await {
        Ok(text) => text,
        Err(e) => {
            return CaseResult::Skipped(format!(
                "{} could not be read ({e}): where the control plane cannot reach pod ports (a firewall between it \
                 and the nodes), name an endpoint kaic can reach with --accelerator-metrics-url",
                source.what
            ));
        }
    };
    let mut kept = text.clone();
    kept.truncate(kept.floor_char_boundary(EVIDENCE_BYTES));
    ctx.record(|e| e.log(format!("metrics-{}", node.name), kept));
    let series = match super::exposition::parse(&text) {
        Ok(series) if source.filter_by_host => exporters::for_host(series, &node.name),
        Ok(series) => series,
        Err(e) => {
            return CaseResult::Violated(vec![Finding {
                what: format!("{} does not serve the Prometheus text format", source.what),
                expected: "Prometheus or OpenMetrics text".into(),
                observed: e,
            }]);
        }
    };
    let expected = expected_devices(node);
    let judged = coverage::judge(&expected, &series);
    if !judged.findings.is_empty() {
        return CaseResult::Violated(judged.findings);
    }
    let node_level = if judged.node_level > 0 {
        format!("; {} node-level series left aside", judged.node_level)
    } else {
        String::new()
    };
    CaseResult::Passed(format!("{} via {}; {}{node_level}", judged.summary, source.what, judged.optional_note()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accelerators::inventory::tests::{gpu_node, slice};

    #[test]
    fn expected_devices_come_from_dra_uuids_and_physical_counts() {
        let inv = Inventory::from_objects(&[gpu_node("gpu-0", 4)], &[], &[slice("gpu-0", &["gpu-0", "gpu-1"])], &[]);
        let expected = expected_devices(&inv.nodes[0]);
        assert_eq!(expected.uuids, vec!["GPU-gpu-0-gpu-0", "GPU-gpu-0-gpu-1"]);
        assert_eq!(expected.count, 4);
        // Time-slicing: 4 GPUs shared 4 ways are advertised as 16.
        let mut shared = gpu_node("gpu-1", 16);
        shared.metadata.labels.get_or_insert_default().insert("nvidia.com/gpu.replicas".into(), "4".into());
        let inv = Inventory::from_objects(&[shared.clone()], &[], &[], &[]);
        assert_eq!(expected_devices(&inv.nodes[0]).count, 4);
        shared.metadata.labels.get_or_insert_default().insert("nvidia.com/gpu.count".into(), "8".into());
        let inv = Inventory::from_objects(&[shared], &[], &[], &[]);
        assert_eq!(expected_devices(&inv.nodes[0]).count, 8, "the count label wins");
    }

    #[test]
    fn an_unreadable_node_keeps_the_verdict_from_passing() {
        let cases = vec![
            ("node gpu-0".to_string(), CaseResult::Passed("4 device(s)".into())),
            ("node gpu-1".to_string(), CaseResult::Skipped("the pod proxy timed out".into())),
            ("workload-driven".to_string(), CaseResult::Skipped("no free device".into())),
        ];
        let verdict = crate::accelerators::conclude(Policy::EveryCase, &cases, &Inventory::default());
        assert_eq!(verdict.outcome, kaic_model::Outcome::Pass);
        let verdict = every_node_decided(verdict, &cases);
        assert_eq!(verdict.outcome, kaic_model::Outcome::Unknown);
        assert!(verdict.reason.starts_with("not every accelerator node could be checked: node gpu-1: the pod proxy"));
        // Only the workload-driven case left out: presence decides.
        let cases = vec![cases[0].clone(), cases[2].clone()];
        let verdict = crate::accelerators::conclude(Policy::EveryCase, &cases, &Inventory::default());
        assert_eq!(every_node_decided(verdict, &cases).outcome, kaic_model::Outcome::Pass);
    }

    #[test]
    fn a_missing_exporter_names_the_remedy() {
        let inv = Inventory::from_objects(&[gpu_node("gpu-0", 4)], &[], &[], &[]);
        let finding = missing(Exporter::for_vendor("NVIDIA").unwrap(), &inv.nodes[0]);
        assert!(finding.what.starts_with("no accelerator metrics exporter on NVIDIA node gpu-0"), "{}", finding.what);
        assert!(finding.what.contains("--accelerator-metrics-url"));
        assert!(finding.expected.contains("app=nvidia-dcgm-exporter"), "{}", finding.expected);
    }

    #[test]
    fn no_exporter_on_any_node_is_the_nothing_installed_unknown_naming_each_exporter_once() {
        let inv = Inventory::from_objects(&[gpu_node("gpu-0", 4), gpu_node("gpu-1", 4)], &[], &[], &[]);
        let verdict = nothing_installed(&inv);
        assert_eq!(verdict.outcome, kaic_model::Outcome::Unknown);
        assert!(kaic_model::installable::is_nothing_installed(&verdict), "{}", verdict.reason);
        assert_eq!(verdict.reason.matches("the DCGM exporter on NVIDIA nodes").count(), 1, "{}", verdict.reason);
        assert!(verdict.reason.contains("app=nvidia-dcgm-exporter"), "{}", verdict.reason);
        assert!(verdict.reason.contains("--accelerator-metrics-url"), "{}", verdict.reason);
    }
}
