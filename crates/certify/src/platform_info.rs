//! The platform-info file: what a vendor knows about its platform and kaic cannot discover.
//!
//! It is YAML with three optional parts (see `crates/certify/README.md` and
//! `crates/certify/examples/platform-info.yaml`):
//!
//! ```yaml
//! metadata:            # the checklist's metadata fields, camelCase or snake_case
//!   platformName: Acme AI Platform
//!   vendorName: Acme Corp
//! notes: |             # general notes, written as a comment block at the top of PRODUCT.yaml
//!   Tested on a 4-node cluster with 8 H100 per node.
//! requirements:        # per requirement id: extra evidence links, notes, and a status for the
//!   gang_scheduling:   # requirements kaic could not decide
//!     evidence: [https://docs.acme.example/gang-scheduling]
//!     notes: Kueue is installed by default.
//! ```
//!
//! Unknown keys are errors, not silently ignored: a typo such as `vendorname` would otherwise leave the
//! placeholder in the submission.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::checklist::{METADATA_FIELDS, Status};
use crate::source::{self, SourceError};

/// Why a platform-info file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlatformInfoError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("failed to read {path} as platform-info: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("failed to read {path} as platform-info: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The checklist metadata a vendor supplies. Every field is optional here: a missing one stays a
/// placeholder in PRODUCT.yaml, and `kaic validate` says so.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// Overrides the template's `v1.xx` with the exact version (e.g. `v1.36.2`); the minor must match.
    #[serde(alias = "kubernetes_version")]
    pub kubernetes_version: Option<String>,
    #[serde(alias = "platform_name")]
    pub platform_name: Option<String>,
    #[serde(alias = "platform_version")]
    pub platform_version: Option<String>,
    #[serde(alias = "vendor_name")]
    pub vendor_name: Option<String>,
    #[serde(alias = "website_url")]
    pub website_url: Option<String>,
    #[serde(alias = "repo_url")]
    pub repo_url: Option<String>,
    #[serde(alias = "documentation_url")]
    pub documentation_url: Option<String>,
    #[serde(alias = "product_logo_url")]
    pub product_logo_url: Option<String>,
    pub description: Option<String>,
    #[serde(alias = "contact_email_address")]
    pub contact_email_address: Option<String>,
    #[serde(alias = "k8s_conformance_url")]
    pub k8s_conformance_url: Option<String>,
}

impl Metadata {
    /// The given fields as (camelCase key, value) pairs, in template order.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        let values = [
            &self.kubernetes_version,
            &self.platform_name,
            &self.platform_version,
            &self.vendor_name,
            &self.website_url,
            &self.repo_url,
            &self.documentation_url,
            &self.product_logo_url,
            &self.description,
            &self.contact_email_address,
            &self.k8s_conformance_url,
        ];
        METADATA_FIELDS
            .iter()
            .zip(values)
            .filter_map(|(field, value)| value.as_deref().map(|v| (field.key, v)))
            .collect()
    }
}

/// What the vendor adds for one requirement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementInfo {
    /// Links (https URLs) or paths relative to PRODUCT.yaml's folder, added after kaic's evidence.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Added after kaic's note.
    pub notes: Option<String>,
    /// The vendor's own verdict, used only where kaic could not decide (unknown or error): kaic never
    /// lets a claim overrule what its checks found.
    pub status: Option<String>,
}

/// A platform-info file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformInfo {
    #[serde(default)]
    pub metadata: Metadata,
    /// General notes for reviewers.
    pub notes: Option<String>,
    #[serde(default)]
    pub requirements: BTreeMap<String, RequirementInfo>,
}

impl PlatformInfo {
    /// Reads and checks a platform-info file.
    ///
    /// # Errors
    /// When the file cannot be read, is not YAML, has unknown keys or values of the wrong type, or
    /// gives a status that is not one of the checklist's four.
    pub fn load(path: &Path) -> Result<Self, PlatformInfoError> {
        let text = source::read_text(path, source::MAX_PLATFORM_INFO_BYTES)?;
        Self::parse(path, &text)
    }

    /// Parses platform-info text; `path` is used in messages.
    ///
    /// # Errors
    /// As [`PlatformInfo::load`].
    pub fn parse(path: &Path, text: &str) -> Result<Self, PlatformInfoError> {
        let info: PlatformInfo = serde_saphyr::from_str(text)
            .map_err(|e| PlatformInfoError::Parse { path: path.to_path_buf(), message: e.to_string() })?;
        let invalid = |message: String| PlatformInfoError::Invalid { path: path.to_path_buf(), message };
        for (id, req) in &info.requirements {
            if let Some(status) = &req.status
                && Status::parse(status).is_none()
            {
                return Err(invalid(format!(
                    "requirements.{id}.status '{status}' is not one of {}",
                    Status::allowed_list()
                )));
            }
            for (i, link) in req.evidence.iter().enumerate() {
                if link.trim().is_empty() {
                    return Err(invalid(format!("requirements.{id}.evidence[{i}] is empty")));
                }
            }
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PlatformInfo, PlatformInfoError> {
        PlatformInfo::parse(Path::new("pi.yaml"), text)
    }

    #[test]
    fn the_shipped_example_parses() {
        let path = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .join("examples/platform-info.yaml");
        let info = PlatformInfo::load(&path).unwrap();
        assert_eq!(info.metadata.platform_name.as_deref(), Some("Acme AI Platform"));
        assert!(info.requirements.contains_key("gang_scheduling"));
        assert!(info.notes.is_some());
    }

    #[test]
    fn both_spellings_and_numbers_as_text() {
        let info = parse("metadata:\n  platform_version: 2.10\n  vendorName: Acme\n").unwrap();
        assert_eq!(info.metadata.platform_version.as_deref(), Some("2.10"));
        assert_eq!(info.metadata.fields(), [("platformVersion", "2.10"), ("vendorName", "Acme")]);
    }

    #[test]
    fn typos_and_wrong_types_are_errors_with_a_location() {
        let err = parse("metadata:\n  vendorname: Acme\n").unwrap_err().to_string();
        assert!(err.starts_with("failed to read pi.yaml as platform-info"), "{err}");
        assert!(err.contains("unknown field `vendorname`"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        let err = parse("requirements:\n  gang_scheduling:\n    evidence: https://x\n").unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        let err = parse("requirements:\n  gang_scheduling:\n    status: Done\n").unwrap_err().to_string();
        assert!(err.contains("requirements.gang_scheduling.status 'Done' is not one of 'Implemented'"), "{err}");
        assert!(parse("- a\n").is_err());
        assert!(parse("requirements:\n  x:\n    evidence: ['']\n").is_err());
    }
}
