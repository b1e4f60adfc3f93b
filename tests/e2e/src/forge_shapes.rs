//! Comparing forge APIs (a real server and a fake of it) by what their answers look like rather than
//! what they hold: [`Shape`] is every key path of a JSON value with the JSON types seen there, so two
//! answers about different data (other ids, timestamps, URLs) still compare. [`ApiClient`] sends one
//! request and keeps the status, the headers and the body; [`Scenario`] runs a script of requests
//! against one server and keeps every [`Answer`] in a [`Record`], whose [`Record::digest`] holds the
//! values that do not depend on the server (ids, URLs, users); [`links`] reads a `Link` header.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

/// A JSON value's key paths and the JSON types found at each: `""` is the value itself, `a.b` a
/// field of a field, `a[]` the items of the array `a`, `a[].b` a field of those items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape(BTreeMap<String, BTreeSet<&'static str>>);

/// The JSON type of `value`: `null`, `bool`, `number`, `string`, `array` or `object`.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Shape {
    pub fn of(value: &Value) -> Shape {
        let mut shape = Shape::default();
        shape.add("", value);
        shape
    }

    fn add(&mut self, path: &str, value: &Value) {
        self.0
            .entry(path.to_owned())
            .or_default()
            .insert(json_type(value));
        match value {
            Value::Array(items) => {
                let inner = format!("{path}[]");
                for item in items {
                    self.add(&inner, item);
                }
            }
            Value::Object(fields) => {
                for (key, field) in fields {
                    let inner = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    self.add(&inner, field);
                }
            }
            _ => {}
        }
    }

    /// The types seen at `path`, empty when the path never occurs.
    pub fn types(&self, path: &str) -> BTreeSet<&'static str> {
        self.0.get(path).cloned().unwrap_or_default()
    }

    /// Every path with its types, e.g. `labels[].id: number`.
    pub fn paths(&self) -> impl Iterator<Item = (&str, &BTreeSet<&'static str>)> {
        self.0.iter().map(|(path, types)| (path.as_str(), types))
    }

    /// What `self` has that `other` lacks: paths missing from `other`, or types `other` never shows
    /// there. Empty when `self` ⊆ `other`.
    pub fn beyond(&self, other: &Shape) -> Vec<String> {
        self.paths()
            .filter_map(|(path, types)| {
                let theirs = other.types(path);
                let extra: Vec<&str> = types.difference(&theirs).copied().collect();
                (!extra.is_empty()).then(|| format!("{path}: {}", extra.join("|")))
            })
            .collect()
    }

    /// Where `self` (under `prefix`, e.g. `[].` for a list's items) and `other` (under
    /// `other_prefix`) differ on `paths`: each path with `self`'s types and `other`'s. Unless
    /// `sparse` (the data may leave a list empty), a path neither has is listed too.
    pub fn differences(
        &self,
        prefix: &str,
        other: &Shape,
        other_prefix: &str,
        paths: &[&str],
        sparse: bool,
    ) -> Vec<(String, BTreeSet<&'static str>, BTreeSet<&'static str>)> {
        paths
            .iter()
            .map(|path| {
                let ours = self.types(&format!("{prefix}{path}"));
                let theirs = other.types(&format!("{other_prefix}{path}"));
                ((*path).to_owned(), ours, theirs)
            })
            .filter(|(_, ours, theirs)| ours != theirs || (ours.is_empty() && !sparse))
            .collect()
    }

    /// The union of several shapes (of answers about the same kind of object).
    pub fn union<'a>(shapes: impl IntoIterator<Item = &'a Shape>) -> Shape {
        let mut all = Shape::default();
        for shape in shapes {
            for (path, types) in shape.paths() {
                all.0.entry(path.to_owned()).or_default().extend(types);
            }
        }
        all
    }
}

/// The values at `path` (the syntax of [`Shape`]; `[]` steps into every item), in order.
pub fn values_at<'a>(value: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current = vec![value];
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, items) = match part.strip_suffix("[]") {
            Some(key) => (key, true),
            None => (part, false),
        };
        let mut next = Vec::new();
        for v in current {
            let field = if key.is_empty() { Some(v) } else { v.get(key) };
            match (field, items) {
                (Some(Value::Array(list)), true) => next.extend(list),
                (Some(field), false) => next.push(field),
                _ => {}
            }
        }
        current = next;
    }
    current
}

/// The relations of a `Link` header (`<url>; rel="next", ...`) and their URLs.
pub fn links(header: &str) -> BTreeMap<String, String> {
    header
        .split(',')
        .filter_map(|part| {
            let (url, params) = part.trim().split_once(';')?;
            let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
            let rel = params
                .split(';')
                .filter_map(|p| p.trim().strip_prefix("rel="))
                .next()?
                .trim_matches('"');
            Some((rel.to_owned(), url.to_owned()))
        })
        .collect()
}

/// The value of the query parameter `name` of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// An answer: status, headers (names in lower case), and the body as JSON (a body that is not
/// JSON is a JSON string, an empty one `null`).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn shape(&self) -> Shape {
        Shape::of(&self.body)
    }

    /// The relations of the `Link` header and the `page` each points at.
    pub fn link_pages(&self) -> BTreeMap<String, Option<String>> {
        let rels = links(self.header("link").unwrap_or_default());
        rels.into_iter()
            .map(|(rel, url)| (rel, query_param(&url, "page")))
            .collect()
    }
}

/// A REST API on loopback over plain HTTP/1.0 (one connection a request, never chunked): `addr`
/// is `host:port`, `prefix` the API's root path (`/api/v1`), `auth` the header that carries the
/// token and how its value is written (`{}` stands for the token).
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub addr: String,
    pub prefix: String,
    pub auth_header: &'static str,
    pub auth_format: &'static str,
}

impl ApiClient {
    /// Sends `method prefix+path` with `token` (or none) and `body` as JSON.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let target = format!("{}{path}", self.prefix);
        let mut head = format!(
            "{method} {target} HTTP/1.0\r\nHost: {}\r\nAccept: application/json\r\n",
            self.addr
        );
        if let Some(token) = token {
            let value = self.auth_format.replace("{}", token);
            head.push_str(&format!("{}: {value}\r\n", self.auth_header));
        }
        let body = body.map(|b| serde_json::to_vec(b).expect("encode a JSON body"));
        if let Some(body) = &body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let mut message = head.into_bytes();
        message.extend(body.unwrap_or_default());
        let fail =
            |e: std::io::Error| -> ! { panic!("{method} http://{}{target}: {e}", self.addr) };
        let mut stream = TcpStream::connect(&self.addr).unwrap_or_else(|e| fail(e));
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap_or_else(|e| fail(e));
        stream.write_all(&message).unwrap_or_else(|e| fail(e));
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .unwrap_or_else(|e| fail(e));
        parse(&response).unwrap_or_else(|| {
            panic!(
                "{method} http://{}{target}: not an HTTP answer: {}",
                self.addr,
                String::from_utf8_lossy(&response)
            )
        })
    }
}

fn parse(response: &[u8]) -> Option<Answer> {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&response[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let bytes = &response[split + 4..];
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
    };
    Some(Answer {
        status,
        headers,
        body,
    })
}

/// A scenario's answers by step name, the server's root URL and who opens pull requests there.
#[derive(Debug, Clone)]
pub struct Record {
    pub base: String,
    pub author: String,
    pub steps: Vec<(String, Answer)>,
}

impl Record {
    pub fn get(&self, step: &str) -> &Answer {
        self.steps
            .iter()
            .find(|(name, _)| name == step)
            .map(|(_, answer)| answer)
            .unwrap_or_else(|| panic!("no step {step}"))
    }

    /// The numbers (GitLab: `iid`s) of the pull requests a list step answered, in order.
    pub fn numbers(&self, step: &str) -> Vec<u64> {
        let body = &self.get(step).body;
        let mut found = values_at(body, "[].number");
        if found.is_empty() {
            found = values_at(body, "[].iid");
        }
        found.iter().filter_map(|v| v.as_u64()).collect()
    }

    /// A string as compared with another server's: the root URL as `{base}`, the author as
    /// `{author}`, a comment's id in a URL as `N`, and a message cut before its bracketed ids
    /// (`... [id: 3, ...]`) or the token's own scopes.
    pub fn normalize(&self, text: &str) -> String {
        if text == self.author {
            return "{author}".into();
        }
        let text = text.replace(&self.base, "{base}");
        let text = text.split(" [").next().unwrap_or_default();
        let text = text.split(", token scope=").next().unwrap_or_default();
        match text.split_once("#issuecomment-") {
            Some((before, _)) => format!("{before}#issuecomment-N"),
            None => text.to_owned(),
        }
    }

    /// The values of `step`'s answer at `paths` (normalized), `X-Total-Count` and `Link`.
    pub fn digest(&self, step: &str, paths: &[&str]) -> BTreeMap<String, Vec<Value>> {
        let answer = self.get(step);
        let mut out = BTreeMap::new();
        for path in paths {
            let found: Vec<Value> = values_at(&answer.body, path)
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Value::String(self.normalize(s)),
                    other => other.clone(),
                })
                .collect();
            if !found.is_empty() {
                out.insert((*path).to_owned(), found);
            }
        }
        for header in ["X-Total-Count", "Link"] {
            if let Some(value) = answer.header(header) {
                out.insert(header.into(), vec![Value::String(self.normalize(value))]);
            }
        }
        out
    }
}

/// A server to run a script on: its API, a token that may do everything, one that may only read,
/// and the record so far.
pub struct Scenario {
    pub api: ApiClient,
    pub token: String,
    pub read_token: String,
    pub record: Record,
}

impl Scenario {
    /// A scenario on the API under `prefix` of the server at `base` (`http://host:port`), with
    /// the token in the header `auth.0` written as `auth.1` (`{}` for the token); no tokens and
    /// no author yet.
    pub fn new(base: &str, prefix: &str, auth: (&'static str, &'static str)) -> Scenario {
        let base = base.trim_end_matches('/');
        Scenario {
            api: ApiClient {
                addr: base.trim_start_matches("http://").to_owned(),
                prefix: prefix.to_owned(),
                auth_header: auth.0,
                auth_format: auth.1,
            },
            token: String::new(),
            read_token: String::new(),
            record: Record {
                base: base.to_owned(),
                author: String::new(),
                steps: Vec::new(),
            },
        }
    }

    /// Runs `script`: one request a line, `NAME METHOD PATH [TOKEN] [JSON]`, where TOKEN is `read`
    /// (the read-only token), `none`, or `bad` (a token the server does not know), else the token
    /// that may do everything; `{name}` in PATH and JSON is replaced by `vars`' value of `name`, and
    /// a JSON string `#label` by the id of that label as the answers of steps named `labels...` list
    /// it. Blank lines and lines starting with `#` are skipped.
    pub fn run(mut self, script: &str, vars: &[(&str, &str)]) -> Record {
        let mut label_ids: BTreeMap<String, Value> = BTreeMap::new();
        for line in script.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut line = line.to_owned();
            for (name, value) in vars {
                line = line.replace(&format!("{{{name}}}"), value);
            }
            let (name, rest) = first_word(&line);
            let (method, rest) = first_word(rest);
            let (path, rest) = first_word(rest);
            assert!(!path.is_empty(), "not a step: {line}");
            let (token, json) = match first_word(rest) {
                ("read", json) => (Some(self.read_token.as_str()), json),
                ("none", json) => (None, json),
                ("bad", json) => (Some("0badc0ffee"), json),
                _ => (Some(self.token.as_str()), rest),
            };
            let body = (!json.trim().is_empty()).then(|| {
                let mut body: Value = serde_json::from_str(json)
                    .unwrap_or_else(|e| panic!("the body of {name}: {e}: {json}"));
                resolve_labels(&mut body, &label_ids);
                body
            });
            let answer = self.api.call(method, path, token, body.as_ref());
            if name.starts_with("labels") {
                for label in answer.body.as_array().into_iter().flatten() {
                    if let Some(label_name) = label["name"].as_str() {
                        label_ids.insert(label_name.to_owned(), label["id"].clone());
                    }
                }
            }
            self.record.steps.push((name.to_owned(), answer));
        }
        self.record
    }
}

/// The first word of `text` and the rest, both without surrounding spaces.
fn first_word(text: &str) -> (&str, &str) {
    let text = text.trim();
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    (word, rest.trim())
}

fn resolve_labels(value: &mut Value, ids: &BTreeMap<String, Value>) {
    match value {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix('#').and_then(|name| ids.get(name)) {
                *value = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| resolve_labels(v, ids)),
        Value::Object(fields) => fields.values_mut().for_each(|v| resolve_labels(v, ids)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Shape, links, query_param, values_at};

    #[test]
    fn shapes_name_every_path_and_type() {
        let a = Shape::of(&json!({"n": 1, "head": {"ref": "x"}, "labels": [{"id": 1}], "b": null}));
        let listed: Vec<String> = a
            .paths()
            .map(|(p, t)| format!("{p}:{}", t.iter().copied().collect::<Vec<_>>().join("|")))
            .collect();
        assert_eq!(
            listed,
            [
                ":object",
                "b:null",
                "head:object",
                "head.ref:string",
                "labels:array",
                "labels[]:object",
                "labels[].id:number",
                "n:number"
            ]
        );
        let b = Shape::of(&json!({"n": "1", "head": {"ref": "y"}}));
        assert_eq!(b.beyond(&a), ["n: string"]);
        assert!(Shape::of(&json!({"head": {}})).beyond(&a).is_empty());
    }

    #[test]
    fn values_and_links() {
        let v = json!([{"labels": [{"name": "a"}, {"name": "b"}]}, {"labels": null}]);
        assert_eq!(
            values_at(&v, "[].labels[].name"),
            [&json!("a"), &json!("b")]
        );
        let header =
            r#"<http://h/p?limit=1&page=2>; rel="next",<http://h/p?page=3&limit=1>; rel="last""#;
        let rels = links(header);
        assert_eq!(rels.keys().collect::<Vec<_>>(), ["last", "next"]);
        assert_eq!(query_param(&rels["next"], "page").as_deref(), Some("2"));
    }
}
