//! Every end-to-end scenario, in one test binary: the real binaries against real local services
//! (and faithful fakes of what cannot run here). Run one group with
//! `cargo test -p e2e --test scenarios <module>::`.

mod chart;
mod command_line;
mod demo;
mod forge_conformance;
mod gitea_webhooks;
mod gitops_bump;
mod kube_api;
mod model_marker;
mod modelcar_build;
mod modelcar_platforms;
mod moved_tags;
mod network_faults;
mod pr_create;
mod pr_create_gitea;
mod promotion_rules;
mod registry_label;
mod registry_label_kubeflow;
mod registry_record;
mod task_images;
mod task_images_run;
mod tekton_args;
mod tekton_cel;
mod tekton_docs;
mod tekton_harness;
mod tekton_pipeline_e2e;
mod tekton_trigger_wiring;
mod tekton_wiring;
mod trace;
