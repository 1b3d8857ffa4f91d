//! A second, independent implementation of the program's evidence and artifact rules (its validator
//! after PR #141), written for the tests from the research note `hybrid-verification-1.37.md` (§1), not
//! from kaic's validator and not copied from the program. It shares no code with `validate`: the YAML
//! is read into plain structs, JUnit with `quick-junit`, and the paths, lookups and messages are its own.
//! A submission kaic generates must pass both; a broken one must fail both.
//!
//! Not covered (unchanged by #141, and checked elsewhere in kaic's tests): metadata, the template's
//! descriptions, links (no network in tests).

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

#[derive(Deserialize)]
struct Product {
    spec: BTreeMap<String, Vec<Requirement>>,
}

#[derive(Deserialize)]
struct Requirement {
    id: String,
    #[serde(default)]
    level: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    evidence: Vec<String>,
    #[serde(default)]
    notes: String,
}

/// The program's requirement → upstream test mapping (§1.3).
const MAPPED: [(&str, &str); 3] = [
    ("secure_accelerator_access", "TestSecureAcceleratorAccess"),
    ("gang_scheduling", "TestGangScheduling"),
    ("cluster_autoscaling", "TestAcceleratorClusterAutoscaling"),
];

/// What the program says about a submission: its errors and its warnings.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// Per test name: "pass", "fail" or "skip".
type Results = HashMap<String, &'static str>;

/// Checks `PRODUCT.yaml` at `path` (in its `vX.Y/<product>/` folder).
pub(crate) fn check(path: &Path) -> Verdict {
    let mut verdict = Verdict::default();
    let text = std::fs::read_to_string(path).unwrap();
    let product: Product = serde_saphyr::from_str(&text).unwrap();
    let dir = path.parent().unwrap();
    let own = {
        let names: Vec<String> = dir.iter().map(|n| n.to_string_lossy().into_owned()).collect();
        names[names.len() - 2..].join("/")
    };
    let minor: u32 = own.split('/').next().unwrap().rsplit('.').next().unwrap().parse().unwrap();
    // Each artifact is judged once: None when it was broken.
    let mut seen: HashMap<PathBuf, Option<Results>> = HashMap::new();
    for requirement in product.spec.values().flatten() {
        let id = requirement.id.as_str();
        if requirement.level == "SHOULD" && requirement.status.is_empty() && requirement.evidence.is_empty() {
            continue;
        }
        if !["Implemented", "Partially Implemented", "Not Implemented", "N/A"].contains(&requirement.status.as_str()) {
            verdict.errors.push(format!("Invalid status '{}' for '{id}'", requirement.status));
        }
        if requirement.level == "MUST" && requirement.status != "Implemented" {
            verdict.errors.push(format!("MUST requirement '{id}' is '{}'", requirement.status));
        }
        if requirement.status == "N/A" && requirement.notes.is_empty() {
            verdict.errors.push(format!("'{id}' is N/A without notes"));
        }
        let mut cites_artifact = false;
        for entry in requirement.evidence.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if entry.starts_with("http://") || entry.starts_with("https://") {
                continue;
            }
            let (file, fragment) = match resolve(entry, dir, &own) {
                Ok(found) => found,
                Err(e) => {
                    verdict.errors.push(format!("Invalid evidence file for '{id}': {entry} ({e})"));
                    continue;
                }
            };
            let basename = file.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
            if !["junit.xml", "results.json", "e2e.log"].contains(&basename.as_str()) || file.is_dir() {
                continue;
            }
            cites_artifact = true;
            if !seen.contains_key(&file) {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                let parsed = match basename.as_str() {
                    "junit.xml" => junit(&text),
                    "results.json" => go_json(&text),
                    _ => go_v(&text),
                };
                let judged = match parsed {
                    Err(e) => {
                        verdict.errors.push(format!("Invalid test artifact for '{id}': {entry} ({e})"));
                        None
                    }
                    Ok(results) => {
                        let mut failed: Vec<&String> =
                            results.iter().filter(|(_, r)| **r == "fail").map(|(n, _)| n).collect();
                        failed.sort();
                        if !failed.is_empty() {
                            verdict.errors.push(format!("Test artifact {entry} contains failing tests: {failed:?}"));
                        }
                        Some(results)
                    }
                };
                seen.insert(file.clone(), judged);
            }
            let Some(Some(results)) = seen.get(&file) else { continue };
            let Some(test) = fragment.or_else(|| MAPPED.iter().find(|(r, _)| *r == id).map(|(_, t)| t.to_string()))
            else {
                continue;
            };
            match outcome(results, &test) {
                None => verdict.errors.push(format!("Test '{test}' referenced by '{id}' was not found in {entry}")),
                Some("fail") => verdict.errors.push(format!("Test '{test}' referenced by '{id}' failed in {entry}")),
                Some("skip") if requirement.status == "Implemented" => {
                    verdict.errors.push(format!("Requirement '{id}' is Implemented but test '{test}' was skipped"))
                }
                _ => {}
            }
        }
        if minor >= 37 && requirement.status == "Implemented" && !cites_artifact && MAPPED.iter().any(|(r, _)| *r == id)
        {
            verdict.warnings.push(format!("Requirement '{id}' is covered by an automated test; cite its artifacts"));
        }
    }
    verdict
}

/// The file an entry names, and its fragment (§1.1).
fn resolve(entry: &str, dir: &Path, own: &str) -> Result<(PathBuf, Option<String>), String> {
    let entry = entry.strip_prefix("file://").unwrap_or(entry);
    let (path, fragment) = match entry.find('#') {
        Some(i) => (&entry[..i], Some(entry[i + 1..].to_string()).filter(|f| !f.is_empty())),
        None => (entry, None),
    };
    let mut path = path.strip_prefix('/').unwrap_or(path).to_string();
    if path.is_empty() {
        return Err("empty file path".into());
    }
    let parts: Vec<&str> = path.split('/').collect();
    let is_version = |s: &str| {
        s.strip_prefix('v')
            .and_then(|v| v.split_once('.'))
            .is_some_and(|(a, b)| [a, b].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())))
    };
    if parts.len() >= 3 && is_version(parts[0]) && !parts[1].is_empty() {
        let prefix = format!("{}/{}", parts[0], parts[1]);
        if prefix != own {
            return Err("references a different product directory".into());
        }
        path = parts[2..].join("/");
    }
    // Clean the path lexically; it must stay inside the folder and name something in it.
    let mut clean: Vec<&str> = Vec::new();
    for component in Path::new(&path).components() {
        match component {
            Component::Normal(name) => clean.push(name.to_str().unwrap()),
            Component::ParentDir if clean.pop().is_none() => return Err("escapes the product directory".into()),
            _ => {}
        }
    }
    if clean.is_empty() {
        return Err("names the product directory itself".into());
    }
    let file = dir.join(clean.join("/"));
    if !file.exists() {
        return Err(format!("not found at {}", file.display()));
    }
    Ok((file, fragment))
}

/// A test's outcome, from its own record or its subtests'.
fn outcome(results: &Results, test: &str) -> Option<&'static str> {
    if let Some(r) = results.get(test) {
        return Some(r);
    }
    let subs: Vec<&str> = results.iter().filter(|(n, _)| n.starts_with(&format!("{test}/"))).map(|(_, r)| *r).collect();
    match () {
        _ if subs.is_empty() => None,
        _ if subs.contains(&"fail") => Some("fail"),
        _ if subs.iter().all(|r| *r == "skip") => Some("skip"),
        _ => Some("pass"),
    }
}

fn record(results: &mut Results, name: &str, result: &'static str) {
    if results.get(name) != Some(&"fail") {
        results.insert(name.to_string(), result);
    }
}

fn junit(text: &str) -> Result<Results, String> {
    let report = quick_junit::Report::deserialize_from_str(text).map_err(|e| e.to_string())?;
    let mut results = Results::new();
    for case in report.test_suites.iter().flat_map(|s| &s.test_cases) {
        let result = match &case.status {
            quick_junit::TestCaseStatus::Success { .. } => "pass",
            quick_junit::TestCaseStatus::NonSuccess { .. } => "fail",
            quick_junit::TestCaseStatus::Skipped { .. } => "skip",
        };
        record(&mut results, case.name.as_str(), result);
    }
    if results.is_empty() {
        return Err("no <testcase> elements found".into());
    }
    Ok(results)
}

fn go_json(text: &str) -> Result<Results, String> {
    #[derive(Deserialize)]
    struct Event {
        #[serde(rename = "Action", default)]
        action: String,
        #[serde(rename = "Package", default)]
        package: String,
        #[serde(rename = "Test", default)]
        test: String,
    }
    let mut results = Results::new();
    let mut package_failures: Vec<String> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let event: Event =
            serde_json::from_str(line).map_err(|e| format!("parsing go test JSON at line {}: {e}", n + 1))?;
        let result = match event.action.as_str() {
            "pass" => "pass",
            "fail" => "fail",
            "skip" => "skip",
            _ => continue,
        };
        if event.test.is_empty() {
            if result == "fail" {
                package_failures.push(event.package);
            }
        } else {
            record(&mut results, &event.test, result);
        }
    }
    if !package_failures.is_empty() && !results.values().any(|r| *r == "fail") {
        record(&mut results, &format!("package {}", package_failures[0]), "fail");
    }
    if results.is_empty() {
        return Err("no test events".into());
    }
    Ok(results)
}

fn go_v(text: &str) -> Result<Results, String> {
    let mut results = Results::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split([' ', '\t', '\r', '\x0c']).filter(|w| !w.is_empty()).collect();
        let leading_ok = line.trim_start_matches([' ', '\t', '\r', '\x0c']).starts_with("--- ");
        if let (true, ["---", word, name, ..]) = (leading_ok, words.as_slice()) {
            let after = format!("--- {word} {name}");
            let result = match *word {
                "PASS:" => "pass",
                "FAIL:" => "fail",
                "SKIP:" => "skip",
                _ => continue,
            };
            // Exactly one space after the colon, as the program's pattern has it.
            if line.trim_start_matches([' ', '\t', '\r', '\x0c']).starts_with(&after) {
                record(&mut results, name, result);
            }
        }
    }
    if results.is_empty() {
        return Err("no test results".into());
    }
    Ok(results)
}
