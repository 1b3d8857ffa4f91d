//! What the registry stores and serves: a certification (one accepted submission of one platform for
//! one conformance version) with its facts, its requirements and how each was verified, and the shapes
//! the JSON API answers with (their OpenAPI schemas are derived from these types).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dates::{DateSource, State};

/// How a requirement's answer is backed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// A check of kaic passed for it in the kaic results attached to the submission.
    Kaic,
    /// Only the vendor's word (and evidence) backs it.
    SelfAttested,
}

impl Verification {
    pub fn label(self) -> &'static str {
        match self {
            Self::Kaic => "verified by kaic",
            Self::SelfAttested => "self-attested",
        }
    }
}

/// One requirement of a certification, as answered in the submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Requirement {
    /// The checklist section, e.g. `accelerators`.
    pub section: String,
    pub id: String,
    /// `MUST` or `SHOULD`.
    pub level: String,
    /// The submission's status: Implemented, Partially Implemented, Not Implemented, N/A, or empty.
    pub status: String,
    /// Evidence entries as submitted: http(s) links, or paths relative to the submission folder.
    pub evidence: Vec<String>,
    pub notes: String,
    pub verification: Verification,
}

/// The facts of a platform as its submission states them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Facts {
    pub vendor_name: String,
    pub platform_name: String,
    pub platform_version: String,
    pub description: String,
    pub website_url: String,
    pub documentation_url: String,
    pub repo_url: String,
    pub product_logo_url: String,
    pub k8s_conformance_url: String,
}

/// A certification ready to be stored: validated, with its dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCertification {
    /// The platform's id in the registry: `<vendor-and-platform slug>-<version>`.
    pub platform_id: String,
    pub conformance_version: String,
    pub facts: Facts,
    pub certified_on: jiff::civil::Date,
    pub date_source: DateSource,
    /// Where it came from, for the history: `import v1.37/acme/PRODUCT.yaml`, `add /path`, `http`.
    pub source: String,
    pub requirements: Vec<Requirement>,
    /// Whether kaic results were attached (otherwise every requirement is self-attested).
    pub results_attached: bool,
}

/// One certification as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Certification {
    /// The registry's number of this certification (the history keeps every one).
    pub number: i64,
    pub platform_id: String,
    pub conformance_version: String,
    #[serde(flatten)]
    pub facts: Facts,
    /// `YYYY-MM-DD`.
    pub certified_on: String,
    pub date_source: DateSource,
    /// The day it stops being valid (`YYYY-MM-DD`): 12 months after `certified_on`.
    pub expires_on: String,
    /// The first day of the re-test window (`YYYY-MM-DD`): 60 days before `expires_on`.
    pub retest_due_from: String,
    pub state: State,
    /// When the registry recorded it (RFC 3339).
    pub recorded_at: String,
    pub source: String,
    pub results_attached: bool,
    pub requirement_count: i64,
    /// Requirements verified by kaic (a passing check in the attached results).
    pub verified_count: i64,
    /// The number of the certification that replaced this one, if any.
    pub superseded_by: Option<i64>,
}

impl Certification {
    /// The share of requirements verified by kaic, in whole percent.
    pub fn verified_percent(&self) -> i64 {
        if self.requirement_count == 0 { 0 } else { self.verified_count * 100 / self.requirement_count }
    }
}

/// A platform's page: its current certification, its requirements, and the older ones it superseded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlatformDetail {
    pub current: Certification,
    pub requirements: Vec<Requirement>,
    /// Older certifications of the same platform and version, newest first.
    pub history: Vec<Certification>,
}

/// A page of the platform list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PlatformPage {
    pub items: Vec<Certification>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Lowercase ASCII letters and digits joined by single dashes: the stable part of a platform id.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// The platform id of a vendor's platform for a version: the same for every submission of it, which is
/// what makes a newer submission supersede an older one.
pub fn platform_id(vendor: &str, platform: &str, version: &str) -> String {
    // The vendor is left out where the platform name already starts with it ("Acme" + "Acme Cloud").
    let (v, p) = (slug(vendor), slug(platform));
    let name = if p.starts_with(&v) || v.is_empty() { p } else { format!("{v}-{p}") };
    format!("{name}-{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_ids_are_stable_slugs() {
        assert_eq!(platform_id("Acme Corp", "Acme AI Platform", "1.37"), "acme-corp-acme-ai-platform-1.37");
        assert_eq!(platform_id("Acme", "Acme AI Platform", "1.37"), "acme-ai-platform-1.37");
        assert_eq!(platform_id("  <Ünïcode> & Co ", "K8s / GPU++", "1.35"), "n-code-co-k8s-gpu-1.35");
        assert_eq!(slug("--a  b--"), "a-b");
    }
}
