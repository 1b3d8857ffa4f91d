//! `junit.xml` as the program reads it: any root element; the `<testcase>` elements directly in it and
//! in `<testsuite>` elements nested to any depth, each known by its `name` (its `classname` is not
//! read). A case with a `<failure>` or `<error>` failed, one with `<skipped>` was skipped, any other
//! passed. Both gotestsum's and go-junit-report's shapes (and kaic's) read the same way.

use super::xml::{self, Element};
use super::{TestOutcome, TestResults};

/// Reads JUnit XML.
///
/// # Errors
/// When the text is not well-formed XML or holds no test case.
pub fn parse(text: &str) -> Result<TestResults, String> {
    let root = xml::parse(text)?;
    let mut results = TestResults::default();
    // Depth first, in document order, without recursion: a stack of (element, next child to look at).
    let mut stack: Vec<(&Element, usize)> = vec![(&root, 0)];
    while let Some((element, next)) = stack.pop() {
        let Some(child) = element.children.get(next) else { continue };
        stack.push((element, next + 1));
        match child.name.as_str() {
            "testcase" => results.record(child.attribute("name").unwrap_or_default(), outcome(child)),
            "testsuite" => stack.push((child, 0)),
            _ => {}
        }
    }
    if results.is_empty() {
        return Err("no <testcase> elements found".into());
    }
    Ok(results)
}

fn outcome(case: &Element) -> TestOutcome {
    let has = |name: &str| case.children.iter().any(|c| c.name == name);
    if has("failure") || has("error") {
        TestOutcome::Fail
    } else if has("skipped") {
        TestOutcome::Skip
    } else {
        TestOutcome::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::fixture;
    use super::*;

    #[test]
    fn gotestsum_shape() {
        let r = parse(&fixture("upstream/junit.xml")).unwrap();
        assert_eq!(r.lookup("TestGangScheduling"), Some(TestOutcome::Pass));
        assert_eq!(r.lookup("TestSecureAcceleratorAccess"), Some(TestOutcome::Pass));
        assert_eq!(r.lookup("TestAcceleratorClusterAutoscaling"), Some(TestOutcome::Skip));
        assert_eq!(r.lookup("TestParseConfig"), Some(TestOutcome::Pass));
        assert!(r.failing().is_empty());
    }

    #[test]
    fn go_junit_report_shape_with_nested_suites_and_failures() {
        let r = parse(&fixture("failing/junit.xml")).unwrap();
        assert_eq!(r.lookup("TestGangScheduling"), Some(TestOutcome::Pass));
        assert_eq!(r.lookup("TestParseConfig"), Some(TestOutcome::Fail), "a failure in a nested suite");
        assert_eq!(r.lookup("TestHelper"), Some(TestOutcome::Fail), "an <error> is a failure");
        assert_eq!(r.failing(), ["TestParseConfig", "TestHelper"]);
    }

    #[test]
    fn cases_in_the_root_and_in_any_root_element() {
        let r = parse("<report><testcase name=\"A\"/><other><testcase name=\"Hidden\"/></other></report>").unwrap();
        assert_eq!(r.lookup("A"), Some(TestOutcome::Pass));
        assert_eq!(r.lookup("Hidden"), None, "only test cases in the root and in test suites are read");
        let r = parse("<testsuite><testcase name=\"B\"><skipped/><failure/></testcase></testsuite>").unwrap();
        assert_eq!(r.lookup("B"), Some(TestOutcome::Fail), "a failure wins over a skip");
    }

    #[test]
    fn a_file_without_cases_or_not_xml_is_an_error() {
        assert_eq!(parse("<testsuites name=\"x\"></testsuites>").unwrap_err(), "no <testcase> elements found");
        assert!(parse("PASS\nok  kaic.dev/checks").unwrap_err().contains("no root element"));
        assert!(parse("<testsuites><testsuite></testsuites>").unwrap_err().contains("closed by"));
    }
}
