//! Network devices as DRA drivers publish them, and what kaic's network probe saw in a pod.
//!
//! A network device is one of a driver known to publish NICs (DRANET's `dra.net`, the SR-IOV DRA driver),
//! or any device saying it is one (`<domain>/kind: network`) or naming an interface (`<domain>/ifName`).
//! Its interface name and MAC are what a pod must then see: the probe lists `/sys/class/net` with each
//! entry's address ([`SCRIPT`]).

use std::collections::BTreeMap;

use k8s_openapi::api::resource::v1::ResourceSlice;

use crate::accelerators::inventory::attributes_text;

/// DRA drivers that publish network interfaces.
pub const NIC_DRIVERS: &[&str] = &["dra.net", "sriovnetwork.k8snetworkplumbingwg.io"];

/// What the probe container runs: every entry of /sys/class/net with its MAC, then an end marker (a
/// truncated log is never read as "no interface").
pub const SCRIPT: &str = "for i in /sys/class/net/*; do echo \"KAIC-NETDEV $(basename \"$i\") $(cat \"$i/address\" \
                          2>/dev/null)\"; done; echo KAIC-END";

/// One published network device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDevice {
    pub driver: String,
    pub pool: String,
    pub name: String,
    /// The node it is attached to (`None`: a network-attached pool, which kaic does not exercise).
    pub node: Option<String>,
    /// Its attributes as text, keys as published (`dra.net/ifName`).
    pub attributes: BTreeMap<String, String>,
}

impl NetDevice {
    /// The value of attribute `short` in whatever domain the driver uses (`ifName` finds `dra.net/ifName`).
    pub fn attribute(&self, short: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key.as_str() == short || key.rsplit('/').next() == Some(short))
            .map(|(_, value)| value.as_str())
    }

    /// What the evidence says of it: interface, MAC, RDMA, MTU, NUMA node, PCIe root where published.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("{}/{} ({})", self.pool, self.name, self.driver)];
        for key in ["ifName", "mac", "rdma", "mtu", "numaNode", "pcieRoot", "pciVendor"] {
            if let Some(value) = self.attribute(key) {
                parts.push(format!("{key}={value}"));
            }
        }
        parts.join(" ")
    }
}

/// Every network device the slices publish.
pub fn network_devices(slices: &[ResourceSlice]) -> Vec<NetDevice> {
    let mut found = Vec::new();
    for slice in slices {
        let spec = &slice.spec;
        for device in spec.devices.iter().flatten() {
            let attributes = attributes_text(device);
            let says_network = attributes.iter().any(|(key, value)| {
                (key.ends_with("/kind") && value == "network") || key.ends_with("/ifName") || key == "ifName"
            });
            if NIC_DRIVERS.contains(&spec.driver.as_str()) || says_network {
                found.push(NetDevice {
                    driver: spec.driver.clone(),
                    pool: spec.pool.name.clone(),
                    name: device.name.clone(),
                    node: device.node_name.clone().or_else(|| spec.node_name.clone()),
                    attributes,
                });
            }
        }
    }
    found
}

/// The interfaces a probe container listed (name → MAC), or `None` when its log has no end marker.
pub fn parse_probe(log: &str) -> Option<BTreeMap<String, String>> {
    let mut interfaces = BTreeMap::new();
    let mut ended = false;
    for line in log.lines().map(str::trim) {
        if line == "KAIC-END" {
            ended = true;
        } else if let Some(rest) = line.strip_prefix("KAIC-NETDEV ") {
            let mut words = rest.split_whitespace();
            if let Some(name) = words.next() {
                interfaces.insert(name.to_string(), words.next().unwrap_or_default().to_lowercase());
            }
        }
    }
    ended.then_some(interfaces)
}

/// Whether `interfaces` include `device`: its interface name, or its MAC under another name (a runtime
/// may rename the interface inside the pod, as DRANET lets a claim do).
pub fn sees(interfaces: &BTreeMap<String, String>, device: &NetDevice) -> Option<String> {
    if let Some(name) = device.attribute("ifName")
        && let Some(mac) = interfaces.get(name)
    {
        return Some(format!("{name} {mac}"));
    }
    let mac = device.attribute("mac")?.to_lowercase();
    interfaces.iter().find(|(_, m)| **m == mac).map(|(name, m)| format!("{name} {m}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn slice(driver: &str, devices: serde_json::Value) -> ResourceSlice {
        serde_json::from_value(json!({
            "metadata": {"name": format!("gpu-node-0-{driver}")},
            "spec": {"driver": driver, "nodeName": "gpu-node-0", "pool": {"name": "gpu-node-0", "generation": 1,
                "resourceSliceCount": 1}, "devices": devices}
        }))
        .unwrap()
    }

    fn dranet() -> ResourceSlice {
        slice(
            "dra.net",
            json!([{"name": "nic-1", "attributes": {
                "dra.net/ifName": {"string": "ens9f0np0"}, "dra.net/mac": {"string": "02:AB:CD:EF:01:02"},
                "dra.net/rdma": {"bool": true}, "dra.net/mtu": {"int": 9000},
                "resource.kubernetes.io/pcieRoot": {"string": "pci0000:10"}}}]),
        )
    }

    #[test]
    fn finds_nics_by_driver_or_by_what_devices_say_and_never_a_gpu() {
        let gpu = slice("gpu.nvidia.com", json!([{"name": "gpu-0", "attributes": {"uuid": {"string": "GPU-1"}}}]));
        let other = slice(
            "nic.example.com",
            json!([{"name": "eth4", "attributes": {"example.com/kind": {"string": "network"}}}]),
        );
        let found = network_devices(&[gpu, dranet(), other]);
        let names: Vec<&str> = found.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["nic-1", "eth4"]);
        assert_eq!(found[0].attribute("ifName"), Some("ens9f0np0"));
        assert_eq!(found[0].attribute("pcieRoot"), Some("pci0000:10"));
        assert_eq!(
            found[0].describe(),
            "gpu-node-0/nic-1 (dra.net) ifName=ens9f0np0 mac=02:AB:CD:EF:01:02 rdma=true mtu=9000 pcieRoot=pci0000:10"
        );
    }

    #[test]
    fn a_probe_log_counts_only_with_its_end_marker() {
        let log = "KAIC-NETDEV eth0 0a:58:0a:96:00:05\nKAIC-NETDEV lo 00:00:00:00:00:00\n";
        assert_eq!(parse_probe(log), None);
        let ended = parse_probe(&format!("{log}KAIC-NETDEV ens9f0np0 02:ab:cd:ef:01:02\nKAIC-END\n")).unwrap();
        assert_eq!(ended.len(), 3);
        let nic = &network_devices(&[dranet()])[0];
        assert_eq!(sees(&ended, nic).as_deref(), Some("ens9f0np0 02:ab:cd:ef:01:02"));
        let renamed = parse_probe("KAIC-NETDEV net1 02:AB:CD:EF:01:02\nKAIC-END").unwrap();
        assert_eq!(sees(&renamed, nic).as_deref(), Some("net1 02:ab:cd:ef:01:02"));
        assert_eq!(sees(&parse_probe(&format!("{log}KAIC-END")).unwrap(), nic), None);
    }
}
