//! The metadata block: every required field present, a string and not a placeholder, URLs that are
//! URLs, the logo a vector file, and the version consistent with the folder the file sits in.

use std::path::Path;

use kaic_model::catalogue::ConformanceVersion;

use super::{Basis, Link, Rule, ValidationReport};
use crate::checklist::{METADATA_FIELDS, is_placeholder, metadata_field};
use crate::source::Node;

/// What an optional field may say instead of a value: "not given", not a placeholder left behind.
const NOT_GIVEN: [&str; 3] = ["n/a", "none", "-"];

/// Checks the metadata block and returns the conformance version it names, if it names a known one.
pub(super) fn check(root: &Node, path: &Path, report: &mut ValidationReport) -> Option<ConformanceVersion> {
    let Some(metadata) = root.get("metadata") else {
        report.push(Rule::MetadataMissing, "metadata", "the metadata section is missing");
        return None;
    };
    let Some(entries) = metadata.as_map() else {
        report.push(Rule::MetadataMissing, "metadata", format!("metadata is {}, not a mapping", metadata.kind()));
        return None;
    };
    for (key, _) in entries {
        match metadata_field(key) {
            None => report.push(
                Rule::MetadataUnknown,
                format!("metadata.{key}"),
                format!("'{key}' is not a checklist metadata field; reviewers may ask you to remove it"),
            ),
            Some(field) if field.key != key.as_str() => report.push(
                Rule::MetadataSpelling,
                format!("metadata.{key}"),
                format!("the template spells it '{}'", field.key),
            ),
            Some(_) => {}
        }
    }
    let mut version = None;
    for field in METADATA_FIELDS {
        let given: Vec<&(String, Node)> =
            entries.iter().filter(|(k, _)| k == field.key || (k == field.snake && field.snake != field.key)).collect();
        if given.len() > 1 {
            report.push(
                Rule::MetadataDuplicate,
                format!("metadata.{}", field.key),
                format!("given twice, as '{}' and '{}'", field.key, field.snake),
            );
        }
        let at = |k: &str| format!("metadata.{k}");
        let Some((key, value)) = given.first().map(|(k, v)| (k.as_str(), v)) else {
            if field.required {
                report.push(Rule::MetadataMissing, at(field.key), format!("{} is missing", field.key));
            }
            continue;
        };
        let text = match value {
            Node::Str(s) => s.trim(),
            Node::Null => "",
            other => {
                report.push(Rule::MetadataType, at(key), format!("{key} is {}, not a string: quote it", other.kind()));
                continue;
            }
        };
        if text.is_empty() {
            if field.required {
                report.push(Rule::MetadataMissing, at(key), format!("{key} is empty"));
            }
            continue;
        }
        // An optional field (repoUrl of a closed-source product) given as N/A, none or - says "not
        // given"; reviewers accept that, and so does the program's validator.
        if !field.required && NOT_GIVEN.contains(&text.to_ascii_lowercase().as_str()) {
            continue;
        }
        if is_placeholder(text) {
            // The program's validator recognises the templates' [Bracketed] placeholders; TODO and the
            // like are kaic's own finding.
            let basis = if text.starts_with('[') && text.ends_with(']') { Basis::Program } else { Basis::Kaic };
            let fix = if field.required { "give the real value" } else { "give the real value or leave it empty" };
            report.push_as(
                Rule::MetadataPlaceholder,
                basis,
                at(key),
                format!("{key} is still a placeholder: '{text}': {fix}"),
            );
            continue;
        }
        if field.url {
            match http_url(text) {
                Err(why) => {
                    report.push(Rule::MetadataUrl, at(key), format!("{key} '{text}' {why}"));
                    continue;
                }
                Ok(()) => report.links.push(Link { path: at(key), url: text.to_string() }),
            }
        }
        match field.key {
            "kubernetesVersion" => match text.parse::<ConformanceVersion>() {
                Ok(v) => version = Some(v),
                Err(e) => report.push(Rule::VersionUnknown, at(key), e.to_string()),
            },
            "productLogoUrl" => {
                // Checked on the end of the whole string, as the program's validator does, so a query such
                // as `?raw=true` fails here too.
                let lower = text.to_ascii_lowercase();
                if ![".svg", ".eps", ".ai"].iter().any(|ext| lower.ends_with(ext)) {
                    report.push(
                        Rule::MetadataLogo,
                        at(key),
                        format!(
                            "'{text}' is not an SVG, EPS or AI file: the program's instructions ask for the product \
                             logo in SVG, AI or EPS format, not a PNG, showing the product name; link the vector file"
                        ),
                    );
                }
            }
            "contactEmailAddress" if !looks_like_email(text) => {
                report.push(Rule::MetadataEmail, at(key), format!("'{text}' is not an email address"));
            }
            "k8sConformanceUrl" => match k8s_conformance_version(text) {
                None => report.push(
                    Rule::MetadataK8sConformance,
                    at(key),
                    format!(
                        "'{text}' is not of the form https://github.com/cncf/k8s-conformance/tree/master/vX.Y/<product>"
                    ),
                ),
                Some(minor) => {
                    if let Some(v) = entries
                        .iter()
                        .find(|(k, _)| k == "kubernetesVersion" || k == "kubernetes_version")
                        .and_then(|(_, v)| v.as_str())
                        .and_then(|v| v.parse::<ConformanceVersion>().ok())
                        && v.minor() != minor
                    {
                        report.push(
                            Rule::MetadataK8sConformanceVersion,
                            at(key),
                            format!("it points at the v1.{minor} Kubernetes conformance submission, not v{v}"),
                        );
                    }
                }
            },
            _ => {}
        }
    }
    // The program's validator picks the template from the folder (v1.36/<product>/PRODUCT.yaml).
    if let Some(v) = version
        && let Some(folder) =
            path.components().filter_map(|c| c.as_os_str().to_str()).filter_map(folder_minor).next_back()
        && folder != v.minor()
    {
        report.push(
            Rule::VersionFolder,
            "metadata.kubernetesVersion",
            format!(
                "the file says {v} but sits in a v1.{folder} folder, whose template the program will check it against"
            ),
        );
    }
    version
}

/// The minor of a `v1.xx` folder name.
fn folder_minor(name: &str) -> Option<u32> {
    let (major, minor) = name.strip_prefix('v')?.split_once('.')?;
    (major == "1").then(|| minor.parse().ok()).flatten()
}

/// Ok when `text` is an absolute http(s) URL with a host; otherwise why not.
pub(super) fn http_url(text: &str) -> Result<(), String> {
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(url) => Err(format!("is a {} URL; only http(s) links can be followed by reviewers", url.scheme())),
        Err(e) => Err(format!("is not a URL ({e})")),
    }
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.chars().any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | ',' | ';'))
}

/// The Kubernetes minor of a `https://github.com/cncf/k8s-conformance/tree/(master|main)/vX.Y/<product>`
/// URL, or `None` if it is not of that form.
fn k8s_conformance_version(url: &str) -> Option<u32> {
    let rest = url.strip_prefix("https://github.com/cncf/k8s-conformance/tree/")?;
    let rest = rest.strip_prefix("master/").or_else(|| rest.strip_prefix("main/"))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (version, product) = rest.split_once('/')?;
    if product.is_empty() || product.contains('/') {
        return None;
    }
    let (major, minor) = version.strip_prefix('v')?.split_once('.')?;
    if major.is_empty()
        || !major.chars().all(|c| c.is_ascii_digit())
        || minor.is_empty()
        || !minor.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    minor.parse().ok()
}
