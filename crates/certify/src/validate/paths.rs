//! What an evidence entry points at, resolved as the program's validator resolves it: an http(s) URL
//! (checked with `--online`), or a file of the submission folder (the folder of PRODUCT.yaml, and only
//! that folder). A local entry may start with `file://` (and then one `/`), may carry a `#fragment`
//! naming a test, and may start with the product's own `vX.Y/<product>/` (a path from the root of the
//! program's repository); another product's `vX.Y/<dir>/` is an error, and so is a path that leaves the
//! folder. kaic also refuses backslashes and bare absolute paths, which reviewers cannot follow.

use std::collections::hash_map::Entry;
use std::fs;
use std::path::{Component, Path, PathBuf};

use super::artifacts::rules::{self as artifact_rules, Citing};
use super::kaic;
use super::metadata::http_url;
use super::{Context, Link, Rule, ValidationReport};

/// What an evidence entry refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EvidenceRef {
    Url(String),
    /// A file or folder of the submission, with the test the entry's `#fragment` names.
    File {
        path: PathBuf,
        fragment: Option<String>,
    },
}

/// Why an entry is not usable: the rule it breaks and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Invalid {
    pub rule: Rule,
    pub message: String,
}

impl Invalid {
    fn new(rule: Rule, message: String) -> Self {
        Self { rule, message }
    }
}

/// Classifies an entry: an http(s) URL, or a file in the submission folder `product_dir`.
pub(super) fn classify(link: &str, product_dir: &Path) -> Result<EvidenceRef, Invalid> {
    let link = link.trim();
    let (local, file_scheme) = match link.strip_prefix("file://") {
        Some(rest) => (rest, true),
        None => (link, false),
    };
    if !file_scheme && (link.contains("://") || link.starts_with("http:") || link.starts_with("https:")) {
        return match http_url(link) {
            Ok(()) => Ok(EvidenceRef::Url(link.to_string())),
            Err(why) => Err(Invalid::new(Rule::EvidenceInvalid, format!("'{link}' {why}"))),
        };
    }
    let invalid = |rule: Rule, why: &str| Invalid::new(rule, format!("'{link}' {why}"));
    // The fragment is everything after the first '#', taken as written.
    let (path, fragment) = match local.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment).filter(|f| !f.is_empty()).map(str::to_string)),
        None => (local, None),
    };
    if path.contains('\\') {
        return Err(invalid(Rule::EvidenceInvalid, "uses backslashes: write paths with /"));
    }
    let windows_absolute = path.len() >= 2 && path.as_bytes()[1] == b':';
    if windows_absolute || (!file_scheme && path.starts_with('/')) {
        return Err(invalid(
            Rule::EvidenceInvalid,
            "is an absolute path: reviewers only see the submission folder; use a path relative to PRODUCT.yaml",
        ));
    }
    // `file:///v1.37/acme/x` is accepted as the program accepts it: one leading '/' is dropped.
    let path = if file_scheme { path.strip_prefix('/').unwrap_or(path) } else { path };
    let path = match product_folder_prefix(path) {
        Some((prefix, rest)) if own_prefix(product_dir).as_deref() == Some(prefix) => rest,
        Some((prefix, _)) => {
            return Err(Invalid::new(
                Rule::EvidenceOtherProduct,
                format!(
                    "'{link}' starts with {prefix}/, another product's folder (or another version's): the program \
                     resolves evidence in the folder of PRODUCT.yaml only; write the path relative to it"
                ),
            ));
        }
        None => path,
    };
    let rel = relative_inside(path).map_err(|(rule, why)| invalid(rule, &why))?;
    Ok(EvidenceRef::File { path: product_dir.join(rel), fragment })
}

/// A leading `vX.Y/<dir>/` (the program's pattern for a product folder from its repository's root):
/// the prefix without its last `/`, and the rest of the path.
fn product_folder_prefix(path: &str) -> Option<(&str, &str)> {
    let mut parts = path.splitn(3, '/');
    let (version, dir, _) = (parts.next()?, parts.next()?, parts.next()?);
    let (major, minor) = version.strip_prefix('v')?.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) || dir.is_empty() {
        return None;
    }
    let len = version.len() + 1 + dir.len();
    Some((&path[..len], &path[len + 1..]))
}

/// The last two folder names of the submission folder (`v1.37/acme` when PRODUCT.yaml is in
/// `…/v1.37/acme/`): the prefix the program strips from a product's own paths.
fn own_prefix(product_dir: &Path) -> Option<String> {
    let absolute = std::path::absolute(product_dir).ok()?;
    let mut names: Vec<String> = Vec::new();
    for component in absolute.components() {
        match component {
            Component::Normal(name) => names.push(name.to_string_lossy().into_owned()),
            Component::ParentDir => {
                names.pop();
            }
            _ => {}
        }
    }
    let [.., parent, own] = names.as_slice() else { return None };
    Some(format!("{parent}/{own}"))
}

/// A relative path that stays inside its base folder and names something in it, or why not.
fn relative_inside(rel: &str) -> Result<PathBuf, (Rule, String)> {
    if rel.starts_with('/') {
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
                "points outside the submission folder: the program resolves evidence in the folder of PRODUCT.yaml \
                 only, and reviewers see nothing else"
                    .into(),
            ));
        }
    }
    if depth == 0 {
        return Err((
            Rule::EvidenceNoFile,
            "names no file (use https URLs or paths of files in the submission folder)".into(),
        ));
    }
    Ok(PathBuf::from(rel))
}

/// Checks one evidence entry of the requirement `citing`: a link is kept for the online checks; a file
/// must exist and be readable, a test artifact is parsed and held to the program's rules, and one of
/// kaic's run files is read back for [`super::kaic`].
pub(super) fn check_evidence_entry(
    at: &str,
    link: &str,
    citing: &Citing,
    context: &mut Context,
    report: &mut ValidationReport,
) {
    match classify(link, &context.product_dir) {
        Err(Invalid { rule, message }) => report.push(rule, at, message),
        Ok(EvidenceRef::Url(url)) => report.links.push(Link { path: at.to_string(), url }),
        Ok(EvidenceRef::File { path: file, fragment }) => {
            // Opening proves it can be read, not just that it is listed in its folder.
            let readable = match fs::metadata(&file) {
                Ok(meta) if meta.is_dir() => fs::read_dir(&file).map(|_| false),
                Ok(_) => fs::File::open(&file).map(|_| true),
                Err(e) => Err(e),
            };
            match readable {
                Ok(is_file) => {
                    if is_file {
                        artifact_rules::check_cited(at, link, &file, fragment.as_deref(), citing, context, report);
                    }
                    // Each file is read once, where it is first cited.
                    if let Entry::Vacant(slot) = context.kaic_runs.entry(file) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, fragment: Option<&str>) -> EvidenceRef {
        EvidenceRef::File { path: PathBuf::from(path), fragment: fragment.map(str::to_string) }
    }

    fn rule_of(link: &str) -> Rule {
        classify(link, Path::new("/repo/v1.37/acme")).unwrap_err().rule
    }

    #[test]
    fn local_entries_resolve_in_the_product_folder_only() {
        let dir = Path::new("/repo/v1.37/acme");
        for (link, path, fragment) in [
            ("junit.xml", "/repo/v1.37/acme/junit.xml", None),
            ("junit.xml#T", "/repo/v1.37/acme/junit.xml", Some("T")),
            ("file://junit.xml#T", "/repo/v1.37/acme/junit.xml", Some("T")),
            ("file://v1.37/acme/junit.xml#T/sub#01", "/repo/v1.37/acme/junit.xml", Some("T/sub#01")),
            ("file:///v1.37/acme/results/junit.xml", "/repo/v1.37/acme/results/junit.xml", None),
            ("  evidence/gang/junit.xml#gang  ", "/repo/v1.37/acme/evidence/gang/junit.xml", Some("gang")),
            ("./a/../report.md#", "/repo/v1.37/acme/./a/../report.md", None),
            ("v1.37/acme", "/repo/v1.37/acme/v1.37/acme", None),
        ] {
            assert_eq!(classify(link, dir).unwrap(), file(path, fragment), "{link}");
        }
        assert_eq!(classify("https://x.example/a#b", dir).unwrap(), EvidenceRef::Url("https://x.example/a#b".into()));
    }

    #[test]
    fn other_products_parents_and_odd_paths_are_refused() {
        for (link, rule) in [
            ("file://v1.37/other/junit.xml", Rule::EvidenceOtherProduct),
            ("file://v1.36/acme/junit.xml", Rule::EvidenceOtherProduct),
            ("v2.0/acme/notes.md", Rule::EvidenceOtherProduct),
            ("../other/junit.xml", Rule::EvidenceOutside),
            ("file://a/../../x", Rule::EvidenceOutside),
            ("file://", Rule::EvidenceNoFile),
            ("#TestX", Rule::EvidenceNoFile),
            ("file://v1.37/acme/", Rule::EvidenceNoFile),
            (".", Rule::EvidenceNoFile),
            ("/home/me/junit.xml", Rule::EvidenceInvalid),
            ("C:/results/junit.xml", Rule::EvidenceInvalid),
            ("evidence\\junit.xml", Rule::EvidenceInvalid),
            ("ftp://x.example/junit.xml", Rule::EvidenceInvalid),
        ] {
            assert_eq!(rule_of(link), rule, "{link}");
        }
        // Outside a vX.Y folder every vX.Y/<dir>/ prefix is another product's.
        assert_eq!(classify("v1.37/acme/x", Path::new("/tmp/run")).unwrap_err().rule, Rule::EvidenceOtherProduct);
    }

    #[test]
    fn the_product_prefix_is_the_last_two_folder_names() {
        assert_eq!(own_prefix(Path::new("/repo/v1.37/acme")).as_deref(), Some("v1.37/acme"));
        assert_eq!(own_prefix(Path::new("/repo/v1.37/acme/sub/..")).as_deref(), Some("v1.37/acme"));
        assert_eq!(own_prefix(Path::new("/")), None);
        assert_eq!(product_folder_prefix("v1.37/acme/junit.xml"), Some(("v1.37/acme", "junit.xml")));
        assert_eq!(product_folder_prefix("v1.37/acme"), None);
        assert_eq!(product_folder_prefix("v1/acme/x"), None);
        assert_eq!(product_folder_prefix("v1.x/acme/x"), None);
        assert_eq!(product_folder_prefix("v1.37//x"), None);
    }
}
