//! Security checks: accelerator isolation between pods and containers.

pub mod secure_accelerator_access;
