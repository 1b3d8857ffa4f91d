//! Test artifacts cited as evidence, read as the program's validator reads them (since its PR #141, for
//! every conformance version): a file named `junit.xml` is JUnit XML, `results.json` a `go test -json`
//! stream and `e2e.log` `go test -v` text, whatever folder it is in (the name is compared without case).
//! Every other file only has to exist.
//!
//! Each format has its own parser ([`junit`], [`go_test_json`], [`e2e_log`]), pure functions from the
//! text to the [`TestResults`] they record; [`rules`] holds the submission to them.

pub mod e2e_log;
pub mod go_test_json;
pub mod junit;
pub(super) mod rules;
mod xml;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The three file formats the program parses, each known by its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    Junit,
    GoTestJson,
    E2eLog,
}

impl ArtifactKind {
    /// The kind of a cited file, by its name alone; `None` for any other file.
    pub fn of(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        match name.as_str() {
            "junit.xml" => Some(Self::Junit),
            "results.json" => Some(Self::GoTestJson),
            "e2e.log" => Some(Self::E2eLog),
            _ => None,
        }
    }

    /// Reads the text of a file of this kind.
    ///
    /// # Errors
    /// Why the text is not a file of this kind, as the program would say it.
    pub fn parse(self, text: &str) -> Result<TestResults, String> {
        match self {
            Self::Junit => junit::parse(text),
            Self::GoTestJson => go_test_json::parse(text),
            Self::E2eLog => e2e_log::parse(text),
        }
    }
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Junit => "JUnit XML",
            Self::GoTestJson => "go test -json output",
            Self::E2eLog => "go test -v output",
        })
    }
}

/// How one test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOutcome {
    Pass,
    Fail,
    Skip,
}

impl fmt::Display for TestOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pass => "passed",
            Self::Fail => "failed",
            Self::Skip => "was skipped",
        })
    }
}

/// The tests a file records, by name (package and class name play no part, as in the program).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestResults {
    outcomes: BTreeMap<String, TestOutcome>,
    /// Names in the order they first appear, for messages.
    order: Vec<String>,
}

impl TestResults {
    /// Records a result. A failure is never overwritten; otherwise the last record wins (so a later
    /// skip replaces an earlier pass, as in the program).
    pub fn record(&mut self, name: &str, outcome: TestOutcome) {
        match self.outcomes.get(name) {
            Some(TestOutcome::Fail) => {}
            Some(_) => {
                self.outcomes.insert(name.to_string(), outcome);
            }
            None => {
                self.outcomes.insert(name.to_string(), outcome);
                self.order.push(name.to_string());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.outcomes.is_empty()
    }

    /// Every failed test, subtests included, in file order.
    pub fn failing(&self) -> Vec<&str> {
        self.order.iter().filter(|n| self.outcomes.get(*n) == Some(&TestOutcome::Fail)).map(String::as_str).collect()
    }

    /// The outcome of `test`: its own record, or else that of its subtests `test/…` taken together
    /// (any failed: failed; all skipped: skipped; otherwise passed); `None` when neither exists.
    pub fn lookup(&self, test: &str) -> Option<TestOutcome> {
        if let Some(outcome) = self.outcomes.get(test) {
            return Some(*outcome);
        }
        let prefix = format!("{test}/");
        let subtests: Vec<TestOutcome> = self
            .outcomes
            .range(prefix.clone()..)
            .take_while(|(name, _)| name.starts_with(&prefix))
            .map(|(_, outcome)| *outcome)
            .collect();
        if subtests.is_empty() {
            None
        } else if subtests.contains(&TestOutcome::Fail) {
            Some(TestOutcome::Fail)
        } else if subtests.iter().all(|o| *o == TestOutcome::Skip) {
            Some(TestOutcome::Skip)
        } else {
            Some(TestOutcome::Pass)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A file of `testdata/artefacts/`.
    pub(crate) fn fixture(path: &str) -> String {
        let dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(dir.join("testdata/artefacts").join(path)).unwrap()
    }

    #[test]
    fn files_are_known_by_name_alone() {
        assert_eq!(ArtifactKind::of(Path::new("junit.xml")), Some(ArtifactKind::Junit));
        assert_eq!(ArtifactKind::of(Path::new("a/b/JUnit.XML")), Some(ArtifactKind::Junit));
        assert_eq!(ArtifactKind::of(Path::new("evidence/x/results.json")), Some(ArtifactKind::GoTestJson));
        assert_eq!(ArtifactKind::of(Path::new("E2E.log")), Some(ArtifactKind::E2eLog));
        for other in ["kaic-results.json", "junit_01.xml", "e2e-results.log", "report.md", "evidence/x/"] {
            assert_eq!(ArtifactKind::of(Path::new(other)), None, "{other}");
        }
    }

    #[test]
    fn a_failure_sticks_and_otherwise_the_last_record_wins() {
        let mut r = TestResults::default();
        r.record("A", TestOutcome::Fail);
        r.record("A", TestOutcome::Pass);
        r.record("B", TestOutcome::Pass);
        r.record("B", TestOutcome::Skip);
        r.record("C", TestOutcome::Skip);
        r.record("C", TestOutcome::Pass);
        assert_eq!(r.lookup("A"), Some(TestOutcome::Fail));
        assert_eq!(r.lookup("B"), Some(TestOutcome::Skip));
        assert_eq!(r.lookup("C"), Some(TestOutcome::Pass));
        assert_eq!(r.failing(), ["A"]);
    }

    #[test]
    fn a_test_without_its_own_record_is_its_subtests_together() {
        let mut r = TestResults::default();
        for (name, outcome) in [
            ("T/a", TestOutcome::Pass),
            ("T/b", TestOutcome::Skip),
            ("S/a", TestOutcome::Skip),
            ("S/b/c", TestOutcome::Skip),
            ("F/a", TestOutcome::Pass),
            ("F/b", TestOutcome::Fail),
            ("Tx", TestOutcome::Fail),
        ] {
            r.record(name, outcome);
        }
        assert_eq!(r.lookup("T"), Some(TestOutcome::Pass));
        assert_eq!(r.lookup("S"), Some(TestOutcome::Skip));
        assert_eq!(r.lookup("F"), Some(TestOutcome::Fail));
        assert_eq!(r.lookup("S/b"), Some(TestOutcome::Skip));
        assert_eq!(r.lookup("Missing"), None);
        // A name that merely starts the same is not a subtest.
        assert_eq!(r.lookup("T"), Some(TestOutcome::Pass));
        assert_eq!(r.failing(), ["F/b", "Tx"]);
    }
}
