//! The Kubernetes API server: TLS with its own CA, token authentication, RBAC, the CRDs served, and
//! gone after drop.

use serde_json::{Value, json};
use test_services::{KubeApi, live_members};

#[test]
fn serves_the_crds_over_tls_to_tokens_under_rbac_and_stops_on_drop() {
    let api = KubeApi::start();
    eprintln!("started in {:?}", api.started_in());
    assert!(api.url().starts_with("https://127.0.0.1:"));
    // The kubeconfig names the CA, not insecure-skip-tls-verify.
    let config = std::fs::read_to_string(api.kubeconfig()).unwrap();
    assert!(config.contains(api.ca_pem().to_str().unwrap()), "{config}");
    assert!(!config.contains("insecure"), "{config}");
    assert_eq!(api.kubectl_ok(&["get", "--raw=/readyz"], None), "ok");

    for group in [
        "tekton.dev/v1",
        "triggers.tekton.dev/v1beta1",
        "serving.kserve.io/v1beta1",
    ] {
        let resources: Value =
            serde_json::from_str(&api.kubectl_ok(&["get", &format!("--raw=/apis/{group}")], None))
                .unwrap();
        assert!(
            !resources["resources"].as_array().unwrap().is_empty(),
            "{group}: {resources}"
        );
    }

    // A ServiceAccount's token authenticates as that account, which RBAC lets do nothing yet.
    api.create_namespace("ns");
    api.kubectl_ok(&["create", "serviceaccount", "runner", "-n", "ns"], None);
    let token = api.service_account_token("ns", "runner");
    let whoami = api.kubectl_ok(&["auth", "whoami", "--token", &token, "-o", "json"], None);
    assert!(
        whoami.contains("system:serviceaccount:ns:runner"),
        "{whoami}"
    );
    let runner = "system:serviceaccount:ns:runner";
    assert!(!api.can_i(runner, &["get", "configmaps", "-n", "ns"]));
    api.apply(&[
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "read", "namespace": "ns"},
               "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": "read", "namespace": "ns"},
               "subjects": [{"kind": "ServiceAccount", "name": "runner", "namespace": "ns"}],
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read"}}),
    ]);
    assert!(api.can_i(runner, &["get", "configmaps", "-n", "ns"]));
    assert!(!api.can_i(runner, &["get", "configmaps", "-n", "default"]));

    let groups = api.process_groups();
    drop(api);
    for group in groups {
        assert_eq!(
            live_members(group),
            0,
            "the API server and etcd stop on drop"
        );
    }
}
