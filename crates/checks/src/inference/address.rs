//! Where a Gateway's address leads, and so how kaic reaches it and how long it waits for it to serve.
//!
//! On testenv (and with many in-cluster data planes) the address in `status.addresses` is the proxy pod's own:
//! the listener's port is the port to dial, and the route serves a moment after it is Accepted. On a cloud the
//! address is a LoadBalancer Service's (or a hostname such as an NLB's DNS name): the Service's port may differ
//! from the listener's (Traefik's Helm chart exposes 80 → entrypoint 8000), and the load balancer serves only
//! minutes after the Gateway is Programmed (targets registered, health checks passing, DNS resolving). So kaic
//! dials the Service port that forwards to the listener, and waits [`Wait::LoadBalancerServing`] there.

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};

use crate::check::{CheckContext, CheckError};
use crate::timeouts::Wait;

/// A Gateway address as kaic will dial it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` to send to (the Service's port where a LoadBalancer Service owns the address).
    pub address: String,
    /// How long to wait for it to answer 200: [`Wait::RouteServing`] for a pod, [`Wait::LoadBalancerServing`] for
    /// a load balancer.
    pub serving: Wait,
    /// What serves it, in words, for the steps and the evidence.
    pub described: String,
}

/// `host:port` (`[v6]:port` for IPv6) → (host, port).
pub fn split(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    Some((host.trim_start_matches('[').trim_end_matches(']'), port.parse().ok()?))
}

fn join(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Whether `host` is a name rather than an IP address (an NLB's or a cloud L7's DNS name).
fn is_hostname(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_err()
}

/// Where `address` (`host:listener-port` from the Gateway's status) leads, among `services`: a LoadBalancer
/// Service whose ingress names the host decides the port (the one whose target port is the listener's, else
/// the one numbered like it, else its only port) and a load balancer's wait; a hostname alone is a load
/// balancer too; anything else is dialled as it is with the route's wait.
pub fn resolve(address: &str, services: &[Service]) -> Target {
    let Some((host, listener)) = split(address) else {
        return Target { address: address.to_string(), serving: Wait::RouteServing, described: "as given".into() };
    };
    let owner = services.iter().find(|s| {
        s.spec.as_ref().and_then(|spec| spec.type_.as_deref()) == Some("LoadBalancer")
            && s.status
                .as_ref()
                .and_then(|st| st.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .is_some_and(|ingress| {
                    ingress.iter().any(|i| i.ip.as_deref() == Some(host) || i.hostname.as_deref() == Some(host))
                })
    });
    if let Some(service) = owner {
        let ports = service.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
        let targets_listener = |p: &&k8s_openapi::api::core::v1::ServicePort| match &p.target_port {
            Some(IntOrString::Int(t)) => *t == i32::from(listener),
            // A named target port: the container's port of that name; kaic cannot see it without the pods, so
            // only a port numbered like the listener matches below.
            Some(IntOrString::String(_)) => false,
            None => p.port == i32::from(listener),
        };
        let chosen = ports
            .iter()
            .find(targets_listener)
            .or_else(|| ports.iter().find(|p| p.port == i32::from(listener)))
            .or_else(|| if ports.len() == 1 { ports.first() } else { None });
        let name = format!(
            "{}/{}",
            service.metadata.namespace.as_deref().unwrap_or_default(),
            service.metadata.name.as_deref().unwrap_or_default()
        );
        return match chosen.and_then(|p| u16::try_from(p.port).ok()) {
            Some(port) => Target {
                address: join(host, port),
                serving: Wait::LoadBalancerServing,
                described: format!("LoadBalancer Service {name}, port {port} for listener port {listener}"),
            },
            None => Target {
                address: address.to_string(),
                serving: Wait::LoadBalancerServing,
                described: format!(
                    "LoadBalancer Service {name}, none of whose ports forwards to listener port {listener}"
                ),
            },
        };
    }
    if is_hostname(host) {
        return Target {
            address: address.to_string(),
            serving: Wait::LoadBalancerServing,
            described: format!("hostname {host}, served by a load balancer"),
        };
    }
    Target {
        address: address.to_string(),
        serving: Wait::RouteServing,
        described: "the data plane's own address".into(),
    }
}

/// Resolves every address against the cluster's Services (one list, across namespaces: a gateway's Service lives
/// in the gateway's or its controller's namespace).
///
/// # Errors
/// [`CheckError::Api`] when Services cannot be listed.
pub async fn resolve_all(ctx: &CheckContext, addresses: &[String]) -> Result<Vec<Target>, CheckError> {
    let api: Api<Service> = Api::all(ctx.client.clone());
    let services = crate::list::all(&api, ListParams::default())
        .await
        .map_err(|e| CheckError::api("list Services to find what serves the Gateway's address", e))?;
    // `resolve` itself keeps only LoadBalancer Services.
    Ok(addresses.iter().map(|a| resolve(a, &services)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lb(name: &str, ingress: serde_json::Value, ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "traefik"},
            "spec": {"type": "LoadBalancer", "ports": ports},
            "status": {"loadBalancer": {"ingress": ingress}}
        }))
        .unwrap()
    }

    #[test]
    fn a_pod_address_is_dialled_as_given_with_the_routes_wait() {
        let target = resolve("10.150.0.7:8000", &[]);
        assert_eq!(target.address, "10.150.0.7:8000");
        assert_eq!(target.serving, Wait::RouteServing);
        assert_eq!(resolve("[fd00::7]:80", &[]).address, "[fd00::7]:80");
    }

    #[test]
    fn a_load_balancer_service_decides_the_port_and_the_wait() {
        // Traefik's Helm chart: LoadBalancer port 80 → entrypoint web 8000 (the listener's port).
        let traefik = lb(
            "traefik",
            json!([{"ip": "34.1.2.3"}]),
            json!([{"name": "web", "port": 80, "targetPort": 8000}, {"name": "websecure", "port": 443, "targetPort": 8443}]),
        );
        let target = resolve("34.1.2.3:8000", std::slice::from_ref(&traefik));
        assert_eq!(target.address, "34.1.2.3:80");
        assert_eq!(target.serving, Wait::LoadBalancerServing);
        assert_eq!(target.described, "LoadBalancer Service traefik/traefik, port 80 for listener port 8000");
        // Envoy Gateway: the Service port is the listener's, its target the proxy's high port.
        let envoy =
            lb("envoy-gw", json!([{"hostname": "abc.elb.amazonaws.com"}]), json!([{"port": 80, "targetPort": 10080}]));
        let target = resolve("abc.elb.amazonaws.com:80", &[envoy]);
        assert_eq!((target.address.as_str(), target.serving), ("abc.elb.amazonaws.com:80", Wait::LoadBalancerServing));
        // A Service that does not own the address changes nothing.
        assert_eq!(resolve("10.0.0.9:8000", &[traefik]).serving, Wait::RouteServing);
    }

    #[test]
    fn a_hostname_without_a_service_is_a_load_balancer() {
        let target = resolve("gw.example.com:80", &[]);
        assert_eq!(target.serving, Wait::LoadBalancerServing);
        assert_eq!(target.address, "gw.example.com:80");
    }
}
