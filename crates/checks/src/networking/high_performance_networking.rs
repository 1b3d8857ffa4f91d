//! `high_performance_networking` (SHOULD, conditional): where the platform offers specialised network
//! devices, a pod can claim one, sees it as an interface of its own, and a pod without the claim does not.
//!
//! 1. **Detect** network devices in ResourceSlices ([`nics::network_devices`]): DRANET, the SR-IOV DRA
//!    driver, or any device naming an interface. None: not applicable (the requirement's "if"), unless
//!    Multus NetworkAttachmentDefinitions are served, which kaic does not exercise: unknown.
//! 2. **Positive:** on a node with a free NIC, a probe pod claims one through kaic's own DeviceClass for the
//!    driver and lists its interfaces; the allocated device's interface name (or MAC) must be among them,
//!    and a bystander pod on the same node without a claim must not see it.
//! 3. **Negative:** a pod claiming a NIC pinned to a node that publishes none must be refused by the
//!    scheduler (Unschedulable), never started without it.
//! 4. **Traffic** ([`traffic`]): the pod holding the NIC serves a blob; a second pod claiming a NIC on the
//!    same network (another node first) fetches it from the first NIC's address, and the bytes must arrive
//!    over its own NIC. A NIC without a link fails; a NIC without IPv4 is said, not judged.
//! 5. **Alignment** ([`alignment`]): where a free accelerator and a free NIC publish the same PCIe root, one
//!    claim for both with `matchAttribute: resource.kubernetes.io/pcieRoot` must get a pair behind one root
//!    (it holds an accelerator, so the check takes the accelerator turn). No such pair: said, not judged.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::resource::v1::{ResourceClaim, ResourceSlice};
use kaic_model::Verdict;
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::json;

use super::alignment;
use super::nics::{self, NetDevice};
use super::traffic::{self, Role};
use crate::accelerators::inventory::allocated_devices;
use crate::accelerators::probe;
use crate::capability::Capability;
use crate::check::{AcceleratorUse, Check, CheckContext, CheckError, from_json};
use crate::pods;
use crate::timeouts::Wait;

pub struct HighPerformanceNetworking;

/// The image of the network probe: busybox (sh, ip, httpd, wget) and /sys, mirrored with `--probe-image
/// netdev=…`.
pub const DEFAULT_IMAGE: &str = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1";
/// The probe label's value on kaic's network probe pods, and the key of `--probe-image` for its image.
pub const IMAGE_KEY: &str = "netdev";

#[async_trait::async_trait]
impl Check for HighPerformanceNetworking {
    fn id(&self) -> &'static str {
        "high_performance_networking"
    }

    fn requirements(&self) -> &'static [&'static str] {
        &["high_performance_networking"]
    }

    /// Three probe waits (the listing pods, then the fetching pod) and two scheduling waits.
    fn timeout(&self) -> Duration {
        Duration::from_secs(900)
    }

    fn waits(&self) -> &'static [(Wait, u32)] {
        &[(Wait::ProbePod, 3), (Wait::ClaimedPodScheduled, 2)]
    }

    /// The alignment case claims an accelerator with its NIC.
    fn accelerators(&self) -> AcceleratorUse {
        AcceleratorUse::Throughout
    }

    fn creates(&self) -> &'static [&'static str] {
        &[
            "a DeviceClass kaic-high-performance-networking-<driver>-<run> for the network driver, and a ResourceClaimTemplate for one NIC",
            "probe pods listing /sys/class/net: one claiming a NIC, one bystander without a claim on the same node, and one claiming a NIC pinned to a node without NICs (it must stay Pending)",
            "the pod claiming a NIC serves 4 MiB over HTTP (busybox httpd, port 5201, an emptyDir); a ResourceClaimTemplate nic-peer for one NIC on the same network and a pod fetching the blob from the first NIC's address",
            "where an accelerator and a NIC share a PCIe root: a DeviceClass for the accelerator's driver, a ResourceClaimTemplate for one of each on one root, and a probe pod claiming it",
        ]
    }

    async fn run(&self, ctx: &CheckContext) -> Result<Verdict, CheckError> {
        let slices = if ctx.capabilities.has(Capability::Dra) {
            crate::list::all(&Api::<ResourceSlice>::all(ctx.client.clone()), ListParams::default())
                .await
                .map_err(|e| CheckError::api("list ResourceSlices", e))?
        } else {
            Vec::new()
        };
        let devices = nics::network_devices(&slices);
        if devices.is_empty() {
            if kube::discovery::group(&ctx.client, "k8s.cni.cncf.io").await.is_ok() {
                return Ok(Verdict::unknown(
                    "no DRA driver publishes network devices, but Multus NetworkAttachmentDefinitions \
                     (k8s.cni.cncf.io) are served: kaic exercises DRA network devices only; verify by hand that \
                     a pod attached to a high-performance network gets its interface",
                ));
            }
            return Ok(Verdict::not_applicable(
                "no specialised network devices: no DRA driver publishes a network interface (DRANET, SR-IOV) and \
                 no NetworkAttachmentDefinitions are served",
            ));
        }
        for device in &devices {
            ctx.step(format!("network device {}", device.describe()));
        }

        let nodes = crate::list::all(&Api::<Node>::all(ctx.client.clone()), ListParams::default())
            .await
            .map_err(|e| CheckError::api("list nodes", e))?;
        let claims = crate::list::all(&Api::<ResourceClaim>::all(ctx.client.clone()), ListParams::default())
            .await
            .map_err(|e| CheckError::api("list ResourceClaims", e))?;
        let mut taken: BTreeSet<(String, String, String)> = claims.iter().flat_map(allocated_devices).collect();
        let usable = |name: &str| nodes.iter().find(|n| n.metadata.name.as_deref() == Some(name));
        let Some((target, node)) = devices.iter().find_map(|d| {
            let node = usable(d.node.as_deref()?).filter(|n| pods::node_ready_and_schedulable(n))?;
            (!taken.contains(&(d.driver.clone(), d.pool.clone(), d.name.clone()))).then_some((d, node))
        }) else {
            return Ok(Verdict::unknown(
                "every network device is allocated or on a node kaic may not use (not Ready, cordoned): rerun when \
                 one is free",
            ));
        };
        let node_name = node.metadata.name.clone().unwrap_or_default();
        let class = probe::device_class(ctx, &target.driver).await?;
        probe::claim_template(ctx, "nic", &class, 1).await?;
        ctx.step(format!("one NIC of {} on node {node_name} through kaic's DeviceClass {class}", target.driver));

        let holder = create_probe(ctx, "nic-holder", node, Some("nic"), Role::Serve).await?;
        let bystander = create_probe(ctx, "nic-bystander", node, None, Role::List).await?;
        let deadline = Instant::now() + ctx.wait(Wait::ProbePod);
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
        let mut seen = Vec::new();
        for pod in [&holder, &bystander] {
            let log = probe::read_probe_log(&api, pod, "probe", deadline).await.map_err(|last| {
                CheckError::Other(format!("probe pod {pod} printed no complete interface list: {last}"))
            })?;
            ctx.record(|e| e.log(pod.clone(), log.clone()));
            let interfaces = nics::parse_probe(&log)
                .ok_or_else(|| CheckError::Other(format!("probe pod {pod}: no end marker in its log")))?;
            seen.push(interfaces);
        }
        let allocated = allocated_device(ctx, &holder, &devices).await?;
        let Some((holder_if, holder_interface)) = nics::find(&seen[0], &allocated) else {
            return Ok(Verdict::fail(
                "a pod that was allocated a NIC does not see it",
                format!("pod {holder} lists the interface of {}", allocated.describe()),
                format!("its interfaces: {}", nics::describe(&seen[0])),
            ));
        };
        if let Some(leak) = nics::sees(&seen[1], &allocated) {
            return Ok(Verdict::fail(
                "a pod without a claim sees another pod's NIC",
                format!("pod {bystander} (no claim) without the interface of {}", allocated.describe()),
                format!("it lists {leak}"),
            ));
        }
        let in_holder = format!("{holder_if} {}", holder_interface.mac);
        ctx.step(format!("{holder} sees {in_holder}; {bystander} (no claim) does not"));

        let without_nics = nodes.iter().find(|n| {
            let name = n.metadata.name.as_deref().unwrap_or_default();
            pods::node_ready_and_schedulable(n) && !devices.iter().any(|d| d.node.as_deref() == Some(name))
        });
        let refusal_text = match without_nics {
            Some(plain) => match refused_without_nic(ctx, plain).await? {
                Ok(text) => text,
                Err(verdict) => return Ok(verdict),
            },
            None => "no node without NICs to try a claim on".into(),
        };
        taken.insert((allocated.driver.clone(), allocated.pool.clone(), allocated.name.clone()));
        let traffic_text = match traffic::exercise(
            ctx,
            &holder,
            &allocated,
            (holder_if, holder_interface),
            &devices,
            &mut taken,
            &nodes,
            &class,
        )
        .await?
        {
            Ok(text) => text,
            Err(verdict) => return Ok(verdict),
        };
        ctx.step(traffic_text.clone());
        let alignment_text = match alignment::free_pair(&slices, &devices, &taken, |n| alignment::usable(&nodes, n)) {
            None => format!(
                "GPU–NIC alignment not offered: no free accelerator publishes the {} of a free NIC",
                alignment::PCIE_ROOT
            ),
            Some(pair) => {
                let accelerator_class = probe::device_class(ctx, &pair.accelerator.0).await?;
                alignment::create_template(ctx, "aligned", &accelerator_class, &class).await?;
                let node = nodes.iter().find(|n| n.metadata.name == pair.nic.node).unwrap_or(node);
                let roots = alignment::roots(&slices);
                let pod = create_probe(ctx, "nic-aligned", node, Some("aligned"), Role::List);
                match alignment::exercise(ctx, &pair, (&accelerator_class, &class), &roots, pod).await? {
                    Ok(text) => text,
                    Err(verdict) => return Ok(verdict),
                }
            }
        };
        ctx.step(alignment_text.clone());
        Ok(Verdict::pass(format!(
            "{} network device(s) published; pod {holder} claimed {} on {node_name} and sees it as {in_holder}, a \
             pod without a claim does not; {refusal_text}; {traffic_text}; {alignment_text}",
            devices.len(),
            allocated.describe()
        )))
    }
}

/// Creates probe pod `name` pinned to `node`, claiming one NIC from template `template` if given, doing
/// what `role` says after listing its interfaces.
pub(super) async fn create_probe(
    ctx: &CheckContext,
    name: &str,
    node: &Node,
    template: Option<&str>,
    role: Role<'_>,
) -> Result<String, CheckError> {
    let node_name = node.metadata.name.clone().unwrap_or_default();
    let image = ctx.options.probe_image(IMAGE_KEY, DEFAULT_IMAGE);
    let mut labels = ctx.labels();
    labels.insert("kaic.dev/probe".into(), IMAGE_KEY.into());
    let mut container = json!({"name": "probe", "image": image, "command": ["sh", "-c", role.script()]});
    let mut spec = json!({
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": 0,
        "affinity": pods::pin_to(&node_name),
        "tolerations": pods::tolerations_for(node),
    });
    if let Some(template) = template {
        container["resources"] = json!({"claims": [{"name": "nic"}]});
        spec["resourceClaims"] = json!([{"name": "nic", "resourceClaimTemplateName": template}]);
    }
    if role == Role::Serve {
        container["ports"] = json!([{"containerPort": traffic::PORT, "protocol": "TCP"}]);
        container["volumeMounts"] = json!([{"name": "scratch", "mountPath": traffic::SCRATCH}]);
        spec["volumes"] = json!([{"name": "scratch", "emptyDir": {"sizeLimit": "16Mi"}}]);
    }
    spec["containers"] = json!([container]);
    let pod: Pod = from_json(json!({"metadata": {"name": name, "labels": labels}, "spec": pods::hardened(spec)}))?;
    let created = Api::<Pod>::namespaced(ctx.client.clone(), &ctx.namespace)
        .create(&PostParams::default(), &pod)
        .await
        .map_err(|e| CheckError::api(format!("create pod {name}"), e))?;
    ctx.object(&format!("Pod {name}"), &created);
    Ok(name.to_string())
}

/// The network device allocated to pod `name`'s claim.
pub(super) async fn allocated_device(
    ctx: &CheckContext,
    name: &str,
    devices: &[NetDevice],
) -> Result<NetDevice, CheckError> {
    let pod = Api::<Pod>::namespaced(ctx.client.clone(), &ctx.namespace)
        .get(name)
        .await
        .map_err(|e| CheckError::api(format!("read pod {name}"), e))?;
    let claim_name = pods::generated_claim(&pod, None)
        .ok_or_else(|| CheckError::Other(format!("pod {name} ran without its claim being named in its status")))?;
    let claim = Api::<ResourceClaim>::namespaced(ctx.client.clone(), &ctx.namespace)
        .get(&claim_name)
        .await
        .map_err(|e| CheckError::api(format!("read ResourceClaim {claim_name}"), e))?;
    ctx.object(&format!("ResourceClaim {claim_name}"), &claim);
    let result = claim
        .status
        .and_then(|s| s.allocation)
        .and_then(|a| a.devices)
        .and_then(|d| d.results)
        .and_then(|r| r.into_iter().next())
        .ok_or_else(|| CheckError::Other(format!("ResourceClaim {claim_name} of pod {name} has no allocation")))?;
    devices
        .iter()
        .find(|d| d.driver == result.driver && d.pool == result.pool && d.name == result.device)
        .cloned()
        .ok_or_else(|| {
            CheckError::Other(format!(
                "ResourceClaim {claim_name} was allocated {}/{} of {}, which no ResourceSlice lists as a network device",
                result.pool, result.device, result.driver
            ))
        })
}

/// A pod claiming a NIC pinned to `node`, which publishes none: `Ok(text)` when the scheduler refuses it
/// (Unschedulable), `Err(verdict)` when it runs anyway or nothing is said in time.
async fn refused_without_nic(ctx: &CheckContext, node: &Node) -> Result<Result<String, Verdict>, CheckError> {
    let node_name = node.metadata.name.clone().unwrap_or_default();
    let name = create_probe(ctx, "nic-elsewhere", node, Some("nic"), Role::List).await?;
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let started = Instant::now();
    loop {
        let pod = api.get(&name).await.map_err(|e| CheckError::api(format!("read pod {name}"), e))?;
        if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some() {
            return Ok(Err(Verdict::fail(
                "a pod claiming a NIC was placed on a node that publishes none",
                format!("pod {name} (pinned to {node_name}, no network devices) Unschedulable"),
                crate::wait::describe_pod(&pod),
            )));
        }
        if let Some(why) = crate::wait::unschedulable(&pod) {
            return Ok(Ok(format!("a pod claiming a NIC on {node_name} (none there) was refused: {why}")));
        }
        if started.elapsed() >= ctx.wait(Wait::ClaimedPodScheduled) {
            return Ok(Err(Verdict::unknown(format!(
                "the scheduler said nothing for {} s about pod {name}, which claims a NIC on node {node_name} that \
                 has none: {}",
                started.elapsed().as_secs(),
                crate::wait::describe_pod(&pod)
            ))));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
