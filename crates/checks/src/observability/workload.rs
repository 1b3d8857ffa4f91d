//! The workload-driven case of `accelerator_metrics`, against the live cluster: a baseline scrape of the
//! node's exporter, a load pod holding one device (DRA where the node publishes devices, so the device is
//! known by its `uuid` attribute; else the device plugin, and the device is the one the exporter attributes
//! to kaic's pod), scrapes until that device's utilisation rises ([`load::judge_rise`]), then the pod's
//! deletion and scrapes until it falls back. Samples are recorded as evidence.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::resource::v1::ResourceClaim;
use kube::api::{Api, DeleteParams, PostParams};

use super::exporters::Source;
use super::exposition::{self, Series};
use super::load::{self, Rise};
use crate::accelerators::inventory::{AcceleratorNode, Inventory, Path, allocated_devices};
use crate::accelerators::{CaseResult, Finding, probe};
use crate::check::{CheckContext, CheckError, from_json};
use crate::timeouts::Wait;
use crate::{pods, wait};

/// The load pod's name.
pub const POD: &str = "gpu-load";
/// How often the exporter is scraped while waiting.
const EVERY: Duration = Duration::from_secs(3);

/// Runs the case on the best node with an exporter and a free device.
///
/// # Errors
/// [`CheckError`] when an object cannot be created or read.
pub async fn exercise(ctx: &CheckContext, inventory: &Inventory, sources: &[Source]) -> Result<CaseResult, CheckError> {
    let Some((node, path, source)) = choose(ctx, inventory, sources) else {
        return Ok(CaseResult::Skipped(
            "no accelerator node with a readable exporter has a free device: free one device and rerun to prove that \
             utilisation follows a workload"
                .into(),
        ));
    };
    let Some(spec) = load::spec(ctx, node.vendor) else {
        return Ok(CaseResult::Skipped(format!(
            "kaic knows no load image for {} accelerators: give one with --probe-image {}=IMAGE (an image whose \
             entrypoint keeps one device busy for at least 3 minutes)",
            node.vendor.name,
            load::LOAD_IMAGE_KEY
        )));
    };
    let baseline = match source.scrape(ctx).await {
        Ok(series) => series,
        Err(e) => return Ok(CaseResult::Error(format!("baseline scrape of {}: {e}", source.what))),
    };
    let Some(metric) = exposition::utilisation_metric(&baseline) else {
        return Ok(CaseResult::Skipped(format!(
            "the exporter on node {} reports no per-device utilisation to follow",
            node.name
        )));
    };
    let ratio = exposition::is_ratio(&metric);
    let before = exposition::by_device(&baseline, &metric);
    ctx.record(|e| e.value(format!("baseline {metric} on {}", node.name), format!("{before:?}")));
    let (grant, claims) = probe::prepare_one_device(ctx, node, path, "gpu-load").await?;
    let pods_api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let pod: Pod = from_json(load::manifest(ctx, POD, node, &spec, &grant, &claims))?;
    pods_api.create(&PostParams::default(), &pod).await.map_err(|e| CheckError::api("create the load pod", e))?;
    ctx.step(format!("load pod {POD} ({}) on node {} through {}", spec.image, node.name, path.name()));
    let runs_or_stuck = |p: Option<&Pod>| wait::pod_running(p) || p.is_some_and(|p| pods::fatal_state(p).is_some());
    let running = match wait::until(
        &pods_api,
        POD,
        "the load pod to run",
        ctx.wait(Wait::ClaimedPodScheduled),
        runs_or_stuck,
        wait::describe_pod,
    )
    .await
    {
        Ok(pod) => pod,
        Err(CheckError::Timeout { last_seen, .. }) => {
            return Ok(CaseResult::Error(format!("the load pod never ran: {last_seen}")));
        }
        Err(e) => return Err(e),
    };
    if pods::fatal_state(&running).is_some()
        && let Some(ended) = load_ended(ctx, &pods_api, &spec).await
    {
        return Ok(ended);
    }
    let mut target = dra_target(ctx, node, &running).await;
    if let Some(uuid) = &target {
        ctx.step(format!("the load pod holds device {uuid} (its claim's allocated device)"));
    }
    let ours = format!("{}/{POD}", ctx.namespace);
    let started = Instant::now();
    let mut samples: Vec<(String, Option<f64>)> = Vec::new();
    let mut outcome = None;
    let mut attribution: Vec<String> = Vec::new();
    let mut several: Vec<String> = Vec::new();
    while started.elapsed() < ctx.wait(Wait::MetricsRise) {
        tokio::time::sleep(EVERY).await;
        // Every scrape first asks whether kaic's load still runs: a load that died is no finding about the exporter.
        if let Some(ended) = load_ended(ctx, &pods_api, &spec).await {
            let _ = pods_api.delete(POD, &DeleteParams::default()).await;
            return Ok(ended);
        }
        let Ok(series) = source.scrape(ctx).await else { continue };
        let pods = exposition::pods_by_device(&series, &metric);
        if target.is_none() {
            target = pods.iter().find(|(_, p)| p.contains(&ours)).map(|(k, _)| k.clone());
        }
        let now = exposition::by_device(&series, &metric);
        if target.is_none() {
            // No uuid and no pod label: the device is the one that rose, if exactly one did.
            let rose = risen(&before, &now, &pods, ratio);
            if rose.len() == 1 {
                ctx.step(format!("the load pod's device is {}, the only device whose {metric} rose", rose[0]));
                target = rose.first().cloned();
            } else if rose.len() > 1 {
                several = rose;
            }
        }
        let at = format!("{}s", started.elapsed().as_secs());
        let Some(device) = target.clone() else {
            samples.push((at, None));
            continue;
        };
        samples.push((at, now.get(&device).copied()));
        attribution = pods.get(&device).cloned().unwrap_or_default();
        let busy: Vec<String> =
            pods.iter().filter(|(k, p)| **k != device && !p.is_empty()).map(|(k, _)| k.clone()).collect();
        match load::judge_rise(&device, &before, &now, &busy, ratio) {
            Rise::NotYet(_) => {}
            decided => {
                outcome = Some((device, decided, series));
                break;
            }
        }
    }
    ctx.record(|e| e.value(format!("{metric} of the loaded device during the load"), load::samples_text(&samples)));
    let Some((device, rise, _)) = outcome else {
        if target.is_none() && !several.is_empty() {
            let _ = pods_api.delete(POD, &DeleteParams::default()).await;
            return Ok(CaseResult::Skipped(format!(
                "the exporter on node {} names no pod and kaic's claim no uuid, and several devices rose during the load \
                 ({}): kaic cannot tell which one it held; verify by hand",
                node.name,
                several.join(", ")
            )));
        }
        // "Did not rise" blames the exporter only with positive evidence that the load ran all along.
        if let Some(ended) = load_ended(ctx, &pods_api, &spec).await {
            let _ = pods_api.delete(POD, &DeleteParams::default()).await;
            return Ok(ended);
        }
        let log = load_log(&pods_api).await;
        let _ = pods_api.delete(POD, &DeleteParams::default()).await;
        ctx.record(|e| e.log(POD, log.clone()));
        if !load::log_shows_work(&log) {
            return Ok(CaseResult::Skipped(format!(
                "the utilisation of the loaded device did not rise, but kaic has no evidence that its load generator \
                 ({}) worked: the load pod ran and its log is empty; verify by hand that the image drives the device \
                 (or give one that logs its progress with --probe-image {}=IMAGE)",
                spec.image,
                load::LOAD_IMAGE_KEY
            )));
        }
        let mut case = not_moved(node, &metric, target.as_deref(), &before, &samples, ctx.wait(Wait::MetricsRise));
        if let CaseResult::Violated(findings) = &mut case {
            for finding in findings {
                finding
                    .observed
                    .push_str(&format!("; the load generator ran throughout, its log: {}", load::log_tail(&log, 3)));
            }
        }
        return Ok(case);
    };
    let (peak, idle_moved) = match &rise {
        Rise::Moved { value, idle_moved } => (*value, idle_moved.clone()),
        Rise::NodeWide { value, idle_moved } => {
            let _ = pods_api.delete(POD, &DeleteParams::default()).await;
            return Ok(CaseResult::Violated(vec![Finding {
                what: format!(
                    "{metric} rose on every device of node {} while kaic's load held only {device}: the exporter does \
                     not report per device",
                    node.name
                ),
                expected: format!("{device} rises, idle devices stay put"),
                observed: format!("{device} at {value}; idle devices rose too: {}", idle_moved.join(", ")),
            }]));
        }
        Rise::NotYet(_) => unreachable!("only a decided rise ends the loop"),
    };
    let misattributed: Vec<&String> = attribution.iter().filter(|p| **p != ours).collect();
    if !misattributed.is_empty() {
        let _ = pods_api.delete(POD, &DeleteParams::default()).await;
        return Ok(CaseResult::Violated(vec![Finding {
            what: format!("{metric} of the device kaic's load holds is attributed to another pod"),
            expected: format!("the series of {device} carries pod {ours} (or no pod label)"),
            observed: format!("pod label(s) {}", attribution.join(", ")),
        }]));
    }
    let attributed = if attribution.contains(&ours) {
        format!("the series carried kaic's pod {ours}")
    } else {
        "the exporter does not attribute series to pods (no pod label)".to_string()
    };
    let rose_after = started.elapsed();
    pods_api.delete(POD, &DeleteParams::default()).await.map_err(|e| CheckError::api("delete the load pod", e))?;
    let fell = fall_back(ctx, source, &metric, &device, before.get(&device).copied().unwrap_or(0.0), peak, ratio).await;
    let idle = if idle_moved.is_empty() {
        "idle devices stayed put".to_string()
    } else {
        format!("idle devices that moved too (other work?): {}", idle_moved.join(", "))
    };
    match fell {
        Ok(after) => Ok(CaseResult::Passed(format!(
            "on node {} {metric} of {device} went from {} to {peak} within {}s of kaic's load ({idle}; {attributed}) \
             and fell back to {after} after the pod was deleted",
            node.name,
            before.get(&device).copied().unwrap_or(0.0),
            rose_after.as_secs()
        ))),
        Err(last) => Ok(CaseResult::Violated(vec![Finding {
            what: format!("{metric} of {device} did not fall back after kaic's load pod was deleted"),
            expected: format!(
                "back near its baseline {} within {}s",
                before.get(&device).copied().unwrap_or(0.0),
                ctx.wait(Wait::MetricsFall).as_secs()
            ),
            observed: last,
        }])),
    }
}

/// The devices not attributed to any pod whose value rose by a threshold since the baseline.
fn risen(
    before: &BTreeMap<String, f64>,
    now: &BTreeMap<String, f64>,
    pods: &BTreeMap<String, Vec<String>>,
    ratio: bool,
) -> Vec<String> {
    now.iter()
        .filter(|(k, _)| pods.get(*k).is_none_or(Vec::is_empty))
        .filter(|(k, v)| before.get(*k).is_some_and(|b| **v - b >= load::threshold(ratio)))
        .map(|(k, _)| k.clone())
        .collect()
}

/// A schedulable node with a readable exporter and a free device, with the path to allocate it (DRA first:
/// its device is known by `uuid`).
fn choose<'a>(
    ctx: &CheckContext,
    inventory: &'a Inventory,
    sources: &'a [Source],
) -> Option<(&'a AcceleratorNode, Path, &'a Source)> {
    let paths = inventory.paths(ctx.options.allocation_mode);
    for path in [Path::Dra, Path::DevicePlugin].into_iter().filter(|p| paths.contains(p)) {
        let best = inventory
            .nodes
            .iter()
            .filter(|n| n.schedulable && n.free(path) >= 1)
            .filter_map(|n| sources.iter().find(|s| s.node == n.name).map(|s| (n, s)))
            .max_by_key(|(n, _)| n.free(path));
        if let Some((node, source)) = best {
            return Some((node, path, source));
        }
    }
    None
}

/// The `uuid` attribute of the device the pod's DRA claim was allocated, if it has one.
async fn dra_target(ctx: &CheckContext, node: &AcceleratorNode, pod: &Pod) -> Option<String> {
    let claim_name = crate::pods::generated_claim(pod, None)?;
    let claims: Api<ResourceClaim> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let claim = claims.get(&claim_name).await.ok()?;
    ctx.object(&format!("ResourceClaim-{claim_name}"), &claim);
    let (driver, pool, device) = allocated_devices(&claim).into_iter().next()?;
    let attribute = node.vendor.uuid_attribute?;
    node.dra
        .iter()
        .find(|d| d.driver == driver && d.pool == pool && d.name == device)
        .and_then(|d| d.attributes.get(attribute).cloned())
}

/// Scrapes until the device's utilisation fell back; the last value, or what was last seen.
async fn fall_back(
    ctx: &CheckContext,
    source: &Source,
    metric: &str,
    device: &str,
    baseline: f64,
    peak: f64,
    ratio: bool,
) -> Result<f64, String> {
    let started = Instant::now();
    let mut samples: Vec<(String, Option<f64>)> = Vec::new();
    while started.elapsed() < ctx.wait(Wait::MetricsFall) {
        tokio::time::sleep(EVERY).await;
        let series: Vec<Series> = match source.scrape(ctx).await {
            Ok(series) => series,
            Err(_) => continue,
        };
        let now = exposition::by_device(&series, metric).get(device).copied();
        samples.push((format!("{}s", started.elapsed().as_secs()), now));
        if let Some(now) = now
            && load::fell_back(baseline, peak, now, ratio)
        {
            ctx.record(|e| e.value(format!("{metric} of {device} after the load"), load::samples_text(&samples)));
            return Ok(now);
        }
    }
    ctx.record(|e| e.value(format!("{metric} of {device} after the load"), load::samples_text(&samples)));
    Err(format!("samples after deletion: {}", load::samples_text(&samples)))
}

/// The violation when the loaded device's utilisation never rose.
fn not_moved(
    node: &AcceleratorNode,
    metric: &str,
    target: Option<&str>,
    before: &BTreeMap<String, f64>,
    samples: &[(String, Option<f64>)],
    waited: Duration,
) -> CaseResult {
    let Some(device) = target else {
        return CaseResult::Violated(vec![Finding {
            what: format!("no device's {metric} on node {} rose while kaic's load held one of them", node.name),
            expected: format!(
                "one device's {metric} rises by at least {} within {}s",
                load::threshold(exposition::is_ratio(metric)),
                waited.as_secs()
            ),
            observed: format!(
                "{} scrapes: baseline {before:?}, no device rose and none named kaic's pod",
                samples.len()
            ),
        }]);
    };
    CaseResult::Violated(vec![Finding {
        what: format!("{metric} of {device} on node {} did not rise while kaic's load held it", node.name),
        expected: format!(
            "a rise of at least {} from its baseline {} within {}s",
            load::threshold(exposition::is_ratio(metric)),
            before.get(device).map_or_else(|| "absent".to_string(), |v| v.to_string()),
            waited.as_secs()
        ),
        observed: format!("samples during the load: {}", load::samples_text(samples)),
    }])
}

/// The case's end when kaic's load generator stopped producing load (ended, restarted, cannot start): an
/// error quoting its state and log, never a failure of the platform. `None` while it runs (or when the pod
/// could not be read this time: the next scrape asks again).
async fn load_ended(ctx: &CheckContext, pods_api: &Api<Pod>, spec: &load::LoadSpec) -> Option<CaseResult> {
    let pod = pods_api.get_opt(POD).await.ok()?;
    let why = load::stopped(pod.as_ref())?;
    let log = load_log(pods_api).await;
    ctx.record(|e| e.log(POD, log.clone()));
    let said = if log.trim().is_empty() { "(empty)".to_string() } else { load::log_tail(&log, 5) };
    let hint = if spec.command.first().is_some_and(|c| c.starts_with("dcgmproftester")) {
        "; dcgmproftester usually needs the SYS_ADMIN capability or a privileged pod, which kaic's restricted pod \
         does not have: give an unprivileged load that keeps one GPU busy with --probe-image gpu-load=IMAGE"
    } else {
        ""
    };
    Some(CaseResult::Error(format!(
        "kaic's load generator ({}) stopped before its device's utilisation could be judged: {why}; its log: {said}{hint}",
        spec.image
    )))
}

/// The load pod's log (its last lines), or empty where it cannot be read.
async fn load_log(pods_api: &Api<Pod>) -> String {
    let params = kube::api::LogParams { tail_lines: Some(50), ..Default::default() };
    pods_api.logs(POD, &params).await.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_uuid_or_pod_label_the_device_is_the_only_one_that_rose() {
        let values = |v: &[(&str, f64)]| v.iter().map(|(k, x)| (k.to_string(), *x)).collect::<BTreeMap<_, _>>();
        let before = values(&[("index 0", 0.0), ("index 1", 0.0), ("index 2", 40.0)]);
        let now = values(&[("index 0", 0.0), ("index 1", 96.0), ("index 2", 90.0)]);
        let busy = BTreeMap::from([("index 2".to_string(), vec!["team-a/train".to_string()])]);
        assert_eq!(risen(&before, &now, &busy, false), vec!["index 1"], "another user's device is not a candidate");
        assert_eq!(risen(&before, &now, &BTreeMap::new(), false), vec!["index 1", "index 2"], "ambiguous");
        assert!(risen(&before, &before, &BTreeMap::new(), false).is_empty(), "a frozen exporter: none");
    }
}
