//! The comparisons, on reports built by hand: every layer agreeing, then one disagreement at a time.

use std::collections::BTreeMap;

use super::*;
use crate::report::{CommitFacts, Layer, PullRequestFacts, Status};

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

const REPO: &str = "127.0.0.1:5000/team/jukebox";
const V2: &str = "b2b2b2b2b2";

fn commit(id: &str) -> CommitFacts {
    CommitFacts {
        commit: id.repeat(40 / id.len()),
        author: "Carol <carol@example.invalid>".into(),
        time: "2026-01-12T10:15:00Z".into(),
        summary: "Promote".into(),
    }
}

/// jukebox in prod, every layer agreeing on V2 at digest `a…`.
fn agreeing() -> Report {
    let git = GitopsFacts {
        repo_url: "http://127.0.0.1:1/git/gitops.git".into(),
        branch: "main".into(),
        file: "model-deployments/prod/jukebox/config.yaml".into(),
        tip: "f".repeat(40),
        name: "jukebox".into(),
        version: V2.into(),
        image_digest: Some(digest('a')),
        image: Some(REPO.into()),
        set_by: Some(commit("c")),
        previous_version: Some("a1a1a1a1a1".into()),
        previous_set_by: Some(commit("b")),
    };
    let image = ImageFacts {
        repository: REPO.into(),
        tag: V2.into(),
        tag_digest: Some(digest('a')),
        pinned_digest: Some(digest('a')),
        pinned_found: Some(true),
        read_digest: Some(digest('a')),
        created: Some("2026-01-12T09:00:00Z".into()),
        revision: Some(format!("{V2}0000000000000000000000000000000")),
        source: Some("https://git.example/team/jukebox.git".into()),
        labels: BTreeMap::new(),
    };
    let source = SourceFacts {
        commit: image.revision.clone(),
        repository: image.source.clone(),
        recorded_commit: Some(V2.into()),
        recorded_repository: image.source.clone(),
    };
    let registry = RegistryFacts {
        registry: "Kubeflow Model Registry at http://127.0.0.1:2".into(),
        model: "jukebox".into(),
        version: V2.into(),
        version_id: Some("3".into()),
        labels: vec!["prod".into(), "test".into()],
        deployed: BTreeMap::from([(
            "deployed.prod.image".to_owned(),
            format!("{REPO}:{V2}@{}", digest('a')),
        )]),
        artifact_uri: Some(format!("oci://{REPO}@{}", digest('a'))),
        env_versions: vec![V2.into()],
    };
    let promotion = PromotionFacts {
        branch: "promote/prod/jukebox".into(),
        base: "main".into(),
        pull_request: None,
        rollback: None,
    };
    let cluster = ClusterFacts {
        namespace: "prod".into(),
        name: "jukebox".into(),
        exists: true,
        ready: true,
        reason: None,
        storage_uri: Some(format!("oci://{REPO}@{}", digest('a'))),
        digest: Some(digest('a')),
    };
    let mut report = Report {
        model: "jukebox".into(),
        env: "prod".into(),
        drift: false,
        gitops: Layer::read(git),
        image: Layer::read(image),
        source: Layer::read(source),
        model_registry: Layer::read(registry),
        promotion: Layer::read(promotion),
        cluster: Layer::read(cluster),
        findings: Vec::new(),
    };
    report.findings = findings(&report);
    report.settle();
    report
}

/// The codes found after `change`, with the report settled.
fn codes_after(change: impl FnOnce(&mut Report)) -> (Vec<&'static str>, Report) {
    let mut report = agreeing();
    change(&mut report);
    report.findings = findings(&report);
    report.settle();
    (report.findings.iter().map(|f| f.code).collect(), report)
}

#[test]
fn everything_agreeing_is_no_drift() {
    let report = agreeing();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert!(!report.drift);
    assert_eq!(report.cluster.status, Status::Ok);
    let table = crate::table::render(&report);
    for needle in [
        "gitops",
        "image",
        "source",
        "model registry",
        "promotion",
        "cluster",
        "No drift",
    ] {
        assert!(table.contains(needle), "{needle}:\n{table}");
    }
}

#[test]
fn a_moved_tag_names_the_tag_and_both_digests() {
    let (codes, report) = codes_after(|r| {
        r.image.facts.as_mut().unwrap().tag_digest = Some(digest('b'));
    });
    assert_eq!(codes, ["tag_moved"]);
    let message = &report.findings[0].message;
    for needle in [&format!("{REPO}:{V2}"), &digest('a'), &digest('b')] {
        assert!(message.contains(needle.as_str()), "{needle}: {message}");
    }
    assert!(report.drift);
    assert_eq!(report.image.status, Status::Drift);
    assert_eq!(report.gitops.status, Status::Ok);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["image"]["status"], "drift");
    assert_eq!(json["image"]["tag_digest"], digest('b'));
    assert_eq!(json["findings"][0]["layer"], "image");
}

#[test]
fn a_missing_tag_and_a_missing_pinned_image() {
    let (codes, _) = codes_after(|r| {
        let image = r.image.facts.as_mut().unwrap();
        image.tag_digest = None;
        image.pinned_found = Some(false);
    });
    assert_eq!(codes, ["tag_missing", "digest_missing"]);
}

#[test]
fn the_source_commit_against_the_registrys_record() {
    let (codes, report) = codes_after(|r| {
        r.source.facts.as_mut().unwrap().recorded_commit = Some("0123456789".into());
    });
    assert_eq!(codes, ["source_commit"]);
    assert!(report.findings[0].message.contains("0123456789"));
    assert!(same_commit("abc123", "ABC123def"));
    assert!(!same_commit("", "abc"));
}

#[test]
fn the_registry_labels_another_version() {
    let (codes, report) = codes_after(|r| {
        let registry = r.model_registry.facts.as_mut().unwrap();
        registry.labels = vec!["test".into()];
        registry.env_versions = vec!["a1a1a1a1a1".into()];
    });
    assert_eq!(codes, ["registry_label"]);
    let message = &report.findings[0].message;
    assert!(
        message.contains("a1a1a1a1a1") && message.contains(V2),
        "{message}"
    );
    assert_eq!(report.model_registry.status, Status::Drift);

    let (codes, _) = codes_after(|r| {
        let registry = r.model_registry.facts.as_mut().unwrap();
        registry.labels = vec![];
        registry.env_versions = vec![];
    });
    assert_eq!(codes, ["registry_label"]);
    let (codes, _) = codes_after(|r| {
        r.model_registry.facts.as_mut().unwrap().version_id = None;
    });
    assert_eq!(codes, ["registry_version_missing"]);
}

#[test]
fn the_registry_records_another_image() {
    let (codes, _) = codes_after(|r| {
        let registry = r.model_registry.facts.as_mut().unwrap();
        registry.artifact_uri = Some(format!("oci://{REPO}@{}", digest('c')));
        registry.deployed.insert(
            "deployed.prod.image".into(),
            format!("{REPO}:{V2}@{}", digest('c')),
        );
    });
    assert_eq!(codes, ["registry_artifact", "registry_image"]);
}

#[test]
fn the_cluster_serves_another_digest_or_is_not_ready() {
    let (codes, report) = codes_after(|r| {
        let cluster = r.cluster.facts.as_mut().unwrap();
        cluster.digest = Some(digest('d'));
        cluster.storage_uri = Some(format!("oci://{REPO}@{}", digest('d')));
    });
    assert_eq!(codes, ["cluster_digest"]);
    let message = &report.findings[0].message;
    assert!(
        message.contains(&digest('d')) && message.contains(&digest('a')),
        "{message}"
    );

    let (codes, report) = codes_after(|r| {
        let cluster = r.cluster.facts.as_mut().unwrap();
        cluster.ready = false;
        cluster.reason = Some("Revision \"jukebox-00002\" is not ready.".into());
    });
    assert_eq!(codes, ["cluster_not_ready"]);
    assert!(report.findings[0].message.contains("jukebox-00002"));

    let (codes, _) = codes_after(|r| r.cluster.facts.as_mut().unwrap().exists = false);
    assert_eq!(codes, ["cluster_missing"]);

    // By tag: the version's tag agrees, another does not.
    let (codes, _) = codes_after(|r| {
        let cluster = r.cluster.facts.as_mut().unwrap();
        cluster.digest = None;
        cluster.storage_uri = Some(format!("oci://{REPO}:{V2}"));
    });
    assert!(codes.is_empty(), "{codes:?}");
    let (codes, _) = codes_after(|r| {
        let cluster = r.cluster.facts.as_mut().unwrap();
        cluster.digest = None;
        cluster.storage_uri = Some(format!("oci://{REPO}:{V2}0"));
    });
    assert_eq!(codes, ["cluster_version"]);
}

fn with_pull_request(change: impl FnOnce(&mut PullRequestFacts)) -> (Vec<&'static str>, Report) {
    codes_after(|r| {
        let mut pr = PullRequestFacts {
            branch: "promote/prod/jukebox".into(),
            number: 7,
            url: "http://forge/pulls/7".into(),
            title: "Promote jukebox c3c3c3c3c3 to prod".into(),
            version: Some("c3c3c3c3c3".into()),
            image_digest: Some(digest('e')),
            behind: 0,
            ahead: 1,
            ran_before: None,
            image_created: Some("2026-01-12T11:00:00Z".into()),
            rolled_back_from: None,
        };
        change(&mut pr);
        r.promotion.facts.as_mut().unwrap().pull_request = Some(pr);
    })
}

#[test]
fn promotion_pull_requests_that_are_stale() {
    let (codes, _) = with_pull_request(|_| {});
    assert!(
        codes.is_empty(),
        "a newer version, branch current: {codes:?}"
    );

    let (codes, report) = with_pull_request(|pr| pr.version = Some(V2.into()));
    assert_eq!(codes, ["promotion_stale"]);
    assert!(report.findings[0].message.contains("already runs"));

    let (codes, report) = with_pull_request(|pr| {
        pr.version = Some("a1a1a1a1a1".into());
        pr.ran_before = Some(commit("b"));
    });
    assert_eq!(codes, ["promotion_stale"]);
    assert!(report.findings[0].message.contains("ran a1a1a1a1a1 before"));

    let (codes, report) =
        with_pull_request(|pr| pr.image_created = Some("2026-01-11T08:00:00Z".into()));
    assert_eq!(codes, ["promotion_stale"]);
    assert!(report.findings[0].message.contains("2026-01-11T08:00:00Z"));

    let (codes, report) = with_pull_request(|pr| pr.behind = 3);
    assert_eq!(codes, ["promotion_behind"]);
    assert!(
        report.findings[0]
            .message
            .contains("3 commit(s) behind main")
    );
    assert_eq!(report.promotion.status, Status::Drift);
}

#[test]
fn a_rollback_pull_request_goes_back_on_purpose() {
    let rollback = |pr: &mut PullRequestFacts| {
        pr.branch = "rollback/prod/jukebox".into();
        pr.version = Some("a1a1a1a1a1".into());
        pr.ran_before = Some(commit("b"));
        pr.image_created = Some("2026-01-11T08:00:00Z".into());
        pr.rolled_back_from = Some(V2.into());
    };
    let (codes, report) = with_pull_request(rollback);
    assert!(codes.is_empty(), "an older version is the point: {codes:?}");
    let table = crate::table::render(&report);
    assert!(
        table.contains(&format!("a1a1a1a1a1 (back from {V2})")),
        "{table}"
    );

    // Once the environment runs the version again, the pull request is stale like any other.
    let (codes, report) = with_pull_request(|pr| {
        rollback(pr);
        pr.version = Some(V2.into());
        pr.behind = 1;
    });
    assert_eq!(codes, ["promotion_stale", "promotion_behind"]);
    assert!(
        report.findings[0]
            .message
            .starts_with("rollback pull request #7"),
        "{}",
        report.findings[0].message
    );
    assert!(report.findings[1].message.contains("re-run the rollback"));
}

#[test]
fn layers_not_read_are_not_compared() {
    let (codes, report) = codes_after(|r| {
        r.model_registry = Layer::not_checked("give the registry");
        r.cluster = Layer::error("the API refused");
        r.image.facts.as_mut().unwrap().tag_digest = Some(digest('b'));
    });
    assert_eq!(codes, ["tag_moved"]);
    assert_eq!(report.model_registry.status, Status::NotChecked);
    assert_eq!(report.errors().len(), 1);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["model_registry"]["status"], "not_checked");
    assert_eq!(json["model_registry"]["note"], "give the registry");
    assert_eq!(json["cluster"]["status"], "error");
    let table = crate::table::render(&report);
    assert!(
        table.contains("not checked") && table.contains("give the registry"),
        "{table}"
    );
    assert!(table.contains("FINDINGS (1)"), "{table}");
}

#[test]
fn digests_in_references_and_times() {
    let d = digest('a');
    assert_eq!(digest_in(&format!("oci://{REPO}@{d}")), Some(d.as_str()));
    assert_eq!(digest_in(&format!("{REPO}:v1@{d}")), Some(d.as_str()));
    assert_eq!(digest_in("oci://r/j:v1"), None);
    assert_eq!(digest_in("oci://r/j@sha256:abc"), None);
    assert!(utc_seconds("2026-01-11T08:00:00Z") < utc_seconds("2026-01-12T07:00:00.5Z"));
    assert_eq!(utc_seconds("yesterday"), None);
}
