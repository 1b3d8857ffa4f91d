//! Networking requirements: `high_performance_networking` ([`high_performance_networking`]) over the
//! network devices DRA drivers publish ([`nics`]), with bytes between two pods over their NICs ([`traffic`])
//! and GPU–NIC alignment by PCIe root ([`alignment`]).

pub mod alignment;
pub mod high_performance_networking;
pub mod nics;
pub mod traffic;
