//! RBAC: preflight names what kaic's identity may not do. A service account that may read but not create
//! namespaces cannot run anything: one line, exit code 2.

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kaic_e2e::{client, cluster, run_kaic};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_identity_is_refused_with_the_missing_permissions() {
    let kubeconfig = cluster("default");
    let client = client(&kubeconfig).await;
    let name = format!("kaic-e2e-readonly-{}", std::process::id());
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    let pp = PostParams::default();
    accounts.create(&pp, &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()).await.unwrap();
    let role = json!({
        "metadata": {"name": name},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]
    });
    roles.create(&pp, &serde_json::from_value(role).unwrap()).await.unwrap();
    let binding = json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "default"}]
    });
    bindings.create(&pp, &serde_json::from_value(binding).unwrap()).await.unwrap();
    let request: TokenRequest = serde_json::from_value(json!({"spec": {"expirationSeconds": 600}})).unwrap();
    let token = accounts.create_token_request(&name, &pp, &request).await.unwrap().status.unwrap().token.unwrap();

    // The same cluster and CA as the admin kubeconfig, with the service account's token.
    let admin = std::fs::read_to_string(&kubeconfig).unwrap();
    let server = admin.lines().find_map(|l| l.trim().strip_prefix("server:")).unwrap().trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    let limited = dir.path().join("kubeconfig");
    std::fs::write(
        &limited,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: '{server}', insecure-skip-tls-verify: true}}\n\
             users:\n- name: u\n  user: {{token: '{token}'}}\ncontexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n"
        ),
    )
    .unwrap();
    let run = run_kaic(&limited, &[]);

    let _ = bindings.delete(&name, &DeleteParams::default()).await;
    let _ = roles.delete(&name, &DeleteParams::default()).await;
    let _ = accounts.delete(&name, &DeleteParams::default()).await;

    assert_eq!(run.code(), 2, "{}", run.stderr());
    let stderr = run.stderr();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("kaic may not create namespaces (denied: create namespaces, delete namespaces)"),
        "{stderr}"
    );
    assert!(stderr.contains("grant kaic's identity the permissions listed in the README"), "{stderr}");
}
