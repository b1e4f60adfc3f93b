//! fakes
pub mod kubeflow;
pub mod kube;
pub mod forge_support;
pub mod gitea;
pub mod github;
pub mod gitlab;
