//! From a GitOps push to registry changes: every `<prefix><env>/<model>/config.yaml` the push added,
//! changed or removed becomes a label to set or to remove. Works on file contents, not on git, so the
//! caller chooses how to read the push.

use serde::Deserialize;

/// One file a push touched: its content before (`None` if added) and after (`None` if removed).
#[derive(Debug, Clone)]
pub struct ChangedFile {
    pub path: String,
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
}

/// The keys of a deployment config this step reads; others (`chart_path`, …) are ignored. A plain
/// scalar such as `version: 1.10` is read as its text, so it stays `1.10`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeploymentConfig {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub image_repository: Option<String>,
    #[serde(default)]
    pub image_namespace: Option<String>,
    /// The ModelCar's digest the pipeline wrote beside the version: what the cluster pulls.
    #[serde(default)]
    pub image_digest: Option<String>,
}

/// One environment running one version of a model, as a config file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub env: String,
    pub model: String,
    pub version: String,
    /// The config file, for messages.
    pub file: String,
    /// `<image_repository>/<image_namespace>/<name>:<version>` when the config names a repository,
    /// with `@<image_digest>` when it has one.
    pub image: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Label(Deployment),
    Unlabel(Deployment),
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{file}:{line}:{column}: {message} ({side} the push); fix the file in the GitOps repository"
)]
pub struct ConfigError {
    pub file: String,
    pub side: &'static str,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl ConfigError {
    /// A deployment config that cannot be read is the repository's to fix, not the registry's.
    pub fn is_usage(&self) -> bool {
        true
    }
}

impl common::UsageFault for ConfigError {
    fn is_usage(&self) -> bool {
        ConfigError::is_usage(self)
    }
}

/// The labels to set and remove for the files a push touched, removals first. `prefix` is the folder
/// of the environments (`model-deployments/`); `only_env` keeps one environment.
pub fn plan(
    changes: &[ChangedFile],
    prefix: &str,
    only_env: Option<&str>,
) -> Result<Vec<Action>, ConfigError> {
    let mut removals = Vec::new();
    let mut labels = Vec::new();
    for change in changes {
        let Some(env) = environment_of(&change.path, prefix) else {
            continue;
        };
        if only_env.is_some_and(|only| only != env) {
            tracing::debug!(
                "{}: not environment {}",
                change.path,
                only_env.unwrap_or_default()
            );
            continue;
        }
        let new = change
            .new
            .as_deref()
            .map(|bytes| parse(&change.path, env, bytes, "after"))
            .transpose()?;
        let old = match (&change.old, &new) {
            (Some(bytes), None) => Some(parse(&change.path, env, bytes, "before")?),
            // Only a renamed model needs the old content; a broken old file does not matter then.
            (Some(bytes), Some(_)) => parse(&change.path, env, bytes, "before").ok(),
            (None, _) => None,
        };
        match (old, new) {
            (Some(old), Some(new)) if old.model != new.model => {
                removals.push(Action::Unlabel(old));
                labels.push(Action::Label(new));
            }
            (_, Some(new)) => labels.push(Action::Label(new)),
            (Some(old), None) => removals.push(Action::Unlabel(old)),
            (None, None) => {}
        }
    }
    removals.extend(labels);
    Ok(removals)
}

/// `model-deployments/<env>/<model>/config.yaml` -> `<env>`.
fn environment_of<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let prefix = prefix.trim_matches('/');
    let rest = if prefix.is_empty() {
        path
    } else {
        path.strip_prefix(prefix)?.strip_prefix('/')?
    };
    match rest.split('/').collect::<Vec<_>>()[..] {
        [env, model, "config.yaml" | "config.yml"] if !env.is_empty() && !model.is_empty() => {
            Some(env)
        }
        _ => None,
    }
}

fn parse(
    path: &str,
    env: &str,
    bytes: &[u8],
    side: &'static str,
) -> Result<Deployment, ConfigError> {
    let error = |line: u64, column: u64, message: String| ConfigError {
        file: path.to_owned(),
        side,
        line,
        column,
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| error(1, 1, format!("not UTF-8: {e}")))?;
    let config: DeploymentConfig = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        error(line, column, without_position(&e.to_string()))
    })?;
    for (key, value) in [("name", &config.name), ("version", &config.version)] {
        if value.trim().is_empty() {
            return Err(error(key_line(text, key), 1, format!("`{key}` is empty")));
        }
    }
    let digest = config
        .image_digest
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    if let Some(digest) = digest {
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(error(
                key_line(text, "image_digest"),
                1,
                format!("`image_digest` {digest:?} is not sha256: and 64 lower-case hex digits"),
            ));
        }
    }
    let image = match (&config.image_repository, &config.image_namespace) {
        (Some(repository), Some(namespace)) if !repository.is_empty() && !namespace.is_empty() => {
            let mut image = format!(
                "{}/{}/{}:{}",
                repository.trim_end_matches('/'),
                namespace.trim_matches('/'),
                config.name,
                config.version
            );
            if let Some(digest) = digest {
                image.push('@');
                image.push_str(digest);
            }
            Some(image)
        }
        _ => None,
    };
    Ok(Deployment {
        env: env.to_owned(),
        model: config.name,
        version: config.version,
        file: path.to_owned(),
        image,
    })
}

/// The parser's message without its own `error: line L column C:` prefix (the position is given once).
fn without_position(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    let rest = first.strip_prefix("error: ").unwrap_or(first);
    match rest.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((_, message)) => message.to_owned(),
        None => rest.to_owned(),
    }
}

/// The line of a top-level `key:` (1 when not found).
fn key_line(text: &str, key: &str) -> u64 {
    text.lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(':'))
        })
        .map_or(1, |i| i as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PREFIX: &str = "model-deployments/";

    fn file(path: &str, old: Option<&str>, new: Option<&str>) -> ChangedFile {
        ChangedFile {
            path: path.into(),
            old: old.map(|s| s.as_bytes().to_vec()),
            new: new.map(|s| s.as_bytes().to_vec()),
        }
    }

    const JUKEBOX_A: &str = "chart_path: charts/model-deployment\nname: jukebox\nversion: a1b2c3d4e5\nimage_repository: quay.io\nimage_namespace: rhoai\n";
    const JUKEBOX_B: &str = "name: jukebox\nversion: 9f8e7d6c5b\n";

    #[test]
    fn added_changed_and_removed_configs() {
        let changes = [
            file(
                "model-deployments/prod/jukebox/config.yaml",
                Some(JUKEBOX_B),
                Some(JUKEBOX_A),
            ),
            file(
                "model-deployments/test/radio/config.yaml",
                Some("name: radio\nversion: 7\n"),
                None,
            ),
            file(
                "model-deployments/test/jukebox/values.yaml",
                None,
                Some("x: 1\n"),
            ),
            file(
                "toolings/post-deployment-pipeline/config.yaml",
                None,
                Some("USER_NAME: u\n"),
            ),
        ];
        let actions = plan(&changes, PREFIX, None).unwrap();
        assert_eq!(
            actions,
            vec![
                Action::Unlabel(Deployment {
                    env: "test".into(),
                    model: "radio".into(),
                    version: "7".into(),
                    file: "model-deployments/test/radio/config.yaml".into(),
                    image: None,
                }),
                Action::Label(Deployment {
                    env: "prod".into(),
                    model: "jukebox".into(),
                    version: "a1b2c3d4e5".into(),
                    file: "model-deployments/prod/jukebox/config.yaml".into(),
                    image: Some("quay.io/rhoai/jukebox:a1b2c3d4e5".into()),
                }),
            ]
        );
        let prod_only = plan(&changes, PREFIX, Some("prod")).unwrap();
        assert_eq!(prod_only.len(), 1);
    }

    #[test]
    fn the_digest_in_git_is_part_of_the_image_and_checked() {
        let digest = format!("sha256:{}", "c0".repeat(32));
        let config = format!("{JUKEBOX_A}image_digest: \"{digest}\"\n");
        let changes = [ChangedFile {
            path: "model-deployments/prod/jukebox/config.yaml".into(),
            old: None,
            new: Some(config.into_bytes()),
        }];
        let actions = plan(&changes, PREFIX, None).unwrap();
        let [Action::Label(deployment)] = actions.as_slice() else {
            panic!("{actions:?}");
        };
        assert_eq!(
            deployment.image.as_deref(),
            Some(format!("quay.io/rhoai/jukebox:a1b2c3d4e5@{digest}").as_str())
        );
        let bad = [ChangedFile {
            path: "model-deployments/prod/jukebox/config.yaml".into(),
            old: None,
            new: Some(format!("{JUKEBOX_A}image_digest: latest\n").into_bytes()),
        }];
        let error = plan(&bad, PREFIX, None).unwrap_err().to_string();
        assert!(
            error.contains("config.yaml:6:") && error.contains("not sha256:"),
            "{error}"
        );
    }

    #[test]
    fn malformed_config_names_file_line_and_column() {
        let broken = "name: jukebox\nversion: [a1b2\n";
        let changes = [file(
            "model-deployments/prod/jukebox/config.yaml",
            None,
            Some(broken),
        )];
        let message = plan(&changes, PREFIX, None).unwrap_err().to_string();
        assert!(
            message.starts_with("model-deployments/prod/jukebox/config.yaml:"),
            "{message}"
        );
        assert!(
            message.starts_with(
                "model-deployments/prod/jukebox/config.yaml:2:10: expected string scalar"
            ),
            "{message}"
        );

        let empty = [file(
            "model-deployments/prod/jukebox/config.yaml",
            None,
            Some("name: jukebox\nversion: ''\n"),
        )];
        let message = plan(&empty, PREFIX, None).unwrap_err().to_string();
        assert!(
            message
                .starts_with("model-deployments/prod/jukebox/config.yaml:2:1: `version` is empty"),
            "{message}"
        );

        let missing = [file(
            "model-deployments/prod/jukebox/config.yaml",
            None,
            Some("name: jukebox\n"),
        )];
        let message = plan(&missing, PREFIX, None).unwrap_err().to_string();
        assert!(message.contains("version"), "{message}");
    }

    #[test]
    fn a_renamed_model_unlabels_the_old_name() {
        let changes = [file(
            "model-deployments/prod/jukebox/config.yaml",
            Some("name: jukebox\nversion: a1\n"),
            Some("name: jukebox2\nversion: b2\n"),
        )];
        let actions = plan(&changes, "model-deployments", None).unwrap();
        assert!(
            matches!(&actions[0], Action::Unlabel(d) if d.model == "jukebox" && d.version == "a1")
        );
        assert!(
            matches!(&actions[1], Action::Label(d) if d.model == "jukebox2" && d.version == "b2")
        );
    }

    #[test]
    fn numeric_versions_are_names() {
        let changes = [file(
            "model-deployments/prod/m/config.yaml",
            None,
            Some("name: m\nversion: 20260112\n"),
        )];
        let actions = plan(&changes, PREFIX, None).unwrap();
        let Action::Label(deployment) = &actions[0] else {
            panic!()
        };
        assert_eq!(deployment.version, "20260112");
        let changes = [file(
            "model-deployments/prod/m/config.yaml",
            None,
            Some("name: m\nversion: 1.10\n"),
        )];
        let actions = plan(&changes, PREFIX, None).unwrap();
        let Action::Label(deployment) = &actions[0] else {
            panic!()
        };
        assert_eq!(deployment.version, "1.10");
    }
}
