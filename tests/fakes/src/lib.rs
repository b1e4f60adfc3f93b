//! fakes
pub mod forge_support;
pub mod gitea;
pub mod github;
pub mod gitlab;
pub mod kube;
pub mod kubeflow;
