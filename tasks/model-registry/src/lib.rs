//! model-registry
