//! What a trace found, layer by layer, and where the layers disagree: the JSON report's shape.

use std::collections::BTreeMap;

use serde::Serialize;

/// One model in one environment, from the GitOps config to the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub model: String,
    pub env: String,
    /// Whether any layer disagrees with another (see `findings`).
    pub drift: bool,
    pub gitops: Layer<GitopsFacts>,
    pub image: Layer<ImageFacts>,
    pub source: Layer<SourceFacts>,
    pub model_registry: Layer<RegistryFacts>,
    pub promotion: Layer<PromotionFacts>,
    pub cluster: Layer<ClusterFacts>,
    /// Every disagreement, in layer order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Adds a finding when Git does not deploy `version` (a deployment reported elsewhere, e.g. by
    /// the labelling step, that the GitOps config no longer says).
    pub fn expect_version(&mut self, version: &str) {
        let Some(facts) = &self.gitops.facts else {
            return;
        };
        if facts.version != version {
            let message = format!(
                "Git deploys {} in {} at {}, not {version} as recorded",
                self.model, self.env, facts.version
            );
            self.findings.insert(
                0,
                Finding {
                    layer: LayerName::Gitops,
                    code: "version_differs",
                    message,
                },
            );
            self.drift = true;
        }
    }

    /// Layers that could not be read (a source given but failing): the trace is incomplete.
    pub fn errors(&self) -> Vec<(LayerName, &str)> {
        [
            (LayerName::Gitops, &self.gitops.status, &self.gitops.note),
            (LayerName::Image, &self.image.status, &self.image.note),
            (LayerName::Source, &self.source.status, &self.source.note),
            (
                LayerName::ModelRegistry,
                &self.model_registry.status,
                &self.model_registry.note,
            ),
            (
                LayerName::Promotion,
                &self.promotion.status,
                &self.promotion.note,
            ),
            (LayerName::Cluster, &self.cluster.status, &self.cluster.note),
        ]
        .into_iter()
        .filter(|(_, status, _)| **status == Status::Error)
        .map(|(layer, _, note)| (layer, note.as_deref().unwrap_or("failed")))
        .collect()
    }

    /// Sets each layer's status from the findings and `drift` from their number.
    pub(crate) fn settle(&mut self) {
        let findings = std::mem::take(&mut self.findings);
        let drifted = |layer: LayerName| findings.iter().any(|f| f.layer == layer);
        self.gitops.settle(drifted(LayerName::Gitops));
        self.image.settle(drifted(LayerName::Image));
        self.source.settle(drifted(LayerName::Source));
        self.model_registry
            .settle(drifted(LayerName::ModelRegistry));
        self.promotion.settle(drifted(LayerName::Promotion));
        self.cluster.settle(drifted(LayerName::Cluster));
        self.drift = !findings.is_empty();
        self.findings = findings;
    }
}

/// How a layer came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Read, and it agrees with the others.
    Ok,
    /// Read, and it disagrees: see the findings.
    Drift,
    /// Not asked for; `note` says what to give.
    NotChecked,
    /// Asked for, but it could not be read; `note` says why.
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Drift => "DRIFT",
            Self::NotChecked => "not checked",
            Self::Error => "ERROR",
        }
    }
}

/// One layer: its status, what was read (`None` unless read), and a note.
#[derive(Debug, Clone, Serialize)]
pub struct Layer<T> {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub facts: Option<T>,
}

impl<T> Layer<T> {
    pub fn read(facts: T) -> Self {
        Self {
            status: Status::Ok,
            note: None,
            facts: Some(facts),
        }
    }

    pub fn not_checked(note: impl Into<String>) -> Self {
        Self {
            status: Status::NotChecked,
            note: Some(note.into()),
            facts: None,
        }
    }

    pub fn error(note: impl Into<String>) -> Self {
        Self {
            status: Status::Error,
            note: Some(note.into()),
            facts: None,
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub fn facts(&self) -> Option<&T> {
        self.facts.as_ref()
    }

    fn settle(&mut self, drifted: bool) {
        if drifted && self.status == Status::Ok {
            self.status = Status::Drift;
        }
    }
}

/// The layers, in the order a deployment passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerName {
    Gitops,
    Image,
    Source,
    ModelRegistry,
    Promotion,
    Cluster,
}

impl LayerName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gitops => "gitops",
            Self::Image => "image",
            Self::Source => "source",
            Self::ModelRegistry => "model registry",
            Self::Promotion => "promotion",
            Self::Cluster => "cluster",
        }
    }
}

/// One disagreement between layers, said plainly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The layer that disagrees with the GitOps config (or with another layer).
    pub layer: LayerName,
    /// A stable name for the kind of disagreement (`tag_moved`, `cluster_digest`, ...).
    pub code: &'static str,
    pub message: String,
}

/// A commit, as a person reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitFacts {
    pub commit: String,
    pub author: String,
    /// RFC 3339, UTC.
    pub time: String,
    pub summary: String,
}

impl CommitFacts {
    pub(crate) fn of(revision: &gitops::FileRevision) -> Self {
        Self {
            commit: revision.commit.clone(),
            author: revision.author(),
            time: revision.time_rfc3339(),
            summary: revision.summary.clone(),
        }
    }
}

/// The environment's config in the GitOps repository.
#[derive(Debug, Clone, Serialize)]
pub struct GitopsFacts {
    pub repo_url: String,
    pub branch: String,
    pub file: String,
    /// The branch tip read.
    pub tip: String,
    /// The config's `name` (the InferenceService's, and the image's last path part).
    pub name: String,
    pub version: String,
    pub image_digest: Option<String>,
    /// `image_repository/image_namespace/name`, when the config names them.
    pub image: Option<String>,
    /// The commit that set `version`.
    pub set_by: Option<CommitFacts>,
    /// The version before this one, and the commit that set it (what a rollback goes back to).
    pub previous_version: Option<String>,
    pub previous_set_by: Option<CommitFacts>,
}

/// The image the config names, in its registry.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImageFacts {
    /// `registry/repository`.
    pub repository: String,
    pub tag: String,
    /// What the tag resolves to now (`None`: no such tag).
    pub tag_digest: Option<String>,
    /// The digest the config pins, and whether the registry has it.
    pub pinned_digest: Option<String>,
    pub pinned_found: Option<bool>,
    /// The image whose labels were read: the pinned digest, else the tag's.
    pub read_digest: Option<String>,
    pub created: Option<String>,
    /// `org.opencontainers.image.revision`.
    pub revision: Option<String>,
    /// `org.opencontainers.image.source`.
    pub source: Option<String>,
    /// Every `org.opencontainers.image.*` label and annotation read.
    pub labels: BTreeMap<String, String>,
}

/// Where the model came from: the image's revision and source, and what the registry recorded.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceFacts {
    pub commit: Option<String>,
    pub repository: Option<String>,
    /// `deployed.<env>.source_commit` of the version in the Model Registry.
    pub recorded_commit: Option<String>,
    /// `deployed.<env>.source_repo` of the version in the Model Registry.
    pub recorded_repository: Option<String>,
}

/// The version in the Model Registry.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegistryFacts {
    pub registry: String,
    pub model: String,
    pub version: String,
    /// The registry's id of the version (`None`: the registry has no such version).
    pub version_id: Option<String>,
    /// The environments the version carries.
    pub labels: Vec<String>,
    /// Its `deployed.<env>.*` properties for this environment.
    pub deployed: BTreeMap<String, String>,
    pub artifact_uri: Option<String>,
    /// The versions of the model that carry this environment.
    pub env_versions: Vec<String>,
}

/// The open promotion pull request, if any, and the open rollback pull request (pr-create
/// --rollback), if any.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PromotionFacts {
    pub branch: String,
    pub base: String,
    pub pull_request: Option<PullRequestFacts>,
    pub rollback: Option<PullRequestFacts>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct PullRequestFacts {
    /// The pull request's head branch.
    pub branch: String,
    pub number: u64,
    pub url: String,
    pub title: String,
    /// The version the branch's config sets.
    pub version: Option<String>,
    pub image_digest: Option<String>,
    /// Commits on the base branch the promotion branch lacks.
    pub behind: usize,
    pub ahead: usize,
    /// When the environment ran `version` before (an older version than it runs now).
    pub ran_before: Option<CommitFacts>,
    /// When `version`'s image was built.
    pub image_created: Option<String>,
    /// The version the branch rolls back from, when it is a rollback (its commit carries the
    /// `Rollback-From:` trailer).
    pub rolled_back_from: Option<String>,
}

/// The InferenceService in the cluster.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterFacts {
    pub namespace: String,
    pub name: String,
    pub exists: bool,
    pub ready: bool,
    /// The Ready condition's message or reason.
    pub reason: Option<String>,
    pub storage_uri: Option<String>,
    /// The digest in `storageUri`.
    pub digest: Option<String>,
}
