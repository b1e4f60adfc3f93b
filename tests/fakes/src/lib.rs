//! Faithful, stateful fakes of the services that cannot run here, each following its upstream API
//! description (fields, status codes, quirks): the Gitea, GitHub and GitLab REST APIs, the Kubeflow
//! Model Registry, and the part of the Kubernetes API that serves KServe InferenceServices.
//! Each starts on a free loopback port in its own thread and runtime.

pub mod forge_support;
pub mod gitea;
pub mod github;
pub mod gitlab;
pub mod kube;
pub mod kubeflow;
