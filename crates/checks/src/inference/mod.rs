//! Networking area, inference: `ai_inference` ([`ai_inference`]): the Gateway API routes inference traffic by
//! weight and by header; `advanced_inference_ingress` ([`advanced_inference_ingress`]): a gateway routes to an
//! InferencePool where its endpoint picker decides; both proven with real requests. [`gateway`] holds the Gateway
//! API objects and their status, [`pool`] the Inference Extension's, [`traffic`] and [`pool_traffic`] the two
//! ways kaic sends each check's requests, [`http`] the minimal client of the direct way, [`stats`] the judgements.
//! `disaggregated_inference` ([`disaggregated_inference`]): a request traced through separate prefill and decode
//! pods, each phase scaled on its own; [`pd`] holds kaic's llm-d-shaped pair.

pub mod advanced_inference_ingress;
pub mod ai_inference;
pub mod disaggregated_inference;
pub mod gateway;
pub mod http;
pub mod pd;
pub mod pool;
pub mod pool_traffic;
pub mod stats;
pub mod traffic;
