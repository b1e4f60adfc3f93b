//! What the gitops integration tests share: a remote on the test git server over plain HTTP.

use common::{HttpOptions, Secret};
use gitops::{GitAuth, Remote};
use test_services::GitServer;

/// The repository `repo` of `server` with Basic credentials, its host named for plain HTTP.
pub fn http_remote(server: &GitServer, repo: &str, user: &str, password: &str) -> Remote {
    let url = server.repo_url(repo);
    let host_port = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("a URL with a host")
        .to_owned();
    Remote::new(
        url,
        GitAuth::Basic {
            user: user.into(),
            token: Secret::new(password),
        },
        HttpOptions {
            plain_http_hosts: vec![host_port],
            ..HttpOptions::default()
        },
    )
}
