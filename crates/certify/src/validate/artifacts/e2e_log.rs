//! `e2e.log` as the program reads it: `go test -v` text, whose result lines are
//! `--- PASS: <name> (1.20s)`, `--- FAIL: …` and `--- SKIP: …`, indented for subtests. Every line that
//! starts so (after spaces, tabs, carriage returns or form feeds) records a result, wherever it is, and
//! every other line is ignored: Ginkgo output has no such line, so the program rejects it.

use super::{TestOutcome, TestResults};

/// What Go's regular expressions call `\s`.
const SPACE: [char; 5] = [' ', '\t', '\n', '\r', '\x0c'];

/// Reads `go test -v` output.
///
/// # Errors
/// When no result line is found.
pub fn parse(text: &str) -> Result<TestResults, String> {
    let mut results = TestResults::default();
    for line in text.split('\n') {
        if let Some((name, outcome)) = result_line(line) {
            results.record(name, outcome);
        }
    }
    if results.is_empty() {
        return Err("no test results found (no '--- PASS:', '--- FAIL:' or '--- SKIP:' line)".into());
    }
    Ok(results)
}

/// The test and outcome of a result line.
fn result_line(line: &str) -> Option<(&str, TestOutcome)> {
    let rest = line.trim_start_matches(SPACE).strip_prefix("--- ")?;
    let (outcome, rest) = [("PASS: ", TestOutcome::Pass), ("FAIL: ", TestOutcome::Fail), ("SKIP: ", TestOutcome::Skip)]
        .into_iter()
        .find_map(|(word, outcome)| rest.strip_prefix(word).map(|rest| (outcome, rest)))?;
    let end = rest.find(SPACE).unwrap_or(rest.len());
    (end > 0).then(|| (&rest[..end], outcome))
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;

    #[test]
    fn go_test_v_output() {
        let r = parse(&fixture("upstream/e2e.log")).unwrap();
        assert_eq!(r.lookup("TestGangScheduling"), Some(TestOutcome::Pass));
        assert_eq!(r.lookup("TestSecureAcceleratorAccess/dra"), Some(TestOutcome::Pass), "an indented subtest");
        assert_eq!(r.lookup("TestAcceleratorClusterAutoscaling"), Some(TestOutcome::Skip));
        assert!(r.failing().is_empty());
        let r = parse(&fixture("failing/e2e.log")).unwrap();
        assert_eq!(r.failing(), ["TestParseConfig"]);
    }

    #[test]
    fn ginkgo_output_has_no_result_line() {
        let err = parse(&fixture("ginkgo/e2e.log")).unwrap_err();
        assert!(err.starts_with("no test results found"), "{err}");
    }

    #[test]
    fn only_well_formed_result_lines_count() {
        assert_eq!(result_line("\t \r--- FAIL: T/sub#01 (0.00s)"), Some(("T/sub#01", TestOutcome::Fail)));
        assert_eq!(result_line("--- SKIP: T"), Some(("T", TestOutcome::Skip)));
        for line in
            ["--- PASS:  T (two spaces)", "--- PASS:", "--- pass: T", "x --- PASS: T", "---  PASS: T", "=== RUN T"]
        {
            assert_eq!(result_line(line), None, "{line:?}");
        }
    }
}
