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

/// The names of the NetworkPolicies in the check's namespace, which kaic never creates: where pod-to-pod traffic
/// of kaic's own pods failed, such a policy (a platform's default deny) may be the cause rather than the network.
pub async fn foreign_network_policies(ctx: &CheckContext) -> Result<Vec<String>, CheckError> {
    let policies: Api<NetworkPolicy> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let policies = crate::list::all(&policies, ListParams::default())
        .await
        .map_err(|e| CheckError::api("list NetworkPolicies in kaic's namespace", e))?;
    Ok(policies.into_iter().filter_map(|p| p.metadata.name).collect())
}
