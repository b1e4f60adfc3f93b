//! What the demo read back from the servers: model-trace's view, and the report for a person.

use super::*;

/// One model-trace run.
pub(super) struct Trace {
    pub(super) env: String,
    pub(super) exit: Option<i32>,
    pub(super) drift: String,
    pub(super) table: String,
    pub(super) command: String,
}

/// model-trace for `env` against the servers, as a person would run it: the GitOps repository
/// through its route, the image registry with the registry credentials, the Model Registry, the
/// forge. No Kubernetes API here: the cluster is not checked.
pub(super) fn trace(
    flow: &Flow,
    env: &str,
    run_dir: &Path,
    log: &mut Log,
) -> Result<Trace, String> {
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
pub(super) fn read_back(
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
