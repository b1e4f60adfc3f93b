//! A real Kubernetes API server: kube-apiserver on its own etcd, with the Tekton Pipelines, Tekton
//! Triggers and KServe InferenceService CRDs applied; all built or copied by `scripts/go-servers`
//! (`kube`, `kube-crds`).
//!
//! No controller runs: nothing reconciles, so a test sets the status of an object itself (through its
//! status subresource), and there are no default ServiceAccounts, no garbage collection and no
//! namespace finalisation. Authentication is by tokens: an administrator's (group `system:masters`)
//! from a token file, and ServiceAccount tokens from the TokenRequest API; authorization is RBAC only.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::process::{self, ServerProcess, StartFailure, start_on_free_port, write_file};
use crate::tools::{go_server_bin, go_server_path};

/// etcd answers its health check within a second; kube-apiserver is ready after its post-start hooks
/// (RBAC's bootstrap roles, priority and fairness) in ~3–4 s, more while cargo builds. Applying the
/// CRDs (~2.5 MB of schemas) and waiting until they are served takes another ~6 s.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the CRDs may take to be established (served) after they are applied.
const CRD_TIMEOUT: Duration = Duration::from_secs(60);

/// etcd's limit on one request; the KServe InferenceService CRD alone is ~1 MB of YAML.
const ETCD_MAX_REQUEST_BYTES: &str = "10485760";

/// The field manager of the objects the tests apply.
const FIELD_MANAGER: &str = "test-services";

/// kube-apiserver and etcd on 127.0.0.1, their data in a temporary directory, the CRDs applied.
/// Stops on drop (or, for [`KubeApi::shared`], when the test process exits).
pub struct KubeApi {
    apiserver: ServerProcess,
    _etcd: ServerProcess,
    addr: SocketAddr,
    kubectl: PathBuf,
    kubeconfig: PathBuf,
    cache_dir: PathBuf,
    ca_pem: PathBuf,
    admin_token: String,
    started_in: Duration,
    // Last: removed after the processes are gone. None for the shared server, whose directory its
    // watchdog removes.
    _dir: Option<TempDir>,
}

static SHARED: OnceLock<Result<KubeApi, String>> = OnceLock::new();

impl KubeApi {
    /// The API server shared by all tests of this test binary, started on first use. Tests sharing it
    /// should use namespaces of their own.
    pub fn shared() -> &'static KubeApi {
        let started = SHARED.get_or_init(|| {
            std::panic::catch_unwind(|| KubeApi::start_with(true)).map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "the Kubernetes API server failed to start".to_string())
            })
        });
        match started {
            Ok(api) => api,
            Err(message) => panic!("{message}"),
        }
    }

    /// An API server of its own; stops on drop.
    pub fn start() -> KubeApi {
        Self::start_with(false)
    }

    fn start_with(shared: bool) -> KubeApi {
        let started = Instant::now();
        let apiserver_bin = go_server_bin("kube-apiserver");
        let etcd_bin = go_server_bin("etcd");
        let kubectl = go_server_bin("kubectl");
        let crds = go_server_path("kube-crds");
        let dir = tempfile::Builder::new()
            .prefix("test-kube-")
            .tempdir()
            .expect("create a temporary directory for the Kubernetes API server");
        let path = dir.path().to_path_buf();
        // The watchdogs remove the shared server's directory when the test process exits.
        let cleanup: Vec<(&str, &OsStr)> = if shared {
            vec![("TEST_SERVICES_CLEANUP_DIR", path.as_os_str())]
        } else {
            Vec::new()
        };

        // The serving certificate, signed by a CA the clients trust (no insecure skip anywhere).
        let certs = crate::Certs::generate(&[]);
        let ca_pem = path.join("ca.pem");
        let cert_pem = path.join("apiserver.pem");
        let key_pem = path.join("apiserver-key.pem");
        for (from, to) in [
            (&certs.ca_pem, &ca_pem),
            (&certs.cert_pem, &cert_pem),
            (&certs.key_pem, &key_pem),
        ] {
            std::fs::copy(from, to)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
        }
        drop(certs);
        // The key that signs ServiceAccount tokens (ECDSA P-256, PKCS#8) and its public half.
        let signing_key = rcgen::KeyPair::generate().expect("generate the token signing key");
        let sa_key = path.join("sa-key.pem");
        let sa_pub = path.join("sa-pub.pem");
        write_file(&sa_key, signing_key.serialize_pem());
        write_file(&sa_pub, signing_key.public_key_pem());
        let admin_token = crate::gitea::random_hex(24);
        let tokens = path.join("tokens.csv");
        write_file(
            &tokens,
            format!("{admin_token},admin,admin-uid,\"system:masters\"\n"),
        );

        let mut attempt = 0;
        let (etcd, etcd_url) = start_on_free_port("etcd", |client_port| {
            attempt += 1;
            let client = format!("http://127.0.0.1:{client_port}");
            let peer = format!("http://127.0.0.1:{}", crate::free_port());
            let data = path.join(format!("etcd-{attempt}"));
            let cluster = format!("test={peer}");
            let args: Vec<&OsStr> = vec![
                "--name".as_ref(),
                "test".as_ref(),
                "--data-dir".as_ref(),
                data.as_os_str(),
                "--listen-client-urls".as_ref(),
                client.as_ref(),
                "--advertise-client-urls".as_ref(),
                client.as_ref(),
                "--listen-peer-urls".as_ref(),
                peer.as_ref(),
                "--initial-advertise-peer-urls".as_ref(),
                peer.as_ref(),
                "--initial-cluster".as_ref(),
                cluster.as_ref(),
                // A test's data need not survive a crash of the machine.
                "--unsafe-no-fsync".as_ref(),
                "--max-request-bytes".as_ref(),
                ETCD_MAX_REQUEST_BYTES.as_ref(),
                "--log-level".as_ref(),
                "warn".as_ref(),
            ];
            let log = path.join(format!("etcd-{attempt}.log"));
            let addr = SocketAddr::from(([127, 0, 0, 1], client_port));
            let mut process = ServerProcess::spawn("etcd", &etcd_bin, args, &path, &cleanup, &log);
            process.wait_until_ready(START_TIMEOUT, || {
                process::http_status(addr, "/health") == Some(200)
            })?;
            Ok::<_, StartFailure>((process, client))
        });

        let kubeconfig = path.join("kubeconfig");
        let cache_dir = path.join("kubectl-cache");
        let mut attempt = 0;
        let (apiserver, addr) = start_on_free_port("kube-apiserver", |port| {
            attempt += 1;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let url = format!("https://{addr}");
            write_file(&kubeconfig, kubeconfig_yaml(&url, &ca_pem, &admin_token));
            let flag = |name: &str, value: &dyn AsRef<OsStr>| {
                let mut arg = std::ffi::OsString::from(format!("--{name}="));
                arg.push(value);
                arg
            };
            let args = vec![
                flag("etcd-servers", &etcd_url),
                flag("bind-address", &"127.0.0.1"),
                flag("advertise-address", &"127.0.0.1"),
                // Its own Endpoints of the `kubernetes` Service would have to name a loopback address,
                // which it refuses to start with.
                flag("endpoint-reconciler-type", &"none"),
                flag("secure-port", &port.to_string()),
                flag("tls-cert-file", &cert_pem),
                flag("tls-private-key-file", &key_pem),
                flag("token-auth-file", &tokens),
                flag("authorization-mode", &"RBAC"),
                flag("service-account-issuer", &url),
                flag("service-account-key-file", &sa_pub),
                flag("service-account-signing-key-file", &sa_key),
                flag("service-cluster-ip-range", &"10.0.0.0/24"),
                // No controller creates the namespaces' default ServiceAccounts, which this admission
                // plugin would require of every Pod.
                flag("disable-admission-plugins", &"ServiceAccount"),
                flag("profiling", &"false"),
            ];
            let log = path.join(format!("kube-apiserver-{attempt}.log"));
            let mut process = ServerProcess::spawn(
                "kube-apiserver",
                &apiserver_bin,
                args,
                &path,
                &cleanup,
                &log,
            );
            let mut last_try: Option<Instant> = None;
            process.wait_until_ready(START_TIMEOUT, || {
                if !process::accepts_connections(addr)
                    || last_try.is_some_and(|at| at.elapsed() < Duration::from_millis(100))
                {
                    return false;
                }
                last_try = Some(Instant::now());
                kubectl_command(&kubectl, &kubeconfig, &cache_dir)
                    .args(["get", "--raw=/readyz", "--request-timeout=5s"])
                    .stdin(Stdio::null())
                    .output()
                    .is_ok_and(|output| output.status.success())
            })?;
            Ok::<_, StartFailure>((process, addr))
        });

        let dir = if shared {
            let _ = dir.keep();
            None
        } else {
            Some(dir)
        };
        let mut api = KubeApi {
            apiserver,
            _etcd: etcd,
            addr,
            kubectl,
            kubeconfig,
            cache_dir,
            ca_pem,
            admin_token,
            started_in: Duration::ZERO,
            _dir: dir,
        };
        api.apply_crds(&crds);
        api.started_in = started.elapsed();
        api
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The PEM file of the CA that signed the server's certificate.
    pub fn ca_pem(&self) -> &Path {
        &self.ca_pem
    }

    /// A token of user `admin` in group `system:masters` (may do anything, impersonate included).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// A kubeconfig file for the administrator (with the CA, no insecure skip).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The process groups of kube-apiserver and etcd (for checks that they go away).
    pub fn process_groups(&self) -> [u32; 2] {
        [self.apiserver.process_group(), self._etcd.process_group()]
    }

    /// How long the start took, CRDs included.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// What kube-apiserver logged so far.
    pub fn log(&self) -> String {
        self.apiserver.log()
    }

    /// Runs kubectl as the administrator, whatever its outcome.
    pub fn kubectl(&self, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut command = kubectl_command(&self.kubectl, &self.kubeconfig, &self.cache_dir);
        command
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", self.kubectl.display()));
        if let Some(input) = input {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("kubectl's stdin");
            stdin
                .write_all(input)
                .unwrap_or_else(|e| panic!("write to kubectl {args:?}: {e}"));
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("wait for kubectl {args:?}: {e}"))
    }

    /// Runs kubectl as the administrator; panics with its output unless it succeeds; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str], input: Option<&[u8]>) -> String {
        let output = self.kubectl(args, input);
        if !output.status.success() {
            panic!(
                "kubectl {} failed ({}):\n{}{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Server-side applies `objects` (as `kubectl apply --server-side`, forcing conflicts).
    pub fn apply(&self, objects: &[Value]) {
        let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
        self.kubectl_ok(
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager",
                FIELD_MANAGER,
                "-f",
                "-",
            ],
            Some(list.to_string().as_bytes()),
        );
    }

    /// Server-side applies the YAML files of `path` (a file, or a directory's `*.yaml`), as
    /// `kubectl apply --server-side -f PATH` does; returns kubectl's output.
    pub fn apply_path(&self, path: &Path) -> String {
        let path = path.to_str().expect("a UTF-8 path");
        self.kubectl_ok(
            &[
                "apply",
                "--server-side",
                "--field-manager",
                FIELD_MANAGER,
                "-f",
                path,
            ],
            None,
        )
    }

    /// Creates the namespace `name` unless it exists.
    pub fn create_namespace(&self, name: &str) {
        self.apply(&[json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})]);
    }

    /// A token of ServiceAccount `namespace/name` from the TokenRequest API, valid for an hour.
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        self.kubectl_ok(
            &["create", "token", name, "-n", namespace, "--duration=1h"],
            None,
        )
        .trim()
        .to_string()
    }

    /// `kubectl auth can-i ARGS --as USER`: whether `user` may, by the server's authorizer (RBAC).
    /// `args` is what follows `can-i`, e.g. `["create", "pipelineruns.tekton.dev", "-n", "ns"]`.
    pub fn can_i(&self, user: &str, args: &[&str]) -> bool {
        let mut full = vec!["auth", "can-i"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--as", user]);
        let output = self.kubectl(&full, None);
        let answer = String::from_utf8_lossy(&output.stdout).trim().to_string();
        match (output.status.code(), answer.as_str()) {
            (Some(0), "yes") => true,
            (Some(1), "no") => false,
            _ => panic!(
                "kubectl {} answered neither yes nor no ({}):\n{answer}\n{}",
                full.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }

    /// The object `kind/name` (e.g. `inferenceservices.serving.kserve.io/jukebox`) in `namespace`
    /// as JSON.
    pub fn get(&self, namespace: &str, object: &str) -> Value {
        let text = self.kubectl_ok(&["get", object, "-n", namespace, "-o", "json"], None);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("kubectl get {object}: {e}: {text}"))
    }

    /// Merges `status` into the status of `object` (`resource/name`) through its status subresource,
    /// as a controller would; returns the object.
    pub fn set_status(&self, namespace: &str, object: &str, status: &Value) -> Value {
        let patch = json!({"status": status}).to_string();
        let text = self.kubectl_ok(
            &[
                "patch",
                object,
                "-n",
                namespace,
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch,
                "-o",
                "json",
            ],
            None,
        );
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("kubectl patch {object}: {e}: {text}"))
    }

    /// Applies the CRDs of `dir` (from `scripts/go-servers build kube-crds`) and waits until the
    /// server serves them.
    fn apply_crds(&self, dir: &Path) {
        let mut crds = Vec::new();
        for group in ["tekton-pipelines", "tekton-triggers", "kserve"] {
            let group_dir = dir.join(group);
            let mut files: Vec<PathBuf> = std::fs::read_dir(&group_dir)
                .unwrap_or_else(|e| panic!("read {}: {e}", group_dir.display()))
                .map(|entry| entry.expect("a directory entry").path())
                .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
                .collect();
            files.sort();
            for file in files {
                let text = std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
                let documents: Vec<Option<Value>> = serde_saphyr::from_multiple(&text)
                    .unwrap_or_else(|e| panic!("parse {}: {e}", file.display()));
                for mut crd in documents.into_iter().flatten() {
                    if crd["kind"] != "CustomResourceDefinition" {
                        continue;
                    }
                    // Tekton converts between its API versions in its webhook, which does not run
                    // here: the server stores and serves each version as it is.
                    crd["spec"]["conversion"] = json!({"strategy": "None"});
                    crds.push(crd);
                }
            }
        }
        assert!(!crds.is_empty(), "no CRDs in {}", dir.display());
        let names: Vec<String> = crds
            .iter()
            .map(|crd| {
                crd["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        self.apply(&crds);
        let deadline = Instant::now() + CRD_TIMEOUT;
        loop {
            let listed: Value = serde_json::from_str(
                &self.kubectl_ok(&["get", "customresourcedefinitions", "-o", "json"], None),
            )
            .expect("kubectl get crds prints JSON");
            let established = |name: &str| {
                listed["items"].as_array().is_some_and(|items| {
                    items.iter().any(|crd| {
                        crd["metadata"]["name"] == name
                            && crd["status"]["conditions"].as_array().is_some_and(|c| {
                                c.iter()
                                    .any(|c| c["type"] == "Established" && c["status"] == "True")
                            })
                    })
                })
            };
            let pending: Vec<&String> = names.iter().filter(|name| !established(name)).collect();
            if pending.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "CRDs not established within {CRD_TIMEOUT:?}: {pending:?}; kube-apiserver's log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn kubectl_command(kubectl: &Path, kubeconfig: &Path, cache_dir: &Path) -> Command {
    let mut command = Command::new(kubectl);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(cache_dir)
        .env_remove("KUBECONFIG");
    command
}

fn kubeconfig_yaml(url: &str, ca_pem: &Path, token: &str) -> String {
    // JSON is YAML.
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {
            "server": url,
            "certificate-authority": ca_pem,
        }}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
        "current-context": "test",
    })
    .to_string()
}
