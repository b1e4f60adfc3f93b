//! The libraries say the fault and the fix in the domain's words; only a binary knows which flag
//! sets what, so only a binary names flags. This reads every string literal in the libraries'
//! sources (tasks/*/src, but not tasks/common, which defines the shared transport flags itself, nor
//! a library's `cli.rs`, where it defines the flags it shares with the tools, as gitops does) and
//! fails listing each one that names a flag (`--foo`) or one of the tools' environment variables
//! (`MODELCAR_FOO`) in a message. Comments, tests and clap's own attributes (`#[arg(...)]`, where
//! a library defines flags, as gitops's git credentials do) are not messages and are skipped.

use std::path::{Path, PathBuf};

#[test]
fn library_messages_name_no_flags() {
    let tasks = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&tasks).unwrap() {
        let crate_dir = entry.unwrap().path();
        if crate_dir.file_name().is_some_and(|n| n == "common") {
            continue;
        }
        rust_files(&crate_dir.join("src"), &mut files);
    }
    files.retain(|f| !f.ends_with("src/cli.rs"));
    assert!(files.len() > 50, "found only {} library files", files.len());
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (line, literal) in message_literals(&text) {
            let names = flag_names(&literal);
            if !names.is_empty() {
                found.push(format!(
                    "{}:{line}: {} in {literal:?}",
                    file.strip_prefix(&tasks).unwrap_or(file).display(),
                    names.join(", ")
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "library messages that name a flag or a tool's environment variable; say what to fix in the \
         domain's words and let the binary add its flag:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_sees_flags_in_messages_only() {
    let source = r##"
        //! Give `--model` (a comment).
        fn f() -> String {
            let a = "check --model (names are case-sensitive)";
            let b = r#"or set MODELCAR_FORGE_TOKEN"#;
            let env = std::env::var("MODELCAR_GIT_TOKEN");
            let c = 'x';
            let d = "a/b__c-d--e.f_g";
            let e = "it is \"quoted\" --quoted";
            format!("{a}{b}{c}{d}{e}")
        }
        #[derive(clap::Args)]
        struct Args {
            #[arg(long = "git-username", help = "--git-username")]
            username: String,
        }
        #[cfg(test)]
        mod tests {
            fn t() { assert!("--test".is_empty()); }
        }
        fn g() -> &'static str { "after the tests --after" }
    "##;
    let named: Vec<(usize, Vec<String>)> = message_literals(source)
        .into_iter()
        .map(|(line, literal)| (line, flag_names(&literal)))
        .filter(|(_, names)| !names.is_empty())
        .collect();
    assert_eq!(
        named,
        [
            (4, vec!["--model".to_owned()]),
            (5, vec!["MODELCAR_FORGE_TOKEN".to_owned()]),
            (9, vec!["--quoted".to_owned()]),
            (21, vec!["--after".to_owned()]),
        ]
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            rust_files(&path, out);
        } else if name.ends_with(".rs") && !name.ends_with("tests.rs") {
            out.push(path);
        }
    }
}

/// `--flag` names (not `a--b`), and `MODELCAR_FOO` or `FOO_TOKEN` names in a longer text.
fn flag_names(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !word(chars[i - 1]);
        let rest: String = chars[i..].iter().take(9).collect();
        let flag = chars[i] == '-'
            && chars.get(i + 1) == Some(&'-')
            && chars.get(i + 2).is_some_and(char::is_ascii_lowercase);
        let end = (i..chars.len())
            .find(|&j| !word(chars[j]))
            .unwrap_or(chars.len());
        let name: String = chars[i..end].iter().collect();
        // An environment variable's name by itself is data (what to read), not a message.
        let env =
            (rest.starts_with("MODELCAR_") || name.ends_with("_TOKEN")) && name.len() < chars.len();
        if starts_word && (flag || env) {
            names.push(name);
            i = end;
        } else {
            i += 1;
        }
    }
    names
}

/// The string literals of a Rust source with their line numbers, leaving out comments, the items
/// under `#[cfg(test)]` and clap's attributes (`#[arg]`, `#[command]`, `#[group]`).
fn message_literals(source: &str) -> Vec<(usize, String)> {
    let chars: Vec<char> = source.chars().collect();
    let mut literals = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // Brace depth, and the depth at which a skipped test item ends.
    let mut depth = 0usize;
    let mut skip_item: Option<usize> = None;
    let mut pending_test_item = false;
    // Bracket depth inside a clap attribute.
    let mut attribute: Option<usize> = None;
    let mut brackets = 0usize;
    let at = |i: usize, text: &str| chars[i..].iter().take(text.len()).copied().eq(text.chars());
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if at(i, "//") {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            let mut nesting = 0;
            while i < chars.len() {
                if at(i, "/*") {
                    nesting += 1;
                    i += 2;
                } else if at(i, "*/") {
                    nesting -= 1;
                    i += 2;
                    if nesting == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"'
            || (c == 'r' && (at(i, "r\"") || at(i, "r#")) && !ident_before(&chars, i))
            || (c == 'b'
                && (at(i, "b\"") || at(i, "br\"") || at(i, "br#"))
                && !ident_before(&chars, i))
        {
            let start_line = line;
            let (text, end) = string_literal(&chars, i);
            line += chars[i..end].iter().filter(|&&c| c == '\n').count();
            i = end;
            if attribute.is_none() && skip_item.is_none() {
                literals.push((start_line, text));
            }
        } else if c == '\'' {
            // A char literal ('x', '\n', '"'), or a lifetime ('a).
            if chars.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if at(i, "#[") || at(i, "#![") {
            let open = if at(i, "#[") { i + 2 } else { i + 3 };
            let name: String = chars[open..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .collect();
            let rest: String = chars[open..]
                .iter()
                .take(12)
                .filter(|c| !c.is_whitespace())
                .collect();
            if rest.starts_with("cfg(test)") {
                pending_test_item = true;
            }
            if attribute.is_none() && matches!(name.as_str(), "arg" | "command" | "group" | "value")
            {
                attribute = Some(brackets);
            }
            brackets += 1;
            i = open;
        } else if c == '[' {
            brackets += 1;
            i += 1;
        } else if c == ']' {
            brackets = brackets.saturating_sub(1);
            if attribute == Some(brackets) {
                attribute = None;
            }
            i += 1;
        } else if c == '{' {
            if pending_test_item && attribute.is_none() {
                pending_test_item = false;
                skip_item.get_or_insert(depth);
            }
            depth += 1;
            i += 1;
        } else if c == '}' {
            depth = depth.saturating_sub(1);
            if skip_item == Some(depth) {
                skip_item = None;
            }
            i += 1;
        } else if c == ';' {
            // `#[cfg(test)] use ...;` or `mod x;`: the item ends here.
            if skip_item.is_none() {
                pending_test_item = false;
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    literals
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '_')
}

/// The text of the string literal starting at `i` (`"…"`, `r#"…"#`, `b"…"`), and where it ends.
fn string_literal(chars: &[char], mut i: usize) -> (String, usize) {
    if chars[i] == 'b' {
        i += 1;
    }
    let mut text = String::new();
    if chars[i] == 'r' {
        i += 1;
        let hashes = chars[i..].iter().take_while(|&&c| c == '#').count();
        i += hashes + 1;
        while i < chars.len() {
            if chars[i] == '"'
                && chars[i + 1..]
                    .iter()
                    .take(hashes)
                    .filter(|&&c| c == '#')
                    .count()
                    == hashes
            {
                return (text, i + 1 + hashes);
            }
            text.push(chars[i]);
            i += 1;
        }
        return (text, i);
    }
    i += 1;
    while i < chars.len() {
        match chars[i] {
            '"' => return (text, i + 1),
            '\\' => {
                match chars.get(i + 1) {
                    // A line continuation: the newline and the next line's indentation go.
                    Some('\n') => {
                        i += 2;
                        while i < chars.len() && chars[i].is_whitespace() {
                            i += 1;
                        }
                        continue;
                    }
                    Some(&escaped) => text.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    }),
                    None => {}
                }
                i += 2;
            }
            other => {
                text.push(other);
                i += 1;
            }
        }
    }
    (text, i)
}
