//! kaic's data model: no Kubernetes client and no async runtime, so every type here can be used by the
//! engine, the command line, the registry and offline tools alike.
//!
//! - [`catalogue`]: which requirement applies to which conformance version, at which level.
//! - [`outcome`]: the result of one check and the roll-up into a requirement status.
//! - [`evidence`]: what a check saw, kept so a human can audit the verdict.
//! - [`report`]: the versioned run report written as `kaic-results.json`.
//! - [`render`]: the files of a run rendered from a report: Markdown, and JUnit, `go test -json` and
//!   `e2e.log` test output.
//! - [`solutions`]: the one roll-up policy for requirements that several solutions can meet.
//! - [`installable`]: the one "nothing installed" policy for requirements met by at least one installable
//!   solution.
//! - [`error_chain`]: an error and its causes on one line.

pub mod catalogue;
pub mod error_chain;
pub mod evidence;
pub mod installable;
pub mod outcome;
pub mod render;
pub mod report;
pub mod solutions;

pub use catalogue::{Area, ConformanceVersion, Level, Requirement, RequirementId};
pub use error_chain::error_chain;
pub use evidence::Evidence;
pub use outcome::{Outcome, RequirementStatus, Verdict};
pub use report::{CheckReport, RequirementReport, RunReport};
pub use solutions::{SolutionResult, SolutionStatus};
