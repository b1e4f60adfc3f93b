//! Every step's command line, as Tekton builds it from the checked-in YAML, is accepted by that
//! tool's own argument parser: each Task alone (defaults, every param given, optional workspaces
//! bound and unbound) and each Task as its Pipeline calls it (sample Pipeline params, results of the
//! earlier tasks). The tools stop right after parsing when `MODELCAR_GITOPS_CHECK_ARGS` is set, so
//! nothing is contacted; the step's env (switches such as `WAIT_READY`, tokens from Secrets) goes with
//! the arguments, as clap reads both.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use e2e::local_run::{
    TEKTON_RESULTS, run_with_timeout, shell_words, step_env, tool_of, with_mounts,
};
use e2e::manifests::{Manifests, ParamValue, TaskSpec};
use e2e::refs::RunIdentity;
use e2e::run::{PipelineContext, command_line, step_context, task_order};
use test_services::workspace_bin;

const CHECK_ARGS_ENV: &str = "MODELCAR_GITOPS_CHECK_ARGS";
/// A step that has not stopped by then is running for real: its tool ignored the check switch.
const PARSE_TIMEOUT: Duration = Duration::from_secs(20);

fn manifests() -> Manifests {
    Manifests::load(&e2e::tekton_dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// A value a user would give each param (hosts that refuse connections, should a tool run anyway).
fn sample(param: &str) -> Option<&'static str> {
    Some(match param {
        "IMAGE" => "127.0.0.1:9/team/jukebox",
        "TAG" | "VERSION" | "REVISION" | "SOURCE_COMMIT" | "SOURCE_REVISION" | "COMMIT"
        | "AFTER" => "3f9d2c71b8e04a5f6c1d7e2b9a8f0c3d4e5b6a71",
        "BEFORE" | "GITOPS_COMMIT" => "9a8b7c6d5e4f30211203f4e5d6c7b8a990817263",
        "MODEL_PATH" => "models/jukebox",
        "SOURCE_URL" | "SOURCE_REPO_URL" => "https://127.0.0.1:9/team/jukebox.git",
        "SOURCE_COMMIT_URL" => "https://127.0.0.1:9/team/jukebox/commit/3f9d2c7",
        "TITLE" | "MODEL" | "MODEL_NAME" => "jukebox",
        "BASE_IMAGE" => "scratch",
        "PLATFORM" => "linux/arm64",
        "COMPRESSION" => "zstd",
        "REPO_URL" | "GITOPS_REPO_URL" => "https://127.0.0.1:9/team/mlops-gitops.git",
        "BRANCH" | "BASE" | "GITOPS_BRANCH" => "main",
        "ENVIRONMENT" | "TEST_ENVIRONMENT" => "test",
        "PROD_ENVIRONMENT" => "prod",
        "MESSAGE" => "jukebox: test -> 3f9d2c7",
        "AUTHOR_NAME" => "Release Bot",
        "AUTHOR_EMAIL" => "release-bot@example.org",
        "GIT_USERNAME" => "oauth2",
        "FORGE" => "gitea",
        "API_URL" | "FORGE_API_URL" => "https://127.0.0.1:9",
        "REPO" | "FORGE_REPO" => "team/mlops-gitops",
        "REGISTRY_URL" => "https://127.0.0.1:9",
        "REGISTRY_WEB_URL" => "https://127.0.0.1:9/modelRegistry/jukebox",
        "BACKEND" | "REGISTRY_BACKEND" => "mlflow",
        "PATH_PREFIX" => "deployments/",
        "WAIT_READY" | "KEEP_OTHERS" => "true",
        "NAMESPACE_PATTERN" => "team-{env}",
        "TIMEOUT" => "90s",
        "TASK_IMAGE" => "quay.io/team/tool:0.1.0",
        name if name.ends_with("_SECRET") => "team-token",
        name if name.ends_with("_SECRET_KEY") => "token",
        _ => return None,
    })
}

/// A result an earlier task would give.
fn sample_result(result: &str) -> String {
    match result {
        "IMAGE_URL" => "127.0.0.1:9/team/jukebox:3f9d2c7".into(),
        "IMAGE_DIGEST" => format!("sha256:{}", "4d".repeat(32)),
        "STORAGE_URI" => format!("oci://127.0.0.1:9/team/jukebox@sha256:{}", "4d".repeat(32)),
        "commit" => "5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9".into(),
        "changed" => "true".into(),
        other => format!("sample-{other}"),
    }
}

/// Secrets holding a token under every name and key the Tasks may read.
fn secrets(task: &TaskSpec) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut secrets: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let names = task
        .params
        .iter()
        .filter(|p| p.name.ends_with("_SECRET"))
        .filter_map(|p| match &p.default {
            Some(ParamValue::String(s)) => Some(s.clone()),
            _ => None,
        })
        .chain(["team-token".to_string()]);
    for name in names {
        secrets
            .entry(name)
            .or_default()
            .insert("token".into(), "t0ken-for-parsing".into());
    }
    secrets
}

/// How a Task's params are chosen for one case.
#[derive(Clone, Copy)]
enum Params {
    /// Required params sampled, the others at their defaults (often empty: `--flag=`).
    Defaults,
    /// Every param given a sample value, and one extra flag through EXTRA_ARGS.
    AllGiven,
}

struct Scratch {
    dir: tempfile::TempDir,
    certs: test_services::Certs,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("a scratch directory"),
            certs: test_services::Certs::generate(&[]),
        }
    }

    fn folder(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// A folder standing for a bound workspace, holding what a user binds to it.
    fn workspace(&self, name: &str) -> PathBuf {
        let path = self.folder(&format!("workspaces/{name}"));
        let write = |file: &str, contents: &[u8]| {
            let file = path.join(file);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, contents).unwrap();
        };
        match name {
            "basic-auth" | "git-basic-auth" => {
                write(".git-credentials", b"https://oauth2:t0ken@127.0.0.1:9\n");
                write(".gitconfig", b"[credential]\n\thelper = store\n");
            }
            "ssh-directory" | "git-ssh" => {
                write("id_ed25519", b"not a key: only parsed, never read\n");
                write("known_hosts", b"127.0.0.1 ssh-ed25519 AAAA\n");
            }
            "ssl-ca-directory" => write("ca.crt", &std::fs::read(&self.certs.ca_pem).unwrap()),
            "dockerconfig" => write("config.json", br#"{"auths":{}}"#),
            "source" | "model" => {
                for model in [".", "models/jukebox"] {
                    write(&format!("{model}/1/model.onnx"), b"onnx");
                }
            }
            _ => {}
        }
        path
    }
}

const HTTPS_CREDENTIALS: [&str; 2] = ["basic-auth", "git-basic-auth"];
const SSH_CREDENTIALS: [&str; 2] = ["ssh-directory", "git-ssh"];

/// The sets of workspaces a run binds: the required ones only; every one with git credentials
/// for HTTPS; every one with git credentials for SSH (git credentials are one or the other).
fn workspace_sets<'a>(
    declared: impl Iterator<Item = (&'a String, bool)>,
) -> Vec<(&'static str, Vec<String>)> {
    let declared: Vec<(&String, bool)> = declared.collect();
    let pick = |skip: &[&str]| -> Vec<String> {
        declared
            .iter()
            .filter(|(name, _)| !skip.contains(&name.as_str()))
            .map(|(name, _)| name.to_string())
            .collect()
    };
    let mut sets = vec![(
        "optional workspaces unbound",
        declared
            .iter()
            .filter(|(_, optional)| !optional)
            .map(|(name, _)| name.to_string())
            .collect(),
    )];
    let has = |names: [&str; 2]| declared.iter().any(|(n, _)| names.contains(&n.as_str()));
    if has(SSH_CREDENTIALS) {
        sets.push((
            "every workspace bound, git over HTTPS",
            pick(&SSH_CREDENTIALS),
        ));
        sets.push((
            "every workspace bound, git over SSH",
            pick(&HTTPS_CREDENTIALS),
        ));
    } else {
        sets.push(("every workspace bound", pick(&[])));
    }
    sets
}

/// Whether a git credentials workspace is among `workspaces`: GIT_USERNAME then stays empty, as it
/// goes with the token Secret only (tekton/README.md).
fn git_credentials_bound<'a>(mut workspaces: impl Iterator<Item = &'a String>) -> bool {
    workspaces
        .any(|w| ["basic-auth", "git-basic-auth", "ssh-directory", "git-ssh"].contains(&w.as_str()))
}

/// Runs every step of `task` with `params` and `workspaces` in check mode; returns a description
/// of each step its tool refused.
fn check_task(
    scratch: &Scratch,
    at: &str,
    task: &TaskSpec,
    params: &BTreeMap<String, ParamValue>,
    workspaces: BTreeMap<String, PathBuf>,
) -> Vec<String> {
    let results = scratch.folder("results");
    let tmp = scratch.folder("tmp");
    let mounts = [
        (TEKTON_RESULTS.to_string(), results.clone()),
        ("/tmp".to_string(), tmp),
    ];
    let context =
        step_context(task, params, workspaces, &results).unwrap_or_else(|e| panic!("{at}: {e}"));
    let secrets = secrets(task);
    let mut refused = Vec::new();
    for step in &task.steps {
        let step = with_mounts(step, &mounts);
        let line = command_line(&step, &context).unwrap_or_else(|e| panic!("{at}: {e}"));
        let tool = tool_of(&line[0]).unwrap_or_else(|| panic!("{at}: runs {}", line[0]));
        let args = line[1..].to_vec();
        let env = step_env(&step, &context, &secrets).unwrap_or_else(|e| panic!("{at}: {e}"));
        let mut command = Command::new(workspace_bin(tool));
        command
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(CHECK_ARGS_ENV, "1");
        let run = run_with_timeout(command, &scratch.dir.path().join("out"), PARSE_TIMEOUT)
            .unwrap_or_else(|e| panic!("{at}: run {tool}: {e}"));
        let accepted =
            run.status.is_some_and(|s| s.success()) && run.stderr.contains("arguments accepted");
        if !accepted {
            let status = match run.status {
                Some(status) => status.to_string(),
                None => format!("still running after {PARSE_TIMEOUT:?}, killed"),
            };
            let env_names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
            let mut shown = vec![line[0].clone()];
            shown.extend(args);
            refused.push(format!(
                "{at}, step {} ({status}):\n    $ {}\n    env: {} {CHECK_ARGS_ENV}=1\n    stderr: {}",
                step.name,
                shell_words(&shown),
                env_names.join(" "),
                run.stderr.trim().replace('\n', "\n      ")
            ));
        }
    }
    refused
}

fn task_params(
    task: &TaskSpec,
    case: Params,
    git_credentials: bool,
) -> BTreeMap<String, ParamValue> {
    task.params
        .iter()
        .filter(|spec| !(git_credentials && spec.name == "GIT_USERNAME"))
        .filter_map(|spec| {
            let given = match (case, spec.type_name()) {
                (Params::AllGiven, "array") => {
                    Some(ParamValue::Array(vec!["--plain-http=127.0.0.1:9".into()]))
                }
                (Params::AllGiven, _) => sample(&spec.name).map(|s| ParamValue::String(s.into())),
                (Params::Defaults, _) if spec.is_required() => {
                    sample(&spec.name).map(|s| ParamValue::String(s.into()))
                }
                (Params::Defaults, _) => return None,
            };
            match given {
                Some(value) => Some((spec.name.clone(), value)),
                None if spec.is_required() => panic!(
                    "param {} has no sample value: add one to sample() in tekton_args.rs",
                    spec.name
                ),
                None => None,
            }
        })
        .collect()
}

fn report(refused: Vec<String>, checked: usize) {
    assert!(checked > 0, "no step was checked");
    assert!(
        refused.is_empty(),
        "{} of {checked} step command lines were refused by their tool's parser:\n\n{}",
        refused.len(),
        refused.join("\n\n")
    );
}

#[test]
fn every_task_step_is_accepted_alone_with_workspaces_bound_and_unbound() {
    let manifests = manifests();
    let scratch = Scratch::new();
    let mut refused = Vec::new();
    let mut checked = 0;
    for (name, task) in &manifests.tasks {
        let spec = &task.spec;
        let mut cases = Vec::new();
        for (bound, names) in workspace_sets(spec.workspaces.iter().map(|w| (&w.name, w.optional)))
        {
            let workspaces: BTreeMap<String, PathBuf> = names
                .into_iter()
                .map(|w| (w.clone(), scratch.workspace(&w)))
                .collect();
            cases.push((
                format!("defaults, {bound}"),
                Params::Defaults,
                workspaces.clone(),
            ));
            cases.push((
                format!("every param given, {bound}"),
                Params::AllGiven,
                workspaces,
            ));
        }
        for (case, params, workspaces) in cases {
            let at = format!("Task {name} ({case})");
            refused.extend(check_task(
                &scratch,
                &at,
                spec,
                &task_params(spec, params, git_credentials_bound(workspaces.keys())),
                workspaces,
            ));
            checked += spec.steps.len();
        }
    }
    report(refused, checked);
}

#[test]
fn every_pipeline_step_is_accepted_as_its_pipeline_calls_it() {
    let manifests = manifests();
    let scratch = Scratch::new();
    let mut refused = Vec::new();
    let mut checked = 0;
    for (name, pipeline) in &manifests.pipelines {
        let spec = &pipeline.spec;
        for all_params in [false, true] {
            let given: BTreeMap<String, ParamValue> = spec
                .params
                .iter()
                .filter(|p| all_params || p.is_required())
                .filter(|p| !(all_params && p.name == "GIT_USERNAME"))
                .filter_map(|p| {
                    let value = sample(&p.name);
                    assert!(
                        value.is_some() || !p.is_required(),
                        "Pipeline {name}: param {} has no sample value: add one to sample()",
                        p.name
                    );
                    Some((p.name.clone(), ParamValue::String(value?.into())))
                })
                .collect();
            let sets = workspace_sets(spec.workspaces.iter().map(|w| (&w.name, w.optional)));
            for (bound_case, names) in sets {
                let mut given = given.clone();
                if all_params && !git_credentials_bound(names.iter()) {
                    given.insert("GIT_USERNAME".into(), ParamValue::String("oauth2".into()));
                }
                let run = RunIdentity {
                    name: format!("{name}-run"),
                    namespace: "default".into(),
                    uid: String::new(),
                };
                let mut context = PipelineContext::new(spec, &given)
                    .unwrap_or_else(|e| panic!("Pipeline {name}: {e}"))
                    .with_run(name, &run);
                let bound: BTreeMap<String, PathBuf> = names
                    .iter()
                    .map(|w| (w.clone(), scratch.workspace(w)))
                    .collect();
                for task in task_order(spec).unwrap_or_else(|e| panic!("Pipeline {name}: {e}")) {
                    let task_spec = &manifests.tasks[task.task_name().unwrap()].spec;
                    let at = format!(
                        "Pipeline {name}, task {} ({} params, {bound_case})",
                        task.name,
                        if all_params { "all" } else { "required" },
                    );
                    let params = context
                        .task_params(task)
                        .unwrap_or_else(|e| panic!("{at}: {e}"));
                    let workspaces = task
                        .workspaces
                        .iter()
                        .filter_map(|b| {
                            let source = b.workspace.as_deref().unwrap_or(&b.name);
                            Some((b.name.clone(), bound.get(source)?.clone()))
                        })
                        .collect();
                    refused.extend(check_task(&scratch, &at, task_spec, &params, workspaces));
                    checked += task_spec.steps.len();
                    for result in &task_spec.results {
                        context.results.insert(
                            (task.name.clone(), result.name.clone()),
                            sample_result(&result.name),
                        );
                    }
                }
            }
        }
    }
    report(refused, checked);
}

/// The sample values themselves must not hide a problem: an argument the parser cannot take is
/// refused in check mode too (exit 2, nothing accepted).
#[test]
fn check_mode_still_refuses_a_bad_argument() {
    let scratch = Scratch::new();
    for tool in [
        "modelcar-build",
        "gitops-bump",
        "pr-create",
        "registry-label",
    ] {
        let mut command = Command::new(workspace_bin(tool));
        command
            .arg("--no-such-flag=1")
            .env_clear()
            .env(CHECK_ARGS_ENV, "1");
        let run = run_with_timeout(command, &scratch.dir.path().join(tool), PARSE_TIMEOUT)
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        assert_eq!(
            run.status.and_then(|s| s.code()),
            Some(2),
            "{tool} --no-such-flag=1: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("arguments accepted"),
            "{tool}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("--no-such-flag"),
            "{tool}: {}",
            run.stderr
        );
    }
}
