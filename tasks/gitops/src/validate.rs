//! Checks on what callers ask for, before any network traffic.

use crate::bump::BumpRequest;
use crate::{GitopsError, Input};

pub(crate) fn validate(req: &BumpRequest) -> Result<(), GitopsError> {
    validate_path(&req.file)?;
    if req.sets.is_empty() {
        return Err(GitopsError::invalid(
            Input::Values,
            "nothing to set: give at least one KEY=VALUE",
        ));
    }
    for (path, _) in &req.sets {
        if path.is_empty() || path.iter().any(String::is_empty) {
            return Err(GitopsError::invalid(
                Input::Values,
                format!(
                    "key path {:?} has an empty part; write keys like version or image.tag",
                    path.join(".")
                ),
            ));
        }
    }
    validate_branch(&req.base_branch, "branch", Input::Branch)?;
    if let Some(push_branch) = &req.push_branch {
        validate_branch(push_branch, "push branch", Input::PushBranch)?;
        if push_branch == &req.base_branch {
            return Err(GitopsError::invalid(
                Input::PushBranch,
                format!(
                    "the push branch {push_branch} is the base branch; the push branch is \
                     force-pushed, so it must be a branch this tool owns (e.g. promote/prod/<model>)"
                ),
            ));
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
        return Err(GitopsError::invalid(
            Input::File,
            format!(
                "file path {file:?} must be relative to the repository root, without `.`, `..`, `.git` or \
             empty parts (e.g. model-deployments/test/jukebox/config.yaml)"
            ),
        ));
    }
    Ok(())
}

/// Checks a branch name; `what` names the branch in the message (`push branch`).
pub(crate) fn validate_branch(branch: &str, what: &str, input: Input) -> Result<(), GitopsError> {
    if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}"))
        || branch.starts_with("refs/")
    {
        return Err(GitopsError::invalid(
            input,
            format!("{what} {branch:?} is not a valid branch name; give a short name such as main"),
        ));
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
        assert!(validate_branch("main", "branch", Input::Branch).is_ok());
        assert!(validate_branch("promote/prod/jukebox", "branch", Input::Branch).is_ok());
        for bad in ["", "a..b", "refs/heads/main", "a b", "-x/"] {
            let error = validate_branch(bad, "push branch", Input::PushBranch).unwrap_err();
            assert_eq!(error.input(), Some(Input::PushBranch), "{bad}");
            assert!(error.to_string().starts_with("push branch"), "{error}");
        }
    }
}
