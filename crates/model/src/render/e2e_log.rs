//! `e2e.log` as the program's validator reads it: `go test -v` text, i.e. the output lines of the
//! [`TestLog`]'s events in order (as `jq -r .Output results.json` makes it from a real `go test -json`
//! run). Results are the `--- PASS|FAIL|SKIP: <name> (<seconds>s)` lines.

use super::test_log::TestLog;

/// Renders `log` as `go test -v` text.
pub fn render(log: &TestLog) -> String {
    log.events().into_iter().filter_map(|e| e.output).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Verdict;
    use crate::render::test_log::tests::with_solutions;
    use crate::report::fixtures::sample_report;

    /// The results the program's validator reads from e2e.log: `^\s*--- (PASS|FAIL|SKIP): (\S+)`.
    fn results(text: &str) -> Vec<(&str, &str)> {
        text.lines()
            .filter_map(|l| l.trim_start().strip_prefix("--- "))
            .filter_map(|rest| {
                let (word, rest) = rest.split_once(": ")?;
                ["PASS", "FAIL", "SKIP"].contains(&word).then(|| (word, rest.split_whitespace().next().unwrap_or("")))
            })
            .collect()
    }

    #[test]
    fn e2e_log_snapshot() {
        insta::assert_snapshot!(render(&TestLog::of(&with_solutions(Verdict::fail("no solution works", "a", "b")))));
    }

    #[test]
    fn result_lines_name_each_check_and_subtest() {
        let text = render(&TestLog::of(&with_solutions(Verdict::pass("Kueue passed"))));
        let results = results(&text);
        assert!(results.contains(&("PASS", "dra_support")), "{results:?}");
        assert!(results.contains(&("PASS", "gang_scheduling")), "{results:?}");
        assert!(results.contains(&("PASS", "gang_scheduling/kueue")), "{results:?}");
        assert!(results.contains(&("SKIP", "gang_scheduling/volcano")), "{results:?}");
        assert!(results.contains(&("SKIP", "robust_controller")), "{results:?}");
        assert!(text.contains("\n--- PASS: dra_support (4.21s)\n"), "{text}");
        assert!(text.contains("\n    --- PASS: gang_scheduling/kueue (0.00s)\n"), "{text}");
        assert!(text.contains("\n=== RUN   gang_scheduling/volcano\n"), "{text}");
        // A solution that failed where another met the requirement says so, without failing anything.
        assert!(text.contains("        failed: partial\n"), "{text}");
        assert!(text.contains("recorded as a skip: gang_scheduling as a whole ended pass, not failed"), "{text}");
        assert!(!results.iter().any(|(w, _)| *w == "FAIL"), "{results:?}");
        assert!(text.starts_with("kaic 0.1.0, run r-test (2026-11-23T10:00:00Z to 2026-11-23T10:01:00Z)\n"));
        assert!(text.ends_with("PASS\nok  \tkaic.dev/checks\t60.000s\n"), "{text}");
    }

    #[test]
    fn text_that_looks_like_a_result_is_not_one() {
        let mut report = sample_report();
        report.checks[0].evidence.step("--- FAIL: fake (0.00s)\n  --- PASS: other\r--- SKIP: x\n=== RUN   y");
        let text = render(&TestLog::of(&report));
        let names: Vec<&str> = results(&text).into_iter().map(|(_, n)| n).collect();
        assert!(!names.contains(&"fake") && !names.contains(&"other"), "{names:?}");
        assert!(text.contains("\n    step 2: --- FAIL: fake (0.00s)\n"), "{text}");
        assert!(text.contains("\n    >   --- PASS: other --- SKIP: x\n"), "{text}");
        assert!(text.contains("\n    > === RUN   y\n"), "{text}");
    }
}
