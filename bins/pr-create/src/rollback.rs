//! `--rollback` / `--rollback-to`: a pull request that puts an environment back on a version it
//! ran before, chosen from the config file's history on the base branch. Resolved into an ordinary
//! promotion of that version (its digest, a rollback branch, title, body and commit message), so
//! that creating, updating and re-running the pull request behave as for any promotion.

use anyhow::anyhow;
use common::{Secret, fault_with};
use forge::promote::{
    DEFAULT_BODY_TEMPLATE, DEFAULT_BRANCH_TEMPLATE, DEFAULT_ROLLBACK_BRANCH_TEMPLATE,
    DEFAULT_TITLE_TEMPLATE,
};
use gitops::{Remote, RollbackPlan, config_path, rollback_message};

use crate::{Cli, git_auth, git_flags, usage};

const ROLLBACK_TITLE_TEMPLATE: &str = "Roll back {model} in {env} to {new_version}";

/// The promotion the rollback amounts to, or `None` when there is nothing to do (the results are
/// written then).
pub(crate) async fn resolve(
    cli: &Cli,
    repo_url: &str,
    token: Secret,
) -> anyhow::Result<Option<Cli>> {
    if !cli.model_version.is_empty() {
        return Err(usage(
            "a rollback finds its version in the config's history: give --rollback or \
             --rollback-to without --model-version",
        ));
    }
    let reason = cli
        .rollback
        .reason()
        .ok_or_else(|| usage("say why with --reason (it goes into the pull request)"))?;
    let (model, env) = (&cli.model, &cli.environment);
    let file = cli
        .file
        .clone()
        .unwrap_or_else(|| config_path(&cli.path_pattern, model, env));
    let what = format!("rolling back {model} in {env} ({file} on {})", cli.branch);
    let remote = Remote::new(
        repo_url.to_owned(),
        git_auth(cli, repo_url, token)?,
        cli.common.http_options(),
    );
    // git runs on blocking clients of its own: off the async runtime's threads.
    let (branch, path) = (cli.branch.clone(), file.clone());
    let to = cli.rollback.rollback_to.clone();
    let (history, plan) = tokio::task::spawn_blocking(move || {
        gitops::rollback_plan(&remote, &branch, &path, to.as_deref())
    })
    .await
    .map_err(|e| anyhow!("reading the config's history: {e}"))?
    .map_err(|e| fault_with(e, git_flags).context(what))?;
    if let Some(done) = plan.nothing_to_do(model, env) {
        tracing::info!("{done} (--rollback-to)");
    }
    let (version, digest, from) = match plan {
        RollbackPlan::Done { .. } => {
            let digest = history.current().and_then(|r| r.image_digest.clone());
            cli.common.results().write_all([
                ("NUMBER", ""),
                ("URL", ""),
                ("STATUS", "up-to-date"),
                ("BRANCH", ""),
                ("IMAGE_DIGEST", digest.as_deref().unwrap_or_default()),
                ("RULES", ""),
            ])?;
            return Ok(None);
        }
        RollbackPlan::To {
            version,
            digest,
            from,
            deployed_by,
        } => {
            tracing::info!(
                "proposing to roll {model} in {env} back from {from} to {version} (deployed before by {deployed_by})"
            );
            (version, digest, from)
        }
    };
    if !cli.rules.iter().all(|r| r.trim().is_empty()) {
        tracing::info!("the promotion rules are not applied to a rollback");
    }
    let mut resolved = cli.clone();
    resolved.model_version = version.clone();
    resolved.digest = digest;
    // The image and source commit named on the command line belong to the current version.
    resolved.image = None;
    resolved.source_commit = None;
    resolved.source_commit_url = None;
    resolved.rules.clear();
    if resolved.branch_template == DEFAULT_BRANCH_TEMPLATE {
        resolved.branch_template = DEFAULT_ROLLBACK_BRANCH_TEMPLATE.into();
    }
    if resolved.title_template == DEFAULT_TITLE_TEMPLATE {
        resolved.title_template = ROLLBACK_TITLE_TEMPLATE.into();
    }
    if resolved.body_template.is_none() && resolved.body_template_file.is_none() {
        resolved.body_template = Some(rollback_body(reason, &from));
    }
    resolved.commit_message = Some(rollback_message(model, env, &version, &from, reason));
    Ok(Some(resolved))
}

/// The default body, opened by the reason, with the trailer that marks a merged rollback.
fn rollback_body(reason: &str, from: &str) -> String {
    let escape = |text: &str| text.replace('{', "{{").replace('}', "}}");
    let details = DEFAULT_BODY_TEMPLATE
        .split_once('\n')
        .map_or(DEFAULT_BODY_TEMPLATE, |(_, rest)| rest);
    format!(
        "Rolls **{{model}}** in **{{env}}** back from `{{old_version}}` to `{{new_version}}`, a \
         version it ran before.\n\n**Why:** {}\n{details}\n{}: {}\n",
        escape(reason),
        gitops::ROLLBACK_TRAILER,
        escape(from)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_opens_with_the_reason_and_ends_with_the_trailer() {
        let body = rollback_body("p95 {latency} doubled", "v2");
        assert!(body.starts_with("Rolls **{model}** in **{env}** back from"));
        assert!(body.contains("**Why:** p95 {{latency}} doubled"));
        assert!(body.contains("{diff}"));
        assert!(body.trim_end().ends_with("Rollback-From: v2"));
    }
}
