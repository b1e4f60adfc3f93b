//! `{name}` templates for branch names, titles and bodies. `{{` and `}}` stand for literal braces.
//! An unknown placeholder is an error that lists the known ones, so a typo never reaches a reviewer.

use crate::error::ForgeError;

/// Renders `template`, replacing each `{name}` by its value in `vars`.
pub fn render(what: &str, template: &str, vars: &[(&str, &str)]) -> Result<String, ForgeError> {
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
                ForgeError::Usage(format!(
                    "{what}: a {{ is never closed; write {{{{ for a literal brace"
                ))
            })?;
            let name = &after[..end];
            let value = vars
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    let known: Vec<String> = vars.iter().map(|(k, _)| format!("{{{k}}}")).collect();
                    ForgeError::Usage(format!(
                        "{what}: unknown placeholder {{{name}}}; known ones are {}",
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
    use super::render;

    #[test]
    fn placeholders_escapes_and_typos() {
        let vars = [("model", "jukebox"), ("env", "prod")];
        assert_eq!(
            render("t", "promote/{env}/{model}", &vars).unwrap(),
            "promote/prod/jukebox"
        );
        assert_eq!(
            render("t", "{{x}} {model}}", &vars).unwrap(),
            "{x} jukebox}"
        );
        let err = render("--title-template", "{modle}", &vars)
            .unwrap_err()
            .to_string();
        assert!(err.contains("{modle}") && err.contains("{model}"), "{err}");
        assert!(render("t", "{model", &vars).is_err());
    }
}
