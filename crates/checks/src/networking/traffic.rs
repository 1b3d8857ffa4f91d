//! Bytes between two pods over the NICs they claimed, for `high_performance_networking`.
//!
//! The pod that claimed a NIC first serves a blob over HTTP (busybox `httpd`) once it has listed its
//! interfaces. kaic then picks a free NIC on the same network for a second pod (on another node first): in
//! the server NIC's IPv4 subnet where both publish `ipv4` (DRANET does), else with the same interface name
//! (a cluster's rails are named alike on every node). The second pod fetches the blob from the server NIC's
//! address and prints every interface's received bytes before and after: the blob must arrive over its NIC.
//!
//! Verdicts (see [`judge`]): a claimed NIC without a link fails (nothing can cross it); a fetch that works
//! but whose bytes arrive over another interface fails; a fetch refused or timed out with both links up is
//! unknown, since a firewall on that network may drop it by design; a NIC without an IPv4 address (an
//! RDMA-only fabric kaic cannot exercise with TCP) or no free NIC on the same network is said, not judged.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod};
use kaic_model::Verdict;
use kube::Api;

use super::alignment::DeviceId;
use super::high_performance_networking::{allocated_device, create_probe};
use super::nics::{self, Interface, LISTING, NetDevice, SCRIPT};
use crate::accelerators::probe;
use crate::check::{CheckContext, CheckError};
use crate::timeouts::Wait;

/// The port the serving pod listens on.
pub const PORT: u16 = 5201;
/// The blob's size: large enough that no chatter on an interface could account for it.
pub const BLOB_BYTES: u64 = 4 << 20;
/// Where the serving pod writes its blob (an emptyDir).
pub const SCRATCH: &str = "/scratch";

/// How every probe ends: asleep until kaic deletes it, so that the claim of its pod (deleted with a finished
/// pod) can be read and its NIC stays held while the check goes on.
const HOLD: &str = "exec sleep 3600";

/// What a network probe pod does after listing its interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role<'a> {
    /// List, then hold.
    List,
    /// List, end the listing, then serve the blob until deleted.
    Serve,
    /// List, fetch the blob from this IPv4 address, say the bytes each interface received, end, hold.
    Fetch(&'a str),
}

impl Role<'_> {
    /// The container's `sh -c` script.
    pub fn script(&self) -> String {
        match self {
            Role::List => format!("{SCRIPT}; {HOLD}"),
            Role::Serve => format!(
                "{SCRIPT}; mkdir -p {SCRATCH}/www && head -c {BLOB_BYTES} /dev/zero > {SCRATCH}/www/blob && \
                 exec httpd -f -p {PORT} -h {SCRATCH}/www"
            ),
            // Up to five tries a second apart: the server may have printed its listing a moment before httpd
            // listens. `timeout`, not wget's -T, which crashes Debian's busybox 1.35.
            Role::Fetch(address) => format!(
                "{LISTING}; rx() {{ for i in /sys/class/net/*; do echo \"KAIC-RX $1 $(basename \"$i\") \
                 $(cat \"$i/statistics/rx_bytes\" 2>/dev/null || echo 0)\"; done; }}; rx before; ok=1; \
                 for t in 1 2 3 4 5; do if out=$(timeout 20 wget -q -O /dev/null http://{address}:{PORT}/blob 2>&1); \
                 then ok=0; break; fi; sleep 1; done; echo \"KAIC-FETCH $ok $(echo $out)\"; rx after; echo KAIC-END; {HOLD}"
            ),
        }
    }
}

/// What the fetching pod printed after its listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetch {
    /// Whether wget got the whole blob.
    pub ok: bool,
    /// wget's last words when it did not.
    pub message: String,
    /// Bytes each interface received before and after the fetch.
    pub before: BTreeMap<String, u64>,
    pub after: BTreeMap<String, u64>,
}

impl Fetch {
    /// Bytes `interface` received during the fetch.
    pub fn received(&self, interface: &str) -> u64 {
        let at = |m: &BTreeMap<String, u64>| m.get(interface).copied().unwrap_or(0);
        at(&self.after).saturating_sub(at(&self.before))
    }
}

/// The fetch the log reports, or `None` when it has no `KAIC-FETCH` line.
pub fn parse_fetch(log: &str) -> Option<Fetch> {
    let mut fetch = Fetch::default();
    let mut seen = false;
    for line in log.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("KAIC-FETCH ") {
            let (code, message) = rest.split_once(' ').unwrap_or((rest, ""));
            fetch.ok = code == "0";
            fetch.message = message.trim().to_string();
            seen = true;
        } else if let Some(rest) = line.strip_prefix("KAIC-RX ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            if let [when, name, bytes] = words[..]
                && let Ok(bytes) = bytes.parse()
            {
                let map = if when == "before" { &mut fetch.before } else { &mut fetch.after };
                map.insert(name.to_string(), bytes);
            }
        }
    }
    seen.then_some(fetch)
}

/// A CIDR's network and prefix length.
fn network(cidr: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = cidr.trim().split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Some((Ipv4Addr::from(u32::from(ip) & mask), len))
}

/// Whether two lists of CIDRs share a subnet.
pub fn same_subnet(a: &[String], b: &[String]) -> bool {
    a.iter().filter_map(|c| network(c)).any(|n| b.iter().filter_map(|c| network(c)).any(|m| m == n))
}

/// The CIDRs a device publishes in its `ipv4` attribute (DRANET joins several with commas).
fn published_ipv4(device: &NetDevice) -> Vec<String> {
    device.attribute("ipv4").map(|v| v.split(',').map(|c| c.trim().to_string()).collect()).unwrap_or_default()
}

/// The free NIC a second pod should claim to reach `server` over one network, on another node `usable`
/// accepts before `server`'s own: in its subnet where both publish `ipv4`, else with its interface name.
pub fn peer_for<'a>(
    server: &NetDevice,
    devices: &'a [NetDevice],
    taken: &BTreeSet<DeviceId>,
    usable: impl Fn(&str) -> bool,
) -> Option<&'a NetDevice> {
    let server_ipv4 = published_ipv4(server);
    let same_network = |d: &NetDevice| {
        let ipv4 = published_ipv4(d);
        if !server_ipv4.is_empty() && !ipv4.is_empty() {
            same_subnet(&server_ipv4, &ipv4)
        } else {
            server.attribute("ifName").is_some() && d.attribute("ifName") == server.attribute("ifName")
        }
    };
    let candidates = devices.iter().filter(|d| {
        *d != server
            && d.driver == server.driver
            && !taken.contains(&(d.driver.clone(), d.pool.clone(), d.name.clone()))
            && d.node.as_deref().is_some_and(&usable)
            && same_network(d)
    });
    let mut candidates: Vec<&NetDevice> = candidates.collect();
    candidates.sort_by_key(|d| d.node == server.node);
    candidates.into_iter().next()
}

/// A CEL selector for exactly `device`: its MAC where published (unique), else its interface name (the
/// pod is pinned to its node).
pub fn selector(device: &NetDevice) -> Option<String> {
    ["mac", "ifName"].into_iter().find_map(|short| {
        let (key, value) =
            device.attributes.iter().find(|(key, _)| key.as_str() == short || key.rsplit('/').next() == Some(short))?;
        let domain = key.rsplit_once('/').map_or(device.driver.as_str(), |(domain, _)| domain);
        Some(format!("device.attributes[\"{domain}\"].{short} == \"{value}\""))
    })
}

/// How the fetch over the NICs went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The blob crossed the client's NIC: what to say.
    Crossed(String),
    /// The platform may refuse it by design: what a human must check.
    Unknown(String),
    /// The platform failed: expected, seen.
    Fail(String, String),
}

/// A claimed NIC without a link, said as a failure: nothing can cross it.
pub fn no_link(pod: &str, name: &str, interface: &Interface) -> Option<Outcome> {
    (interface.carrier == Some(false)).then(|| {
        Outcome::Fail(
            format!("the NIC pod {pod} claimed has a link, so that data can cross it"),
            format!("{name} {} has no carrier", interface.mac),
        )
    })
}

/// Judges a fetch by `client` (its NIC `client_nic`) from `server_address` over the server's NIC.
pub fn judge(client: &str, client_nic: (&str, &Interface), server_address: &str, fetch: &Fetch) -> Outcome {
    let (name, nic) = client_nic;
    if let Some(outcome) = no_link(client, name, nic) {
        return outcome;
    }
    if !fetch.ok {
        return Outcome::Unknown(format!(
            "pod {client} could not fetch {BLOB_BYTES} bytes from {server_address}:{PORT} over its NIC {name} \
             though both NICs have a link ({}): a firewall on that network may drop it; allow TCP {PORT} between \
             the NICs, or verify by hand that two pods exchange data over them",
            if fetch.message.is_empty() { "wget said nothing" } else { fetch.message.as_str() }
        ));
    }
    let over_nic = fetch.received(name);
    let others: Vec<String> = fetch
        .after
        .keys()
        .filter(|other| other.as_str() != name && fetch.received(other) > 0)
        .map(|other| format!("{other} +{}", fetch.received(other)))
        .collect();
    let others = if others.is_empty() { "nothing elsewhere".to_string() } else { others.join(", ") };
    if over_nic < BLOB_BYTES {
        return Outcome::Fail(
            format!("the {BLOB_BYTES} bytes pod {client} fetched from {server_address} arrive over its NIC {name}"),
            format!("{name} received {over_nic} bytes; {others}"),
        );
    }
    Outcome::Crossed(format!(
        "pod {client} fetched {BLOB_BYTES} bytes from {server_address} over its NIC {name} ({over_nic} bytes \
         received there; {others})"
    ))
}

/// Runs the exchange from the serving pod `server` (its NIC `server_nic`, listed in it as `server_if`) to a
/// second pod; `Ok(text)` for the evidence when it crossed or was not judged, `Err(verdict)` when it decides
/// the check. Adds the second pod's NIC to `taken`.
#[allow(clippy::too_many_arguments)]
pub async fn exercise(
    ctx: &CheckContext,
    server: &str,
    server_nic: &NetDevice,
    server_if: (&str, &Interface),
    devices: &[NetDevice],
    taken: &mut BTreeSet<DeviceId>,
    nodes: &[Node],
    class: &str,
) -> Result<Result<String, Verdict>, CheckError> {
    let (server_if, server_interface) = server_if;
    if let Some(Outcome::Fail(expected, seen)) = no_link(server, server_if, server_interface) {
        return Ok(Err(Verdict::fail("a claimed NIC has no link", expected, seen)));
    }
    let Some(address) = server_interface.ipv4.first().and_then(|c| c.split('/').next()).map(str::to_string) else {
        return Ok(Ok(format!(
            "pod-to-pod traffic not exercised: {server_if} has no IPv4 address in pod {server} (an RDMA-only \
             fabric is beyond a TCP probe)"
        )));
    };
    let usable = |name: &str| super::alignment::usable(nodes, name);
    let Some(peer) = peer_for(server_nic, devices, taken, usable) else {
        return Ok(Ok(format!(
            "pod-to-pod traffic not exercised: no free NIC on {server_if}'s network on a node kaic may use"
        )));
    };
    let Some(selection) = selector(peer) else {
        return Ok(Ok(format!("pod-to-pod traffic not exercised: {} names neither a MAC nor an interface", peer.name)));
    };
    probe::claim_template_where(ctx, "nic-peer", class, 1, Some(&selection)).await?;
    let node = nodes.iter().find(|n| n.metadata.name == peer.node).ok_or_else(|| {
        CheckError::Other(format!(
            "node {} of {} is no longer listed",
            peer.node.clone().unwrap_or_default(),
            peer.name
        ))
    })?;
    ctx.step(format!(
        "pod nic-client claims {} and fetches {BLOB_BYTES} bytes from {address} ({server_if} of pod {server})",
        peer.describe()
    ));
    let client = create_probe(ctx, "nic-client", node, Some("nic-peer"), Role::Fetch(&address)).await?;
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let deadline = Instant::now() + ctx.wait(Wait::ProbePod);
    let log = probe::read_probe_log(&api, &client, "probe", deadline)
        .await
        .map_err(|last| CheckError::Other(format!("probe pod {client} never finished its fetch: {last}")))?;
    ctx.record(|e| e.log(client.clone(), log.clone()));
    let allocated = allocated_device(ctx, &client, devices).await?;
    taken.insert((allocated.driver.clone(), allocated.pool.clone(), allocated.name.clone()));
    let seen = nics::parse_probe(&log).unwrap_or_default();
    let Some((client_if, client_interface)) = nics::find(&seen, &allocated) else {
        return Ok(Err(Verdict::fail(
            "a pod that was allocated a NIC does not see it",
            format!("pod {client} lists the interface of {}", allocated.describe()),
            format!("its interfaces: {}", nics::describe(&seen)),
        )));
    };
    if !same_subnet(&server_interface.ipv4, &client_interface.ipv4) {
        return Ok(Ok(format!(
            "pod-to-pod traffic not exercised: {client_if} of pod {client} ({}) is not on the network of {server_if} \
             ({})",
            client_interface.ipv4.join(" "),
            server_interface.ipv4.join(" ")
        )));
    }
    let fetch =
        parse_fetch(&log).ok_or_else(|| CheckError::Other(format!("probe pod {client} printed no KAIC-FETCH line")))?;
    Ok(match judge(&client, (client_if, client_interface), &address, &fetch) {
        Outcome::Crossed(text) => Ok(text),
        Outcome::Unknown(text) => Err(Verdict::unknown(text)),
        Outcome::Fail(expected, seen) => Err(Verdict::fail("data does not cross the claimed NICs", expected, seen)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(node: &str, name: &str, attributes: &[(&str, &str)]) -> NetDevice {
        NetDevice {
            driver: "dra.net".into(),
            pool: node.into(),
            name: name.into(),
            node: Some(node.into()),
            attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn subnets_compare_by_network_and_prefix() {
        let v = |s: &str| vec![s.to_string()];
        assert!(same_subnet(&v("172.24.3.9/16"), &v("172.24.200.1/16")));
        assert!(!same_subnet(&v("172.24.3.9/16"), &v("172.25.3.9/16")));
        assert!(!same_subnet(&v("172.24.3.9/16"), &v("172.24.3.10/24")));
        assert!(!same_subnet(&v("not an address"), &v("172.24.3.10/16")));
        assert!(same_subnet(&["10.0.0.1/8".into(), "172.24.0.1/16".into()], &v("172.24.9.9/16")));
    }

    #[test]
    fn the_peer_is_a_free_nic_of_the_same_network_on_another_node_first() {
        let server = nic("a", "nic-0", &[("dra.net/ifName", "ens8"), ("dra.net/ipv4", "172.24.0.1/16")]);
        let same_node = nic("a", "nic-2", &[("dra.net/ifName", "ens10"), ("dra.net/ipv4", "172.24.0.2/16")]);
        let other_rail = nic("b", "nic-1", &[("dra.net/ifName", "ens9"), ("dra.net/ipv4", "172.25.0.3/16")]);
        let peer = nic("b", "nic-0", &[("dra.net/ifName", "ens8"), ("dra.net/ipv4", "172.24.0.3/16")]);
        let devices = vec![server.clone(), same_node.clone(), other_rail, peer.clone()];
        let none = BTreeSet::new();
        assert_eq!(peer_for(&server, &devices, &none, |_| true), Some(&peer));
        let taken: BTreeSet<DeviceId> = [("dra.net".into(), "b".into(), "nic-0".into())].into();
        assert_eq!(peer_for(&server, &devices, &taken, |_| true), Some(&same_node));
        assert_eq!(peer_for(&server, &devices, &none, |n| n == "a"), Some(&same_node));
        assert_eq!(peer_for(&server, &devices, &taken, |n| n == "b"), None);
        // Without addresses, the rail's interface name decides.
        let bare = |node: &str, ifname: &str| nic(node, "nic-0", &[("dra.net/ifName", ifname)]);
        let devices = vec![bare("a", "ens8"), bare("b", "ens9"), bare("c", "ens8")];
        assert_eq!(peer_for(&devices[0], &devices, &none, |_| true), Some(&devices[2]));
    }

    #[test]
    fn the_peer_is_selected_by_its_mac_else_its_interface_name() {
        let with_mac = nic("b", "nic-0", &[("dra.net/ifName", "ens8"), ("dra.net/mac", "02:aa:bb:cc:dd:ee")]);
        assert_eq!(selector(&with_mac).as_deref(), Some("device.attributes[\"dra.net\"].mac == \"02:aa:bb:cc:dd:ee\""));
        let bare = nic("b", "vf-3", &[("ifName", "enp1s0v3")]);
        assert_eq!(selector(&bare).as_deref(), Some("device.attributes[\"dra.net\"].ifName == \"enp1s0v3\""));
        assert_eq!(selector(&nic("b", "x", &[])), None);
    }

    fn fetched(ok: bool, nic_rx: (u64, u64), eth0_rx: (u64, u64)) -> Fetch {
        let log = format!(
            "KAIC-RX before ens8 {}\nKAIC-RX before eth0 {}\nKAIC-FETCH {} wget: can't connect to remote host: \
             Connection timed out\nKAIC-RX after ens8 {}\nKAIC-RX after eth0 {}\nKAIC-END",
            nic_rx.0,
            eth0_rx.0,
            if ok { 0 } else { 1 },
            nic_rx.1,
            eth0_rx.1
        );
        parse_fetch(&log).unwrap()
    }

    #[test]
    fn a_fetch_counts_only_when_its_bytes_arrive_over_the_nic() {
        let up = Interface { mac: "02:aa".into(), carrier: Some(true), ipv4: vec!["172.24.0.3/16".into()] };
        let crossed = judge("c", ("ens8", &up), "172.24.0.1", &fetched(true, (100, 100 + BLOB_BYTES + 900), (5, 90)));
        assert!(matches!(&crossed, Outcome::Crossed(t) if t.contains("eth0 +85")), "{crossed:?}");
        let elsewhere = judge("c", ("ens8", &up), "172.24.0.1", &fetched(true, (100, 400), (0, BLOB_BYTES + 700)));
        assert!(
            matches!(&elsewhere, Outcome::Fail(_, seen) if seen.starts_with("ens8 received 300 bytes")),
            "{elsewhere:?}"
        );
        let refused = judge("c", ("ens8", &up), "172.24.0.1", &fetched(false, (100, 100), (0, 0)));
        assert!(matches!(&refused, Outcome::Unknown(t) if t.contains("Connection timed out")), "{refused:?}");
        let down = Interface { carrier: Some(false), ..up.clone() };
        let no_link = judge("c", ("ens8", &down), "172.24.0.1", &fetched(false, (0, 0), (0, 0)));
        assert!(matches!(&no_link, Outcome::Fail(_, seen) if seen.contains("no carrier")), "{no_link:?}");
        assert_eq!(parse_fetch("KAIC-RX before ens8 1\nKAIC-END"), None);
    }

    #[test]
    fn each_role_runs_its_own_script() {
        assert_eq!(Role::List.script(), format!("{SCRIPT}; exec sleep 3600"));
        let serve = Role::Serve.script();
        assert!(serve.starts_with(SCRIPT) && serve.contains(&format!("httpd -f -p {PORT} -h {SCRATCH}/www")));
        let fetch = Role::Fetch("172.24.0.1").script();
        assert!(fetch.starts_with(LISTING) && !fetch.starts_with(SCRIPT));
        assert!(fetch.contains("http://172.24.0.1:5201/blob") && fetch.ends_with("echo KAIC-END; exec sleep 3600"));
    }
}
