//! A token that expires in the middle of a push. Debian's registry does not issue tokens, so a
//! small fake does: it speaks the distribution API for pushes, issues bearer tokens, and revokes
//! the first one the moment the first blob upload arrives (answering that upload 401).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use common::HttpOptions;
use oci::{Digest, Keychain, PushOptions, Reference, RegistryClient};

use crate::support::*;

#[derive(Default)]
struct Fake {
    addr: String,
    tokens_issued: u32,
    /// The only token accepted (earlier ones are revoked).
    valid: Option<String>,
    revoked_once: bool,
    unauthorized: u32,
    blobs: HashMap<String, Vec<u8>>,
    manifests: HashMap<String, Vec<u8>>,
    next_upload: u32,
}

type Shared = Arc<Mutex<Fake>>;

fn challenge(fake: &mut Fake) -> Response {
    fake.unauthorized += 1;
    let value = format!(
        "Bearer realm=\"http://{}/token\",service=\"fake\",error=\"invalid_token\"",
        fake.addr
    );
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, value)],
        "",
    )
        .into_response()
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
    if path == "/token" {
        let query = uri.query().unwrap_or_default();
        assert!(
            query.contains("scope=repository%3Amodels%2Ffake%3Apull%2Cpush"),
            "{query}"
        );
        fake.tokens_issued += 1;
        let token = format!("token-{}", fake.tokens_issued);
        fake.valid = Some(token.clone());
        // Docker's token servers answer `token`; OAuth2 ones `access_token`.
        return axum::Json(serde_json::json!({ "access_token": token, "expires_in": 60 }))
            .into_response();
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    if presented.is_none() || presented != fake.valid {
        return challenge(&mut fake);
    }
    let digest_header = |digest: &str| [("docker-content-digest", digest.to_owned())];
    if let Some(id) = path.strip_prefix("/upload/") {
        assert_eq!(method, Method::PUT, "{id}");
        if !fake.revoked_once {
            // The token "expires" now: this upload and every later use of it are refused.
            fake.revoked_once = true;
            fake.valid = None;
            return challenge(&mut fake);
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
        fake.next_upload += 1;
        let location = format!("/upload/{}", fake.next_upload);
        return (StatusCode::ACCEPTED, [(header::LOCATION, location)], "").into_response();
    }
    if let Some(reference) = rest.strip_prefix("manifests/") {
        if method == Method::PUT {
            let digest = Digest::sha256_of(&body).to_string();
            fake.manifests.insert(reference.to_owned(), body.to_vec());
            return (StatusCode::CREATED, digest_header(&digest), "").into_response();
        }
        return match fake.manifests.get(reference) {
            Some(bytes) => {
                let digest = Digest::sha256_of(bytes).to_string();
                (StatusCode::OK, digest_header(&digest), "").into_response()
            }
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    (StatusCode::NOT_FOUND, format!("unexpected {method} {path}")).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiring_mid_push_is_renewed_once_and_the_upload_repeated() {
    push_through_an_expiring_token(1).await;
    // Several uploads meet the 401 at once: still one renewal, shared by all.
    push_through_an_expiring_token(4).await;
}

async fn push_through_an_expiring_token(jobs: usize) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let state: Shared = Arc::new(Mutex::new(Fake {
        addr: addr.clone(),
        ..Fake::default()
    }));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 200_000, &[70, 71, 72]);
    let options = HttpOptions {
        plain_http_hosts: vec![addr.clone()],
        ..HttpOptions::default()
    };
    let client = RegistryClient::new(options, Keychain::anonymous()).unwrap();
    let target = Reference::parse(&format!("{addr}/models/fake:v1")).unwrap();
    let report = client
        .push(
            &image,
            &target,
            &[],
            &PushOptions {
                jobs,
                ..PushOptions::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(report.blobs_uploaded, 4);
    assert_eq!(report.tags_updated, tags(&["v1"]));

    let fake = state.lock().unwrap();
    assert_eq!(fake.tokens_issued, 2, "one token, then one renewal");
    assert_eq!(fake.blobs.len(), 4);
    assert_eq!(fake.manifests["v1"], image.manifest_bytes());
    drop(fake);
    server.abort();
}
