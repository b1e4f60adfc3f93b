//! Where the GitOps repository lives and how to authenticate to it.

use std::fmt;
use std::path::{Path, PathBuf};

use common::{HttpOptions, Secret};
use url::Url;

use crate::{GitopsError, Input};

/// A git repository on a server: its URL, credentials and HTTP settings.
#[derive(Debug, Clone)]
pub struct Remote {
    /// `https://host/org/repo.git`, `http://…` (only for hosts in `http.plain_http_hosts`),
    /// `ssh://git@host:2222/org/repo.git`, `git@host:org/repo.git`, or a local path / `file://` URL.
    /// Never with a password in it.
    pub url: String,
    pub auth: GitAuth,
    /// TLS roots, per-host opt-outs and timeouts for http(s) URLs.
    pub http: HttpOptions,
}

impl Remote {
    pub fn new(url: impl Into<String>, auth: GitAuth, http: HttpOptions) -> Self {
        Self {
            url: url.into(),
            auth,
            http,
        }
    }
}

/// How to authenticate. `Debug` never shows the token.
#[derive(Clone)]
pub enum GitAuth {
    Anonymous,
    /// HTTP basic auth: a user name and a token (or password), sent as an `Authorization` header.
    Basic {
        user: String,
        token: Secret,
    },
    /// A Tekton `ssh-directory` workspace: a private key (`id_ed25519`, `id_ecdsa` or `id_rsa`) and
    /// `known_hosts`, against which the server's host key is checked.
    SshDirectory(PathBuf),
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, token: *** }}"),
            Self::SshDirectory(dir) => write!(f, "SshDirectory({})", dir.display()),
        }
    }
}

/// What a command was given to authenticate with. [`GitCredentials::choose`] picks by the URL, so
/// a Task may bind both the `basic-auth` and the `ssh-directory` workspace.
#[derive(Debug, Default, Clone)]
pub struct GitCredentials {
    pub username: Option<String>,
    pub token: Option<Secret>,
    /// A Tekton `basic-auth` workspace (`.git-credentials`).
    pub basic_auth_dir: Option<PathBuf>,
    /// A Tekton `ssh-directory` workspace.
    pub ssh_dir: Option<PathBuf>,
}

impl GitCredentials {
    /// ssh URLs use the ssh directory; http(s) URLs an explicit user and token, else the basic-auth
    /// workspace, else nothing. Half a user/token pair is a usage error, not a silent anonymous clone.
    pub fn choose(self, url: &str) -> Result<GitAuth, GitopsError> {
        if is_ssh_url(url) {
            return Ok(self
                .ssh_dir
                .map_or(GitAuth::Anonymous, GitAuth::SshDirectory));
        }
        match (self.username, self.token, self.basic_auth_dir) {
            (Some(user), Some(token), _) => Ok(GitAuth::Basic { user, token }),
            (_, _, Some(dir)) => GitAuth::from_basic_auth_dir(&dir, url),
            (Some(_), None, None) => Err(GitopsError::invalid(
                Input::Credentials,
                "a git user name is given but no token: give the git token (a file from a mounted Secret, or the environment)",
            )),
            (None, Some(_), None) => Err(GitopsError::invalid(
                Input::Credentials,
                "a git token is given but no user name: give the git user name too",
            )),
            (None, None, None) => Ok(GitAuth::Anonymous),
        }
    }
}

/// `ssh://…` or scp-like `user@host:path`.
pub fn is_ssh_url(url: &str) -> bool {
    url.starts_with("ssh://") || (!url.contains("://") && url.contains('@') && url.contains(':'))
}

impl GitAuth {
    /// Reads a Tekton `basic-auth` workspace: the `.git-credentials` line for the URL's scheme and
    /// host (as git's `store` helper matches them) gives the user and token.
    pub fn from_basic_auth_dir(dir: &Path, repo_url: &str) -> Result<Self, GitopsError> {
        let path = dir.join(".git-credentials");
        let text = std::fs::read_to_string(&path).map_err(|e| GitopsError::Credentials {
            path: path.clone(),
            detail: format!(
                "{e}; a basic-auth workspace holds .git-credentials with lines like https://user:token@host"
            ),
        })?;
        let wanted = Url::parse(repo_url).map_err(|_| GitopsError::Credentials {
            path: path.clone(),
            detail: format!("a basic-auth workspace only applies to http(s) URLs, not {repo_url}"),
        })?;
        let mut hosts_seen = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Ok(entry) = Url::parse(line) else {
                continue;
            };
            let host = format!(
                "{}://{}",
                entry.scheme(),
                entry.host_str().unwrap_or_default()
            );
            if entry.scheme() == wanted.scheme()
                && entry.host_str() == wanted.host_str()
                && entry.port_or_known_default() == wanted.port_or_known_default()
            {
                let user = percent_decode(entry.username());
                let token = entry.password().map(percent_decode).unwrap_or_default();
                if user.is_empty() || token.is_empty() {
                    return Err(GitopsError::Credentials {
                        path,
                        detail: format!("the line for {host} lacks a user name or a token"),
                    });
                }
                return Ok(Self::Basic {
                    user,
                    token: Secret::new(token),
                });
            }
            hosts_seen.push(host);
        }
        Err(GitopsError::Credentials {
            path,
            detail: format!(
                "no line for {}://{} (lines found for: {}); add https://user:token@{}",
                wanted.scheme(),
                wanted.host_str().unwrap_or_default(),
                if hosts_seen.is_empty() {
                    "none".to_owned()
                } else {
                    hosts_seen.join(", ")
                },
                wanted.host_str().unwrap_or_default()
            ),
        })
    }
}

/// Who commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            name: "modelcar-gitops".into(),
            email: "modelcar-gitops@noreply.localhost".into(),
        }
    }
}

/// The transport a URL needs.
#[derive(Debug, Clone)]
pub(crate) enum Endpoint {
    Http(Url),
    Ssh {
        user: String,
        host: String,
        port: u16,
    },
    Local,
}

impl Endpoint {
    pub(crate) fn of(url: &str) -> Result<Self, GitopsError> {
        if let Some((scheme, _)) = url.split_once("://") {
            let parsed = Url::parse(url).map_err(|e| {
                GitopsError::invalid(Input::RepoUrl, format!("repository URL {url:?}: {e}"))
            })?;
            if parsed.password().is_some() {
                return Err(GitopsError::invalid(
                    Input::RepoUrl,
                    "the repository URL carries a password; give the git user name and token as \
                     credentials instead (the token from a file or the environment), so it never \
                     shows in logs",
                ));
            }
            return match scheme.to_ascii_lowercase().as_str() {
                "http" | "https" => {
                    if !parsed.username().is_empty() {
                        return Err(GitopsError::invalid(
                            Input::RepoUrl,
                            "the repository URL carries a user name; give it as the git user name \
                             instead",
                        ));
                    }
                    Ok(Self::Http(parsed))
                }
                "ssh" => Ok(Self::Ssh {
                    user: if parsed.username().is_empty() {
                        "git".into()
                    } else {
                        percent_decode(parsed.username())
                    },
                    host: parsed.host_str().unwrap_or_default().to_owned(),
                    port: parsed.port().unwrap_or(22),
                }),
                "file" => Ok(Self::Local),
                other => Err(GitopsError::invalid(
                    Input::RepoUrl,
                    format!(
                        "repository URL scheme {other}:// is not supported; use https://, ssh:// or a path"
                    ),
                )),
            };
        }
        if url.starts_with('/') || url.starts_with('.') {
            return Ok(Self::Local);
        }
        // scp-like: [user@]host:path
        if let Some((user_host, path)) = url.split_once(':')
            && !user_host.contains('/')
            && !path.is_empty()
        {
            let (user, host) = match user_host.rsplit_once('@') {
                Some((user, host)) => (user.to_owned(), host.to_owned()),
                None => ("git".to_owned(), user_host.to_owned()),
            };
            return Ok(Self::Ssh {
                user,
                host,
                port: 22,
            });
        }
        Err(GitopsError::invalid(
            Input::RepoUrl,
            format!(
                "repository URL {url:?} is neither https://, ssh://, user@host:path nor a path"
            ),
        ))
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert!(matches!(
            Endpoint::of("https://git.example/org/repo.git"),
            Ok(Endpoint::Http(_))
        ));
        assert!(matches!(
            Endpoint::of("ssh://git@h:2222/r.git"),
            Ok(Endpoint::Ssh { port: 2222, .. })
        ));
        match Endpoint::of("deploy@h:org/r.git").unwrap() {
            Endpoint::Ssh { user, host, port } => {
                assert_eq!((user.as_str(), host.as_str(), port), ("deploy", "h", 22))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(Endpoint::of("/srv/repo.git"), Ok(Endpoint::Local)));
        let err = Endpoint::of("https://u:hunter2@h/r.git").unwrap_err();
        assert_eq!(err.input(), Some(crate::Input::RepoUrl));
        let err = err.to_string();
        assert!(
            !err.contains("hunter2") && err.contains("git user name and token"),
            "{err}"
        );
    }

    #[test]
    fn basic_auth_workspace() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".git-credentials"),
            "https://other:x@elsewhere.example\nhttps://bot:s%40cret@git.example\n",
        )
        .unwrap();
        match GitAuth::from_basic_auth_dir(dir.path(), "https://git.example/org/r.git").unwrap() {
            GitAuth::Basic { user, token } => {
                assert_eq!(user, "bot");
                assert_eq!(token.expose(), "s@cret");
            }
            other => panic!("{other:?}"),
        }
        let err = GitAuth::from_basic_auth_dir(dir.path(), "https://nope.example/r.git")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no line for https://nope.example"), "{err}");
        assert!(!err.contains("s%40cret") && !err.contains(":x@"), "{err}");
    }

    #[test]
    fn debug_hides_token() {
        let auth = GitAuth::Basic {
            user: "bot".into(),
            token: Secret::new("hunter2"),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}

#[cfg(test)]
mod credential_choice_tests {
    use super::*;

    fn creds() -> GitCredentials {
        GitCredentials {
            username: Some("bot".into()),
            token: Some(Secret::new("t0ken")),
            basic_auth_dir: None,
            ssh_dir: Some("/ws/ssh".into()),
        }
    }

    #[test]
    fn the_url_decides_between_bound_workspaces() {
        assert!(matches!(
            creds().choose("ssh://git@host/org/repo.git").unwrap(),
            GitAuth::SshDirectory(_)
        ));
        assert!(matches!(
            creds().choose("git@host:org/repo.git").unwrap(),
            GitAuth::SshDirectory(_)
        ));
        assert!(matches!(
            creds().choose("https://host/org/repo.git").unwrap(),
            GitAuth::Basic { .. }
        ));
        assert!(matches!(
            GitCredentials::default()
                .choose("https://host/r.git")
                .unwrap(),
            GitAuth::Anonymous
        ));
    }

    #[test]
    fn half_a_pair_is_a_usage_error() {
        let only_user = GitCredentials {
            token: None,
            ..creds()
        };
        let error = only_user.choose("https://host/r.git").unwrap_err();
        assert!(error.is_usage(), "{error}");
        let only_token = GitCredentials {
            username: None,
            ..creds()
        };
        assert!(
            only_token
                .choose("https://host/r.git")
                .unwrap_err()
                .is_usage()
        );
    }
}
