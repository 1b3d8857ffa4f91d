//! Accelerator vendors as data: resource names, DRA driver names, node labels, device paths and the probe
//! each vendor's containers run. Supporting another vendor means adding a row here, not new code.
//!
//! The probe prints one line per fact so that any image with a POSIX shell can run it:
//! `KAIC-DEVICE <path>` for every device node it can see (the parser keeps only real device nodes,
//! not control nodes such as `/dev/nvidiactl`), `KAIC-GPU <uuid> <driver version> <product>` for every
//! device the vendor's tool lists, then `KAIC-END`.

/// One accelerator vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vendor {
    /// Human name, e.g. `NVIDIA`.
    pub name: &'static str,
    /// Value of the `kaic.dev/probe` label on this vendor's probe pods.
    pub probe_label: &'static str,
    /// Extended resources the vendor's device plugin advertises (device-plugin path).
    pub extended_resources: &'static [&'static str],
    /// DRA driver names (DRA path).
    pub dra_drivers: &'static [&'static str],
    /// Node labels whose presence (value `true`) marks an accelerator node even without capacity.
    pub presence_labels: &'static [&'static str],
    /// Node labels holding the full driver version.
    pub driver_version_labels: &'static [&'static str],
    /// DRA device attributes holding the driver version.
    pub driver_version_attributes: &'static [&'static str],
    /// DRA device attribute holding the device's unique id (matches the probe's `KAIC-GPU` uuid).
    pub uuid_attribute: Option<&'static str>,
    /// Real device nodes: this prefix followed by digits only (`/dev/nvidia0`, not `/dev/nvidiactl`).
    pub device_prefix: &'static str,
    /// Default probe image, pinned by tag (override with `--probe-image`).
    pub probe_image: &'static str,
    /// The probe script (run with `sh -c`).
    pub probe_script: &'static str,
    /// Node label with the number of replicas each physical device is shared into (time-slicing, MPS).
    pub replicas_label: Option<&'static str>,
    /// Node label with the physical device count.
    pub count_label: Option<&'static str>,
    /// Prefix of extended resources that are hardware partitions (MIG).
    pub partition_resource_prefix: Option<&'static str>,
    /// Node labels that mark virtualised devices (vGPU).
    pub virtual_labels: &'static [&'static str],
}

const NVIDIA_PROBE: &str = r#"for d in /dev/nvidia*; do [ -e "$d" ] && echo "KAIC-DEVICE $d"; done
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=uuid,driver_version,name --format=csv,noheader | while IFS=, read -r uuid driver name; do
    echo "KAIC-GPU $(echo $uuid) $(echo $driver) $(echo $name)"
  done
fi
echo KAIC-END"#;

const DRI_PROBE: &str = r#"for d in /dev/dri/* /dev/kfd; do [ -e "$d" ] && echo "KAIC-DEVICE $d"; done
echo KAIC-END"#;

const ACCEL_PROBE: &str = r#"for d in /dev/accel/*; do [ -e "$d" ] && echo "KAIC-DEVICE $d"; done
echo KAIC-END"#;

/// Every vendor kaic recognises.
pub const VENDORS: &[Vendor] = &[
    Vendor {
        name: "NVIDIA",
        probe_label: "nvidia",
        extended_resources: &["nvidia.com/gpu"],
        dra_drivers: &["gpu.nvidia.com"],
        presence_labels: &["nvidia.com/gpu.present"],
        driver_version_labels: &["nvidia.com/cuda.driver-version.full"],
        driver_version_attributes: &["driverVersion"],
        uuid_attribute: Some("uuid"),
        device_prefix: "/dev/nvidia",
        probe_image: "nvcr.io/nvidia/cuda:12.6.3-base-ubuntu24.04",
        probe_script: NVIDIA_PROBE,
        replicas_label: Some("nvidia.com/gpu.replicas"),
        count_label: Some("nvidia.com/gpu.count"),
        partition_resource_prefix: Some("nvidia.com/mig-"),
        virtual_labels: &["nvidia.com/vgpu.present"],
    },
    Vendor {
        name: "AMD",
        probe_label: "amd",
        extended_resources: &["amd.com/gpu"],
        dra_drivers: &["gpu.amd.com"],
        presence_labels: &["amd.com/gpu.present"],
        driver_version_labels: &["amd.com/gpu.driver-version"],
        driver_version_attributes: &["driverVersion"],
        uuid_attribute: None,
        device_prefix: "/dev/dri/renderD",
        probe_image: "docker.io/library/busybox:1.37",
        probe_script: DRI_PROBE,
        replicas_label: None,
        count_label: None,
        partition_resource_prefix: Some("amd.com/gpu-partition"),
        virtual_labels: &["amd.com/gpu.virtual"],
    },
    Vendor {
        name: "Intel",
        probe_label: "intel",
        extended_resources: &["gpu.intel.com/i915", "gpu.intel.com/xe"],
        dra_drivers: &["gpu.intel.com"],
        presence_labels: &["intel.feature.node.kubernetes.io/gpu"],
        driver_version_labels: &[],
        driver_version_attributes: &["driverVersion"],
        uuid_attribute: None,
        device_prefix: "/dev/dri/renderD",
        probe_image: "docker.io/library/busybox:1.37",
        probe_script: DRI_PROBE,
        replicas_label: None,
        count_label: None,
        partition_resource_prefix: None,
        virtual_labels: &[],
    },
    Vendor {
        name: "Intel Gaudi",
        probe_label: "gaudi",
        extended_resources: &["habana.ai/gaudi"],
        dra_drivers: &["gaudi.intel.com"],
        presence_labels: &[],
        driver_version_labels: &[],
        driver_version_attributes: &["driverVersion"],
        uuid_attribute: None,
        device_prefix: "/dev/accel/accel",
        probe_image: "docker.io/library/busybox:1.37",
        probe_script: ACCEL_PROBE,
        replicas_label: None,
        count_label: None,
        partition_resource_prefix: None,
        virtual_labels: &[],
    },
];

/// Words that make an unknown extended resource or DRA driver look like an accelerator.
const ACCELERATOR_WORDS: &[&str] = &["gpu", "tpu", "npu", "accel", "fpga", "gaudi", "neuron", "ipu"];

impl Vendor {
    /// The vendor advertising this extended resource.
    pub fn for_resource(resource: &str) -> Option<&'static Vendor> {
        VENDORS.iter().find(|v| v.extended_resources.contains(&resource))
    }

    /// The vendor owning this DRA driver.
    pub fn for_driver(driver: &str) -> Option<&'static Vendor> {
        VENDORS.iter().find(|v| v.dra_drivers.contains(&driver))
    }

    /// Whether `path` is a real device node of this vendor (prefix followed by digits only).
    pub fn is_device_node(&self, path: &str) -> bool {
        path.strip_prefix(self.device_prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    }
}

/// Whether an extended resource or DRA driver name kaic does not know looks like an accelerator, so it is
/// reported as unknown (a human must verify) rather than ignored.
pub fn looks_like_accelerator(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ACCELERATOR_WORDS.iter().any(|w| name.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_devices_are_not_counted() {
        let nvidia = Vendor::for_resource("nvidia.com/gpu").unwrap();
        assert!(nvidia.is_device_node("/dev/nvidia0"));
        assert!(nvidia.is_device_node("/dev/nvidia12"));
        for control in
            ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset", "/dev/nvidia"]
        {
            assert!(!nvidia.is_device_node(control), "{control} counted as a device");
        }
        let amd = Vendor::for_driver("gpu.amd.com").unwrap();
        assert!(amd.is_device_node("/dev/dri/renderD128"));
        assert!(!amd.is_device_node("/dev/kfd"));
        assert!(!amd.is_device_node("/dev/dri/card0"));
    }

    #[test]
    fn unknown_accelerator_names_are_recognised_as_such() {
        assert!(looks_like_accelerator("acme.example/npu"));
        assert!(looks_like_accelerator("tpu.google.com"));
        assert!(!looks_like_accelerator("hugepages-2Mi"));
        assert!(!looks_like_accelerator("example.com/foo"));
        assert!(Vendor::for_resource("acme.example/npu").is_none());
    }

    #[test]
    fn every_vendor_has_a_probe_ending_in_the_end_marker() {
        for vendor in VENDORS {
            assert!(vendor.probe_script.trim_end().ends_with("echo KAIC-END"), "{}", vendor.name);
            assert!(vendor.probe_image.contains(':'), "{} image is pinned by tag", vendor.name);
            assert!(!vendor.extended_resources.is_empty() || !vendor.dra_drivers.is_empty());
        }
    }
}
