//! Security checks: accelerator isolation between pods and containers; workloads sandboxed from the node
//! (the sandbox probe and the Agent Sandbox API as its parts).

pub mod accelerator_rules;
pub mod agent_sandbox;
pub mod runtime_classes;
pub mod sandbox_probe;
pub mod secure_accelerator_access;
pub mod workload_sandboxing;
