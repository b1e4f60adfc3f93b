//! `--rollback` / `--rollback-to`: the environment back on an earlier version, as a commit whose
//! message says why, chosen from the config file's own history.

use common::fault_with;
use gitops::{BumpRequest, RollbackPlan, config_path, rollback_message};

use crate::{Cli, explain, flags, usage};

pub(crate) fn run(cli: &Cli, remote: &gitops::Remote) -> anyhow::Result<()> {
    let (Some(model), Some(env)) = (&cli.model, &cli.environment) else {
        return Err(usage("a rollback needs --model and --env"));
    };
    let sets_something = cli.sets.iter().any(|s| !s.trim().is_empty());
    if cli.model_version.is_some() || cli.digest.is_some() || sets_something {
        return Err(usage(
            "a rollback puts back the version and digest from the config's history and changes \
             nothing else: give --rollback or --rollback-to without --model-version, --digest and \
             --set",
        ));
    }
    let reason = cli
        .rollback
        .reason()
        .ok_or_else(|| usage("say why with --reason (it goes into the commit message)"))?;
    let file = cli
        .file
        .clone()
        .unwrap_or_else(|| config_path(&cli.path_pattern, model, env));
    let what = format!("rolling back {model} in {env} ({file} on {})", cli.branch);
    let (history, plan) = gitops::rollback_plan(
        remote,
        &cli.branch,
        &file,
        cli.rollback.rollback_to.as_deref(),
    )
    .map_err(|e| fault_with(e, flags).context(what))?;
    if let Some(done) = plan.nothing_to_do(model, env) {
        tracing::info!("{done} (--rollback-to)");
    }
    let results = cli.common.results();
    match plan {
        RollbackPlan::Done { version, .. } => {
            let current = history.current().and_then(|r| r.image_digest.clone());
            results.write_all([
                ("COMMIT", history.tip.as_str()),
                ("CHANGED", "false"),
                ("FILE", file.as_str()),
                ("IMAGE_DIGEST", current.as_deref().unwrap_or_default()),
                ("VERSION", version.as_str()),
            ])?;
        }
        RollbackPlan::To {
            version,
            digest,
            from,
            deployed_by,
        } => {
            tracing::info!(
                "rolling {model} in {env} back from {from} to {version} (deployed before by {deployed_by})"
            );
            let mut sets = vec![(vec![gitops::VERSION_KEY.to_owned()], version.clone())];
            if let Some(digest) = &digest {
                sets.push(
                    gitops::digest_set(&cli.digest_key, digest)
                        .map_err(|e| usage(format!("the digest {version} ran with: {e}")))?,
                );
            }
            let request = BumpRequest {
                file: file.clone(),
                sets,
                create: false,
                message: Some(rollback_message(model, env, &version, &from, reason)),
                author: cli.author.identity(),
                base_branch: cli.branch.clone(),
                push_branch: cli.push_branch.clone(),
                deployment: None,
            };
            let outcome = gitops::bump(remote, &request).map_err(|e| explain(e, cli, &request))?;
            if outcome.changed {
                eprint!("{}", outcome.diff);
            }
            results.write_all([
                ("COMMIT", outcome.commit.as_str()),
                ("CHANGED", if outcome.changed { "true" } else { "false" }),
                ("FILE", outcome.file.as_str()),
                ("IMAGE_DIGEST", digest.as_deref().unwrap_or_default()),
                ("VERSION", version.as_str()),
            ])?;
        }
    }
    Ok(())
}
