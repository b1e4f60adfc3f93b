//! The task images themselves, run as a cluster runs them: each image that `scripts/task-images`
//! wrote (`<target>/task-images/<tool>`) is unpacked and its entrypoint run inside its own root with
//! bubblewrap (e2e::task_image): root read-only, user 65532 in group 0, only `/tmp` writable, the
//! workspaces and `/tekton/results` mounted at the paths the Tasks in tekton/ use, and the kubelet's
//! `/etc/hosts` and `/etc/resolv.conf`. Each tool does one real operation against the test servers
//! over TLS (model-trace reads two), names looked up inside the image (`localhost`, and route names that only the
//! container's `/etc/hosts` has), the test CA trusted through a mounted `ssl-ca-directory`
//! workspace or through the image's own CA bundle path.
//!
//! Needs the images (`scripts/task-images`) and bubblewrap; `scripts/test` provides both. Without
//! them the tests fail, saying how to get them.

use std::path::Path;
use std::process::Command;

use e2e::task_image::{TaskImage, shared_dir};
use e2e::tls_proxy::TlsProxy;
use serde_json::json;
use test_fakes::forge_support::DEFAULT_TOKEN;
use test_fakes::gitea::FakeGitea;
use test_fakes::kubeflow::FakeKubeflow;
use test_services::{Certs, GitServer, Registry, require_tool, workspace_root};

/// Where Tekton mounts the results folder and the workspaces (`$(workspaces.NAME.path)`).
const RESULTS: &str = "/tekton/results";
const CA_DIR: &str = "/workspace/ssl-ca-directory";
/// Route names of the test servers: only the container's /etc/hosts (a pod's hostAliases) has them.
const GIT_ROUTE: &str = "git.apps.cluster.test";
const GITEA_ROUTE: &str = "gitea.apps.cluster.test";
const MODEL_REGISTRY_ROUTE: &str = "model-registry-rest.apps.cluster.test";
const ROUTES: [&str; 3] = [GIT_ROUTE, GITEA_ROUTE, MODEL_REGISTRY_ROUTE];

const GIT_USER: &str = "oauth2";
const GIT_TOKEN: &str = "git-T0ken-41c7";
const REPO: &str = "user1/mlops-gitops";
const TEST_CONFIG: &str = "model-deployments/test/jukebox/config.yaml";
const PROD_CONFIG: &str = "model-deployments/prod/jukebox/config.yaml";
const SOURCE_COMMIT: &str = "4f3c2b1a09e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4";

fn config(version: &str) -> String {
    format!(
        "chart_path: charts/model-serving\nname: jukebox\nversion: \"{version}\"  # set by the pipeline\nimage_namespace: team\n"
    )
}

/// Loads the image and checks that its tool starts and is the tool it should be.
fn image_with_help(tool: &str) -> TaskImage {
    let image = TaskImage::load(tool);
    let help = image.container().run(&["--help"]);
    help.assert_ok();
    assert!(
        help.stdout().contains(&format!("Usage: {tool} ")),
        "{tool} --help in its image:\n{}",
        help.stdout()
    );
    image
}

/// A folder with the CA certificates, as the `ssl-ca-directory` workspace (ConfigMap trusted-ca).
fn ca_directory(cas: &[&Path]) -> tempfile::TempDir {
    let dir = shared_dir(false);
    for (i, ca) in cas.iter().enumerate() {
        std::fs::copy(ca, dir.path().join(format!("ca-{i}.crt"))).unwrap();
    }
    dir
}

fn results_dir() -> tempfile::TempDir {
    shared_dir(true)
}

fn result(results: &Path, name: &str, stderr: &str) -> String {
    std::fs::read_to_string(results.join(name))
        .unwrap_or_else(|e| panic!("result {name}: {e}; stderr:\n{stderr}"))
}

/// `https://ROUTE:PORT` of a backend behind the TLS proxy.
fn route_url(routes: &TlsProxy, index: usize) -> String {
    format!("https://{}:{}", ROUTES[index], routes.port(index))
}

fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

/// The git server with the GitOps repository (test and prod at v1), and a TLS route in front of it
/// (and of `more` backends) with a certificate for the route names.
fn gitops_repo(more: &[&str]) -> (GitServer, TlsProxy, Certs) {
    let git = GitServer::start(GIT_USER, GIT_TOKEN);
    git.create_repo(REPO);
    git.seed(
        REPO,
        &[
            (TEST_CONFIG, config("v1").as_bytes()),
            (PROD_CONFIG, config("v1").as_bytes()),
        ],
        "GitOps repository",
    );
    let certs = Certs::generate(&ROUTES);
    let mut backends = vec![host_of(&git.url())];
    backends.extend(more.iter().map(|b| b.to_string()));
    let backends: Vec<&str> = backends.iter().map(String::as_str).collect();
    let routes = TlsProxy::start(&certs, &backends);
    (git, routes, certs)
}

/// The sandbox is what the Tasks ask for: user 65532 in group 0 with no capabilities, the image's
/// root read-only, `/tmp` writable, the image's env only. Looked at with a static busybox mounted in.
#[test]
fn the_container_runs_as_65532_in_group_0_with_only_tmp_writable() {
    let image = TaskImage::load("gitops-bump");
    let busybox = require_tool("busybox", "busybox-static");
    let script = "id -u; id -g; grep '^CapEff:' /proc/self/status; \
        touch /usr/local/bin/x 2>/dev/null && echo root-writable; \
        touch /etc/x 2>/dev/null && echo etc-writable; \
        touch /tmp/x && echo tmp-writable; pwd";
    let run = image
        .container()
        .mount(&busybox, "/busybox", false)
        .entrypoint("/busybox")
        .run(&["sh", "-c", script]);
    run.assert_ok();
    let lines: Vec<&str> = run.stdout().lines().collect();
    assert_eq!(
        lines,
        [
            "65532",
            "0",
            "CapEff:\t0000000000000000",
            "tmp-writable",
            "/tmp",
        ],
        "stderr:\n{}",
        run.stderr()
    );
    let env = image
        .container()
        .mount(&busybox, "/busybox", false)
        .entrypoint("/busybox")
        .run(&["env"]);
    env.assert_ok();
    let mut variables: Vec<&str> = env.stdout().lines().collect();
    variables.sort();
    // The image's env (PWD is bwrap's, for its --chdir to the image's working directory).
    assert_eq!(
        variables,
        [
            "HOME=/tmp",
            "PWD=/tmp",
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            "TMPDIR=/tmp"
        ]
    );
}

#[test]
fn modelcar_build_image_pushes_to_a_tls_registry() {
    let image = image_with_help("modelcar-build");
    let (user, password) = ("pipeline", "registry-S3cret-0b9d");
    let registry = Registry::start_tls_with_auth(user, password);
    let model = shared_dir(false);
    let example = workspace_root().join("examples/model");
    for file in [
        "1/model.onnx",
        "artifacts/scaler.pkl",
        "artifacts/features.pkl",
    ] {
        let to = model.path().join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(example.join(file), &to).unwrap();
    }
    for dir in ["1", "artifacts"] {
        std::fs::set_permissions(
            model.path().join(dir),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    // `localhost`: the registry's certificate names it, and the image must look it up itself.
    let port = registry.host().rsplit_once(':').unwrap().1.to_owned();
    let repository = format!("localhost:{port}/team/jukebox");
    let dockerconfig = shared_dir(false);
    let auth = base64(format!("{user}:{password}").as_bytes());
    std::fs::write(
        dockerconfig.path().join(".dockerconfigjson"),
        json!({"auths": {format!("localhost:{port}"): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let cas = ca_directory(&[registry.ca_pem().unwrap()]);
    let results = results_dir();

    let run = image
        .container()
        .mount(model.path(), "/workspace/source", false)
        .mount(dockerconfig.path(), "/workspace/dockerconfig", false)
        .mount(cas.path(), CA_DIR, false)
        .mount(results.path(), RESULTS, true)
        .run(&[
            "--results-dir=/tekton/results",
            "--model-dir=/workspace/source",
            &format!("--image={repository}"),
            &format!("--source-commit={SOURCE_COMMIT}"),
            "--base=scratch",
            "--docker-config=/workspace/dockerconfig",
            &format!("--ca-cert={CA_DIR}"),
        ]);
    run.assert_ok();
    let digest = result(results.path(), "IMAGE_DIGEST", run.stderr());
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert!(
        run.stdout().contains(&digest),
        "the results are echoed: {}",
        run.stdout()
    );

    // skopeo, on the host, finds the image under that digest.
    let certs = shared_dir(false);
    std::fs::copy(registry.ca_pem().unwrap(), certs.path().join("ca.crt")).unwrap();
    let output = Command::new(require_tool("skopeo", "skopeo"))
        .args(["inspect", "--format", "{{.Digest}}"])
        .arg(format!("--creds={user}:{password}"))
        .arg(format!("--cert-dir={}", certs.path().display()))
        .arg(format!(
            "docker://{}/team/jukebox:{SOURCE_COMMIT}",
            registry.host()
        ))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo inspect: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), digest);
}

#[test]
fn gitops_bump_image_pushes_a_commit_over_https() {
    let image = image_with_help("gitops-bump");
    let (git, routes, certs) = gitops_repo(&[]);
    let before = git.head(REPO, "main").unwrap();
    let cas = ca_directory(&[&certs.ca_pem]);
    let results = results_dir();
    let repo_url = format!("{}/git/{REPO}.git", route_url(&routes, 0));

    let run = image
        .container()
        .host_alias(&ROUTES)
        .mount(cas.path(), CA_DIR, false)
        .mount(results.path(), RESULTS, true)
        .env("MODELCAR_GIT_TOKEN", GIT_TOKEN)
        .run(&[
            "--results-dir=/tekton/results",
            &format!("--repo-url={repo_url}"),
            "--model=jukebox",
            "--env=test",
            "--model-version=v2",
            &format!("--source-commit={SOURCE_COMMIT}"),
            &format!("--git-username={GIT_USER}"),
            &format!("--ca-cert={CA_DIR}"),
        ]);
    run.assert_ok();
    let after = git.head(REPO, "main").unwrap();
    assert_ne!(after, before, "no commit was pushed:\n{}", run.stderr());
    let file = String::from_utf8(git.file_at(REPO, &after, TEST_CONFIG).unwrap()).unwrap();
    assert_eq!(file, config("v2"));
    assert_eq!(result(results.path(), "CHANGED", run.stderr()), "true");
    assert_eq!(result(results.path(), "COMMIT", run.stderr()), after);
}

#[test]
fn pr_create_image_opens_a_pull_request_on_gitea_over_https() {
    let image = image_with_help("pr-create");
    let gitea = FakeGitea::start();
    let (git, routes, certs) = gitops_repo(&[&host_of(&gitea.url())]);
    gitea.add_repo(REPO, git.repo_dir(REPO));
    let cas = ca_directory(&[&certs.ca_pem]);
    let results = results_dir();
    let digest = format!("sha256:{}", "5e".repeat(32));

    let run = image
        .container()
        .host_alias(&ROUTES)
        .mount(cas.path(), CA_DIR, false)
        .mount(results.path(), RESULTS, true)
        .env("MODELCAR_FORGE_TOKEN", DEFAULT_TOKEN)
        .env("MODELCAR_GIT_TOKEN", GIT_TOKEN)
        .run(&[
            "--results-dir=/tekton/results",
            "--forge=gitea",
            &format!("--forge-api-url={}", route_url(&routes, 1)),
            &format!("--forge-repo={REPO}"),
            &format!("--repo-url={}/git/{REPO}.git", route_url(&routes, 0)),
            "--model=jukebox",
            "--env=prod",
            "--model-version=v2",
            &format!("--image=registry.example/team/jukebox@{digest}"),
            &format!("--source-commit={SOURCE_COMMIT}"),
            &format!("--git-username={GIT_USER}"),
            &format!("--ca-cert={CA_DIR}"),
        ]);
    run.assert_ok();
    let open = gitea.open_pulls(REPO);
    assert_eq!(open.len(), 1, "{open:#?}\nstderr:\n{}", run.stderr());
    let pull = &open[0];
    assert_eq!(pull.title, "Promote jukebox v2 to prod");
    assert_eq!(pull.base, "main");
    assert_eq!(
        result(results.path(), "NUMBER", run.stderr()),
        pull.number.to_string()
    );
    let file = git.file_at(REPO, &pull.head, PROD_CONFIG).unwrap();
    assert_eq!(String::from_utf8(file).unwrap(), config("v2"));
}

#[test]
fn registry_label_image_labels_a_version_trusting_the_ca_through_its_bundle() {
    let image = image_with_help("registry-label");
    let registry = FakeKubeflow::start();
    let model = registry.add_model("jukebox");
    registry.add_version(&model, "v1", json!({}));
    registry.add_version(&model, "v2", json!({}));
    let certs = Certs::generate(&ROUTES);
    let routes = TlsProxy::start(&certs, &[&host_of(&registry.url())]);
    // The cluster's trusted CA bundle mounted over the image's (what OpenShift's CA injection
    // does): the tool finds the test CA through the image's SSL_CERT_FILE, with no --ca-cert.
    let bundle_dir = shared_dir(false);
    let bundle = bundle_dir.path().join("ca-certificates.crt");
    let mut pem = std::fs::read(image.root().join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    pem.extend(std::fs::read(&certs.ca_pem).unwrap());
    std::fs::write(&bundle, pem).unwrap();
    let ssl_cert_file = image
        .config
        .env
        .iter()
        .find(|(name, _)| name == "SSL_CERT_FILE")
        .map(|(_, value)| value.clone())
        .expect("the image sets SSL_CERT_FILE");
    let results = results_dir();
    let image_ref = format!("registry.example/team/jukebox@sha256:{}", "7a".repeat(32));

    let run = image
        .container()
        .host_alias(&ROUTES)
        .mount(&bundle, &ssl_cert_file, false)
        .mount(results.path(), RESULTS, true)
        .env("MODELCAR_REGISTRY_TOKEN", registry.token())
        .run(&[
            "--results-dir=/tekton/results",
            "--registry-kind=kubeflow",
            &format!(
                "--registry-url=https://{MODEL_REGISTRY_ROUTE}:{}",
                routes.port(0)
            ),
            "--model=jukebox",
            "--model-version=v2",
            "--env=test",
            &format!("--image={image_ref}"),
            &format!("--gitops-commit={SOURCE_COMMIT}"),
        ]);
    run.assert_ok();
    assert_eq!(
        result(results.path(), "LABELLED", run.stderr()),
        "jukebox:v2:test"
    );
    let properties = registry.custom_properties("jukebox", "v2");
    assert_eq!(
        properties.get("test"),
        Some(&json!({"metadataType": "MetadataStringValue", "string_value": ""})),
        "{properties:?}"
    );
    assert!(
        !registry
            .custom_properties("jukebox", "v1")
            .contains_key("test")
    );
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn model_trace_image_reads_git_and_the_model_registry_over_https() {
    let image = image_with_help("model-trace");
    let registry = FakeKubeflow::start();
    let model = registry.add_model("jukebox");
    let label = json!({"metadataType": "MetadataStringValue", "string_value": ""});
    registry.add_version(&model, "v1", json!({ "test": label }));
    let (_git, routes, certs) = gitops_repo(&[&host_of(&registry.url())]);
    let cas = ca_directory(&[&certs.ca_pem]);
    let results = results_dir();
    let repo_url = format!("{}/git/{REPO}.git", route_url(&routes, 0));

    let run = image
        .container()
        .host_alias(&ROUTES)
        .mount(cas.path(), CA_DIR, false)
        .mount(results.path(), RESULTS, true)
        .env("MODELCAR_GIT_TOKEN", GIT_TOKEN)
        .env("MODELCAR_REGISTRY_TOKEN", registry.token())
        .run(&[
            "--results-dir=/tekton/results",
            "--model=jukebox",
            "--env=test",
            "--output=json",
            &format!("--repo-url={repo_url}"),
            &format!("--git-username={GIT_USER}"),
            "--registry-kind=kubeflow",
            &format!(
                "--registry-url=https://{MODEL_REGISTRY_ROUTE}:{}",
                routes.port(1)
            ),
            &format!("--ca-cert={CA_DIR}"),
        ]);
    let report: serde_json::Value = serde_json::from_str(run.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout(), run.stderr()));
    run.assert_ok();
    assert_eq!(report["gitops"]["status"], "ok", "{report:#}");
    assert_eq!(report["gitops"]["version"], "v1", "{report:#}");
    assert_eq!(report["model_registry"]["status"], "ok", "{report:#}");
    assert_eq!(report["model_registry"]["labels"], json!(["test"]));
    assert_eq!(report["drift"], false);
    assert_eq!(result(results.path(), "DRIFT", run.stderr()), "false");
}
