//! RBAC: preflight names what kaic's identity may not do, and a service account that may read but not
//! create namespaces cannot run anything (one line, exit code 2). The role `kaic rbac` prints is enough:
//! a service account bound to exactly that role reaches the same outcome as the admin in every check.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kaic_e2e::{Run, client, cluster, kaic, run_kaic};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A ServiceAccount, its ClusterRole and ClusterRoleBinding (all named `name`), deleted when dropped, so that
/// a failed assertion leaves nothing behind in the shared cluster.
struct Identity {
    kubeconfig: PathBuf,
    namespace: String,
    name: String,
}

impl Identity {
    async fn create(
        kubeconfig: &Path,
        account: ServiceAccount,
        role: ClusterRole,
        binding: ClusterRoleBinding,
    ) -> Self {
        let namespace = account.metadata.namespace.clone().expect("the ServiceAccount names its namespace");
        let name = account.metadata.name.clone().expect("the ServiceAccount has a name");
        // The guard exists before the first create, so a half-made identity is removed too.
        let identity = Self { kubeconfig: kubeconfig.to_path_buf(), namespace, name };
        let client = client(kubeconfig).await;
        let pp = PostParams::default();
        Api::<ServiceAccount>::namespaced(client.clone(), &identity.namespace).create(&pp, &account).await.unwrap();
        Api::<ClusterRole>::all(client.clone()).create(&pp, &role).await.unwrap();
        Api::<ClusterRoleBinding>::all(client).create(&pp, &binding).await.unwrap();
        identity
    }

    /// A kubeconfig in `dir` for the same server, authenticated with a fresh token of the ServiceAccount.
    async fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let accounts: Api<ServiceAccount> = Api::namespaced(client(&self.kubeconfig).await, &self.namespace);
        // An hour: the token must outlive a whole suite.
        let request: TokenRequest = serde_json::from_value(json!({"spec": {"expirationSeconds": 3600}})).unwrap();
        let token = accounts
            .create_token_request(&self.name, &PostParams::default(), &request)
            .await
            .unwrap()
            .status
            .unwrap()
            .token
            .unwrap();
        // The same server as the admin kubeconfig, with the service account's token.
        let admin = std::fs::read_to_string(&self.kubeconfig).unwrap();
        let server = admin.lines().find_map(|l| l.trim().strip_prefix("server:")).unwrap().trim().to_string();
        let path = dir.join(format!("{}.kubeconfig", self.name));
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: '{server}', insecure-skip-tls-verify: true}}\n\
                 users:\n- name: u\n  user: {{token: '{token}'}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for Identity {
    fn drop(&mut self) {
        let (kubeconfig, namespace, name) = (self.kubeconfig.clone(), self.namespace.clone(), self.name.clone());
        let what = name.clone();
        // Drop cannot await, and may run while a panic unwinds the test's runtime: delete from a runtime of
        // its own on a thread of its own, and wait for it.
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let client = client(&kubeconfig).await;
                let dp = DeleteParams::default();
                let _ = Api::<ClusterRoleBinding>::all(client.clone()).delete(&name, &dp).await;
                let _ = Api::<ClusterRole>::all(client.clone()).delete(&name, &dp).await;
                let _ = Api::<ServiceAccount>::namespaced(client, &namespace).delete(&name, &dp).await;
            });
        })
        .join();
        if deleted.is_err() {
            eprintln!(
                "failed to delete the test identity {what}: delete its ClusterRole, binding and ServiceAccount by hand"
            );
        }
    }
}

/// A typed object from JSON.
fn object<K: DeserializeOwned>(value: &Value) -> K {
    serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("not a {}: {e}: {value}", std::any::type_name::<K>()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_identity_is_refused_with_the_missing_permissions() {
    let kubeconfig = cluster("default");
    let name = format!("kaic-e2e-readonly-{}", std::process::id());
    let account = json!({"metadata": {"name": name, "namespace": "default"}});
    let role = json!({
        "metadata": {"name": name},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]
    });
    let binding = json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}]
    });
    let identity = Identity::create(&kubeconfig, object(&account), object(&role), object(&binding)).await;
    let dir = tempfile::tempdir().unwrap();
    let run = run_kaic(&identity.kubeconfig(dir.path()).await, &[]);
    drop(identity);

    assert_eq!(run.code(), 2, "{}", run.stderr());
    let stderr = run.stderr();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("kaic may not create namespaces (denied: create namespaces, delete namespaces)"),
        "{stderr}"
    );
    assert!(stderr.contains("grant kaic's identity the permissions listed in the README"), "{stderr}");
}

/// `checks[].id → (outcome, reason)` of a run.
fn outcomes(run: &Run) -> BTreeMap<String, (String, String)> {
    let results = run.results();
    let checks = results["checks"].as_array().unwrap_or_else(|| panic!("no checks: {results:#}"));
    checks
        .iter()
        .map(|c| {
            let text = |key: &str| c[key].as_str().unwrap_or_default().to_string();
            (text("id"), (text("outcome"), text("reason")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_role_kaic_rbac_prints_runs_the_whole_suite_as_the_admin_does() {
    let kubeconfig = cluster("default");
    let name = format!("kaic-e2e-rbac-{}", std::process::id());
    // The JSON form of the same objects as the YAML (a unit test holds the two equal); the tests have no
    // YAML parser.
    let printed =
        kaic().args(["rbac", "--namespace", "default", "--name", &name, "--output", "json"]).output().unwrap();
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    let list: Value = serde_json::from_slice(&printed.stdout).unwrap();
    let items = list["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().filter_map(|i| i["kind"].as_str()).collect();
    assert_eq!(kinds, ["ServiceAccount", "ClusterRole", "ClusterRoleBinding"]);
    let role: ClusterRole = object(&items[1]);
    // Least privilege: no wildcard anywhere.
    for rule in role.rules.iter().flatten() {
        let mut names =
            rule.verbs.iter().chain(rule.resources.iter().flatten()).chain(rule.api_groups.iter().flatten());
        assert!(names.all(|s| s != "*"), "wildcard in {rule:?}");
    }
    let identity = Identity::create(&kubeconfig, object(&items[0]), role, object(&items[2])).await;

    let args = ["--conformance-version", "1.35"];
    let admin = run_kaic(&kubeconfig, &args);
    // The token is made now, so that it is fresh for the second suite.
    let dir = tempfile::tempdir().unwrap();
    let limited = run_kaic(&identity.kubeconfig(dir.path()).await, &args);
    drop(identity);

    let (admin_outcomes, limited_outcomes) = (outcomes(&admin), outcomes(&limited));
    assert!(admin_outcomes.len() >= 7, "the admin's run checked too little: {admin_outcomes:#?}\n{}", admin.stderr());
    let only_outcome = |all: &BTreeMap<String, (String, String)>| {
        all.iter().map(|(id, (outcome, _))| (id.clone(), outcome.clone())).collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        only_outcome(&limited_outcomes),
        only_outcome(&admin_outcomes),
        "the service account's outcomes differ from the admin's\nservice account: {limited_outcomes:#?}\nadmin: \
         {admin_outcomes:#?}\nservice account's stderr:\n{}",
        limited.stderr()
    );
    assert_eq!(limited.code(), admin.code(), "{}", limited.stderr());
    let cluster = &limited.results()["cluster"];
    assert!(cluster.get("missing_permissions").is_none(), "preflight found missing permissions: {cluster:#}");
    let stderr = limited.stderr();
    assert!(!stderr.contains("kaic lacks these permissions"), "{stderr}");
    // A denial that changes no outcome (a status read for the report, waiting for a namespace to go) still
    // shows in the evidence: the API server's message names the user it refused.
    let user = format!("system:serviceaccount:default:{name}");
    let results = limited.file("kaic-results.json");
    for (what, text) in [("kaic-results.json", &results), ("stderr", &stderr)] {
        let denied: Vec<&str> = text.lines().filter(|l| l.contains(&user)).collect();
        assert!(denied.is_empty(), "the API server refused the service account ({what}):\n{}", denied.join("\n"));
    }
    // Cleanup, which runs with the same identity, could delete everything the run made.
    assert!(!stderr.contains("cleanup could not delete"), "{stderr}");
}
