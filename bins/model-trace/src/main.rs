//! model-trace: what runs where, and where it came from; every disagreement between the GitOps
//! config, the image registry, the Model Registry, the promotion pull request and the cluster.

mod cli;
mod sources;

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use common::{ExitStatus, fault_with, finish, usage};
use trace::{Report, Sources, TraceError, TraceRequest};

use crate::cli::{Cli, Output};

fn main() -> ExitCode {
    let cli = cli::parse();
    cli.common.init_logging();
    gitops::set_network_timeouts(cli.common.http_options().idle_timeout);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return finish(Err(anyhow!(e).context("starting the async runtime"))),
    };
    match runtime.block_on(run_all(&cli)) {
        Ok(reports) => conclude(&cli, &reports),
        Err(error) => finish(Err(error)),
    }
}

/// One deployment to trace: the model, its environment, and the version it should run.
struct Target {
    model: String,
    env: String,
    version: Option<String>,
}

/// --model in --env, or the --deployments list (an empty one, from a push that deployed nothing,
/// traces nothing; with --env, only that environment's).
fn targets(cli: &Cli) -> anyhow::Result<Vec<Target>> {
    let list: Vec<&String> = cli.deployments.iter().flatten().collect();
    let listed = list.iter().any(|item| !item.trim().is_empty());
    match (cli.model.is_empty(), cli.env.is_empty()) {
        (false, false) if listed => {
            return Err(usage("give --model and --env, or --deployments, not both"));
        }
        (false, false) => {
            return Ok(vec![Target {
                model: cli.model.clone(),
                env: cli.env.clone(),
                version: None,
            }]);
        }
        (true, _) if cli.deployments.is_some() => {}
        _ => {
            return Err(usage(
                "give --model and --env (or --deployments MODEL:VERSION:ENV,...)",
            ));
        }
    }
    list.into_iter()
        .map(|item| item.trim())
        .filter(|item| !item.is_empty())
        .map(|item| match item.split(':').collect::<Vec<_>>()[..] {
            [model, version, env] if ![model, version, env].contains(&"") => Ok(Target {
                model: model.to_owned(),
                env: env.to_owned(),
                version: Some(version.to_owned()),
            }),
            _ => Err(usage(format!(
                "--deployments: {item:?} is not MODEL:VERSION:ENV (e.g. jukebox:v2:prod)"
            ))),
        })
        .filter(|target| {
            target
                .as_ref()
                .map_or(true, |t| cli.env.is_empty() || t.env == cli.env)
        })
        .collect()
}

async fn run_all(cli: &Cli) -> anyhow::Result<Vec<Report>> {
    let targets = targets(cli)?;
    if targets.is_empty() {
        tracing::info!("no deployments to trace");
    }
    let mut reports = Vec::with_capacity(targets.len());
    for target in &targets {
        let mut report = run(cli, &target.model, &target.env).await?;
        if let Some(expected) = &target.version {
            report.expect_version(expected);
        }
        reports.push(report);
    }
    Ok(reports)
}

async fn run(cli: &Cli, model: &str, env: &str) -> anyhow::Result<Report> {
    model_registry::validate_environment(env).map_err(|e| fault_with(e, |_| Some("--env")))?;
    let platform: oci::Platform = cli
        .platform
        .parse()
        .map_err(|e: oci::InvalidPlatform| fault_with(e, |_| Some("--platform")))?;
    if let Some(image) = &cli.image {
        trace::image::repository_of(image).map_err(|e| fault_with(e, |_| Some("--image")))?;
    }
    let request = TraceRequest {
        model: model.to_owned(),
        env: env.to_owned(),
        branch: cli.branch.clone(),
        path_pattern: cli.path_pattern.clone(),
        image: cli.image.clone(),
        platform,
        registry_model: cli.registry_model.clone(),
        branch_template: cli.branch_template.clone(),
        namespace: cli.namespace.replace("{env}", env),
        isvc_name: cli.isvc_name.clone(),
    };
    let clients = sources::Clients::connect(cli)?;
    let sources = Sources {
        git: &clients.git,
        images: &clients.images,
        model_registry: clients.model_registry(),
        forge: clients.forge(),
        cluster: clients.cluster(),
    };
    trace::trace(&request, &sources).await.map_err(|e| {
        let what = format!(
            "tracing {} in {} (--model, --env, --repo-url {}, --branch {}, --path-pattern {})",
            model,
            env,
            common::http::display_url_text(&cli.repo_url),
            cli.branch,
            cli.path_pattern
        );
        fault_with(e, trace_flags).context(what)
    })
}

/// This tool's flags for what a trace error blames (the context names the ones every trace reads).
fn trace_flags(error: &TraceError) -> Option<&'static str> {
    match error {
        TraceError::Gitops { source, .. } => sources::git_flags(source),
        TraceError::InvalidImage { .. } => Some("--image"),
        _ => None,
    }
}

/// Prints the report, writes the report file and the DRIFT result, and turns the outcome into the
/// exit code: 0 all agree, 1 drift or a source that could not be read.
fn conclude(cli: &Cli, reports: &[Report]) -> ExitCode {
    let drift = reports.iter().any(|r| r.drift);
    let outcome = (|| -> anyhow::Result<()> {
        // One deployment: its report; several (--deployments): a list of them.
        let json = match reports {
            [report] if cli.deployments.is_none() => serde_json::to_string_pretty(report),
            _ => serde_json::to_string_pretty(reports),
        }
        .context("writing the report as JSON")?;
        if let Some(path) = &cli.report_file {
            std::fs::write(path, format!("{json}\n")).with_context(|| {
                format!("writing the report to {} (--report-file)", path.display())
            })?;
        }
        let results = match cli.output {
            Output::Table => {
                for report in reports {
                    print!("{}", trace::table::render(report));
                }
                cli.common.results()
            }
            Output::Json => {
                println!("{json}");
                cli.common.results().without_echo()
            }
        };
        results.write("DRIFT", if drift { "true" } else { "false" })?;
        Ok(())
    })();
    if let Err(error) = outcome {
        return finish(Err(error));
    }
    let mut failed = false;
    for report in reports {
        failed |= !explain(report);
    }
    if failed {
        ExitStatus::Failed.into()
    } else {
        ExitStatus::Success.into()
    }
}

/// Says on stderr what a report found; true when every layer checked agrees.
fn explain(report: &Report) -> bool {
    let errors = report.errors();
    for (layer, note) in &errors {
        let flags = sources::layer_flags(*layer)
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        eprintln!(
            "error: the {} layer could not be read: {note}{flags}",
            layer.as_str()
        );
    }
    if report.drift {
        eprintln!(
            "drift: {} finding(s) for {} in {}:",
            report.findings.len(),
            report.model,
            report.env
        );
        for finding in &report.findings {
            eprintln!("  - {}: {}", finding.layer.as_str(), finding.message);
        }
    }
    if report.drift || !errors.is_empty() {
        false
    } else {
        tracing::info!(
            "{} in {}: every layer checked agrees",
            report.model,
            report.env
        );
        true
    }
}
