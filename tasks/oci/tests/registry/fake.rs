//! Behaviour a real local registry cannot be made to show: expiring bearer tokens, OAuth2 refresh
//! tokens, a transient 503 in the middle of a push, a registry that denies the manifest, and one
//! that answers a manifest `HEAD` without its digest.
//! A small fake speaks the distribution API for pushes, issues bearer tokens, and misbehaves once
//! as each test asks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::{HttpOptions, RetryPolicy};
use oci::{Digest, Keychain, PushOptions, Reference, RegistryClient, TagCheck, check_tag};

use crate::support::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Misbehaviour {
    #[default]
    None,
    /// Revokes the first token when the first blob upload arrives, answering it 401.
    ExpireTokenOnFirstUpload,
    /// Answers the first blob upload 503.
    UnavailableOnFirstUpload,
    /// Refuses every manifest with 403 DENIED.
    DenyManifests,
    /// Refuses the second tag put (once) with 403 DENIED, as a registry with immutable or
    /// protected tags does.
    DenySecondTagOnce,
    /// Its token realm is on another host (127.0.0.2), and uploads go to object storage on a third
    /// (127.0.0.3), which takes them by their URL alone.
    RealmAndStorageElsewhere,
    /// Answers a manifest `HEAD` without `Docker-Content-Digest` (the header is optional).
    NoDigestOnHead,
}

#[derive(Default)]
struct Fake {
    addr: String,
    /// Where the token realm and upload locations point (`addr` unless elsewhere).
    token_addr: String,
    storage_addr: String,
    /// (Host, path, Authorization) of every request.
    seen: Vec<(String, String, Option<String>)>,
    misbehaviour: Misbehaviour,
    misbehaved: bool,
    tokens_issued: u32,
    refresh_grants: u32,
    /// The only token accepted (earlier ones are revoked).
    valid: Option<String>,
    upload_sessions: u32,
    manifest_puts: u32,
    tag_puts: u32,
    blobs: HashMap<String, Vec<u8>>,
    manifests: HashMap<String, Vec<u8>>,
}

type Shared = Arc<Mutex<Fake>>;

fn issue_token(fake: &mut Fake) -> Response {
    fake.tokens_issued += 1;
    let token = format!("token-{}", fake.tokens_issued);
    fake.valid = Some(token.clone());
    // Docker's token servers answer `token`; OAuth2 ones `access_token`.
    axum::Json(serde_json::json!({ "access_token": token, "expires_in": 60 })).into_response()
}

async fn handle(
    axum::extract::State(state): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut fake = state.lock().unwrap();
    let path = uri.path().to_owned();
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    let seen = (
        header_text(header::HOST).unwrap_or_default(),
        path.clone(),
        header_text(header::AUTHORIZATION),
    );
    fake.seen.push(seen);
    if path == "/token" {
        if method == Method::POST {
            let form = String::from_utf8_lossy(&body).into_owned();
            assert!(form.contains("grant_type=refresh_token"), "{form}");
            assert!(form.contains("refresh_token=refresh-xyz"), "{form}");
            assert!(form.contains("service=fake"), "{form}");
            fake.refresh_grants += 1;
        } else {
            let query = uri.query().unwrap_or_default();
            assert!(
                query.contains("scope=repository%3Amodels%2Ffake%3Apull"),
                "{query}"
            );
        }
        return issue_token(&mut fake);
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let signed_upload = path.starts_with("/upload/") && fake.storage_addr != fake.addr;
    if !signed_upload && (presented.is_none() || presented != fake.valid) {
        return challenge_for(&fake);
    }
    let digest_header = |digest: &str| [("docker-content-digest", digest.to_owned())];
    if path.starts_with("/upload/") {
        assert_eq!(method, Method::PUT);
        if !fake.misbehaved {
            match fake.misbehaviour {
                Misbehaviour::ExpireTokenOnFirstUpload => {
                    fake.misbehaved = true;
                    fake.valid = None;
                    return challenge_for(&fake);
                }
                Misbehaviour::UnavailableOnFirstUpload => {
                    fake.misbehaved = true;
                    return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
                }
                _ => {}
            }
        }
        let digest = uri
            .query()
            .and_then(|q| q.strip_prefix("digest="))
            .unwrap()
            .replace("%3A", ":");
        assert_eq!(Digest::sha256_of(&body).to_string(), digest);
        fake.blobs.insert(digest.clone(), body.to_vec());
        return (StatusCode::CREATED, digest_header(&digest), "").into_response();
    }
    let rest = path
        .strip_prefix("/v2/models/fake/")
        .unwrap_or_default()
        .to_owned();
    if let Some(digest) = rest.strip_prefix("blobs/sha256:") {
        let key = format!("sha256:{digest}");
        return match fake.blobs.get(&key) {
            Some(_) => (StatusCode::OK, digest_header(&key), "").into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    if rest == "blobs/uploads/" && method == Method::POST {
        fake.upload_sessions += 1;
        let location = if fake.storage_addr == fake.addr {
            format!("/upload/{}", fake.upload_sessions)
        } else {
            format!(
                "http://{}/upload/{}",
                fake.storage_addr, fake.upload_sessions
            )
        };
        return (StatusCode::ACCEPTED, [(header::LOCATION, location)], "").into_response();
    }
    if let Some(reference) = rest.strip_prefix("manifests/") {
        if method == Method::PUT {
            fake.manifest_puts += 1;
            if !reference.starts_with("sha256:") {
                fake.tag_puts += 1;
            }
            let deny_tag = fake.misbehaviour == Misbehaviour::DenySecondTagOnce
                && !fake.misbehaved
                && fake.tag_puts == 2;
            if fake.misbehaviour == Misbehaviour::DenyManifests || deny_tag {
                fake.misbehaved = true;
                let denied = r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
                return (StatusCode::FORBIDDEN, denied).into_response();
            }
            let digest = Digest::sha256_of(&body).to_string();
            fake.manifests.insert(reference.to_owned(), body.to_vec());
            return (StatusCode::CREATED, digest_header(&digest), "").into_response();
        }
        return match fake.manifests.get(reference) {
            Some(_)
                if method == Method::HEAD && fake.misbehaviour == Misbehaviour::NoDigestOnHead =>
            {
                StatusCode::OK.into_response()
            }
            Some(bytes) if method == Method::GET => {
                let digest = Digest::sha256_of(bytes).to_string();
                (StatusCode::OK, digest_header(&digest), bytes.clone()).into_response()
            }
            Some(bytes) => {
                let digest = Digest::sha256_of(bytes).to_string();
                (StatusCode::OK, digest_header(&digest), "").into_response()
            }
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    (StatusCode::NOT_FOUND, format!("unexpected {method} {path}")).into_response()
}

fn challenge_for(fake: &Fake) -> Response {
    let value = format!(
        "Bearer realm=\"http://{}/token\",service=\"fake\",error=\"invalid_token\"",
        fake.token_addr
    );
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, value)],
        "",
    )
        .into_response()
}

/// A running fake and a client for it.
struct Running {
    state: Shared,
    addr: String,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start(misbehaviour: Misbehaviour) -> Running {
    let elsewhere = misbehaviour == Misbehaviour::RealmAndStorageElsewhere;
    let mut listeners = Vec::new();
    for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        if ip == "127.0.0.1" || elsewhere {
            listeners.push(tokio::net::TcpListener::bind((ip, 0)).await.unwrap());
        }
    }
    let addrs: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    let addr = addrs[0].clone();
    let state: Shared = Arc::new(Mutex::new(Fake {
        addr: addr.clone(),
        token_addr: addrs.get(1).unwrap_or(&addr).clone(),
        storage_addr: addrs.get(2).unwrap_or(&addr).clone(),
        misbehaviour,
        ..Fake::default()
    }));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(state.clone());
    let server = tokio::spawn(async move {
        let serving = listeners
            .into_iter()
            .map(|listener| tokio::spawn(axum::serve(listener, app.clone()).into_future()));
        for served in serving.collect::<Vec<_>>() {
            served.await.unwrap().unwrap();
        }
    });
    Running {
        state,
        addr,
        server,
    }
}

fn client(addr: &str, keychain: Keychain) -> RegistryClient {
    // The fake's other hosts (token realm, storage) are on the same port range of other loopback
    // addresses; name them all.
    let options = HttpOptions {
        plain_http_hosts: vec![
            addr.to_owned(),
            "127.0.0.2".to_owned(),
            "127.0.0.3".to_owned(),
        ],
        ..HttpOptions::default()
    };
    RegistryClient::new(options, keychain)
        .unwrap()
        .with_retry(RetryPolicy::fast(3))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiring_mid_push_is_renewed_once_and_the_upload_repeated() {
    push_through_an_expiring_token(1).await;
    // Several uploads meet the 401 at once: still one renewal, shared by all.
    push_through_an_expiring_token(4).await;
}

async fn push_through_an_expiring_token(jobs: usize) {
    let fake = start(Misbehaviour::ExpireTokenOnFirstUpload).await;
    let dir = tempfile::tempdir().unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 200_000, &[70, 71, 72]);
    let client = client(&fake.addr, Keychain::anonymous());
    let target = Reference::parse(&format!("{}/models/fake:v1", fake.addr)).unwrap();
    let options = PushOptions {
        jobs,
        ..PushOptions::default()
    };
    let report = client.push(&image, &target, &[], &options).await.unwrap();
    assert_eq!(report.blobs_uploaded, 4);
    assert_eq!(report.tags_updated, tags(&["v1"]));

    let state = fake.state.lock().unwrap();
    assert_eq!(state.tokens_issued, 2, "one token, then one renewal");
    assert_eq!(state.blobs.len(), 4);
    assert_eq!(state.manifests["v1"], image.manifest_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_tokens_are_exchanged_by_oauth2_refresh() {
    let fake = start(Misbehaviour::None).await;
    let dir = tempfile::tempdir().unwrap();
    let authfile = dir.path().join("auth.json");
    let json = serde_json::json!({ "auths": { &fake.addr: { "identitytoken": "refresh-xyz" } } });
    std::fs::write(&authfile, json.to_string()).unwrap();
    let keychain = Keychain::from_files(&[authfile]).unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 1000, &[73]);
    let target = Reference::parse(&format!("{}/models/fake:v1", fake.addr)).unwrap();
    client(&fake.addr, keychain)
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(fake.state.lock().unwrap().refresh_grants, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_during_upload_is_retried_from_a_fresh_session() {
    let fake = start(Misbehaviour::UnavailableOnFirstUpload).await;
    let dir = tempfile::tempdir().unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 100_000, &[74, 75]);
    let target = Reference::parse(&format!("{}/models/fake:v1", fake.addr)).unwrap();
    let report = client(&fake.addr, Keychain::anonymous())
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(report.blobs_uploaded, 3);
    let state = fake.state.lock().unwrap();
    assert_eq!(state.upload_sessions, 4, "three blobs, one of them twice");
    assert_eq!(state.manifests["v1"], image.manifest_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_manifest_fails_at_once_with_what_to_do() {
    let fake = start(Misbehaviour::DenyManifests).await;
    let dir = tempfile::tempdir().unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 1000, &[76]);
    let target = Reference::parse(&format!("{}/models/fake:v1", fake.addr)).unwrap();
    let err = client(&fake.addr, Keychain::anonymous())
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    let message = err.to_string();
    assert!(
        message.contains("requested access to the resource is denied")
            && message.contains("permission to push to models/fake"),
        "{message}"
    );
    let state = fake.state.lock().unwrap();
    assert_eq!(state.manifest_puts, 1, "a 403 is not retried");
    assert!(state.manifests.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_tag_is_reported_with_the_tags_set_and_a_rerun_sets_the_rest() {
    let fake = start(Misbehaviour::DenySecondTagOnce).await;
    let dir = tempfile::tempdir().unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 1000, &[77]);
    let target = Reference::parse(&format!("{}/models/fake", fake.addr)).unwrap();
    let client = client(&fake.addr, Keychain::anonymous());
    let all = tags(&["c0ffee", "v2", "latest"]);
    let err = client
        .push(&image, &target, &all, &PushOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    match &err {
        oci::RegistryError::TagsIncomplete(incomplete) => {
            assert_eq!(incomplete.set, tags(&["c0ffee"]));
            assert_eq!(incomplete.not_set, tags(&["v2", "latest"]));
        }
        other => panic!("expected TagsIncomplete, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("setting tag v2 failed")
            && message.contains("tags set: c0ffee")
            && message.contains("tags not set: v2, latest")
            && message.contains("re-run"),
        "{message}"
    );
    {
        let state = fake.state.lock().unwrap();
        let digest = image.digest().to_string();
        assert_eq!(
            state.manifests[&digest],
            image.manifest_bytes(),
            "by digest first"
        );
        assert!(state.manifests.contains_key("c0ffee"));
        assert!(!state.manifests.contains_key("v2") && !state.manifests.contains_key("latest"));
    }

    let report = client
        .push(&image, &target, &all, &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(report.tags_unchanged, tags(&["c0ffee"]));
    assert_eq!(report.tags_updated, tags(&["v2", "latest"]));
    assert_eq!(report.blobs_uploaded, 0);
    let state = fake.state.lock().unwrap();
    for tag in ["c0ffee", "v2", "latest"] {
        assert_eq!(state.manifests[tag], image.manifest_bytes(), "{tag}");
    }
}

/// The registry's credentials go to its token realm (Basic, to get a token) and its token to the
/// registry itself; the object storage that takes the uploads gets neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_to_the_realm_and_tokens_to_the_registry_only() {
    let fake = start(Misbehaviour::RealmAndStorageElsewhere).await;
    let dir = tempfile::tempdir().unwrap();
    let authfile = dir.path().join("auth.json");
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "ci:registry-password",
    );
    let json = serde_json::json!({ "auths": { &fake.addr: { "auth": basic } } });
    std::fs::write(&authfile, json.to_string()).unwrap();
    let keychain = Keychain::from_files(&[authfile]).unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 100_000, &[78, 79]);
    let target = Reference::parse(&format!("{}/models/fake:v1", fake.addr)).unwrap();
    let report = client(&fake.addr, keychain)
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(report.blobs_uploaded, 3);

    let state = fake.state.lock().unwrap();
    let mut by_host: HashMap<&str, usize> = HashMap::new();
    for (host, path, authorization) in &state.seen {
        let authorization = authorization.as_deref().unwrap_or("none");
        *by_host.entry(host.as_str()).or_default() += 1;
        if *host == state.token_addr {
            assert_eq!(authorization, format!("Basic {basic}"), "{path}");
        } else if *host == state.storage_addr {
            assert_eq!(authorization, "none", "storage got credentials at {path}");
        } else {
            assert_eq!(host, &state.addr);
            assert!(
                !authorization.starts_with("Basic"),
                "the registry was sent the password at {path}"
            );
        }
    }
    assert_eq!(
        by_host.len(),
        3,
        "registry, realm and storage all used: {by_host:?}"
    );
    assert_eq!(state.manifests["v1"], image.manifest_bytes());
}

/// A tag is resolved by a manifest `HEAD`, or by a `GET` when the registry leaves the digest out,
/// and compared with the digest pinned for it: the same, moved (naming both), gone, unreachable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_is_resolved_and_compared_with_the_pinned_digest() {
    for misbehaviour in [Misbehaviour::None, Misbehaviour::NoDigestOnHead] {
        let fake = start(misbehaviour).await;
        let dir = tempfile::tempdir().unwrap();
        let image = generated_image(dir.path(), "linux/amd64", 1000, &[81]);
        let tagged = Reference::parse(&format!("{}/models/fake:v1", fake.addr)).unwrap();
        let client = client(&fake.addr, Keychain::anonymous());
        let pushed = client
            .push(&image, &tagged, &[], &PushOptions::default())
            .await
            .unwrap()
            .digest;
        assert_eq!(
            client.resolve(&tagged).await.unwrap(),
            Some(pushed.clone()),
            "{misbehaviour:?}"
        );
        assert_eq!(
            check_tag(&client, &tagged, &pushed).await,
            Ok(TagCheck::Same)
        );
        let pinned = Digest::sha256_of(b"the image built before");
        let moved = check_tag(&client, &tagged, &pinned).await.unwrap_err();
        assert_eq!(
            (moved.tag.as_str(), &moved.now, &moved.pinned),
            ("v1", &pushed, &pinned)
        );
        assert_eq!(moved.repository, format!("{}/models/fake", fake.addr));
        let gone = tagged.with_tag("v9").unwrap();
        assert!(
            matches!(check_tag(&client, &gone, &pushed).await, Ok(TagCheck::Unchecked(why)) if why.contains("no tag v9")),
            "{misbehaviour:?}"
        );
    }
    // Nothing listens there: the check cannot be made, which is not a verdict.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap().to_string();
    drop(closed);
    let tagged = Reference::parse(&format!("{addr}/models/fake:v1")).unwrap();
    let pinned = Digest::sha256_of(b"x");
    assert!(matches!(
        check_tag(&client(&addr, Keychain::anonymous()), &tagged, &pinned).await,
        Ok(TagCheck::Unchecked(_))
    ));
}
