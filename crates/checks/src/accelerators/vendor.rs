//! Accelerator vendors as data: resource names, DRA driver names, node labels, device paths and the probe
//! each vendor's containers run. Supporting another vendor means adding a row here, not new code.
//!
//! The probe runs in any image with a POSIX shell. It prints `KAIC-DEVICE <path>` for every device node it
//! can see (the parser keeps only real device nodes, not control nodes such as `/dev/nvidiactl`); then,
//! for each of the vendor's tools, the tool's raw output and exit code between
//! `KAIC-TOOL-BEGIN <section> <command>` and `KAIC-TOOL-END <section> <exit code>` (or
//! `KAIC-TOOL-MISSING <section> <commands>` when the container has none of them); then `KAIC-END`.
//! kaic parses the tools' output itself ([`tools`](super::tools)), so the probe never interprets it.

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
    /// The device nodes the probe lists (shell globs).
    pub device_globs: &'static str,
    /// The tools the probe runs, by section: `list` (the devices the container can use) and `version`
    /// (the driver version). Each section runs the first of its commands that the container has.
    pub tools: &'static [(&'static str, &'static [&'static str])],
    /// The variable the vendor's container runtime reads to decide which devices to inject
    /// (`NVIDIA_VISIBLE_DEVICES`): probe containers set it explicitly, and a container without a grant
    /// that sets it to `all` must still see nothing.
    pub visible_devices_env: Option<&'static str>,
    /// What a platform changes so that its runtime ignores that variable in unprivileged containers.
    pub visible_devices_remedy: &'static str,
    /// Node labels with the number of containers that share one physical device through the device
    /// plugin (time-slicing, MPS): GPU feature discovery's replicas, GKE's maximum shared clients.
    pub shared_clients_labels: &'static [&'static str],
    /// Node labels naming the device plugin's sharing strategy (`time-slicing`, `mps`, GKE's
    /// `time-sharing`); `none` or empty means the devices are not shared.
    pub sharing_strategy_labels: &'static [&'static str],
    /// Suffix of a device-plugin resource renamed because its devices are shared (`renameByDefault`).
    pub shared_resource_suffix: Option<&'static str>,
    /// Node label with the physical device count.
    pub count_label: Option<&'static str>,
    /// Prefix of extended resources that are hardware partitions (MIG).
    pub partition_resource_prefix: Option<&'static str>,
    /// Node labels that say every device the plain resource advertises is a hardware partition, and of
    /// which profile: (label, marker); the profile is the value after the marker (the whole value when the
    /// marker is empty). GKE's partition size; GPU feature discovery's product under the MIG `single`
    /// strategy (`NVIDIA-H100-80GB-HBM3-MIG-1g.10gb`).
    pub partition_labels: &'static [(&'static str, &'static str)],
    /// Node labels that mark virtualised devices (vGPU).
    pub virtual_labels: &'static [&'static str],
}

/// Runs the first available command of a section and prints its raw output and exit code between markers.
/// Command substitution drops trailing newlines, so the end marker always starts a line of its own.
const PROBE_PREAMBLE: &str = r#"kaic_tool() {
  section=$1; shift
  for cmd in "$@"; do
    if command -v "${cmd%% *}" >/dev/null 2>&1; then
      echo "KAIC-TOOL-BEGIN $section $cmd"
      out=$($cmd 2>&1); rc=$?
      [ -n "$out" ] && printf '%s\n' "$out"
      echo "KAIC-TOOL-END $section $rc"
      return 0
    fi
  done
  echo "KAIC-TOOL-MISSING $section $*"
}"#;

/// Every vendor kaic recognises.
pub const VENDORS: &[Vendor] = &[
    Vendor {
        name: "NVIDIA",
        probe_label: "nvidia",
        // `nvidia.com/gpu.shared`: time-slicing or MPS with `renameByDefault`.
        extended_resources: &["nvidia.com/gpu", "nvidia.com/gpu.shared"],
        dra_drivers: &["gpu.nvidia.com"],
        presence_labels: &["nvidia.com/gpu.present"],
        driver_version_labels: &["nvidia.com/cuda.driver-version.full"],
        driver_version_attributes: &["driverVersion"],
        uuid_attribute: Some("uuid"),
        device_prefix: "/dev/nvidia",
        probe_image: "nvcr.io/nvidia/cuda:12.6.3-base-ubuntu24.04",
        device_globs: "/dev/nvidia*",
        // The NVIDIA runtime injects nvidia-smi with the devices, so a container without one has none.
        tools: &[
            ("list", &["nvidia-smi -L"]),
            ("version", &["nvidia-smi --query-gpu=driver_version --format=csv,noheader"]),
        ],
        visible_devices_env: Some("NVIDIA_VISIBLE_DEVICES"),
        visible_devices_remedy: "the NVIDIA Container Toolkit honours NVIDIA_VISIBLE_DEVICES from unprivileged containers \
            (its legacy environment-variable mode: EKS's NVIDIA AMIs, GPU Operator before v25.10); set \
            accept-nvidia-visible-devices-envvar-when-unprivileged = false in the toolkit's config.toml, have the device \
            plugin hand devices over as CDI or volume-mounts (device-list strategy), or upgrade to GPU Operator v25.10 or \
            later, which injects devices through CDI",
        shared_clients_labels: &["nvidia.com/gpu.replicas", "cloud.google.com/gke-max-shared-clients-per-gpu"],
        sharing_strategy_labels: &["nvidia.com/gpu.sharing-strategy", "cloud.google.com/gke-gpu-sharing-strategy"],
        shared_resource_suffix: Some(".shared"),
        count_label: Some("nvidia.com/gpu.count"),
        // Also `nvidia.com/mig-1g.10gb.shared`, a partition shared by time-slicing or MPS.
        partition_resource_prefix: Some("nvidia.com/mig-"),
        partition_labels: &[("cloud.google.com/gke-gpu-partition-size", ""), ("nvidia.com/gpu.product", "-MIG-")],
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
        device_globs: "/dev/dri/* /dev/kfd",
        // Used when the probe image (--probe-image amd=…) carries ROCm's tools.
        tools: &[("list", &["amd-smi list", "rocm-smi --showuniqueid"])],
        visible_devices_env: None,
        visible_devices_remedy: "",
        shared_clients_labels: &[],
        sharing_strategy_labels: &[],
        shared_resource_suffix: None,
        count_label: None,
        partition_resource_prefix: Some("amd.com/gpu-partition"),
        partition_labels: &[],
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
        device_globs: "/dev/dri/*",
        tools: &[("list", &["xpu-smi discovery -j"])],
        visible_devices_env: None,
        visible_devices_remedy: "",
        shared_clients_labels: &[],
        sharing_strategy_labels: &[],
        shared_resource_suffix: None,
        count_label: None,
        partition_resource_prefix: None,
        partition_labels: &[],
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
        device_globs: "/dev/accel/*",
        // hl-smi -L prints the driver version in its header.
        tools: &[("list", &["hl-smi -L"]), ("version", &["hl-smi -L"])],
        visible_devices_env: None,
        visible_devices_remedy: "",
        shared_clients_labels: &[],
        sharing_strategy_labels: &[],
        shared_resource_suffix: None,
        count_label: None,
        partition_resource_prefix: None,
        partition_labels: &[],
        virtual_labels: &[],
    },
];

/// Words that make an unknown extended resource or DRA driver look like an accelerator.
const ACCELERATOR_WORDS: &[&str] = &["gpu", "tpu", "npu", "accel", "fpga", "gaudi", "neuron", "ipu"];

impl Vendor {
    /// The vendor advertising this extended resource (whole devices, shared or not).
    pub fn for_resource(resource: &str) -> Option<&'static Vendor> {
        VENDORS.iter().find(|v| v.extended_resources.contains(&resource))
    }

    /// The vendor whose hardware partitions this extended resource is (`nvidia.com/mig-1g.10gb`, also when
    /// shared: `nvidia.com/mig-1g.10gb.shared`).
    pub fn for_partition(resource: &str) -> Option<&'static Vendor> {
        VENDORS.iter().find(|v| v.partition_resource_prefix.is_some_and(|p| resource.starts_with(p)))
    }

    /// The vendor owning this DRA driver.
    pub fn for_driver(driver: &str) -> Option<&'static Vendor> {
        VENDORS.iter().find(|v| v.dra_drivers.contains(&driver))
    }

    /// The probe script (run with `sh -c`): device nodes, each tool's raw output, the end marker.
    pub fn probe_script(&self) -> String {
        let mut script = format!(
            "{PROBE_PREAMBLE}\nfor d in {}; do [ -e \"$d\" ] && echo \"KAIC-DEVICE $d\"; done\n",
            self.device_globs
        );
        for (section, commands) in self.tools {
            let quoted: Vec<String> = commands.iter().map(|c| format!("'{c}'")).collect();
            script.push_str(&format!("kaic_tool {section} {}\n", quoted.join(" ")));
        }
        script.push_str("echo KAIC-END");
        script
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

    /// GPU Operator time-slicing or MPS with `renameByDefault` renames the resource; MIG partitions keep
    /// their prefix, shared or not. All are NVIDIA's, none "unrecognised".
    #[test]
    fn nvidia_shared_and_partition_resources_are_nvidia() {
        assert_eq!(Vendor::for_resource("nvidia.com/gpu.shared").unwrap().name, "NVIDIA");
        for partition in ["nvidia.com/mig-1g.10gb", "nvidia.com/mig-1g.10gb.shared", "nvidia.com/mig-3g.40gb"] {
            assert_eq!(Vendor::for_partition(partition).unwrap().name, "NVIDIA", "{partition}");
            assert!(Vendor::for_resource(partition).is_none(), "{partition} is a partition, not a whole device");
        }
        assert_eq!(Vendor::for_partition("amd.com/gpu-partition-cpx").unwrap().name, "AMD");
        assert!(Vendor::for_partition("nvidia.com/gpu").is_none());
        assert!(Vendor::for_resource("nvidia.com/gpu.sharedx").is_none());
    }

    #[test]
    fn every_vendor_has_a_probe_ending_in_the_end_marker() {
        for vendor in VENDORS {
            let script = vendor.probe_script();
            assert!(script.ends_with("echo KAIC-END"), "{}", vendor.name);
            assert!(script.contains("kaic_tool list '"), "{} lists devices with its tool", vendor.name);
            assert!(vendor.probe_image.contains(':'), "{} image is pinned by tag", vendor.name);
            assert!(!vendor.extended_resources.is_empty() || !vendor.dra_drivers.is_empty());
        }
        let nvidia = VENDORS[0].probe_script();
        assert!(nvidia.contains("for d in /dev/nvidia*; do"), "{nvidia}");
        assert!(nvidia.contains("kaic_tool list 'nvidia-smi -L'\n"), "{nvidia}");
        let amd = Vendor::for_driver("gpu.amd.com").unwrap().probe_script();
        assert!(amd.contains("kaic_tool list 'amd-smi list' 'rocm-smi --showuniqueid'"), "{amd}");
    }

    /// The probe script runs in a real POSIX shell and prints the markers kaic parses, with a tool's
    /// output and exit code; a missing tool is reported as missing.
    #[test]
    fn the_probe_script_runs_in_sh() {
        let dir = std::env::temp_dir().join(format!("kaic-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tool = dir.join("nvidia-smi");
        std::fs::write(&tool, "#!/bin/sh\necho 'No devices were found'\nexit 6\n").unwrap();
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(VENDORS[0].probe_script())
            .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
            .output()
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(
            text.contains("KAIC-TOOL-BEGIN list nvidia-smi -L\nNo devices were found\nKAIC-TOOL-END list 6\n"),
            "{text}"
        );
        assert!(text.ends_with("KAIC-END\n"), "{text}");
        let gaudi = std::process::Command::new("sh")
            .arg("-c")
            .arg(Vendor::for_driver("gaudi.intel.com").unwrap().probe_script())
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        let text = String::from_utf8(gaudi.stdout).unwrap();
        assert!(text.contains("KAIC-TOOL-MISSING list hl-smi -L\n"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
