//! Registry credentials from the files users already have, with podman's and docker's semantics:
//! explicit `--authfile`, a Tekton `dockerconfig` workspace, `REGISTRY_AUTH_FILE`, podman's
//! `$XDG_RUNTIME_DIR/containers/auth.json` and `~/.config/containers/auth.json`, docker's
//! `$DOCKER_CONFIG/config.json` and `~/.docker/config.json`. The first file that has credentials for
//! a repository wins; inside a file the longest matching `registry/namespace` key wins. Credential
//! helpers (`credHelpers`, `credsStore`) are run as `docker-credential-<name> get`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use common::Secret;
use serde::Deserialize;

use crate::reference::DOCKER_HUB;

mod helper;
use helper::run_helper;

/// What to present to a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: Secret,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged for access tokens at the token endpoint.
    IdentityToken(Secret),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Self::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "reading the registry auth file {path}: {source}; check the auth file's path and its permissions"
    )]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "parsing the registry auth file {path}: {message}; it must be a docker config.json / podman auth.json"
    )]
    Parse { path: PathBuf, message: String },
    #[error("the registry auth file {path} has a bad entry for {key:?}: {problem}")]
    BadEntry {
        path: PathBuf,
        key: String,
        problem: String,
    },
    #[error(
        "the Tekton dockerconfig workspace {dir} holds neither config.json nor .dockerconfigjson; bind a Secret of type kubernetes.io/dockerconfigjson to it"
    )]
    EmptyWorkspace { dir: PathBuf },
    #[error("getting credentials for {registry} from docker-credential-{helper}: {message}")]
    Helper {
        helper: String,
        registry: String,
        message: String,
    },
}

impl AuthError {
    /// Whether the fix is in the credentials given (an auth file or workspace that cannot be
    /// read), not in a credential helper.
    pub fn is_usage(&self) -> bool {
        !matches!(self, Self::Helper { .. })
    }
}

impl common::UsageFault for AuthError {
    fn is_usage(&self) -> bool {
        AuthError::is_usage(self)
    }
}

/// The auth files to consult, in order, parsed once.
#[derive(Debug, Default)]
pub struct Keychain {
    files: Vec<AuthFile>,
}

#[derive(Debug)]
struct AuthFile {
    path: PathBuf,
    auths: BTreeMap<String, AuthEntry>,
    cred_helpers: BTreeMap<String, String>,
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AuthFileJson {
    auths: BTreeMap<String, AuthEntry>,
    #[serde(rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthEntry(***)")
    }
}

impl Keychain {
    /// No credentials: every request is anonymous.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The usual search path, from this process's environment. `authfile` (`--authfile`) and
    /// `docker_config_workspace` (a Tekton `dockerconfig` workspace) must exist when given; the
    /// implicit locations are used when present.
    pub fn discover(
        authfile: Option<&Path>,
        docker_config_workspace: Option<&Path>,
    ) -> Result<Self, AuthError> {
        Self::discover_with_env(authfile, docker_config_workspace, |var| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
    }

    /// [`Keychain::discover`] with the environment given as a function (for tests).
    pub fn discover_with_env(
        authfile: Option<&Path>,
        docker_config_workspace: Option<&Path>,
        env: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<Self, AuthError> {
        let mut required = Vec::new();
        if let Some(path) = authfile {
            required.push(path.to_owned());
        }
        if let Some(dir) = docker_config_workspace {
            let found = ["config.json", ".dockerconfigjson"]
                .iter()
                .map(|name| dir.join(name))
                .find(|path| path.is_file())
                .ok_or_else(|| AuthError::EmptyWorkspace {
                    dir: dir.to_owned(),
                })?;
            required.push(found);
        }
        let mut optional = Vec::new();
        if let Some(path) = env("REGISTRY_AUTH_FILE") {
            optional.push(path);
        }
        if let Some(dir) = env("XDG_RUNTIME_DIR") {
            optional.push(dir.join("containers/auth.json"));
        }
        let home = env("HOME");
        if let Some(home) = &home {
            optional.push(home.join(".config/containers/auth.json"));
        }
        if let Some(dir) = env("DOCKER_CONFIG") {
            optional.push(dir.join("config.json"));
        }
        if let Some(home) = &home {
            optional.push(home.join(".docker/config.json"));
        }

        let mut files = Vec::new();
        for path in required {
            files.push(AuthFile::load(&path)?);
        }
        for path in optional {
            if path.is_file() && !files.iter().any(|f: &AuthFile| f.path == path) {
                files.push(AuthFile::load(&path)?);
            }
        }
        tracing::debug!(
            "registry auth files: {:?}",
            files.iter().map(|f| &f.path).collect::<Vec<_>>()
        );
        Ok(Self { files })
    }

    /// Exactly these files, in this order (each must exist).
    pub fn from_files(paths: &[PathBuf]) -> Result<Self, AuthError> {
        let files = paths
            .iter()
            .map(|p| AuthFile::load(p))
            .collect::<Result<_, _>>()?;
        Ok(Self { files })
    }

    /// The files consulted, in order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| f.path.as_path())
    }

    /// The credential for `repository` on `registry` (as in a [`crate::Reference`]), or `None` to
    /// go anonymous.
    pub fn credential_for(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<Credential>, AuthError> {
        for file in &self.files {
            if let Some(credential) = file.lookup(registry, repository)? {
                tracing::debug!(
                    "credentials for {registry}/{repository} from {}",
                    file.path.display()
                );
                return Ok(Some(credential));
            }
        }
        Ok(None)
    }
}

impl AuthFile {
    fn load(path: &Path) -> Result<Self, AuthError> {
        let bytes = std::fs::read(path).map_err(|source| AuthError::Read {
            path: path.to_owned(),
            source,
        })?;
        let json: AuthFileJson = serde_json::from_slice(&bytes).map_err(|e| AuthError::Parse {
            path: path.to_owned(),
            // serde's message names a line and column, never the value.
            message: e.to_string(),
        })?;
        Ok(Self {
            path: path.to_owned(),
            auths: json
                .auths
                .into_iter()
                .map(|(key, entry)| (normalize_key(&key), entry))
                .collect(),
            cred_helpers: json
                .cred_helpers
                .into_iter()
                .map(|(key, helper)| (normalize_key(&key), helper))
                .collect(),
            creds_store: json.creds_store.filter(|s| !s.is_empty()),
        })
    }

    fn lookup(&self, registry: &str, repository: &str) -> Result<Option<Credential>, AuthError> {
        if let Some(helper) = self.cred_helpers.get(registry)
            && let Some(credential) = run_helper(helper, registry)?
        {
            return Ok(Some(credential));
        }
        let wanted = format!("{registry}/{repository}");
        let best = self
            .auths
            .iter()
            .filter(|(key, _)| wanted == **key || wanted.starts_with(&format!("{key}/")))
            .max_by_key(|(key, _)| key.len());
        if let Some((key, entry)) = best
            && let Some(credential) = self.decode(key, entry)?
        {
            return Ok(Some(credential));
        }
        match &self.creds_store {
            Some(helper) => run_helper(helper, registry),
            None => Ok(None),
        }
    }

    fn decode(&self, key: &str, entry: &AuthEntry) -> Result<Option<Credential>, AuthError> {
        let bad = |problem: &str| AuthError::BadEntry {
            path: self.path.clone(),
            key: key.to_owned(),
            problem: problem.to_owned(),
        };
        if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
            return Ok(Some(Credential::IdentityToken(Secret::new(token))));
        }
        if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| bad("\"auth\" is not base64"))?;
            let decoded =
                String::from_utf8(decoded).map_err(|_| bad("\"auth\" is not UTF-8 text"))?;
            let (username, password) = decoded
                .split_once(':')
                .ok_or_else(|| bad("\"auth\" is not base64 of username:password"))?;
            return Ok(Some(Credential::Basic {
                username: username.to_owned(),
                password: Secret::new(password),
            }));
        }
        match (&entry.username, &entry.password) {
            (Some(username), Some(password)) if !username.is_empty() => {
                Ok(Some(Credential::Basic {
                    username: username.clone(),
                    password: Secret::new(password.clone()),
                }))
            }
            _ => Ok(None),
        }
    }
}

/// Keys are hosts with an optional path, sometimes written as URLs (`https://index.docker.io/v1/`).
fn normalize_key(key: &str) -> String {
    let had_scheme = key.contains("://");
    let mut key = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    if had_scheme {
        key = key.trim_end_matches("/v1").trim_end_matches("/v2");
    }
    let (host, path) = match key.split_once('/') {
        Some((host, path)) => (host, Some(path)),
        None => (key, None),
    };
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB,
        other => other,
    };
    match path {
        Some(path) => format!("{host}/{path}"),
        None => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn basic(user: &str, password: &str) -> Option<Credential> {
        Some(Credential::Basic {
            username: user.into(),
            password: Secret::new(password),
        })
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn longest_prefix_wins_and_urls_normalise() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        let json = serde_json::json!({
            "auths": {
                "quay.io": {"auth": b64("org:p1")},
                "quay.io/team": {"auth": b64("team:p2")},
                "quay.io/team/model": {"username": "model", "password": "p3"},
                "https://index.docker.io/v1/": {"auth": b64("hub:p4")},
                "https://registry.local:5000/": {"identitytoken": "refresh"},
                "empty.io": {"auth": ""}
            }
        });
        std::fs::write(&file, json.to_string()).unwrap();
        let keychain = Keychain::from_files(&[file]).unwrap();
        let get = |r: &str, repo: &str| keychain.credential_for(r, repo).unwrap();
        assert_eq!(get("quay.io", "other/x"), basic("org", "p1"));
        assert_eq!(get("quay.io", "team/x"), basic("team", "p2"));
        assert_eq!(get("quay.io", "team/model"), basic("model", "p3"));
        assert_eq!(get("quay.io", "team/modelx"), basic("team", "p2"));
        assert_eq!(get("docker.io", "library/busybox"), basic("hub", "p4"));
        assert_eq!(
            get("registry.local:5000", "a"),
            Some(Credential::IdentityToken(Secret::new("refresh")))
        );
        assert_eq!(get("empty.io", "a"), None);
        assert_eq!(get("ghcr.io", "a"), None);
        let shown = format!("{:?}", get("quay.io", "team/x"));
        assert!(!shown.contains("p2"), "{shown}");
    }

    #[test]
    fn search_order_explicit_first_then_podman_then_docker() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, user: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            let json =
                serde_json::json!({"auths": {"quay.io": {"auth": b64(&format!("{user}:pw"))}}});
            std::fs::write(&path, json.to_string()).unwrap();
            path
        };
        let explicit = write("explicit.json", "explicit");
        write("workspace/.dockerconfigjson", "workspace");
        write("run/containers/auth.json", "podman-run");
        write("home/.config/containers/auth.json", "podman-home");
        write("home/.docker/config.json", "docker-home");
        write("registry-auth.json", "registry-auth-file");
        write("docker-config/config.json", "docker-config");
        let root = dir.path().to_owned();
        let env = move |var: &str| match var {
            "REGISTRY_AUTH_FILE" => Some(root.join("registry-auth.json")),
            "XDG_RUNTIME_DIR" => Some(root.join("run")),
            "HOME" => Some(root.join("home")),
            "DOCKER_CONFIG" => Some(root.join("docker-config")),
            _ => None,
        };
        let workspace = dir.path().join("workspace");
        let first = |explicit: Option<&Path>, ws: Option<&Path>| {
            let keychain = Keychain::discover_with_env(explicit, ws, &env).unwrap();
            match keychain.credential_for("quay.io", "a").unwrap() {
                Some(Credential::Basic { username, .. }) => username,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(first(Some(&explicit), Some(&workspace)), "explicit");
        assert_eq!(first(None, None), "registry-auth-file");
        assert_eq!(first(None, Some(&workspace)), "workspace");
        // Then the implicit files, each used only when the ones before it have no match.
        for (file, next) in [
            ("registry-auth.json", "podman-run"),
            ("run/containers/auth.json", "podman-home"),
            ("home/.config/containers/auth.json", "docker-config"),
            ("docker-config/config.json", "docker-home"),
        ] {
            assert_ne!(first(None, None), next);
            std::fs::remove_file(dir.path().join(file)).unwrap();
            assert_eq!(first(None, None), next);
        }

        let missing = Keychain::discover_with_env(Some(&dir.path().join("nope")), None, &env);
        assert!(matches!(missing, Err(AuthError::Read { .. })));
        let empty_ws = Keychain::discover_with_env(None, Some(dir.path()), &env);
        assert!(matches!(empty_ws, Err(AuthError::EmptyWorkspace { .. })));
    }

    #[test]
    fn bad_entries_are_named_without_their_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("auth.json");
        std::fs::write(&file, r#"{"auths":{"quay.io":{"auth":"!!secret!!"}}}"#).unwrap();
        let err = Keychain::from_files(std::slice::from_ref(&file))
            .unwrap()
            .credential_for("quay.io", "a")
            .unwrap_err()
            .to_string();
        assert!(err.contains("quay.io") && err.contains("base64"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        std::fs::write(&file, "{not json").unwrap();
        assert!(matches!(
            Keychain::from_files(&[file]),
            Err(AuthError::Parse { .. })
        ));
    }

    #[test]
    fn credential_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\ncase \"$server\" in\n  quay.io) echo '{\"ServerURL\":\"quay.io\",\"Username\":\"robot\",\"Secret\":\"s3\"}';;\n  https://index.docker.io/v1/) echo '{\"Username\":\"<token>\",\"Secret\":\"idt\"}';;\n  *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(
            &file,
            serde_json::json!({
                "auths": {"ghcr.io": {"auth": b64("gh:pw")}},
                "credHelpers": {"quay.io": "fake"},
                "credsStore": "fake"
            })
            .to_string(),
        )
        .unwrap();
        // Outside tests the helper is found on PATH, as docker does.
        helper::HELPER_DIR.with(|d| *d.borrow_mut() = Some(dir.path().to_owned()));
        let keychain = Keychain::from_files(&[file]).unwrap();
        assert_eq!(
            keychain.credential_for("quay.io", "a").unwrap(),
            basic("robot", "s3")
        );
        assert_eq!(
            keychain.credential_for("ghcr.io", "a").unwrap(),
            basic("gh", "pw")
        );
        assert_eq!(
            keychain.credential_for("docker.io", "library/a").unwrap(),
            Some(Credential::IdentityToken(Secret::new("idt")))
        );
        assert_eq!(keychain.credential_for("other.io", "a").unwrap(), None);
    }
}
