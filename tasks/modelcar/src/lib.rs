//! Packages a model directory as a KServe ModelCar: an OCI image with the model under `/models`
//! on a small base image, built without a container daemon.
//!
//! - [`scan`]: reads and validates the model directory (before anything is pushed).
//! - [`plan`]: which files go into which layer.
//! - [`tar`], [`stream`]: layers as tar streams generated on the fly from the files on disk.
//! - [`hash`]: one parallel pass that learns every layer's digest, size and diff_id.
//! - [`base`]: the base image and its checks (no ENTRYPOINT, a `/bin/sh`).
//! - [`image`]: config, manifest and annotations, reproducible from content and flags alone.

pub mod base;
pub mod error;
pub mod hash;
pub mod image;
pub mod marker;
pub mod plan;
pub mod scan;
pub mod stream;
pub mod tar;

pub use base::{BaseImage, Shell};
pub use error::ModelCarError;
pub use image::{
    BuildOptions, ImageMetadata, ModelCar, ModelLayers, assemble_modelcar, build_modelcar,
    build_modelcar_from, build_modelcars_from, hash_model_layers, modelcar_index,
};
pub use stream::{Compression, TarLayer};
