//! Operators area: `robust_controller` ([`robust_controller`]), with one module per operator kaic exercises
//! ([`kueue`], [`jobset`], [`lws`]).

pub mod jobset;
pub mod kueue;
pub mod lws;
pub mod robust_controller;
