//! `scripts/demo` end to end: the demo binary runs the whole flow against its own servers (a push
//! to the model source repository through to the version labelled prod) and its report says so.

use std::process::Command;

use serde_json::Value;

#[test]
fn the_demo_runs_the_whole_flow_and_reports_it() {
    let run_dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_demo"))
        .arg("--run-dir")
        .arg(run_dir.path())
        .env_remove("MODELCAR_KEEP")
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the demo failed ({}):\n{stderr}",
        output.status
    );
    // Numbered steps on stderr, the report on stdout and in the run folder.
    for step in ["[ 1/15]", "[10/15] Running model-release", "[15/15]"] {
        assert!(stderr.contains(step), "no {step:?} in:\n{stderr}");
    }
    assert_eq!(
        std::fs::read_to_string(run_dir.path().join("report.txt")).unwrap(),
        stdout
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(run_dir.path().join("report.json")).unwrap())
            .unwrap();

    // The ModelCar the registry holds under the version is the one built, on a base with a shell.
    let digest = report["image"]["digest"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{report:#}");
    assert_eq!(report["image"]["tag_names"], digest);
    assert!(
        report["image"]["base"]
            .as_str()
            .unwrap()
            .contains("/mirror/busybox:"),
        "{report:#}"
    );
    let version = report["version"].as_str().unwrap();
    assert_eq!(version, report["source"]["commit"]);
    assert_eq!(version.len(), 40, "the pushed commit id: {version}");
    // The promotion was merged, and the GitOps history shows the test bump, the promotion and the
    // merge.
    assert_eq!(report["pull_request"]["merged"], true, "{report:#}");
    let messages: Vec<&str> = report["gitops"]["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["message"].as_str().unwrap())
        .collect();
    for wanted in ["to test", "to prod", "Merge pull request"] {
        assert!(
            messages.iter().any(|m| m.contains(wanted)),
            "no commit {wanted:?}: {messages:?}"
        );
    }
    // The Model Registry labels the version test and prod, prod by the post-deploy run.
    assert_eq!(
        report["model_registry"]["labels"],
        serde_json::json!(["prod", "test"])
    );
    let records = &report["model_registry"]["records"];
    assert_eq!(
        records["deployed.prod.pipeline_run"],
        report["pipeline_runs"]["post_deploy"]
    );
    assert!(
        records["deployed.prod.image"]
            .as_str()
            .unwrap()
            .ends_with(&format!("@{digest}")),
        "{records:#}"
    );
    // model-trace finds no drift in test or prod; the cluster is not checked here.
    for trace in report["traces"].as_array().unwrap() {
        assert_eq!(trace["exit"], 0, "{}", trace["table"]);
        assert_eq!(trace["drift"], "false", "{}", trace["table"]);
    }
    assert!(stdout.contains("registry labels  jukebox"), "{stdout}");
    assert!(
        stdout.contains("trace prod       exit 0, DRIFT=false"),
        "{stdout}"
    );
    assert!(stdout.contains("cluster          not checked"), "{stdout}");
}
