//! `kaic validate` agrees with what reviewers accept: it is stricter than the program only where the
//! program's instructions are explicit, its messages are one line each and name the requirement, and
//! its verdict says whose rule a file breaks.

use kaic_model::catalogue::ConformanceVersion;

use super::super::{Basis, Rule, Severity};
use super::{Fixture, in_item, item_range, replace, rules, set_field};
use crate::checklist::Template;

/// The problems of `report` as (rule, path), for readable assertions.
fn found(report: &super::super::ValidationReport) -> Vec<(Rule, String)> {
    report.problems.iter().map(|p| (p.rule, p.path.clone())).collect()
}

#[test]
fn a_should_left_blank_is_accepted_as_the_programs_validator_does() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    let blank = set_field(&f.product, "gpu_sharing", "evidence", "[]");
    let blank = set_field(&blank, "gpu_sharing", "notes", "\"\"");
    for status in ["\"\"", ""] {
        let report = f.validate(&set_field(&blank, "gpu_sharing", "status", status));
        assert!(report.problems.is_empty(), "status {status:?}:\n{}", report.to_text());
    }
    // With evidence the answer is half given: the program's validator rejects the empty status.
    let half = set_field(&f.product, "gpu_sharing", "status", "\"\"");
    let report = f.validate(&half);
    assert_eq!(found(&report), [(Rule::StatusInvalid, "spec.accelerators[1] (gpu_sharing).status".to_string())]);
    assert!(report.problems[0].message.contains("a SHOULD may be left blank only without evidence"));
    // A MUST may not be left blank.
    let must = set_field(&set_field(&f.product, "ai_inference", "status", "\"\""), "ai_inference", "evidence", "[]");
    let report = f.validate(&must);
    assert!(report.breaks(Rule::StatusInvalid) && report.breaks(Rule::EvidenceMissing), "{}", report.to_text());
    assert!(!report.is_valid());
}

#[test]
fn an_optional_field_given_as_na_none_or_dash_is_not_a_placeholder() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    for value in ["N/A", "none", "-"] {
        let text = replace(&f.product, "\"https://github.com/acme/ai-platform\"", &format!("\"{value}\""));
        let report = f.validate(&text);
        assert!(report.problems.is_empty(), "repoUrl {value}:\n{}", report.to_text());
    }
    // A required field still needs its value; only the bracketed placeholder is the program's own rule.
    for (value, basis) in [("N/A", Basis::Kaic), ("[Platform Version]", Basis::Program)] {
        let report =
            f.validate(&replace(&f.product, "platformVersion: \"2.4.1\"", &format!("platformVersion: \"{value}\"")));
        assert_eq!(found(&report), [(Rule::MetadataPlaceholder, "metadata.platformVersion".to_string())]);
        assert_eq!(report.problems[0].basis, basis, "{value}");
    }
}

#[test]
fn a_should_claimed_without_evidence_is_a_warning_that_points_at_a_url_in_the_notes() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    let id = "driver_runtime_management";
    let bare = set_field(&f.product, id, "evidence", "[]");
    let report = f.validate(&bare);
    assert_eq!(found(&report), [(Rule::EvidenceRecommended, format!("spec.accelerators[0] ({id}).evidence"))]);
    assert_eq!(report.problems[0].severity, Severity::Warning);
    assert!(report.is_valid());
    assert!(!report.problems[0].message.contains("notes"), "{}", report.problems[0].message);

    let in_notes = set_field(&bare, id, "notes", "\"See https://docs.acme.example/drivers\"");
    let report = f.validate(&in_notes);
    assert!(report.is_valid());
    assert!(report.problems[0].message.ends_with("move the URL from notes into evidence"), "{}", report.to_text());

    // A MUST without evidence stays an error, with the same hint.
    let must = set_field(
        &set_field(&f.product, "ai_inference", "evidence", "[]"),
        "ai_inference",
        "notes",
        "\"https://x.example/gw\"",
    );
    let report = f.validate(&must);
    assert_eq!(found(&report), [(Rule::EvidenceMissing, "spec.networking[0] (ai_inference).evidence".to_string())]);
    assert!(!report.is_valid());
    assert!(report.problems[0].message.contains("program's instructions"), "{}", report.problems[0].message);
    assert!(report.problems[0].message.ends_with("move the URL from notes into evidence"));
}

#[test]
fn a_description_that_differs_only_in_trailing_whitespace_is_the_same() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    let template = Template::load(&super::template_path(f.version)).unwrap();
    let official = template.requirement("ai_inference").unwrap().description.clone().unwrap();
    let range = item_range(&f.product, "ai_inference");
    let line = f.product[range].lines().find(|l| l.trim_start().starts_with("description:")).unwrap().to_string();
    // A folded block ends in a newline; trailing spaces are invisible in review.
    for written in
        [format!("      description: >\n        {official}\n"), format!("      description: \"{official}  \"\n")]
    {
        let text = in_item(&f.product, "ai_inference", &format!("{line}\n"), &written);
        let report = f.validate(&text);
        assert!(report.problems.is_empty(), "{written}:\n{}", report.to_text());
    }
    // A change inside the text is still an edit.
    let edited = in_item(&f.product, "ai_inference", "Gateway API", "Gateway  API");
    let report = f.validate(&edited);
    assert_eq!(
        found(&report),
        [(Rule::RequirementChanged, "spec.networking[0] (ai_inference).description".to_string())]
    );
}

#[test]
fn a_png_logo_is_refused_citing_the_programs_instructions() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    let report = f.validate(&replace(&f.product, "ai-platform.svg", "ai-platform.png"));
    let problem = &report.problems[0];
    assert_eq!((problem.rule, problem.basis, problem.severity), (Rule::MetadataLogo, Basis::Program, Severity::Error));
    assert!(problem.message.contains("the program's instructions ask for the product logo in SVG, AI or EPS format"));
    assert!(!problem.message.contains("validator"), "{}", problem.message);
}

#[test]
fn every_message_is_one_line() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    let text = set_field(&f.product, "ai_inference", "status", "\"Done\\nreally\"");
    let text = in_item(&text, "gang_scheduling", "gang scheduling solution", "gang\\nscheduling solution");
    let report = f.validate(&text);
    assert!(report.breaks(Rule::StatusInvalid) && report.breaks(Rule::RequirementChanged), "{}", report.to_text());
    for p in &report.problems {
        assert!(!p.message.contains('\n') && !p.path.contains('\n'), "{p:?}");
    }
    assert!(report.problems.iter().any(|p| p.message.contains("status 'Done\\nreally' is not allowed")));
    // The header, one line per problem, the verdict.
    assert_eq!(report.to_text().lines().count(), report.problems.len() + 2, "{}", report.to_text());
}

#[test]
fn every_problem_of_a_requirement_names_it_in_its_path() {
    // The bare template: every MUST unanswered, every placeholder in place.
    let f = Fixture::new(ConformanceVersion::V1_36);
    let template = std::fs::read_to_string(super::template_path(f.version)).unwrap();
    let report = f.validate(&template);
    let in_spec: Vec<&str> =
        report.problems.iter().map(|p| p.path.as_str()).filter(|p| p.starts_with("spec.")).collect();
    assert!(in_spec.len() >= 9, "{}", report.to_text());
    for path in in_spec {
        let (_, rest) = path.split_once(" (").unwrap_or_else(|| panic!("{path} names no requirement"));
        let id = rest.split(')').next().unwrap();
        assert!(template.contains(&format!("- id: {id}\n")), "{path}");
    }
}

#[test]
fn the_verdict_says_whose_rules_are_broken() {
    let f = Fixture::new(ConformanceVersion::V1_36);
    let verdict = |text: &str| f.validate(text).to_text().lines().last().unwrap().to_string();
    assert!(verdict(&f.product).starts_with("VALID: "));
    let kaic_only = verdict(&replace(&f.product, "conformance@acme.example", "conformance at acme"));
    assert!(kaic_only.starts_with("INVALID by kaic's own stricter rules: "), "{kaic_only}");
    assert!(
        kaic_only.contains("breaks none of the program's rules that kaic checks, but has 1 error against kaic's own")
    );
    assert!(!kaic_only.contains("would not be accepted"), "{kaic_only}");
    let program = verdict(&replace(&f.product, "ai-platform.svg", "ai-platform.png"));
    assert!(program.ends_with("would not be accepted: 1 error against the program's rules (0 warnings)."), "{program}");
    let both =
        f.validate(&replace(&replace(&f.product, "ai-platform.svg", "ai-platform.png"), "@acme.example", " at acme"));
    assert_eq!(rules(&both).len(), 2, "{}", both.to_text());
    assert!(
        both.to_text().contains("1 error against the program's rules, and 1 error against kaic's own stricter rules")
    );
    assert!(both.to_text().contains("[metadata-email, kaic's own rule]"), "{}", both.to_text());
}
