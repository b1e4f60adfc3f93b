//! The body's Model Registry section: the candidate version beside the version now labelled with the
//! environment, and their properties, read through the model-registry library. Reading the registry
//! is for the reviewer's information: when it fails, the section says so and the promotion goes on,
//! unless promotion rules need what it would have said.

use std::collections::{BTreeMap, BTreeSet};

use common::HttpOptions;
use model_registry::promotion::{self, Rule, RuleError, Values, Verdict};
use model_registry::{
    AnyRegistry, DEFAULT_SIGNIFICANT, ModelRegistry, ModelVersion, PropertyValue, RegisteredModel,
    RegistryConfig, RegistryError, RegistryKind, RegistryToken, compact_number,
    distinguishing_digits,
};

/// `kubeflow` or `mlflow`, listed in the help.
pub fn kind_parser() -> impl clap::builder::TypedValueParser<Value = RegistryKind> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(RegistryKind::NAMES)
        .map(|name| name.parse().expect("one of the possible values"))
}

pub struct RegistrySource {
    pub kind: RegistryKind,
    /// Where reviewers look (the dashboard), linked in the section.
    pub web_url: url::Url,
    /// The registry's REST endpoint the table is read from.
    pub url: url::Url,
    pub token: RegistryToken,
    pub http: HttpOptions,
}

/// Rows shown at most, so a version with many properties does not drown the diff.
const MAX_ROWS: usize = 40;

/// Characters shown of one value (a proto or struct value can be long).
const MAX_CELL: usize = 160;

/// What the registry says of the candidate and of the version now in the environment, read once
/// for the pull request body and for the promotion rules.
pub struct Comparison {
    model: String,
    version: String,
    env: String,
    /// `None` when the model is not registered there.
    candidate: Option<Option<Column>>,
    current: Option<Column>,
    notes: Vec<String>,
}

/// Reads the comparison; an error is the registry's.
pub async fn compare(
    source: &RegistrySource,
    model: &str,
    version: &str,
    env: &str,
) -> Result<Comparison, RegistryError> {
    let http = source.http.client()?;
    let token = RegistryToken {
        token: source.token.token.clone(),
        origin: source.token.origin.clone(),
    };
    let registry = AnyRegistry::connect(
        RegistryConfig::new(source.kind, source.url.clone(), token),
        http,
    );
    let outcome = read(&registry, model, version, env).await;
    outcome.inspect_err(|e| {
        tracing::warn!("reading the Model Registry for the pull request body: {e}");
    })
}

impl Comparison {
    /// The markdown section linking `web_url`.
    pub fn section(&self, web_url: &url::Url) -> String {
        let table = match &self.candidate {
            None => format!("`{}` is not registered there.\n", cell(&self.model)),
            Some(candidate) => {
                let mut out = render(
                    &self.version,
                    candidate.as_ref(),
                    &self.env,
                    self.current.as_ref(),
                );
                for note in &self.notes {
                    out.push_str(&format!("\n{note}\n"));
                }
                out
            }
        };
        format!("\n### Model Registry\n\nFrom the [Model Registry]({web_url}).\n\n{table}")
    }

    /// The promotion rules' verdicts. A candidate that is not registered has nothing to judge by.
    pub fn judge(&self, rules: &[Rule]) -> Result<Vec<Verdict>, RuleError> {
        let empty = BTreeMap::new();
        let (version, values) = match &self.candidate {
            Some(Some(column)) => (column.version.name.as_str(), &column.values),
            _ => (self.version.as_str(), &empty),
        };
        let candidate = Values { version, values };
        let current = self.current.as_ref().map(|c| Values {
            version: &c.version.name,
            values: &c.values,
        });
        promotion::evaluate(rules, &candidate, current.as_ref())
    }
}

/// The section when the registry could not be read.
pub fn unavailable(web_url: &url::Url, why: &str) -> String {
    format!(
        "\n### Model Registry\n\nThe candidate's properties are in the [Model Registry]({web_url}); they could not be \
         read when this was written: {}\n",
        cell(why)
    )
}

/// One side of the table: a version, its properties and its run's metrics, by name.
struct Column {
    version: ModelVersion,
    values: BTreeMap<String, PropertyValue>,
}

async fn read<R: ModelRegistry>(
    registry: &R,
    model: &str,
    version: &str,
    env: &str,
) -> Result<Comparison, RegistryError> {
    let mut comparison = Comparison {
        model: model.to_owned(),
        version: version.to_owned(),
        env: env.to_owned(),
        candidate: None,
        current: None,
        notes: Vec::new(),
    };
    let Some(registered) = registry.find_model(model).await? else {
        return Ok(comparison);
    };
    let versions = registry.list_versions(&registered).await?;
    let candidate = versions.iter().find(|v| v.name == version);
    let current = versions.iter().find(|v| v.labels.contains(env));
    // A metric named like a property of either version gets its own row, the same on both sides.
    let property_names: BTreeSet<&String> = candidate
        .into_iter()
        .chain(current)
        .flat_map(|v| v.properties.keys())
        .collect();
    let notes = &mut comparison.notes;
    comparison.candidate = Some(match candidate {
        Some(v) => Some(column_of(registry, &registered, v, &property_names, notes).await),
        None => None,
    });
    comparison.current = match current {
        Some(v) => Some(column_of(registry, &registered, v, &property_names, notes).await),
        None => None,
    };
    Ok(comparison)
}

/// The version's properties and its run's metrics; metrics that cannot be read become a note, as the
/// properties are still worth showing.
async fn column_of<R: ModelRegistry>(
    registry: &R,
    model: &RegisteredModel,
    version: &ModelVersion,
    property_names: &BTreeSet<&String>,
    notes: &mut Vec<String>,
) -> Column {
    let mut values = version.properties.clone();
    match registry.run_metrics(model, version).await {
        Ok(metrics) => {
            for (name, value) in metrics {
                let key = if property_names.contains(&name) {
                    format!("{name} (run metric)")
                } else {
                    name
                };
                values.insert(key, PropertyValue::Double(value));
            }
        }
        Err(e) => {
            tracing::warn!("reading the run metrics of {}: {e}", version.name);
            notes.push(format!(
                "The run metrics of `{}` could not be read: {}",
                cell(&version.name),
                cell(&e.to_string())
            ));
        }
    }
    Column {
        version: version.clone(),
        values,
    }
}

fn render(
    version: &str,
    candidate: Option<&Column>,
    env: &str,
    current: Option<&Column>,
) -> String {
    let current_title = match current {
        Some(c) => format!("now in `{env}`: `{}`", cell(&c.version.name)),
        None => format!("now in `{env}`: none"),
    };
    let mut out = format!(
        "| | candidate `{}` | {current_title} |\n|---|---|---|\n",
        cell(version)
    );
    if candidate.is_none() {
        out.push_str(&format!("| | `{}` is not registered | |\n", cell(version)));
    }
    let environments = |c: Option<&Column>| match c {
        Some(c) if !c.version.labels.is_empty() => c
            .version
            .labels
            .iter()
            .map(|l| format!("`{}`", cell(l)))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "—".into(),
    };
    out.push_str(&format!(
        "| *environments* | {} | {} |\n",
        environments(candidate),
        environments(current)
    ));
    let names: BTreeSet<&String> = candidate
        .into_iter()
        .chain(current)
        .flat_map(|c| c.values.keys())
        .collect();
    for name in names.iter().take(MAX_ROWS) {
        let (new, old) = pair(
            candidate.and_then(|c| c.values.get(*name)),
            current.and_then(|c| c.values.get(*name)),
            current.is_some(),
        );
        out.push_str(&format!("| {} | {new} | {old} |\n", cell(name)));
    }
    if names.len() > MAX_ROWS {
        out.push_str(&format!(
            "\n{} more properties are in the registry.\n",
            names.len() - MAX_ROWS
        ));
    }
    out
}

/// The candidate's and the current version's cells for one property. A difference from the current
/// version is bold, with the change when both are numbers; numbers get the digits that tell them apart.
fn pair(
    new: Option<&PropertyValue>,
    old: Option<&PropertyValue>,
    compared: bool,
) -> (String, String) {
    let digits = match (
        new.and_then(PropertyValue::as_f64),
        old.and_then(PropertyValue::as_f64),
    ) {
        (Some(a), Some(b)) => distinguishing_digits(a, b),
        _ => DEFAULT_SIGNIFICANT,
    };
    let show =
        |v: Option<&PropertyValue>| v.map_or_else(|| "—".into(), |v| cell(&v.display_with(digits)));
    let (new_text, old_text) = (show(new), show(old));
    if !compared || new == old {
        return (new_text, old_text);
    }
    let delta = match (new, old) {
        (Some(PropertyValue::Int(a)), Some(PropertyValue::Int(b))) => {
            a.checked_sub(*b).map(|d| format!("{d:+}"))
        }
        (Some(a), Some(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) if (a - b).is_finite() => {
                let d = compact_number(a - b, digits);
                Some(if a > b { format!("+{d}") } else { d })
            }
            _ => None,
        },
        _ => None,
    };
    let new_text = match delta {
        Some(delta) => format!("**{new_text}** ({delta})"),
        None => format!("**{new_text}**"),
    };
    (new_text, old_text)
}

/// A value fit for one table cell: one line, no column breaks, bounded length.
fn cell(text: &str) -> String {
    let mut shown: String = text.chars().take(MAX_CELL).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(name: &str, labels: &[&str], properties: &[(&str, PropertyValue)]) -> ModelVersion {
        ModelVersion {
            id: name.into(),
            name: name.into(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            properties: properties
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn column(version: &ModelVersion) -> Column {
        Column {
            version: version.clone(),
            values: version.properties.clone(),
        }
    }

    #[test]
    fn candidate_beside_current() {
        use PropertyValue::{Double, Int, Other};
        let candidate = version(
            "v2",
            &["test"],
            &[
                ("accuracy", Double(0.973_123_4)),
                ("author", "a|b".into()),
                ("epochs", Int(12)),
                ("recall", Double(0.812_34)),
                (
                    "layers",
                    Other(r#"{"struct_value":"e30="}"#.parse().unwrap()),
                ),
            ],
        );
        let current = version(
            "v1",
            &["prod", "test"],
            &[
                ("accuracy", Double(0.9412)),
                ("epochs", Int(10)),
                ("recall", Double(0.812_32)),
                (
                    "layers",
                    Other(r#"{"struct_value":"e30="}"#.parse().unwrap()),
                ),
            ],
        );
        let table = render(
            "v2",
            Some(&column(&candidate)),
            "prod",
            Some(&column(&current)),
        );
        for row in [
            "| | candidate `v2` | now in `prod`: `v1` |",
            "| *environments* | `test` | `prod`, `test` |",
            "| accuracy | **0.9731** (+0.03192) | 0.9412 |",
            "| author | **a\\|b** | — |",
            "| epochs | **12** (+2) | 10 |",
            "| recall | **0.81234** (+0.00002) | 0.81232 |",
            r#"| layers | {"struct_value":"e30="} | {"struct_value":"e30="} |"#,
        ] {
            assert!(table.contains(row), "{row:?} missing from:\n{table}");
        }
        let rows: Vec<&str> = table
            .lines()
            .skip(3)
            .map(|l| l.split(" | ").next().unwrap())
            .collect();
        assert_eq!(
            rows,
            ["| accuracy", "| author", "| epochs", "| layers", "| recall"]
        );
    }

    /// A metric of the run keeps its own row when a property has the same name.
    #[tokio::test]
    async fn run_metrics_join_the_properties() {
        struct Registry;
        impl ModelRegistry for Registry {
            fn describe(&self) -> String {
                "test registry".into()
            }
            async fn find_model(
                &self,
                name: &str,
            ) -> Result<Option<RegisteredModel>, RegistryError> {
                Ok(Some(RegisteredModel {
                    id: "1".into(),
                    name: name.into(),
                }))
            }
            async fn model_names(&self) -> Result<Vec<String>, RegistryError> {
                Ok(Vec::new())
            }
            async fn list_versions(
                &self,
                _: &RegisteredModel,
            ) -> Result<Vec<ModelVersion>, RegistryError> {
                Ok(vec![
                    version("v1", &["prod"], &[("accuracy", "0.9".into())]),
                    version("v2", &[], &[]),
                ])
            }
            async fn find_version(
                &self,
                _: &RegisteredModel,
                _: &str,
            ) -> Result<Option<ModelVersion>, RegistryError> {
                Ok(None)
            }
            async fn run_metrics(
                &self,
                _: &RegisteredModel,
                v: &ModelVersion,
            ) -> Result<BTreeMap<String, f64>, RegistryError> {
                Ok(BTreeMap::from([(
                    "accuracy".to_owned(),
                    if v.name == "v1" { 0.9 } else { 0.95 },
                )]))
            }
            async fn update_version(
                &self,
                _: &RegisteredModel,
                v: &ModelVersion,
                _: &model_registry::VersionChange,
            ) -> Result<ModelVersion, RegistryError> {
                Ok(v.clone())
            }
        }
        let web: url::Url = "https://registry.example/".parse().unwrap();
        let table = read(&Registry, "jukebox", "v2", "prod")
            .await
            .unwrap()
            .section(&web);
        for row in [
            "| accuracy | **—** | 0.9 |",
            "| accuracy (run metric) | **0.95** (+0.05) | 0.9 |",
        ] {
            assert!(table.contains(row), "{row:?} missing from:\n{table}");
        }
    }

    #[test]
    fn nothing_to_compare_is_not_marked() {
        let candidate = version("v2", &[], &[("accuracy", PropertyValue::Double(0.5))]);
        let table = render("v2", Some(&column(&candidate)), "prod", None);
        assert!(table.contains("| accuracy | 0.5 | — |"), "{table}");
        assert!(table.contains("now in `prod`: none"), "{table}");
        let table = render("v3", None, "prod", None);
        assert!(table.contains("`v3` is not registered"), "{table}");
        assert!(cell(&"x".repeat(500)).ends_with('…'));
    }
}
