//! Observability checks: per-accelerator metrics that follow real work (`accelerator_metrics`), and a
//! workload's metrics collected by the platform's monitoring system (`ai_service_metrics`); and the pieces
//! they share: endpoints reached directly or through the API server's proxy, and the exposition format.

pub mod accelerator_metrics;
pub mod ai_service_metrics;
pub mod coverage;
pub mod endpoint;
pub mod exporters;
pub mod exposition;
pub mod load;
pub mod model_server;
pub mod prometheus;
pub mod workload;
