//! The RuntimeClasses of `workload_sandboxing`: which sandbox family a handler stands for (gVisor, Kata
//! Containers, other VM-based runtimes), which handlers are plain, and on which node to probe a class,
//! honouring its `scheduling` (node selector, tolerations).

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::ResourceExt;
use serde_json::Value;

use crate::pods;

/// The sandbox family a RuntimeClass handler (or name) stands for.
pub fn family(name: &str) -> Option<&'static str> {
    let name = name.to_ascii_lowercase();
    let is =
        |stem: &str| name == stem || name.starts_with(&format!("{stem}-")) || name.starts_with(&format!("{stem}_"));
    if is("runsc") || is("gvisor") {
        Some("gVisor")
    } else if is("kata") {
        Some("Kata Containers")
    } else if is("firecracker") || name == "fc" {
        Some("Firecracker")
    } else if is("clh") || is("cloud-hypervisor") {
        Some("Cloud Hypervisor")
    } else if is("krun") || name == "crun-krun" || name == "libkrun" {
        Some("libkrun")
    } else {
        None
    }
}

/// Handlers that run containers on the node's own kernel (the default runtimes, NVIDIA's, WebAssembly
/// shims): not sandboxes, and not worth a "verify by hand".
const PLAIN_HANDLERS: &[&str] = &[
    "runc",
    "crun",
    "youki",
    "nvidia",
    "nvidia-cdi",
    "nvidia-legacy",
    "nvidia-experimental",
    "runhcs-wcow-process",
    "spin",
    "wasmtime",
    "wasmedge",
    "wws",
    "slight",
    "lunatic",
    "crun-wasm",
];

/// The cluster's RuntimeClasses, sorted: the sandboxes (with their family), the ones kaic does not
/// recognise (named for a person to verify), and the plain ones.
#[derive(Debug, Default)]
pub struct Classes {
    pub sandboxes: Vec<(&'static str, RuntimeClass)>,
    pub unrecognised: Vec<String>,
    pub plain: Vec<String>,
}

pub fn classify(classes: Vec<RuntimeClass>) -> Classes {
    let mut sorted = Classes::default();
    for class in classes {
        let described = format!("RuntimeClass {} (handler {})", class.name_any(), class.handler);
        // The handler decides; a class named like a sandbox over an unknown handler still claims one.
        match family(&class.handler).or_else(|| family(&class.name_any())) {
            Some(found) => sorted.sandboxes.push((found, class)),
            None if PLAIN_HANDLERS.contains(&class.handler.as_str()) => sorted.plain.push(described),
            None => sorted.unrecognised.push(described),
        }
    }
    sorted
}

/// The node to probe a RuntimeClass on: Ready, schedulable, Linux, with the labels of the class's
/// `scheduling.nodeSelector`; among those the one with the fewest `NoSchedule` taints (a worker rather than
/// a dedicated or control-plane node), then by name, so that classes share a node where they can.
pub fn choose_node<'a>(nodes: &'a [Node], class: &RuntimeClass) -> Option<&'a Node> {
    let selector = class.scheduling.as_ref().and_then(|s| s.node_selector.clone()).unwrap_or_default();
    let taints = |n: &Node| {
        let taints = n.spec.as_ref().and_then(|s| s.taints.as_ref());
        taints.map_or(0, |t| t.iter().filter(|t| t.effect == "NoSchedule").count())
    };
    nodes
        .iter()
        .filter(|n| pods::node_ready_and_schedulable(n))
        .filter(|n| n.labels().get("kubernetes.io/os").is_none_or(|os| os == "linux"))
        .filter(|n| selector.iter().all(|(k, v)| n.labels().get(k) == Some(v)))
        .min_by_key(|n| (taints(n), n.name_any()))
}

/// The kernel release the node reports (`status.nodeInfo.kernelVersion`); empty when it reports none.
pub fn node_kernel(node: &Node) -> String {
    node.status
        .as_ref()
        .and_then(|s| s.node_info.as_ref())
        .map(|i| i.kernel_version.trim().to_string())
        .unwrap_or_default()
}

/// Tolerations for `node`'s dedicated taints plus those `class` asks for (the RuntimeClass admission
/// plugin merges the latter too; listing them keeps the pod right where that plugin is off).
pub fn tolerations(node: &Node, class: Option<&RuntimeClass>) -> Value {
    let mut all = pods::tolerations_for(node).as_array().cloned().unwrap_or_default();
    let extra = class.and_then(|c| c.scheduling.as_ref()).and_then(|s| s.tolerations.clone()).unwrap_or_default();
    for toleration in extra {
        let toleration = serde_json::to_value(toleration).unwrap_or_default();
        if !all.contains(&toleration) {
            all.push(toleration);
        }
    }
    Value::Array(all)
}

/// A class's name as a solution: its family, or with the class's name where the family has several
/// classes (the evidence keeps one result per solution name).
pub fn solution_name(sandboxes: &[(&'static str, RuntimeClass)], family: &str, class: &RuntimeClass) -> String {
    if sandboxes.iter().filter(|(f, _)| *f == family).count() > 1 {
        format!("{family} (RuntimeClass {})", class.name_any())
    } else {
        family.to_string()
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use serde_json::json;

    pub fn class(name: &str, handler: &str, scheduling: Value) -> RuntimeClass {
        serde_json::from_value(json!({"metadata": {"name": name}, "handler": handler, "scheduling": scheduling}))
            .unwrap()
    }

    pub fn node(name: &str, labels: Value, taints: Value, ready: bool) -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                       "nodeInfo": {"kernelVersion": "6.8.0-1029-gcp", "architecture": "amd64", "bootID": "",
                                    "containerRuntimeVersion": "", "kubeProxyVersion": "", "kubeletVersion": "",
                                    "machineID": "", "operatingSystem": "linux", "osImage": "", "systemUUID": ""}}
        }))
        .unwrap()
    }

    #[test]
    fn recognises_the_sandbox_runtimes_of_real_platforms() {
        for (handler, expected) in [
            ("runsc", "gVisor"),
            ("gvisor", "gVisor"),
            ("kata", "Kata Containers"),
            ("kata-qemu", "Kata Containers"),
            ("kata-cc", "Kata Containers"),
            ("kata-fc", "Kata Containers"),
            ("kata_remote", "Kata Containers"),
            ("firecracker", "Firecracker"),
            ("clh", "Cloud Hypervisor"),
            ("krun", "libkrun"),
        ] {
            assert_eq!(family(handler), Some(expected), "{handler}");
        }
        for plain in ["runc", "nvidia", "katana", "gvisorish", "runscx"] {
            assert_eq!(family(plain), None, "{plain}");
        }
    }

    #[test]
    fn sorts_runtime_classes_into_sandboxes_unknown_and_plain() {
        let sorted = classify(vec![
            class("gvisor", "runsc", json!(null)),
            class("kata-vm-isolation", "kata", json!(null)),
            class("nvidia", "nvidia", json!(null)),
            class("gvisor-lookalike", "runc", json!(null)),
            class("untrusted", "vm-runtime", json!(null)),
        ]);
        let sandboxes: Vec<(&str, String)> = sorted.sandboxes.iter().map(|(f, c)| (*f, c.name_any())).collect();
        assert_eq!(
            sandboxes,
            vec![
                ("gVisor", "gvisor".to_string()),
                ("Kata Containers", "kata-vm-isolation".to_string()),
                ("gVisor", "gvisor-lookalike".to_string()),
            ],
            "a class named like a sandbox claims one, whatever its handler"
        );
        assert_eq!(sorted.unrecognised, vec!["RuntimeClass untrusted (handler vm-runtime)"]);
        assert_eq!(sorted.plain, vec!["RuntimeClass nvidia (handler nvidia)"]);
        let name = |i: usize| solution_name(&sorted.sandboxes, sorted.sandboxes[i].0, &sorted.sandboxes[i].1);
        assert_eq!(name(0), "gVisor (RuntimeClass gvisor)", "two gVisor classes are two solutions");
        assert_eq!(name(1), "Kata Containers");
    }

    #[test]
    fn the_node_honours_the_classes_scheduling_and_prefers_plain_workers() {
        let nodes = vec![
            node(
                "a-control",
                json!({}),
                json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
                true,
            ),
            node("b-down", json!({}), json!([]), false),
            node("c-worker", json!({"kubernetes.io/os": "linux"}), json!([]), true),
            node(
                "d-sandbox",
                json!({"sandbox.gke.io/runtime": "gvisor"}),
                json!([{"key": "sandbox.gke.io/runtime", "value": "gvisor", "effect": "NoSchedule"}]),
                true,
            ),
            node("e-windows", json!({"kubernetes.io/os": "windows"}), json!([]), true),
        ];
        let plain = class("kata", "kata-qemu", json!(null));
        assert_eq!(choose_node(&nodes, &plain).map(ResourceExt::name_any).as_deref(), Some("c-worker"));
        let gke = class(
            "gvisor",
            "gvisor",
            json!({"nodeSelector": {"sandbox.gke.io/runtime": "gvisor"},
                   "tolerations": [{"key": "sandbox.gke.io/runtime", "operator": "Equal", "value": "gvisor", "effect": "NoSchedule"}]}),
        );
        let chosen = choose_node(&nodes, &gke).unwrap();
        assert_eq!(chosen.name_any(), "d-sandbox");
        let tolerations = tolerations(chosen, Some(&gke));
        assert_eq!(
            tolerations.as_array().unwrap().len(),
            1,
            "the node's taint and the class's toleration are one: {tolerations}"
        );
        let nowhere = class("kata", "kata", json!({"nodeSelector": {"katacontainers.io/kata-runtime": "true"}}));
        assert!(choose_node(&nodes, &nowhere).is_none());
        assert_eq!(node_kernel(chosen), "6.8.0-1029-gcp");
    }
}
