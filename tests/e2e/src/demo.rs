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

mod pipelines;
mod report;
mod setup;
mod steps;

use pipelines::{hosts, log_params, next_pipeline_run, run_pipeline};
pub use report::render;
use report::{read_back, trace};
use setup::set_up;
use steps::Steps;
pub use steps::{Failure, Log, capture_panics};

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

    let mut flow = set_up(options, steps, servers)?;
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
