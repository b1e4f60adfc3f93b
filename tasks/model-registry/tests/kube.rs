//! Waiting for KServe against the fake Kubernetes API (tests/fakes).

use std::time::{Duration, Instant};

use common::Secret;
use model_registry::kube::{KubeClient, KubeError, ReadyWait, wait_ready};
use test_fakes::kube::{FakeKube, ReadyAfter};

fn client(fake: &FakeKube, token: &str) -> KubeClient {
    let api = KubeClient::api_url(Some(&fake.url())).unwrap();
    KubeClient::new(
        api,
        Some(Secret::new(token)),
        common::HttpOptions {
            plain_http_hosts: vec!["127.0.0.1".into()],
            ..Default::default()
        }
        .client()
        .unwrap(),
    )
}

fn wait(name: &str, version: &str, timeout: Duration) -> ReadyWait {
    ReadyWait {
        namespace: "user1-prod".into(),
        name: name.into(),
        expect: vec![version.into()],
        timeout,
        poll: Duration::from_millis(50),
    }
}

#[tokio::test]
async fn ready_after_a_delay_is_waited_for() {
    let fake = FakeKube::start(
        "user1-prod",
        "jukebox",
        "oci://quay.io/rhoai/jukebox:a1b2c3d4e5",
        ReadyAfter::Delay(Duration::from_millis(600)),
    );
    let started = Instant::now();
    let state = wait_ready(
        &client(&fake, fake.token()),
        &wait("jukebox", "a1b2c3d4e5", Duration::from_secs(20)),
    )
    .await
    .unwrap();
    assert!(state.ready);
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(fake.gets() > 1);
}

#[tokio::test]
async fn a_rollout_to_the_version_is_waited_for() {
    let fake = FakeKube::start(
        "user1-prod",
        "jukebox",
        "oci://quay.io/rhoai/jukebox:old",
        ReadyAfter::Requests(1),
    );
    let client = client(&fake, fake.token());
    let target = wait("jukebox", "a1b2c3d4e5", Duration::from_secs(20));
    let waiting = wait_ready(&client, &target);
    let roll_out = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        fake.set_storage_uri("oci://quay.io/rhoai/jukebox:a1b2c3d4e5");
    };
    let (state, ()) = tokio::join!(waiting, roll_out);
    assert_eq!(
        state.unwrap().storage_uri.as_deref(),
        Some("oci://quay.io/rhoai/jukebox:a1b2c3d4e5")
    );
}

#[tokio::test]
async fn a_missing_service_times_out_and_a_refused_token_fails_at_once() {
    let fake = FakeKube::start(
        "user1-prod",
        "jukebox",
        "oci://x/jukebox:a1",
        ReadyAfter::Requests(1),
    );
    let error = wait_ready(
        &client(&fake, fake.token()),
        &wait("radio", "a1", Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, KubeError::Timeout { .. }), "{error}");
    assert!(error.to_string().contains("does not exist"), "{error}");

    let started = Instant::now();
    let error = wait_ready(
        &client(&fake, "wrong"),
        &wait("jukebox", "a1", Duration::from_secs(20)),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, KubeError::Unauthorized { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("did not accept the token (401: Unauthorized)"),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_cluster_without_kserve_fails_at_once() {
    let fake = FakeKube::start(
        "user1-prod",
        "jukebox",
        "oci://x/jukebox:a1",
        ReadyAfter::Requests(1),
    );
    fake.set_kserve_served(false);
    let started = Instant::now();
    let error = wait_ready(
        &client(&fake, fake.token()),
        &wait("jukebox", "a1", Duration::from_secs(20)),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, KubeError::NotServed { .. }), "{error}");
    assert!(
        error.to_string().contains("404: 404 page not found"),
        "{error}"
    );
    assert!(error.to_string().contains("is KServe installed"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
