//! What an evidence entry points at: an http(s) URL (checked with `--online`), or a file inside the
//! submission folder, given relative to PRODUCT.yaml or as the program's `file://vX.Y/<product>/…`.
//! Paths that leave the folder, absolute paths and backslashes are refused: reviewers see only the
//! submission folder.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::kaic::{self, Citation};
use super::metadata::http_url;
use super::{Link, Rule, ValidationReport};

/// What an evidence entry refers to.
pub(super) enum EvidenceRef {
    Url(String),
    File(PathBuf),
}

/// Classifies an entry: an http(s) URL, a file in the submission (relative path, optionally with a
/// `#fragment`, or a `file://` path relative to the program repository's root), or an error message.
pub(super) fn classify(link: &str, product_dir: &Path) -> Result<EvidenceRef, (Rule, String)> {
    let link = link.trim();
    if let Some(rest) = link.strip_prefix("file://") {
        // The program's instructions show `file://v1.37/<product>/junit.xml#Test…`: a path from the root
        // of its repository. Look for it from the submission folder up.
        let rel = rest.split('#').next().unwrap_or_default();
        let rel = relative_inside(rel).map_err(|why| (why.0, format!("'{link}' {}", why.1)))?;
        let found = product_dir.ancestors().take(4).map(|dir| dir.join(&rel)).find(|p| p.exists());
        return match found {
            Some(p) => Ok(EvidenceRef::File(p)),
            None => Err((
                Rule::EvidenceNotFound,
                format!("'{link}' is not found from the submission folder or its parents"),
            )),
        };
    }
    if link.contains("://") || link.starts_with("http:") || link.starts_with("https:") {
        return match http_url(link) {
            Ok(()) => Ok(EvidenceRef::Url(link.to_string())),
            Err(why) => Err((Rule::EvidenceInvalid, format!("'{link}' {why}"))),
        };
    }
    let rel = link.split('#').next().unwrap_or_default();
    let rel = relative_inside(rel).map_err(|why| (why.0, format!("'{link}' {}", why.1)))?;
    Ok(EvidenceRef::File(product_dir.join(rel)))
}

/// A relative path that stays inside its base folder, or why it is not one.
fn relative_inside(rel: &str) -> Result<PathBuf, (Rule, String)> {
    if rel.contains('\\') {
        return Err((Rule::EvidenceInvalid, "uses backslashes: write paths with /".into()));
    }
    let is_windows_absolute = rel.len() >= 2 && rel.as_bytes()[1] == b':';
    if rel.starts_with('/') || is_windows_absolute {
        return Err((
            Rule::EvidenceInvalid,
            "is an absolute path: reviewers only see the submission folder; use a path relative to PRODUCT.yaml".into(),
        ));
    }
    let mut depth: i32 = 0;
    for component in Path::new(rel).components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err((
                Rule::EvidenceOutside,
                "points outside the submission folder, which reviewers do not see".into(),
            ));
        }
    }
    if depth == 0 {
        return Err((
            Rule::EvidenceInvalid,
            "names no file (use https URLs or paths of files in the submission folder)".into(),
        ));
    }
    Ok(PathBuf::from(rel))
}

/// Checks one evidence entry: a link is kept for the online checks; a file must exist and be readable,
/// and one of kaic's run files is read back for [`super::kaic`].
pub(super) fn check_evidence_entry(
    at: &str,
    link: &str,
    product_dir: &Path,
    report: &mut ValidationReport,
    kaic_runs: &mut HashMap<PathBuf, Option<Citation>>,
) {
    match classify(link, product_dir) {
        Err((rule, message)) => report.push(rule, at, message),
        Ok(EvidenceRef::Url(url)) => report.links.push(Link { path: at.to_string(), url }),
        Ok(EvidenceRef::File(file)) => {
            // Opening proves it can be read, not just that it is listed in its folder.
            let readable = match fs::metadata(&file) {
                Ok(meta) if meta.is_dir() => fs::read_dir(&file).map(|_| ()),
                Ok(_) => fs::File::open(&file).map(|_| ()),
                Err(e) => Err(e),
            };
            match readable {
                Ok(()) => {
                    // Each file is read once, where it is first cited.
                    if let Entry::Vacant(slot) = kaic_runs.entry(file) {
                        let citation = kaic::read_citation(slot.key(), at, link, report);
                        slot.insert(citation);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.push(
                    Rule::EvidenceNotFound,
                    at,
                    format!("'{link}' does not exist in the submission folder ({})", file.display()),
                ),
                Err(e) => report.push(Rule::EvidenceNotFound, at, format!("'{link}' cannot be read: {e}")),
            }
        }
    }
}
