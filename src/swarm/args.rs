//! The bounds of the tools' arguments, in one table: the core checks them, and the shim builds
//! the schemas the model reads from the same table (`ApiaryCore.argLimits`), so a limit cannot
//! differ between the two.
use super::limits;
use crate::event::{CompletionStatus, Importance, Priority};
use crate::json::json_fields;

/// One argument's bounds: a whole number from `min` to `max`, or one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgLimit {
    pub tool: &'static str,
    pub arg: &'static str,
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub values: Vec<&'static str>,
}

// As `ArgLimit` in TypeScript (`src/wasm/exports.rs`): a bound absent or empty is left out.
json_fields!(write ArgLimit {
    req tool,
    req arg,
    opt min,
    opt max,
    opt values,
});

fn range(tool: &'static str, arg: &'static str, min: u64, max: u64) -> ArgLimit {
    ArgLimit {
        tool,
        arg,
        min: Some(min),
        max: Some(max),
        values: Vec::new(),
    }
}

fn choice(tool: &'static str, arg: &'static str, values: Vec<&'static str>) -> ArgLimit {
    ArgLimit {
        tool,
        arg,
        min: None,
        max: None,
        values,
    }
}

/// Every bounded argument of every tool.
pub fn arg_limits() -> Vec<ArgLimit> {
    let (min_interval, max_interval) = limits::POLL_INTERVAL_MS;
    vec![
        range(
            "swarm_await_workers",
            "timeout_ms",
            0,
            limits::AWAIT_TIMEOUT_MS,
        ),
        range(
            "swarm_await_workers",
            "poll_interval_ms",
            min_interval,
            max_interval,
        ),
        range("swarm_log", "limit", 1, limits::LOG_EVENTS.into()),
        range(
            "swarm_progress",
            "progress_percent",
            0,
            limits::PROGRESS_PERCENT.into(),
        ),
        choice(
            "swarm_spawn_async",
            "priority",
            Priority::ALL.iter().map(|p| p.as_str()).collect(),
        ),
        choice(
            "swarm_send",
            "importance",
            Importance::ALL.iter().map(|i| i.as_str()).collect(),
        ),
        choice(
            "swarm_complete",
            "status",
            CompletionStatus::ALL.iter().map(|s| s.as_str()).collect(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{FromJson, Json, ToJson};

    #[test]
    fn every_choice_is_a_value_the_core_decodes() {
        for limit in arg_limits() {
            for v in &limit.values {
                let json = Json::Str((*v).into());
                let decoded = match limit.arg {
                    "priority" => Priority::from_json(&json).is_ok(),
                    "importance" => Importance::from_json(&json).is_ok(),
                    "status" => CompletionStatus::from_json(&json).is_ok(),
                    other => panic!("no decoder for {other}"),
                };
                assert!(decoded, "{}.{} = {v}", limit.tool, limit.arg);
            }
        }
    }

    #[test]
    fn a_limit_is_written_without_the_bounds_it_lacks() {
        let mut out = String::new();
        arg_limits().write(&mut out);
        assert!(
            out.starts_with(r#"[{"tool":"swarm_await_workers","arg":"timeout_ms","min":0,"max":"#),
            "{out}"
        );
        assert!(
            out.contains(r#"{"tool":"swarm_send","arg":"importance","values":["low","normal","high","urgent"]}"#),
            "{out}"
        );
    }
}
