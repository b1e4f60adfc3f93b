//! Kubeflow Model Registry on MariaDB and on PostgreSQL: registered models and versions through the
//! v1alpha3 REST API, and what it answers for what does not exist.

use std::time::Instant;

use serde_json::json;
use test_services::{
    MariaDb, ModelRegistry, Postgres, RegistryDatabase, accepts_connections, live_members,
};

#[test]
fn registered_model_and_version_are_created_and_read_back() {
    let started = Instant::now();
    let registry = ModelRegistry::start();
    eprintln!("model registry ready after {:?}", started.elapsed());

    let empty = registry
        .api("GET", "/registered_models", None)
        .expect_success("list registered models");
    assert_eq!(empty["size"], 0, "{empty}");

    let model = registry
        .api(
            "POST",
            "/registered_models",
            Some(&json!({"name": "jukebox", "description": "a test model"})),
        )
        .expect_success("create a registered model");
    let model_id = model["id"].as_str().expect("ids are strings").to_string();
    assert_eq!(model["name"], "jukebox");
    assert_eq!(model["state"], "LIVE", "{model}");

    let version = registry
        .api(
            "POST",
            "/model_versions",
            Some(&json!({
                "name": "v1",
                "registeredModelId": model_id,
                "author": "pipeline",
                "customProperties": {
                    "test": {"metadataType": "MetadataStringValue", "string_value": ""},
                },
            })),
        )
        .expect_success("create a model version");
    let version_id = version["id"].as_str().expect("ids are strings").to_string();
    assert_eq!(version["registeredModelId"], model_id.as_str());

    let read = registry
        .api("GET", &format!("/registered_models/{model_id}"), None)
        .expect_success("read the registered model");
    assert_eq!(read["name"], "jukebox");
    let by_name = registry
        .api("GET", "/registered_model?name=jukebox", None)
        .expect_success("find the registered model by name");
    assert_eq!(by_name["id"], model_id.as_str());
    let versions = registry
        .api(
            "GET",
            &format!("/registered_models/{model_id}/versions"),
            None,
        )
        .expect_success("list the versions");
    assert_eq!(versions["size"], 1, "{versions}");
    let found = registry
        .api(
            "GET",
            &format!("/model_version?name=v1&parentResourceId={model_id}"),
            None,
        )
        .expect_success("find the version by name");
    assert_eq!(found["id"], version_id.as_str());
    assert_eq!(
        found["customProperties"]["test"]["metadataType"],
        "MetadataStringValue"
    );

    // PATCH with customProperties replaces the whole map.
    let patched = registry
        .api(
            "PATCH",
            &format!("/model_versions/{version_id}"),
            Some(&json!({"customProperties": {
                "prod": {"metadataType": "MetadataStringValue", "string_value": ""},
            }})),
        )
        .expect_success("label the version");
    assert!(
        patched["customProperties"].get("test").is_none(),
        "{patched}"
    );
    assert!(
        patched["customProperties"].get("prod").is_some(),
        "{patched}"
    );

    // What does not exist.
    let unknown_model = registry.api("GET", "/registered_models/999999", None);
    eprintln!("GET /registered_models/999999: {unknown_model:?}");
    assert_eq!(unknown_model.status, 404);
    let unknown_name = registry.api("GET", "/registered_model?name=no-such-model", None);
    eprintln!("GET /registered_model?name=no-such-model: {unknown_name:?}");
    assert_eq!(unknown_name.status, 404);
    let unknown_version = registry.api("GET", "/model_versions/999999", None);
    eprintln!("GET /model_versions/999999: {unknown_version:?}");
    assert_eq!(unknown_version.status, 404);
    let unknown_version_name = registry.api(
        "GET",
        &format!("/model_version?name=v9&parentResourceId={model_id}"),
        None,
    );
    eprintln!("GET /model_version?name=v9&parentResourceId=..: {unknown_version_name:?}");
    assert_eq!(unknown_version_name.status, 404);
    let without_parent = registry.api("GET", "/model_version?name=v1", None);
    eprintln!("GET /model_version?name=v1 (no parentResourceId): {without_parent:?}");
    let duplicate = registry.api(
        "POST",
        "/registered_models",
        Some(&json!({"name": "jukebox"})),
    );
    eprintln!("POST a duplicate registered model: {duplicate:?}");
    assert_eq!(duplicate.status, 409, "{duplicate:?}");

    let group = registry.process_group();
    let database_port = match registry.database() {
        RegistryDatabase::MariaDb(mariadb) => mariadb.port(),
        RegistryDatabase::Postgres(postgres) => postgres.port(),
    };
    drop(registry);
    assert_eq!(live_members(group), 0, "the registry stops on drop");
    assert!(
        !accepts_connections(([127, 0, 0, 1], database_port).into()),
        "its database too"
    );
}

/// The pinned v0.3.0 on PostgreSQL: what works, and the joined lookups that answer 500 (its
/// unquoted table names). When a newer pin fixes them, this test says so.
#[test]
fn on_postgres_creates_and_reads_by_id_but_joined_lookups_fail() {
    let registry = ModelRegistry::start_on_postgres();
    let model = registry
        .api(
            "POST",
            "/registered_models",
            Some(&json!({"name": "jukebox"})),
        )
        .expect_success("create a registered model");
    let model_id = model["id"].as_str().unwrap().to_string();
    let version = registry
        .api(
            "POST",
            "/model_versions",
            Some(&json!({"name": "v1", "registeredModelId": model_id})),
        )
        .expect_success("create a model version");
    let version_id = version["id"].as_str().unwrap();
    registry
        .api("GET", &format!("/model_versions/{version_id}"), None)
        .expect_success("read the version by id");
    registry
        .api("GET", "/registered_model?name=jukebox", None)
        .expect_success("find the model by name");

    let versions = registry.api(
        "GET",
        &format!("/registered_models/{model_id}/versions"),
        None,
    );
    eprintln!("on PostgreSQL, GET /registered_models/{{id}}/versions: {versions:?}");
    assert_eq!(
        versions.status, 500,
        "fixed? then prefer PostgreSQL: {versions:?}"
    );
    assert!(
        versions
            .body
            .to_string()
            .contains("relation \\\"parentcontext\\\" does not exist"),
        "{versions:?}"
    );
}

#[test]
fn mariadb_runs_on_loopback_with_its_own_data_directory() {
    let mariadb = MariaDb::start(&["scratch"]);
    let answer = mariadb.sql("scratch", "SELECT DATABASE(), VERSION()");
    assert!(answer.starts_with("scratch\t10."), "{answer}");
    assert!(mariadb.dsn("scratch").contains(&mariadb.port().to_string()));
}

#[test]
fn postgres_runs_on_loopback_with_its_own_cluster() {
    let postgres = Postgres::start();
    postgres.create_database("scratch");
    let answer = postgres.psql("scratch", "SELECT current_database(), current_user");
    assert_eq!(answer.trim(), format!("scratch|{}", postgres.user()));
    assert!(
        postgres
            .dsn("scratch")
            .contains(&postgres.port().to_string())
    );
}
