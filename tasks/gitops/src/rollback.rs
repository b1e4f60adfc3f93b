//! Putting an environment back on an earlier version, chosen from its config file's own history:
//! the version before the current one, or a named one the environment ran before. A rollback is a
//! change like any other (a commit, or a pull request for a protected environment); its commit
//! carries the `Rollback-From:` trailer, which makes a repeated rollback a no-op instead of a
//! second step back.

use crate::GitopsError;
use crate::error::Input;
use crate::history::{FileHistory, FileRevision, ROLLBACK_TRAILER};

/// What a rollback is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackPlan {
    /// Set the version (and the digest it was deployed with) again.
    To {
        version: String,
        /// The image digest the version ran with; `None` when its config had none.
        digest: Option<String>,
        /// The version now deployed.
        from: String,
        /// The commit that deployed `version` before.
        deployed_by: String,
    },
    /// Nothing to do: the environment already runs the version asked for, or was already rolled
    /// back from `from` (a repeated step).
    Done {
        version: String,
        from: Option<String>,
        commit: String,
    },
}

/// Chooses the version to go back to from the file's history on its branch: `to` when given
/// (it must have been deployed there before), else the version before the current one.
pub fn plan_rollback(history: &FileHistory, to: Option<&str>) -> Result<RollbackPlan, GitopsError> {
    let what = || format!("{} on {}", history.file, history.branch);
    let current = history.current().ok_or_else(|| {
        GitopsError::invalid(
            Input::RollbackTarget,
            format!(
                "{} does not exist: there is no deployment to roll back",
                what()
            ),
        )
    })?;
    let current_version = current.version.clone().ok_or_else(|| {
        GitopsError::invalid(
            Input::RollbackTarget,
            format!("{} has no version to roll back from", what()),
        )
    })?;
    let set_by = history.version_set_by().unwrap_or(current);
    let deployed: Vec<&FileRevision> = history
        .versions()
        .into_iter()
        .skip(1)
        .filter(|r| r.content.is_some() && r.version.is_some())
        .collect();
    let ran = || {
        let mut names: Vec<&str> = deployed
            .iter()
            .filter_map(|r| r.version.as_deref())
            .collect();
        names.dedup();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    };
    let target = match to {
        Some(version) if version == current_version => {
            return Ok(RollbackPlan::Done {
                version: current_version,
                from: set_by.rolled_back_from.clone(),
                commit: set_by.commit.clone(),
            });
        }
        Some(version) => history.earlier_with_version(version).ok_or_else(|| {
            GitopsError::invalid(
                Input::RollbackTarget,
                format!(
                    "version {version} was never deployed by {}; versions deployed before: {}",
                    what(),
                    ran()
                ),
            )
        })?,
        None => {
            if let Some(from) = &set_by.rolled_back_from {
                // Already a rollback: doing it again would step back once more. Going further
                // back takes naming the version.
                return Ok(RollbackPlan::Done {
                    version: current_version,
                    from: Some(from.clone()),
                    commit: set_by.commit.clone(),
                });
            }
            deployed
                .iter()
                .find(|r| r.version.as_deref() != Some(current_version.as_str()))
                .copied()
                .ok_or_else(|| {
                    GitopsError::invalid(
                        Input::RollbackTarget,
                        format!(
                            "{} has no earlier version than {current_version} to roll back to",
                            what()
                        ),
                    )
                })?
        }
    };
    let version = target.version.clone().unwrap_or_default();
    if target.image_digest.is_none() && current.image_digest.is_some() {
        return Err(GitopsError::invalid(
            Input::RollbackTarget,
            format!(
                "version {version} was deployed by {} without an image digest, and the config now pins \
             one; name a version deployed with its digest, or change the file by hand",
                what()
            ),
        ));
    }
    Ok(RollbackPlan::To {
        version,
        digest: target.image_digest.clone(),
        from: current_version,
        deployed_by: target.commit.clone(),
    })
}

/// Reads `file`'s history on `branch` and plans the rollback (see [`plan_rollback`]).
pub fn rollback_plan(
    remote: &crate::Remote,
    branch: &str,
    file: &str,
    to: Option<&str>,
) -> Result<(FileHistory, RollbackPlan), GitopsError> {
    let history = crate::history::history(remote, branch, file)?;
    let plan = plan_rollback(&history, to)?;
    Ok((history, plan))
}

impl RollbackPlan {
    /// What a rollback with nothing to do says, in words a log line can carry.
    pub fn nothing_to_do(&self, model: &str, env: &str) -> Option<String> {
        let Self::Done {
            version,
            from,
            commit,
        } = self
        else {
            return None;
        };
        Some(match from {
            Some(from) => format!(
                "{model} in {env} was already rolled back from {from} to {version} by {commit}; \
                 nothing to do (to go back further, name the version)"
            ),
            None => format!("{model} in {env} already runs {version}; nothing to do"),
        })
    }
}

/// The commit message of a rollback: what, why, and the trailer later runs recognise.
pub fn rollback_message(model: &str, env: &str, to: &str, from: &str, reason: &str) -> String {
    format!(
        "Roll back {model} in {env} to {to} (from {from})\n\n{}\n\n{ROLLBACK_TRAILER}: {from}\n",
        reason.trim()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn revision(
        commit: &str,
        version: &str,
        digest: Option<&str>,
        from: Option<&str>,
    ) -> FileRevision {
        FileRevision {
            commit: commit.into(),
            author_name: "Dev".into(),
            author_email: "dev@example.invalid".into(),
            time: 0,
            summary: String::new(),
            content: Some(format!("version: {version}\n").into_bytes()),
            version: Some(version.into()),
            image_digest: digest.map(str::to_owned),
            rolled_back_from: from.map(str::to_owned),
        }
    }

    fn history(revisions: Vec<FileRevision>) -> FileHistory {
        FileHistory {
            branch: "main".into(),
            file: "model-deployments/test/jukebox/config.yaml".into(),
            tip: revisions[0].commit.clone(),
            revisions,
        }
    }

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn the_previous_version_and_its_digest() {
        let h = history(vec![
            revision("c3", "v2", Some(D2), None),
            revision("c2", "v1", Some(D1), None),
            revision("c1", "v0", None, None),
        ]);
        assert_eq!(
            plan_rollback(&h, None).unwrap(),
            RollbackPlan::To {
                version: "v1".into(),
                digest: Some(D1.into()),
                from: "v2".into(),
                deployed_by: "c2".into(),
            }
        );
        // v0 had no digest while the config pins one now: refused rather than half-done.
        let err = plan_rollback(&h, Some("v0")).unwrap_err();
        assert!(err.to_string().contains("without an image digest"), "{err}");
        assert!(err.is_usage());
    }

    #[test]
    fn a_repeated_rollback_is_a_no_op_and_a_named_one_must_have_run_there() {
        let h = history(vec![
            revision("c4", "v1", Some(D1), Some("v2")),
            revision("c3", "v2", Some(D2), None),
            revision("c2", "v1", Some(D1), None),
        ]);
        assert!(matches!(
            plan_rollback(&h, None).unwrap(),
            RollbackPlan::Done { version, from: Some(from), .. } if version == "v1" && from == "v2"
        ));
        assert!(matches!(
            plan_rollback(&h, Some("v1")).unwrap(),
            RollbackPlan::Done { .. }
        ));
        let err = plan_rollback(&h, Some("v9")).unwrap_err().to_string();
        assert!(
            err.contains("never deployed") && err.contains("v2"),
            "{err}"
        );
    }

    #[test]
    fn nothing_earlier_is_a_clear_refusal() {
        let h = history(vec![revision("c1", "v1", Some(D1), None)]);
        let err = plan_rollback(&h, None).unwrap_err().to_string();
        assert!(err.contains("no earlier version than v1"), "{err}");
        let message = rollback_message("jukebox", "test", "v1", "v2", " slow\n");
        assert!(message.starts_with("Roll back jukebox in test to v1 (from v2)\n\nslow\n"));
        assert_eq!(
            crate::history::rollback_trailer(&message).as_deref(),
            Some("v2")
        );
    }
}
