//! How an accelerator node shares or partitions its devices, read from its labels and resources: the
//! clients per device of time-slicing and MPS (GPU feature discovery's `nvidia.com/gpu.replicas`, GKE's
//! `cloud.google.com/gke-max-shared-clients-per-gpu`), the sharing strategy labels, renamed `.shared`
//! resources, DRA devices that allow multiple allocations, the physical device count behind a shared
//! count, and the partition profile of nodes whose plain resource is a MIG partition (GKE's
//! `cloud.google.com/gke-gpu-partition-size`, the MIG `single` strategy's product label). The label names
//! are vendor data ([`Vendor`](super::vendor::Vendor)).

use super::inventory::{AcceleratorNode, Path};

impl AcceleratorNode {
    /// A node label as a whole number.
    fn label_number(&self, label: &str) -> Option<i64> {
        self.labels.get(label).and_then(|v| v.trim().parse().ok())
    }

    /// How many containers share one physical device through the device plugin (time-slicing, MPS), and
    /// the label that says so; `None` where no label says more than one.
    pub fn shared_clients(&self) -> Option<(&'static str, i64)> {
        self.vendor.shared_clients_labels.iter().find_map(|l| self.label_number(l).filter(|n| *n > 1).map(|n| (*l, n)))
    }

    /// Why the node's devices may be handed to several containers at once through `path`, or `None` where
    /// each allocation gets a device of its own: on the device-plugin path, time-slicing or MPS (a shared
    /// clients label above 1, a sharing strategy label other than `none`, a renamed `.shared` resource);
    /// on the DRA path, free devices that allow multiple allocations.
    pub fn sharing(&self, path: Path) -> Option<String> {
        let mut why = Vec::new();
        match path {
            Path::DevicePlugin => {
                if let Some((label, n)) = self.shared_clients() {
                    why.push(format!("{label}={n}"));
                }
                for label in self.vendor.sharing_strategy_labels {
                    match self.labels.get(*label).map(|v| v.trim()) {
                        Some(v) if !v.is_empty() && !v.eq_ignore_ascii_case("none") => why.push(format!("{label}={v}")),
                        _ => {}
                    }
                }
                if let Some(suffix) = self.vendor.shared_resource_suffix {
                    why.extend(
                        self.extended
                            .iter()
                            .filter(|(r, (alloc, _))| r.ends_with(suffix) && *alloc > 0)
                            .map(|(r, _)| format!("resource {r}")),
                    );
                }
            }
            Path::Dra => {
                let shareable = self.free_dra().iter().filter(|d| d.shareable).count();
                if shareable > 0 {
                    why.push(format!("{shareable} free DRA device(s) allow multiple allocations"));
                }
            }
        }
        (!why.is_empty()).then(|| why.join(", "))
    }

    /// The physical devices behind the device plugin's count: the vendor's count label, else the advertised
    /// count divided by the shared clients per device, else the advertised count.
    pub fn physical_devices(&self) -> i64 {
        let advertised: i64 =
            self.vendor.extended_resources.iter().filter_map(|r| self.extended.get(*r)).map(|(a, _)| *a).sum();
        match (self.vendor.count_label.and_then(|l| self.label_number(l)), self.shared_clients()) {
            (Some(count), _) => count,
            (None, Some((_, clients))) => advertised / clients,
            (None, None) => advertised,
        }
    }

    /// The hardware-partition profile every device of the plain resource is, where a label says so (GKE's
    /// partition size, the MIG `single` strategy's product label), and the label.
    pub fn partition_profile(&self) -> Option<(&'static str, String)> {
        self.vendor.partition_labels.iter().find_map(|(label, marker)| {
            let value = self.labels.get(*label)?.trim();
            let profile = if marker.is_empty() { value } else { value.split_once(marker)?.1 };
            (!profile.is_empty()).then(|| (*label, profile.to_string()))
        })
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Node;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use serde_json::json;

    use super::*;
    use crate::accelerators::inventory::Inventory;
    use crate::accelerators::inventory::tests::{gpu_node, slice};

    fn labelled(mut node: Node, labels: &[(&str, &str)]) -> Node {
        let map = node.metadata.labels.get_or_insert_default();
        for (k, v) in labels {
            map.insert((*k).into(), (*v).into());
        }
        node
    }

    fn with_allocatable(mut node: Node, resources: &[(&str, &str)]) -> Node {
        let allocatable = node.status.as_mut().unwrap().allocatable.as_mut().unwrap();
        allocatable.remove("nvidia.com/gpu");
        for (r, q) in resources {
            allocatable.insert((*r).into(), Quantity((*q).into()));
        }
        node
    }

    /// GPU Operator time-slicing or MPS with `renameByDefault`, and MIG partitions under MPS: NVIDIA
    /// nodes, never "unrecognised", and the renamed resource is what kaic asks for.
    #[test]
    fn shared_and_partition_resources_are_nvidia_nodes() {
        let renamed = with_allocatable(gpu_node("ts-0", 0), &[("nvidia.com/gpu.shared", "4")]);
        let mig_mps: Node = serde_json::from_value(json!({
            "metadata": {"name": "mig-0"},
            "status": {"allocatable": {"nvidia.com/mig-1g.10gb.shared": "14"}, "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let inv = Inventory::from_objects(&[renamed, mig_mps], &[], &[], &[]);
        assert!(inv.unrecognised.is_empty(), "{:?}", inv.unrecognised);
        assert_eq!(inv.nodes.len(), 2);
        assert!(inv.nodes.iter().all(|n| n.vendor.name == "NVIDIA"));
        assert_eq!(inv.nodes[0].free_extended(), Some(("nvidia.com/gpu.shared", 4)));
        assert_eq!(inv.nodes[0].sharing(Path::DevicePlugin).unwrap(), "resource nvidia.com/gpu.shared");
        assert_eq!(inv.nodes[1].extended["nvidia.com/mig-1g.10gb.shared"], (14, 0));
    }

    #[test]
    fn sharing_is_read_from_gfd_gke_labels_and_shareable_dra_devices() {
        let testenv = labelled(
            gpu_node("plain", 4),
            &[
                ("nvidia.com/gpu.replicas", "1"),
                ("nvidia.com/gpu.sharing-strategy", "none"),
                ("nvidia.com/gpu.count", "4"),
            ],
        );
        let gfd = labelled(
            gpu_node("gfd", 4),
            &[
                ("nvidia.com/gpu.replicas", "4"),
                ("nvidia.com/gpu.sharing-strategy", "time-slicing"),
                ("nvidia.com/gpu.count", "1"),
            ],
        );
        let mps = labelled(gpu_node("mps", 4), &[("nvidia.com/gpu.sharing-strategy", "mps")]);
        let gke = labelled(
            gpu_node("gke", 6),
            &[
                ("cloud.google.com/gke-gpu-sharing-strategy", "time-sharing"),
                ("cloud.google.com/gke-max-shared-clients-per-gpu", "3"),
            ],
        );
        let inv = Inventory::from_objects(&[testenv, gfd, mps, gke], &[], &[], &[]);
        let node = |name: &str| inv.nodes.iter().find(|n| n.name == name).unwrap();
        assert_eq!(node("plain").sharing(Path::DevicePlugin), None);
        assert_eq!(node("plain").physical_devices(), 4);
        assert_eq!(
            node("gfd").sharing(Path::DevicePlugin).unwrap(),
            "nvidia.com/gpu.replicas=4, nvidia.com/gpu.sharing-strategy=time-slicing"
        );
        assert_eq!(node("gfd").physical_devices(), 1, "the count label wins");
        assert_eq!(node("mps").sharing(Path::DevicePlugin).unwrap(), "nvidia.com/gpu.sharing-strategy=mps");
        assert_eq!(node("gke").shared_clients(), Some(("cloud.google.com/gke-max-shared-clients-per-gpu", 3)));
        assert_eq!(node("gke").physical_devices(), 2, "6 advertised, 3 clients per GPU");
        assert!(node("gke").sharing(Path::DevicePlugin).unwrap().contains("gke-gpu-sharing-strategy=time-sharing"));

        let mut shareable = slice("dra", &["gpu-0"]);
        shareable.spec.devices.as_mut().unwrap()[0].allow_multiple_allocations = Some(true);
        let inv = Inventory::from_objects(&[gpu_node("dra", 0)], &[], &[shareable, slice("plain", &["gpu-0"])], &[]);
        assert_eq!(inv.nodes[0].sharing(Path::Dra).unwrap(), "1 free DRA device(s) allow multiple allocations");
        assert_eq!(inv.nodes[0].sharing(Path::DevicePlugin), None);
    }

    #[test]
    fn partition_profiles_come_from_gke_and_the_mig_single_strategy() {
        let gke = labelled(gpu_node("gke", 7), &[("cloud.google.com/gke-gpu-partition-size", "1g.5gb")]);
        let single = labelled(
            gpu_node("single", 7),
            &[("nvidia.com/mig.strategy", "single"), ("nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3-MIG-1g.10gb")],
        );
        // testenv's nodes: MIG-capable, single strategy, MIG not enabled.
        let whole = labelled(
            gpu_node("whole", 4),
            &[("nvidia.com/mig.strategy", "single"), ("nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3")],
        );
        let inv = Inventory::from_objects(&[gke, single, whole], &[], &[], &[]);
        assert_eq!(
            inv.nodes[0].partition_profile(),
            Some(("cloud.google.com/gke-gpu-partition-size", "1g.5gb".to_string()))
        );
        assert_eq!(inv.nodes[1].partition_profile(), Some(("nvidia.com/gpu.product", "1g.10gb".to_string())));
        assert_eq!(inv.nodes[2].partition_profile(), None);
    }
}
