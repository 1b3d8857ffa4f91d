//! Probe pods: pods whose containers report the accelerator devices they can see (see
//! [`vendor`](super::vendor) for what the probe prints). Builds them pinned to one node with a given
//! allocation per container, hardened for the `restricted` Pod Security Standard, runs them, and parses
//! their logs with the vendors' tool parsers ([`tools`](super::tools)).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::resource::v1::DeviceClass;
use kube::api::{LogParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::CaseResult;
use super::inventory::{AcceleratorNode, Path};
use super::tools::{self, Listing};
use super::vendor::Vendor;
use crate::check::{CheckContext, CheckError, from_json};
use crate::pods;
use crate::timeouts::Wait;
use crate::wait;

/// What one container may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Nothing: the container must see no accelerator.
    Nothing,
    /// Nothing granted, but the container asks the vendor's runtime for every device through its variable
    /// (`NVIDIA_VISIBLE_DEVICES=all`): it must still see none.
    AskForAll,
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

impl PodClaim {
    /// The entry of the pod's `spec.resourceClaims`.
    pub fn manifest(&self) -> Value {
        match self {
            PodClaim::Template { entry, template } => json!({"name": entry, "resourceClaimTemplateName": template}),
            PodClaim::Existing { entry, claim } => json!({"name": entry, "resourceClaimName": claim}),
        }
    }
}

/// One probe pod to run.
#[derive(Debug, Clone)]
pub struct ProbePod {
    pub name: String,
    pub node: String,
    /// Tolerations for the node's own dedicated taints ([`pods::tolerations_for`]).
    pub tolerations: Value,
    pub vendor: &'static Vendor,
    /// (container name, grant)
    pub containers: Vec<(String, Grant)>,
    pub claims: Vec<PodClaim>,
}

impl ProbePod {
    /// A probe pod pinned to `node`.
    pub fn on(node: &AcceleratorNode, name: &str, containers: Vec<(String, Grant)>, claims: Vec<PodClaim>) -> Self {
        Self {
            name: name.to_string(),
            node: node.name.clone(),
            tolerations: node.tolerations.clone(),
            vendor: node.vendor,
            containers,
            claims,
        }
    }
}

/// What one container saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Real device nodes (control nodes filtered out).
    pub devices: Vec<String>,
    /// What the vendor's listing tool said.
    pub listing: Listing,
    /// The driver version the vendor's tool reported, if it reports one.
    pub driver_version: Option<String>,
}

impl Default for Seen {
    fn default() -> Self {
        Self { devices: Vec::new(), listing: Listing::Missing, driver_version: None }
    }
}

/// Parses a probe log. `None` when the log lacks `KAIC-END` (the probe has not finished or was cut off).
pub fn parse(log: &str, vendor: &Vendor) -> Option<Seen> {
    let mut seen = Seen::default();
    // The tool section being read: (section, command, raw lines).
    let mut open: Option<(String, String, Vec<&str>)> = None;
    for line in log.lines() {
        if let Some((section, command, lines)) = open.as_mut() {
            if let Some(rest) = line.trim().strip_prefix("KAIC-TOOL-END ") {
                let code = rest.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(-1);
                let output = lines.join("\n");
                match section.as_str() {
                    "list" => {
                        seen.listing = tools::parse_listing(command, code, &output);
                        // hl-smi's listing carries the driver version too.
                        if seen.driver_version.is_none() {
                            seen.driver_version = tools::parse_driver_version(command, code, &output);
                        }
                    }
                    "version" => seen.driver_version = tools::parse_driver_version(command, code, &output),
                    _ => {}
                }
                open = None;
            } else {
                lines.push(line);
            }
            continue;
        }
        let line = line.trim();
        if let Some(path) = line.strip_prefix("KAIC-DEVICE ") {
            let path = path.trim();
            if vendor.is_device_node(path) && !seen.devices.iter().any(|d| d == path) {
                seen.devices.push(path.to_string());
            }
        } else if let Some(rest) = line.strip_prefix("KAIC-TOOL-BEGIN ") {
            let (section, command) = rest.split_once(' ').unwrap_or((rest, ""));
            open = Some((section.to_string(), command.to_string(), Vec::new()));
        } else if line == "KAIC-END" {
            return Some(seen);
        }
    }
    None
}

impl Seen {
    /// How many devices the container can use: the device nodes it can open or the devices the tool
    /// lists, whichever is more (a MIG instance has its parent's node; a runtime that leaks nodes is
    /// caught even where the tool lists one).
    pub fn count(&self) -> usize {
        self.devices.len().max(self.listing.devices().len())
    }

    /// Whether the container can use no device at all. A failed tool lists nothing.
    pub fn sees_nothing(&self) -> bool {
        self.count() == 0
    }

    /// Why this container's view cannot be judged: its listing tool failed.
    pub fn tool_failure(&self) -> Option<String> {
        match &self.listing {
            Listing::Failed { command, code, output } => Some(format!(
                "`{command}` failed (exit code {code}): {}",
                output.lines().collect::<Vec<_>>().join(" / ")
            )),
            _ => None,
        }
    }

    /// A short description for evidence and verdicts: `/dev/nvidia1 [GPU-…]`.
    pub fn describe(&self) -> String {
        let ids: Vec<&str> = self.listing.devices().iter().map(|d| d.id.as_str()).collect();
        let mut text = match (self.devices.is_empty(), ids.is_empty()) {
            (true, true) => "no device".to_string(),
            (false, true) => self.devices.join(", "),
            (_, false) => format!("{} [{}]", self.devices.join(", "), ids.join(", ")).trim_start().to_string(),
        };
        if let Listing::Failed { command, code, .. } = &self.listing {
            text.push_str(&format!(" (`{command}` failed with exit code {code})"));
        }
        text
    }

    /// The identities of the devices seen: the tool's ids when it lists devices, else device paths.
    pub fn ids(&self) -> Vec<String> {
        let listed = self.listing.devices();
        if listed.is_empty() { self.devices.clone() } else { listed.iter().map(|d| d.id.clone()).collect() }
    }
}

impl ProbePod {
    fn manifest(&self, ctx: &CheckContext) -> Value {
        let image = ctx.options.probe_image(self.vendor.probe_label, self.vendor.probe_image);
        let mut labels = ctx.labels();
        labels.insert("kaic.dev/probe".into(), self.vendor.probe_label.into());
        let script = format!("{}\nsleep 5", self.vendor.probe_script());
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|(name, grant)| {
                let resources = match grant {
                    Grant::Nothing | Grant::AskForAll => json!({}),
                    Grant::Extended { resource, count } => json!({"limits": {resource.as_str(): count.to_string()}}),
                    Grant::Claim { entry } => json!({"claims": [{"name": entry}]}),
                };
                // The probe prints and then stays up briefly so logs are readable before the pod completes.
                json!({"name": name, "image": image, "command": ["sh", "-c", script], "resources": resources,
                       "env": visible_devices_env(self.vendor, grant)})
            })
            .collect();
        let claims: Vec<Value> = self.claims.iter().map(PodClaim::manifest).collect();
        let mut spec = json!({
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            // Pinned by node affinity, not spec.nodeName: DRA claims are allocated by the scheduler.
            "affinity": pods::pin_to(&self.node),
            "tolerations": self.tolerations,
            "resourceClaims": claims,
            "containers": containers
        });
        pods::harden(&mut spec);
        json!({"metadata": {"name": self.name, "labels": labels}, "spec": spec})
    }
}

/// The vendor runtime's variable for a container. Without a grant it is set to the value that injects
/// nothing (`void`), so a runtime that honours it (and an image that defaults it to `all`, as CUDA images
/// do) cannot hand the container every device; a DRA container gets `void` too, because its devices come
/// from CDI, whose NVIDIA specs set the same. A device-plugin container gets none: with the plugin's
/// env-var strategy the plugin sets it, and a value in the pod spec would override its allocation.
pub(crate) fn visible_devices_env(vendor: &Vendor, grant: &Grant) -> Value {
    let Some(variable) = vendor.visible_devices_env else { return json!([]) };
    match grant {
        Grant::Nothing | Grant::Claim { .. } => json!([{"name": variable, "value": "void"}]),
        Grant::AskForAll => json!([{"name": variable, "value": "all"}]),
        Grant::Extended { .. } => json!([]),
    }
}

/// Why a probe pod gave no output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodProblem {
    /// It will not start without a person fixing something (image pull back-off, a failed pod).
    Fatal(String),
    /// The scheduler could not place it; the scheduler's message.
    Unschedulable(String),
    /// It did not run, or its probe did not finish, in time; the last state seen.
    TimedOut(String),
}

/// The result of running probe pods: what each (pod, container) saw, the node each pod ran on, and the
/// pods that gave no output.
#[derive(Debug, Clone, Default)]
pub struct ProbeResults {
    pub seen: BTreeMap<(String, String), Seen>,
    pub nodes: BTreeMap<String, String>,
    pub problems: BTreeMap<String, PodProblem>,
}

impl ProbeResults {
    pub fn get(&self, pod: &str, container: &str) -> &Seen {
        static NOTHING: Seen = Seen { devices: Vec::new(), listing: Listing::Missing, driver_version: None };
        self.seen.get(&(pod.to_string(), container.to_string())).unwrap_or(&NOTHING)
    }

    /// An error case for the first pod (not in `except`) that gave no output, or whose holder container's
    /// tool failed: without output nothing about the pod can be judged, and a missing output must never
    /// read as "sees no device".
    pub fn unusable(&self, except: &[&str], holders: &[(&str, &str)]) -> Option<CaseResult> {
        if let Some((pod, problem)) = self.problems.iter().find(|(pod, _)| !except.contains(&pod.as_str())) {
            let text = match problem {
                PodProblem::Fatal(why) => why.clone(),
                PodProblem::Unschedulable(why) => format!("probe pod {pod} was never scheduled: {why}"),
                PodProblem::TimedOut(why) => format!("probe pod {pod} gave no probe output in time: {why}"),
            };
            return Some(CaseResult::Error(text));
        }
        holders.iter().find_map(|(pod, container)| {
            let failure = self.seen.get(&(pod.to_string(), container.to_string()))?.tool_failure()?;
            Some(CaseResult::Error(format!(
                "the vendor tool in {pod}/{container}, which holds a device, failed, so what it sees cannot be told: {failure}"
            )))
        })
    }
}

/// Creates the pods, waits until each runs, and reads each container's probe output, all within one
/// [`Wait::ProbePod`] (the pods run side by side). A pod that cannot start (image pull back-off, …) is
/// reported at once, not after the wait.
///
/// # Errors
/// [`CheckError`] when a pod cannot be created; pods that give no output are in
/// [`ProbeResults::problems`].
pub async fn run(ctx: &CheckContext, pods: &[ProbePod]) -> Result<ProbeResults, CheckError> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let submitted = Instant::now();
    for pod in pods {
        let manifest: Pod = from_json(pod.manifest(ctx))?;
        api.create(&PostParams::default(), &manifest)
            .await
            .map_err(|e| CheckError::api(format!("create probe pod {}", pod.name), e))?;
    }
    let deadline = submitted + ctx.wait(Wait::ProbePod);
    let mut results = ProbeResults::default();
    for pod in pods {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
        let started_or_stuck =
            |p: Option<&Pod>| wait::pod_running(p) || p.is_some_and(|p| pods::fatal_state(p).is_some());
        let running = match wait::until(
            &api,
            &pod.name,
            "the probe pod to run",
            left,
            started_or_stuck,
            wait::describe_pod,
        )
        .await
        {
            Ok(running) => running,
            Err(CheckError::Timeout { last_seen, .. }) => {
                let problem = match api.get_opt(&pod.name).await.ok().flatten().as_ref().and_then(wait::unschedulable) {
                    Some(message) => PodProblem::Unschedulable(message),
                    None => PodProblem::TimedOut(last_seen),
                };
                results.problems.insert(pod.name.clone(), problem);
                continue;
            }
            Err(e) => return Err(e),
        };
        ctx.object(&format!("Pod-{}", pod.name), &running);
        if let Some(why) = pods::fatal_state(&running) {
            results.problems.insert(pod.name.clone(), PodProblem::Fatal(why));
            continue;
        }
        ctx.record(|e| e.timing(format!("probe pod {}: submit to running", pod.name), submitted.elapsed()));
        let node = running.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        results.nodes.insert(pod.name.clone(), node);
        for (container, _) in &pod.containers {
            match read_probe_log(&api, &pod.name, container, deadline).await {
                Ok(log) => {
                    ctx.record(|e| e.log(format!("{}-{container}", pod.name), log.clone()));
                    match parse(&log, pod.vendor) {
                        Some(seen) => {
                            results.seen.insert((pod.name.clone(), container.clone()), seen);
                        }
                        // An end marker inside a tool's output: never read an unparsed log as "no device".
                        None => {
                            let why = format!("{container}: the probe output ends inside a tool's output");
                            results.problems.insert(pod.name.clone(), PodProblem::TimedOut(why));
                        }
                    }
                }
                Err(last) => {
                    results.problems.insert(pod.name.clone(), PodProblem::TimedOut(format!("{container}: {last}")));
                }
            }
        }
    }
    Ok(results)
}

/// Reads a container's log until the probe's end marker appears. Logs are not watchable, so this asks
/// again at a short interval, until `deadline`; the error is the last thing seen.
pub(crate) async fn read_probe_log(
    api: &Api<Pod>,
    pod: &str,
    container: &str,
    deadline: Instant,
) -> Result<String, String> {
    let params = LogParams { container: Some(container.to_string()), ..Default::default() };
    loop {
        let last = match api.logs(pod, &params).await {
            Ok(log) if log.lines().any(|l| l.trim() == "KAIC-END") => return Ok(log),
            Ok(log) => format!("log so far: {:?}", log.chars().take(200).collect::<String>()),
            Err(e) => format!("log not readable: {e}"),
        };
        if Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Creates a DeviceClass selecting every device of `driver`, labelled and named for this run and check,
/// and returns its name. kaic uses its own class so its verdicts never depend on how a platform named
/// its classes; [`super::classes`] picks the platform's class to try as well.
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
    claim_template_where(ctx, name, class, count, None).await
}

/// [`claim_template`] whose request also has the CEL `selector` (one exact device, say), where given.
///
/// # Errors
/// [`CheckError::Api`] when it cannot be created.
pub async fn claim_template_where(
    ctx: &CheckContext,
    name: &str,
    class: &str,
    count: i64,
    selector: Option<&str>,
) -> Result<(), CheckError> {
    let api: Api<k8s_openapi::api::resource::v1::ResourceClaimTemplate> =
        Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut request = json!({"deviceClassName": class, "count": count});
    if let Some(expression) = selector {
        request["selectors"] = json!([{"cel": {"expression": expression}}]);
    }
    let template = from_json(json!({
        "metadata": {"name": name, "labels": ctx.labels()},
        "spec": {"spec": {"devices": {"requests": [{"name": "dev", "exactly": request}]}}}
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
        ctx.step(format!("DRA: one device of {driver} through kaic's DeviceClass {class}"));
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
    use crate::check::CheckOptions;

    /// What the probe prints in a container holding one H100 on a real node (nvidia-smi injected with it).
    const HOLDER_LOG: &str = "KAIC-DEVICE /dev/nvidia-uvm\nKAIC-DEVICE /dev/nvidia-uvm-tools\nKAIC-DEVICE /dev/nvidia2\n\
        KAIC-DEVICE /dev/nvidiactl\nKAIC-TOOL-BEGIN list nvidia-smi -L\n\
        GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-8e27b4d1-90fa-13c6-5d2e-a4f81c6b7d03)\nKAIC-TOOL-END list 0\n\
        KAIC-TOOL-BEGIN version nvidia-smi --query-gpu=driver_version --format=csv,noheader\n580.95.05\n\
        KAIC-TOOL-END version 0\nKAIC-END\n";

    #[test]
    fn parses_device_nodes_and_the_tools_raw_output() {
        let seen = parse(HOLDER_LOG, &VENDORS[0]).unwrap();
        assert_eq!(seen.devices, vec!["/dev/nvidia2"]);
        assert_eq!(seen.ids(), vec!["GPU-8e27b4d1-90fa-13c6-5d2e-a4f81c6b7d03"]);
        assert_eq!(seen.driver_version.as_deref(), Some("580.95.05"));
        assert_eq!(seen.count(), 1);
        assert_eq!(seen.describe(), "/dev/nvidia2 [GPU-8e27b4d1-90fa-13c6-5d2e-a4f81c6b7d03]");
        assert_eq!(seen.tool_failure(), None);
    }

    #[test]
    fn a_container_without_devices_has_no_tool_and_sees_nothing() {
        let log = "KAIC-TOOL-MISSING list nvidia-smi -L\nKAIC-TOOL-MISSING version nvidia-smi --query-gpu=driver_version \
                   --format=csv,noheader\nKAIC-END\n";
        let seen = parse(log, &VENDORS[0]).unwrap();
        assert!(seen.sees_nothing());
        assert_eq!(seen.listing, Listing::Missing);
        assert_eq!(seen.describe(), "no device");
        assert!(seen.ids().is_empty());
    }

    #[test]
    fn a_failing_tool_is_a_failure_not_a_device() {
        let log = format!(
            "KAIC-DEVICE /dev/nvidia0\nKAIC-TOOL-BEGIN list nvidia-smi -L\n{}KAIC-TOOL-END list 9\nKAIC-END\n",
            include_str!("testdata/nvidia-smi-L.no-driver")
        );
        let seen = parse(&log, &VENDORS[0]).unwrap();
        assert!(seen.listing.devices().is_empty());
        let failure = seen.tool_failure().unwrap();
        assert!(failure.starts_with("`nvidia-smi -L` failed (exit code 9): NVIDIA-SMI has failed"), "{failure}");
        assert_eq!(seen.describe(), "/dev/nvidia0 (`nvidia-smi -L` failed with exit code 9)");
        assert_eq!(seen.driver_version, None);
    }

    #[test]
    fn unfinished_output_is_not_a_result() {
        assert!(parse("KAIC-DEVICE /dev/nvidia0\nKAIC-TOOL-BEGIN list nvidia-smi -L\n", &VENDORS[0]).is_none());
        // A device line inside a tool's output is the tool's, not a device node.
        let seen =
            parse("KAIC-TOOL-BEGIN list x\nKAIC-DEVICE /dev/nvidia0\nKAIC-TOOL-END list 0\nKAIC-END\n", &VENDORS[0]);
        assert!(seen.unwrap().devices.is_empty());
    }

    #[test]
    fn a_leaking_runtime_is_counted_by_its_device_nodes() {
        let log = "KAIC-DEVICE /dev/nvidia0\nKAIC-DEVICE /dev/nvidia1\nKAIC-TOOL-BEGIN list nvidia-smi -L\n\
                   GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\nKAIC-TOOL-END list 0\nKAIC-END\n";
        assert_eq!(parse(log, &VENDORS[0]).unwrap().count(), 2);
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

    #[tokio::test]
    async fn probe_pods_are_pinned_hardened_and_set_the_runtime_variable() {
        let ctx = CheckContext::offline("secure_accelerator_access", CheckOptions::default());
        let pod = ProbePod {
            name: "p".into(),
            node: "gpu-0".into(),
            tolerations: json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
            vendor: &VENDORS[0],
            containers: vec![
                ("plugin".into(), Grant::Extended { resource: "nvidia.com/gpu".into(), count: 1 }),
                ("claim".into(), Grant::Claim { entry: "accel".into() }),
                ("none".into(), Grant::Nothing),
                ("escalate".into(), Grant::AskForAll),
            ],
            claims: vec![PodClaim::Template { entry: "accel".into(), template: "t".into() }],
        };
        let manifest = pod.manifest(&ctx);
        let spec = &manifest["spec"];
        assert_eq!(spec["affinity"], pods::pin_to("gpu-0"));
        assert!(spec.get("nodeSelector").is_none());
        assert_eq!(spec["tolerations"][0]["key"], "nvidia.com/gpu");
        assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
        let env = |i: usize| spec["containers"][i]["env"].clone();
        assert_eq!(env(0), json!([]), "the device plugin sets the variable itself");
        assert_eq!(env(1), json!([{"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}]));
        assert_eq!(env(2), json!([{"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}]));
        assert_eq!(env(3), json!([{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]));
        assert_eq!(spec["containers"][3]["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(manifest["metadata"]["labels"]["kaic.dev/probe"], "nvidia");
        let _: Pod = from_json(manifest).unwrap();
    }

    #[test]
    fn a_missing_output_is_an_error_never_no_device() {
        let mut results = ProbeResults::default();
        results
            .problems
            .insert("b".into(), PodProblem::Fatal("pod b: container probe cannot start: ImagePullBackOff".into()));
        let Some(CaseResult::Error(why)) = results.unusable(&[], &[]) else { panic!() };
        assert!(why.contains("ImagePullBackOff"), "{why}");
        assert!(results.unusable(&["b"], &[]).is_none());
        results.problems.clear();
        let failed = format!(
            "KAIC-TOOL-BEGIN list nvidia-smi -L\n{}KAIC-TOOL-END list 6\nKAIC-END\n",
            include_str!("testdata/nvidia-smi-L.none")
        );
        results.seen.insert(("h".into(), "holder".into()), parse(&failed, &VENDORS[0]).unwrap());
        let Some(CaseResult::Error(why)) = results.unusable(&[], &[("h", "holder")]) else { panic!() };
        assert!(why.contains("No devices were found"), "{why}");
    }
}
