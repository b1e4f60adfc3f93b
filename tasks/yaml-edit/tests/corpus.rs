//! Real-world file shapes: each edit must change only the bytes of the value (or add only the
//! new lines). Expected outputs are written out here, not computed by the code under test.

use yaml_edit::{Change, Document, EditError};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// `input` with the single occurrence of `old` replaced by `new`.
fn splice(input: &str, old: &str, new: &str) -> String {
    assert_eq!(
        input.matches(old).count(),
        1,
        "fragment {old:?} must occur exactly once"
    );
    input.replacen(old, new, 1)
}

fn set(text: &str, path: &[&str], value: &str) -> (String, Change) {
    let mut doc = Document::parse(text).unwrap();
    let change = doc.set(path, value).unwrap();
    (doc.into_string(), change)
}

#[test]
fn workshop_config_replaces_each_key_in_place() {
    let input = fixture("workshop-config.yaml");
    let cases: [(&str, &str, &str, &str); 5] = [
        ("version", "v2", "version: \"v1\"\n", "version: \"v2\"\n"),
        (
            "name",
            "jukebox-ui",
            "name: jukebox\n",
            "name: jukebox-ui\n",
        ),
        (
            "chart_path",
            "charts/serving",
            "chart_path: charts/model-deployment   #",
            "chart_path: charts/serving   #",
        ),
        (
            "image_repository",
            "quay.io/acme",
            "image_repository: image-registry.openshift-image-registry.svc:5000\n",
            "image_repository: quay.io/acme\n",
        ),
        (
            "image_namespace",
            "user2-mlops",
            "image_namespace: 'user1-mlops' # 👈",
            "image_namespace: 'user2-mlops' # 👈",
        ),
    ];
    for (key, value, old, new) in cases {
        let (out, change) = set(&input, &[key], value);
        assert!(
            matches!(change, Change::Replaced { .. }),
            "{key}: {change:?}"
        );
        assert_eq!(out, splice(&input, old, new), "{key}");
    }
}

#[test]
fn workshop_config_adds_key_before_blank_line_and_document_end() {
    let input = fixture("workshop-config.yaml");
    let (out, change) = set(&input, &["model_format"], "onnx");
    assert_eq!(change, Change::Added);
    let expected = splice(
        &input,
        "# 👈 namespace holding the ModelCar\n",
        "# 👈 namespace holding the ModelCar\nmodel_format: onnx\n",
    );
    assert_eq!(out, expected);
    assert!(out.ends_with("model_format: onnx\n\n...\n"));
}

#[test]
fn workshop_template_is_filled_after_its_marker() {
    let input = fixture("workshop-empty.yaml");
    let mut doc = Document::parse(&input).unwrap();
    assert!(doc.is_empty());
    for (key, value) in [
        ("chart_path", "charts/model-deployment"),
        ("name", "jukebox"),
        ("version", "1234567"),
        (
            "image_repository",
            "image-registry.openshift-image-registry.svc:5000",
        ),
        ("image_namespace", "user1-mlops"),
    ] {
        assert_eq!(doc.set(&[key], value).unwrap(), Change::Added, "{key}");
    }
    assert!(!doc.is_empty());
    assert_eq!(
        doc.as_str(),
        "---\nchart_path: charts/model-deployment\nname: jukebox\nversion: \"1234567\"\n\
         image_repository: image-registry.openshift-image-registry.svc:5000\nimage_namespace: user1-mlops\n"
    );
    assert_eq!(doc.get(&["version"]).unwrap().as_deref(), Some("1234567"));
}

#[test]
fn empty_inputs_are_recognised_and_filled() {
    for (input, expected) in [
        ("", "name: jukebox\n"),
        ("---", "---\nname: jukebox\n"),
        ("# only a comment\n", "# only a comment\nname: jukebox\n"),
        ("---\n...\n", "---\nname: jukebox\n...\n"),
        (
            "--- # managed by gitops-bump\r\n",
            "--- # managed by gitops-bump\r\nname: jukebox\r\n",
        ),
    ] {
        let mut doc = Document::parse(input).unwrap();
        assert!(doc.is_empty(), "{input:?}");
        assert_eq!(doc.set(&["name"], "jukebox").unwrap(), Change::Added);
        assert_eq!(doc.as_str(), expected, "{input:?}");
    }
    assert!(!Document::parse("a: 1\n").unwrap().is_empty());
    assert!(!Document::parse("--- ~\n").unwrap().is_empty());
}

#[test]
fn crlf_and_emoji_survive_edits() {
    let input = fixture("crlf-emoji.yaml");
    assert!(input.contains("\r\n"));
    let mut doc = Document::parse(&input).unwrap();
    doc.set(&["version"], "0.0.2").unwrap();
    doc.set(&["image", "tag"], "v0.0.2").unwrap();
    assert_eq!(
        doc.set(&["image", "digest"], "sha256:0a1b").unwrap(),
        Change::Added
    );
    assert_eq!(
        doc.set(&["model", "format"], "onnx").unwrap(),
        Change::Added
    );
    let mut expected = splice(&input, "version: \"0.0.1\"\r\n", "version: \"0.0.2\"\r\n");
    expected = splice(
        &expected,
        "  tag: v0.0.1\r\n",
        "  tag: v0.0.2\r\n  digest: sha256:0a1b\r\n",
    );
    expected.push_str("model:\r\n  format: onnx\r\n");
    assert_eq!(doc.as_str(), expected);
    assert!(doc.as_str().contains("# version of the model 🎶\r\n"));
}

#[test]
fn helm_values_keep_quote_styles_and_flow_maps() {
    let input = fixture("helm-values.yaml");
    let mut doc = Document::parse(&input).unwrap();
    let mut expected = input.clone();

    assert_eq!(
        doc.set(&["image", "tag"], "1234567").unwrap(),
        Change::Replaced { old: String::new() }
    );
    expected = splice(&expected, "  tag: \"\"\n", "  tag: \"1234567\"\n");

    doc.set(&["podAnnotations", "prometheus.io/port"], "9'090")
        .unwrap();
    expected = splice(
        &expected,
        "prometheus.io/port: '8080'}",
        "prometheus.io/port: '9''090'}",
    );

    assert_eq!(
        doc.set(&["podAnnotations", "owner"], "mlops").unwrap(),
        Change::Added
    );
    expected = splice(&expected, "'9''090'}", "'9''090', owner: mlops}");

    assert_eq!(
        doc.set(&["serviceAccount", "annotations", "team"], "ml, ops")
            .unwrap(),
        Change::Added
    );
    expected = splice(
        &expected,
        "  annotations: {}\n",
        "  annotations: {team: \"ml, ops\"}\n",
    );

    doc.set(&["resources", "requests", "cpu"], "250m").unwrap();
    expected = splice(
        &expected,
        "  requests: &requests\n    cpu: 100m\n",
        "  requests: &requests\n    cpu: 250m\n",
    );

    doc.set(&["model", "storageUri"], "oci://quay.io/acme/modelcar:v2")
        .unwrap();
    expected = splice(&expected, "modelcar:v1 # the", "modelcar:v2 # the");

    assert_eq!(
        doc.set(&["model", "runtime"], "kserve-ovms").unwrap(),
        Change::Added
    );
    expected.push_str("  runtime: kserve-ovms\n");

    assert_eq!(
        doc.set(&["replicaCount"], "2").unwrap(),
        Change::Replaced { old: "1".into() }
    );
    expected = splice(&expected, "replicaCount: 1\n", "replicaCount: \"2\"\n");

    assert_eq!(doc.as_str(), expected);
    assert_eq!(
        doc.get(&["podAnnotations", "prometheus.io/scrape"])
            .unwrap()
            .as_deref(),
        Some("true")
    );

    let err = doc.set(&["sidecar", "resources", "cpu"], "1").unwrap_err();
    assert!(
        matches!(
            err,
            EditError::Alias {
                line: 32,
                column: 14,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn four_space_indentation_and_indented_sequences() {
    let input = fixture("four-space.yaml");
    let mut doc = Document::parse(&input).unwrap();
    doc.set(&["deployment", "version"], "1.0.1").unwrap();
    doc.set(&["deployment", "labels", "tier"], "canary")
        .unwrap();
    doc.set(&["deployment", "replicas"], "3").unwrap();
    doc.set(&["deployment", "resources", "cpu"], "500m")
        .unwrap();
    let mut expected = splice(&input, "version: 1.0.0\n", "version: 1.0.1\n");
    expected = splice(
        &expected,
        "        tier: 'serving'  \n",
        "        tier: 'canary'  \n    replicas: \"3\"\n    resources:\n        cpu: 500m\n",
    );
    assert_eq!(doc.as_str(), expected);
    assert!(
        doc.as_str()
            .ends_with("# trailing comment at the end of the file\n")
    );
}

#[test]
fn anchors_elsewhere_and_anchored_targets() {
    let input = fixture("bootstrap-anchors.yaml");
    let (out, _) = set(&input, &["default_role"], "viewer");
    assert_eq!(out, splice(&input, "&role admin\n", "&role viewer\n"));
    let (out, _) = set(&input, &["chart_path"], "charts/bootstrap-v2");
    assert_eq!(
        out,
        splice(&input, "charts/bootstrap\n", "charts/bootstrap-v2\n")
    );
    let (out, change) = set(&input, &["owner"], "platform");
    assert_eq!(change, Change::Added);
    assert_eq!(out, format!("{input}owner: platform\n"));
}

#[test]
fn file_without_trailing_newline_stays_without() {
    let input = fixture("no-trailing-newline.yaml");
    assert!(!input.ends_with('\n'));
    let (out, _) = set(&input, &["chart_path"], "charts/minio-v2");
    assert_eq!(out, splice(&input, "charts/minio\n", "charts/minio-v2\n"));
    let (out, _) = set(&input, &["region"], "eu-west-1");
    assert_eq!(out, format!("{input}\nregion: eu-west-1"));
}

#[test]
fn argocd_application_nested_values() {
    let input = fixture("argocd-application.yaml");
    let (out, _) = set(&input, &["spec", "source", "targetRevision"], "release-1.2");
    assert_eq!(
        out,
        splice(
            &input,
            "targetRevision: main\n",
            "targetRevision: release-1.2\n"
        )
    );
    let (out, _) = set(
        &input,
        &["metadata", "annotations", "argocd.argoproj.io/sync-wave"],
        "3",
    );
    assert_eq!(
        out,
        splice(&input, "sync-wave: \"2\"\n", "sync-wave: \"3\"\n")
    );
    let (out, _) = set(&input, &["spec", "source", "path"], "charts/{{ .name }}");
    assert_eq!(
        out,
        splice(
            &input,
            "path: '{{ .chart_path }}'\n",
            "path: 'charts/{{ .name }}'\n"
        )
    );
    let (out, _) = set(
        &input,
        &["spec", "source", "helm", "releaseName"],
        "jukebox",
    );
    assert_eq!(
        out,
        splice(
            &input,
            "          value: \"v1\"\n",
            "          value: \"v1\"\n      releaseName: jukebox\n"
        )
    );
}

#[test]
fn comments_everywhere_and_markers() {
    let input = "%YAML 1.2\n---\n# above\nname: jukebox # beside\n\n# between\nversion: v1\n  # indented comment\n# after\n...\n";
    let (out, _) = set(input, &["version"], "v2");
    assert_eq!(out, splice(input, "version: v1\n", "version: v2\n"));
    let (out, _) = set(input, &["name"], "jukebox-ui");
    assert_eq!(out, splice(input, "name: jukebox #", "name: jukebox-ui #"));
    let (out, _) = set(input, &["owner"], "ml");
    assert_eq!(
        out,
        splice(input, "version: v1\n", "version: v1\nowner: ml\n")
    );
}

#[test]
fn key_after_block_scalar_and_empty_values() {
    let input = "config:\n  script: |\n    echo hi\n\n  other:\nnext: 1\n";
    let (out, _) = set(input, &["config", "added"], "yes");
    assert_eq!(
        out,
        splice(input, "  other:\n", "  other:\n  added: \"yes\"\n")
    );
    let (out, change) = set(input, &["config", "other"], "filled");
    assert_eq!(change, Change::Replaced { old: String::new() });
    assert_eq!(out, splice(input, "  other:\n", "  other: filled\n"));
    let (out, change) = set(input, &["config", "other", "deep"], "x");
    assert_eq!(change, Change::Added);
    assert_eq!(out, splice(input, "  other:\n", "  other:\n    deep: x\n"));
    let input = "a:\n  b: |\n    text\nc: 1\n";
    let (out, _) = set(input, &["a", "d"], "e");
    assert_eq!(out, splice(input, "    text\n", "    text\n  d: e\n"));
}

#[test]
fn unchanged_values_leave_text_alone() {
    let input = "version: \"1234567\"\nname: jukebox\ncount: 5\n";
    let mut doc = Document::parse(input).unwrap();
    assert_eq!(doc.set(&["version"], "1234567").unwrap(), Change::Unchanged);
    assert_eq!(doc.set(&["name"], "jukebox").unwrap(), Change::Unchanged);
    assert_eq!(doc.as_str(), input);
    // A plain number is not a string yet: setting it quotes it.
    assert_eq!(
        doc.set(&["count"], "5").unwrap(),
        Change::Replaced { old: "5".into() }
    );
    assert_eq!(doc.as_str(), splice(input, "count: 5\n", "count: \"5\"\n"));
}

#[test]
fn flow_mapping_values_and_sequences_in_between() {
    let input = "image: {repository: quay.io/acme/jukebox, tag: v1}  # flow\nlist: [a, b]\n";
    let (out, _) = set(input, &["image", "tag"], "v2");
    assert_eq!(out, splice(input, "tag: v1}", "tag: v2}"));
    let (out, _) = set(input, &["image", "tag"], "a,b");
    assert_eq!(out, splice(input, "tag: v1}", "tag: \"a,b\"}"));
    let (out, _) = set(input, &["image", "pull", "policy"], "Always");
    assert_eq!(out, splice(input, "v1}", "v1, pull: {policy: Always}}"));
}

#[test]
fn get_reads_values() {
    let doc = Document::parse(&fixture("workshop-config.yaml")).unwrap();
    assert_eq!(doc.get(&["version"]).unwrap().as_deref(), Some("v1"));
    assert_eq!(
        doc.get(&["image_namespace"]).unwrap().as_deref(),
        Some("user1-mlops")
    );
    assert_eq!(doc.get(&["missing"]).unwrap(), None);
    assert_eq!(doc.get(&["missing", "deeper"]).unwrap(), None);
    let doc = Document::parse("a:\n  b: \"x\\ty\"\n").unwrap();
    assert_eq!(doc.get(&["a", "b"]).unwrap().as_deref(), Some("x\ty"));
}

#[test]
fn key_paths_split_on_unescaped_dots() {
    assert_eq!(yaml_edit::parse_key_path("image.tag"), ["image", "tag"]);
    assert_eq!(yaml_edit::parse_key_path("version"), ["version"]);
    assert_eq!(
        yaml_edit::parse_key_path(r"metadata.annotations.argocd\.argoproj\.io/sync-wave"),
        ["metadata", "annotations", "argocd.argoproj.io/sync-wave"]
    );
    assert_eq!(yaml_edit::parse_key_path(r"a\\.b"), [r"a\", "b"]);
}

#[test]
fn byte_order_mark_is_kept_and_not_indentation() {
    let (out, _) = set("\u{feff}name: x\n", &["name"], "jukebox");
    assert_eq!(out, "\u{feff}name: jukebox\n");
    let (out, _) = set("\u{feff}name: x\n", &["other"], "z");
    assert_eq!(out, "\u{feff}name: x\nother: z\n");
    let (out, _) = set("\u{feff}", &["name"], "jukebox");
    assert_eq!(out, "\u{feff}name: jukebox\n");
}

#[test]
fn multi_line_flow_mappings_and_scalars() {
    let input = "a: {x: 1,\n    y: 2  # c\n   }\nb: 1\n";
    let (out, _) = set(input, &["a", "z"], "v");
    assert_eq!(out, splice(input, "y: 2  # c", "y: 2, z: v  # c"));
    let (out, _) = set(input, &["a", "y"], "w");
    assert_eq!(out, splice(input, "y: 2  # c", "y: w  # c"));
    let input = "k: \"multi\n  line\"\nj: plain\n  continued\n";
    let (out, change) = set(input, &["k"], "one");
    assert_eq!(
        change,
        Change::Replaced {
            old: "multi line".into()
        }
    );
    assert_eq!(out, "k: \"one\"\nj: plain\n  continued\n");
    let (out, _) = set(input, &["j"], "two");
    assert_eq!(out, "k: \"multi\n  line\"\nj: two\n");
}

#[test]
fn nested_insert_goes_before_comments_that_follow_the_mapping() {
    let input = "a:\n  b: 1\n  # comment in a\n# comment at top\nc: 2\n";
    let (out, _) = set(input, &["a", "x"], "y");
    assert_eq!(out, splice(input, "  b: 1\n", "  b: 1\n  x: \"y\"\n"));
    let input = "a: 1 # c\n...\n# after the end\n";
    let (out, _) = set(input, &["b"], "two");
    assert_eq!(out, splice(input, "a: 1 # c\n", "a: 1 # c\nb: two\n"));
}

#[test]
fn empty_values_are_filled_or_become_mappings() {
    assert_eq!(set("a:\n", &["a"], "v").0, "a: v\n");
    assert_eq!(set("a:", &["a"], "v").0, "a: v");
    assert_eq!(set("a:   # later\n", &["a"], "v").0, "a: v   # later\n");
    assert_eq!(set("a:\n", &["a", "b", "c"], "v").0, "a:\n  b:\n    c: v\n");
    assert_eq!(set("a:", &["a", "b"], "v").0, "a:\n  b: v");
    assert_eq!(
        set("x:\n    y: 1\na: # note\n", &["a", "b"], "v").0,
        "x:\n    y: 1\na: # note\n    b: v\n"
    );
    assert_eq!(set("a: ~\n", &["a"], "v").0, "a: v\n");
    assert_eq!(set("a: null\n", &["a"], "null").0, "a: \"null\"\n");
}
