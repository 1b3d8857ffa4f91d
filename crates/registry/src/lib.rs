//! kaic's public registry of certified platforms (`kaic registry …`): which platforms are certified
//! for which conformance version, until when, and how each requirement is backed.
//!
//! - [`submit`]: the gate. A submission is accepted only if `kaic validate` accepts it (the same call);
//!   attached kaic results mark requirements *verified by kaic*, the rest are *self-attested*.
//! - [`import`]: `kaic registry add FILE` and `kaic registry import DIR` (the program's repository
//!   layout, one transaction).
//! - [`dates`]: 12 months of validity, a re-test window of 60 days, expiry, superseding.
//! - [`db`]: SQLite (default, a file) or PostgreSQL, with migrations for both; parameterised queries.
//! - [`server`]: the HTTP server: [`api`] (JSON, OpenAPI, pagination, ETags, authenticated
//!   submissions), [`html`] (server-rendered pages), [`badge`] (SVG), [`feed`] (Atom); [`auth`] tokens.
//! - [`cli`]: the subcommands' behaviour and exit codes.

pub mod api;
pub mod auth;
pub mod badge;
pub mod cache;
pub mod cli;
pub mod dates;
pub mod db;
pub mod feed;
pub mod html;
pub mod import;
pub mod model;
pub mod server;
pub mod submit;
