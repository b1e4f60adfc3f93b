//! Tekton's and Tekton Triggers' own Go code, run on the YAML through `tests/tekton-harness` (built
//! by `scripts/go-servers build tekton-harness`), to check the local stand-ins of this crate against:
//!
//! - [`Harness::validate`]: the admission webhooks' SetDefaults and Validate, object by object;
//! - [`Harness::resolve`]: each step's command, args and env after Tekton's substitution (a Task run
//!   alone, or every task of a Pipeline with the results of the tasks before it);
//! - [`Harness::trigger`]: a webhook delivery through Triggers' `github` and `cel` interceptors, the
//!   bindings and the template.
//!
//! [`hub_signature_256`] signs a delivery as Gitea and GitHub do, for the `github` interceptor.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::manifests::{EnvVar, Param};

/// Go writes an empty list as `null`.
fn nullable<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One object as the admission webhooks saw it.
#[derive(Debug, Clone, Deserialize)]
pub struct Validated {
    pub file: PathBuf,
    /// `apiVersion/kind`, e.g. `tekton.dev/v1/Task`.
    pub kind: String,
    pub name: String,
    /// Whether a Tekton webhook admits this kind (others, e.g. RBAC, are only listed).
    pub checked: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub errors: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}

/// What `validate` reports: the webhooks' configuration (upstream defaults) and every object.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    pub pipeline_config: Value,
    pub triggers_config: Value,
    pub objects: Vec<Validated>,
}

/// A step after Tekton's substitution.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedStep {
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default, deserialize_with = "nullable")]
    pub command: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub args: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub env: Vec<EnvVar>,
}

impl ResolvedStep {
    /// The program and its arguments.
    pub fn command_line(&self) -> Vec<String> {
        self.command.iter().chain(&self.args).cloned().collect()
    }
}

/// A TaskRun's spec after Tekton's substitution.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedTask {
    /// The Pipeline's name for the task ("" for a Task run alone).
    #[serde(default)]
    pub pipeline_task: String,
    pub task: String,
    /// The params the TaskRun is given (for a pipeline task: after params and results are applied).
    #[serde(default, deserialize_with = "nullable")]
    pub params: Vec<Param>,
    #[serde(default, deserialize_with = "nullable")]
    pub steps: Vec<ResolvedStep>,
}

/// What one Trigger made of a delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct Fired {
    pub trigger: String,
    #[serde(rename = "continue")]
    pub passed: bool,
    /// Why an interceptor stopped it (`passed` false).
    #[serde(default)]
    pub reason: String,
    #[serde(default, deserialize_with = "nullable")]
    pub extensions: BTreeMap<String, Value>,
    /// The bindings' params.
    #[serde(default, deserialize_with = "nullable")]
    pub params: Vec<TriggerParam>,
    /// The resources the TriggerTemplate creates.
    #[serde(default, deserialize_with = "nullable")]
    pub resources: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TriggerParam {
    pub name: String,
    pub value: String,
}

impl Fired {
    pub fn params(&self) -> BTreeMap<String, String> {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect()
    }
}

/// The harness binary.
#[derive(Debug, Clone)]
pub struct Harness {
    pub bin: PathBuf,
}

impl Harness {
    /// The binary `scripts/go-servers` built; panics with the command to build it when it is missing.
    pub fn get() -> Harness {
        Harness {
            bin: test_services::go_server_bin("tekton-harness"),
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Value, String> {
        let mut child = Command::new(&self.bin)
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("run {}: {e}", self.bin.display()))?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            pipe.write_all(input)
                .map_err(|e| format!("write to {}: {e}", self.bin.display()))?;
        }
        let output = child
            .wait_with_output()
            .map_err(|e| format!("wait for {}: {e}", self.bin.display()))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        if !output.status.success() {
            return Err(format!(
                "tekton-harness {} ({}): {}\n{}",
                args.join(" "),
                output.status,
                stderr.trim(),
                if stdout.is_null() {
                    String::new()
                } else {
                    serde_json::to_string_pretty(&stdout).unwrap_or_default()
                }
            ));
        }
        Ok(stdout)
    }

    fn request<T: for<'de> Deserialize<'de>>(
        &self,
        command: &str,
        request: &Value,
    ) -> Result<T, String> {
        let body = serde_json::to_vec(request).expect("a request is JSON");
        let out = self.run(&[command, "-"], Some(&body))?;
        serde_json::from_value(out.clone())
            .map_err(|e| format!("tekton-harness {command} answered {out}: {e}"))
    }

    /// Admits every object of the files (folders: their YAML below) as the webhooks would. `Err`
    /// when one is refused, with the report.
    pub fn validate(&self, paths: &[&Path]) -> Result<Validation, String> {
        let mut args = vec!["validate"];
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        let out = self.run(&args, None)?;
        serde_json::from_value(out).map_err(|e| format!("tekton-harness validate: {e}"))
    }

    /// Tekton's substitution for a request: `{"files": [...], "task": NAME | "pipeline": NAME,
    /// "params": {...}, "workspaces": {name: path}, "results": {task: {result: value}}}`.
    pub fn resolve(&self, request: &Value) -> Result<Vec<ResolvedTask>, String> {
        self.request::<Option<Vec<ResolvedTask>>>("resolve", request)
            .map(Option::unwrap_or_default)
    }

    /// A delivery through Triggers: `{"files": [...], "eventListener": NAME | "trigger": NAME,
    /// "headers": {...}, "body": "raw", "secrets": {secret: {key: value}}}`.
    pub fn trigger(&self, request: &Value) -> Result<Vec<Fired>, String> {
        self.request::<Option<Vec<Fired>>>("trigger", request)
            .map(Option::unwrap_or_default)
    }
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The `X-Hub-Signature-256` header value a forge sends with `body` for this webhook secret.
pub fn hub_signature_256(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(hmac_sha256(secret.as_bytes(), body))
    )
}

/// The Secrets the Triggers' `github` interceptors read the webhook secret from, all holding
/// `secret`.
pub fn webhook_secrets(manifests: &crate::manifests::Manifests, secret: &str) -> Value {
    let mut secrets = serde_json::Map::new();
    for trigger in manifests.triggers.values() {
        for interceptor in trigger.spec.interceptors_named("github") {
            let reference = interceptor.param("secretRef").expect("a secretRef");
            let name = reference["secretName"].as_str().unwrap();
            let key = reference["secretKey"].as_str().unwrap();
            secrets.insert(name.to_string(), json!({ key: secret }));
        }
    }
    assert!(
        !secrets.is_empty(),
        "the github interceptors name their Secret"
    );
    Value::Object(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_rfc4231() {
        // Test cases 1 and 6 (a key longer than the block).
        assert_eq!(
            hex::encode(hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
