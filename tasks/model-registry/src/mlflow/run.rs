//! The run a model version was registered from (`runs/get`): its latest metrics.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::RawVersion;

#[derive(Debug, Deserialize)]
pub(super) struct GetVersion {
    pub(super) model_version: RawVersion,
}

#[derive(Debug, Deserialize)]
pub(super) struct GetRun {
    run: Run,
}

#[derive(Debug, Deserialize)]
struct Run {
    #[serde(default)]
    data: RunData,
}

#[derive(Debug, Default, Deserialize)]
struct RunData {
    /// The latest value of each metric.
    #[serde(default)]
    metrics: Vec<Metric>,
}

#[derive(Debug, Deserialize)]
struct Metric {
    key: String,
    value: MetricValue,
}

/// Protobuf JSON writes NaN and infinities as strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum MetricValue {
    Number(f64),
    Text(String),
}

impl MetricValue {
    fn to_f64(&self) -> f64 {
        match self {
            Self::Number(x) => *x,
            Self::Text(text) => text.parse().unwrap_or(f64::NAN),
        }
    }
}

impl GetRun {
    /// Each metric's latest value, by name.
    pub(super) fn latest_metrics(self) -> BTreeMap<String, f64> {
        self.run
            .data
            .metrics
            .into_iter()
            .map(|m| (m.key, m.value.to_f64()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_as_protobuf_json_writes_them() {
        let run: GetRun = serde_json::from_str(
            r#"{"run": {"info": {}, "data": {"metrics": [
                {"key": "accuracy", "value": 0.97, "timestamp": 1, "step": 2},
                {"key": "loss", "value": "NaN", "timestamp": 1, "step": 2},
                {"key": "gain", "value": "Infinity", "timestamp": 1, "step": 2}]}}}"#,
        )
        .unwrap();
        let metrics = run.latest_metrics();
        assert_eq!(metrics["accuracy"], 0.97);
        assert!(metrics["loss"].is_nan());
        assert_eq!(metrics["gain"], f64::INFINITY);
        let empty: GetRun = serde_json::from_str(r#"{"run": {"info": {}}}"#).unwrap();
        assert!(empty.latest_metrics().is_empty());
    }
}
