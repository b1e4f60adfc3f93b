//! Where the layers disagree: pure comparisons over what was read, each said in one sentence that
//! names both sides.

use crate::report::{
    ClusterFacts, Finding, GitopsFacts, ImageFacts, LayerName, PromotionFacts, PullRequestFacts,
    RegistryFacts, Report, SourceFacts,
};

/// Every disagreement in `report`, in layer order.
pub fn findings(report: &Report) -> Vec<Finding> {
    let Some(git) = report.gitops.facts() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(image) = report.image.facts() {
        image_findings(git, image, &mut out);
    }
    if let Some(source) = report.source.facts() {
        source_findings(source, &mut out);
    }
    if let Some(registry) = report.model_registry.facts() {
        registry_findings(git, &report.env, registry, &mut out);
    }
    if let Some(promotion) = report.promotion.facts() {
        promotion_findings(git, report.image.facts(), &report.env, promotion, &mut out);
    }
    if let Some(cluster) = report.cluster.facts() {
        cluster_findings(git, report.image.facts(), cluster, &mut out);
    }
    out
}

fn finding(layer: LayerName, code: &'static str, message: String) -> Finding {
    Finding {
        layer,
        code,
        message,
    }
}

fn image_findings(git: &GitopsFacts, image: &ImageFacts, out: &mut Vec<Finding>) {
    let tagged = format!("{}:{}", image.repository, image.tag);
    match (&image.tag_digest, &git.image_digest) {
        (None, _) => out.push(finding(
            LayerName::Image,
            "tag_missing",
            format!(
                "the registry has no tag {} in {}: Git deploys version {} but no image carries it",
                image.tag, image.repository, git.version
            ),
        )),
        (Some(tag_digest), Some(pinned)) if tag_digest != pinned => out.push(finding(
            LayerName::Image,
            "tag_moved",
            format!(
                "tag {tagged} resolves to {tag_digest}, but image_digest in Git is {pinned}: the tag \
                 was pushed again after the deployment (tags move, digests do not)"
            ),
        )),
        _ => {}
    }
    if let (Some(false), Some(pinned)) = (image.pinned_found, &git.image_digest) {
        out.push(finding(
            LayerName::Image,
            "digest_missing",
            format!(
                "{}@{pinned}, the image Git pins, is not in the registry (deleted, or pushed elsewhere)",
                image.repository
            ),
        ));
    }
}

fn source_findings(source: &SourceFacts, out: &mut Vec<Finding>) {
    if let (Some(commit), Some(recorded)) = (&source.commit, &source.recorded_commit)
        && !same_commit(commit, recorded)
    {
        out.push(finding(
            LayerName::Source,
            "source_commit",
            format!(
                "the image was built from source commit {commit} (its org.opencontainers.image.revision \
                 label), but the Model Registry records {recorded} as the deployed source commit"
            ),
        ));
    }
}

/// Commit ids agree when one is a prefix of the other (a short id against a full one).
fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim().to_ascii_lowercase(), b.trim().to_ascii_lowercase());
    !a.is_empty() && !b.is_empty() && (a.starts_with(&b) || b.starts_with(&a))
}

fn registry_findings(
    git: &GitopsFacts,
    env: &str,
    registry: &RegistryFacts,
    out: &mut Vec<Finding>,
) {
    let name = format!("{}:{}", registry.model, registry.version);
    if registry.version_id.is_none() {
        out.push(finding(
            LayerName::ModelRegistry,
            "registry_version_missing",
            format!(
                "the Model Registry has no version {name}, which Git deploys to {env}; register it \
                 (the training pipeline registers versions; registry-label can too)"
            ),
        ));
        return;
    }
    let others: Vec<&str> = registry
        .env_versions
        .iter()
        .filter(|v| **v != registry.version)
        .map(String::as_str)
        .collect();
    if !others.is_empty() {
        out.push(finding(
            LayerName::ModelRegistry,
            "registry_label",
            format!(
                "the Model Registry labels {} of {} with {env}, but Git deploys {} to {env}",
                others.join(", "),
                registry.model,
                registry.version
            ),
        ));
    } else if !registry.labels.iter().any(|l| l == env) {
        out.push(finding(
            LayerName::ModelRegistry,
            "registry_label",
            format!(
                "the Model Registry does not label {name} with {env}, which Git deploys there (the \
                 post-deploy labelling did not run or failed)"
            ),
        ));
    }
    let Some(pinned) = &git.image_digest else {
        return;
    };
    if let Some(uri) = &registry.artifact_uri
        && let Some(digest) = digest_in(uri)
        && digest != pinned
    {
        out.push(finding(
            LayerName::ModelRegistry,
            "registry_artifact",
            format!(
                "the model artifact of {name} in the Model Registry is {uri}, but image_digest in Git \
                 is {pinned}"
            ),
        ));
    }
    let image_key = format!("deployed.{env}.image");
    if let Some(image) = registry.deployed.get(&image_key)
        && let Some(digest) = digest_in(image)
        && digest != pinned
    {
        out.push(finding(
            LayerName::ModelRegistry,
            "registry_image",
            format!(
                "the Model Registry records {image_key} = {image} on {name}, but image_digest in Git \
                 is {pinned}"
            ),
        ));
    }
}

fn promotion_findings(
    git: &GitopsFacts,
    image: Option<&ImageFacts>,
    env: &str,
    promotion: &PromotionFacts,
    out: &mut Vec<Finding>,
) {
    let open = [&promotion.pull_request, &promotion.rollback];
    for pr in open.into_iter().flatten() {
        let rollback = pr.rolled_back_from.is_some();
        let what = if rollback {
            format!("rollback pull request #{} ({})", pr.number, pr.url)
        } else {
            format!("promotion pull request #{} ({})", pr.number, pr.url)
        };
        if let Some(version) = &pr.version {
            if *version == git.version {
                out.push(finding(
                    LayerName::Promotion,
                    "promotion_stale",
                    format!("{what} proposes {version}, which {env} already runs; close it"),
                ));
            } else if !rollback {
                // A rollback goes to an older version on purpose; a promotion should not.
                older_version_findings(git, image, env, pr, &what, version, out);
            }
        }
        if pr.behind > 0 {
            let again = if rollback { "rollback" } else { "promotion" };
            out.push(finding(
                LayerName::Promotion,
                "promotion_behind",
                format!(
                    "{what}: branch {} is {} commit(s) behind {}; re-run the {again} to rebuild it \
                     on the current {}",
                    pr.branch, pr.behind, promotion.base, promotion.base
                ),
            ));
        }
    }
}

/// A promotion of a version older than the one the environment runs: one it ran before, or one
/// whose image was built before the running one's.
fn older_version_findings(
    git: &GitopsFacts,
    image: Option<&ImageFacts>,
    env: &str,
    pr: &PullRequestFacts,
    what: &str,
    version: &str,
    out: &mut Vec<Finding>,
) {
    if let Some(before) = &pr.ran_before {
        out.push(finding(
            LayerName::Promotion,
            "promotion_stale",
            format!(
                "{what} promotes {version}, older than {} which {env} runs: {env} ran {version} \
                 before (set by {} on {}); close it, or re-run the promotion",
                git.version,
                short(&before.commit),
                before.time
            ),
        ));
    } else if let (Some(theirs), Some(ours)) = (
        pr.image_created.as_deref(),
        image.and_then(|i| i.created.as_deref()),
    ) && let (Some(built), Some(running)) = (utc_seconds(theirs), utc_seconds(ours))
        && built < running
    {
        out.push(finding(
            LayerName::Promotion,
            "promotion_stale",
            format!(
                "{what} promotes {version}, built {theirs}, older than {} which {env} runs (built \
                 {ours}); close it",
                git.version
            ),
        ));
    }
}

fn cluster_findings(
    git: &GitopsFacts,
    image: Option<&ImageFacts>,
    cluster: &ClusterFacts,
    out: &mut Vec<Finding>,
) {
    let isvc = format!("InferenceService {}/{}", cluster.namespace, cluster.name);
    if !cluster.exists {
        out.push(finding(
            LayerName::Cluster,
            "cluster_missing",
            format!(
                "{isvc} does not exist, but Git deploys {} there (check the Argo CD application)",
                git.version
            ),
        ));
        return;
    }
    if !cluster.ready {
        out.push(finding(
            LayerName::Cluster,
            "cluster_not_ready",
            format!(
                "{isvc} is not Ready{}",
                cluster
                    .reason
                    .as_deref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ),
        ));
    }
    let expected = git
        .image_digest
        .as_deref()
        .or_else(|| image.and_then(|i| i.tag_digest.as_deref()));
    let served = cluster.storage_uri.as_deref().unwrap_or("(no storageUri)");
    match (&cluster.digest, expected) {
        (Some(digest), Some(expected)) if digest != expected => out.push(finding(
            LayerName::Cluster,
            "cluster_digest",
            format!(
                "{isvc} serves {digest} ({served}), but Git says {expected} (version {})",
                git.version
            ),
        )),
        (None, _) if !serves_version(served, &git.version) => out.push(finding(
            LayerName::Cluster,
            "cluster_version",
            format!(
                "{isvc} serves {served}, which is neither Git's digest nor its version {}",
                git.version
            ),
        )),
        _ => {}
    }
}

/// Whether a storage URI without a digest names `version` as its tag or as a path part.
fn serves_version(uri: &str, version: &str) -> bool {
    uri.rsplit_once(':').is_some_and(|(_, tag)| tag == version)
        || uri.split('/').any(|part| part == version)
}

/// The `sha256:<hex>` after the last `@` of a reference or URI.
pub(crate) fn digest_in(reference: &str) -> Option<&str> {
    let (_, digest) = reference.rsplit_once('@')?;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(digest)
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// `YYYY-MM-DDTHH:MM:SS` of an RFC 3339 time, as a sortable number (image creation times are UTC).
fn utc_seconds(time: &str) -> Option<u64> {
    let digits: String = time
        .get(..19)?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    (digits.len() == 14).then(|| digits.parse().ok()).flatten()
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
