//! `results.json` as the program's validator reads it: a `go test -json` (test2json) stream, one JSON
//! event per line, rendered from the [`TestLog`]. (kaic's own report is `kaic-results.json`.)

use super::test_log::TestLog;

/// Renders the events of `log`, one JSON object per line.
pub fn render(log: &TestLog) -> String {
    let mut out = String::new();
    for event in log.events() {
        // An event holds only strings and numbers: serialising it cannot fail.
        out.push_str(&serde_json::to_string(&event).expect("a test event serialises"));
        out.push('\n');
    }
    out
}

/// Whether `text` is a `go test -json` stream rather than one JSON document: its first non-blank line
/// is a whole JSON object with an `Action`. kaic's report is one object (pretty-printed, or on one line
/// without `Action`), so the two are told apart by content, whatever the file is called.
pub fn is_stream(text: &str) -> bool {
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else { return false };
    serde_json::from_str::<serde_json::Value>(first).is_ok_and(|v| v.get("Action").is_some_and(|a| a.is_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Verdict;
    use crate::render::test_log::tests::with_solutions;
    use crate::report::fixtures::sample_report;
    use serde_json::Value;

    fn events(text: &str) -> Vec<Value> {
        text.lines()
            .enumerate()
            .map(|(i, l)| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {i}: {e}")))
            .collect()
    }

    /// The outcome of each test as the program's validator records it: pass, fail and skip with a Test.
    fn results(events: &[Value]) -> Vec<(String, String)> {
        events
            .iter()
            .filter(|e| matches!(e["Action"].as_str(), Some("pass" | "fail" | "skip")) && e.get("Test").is_some())
            .map(|e| (e["Test"].as_str().unwrap().to_string(), e["Action"].as_str().unwrap().to_string()))
            .collect()
    }

    #[test]
    fn every_line_is_a_go_test_event() {
        let text = render(&TestLog::of(&sample_report()));
        assert!(text.ends_with('\n'));
        for event in events(&text) {
            let object = event.as_object().unwrap();
            for key in object.keys() {
                assert!(["Time", "Action", "Package", "Test", "Output", "Elapsed"].contains(&key.as_str()), "{key}");
            }
            assert_eq!(event["Package"], "kaic.dev/checks");
            assert!(event["Time"].as_str().unwrap().starts_with("2026-11-23T10:0"), "{event}");
            let action = event["Action"].as_str().unwrap();
            assert!(["run", "output", "pass", "fail", "skip"].contains(&action), "{action}");
            assert_eq!(event.get("Output").is_some(), action == "output", "{event}");
            assert_eq!(event.get("Elapsed").is_some(), ["pass", "fail", "skip"].contains(&action), "{event}");
        }
    }

    #[test]
    fn outcomes_and_the_package_result() {
        let text = render(&TestLog::of(&sample_report()));
        let events = events(&text);
        let results = results(&events);
        assert!(results.contains(&("dra_support".into(), "pass".into())));
        assert!(results.contains(&("gang_scheduling".into(), "fail".into())));
        assert!(results.contains(&("robust_controller".into(), "skip".into())), "no check: a skip");
        let dra = events.iter().find(|e| e["Test"] == "dra_support" && e["Action"] == "pass").unwrap();
        assert_eq!(dra["Elapsed"], 4.21);
        // gang_scheduling failed: the package fails, after its summary lines.
        let last = events.last().unwrap();
        assert_eq!((last["Action"].as_str(), last.get("Test")), (Some("fail"), None));
        assert_eq!(last["Elapsed"], 60.0);
        assert!(text.contains("\"Output\":\"FAIL\\tkaic.dev/checks\\t60.000s\\n\""), "{text}");
        // The reason and expected/observed are in the failing test's output.
        let output: String = events
            .iter()
            .filter(|e| e["Test"] == "gang_scheduling" && e["Action"] == "output")
            .map(|e| e["Output"].as_str().unwrap())
            .collect();
        assert!(output.contains("    fail: gang partially bound\n"), "{output}");
        assert!(output.contains("    expected: 0 of 5 pods bound while capacity is short\n"), "{output}");
        assert!(output.contains("--- FAIL: gang_scheduling (30.00s)\n"), "{output}");
    }

    #[test]
    fn a_run_without_failures_passes_and_subtests_are_reported() {
        let mut report = with_solutions(Verdict::pass("Kueue passed"));
        report.checks.retain(|c| c.id != "dra_support");
        let events = events(&render(&TestLog::of(&report)));
        let results = results(&events);
        assert!(results.contains(&("gang_scheduling".into(), "pass".into())), "{results:?}");
        assert!(results.contains(&("gang_scheduling/kueue".into(), "pass".into())), "{results:?}");
        assert!(results.contains(&("gang_scheduling/volcano".into(), "skip".into())), "{results:?}");
        assert!(!results.iter().any(|(_, a)| a == "fail"), "{results:?}");
        let last = events.last().unwrap();
        assert_eq!(last["Action"], "pass");
        let run = events.iter().position(|e| e["Test"] == "gang_scheduling/kueue" && e["Action"] == "run").unwrap();
        let parent = events.iter().position(|e| e["Test"] == "gang_scheduling" && e["Action"] == "run").unwrap();
        assert!(parent < run, "a subtest runs inside its test");
    }

    #[test]
    fn streams_are_told_from_kaics_report() {
        let report = sample_report();
        assert!(is_stream(&render(&TestLog::of(&report))));
        assert!(!is_stream(&serde_json::to_string_pretty(&report).unwrap()));
        assert!(!is_stream(&serde_json::to_string(&report).unwrap()));
        assert!(!is_stream(""));
        assert!(!is_stream("not json\n"));
        assert!(is_stream("\n{\"Action\":\"start\",\"Package\":\"x\"}\n"));
    }
}
