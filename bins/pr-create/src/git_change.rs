//! The git side of a promotion, through the gitops library: set the values in the environment's
//! config file on the promotion branch (reset onto the base branch, force-pushed).

use forge::{ChangeWriter, ConfigChange, ForgeError};
use gitops::{BumpRequest, Remote};

pub struct GitopsChange {
    pub remote: Remote,
    /// Everything but the branch, which comes from the promotion.
    pub request: BumpRequest,
    /// The key whose old value is the old version (`version`).
    pub version_key: String,
}

impl ChangeWriter for GitopsChange {
    async fn write(&self, branch: &str) -> Result<ConfigChange, ForgeError> {
        let remote = self.remote.clone();
        let mut request = self.request.clone();
        request.push_branch = Some(branch.to_owned());
        let git_error = |message: String, usage: bool| ForgeError::Git {
            branch: branch.to_owned(),
            message,
            usage,
        };
        let outcome = tokio::task::spawn_blocking(move || gitops::bump(&remote, &request))
            .await
            .map_err(|e| git_error(format!("the git task stopped: {e}"), false))?
            .map_err(|e| {
                let usage = e.is_usage();
                git_error(common::fault_with(e, crate::git_flags).to_string(), usage)
            })?;
        let old_version = outcome
            .old_values
            .iter()
            .find(|(key, _)| *key == self.version_key)
            .and_then(|(_, old)| old.clone());
        Ok(ConfigChange {
            changed: outcome.changed,
            file: outcome.file,
            old_version,
            diff: outcome.diff,
            commit: Some(outcome.commit),
        })
    }
}
