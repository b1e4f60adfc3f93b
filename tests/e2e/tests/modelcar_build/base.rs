//! A base image with a shell, from an OCI layout and from the registry.

use std::fs;
use std::path::Path;
use std::process::Command;

use test_services::Registry;

use super::support::*;

#[test]
fn busybox_base_from_a_layout_and_from_the_registry() {
    let registry = Registry::start();
    let skopeo = SkopeoAccess::plain();
    let model = tempfile::tempdir().unwrap();
    test_model(model.path());
    let bases = tempfile::tempdir().unwrap();
    let base_layout = bases.path().join("busybox");
    busybox_layout(
        &base_layout,
        "1.35",
        BaseOptions {
            entrypoint: None,
            shell: true,
        },
    );
    let base_arg = format!("oci:{}:1.35", base_layout.display());
    let repo = format!("{}/team/jukebox", registry.host());
    let build_in = |repo: &str, base: &str, tag: &str, subdir: Option<&str>| {
        let mut args = vec![
            "--model-dir",
            model.path().to_str().unwrap(),
            "--image",
            repo,
            "--tag",
            tag,
            "--source-commit",
            REVISION,
            "--base",
            base,
            "--plain-http",
            &registry.host(),
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        if let Some(subdir) = subdir {
            args.extend(["--subdir".to_owned(), subdir.to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        modelcar_build(&args)
    };
    let build = |base: &str, tag: &str, subdir: Option<&str>| build_in(&repo, base, tag, subdir);

    let from_layout = build(&base_arg, "layout-base", Some("jukebox")).ok();
    assert!(
        !from_layout.stderr().contains("no /bin/sh"),
        "{}",
        from_layout.stderr()
    );
    let image = format!("{repo}:layout-base");
    let manifest = skopeo.inspect_raw(&image);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 3);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.name"],
        base_arg.as_str()
    );
    let base_index = read_json(&base_layout.join("index.json"));
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.digest"],
        base_index["manifests"][0]["digest"]
    );
    let unpacked = skopeo.unpack(&image);
    let rootfs = unpacked.path().join("rootfs");
    assert_eq!(
        fs::read_link(rootfs.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_model_unpacked(&rootfs, model.path(), "models/jukebox");
    // KServe's check, run by the base's own shell.
    let check = Command::new(rootfs.join("bin/busybox"))
        .args(["sh", "-c", "[ -d models ] && [ \"$(ls -A models)\" ]"])
        .current_dir(&rootfs)
        .status()
        .unwrap();
    assert!(check.success());

    // The same base pushed to the registry, then used from there.
    let base_repo = format!("{}/base/busybox", registry.host());
    let mut copy = vec!["copy".to_owned()];
    copy.extend(skopeo.prefixed("dest"));
    copy.push(base_arg.clone());
    copy.push(format!("docker://{base_repo}:1.35"));
    let copy: Vec<&str> = copy.iter().map(String::as_str).collect();
    tool("skopeo", "skopeo", &copy);
    // Into a repository that lacks the base layer: it is mounted from base/busybox.
    let mounted_repo = format!("{}/team/mounted", registry.host());
    let from_registry = build_in(
        &mounted_repo,
        &format!("{base_repo}:1.35"),
        "registry-base",
        None,
    )
    .ok();
    let image = format!("{mounted_repo}:registry-base");
    let manifest = skopeo.inspect_raw(&image);
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.base.name"],
        format!("{base_repo}:1.35")
    );
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    assert!(!config_digest.is_empty());
    let unpacked = skopeo.unpack(&image);
    let rootfs = unpacked.path().join("rootfs");
    assert!(rootfs.join("bin/busybox").is_file());
    assert_model_unpacked(&rootfs, model.path(), "models");
    assert!(
        from_registry
            .stderr()
            .contains("in 3 blobs; 1 blobs mounted, 0 already there"),
        "the base layer is mounted, not uploaded:\n{}",
        from_registry.stderr()
    );

    // A base with an ENTRYPOINT is refused, unless allowed.
    let with_entrypoint = bases.path().join("entrypoint");
    busybox_layout(
        &with_entrypoint,
        "1",
        BaseOptions {
            entrypoint: Some(&["/bin/busybox"]),
            shell: true,
        },
    );
    let entrypoint_arg = format!("oci:{}:1", with_entrypoint.display());
    build(&entrypoint_arg, "refused", None).failed(1, &["ENTRYPOINT", "--allow-entrypoint"]);
    assert!(!skopeo.tags(&repo).contains(&"refused".to_owned()));
    let mut allowed = vec![
        "--model-dir",
        model.path().to_str().unwrap(),
        "--oci-layout",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect::<Vec<_>>();
    let out = tempfile::tempdir().unwrap();
    allowed.push(format!("{}:allowed", out.path().display()));
    allowed.extend(["--base".into(), entrypoint_arg, "--allow-entrypoint".into()]);
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    modelcar_build(&allowed).ok();

    // A base without a shell builds, with a warning.
    let no_shell = bases.path().join("no-shell");
    busybox_layout(
        &no_shell,
        "1",
        BaseOptions {
            entrypoint: None,
            shell: false,
        },
    );
    let out = tempfile::tempdir().unwrap();
    let warned = modelcar_build(&[
        "--model-dir",
        model.path().to_str().unwrap(),
        "--oci-layout",
        &format!("{}:v1", out.path().display()),
        "--base",
        &format!("oci:{}:1", no_shell.display()),
    ])
    .ok();
    assert!(
        warned.stderr().contains("no /bin/sh"),
        "{}",
        warned.stderr()
    );
}
