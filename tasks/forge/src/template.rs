//! `{name}` templates for branch names, titles and bodies. `{{` and `}}` stand for literal braces.
//! An unknown placeholder is an error that lists the known ones, so a typo never reaches a reviewer.

use crate::error::ForgeError;

/// Which template: errors name it so that a binary can name the flag that sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// The promotion branch's name.
    Branch,
    /// The pull request's title.
    Title,
    /// The pull request's body.
    Body,
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Branch => "the branch template",
            Self::Title => "the title template",
            Self::Body => "the body template",
        })
    }
}

/// Renders `template`, replacing each `{name}` by its value in `vars`.
pub fn render(
    which: Template,
    template: &str,
    vars: &[(&str, &str)],
) -> Result<String, ForgeError> {
    let invalid = |message: String| ForgeError::Template {
        template: which,
        message,
    };
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(pos) = rest.find(['{', '}']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("{{") {
            out.push('{');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("}}") {
            out.push('}');
            rest = after;
        } else if let Some(after) = tail.strip_prefix('{') {
            let end = after.find('}').ok_or_else(|| {
                invalid("a { is never closed; write {{ for a literal brace".to_owned())
            })?;
            let name = &after[..end];
            let value = vars
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    let known: Vec<String> = vars.iter().map(|(k, _)| format!("{{{k}}}")).collect();
                    invalid(format!(
                        "unknown placeholder {{{name}}}; known ones are {}",
                        known.join(", ")
                    ))
                })?;
            out.push_str(value);
            rest = &after[end + 1..];
        } else {
            // A lone `}`: kept as written.
            out.push('}');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{Template, render};

    #[test]
    fn placeholders_escapes_and_typos() {
        let vars = [("model", "jukebox"), ("env", "prod")];
        assert_eq!(
            render(Template::Branch, "promote/{env}/{model}", &vars).unwrap(),
            "promote/prod/jukebox"
        );
        assert_eq!(
            render(Template::Body, "{{x}} {model}}", &vars).unwrap(),
            "{x} jukebox}"
        );
        let err = render(Template::Title, "{modle}", &vars)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("the title template: unknown placeholder {modle}")
                && err.contains("{model}"),
            "{err}"
        );
        let err = render(Template::Body, "{model", &vars).unwrap_err();
        assert!(err.is_usage(), "{err}");
        assert!(err.to_string().contains("never closed"), "{err}");
    }
}
