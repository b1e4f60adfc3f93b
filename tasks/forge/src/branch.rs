//! Promotion branch names: checked against git's rules, and matched with `{version}` as a wildcard
//! to find the pull requests of other versions.

use crate::error::ForgeError;
use crate::promote::PromotionRequest;
use crate::template::{Template, render};

/// The branch template with `{version}` as a wildcard (one or more characters, no `/`).
pub(crate) struct BranchPattern {
    pieces: Vec<String>,
}

impl BranchPattern {
    pub(crate) fn new(request: &PromotionRequest) -> Result<Self, ForgeError> {
        const WILDCARD: &str = "\u{0}";
        let rendered = render(
            Template::Branch,
            &request.branch_template,
            &[
                ("model", &request.model),
                ("env", &request.env),
                ("version", WILDCARD),
            ],
        )?;
        Ok(Self {
            pieces: rendered.split(WILDCARD).map(str::to_owned).collect(),
        })
    }

    pub(crate) fn matches(&self, head: &str) -> bool {
        let [first, middle @ .., last] = self.pieces.as_slice() else {
            return head == self.pieces[0];
        };
        let Some(mut rest) = head.strip_prefix(first.as_str()) else {
            return false;
        };
        for piece in middle.iter().chain(std::iter::once(last)) {
            let is_last = std::ptr::eq(piece, last);
            let found = if is_last {
                rest.strip_suffix(piece.as_str()).map(|wild| (wild, ""))
            } else {
                rest.find(piece.as_str())
                    .map(|at| (&rest[..at], &rest[at + piece.len()..]))
            };
            match found {
                Some((wild, after)) if !wild.is_empty() && !wild.contains('/') => rest = after,
                _ => return false,
            }
        }
        true
    }
}

/// The rules of `git check-ref-format` that a template can break.
pub(crate) fn check_branch_name(branch: &str) -> Result<(), ForgeError> {
    let bad = branch.is_empty()
        || branch.starts_with(['-', '/'])
        || branch.ends_with(['/', '.'])
        || branch.ends_with(".lock")
        || branch.contains("..")
        || branch.contains("//")
        || branch.contains("@{")
        || branch
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c));
    if bad {
        return Err(ForgeError::Template {
            template: Template::Branch,
            message: format!(
                "gives {branch:?}, which is not a valid git branch name; avoid spaces and \
                 ~^:?*[\\ in the template and its values"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promote::DEFAULT_BRANCH_TEMPLATE;

    fn request(template: &str) -> PromotionRequest {
        PromotionRequest {
            branch_template: template.into(),
            ..PromotionRequest::new("jukebox", "prod", "v2")
        }
    }

    #[test]
    fn versioned_branch_pattern() {
        let p = BranchPattern::new(&request("promote/{env}/{model}-{version}")).unwrap();
        assert!(p.matches("promote/prod/jukebox-v1"));
        assert!(p.matches("promote/prod/jukebox-a1b2c3"));
        assert!(!p.matches("promote/prod/jukebox-"));
        assert!(!p.matches("promote/prod/jukebox-v1/x"));
        assert!(!p.matches("promote/prod/jukebox2-v1"));
        let p = BranchPattern::new(&request("{version}/promote-{model}")).unwrap();
        assert!(p.matches("v1/promote-jukebox"));
        assert!(!p.matches("/promote-jukebox"));
    }

    #[test]
    fn fixed_branch_pattern() {
        let p = BranchPattern::new(&request(DEFAULT_BRANCH_TEMPLATE)).unwrap();
        assert!(p.matches("promote/prod/jukebox"));
        assert!(!p.matches("promote/prod/jukebox-v1"));
    }
}
