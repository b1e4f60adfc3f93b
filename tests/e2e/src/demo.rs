//! The whole flow on one machine (`scripts/demo`): real local servers, the model source and GitOps
//! repositories from `examples/` in Gitea, and the checked-in Tekton YAML run the way a cluster
//! runs it.
//!
//! 1. An OCI registry (HTTPS, basic auth) with a base image that has a shell (Debian's
//!    busybox-static, mirrored into it), Gitea, and the Kubeflow Model Registry (on MariaDB), with
//!    HTTPS routes from a private CA in front of Gitea and the Model Registry, as a cluster's routes
//!    give them. The cluster's Secrets and the `trusted-ca` ConfigMap are written as tekton/README.md
//!    creates them.
//! 2. The GitOps repository (`user1/mlops-gitops`, from examples/gitops-repo) and the model source
//!    repository (`user1/jukebox`) in Gitea, each with a webhook to its EventListener.
//! 3. A training commit pushed to the model source repository (the version registered in the Model
//!    Registry, the model's files left on the claim the PipelineRun mounts); Gitea's push delivery
//!    goes through Tekton Triggers' own interceptors (signature, CEL filter), binding and template
//!    (the Tekton harness), and the PipelineRun it creates runs `model-release` from tekton/ with
//!    the local runner ([`crate::local_run`]): ModelCar pushed, test config bumped, version labelled
//!    `test`, promotion pull request opened.
//! 4. The pull request merged through Gitea's API; the merge's push delivery starts `post-deploy`
//!    the same way, which labels the version `prod`.
//! 5. `model-trace` for test and prod against the same servers, and a report read back from them.
//!
//! The installation settings of the TriggerTemplates are the checked-in example's with its hosts
//! replaced by this machine's (and BASE_IMAGE set to the mirrored base, as a cluster that cannot
//! reach registry.access.redhat.com would). What differs from a cluster: no Kubernetes API, so
//! nothing waits for an InferenceService and model-trace reports the cluster as "not checked".

use std::any::Any;
use std::fmt;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use test_services::{Certs, Gitea, ModelRegistry, Registry, require_tool, workspace_bin};

use crate::base_image::{BaseOptions, RegistryAccess, busybox_layout, busybox_version};
use crate::install::{dockerconfigjson, gitops_repo_files, with_hosts, with_settings};
use crate::local_run::{LocalCluster, PipelineRunOutcome, indent, shell_words};
use crate::manifests::{Manifests, ParamValue, PipelineRunSpec};
use crate::process::run_with_timeout;
use crate::tekton_harness::Harness;
use crate::tls_proxy::TlsProxy;
use crate::webhooks::{
    Delivery, WebhookReceiver, add_gitea_hook, pipeline_run, short, through_listener,
};

/// The Gitea organisation holding both repositories (the examples' `user1`).
pub const ORG: &str = "user1";
pub const MODEL: &str = "jukebox";
pub const GITOPS_REPO: &str = "user1/mlops-gitops";
pub const SOURCE_REPO: &str = "user1/jukebox";
const REGISTRY_USER: &str = "pipeline";
const WEBHOOK_SECRET_BYTES: usize = 16;
/// Gitea takes a token over git HTTPS with any user name; the templates send `oauth2`.
const GIT_USERNAME: &str = "oauth2";
/// How long a webhook delivery may take to arrive.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// The example installation's hosts (tekton/triggers), replaced by this machine's.
const EXAMPLE_IMAGE_REGISTRY: &str = "quay.io";
const EXAMPLE_GITEA: &str = "https://gitea.apps.example.com";
const EXAMPLE_MODEL_REGISTRY: &str = "https://user1-prod-registry-rest.apps.example.com";

/// The steps, in order, as numbered on stderr.
const STEPS: &[&str] = &[
    "Checking the tools, the Go servers and tekton/",
    "Starting the OCI registry (HTTPS, basic auth) and mirroring a base image with a shell into it",
    "Starting Gitea",
    "Starting the Kubeflow Model Registry (on MariaDB)",
    "Routes (HTTPS, private CA) to Gitea and the Model Registry; the cluster's Secrets and ConfigMap",
    "Creating the GitOps repository from examples/gitops-repo, with its webhook",
    "Creating the model source repository, with its webhook",
    "Training: a commit to the model source repository, the version registered",
    "Gitea's push delivery through the model-source EventListener",
    "Running model-release",
    "Merging the promotion pull request through Gitea's API",
    "Gitea's push deliveries through the gitops EventListener",
    "Running post-deploy",
    "Tracing test and prod with model-trace",
    "Reading the result back from the servers",
];

/// Set on Ctrl-C: the demo stops after the step under way (and `--keep` stops waiting).
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// What the demo is asked to do.
pub struct Options {
    /// Where each step's log, the pipeline runs' files and the report go.
    pub run_dir: PathBuf,
    /// Leave the servers running after the report, until Ctrl-C.
    pub keep: bool,
}

/// A step that failed: which, why, and where its log is.
#[derive(Debug)]
pub struct Failure {
    pub number: usize,
    pub title: String,
    pub message: String,
    pub log: PathBuf,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {}/{} failed: {}\n{}\nIts log: {}",
            self.number,
            STEPS.len(),
            self.title,
            indent(self.message.trim_end()),
            self.log.display()
        )
    }
}

/// A step's log: a file in the run folder; [`Log::say`] also shows a line under the step on stderr.
pub struct Log {
    file: File,
}

impl Log {
    /// Writes `text` to the log only.
    pub fn write(&mut self, text: &str) {
        let _ = writeln!(self.file, "{text}");
    }

    /// Writes `text` to the log and shows it under the step.
    pub fn say(&mut self, text: &str) {
        self.write(text);
        for line in text.lines() {
            eprintln!("        {line}");
        }
    }
}

/// The numbered steps: each one's title on stderr, its output in `<run dir>/NN-<slug>.log`.
struct Steps {
    run_dir: PathBuf,
    done: usize,
}

/// The message of the last panic, taken by [`Steps::run`] (the hook keeps it off stderr).
static PANIC_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

/// Keeps panic messages (the test servers' way of failing) for the failing step's report instead
/// of printing them.
pub fn capture_panics() {
    std::panic::set_hook(Box::new(|info| {
        let message = match info.payload().downcast_ref::<&str>() {
            Some(text) => text.to_string(),
            None => info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "a panic".to_string()),
        };
        let at = info
            .location()
            .map(|l| format!(" (at {}:{})", l.file(), l.line()))
            .unwrap_or_default();
        *PANIC_MESSAGE.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{message}{at}"));
    }));
}

fn panic_text(payload: Box<dyn Any + Send>) -> String {
    PANIC_MESSAGE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".to_string())
}

impl Steps {
    fn run<T>(&mut self, body: impl FnOnce(&mut Log) -> Result<T, String>) -> Result<T, Failure> {
        let number = self.done + 1;
        let title = STEPS[self.done];
        let slug: String = title
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(5)
            .collect::<Vec<_>>()
            .join("-")
            .to_ascii_lowercase();
        let log_path = self.run_dir.join(format!("{number:02}-{slug}.log"));
        let failure = |message: String| Failure {
            number,
            title: title.to_string(),
            message,
            log: log_path.clone(),
        };
        let file = File::create(&log_path)
            .map_err(|e| failure(format!("create {}: {e}", log_path.display())))?;
        let mut log = Log { file };
        log.write(&format!("# step {number}: {title}"));
        if INTERRUPTED.load(Ordering::SeqCst) {
            let message = "interrupted (Ctrl-C) before this step";
            log.write(message);
            return Err(failure(message.into()));
        }
        eprintln!("[{number:>2}/{}] {title}", STEPS.len());
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut log)))
            .unwrap_or_else(|payload| Err(panic_text(payload)));
        self.done = number;
        match outcome {
            Ok(value) => {
                log.write(&format!("# done in {:.1?}", started.elapsed()));
                eprintln!("        ok, {:.1?}", started.elapsed());
                Ok(value)
            }
            Err(mut message) => {
                if INTERRUPTED.load(Ordering::SeqCst) {
                    message = format!("interrupted (Ctrl-C): {message}");
                }
                log.write(&format!(
                    "# FAILED after {:.1?}\n{message}",
                    started.elapsed()
                ));
                Err(failure(message))
            }
        }
    }
}

/// The servers, kept by the demo until it ends (or, with `--keep`, until Ctrl-C). Dropping them
/// stops them and removes their folders.
#[derive(Default)]
pub struct Servers {
    registry: Option<Registry>,
    gitea: Option<Gitea>,
    model_registry: Option<ModelRegistry>,
    routes: Option<TlsProxy>,
    registry_password: String,
}

impl Servers {
    /// What a person needs to look around: the addresses and the Gitea login.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        if let Some(gitea) = &self.gitea {
            text.push_str(&format!(
                "Gitea            {}/{ORG}  (user {}, password {})\n",
                gitea.url(),
                gitea.admin_user(),
                gitea.admin_password()
            ));
        }
        if let Some(registry) = &self.registry {
            text.push_str(&format!(
                "image registry   {}  (user {REGISTRY_USER}, password {})\n",
                registry.url(),
                self.registry_password
            ));
        }
        if let Some(model_registry) = &self.model_registry {
            text.push_str(&format!(
                "Model Registry   {}/registered_models\n",
                model_registry.api_url()
            ));
        }
        text
    }

    /// The servers' own logs, copied into `dir` (their folders go when they stop).
    fn save_logs(&self, dir: &Path) {
        let _ = std::fs::create_dir_all(dir);
        let save = |name: &str, text: String| {
            let _ = std::fs::write(dir.join(name), text);
        };
        if let Some(registry) = &self.registry {
            save("registry.log", registry.log());
        }
        if let Some(gitea) = &self.gitea {
            save("gitea.log", gitea.log());
        }
        if let Some(model_registry) = &self.model_registry {
            save("model-registry.log", model_registry.log());
        }
    }
}

/// What the flow leaves for the report.
struct Flow {
    manifests: Manifests,
    harness: Harness,
    receiver: WebhookReceiver,
    cluster: LocalCluster,
    webhook_secret: String,
    gitea_route: String,
    model_registry_route: String,
    registry_host: String,
    registry_password: String,
    /// The image registry's CA as `ca.crt`, for skopeo.
    registry_cert_dir: PathBuf,
    base_image: String,
    /// The `registry-credentials` and `git-token` Secrets and the `trusted-ca` ConfigMap as
    /// folders, as a pod mounts them (for model-trace).
    dockerconfig_dir: PathBuf,
    git_token_dir: PathBuf,
    trusted_ca_dir: PathBuf,
    source_commit: String,
    version_id: String,
}

/// Runs the demo; the report goes to stdout (and `report.txt`, `report.json` in the run folder).
pub fn run(options: &Options, servers: &mut Servers) -> Result<Value, Failure> {
    std::fs::create_dir_all(&options.run_dir).map_err(|e| Failure {
        number: 0,
        title: "creating the run folder".into(),
        message: e.to_string(),
        log: options.run_dir.clone(),
    })?;
    let mut steps = Steps {
        run_dir: options.run_dir.clone(),
        done: 0,
    };
    let outcome = flow(options, &mut steps, servers);
    servers.save_logs(&options.run_dir.join("servers"));
    outcome
}

fn flow(options: &Options, steps: &mut Steps, servers: &mut Servers) -> Result<Value, Failure> {
    let run_dir = &options.run_dir;

    // 1. Everything the demo runs is there.
    let (manifests, harness) = steps.run(|log| {
        for tool in [
            "modelcar-build",
            "gitops-bump",
            "pr-create",
            "registry-label",
            "model-trace",
        ] {
            log.write(&format!("{tool}: {}", workspace_bin(tool).display()));
        }
        for server in ["gitea", "model-registry", "tekton-harness"] {
            log.write(&format!(
                "{server}: {}",
                test_services::go_server_bin(server).display()
            ));
        }
        for (tool, package) in [
            ("docker-registry", "docker-registry"),
            ("lighttpd", "lighttpd"),
            ("skopeo", "skopeo"),
            ("busybox", "busybox-static"),
            ("mariadbd", "mariadb-server-core"),
            ("git", "git"),
        ] {
            log.write(&format!(
                "{tool}: {}",
                require_tool(tool, package).display()
            ));
        }
        let manifests = Manifests::load(&crate::tekton_dir()).map_err(|e| e.to_string())?;
        log.say(&format!(
            "tekton/: {} Tasks, {} Pipelines, {} Triggers",
            manifests.tasks.len(),
            manifests.pipelines.len(),
            manifests.triggers.len()
        ));
        Ok((manifests, Harness::get()))
    })?;

    // 2. The image registry, and the base image with a shell in it (a mirror, as a cluster that
    //    cannot reach registry.access.redhat.com has one).
    let (registry_host, base_image, registry_cert_dir) = steps.run(|log| {
        servers.registry_password = format!("registry-{}", random_hex(8));
        let registry = Registry::start_tls_with_auth(REGISTRY_USER, &servers.registry_password);
        let host = registry.host();
        let cert_dir = run_dir.join("registry-ca");
        std::fs::create_dir_all(&cert_dir).map_err(|e| e.to_string())?;
        std::fs::copy(registry.ca_pem().unwrap(), cert_dir.join("ca.crt"))
            .map_err(|e| e.to_string())?;
        log.say(&format!(
            "{} (user {REGISTRY_USER}; its CA: {})",
            registry.url(),
            cert_dir.join("ca.crt").display()
        ));
        // The layout's one image is tagged `latest`, so that `--base oci:<run dir>/base-layout`
        // finds it (README's "Build one ModelCar by hand").
        let layout = run_dir.join("base-layout");
        busybox_layout(
            &layout,
            "latest",
            BaseOptions {
                entrypoint: None,
                shell: true,
            },
        );
        let base = format!("{host}/mirror/busybox:{}", busybox_version());
        let access = RegistryAccess {
            user: REGISTRY_USER,
            password: &servers.registry_password,
            cert_dir: cert_dir.clone(),
        };
        crate::base_image::push_layout(&layout, "latest", &base, &access);
        log.say(&format!(
            "base image {base} (Debian's busybox-static, /bin/sh), {}",
            crate::base_image::registry_digest(&base, &access)
        ));
        servers.registry = Some(registry);
        Ok((host, base, cert_dir))
    })?;

    // 3. Gitea.
    steps.run(|log| {
        let gitea = Gitea::start();
        log.say(&format!(
            "{} (version {})",
            gitea.url(),
            gitea.api("GET", "/version", None).body["version"]
                .as_str()
                .unwrap_or("?")
        ));
        gitea.create_org(ORG);
        log.say(&format!("organisation {ORG}"));
        servers.gitea = Some(gitea);
        Ok(())
    })?;

    // 4. The Kubeflow Model Registry.
    steps.run(|log| {
        let model_registry = ModelRegistry::start();
        log.say(&model_registry.api_url());
        servers.model_registry = Some(model_registry);
        Ok(())
    })?;

    // 5. Routes and the cluster's objects.
    let mut flow = steps.run(|log| {
        let gitea = servers.gitea.as_ref().unwrap();
        let model_registry = servers.model_registry.as_ref().unwrap();
        let registry = servers.registry.as_ref().unwrap();
        let route_certs = Certs::generate(&[]);
        let routes = TlsProxy::start(&route_certs, &[&gitea.host(), &model_registry.host()]);
        let (gitea_route, model_registry_route) = (routes.url(0), routes.url(1));
        log.say(&format!("Gitea          {gitea_route}"));
        log.say(&format!("Model Registry {model_registry_route}"));
        servers.routes = Some(routes);

        let mut cluster = LocalCluster::new(&run_dir.join("tekton"));
        // The ConfigMap trusted-ca (tekton/setup): the routes' CA and the image registry's.
        let mut bundle = std::fs::read_to_string(&route_certs.ca_pem).map_err(|e| e.to_string())?;
        bundle.push_str(
            &std::fs::read_to_string(registry.ca_pem().unwrap()).map_err(|e| e.to_string())?,
        );
        cluster.add_config_map("trusted-ca", "ca-bundle.crt", &bundle);
        // tekton/README.md's Secrets: the registry's credentials, the git and forge tokens (a Gitea
        // token), the webhook secret the Triggers check signatures with.
        cluster.add_secret(
            "registry-credentials",
            ".dockerconfigjson",
            &dockerconfigjson(&registry.host(), REGISTRY_USER, &servers.registry_password),
        );
        cluster.add_secret("git-token", "token", gitea.token());
        cluster.add_secret("forge-token", "token", gitea.token());
        let webhook_secret = random_hex(WEBHOOK_SECRET_BYTES);
        cluster.add_secret("webhook-secret", "token", &webhook_secret);
        // No model-registry-token: the Model Registry here has no authentication of its own.
        for (name, keys) in &cluster.secrets {
            log.say(&format!(
                "Secret {name} ({})",
                keys.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        log.say("ConfigMap trusted-ca (ca-bundle.crt)");
        cluster.on_task = Some(Box::new(|task, task_ref| {
            eprintln!("        task {task} (Task {task_ref})");
        }));
        let binding = |name: &str, secret: Option<Value>, config_map: Option<Value>| {
            crate::manifests::RunWorkspaceBinding {
                name: name.to_string(),
                persistent_volume_claim: None,
                secret,
                config_map,
                empty_dir: None,
                volume_claim_template: None,
            }
        };
        let dockerconfig_dir = cluster.workspace_folder(&binding(
            "dockerconfig",
            Some(json!({"secretName": "registry-credentials"})),
            None,
        ))?;
        let git_token_dir = cluster.workspace_folder(&binding(
            "git-token",
            Some(json!({"secretName": "git-token"})),
            None,
        ))?;
        let trusted_ca_dir = cluster.workspace_folder(&binding(
            "ssl-ca-directory",
            None,
            Some(json!({"name": "trusted-ca"})),
        ))?;
        Ok(Flow {
            manifests,
            harness,
            receiver: WebhookReceiver::start(),
            webhook_secret,
            gitea_route,
            model_registry_route,
            registry_host: registry_host.clone(),
            registry_password: servers.registry_password.clone(),
            registry_cert_dir: registry_cert_dir.clone(),
            base_image: base_image.clone(),
            dockerconfig_dir,
            git_token_dir,
            trusted_ca_dir,
            cluster,
            source_commit: String::new(),
            version_id: String::new(),
        })
    })?;
    let gitea = servers.gitea.as_ref().unwrap();
    let model_registry = servers.model_registry.as_ref().unwrap();

    // 6. The GitOps repository.
    steps.run(|log| {
        gitea.create_org_repo(ORG, "mlops-gitops");
        let files = gitops_repo_files(&flow.registry_host);
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(path, contents)| (path.as_str(), contents.as_slice()))
            .collect();
        let commit = gitea.push_files(
            GITOPS_REPO,
            "main",
            &files,
            "GitOps repository from examples/gitops-repo",
        );
        log.say(&format!(
            "{}/{GITOPS_REPO} at {} ({} files, image_repository: {})",
            gitea.url(),
            short(&commit),
            files.len(),
            flow.registry_host
        ));
        let hook = flow.receiver.url("gitops");
        add_gitea_hook(gitea, GITOPS_REPO, &hook, &flow.webhook_secret);
        log.say(&format!("webhook (push) -> EventListener gitops ({hook})"));
        Ok(())
    })?;

    // 7. The model source repository.
    steps.run(|log| {
        gitea.create_org_repo(ORG, MODEL);
        let readme = format!(
            "# {MODEL}\n\nThe model's training code and, under model/, the files the training run \
             produced. A push to main releases the model (the model-source EventListener).\n"
        );
        let commit = gitea.push_files(
            SOURCE_REPO,
            "main",
            &[("README.md", readme.as_bytes())],
            "Start jukebox",
        );
        log.say(&format!(
            "{}/{SOURCE_REPO} at {}",
            gitea.url(),
            short(&commit)
        ));
        let hook = flow.receiver.url("model-source");
        add_gitea_hook(gitea, SOURCE_REPO, &hook, &flow.webhook_secret);
        log.say(&format!(
            "webhook (push) -> EventListener model-source ({hook})"
        ));
        Ok(())
    })?;

    // 8. Training: the model's files committed and pushed, the version registered (as the training
    //    pipeline does), the files left on the claim the PipelineRun mounts.
    steps.run(|log| {
        let files: Vec<(String, Vec<u8>)> =
            crate::install::files_below(&crate::repo_root().join("examples/model"))
                .into_iter()
                .map(|(path, contents)| (format!("model/{path}"), contents))
                .collect();
        let files: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(path, contents)| (path.as_str(), contents.as_slice()))
            .collect();
        let commit = gitea.push_files(SOURCE_REPO, "main", &files, "Train jukebox on the new data");
        log.say(&format!(
            "pushed {} to main of {SOURCE_REPO} ({} files under model/)",
            commit,
            files.len()
        ));
        // The training run registers the version, named by the commit (the Triggers' version).
        let model = model_registry
            .api("POST", "/registered_models", Some(&json!({"name": MODEL})))
            .expect_success("register the model");
        let version = model_registry
            .api(
                "POST",
                "/model_versions",
                Some(&json!({
                    "name": commit,
                    "registeredModelId": model["id"],
                    "author": "training pipeline",
                    "description": "Trained on the new data",
                })),
            )
            .expect_success("register the version");
        flow.version_id = version["id"].as_str().unwrap_or_default().to_string();
        log.say(&format!(
            "Model Registry: {MODEL} version {} registered",
            short(&commit)
        ));
        // The claim <model>-model (the TriggerTemplate's model workspace): the model's files.
        let claim = run_dir.join("claims").join(format!("{MODEL}-model"));
        checkout_subtree(gitea, SOURCE_REPO, &commit, "model", &claim, run_dir)?;
        flow.cluster
            .claims
            .insert(format!("{MODEL}-model"), claim.clone());
        log.say(&format!(
            "PersistentVolumeClaim {MODEL}-model: {}",
            claim.display()
        ));
        flow.source_commit = commit;
        Ok(())
    })?;

    // 9. The push, delivered by Gitea, through the model-source EventListener.
    let release_run = steps.run(|log| {
        let (delivery, spec) = next_pipeline_run(&flow, log, "model-source")?;
        let event = delivery.json();
        if event["after"] != flow.source_commit.as_str() {
            return Err(format!(
                "the delivery is for {}, not the training commit {}",
                event["after"], flow.source_commit
            ));
        }
        Ok(spec)
    })?;

    // 10. model-release.
    let release = steps.run(|log| {
        let params = with_hosts(
            release_run
                .params
                .iter()
                .map(|p| (p.name.clone(), p.value.clone())),
            &hosts(&flow),
        );
        let params = with_settings(
            params,
            &[
                ("BASE_IMAGE", Some(flow.base_image.clone())),
                // The OpenShift AI dashboard's address: there is none here.
                ("REGISTRY_WEB_URL", None),
            ],
        );
        log_params(log, "model-release", &params);
        let outcome = run_pipeline(&flow.cluster, &flow.manifests, &release_run, params, log)?;
        for name in ["IMAGE_URL", "IMAGE_DIGEST", "TEST_COMMIT", "PR_URL"] {
            log.say(&format!(
                "{name} = {}",
                outcome.results.get(name).map(String::as_str).unwrap_or("")
            ));
        }
        Ok(outcome)
    })?;

    // 11. The person reviewing the pull request merges it.
    let number: u64 = release
        .task_results
        .get(&("promote-prod".to_string(), "NUMBER".to_string()))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    steps.run(|log| {
        if number == 0 {
            return Err("promote-prod gave no pull request NUMBER".into());
        }
        let path = format!("/repos/{GITOPS_REPO}/pulls/{number}/merge");
        // Gitea checks mergeability in the background: right after opening, a merge may answer
        // 405 for a moment.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answer = gitea.api("POST", &path, Some(&json!({"Do": "merge"})));
            log.write(&format!("POST {path}: {}", answer.status));
            if answer.status == 200 {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "Gitea did not merge pull request #{number}: HTTP {} {}",
                    answer.status, answer.body
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let main = gitea
            .api("GET", &format!("/repos/{GITOPS_REPO}/branches/main"), None)
            .expect_success("read main");
        log.say(&format!(
            "pull request #{number} merged: main is at {}",
            main["commit"]["id"].as_str().unwrap_or("?")
        ));
        Ok(())
    })?;

    // 12. The merge's push (and the pipeline's earlier pushes), delivered by Gitea, through the
    //     gitops EventListener.
    let deploy_run = steps.run(|log| Ok(next_pipeline_run(&flow, log, "gitops")?.1))?;

    // 13. post-deploy.
    let post_deploy = steps.run(|log| {
        let params = with_hosts(
            deploy_run
                .params
                .iter()
                .map(|p| (p.name.clone(), p.value.clone())),
            &hosts(&flow),
        );
        log_params(log, "post-deploy", &params);
        let outcome = run_pipeline(&flow.cluster, &flow.manifests, &deploy_run, params, log)?;
        for name in ["LABELLED", "UNLABELLED"] {
            log.say(&format!(
                "{name} = {}",
                outcome.results.get(name).map(String::as_str).unwrap_or("")
            ));
        }
        Ok(outcome)
    })?;

    // 14. model-trace, as a person would run it against the same servers.
    let traces = steps.run(|log| {
        let mut traces = Vec::new();
        for env in ["test", "prod"] {
            let trace = trace(&flow, env, run_dir, log)?;
            log.say(&format!(
                "{env}: exit {}, DRIFT={}",
                trace.exit.map(|c| c.to_string()).unwrap_or("-".into()),
                trace.drift
            ));
            traces.push(trace);
        }
        // model-trace exits 1 on drift: the flow did not leave every layer agreeing with Git.
        for trace in &traces {
            if trace.exit != Some(0) {
                return Err(format!(
                    "model-trace for {} exited {:?}:\n{}",
                    trace.env, trace.exit, trace.table
                ));
            }
        }
        Ok(traces)
    })?;

    // 15. What happened, read back from the servers.
    let report = steps.run(|log| {
        let report = read_back(
            &flow,
            gitea,
            model_registry,
            &release,
            &post_deploy,
            number,
            &traces,
        )?;
        log.write(&serde_json::to_string_pretty(&report).unwrap_or_default());
        Ok(report)
    })?;
    Ok(report)
}

/// The example installation's hosts and this machine's.
fn hosts(flow: &Flow) -> Vec<(&'static str, &str)> {
    vec![
        (EXAMPLE_IMAGE_REGISTRY, flow.registry_host.as_str()),
        (EXAMPLE_GITEA, flow.gitea_route.as_str()),
        (EXAMPLE_MODEL_REGISTRY, flow.model_registry_route.as_str()),
    ]
}

fn log_params(
    log: &mut Log,
    pipeline: &str,
    params: &std::collections::BTreeMap<String, ParamValue>,
) {
    log.write(&format!(
        "PipelineRun of {pipeline} with the installation's settings:"
    ));
    for (name, value) in params {
        log.write(&format!("  {name} = {}", value.strings().join(", ")));
    }
}

/// Deliveries, as they arrive, through the EventListener they were sent to, until one starts a
/// PipelineRun from the EventListener `listener`; the others are logged with why nothing started.
fn next_pipeline_run(
    flow: &Flow,
    log: &mut Log,
    listener: &str,
) -> Result<(Delivery, PipelineRunSpec), String> {
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let delivery = flow.receiver.next(left).ok_or_else(|| {
            format!("no delivery to the {listener} EventListener started a PipelineRun within {DELIVERY_TIMEOUT:?}")
        })?;
        log.write(&format!(
            "delivery to {}: {}\nheaders: {:?}\nbody: {}",
            delivery.listener,
            delivery.summary(),
            delivery.headers,
            delivery.body
        ));
        let fired = through_listener(
            &flow.harness,
            &crate::tekton_dir(),
            &flow.manifests,
            &delivery.listener,
            &delivery,
            &flow.webhook_secret,
        )?;
        let mut started = None;
        for trigger in &fired {
            if trigger.passed {
                let spec = pipeline_run(trigger)?;
                let pipeline = spec
                    .pipeline_ref
                    .as_ref()
                    .and_then(|p| p.name.clone())
                    .unwrap_or_default();
                log.say(&format!(
                    "{} -> EventListener {}: Trigger {} passed (signature, CEL filter) and created a PipelineRun of {pipeline}",
                    delivery.summary(),
                    delivery.listener,
                    trigger.trigger
                ));
                started = Some(spec);
            } else {
                log.write(&format!("Trigger {}: {}", trigger.trigger, trigger.reason));
                log.say(&format!(
                    "{} -> EventListener {}: Trigger {} started nothing ({})",
                    delivery.summary(),
                    delivery.listener,
                    trigger.trigger,
                    stopped_by(&trigger.reason)
                ));
            }
        }
        if let Some(spec) = started {
            if delivery.listener != listener {
                return Err(format!(
                    "a delivery to {} started a PipelineRun while one from {listener} was awaited",
                    delivery.listener
                ));
            }
            return Ok((delivery, spec));
        }
    }
}

/// Which interceptor stopped a delivery, and how, from the harness's reason ("interceptor NAME:
/// expression ... did not return true (Code)").
fn stopped_by(reason: &str) -> String {
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(rest) = reason.strip_prefix("interceptor ") else {
        return reason;
    };
    let (name, message) = rest.split_once(": ").unwrap_or((rest, ""));
    if message.starts_with("expression ") && message.contains("did not return true") {
        format!("the CEL filter of {name} is false")
    } else {
        format!("{name}: {message}")
    }
}

/// Runs a PipelineRun with `params`, logging each step.
fn run_pipeline(
    cluster: &LocalCluster,
    manifests: &Manifests,
    run: &PipelineRunSpec,
    params: std::collections::BTreeMap<String, ParamValue>,
    log: &mut Log,
) -> Result<PipelineRunOutcome, String> {
    let mut run = run.clone();
    run.params = params
        .into_iter()
        .map(|(name, value)| crate::manifests::Param { name, value })
        .collect();
    let outcome = cluster.run_pipeline_run(manifests, &run);
    match outcome {
        Ok(outcome) => {
            let tasks: std::collections::BTreeSet<&str> =
                outcome.steps.iter().map(|s| s.task.as_str()).collect();
            log.say(&format!(
                "PipelineRun {} succeeded: {} task{}, each step's files under {}",
                outcome.run.name,
                tasks.len(),
                if tasks.len() == 1 { "" } else { "s" },
                cluster.scratch.display()
            ));
            for step in &outcome.steps {
                log.write(&step.to_string());
            }
            Ok(outcome)
        }
        Err(error) => Err(format!(
            "{error}\n(each step's stdout and stderr: {}/<TaskRun>/step-<name>/)",
            cluster.scratch.display()
        )),
    }
}

/// One model-trace run.
struct Trace {
    env: String,
    exit: Option<i32>,
    drift: String,
    table: String,
    command: String,
}

/// model-trace for `env` against the servers, as a person would run it: the GitOps repository
/// through its route, the image registry with the registry credentials, the Model Registry, the
/// forge. No Kubernetes API here: the cluster is not checked.
fn trace(flow: &Flow, env: &str, run_dir: &Path, log: &mut Log) -> Result<Trace, String> {
    let dir = run_dir.join(format!("trace-{env}"));
    let results = dir.join("results");
    std::fs::create_dir_all(&results).map_err(|e| e.to_string())?;
    let report_file = dir.join("report.json");
    // The git-token Secret holds the Gitea token, for git and the forge API alike.
    let token_file = flow.git_token_dir.join("token").display().to_string();
    let args: Vec<String> = [
        "--model",
        MODEL,
        "--env",
        env,
        "--repo-url",
        &format!("{}/{GITOPS_REPO}.git", flow.gitea_route),
        "--git-username",
        GIT_USERNAME,
        "--git-token-file",
        &token_file,
        "--docker-config",
        &flow.dockerconfig_dir.display().to_string(),
        "--ca-cert",
        &flow.trusted_ca_dir.display().to_string(),
        "--registry-kind",
        "kubeflow",
        "--registry-url",
        &flow.model_registry_route,
        "--forge",
        "gitea",
        "--forge-api-url",
        &flow.gitea_route,
        "--forge-repo",
        GITOPS_REPO,
        "--forge-token-file",
        &token_file,
        "--report-file",
        &report_file.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let program = workspace_bin("model-trace");
    let mut command = Command::new(&program);
    command
        .args(&args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &dir)
        .env("MODELCAR_RESULTS_DIR", &results)
        .env("MODELCAR_LOG_FORMAT", "text");
    let mut shown = vec![program.display().to_string()];
    shown.extend(args);
    let command_line = shell_words(&shown);
    log.write(&format!("$ {command_line}"));
    let run =
        run_with_timeout(command, &dir, Duration::from_secs(120)).map_err(|e| e.to_string())?;
    log.write(&format!("stdout:\n{}\nstderr:\n{}", run.stdout, run.stderr));
    let drift = std::fs::read_to_string(results.join("DRIFT")).unwrap_or_default();
    let exit = run.status.and_then(|s| s.code());
    if exit.is_none() {
        return Err(format!(
            "model-trace for {env} did not finish:\n{}",
            run.stderr
        ));
    }
    Ok(Trace {
        env: env.to_string(),
        exit,
        drift,
        table: run.stdout,
        command: command_line,
    })
}

/// The report: the image, the GitOps commits, the pull request, the Model Registry's labels and
/// records, and the traces, each read from the server that holds it.
fn read_back(
    flow: &Flow,
    gitea: &Gitea,
    model_registry: &ModelRegistry,
    release: &PipelineRunOutcome,
    post_deploy: &PipelineRunOutcome,
    number: u64,
    traces: &[Trace],
) -> Result<Value, String> {
    let result = |name: &str| release.results.get(name).cloned().unwrap_or_default();
    let image_url = result("IMAGE_URL");
    let digest = result("IMAGE_DIGEST");
    // The registry asked with an independent client (skopeo): what the tag names now.
    let tag_names = crate::base_image::registry_digest(
        &image_url,
        &RegistryAccess {
            user: REGISTRY_USER,
            password: &flow.registry_password,
            cert_dir: flow.registry_cert_dir.clone(),
        },
    );
    let commits = gitea
        .api(
            "GET",
            &format!("/repos/{GITOPS_REPO}/commits?sha=main&limit=10&stat=false&files=false"),
            None,
        )
        .expect_success("list the GitOps commits");
    let commits: Vec<Value> = commits
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|c| {
            json!({
                "id": c["sha"],
                "message": c["commit"]["message"].as_str().unwrap_or("").lines().next().unwrap_or(""),
                "author": c["commit"]["author"]["name"],
            })
        })
        .collect();
    let pull = gitea
        .api("GET", &format!("/repos/{GITOPS_REPO}/pulls/{number}"), None)
        .expect_success("read the pull request");
    let version = model_registry
        .api("GET", &format!("/model_versions/{}", flow.version_id), None)
        .expect_success("read the version");
    let properties = version["customProperties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut labels = Vec::new();
    let mut records = serde_json::Map::new();
    for (key, value) in &properties {
        let text = value["string_value"].as_str();
        if text == Some("") {
            labels.push(key.clone());
        } else if key.starts_with("deployed.") {
            records.insert(key.clone(), json!(text.unwrap_or_default()));
        }
    }
    labels.sort();
    Ok(json!({
        "model": MODEL,
        "version": flow.source_commit,
        "source": {
            "repository": format!("{}/{SOURCE_REPO}", gitea.url()),
            "commit": flow.source_commit,
        },
        "image": {
            "url": image_url,
            "digest": digest,
            "tag_names": tag_names,
            "storage_uri": release.task_results.get(&("build-modelcar".to_string(), "STORAGE_URI".to_string())),
            "base": flow.base_image,
        },
        "gitops": {
            "repository": format!("{}/{GITOPS_REPO}", gitea.url()),
            "test_commit": result("TEST_COMMIT"),
            "commits": commits,
        },
        "pull_request": {
            "number": number,
            "url": pull["html_url"],
            "title": pull["title"],
            "merged": pull["merged"],
            "merge_commit": pull["merge_commit_sha"],
        },
        "pipeline_runs": {
            "model_release": release.run.name,
            "post_deploy": post_deploy.run.name,
            "labelled": post_deploy.results.get("LABELLED"),
        },
        "model_registry": {
            "url": model_registry.api_url(),
            "labels": labels,
            "records": records,
        },
        "traces": traces.iter().map(|t| json!({
            "env": t.env,
            "exit": t.exit,
            "drift": t.drift,
            "command": t.command,
            "table": t.table,
        })).collect::<Vec<_>>(),
        "cluster": "not checked: no Kubernetes API here",
    }))
}

/// The report as text, for a person to check.
pub fn render(report: &Value, run_dir: &Path) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut out = String::new();
    let mut line = |label: &str, text: String| {
        out.push_str(&format!("{label:<16} {text}\n"));
    };
    line(
        "model",
        format!("{} version {}", s(&report["model"]), s(&report["version"])),
    );
    line(
        "source commit",
        format!(
            "{}/commit/{}",
            s(&report["source"]["repository"]),
            s(&report["source"]["commit"])
        ),
    );
    line(
        "image",
        format!(
            "{}@{}",
            s(&report["image"]["url"]),
            s(&report["image"]["digest"])
        ),
    );
    line(
        "  the tag",
        format!(
            "names {} (skopeo inspect)",
            s(&report["image"]["tag_names"])
        ),
    );
    line("  base", s(&report["image"]["base"]));
    line("  storage URI", s(&report["image"]["storage_uri"]));
    line("GitOps repo", s(&report["gitops"]["repository"]));
    for (i, commit) in report["gitops"]["commits"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        line(
            if i == 0 { "  commits (main)" } else { "" },
            format!(
                "{} {} ({})",
                short(commit["id"].as_str().unwrap_or("")),
                s(&commit["message"]),
                s(&commit["author"])
            ),
        );
    }
    line(
        "pull request",
        format!(
            "{} \"{}\" {}",
            s(&report["pull_request"]["url"]),
            s(&report["pull_request"]["title"]),
            if report["pull_request"]["merged"] == true {
                "(merged)"
            } else {
                "(NOT merged)"
            }
        ),
    );
    line(
        "pipeline runs",
        format!(
            "{} (model-release), {} (post-deploy: LABELLED {})",
            s(&report["pipeline_runs"]["model_release"]),
            s(&report["pipeline_runs"]["post_deploy"]),
            s(&report["pipeline_runs"]["labelled"])
        ),
    );
    let labels: Vec<String> = report["model_registry"]["labels"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(s)
        .collect();
    line(
        "registry labels",
        format!(
            "{} {}: {}",
            MODEL,
            short(&s(&report["version"])),
            labels.join(", ")
        ),
    );
    if let Some(records) = report["model_registry"]["records"].as_object() {
        for (key, value) in records {
            line("", format!("{key} = {}", s(value)));
        }
    }
    for trace in report["traces"].as_array().cloned().unwrap_or_default() {
        line(
            &format!("trace {}", s(&trace["env"])),
            format!("exit {}, DRIFT={}", trace["exit"], s(&trace["drift"])),
        );
    }
    line("cluster", s(&report["cluster"]));
    line("run folder", run_dir.display().to_string());
    for trace in report["traces"].as_array().cloned().unwrap_or_default() {
        out.push_str(&format!(
            "\n$ {}\n{}",
            s(&trace["command"]),
            s(&trace["table"])
        ));
    }
    out
}

/// Copies the folder `subtree` of `commit` of the Gitea repository `repo` into `into`.
fn checkout_subtree(
    gitea: &Gitea,
    repo: &str,
    commit: &str,
    subtree: &str,
    into: &Path,
    scratch: &Path,
) -> Result<(), String> {
    let work = tempfile::Builder::new()
        .prefix("checkout-")
        .tempdir_in(scratch)
        .map_err(|e| e.to_string())?;
    let checkout = work.path().join("repo");
    let git = |command: &mut Command, what: &str| -> Result<(), String> {
        let output = command.output().map_err(|e| format!("{what}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what}: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    git(
        gitea
            .git_command()
            .args(["clone", "--quiet", &gitea.repo_url(repo)])
            .arg(&checkout),
        "git clone",
    )?;
    let archive = work.path().join("model.tar");
    git(
        gitea
            .git_command()
            .current_dir(&checkout)
            .args(["archive", "--format=tar", "-o"])
            .arg(&archive)
            .arg(format!("{commit}:{subtree}")),
        "git archive",
    )?;
    std::fs::create_dir_all(into).map_err(|e| e.to_string())?;
    git(
        Command::new(require_tool("tar", "tar"))
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(into),
        "tar -x",
    )
}

/// `bytes` random bytes from the kernel, hex-encoded.
fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buffer = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut file| file.read_exact(&mut buffer))
        .expect("read /dev/urandom");
    hex::encode(buffer)
}

/// `YYYYmmdd-HHMMSS` in UTC, for the run folder's name.
pub fn timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_has_a_distinct_log_name() {
        let mut slugs: Vec<String> = STEPS
            .iter()
            .map(|t| {
                t.split(|c: char| !c.is_ascii_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("-")
            })
            .collect();
        slugs.sort();
        slugs.dedup();
        assert_eq!(slugs.len(), STEPS.len());
    }

    #[test]
    fn timestamps_are_utc_dates() {
        let stamp = timestamp();
        assert_eq!(stamp.len(), 15, "{stamp}");
        assert!(stamp.starts_with("20"), "{stamp}");
    }
}
