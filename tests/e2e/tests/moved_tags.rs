//! A tag that now names another image than the digest in Git is reported, not silently followed:
//! against the real registry (Debian's docker-registry, basic auth), the version's tag is pushed
//! again to another image between the build and the promotion. pr-create (with --image
//! repo:tag@digest, as model-release passes it) and registry-label --repo-url (the config's
//! image_repository/image_namespace/name:version@image_digest) stop before writing anything, naming
//! the tag and both digests; with the check set to warn they go on, and once the tag names the
//! digest in Git again they go on quietly.

use e2e::tool_run::*;
use serde_json::json;
use test_fakes::forge_support::DEFAULT_TOKEN;
use test_fakes::gitea::FakeGitea;
use test_fakes::kubeflow::FakeKubeflow;
use test_services::{GitServer, Registry};

const REPO: &str = "team/gitops";
const PROD: &str = "model-deployments/prod/jukebox/config.yaml";
const REGISTRY_USER: &str = "pipeline";
const REGISTRY_PASSWORD: &str = "registry-S3cret-19ab";

/// The image registry, its auth file, and two builds under the tag v2: the first (the digest the
/// pipeline wrote to Git) and the one pushed over it later.
struct Images {
    registry: Registry,
    _auth_dir: tempfile::TempDir,
    authfile: std::path::PathBuf,
    repository: String,
    other_model: tempfile::TempDir,
}

impl Images {
    fn start() -> Images {
        let registry = Registry::start_with_auth(REGISTRY_USER, REGISTRY_PASSWORD);
        let (auth_dir, authfile) = auth_file(&registry.host(), REGISTRY_USER, REGISTRY_PASSWORD);
        let repository = format!("{}/team/jukebox", registry.host());
        let other_model = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(other_model.path().join("1")).unwrap();
        std::fs::write(
            other_model.path().join("1/model.onnx"),
            b"another training run",
        )
        .unwrap();
        Images {
            registry,
            _auth_dir: auth_dir,
            authfile,
            repository,
            other_model,
        }
    }

    /// Builds and pushes the model in `model_dir` as `repository:v2`; its digest.
    fn push_v2(&self, model_dir: &str) -> String {
        let outcome = run(
            "modelcar-build",
            &[
                "--model-dir",
                model_dir,
                "--image",
                &self.repository,
                "--tag",
                "v2",
                "--base",
                "scratch",
                "--plain-http",
                &self.registry.host(),
                "--authfile",
                path_str(&self.authfile),
            ],
            &[],
        );
        let outcome = outcome.ok();
        outcome.result("IMAGE_DIGEST")
    }

    /// The build the pipeline ran, then another image pushed under the same tag: (built, now).
    fn built_then_moved(&self) -> (String, String) {
        let built = self.push_v2(&example_model());
        let now = self.push_v2(path_str(self.other_model.path()));
        assert_ne!(built, now);
        (built, now)
    }
}

fn double(value: f64) -> serde_json::Value {
    json!({"metadataType": "MetadataDoubleValue", "double_value": value})
}

#[test]
fn pr_create_reports_a_tag_pushed_again_and_writes_nothing() {
    let images = Images::start();
    let (built, now) = images.built_then_moved();
    let git = GitServer::start(GIT_USER, GIT_PASSWORD);
    git.create_repo(REPO);
    git.seed(REPO, &[(PROD, b"name: jukebox\nversion: a1\n")], "Seed");
    let gitea = FakeGitea::start();
    gitea.add_repo(REPO, git.repo_dir(REPO));
    let image = format!("{}:v2@{built}", images.repository);
    let (api_url, repo_url) = (gitea.url(), git.repo_url(REPO));
    let promote = |extra: &[&str]| {
        let mut args = vec![
            "--forge",
            "gitea",
            "--forge-api-url",
            &api_url,
            "--forge-repo",
            REPO,
            "--repo-url",
            &repo_url,
            "--git-username",
            GIT_USER,
            "--model",
            "jukebox",
            "--model-version",
            "v2",
            "--digest",
            &built,
            "--image",
            &image,
            "--authfile",
            path_str(&images.authfile),
            "--plain-http",
            "127.0.0.1",
        ];
        args.extend(extra);
        run(
            "pr-create",
            &args,
            &[
                ("MODELCAR_FORGE_TOKEN", DEFAULT_TOKEN),
                ("MODELCAR_GIT_TOKEN", GIT_PASSWORD),
            ],
        )
    };

    promote(&[]).failed(
        1,
        &[
            &format!("{}:v2 now resolves to {now}", images.repository),
            &format!("the digest in Git is {built}"),
            "nothing was pushed or opened",
        ],
    );
    assert!(gitea.pulls(REPO).is_empty());
    assert!(git.head(REPO, "promote/prod/jukebox").is_none());
    assert!(
        git.file_at(REPO, "main", PROD)
            .is_some_and(|f| !String::from_utf8_lossy(&f).contains(&built))
    );

    // Told to only warn, it promotes the digest built, and says what the tag names.
    let warned = promote(&["--tag-check", "warn"]);
    let warned = warned.ok();
    assert!(
        warned
            .run
            .stderr
            .contains(&format!("now resolves to {now}")),
        "{}",
        warned.run.stderr
    );
    assert_eq!(warned.result("IMAGE_DIGEST"), built);
    let promoted = git.file_at(REPO, "promote/prod/jukebox", PROD).unwrap();
    assert!(String::from_utf8_lossy(&promoted).contains(&built));

    // The built image pushed under the tag again: the check passes, and says so.
    assert_eq!(images.push_v2(&example_model()), built);
    let quiet = promote(&[]);
    let quiet = quiet.ok();
    assert!(
        quiet
            .run
            .stderr
            .contains(&format!("v2 names {built}, the digest in Git")),
        "{}",
        quiet.run.stderr
    );
}

#[test]
fn registry_label_from_gitops_records_nothing_for_a_tag_pushed_again() {
    let images = Images::start();
    let (built, now) = images.built_then_moved();
    let git = GitServer::start(GIT_USER, GIT_PASSWORD);
    git.create_repo(REPO);
    let config = |version: &str, digest: &str| {
        format!(
            "name: jukebox\nversion: {version}\nimage_repository: {}\nimage_namespace: team\nimage_digest: \"{digest}\"\n",
            images.registry.host()
        )
    };
    git.seed(REPO, &[(PROD, config("a1", "").as_bytes())], "Seed");
    git.seed(
        REPO,
        &[(PROD, config("v2", &built).as_bytes())],
        "Promote jukebox v2 to prod",
    );
    let after = git.head(REPO, "main").unwrap();
    let model_registry = FakeKubeflow::start();
    let model = model_registry.add_model("jukebox");
    model_registry.add_version(&model, "v2", json!({"accuracy": double(0.9)}));
    let (_token_dir, token) = file_with(model_registry.token());
    let record = |env: &[(&str, &str)]| {
        run(
            "registry-label",
            &[
                "--registry-url",
                &model_registry.url(),
                "--registry-token-file",
                path_str(&token),
                "--repo-url",
                &git.repo_url(REPO),
                "--commit",
                &after,
                "--git-username",
                GIT_USER,
                "--authfile",
                path_str(&images.authfile),
                "--plain-http",
                "127.0.0.1",
            ],
            &[&[("MODELCAR_GIT_TOKEN", GIT_PASSWORD)], env].concat(),
        )
    };

    record(&[]).failed(
        1,
        &[
            &format!("{}:v2 now resolves to {now}", images.repository),
            &format!("the digest in Git is {built}"),
            "nothing was recorded",
        ],
    );
    assert_eq!(model_registry.count("PATCH"), 0, "nothing is recorded");
    assert_eq!(model_registry.count("POST"), 0, "nothing is recorded");

    let warned = record(&[("MODELCAR_TAG_CHECK", "warn")]);
    let warned = warned.ok();
    assert!(
        warned
            .run
            .stderr
            .contains(&format!("now resolves to {now}")),
        "{}",
        warned.run.stderr
    );
    assert_eq!(warned.result("LABELLED"), "jukebox:v2:prod");
    let recorded = model_registry.custom_properties("jukebox", "v2");
    assert!(
        recorded["deployed.prod.image"]
            .to_string()
            .contains(&format!("@{built}")),
        "the digest in Git is recorded: {recorded:?}"
    );
}
