//! What an EventListener does with a webhook, done locally: the `cel` interceptors' filters and
//! overlays (evaluated with `cel-interpreter`), the `github` interceptor's event-type check, the
//! bindings, and the TriggerTemplate's resource templates.
//!
//! Tekton evaluates CEL with cel-go plus its own extensions; the trigger YAML keeps to the standard
//! macros and string functions both implement, so that this evaluation is the real one.

use std::collections::BTreeMap;
use std::sync::Arc;

use cel_interpreter::objects::{Key, Map};
use cel_interpreter::{Context, Program, Value as Cel};
use serde_json::Value;

use crate::manifests::{Interceptor, Manifests, Trigger, TriggerTemplate};
use crate::refs::{self, Target, Unresolved};

/// A webhook delivery: its headers (as sent) and its JSON body.
#[derive(Debug, Clone)]
pub struct Event {
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl Event {
    /// Header value by name, case-insensitively, as Go's `http.Header.Get`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Go's canonical MIME header key (`x-github-event` -> `X-Github-Event`), the key Tekton's CEL
/// `header` map uses.
pub fn canonical_header_key(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// A JSON value as a CEL value (objects become maps with string keys).
pub fn to_cel(value: &Value) -> Cel {
    match value {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Cel::Int(i),
            (None, Some(u)) => Cel::UInt(u),
            _ => Cel::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Array(items) => Cel::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => Cel::Map(Map {
            map: Arc::new(
                map.iter()
                    .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                    .collect(),
            ),
        }),
    }
}

/// A CEL value as JSON, for overlays (Tekton adds them to `extensions` as JSON).
pub fn from_cel(value: &Cel) -> Result<Value, String> {
    Ok(match value {
        Cel::Null => Value::Null,
        Cel::Bool(b) => Value::Bool(*b),
        Cel::Int(i) => Value::from(*i),
        Cel::UInt(u) => Value::from(*u),
        Cel::Float(f) => Value::from(*f),
        Cel::String(s) => Value::String(s.to_string()),
        Cel::List(items) => Value::Array(items.iter().map(from_cel).collect::<Result<_, _>>()?),
        Cel::Map(map) => Value::Object(
            map.map
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Key::String(s) => s.to_string(),
                        Key::Int(i) => i.to_string(),
                        Key::Uint(u) => u.to_string(),
                        Key::Bool(b) => b.to_string(),
                    };
                    Ok((key, from_cel(v)?))
                })
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("a CEL {:?} has no JSON form", other.type_of())),
    })
}

/// Evaluates one CEL expression with Tekton Triggers' variables: `body`, `header` (canonical keys,
/// each a list of values), `requestURL` and `extensions`.
pub fn evaluate(expression: &str, event: &Event, extensions: &Value) -> Result<Cel, String> {
    let program = Program::compile(expression)
        .map_err(|e| format!("CEL does not parse: {e}\n  {expression}"))?;
    let mut context = Context::default();
    let header: serde_json::Map<String, Value> = event
        .headers
        .iter()
        .map(|(k, v)| {
            (
                canonical_header_key(k),
                Value::Array(vec![Value::String(v.clone())]),
            )
        })
        .collect();
    context.add_variable_from_value("body", to_cel(&event.body));
    context.add_variable_from_value("header", to_cel(&Value::Object(header)));
    context.add_variable_from_value(
        "requestURL",
        Cel::String(Arc::new("http://el-listener:8080/".into())),
    );
    context.add_variable_from_value("extensions", to_cel(extensions));
    program
        .execute(&context)
        .map_err(|e| format!("CEL fails: {e:?}\n  {expression}"))
}

/// The `filter` of a `cel` interceptor, if it has one.
pub fn cel_filter(interceptor: &Interceptor) -> Option<&str> {
    interceptor.param("filter").and_then(Value::as_str)
}

/// The `overlays` of a `cel` interceptor, as (key, expression).
pub fn cel_overlays(interceptor: &Interceptor) -> Vec<(String, String)> {
    interceptor
        .param("overlays")
        .and_then(Value::as_array)
        .map(|overlays| {
            overlays
                .iter()
                .filter_map(|o| {
                    Some((
                        o.get("key")?.as_str()?.to_string(),
                        o.get("expression")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs a Trigger's interceptors on an event. `Ok(None)`: the event is filtered out;
/// `Ok(Some(extensions))`: it passes, with the overlays' values. Signatures are not checked here
/// (that is Tekton's `github` interceptor's job); its event-type list is.
pub fn intercept(trigger: &Trigger, event: &Event) -> Result<Option<Value>, String> {
    let mut extensions = Value::Object(Default::default());
    for interceptor in &trigger.spec.interceptors {
        match interceptor.reference.name.as_str() {
            "github" => {
                let allowed: Vec<&str> = interceptor
                    .param("eventTypes")
                    .and_then(Value::as_array)
                    .map(|types| types.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let event_type = event.header("X-GitHub-Event").unwrap_or("");
                if !allowed.is_empty() && !allowed.contains(&event_type) {
                    return Ok(None);
                }
            }
            "cel" => {
                if let Some(filter) = cel_filter(interceptor) {
                    match evaluate(filter, event, &extensions)? {
                        Cel::Bool(true) => {}
                        Cel::Bool(false) => return Ok(None),
                        other => {
                            return Err(format!("filter gives {other:?}, not a bool: {filter}"));
                        }
                    }
                }
                for (key, expression) in cel_overlays(interceptor) {
                    let value = from_cel(&evaluate(&expression, event, &extensions)?)?;
                    extensions[key] = value;
                }
            }
            other => return Err(format!("interceptor {other} is not evaluated locally")),
        }
    }
    Ok(Some(extensions))
}

/// Looks up a dotted path (`repository.name`) in a JSON value, as a binding's `$(body.*)` does:
/// strings as they are, anything else as JSON.
pub fn json_path(value: &Value, path: &str) -> Option<String> {
    let mut current = value;
    for key in path.split('.').filter(|k| !k.is_empty()) {
        current = current.get(key)?;
    }
    Some(match current {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// The params a Trigger's bindings give for an event that passed its interceptors.
pub fn bind(
    manifests: &Manifests,
    trigger: &Trigger,
    event: &Event,
    extensions: &Value,
) -> Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    let mut add = |name: &str, template: &str| -> Result<(), String> {
        let value = refs::substitute(template, |reference| {
            let found = match &reference.target {
                Target::Body(path) => json_path(&event.body, path),
                Target::Header(name) => event.header(name).map(str::to_string),
                Target::Extensions(path) => json_path(extensions, path),
                _ => None,
            };
            found.ok_or_else(|| Unresolved {
                expression: reference.expression.clone(),
                reason: "not in the event".into(),
            })
        })
        .map_err(|e| format!("binding {name}: {e}"))?;
        params.insert(name.to_string(), value);
        Ok(())
    };
    for binding in &trigger.spec.bindings {
        match (&binding.reference, &binding.name, &binding.value) {
            (Some(reference), _, _) => {
                let found = manifests
                    .trigger_bindings
                    .get(reference)
                    .ok_or_else(|| format!("TriggerBinding {reference} not found"))?;
                for param in &found.spec.params {
                    add(&param.name, &param.value)?;
                }
            }
            (None, Some(name), Some(value)) => add(name, value)?,
            _ => return Err("a binding with neither ref nor name/value".into()),
        }
    }
    Ok(params)
}

/// The resources a TriggerTemplate creates for these params: `$(tt.params.x)` replaced (defaults
/// for params not given), every other reference left as it is.
pub fn render(
    template: &TriggerTemplate,
    params: &BTreeMap<String, String>,
) -> Result<Vec<Value>, String> {
    let mut values = BTreeMap::new();
    for spec in &template.spec.params {
        match (params.get(&spec.name), &spec.default) {
            (Some(value), _) => values.insert(spec.name.clone(), value.clone()),
            (None, Some(default)) => values.insert(spec.name.clone(), default.clone()),
            (None, None) => {
                return Err(format!(
                    "TriggerTemplate {} needs param {}",
                    template.name(),
                    spec.name
                ));
            }
        };
    }
    template
        .spec
        .resourcetemplates
        .iter()
        .map(|resource| render_value(resource, &values))
        .collect()
}

fn render_value(value: &Value, params: &BTreeMap<String, String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => Value::String(
            refs::substitute(text, |reference| match &reference.target {
                Target::TriggerTemplateParam(name) => {
                    params.get(name).cloned().ok_or_else(|| Unresolved {
                        expression: reference.expression.clone(),
                        reason: "not a param of the TriggerTemplate".into(),
                    })
                }
                _ => Ok(text[reference.start..reference.end].to_string()),
            })
            .map_err(|e| e.to_string())?,
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| render_value(i, params))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render_value(v, params)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}
