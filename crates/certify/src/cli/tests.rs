//! The command-line entry points end to end on synthetic runs: what they print, write and return.

use super::*;
use crate::checklist::tests::template_path;
use crate::fill::tests::metadata_only;
use crate::validate::tests::{Fixture, baseline_report, write_run_files};

fn example_info() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("examples/platform-info.yaml")
}

/// A run folder with kaic's files and a platform-info with the metadata only.
fn run_dir(version: ConformanceVersion) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let report = baseline_report(version);
    write_run_files(tmp.path(), &report);
    let info = metadata_only(version);
    let mut yaml = String::from("metadata:\n");
    for (k, v) in info.metadata.fields() {
        yaml.push_str(&format!("  {k}: \"{v}\"\n"));
    }
    let info_path = tmp.path().join("platform-info.yaml");
    std::fs::write(&info_path, yaml).unwrap();
    (tmp, info_path)
}

fn run<F: FnOnce(Sink<'_>, Sink<'_>) -> u8>(f: F) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = f(&mut out, &mut err);
    (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

#[tokio::test]
async fn fill_then_validate_then_render() {
    let version = ConformanceVersion::V1_36;
    let (tmp, info) = run_dir(version);
    let options = FillOptions {
        results: tmp.path().join("kaic-results.json"),
        template: template_path(version),
        platform_info: info,
        output: None,
    };
    let (code, out, err) = run(|o, e| fill(&options, o, e));
    assert_eq!(code, EXIT_OK, "{out}{err}");
    let product = tmp.path().join("PRODUCT.yaml");
    assert!(
        out.starts_with(&format!(
            "wrote {}\n  Implemented            13\n  N/A                     1\n",
            product.display()
        )),
        "{out}"
    );

    let mut v = ValidateOptions::new(&product);
    v.template = Some(template_path(version));
    let (mut o, mut e) = (Vec::new(), Vec::new());
    let code = validate(&v, &mut o, &mut e).await;
    let text = String::from_utf8(o).unwrap();
    assert_eq!(code, EXIT_OK, "{text}");
    assert!(text.contains("VALID:"), "{text}");

    v.format = Format::Json;
    let (mut o, mut e) = (Vec::new(), Vec::new());
    assert_eq!(validate(&v, &mut o, &mut e).await, EXIT_OK);
    let json: serde_json::Value = serde_json::from_slice(&o).unwrap();
    assert_eq!(json["valid"], true);

    let (code, out, _) = run(|o, e| render(&RenderOptions { input: product.clone(), output: None }, o, e));
    assert_eq!(code, EXIT_OK);
    assert_eq!(out, format!("wrote {}\n", tmp.path().join("PRODUCT.md").display()));
    let (code, md, _) = run(|o, e| render(&RenderOptions { input: product.clone(), output: Some("-".into()) }, o, e));
    assert_eq!(code, EXIT_OK);
    assert!(md.starts_with("# Acme AI Platform 2.4.1 — Kubernetes AI Conformance v1.36"));
}

#[test]
fn fill_exit_code_says_what_is_left() {
    let version = ConformanceVersion::V1_36;
    let (tmp, _) = run_dir(version);
    let options = FillOptions {
        results: tmp.path().join("kaic-results.json"),
        template: template_path(version),
        // The example asks for an N/A on high_performance_networking, which the baseline run passed.
        platform_info: example_info(),
        output: Some(tmp.path().join("out.yaml")),
    };
    let (code, _, err) = run(|o, e| fill(&options, o, e));
    assert_eq!(code, EXIT_CANNOT);
    assert!(
        err.contains("requirements.high_performance_networking.status") && err.ends_with("nothing was written\n"),
        "{err}"
    );
    assert!(!tmp.path().join("out.yaml").exists());

    // A run that could not decide a MUST: written, exit 1, and the summary says what is left.
    let report = crate::fill::tests::synthetic_report(version, |id| {
        Some(if id == "pod_autoscaling" {
            kaic_model::outcome::Outcome::Unknown
        } else {
            kaic_model::outcome::Outcome::Pass
        })
    });
    std::fs::write(tmp.path().join("kaic-results.json"), serde_json::to_string(&report).unwrap()).unwrap();
    let options = FillOptions { platform_info: tmp.path().join("platform-info.yaml"), ..options };
    let (code, out, _) = run(|o, e| fill(&options, o, e));
    assert_eq!(code, EXIT_NOT_MET, "{out}");
    assert!(
        out.contains("left for a person (status empty; the notes say what to verify):\n  - pod_autoscaling (MUST)\n"),
        "{out}"
    );
}

#[tokio::test]
async fn a_vendor_answer_where_kaic_could_not_decide_validates() {
    let version = ConformanceVersion::V1_36;
    let (tmp, info) = run_dir(version);
    let report = crate::synthetic::report(version, |id| {
        use kaic_model::outcome::Outcome;
        Some(match id {
            "pod_autoscaling" => Outcome::Unknown,
            "gpu_sharing" => Outcome::NotApplicable,
            _ => Outcome::Pass,
        })
    });
    write_run_files(tmp.path(), &report);
    let mut yaml = std::fs::read_to_string(&info).unwrap();
    yaml.push_str(
        "requirements:\n  pod_autoscaling:\n    status: Implemented\n    evidence: [docs/hpa.md]\n    notes: Verified by hand.\n",
    );
    std::fs::write(&info, yaml).unwrap();
    std::fs::create_dir(tmp.path().join("docs")).unwrap();
    std::fs::write(tmp.path().join("docs/hpa.md"), "# HPA on custom metrics\n").unwrap();
    let options = FillOptions {
        results: tmp.path().join("kaic-results.json"),
        template: template_path(version),
        platform_info: info,
        output: None,
    };
    let (code, out, err) = run(|o, e| fill(&options, o, e));
    assert_eq!(code, EXIT_OK, "{out}{err}");
    assert!(out.contains("Implemented            13 (1 from platform-info)"), "{out}");
    let submission = Submission::load(&tmp.path().join("PRODUCT.yaml")).unwrap();
    let hpa = submission.sections.iter().flat_map(|s| &s.entries).find(|e| e.id == "pod_autoscaling").unwrap();
    assert_eq!(hpa.evidence, ["docs/hpa.md"], "kaic's files do not back a vendor's answer");
    let mut v = ValidateOptions::new(tmp.path().join("PRODUCT.yaml"));
    v.template = Some(template_path(version));
    let (mut o, mut e) = (Vec::new(), Vec::new());
    let code = validate(&v, &mut o, &mut e).await;
    assert_eq!(code, EXIT_OK, "{}", String::from_utf8_lossy(&o));
}

#[test]
fn fill_after_run_writes_product_yaml_into_the_run_folder() {
    let version = ConformanceVersion::V1_34;
    let (tmp, info) = run_dir(version);
    let report = baseline_report(version);
    let (path, filled) = fill_after_run(&template_path(version), &info, &report, tmp.path()).unwrap();
    assert_eq!(path, tmp.path().join("PRODUCT.yaml"));
    assert!(filled.complete());
    let submission = Submission::load(&path).unwrap();
    let first = &submission.sections[0].entries[0];
    assert_eq!(
        first.evidence,
        [
            "evidence/dra_support/junit.xml#dra_support",
            "evidence/dra_support/results.json#dra_support",
            "evidence/dra_support/e2e.log#dra_support",
            "kaic-results.json",
            "report.md",
            "evidence/dra_support/",
        ]
    );
    // Without kaic-results.json in the folder there is nothing to cite: refused, nothing written.
    let empty = tempfile::tempdir().unwrap();
    let err = fill_after_run(&template_path(version), &info, &report, empty.path()).unwrap_err();
    assert!(err.to_string().contains("kaic-results.json does not exist"), "{err}");
    assert!(!empty.path().join("PRODUCT.yaml").exists());
}

#[test]
fn bad_inputs_write_nothing() {
    let version = ConformanceVersion::V1_36;
    let (tmp, info) = run_dir(version);
    let output = tmp.path().join("PRODUCT.yaml");
    let base = FillOptions {
        results: tmp.path().join("kaic-results.json"),
        template: template_path(version),
        platform_info: info.clone(),
        output: Some(output.clone()),
    };
    let not_yaml = tmp.path().join("not.yaml");
    std::fs::write(&not_yaml, "metadata: [\n").unwrap();
    let list = tmp.path().join("list.yaml");
    std::fs::write(&list, "- 1\n").unwrap();
    let big = tmp.path().join("big.yaml");
    std::fs::File::create(&big).unwrap().set_len(50 * 1024 * 1024).unwrap();
    let cases = [
        (FillOptions { template: not_yaml.clone(), ..base.clone() }, "as YAML"),
        (FillOptions { template: list.clone(), ..base.clone() }, "the top level is a list"),
        (
            FillOptions { template: template_path(ConformanceVersion::V1_35), ..base.clone() },
            "the template is for conformance version 1.35 but the run used the 1.36 catalogue",
        ),
        (FillOptions { template: big.clone(), ..base.clone() }, "50.0 MiB"),
        (FillOptions { platform_info: not_yaml.clone(), ..base.clone() }, "as platform-info"),
        (FillOptions { results: list.clone(), ..base.clone() }, "as kaic's report (kaic-results.json)"),
        (
            FillOptions { results: tmp.path().join("results.json"), ..base.clone() },
            "it is a `go test -json` stream (the test output the program's validator reads), not kaic's report",
        ),
        (FillOptions { results: tmp.path().join("missing.json"), ..base.clone() }, "failed to read"),
        (
            FillOptions { output: Some(tmp.path().join("no/such/dir/PRODUCT.yaml")), ..base.clone() },
            "failed to resolve",
        ),
    ];
    for (options, expected) in cases {
        let (code, out, err) = run(|o, e| fill(&options, o, e));
        assert_eq!(code, EXIT_CANNOT, "{expected}: {out}");
        assert!(err.contains(expected), "{expected}: {err}");
        assert!(!output.exists(), "{expected}: written");
    }
    let (code, _, err) = run(|o, e| render(&RenderOptions { input: list.clone(), output: None }, o, e));
    assert_eq!(code, EXIT_CANNOT);
    assert!(err.contains("not a mapping"));
    assert!(!tmp.path().join("list.md").exists());
}

#[tokio::test]
async fn validate_exit_codes() {
    let f = Fixture::new(ConformanceVersion::V1_35);
    std::fs::write(f.path(), f.product.replacen("status: \"Implemented\"", "status: \"Done\"", 1)).unwrap();
    let mut options = ValidateOptions::new(f.path());
    let (mut o, mut e) = (Vec::new(), Vec::new());
    assert_eq!(validate(&options, &mut o, &mut e).await, EXIT_NOT_MET);
    let text = String::from_utf8(o).unwrap();
    assert!(text.contains("status 'Done' is not allowed") && text.contains("INVALID"), "{text}");

    options.file = f.dir.join("nope.yaml");
    let (mut o, mut e) = (Vec::new(), Vec::new());
    assert_eq!(validate(&options, &mut o, &mut e).await, EXIT_CANNOT);
    assert!(String::from_utf8(e).unwrap().starts_with("error: failed to read"));
    options.format = Format::Json;
    let (mut o, mut e) = (Vec::new(), Vec::new());
    assert_eq!(validate(&options, &mut o, &mut e).await, EXIT_CANNOT);
    let json: serde_json::Value = serde_json::from_slice(&o).unwrap();
    assert_eq!(json["valid"], false);
    assert!(json["error"].as_str().unwrap().starts_with("failed to read"));

    options.file = f.path();
    options.template = Some(f.dir.join("missing-template.yaml"));
    let (mut o, mut e) = (Vec::new(), Vec::new());
    assert_eq!(validate(&options, &mut o, &mut e).await, EXIT_CANNOT);
}

#[tokio::test]
async fn validate_online_fetches_the_template_and_checks_links() {
    let server = crate::http::tests::serve(|_, path| match path {
        "/docs/AIConformance-1.36.yaml" => {
            (200, std::fs::read_to_string(template_path(ConformanceVersion::V1_36)).unwrap())
        }
        "/up" => (200, String::new()),
        _ => (404, String::new()),
    });
    let f = Fixture::new(ConformanceVersion::V1_36);
    // Point every metadata link at the local server: one answers, the rest do not.
    let mut text = f.product.clone();
    for url in [
        "https://acme.example/ai-platform",
        "https://docs.acme.example/ai-platform",
        "https://github.com/acme/ai-platform",
    ] {
        text = text.replace(&format!("\"{url}\""), &format!("\"{}/up\"", server.base));
    }
    text = text.replace("https://acme.example/assets/ai-platform.svg", &format!("{}/logo.svg", server.base));
    // Tests send nothing beyond 127.0.0.1: drop the one link that must point at github.com.
    let k8s = text.lines().find(|l| l.contains("k8sConformanceUrl")).unwrap().to_string();
    text = text.replace(&format!("{k8s}\n"), "");
    std::fs::write(f.path(), text).unwrap();
    let mut options = ValidateOptions::new(f.path());
    options.online = true;
    options.template_base_url = format!("{}/docs", server.base);
    options.format = Format::Json;
    let (mut o, mut e) = (Vec::new(), Vec::new());
    let code = validate(&options, &mut o, &mut e).await;
    let json: serde_json::Value = serde_json::from_slice(&o).unwrap();
    assert_eq!(code, EXIT_NOT_MET, "{json:#}");
    assert!(json["compared_with"].as_str().unwrap().ends_with("/docs/AIConformance-1.36.yaml"), "{json:#}");
    assert_eq!(json["online"], true);
    let unreachable: Vec<&str> = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["rule"] == "url-unreachable")
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    // The logo is served by no route.
    assert!(unreachable.contains(&"metadata.productLogoUrl"), "{json:#}");
    assert!(!unreachable.contains(&"metadata.websiteUrl"), "{json:#}");
}
