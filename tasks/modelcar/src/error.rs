use std::path::PathBuf;

/// Everything that can stop a ModelCar build. Each message says what was being done, to which
/// path, and what to try.
#[derive(Debug, thiserror::Error)]
pub enum ModelCarError {
    #[error(
        "reading the model directory {path}: {source}; check that the model directory given is the one holding the model files"
    )]
    ModelDirMissing {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the model directory {path} is not a directory; give the directory holding the model files"
    )]
    ModelDirNotDirectory { path: PathBuf },
    #[error(
        "the model directory {path} holds no files; check the model directory given (did the training step write its output there?)"
    )]
    ModelDirEmpty { path: PathBuf },
    #[error(
        "{path} is a symbolic link to {target:?}, which leaves the model directory; copy the file into the model directory or make the link relative and inside it"
    )]
    SymlinkEscapes { path: PathBuf, target: String },
    #[error(
        "{path} is {kind}, which cannot be stored in an image layer; remove it from the model directory"
    )]
    SpecialFile { path: PathBuf, kind: &'static str },
    #[error(
        "{path} has a name starting with .wh., which OCI images reserve for deleted files (whiteouts); rename it"
    )]
    WhiteoutName { path: PathBuf },
    #[error(
        "{} has a name that is not valid UTF-8, which image layers cannot carry portably; rename it", path.display()
    )]
    NonUtf8Name { path: PathBuf },
    #[error("reading {path}: {source}; check the file exists and this user may read it")]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "invalid subdirectory {subdir:?} for the model files: {reason}; give a relative path such as \"jukebox\" (files land under /models/<subdir>)"
    )]
    InvalidSubdir {
        subdir: String,
        reason: &'static str,
    },
    #[error("{path}: {message}; a model path must be a relative UTF-8 path without NUL characters")]
    UnencodablePath { path: String, message: &'static str },
    #[error(
        "the model needs {model} layers and the base image has {base}: {total} layers in all, over the limit of {limit} (container runtimes fail near 125); use a base with fewer layers"
    )]
    TooManyLayers {
        model: usize,
        base: usize,
        total: usize,
        limit: usize,
    },
    #[error(
        "hashing layer {index} ({first_path}): {source}; check the model files were not changed or removed during the build"
    )]
    Hashing {
        index: usize,
        first_path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the base image {base} has an ENTRYPOINT {entrypoint:?}, which would swallow the command KServe passes to a ModelCar; use a base without one (e.g. ubi-minimal, busybox) or allow a base image with an ENTRYPOINT"
    )]
    BaseHasEntrypoint {
        base: String,
        entrypoint: Vec<String>,
    },
    #[error("reading the layers of base image {base}: {source}; check the base image is intact")]
    BaseLayers {
        base: String,
        #[source]
        source: std::io::Error,
    },
    #[error("assembling the image: {0}")]
    Image(#[source] oci::ImageError),
}

impl ModelCarError {
    /// Whether the fix is in how the command was called: only the subdirectory asked for. The model
    /// directory's files and the base image are what the build was given to work on (a training
    /// step's output, an image), and their faults are the build's failure (exit code 1).
    pub fn is_usage(&self) -> bool {
        match self {
            Self::InvalidSubdir { .. } => true,
            Self::Image(e) => e.is_usage(),
            _ => false,
        }
    }
}

impl common::UsageFault for ModelCarError {
    fn is_usage(&self) -> bool {
        ModelCarError::is_usage(self)
    }
}
