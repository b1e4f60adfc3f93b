//! A TLS registry with basic authentication: credentials from an auth.json, wrong ones refused
//! clearly and leaving no tag behind.

use base64::Engine as _;
use common::HttpOptions;
use oci::{Keychain, Platform, PushOptions, Reference, RegistryClient};
use test_services::Registry;

use crate::support::*;

const USER: &str = "ci-robot";
const PASSWORD: &str = "correct horse battery";

fn client_with_password(
    registry: &Registry,
    dir: &std::path::Path,
    password: &str,
) -> RegistryClient {
    let authfile = dir.join(format!("auth-{}.json", password.len()));
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
    let json = serde_json::json!({ "auths": { registry.host(): { "auth": auth } } });
    std::fs::write(&authfile, json.to_string()).unwrap();
    let options = HttpOptions {
        ca_certs: vec![registry.ca_pem().unwrap().to_owned()],
        ..HttpOptions::default()
    };
    let keychain = Keychain::discover_with_env(Some(&authfile), None, |_| None).unwrap();
    RegistryClient::new(options, keychain).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_registry_with_credentials_from_an_auth_file() {
    let registry = Registry::start_tls_with_auth(USER, PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let image = generated_image(dir.path(), "linux/amd64", 1 << 20, &[60, 61]);
    let target = Reference::parse(&format!("{}/team/model:v1", registry.host())).unwrap();

    // Wrong password: refused with a message that says what to check, and nothing is tagged.
    let wrong = client_with_password(&registry, dir.path(), "wrong password");
    let err = wrong
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    let message = err.to_string();
    assert!(
        message.contains("rejected the credentials") && message.contains(&registry.host()),
        "{message}"
    );
    assert!(!message.contains("wrong password"), "{message}");

    let client = client_with_password(&registry, dir.path(), PASSWORD);
    let missing = client.fetch_manifest(&target).await.unwrap_err();
    assert_eq!(missing.status(), Some(404), "{missing}");

    let report = client
        .push(&image, &target, &[], &PushOptions::default())
        .await
        .unwrap();
    assert_eq!(report.blobs_uploaded, 3);
    let pulled = client
        .pull(&target, &Platform::linux_amd64())
        .await
        .unwrap();
    assert_eq!(pulled.digest(), image.digest());

    // Anonymous: told that no credentials were found.
    let anonymous = RegistryClient::new(
        HttpOptions {
            ca_certs: vec![registry.ca_pem().unwrap().to_owned()],
            ..HttpOptions::default()
        },
        Keychain::anonymous(),
    )
    .unwrap();
    let err = anonymous
        .fetch_manifest(&target)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("none were found"), "{err}");

    // An untrusted certificate is refused unless the CA is given.
    let untrusting = RegistryClient::new(HttpOptions::default(), Keychain::anonymous())
        .unwrap()
        .with_retry(common::RetryPolicy::none());
    let err = untrusting
        .fetch_manifest(&target)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("certificate of") && err.contains("--ca-cert"),
        "{err}"
    );
}
