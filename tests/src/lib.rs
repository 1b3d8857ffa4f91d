//! Helpers for the end-to-end tests: start (or reuse) a testenv cluster, run the `kaic` binary against it,
//! and read what it wrote. The tests themselves are in `tests/tests/`.
//!
//! The binary is the one `cargo build` put next to this test executable (`target/<profile>/kaic`);
//! `make test` builds it first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join("..")
}

/// Starts the testenv cluster `profile` (or finds it running) and returns its kubeconfig path.
/// `testenv/up` is idempotent; it is called once per profile per test process.
pub fn cluster(profile: &str) -> PathBuf {
    static STARTED: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let started = STARTED.get_or_init(Mutex::default);
    let mut started = started.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = started.get(profile) {
        return path.clone();
    }
    let up = repo_root().join("testenv/up");
    let output = Command::new(&up)
        .args(["--profile", profile])
        .output()
        .unwrap_or_else(|e| panic!("failed to start {}: {e}", up.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "testenv/up --profile {profile} failed ({}):\n{}\n{}",
        output.status,
        tail(&stdout, 40),
        tail(&String::from_utf8_lossy(&output.stderr), 40)
    );
    let path = PathBuf::from(stdout.lines().last().expect("testenv/up printed the kubeconfig path").trim());
    assert!(path.is_file(), "testenv/up printed {}, which is not a file", path.display());
    started.insert(profile.to_string(), path.clone());
    path
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The kaic binary built by cargo next to this test executable.
pub fn kaic_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test> → target/<profile>/kaic
    let dir = exe.parent().and_then(Path::parent).expect("test runs from target/<profile>/deps");
    let binary = dir.join("kaic");
    assert!(binary.is_file(), "{} is missing: build it first with `cargo build -p kaic`", binary.display());
    binary
}

/// A `kaic` command with plain output.
pub fn kaic() -> Command {
    let mut command = Command::new(kaic_binary());
    command.env("NO_COLOR", "1");
    command
}

/// The result of one `kaic run`.
pub struct Run {
    pub output: Output,
    pub dir: tempfile::TempDir,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// kaic's report, kaic-results.json, parsed.
    pub fn results(&self) -> serde_json::Value {
        let path = self.dir.path().join("kaic-results.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("failed to read {}: {e}\nstdout:\n{}\nstderr:\n{}", path.display(), self.stdout(), self.stderr())
        });
        serde_json::from_str(&text).expect("kaic-results.json is JSON")
    }

    /// The report of one check in kaic-results.json.
    pub fn check(&self, id: &str) -> serde_json::Value {
        let results = self.results();
        results["checks"]
            .as_array()
            .and_then(|checks| checks.iter().find(|c| c["id"] == id).cloned())
            .unwrap_or_else(|| panic!("kaic-results.json has no check {id}: {results:#}"))
    }

    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_else(|e| panic!("failed to read {name}: {e}"))
    }
}

/// Runs `kaic run` against `kubeconfig` with extra arguments, writing into a fresh directory.
pub fn run_kaic(kubeconfig: &Path, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = kaic()
        .arg("run")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--output-dir")
        .arg(dir.path())
        .arg("--no-progress")
        .args(extra)
        .output()
        .expect("kaic runs");
    Run { output, dir }
}

/// A kube client for assertions about the cluster itself.
pub async fn client(kubeconfig: &Path) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig readable");
    let config = kube::Config::from_custom_kubeconfig(config, &Default::default()).await.expect("kubeconfig valid");
    kube::Client::try_from(config).expect("client")
}

/// Names of live (not terminating) objects of kind `K` carrying `selector`.
pub async fn live_labelled<K>(client: &kube::Client, selector: &str) -> Vec<String>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: kube::Api<K> = kube::Api::all(client.clone());
    match api.list_metadata(&kube::api::ListParams::default().labels(selector)).await {
        Ok(list) => list
            .items
            .into_iter()
            .filter(|o| o.metadata.deletion_timestamp.is_none())
            .filter_map(|o| o.metadata.name)
            .collect(),
        Err(kube::Error::Api(s)) if s.code == 404 => Vec::new(),
        Err(e) => panic!("failed to list {}: {e}", K::kind(&())),
    }
}

/// Live (not terminating) Kueue objects of `kind` carrying `selector`; none if Kueue is not served.
pub async fn live_kueue(client: &kube::Client, kind: &str, selector: &str) -> Vec<String> {
    let Ok(group) = kube::discovery::group(client, "kueue.x-k8s.io").await else { return Vec::new() };
    let Some((resource, _)) = group.recommended_kind(kind) else { return Vec::new() };
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(client.clone(), &resource);
    let list = api.list(&kube::api::ListParams::default().labels(selector)).await.expect("list Kueue objects");
    list.items.into_iter().filter(|o| o.metadata.deletion_timestamp.is_none()).filter_map(|o| o.metadata.name).collect()
}
