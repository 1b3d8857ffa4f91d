//! Accelerator checks: DRA, driver and runtime versions, GPU sharing, virtualised accelerators.

pub mod dra_support;
