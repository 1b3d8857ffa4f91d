//! `kaic registry …` from the binary: import, add, token create and serve against a temporary SQLite
//! registry, with exit codes and messages. The registry's own behaviour is tested in crates/registry.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use assert_cmd::Command;
use kaic_certify::fill::{FillInput, fill};
use kaic_certify::synthetic;
use kaic_model::ConformanceVersion;
use kaic_model::outcome::Outcome;
use predicates::prelude::*;

const V: ConformanceVersion = ConformanceVersion::V1_37;

fn kaic() -> Command {
    Command::cargo_bin("kaic").expect("kaic is built")
}

/// A valid submission filled by kaic from a passing synthetic run, in the program's layout.
fn submission(root: &Path, folder: &str, vendor: &str, platform: &str) -> PathBuf {
    let dir = root.join(format!("v{V}")).join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let report =
        synthetic::report(V, |id| Some(if id == "gpu_sharing" { Outcome::NotApplicable } else { Outcome::Pass }));
    synthetic::write_run_files(&dir, &report).unwrap();
    let mut info = synthetic::platform_info(V);
    info.metadata.vendor_name = Some(vendor.into());
    info.metadata.platform_name = Some(platform.into());
    let template_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../certify/testdata/checklists/AIConformance-{V}.yaml"));
    let template_text = std::fs::read_to_string(&template_path).unwrap();
    let filled = fill(FillInput {
        template_path: &template_path,
        template_text: &template_text,
        platform_info_path: Path::new("platform-info.yaml"),
        platform_info: &info,
        report: &report,
        artifacts: &synthetic::artifacts(&report),
    })
    .unwrap();
    let product = dir.join("PRODUCT.yaml");
    std::fs::write(&product, filled.yaml).unwrap();
    product
}

#[test]
fn import_add_token_and_serve_from_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", tmp.path().join("data/registry.db").display());
    let root = tmp.path().join("repo");
    let acme = submission(&root, "acme", "Acme Corp", "Acme AI Platform");
    let broken = submission(&root, "initech", "Initech", "Initech Cloud");
    let text = std::fs::read_to_string(&broken).unwrap();
    std::fs::write(&broken, text.replacen("status: \"Implemented\"", "status: \"Done\"", 1)).unwrap();

    // One refused: exit 1, validate's own report for it; the valid one is in all the same.
    kaic()
        .args(["registry", "import"])
        .arg(&root)
        .args(["--database", &database])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("added acme-corp-acme-ai-platform-1.37 as certification #1"))
        .stdout(predicate::str::contains("the day it was imported"))
        .stdout(predicate::str::contains("INVALID").and(predicate::str::contains("[status-invalid]")))
        .stdout(predicate::str::contains("1 new, 0 already in the registry, 1 refused"))
        .stderr(predicate::str::contains("refused").and(predicate::str::contains("initech/PRODUCT.yaml")));
    // The same submission with the same results is the entry already there.
    kaic()
        .args(["registry", "add"])
        .arg(&acme)
        .arg("--results")
        .arg(acme.with_file_name("kaic-results.json"))
        .args(["--database", &database])
        .assert()
        .success()
        .stdout(predicate::str::contains("unchanged").and(predicate::str::contains("certification #1")));
    kaic()
        .args(["registry", "add"])
        .arg(&broken)
        .args(["--database", &database])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("[status-invalid]"));
    kaic()
        .args(["registry", "add", "missing.yaml", "--database", &database])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing.yaml"));
    kaic()
        .args(["registry", "import"])
        .arg(&root)
        .args(["--database", "mysql://db/registry"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("use sqlite://PATH"));
    let token = kaic().args(["registry", "token", "create", "--database", &database]).output().unwrap();
    assert!(token.status.success());
    let token = String::from_utf8(token.stdout).unwrap();
    assert!(token.trim().starts_with("kaicreg_") && token.lines().count() == 1, "{token}");

    // serve: the first line names the address; the API answers there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = std::process::Command::new(assert_cmd::cargo::cargo_bin("kaic"))
        .args(["registry", "serve", "--database", &database, "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let answer = (|| {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
        stream.write_all(b"GET /api/v1/platforms HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok::<_, std::io::Error>(answer)
    })();
    // SIGTERM stops it cleanly (exit 0), as a service manager would.
    let stopped = std::process::Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(stopped.success());
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > std::time::Duration::from_secs(10) {
            let _ = server.kill();
            let _ = server.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let status = status.expect("serve stops within 10 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "serve ends with exit 0 on SIGTERM");
    assert_eq!(first.trim(), format!("serving the registry on http://127.0.0.1:{port}/ (Ctrl-C or SIGTERM stops it)"));
    let answer = answer.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"platform_id\":\"acme-corp-acme-ai-platform-1.37\""), "{answer}");
}
