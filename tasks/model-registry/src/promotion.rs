//! Promotion rules: only better models are promoted. A rule compares one of the candidate's values
//! (a registry property or a run metric) with a number, or with the same value of the version now
//! in the target environment:
//!
//! ```text
//! accuracy >= prod              at least as accurate as the version in prod
//! latency_p95_ms <= 1.1 * prod  at most 10 % slower
//! accuracy >= prod - 0.01       at most one point worse
//! f1 >= 0.8                     a floor of its own
//! ```
//!
//! The environment's name (`prod` above: whichever environment is promoted to) or `current` stands
//! for the version there. When no version runs there yet, rules against it hold (nothing to be
//! worse than); a floor always applies.

use std::collections::BTreeMap;
use std::fmt;

use crate::PropertyValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
    Ne,
}

impl Op {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Op::Ge => left >= right,
            Op::Gt => left > right,
            Op::Le => left <= right,
            Op::Lt => left < right,
            Op::Eq => left == right,
            Op::Ne => left != right,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Eq => "==",
            Op::Ne => "!=",
        })
    }
}

/// What a metric is compared with.
#[derive(Debug, Clone, PartialEq)]
enum Bound {
    Number(f64),
    /// `factor * current + offset`.
    Current {
        factor: f64,
        offset: f64,
    },
}

/// One parsed rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    text: String,
    metric: String,
    op: Op,
    bound: Bound,
}

/// A rule that cannot be read, or that names what the candidate does not have.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RuleError {
    #[error(
        "promotion rule {rule:?}: {reason}; write METRIC OP BOUND, e.g. \"accuracy >= {env}\", \
         \"latency_p95_ms <= 1.1 * {env}\" or \"f1 >= 0.8\""
    )]
    Syntax {
        rule: String,
        reason: String,
        env: String,
    },
    #[error(
        "promotion rule {rule:?}: version {version} has no property or run metric {metric:?}; it has: {available}"
    )]
    UnknownMetric {
        rule: String,
        metric: String,
        version: String,
        available: String,
    },
    #[error("promotion rule {rule:?}: {metric} of version {version} is {value}, not a number")]
    NotNumeric {
        rule: String,
        metric: String,
        version: String,
        value: String,
    },
}

impl RuleError {
    /// Every rule error is the caller's to fix: the rule, or the metric it names.
    pub fn is_usage(&self) -> bool {
        true
    }
}

impl common::UsageFault for RuleError {
    fn is_usage(&self) -> bool {
        RuleError::is_usage(self)
    }
}

impl Rule {
    /// Parses `text`; `env` is the environment promoted to, which the rule may name.
    pub fn parse(text: &str, env: &str) -> Result<Rule, RuleError> {
        let syntax = |reason: &str| RuleError::Syntax {
            rule: text.to_owned(),
            reason: reason.to_owned(),
            env: env.to_owned(),
        };
        let (at, op, width) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
        ]
        .iter()
        .filter_map(|(token, op)| text.find(token).map(|at| (at, *op, token.len())))
        .min_by_key(|(at, _, width)| (*at, usize::MAX - width))
        .ok_or_else(|| syntax("no comparison (>=, >, <=, <, ==, !=)"))?;
        let metric = text[..at].trim().trim_matches('"').to_owned();
        if metric.is_empty() {
            return Err(syntax("no metric before the comparison"));
        }
        let bound =
            parse_bound(text[at + width..].trim(), env).map_err(|reason| syntax(&reason))?;
        Ok(Rule {
            text: text.trim().to_owned(),
            metric,
            op,
            bound,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

/// `NUMBER`, `ENV`, `NUMBER * ENV`, `ENV * NUMBER`, either of the last three `± NUMBER`.
fn parse_bound(text: &str, env: &str) -> Result<Bound, String> {
    let is_env = |word: &str| word == env || word == "current";
    let number = |word: &str| {
        word.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| format!("{word:?} is neither a number nor {env:?}"))
    };
    if text.is_empty() {
        return Err("nothing after the comparison".into());
    }
    if !text.split_whitespace().any(|w| w.split('*').any(is_env)) {
        return number(text).map(Bound::Number);
    }
    // Split off a trailing "+ N" / "- N" (not a sign at the start).
    let (scaled, offset) = match text[1..].rfind(['+', '-']).map(|i| i + 1) {
        Some(i) => {
            let sign = if &text[i..=i] == "-" { -1.0 } else { 1.0 };
            (text[..i].trim(), sign * number(text[i + 1..].trim())?)
        }
        None => (text, 0.0),
    };
    let factor = match scaled.split_once('*') {
        None if is_env(scaled) => 1.0,
        Some((a, b)) if is_env(b.trim()) => number(a.trim())?,
        Some((a, b)) if is_env(a.trim()) => number(b.trim())?,
        _ => return Err(format!("cannot read {scaled:?}")),
    };
    Ok(Bound::Current { factor, offset })
}

/// A version's values by name (properties and run metrics), for rules.
pub struct Values<'a> {
    pub version: &'a str,
    pub values: &'a BTreeMap<String, PropertyValue>,
}

/// How one rule came out, with both values, for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub rule: String,
    pub passed: bool,
    pub explanation: String,
}

/// Evaluates every rule on the candidate, against the version now in the environment if any.
pub fn evaluate(
    rules: &[Rule],
    candidate: &Values<'_>,
    current: Option<&Values<'_>>,
) -> Result<Vec<Verdict>, RuleError> {
    rules
        .iter()
        .map(|rule| {
            let value = number_of(rule, candidate)?;
            let (bound, against) = match (&rule.bound, current) {
                (Bound::Number(n), _) => (*n, String::new()),
                (Bound::Current { .. }, None) => {
                    return Ok(Verdict {
                        rule: rule.text.clone(),
                        passed: true,
                        explanation: format!(
                            "{} = {} (no version in the environment to compare with)",
                            rule.metric,
                            shown(value)
                        ),
                    });
                }
                (Bound::Current { factor, offset }, Some(current)) => {
                    let theirs = number_of(rule, current)?;
                    (
                        factor * theirs + offset,
                        format!(
                            " ({} of {} is {})",
                            rule.metric,
                            current.version,
                            shown(theirs)
                        ),
                    )
                }
            };
            let passed = rule.op.holds(value, bound);
            Ok(Verdict {
                rule: rule.text.clone(),
                passed,
                explanation: format!(
                    "{} of {} is {}, {} {} {}{against}",
                    rule.metric,
                    candidate.version,
                    shown(value),
                    if passed { "and" } else { "but needs" },
                    rule.op,
                    shown(bound)
                ),
            })
        })
        .collect()
}

fn number_of(rule: &Rule, values: &Values<'_>) -> Result<f64, RuleError> {
    let value = values
        .values
        .get(&rule.metric)
        .or_else(|| values.values.get(&format!("{} (run metric)", rule.metric)));
    let Some(value) = value else {
        return Err(RuleError::UnknownMetric {
            rule: rule.text.clone(),
            metric: rule.metric.clone(),
            version: values.version.to_owned(),
            available: if values.values.is_empty() {
                "nothing".into()
            } else {
                values.values.keys().cloned().collect::<Vec<_>>().join(", ")
            },
        });
    };
    value
        .as_f64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
        .ok_or_else(|| RuleError::NotNumeric {
            rule: rule.text.clone(),
            metric: rule.metric.clone(),
            version: values.version.to_owned(),
            value: format!("{value:?}"),
        })
}

fn shown(value: f64) -> String {
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, PropertyValue)]) -> BTreeMap<String, PropertyValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn rules_parse() {
        let rule = |text| Rule::parse(text, "prod").unwrap();
        assert_eq!(
            rule("accuracy >= prod").bound,
            Bound::Current {
                factor: 1.0,
                offset: 0.0
            }
        );
        assert_eq!(
            rule("latency_p95_ms <= 1.1 * prod").bound,
            Bound::Current {
                factor: 1.1,
                offset: 0.0
            }
        );
        assert_eq!(
            rule("latency <= prod*1.1").bound,
            Bound::Current {
                factor: 1.1,
                offset: 0.0
            }
        );
        assert_eq!(
            rule("accuracy >= prod - 0.01").bound,
            Bound::Current {
                factor: 1.0,
                offset: -0.01
            }
        );
        assert_eq!(
            rule("loss < current + 0.5").bound,
            Bound::Current {
                factor: 1.0,
                offset: 0.5
            }
        );
        let floor = rule("f1 >= 0.8");
        assert_eq!(
            (floor.metric.as_str(), floor.op, floor.bound),
            ("f1", Op::Ge, Bound::Number(0.8))
        );
        assert_eq!(rule("\"eval/loss\" < -1e-3").bound, Bound::Number(-0.001));
        assert_eq!(rule("a != 0").op, Op::Ne);
        for bad in [
            "accuracy",
            ">= 1",
            "accuracy >= ",
            "accuracy >= staging",
            "a >= 2 * 3",
            "a >= nan",
        ] {
            let error = Rule::parse(bad, "prod").unwrap_err();
            assert!(
                error.to_string().contains("accuracy >= prod"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn verdicts_name_both_values() {
        let candidate = values(&[
            ("accuracy", PropertyValue::Double(0.91)),
            ("latency_p95_ms", PropertyValue::Int(120)),
            ("f1 (run metric)", PropertyValue::Double(0.85)),
            ("owner", PropertyValue::String("team".into())),
        ]);
        let prod = values(&[
            ("accuracy", PropertyValue::Double(0.93)),
            ("latency_p95_ms", PropertyValue::String("100".into())),
        ]);
        let rules: Vec<Rule> = [
            "accuracy >= prod - 0.01",
            "latency_p95_ms <= 1.1 * prod",
            "f1 >= 0.8",
            "accuracy >= prod",
        ]
        .iter()
        .map(|r| Rule::parse(r, "prod").unwrap())
        .collect();
        let candidate = Values {
            version: "b2",
            values: &candidate,
        };
        let current = Values {
            version: "a1",
            values: &prod,
        };
        let verdicts = evaluate(&rules, &candidate, Some(&current)).unwrap();
        let passed: Vec<bool> = verdicts.iter().map(|v| v.passed).collect();
        assert_eq!(passed, [false, false, true, false]);
        assert_eq!(
            verdicts[3].explanation,
            "accuracy of b2 is 0.91, but needs >= 0.93 (accuracy of a1 is 0.93)"
        );
        assert_eq!(
            verdicts[1].explanation,
            "latency_p95_ms of b2 is 120, but needs <= 110 (latency_p95_ms of a1 is 100)"
        );
        // Nothing in prod yet: rules against it hold, floors still apply.
        let first = evaluate(&rules, &candidate, None).unwrap();
        assert!(first.iter().all(|v| v.passed));

        let unknown = evaluate(
            &[Rule::parse("recall >= prod", "prod").unwrap()],
            &candidate,
            None,
        )
        .unwrap_err();
        assert!(unknown.to_string().contains("has no property or run metric \"recall\"; it has: accuracy, f1 (run metric), latency_p95_ms, owner"), "{unknown}");
        let text = evaluate(
            &[Rule::parse("owner > 1", "prod").unwrap()],
            &candidate,
            None,
        )
        .unwrap_err();
        assert!(matches!(text, RuleError::NotNumeric { .. }), "{text}");
    }
}
