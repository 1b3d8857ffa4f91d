//! `results.json` as the program reads it: a `go test -json` (test2json) stream, one JSON object per
//! line (`Time`, `Action`, `Package`, `Test`, `Output`, `Elapsed`). Only `Action`, `Package` and `Test`
//! matter: `pass`, `fail` and `skip` with a `Test` record its result, and a package that failed with no
//! failing test of its own (a build failure, a panic) records the failure `package <name>`. Field names
//! match without case, as Go's JSON decoder matches them.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::{TestOutcome, TestResults};

/// The longest line the program's reader accepts.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Reads a `go test -json` stream.
///
/// # Errors
/// When a non-blank line is not a JSON object (kaic's own pretty-printed report fails at line 1), a
/// field has the wrong type, a line is too long, or no test result is recorded.
pub fn parse(text: &str) -> Result<TestResults, String> {
    let mut results = TestResults::default();
    let mut failed_packages: Vec<String> = Vec::new();
    let mut packages_with_failed_tests: BTreeSet<String> = BTreeSet::new();
    for (i, line) in text.split('\n').enumerate() {
        let at = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.len() > MAX_LINE_BYTES {
            return Err(format!("parsing go test JSON at line {at}: the line is longer than 16 MiB"));
        }
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line).map_err(|e| format!("parsing go test JSON at line {at}: {e}"))?;
        let Value::Object(event) = value else {
            return Err(format!("parsing go test JSON at line {at}: not a JSON object"));
        };
        let field =
            |name: &str| text_field(&event, name).map_err(|e| format!("parsing go test JSON at line {at}: {e}"));
        let (action, package, test) = (field("Action")?, field("Package")?, field("Test")?);
        let outcome = match action {
            "pass" => TestOutcome::Pass,
            "fail" => TestOutcome::Fail,
            "skip" => TestOutcome::Skip,
            _ => continue,
        };
        if !test.is_empty() {
            results.record(test, outcome);
            if outcome == TestOutcome::Fail {
                packages_with_failed_tests.insert(package.to_string());
            }
        } else if outcome == TestOutcome::Fail && !failed_packages.iter().any(|p| p == package) {
            failed_packages.push(package.to_string());
        }
    }
    for package in failed_packages.iter().filter(|p| !packages_with_failed_tests.contains(*p)) {
        results.record(&format!("package {package}"), TestOutcome::Fail);
    }
    if results.is_empty() {
        return Err("no test events found".into());
    }
    Ok(results)
}

/// A string field of an event, found by exact name or else without case; absent or null is empty.
fn text_field<'a>(event: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    let value = event.get(name).or_else(|| event.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v));
    match value {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{name} is {other}, not a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;

    #[test]
    fn an_upstream_stream() {
        let r = parse(&fixture("upstream/results.json")).unwrap();
        assert_eq!(r.lookup("TestGangScheduling"), Some(TestOutcome::Pass));
        assert_eq!(r.lookup("TestSecureAcceleratorAccess/dra"), Some(TestOutcome::Pass));
        assert_eq!(r.lookup("TestAcceleratorClusterAutoscaling"), Some(TestOutcome::Skip));
        assert!(r.failing().is_empty());
    }

    #[test]
    fn failures_of_tests_and_of_packages() {
        let r = parse(&fixture("failing/results.json")).unwrap();
        assert_eq!(r.lookup("TestParseConfig"), Some(TestOutcome::Fail));
        // The other package failed without a failing test: a build failure.
        assert_eq!(r.failing(), ["TestParseConfig", "package example.com/broken"]);
        // A package that failed because a test failed adds nothing.
        let one = "{\"Action\":\"fail\",\"Package\":\"p\",\"Test\":\"T\"}\n{\"Action\":\"fail\",\"Package\":\"p\"}\n";
        assert_eq!(parse(one).unwrap().failing(), ["T"]);
        // A build failure alone is a result, not an empty file.
        let build =
            "{\"Action\":\"output\",\"Package\":\"p\",\"Output\":\"# p\\n\"}\n{\"Action\":\"fail\",\"Package\":\"p\"}";
        assert_eq!(parse(build).unwrap().failing(), ["package p"]);
    }

    #[test]
    fn field_names_match_without_case_and_blank_lines_are_skipped() {
        let r = parse("\n{\"action\":\"pass\",\"TEST\":\"T\"}\r\n  \n").unwrap();
        assert_eq!(r.lookup("T"), Some(TestOutcome::Pass));
    }

    #[test]
    fn anything_but_a_stream_of_events_is_an_error() {
        // kaic's own report, pretty-printed, as results.json used to be.
        let err = parse("{\n  \"schema\": \"kaic.dev/results/v1\"\n}\n").unwrap_err();
        assert!(err.starts_with("parsing go test JSON at line 1: "), "{err}");
        // On one line it is JSON, but records no test.
        assert_eq!(parse("{\"schema\": \"kaic.dev/results/v1\"}").unwrap_err(), "no test events found");
        assert!(parse("{\"Action\":\"pass\",\"Test\":\"T\"}\nok  \tpkg\t0.1s\n").unwrap_err().contains("at line 2"));
        assert!(parse("[1, 2]").unwrap_err().contains("line 1: not a JSON object"));
        assert!(parse("{\"Action\":\"pass\",\"Test\":5}").unwrap_err().contains("Test is 5, not a string"));
        assert_eq!(parse("{\"Action\":\"run\",\"Test\":\"T\"}").unwrap_err(), "no test events found");
        assert_eq!(parse("").unwrap_err(), "no test events found");
        let long = format!("{{\"Action\":\"pass\",\"Test\":\"{}\"}}", "x".repeat(MAX_LINE_BYTES));
        assert!(parse(&long).unwrap_err().contains("longer than 16 MiB"));
    }
}
