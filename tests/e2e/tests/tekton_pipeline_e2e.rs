//! `model-release` and then `post-deploy`, run as written in tekton/: the Pipelines and Tasks are read
//! from the YAML, params and results substituted, workspaces mapped to folders and every step run as
//! a local process (e2e::local_run), against a real registry (HTTPS, basic auth), a real git server
//! and the fake Gitea and Kubeflow Model Registry, each behind TLS from a private CA as a cluster's
//! routes would be. The tools trust those CAs only through the `ssl-ca-directory` workspace: no
//! plain-HTTP or skip-verify opt-in anywhere.
//!
//! The PipelineRuns are the checked-in ones: model-release's example run (tekton/runs), and the
//! post-deploy run the gitops Trigger creates from a Gitea push delivery of the merge, with the
//! installation settings (addresses) replaced by the test cluster's, as tekton/README.md says to;
//! the GitOps repository is examples/gitops-repo with its image_repository set to the test registry.
//! Each run gets a generated name, which the Model Registry records; before promoting and before
//! recording prod, the version's tag is read back from the registry and must name the digest in Git.
//!
//! What differs from a cluster: `WAIT_READY` stays "false" (its default; the Tasks do not expose the
//! Kubernetes API address, so the fake Kubernetes API cannot be put in), and modelcar-build's
//! `BASE_IMAGE` default (ubi-minimal from registry.access.redhat.com, unreachable here) is set to a
//! mirror in the test registry of a base with a shell (Debian's busybox-static).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use e2e::base_image::{BaseOptions, RegistryAccess, busybox_layout, push_layout, registry_digest};
use e2e::install::{dockerconfigjson, gitops_repo_files, with_settings};
use e2e::local_run::{LocalCluster, PipelineRunOutcome};
use e2e::manifests::{Manifests, ParamValue};
use e2e::tls_proxy::TlsProxy;
use e2e::triggers::{Event, bind, intercept, render};
use serde_json::{Value, json};
use test_fakes::forge_support::{DEFAULT_TOKEN, PullState};
use test_fakes::gitea::FakeGitea;
use test_fakes::kubeflow::FakeKubeflow;
use test_services::{Certs, GitServer, Registry};

const REPO: &str = "user1/mlops-gitops";
const MODEL: &str = "jukebox";
/// Gitea takes its tokens over git HTTPS with any user name; `oauth2` is what the templates use.
const GIT_USER: &str = "oauth2";
const GIT_TOKEN: &str = "gitea-T0ken-5e1f9a";
const REGISTRY_USER: &str = "pipeline";
const REGISTRY_PASSWORD: &str = "registry-S3cret-77d2";
const TEST_CONFIG: &str = "model-deployments/test/jukebox/config.yaml";
const PROD_CONFIG: &str = "model-deployments/prod/jukebox/config.yaml";

/// git as the model's author.
fn git(dir: &Path, args: &[&str]) -> String {
    test_services::git_as(dir, "Alice", args)
}

fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("{url} has no host"))
        .to_string()
}

/// The labels (customProperties with an empty string value) of a version.
fn labels(registry: &FakeKubeflow, version: &str) -> Vec<String> {
    let label = json!({"metadataType": "MetadataStringValue", "string_value": ""});
    registry
        .custom_properties(MODEL, version)
        .into_iter()
        .filter(|(_, value)| *value == label)
        .map(|(key, _)| key)
        .collect()
}

/// The test cluster: servers, their routes, Secrets and workspace folders.
struct World {
    git: GitServer,
    gitea: FakeGitea,
    model_registry: FakeKubeflow,
    registry: Registry,
    routes: TlsProxy,
    dir: tempfile::TempDir,
    manifests: Manifests,
}

impl World {
    fn start() -> World {
        let git = GitServer::start(GIT_USER, GIT_TOKEN);
        git.create_repo(REPO);
        let registry = Registry::start_tls_with_auth(REGISTRY_USER, REGISTRY_PASSWORD);
        // The example configs, with the image repository this cluster pushes to (as a user puts
        // theirs in).
        let template = gitops_repo_files(&registry.host());
        let files: Vec<(&str, &[u8])> = template
            .iter()
            .map(|(path, contents)| (path.as_str(), contents.as_slice()))
            .collect();
        git.seed(REPO, &files, "GitOps repository from examples/gitops-repo");
        let gitea = FakeGitea::start();
        gitea.add_repo(REPO, git.repo_dir(REPO));
        let model_registry = FakeKubeflow::start();
        let route_certs = Certs::generate(&[]);
        let routes = TlsProxy::start(
            &route_certs,
            &[
                &host_of(&git.url()),
                &host_of(&gitea.url()),
                &host_of(&model_registry.url()),
            ],
        );
        let dir = tempfile::tempdir().unwrap();
        // The ConfigMap trusted-ca (tekton/setup), as the ssl-ca-directory workspace.
        let ca = dir.path().join("trusted-ca");
        std::fs::create_dir_all(&ca).unwrap();
        std::fs::copy(registry.ca_pem().unwrap(), ca.join("registry-ca.crt")).unwrap();
        std::fs::copy(&route_certs.ca_pem, ca.join("routes-ca.crt")).unwrap();
        let manifests = Manifests::load(&e2e::tekton_dir()).unwrap_or_else(|e| panic!("{e}"));
        World {
            git,
            gitea,
            model_registry,
            registry,
            routes,
            dir,
            manifests,
        }
    }

    fn gitops_repo_url(&self) -> String {
        format!("{}/git/{REPO}.git", self.routes.url(0))
    }

    fn forge_url(&self) -> String {
        self.routes.url(1)
    }

    fn model_registry_url(&self) -> String {
        self.routes.url(2)
    }

    fn folder(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// The Secret registry-credentials (type dockerconfigjson) as the dockerconfig workspace.
    fn dockerconfig(&self) -> PathBuf {
        let dir = self.folder("registry-credentials");
        let config = dockerconfigjson(&self.registry.host(), REGISTRY_USER, REGISTRY_PASSWORD);
        std::fs::write(dir.join(".dockerconfigjson"), config).unwrap();
        dir
    }

    /// A basic-auth Secret (.git-credentials, .gitconfig) as the git-basic-auth workspace.
    fn git_basic_auth(&self) -> PathBuf {
        let dir = self.folder("git-basic-auth");
        let line = format!("https://{GIT_USER}:{GIT_TOKEN}@{}\n", self.routes.host(0));
        std::fs::write(dir.join(".git-credentials"), line).unwrap();
        std::fs::write(dir.join(".gitconfig"), "[credential]\n\thelper = store\n").unwrap();
        dir
    }

    fn ssl_ca_directory(&self) -> PathBuf {
        self.dir.path().join("trusted-ca")
    }

    /// The cluster's Secrets, as tekton/README.md's install creates them: the git, forge and Model
    /// Registry tokens.
    fn cluster(&self) -> LocalCluster {
        let mut cluster = LocalCluster::new(&self.folder("runs"));
        cluster.add_secret("git-token", "token", GIT_TOKEN);
        cluster.add_secret("forge-token", "token", DEFAULT_TOKEN);
        cluster.add_secret("model-registry-token", "token", self.model_registry.token());
        cluster
    }

    /// Runs a Pipeline from tekton/ with a PipelineRun's params and workspaces.
    fn run(
        &self,
        cluster: &LocalCluster,
        pipeline: &str,
        params: BTreeMap<String, ParamValue>,
        workspaces: BTreeMap<String, PathBuf>,
    ) -> PipelineRunOutcome {
        let spec = &self.manifests.pipelines[pipeline].spec;
        let outcome = cluster
            .run_pipeline(pipeline, spec, &self.manifests.tasks, &params, &workspaces)
            .unwrap_or_else(|e| panic!("PipelineRun of {pipeline} failed: {e}"));
        for step in &outcome.steps {
            eprintln!("{step}");
        }
        outcome
    }

    /// How skopeo reaches the registry: the pipeline's credentials and the registry's CA.
    fn skopeo_access(&self) -> RegistryAccess<'_> {
        let certs = self.folder("skopeo-certs");
        std::fs::copy(self.registry.ca_pem().unwrap(), certs.join("ca.crt")).unwrap();
        RegistryAccess {
            user: REGISTRY_USER,
            password: REGISTRY_PASSWORD,
            cert_dir: certs,
        }
    }

    /// A base image with a shell (Debian's busybox-static), mirrored into the registry as a
    /// cluster that cannot reach registry.access.redhat.com has one: its reference.
    fn mirror_base_image(&self) -> String {
        let layout = self.folder("base-layout");
        busybox_layout(
            &layout,
            "1",
            BaseOptions {
                entrypoint: None,
                shell: true,
            },
        );
        let base = format!("{}/mirror/busybox:1", self.registry.host());
        push_layout(&layout, "1", &base, &self.skopeo_access());
        base
    }

    /// Merges the promotion branch into main as Gitea's merge button does (a merge commit), and
    /// marks the pull request merged. Returns the push's (before, after).
    fn merge(&self, number: u64, branch: &str) -> (String, String) {
        let work = self.folder("merge");
        let bare = self.git.repo_dir(REPO);
        git(&work, &["clone", "--quiet", bare.to_str().unwrap(), "."]);
        let before = git(&work, &["rev-parse", "HEAD"]);
        git(
            &work,
            &[
                "merge",
                "--quiet",
                "--no-ff",
                "-m",
                &format!("Merge pull request '{branch}' (#{number}) from {branch} into main"),
                &format!("origin/{branch}"),
            ],
        );
        let after = git(&work, &["rev-parse", "HEAD"]);
        git(&work, &["push", "--quiet", "origin", "main"]);
        self.gitea.set_state(REPO, number, PullState::Merged);
        (before, after)
    }

    /// The push delivery Gitea sends for `before..after` of main (fields as the fixtures show them).
    fn push_event(&self, before: &str, after: &str) -> Event {
        let fixtures = e2e::fixtures_dir().join("gitea");
        let read = |name: &str| -> Value {
            serde_json::from_slice(&std::fs::read(fixtures.join(name)).unwrap()).unwrap()
        };
        let work = self.dir.path().join("merge");
        let mut commits = Vec::new();
        for id in git(
            &work,
            &["rev-list", "--reverse", &format!("{before}..{after}")],
        )
        .lines()
        {
            let (mut added, mut modified, mut removed) = (vec![], vec![], vec![]);
            let changes = git(
                &work,
                &[
                    "diff-tree",
                    "-r",
                    "-m",
                    "--first-parent",
                    "--no-commit-id",
                    "--name-status",
                    id,
                ],
            );
            for line in changes.lines() {
                let (status, path) = line.split_once('\t').unwrap();
                match status {
                    "A" => added.push(path.to_string()),
                    "D" => removed.push(path.to_string()),
                    _ => modified.push(path.to_string()),
                }
            }
            let message = git(&work, &["log", "-1", "--format=%B", id]);
            commits.push(json!({
                "id": id, "message": message, "added": added, "removed": removed, "modified": modified,
                "url": format!("{}/{REPO}/commit/{id}", self.forge_url()),
            }));
        }
        let mut body = read("push-gitops-merge-commit.json");
        body["before"] = json!(before);
        body["after"] = json!(after);
        body["ref"] = json!("refs/heads/main");
        body["total_commits"] = json!(commits.len());
        body["head_commit"] = commits.last().cloned().unwrap();
        body["commits"] = Value::Array(commits);
        body["repository"]["full_name"] = json!(REPO);
        body["repository"]["default_branch"] = json!("main");
        body["repository"]["clone_url"] = json!(self.gitops_repo_url());
        let headers: BTreeMap<String, String> =
            serde_json::from_value(read("headers-push.json")).unwrap();
        Event { headers, body }
    }

    /// model-release's example run (tekton/runs) with this cluster's addresses, and git over the
    /// git-basic-auth workspace with GIT_USERNAME left empty (the README's alternative to the
    /// token Secret, which exists too): the version, params and workspaces.
    fn model_release_run(
        &self,
        image: &str,
    ) -> (
        String,
        BTreeMap<String, ParamValue>,
        BTreeMap<String, PathBuf>,
    ) {
        let string = |p: &ParamValue| match p {
            ParamValue::String(s) => s.clone(),
            other => panic!("{other:?} is not a string"),
        };
        let example = self
            .manifests
            .pipeline_runs
            .iter()
            .find(|r| {
                r.spec.pipeline_ref.as_ref().and_then(|p| p.name.as_deref())
                    == Some("model-release")
            })
            .expect("an example model-release run in tekton/runs");
        let version = string(
            &example
                .spec
                .params
                .iter()
                .find(|p| p.name == "VERSION")
                .expect("the example run sets VERSION")
                .value,
        );
        let params = with_settings(
            example
                .spec
                .params
                .iter()
                .map(|p| (p.name.clone(), p.value.clone())),
            &[
                ("IMAGE", Some(image.to_string())),
                ("GITOPS_REPO_URL", Some(self.gitops_repo_url())),
                ("FORGE_API_URL", Some(self.forge_url())),
                ("FORGE_REPO", Some(REPO.into())),
                ("REGISTRY_URL", Some(self.model_registry_url())),
                ("GIT_USERNAME", None),
            ],
        );
        let mut workspaces = BTreeMap::new();
        for binding in &example.spec.workspaces {
            let path = match binding.name.as_str() {
                "model" => e2e::repo_root().join("examples/model"),
                "dockerconfig" => self.dockerconfig(),
                "ssl-ca-directory" => self.ssl_ca_directory(),
                other => panic!("the example run binds workspace {other}: map it here"),
            };
            workspaces.insert(binding.name.clone(), path);
        }
        workspaces.insert("git-basic-auth".into(), self.git_basic_auth());
        (version, params, workspaces)
    }

    /// The post-deploy run the gitops Trigger creates from Gitea's push delivery of `before..after`
    /// (filters, bindings, template), with this cluster's addresses: its params and workspaces.
    fn post_deploy_run(
        &self,
        before: &str,
        after: &str,
    ) -> (BTreeMap<String, ParamValue>, BTreeMap<String, PathBuf>) {
        let event = self.push_event(before, after);
        let trigger = &self.manifests.triggers["gitops-prod-push"];
        let extensions = intercept(trigger, &event)
            .unwrap_or_else(|e| panic!("{e}"))
            .expect("the merge's push passes the gitops trigger's filters");
        let bound = bind(&self.manifests, trigger, &event, &extensions).unwrap();
        let template_name = trigger.spec.template.reference.as_deref().unwrap();
        let template = &self.manifests.trigger_templates[template_name];
        let resources = render(template, &bound).unwrap();
        assert_eq!(resources.len(), 1);
        let pipeline_run: e2e::manifests::PipelineRunSpec =
            serde_json::from_value(resources[0]["spec"].clone()).unwrap();
        assert_eq!(
            pipeline_run
                .pipeline_ref
                .as_ref()
                .and_then(|p| p.name.as_deref()),
            Some("post-deploy")
        );
        let params = with_settings(
            pipeline_run
                .params
                .iter()
                .map(|p| (p.name.clone(), p.value.clone())),
            &[
                ("GITOPS_REPO_URL", Some(self.gitops_repo_url())),
                ("REGISTRY_URL", Some(self.model_registry_url())),
            ],
        );
        assert_eq!(params["BEFORE"], ParamValue::String(before.into()));
        assert_eq!(params["AFTER"], ParamValue::String(after.into()));
        let mut workspaces = BTreeMap::new();
        for binding in &pipeline_run.workspaces {
            let path = match binding.name.as_str() {
                "ssl-ca-directory" => self.ssl_ca_directory(),
                "dockerconfig" => self.dockerconfig(),
                other => panic!("the template binds workspace {other}: map it here"),
            };
            workspaces.insert(binding.name.clone(), path);
        }
        (params, workspaces)
    }
}

#[test]
fn model_release_then_post_deploy_as_written() {
    let world = World::start();
    let image = format!("{}/user1/{MODEL}", world.registry.host());
    let (version, mut params, workspaces) = world.model_release_run(&image);
    // The base image this machine can reach (see the module comment).
    let base = world.mirror_base_image();
    params.insert("BASE_IMAGE".into(), ParamValue::String(base));
    // The training run registered the version; the pipeline labels it.
    let model_id = world.model_registry.add_model(MODEL);
    world
        .model_registry
        .add_version(&model_id, &version, json!({}));
    let test_before = world.git.head(REPO, "main").unwrap();

    let cluster = world.cluster();
    let release = world.run(&cluster, "model-release", params, workspaces);
    // On a base with a shell, as KServe's sidecar mode needs.
    let built = &release
        .steps
        .iter()
        .find(|s| s.task == "build-modelcar")
        .expect("a build-modelcar step")
        .stderr;
    assert!(!built.contains("no /bin/sh"), "{built}");

    // The image is in the registry, under the version, with the digest the pipeline reported.
    let image_url = &release.results["IMAGE_URL"];
    assert_eq!(image_url, &format!("{image}:{version}"));
    let digest = &release.results["IMAGE_DIGEST"];
    assert!(digest.starts_with("sha256:"), "IMAGE_DIGEST {digest}");
    assert_eq!(&registry_digest(image_url, &world.skopeo_access()), digest);
    assert_eq!(
        release.task_result("build-modelcar", "STORAGE_URI"),
        format!("oci://{image}@{digest}")
    );
    // test's config.yaml has the version, committed on main; prod's is untouched.
    let main = world.git.head(REPO, "main").unwrap();
    assert_ne!(main, test_before);
    assert_eq!(release.results["TEST_COMMIT"], main);
    let file = |rev: &str, path: &str| {
        String::from_utf8(world.git.file_at(REPO, rev, path).unwrap()).unwrap()
    };
    let test_config = file("main", TEST_CONFIG);
    assert!(
        test_config.contains(&format!("version: {version}"))
            || test_config.contains(&format!("version: \"{version}\"")),
        "{test_config}"
    );
    assert!(
        test_config.starts_with("# jukebox in test."),
        "comments kept:\n{test_config}"
    );
    // The digest built is the digest in Git, in the same commit as the version.
    assert!(
        test_config.contains(&format!("image_digest: \"{digest}\"")),
        "digest not in the test config:\n{test_config}"
    );
    assert!(file("main", PROD_CONFIG).contains("version: latest"));
    // The tasks that wrote the digest into Git report it.
    assert_eq!(release.task_result("deploy-test", "IMAGE_DIGEST"), digest);
    // The version is labelled "test" with its image and GitOps commit.
    assert_eq!(labels(&world.model_registry, &version), ["test"]);
    let properties = world.model_registry.custom_properties(MODEL, &version);
    let recorded = serde_json::to_string(&properties).unwrap();
    assert!(
        recorded.contains(digest.as_str()),
        "image not recorded: {recorded}"
    );
    assert!(
        recorded.contains(main.as_str()),
        "GitOps commit not recorded: {recorded}"
    );
    for record in ["deployed.test.source_commit", "deployed.test.source_repo"] {
        assert!(
            properties.contains_key(record),
            "{record} not recorded: {recorded}"
        );
    }
    // The PipelineRun that built and deployed it, by the name Tekton gave it.
    assert!(
        release.run.name.starts_with("model-release-") && release.run.name.len() == 19,
        "{}",
        release.run.name
    );
    assert_eq!(
        properties["deployed.test.pipeline_run"]["string_value"],
        release.run.name.as_str()
    );
    // The prod pull request is open in Gitea, from the promotion branch, with the version on it.
    let open = world.gitea.open_pulls(REPO);
    assert_eq!(open.len(), 1, "{open:?}");
    let pull = &open[0];
    assert_eq!(pull.base, "main");
    assert_eq!(pull.head, release.task_result("promote-prod", "BRANCH"));
    assert_eq!(
        release.task_result("promote-prod", "NUMBER"),
        pull.number.to_string()
    );
    assert_eq!(release.task_result("promote-prod", "STATUS"), "created");
    assert_eq!(release.task_result("promote-prod", "IMAGE_DIGEST"), digest);
    assert_eq!(release.task_result("promote-prod", "RULES"), "");
    // Before promoting, the version's tag was read back from the registry (through the
    // dockerconfig workspace): it still names the digest built.
    let step = |outcome: &PipelineRunOutcome, task: &str| {
        outcome
            .steps
            .iter()
            .find(|s| s.task == task)
            .unwrap_or_else(|| panic!("no step of {task}"))
            .stderr
            .clone()
    };
    let checked = format!("{image}:{version} names {digest}, the digest in Git");
    assert!(
        step(&release, "promote-prod").contains(&checked),
        "{}",
        step(&release, "promote-prod")
    );
    assert!(pull.body.contains(digest.as_str()), "{}", pull.body);
    let promoted = file(&pull.head, PROD_CONFIG);
    assert!(promoted.contains(&version), "{promoted}");
    assert!(promoted.contains(digest.as_str()), "{promoted}");

    // The pull request is merged: Gitea pushes main and sends the webhook.
    let (before, after) = world.merge(pull.number, &pull.head.clone());
    let (params, workspaces) = world.post_deploy_run(&before, &after);
    // The template's git credentials: the git-token Secret with GIT_USERNAME oauth2.
    let cluster = world.cluster();
    let post_deploy = world.run(&cluster, "post-deploy", params.clone(), workspaces.clone());

    assert_eq!(
        post_deploy.results["LABELLED"],
        format!("{MODEL}:{version}:prod")
    );
    let mut now = labels(&world.model_registry, &version);
    now.sort();
    assert_eq!(now, ["prod", "test"]);
    let recorded =
        serde_json::to_string(&world.model_registry.custom_properties(MODEL, &version)).unwrap();
    assert!(
        recorded.contains(after.as_str()),
        "merge commit not recorded: {recorded}"
    );
    // The digest the prod config carries is the one recorded for prod: the image built.
    let prod_image =
        &world.model_registry.custom_properties(MODEL, &version)["deployed.prod.image"];
    assert!(
        prod_image.to_string().contains(&format!("@{digest}")),
        "prod's image is not the digest built: {prod_image}"
    );
    // Its tag was checked against the registry first, and the post-deploy run is recorded.
    assert!(
        step(&post_deploy, "label-deployed").contains(&checked),
        "{}",
        step(&post_deploy, "label-deployed")
    );
    assert_eq!(
        world.model_registry.custom_properties(MODEL, &version)["deployed.prod.pipeline_run"]["string_value"],
        post_deploy.run.name.as_str()
    );

    // Then what was labelled is traced, Git to image registry to Model Registry: all agree.
    assert_eq!(post_deploy.results["DRIFT"], "false");
    let trace = step(&post_deploy, "trace-deployed");
    assert!(
        trace.contains(&format!("{MODEL} in prod")) && trace.contains(&digest.to_string()),
        "{trace}"
    );

    // A second delivery of the same push (Gitea retries) changes nothing.
    let patches = world.model_registry.count("PATCH");
    let again = world.run(&cluster, "post-deploy", params, workspaces);
    assert_eq!(again.results["LABELLED"], format!("{MODEL}:{version}:prod"));
    assert_eq!(world.model_registry.count("PATCH"), patches);
}
