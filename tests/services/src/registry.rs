//! Debian's `docker-registry` (CNCF distribution 2.8), the reference OCI registry.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{self, ServerProcess, StartFailure, start_on_free_port, write_file};
use crate::{Certs, require_tool};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A registry on 127.0.0.1 with filesystem storage in a temporary directory. Stops on drop.
pub struct Registry {
    process: ServerProcess,
    addr: SocketAddr,
    certs: Option<Certs>,
    storage: PathBuf,
    // Last: removed after the process is gone.
    _dir: TempDir,
}

struct BasicAuth<'a> {
    user: &'a str,
    password: &'a str,
}

impl Registry {
    /// A plain-HTTP registry without authentication.
    pub fn start() -> Registry {
        Self::start_with(None, None)
    }

    /// An HTTPS registry without authentication; trust it with [`Registry::ca_pem`].
    pub fn start_tls() -> Registry {
        Self::start_with(Some(Certs::generate(&[])), None)
    }

    /// A plain-HTTP registry that requires HTTP basic authentication as `user`/`password` (for tests
    /// of credential handling that need no TLS).
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Self::start_with(None, Some(BasicAuth { user, password }))
    }

    /// An HTTPS registry (certificate from a fresh [`Certs`], see [`Registry::ca_pem`]) that requires
    /// HTTP basic authentication as `user`/`password`.
    pub fn start_tls_with_auth(user: &str, password: &str) -> Registry {
        Self::start_with(
            Some(Certs::generate(&[])),
            Some(BasicAuth { user, password }),
        )
    }

    fn start_with(certs: Option<Certs>, auth: Option<BasicAuth<'_>>) -> Registry {
        let binary = require_tool("docker-registry", "docker-registry");
        let dir = tempfile::Builder::new()
            .prefix("test-registry-")
            .tempdir()
            .expect("create a temporary directory for the registry");
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).expect("create the registry storage directory");
        let htpasswd = auth.map(|auth| {
            let path = dir.path().join("htpasswd");
            // The registry accepts bcrypt only. The lowest cost keeps each request's check ~1 ms.
            let hash = bcrypt::hash(auth.password, 4).expect("bcrypt-hash the registry password");
            write_file(&path, format!("{}:{hash}\n", auth.user));
            path
        });

        let (process, addr) = start_on_free_port("docker-registry", |port| {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let config = dir.path().join("config.yml");
            write_file(
                &config,
                config_yaml(addr, &storage, certs.as_ref(), htpasswd.as_deref()),
            );
            let log = dir.path().join("registry.log");
            let mut process = ServerProcess::spawn(
                "docker-registry",
                &binary,
                [Path::new("serve"), &config],
                dir.path(),
                &[],
                &log,
            );
            let tls = certs.is_some();
            process.wait_until_ready(START_TIMEOUT, || {
                if tls {
                    process::accepts_connections(addr)
                } else {
                    process::http_status(addr, "/v2/").is_some()
                }
            })?;
            Ok::<_, StartFailure>((process, addr))
        });
        Registry {
            process,
            addr,
            certs,
            storage,
            _dir: dir,
        }
    }

    /// `127.0.0.1:PORT`, as used in image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        let scheme = if self.certs.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// The CA certificate that signed the server certificate (TLS registries only).
    pub fn ca_pem(&self) -> Option<&Path> {
        self.certs.as_ref().map(|certs| certs.ca_pem.as_path())
    }

    /// The filesystem storage root (`docker/registry/v2/...` below it), for assertions.
    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    /// The process group of the registry (for checks that it goes away).
    pub fn process_group(&self) -> u32 {
        self.process.process_group()
    }

    /// What the registry logged so far (one line per request at level info).
    pub fn log(&self) -> String {
        self.process.log()
    }
}

fn config_yaml(
    addr: SocketAddr,
    storage: &Path,
    certs: Option<&Certs>,
    htpasswd: Option<&Path>,
) -> String {
    // JSON strings are valid YAML scalars and quote any path safely.
    let quote = |path: &Path| serde_json::to_string(&path.to_string_lossy()).expect("quote a path");
    let mut yaml = format!(
        "version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {addr}
  headers:
    X-Content-Type-Options: [nosniff]
",
        storage = quote(storage),
    );
    if let Some(certs) = certs {
        yaml.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            quote(&certs.cert_pem),
            quote(&certs.key_pem)
        ));
    }
    if let Some(htpasswd) = htpasswd {
        yaml.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: test-registry\n    path: {}\n",
            quote(htpasswd)
        ));
    }
    yaml
}
