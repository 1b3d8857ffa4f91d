//! `pod_autoscaling`'s workload: a Deployment of model servers (llm-d's inference simulator by default, the
//! `model-server` probe image of `ai_service_metrics`) whose every pod takes one accelerator through the path
//! the cluster offers (a DRA ResourceClaimTemplate, or the vendor's extended resource), registered for
//! scraping the one way `ai_service_metrics` chooses ([`model_server::choose`]), runs one request at a time with a slow first token so that requests queue, and a Service in
//! front; the load (concurrent completions through the API server's service proxy until stopped); and the
//! proof that a pod holds its device (its claim allocated and reserved for it, or the resource granted).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::resource::v1::ResourceClaim;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::hpa::NAME;
use crate::accelerators::inventory::{Inventory, Path, allocated_devices};
use crate::accelerators::probe;
use crate::check::{CheckContext, CheckError};
use crate::observability::endpoint::{Endpoint, Headers};
use crate::observability::model_server::{self, MODEL, PORT, PORT_NAME, Registration};
use crate::pods;

/// The pod-level claim entry of the DRA path.
pub const CLAIM_ENTRY: &str = "accel";
/// How long the server takes to the first token of each request; it runs one at a time.
pub const FIRST_TOKEN: &str = "2s";
/// Concurrent requests while loaded: with one running, the rest wait.
pub const WORKERS: usize = 6;

/// How each pod asks for its accelerator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Device {
    /// One of the vendor's extended resource (device plugin).
    Extended(String),
    /// A claim of its own from this ResourceClaimTemplate (DRA).
    Dra(String),
}

impl Device {
    pub fn describe(&self) -> String {
        match self {
            Self::Extended(resource) => format!("one {resource} (device plugin)"),
            Self::Dra(template) => format!("one DRA device (a claim per pod from ResourceClaimTemplate {template})"),
        }
    }
}

/// The labels selecting the Deployment's pods.
pub fn selector(ctx: &CheckContext) -> BTreeMap<String, String> {
    BTreeMap::from([
        (crate::labels::RUN_ID.to_string(), ctx.run_id.clone()),
        ("app.kubernetes.io/name".to_string(), NAME.to_string()),
    ])
}

/// The selector as a label query.
pub fn label_query(ctx: &CheckContext) -> String {
    selector(ctx).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// The Deployment: 1 replica, each pod one accelerator, the simulator queuing requests, annotated for
/// scraping only when that is how it is registered.
pub fn deployment(ctx: &CheckContext, device: &Device, tolerations: &Value, registration: &Registration) -> Value {
    let mut labels = ctx.labels();
    labels.extend(selector(ctx));
    let mut resources = json!({"requests": {"cpu": "100m", "memory": "64Mi"}});
    let mut spec = json!({
        "terminationGracePeriodSeconds": 0,
        "tolerations": tolerations,
        "containers": [{
            "name": "server",
            "image": model_server::image(ctx),
            "args": ["--model", MODEL, "--port", PORT.to_string(), "--mode", "echo", "--force-dummy-tokenizer",
                     "--max-num-seqs", "1", "--time-to-first-token", FIRST_TOKEN],
            "ports": [{"name": PORT_NAME, "containerPort": PORT}],
            "readinessProbe": {"httpGet": {"path": "/health", "port": PORT}, "periodSeconds": 2}
        }]
    });
    give_device(&mut spec, &mut resources, device);
    spec["containers"][0]["resources"] = resources;
    pods::harden(&mut spec);
    json!({
        "metadata": {"name": NAME, "labels": ctx.labels()},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector(ctx)},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": registration.annotations()
                },
                "spec": spec
            }
        }
    })
}

/// Gives a pod `spec`'s container with `resources` one device through `device`'s path: the extended resource in
/// its limits, or a claim entry from the template (pod-level `resourceClaims`).
pub fn give_device(spec: &mut Value, resources: &mut Value, device: &Device) {
    match device {
        Device::Extended(resource) => resources["limits"] = json!({resource: 1}),
        Device::Dra(template) => {
            resources["claims"] = json!([{"name": CLAIM_ENTRY}]);
            spec["resourceClaims"] = json!([{"name": CLAIM_ENTRY, "resourceClaimTemplateName": template}]);
        }
    }
}

/// The Service in front of the pods.
pub fn service(ctx: &CheckContext) -> Value {
    json!({
        "metadata": {"name": NAME, "labels": ctx.labels()},
        "spec": {"selector": selector(ctx), "ports": [{"name": PORT_NAME, "port": PORT, "targetPort": PORT}]}
    })
}

/// Load: [`WORKERS`] loops, each sending one completion after the other through the service proxy.
pub struct Load {
    handles: Vec<JoinHandle<()>>,
    answered: Arc<AtomicU64>,
    last_error: Arc<std::sync::Mutex<Option<String>>>,
}

impl Load {
    pub fn start(ctx: &CheckContext) -> Self {
        let answered = Arc::new(AtomicU64::new(0));
        let last_error = Arc::new(std::sync::Mutex::new(None));
        let handles = (0..WORKERS)
            .map(|worker| {
                let client = ctx.client.clone();
                let endpoint = Endpoint::service(&ctx.namespace, NAME, PORT_NAME, "");
                let (answered, last_error) = (answered.clone(), last_error.clone());
                tokio::spawn(async move {
                    let body =
                        json!({"model": MODEL, "prompt": format!("kaic autoscaling load {worker}"), "max_tokens": 4});
                    loop {
                        match endpoint.post_json(&client, &Headers::default(), "/v1/completions", &body).await {
                            Ok(_) => {
                                answered.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => {
                                *last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Self { handles, answered, last_error }
    }

    /// Completions answered so far, and the last failure.
    pub fn progress(&self) -> (u64, Option<String>) {
        (self.answered.load(Ordering::Relaxed), self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Stops every loop (requests in flight are dropped).
    pub fn stop(&self) {
        for handle in &self.handles {
            handle.abort();
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The accelerator path for a workload's pods: DRA where offered (and allowed), else the device plugin, with at
/// least `needed` free devices across schedulable nodes. Prepares the DRA claim template `template`.
///
/// # Errors
/// [`CheckError::Api`] when kaic's DeviceClass or the template cannot be created.
pub async fn choose_device(
    ctx: &CheckContext,
    inventory: &Inventory,
    needed: i64,
    template: &str,
) -> Result<Option<Device>, CheckError> {
    let free = |path: Path| -> i64 { inventory.nodes.iter().filter(|n| n.schedulable).map(|n| n.free(path)).sum() };
    let paths = inventory.paths(ctx.options.allocation_mode);
    for path in [Path::Dra, Path::DevicePlugin] {
        if !paths.contains(&path) || free(path) < needed {
            continue;
        }
        let Some(node) = inventory.best_node(path, 1) else { continue };
        return Ok(Some(match path {
            Path::Dra => {
                probe::prepare_one_device(ctx, node, path, template).await?;
                Device::Dra(template.into())
            }
            Path::DevicePlugin => match node.free_extended() {
                Some((resource, _)) => Device::Extended(resource.to_string()),
                None => continue,
            },
        }));
    }
    Ok(None)
}

/// The accelerator nodes' own dedicated-taint tolerations, merged: a workload's pods may land on any.
pub fn merged_tolerations(inventory: &Inventory) -> Value {
    let mut all: Vec<Value> = Vec::new();
    for toleration in inventory.nodes.iter().flat_map(|n| n.tolerations.as_array().cloned().unwrap_or_default()) {
        if !all.contains(&toleration) {
            all.push(toleration);
        }
    }
    Value::Array(all)
}

/// Whether a pod is Running and not being deleted.
pub fn live(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// The device `pod` holds, in words, or why kaic cannot say it holds one.
pub fn device_of(pod: &Pod, device: &Device, claims: &[ResourceClaim]) -> Result<String, String> {
    let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).ok_or("not scheduled")?;
    match device {
        Device::Extended(resource) => {
            let granted = pod.spec.iter().flat_map(|s| &s.containers).any(|c| {
                c.resources
                    .as_ref()
                    .and_then(|r| r.limits.as_ref())
                    .and_then(|l| l.get(resource))
                    .is_some_and(|q| q.0 == "1")
            });
            if granted { Ok(format!("1 {resource} on {node}")) } else { Err(format!("no {resource} in its limits")) }
        }
        Device::Dra(_) => {
            let claim_name =
                pods::generated_claim(pod, Some(CLAIM_ENTRY)).ok_or("its ResourceClaim was not generated")?;
            let claim = claims
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(claim_name.as_str()))
                .ok_or_else(|| format!("ResourceClaim {claim_name} not found"))?;
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            let reserved = claim
                .status
                .as_ref()
                .and_then(|s| s.reserved_for.as_ref())
                .is_some_and(|r| r.iter().any(|c| c.uid == uid));
            match allocated_devices(claim).as_slice() {
                [(driver, pool, name)] if reserved => {
                    Ok(format!("{driver}/{pool}/{name} (claim {claim_name}) on {node}"))
                }
                [_] => Err(format!("ResourceClaim {claim_name} is allocated but not reserved for the pod")),
                [] => Err(format!("ResourceClaim {claim_name} is not allocated")),
                many => Err(format!("ResourceClaim {claim_name} holds {} devices, not one", many.len())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckOptions, from_json};

    #[tokio::test]
    async fn each_pod_asks_for_one_device_through_the_chosen_path() {
        let ctx = CheckContext::offline("pod_autoscaling", CheckOptions::default());
        let tolerations = json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]);
        let dp = deployment(&ctx, &Device::Extended("nvidia.com/gpu".into()), &tolerations, &Registration::Annotations);
        let pod = &dp["spec"]["template"];
        assert_eq!(pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"], 1);
        assert_eq!(pod["metadata"]["annotations"]["prometheus.io/scrape"], "true");
        assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
        assert!(pod["spec"]["containers"][0]["args"].as_array().unwrap().contains(&json!("--max-num-seqs")));
        let _: k8s_openapi::api::apps::v1::Deployment = from_json(dp.clone()).unwrap();
        let dra = deployment(&ctx, &Device::Dra("kaic-hpa".into()), &json!([]), &Registration::PodMonitoring);
        assert_eq!(
            dra["spec"]["template"]["metadata"]["annotations"],
            json!({}),
            "registered once, by its PodMonitoring"
        );
        let spec = &dra["spec"]["template"]["spec"];
        assert_eq!(spec["resourceClaims"][0]["resourceClaimTemplateName"], "kaic-hpa");
        assert_eq!(spec["containers"][0]["resources"]["claims"][0]["name"], CLAIM_ENTRY);
        assert!(spec["containers"][0]["resources"].get("limits").is_none());
        let _: k8s_openapi::api::apps::v1::Deployment = from_json(dra).unwrap();
        let _: k8s_openapi::api::core::v1::Service = from_json(service(&ctx)).unwrap();
        assert_eq!(label_query(&ctx), "app.kubernetes.io/name=kaic-model-server,kaic.dev/run-id=r1");
    }

    fn pod(claim: Option<&str>) -> Pod {
        from_json(json!({
            "metadata": {"name": "p", "uid": "u1"},
            "spec": {"nodeName": "gpu-node-0", "containers": [{"name": "server", "image": "i",
                      "resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
            "status": {"phase": "Running", "resourceClaimStatuses": claim.map(|c| json!([{"name": CLAIM_ENTRY, "resourceClaimName": c}]))}
        }))
        .unwrap()
    }

    fn claim(reserved_uid: &str, devices: usize) -> ResourceClaim {
        let results: Vec<Value> = (0..devices)
            .map(|i| json!({"request": "dev", "driver": "gpu.nvidia.com", "pool": "gpu-node-0", "device": format!("gpu-{i}")}))
            .collect();
        from_json(json!({
            "metadata": {"name": "p-accel"},
            "spec": {"devices": {"requests": []}},
            "status": {"allocation": {"devices": {"results": results}}, "reservedFor": [{"resource": "pods", "name": "p", "uid": reserved_uid}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_pod_holds_its_device_only_when_granted_allocated_and_reserved() {
        let extended = Device::Extended("nvidia.com/gpu".into());
        assert_eq!(device_of(&pod(None), &extended, &[]), Ok("1 nvidia.com/gpu on gpu-node-0".into()));
        let dra = Device::Dra("t".into());
        assert_eq!(
            device_of(&pod(Some("p-accel")), &dra, &[claim("u1", 1)]),
            Ok("gpu.nvidia.com/gpu-node-0/gpu-0 (claim p-accel) on gpu-node-0".into())
        );
        assert!(device_of(&pod(Some("p-accel")), &dra, &[claim("other", 1)]).unwrap_err().contains("not reserved"));
        assert!(device_of(&pod(Some("p-accel")), &dra, &[claim("u1", 0)]).unwrap_err().contains("not allocated"));
        assert!(device_of(&pod(Some("p-accel")), &dra, &[claim("u1", 2)]).unwrap_err().contains("2 devices"));
        assert!(device_of(&pod(None), &dra, &[]).unwrap_err().contains("not generated"));
        assert!(live(&pod(None)));
    }
}
