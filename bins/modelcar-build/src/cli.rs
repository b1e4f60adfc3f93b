//! The command line. Every flag can also come from an environment variable (Tekton passes params
//! either way); credentials only ever come from files.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Package a model directory as a KServe ModelCar (an OCI image with the model under /models) and
/// push it to a registry and/or write it to an OCI image layout. No container daemon is needed.
#[derive(Debug, Parser)]
#[command(name = "modelcar-build", version)]
pub struct Cli {
    /// The directory holding the model files (e.g. `1/model.onnx`, `artifacts/*.pkl`).
    #[arg(long, env = "MODELCAR_MODEL_DIR", value_name = "DIR")]
    pub model_dir: PathBuf,

    /// Destination repository, REGISTRY/REPO (e.g. quay.io/team/jukebox). Without it the image is
    /// written to --oci-layout only.
    #[arg(long, env = "MODELCAR_IMAGE", value_name = "REGISTRY/REPO")]
    pub image: Option<String>,

    /// A tag to push; repeatable. The source commit should come first. Default: --source-commit.
    #[arg(
        long = "tag",
        env = "MODELCAR_TAG",
        value_delimiter = ',',
        value_name = "TAG"
    )]
    pub tags: Vec<String>,

    /// The source git commit (annotation org.opencontainers.image.revision; the default tag).
    #[arg(
        long,
        alias = "revision",
        env = "MODELCAR_SOURCE_COMMIT",
        value_name = "COMMIT"
    )]
    pub source_commit: Option<String>,

    /// A version marker in the model directory (relative path) that the training step writes last,
    /// naming the commit it trained from: the model is packaged only once the marker names
    /// --source-commit and no model file is newer than it.
    #[arg(
        long,
        env = "MODELCAR_MARKER",
        value_name = "FILE",
        requires = "source_commit"
    )]
    pub marker: Option<std::path::PathBuf>,

    /// How long to wait for the marker to name --source-commit (training may still be finishing).
    #[arg(
        long,
        env = "MODELCAR_MARKER_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 0
    )]
    pub marker_timeout: u64,

    /// URL of the model's source repository (annotation org.opencontainers.image.source).
    #[arg(
        long,
        alias = "source",
        env = "MODELCAR_SOURCE_REPO",
        value_name = "URL"
    )]
    pub source_repo: Option<String>,

    /// The model version (annotation org.opencontainers.image.version).
    #[arg(long, env = "MODELCAR_MODEL_VERSION", value_name = "VERSION")]
    pub model_version: Option<String>,

    /// A human-readable name (annotation org.opencontainers.image.title).
    #[arg(long, env = "MODELCAR_TITLE", value_name = "TITLE")]
    pub title: Option<String>,

    /// Put the files under /models/SUBDIR instead of /models.
    #[arg(long, env = "MODELCAR_SUBDIR", value_name = "SUBDIR")]
    pub subdir: Option<String>,

    /// The base image: a registry reference, `oci:DIR[:TAG]` (an OCI layout), or `scratch` (no base,
    /// hence no shell).
    #[arg(
        long,
        env = "MODELCAR_BASE",
        value_name = "IMAGE",
        default_value = "registry.access.redhat.com/ubi9/ubi-minimal"
    )]
    pub base: String,

    /// The platform to take from a multi-platform base, and of a scratch image: OS/ARCH[/VARIANT].
    /// Several (comma-separated or repeated) build one image per platform, sharing the model
    /// layers, under an OCI image index.
    #[arg(
        long,
        env = "MODELCAR_PLATFORM",
        value_delimiter = ',',
        default_value = "linux/amd64",
        value_name = "OS/ARCH[/VARIANT]"
    )]
    pub platform: Vec<String>,

    /// Layer compression. `none` suits weights (they do not compress) and KServe's oci+fetch.
    #[arg(long, env = "MODELCAR_COMPRESSION", value_enum, default_value_t = CompressionArg::None)]
    pub compression: CompressionArg,

    /// Also (or, without --image, only) write the image to an OCI image layout directory,
    /// tagged TAG (default: the first tag, or `latest`).
    #[arg(long, env = "MODELCAR_OCI_LAYOUT", value_name = "DIR[:TAG]")]
    pub oci_layout: Option<String>,

    /// A registry auth file (podman's auth.json or docker's config.json format).
    #[arg(long, env = "REGISTRY_AUTH_FILE", value_name = "FILE")]
    pub authfile: Option<PathBuf>,

    /// A Tekton `dockerconfig` workspace: a directory holding config.json or .dockerconfigjson.
    #[arg(long, env = "MODELCAR_DOCKER_CONFIG", value_name = "DIR")]
    pub docker_config: Option<PathBuf>,

    /// Accept a base image that has an ENTRYPOINT (it receives KServe's command as arguments).
    #[arg(long, env = "MODELCAR_ALLOW_ENTRYPOINT")]
    pub allow_entrypoint: bool,

    /// Threads hashing layers (default: the number of CPUs).
    #[arg(long, env = "MODELCAR_JOBS")]
    pub jobs: Option<usize>,

    /// File mtimes and the image's `created` time, as seconds since the epoch (default 0, so the
    /// same model always gives the same digest).
    #[arg(
        long,
        env = "SOURCE_DATE_EPOCH",
        default_value_t = 0,
        value_name = "SECONDS"
    )]
    pub source_date_epoch: u64,

    #[command(flatten)]
    pub common: common::CommonArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompressionArg {
    None,
    Gzip,
    Zstd,
}

impl From<CompressionArg> for modelcar::Compression {
    fn from(value: CompressionArg) -> Self {
        match value {
            CompressionArg::None => Self::None,
            CompressionArg::Gzip => Self::Gzip,
            CompressionArg::Zstd => Self::Zstd,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_model_version_has_its_own_flag_and_old_spellings_still_parse() {
        let cli = Cli::try_parse_from([
            "modelcar-build",
            "--model-dir",
            "m",
            "--model-version",
            "3",
            "--tag",
            "a,b",
            "--revision",
            "abc1234",
            "--source",
            "https://git.example.com/m",
        ])
        .unwrap();
        assert_eq!(cli.model_version.as_deref(), Some("3"));
        assert_eq!(cli.tags, ["a", "b"]);
        assert_eq!(cli.platform, ["linux/amd64"]);
        assert_eq!(cli.source_commit.as_deref(), Some("abc1234"));
        assert_eq!(
            cli.source_repo.as_deref(),
            Some("https://git.example.com/m")
        );
    }

    #[test]
    fn version_prints_the_tools_version() {
        let err = Cli::try_parse_from(["modelcar-build", "--version"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
        let err = Cli::try_parse_from(["modelcar-build", "-V"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
    }

    #[test]
    fn platforms_are_comma_separated_or_repeated() {
        let cli = Cli::try_parse_from([
            "modelcar-build",
            "--model-dir",
            "m",
            "--platform",
            "linux/amd64,linux/arm64",
            "--platform",
            "linux/ppc64le",
        ])
        .unwrap();
        assert_eq!(
            cli.platform,
            ["linux/amd64", "linux/arm64", "linux/ppc64le"]
        );
    }
}
