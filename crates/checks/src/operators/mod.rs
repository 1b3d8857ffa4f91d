//! Operators area: `robust_controller` ([`robust_controller`]), with one module per operator kaic exercises
//! ([`kueue`]).

pub mod kueue;
pub mod robust_controller;
