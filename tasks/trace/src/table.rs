//! The report as a table for a person: one block of rows per layer (status on its first row), then
//! the findings.

use std::fmt::Write as _;

use crate::report::{CommitFacts, Layer, Report};

type Row = (String, String);

/// The report as aligned text, ending with a newline.
pub fn render(report: &Report) -> String {
    let blocks: Vec<(&str, &str, Vec<Row>, Option<&str>)> = vec![
        block("gitops", &report.gitops, gitops_rows),
        block("image", &report.image, image_rows),
        block("source", &report.source, source_rows),
        block("model registry", &report.model_registry, registry_rows),
        block("promotion", &report.promotion, promotion_rows),
        block("cluster", &report.cluster, cluster_rows),
    ];
    let mut rows: Vec<[String; 4]> = vec![["LAYER", "STATUS", "FIELD", "VALUE"].map(String::from)];
    for (layer, status, facts, note) in blocks {
        let mut fields: Vec<Row> = facts;
        if let Some(note) = note {
            fields.push(row("note", note));
        }
        if fields.is_empty() {
            fields.push(row("", ""));
        }
        for (i, (field, value)) in fields.into_iter().enumerate() {
            let (layer, status) = if i == 0 { (layer, status) } else { ("", "") };
            rows.push([layer.to_owned(), status.to_owned(), field, value]);
        }
    }
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("{} in {}\n\n", report.model, report.env);
    for row in &rows {
        let line = format!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if report.findings.is_empty() {
        out.push_str("\nNo drift: every layer checked agrees with Git.\n");
    } else {
        let _ = writeln!(out, "\nFINDINGS ({})", report.findings.len());
        for finding in &report.findings {
            let _ = writeln!(
                out,
                "  - {} [{}]: {}",
                finding.layer.as_str(),
                finding.code,
                finding.message
            );
        }
    }
    out
}

fn block<'a, T>(
    name: &'a str,
    layer: &'a Layer<T>,
    rows: fn(&T) -> Vec<Row>,
) -> (&'a str, &'a str, Vec<Row>, Option<&'a str>) {
    (
        name,
        layer.status.as_str(),
        layer.facts().map(rows).unwrap_or_default(),
        layer.note.as_deref(),
    )
}

fn row(field: &str, value: impl Into<String>) -> Row {
    (field.to_owned(), value.into())
}

fn opt(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "(none)".into())
}

fn commit(facts: &CommitFacts) -> String {
    format!(
        "{} by {} at {}: {}",
        facts.commit.get(..12).unwrap_or(&facts.commit),
        facts.author,
        facts.time,
        facts.summary
    )
}

fn gitops_rows(git: &crate::report::GitopsFacts) -> Vec<Row> {
    let mut rows = vec![
        row("repository", format!("{} ({})", git.repo_url, git.branch)),
        row("file", &*git.file),
        row("version", &*git.version),
        row("image_digest", opt(&git.image_digest)),
        row("image", opt(&git.image)),
    ];
    if let Some(set_by) = &git.set_by {
        rows.push(row("set by", commit(set_by)));
    }
    if let (Some(version), Some(set_by)) = (&git.previous_version, &git.previous_set_by) {
        rows.push(row(
            "previous",
            format!("{version}, set by {}", commit(set_by)),
        ));
    }
    rows
}

fn image_rows(image: &crate::report::ImageFacts) -> Vec<Row> {
    let mut rows = vec![
        row("tag", format!("{}:{}", image.repository, image.tag)),
        row(
            "tag resolves to",
            image
                .tag_digest
                .clone()
                .unwrap_or_else(|| "(no such tag)".into()),
        ),
    ];
    if let Some(pinned) = &image.pinned_digest {
        let found = match image.pinned_found {
            Some(true) => "in the registry",
            Some(false) => "NOT in the registry",
            None => "not looked up",
        };
        rows.push(row("pinned digest", format!("{pinned} ({found})")));
    }
    if image.read_digest.is_some() {
        rows.push(row("created", opt(&image.created)));
    }
    rows
}

fn source_rows(source: &crate::report::SourceFacts) -> Vec<Row> {
    let mut rows = vec![
        row("commit", opt(&source.commit)),
        row("repository", opt(&source.repository)),
    ];
    if source.recorded_commit.is_some() || source.recorded_repository.is_some() {
        rows.push(row(
            "registry records",
            format!(
                "{} from {}",
                opt(&source.recorded_commit),
                opt(&source.recorded_repository)
            ),
        ));
    }
    rows
}

fn registry_rows(registry: &crate::report::RegistryFacts) -> Vec<Row> {
    let mut rows = vec![row("registry", &*registry.registry)];
    let version = format!("{}:{}", registry.model, registry.version);
    let Some(id) = &registry.version_id else {
        rows.push(row("version", format!("{version} (not registered)")));
        return rows;
    };
    rows.push(row("version", format!("{version} (id {id})")));
    rows.push(row("labels", list(&registry.labels)));
    for (key, value) in &registry.deployed {
        rows.push(row(key, &**value));
    }
    rows.push(row("artifact", opt(&registry.artifact_uri)));
    rows.push(row("env labelled on", list(&registry.env_versions)));
    rows
}

fn promotion_rows(promotion: &crate::report::PromotionFacts) -> Vec<Row> {
    let mut rows = vec![row(
        "branch",
        format!("{} into {}", promotion.branch, promotion.base),
    )];
    match &promotion.pull_request {
        None => rows.push(row("pull request", "none open")),
        Some(pr) => pull_request_rows(pr, "pull request", &promotion.base, &mut rows),
    }
    if let Some(pr) = &promotion.rollback {
        pull_request_rows(pr, "rollback", &promotion.base, &mut rows);
    }
    rows
}

fn pull_request_rows(
    pr: &crate::report::PullRequestFacts,
    label: &str,
    base: &str,
    rows: &mut Vec<Row>,
) {
    rows.push(row(
        label,
        format!("#{} {} ({})", pr.number, pr.title, pr.url),
    ));
    let proposes = match (&pr.version, &pr.rolled_back_from) {
        (Some(version), Some(from)) => format!("{version} (back from {from})"),
        _ => opt(&pr.version),
    };
    rows.push(row("proposes", proposes));
    rows.push(row(
        "branch state",
        format!(
            "{}: {} ahead, {} behind {base}",
            pr.branch, pr.ahead, pr.behind
        ),
    ));
}

fn cluster_rows(cluster: &crate::report::ClusterFacts) -> Vec<Row> {
    let isvc = row(
        "inferenceservice",
        format!("{}/{}", cluster.namespace, cluster.name),
    );
    if !cluster.exists {
        return vec![isvc, row("state", "does not exist")];
    }
    let mut ready = if cluster.ready { "True" } else { "False" }.to_owned();
    if let Some(reason) = cluster.reason.as_deref().filter(|_| !cluster.ready) {
        ready.push_str(&format!(" ({reason})"));
    }
    vec![
        isvc,
        row("ready", ready),
        row("storageUri", opt(&cluster.storage_uri)),
        row("serves digest", opt(&cluster.digest)),
    ]
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(", ")
    }
}
