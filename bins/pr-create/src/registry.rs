//! The body's Model Registry section: the candidate version beside the version now labelled with the
//! environment, and their properties, read through the model-registry library. Reading the registry
//! is for the reviewer's information: when it fails, the section says so and the promotion goes on.

use std::collections::BTreeSet;

use common::{HttpOptions, Secret};
use model_registry::kubeflow::{KubeflowOptions, KubeflowRegistry};
use model_registry::mlflow::{MlflowOptions, MlflowRegistry};
use model_registry::{ModelRegistry, ModelVersion, RegistryError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RegistryKind {
    Kubeflow,
    Mlflow,
}

pub struct RegistrySource {
    pub kind: RegistryKind,
    /// Where reviewers look (the dashboard), linked in the section.
    pub web_url: url::Url,
    /// The registry's REST endpoint the table is read from.
    pub url: url::Url,
    pub token: Option<Secret>,
    pub http: HttpOptions,
}

/// Rows shown at most, so a version with many properties does not drown the diff.
const MAX_ROWS: usize = 40;

/// The markdown section for `{registry}`.
pub async fn section(source: &RegistrySource, model: &str, version: &str, env: &str) -> String {
    let http = match source.http.client() {
        Ok(http) => http,
        Err(e) => return unavailable(source, &e.to_string()),
    };
    let outcome = match source.kind {
        RegistryKind::Kubeflow => {
            let mut options = KubeflowOptions::new(source.url.clone());
            options.token = source.token.clone();
            options.token_origin = "--registry-token-file or REGISTRY_TOKEN".into();
            table(&KubeflowRegistry::new(options, http), model, version, env).await
        }
        RegistryKind::Mlflow => {
            let mut options = MlflowOptions::new(source.url.clone());
            options.token = source.token.clone();
            table(&MlflowRegistry::new(options, http), model, version, env).await
        }
    };
    match outcome {
        Ok(table) => format!(
            "\n### Model Registry\n\nFrom the [Model Registry]({}).\n\n{table}",
            source.web_url
        ),
        Err(e) => {
            tracing::warn!("reading the Model Registry for the pull request body: {e}");
            unavailable(source, &e.to_string())
        }
    }
}

fn unavailable(source: &RegistrySource, why: &str) -> String {
    format!(
        "\n### Model Registry\n\nThe candidate's properties are in the [Model Registry]({}); they could not be \
         read when this was written: {}\n",
        source.web_url,
        cell(why)
    )
}

async fn table<R: ModelRegistry>(
    registry: &R,
    model: &str,
    version: &str,
    env: &str,
) -> Result<String, RegistryError> {
    let heading = format!(
        "\n### Model Registry\n\nFrom the {}.\n",
        registry.describe()
    );
    let Some(registered) = registry.find_model(model).await? else {
        return Ok(format!("{heading}\n`{model}` is not registered there.\n"));
    };
    let versions = registry.list_versions(&registered).await?;
    let candidate = versions.iter().find(|v| v.name == version);
    let current = versions.iter().find(|v| v.labels.contains(env));
    Ok(format!(
        "{heading}\n{}",
        render(version, candidate, env, current)
    ))
}

fn render(
    version: &str,
    candidate: Option<&ModelVersion>,
    env: &str,
    current: Option<&ModelVersion>,
) -> String {
    let current_title = match current {
        Some(v) => format!("now in `{env}`: `{}`", cell(&v.name)),
        None => format!("now in `{env}`: none"),
    };
    let mut out = format!(
        "| | candidate `{}` | {current_title} |\n|---|---|---|\n",
        cell(version)
    );
    if candidate.is_none() {
        out.push_str(&format!("| | `{}` is not registered | |\n", cell(version)));
    }
    let keys: BTreeSet<&String> = candidate
        .into_iter()
        .chain(current)
        .flat_map(|v| v.properties.keys())
        .collect();
    let value = |v: Option<&ModelVersion>, key: &str| {
        v.and_then(|v| v.properties.get(key))
            .map(|s| cell(s))
            .unwrap_or_else(|| "—".into())
    };
    for key in keys.iter().take(MAX_ROWS) {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            cell(key),
            value(candidate, key),
            value(current, key)
        ));
    }
    if keys.len() > MAX_ROWS {
        out.push_str(&format!(
            "\n{} more properties are in the registry.\n",
            keys.len() - MAX_ROWS
        ));
    }
    out
}

/// A value fit for one table cell: one line, no column breaks.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(name: &str, labels: &[&str], properties: &[(&str, &str)]) -> ModelVersion {
        ModelVersion {
            id: name.into(),
            name: name.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            properties: properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn candidate_beside_current() {
        let candidate = version("v2", &[], &[("accuracy", "0.93"), ("author", "a|b")]);
        let current = version("v1", &["prod"], &[("accuracy", "0.90")]);
        let table = render("v2", Some(&candidate), "prod", Some(&current));
        assert!(
            table.contains("| | candidate `v2` | now in `prod`: `v1` |"),
            "{table}"
        );
        assert!(table.contains("| accuracy | 0.93 | 0.90 |"), "{table}");
        assert!(table.contains("| author | a\\|b | — |"), "{table}");
        let table = render("v3", None, "prod", None);
        assert!(
            table.contains("`v3` is not registered") && table.contains("none"),
            "{table}"
        );
    }
}
