//! The rules `secure_accelerator_access` judges by, over what its probes saw, and how its cases become
//! one verdict: which node to probe, the isolation rules (relaxed to "one device each" where the node
//! shares its devices), the escalation case with its remedy, and the platform DeviceClass's free devices.
//! Pure functions, unit-tested on fixtures.

use kaic_model::{Outcome, Verdict};

use crate::accelerators::classes::PlatformClass;
use crate::accelerators::inventory::{AcceleratorNode, Inventory, Path};
use crate::accelerators::probe::ProbeResults;
use crate::accelerators::{CaseResult, Finding, Policy, conclude};

/// The node to probe through `path`: Ready, uncordoned, with a free device; one whose devices are not
/// shared first (there the distinct-device rule applies), then the one with most free devices.
pub(super) fn preferred_node(inventory: &Inventory, path: Path) -> Option<&AcceleratorNode> {
    inventory
        .nodes
        .iter()
        .filter(|n| n.schedulable && n.free(path) >= 1)
        .max_by_key(|n| (n.sharing(path).is_none(), n.free(path), std::cmp::Reverse(n.name.clone())))
}

/// The name of the escalation case for the vendor's variable.
pub(super) fn escalation_case(variable: &str) -> String {
    format!("{variable} escalation")
}

/// The verdict: every case must hold ([`Policy::EveryCase`]); when the escalation case fails, the reason
/// says first how device isolation itself ended, then names the escalation (with its remedy), so a
/// vendor-default runtime does not hide whether isolation holds.
pub(super) fn conclude_access(cases: &[(String, CaseResult)], inventory: &Inventory) -> Verdict {
    let escalated = cases.iter().find_map(|(name, result)| match result {
        CaseResult::Violated(findings) if name.ends_with(" escalation") => Some((name, findings)),
        _ => None,
    });
    let Some((name, findings)) = escalated else { return conclude(Policy::EveryCase, cases, inventory) };
    let isolation: Vec<(String, CaseResult)> = cases.iter().filter(|(n, _)| n != name).cloned().collect();
    let isolated = conclude(Policy::EveryCase, &isolation, inventory);
    let joined = |part: fn(&Finding) -> &str| findings.iter().map(part).collect::<Vec<_>>().join("; ");
    let gap = format!("{name}: {}", joined(|f| f.what.as_str()));
    let prefix = |field: Option<&String>| field.map(|f| format!("{f}; ")).unwrap_or_default();
    let reason = match isolated.outcome {
        Outcome::Pass => format!("device isolation holds ({}); {gap}", isolated.reason),
        Outcome::Fail => format!("{}; {gap}", isolated.reason),
        other => format!("device isolation is {}: {}; {gap}", other.label(), isolated.reason),
    };
    Verdict::fail(
        reason,
        format!("{}{name}: {}", prefix(isolated.expected.as_ref()), joined(|f| f.expected.as_str())),
        format!("{}{name}: {}", prefix(isolated.observed.as_ref()), joined(|f| f.observed.as_str())),
    )
}

/// The pods of one path, by name.
pub(super) struct Names {
    pub holder: String,
    pub bare: String,
    pub second: String,
}

/// Free DRA devices of `node` that `class` could have been given: those it may select (a MIG partition is
/// no evidence against a whole-GPU class), or any free one when it selects none of the driver's devices
/// (then it is broken as such).
pub(super) fn free_for_class(node: &AcceleratorNode, class: &PlatformClass) -> usize {
    node.free_dra().iter().filter(|d| class.selects_nothing || class.may_select(&d.driver, &d.attributes)).count()
}

/// The isolation rules over what the probes saw (pure, so it is unit-tested). `distinct`: the node's
/// devices are not shared, so the two holders must see different devices.
pub(super) fn judge(
    results: &ProbeResults,
    names: &Names,
    second_ran: bool,
    distinct: bool,
    node: &str,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (pod, ran_on) in &results.nodes {
        if ran_on != node {
            findings.push(Finding {
                what: format!("probe pod {pod} ran on another node"),
                expected: format!("{pod} on {node}"),
                observed: format!("{pod} on {ran_on}"),
            });
        }
    }
    let held = results.get(&names.holder, "holder");
    if held.count() != 1 {
        findings.push(Finding {
            what: "a container holding one device does not see exactly one".into(),
            expected: "holder container sees 1 device".into(),
            observed: format!("holder container sees {} ({})", held.count(), held.describe()),
        });
    }
    for (pod, container, who) in [
        (&names.holder, "sidecar", "a container without a grant in the same pod"),
        (&names.bare, "probe", "a pod without a request on the same node"),
    ] {
        let seen = results.get(pod, container);
        if !seen.sees_nothing() {
            findings.push(Finding {
                what: format!("{who} sees devices"),
                expected: format!("{pod}/{container} sees no device"),
                observed: format!("{pod}/{container} sees {}", seen.describe()),
            });
        }
    }
    if second_ran {
        let other = results.get(&names.second, "holder");
        let shared: Vec<String> = other.ids().into_iter().filter(|id| held.ids().contains(id)).collect();
        if distinct && (other.count() != 1 || !shared.is_empty()) {
            findings.push(Finding {
                what: "two pods holding one device each do not see one distinct device each".into(),
                expected: "each sees 1 device, and not the same one".into(),
                observed: format!("first sees {}, second sees {}", held.describe(), other.describe()),
            });
        } else if other.count() != 1 {
            findings.push(Finding {
                what: "a second pod holding one shared device does not see exactly one".into(),
                expected: "the second pod sees 1 device (the node shares its devices, so it may be the first's)".into(),
                observed: format!("first sees {}, second sees {}", held.describe(), other.describe()),
            });
        }
    }
    findings
}

/// The escalation case: a container without a grant that asks the runtime for every device sees none.
/// The finding carries the vendor's remedy, since the cause is a runtime setting the platform can change.
pub(super) fn judge_escalation(
    results: &ProbeResults,
    bare: &str,
    variable: &str,
    remedy: &str,
    node: &str,
) -> CaseResult {
    let seen = results.get(bare, "escalate");
    if seen.sees_nothing() {
        CaseResult::Passed(format!("on {node} a container without a grant that sets {variable}=all saw no device"))
    } else {
        CaseResult::Violated(vec![Finding {
            what: format!("a container without a grant that sets {variable}=all sees devices; {remedy}"),
            expected: format!(
                "{bare}/escalate sees no device (the runtime ignores {variable} in unprivileged containers)"
            ),
            observed: format!("{bare}/escalate sees {}", seen.describe()),
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::resource::v1::ResourceClaim;

    use crate::accelerators::probe::Seen;
    use crate::accelerators::tools::{Device, Listing};

    fn seen(devices: &[&str]) -> Seen {
        Seen {
            devices: devices.iter().map(|d| d.to_string()).collect(),
            listing: Listing::Devices(
                devices.iter().map(|d| Device { id: format!("GPU-{d}"), product: "p".into() }).collect(),
            ),
            driver_version: None,
        }
    }

    fn results(entries: &[(&str, &str, &[&str])]) -> ProbeResults {
        let mut r = ProbeResults::default();
        for (pod, container, devices) in entries {
            r.seen.insert((pod.to_string(), container.to_string()), seen(devices));
            r.nodes.insert(pod.to_string(), "gpu-0".into());
        }
        r
    }

    fn names() -> Names {
        Names { holder: "h".into(), bare: "b".into(), second: "s".into() }
    }

    #[test]
    fn isolated_devices_pass() {
        let r = results(&[
            ("h", "holder", &["/dev/nvidia0"]),
            ("h", "sidecar", &[]),
            ("b", "probe", &[]),
            ("b", "escalate", &[]),
            ("s", "holder", &["/dev/nvidia1"]),
        ]);
        assert!(judge(&r, &names(), true, true, "gpu-0").is_empty());
        assert!(matches!(
            judge_escalation(&r, "b", "NVIDIA_VISIBLE_DEVICES", "set it so", "gpu-0"),
            CaseResult::Passed(_)
        ));
    }

    #[test]
    fn a_leaking_node_is_caught_on_every_rule() {
        let all: &[&str] = &["/dev/nvidia0", "/dev/nvidia1", "/dev/nvidia2", "/dev/nvidia3"];
        let r = results(&[("h", "holder", all), ("h", "sidecar", all), ("b", "probe", all), ("s", "holder", all)]);
        let findings = judge(&r, &names(), true, true, "gpu-0");
        let whats: Vec<&str> = findings.iter().map(|f| f.what.as_str()).collect();
        assert_eq!(
            whats,
            vec![
                "a container holding one device does not see exactly one",
                "a container without a grant in the same pod sees devices",
                "a pod without a request on the same node sees devices",
                "two pods holding one device each do not see one distinct device each",
            ]
        );
        assert!(findings[2].observed.contains("/dev/nvidia3"));
    }

    #[test]
    fn the_env_var_escalation_is_its_own_case() {
        let r = results(&[("b", "probe", &[]), ("b", "escalate", &["/dev/nvidia0", "/dev/nvidia1"])]);
        let CaseResult::Violated(findings) = judge_escalation(&r, "b", "NVIDIA_VISIBLE_DEVICES", "set it so", "gpu-0")
        else {
            panic!()
        };
        assert_eq!(
            findings[0].what,
            "a container without a grant that sets NVIDIA_VISIBLE_DEVICES=all sees devices; set it so"
        );
        assert!(findings[0].observed.contains("/dev/nvidia1"));
    }

    #[test]
    fn a_failed_tool_in_a_container_without_a_grant_is_no_device() {
        let mut r = results(&[("h", "holder", &["/dev/nvidia0"]), ("b", "probe", &[])]);
        let failed = Seen {
            devices: vec![],
            listing: Listing::Failed {
                command: "nvidia-smi -L".into(),
                code: 6,
                output: "No devices were found".into(),
            },
            driver_version: None,
        };
        r.seen.insert(("h".into(), "sidecar".into()), failed);
        assert!(judge(&r, &names(), false, true, "gpu-0").is_empty());
    }

    #[test]
    fn the_same_device_in_two_pods_is_caught() {
        let r = results(&[
            ("h", "holder", &["/dev/nvidia0"]),
            ("h", "sidecar", &[]),
            ("b", "probe", &[]),
            ("s", "holder", &["/dev/nvidia0"]),
        ]);
        let findings = judge(&r, &names(), true, true, "gpu-0");
        assert_eq!(findings.len(), 1);
        assert!(findings[0].observed.contains("first sees /dev/nvidia0"));
    }

    #[test]
    fn a_pod_on_another_node_is_caught() {
        let mut r = results(&[("h", "holder", &["/dev/nvidia0"]), ("h", "sidecar", &[]), ("b", "probe", &[])]);
        r.nodes.insert("b".into(), "gpu-1".into());
        let findings = judge(&r, &names(), false, true, "gpu-0");
        assert_eq!(findings[0].observed, "b on gpu-1");
    }

    /// Time-slicing, MPS, GKE time-sharing: the second pod rightly gets a replica of the first pod's GPU.
    /// One device each still holds; more than one is still caught.
    #[test]
    fn on_shared_devices_two_pods_may_see_the_same_one() {
        let same = results(&[
            ("h", "holder", &["/dev/nvidia0"]),
            ("h", "sidecar", &[]),
            ("b", "probe", &[]),
            ("s", "holder", &["/dev/nvidia0"]),
        ]);
        assert!(judge(&same, &names(), true, false, "gpu-0").is_empty());
        let two = results(&[
            ("h", "holder", &["/dev/nvidia0"]),
            ("h", "sidecar", &[]),
            ("b", "probe", &[]),
            ("s", "holder", &["/dev/nvidia0", "/dev/nvidia1"]),
        ]);
        let findings = judge(&two, &names(), true, false, "gpu-0");
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].what, "a second pod holding one shared device does not see exactly one");
    }

    fn node(name: &str, gpus: i64, labels: &[(&str, &str)]) -> k8s_openapi::api::core::v1::Node {
        let mut node = crate::accelerators::inventory::tests::gpu_node(name, gpus);
        let map = node.metadata.labels.get_or_insert_default();
        for (k, v) in labels {
            map.insert((*k).into(), (*v).into());
        }
        node
    }

    #[test]
    fn a_node_whose_devices_are_not_shared_is_preferred() {
        let sliced = node("a-sliced", 16, &[("nvidia.com/gpu.replicas", "4"), ("nvidia.com/gpu.count", "4")]);
        let gke = node("b-gke", 8, &[("cloud.google.com/gke-gpu-sharing-strategy", "time-sharing")]);
        let whole =
            node("c-whole", 2, &[("nvidia.com/gpu.replicas", "1"), ("nvidia.com/gpu.sharing-strategy", "none")]);
        let inv = Inventory::from_objects(&[sliced.clone(), gke.clone(), whole], &[], &[], &[]);
        assert_eq!(preferred_node(&inv, Path::DevicePlugin).unwrap().name, "c-whole");
        // Only shared nodes: the one with most free devices; the rule is then relaxed in `judge`.
        let inv = Inventory::from_objects(&[sliced, gke], &[], &[], &[]);
        let chosen = preferred_node(&inv, Path::DevicePlugin).unwrap();
        assert_eq!(chosen.name, "a-sliced");
        assert!(chosen.sharing(Path::DevicePlugin).is_some());
    }

    fn escalation_gap() -> (String, CaseResult) {
        let r = results(&[("b", "probe", &[]), ("b", "escalate", &["/dev/nvidia0", "/dev/nvidia1"])]);
        let remedy = crate::accelerators::vendor::VENDORS[0].visible_devices_remedy;
        (
            escalation_case("NVIDIA_VISIBLE_DEVICES"),
            judge_escalation(&r, "b", "NVIDIA_VISIBLE_DEVICES", remedy, "gpu-0"),
        )
    }

    /// The escalation is a finding of its own: the reason first says that device isolation holds, then
    /// names the escalation and how to close it; the requirement still fails.
    #[test]
    fn the_escalation_is_reported_apart_from_device_isolation() {
        let cases = vec![
            ("device-plugin".to_string(), CaseResult::Passed("on gpu-0 the holder saw exactly 1".into())),
            escalation_gap(),
        ];
        let v = conclude_access(&cases, &Inventory::default());
        assert_eq!(v.outcome, Outcome::Fail);
        assert!(
            v.reason.starts_with(
                "device isolation holds (device-plugin: on gpu-0 the holder saw exactly 1); NVIDIA_VISIBLE_DEVICES escalation: \
                 a container without a grant that sets NVIDIA_VISIBLE_DEVICES=all sees devices; the NVIDIA Container Toolkit"
            ),
            "{}",
            v.reason
        );
        for remedy in
            ["accept-nvidia-visible-devices-envvar-when-unprivileged = false", "CDI or volume-mounts", "v25.10"]
        {
            assert!(v.reason.contains(remedy), "{remedy}: {}", v.reason);
        }
        assert!(v.observed.unwrap().starts_with("NVIDIA_VISIBLE_DEVICES escalation: b/escalate sees /dev/nvidia0"));

        // Isolation broken too: both, isolation first.
        let leak = Finding { what: "leak".into(), expected: "none".into(), observed: "all".into() };
        let cases = vec![("device-plugin".to_string(), CaseResult::Violated(vec![leak])), escalation_gap()];
        let v = conclude_access(&cases, &Inventory::default());
        assert!(v.reason.starts_with("device-plugin: leak; NVIDIA_VISIBLE_DEVICES escalation: "), "{}", v.reason);
        assert!(v.expected.unwrap().starts_with("device-plugin: none; NVIDIA_VISIBLE_DEVICES escalation: b/escalate"));

        // No escalation gap: the ordinary policy, the escalation case named among the passes.
        let r = results(&[("b", "probe", &[]), ("b", "escalate", &[])]);
        let cases = vec![
            ("device-plugin".to_string(), CaseResult::Passed("ok".into())),
            (
                escalation_case("NVIDIA_VISIBLE_DEVICES"),
                judge_escalation(&r, "b", "NVIDIA_VISIBLE_DEVICES", "", "gpu-0"),
            ),
        ];
        let v = conclude_access(&cases, &Inventory::default());
        assert_eq!(v.outcome, Outcome::Pass);
        assert!(
            v.reason.contains("NVIDIA_VISIBLE_DEVICES escalation: on gpu-0 a container without a grant"),
            "{}",
            v.reason
        );
    }

    /// A mixed node: the whole GPU is held, MIG devices of another GPU are free. The GPU class could not
    /// have had any of them, so its unscheduled pod is no evidence that it is broken.
    #[test]
    fn only_devices_the_platform_class_may_select_count_as_free_for_it() {
        let slices = [crate::accelerators::counters::tests::partitionable_slice("gpu-0")];
        let claim: ResourceClaim = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "c"}, "spec": {},
            "status": {"allocation": {"devices": {"results": [{"request": "r", "driver": "gpu.nvidia.com", "pool": "gpu-0", "device": "gpu-1"}]}}}
        }))
        .unwrap();
        let inv = Inventory::from_objects(&[node("gpu-0", 0, &[])], &[], &slices, &[claim]);
        assert_eq!(inv.nodes[0].free_dra().len(), 3, "gpu-0 and its two partitions are free");
        let class = PlatformClass {
            name: "gpu.nvidia.com".into(),
            why: String::new(),
            selects_nothing: false,
            selectors: vec![Some("device.attributes['gpu.nvidia.com'].type == 'gpu'".into())],
        };
        assert_eq!(free_for_class(&inv.nodes[0], &class), 1);
        let mig = PlatformClass {
            selectors: vec![Some("device.attributes['gpu.nvidia.com'].type == 'mig'".into())],
            ..class
        };
        assert_eq!(free_for_class(&inv.nodes[0], &mig), 2);
    }
}
