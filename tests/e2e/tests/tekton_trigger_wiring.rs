//! The wiring of the checked-in Triggers that schemas cannot check: trigger templates, bindings and
//! Pipelines agree, every delivery is verified first, the CEL never indexes into lists, every
//! Trigger is in a listener, and the listener's rights stop at creating PipelineRuns.

use std::collections::{BTreeMap, BTreeSet};

use e2e::checks::{assert_no_problems as assert_none, check_pipeline_run};
use e2e::manifests::{Manifests, PipelineRunSpec};
use e2e::refs::{Target, references};
use serde_json::Value;

fn manifests() -> Manifests {
    Manifests::load(&e2e::tekton_dir()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn trigger_templates_bindings_and_pipelines_agree() {
    let manifests = manifests();
    let mut problems = Vec::new();
    for (name, template) in &manifests.trigger_templates {
        let declared: BTreeSet<&str> = template
            .spec
            .params
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        let mut used = BTreeSet::new();
        let rendered = serde_json::to_string(&template.spec.resourcetemplates).unwrap();
        for reference in references(&rendered) {
            match &reference.target {
                Target::TriggerTemplateParam(param) if declared.contains(param.as_str()) => {
                    used.insert(param.clone());
                }
                Target::TriggerTemplateParam(param) => problems.push(format!(
                    "TriggerTemplate {name}: $(tt.params.{param}) is not declared"
                )),
                _ => problems.push(format!(
                    "TriggerTemplate {name}: $({}) is not a template param",
                    reference.expression
                )),
            }
        }
        for param in &declared {
            if !used.contains(*param) {
                problems.push(format!(
                    "TriggerTemplate {name}: param {param} is never used"
                ));
            }
        }
        for resource in &template.spec.resourcetemplates {
            if resource.get("kind").and_then(Value::as_str) != Some("PipelineRun") {
                continue;
            }
            match serde_json::from_value::<PipelineRunSpec>(resource["spec"].clone()) {
                Ok(run) => check_pipeline_run(
                    &manifests,
                    &format!("TriggerTemplate {name}"),
                    &run,
                    &mut problems,
                ),
                Err(e) => problems.push(format!("TriggerTemplate {name}: PipelineRun spec: {e}")),
            }
        }
    }
    for (name, trigger) in &manifests.triggers {
        let at = format!("Trigger {name}");
        let Some(template) = trigger
            .spec
            .template
            .reference
            .as_ref()
            .and_then(|t| manifests.trigger_templates.get(t))
        else {
            problems.push(format!("{at}: template names no TriggerTemplate"));
            continue;
        };
        let overlay_keys: BTreeSet<String> = trigger
            .spec
            .interceptors_named("cel")
            .flat_map(e2e::triggers::cel_overlays)
            .map(|(key, _)| key)
            .collect();
        let mut bound = BTreeMap::new();
        for binding in &trigger.spec.bindings {
            if let Some(reference) = &binding.reference {
                match manifests.trigger_bindings.get(reference) {
                    Some(found) => bound.extend(
                        found
                            .spec
                            .params
                            .iter()
                            .map(|p| (p.name.clone(), p.value.clone())),
                    ),
                    None => {
                        problems.push(format!("{at}: TriggerBinding {reference} does not exist"))
                    }
                }
            } else if let (Some(n), Some(v)) = (&binding.name, &binding.value) {
                bound.insert(n.clone(), v.clone());
            }
        }
        for (param, value) in &bound {
            if !template.spec.params.iter().any(|p| &p.name == param) {
                problems.push(format!(
                    "{at}: binds {param}, which TriggerTemplate {} does not declare",
                    template.name()
                ));
            }
            for reference in references(value) {
                match &reference.target {
                    Target::Body(_) | Target::Header(_) => {}
                    Target::Extensions(key) if overlay_keys.contains(key) => {}
                    _ => problems.push(format!(
                        "{at}: binding {param}: $({}) has no source",
                        reference.expression
                    )),
                }
            }
        }
        for param in template.spec.params.iter().filter(|p| p.default.is_none()) {
            if !bound.contains_key(&param.name) {
                problems.push(format!(
                    "{at}: TriggerTemplate param {} is never bound",
                    param.name
                ));
            }
        }
        // Deliveries are verified before anything else reads them.
        match trigger.spec.interceptors.first() {
            Some(first) if first.reference.name == "github" => {
                let secret = first.param("secretRef");
                if secret.and_then(|s| s.get("secretName")).is_none()
                    || secret.and_then(|s| s.get("secretKey")).is_none()
                {
                    problems.push(format!(
                        "{at}: github interceptor without secretRef.secretName/secretKey"
                    ));
                }
                if first.param("eventTypes") != Some(&serde_json::json!(["push"])) {
                    problems.push(format!(
                        "{at}: github interceptor should accept push events only"
                    ));
                }
            }
            _ => problems.push(format!(
                "{at}: the first interceptor should verify the signature (github)"
            )),
        }
        for interceptor in trigger.spec.interceptors_named("cel") {
            let expressions = e2e::triggers::cel_filter(interceptor)
                .into_iter()
                .map(str::to_string)
                .chain(
                    e2e::triggers::cel_overlays(interceptor)
                        .into_iter()
                        .map(|(_, e)| e),
                );
            for expression in expressions {
                if expression.contains('[') {
                    problems.push(format!("{at}: CEL indexes into a list: {expression}"));
                }
            }
        }
    }
    let mut listened = BTreeSet::new();
    let accounts = manifests.names_of_kind("ServiceAccount");
    for (name, listener) in &manifests.event_listeners {
        for trigger in &listener.spec.triggers {
            match trigger.trigger_ref.as_ref() {
                Some(reference) if manifests.triggers.contains_key(reference) => {
                    listened.insert(reference.clone());
                }
                other => problems.push(format!(
                    "EventListener {name}: trigger {other:?} does not exist"
                )),
            }
        }
        match &listener.spec.service_account_name {
            Some(account) if accounts.contains(account) => {}
            other => problems.push(format!(
                "EventListener {name}: ServiceAccount {other:?} is not defined"
            )),
        }
    }
    for name in manifests.triggers.keys() {
        if !listened.contains(name) {
            problems.push(format!("Trigger {name} is in no EventListener"));
        }
    }
    assert_none("trigger wiring problems", problems);
}

#[test]
fn the_listener_may_create_pipeline_runs_and_nothing_more() {
    let manifests = manifests();
    let role = manifests
        .others_of_kind("Role")
        .find(|r| {
            r.pointer("/metadata/name").and_then(Value::as_str) == Some("modelcar-gitops-listener")
        })
        .expect("Role modelcar-gitops-listener in tekton/rbac");
    let rules = role["rules"].as_array().unwrap();
    let mut writes = Vec::new();
    for rule in rules {
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let resources: Vec<&str> = rule["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            !verbs.contains(&"*") && !resources.contains(&"*"),
            "no wildcards: {rule}"
        );
        assert!(
            !resources.contains(&"secrets"),
            "the listener reads no Secrets: {rule}"
        );
        for verb in verbs
            .iter()
            .filter(|v| !matches!(**v, "get" | "list" | "watch"))
        {
            writes.extend(resources.iter().map(|r| format!("{verb} {r}")));
        }
    }
    writes.sort();
    assert_eq!(
        writes,
        ["create events", "create pipelineruns", "patch events"]
    );
}
