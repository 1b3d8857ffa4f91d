//! Networking area: `ai_inference` ([`ai_inference`]): the Gateway API routes inference traffic by weight and by
//! header, proven with real requests. [`gateway`] holds the Gateway API objects and their status, [`traffic`]
//! the two ways kaic sends requests, [`http`] the minimal client of the direct way, [`stats`] the judgements.

pub mod ai_inference;
pub mod gateway;
pub mod http;
pub mod stats;
pub mod traffic;
