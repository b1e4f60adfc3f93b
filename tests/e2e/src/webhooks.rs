//! Webhooks as a cluster receives them: a local receiver standing in for the EventListeners'
//! routes (one path per EventListener, e.g. `/model-source` and `/gitops`), Gitea's webhooks pointed
//! at it, and each delivery passed through Tekton Triggers' own interceptors, bindings and template
//! (the Tekton harness, [`crate::tekton_harness`]), exactly as it arrived.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_services::Gitea;

use crate::manifests::{Manifests, ParamValue, PipelineRunSpec};
use crate::tekton_harness::{Fired, Harness, webhook_secrets};

/// One delivery: the path it was sent to, its headers and its body exactly as sent (the signature
/// covers those bytes).
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The request path, without the leading `/` (the EventListener's name here).
    pub listener: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Delivery {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// `owner/name ref after` of a push, for logs.
    pub fn summary(&self) -> String {
        let event = self.json();
        let header = self
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("X-Gitea-Event"))
            .map(|(_, value)| value.as_str())
            .unwrap_or("?");
        format!(
            "{header} {} {} {}",
            event["repository"]["full_name"].as_str().unwrap_or("?"),
            event["ref"].as_str().unwrap_or("?"),
            short(event["after"].as_str().unwrap_or("?")),
        )
    }
}

/// The first 12 characters of a commit id.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// A local HTTP receiver on loopback that answers every request 200 and queues it.
pub struct WebhookReceiver {
    port: u16,
    received: mpsc::Receiver<Delivery>,
}

impl WebhookReceiver {
    pub fn start() -> WebhookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver");
        let port = listener.local_addr().unwrap().port();
        let (sender, received) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream);
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .trim_start_matches('/')
                    .to_string();
                let mut headers = BTreeMap::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.trim_end().split_once(": ") {
                        headers.insert(name.to_owned(), value.to_owned());
                    }
                }
                let length = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let _ = reader
                    .into_inner()
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                let delivery = Delivery {
                    listener: path,
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                if sender.send(delivery).is_err() {
                    break;
                }
            }
        });
        WebhookReceiver { port, received }
    }

    /// `http://127.0.0.1:PORT/<listener>`: where a webhook for that EventListener is sent.
    pub fn url(&self, listener: &str) -> String {
        format!("http://127.0.0.1:{}/{listener}", self.port)
    }

    /// The next delivery, waiting up to `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Delivery> {
        self.received.recv_timeout(timeout).ok()
    }

    /// The next push delivery to `main` of the repository `name` (others, e.g. a branch's, are
    /// skipped), waiting up to `timeout`.
    pub fn next_push(&self, name: &str, timeout: Duration) -> Option<Delivery> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let delivery = self.next(left)?;
            let event = delivery.json();
            if event["repository"]["name"] == name && event["ref"] == "refs/heads/main" {
                return Some(delivery);
            }
        }
    }
}

/// Adds a webhook for push events to the Gitea repository `owner/name`, sent to `url` and signed
/// with `secret`, as tekton/README.md tells to set it up.
pub fn add_gitea_hook(gitea: &Gitea, repo: &str, url: &str, secret: &str) {
    gitea
        .api(
            "POST",
            &format!("/repos/{repo}/hooks"),
            Some(&json!({
                "type": "gitea",
                "active": true,
                "events": ["push"],
                "config": {"url": url, "content_type": "json", "secret": secret},
            })),
        )
        .expect_success("add a webhook");
}

/// A delivery through the EventListener `listener` of the YAML in `tekton_dir`, with the webhook
/// Secret the Triggers' `github` interceptors read holding `secret`: what each of its Triggers made
/// of it.
pub fn through_listener(
    harness: &Harness,
    tekton_dir: &Path,
    manifests: &Manifests,
    listener: &str,
    delivery: &Delivery,
    secret: &str,
) -> Result<Vec<Fired>, String> {
    harness.trigger(&json!({
        "files": [tekton_dir.display().to_string()],
        "eventListener": listener,
        "headers": delivery.headers,
        "body": delivery.body,
        "secrets": webhook_secrets(manifests, secret),
    }))
}

/// The PipelineRun a Trigger created (its first resource), as a spec the local runner takes.
pub fn pipeline_run(fired: &Fired) -> Result<PipelineRunSpec, String> {
    let run = fired
        .resources
        .first()
        .ok_or_else(|| format!("trigger {} created nothing", fired.trigger))?;
    if run["kind"] != "PipelineRun" {
        return Err(format!(
            "trigger {} created a {}, not a PipelineRun",
            fired.trigger, run["kind"]
        ));
    }
    serde_json::from_value(run["spec"].clone())
        .map_err(|e| format!("the PipelineRun of trigger {}: {e}", fired.trigger))
}

/// The string params of the PipelineRun a Trigger created.
pub fn pipeline_run_params(fired: &Fired) -> BTreeMap<String, String> {
    let spec = pipeline_run(fired).unwrap_or_else(|e| panic!("{e}"));
    spec.params
        .into_iter()
        .map(|p| {
            let value = match p.value {
                ParamValue::String(s) => s,
                other => format!("{other:?}"),
            };
            (p.name, value)
        })
        .collect()
}
