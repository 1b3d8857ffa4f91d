//! kaic's engine: how to reach a cluster, what to learn about it before checking, the [`Check`] trait,
//! one module per requirement area, and the runner that executes checks with timeouts and cleanup.
//!
//! Flow (as in cargo-nextest: runner → events → reporters): [`cluster::connect`] →
//! [`preflight::run`] → [`runner::Runner::run`] emitting [`runner::RunEvent`]s → the binary's reporters.

pub mod accelerators;
pub mod autoscaling;
pub mod capability;
pub mod capacity;
pub mod check;
pub mod cleanup;
pub mod cluster;
pub mod images;
pub mod inference;
pub mod labels;
pub mod list;
pub mod networking;
pub mod observability;
pub mod operators;
pub mod pods;
pub mod preflight;
pub mod rbac;
pub mod runner;
pub mod scheduling;
pub mod security;
pub mod timeouts;
pub mod wait;

pub use capability::{Capabilities, Capability};
pub use check::{Check, CheckContext, CheckError, CheckOptions};

/// Every check kaic knows, in catalogue order. The runner selects those whose requirements are in the
/// chosen catalogue version.
pub fn all_checks() -> Vec<Box<dyn Check>> {
    vec![
        Box::new(accelerators::dra_support::DraSupport),
        Box::new(accelerators::driver_runtime::DriverRuntimeManagement),
        Box::new(accelerators::gpu_sharing::GpuSharing),
        Box::new(accelerators::virtualized::VirtualizedAccelerator),
        Box::new(scheduling::gang_scheduling::GangScheduling),
        Box::new(security::secure_accelerator_access::SecureAcceleratorAccess),
        Box::new(security::workload_sandboxing::WorkloadSandboxing),
        Box::new(operators::robust_controller::RobustController),
        Box::new(observability::accelerator_metrics::AcceleratorMetrics),
        Box::new(observability::ai_service_metrics::AiServiceMetrics),
        Box::new(autoscaling::pod_autoscaling::PodAutoscaling),
        Box::new(autoscaling::cluster_autoscaling::ClusterAutoscaling),
        Box::new(inference::ai_inference::AiInference),
        Box::new(inference::advanced_inference_ingress::AdvancedInferenceIngress),
        Box::new(inference::disaggregated_inference::DisaggregatedInference),
        Box::new(networking::high_performance_networking::HighPerformanceNetworking),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use kaic_model::catalogue::all_ids;

    #[test]
    fn every_checks_budget_covers_the_waits_it_makes() {
        for check in all_checks() {
            let waits = timeouts::sum(check.waits());
            assert!(!check.waits().is_empty(), "{} declares no waits: list them for its budget", check.id());
            assert!(
                check.timeout() >= waits,
                "{}: budget {}s is less than its waits, {}s ({:?})",
                check.id(),
                check.timeout().as_secs(),
                waits.as_secs(),
                check.waits()
            );
        }
    }

    #[test]
    fn check_ids_are_unique_and_prove_known_requirements() {
        let checks = all_checks();
        let mut ids: Vec<_> = checks.iter().map(|c| c.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), checks.len(), "two checks share an id");
        for check in &checks {
            assert!(!check.requirements().is_empty(), "{} proves no requirement", check.id());
            for requirement in check.requirements() {
                assert!(
                    all_ids().any(|id| id == *requirement),
                    "{} names unknown requirement {requirement}",
                    check.id()
                );
            }
        }
    }
}
