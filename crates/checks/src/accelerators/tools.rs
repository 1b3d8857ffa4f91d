//! Parsers for what the vendors' own tools print inside a probe container: `nvidia-smi -L`,
//! `amd-smi list`, `rocm-smi --showuniqueid`, `xpu-smi discovery -j` and `hl-smi -L`.
//!
//! The probe prints each tool's raw output and exit code (see [`probe`](super::probe)); kaic parses it
//! here, so what runs on a real node and what runs on testenv take the same path. A tool that exits
//! non-zero, or prints one of its known error texts instead of a device list, yields
//! [`Listing::Failed`] carrying the output: a failure is never read as a device, and a container that
//! must see its device cannot be judged from it. Golden tests use the tools' exact output formats
//! (`testdata/`).

/// One device a tool listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The device's identity: a `GPU-…`/`MIG-…` UUID for NVIDIA, the PCI address or UUID elsewhere.
    pub id: String,
    /// The product or partition profile, for reports.
    pub product: String,
}

/// What a tool said about the devices a container can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// The tool is not in the container: the runtime injected nothing (NVIDIA injects `nvidia-smi` with
    /// the devices) or the image lacks it. The device nodes decide alone.
    Missing,
    /// The tool ran and listed these devices.
    Devices(Vec<Device>),
    /// The tool failed; `output` is what it printed.
    Failed { command: String, code: i32, output: String },
}

impl Listing {
    /// The devices listed; none unless the tool ran cleanly.
    pub fn devices(&self) -> &[Device] {
        match self {
            Self::Devices(devices) => devices,
            _ => &[],
        }
    }
}

/// Error texts each tool prints instead of a list (some with exit code 0).
const ERROR_TEXTS: &[&str] = &[
    "no devices were found",
    "failed to initialize nvml",
    "nvidia-smi has failed",
    "couldn't communicate with the nvidia driver",
    "unable to determine the device handle",
    "unable to detect any gpu",
    "driver not initialized",
    "drivers not loaded",
    "amdsmi_status_",
    "level zero initialization error",
    "failed to open",
];

/// Parses the output of the listing command `command` (program and arguments as the probe ran them).
pub fn parse_listing(command: &str, code: i32, output: &str) -> Listing {
    let failed = || Listing::Failed { command: command.to_string(), code, output: output.trim_end().to_string() };
    if code != 0 {
        return failed();
    }
    let program = command.split_whitespace().next().unwrap_or_default();
    let parsed = match program {
        "nvidia-smi" => Some(nvidia_smi_list(output)),
        "amd-smi" => Some(amd_smi_list(output)),
        "rocm-smi" => Some(rocm_smi_unique_ids(output)),
        "xpu-smi" => xpu_smi_discovery_json(output),
        "hl-smi" => Some(hl_smi_list(output)),
        _ => None,
    };
    let Some(devices) = parsed else { return failed() };
    let lower = output.to_ascii_lowercase();
    if devices.is_empty() && ERROR_TEXTS.iter().any(|text| lower.contains(text)) {
        return failed();
    }
    Listing::Devices(devices)
}

/// The driver version a tool printed: `nvidia-smi --query-gpu=driver_version` prints one per GPU,
/// `hl-smi -L` has it in its header. `None` when the tool failed or printed none.
pub fn parse_driver_version(command: &str, code: i32, output: &str) -> Option<String> {
    if code != 0 {
        return None;
    }
    match command.split_whitespace().next().unwrap_or_default() {
        "nvidia-smi" => output.lines().map(str::trim).find(|l| looks_like_version(l)).map(String::from),
        "hl-smi" => field(output, "Driver Version").filter(|v| looks_like_version(v)).map(String::from),
        _ => None,
    }
}

fn looks_like_version(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit())
        && text.contains('.')
        && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
}

/// The value of the first `Name : value` line.
fn field<'a>(output: &'a str, name: &str) -> Option<&'a str> {
    output.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim())
    })
}

/// `nvidia-smi -L`: `GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-…)`, and with MIG one line per instance under
/// its GPU: `  MIG 1g.10gb     Device  0: (UUID: MIG-…)`. A GPU with MIG instances is used through them, so
/// the instances are the devices, not the parent. Only `GPU-…` and `MIG-…` UUIDs are kept.
fn nvidia_smi_list(output: &str) -> Vec<Device> {
    // (gpu, its MIG instances)
    let mut gpus: Vec<(Device, Vec<Device>)> = Vec::new();
    for line in output.lines() {
        let Some(uuid) = between(line, "(UUID: ", ")") else { continue };
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("MIG ")
            && uuid.starts_with("MIG-")
        {
            let profile = rest.split_whitespace().next().unwrap_or_default();
            let device = Device { id: uuid.to_string(), product: format!("MIG {profile}") };
            match gpus.last_mut() {
                Some((_, instances)) => instances.push(device),
                None => gpus.push((device, Vec::new())),
            }
        } else if trimmed.starts_with("GPU ") && uuid.starts_with("GPU-") {
            let product = trimmed.split_once(": ").map_or("", |(_, p)| p);
            let product = product.split(" (UUID").next().unwrap_or_default().trim();
            gpus.push((Device { id: uuid.to_string(), product: product.to_string() }, Vec::new()));
        }
    }
    gpus.into_iter().flat_map(|(gpu, instances)| if instances.is_empty() { vec![gpu] } else { instances }).collect()
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].trim())
}

/// `amd-smi list`: blocks `GPU: 0` / `    BDF: 0000:05:00.0` / `    UUID: …`. The PCI address is the
/// identity: in compute-partition modes several partitions report the same UUID but each has its own
/// function number.
fn amd_smi_list(output: &str) -> Vec<Device> {
    let mut devices = Vec::new();
    let mut current: Option<(String, Option<String>, Option<String>)> = None;
    let mut flush = |block: Option<(String, Option<String>, Option<String>)>| {
        if let Some((index, bdf, uuid)) = block {
            let id = bdf.or(uuid).unwrap_or_else(|| format!("GPU {index}"));
            devices.push(Device { id, product: format!("AMD GPU {index}") });
        }
    };
    for line in output.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        let known = |v: &str| (!v.is_empty() && v != "N/A").then(|| v.to_string());
        match key.trim() {
            "GPU" if !line.starts_with(' ') => flush(current.replace((value.to_string(), None, None))),
            "BDF" => {
                if let Some(block) = current.as_mut() {
                    block.1 = known(value);
                }
            }
            "UUID" => {
                if let Some(block) = current.as_mut() {
                    block.2 = known(value);
                }
            }
            _ => {}
        }
    }
    flush(current);
    devices
}

/// `rocm-smi --showuniqueid`: `GPU[0]<tabs>: Unique ID: 0x…` between banner lines.
fn rocm_smi_unique_ids(output: &str) -> Vec<Device> {
    output
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let index = between(line, "GPU[", "]")?;
            let (_, id) = line.split_once("Unique ID:")?;
            let id = id.trim();
            (!id.is_empty() && id != "N/A").then(|| Device { id: id.to_string(), product: format!("AMD GPU {index}") })
        })
        .collect()
}

/// `xpu-smi discovery -j`: `{"device_list": [{"uuid": …, "pci_bdf_address": …, "device_name": …}]}`.
/// `None` when the output is not that JSON (an error text, or `{"error": …}`).
fn xpu_smi_discovery_json(output: &str) -> Option<Vec<Device>> {
    let value: serde_json::Value = serde_json::from_str(output.trim()).ok()?;
    let list = value.get("device_list")?.as_array()?;
    Some(
        list.iter()
            .map(|d| {
                let text = |key: &str| d.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
                let id = [text("uuid"), text("pci_bdf_address")].into_iter().find(|s| !s.is_empty());
                let index = d.get("device_id").map(ToString::to_string).unwrap_or_default();
                Device { id: id.unwrap_or_else(|| format!("device {index}")), product: text("device_name") }
            })
            .collect(),
    )
}

/// `hl-smi -L`: one block per accelerator, opened by `[0] AIP (accel0) 0000:19:00.0`, with
/// `AIP UUID : …` and `Product Name : …` inside.
fn hl_smi_list(output: &str) -> Vec<Device> {
    let mut devices: Vec<Device> = Vec::new();
    for line in output.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') && trimmed.contains("] AIP (") {
            let bdf = trimmed.rsplit(' ').next().unwrap_or_default();
            devices.push(Device { id: bdf.to_string(), product: String::new() });
            continue;
        }
        let (Some(device), Some((key, value))) = (devices.last_mut(), trimmed.split_once(':')) else { continue };
        match key.trim() {
            "AIP UUID" if !value.trim().is_empty() => device.id = value.trim().to_string(),
            "Product Name" => device.product = value.trim().to_string(),
            _ => {}
        }
    }
    devices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(listing: &Listing) -> Vec<&str> {
        listing.devices().iter().map(|d| d.id.as_str()).collect()
    }

    const NVIDIA_L: &str = "nvidia-smi -L";

    #[test]
    fn nvidia_smi_plain_lists_every_gpu_by_uuid() {
        let listing = parse_listing(NVIDIA_L, 0, include_str!("testdata/nvidia-smi-L.plain"));
        assert_eq!(
            ids(&listing),
            vec![
                "GPU-4a1c9e07-2b3d-6f58-91ac-7e0d3b5f2c14",
                "GPU-8e27b4d1-90fa-13c6-5d2e-a4f81c6b7d03",
                "GPU-c53f0a92-7e64-b8d1-2f07-39ab5e1c8d46",
                "GPU-1d96e8b3-45c0-7a2f-e81b-6c0d9f3a2b57",
            ]
        );
        assert_eq!(listing.devices()[0].product, "NVIDIA H100 80GB HBM3");
    }

    #[test]
    fn nvidia_smi_mig_lists_instances_instead_of_their_gpu() {
        let listing = parse_listing(NVIDIA_L, 0, include_str!("testdata/nvidia-smi-L.mig"));
        assert_eq!(
            ids(&listing),
            vec![
                "MIG-7b3e9d21-c5f4-5a08-9e17-d2c4b6a8f013",
                "MIG-e1a45c70-38bd-5f92-a6c3-0f7d2e9b14c8",
                "MIG-9d08f3b6-a271-5c4e-8b5d-e3f19a60c27b",
                // GPU 1 has no MIG instances: used whole.
                "GPU-6c4b2a18-e97d-03f5-c1a2-5e8f7b9d0c31",
            ]
        );
        assert_eq!(listing.devices()[2].product, "MIG 1g.10gb");
        // Drivers before R470 printed MIG-GPU-<uuid>/<gi>/<ci>.
        let old = parse_listing(NVIDIA_L, 0, include_str!("testdata/nvidia-smi-L.mig-r450"));
        assert_eq!(ids(&old), vec!["MIG-GPU-0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e/7/0"]);
    }

    #[test]
    fn nvidia_smi_failures_are_failures_never_devices() {
        for (fixture, code, text) in [
            (include_str!("testdata/nvidia-smi-L.none"), 6, "No devices were found"),
            (include_str!("testdata/nvidia-smi-L.no-driver"), 9, "couldn't communicate with the NVIDIA driver"),
            (include_str!("testdata/nvidia-smi-L.nvml-mismatch"), 18, "Driver/library version mismatch"),
        ] {
            let Listing::Failed { command, code: got, output } = parse_listing(NVIDIA_L, code, fixture) else {
                panic!("{text}: not a failure")
            };
            assert_eq!((command.as_str(), got), (NVIDIA_L, code));
            assert!(output.contains(text), "{output}");
            // The same texts with exit code 0 are still failures.
            assert!(matches!(parse_listing(NVIDIA_L, 0, fixture), Listing::Failed { .. }), "{text}");
        }
        // A non-zero exit is a failure even if GPU lines were printed.
        let partial = parse_listing(NVIDIA_L, 15, include_str!("testdata/nvidia-smi-L.plain"));
        assert!(partial.devices().is_empty());
    }

    #[test]
    fn nvidia_smi_driver_version() {
        let version = include_str!("testdata/nvidia-smi-driver-version.plain");
        let command = "nvidia-smi --query-gpu=driver_version --format=csv,noheader";
        assert_eq!(parse_driver_version(command, 0, version).as_deref(), Some("580.95.05"));
        assert_eq!(parse_driver_version(command, 6, "No devices were found\n"), None);
        assert_eq!(parse_driver_version(command, 0, "No devices were found\n"), None);
    }

    #[test]
    fn amd_smi_lists_by_pci_address() {
        let listing = parse_listing("amd-smi list", 0, include_str!("testdata/amd-smi-list.plain"));
        assert_eq!(ids(&listing), vec!["0000:05:00.0", "0000:26:00.0"]);
        // Compute partitions share a UUID; their PCI functions differ.
        let cpx = parse_listing("amd-smi list", 0, include_str!("testdata/amd-smi-list.partitions"));
        assert_eq!(ids(&cpx), vec!["0000:0c:00.0", "0000:0c:00.1"]);
        let none = parse_listing("amd-smi list", 0, include_str!("testdata/amd-smi-list.no-driver"));
        assert!(matches!(none, Listing::Failed { .. }), "{none:?}");
        assert_eq!(parse_listing("amd-smi list", 0, ""), Listing::Devices(vec![]));
    }

    #[test]
    fn rocm_smi_lists_unique_ids() {
        let listing = parse_listing("rocm-smi --showuniqueid", 0, include_str!("testdata/rocm-smi-showuniqueid.plain"));
        assert_eq!(ids(&listing), vec!["0x9c8b2e3f7a6d5e41", "0x27d4c1b0e9f8a365"]);
        let failed =
            parse_listing("rocm-smi --showuniqueid", 1, include_str!("testdata/rocm-smi-showuniqueid.no-driver"));
        assert!(matches!(failed, Listing::Failed { code: 1, .. }));
        let failed =
            parse_listing("rocm-smi --showuniqueid", 0, include_str!("testdata/rocm-smi-showuniqueid.no-driver"));
        assert!(matches!(failed, Listing::Failed { .. }));
    }

    #[test]
    fn xpu_smi_lists_by_uuid_and_refuses_errors() {
        let command = "xpu-smi discovery -j";
        let listing = parse_listing(command, 0, include_str!("testdata/xpu-smi-discovery-j.plain"));
        assert_eq!(ids(&listing), vec!["00000000-0000-0029-0000-002f0bd58086", "00000000-0000-003a-0000-002f0bd58086"]);
        assert_eq!(listing.devices()[0].product, "Intel(R) Data Center GPU Max 1550");
        assert_eq!(
            parse_listing(command, 0, include_str!("testdata/xpu-smi-discovery-j.none")),
            Listing::Devices(vec![])
        );
        let failed = parse_listing(command, 0, include_str!("testdata/xpu-smi-discovery-j.no-driver"));
        assert!(matches!(&failed, Listing::Failed { output, .. } if output.contains("Level Zero")), "{failed:?}");
        assert!(matches!(parse_listing(command, 0, "Segmentation fault"), Listing::Failed { .. }));
    }

    #[test]
    fn hl_smi_lists_accelerators_and_the_driver_version() {
        let output = include_str!("testdata/hl-smi-L.plain");
        let listing = parse_listing("hl-smi -L", 0, output);
        assert_eq!(ids(&listing), vec!["01P0-HL2080A0-15-TNB3C2-21-04-05", "01P0-HL2080A0-15-TNB3C9-11-02-07"]);
        assert_eq!(listing.devices()[1].product, "HL-225");
        assert_eq!(parse_driver_version("hl-smi -L", 0, output).as_deref(), Some("1.22.0-5f8fa9f"));
        assert_eq!(parse_listing("hl-smi -L", 0, include_str!("testdata/hl-smi-L.none")), Listing::Devices(vec![]));
        // Keyed on the exit code: hl-smi's error texts vary by release.
        let failed = parse_listing("hl-smi -L", 1, include_str!("testdata/hl-smi-L.no-driver"));
        assert!(matches!(failed, Listing::Failed { code: 1, .. }));
    }

    #[test]
    fn an_unknown_tool_is_never_read_as_devices() {
        assert!(matches!(parse_listing("acme-smi", 0, "GPU 0"), Listing::Failed { .. }));
    }
}
