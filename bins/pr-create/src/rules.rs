//! The promotion rules (--require): read before anything is sent, judged against the Model
//! Registry's comparison, and applied as a block, a draft or a commit status.

use anyhow::anyhow;
use common::{fault_with, usage};
use forge::{CommitStatus, PromotionRequest, StatusState};
use model_registry::promotion::{Rule, Verdict};

use crate::cli::{Cli, OnRuleFailure};
use crate::registry;

/// The --require rules, read before anything is sent.
pub(crate) fn promotion_rules(cli: &Cli) -> anyhow::Result<Vec<Rule>> {
    let rules = cli
        .rules
        .iter()
        .filter(|r| !r.trim().is_empty())
        .map(|r| Rule::parse(r, &cli.environment).map_err(|e| fault_with(e, |_| Some("--require"))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !rules.is_empty() && cli.registry_url.is_none() {
        return Err(usage(
            "--require judges the candidate by the Model Registry: give --registry-url",
        ));
    }
    Ok(rules)
}

/// How the candidate fared against the --require rules.
pub(crate) enum Judged {
    NoRules,
    Verdicts(Vec<Verdict>),
}

impl Judged {
    fn failed(&self) -> Vec<&Verdict> {
        match self {
            Judged::NoRules => Vec::new(),
            Judged::Verdicts(verdicts) => verdicts.iter().filter(|v| !v.passed).collect(),
        }
    }

    /// The RULES result.
    pub(crate) fn result(&self) -> &'static str {
        match self {
            Judged::NoRules => "",
            Judged::Verdicts(_) if self.failed().is_empty() => "passed",
            Judged::Verdicts(_) => "failed",
        }
    }
}

/// Logs every rule's verdict. When one fails and failures block, records status "blocked" and
/// fails the step before anything is pushed or opened.
pub(crate) fn enforce(
    cli: &Cli,
    comparison: &registry::Comparison,
    rules: &[Rule],
) -> anyhow::Result<Judged> {
    let verdicts = comparison
        .judge(rules)
        .map_err(|e| fault_with(e, |_| Some("--require")))?;
    for verdict in &verdicts {
        let mark = if verdict.passed { "holds" } else { "FAILS" };
        tracing::info!(
            "promotion rule {:?} {mark}: {}",
            verdict.rule,
            verdict.explanation
        );
    }
    let judged = Judged::Verdicts(verdicts);
    let failed: Vec<String> = judged
        .failed()
        .iter()
        .map(|v| format!("{:?}: {}", v.rule, v.explanation))
        .collect();
    if failed.is_empty() || cli.on_rule_failure == OnRuleFailure::Draft {
        return Ok(judged);
    }
    cli.common.results().write_all([
        ("NUMBER", ""),
        ("URL", ""),
        ("STATUS", "blocked"),
        ("BRANCH", ""),
        ("IMAGE_DIGEST", ""),
        ("RULES", "failed"),
    ])?;
    Err(anyhow!(
        "{} {} is not promoted to {}: {}",
        cli.model,
        cli.model_version,
        cli.environment,
        failed.join("; ")
    ))
}

/// What the verdicts put on the pull request: a section listing them, draft when one failed, and the
/// commit status of the promotion branch's head.
pub(crate) fn apply_judgement(
    cli: &Cli,
    judged: &Judged,
    registry_url: &url::Url,
    request: &mut PromotionRequest,
) {
    let Judged::Verdicts(verdicts) = judged else {
        return;
    };
    let failed = judged.failed();
    let mut section = String::from("\n### Promotion rules\n\n");
    if !failed.is_empty() {
        section.push_str(&format!(
            "**Draft: {} of {} rules fail.** Merging promotes a version the rules do not let \
             through; decide by the values below.\n\n",
            failed.len(),
            verdicts.len()
        ));
    }
    section.push_str("| rule | verdict |\n|---|---|\n");
    for verdict in verdicts {
        let mark = if verdict.passed { "holds" } else { "**fails**" };
        section.push_str(&format!(
            "| `{}` | {mark}: {} |\n",
            verdict.rule.replace('|', "\\|").replace('`', "'"),
            verdict.explanation.replace('|', "\\|")
        ));
    }
    request.rules_section = Some(section);
    request.draft = !failed.is_empty();
    let description = match failed.first() {
        None => format!(
            "{} {}: {} promotion rule{} hold",
            cli.model,
            cli.model_version,
            verdicts.len(),
            if verdicts.len() == 1 { "" } else { "s" }
        ),
        Some(first) => format!(
            "{} of {} rules fail: {}: {}",
            failed.len(),
            verdicts.len(),
            first.rule,
            first.explanation
        ),
    };
    request.commit_status = Some(CommitStatus {
        state: if failed.is_empty() {
            StatusState::Success
        } else {
            StatusState::Failure
        },
        context: cli.status_context.clone(),
        description,
        target_url: Some(registry_url.to_string()),
    });
}
