//! `pod_autoscaling`: a HorizontalPodAutoscaler scales a Deployment of accelerator pods on a per-pod AI
//! metric served by the custom metrics API, both ways.
//!
//! The requirement's condition is the HorizontalPodAutoscaler API itself (`autoscaling/v2`): without it the
//! check is not applicable. A custom metrics API that is not registered, or not Available, is unknown naming
//! what to install (prometheus-adapter or KEDA; KEDA is recognised and reported). Otherwise kaic deploys the
//! model-server Deployment ([`workload`]) with one accelerator per pod, registered for scraping the one way
//! the platform discovers workloads and its metrics adapter reads ([`model_server::choose`]: a PodMonitor where
//! a Prometheus Operator's Prometheus selects one, a PodMonitoring for the Stackdriver adapter, else the
//! `prometheus.io` annotations), finds the vLLM metric the custom metrics API serves for its pods (or
//! `--hpa-metric`; the Stackdriver adapter lists one metric only, so there its conventional name), creates the HPA ([`hpa`]) and requires, in order:
//! the controller reads the metric at idle (`ScalingActive=True`, a current value); under load the replicas
//! grow and every new pod runs holding its own device; after the load the replicas shrink back to one. Both
//! directions are timed. A metric the controller cannot read never passes: it is the HPA's own message.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::resource::v1::ResourceClaim;
use kaic_model::Verdict;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};

use super::hpa::{self, Judgement, MAX_REPLICAS, NAME, Reading};
use super::metrics_api::{self, CUSTOM_GROUP, EXTERNAL_GROUP, KEDA_GROUP, Served};
use super::workload::{self, Device, Load};
use crate::accelerators::inventory::Inventory;
use crate::capability::Capability;
use crate::check::{AcceleratorUse, Check, CheckContext, CheckError, from_json};
use crate::observability::model_server;
use crate::timeouts::Wait;
use crate::wait;

pub struct PodAutoscaling;

/// How often kaic looks at the HPA, the pods and discovery.
const EVERY: Duration = Duration::from_secs(2);

#[async_trait::async_trait]
impl Check for PodAutoscaling {
    fn id(&self) -> &'static str {
        "pod_autoscaling"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["pod_autoscaling"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(840)
    }

    /// The first pod Ready, the metric listed, read by the HPA, then scale-up and scale-down.
    fn waits(&self) -> &'static [(Wait, u32)] {
        &[
            (Wait::ProbePod, 1),
            (Wait::MetricListed, 1),
            (Wait::HpaMetricRead, 1),
            (Wait::HpaScaleUp, 1),
            (Wait::HpaScaleDown, 1),
        ]
    }

    fn accelerators(&self) -> AcceleratorUse {
        AcceleratorUse::Throughout
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "a Deployment of model servers (llm-d-inference-sim), one accelerator per pod (DRA claim template or device-plugin resource), and a Service",
            "its registration for scraping, one of: a PodMonitor (monitoring.coreos.com), a PodMonitoring (monitoring.googleapis.com), or prometheus.io scrape annotations on its pods",
            "a HorizontalPodAutoscaler (autoscaling/v2) on a per-pod custom metric, 1 to 3 replicas",
            "concurrent completion requests through the API server's service proxy, then none",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        if !serves(ctx, "autoscaling/v2", "horizontalpodautoscalers").await {
            return Ok(Verdict::not_applicable("the HorizontalPodAutoscaler API (autoscaling/v2) is not served"));
        }
        let apiservices = list_apiservices(ctx).await?;
        let registrations = metrics_api::registrations(&apiservices);
        let keda = keda_note(ctx, &registrations).await;
        if let Some(note) = &keda {
            ctx.step(note.clone());
        }
        let custom = match metrics_api::served(&registrations, CUSTOM_GROUP) {
            Served::Available(r) => r,
            Served::Absent => {
                return Ok(Verdict::unknown(format!(
                    "no custom metrics API is registered (no APIService for {CUSTOM_GROUP}){}: {}",
                    keda.map(|k| format!("; {k}")).unwrap_or_default(),
                    metrics_api::INSTALL
                )));
            }
            Served::NotAvailable(rs) => {
                let why: Vec<String> =
                    rs.iter().map(|r| format!("{} ({}): {}", r.name, r.provider(), r.condition)).collect();
                return Ok(Verdict::unknown(format!(
                    "the custom metrics API is registered but not Available: {}; make its adapter run, or {}",
                    why.join("; "),
                    metrics_api::INSTALL
                )));
            }
        };
        ctx.step(format!("custom metrics API {} served by {}", custom.name, custom.provider()));

        let inventory = Inventory::read(ctx).await?;
        let Some(device) =
            workload::choose_device(ctx, &inventory, i64::from(MAX_REPLICAS), "kaic-hpa-accelerator").await?
        else {
            return Ok(Verdict::unknown(match inventory.unrecognised_note() {
                Some(note) if inventory.nodes.is_empty() => note,
                _ if inventory.nodes.is_empty() => {
                    "no accelerator node kaic recognises: the HPA's new pods need accelerators; verify by hand".into()
                }
                _ => format!(
                    "fewer than {MAX_REPLICAS} free accelerators on schedulable nodes (the HPA may scale to {MAX_REPLICAS} pods of one device each): free devices and rerun"
                ),
            }));
        };
        ctx.step(format!("each pod takes {}", device.describe()));
        let tolerations = workload::merged_tolerations(&inventory);
        let registration = model_server::registration(ctx, custom.reader()).await?;
        let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let manifest = workload::deployment(ctx, &device, &tolerations, &registration);
        let created = deployments
            .create(&PostParams::default(), &from_json(manifest)?)
            .await
            .map_err(|e| CheckError::api("create the model server Deployment", e))?;
        ctx.object("Deployment", &created);
        let registered = model_server::register(ctx, &registration, NAME, &workload::selector(ctx)).await?;
        ctx.step(format!("the Deployment's pods are registered for scraping by: {registered}"));
        let services: Api<Service> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        services
            .create(&PostParams::default(), &from_json(workload::service(ctx))?)
            .await
            .map_err(|e| CheckError::api("create the model server's Service", e))?;
        let started = Instant::now();
        let first = wait_first_ready(ctx).await?;
        if let Err(why) = first {
            return Ok(Verdict::error(format!("the model server could not run: {why}")));
        }
        ctx.record(|e| e.timing("first pod: create to Ready", started.elapsed()));

        let (metric, listed) = match find_metric(ctx, &custom).await? {
            Ok(found) => found,
            Err(why) => return Ok(Verdict::unknown(why)),
        };
        let target = metrics_api::target(&metric);
        let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let hpa_object = hpas
            .create(&PostParams::default(), &from_json(hpa::manifest(ctx, &metric, target))?)
            .await
            .map_err(|e| CheckError::api("create the HorizontalPodAutoscaler", e))?;
        ctx.object("HorizontalPodAutoscaler", &hpa_object);
        ctx.step(format!("HPA on Pods metric {metric}, target average {target} per pod, 1 to {MAX_REPLICAS} replicas"));

        let created_hpa = Instant::now();
        let idle = match read_metric(ctx, &hpas).await? {
            Ok(value) => value,
            Err(verdict) => return Ok(verdict(&metric, listed)),
        };
        ctx.record(|e| e.timing("HPA: create to metric read", created_hpa.elapsed()));
        ctx.step(format!("the HPA reads {metric} at idle: {idle} (ScalingActive=True)"));

        let load = Load::start(ctx);
        let loaded = Instant::now();
        let up = scale_up(ctx, &hpas, &device).await?;
        load.stop();
        let (answered, last_error) = load.progress();
        ctx.step(format!(
            "load: {} concurrent completions, {answered} answered{}",
            workload::WORKERS,
            last_error.map(|e| format!(" (last failure: {e})")).unwrap_or_default()
        ));
        let up = match up {
            Ok(up) => up,
            Err(verdict) => return Ok(verdict),
        };
        ctx.record(|e| e.timing("scale-up: load to HPA desiring more replicas", up.desired_after));
        ctx.record(|e| e.timing("scale-up: load to new pods Running with a device", up.running_after));
        ctx.step(format!(
            "under load the HPA read {metric} = {} and scaled to {} replicas in {}s; pods: {}",
            up.value,
            up.replicas,
            loaded.elapsed().as_secs(),
            up.pods.join("; ")
        ));

        let stopped = Instant::now();
        let down = match scale_down(ctx, &hpas).await? {
            Ok(down) => down,
            Err(verdict) => return Ok(verdict),
        };
        ctx.record(|e| e.timing("scale-down: load stopped to 1 replica", stopped.elapsed()));
        Ok(Verdict::pass(format!(
            "the HPA scaled kaic's accelerator Deployment on the custom metric {metric} ({}): {idle} at idle; under load \
             {} → {} replicas in {}s, each new pod Running with {}; after the load back to 1 replica in {}s ({down})",
            custom.provider(),
            up.value,
            up.replicas,
            up.running_after.as_secs(),
            device.describe(),
            stopped.elapsed().as_secs()
        )))
    }
}

/// Whether `group_version` is served with `resource`.
async fn serves(ctx: &CheckContext, group_version: &str, resource: &str) -> bool {
    ctx.client
        .list_api_group_resources(group_version)
        .await
        .is_ok_and(|list| list.resources.iter().any(|r| r.name == resource))
}

/// Every APIService, as JSON.
async fn list_apiservices(ctx: &CheckContext) -> Result<Vec<serde_json::Value>, CheckError> {
    let gvk = GroupVersionKind::gvk("apiregistration.k8s.io", "v1", "APIService");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "apiservices");
    let api: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &resource);
    let found = crate::list::all(&api, ListParams::default())
        .await
        .map_err(|e| CheckError::api("list APIServices (apiregistration.k8s.io)", e))?;
    Ok(found.iter().filter_map(|a| serde_json::to_value(a).ok()).collect())
}

/// KEDA, where installed: its API group and whether it serves the external metrics API.
async fn keda_note(ctx: &CheckContext, registrations: &[metrics_api::Registration]) -> Option<String> {
    let scaled_objects = serves(ctx, &format!("{KEDA_GROUP}/v1alpha1"), "scaledobjects").await;
    let external = match metrics_api::served(registrations, EXTERNAL_GROUP) {
        Served::Available(r) => Some(format!("{EXTERNAL_GROUP} Available, served by {}", r.provider())),
        Served::NotAvailable(rs) => {
            Some(format!("{EXTERNAL_GROUP} registered but not Available ({})", rs[0].condition))
        }
        Served::Absent => None,
    };
    match (scaled_objects, external) {
        (false, None) => None,
        (true, external) => Some(format!(
            "KEDA is installed (ScaledObjects, {KEDA_GROUP}/v1alpha1; {}): kaic drives the custom metrics API's per-pod \
             metrics, so KEDA's external-metrics scaling is not exercised",
            external.unwrap_or_else(|| format!("{EXTERNAL_GROUP} not registered"))
        )),
        (false, Some(external)) => Some(format!("external metrics API: {external}")),
    }
}

/// Waits for the Deployment's first pod to be Ready; `Err` inside when it cannot run.
async fn wait_first_ready(ctx: &CheckContext) -> Result<Result<(), String>, CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let deadline = Instant::now() + ctx.wait(Wait::ProbePod);
    let query = workload::label_query(ctx);
    loop {
        let list = pods
            .list(&ListParams::default().labels(&query))
            .await
            .map_err(|e| CheckError::api("list the model server pods", e))?;
        for pod in &list.items {
            if let Some(why) = crate::pods::fatal_state(pod) {
                return Ok(Err(why));
            }
            if wait::pod_ready(Some(pod)) {
                return Ok(Ok(()));
            }
        }
        if Instant::now() > deadline {
            let seen: Vec<String> = list.items.iter().map(wait::describe_pod).collect();
            return Err(CheckError::Timeout {
                what: "the model server Deployment's first pod to be Ready".into(),
                after: ctx.wait(Wait::ProbePod),
                last_seen: if seen.is_empty() { "no pod".into() } else { seen.join("; ") },
            });
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// The metric to scale on and whether the custom metrics API listed it: `--hpa-metric`, else a vLLM metric
/// of pods the API lists (adapters list a metric once its series exist, so kaic waits for its pod's). The
/// Stackdriver adapter lists one metric only (and only those it saw at its start), so there an unlisted
/// metric is tried by its conventional name: the HPA's reading decides, and an unlisted metric it cannot
/// read is unknown, never fail.
async fn find_metric(
    ctx: &CheckContext,
    custom: &metrics_api::Registration,
) -> Result<Result<(String, bool), String>, CheckError> {
    let group_version = format!("{CUSTOM_GROUP}/{}", custom.version);
    let deadline = Instant::now() + ctx.wait(Wait::MetricListed);
    loop {
        let names = match ctx.client.list_api_group_resources(&group_version).await {
            Ok(list) => metrics_api::pod_metrics(&serde_json::to_value(&list).unwrap_or_default()),
            Err(e) => {
                return Err(CheckError::Other(format!(
                    "the custom metrics API {group_version} did not list its metrics: {e}"
                )));
            }
        };
        if let Some(wanted) = &ctx.options.hpa_metric {
            let listed = names.contains(wanted);
            if listed || Instant::now() > deadline {
                ctx.step(format!(
                    "--hpa-metric {wanted}: {}",
                    if listed { "listed by the custom metrics API" } else { "not listed; trying it anyway" }
                ));
                return Ok(Ok((wanted.clone(), listed)));
            }
        } else if let Some(metric) = metrics_api::choose(&names) {
            ctx.step(format!("the custom metrics API lists {metric} for pods ({} pod metrics in all)", names.len()));
            return Ok(Ok((metric, true)));
        } else if custom.is_stackdriver() {
            let metric = metrics_api::stackdriver_name(metrics_api::PREFERRED[0]);
            ctx.step(format!(
                "the Stackdriver adapter lists {} metric(s) and no vLLM one (it lists one unless started with full \
                 listing): trying {metric}, the name Google Cloud Managed Service for Prometheus gives vLLM's gauge",
                names.len()
            ));
            return Ok(Ok((metric, false)));
        } else if Instant::now() > deadline {
            let shown: Vec<&str> = names.iter().take(12).map(String::as_str).collect();
            return Ok(Err(format!(
                "the custom metrics API ({group_version}) lists no vLLM per-pod metric of requests waiting or running \
                 for kaic's model server within {}s (pod metrics listed: {}): map one (e.g. a prometheus-adapter rule \
                 exposing vllm:num_requests_waiting per pod), or name the platform's metric with --hpa-metric NAME, and rerun",
                ctx.wait(Wait::MetricListed).as_secs(),
                if shown.is_empty() { "none".into() } else { shown.join(", ") }
            )));
        }
        tokio::time::sleep(EVERY).await;
    }
}

type VerdictFor = Box<dyn FnOnce(&str, bool) -> Verdict + Send>;

/// Waits until the HPA reads its metric; on timeout the verdict from what it said last.
async fn read_metric(
    ctx: &CheckContext,
    hpas: &Api<HorizontalPodAutoscaler>,
) -> Result<Result<String, VerdictFor>, CheckError> {
    let deadline = Instant::now() + ctx.wait(Wait::HpaMetricRead);
    loop {
        let reading = Reading::of(&hpas.get(NAME).await.map_err(|e| CheckError::api("read the HPA", e))?);
        let judgement = hpa::judge(&reading);
        if let Judgement::Reads(value) = judgement {
            return Ok(Ok(value));
        }
        if Instant::now() > deadline {
            ctx.object("HorizontalPodAutoscaler-unreadable", &hpas.get(NAME).await.ok());
            let after = ctx.wait(Wait::HpaMetricRead).as_secs();
            return Ok(Err(Box::new(move |metric: &str, listed: bool| match judgement {
                Judgement::CannotRead(reason, message) if listed => Verdict::fail(
                    format!("the custom metrics API lists {metric} for pods, but the HPA cannot read it: {reason}"),
                    format!("ScalingActive=True with a current value of {metric} within {after}s"),
                    message,
                ),
                Judgement::CannotRead(reason, message) => Verdict::unknown(format!(
                    "the HPA cannot read {metric} ({reason}: {message}); the custom metrics API does not list it: name a \
                     per-pod metric the platform maps with --hpa-metric, or map one, and rerun"
                )),
                _ => Verdict::unknown(format!(
                    "the HPA controller never reported on kaic's HPA within {after}s ({}): is kube-controller-manager's \
                     horizontal-pod-autoscaler controller running?",
                    reading.describe()
                )),
            })));
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// What scaling up showed.
struct ScaledUp {
    value: String,
    replicas: i32,
    desired_after: Duration,
    running_after: Duration,
    pods: Vec<String>,
}

/// The live pods with what each holds.
async fn pods_with_devices(
    ctx: &CheckContext,
    device: &Device,
) -> Result<(Vec<Pod>, Vec<(String, Result<String, String>)>), CheckError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let list = pods
        .list(&ListParams::default().labels(&workload::label_query(ctx)))
        .await
        .map_err(|e| CheckError::api("list the model server pods", e))?;
    let claims: Vec<ResourceClaim> = if matches!(device, Device::Dra(_)) && ctx.capabilities.has(Capability::Dra) {
        let api: Api<ResourceClaim> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        api.list(&ListParams::default()).await.map_err(|e| CheckError::api("list the pods' ResourceClaims", e))?.items
    } else {
        Vec::new()
    };
    let held = list
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| (p.metadata.name.clone().unwrap_or_default(), workload::device_of(p, device, &claims)))
        .collect();
    Ok((list.items, held))
}

/// Under load: the HPA desires more than one replica and at least two pods run, each holding its device.
async fn scale_up(
    ctx: &CheckContext,
    hpas: &Api<HorizontalPodAutoscaler>,
    device: &Device,
) -> Result<Result<ScaledUp, Verdict>, CheckError> {
    let started = Instant::now();
    let deadline = started + ctx.wait(Wait::HpaScaleUp);
    let mut desired_after = None;
    let mut peak = String::new();
    loop {
        let reading = Reading::of(&hpas.get(NAME).await.map_err(|e| CheckError::api("read the HPA", e))?);
        if let Judgement::Reads(value) = hpa::judge(&reading)
            && hpa::quantity(&value) > hpa::quantity(&peak).or(Some(f64::MIN))
        {
            peak = value;
        }
        if reading.desired_replicas > 1 && desired_after.is_none() {
            desired_after = Some(started.elapsed());
        }
        let (pods, held) = pods_with_devices(ctx, device).await?;
        if let Some(why) = pods.iter().find_map(crate::pods::fatal_state) {
            return Ok(Err(Verdict::error(format!("a model server pod could not run: {why}"))));
        }
        let running: Vec<String> = pods
            .iter()
            .filter(|p| workload::live(p))
            .filter_map(|p| {
                let name = p.metadata.name.clone().unwrap_or_default();
                let held = held.iter().find(|(n, _)| *n == name)?.1.as_ref().ok()?;
                Some(format!("{name}: {held}"))
            })
            .collect();
        if let (Some(desired_after), true) = (desired_after, running.len() > 1) {
            ctx.object("HorizontalPodAutoscaler-under-load", &hpas.get(NAME).await.ok());
            let replicas = i32::try_from(running.len()).unwrap_or(i32::MAX);
            return Ok(Ok(ScaledUp {
                value: peak,
                replicas,
                desired_after,
                running_after: started.elapsed(),
                pods: running,
            }));
        }
        if Instant::now() > deadline {
            ctx.object("HorizontalPodAutoscaler-under-load", &hpas.get(NAME).await.ok());
            let after = ctx.wait(Wait::HpaScaleUp).as_secs();
            let pod_states: Vec<String> = pods
                .iter()
                .map(|p| {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    let device = held
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, d)| d.clone().unwrap_or_else(|e| e))
                        .unwrap_or_default();
                    format!("{name}: {} ({device})", wait::describe_pod(p))
                })
                .collect();
            if desired_after.is_none() {
                return Ok(Err(Verdict::fail(
                    format!("under load the HPA did not scale kaic's Deployment up within {after}s"),
                    format!("desired replicas above 1 while {} requests queue", workload::WORKERS),
                    reading.describe(),
                )));
            }
            let unschedulable = pods.iter().any(|p| wait::describe_pod(p).contains("Unschedulable"));
            let text = format!(
                "the HPA desired {} replicas but fewer than two pods ran holding a device within {after}s: {}",
                reading.desired_replicas,
                pod_states.join("; ")
            );
            return Ok(Err(if unschedulable {
                Verdict::unknown(format!("{text}: no free device for the new replica; free devices and rerun"))
            } else {
                Verdict::fail(text, "every new replica Running with one device", pod_states.join("; "))
            }));
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// After the load: the HPA, still reading its metric, goes back to one replica and the others are gone.
async fn scale_down(
    ctx: &CheckContext,
    hpas: &Api<HorizontalPodAutoscaler>,
) -> Result<Result<String, Verdict>, CheckError> {
    let deadline = Instant::now() + ctx.wait(Wait::HpaScaleDown);
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    loop {
        let reading = Reading::of(&hpas.get(NAME).await.map_err(|e| CheckError::api("read the HPA", e))?);
        let list = pods
            .list(&ListParams::default().labels(&workload::label_query(ctx)))
            .await
            .map_err(|e| CheckError::api("list the model server pods", e))?;
        let left = list.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).count();
        let judgement = hpa::judge(&reading);
        if let (Judgement::Reads(value), 1, 1) = (&judgement, reading.desired_replicas, left) {
            ctx.object("HorizontalPodAutoscaler-after-load", &hpas.get(NAME).await.ok());
            return Ok(Ok(format!("{value} read at the end")));
        }
        if Instant::now() > deadline {
            ctx.object("HorizontalPodAutoscaler-after-load", &hpas.get(NAME).await.ok());
            let after = ctx.wait(Wait::HpaScaleDown).as_secs();
            return Ok(Err(Verdict::fail(
                format!(
                    "after the load stopped the HPA did not scale kaic's Deployment back to 1 replica within {after}s"
                ),
                "desired replicas 1, one pod left, the metric still read",
                format!("{}; {left} pod(s) left", reading.describe()),
            )));
        }
        tokio::time::sleep(EVERY).await;
    }
}
