//! One command-line language for every tool, checked on what users read: each tool's `--help`.
//! Every flag `--foo-bar` is also `MODELCAR_FOO_BAR` (standard variables keep their own names),
//! `-V`/`--version` prints the tool's version, and the flags every tool shares read the same.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use test_services::workspace_bin;

const TOOLS: [&str; 4] = [
    "modelcar-build",
    "gitops-bump",
    "pr-create",
    "registry-label",
];

/// Variables other tools define, honoured under their own names.
const STANDARD_VARIABLES: [&str; 4] = [
    "REGISTRY_AUTH_FILE",
    "SOURCE_DATE_EPOCH",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
];

/// Flags of every tool.
const SHARED_FLAGS: [&str; 6] = [
    "--results-dir",
    "--log-format",
    "--ca-cert",
    "--plain-http",
    "--insecure-skip-tls-verify",
    "--idle-timeout",
];

/// `--flag` -> its environment variable, from a help text.
fn flags_and_variables(help: &str) -> BTreeMap<String, Option<String>> {
    let mut flags = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in help.lines() {
        let trimmed = line.trim_start();
        // `  -V, --version` or `      --flag <VALUE>`: flags are indented less than their
        // descriptions (which may mention other flags, or list `- value: ...`).
        let indent = line.len() - trimmed.len();
        let is_flag = indent <= 6 && trimmed.starts_with('-');
        if is_flag {
            let flag = trimmed
                .split([' ', ',', '=', '['])
                .find(|word| word.starts_with("--"))
                .map(str::to_owned);
            if let Some(flag) = &flag {
                flags.insert(flag.clone(), None);
            }
            current = flag;
        } else if let (Some(flag), Some(start)) = (&current, trimmed.find("[env: ")) {
            let rest = &trimmed[start + 6..];
            let name = rest.split(['=', ']']).next().unwrap_or_default();
            flags.insert(flag.clone(), Some(name.to_owned()));
        }
    }
    flags
}

fn output(tool: &str, arg: &str) -> String {
    let output = Command::new(workspace_bin(tool))
        .arg(arg)
        .env_clear()
        .output()
        .unwrap_or_else(|e| panic!("running {tool} {arg}: {e}"));
    assert!(output.status.success(), "{tool} {arg} failed");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn every_flag_has_its_modelcar_variable() {
    for tool in TOOLS {
        let help = output(tool, "--help");
        for (flag, variable) in flags_and_variables(&help) {
            if matches!(flag.as_str(), "--help" | "--version") {
                continue;
            }
            let variable = variable.unwrap_or_else(|| panic!("{tool} {flag} has no variable"));
            let expected = format!(
                "MODELCAR_{}",
                flag.trim_start_matches("--")
                    .to_uppercase()
                    .replace('-', "_")
            );
            assert!(
                variable == expected || STANDARD_VARIABLES.contains(&variable.as_str()),
                "{tool} {flag}: variable {variable}, expected {expected}"
            );
        }
    }
}

#[test]
fn version_prints_the_tools_own_version() {
    for tool in TOOLS {
        for flag in ["--version", "-V"] {
            assert_eq!(
                output(tool, flag).trim(),
                format!("{tool} {}", env!("CARGO_PKG_VERSION")),
                "{tool} {flag}"
            );
        }
        // The model's version has its own flag wherever a tool takes one.
        let flags = flags_and_variables(&output(tool, "--help"));
        assert!(!flags.contains_key("--tool-version"), "{tool}");
    }
}

#[test]
fn shared_concepts_read_the_same_in_every_tool() {
    let helps: BTreeMap<&str, BTreeMap<String, Option<String>>> = TOOLS
        .iter()
        .map(|tool| (*tool, flags_and_variables(&output(tool, "--help"))))
        .collect();
    for (tool, flags) in &helps {
        for flag in SHARED_FLAGS {
            assert!(flags.contains_key(flag), "{tool} lacks {flag}");
        }
    }
    // Spellings a concept must not have anywhere (each with the one it has).
    let retired = [
        ("--username", "--git-username"),
        (
            "--token-file",
            "--git-token-file, --forge-token-file or --registry-token-file",
        ),
        ("--backend", "--registry-kind"),
        ("--from-gitops", "--repo-url"),
        ("--revision", "--source-commit"),
        ("--timeout", "--wait-timeout"),
        ("--api-url", "--forge-api-url"),
        ("--registry-api-url", "--registry-url"),
    ];
    for (tool, flags) in &helps {
        for (old, new) in retired {
            assert!(
                !flags.contains_key(old),
                "{tool} shows {old}; the flag is {new}"
            );
        }
    }
    // The model, its version and the environment, wherever a tool names them.
    let concept_flags: BTreeSet<&str> = ["--model", "--model-version", "--env", "--source-commit"]
        .into_iter()
        .collect();
    for (tool, flags) in &helps {
        let present: Vec<&String> = flags
            .keys()
            .filter(|f| concept_flags.contains(f.as_str()))
            .collect();
        assert!(
            !present.is_empty(),
            "{tool} names none of {concept_flags:?}"
        );
    }
}

#[test]
fn former_spellings_still_work_and_say_what_replaced_them() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(workspace_bin("modelcar-build"))
        .args(["--model-dir", "examples/model", "--base", "scratch"])
        .args(["--revision", "0123456789abcdef", "--oci-layout"])
        .arg(dir.path().join("out"))
        .current_dir(test_services::workspace_root())
        .env_clear()
        .env("MODELCAR_RESULTS_DIR", dir.path().join("results"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "--revision is a former spelling of --source-commit, accepted for now; use --source-commit"
        ),
        "{stderr}"
    );
    let index = std::fs::read_to_string(dir.path().join("out/index.json")).unwrap();
    assert!(
        index.contains("0123456789abcdef"),
        "the tag is the commit: {index}"
    );
}
