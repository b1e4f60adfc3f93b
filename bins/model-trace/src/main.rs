//! model-trace: what runs where, and where it came from; every disagreement between the GitOps
//! config, the image registry, the Model Registry, the promotion pull request and the cluster.

mod cli;
mod sources;

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use common::{ExitStatus, fault_with, finish};
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
    match runtime.block_on(run(&cli)) {
        Ok(report) => conclude(&cli, &report),
        Err(error) => finish(Err(error)),
    }
}

async fn run(cli: &Cli) -> anyhow::Result<Report> {
    model_registry::validate_environment(&cli.env).map_err(|e| fault_with(e, |_| Some("--env")))?;
    let platform: oci::Platform = cli
        .platform
        .parse()
        .map_err(|e: oci::InvalidPlatform| fault_with(e, |_| Some("--platform")))?;
    if let Some(image) = &cli.image {
        trace::image::repository_of(image).map_err(|e| fault_with(e, |_| Some("--image")))?;
    }
    let request = TraceRequest {
        model: cli.model.clone(),
        env: cli.env.clone(),
        branch: cli.branch.clone(),
        path_pattern: cli.path_pattern.clone(),
        image: cli.image.clone(),
        platform,
        registry_model: cli.registry_model.clone(),
        branch_template: cli.branch_template.clone(),
        namespace: cli.namespace.replace("{env}", &cli.env),
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
            cli.model,
            cli.env,
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
fn conclude(cli: &Cli, report: &Report) -> ExitCode {
    let outcome = (|| -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(report).context("writing the report as JSON")?;
        if let Some(path) = &cli.report_file {
            std::fs::write(path, format!("{json}\n")).with_context(|| {
                format!("writing the report to {} (--report-file)", path.display())
            })?;
        }
        let results = match cli.output {
            Output::Table => {
                print!("{}", trace::table::render(report));
                cli.common.results()
            }
            Output::Json => {
                println!("{json}");
                cli.common.results().without_echo()
            }
        };
        results.write("DRIFT", if report.drift { "true" } else { "false" })?;
        Ok(())
    })();
    if let Err(error) = outcome {
        return finish(Err(error));
    }
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
        ExitStatus::Failed.into()
    } else {
        tracing::info!(
            "{} in {}: every layer checked agrees",
            report.model,
            report.env
        );
        ExitStatus::Success.into()
    }
}
