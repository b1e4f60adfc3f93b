//! What installing modelcar-gitops on a cluster sets up, done for local servers: the GitOps
//! repository from `examples/gitops-repo` with the image registry a user pushes to, the registry
//! credentials Secret, and the installation settings (addresses) of the PipelineRuns that
//! tekton/README.md tells a user to edit.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde_json::json;

use crate::manifests::ParamValue;

/// Every file below `dir`, as (path relative to it, contents), sorted by path.
pub fn files_below(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current)
            .unwrap_or_else(|e| panic!("read {}: {e}", current.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .expect("below the folder")
                    .to_string_lossy()
                    .into_owned();
                let contents =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
                files.push((relative, contents));
            }
        }
    }
    files.sort();
    files
}

/// The files of `examples/gitops-repo` with `image_repository` set to `registry_host` (as a user
/// puts theirs in).
pub fn gitops_repo_files(registry_host: &str) -> Vec<(String, Vec<u8>)> {
    files_below(&crate::repo_root().join("examples/gitops-repo"))
        .into_iter()
        .map(|(path, contents)| {
            let text = String::from_utf8(contents)
                .expect("the example GitOps repository is text")
                .replace(
                    "image_repository: quay.io\n",
                    &format!("image_repository: {registry_host}\n"),
                );
            (path, text.into_bytes())
        })
        .collect()
}

/// The `.dockerconfigjson` of a Secret of type `kubernetes.io/dockerconfigjson` with `user` and
/// `password` for `registry_host`.
pub fn dockerconfigjson(registry_host: &str, user: &str, password: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    json!({"auths": {registry_host: {"auth": auth}}}).to_string()
}

/// A PipelineRun's params with the installation settings in `overrides` replaced, added (or
/// removed when `None`).
pub fn with_settings(
    params: impl IntoIterator<Item = (String, ParamValue)>,
    overrides: &[(&str, Option<String>)],
) -> BTreeMap<String, ParamValue> {
    let mut params: BTreeMap<String, ParamValue> = params.into_iter().collect();
    for (name, value) in overrides {
        match value {
            Some(value) => params.insert(name.to_string(), ParamValue::String(value.clone())),
            None => params.remove(*name),
        };
    }
    params
}

/// A PipelineRun's string params with each example address (`from`) replaced by this cluster's
/// (`to`), e.g. `https://gitea.apps.example.com` by the local Gitea's route.
pub fn with_hosts(
    params: impl IntoIterator<Item = (String, ParamValue)>,
    hosts: &[(&str, &str)],
) -> BTreeMap<String, ParamValue> {
    params
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                ParamValue::String(mut text) => {
                    for (from, to) in hosts {
                        if let Some(rest) = text.strip_prefix(from)
                            && (rest.is_empty() || rest.starts_with('/'))
                        {
                            text = format!("{to}{rest}");
                        }
                    }
                    ParamValue::String(text)
                }
                other => other,
            };
            (name, value)
        })
        .collect()
}
