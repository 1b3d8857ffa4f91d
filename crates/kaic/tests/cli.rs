//! Command-line behaviour that needs no cluster: the catalogue listing, argument errors, exit codes,
//! and the certification commands on synthetic runs. Every file read is inside this repository.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use kaic_certify::synthetic;
use kaic_model::ConformanceVersion;
use kaic_model::outcome::Outcome;
use predicates::prelude::*;

fn kaic() -> Command {
    Command::cargo_bin("kaic").expect("kaic is built")
}

/// An official template, from the copies kept as test data in this repository.
fn template(version: ConformanceVersion) -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join(format!("../certify/testdata/checklists/AIConformance-{version}.yaml"))
}

#[test]
fn requirements_table_lists_every_id_of_the_version() {
    kaic()
        .args(["requirements", "--conformance-version", "1.33"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Kubernetes AI Conformance 1.33 — 9 requirements"))
        .stdout(predicate::str::contains("dra_support").and(predicate::str::contains("SHOULD")))
        .stdout(predicate::str::contains("driver_runtime_management").not());
}

#[test]
fn requirements_json_has_id_area_level() {
    let output = kaic().args(["requirements", "--conformance-version", "v1.36", "--output", "json"]).output().unwrap();
    assert!(output.status.success());
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 14);
    let gang = rows.iter().find(|r| r["id"] == "gang_scheduling").unwrap();
    assert_eq!(gang["area"], "scheduling");
    assert_eq!(gang["level"], "MUST");
    assert!(rows.iter().all(|r| r["id"] != "dra_support"), "dra_support left the 1.36 catalogue");
}

#[test]
fn unknown_version_lists_the_known_ones() {
    kaic()
        .args(["requirements", "--conformance-version", "1.32"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown conformance version '1.32': kaic knows 1.33, 1.34, 1.35, 1.36"));
}

#[test]
fn missing_kubeconfig_is_one_line_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let assert = kaic()
        .args(["run", "--kubeconfig", "/nonexistent/kubeconfig", "--output-dir"])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("failed to read kubeconfig /nonexistent/kubeconfig"))
        .stderr(predicate::str::contains("pass --kubeconfig FILE"));
    assert_eq!(String::from_utf8_lossy(&assert.get_output().stderr).trim().lines().count(), 1);
}

#[test]
fn broken_kubeconfig_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kc");
    std::fs::write(&file, "clusters: [unclosed").unwrap();
    let assert = kaic()
        .args(["run", "--output-dir"])
        .arg(dir.path())
        .arg("--kubeconfig")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not valid"));
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn no_kubeconfig_anywhere_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    kaic()
        .env("HOME", dir.path())
        .env("KUBECONFIG", dir.path().join("absent"))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .args(["run", "--output-dir"])
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no kubeconfig found").and(predicate::str::contains("set KUBECONFIG")));
}

#[test]
fn unknown_context_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kc");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts:\n- name: real\n  context: {cluster: c, user: u}\ncurrent-context: real\n",
    )
    .unwrap();
    kaic()
        .args(["run", "--context", "typo", "--output-dir"])
        .arg(dir.path())
        .arg("--kubeconfig")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("context 'typo' is not in kubeconfig"));
}

#[test]
fn unwritable_output_dir_is_refused_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    kaic().args(["run", "--kubeconfig", "/nonexistent", "--output-dir"]).arg(file.join("sub")).assert().code(2).stderr(
        predicate::str::contains("cannot write to output directory").and(predicate::str::contains("--output-dir")),
    );
}

#[test]
fn schema_describes_results_json() {
    let output = kaic().arg("schema").output().unwrap();
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(schema["properties"]["checks"].is_object());
}

#[test]
fn help_documents_exit_codes() {
    kaic().arg("--help").assert().success().stdout(predicate::str::contains(
        "Exit codes: 0 every MUST met, 1 some MUST failed, 3 no MUST failed but some are undecided",
    ));
}

#[test]
fn a_timeout_scale_that_is_no_positive_factor_is_refused_with_the_fix() {
    for (given, said) in [
        ("0", "--timeout-scale 0 is out of range: give a factor between 0.1 and 100"),
        ("fast", "'fast' is not a number: give a factor such as 2 or 1.5"),
    ] {
        kaic().args(["run", "--timeout-scale", given]).assert().code(2).stderr(predicate::str::contains(said));
    }
}

#[test]
fn a_wait_override_naming_no_wait_is_refused_with_the_names() {
    for (given, said) in [
        ("scale-down=60", "--wait: no wait is named 'scale-down'; names: probe-pod,"),
        ("node-scale-down", "--wait 'node-scale-down' is not NAME=SECONDS (e.g. node-scale-down=1800)"),
        ("node-scale-down=soon", "--wait node-scale-down: 'soon' is not a whole number of seconds"),
    ] {
        kaic().args(["run", "--wait", given]).assert().code(2).stderr(predicate::str::contains(said));
    }
}

#[test]
fn validate_and_render_work_from_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let template = template(ConformanceVersion::V1_36);
    // The bare template is not a valid submission: placeholders and empty statuses, exit 1.
    let product = dir.path().join("PRODUCT.yaml");
    std::fs::copy(&template, &product).unwrap();
    kaic()
        .arg("validate")
        .arg(&product)
        .arg("--template")
        .arg(&template)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("metadata.platformName").and(predicate::str::contains("INVALID")));
    // Not YAML: could not read, exit 2, nothing written.
    let junk = dir.path().join("junk.yaml");
    std::fs::write(&junk, "{{{ not yaml").unwrap();
    kaic().arg("validate").arg(&junk).assert().code(2);
    kaic().args(["report", "render"]).arg(&junk).assert().code(2);
    assert!(!dir.path().join("PRODUCT.md").exists());
}

#[test]
fn run_refuses_a_missing_checklist_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    kaic()
        .args([
            "run",
            "--kubeconfig",
            "/nonexistent",
            "--checklist",
            "/nonexistent/template.yaml",
            "--platform-info",
            "/nonexistent/pi.yaml",
            "--output-dir",
        ])
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read /nonexistent/template.yaml"));
    kaic().args(["run", "--checklist", "t.yaml"]).assert().code(2).stderr(predicate::str::contains("--platform-info"));
}

#[test]
fn keyed_options_name_the_known_keys() {
    for (flag, value, said) in [
        (
            "--scheduler-name",
            "yunikorn=yk",
            "unknown solution 'yunikorn': use one of volcano, kai-scheduler, coscheduling",
        ),
        ("--gang-queue", "coscheduling=q", "unknown solution 'coscheduling': use one of volcano, kai-scheduler"),
        ("--scheduler-name", "volcano", "expected SOLUTION=VALUE, e.g. volcano=volcano-prod"),
        (
            "--probe-image",
            "tpu=img",
            "unknown key 'tpu': use one of nvidia, amd, intel, gaudi, sandbox, gpu-load, model-server, http-client, \
             endpoint-picker, scoring-endpoint-picker, routing-sidecar, netdev",
        ),
        ("--image-registry", "https://mirror.example", "is not a registry host"),
    ] {
        kaic().args(["run", flag, value]).assert().code(2).stderr(predicate::str::contains(said));
    }
}

/// `kaic images` lists every key `--probe-image` accepts with its default, and `--image-registry` moves them
/// all to the mirror; every key it lists is accepted by `kaic run --probe-image` (checked with `--dry-run`
/// against no cluster: parsing fails first, exit 2, for an unknown key only).
#[test]
fn images_lists_every_key_and_moves_the_defaults_to_a_mirror() {
    let output = kaic().args(["images", "--output", "json"]).output().unwrap();
    assert!(output.status.success());
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let keys: Vec<&str> = rows.iter().map(|r| r["key"].as_str().unwrap()).collect();
    for key in ["pause", "nvidia", "gpu-load", "model-server", "routing-sidecar", "scoring-endpoint-picker", "netdev"] {
        assert!(keys.contains(&key), "{key} listed: {keys:?}");
    }
    let pause = rows.iter().find(|r| r["key"] == "pause").unwrap();
    assert_eq!(pause["image"], "registry.k8s.io/pause:3.10");
    let mirrored =
        kaic().args(["images", "--output", "list", "--image-registry", "mirror.example:5000/kaic"]).output().unwrap();
    let list = String::from_utf8(mirrored.stdout).unwrap();
    assert!(list.lines().all(|l| l.starts_with("mirror.example:5000/kaic/")), "{list}");
    assert!(list.lines().any(|l| l == "mirror.example:5000/kaic/nvidia/cuda:12.6.3-base-ubuntu24.04"), "{list}");
    let mut unique: Vec<&str> = list.lines().collect();
    unique.dedup();
    assert_eq!(unique.len(), list.lines().count(), "each image once: {list}");
    for key in keys.iter().filter(|k| **k != "pause") {
        let flag = format!("{key}=mirror.example/x:1");
        let out =
            kaic().args(["run", "--probe-image", &flag, "--kubeconfig", "/nonexistent/kubeconfig"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("unknown key"), "--probe-image {flag}: {stderr}");
    }
}

/// A run folder of 1.36 with kaic's files (gang_scheduling left out with --skip) and a platform-info
/// holding the metadata plus `extra`.
fn skipped_gang_run(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let version = ConformanceVersion::V1_36;
    let report =
        synthetic::report(version, |id| Some(if id == "gpu_sharing" { Outcome::NotApplicable } else { Outcome::Pass }));
    synthetic::write_run_files(dir.path(), &synthetic::skip(report, "gang_scheduling")).unwrap();
    let mut info = String::from("metadata:\n");
    for (key, value) in synthetic::platform_info(version).metadata.fields() {
        info.push_str(&format!("  {key}: \"{value}\"\n"));
    }
    info.push_str(extra);
    std::fs::write(dir.path().join("platform-info.yaml"), info).unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/gang.md"), "# Gang scheduling with Kueue\n").unwrap();
    dir
}

fn fill_command(dir: &Path) -> Command {
    let mut cmd = kaic();
    cmd.args(["checklist", "fill", "--results"])
        .arg(dir.join("kaic-results.json"))
        .arg("--template")
        .arg(template(ConformanceVersion::V1_36))
        .arg("--platform-info")
        .arg(dir.join("platform-info.yaml"));
    cmd
}

#[test]
fn a_vendor_cannot_overrule_a_check_left_out_of_the_run() {
    // The vendor's status for the skipped check is refused; nothing is written.
    let dir =
        skipped_gang_run("requirements:\n  gang_scheduling:\n    status: Implemented\n    evidence: [docs/gang.md]\n");
    fill_command(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("it sets requirements.gang_scheduling.status to 'Implemented'"))
        .stderr(predicate::str::contains("kaic's check gang_scheduling (in --skip) was left out of run r-test"))
        .stderr(predicate::str::contains("nothing was written"));
    assert!(!dir.path().join("PRODUCT.yaml").exists());

    // Without it the fill leaves gang_scheduling to verify (exit 1) ...
    let dir = skipped_gang_run("");
    fill_command(dir.path()).assert().code(1).stdout(predicate::str::contains("  - gang_scheduling (MUST)"));
    // ... and marking it Implemented by hand, citing one's own page, does not validate.
    let product = dir.path().join("PRODUCT.yaml");
    let text = std::fs::read_to_string(&product).unwrap();
    let start = text.find("- id: gang_scheduling").unwrap();
    let (before, item) = text.split_at(start);
    let item = item.replacen("status: \"\"", "status: \"Implemented\"", 1).replacen(
        "evidence: []",
        "evidence: [\"docs/gang.md\"]",
        1,
    );
    std::fs::write(&product, format!("{before}{item}")).unwrap();
    kaic()
        .arg("validate")
        .arg(&product)
        .arg("--template")
        .arg(template(ConformanceVersion::V1_36))
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "error   spec.schedulingOrchestration[0] (gang_scheduling).status: a MUST marked 'Implemented' but \
             kaic's report 'kaic-results.json' shows its check gang_scheduling was left out of the run (in --skip)",
        ))
        .stdout(predicate::str::contains("INVALID by kaic's own stricter rules"));
}

#[test]
fn an_interrupted_run_is_not_filled_from() {
    let dir = skipped_gang_run("");
    let results = dir.path().join("kaic-results.json");
    let mut report: serde_json::Value = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    report["interrupted"] = true.into();
    std::fs::write(&results, report.to_string()).unwrap();
    fill_command(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("it was interrupted before every check finished"))
        .stderr(predicate::str::contains("rerun `kaic run` to completion"));
    assert!(!dir.path().join("PRODUCT.yaml").exists());
}
