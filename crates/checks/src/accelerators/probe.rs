//! Probe pods: pods whose containers report the accelerator devices they can see (see
//! [`vendor`](super::vendor) for the line protocol). Builds them pinned to one node with a given
//! allocation per container, runs them, and parses their logs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::resource::v1::DeviceClass;
use kube::api::{LogParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::inventory::{AcceleratorNode, Path};
use super::vendor::Vendor;
use crate::check::{CheckContext, CheckError, from_json};
use crate::wait;

/// What one container may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Nothing: the container must see no accelerator.
    Nothing,
    /// `count` of an extended resource (device-plugin path).
    Extended { resource: String, count: i64 },
    /// The pod-level claim entry of this name (DRA path).
    Claim { entry: String },
}

/// A pod-level DRA claim entry: from a template (a claim of its own) or an existing, shared claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodClaim {
    Template { entry: String, template: String },
    Existing { entry: String, claim: String },
}

/// One probe pod to run.
#[derive(Debug, Clone)]
pub struct ProbePod {
    pub name: String,
    pub node: String,
    pub vendor: &'static Vendor,
    /// (container name, grant)
    pub containers: Vec<(String, Grant)>,
    pub claims: Vec<PodClaim>,
}

/// What one container saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    /// Real device nodes (control nodes filtered out).
    pub devices: Vec<String>,
    /// Devices the vendor tool listed.
    pub gpus: Vec<Gpu>,
}

/// One `KAIC-GPU` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpu {
    pub uuid: String,
    pub driver_version: String,
    pub product: String,
}

/// Parses a probe log. `None` when the log lacks `KAIC-END` (the probe has not finished or was cut off).
pub fn parse(log: &str, vendor: &Vendor) -> Option<Seen> {
    let mut seen = Seen::default();
    let mut ended = false;
    for line in log.lines() {
        let line = line.trim();
        if let Some(path) = line.strip_prefix("KAIC-DEVICE ") {
            let path = path.trim();
            if vendor.is_device_node(path) && !seen.devices.iter().any(|d| d == path) {
                seen.devices.push(path.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("KAIC-GPU ") {
            let mut parts = rest.splitn(3, ' ');
            let (Some(uuid), Some(driver)) = (parts.next(), parts.next()) else { continue };
            seen.gpus.push(Gpu {
                uuid: uuid.to_string(),
                driver_version: driver.to_string(),
                product: parts.next().unwrap_or_default().trim().to_string(),
            });
        } else if line == "KAIC-END" {
            ended = true;
        }
    }
    ended.then_some(seen)
}

impl Seen {
    /// A short description for evidence and verdicts: `/dev/nvidia1 (GPU-…)`.
    pub fn describe(&self) -> String {
        if self.devices.is_empty() && self.gpus.is_empty() {
            return "no device".into();
        }
        let uuids: Vec<&str> = self.gpus.iter().map(|g| g.uuid.as_str()).collect();
        format!("{} [{}]", self.devices.join(", "), uuids.join(", "))
    }

    /// The identities of the devices seen: uuids when the vendor tool reports them, else device paths.
    pub fn ids(&self) -> Vec<String> {
        if self.gpus.is_empty() { self.devices.clone() } else { self.gpus.iter().map(|g| g.uuid.clone()).collect() }
    }
}

impl ProbePod {
    fn manifest(&self, ctx: &CheckContext) -> serde_json::Value {
        let image = ctx
            .options
            .probe_images
            .get(self.vendor.probe_label)
            .cloned()
            .unwrap_or_else(|| self.vendor.probe_image.to_string());
        let mut labels = ctx.labels();
        labels.insert("kaic.dev/probe".into(), self.vendor.probe_label.into());
        let containers: Vec<serde_json::Value> = self
            .containers
            .iter()
            .map(|(name, grant)| {
                let resources = match grant {
                    Grant::Nothing => json!({}),
                    Grant::Extended { resource, count } => json!({"limits": {resource.as_str(): count.to_string()}}),
                    Grant::Claim { entry } => json!({"claims": [{"name": entry}]}),
                };
                // The probe prints and then stays up briefly so logs are readable before the pod completes.
                json!({"name": name, "image": image, "command": ["sh", "-c", format!("{}\nsleep 5", self.vendor.probe_script)], "resources": resources})
            })
            .collect();
        let claims: Vec<serde_json::Value> = self
            .claims
            .iter()
            .map(|c| match c {
                PodClaim::Template { entry, template } => json!({"name": entry, "resourceClaimTemplateName": template}),
                PodClaim::Existing { entry, claim } => json!({"name": entry, "resourceClaimName": claim}),
            })
            .collect();
        json!({
            "metadata": {"name": self.name, "labels": labels},
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 0,
                // Pinned by node name label, not spec.nodeName: DRA claims are allocated by the scheduler.
                "nodeSelector": {"kubernetes.io/hostname": self.node},
                "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
                "resourceClaims": claims,
                "containers": containers
            }
        })
    }
}

/// The result of running probe pods: what each (pod, container) saw, and the node each pod ran on.
#[derive(Debug, Clone, Default)]
pub struct ProbeResults {
    pub seen: BTreeMap<(String, String), Seen>,
    pub nodes: BTreeMap<String, String>,
}

impl ProbeResults {
    pub fn get(&self, pod: &str, container: &str) -> &Seen {
        static NOTHING: Seen = Seen { devices: Vec::new(), gpus: Vec::new() };
        self.seen.get(&(pod.to_string(), container.to_string())).unwrap_or(&NOTHING)
    }
}

/// Creates the pods, waits until each runs, and reads each container's probe output.
///
/// # Errors
/// [`CheckError`] when a pod cannot be created, is never scheduled (with the scheduler's message), or its
/// probe output never completes.
pub async fn run(ctx: &CheckContext, pods: &[ProbePod], timeout: Duration) -> Result<ProbeResults, CheckError> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    for pod in pods {
        let manifest: Pod = from_json(pod.manifest(ctx))?;
        api.create(&PostParams::default(), &manifest)
            .await
            .map_err(|e| CheckError::api(format!("create probe pod {}", pod.name), e))?;
    }
    let mut results = ProbeResults::default();
    for pod in pods {
        let started = Instant::now();
        let running =
            wait::until(&api, &pod.name, "the probe pod to run", timeout, wait::pod_running, wait::describe_pod)
                .await?;
        ctx.record(|e| e.timing(format!("probe pod {}: submit to running", pod.name), started.elapsed()));
        let node = running.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        results.nodes.insert(pod.name.clone(), node);
        ctx.object(&format!("Pod-{}", pod.name), &running);
        for (container, _) in &pod.containers {
            let log = read_probe_log(&api, &pod.name, container, timeout).await?;
            ctx.record(|e| e.log(format!("{}-{container}", pod.name), log.clone()));
            let seen = parse(&log, pod.vendor)
                .ok_or_else(|| CheckError::Other(format!("probe {}/{container} printed no KAIC-END", pod.name)))?;
            results.seen.insert((pod.name.clone(), container.clone()), seen);
        }
    }
    Ok(results)
}

/// Reads a container's log until the probe's end marker appears. Logs are not watchable, so this asks
/// again at a short interval, bounded by `timeout`.
async fn read_probe_log(api: &Api<Pod>, pod: &str, container: &str, timeout: Duration) -> Result<String, CheckError> {
    let deadline = Instant::now() + timeout;
    let params = LogParams { container: Some(container.to_string()), ..Default::default() };
    loop {
        let last = match api.logs(pod, &params).await {
            Ok(log) if log.contains("KAIC-END") => return Ok(log),
            Ok(log) => format!("log so far: {:?}", log.chars().take(200).collect::<String>()),
            Err(e) => format!("log not readable: {e}"),
        };
        if Instant::now() >= deadline {
            return Err(CheckError::Timeout {
                what: format!("probe output of {pod}/{container}"),
                after: timeout,
                last_seen: last,
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Creates a DeviceClass selecting every device of `driver`, labelled and named for this run and check,
/// and returns its name. kaic uses its own class so it never depends on how a platform named theirs.
///
/// # Errors
/// [`CheckError::Api`] when the class cannot be created.
pub async fn device_class(ctx: &CheckContext, driver: &str) -> Result<String, CheckError> {
    let name = ctx.cluster_name(&format!("{}-{}", ctx.check_id.replace('_', "-"), driver.replace('.', "-")));
    let class: DeviceClass = from_json(json!({
        "metadata": {"name": name, "labels": ctx.labels()},
        "spec": {"selectors": [{"cel": {"expression": format!("device.driver == '{driver}'")}}]}
    }))?;
    let api: Api<DeviceClass> = Api::all(ctx.client.clone());
    match api.create(&PostParams::default(), &class).await {
        Ok(created) => {
            ctx.object(&format!("DeviceClass-{}", created.name_any()), &created);
            Ok(name)
        }
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(name),
        Err(e) => Err(CheckError::api(format!("create DeviceClass {name}"), e)),
    }
}

/// Creates a ResourceClaimTemplate named `name` asking for `count` devices of `class`.
///
/// # Errors
/// [`CheckError::Api`] when it cannot be created.
pub async fn claim_template(ctx: &CheckContext, name: &str, class: &str, count: i64) -> Result<(), CheckError> {
    let api: Api<k8s_openapi::api::resource::v1::ResourceClaimTemplate> =
        Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let template = from_json(json!({
        "metadata": {"name": name, "labels": ctx.labels()},
        "spec": {"spec": {"devices": {"requests": [{"name": "dev", "exactly": {"deviceClassName": class, "count": count}}]}}}
    }))?;
    api.create(&PostParams::default(), &template)
        .await
        .map_err(|e| CheckError::api(format!("create ResourceClaimTemplate {name}"), e))?;
    Ok(())
}

/// Prepares one device through `path` on `node`: for DRA a DeviceClass for the node's driver and the
/// ResourceClaimTemplate `template`; returns the container grant and the pod's claim entries.
///
/// # Errors
/// [`CheckError::Api`] when the class or template cannot be created.
pub async fn prepare_one_device(
    ctx: &CheckContext,
    node: &AcceleratorNode,
    path: Path,
    template: &str,
) -> Result<(Grant, Vec<PodClaim>), CheckError> {
    if path == Path::Dra {
        let driver = node.free_dra().first().map(|d| d.driver.clone()).unwrap_or_default();
        let class = device_class(ctx, &driver).await?;
        claim_template(ctx, template, &class, 1).await?;
    }
    let resource = node.free_extended().map(|(r, _)| r.to_string()).unwrap_or_default();
    Ok(one_device(path, &resource, template))
}

/// The grant and pod claim entries for one device through `path`.
/// For DRA the template `template` must exist (see [`claim_template`]).
pub fn one_device(path: Path, resource: &str, template: &str) -> (Grant, Vec<PodClaim>) {
    match path {
        Path::DevicePlugin => (Grant::Extended { resource: resource.to_string(), count: 1 }, Vec::new()),
        Path::Dra => (
            Grant::Claim { entry: "accel".into() },
            vec![PodClaim::Template { entry: "accel".into(), template: template.to_string() }],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accelerators::vendor::VENDORS;

    const LOG: &str = "KAIC-DEVICE /dev/nvidia2\nKAIC-DEVICE /dev/nvidiactl\nKAIC-DEVICE /dev/nvidia-uvm\n\
                       KAIC-GPU GPU-1234 580.95.05 NVIDIA H100 80GB HBM3\nKAIC-END\n";

    #[test]
    fn parses_devices_and_gpus_and_ignores_control_nodes() {
        let nvidia = &VENDORS[0];
        let seen = parse(LOG, nvidia).unwrap();
        assert_eq!(seen.devices, vec!["/dev/nvidia2"]);
        assert_eq!(
            seen.gpus,
            vec![Gpu {
                uuid: "GPU-1234".into(),
                driver_version: "580.95.05".into(),
                product: "NVIDIA H100 80GB HBM3".into()
            }]
        );
        assert_eq!(seen.ids(), vec!["GPU-1234"]);
        assert_eq!(seen.describe(), "/dev/nvidia2 [GPU-1234]");
    }

    #[test]
    fn unfinished_output_is_not_a_result() {
        assert!(parse("KAIC-DEVICE /dev/nvidia0\n", &VENDORS[0]).is_none());
        let empty = parse("KAIC-END\n", &VENDORS[0]).unwrap();
        assert_eq!(empty.describe(), "no device");
        assert!(empty.ids().is_empty());
    }

    #[test]
    fn one_device_uses_the_right_mechanism() {
        let (grant, claims) = one_device(Path::DevicePlugin, "nvidia.com/gpu", "t");
        assert_eq!(grant, Grant::Extended { resource: "nvidia.com/gpu".into(), count: 1 });
        assert!(claims.is_empty());
        let (grant, claims) = one_device(Path::Dra, "", "one");
        assert_eq!(grant, Grant::Claim { entry: "accel".into() });
        assert_eq!(claims, vec![PodClaim::Template { entry: "accel".into(), template: "one".into() }]);
    }
}
