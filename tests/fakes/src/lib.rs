//! fakes
pub mod kubeflow;
pub mod kube;
