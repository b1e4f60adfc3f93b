//! `customProperties` entries (`MetadataValue`s) as typed values, and the whole-map edit a change makes.

use serde_json::{Map, Value, json};

use crate::{PropertyValue, VersionChange};

/// A `MetadataValue` as a typed value; struct and proto values (and anything malformed) stay JSON.
pub(super) fn typed_value(value: &Value) -> PropertyValue {
    let field = |name: &str| value.get(name);
    let typed = match value.get("metadataType").and_then(Value::as_str) {
        Some("MetadataStringValue") => field("string_value")
            .and_then(Value::as_str)
            .map(|s| PropertyValue::String(s.to_owned())),
        // int32 travels as a string in this API.
        Some("MetadataIntValue") => field("int_value").and_then(|v| match v {
            Value::String(s) => s.parse().ok().map(PropertyValue::Int),
            other => other.as_i64().map(PropertyValue::Int),
        }),
        Some("MetadataDoubleValue") => field("double_value")
            .and_then(Value::as_f64)
            .map(PropertyValue::Double),
        Some("MetadataBoolValue") => field("bool_value")
            .and_then(Value::as_bool)
            .map(PropertyValue::Bool),
        _ => None,
    };
    typed.unwrap_or_else(|| PropertyValue::Other(value.clone()))
}

fn string_value(value: &Value) -> Option<&str> {
    (value.get("metadataType")?.as_str()? == "MetadataStringValue")
        .then(|| value.get("string_value")?.as_str())
        .flatten()
}

fn metadata_string(text: &str) -> Value {
    json!({"metadataType": "MetadataStringValue", "string_value": text})
}

/// The full map after `change`. Every entry it does not name stays exactly as it was; a label or string
/// property it removes goes only when it is a string; writing over a value of another type is refused
/// (its key comes back as the error).
pub(super) fn apply_change(
    properties: &Map<String, Value>,
    change: &VersionChange,
) -> Result<Map<String, Value>, String> {
    let mut map = properties.clone();
    for label in &change.remove_labels {
        if map.get(label).and_then(string_value) == Some("") {
            map.remove(label);
        }
    }
    for key in &change.remove_properties {
        if map.get(key).and_then(string_value).is_some() {
            map.remove(key);
        }
    }
    let written = change
        .add_labels
        .iter()
        .map(|label| (label, ""))
        .chain(change.set_properties.iter().map(|(k, v)| (k, v.as_str())));
    for (key, text) in written {
        if map.get(key).is_some_and(|v| string_value(v).is_none()) {
            return Err(key.clone());
        }
        map.insert(key.clone(), metadata_string(text));
    }
    Ok(map)
}

/// The map as a write must carry it. The registry takes a struct value only as base64 (the OpenAPI
/// description's form) but v0.3.0 answers with the JSON text it decoded: a struct value read as JSON
/// text is encoded again, or the whole-map write would be refused (400, "illegal base64 data").
pub(super) fn for_write(properties: &Map<String, Value>) -> Map<String, Value> {
    use base64::Engine as _;
    properties
        .iter()
        .map(|(key, value)| {
            let text = (value.get("metadataType").and_then(Value::as_str)
                == Some("MetadataStructValue"))
            .then(|| value.get("struct_value").and_then(Value::as_str))
            .flatten()
            // `{` is not base64: JSON text of a struct, as read.
            .filter(|text| text.trim_start().starts_with('{'));
            let value = match text {
                Some(text) => {
                    let mut encoded = value.clone();
                    encoded["struct_value"] =
                        Value::String(base64::engine::general_purpose::STANDARD.encode(text));
                    encoded
                }
                None => value.clone(),
            };
            (key.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_values_read_as_text_are_written_as_base64() {
        let properties: Map<String, Value> = serde_json::from_value(json!({
            "as_read": {"metadataType": "MetadataStructValue", "struct_value": "{\"layers\":3}"},
            "encoded": {"metadataType": "MetadataStructValue", "struct_value": "eyJsYXllcnMiOjN9"},
            "note": {"metadataType": "MetadataStringValue", "string_value": "{not a struct}"},
        }))
        .unwrap();
        let written = for_write(&properties);
        assert_eq!(written["as_read"]["struct_value"], "eyJsYXllcnMiOjN9");
        assert_eq!(written["encoded"], properties["encoded"]);
        assert_eq!(written["note"], properties["note"]);
    }

    #[test]
    fn changes_keep_every_other_entry() {
        let properties: Map<String, Value> = serde_json::from_value(json!({
            "accuracy": {"metadataType": "MetadataDoubleValue", "double_value": 0.47},
            "test": {"metadataType": "MetadataStringValue", "string_value": ""},
            "prod": {"metadataType": "MetadataStringValue", "string_value": ""},
        }))
        .unwrap();
        let mut change = VersionChange::default();
        change.remove_labels.insert("prod".into());
        change
            .set_properties
            .insert("deployed.test.at".into(), "x".into());
        let after = apply_change(&properties, &change).unwrap();
        assert_eq!(after.len(), 3);
        assert_eq!(after["accuracy"], properties["accuracy"]);
        assert_eq!(after["test"], properties["test"]);
        assert_eq!(after["deployed.test.at"]["string_value"], "x");
        assert!(!after.contains_key("prod"));

        // Only strings are removed or written; a value of another type is refused, not replaced.
        let mut change = VersionChange::default();
        change.remove_properties.insert("accuracy".into());
        assert_eq!(apply_change(&properties, &change).unwrap(), properties);
        change.add_labels.insert("accuracy".into());
        assert_eq!(apply_change(&properties, &change), Err("accuracy".into()));
    }
}
