//! Renderers of a [`RunReport`](crate::RunReport): JUnit XML for CI systems and Markdown for people.
//! `results.json` is the report itself, serialised with serde.

pub mod junit;
pub mod markdown;
