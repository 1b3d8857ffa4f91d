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

/// The probe's listing: every entry of /sys/class/net with its MAC and carrier (0 when it has no link, or
/// is down), then the IPv4 addresses `ip` lists (none where the image has no `ip`).
macro_rules! listing {
    () => {
        "for i in /sys/class/net/*; do echo \"KAIC-NETDEV $(basename \"$i\") $(cat \"$i/address\" 2>/dev/null) \
         $(cat \"$i/carrier\" 2>/dev/null || echo 0)\"; done; ip -o -4 addr show 2>/dev/null | while read -r _ n _ a _; \
         do echo \"KAIC-NETADDR $n $a\"; done"
    };
}

/// [`SCRIPT`] without its end marker, for probes that go on after listing.
pub const LISTING: &str = listing!();

/// What the probe container runs: the listing, then an end marker (a truncated log is never read as "no
/// interface").
pub const SCRIPT: &str = concat!(listing!(), "; echo KAIC-END");

/// One interface a probe listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// Its MAC address, lower case.
    pub mac: String,
    /// Whether it has a link (`None`: the listing did not say, as an older probe's did not).
    pub carrier: Option<bool>,
    /// Its IPv4 addresses as CIDR (`172.24.0.5/16`).
    pub ipv4: Vec<String>,
}

/// The interfaces of one pod, by name.
pub type Interfaces = BTreeMap<String, Interface>;

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

/// The interfaces a probe container listed, or `None` when its log has no end marker.
pub fn parse_probe(log: &str) -> Option<Interfaces> {
    let mut interfaces = Interfaces::new();
    let mut ended = false;
    for line in log.lines().map(str::trim) {
        if line == "KAIC-END" {
            ended = true;
        } else if let Some(rest) = line.strip_prefix("KAIC-NETDEV ") {
            let mut words = rest.split_whitespace();
            if let Some(name) = words.next() {
                let entry = interfaces.entry(name.to_string()).or_default();
                entry.mac = words.next().unwrap_or_default().to_lowercase();
                entry.carrier = words.next().map(|c| c == "1");
            }
        } else if let Some(rest) = line.strip_prefix("KAIC-NETADDR ") {
            let mut words = rest.split_whitespace();
            if let (Some(name), Some(cidr)) = (words.next(), words.next()) {
                // `ip -o` may name a veth `eth0@if12`.
                let name = name.split('@').next().unwrap_or(name).trim_end_matches(':');
                interfaces.entry(name.to_string()).or_default().ipv4.push(cidr.to_string());
            }
        }
    }
    ended.then_some(interfaces)
}

/// The interface of `device` among `interfaces`: its interface name, or its MAC under another name (a runtime
/// may rename the interface inside the pod, as DRANET lets a claim do).
pub fn find<'a>(interfaces: &'a Interfaces, device: &NetDevice) -> Option<(&'a String, &'a Interface)> {
    if let Some(name) = device.attribute("ifName")
        && let Some(found) = interfaces.get_key_value(name)
    {
        return Some(found);
    }
    let mac = device.attribute("mac")?.to_lowercase();
    interfaces.iter().find(|(_, i)| i.mac == mac)
}

/// Whether `interfaces` include `device` (see [`find`]), said as "name MAC".
pub fn sees(interfaces: &Interfaces, device: &NetDevice) -> Option<String> {
    find(interfaces, device).map(|(name, i)| format!("{name} {}", i.mac))
}

/// The interfaces as the evidence lists them: name, MAC, "no link" where it has none, addresses.
pub fn describe(interfaces: &Interfaces) -> String {
    let each = interfaces.iter().map(|(name, i)| {
        let mut text = format!("{name} {}", i.mac);
        if i.carrier == Some(false) {
            text.push_str(" (no link)");
        }
        for cidr in &i.ipv4 {
            text.push_str(&format!(" {cidr}"));
        }
        text
    });
    each.collect::<Vec<_>>().join(", ")
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
        assert_eq!(ended["ens9f0np0"].carrier, None);
        assert_eq!(ended.len(), 3);
        let nic = &network_devices(&[dranet()])[0];
        assert_eq!(sees(&ended, nic).as_deref(), Some("ens9f0np0 02:ab:cd:ef:01:02"));
        let renamed = parse_probe("KAIC-NETDEV net1 02:AB:CD:EF:01:02\nKAIC-END").unwrap();
        assert_eq!(sees(&renamed, nic).as_deref(), Some("net1 02:ab:cd:ef:01:02"));
        assert_eq!(sees(&parse_probe(&format!("{log}KAIC-END")).unwrap(), nic), None);
    }

    #[test]
    fn a_probe_log_says_each_interfaces_link_and_addresses() {
        let log = "KAIC-NETDEV eth0 0a:58:0a:96:00:05 1\nKAIC-NETDEV ens8f0np0 02:AB:CD:EF:01:02 0\n\
                   KAIC-NETDEV lo 00:00:00:00:00:00 1\nKAIC-NETADDR lo 127.0.0.1/8\nKAIC-NETADDR eth0@if7 10.150.0.5/32\n\
                   KAIC-NETADDR ens8f0np0 172.24.3.9/16\nKAIC-END";
        let seen = parse_probe(log).unwrap();
        assert_eq!(
            seen["ens8f0np0"],
            Interface { mac: "02:ab:cd:ef:01:02".into(), carrier: Some(false), ipv4: vec!["172.24.3.9/16".into()] }
        );
        assert_eq!(seen["eth0"].ipv4, ["10.150.0.5/32"]);
        assert_eq!(seen.len(), 3);
        assert_eq!(
            describe(&seen),
            "ens8f0np0 02:ab:cd:ef:01:02 (no link) 172.24.3.9/16, eth0 0a:58:0a:96:00:05 10.150.0.5/32, lo \
             00:00:00:00:00:00 127.0.0.1/8"
        );
    }
}
