//! Against a real Kubernetes API server (kube-apiserver and etcd, with the Tekton, Triggers and KServe
//! CRDs; `test_services::KubeApi`): `tekton/rbac` applied and checked for least privilege with the
//! server's own authorizer, both ways; the install commands of `tekton/README.md`; and `registry-label
//! --wait-ready` reading a real InferenceService, whose status the test sets as KServe would, with the
//! pipeline ServiceAccount's token and the server's CA.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use e2e::tekton_dir;
use e2e::tool_run::Outcome;
use serde_json::{Value, json};
use tempfile::TempDir;
use test_fakes::kubeflow::FakeKubeflow;
use test_services::{KubeApi, workspace_bin};

const TOOLINGS: &str = "user1-toolings";
const LISTENER: &str = "system:serviceaccount:user1-toolings:modelcar-gitops-listener";
const PIPELINE: &str = "system:serviceaccount:user1-toolings:modelcar-gitops-pipeline";
/// A ServiceAccount beside them that nothing grants anything to.
const NOBODY: &str = "system:serviceaccount:user1-toolings:nobody";
/// Where OpenShift AI keeps the Model Registry and its Role `registry-user-<registry>`.
const REGISTRIES: &str = "rhoai-model-registries";

const A: &str = "9f8e7d6c5b";
const B: &str = "a1b2c3d4e5";

/// The shared API server with the namespaces `tekton/rbac` names (and one it does not), and
/// `tekton/rbac` applied.
fn cluster() -> &'static KubeApi {
    static READY: OnceLock<()> = OnceLock::new();
    let api = KubeApi::shared();
    READY.get_or_init(|| {
        eprintln!(
            "Kubernetes API server at {} up in {:?}",
            api.url(),
            api.started_in()
        );
        for namespace in [
            TOOLINGS,
            "user1-test",
            "user1-prod",
            "user1-dev",
            REGISTRIES,
        ] {
            api.create_namespace(namespace);
        }
        // What OpenShift AI creates beside a registry named user1-prod-registry, which the pipeline's
        // RoleBinding in rhoai-model-registries refers to: `get` on the registry's Service.
        api.apply(&[json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "registry-user-user1-prod-registry", "namespace": REGISTRIES},
            "rules": [{
                "apiGroups": [""],
                "resources": ["services"],
                "resourceNames": ["user1-prod-registry"],
                "verbs": ["get"],
            }],
        })]);
        api.apply_path(&tekton_dir().join("rbac"));
        // An account nothing is granted to: what any ServiceAccount may do by the server's defaults.
        api.kubectl_ok(
            &["create", "serviceaccount", "nobody", "-n", TOOLINGS],
            None,
        );
    });
    api
}

/// One rule of a rules review, flattened: (verb, group, resource, resource name).
type Right = (String, String, String, String);

/// Every right `user` has in `namespace` (cluster-wide ones included) beyond what any ServiceAccount
/// has by the server's defaults (asking what it may do, reading cluster trust bundles, ...).
fn rights(api: &KubeApi, user: &str, namespace: &str) -> BTreeSet<Right> {
    let baseline = all_rights(api, NOBODY, namespace);
    assert!(!baseline.is_empty());
    all_rights(api, user, namespace)
        .difference(&baseline)
        .cloned()
        .collect()
}

/// Every right `user` has in `namespace`, as the server's SelfSubjectRulesReview lists them.
fn all_rights(api: &KubeApi, user: &str, namespace: &str) -> BTreeSet<Right> {
    let review = json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": namespace},
    })
    .to_string();
    let text = api.kubectl_ok(
        // No client-side validation: it would list the CRDs, which the user may not.
        &[
            "create",
            "--validate=false",
            "-f",
            "-",
            "-o",
            "json",
            "--as",
            user,
        ],
        Some(review.as_bytes()),
    );
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        answer["status"]["incomplete"], false,
        "the review is incomplete: {answer}"
    );
    let mut rights = BTreeSet::new();
    for rule in answer["status"]["resourceRules"].as_array().unwrap() {
        let strings = |key: &str| -> Vec<String> {
            match rule[key].as_array() {
                Some(items) => items
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect(),
                None => vec![String::new()],
            }
        };
        for verb in strings("verbs") {
            for group in strings("apiGroups") {
                for resource in strings("resources") {
                    for name in strings("resourceNames") {
                        rights.insert((verb.clone(), group.clone(), resource.clone(), name));
                    }
                }
            }
        }
    }
    rights
}

/// The rights `verbs` × `resources` of `group`.
fn grant(verbs: &[&str], group: &str, resources: &[&str]) -> Vec<Right> {
    let mut rights = Vec::new();
    for verb in verbs {
        for resource in resources {
            rights.push((
                verb.to_string(),
                group.to_string(),
                resource.to_string(),
                String::new(),
            ));
        }
    }
    rights
}

fn assert_can(api: &KubeApi, user: &str, checks: &[&[&str]]) {
    for args in checks {
        assert!(api.can_i(user, args), "{user} must be able to: {args:?}");
    }
}

fn assert_cannot(api: &KubeApi, user: &str, checks: &[&[&str]]) {
    for args in checks {
        assert!(
            !api.can_i(user, args),
            "{user} must not be able to: {args:?}"
        );
    }
}

const TRIGGERS_OBJECTS: &[&str] = &[
    "eventlisteners",
    "triggers",
    "triggerbindings",
    "triggertemplates",
    "interceptors",
];
const READ: &[&str] = &["get", "list", "watch"];

#[test]
fn the_listener_may_read_its_triggers_and_create_pipeline_runs_and_nothing_more() {
    let api = cluster();
    let cluster_wide: Vec<Right> = grant(
        READ,
        "triggers.tekton.dev",
        &["clusterinterceptors", "clustertriggerbindings"],
    );
    let mut expected: BTreeSet<Right> = cluster_wide.iter().cloned().collect();
    expected.extend(grant(READ, "triggers.tekton.dev", TRIGGERS_OBJECTS));
    expected.extend(grant(READ, "", &["configmaps"]));
    expected.extend(grant(&["create"], "tekton.dev", &["pipelineruns"]));
    expected.extend(grant(&["create", "patch"], "", &["events"]));
    assert_eq!(rights(api, LISTENER, TOOLINGS), expected);
    // Elsewhere only the cluster-scoped interceptors and bindings.
    for namespace in [
        "user1-test",
        "user1-prod",
        "user1-dev",
        REGISTRIES,
        "default",
    ] {
        assert_eq!(
            rights(api, LISTENER, namespace),
            cluster_wide.iter().cloned().collect(),
            "in {namespace}"
        );
    }

    // The same through `kubectl auth can-i`, as an operator checks it.
    assert_can(
        api,
        LISTENER,
        &[
            &["create", "pipelineruns.tekton.dev", "-n", TOOLINGS],
            &["get", "eventlisteners.triggers.tekton.dev", "-n", TOOLINGS],
            &["watch", "triggers.triggers.tekton.dev", "-n", TOOLINGS],
            &[
                "list",
                "triggertemplates.triggers.tekton.dev",
                "-n",
                TOOLINGS,
            ],
            &["get", "triggerbindings.triggers.tekton.dev", "-n", TOOLINGS],
            &["get", "interceptors.triggers.tekton.dev", "-n", TOOLINGS],
            &["get", "configmaps", "-n", TOOLINGS],
            &["create", "events", "-n", TOOLINGS],
            &["patch", "events", "-n", TOOLINGS],
            &["get", "clusterinterceptors.triggers.tekton.dev"],
            &["list", "clustertriggerbindings.triggers.tekton.dev"],
        ],
    );
    assert_cannot(
        api,
        LISTENER,
        &[
            // No Secrets: the interceptor service reads the webhook secret.
            &["get", "secrets", "-n", TOOLINGS],
            &["list", "secrets", "-n", TOOLINGS],
            // PipelineRuns: create only, and only in its namespace.
            &["get", "pipelineruns.tekton.dev", "-n", TOOLINGS],
            &["delete", "pipelineruns.tekton.dev", "-n", TOOLINGS],
            &["patch", "pipelineruns.tekton.dev", "-n", TOOLINGS],
            &["create", "pipelineruns.tekton.dev", "-n", "user1-prod"],
            &["delete", "pipelineruns.tekton.dev", "-n", "user1-prod"],
            &["create", "pipelineruns.tekton.dev", "--all-namespaces"],
            &["create", "taskruns.tekton.dev", "-n", TOOLINGS],
            &["create", "pods", "-n", TOOLINGS],
            // Its Triggers objects are read-only, and only in its namespace.
            &[
                "update",
                "eventlisteners.triggers.tekton.dev",
                "-n",
                TOOLINGS,
            ],
            &["create", "triggers.triggers.tekton.dev", "-n", TOOLINGS],
            &[
                "delete",
                "triggertemplates.triggers.tekton.dev",
                "-n",
                TOOLINGS,
            ],
            &[
                "get",
                "eventlisteners.triggers.tekton.dev",
                "-n",
                "user1-prod",
            ],
            &[
                "list",
                "eventlisteners.triggers.tekton.dev",
                "--all-namespaces",
            ],
            &["delete", "clusterinterceptors.triggers.tekton.dev"],
            &["update", "configmaps", "-n", TOOLINGS],
            &["list", "configmaps", "--all-namespaces"],
            // Triggers' default listener role may impersonate; this one does not.
            &["impersonate", "serviceaccounts", "-n", TOOLINGS],
            &[
                "get",
                "inferenceservices.serving.kserve.io",
                "-n",
                "user1-prod",
            ],
            &[
                "create",
                "rolebindings.rbac.authorization.k8s.io",
                "-n",
                TOOLINGS,
            ],
        ],
    );
}

#[test]
fn the_pipeline_may_read_inference_services_in_test_and_prod_and_nothing_more() {
    let api = cluster();
    let reader: BTreeSet<Right> = grant(READ, "serving.kserve.io", &["inferenceservices"])
        .into_iter()
        .collect();
    assert_eq!(rights(api, PIPELINE, "user1-test"), reader);
    assert_eq!(rights(api, PIPELINE, "user1-prod"), reader);
    for namespace in [TOOLINGS, "user1-dev", "default"] {
        assert_eq!(
            rights(api, PIPELINE, namespace),
            BTreeSet::new(),
            "in {namespace}"
        );
    }
    // OpenShift AI's registry-user Role, bound to the pipeline in the registries' namespace.
    assert_eq!(
        rights(api, PIPELINE, REGISTRIES),
        BTreeSet::from([(
            "get".to_string(),
            String::new(),
            "services".to_string(),
            "user1-prod-registry".to_string()
        )])
    );

    assert_can(
        api,
        PIPELINE,
        &[
            &[
                "get",
                "inferenceservices.serving.kserve.io",
                "-n",
                "user1-test",
            ],
            &[
                "get",
                "inferenceservices.serving.kserve.io",
                "-n",
                "user1-prod",
            ],
            &[
                "watch",
                "inferenceservices.serving.kserve.io",
                "-n",
                "user1-prod",
            ],
            &[
                "list",
                "inferenceservices.serving.kserve.io",
                "-n",
                "user1-test",
            ],
            &["get", "services/user1-prod-registry", "-n", REGISTRIES],
        ],
    );
    assert_cannot(
        api,
        PIPELINE,
        &[
            &[
                "create",
                "inferenceservices.serving.kserve.io",
                "-n",
                "user1-prod",
            ],
            &[
                "update",
                "inferenceservices.serving.kserve.io",
                "-n",
                "user1-prod",
            ],
            &[
                "delete",
                "inferenceservices.serving.kserve.io",
                "-n",
                "user1-test",
            ],
            &[
                "patch",
                "inferenceservices.serving.kserve.io",
                "--subresource=status",
                "-n",
                "user1-prod",
            ],
            &[
                "get",
                "inferenceservices.serving.kserve.io",
                "-n",
                "user1-dev",
            ],
            &["get", "inferenceservices.serving.kserve.io", "-n", TOOLINGS],
            &[
                "list",
                "inferenceservices.serving.kserve.io",
                "--all-namespaces",
            ],
            &["get", "secrets", "-n", TOOLINGS],
            &["get", "secrets", "-n", "user1-prod"],
            &["get", "configmaps", "-n", TOOLINGS],
            &["create", "pipelineruns.tekton.dev", "-n", TOOLINGS],
            &["get", "services/other-registry", "-n", REGISTRIES],
            &["list", "services", "-n", REGISTRIES],
        ],
    );
}

#[test]
fn the_readme_install_commands_apply_to_a_real_api_server() {
    let api = cluster();
    // The Routes are OpenShift's (route.openshift.io), served there only: a stand-in CRD for the kind.
    api.apply(&[json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "routes.route.openshift.io"},
        "spec": {
            "group": "route.openshift.io",
            "scope": "Namespaced",
            "names": {"kind": "Route", "plural": "routes", "singular": "route", "listKind": "RouteList"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    })]);
    let tekton = tekton_dir();
    let path = |dir: &str| tekton.join(dir).to_str().unwrap().to_string();
    let install: [Vec<String>; 3] = [
        [
            "apply",
            "-n",
            TOOLINGS,
            "-f",
            &path("tasks"),
            "-f",
            &path("pipelines"),
            "-f",
            &path("setup"),
        ]
        .map(str::to_string)
        .to_vec(),
        ["apply", "-f", &path("rbac")].map(str::to_string).to_vec(),
        ["apply", "-n", TOOLINGS, "-f", &path("triggers")]
            .map(str::to_string)
            .to_vec(),
    ];
    for command in &install {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        // The stand-in Route CRD may need a moment before it is served.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let output = api.kubectl(&args, None);
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            if output.status.success() {
                // Tekton Pipelines' CRDs carry full schemas (Triggers' keep unknown fields): a field
                // of a Task, Pipeline or PipelineRun they do not know would be dropped, with a
                // warning ("unknown field").
                assert!(
                    !stderr.contains("unknown field") && !stderr.contains("duplicate field"),
                    "kubectl {}: {stderr}",
                    args.join(" ")
                );
                break;
            }
            assert!(
                stderr.contains("route.openshift.io") && Instant::now() < deadline,
                "kubectl {}: {stderr}",
                args.join(" ")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let names = |kind: &str| -> Vec<String> {
        api.kubectl_ok(
            &[
                "get",
                kind,
                "-n",
                TOOLINGS,
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ],
            None,
        )
        .split_whitespace()
        .map(str::to_string)
        .collect()
    };
    assert_eq!(
        names("tasks.tekton.dev").len(),
        std::fs::read_dir(tekton.join("tasks"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "yaml")))
            .count()
    );
    assert_eq!(
        names("pipelines.tekton.dev"),
        ["model-release", "post-deploy"]
    );
    assert_eq!(names("eventlisteners.triggers.tekton.dev").len(), 2);
    // The listeners run as the ServiceAccount tekton/rbac grants, and may create the runs their
    // templates create.
    for listener in api
        .kubectl_ok(
            &[
                "get",
                "eventlisteners.triggers.tekton.dev",
                "-n",
                TOOLINGS,
                "-o",
                "jsonpath={.items[*].spec.serviceAccountName}",
            ],
            None,
        )
        .split_whitespace()
    {
        let user = format!("system:serviceaccount:{TOOLINGS}:{listener}");
        assert_eq!(user, LISTENER);
        assert!(api.can_i(
            &user,
            &["create", "pipelineruns.tekton.dev", "-n", TOOLINGS]
        ));
    }

    // Run by hand: `kubectl create -n user1-toolings -f tekton/runs/...` (nothing runs them here).
    for run in ["model-release.yaml", "post-deploy.yaml"] {
        let file = tekton.join("runs").join(run);
        let output = api.kubectl(
            &["create", "-n", TOOLINGS, "-f", file.to_str().unwrap()],
            None,
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && !stderr.contains("unknown field"),
            "{run}: {stderr}"
        );
    }
    assert_eq!(names("pipelineruns.tekton.dev").len(), 2);
}

// --- registry-label --wait-ready against a real InferenceService -----------------------------------

fn label_value() -> Value {
    json!({"metadataType": "MetadataStringValue", "string_value": ""})
}

/// A fake registry with jukebox A (in test and prod) and B.
fn registry() -> FakeKubeflow {
    let fake = FakeKubeflow::start();
    let jukebox = fake.add_model("jukebox");
    fake.add_version(
        &jukebox,
        A,
        json!({"test": label_value(), "prod": label_value()}),
    );
    fake.add_version(&jukebox, B, json!({}));
    fake
}

fn labels(fake: &FakeKubeflow, version: &str) -> Vec<String> {
    fake.custom_properties("jukebox", version)
        .into_iter()
        .filter(|(_, v)| *v == label_value())
        .map(|(k, _)| k)
        .collect()
}

/// An InferenceService `name` in user1-prod predicting from `storage_uri`, as Argo CD would create
/// it; its status is KServe's first: not ready.
fn create_isvc(api: &KubeApi, name: &str, storage_uri: &str) {
    api.apply(&[json!({
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": name,
            "namespace": "user1-prod",
            "annotations": {"serving.kserve.io/deploymentMode": "RawDeployment"},
        },
        "spec": {"predictor": {"model": {
            "modelFormat": {"name": "onnx", "version": "1"},
            "runtime": "jukebox",
            "storageUri": storage_uri,
        }}},
    })]);
    set_ready(api, name, false);
}

/// Sets the InferenceService's status as KServe's controller writes it.
fn set_ready(api: &KubeApi, name: &str, ready: bool) {
    let object = format!("inferenceservices.serving.kserve.io/{name}");
    let generation = api.get("user1-prod", &object)["metadata"]["generation"].clone();
    let status = if ready { "True" } else { "False" };
    let time = "2026-01-12T10:20:00Z";
    let mut conditions = vec![
        json!({"type": "IngressReady", "status": status, "lastTransitionTime": time}),
        json!({"type": "PredictorReady", "status": status, "lastTransitionTime": time}),
        json!({"type": "Ready", "status": status, "lastTransitionTime": time}),
    ];
    if !ready {
        conditions[2]["reason"] = json!("MinimumReplicasUnavailable");
        conditions[2]["message"] = json!("Deployment does not have minimum availability.");
    }
    let written = api.set_status(
        "user1-prod",
        &object,
        &json!({
            "observedGeneration": generation,
            "url": format!("http://{name}-user1-prod.example.com"),
            "deploymentMode": "RawDeployment",
            "conditions": conditions,
            "modelStatus": {
                "transitionStatus": if ready { "UpToDate" } else { "InProgress" },
                "states": {
                    "activeModelState": if ready { "Loaded" } else { "Pending" },
                    "targetModelState": if ready { "" } else { "Loading" },
                },
            },
        }),
    );
    // The status subresource keeps the spec; the schema keeps every field written.
    assert_eq!(
        written["status"]["conditions"][2]["status"], status,
        "{written}"
    );
    assert!(written["spec"]["predictor"]["model"]["storageUri"].is_string());
}

/// A scratch directory with the registry's and the Kubernetes tokens.
struct Scratch {
    dir: TempDir,
    /// Whether the tool is given the API server's CA (--ca-cert).
    ca: bool,
}

impl Scratch {
    fn new(registry_token: &str, kube_token: &str) -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry-token"), registry_token).unwrap();
        std::fs::write(dir.path().join("kube-token"), kube_token).unwrap();
        Scratch { dir, ca: true }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// registry-label labelling jukebox B in prod once InferenceService `isvc` serves it.
    fn command(&self, registry: &str, api: &KubeApi, isvc: &str, extra: &[&str]) -> Command {
        let _ = std::fs::remove_dir_all(self.path("results"));
        let mut command = Command::new(workspace_bin("registry-label"));
        command
            .arg("--registry-url")
            .arg(registry)
            .arg("--registry-token-file")
            .arg(self.path("registry-token"))
            .arg("--results-dir")
            .arg(self.path("results"))
            // The fake registry is plain HTTP on loopback; the API server is HTTPS with its own CA.
            .args(["--plain-http", "127.0.0.1"]);
        if self.ca {
            command.arg("--ca-cert").arg(api.ca_pem());
        }
        command
            .args(["--model", "jukebox", "--model-version", B, "--env", "prod"])
            .args(["--wait-ready", "--kube-api-url", &api.url()])
            .arg("--kube-token-file")
            .arg(self.path("kube-token"))
            .args(["--namespace-pattern", "user1-{env}", "--isvc-name", isvc])
            .args(["--poll-interval", "100ms"])
            .args(extra)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("RUST_LOG", "info")
            .env("MODELCAR_LOG_FORMAT", "text");
        command
    }

    /// The run through the shared harness (a time limit, the outcome read one way).
    fn run(&self, registry: &str, api: &KubeApi, isvc: &str, extra: &[&str]) -> Outcome {
        Outcome::of(self.command(registry, api, isvc, extra))
    }
}

fn stderr(output: &Outcome) -> String {
    output.stderr().to_owned()
}

fn pipeline_token(api: &KubeApi) -> String {
    api.service_account_token(TOOLINGS, "modelcar-gitops-pipeline")
}

#[test]
fn wait_ready_labels_once_kserve_reports_the_version_ready() {
    let api = cluster();
    let fake = registry();
    let run = Scratch::new(fake.token(), &pipeline_token(api));
    let digest = format!("sha256:{}", "ef".repeat(32));
    // Argo CD rolled the service out to B's image, pinned by digest only: the digest of --image is
    // what identifies the version in the storageUri.
    create_isvc(
        api,
        "jukebox-b",
        &format!("oci://quay.io/rhoai/jukebox@{digest}"),
    );
    let image = format!("quay.io/rhoai/jukebox@{digest}");
    let command = run.command(
        &fake.url(),
        api,
        "jukebox-b",
        &["--wait-timeout", "60s", "--image", &image],
    );
    let output = std::thread::scope(|scope| {
        let waiting = scope.spawn(|| Outcome::of(command));
        // Polls the real object, which is not ready yet: nothing is labelled.
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(fake.count("PATCH"), 0);
        set_ready(api, "jukebox-b", true);
        waiting.join().unwrap()
    });
    output.assert_ok();
    let log = stderr(&output);
    assert!(
        log.contains("waiting for InferenceService user1-prod/jukebox-b: Ready=False"),
        "{log}"
    );
    assert!(
        log.contains("Deployment does not have minimum availability."),
        "{log}"
    );
    assert_eq!(labels(&fake, B), ["prod"]);
    assert_eq!(labels(&fake, A), ["test"]);
}

#[test]
fn wait_ready_timeout_labels_nothing() {
    let api = cluster();
    let fake = registry();
    let run = Scratch::new(fake.token(), &pipeline_token(api));

    // Never ready.
    create_isvc(
        api,
        "jukebox-stuck",
        &format!("oci://quay.io/rhoai/jukebox:{B}"),
    );
    let output = run.run(&fake.url(), api, "jukebox-stuck", &["--wait-timeout", "1s"]);
    output.assert_fails(1, &[]);
    assert!(
        stderr(&output).contains("did not become ready"),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("Ready=False"),
        "{}",
        stderr(&output)
    );

    // Ready, but still serving the old version.
    create_isvc(
        api,
        "jukebox-old",
        &format!("oci://quay.io/rhoai/jukebox:{A}"),
    );
    set_ready(api, "jukebox-old", true);
    let output = run.run(&fake.url(), api, "jukebox-old", &["--wait-timeout", "1s"]);
    output.assert_fails(1, &[]);
    assert!(stderr(&output).contains(A), "{}", stderr(&output));

    // Not there at all.
    let output = run.run(
        &fake.url(),
        api,
        "jukebox-missing",
        &["--wait-timeout", "1s"],
    );
    output.assert_fails(1, &[]);
    assert!(
        stderr(&output).contains("does not exist"),
        "{}",
        stderr(&output)
    );

    assert_eq!(fake.count("PATCH"), 0);
    assert_eq!(
        fake.count("GET"),
        0,
        "nothing may be read or written before the rollout is ready"
    );
}

#[test]
fn wait_ready_refused_by_rbac_or_with_a_bad_token_fails_at_once() {
    let api = cluster();
    let fake = registry();

    // The pipeline's account may not read InferenceServices in user1-dev.
    let run = Scratch::new(fake.token(), &pipeline_token(api));
    let started = Instant::now();
    let output = run.run(
        &fake.url(),
        api,
        "jukebox",
        &["--namespace", "user1-dev", "--wait-timeout", "60s"],
    );
    output.assert_fails(1, &[]);
    assert!(started.elapsed() < Duration::from_secs(30));
    let log = stderr(&output);
    // The server's own words name the account; the hint names the Role to add.
    assert!(
        log.contains(
            "User \"system:serviceaccount:user1-toolings:modelcar-gitops-pipeline\" cannot get \
             resource \"inferenceservices\""
        ),
        "{log}"
    );
    assert!(
        log.contains("needs `get` on inferenceservices.serving.kserve.io in namespace user1-dev"),
        "{log}"
    );

    // A token the server does not accept (an expired or foreign one): not a permission problem.
    let run = Scratch::new(fake.token(), "not-a-token");
    let output = run.run(&fake.url(), api, "jukebox", &["--wait-timeout", "60s"]);
    output.assert_fails(1, &[]);
    let log = stderr(&output);
    assert!(log.contains("did not accept the token (401"), "{log}");
    assert!(!log.contains("needs `get`"), "{log}");
    assert_eq!(fake.count("PATCH"), 0);
}

#[test]
fn wait_ready_trusts_the_api_server_only_with_its_ca() {
    let api = cluster();
    let fake = registry();
    let mut run = Scratch::new(fake.token(), &pipeline_token(api));
    create_isvc(
        api,
        "jukebox-tls",
        &format!("oci://quay.io/rhoai/jukebox:{B}"),
    );
    set_ready(api, "jukebox-tls", true);
    // Without the CA the server's certificate is not trusted, and nothing is labelled.
    run.ca = false;
    let started = Instant::now();
    let output = run.run(&fake.url(), api, "jukebox-tls", &["--wait-timeout", "60s"]);
    output.assert_fails(1, &[]);
    // Refused at once, with rustls's reason: waiting cannot make the certificate trusted.
    assert!(
        stderr(&output).contains("invalid peer certificate: UnknownIssuer"),
        "{}",
        stderr(&output)
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{}",
        stderr(&output)
    );
    assert_eq!(fake.count("PATCH"), 0);
    // With it, the same run labels.
    run.ca = true;
    let output = run.run(&fake.url(), api, "jukebox-tls", &["--wait-timeout", "10s"]);
    output.assert_ok();
    assert_eq!(labels(&fake, B), ["prod"]);
}
