//! kaic's certification tools: everything between a kaic run and a submission a reviewer accepts.
//!
//! - [`fill`]: the official checklist template + the run's `kaic-results.json` + the vendor's
//!   [`platform_info`] → `PRODUCT.yaml`, edited in place so comments, order and the official texts stay.
//! - [`render`]: `PRODUCT.yaml` → `PRODUCT.md` for people.
//! - [`validate`]: checks a submission as a careful reviewer would (and more strictly than the
//!   program's own validator), offline, and with [`online`] also whether its links answer.
//! - [`fetch`]: downloads an official template from the program's public repository.
//! - [`cli`]: the command-line entry points the `kaic` binary wires to its subcommands.
//!
//! Depends on `kaic-model` only among kaic's crates: no cluster access here.

pub mod checklist;
pub mod cli;
pub mod fetch;
pub mod fill;
pub mod http;
pub mod online;
pub mod platform_info;
pub mod render;
pub mod run_evidence;
pub mod source;
pub mod synthetic;
pub mod validate;
