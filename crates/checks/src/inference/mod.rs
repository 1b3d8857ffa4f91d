//! Networking area, inference: `ai_inference` ([`ai_inference`]): the Gateway API routes inference traffic by
//! weight and by header; `advanced_inference_ingress` ([`advanced_inference_ingress`]): a gateway routes to an
//! InferencePool where its endpoint picker decides (and decides by load: [`scored_pool`]); both proven with real
//! requests. [`gateway`] holds the Gateway API objects and their status, [`address`] where a Gateway's address leads
//! (a load balancer's port and wait), [`pool`] the Inference Extension's,
//! [`traffic`] and [`pool_traffic`] the two ways kaic sends each check's requests, [`http`] the minimal client of
//! the direct way, [`stats`] the judgements. `disaggregated_inference` ([`disaggregated_inference`]): a request
//! traced through separate prefill and decode pods, each phase scaled on its own; [`pd`] holds kaic's
//! llm-d-shaped pair.

use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, ListParams};

use crate::check::{CheckContext, CheckError};

pub mod address;
pub mod advanced_inference_ingress;
pub mod ai_inference;
pub mod disaggregated_inference;
pub mod gateway;
pub mod http;
pub mod pd;
pub mod pool;
pub mod pool_traffic;
pub mod scored_pool;
pub mod stats;
pub mod traffic;

/// What, beside the pod network, may keep kaic's pods from talking to each other: NetworkPolicies in the check's
/// namespace (kaic never creates one: a platform's default deny) and a served cluster-wide policy API (Calico,
/// Cilium, AdminNetworkPolicy), whose policies apply there too. Empty: nothing but the network itself.
///
/// # Errors
/// [`CheckError::Api`] when the namespace's NetworkPolicies cannot be listed.
pub async fn network_policy_suspects(ctx: &CheckContext) -> Result<Vec<String>, CheckError> {
    let policies: Api<NetworkPolicy> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let policies = crate::list::all(&policies, ListParams::default())
        .await
        .map_err(|e| CheckError::api("list NetworkPolicies in kaic's namespace", e))?;
    let names: Vec<String> = policies.into_iter().filter_map(|p| p.metadata.name).collect();
    Ok(suspects(&names, ctx.capabilities.has(crate::capability::Capability::ClusterNetworkPolicy)))
}

/// The suspects in words, from the namespace's policies and whether a cluster-wide policy API is served.
fn suspects(namespace_policies: &[String], cluster_wide_api: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !namespace_policies.is_empty() {
        out.push(format!(
            "NetworkPolicies kaic did not create apply in its namespace ({})",
            namespace_policies.join(", ")
        ));
    }
    if cluster_wide_api {
        out.push(
            "a cluster-wide network policy API is served (Calico GlobalNetworkPolicy, Cilium clusterwide policies or \
             AdminNetworkPolicy), whose policies apply to kaic's namespace too"
                .into(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_policies_and_cluster_wide_policy_apis_are_suspects() {
        assert!(suspects(&[], false).is_empty());
        assert_eq!(
            suspects(&["default-deny".into()], false),
            vec!["NetworkPolicies kaic did not create apply in its namespace (default-deny)".to_string()]
        );
        let both = suspects(&["a".into()], true);
        assert_eq!(both.len(), 2);
        assert!(both[1].contains("AdminNetworkPolicy"), "{both:?}");
    }
}
