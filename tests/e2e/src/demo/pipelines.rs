//! Webhook deliveries through the EventListeners, and the PipelineRuns they start, run locally.

use super::*;

/// The example installation's hosts and this machine's.
pub(super) fn hosts(flow: &Flow) -> Vec<(&'static str, &str)> {
    vec![
        (EXAMPLE_IMAGE_REGISTRY, flow.registry_host.as_str()),
        (EXAMPLE_GITEA, flow.gitea_route.as_str()),
        (EXAMPLE_MODEL_REGISTRY, flow.model_registry_route.as_str()),
    ]
}

pub(super) fn log_params(
    log: &mut Log,
    pipeline: &str,
    params: &std::collections::BTreeMap<String, ParamValue>,
) {
    log.write(&format!(
        "PipelineRun of {pipeline} with the installation's settings:"
    ));
    for (name, value) in params {
        log.write(&format!("  {name} = {}", value.strings().join(", ")));
    }
}

/// Deliveries, as they arrive, through the EventListener they were sent to, until one starts a
/// PipelineRun from the EventListener `listener`; the others are logged with why nothing started.
pub(super) fn next_pipeline_run(
    flow: &Flow,
    log: &mut Log,
    listener: &str,
) -> Result<(Delivery, PipelineRunSpec), String> {
    let deadline = Instant::now() + DELIVERY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let delivery = flow.receiver.next(left).ok_or_else(|| {
            format!("no delivery to the {listener} EventListener started a PipelineRun within {DELIVERY_TIMEOUT:?}")
        })?;
        log.write(&format!(
            "delivery to {}: {}\nheaders: {:?}\nbody: {}",
            delivery.listener,
            delivery.summary(),
            delivery.headers,
            delivery.body
        ));
        let fired = through_listener(
            &flow.harness,
            &crate::tekton_dir(),
            &flow.manifests,
            &delivery.listener,
            &delivery,
            &flow.webhook_secret,
        )?;
        let mut started = None;
        for trigger in &fired {
            if trigger.passed {
                let spec = pipeline_run(trigger)?;
                let pipeline = spec
                    .pipeline_ref
                    .as_ref()
                    .and_then(|p| p.name.clone())
                    .unwrap_or_default();
                log.say(&format!(
                    "{} -> EventListener {}: Trigger {} passed (signature, CEL filter) and created a PipelineRun of {pipeline}",
                    delivery.summary(),
                    delivery.listener,
                    trigger.trigger
                ));
                started = Some(spec);
            } else {
                log.write(&format!("Trigger {}: {}", trigger.trigger, trigger.reason));
                log.say(&format!(
                    "{} -> EventListener {}: Trigger {} started nothing ({})",
                    delivery.summary(),
                    delivery.listener,
                    trigger.trigger,
                    stopped_by(&trigger.reason)
                ));
            }
        }
        if let Some(spec) = started {
            if delivery.listener != listener {
                return Err(format!(
                    "a delivery to {} started a PipelineRun while one from {listener} was awaited",
                    delivery.listener
                ));
            }
            return Ok((delivery, spec));
        }
    }
}

/// Which interceptor stopped a delivery, and how, from the harness's reason ("interceptor NAME:
/// expression ... did not return true (Code)").
fn stopped_by(reason: &str) -> String {
    let reason = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(rest) = reason.strip_prefix("interceptor ") else {
        return reason;
    };
    let (name, message) = rest.split_once(": ").unwrap_or((rest, ""));
    if message.starts_with("expression ") && message.contains("did not return true") {
        format!("the CEL filter of {name} is false")
    } else {
        format!("{name}: {message}")
    }
}

/// Runs a PipelineRun with `params`, logging each step.
pub(super) fn run_pipeline(
    cluster: &LocalCluster,
    manifests: &Manifests,
    run: &PipelineRunSpec,
    params: std::collections::BTreeMap<String, ParamValue>,
    log: &mut Log,
) -> Result<PipelineRunOutcome, String> {
    let mut run = run.clone();
    run.params = params
        .into_iter()
        .map(|(name, value)| crate::manifests::Param { name, value })
        .collect();
    let outcome = cluster.run_pipeline_run(manifests, &run);
    match outcome {
        Ok(outcome) => {
            let tasks: std::collections::BTreeSet<&str> =
                outcome.steps.iter().map(|s| s.task.as_str()).collect();
            log.say(&format!(
                "PipelineRun {} succeeded: {} task{}, each step's files under {}",
                outcome.run.name,
                tasks.len(),
                if tasks.len() == 1 { "" } else { "s" },
                cluster.scratch.display()
            ));
            for step in &outcome.steps {
                log.write(&step.to_string());
            }
            Ok(outcome)
        }
        Err(error) => Err(format!(
            "{error}\n(each step's stdout and stderr: {}/<TaskRun>/step-<name>/)",
            cluster.scratch.display()
        )),
    }
}
