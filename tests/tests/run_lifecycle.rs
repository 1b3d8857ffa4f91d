//! The run's lifecycle against a real cluster: preflight facts, dry run, Ctrl-C cleanup, `kaic cleanup`
//! touching only kaic's labelled objects, and the errors for a cluster that is not there.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kaic_e2e::{client, cluster, kaic, live_labelled, run_kaic};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

#[test]
fn preflight_reports_version_catalogue_and_capabilities() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, &["--dry-run"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let stderr = run.stderr();
    assert!(stderr.contains("Kubernetes v1.37"), "server version shown: {stderr}");
    // testenv runs 1.37, which kaic has a catalogue for: no fallback note.
    assert!(stderr.contains("catalogue: Kubernetes AI Conformance 1.37"), "{stderr}");
    assert!(!stderr.contains("newer than the newest catalogue"), "{stderr}");
    assert!(stderr.contains("dra") && stderr.contains("kueue"), "capabilities shown: {stderr}");
    // 1.36 moved dra_support to base conformance: the dry run says so and plans nothing for it.
    let stdout = run.stdout();
    assert!(stdout.contains("dra_support left out: its requirement is not in the 1.37 catalogue"), "{stdout}");
    assert!(stdout.contains("- workload_sandboxing (requirements: workload_sandboxing"), "{stdout}");
    // Every requirement of 1.37, MUST and SHOULD, has a check.
    assert!(stdout.contains("- ai_inference (requirements: ai_inference"), "{stdout}");
    assert!(stdout.contains("- cluster_autoscaling (requirements: cluster_autoscaling"), "{stdout}");
    assert!(!stdout.contains("(MUST): no check will run"), "{stdout}");
    assert!(stdout.contains("- advanced_inference_ingress (requirements: advanced_inference_ingress"), "{stdout}");
    assert!(stdout.contains("- disaggregated_inference (requirements: disaggregated_inference"), "{stdout}");
    assert!(!stdout.contains("no check will run"), "every 1.37 requirement has a check: {stdout}");
    assert!(stdout.contains("- robust_controller (requirements: robust_controller"), "{stdout}");
    for file in ["kaic-results.json", "results.json", "junit.xml", "e2e.log", "report.md"] {
        assert!(!run.dir.path().join(file).exists(), "a dry run writes nothing: {file}");
    }

    let planned = run_kaic(&kubeconfig, &["--dry-run", "--conformance-version", "1.35"]);
    assert!(planned.stdout().contains("- dra_support (requirements: dra_support;"), "{}", planned.stdout());
    assert!(planned.stdout().contains("creates: DeviceClass kaic-dra-roundtrip-<run>"));
}

#[test]
fn unknown_check_id_is_named_with_the_known_ones() {
    let kubeconfig = cluster("default");
    let run = run_kaic(&kubeconfig, &["--focus", "dra", "--conformance-version", "1.35"]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("unknown check id 'dra': known checks are "), "{}", run.stderr());
    assert!(run.stderr().contains(" dra_support, "), "the known ids are listed: {}", run.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_the_run_and_cleans_up() {
    let kubeconfig = cluster("default");
    let dir = tempfile::tempdir().unwrap();
    let mut child = kaic()
        .args(["run", "--no-progress", "--focus", "dra_support", "--conformance-version", "1.35", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg("--output-dir")
        .arg(dir.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    // Wait until the check has started (its namespace exists), then interrupt.
    while !seen.contains("start dra_support") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "kaic ended before starting the check:\n{seen}");
        seen.push_str(&line);
    }
    let run_id = seen
        .lines()
        .find_map(|l| l.strip_prefix("run ").and_then(|rest| rest.split(':').next()))
        .expect("kaic printed its run id")
        .to_string();
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(2), "an interrupted run cannot vouch for anything:\n{seen}{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    let client = client(&kubeconfig).await;
    let left = live_labelled::<Namespace>(&client, &format!("kaic.dev/run-id={run_id}")).await;
    assert!(left.is_empty(), "namespaces of the interrupted run left alive: {left:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cleanup_removes_only_what_kaic_labelled() {
    // Not `default`: `kaic cleanup` removes what every kaic run left, so it would delete the namespaces of
    // the runs other tests of this file make there at the same time.
    let kubeconfig = cluster("no-dra");
    let client = client(&kubeconfig).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let suffix = format!("{}", std::process::id());
    let leftover = format!("kaic-leftover-{suffix}");
    let foreign = format!("not-kaic-{suffix}");
    for (name, labelled) in [(&leftover, true), (&foreign, false)] {
        let labels = labelled.then(|| {
            [
                ("app.kubernetes.io/managed-by".to_string(), "kaic".to_string()),
                ("kaic.dev/run-id".to_string(), "killed1".to_string()),
            ]
            .into()
        });
        let ns = Namespace {
            metadata: ObjectMeta { name: Some(name.clone()), labels, ..Default::default() },
            ..Default::default()
        };
        namespaces.create(&PostParams::default(), &ns).await.unwrap();
    }

    // Preflight names the leftover of the "killed" run and the fix, in one line.
    let dry = run_kaic(&kubeconfig, &["--dry-run"]);
    let warning = dry.stderr().lines().find(|l| l.contains("left by earlier kaic runs")).map(String::from);
    let warning = warning.unwrap_or_else(|| panic!("no leftover warning: {}", dry.stderr()));
    assert!(warning.contains(&leftover) && warning.contains("run `kaic cleanup`"), "{warning}");

    let output = kaic().arg("cleanup").arg("--kubeconfig").arg(&kubeconfig).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(&format!("deleted Namespace/{leftover}")), "{stdout}");
    assert!(!stdout.contains(&foreign), "cleanup touched a namespace kaic did not create: {stdout}");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let gone = namespaces.get_opt(&leftover).await.unwrap().is_none_or(|n| n.metadata.deletion_timestamp.is_some());
        if gone {
            break;
        }
        assert!(Instant::now() < deadline, "{leftover} still alive after cleanup");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let untouched = namespaces.get(&foreign).await.unwrap();
    assert!(untouched.metadata.deletion_timestamp.is_none(), "the foreign namespace was deleted");
    namespaces.delete(&foreign, &Default::default()).await.unwrap();
}

#[test]
fn unreachable_server_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    // A port nothing listens on, on loopback.
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}\n\
         users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n",
    )
    .unwrap();
    let run = run_kaic(&kubeconfig, &[]);
    assert_eq!(run.code(), 2);
    let stderr = run.stderr();
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("cannot reach the API server at https://127.0.0.1:1"), "{stderr}");
    assert!(stderr.contains("check that the cluster is running"), "{stderr}");
}

#[test]
fn bad_credentials_are_named() {
    let kubeconfig = cluster("default");
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    let server = text.lines().find_map(|l| l.trim().strip_prefix("server:")).unwrap().trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("kubeconfig");
    std::fs::write(
        &bad,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: '{server}', insecure-skip-tls-verify: true}}\n\
             users:\n- name: u\n  user: {{token: expired-token}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let run = run_kaic(&bad, &[]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("rejected kaic's credentials (401 Unauthorized)"), "{}", run.stderr());
}

#[test]
fn a_run_fills_the_official_checklist() {
    let kubeconfig = cluster("default");
    let template = kaic_e2e::repo_root().join("crates/certify/testdata/checklists/AIConformance-1.35.yaml");
    let info = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        info.path(),
        [
            "metadata:",
            "  platformName: testenv",
            "  platformVersion: \"0.1\"",
            "  vendorName: kaic",
            "  websiteUrl: https://kaic.example",
            "  documentationUrl: https://kaic.example/docs",
            "  productLogoUrl: https://kaic.example/logo.svg",
            "  description: local",
            "  contactEmailAddress: dev@kaic.example",
        ]
        .join("\n"),
    )
    .unwrap();
    let run = run_kaic(
        &kubeconfig,
        &[
            "--focus",
            "dra_support",
            "--conformance-version",
            "1.35",
            "--checklist",
            template.to_str().unwrap(),
            "--platform-info",
            info.path().to_str().unwrap(),
        ],
    );
    let product = run.file("PRODUCT.yaml");
    // kaic's verdict for dra_support is filled in, with its evidence as relative paths.
    let dra = product.split("- id: dra_support").nth(1).unwrap().split("- id:").next().unwrap();
    assert!(dra.contains("status: \"Implemented\""), "{dra}");
    // Met: it cites dra_support's own test files, naming its test, then kaic's report and the folder.
    for cited in [
        "evidence/dra_support/junit.xml#dra_support",
        "evidence/dra_support/results.json#dra_support",
        "evidence/dra_support/e2e.log#dra_support",
        "kaic-results.json",
        "report.md",
        "evidence/dra_support/",
    ] {
        assert!(dra.contains(&format!("\"{cited}\"")), "{cited}: {dra}");
    }
    // Those files hold dra_support alone, passed, in the formats the program's validator parses.
    let log = run.file("evidence/dra_support/e2e.log");
    assert!(log.lines().any(|l| l.starts_with("--- PASS: dra_support (")), "{log}");
    assert!(log.lines().any(|l| l.starts_with("ok  \tkaic.dev/checks\t")), "the package passed: {log}");
    let events: Vec<serde_json::Value> = run
        .file("evidence/dra_support/results.json")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a go test -json line: {e}: {l}")))
        .collect();
    let results: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["Test"].is_string() && matches!(e["Action"].as_str(), Some("pass" | "fail" | "skip")))
        .map(|e| (e["Test"].as_str().unwrap(), e["Action"].as_str().unwrap()))
        .collect();
    assert!(results.contains(&("dra_support", "pass")), "{results:?}");
    assert!(results.iter().all(|(name, action)| name.starts_with("dra_support") && *action != "fail"), "{results:?}");
    assert!(run.file("evidence/dra_support/junit.xml").contains("<testcase name=\"dra_support\""));
    assert!(run.file("junit.xml").contains("<testcase name=\"dra_support\""));
    assert!(product.contains("platformName: \"testenv\""), "{product}");
    // The descriptions stay byte for byte as in the template.
    let original = std::fs::read_to_string(&template).unwrap();
    for line in original.lines().filter(|l| l.trim_start().starts_with("description:") && l.starts_with("      ")) {
        assert!(product.contains(line), "description changed: {line}");
    }
    assert!(run.stdout().contains("wrote "), "{}", run.stdout());
}
