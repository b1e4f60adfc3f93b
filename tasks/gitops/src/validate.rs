//! Checks on what callers ask for, before any network traffic.

use crate::GitopsError;
use crate::bump::BumpRequest;

pub(crate) fn validate(req: &BumpRequest) -> Result<(), GitopsError> {
    validate_path(&req.file)?;
    if req.sets.is_empty() {
        return Err(GitopsError::invalid(
            "nothing to set: give at least one --set KEY=VALUE",
        ));
    }
    for (path, _) in &req.sets {
        if path.is_empty() || path.iter().any(String::is_empty) {
            return Err(GitopsError::invalid(format!(
                "key path {:?} has an empty part; write keys like version or image.tag",
                path.join(".")
            )));
        }
    }
    validate_branch(&req.base_branch, "--branch")?;
    if let Some(push_branch) = &req.push_branch {
        validate_branch(push_branch, "--push-branch")?;
        if push_branch == &req.base_branch {
            return Err(GitopsError::invalid(format!(
                "--push-branch {push_branch} is the base branch; the push branch is force-pushed, so it \
                 must be a branch this tool owns (e.g. promote/prod/<model>)"
            )));
        }
    }
    Ok(())
}

pub(crate) fn validate_path(file: &str) -> Result<(), GitopsError> {
    let bad = file.is_empty()
        || file.starts_with('/')
        || file.ends_with('/')
        || file.contains('\\')
        || file.contains('\0')
        || file
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == ".." || part == ".git");
    if bad {
        return Err(GitopsError::invalid(format!(
            "file path {file:?} must be relative to the repository root, without `.`, `..`, `.git` or \
             empty parts (e.g. model-deployments/test/jukebox/config.yaml)"
        )));
    }
    Ok(())
}

pub(crate) fn validate_branch(branch: &str, flag: &str) -> Result<(), GitopsError> {
    if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}"))
        || branch.starts_with("refs/")
    {
        return Err(GitopsError::invalid(format!(
            "{flag} {branch:?} is not a valid branch name; give a short name such as main"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(validate_path("model-deployments/test/jukebox/config.yaml").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "a/../b",
            "./a",
            "a//b",
            ".git/config",
            "a\\b",
            "a/",
        ] {
            assert!(validate_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn branches() {
        assert!(validate_branch("main", "--branch").is_ok());
        assert!(validate_branch("promote/prod/jukebox", "--branch").is_ok());
        for bad in ["", "a..b", "refs/heads/main", "a b", "-x/"] {
            assert!(validate_branch(bad, "--branch").is_err(), "{bad}");
        }
    }
}
