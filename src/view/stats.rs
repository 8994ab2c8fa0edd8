//! Metrics of a swarm: how long workers take, how often they succeed, how many retries it
//! took, for the whole log, per epic and per agent.
use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use std::collections::BTreeMap;

use super::LogView;
use crate::event::CompletionStatus;
use crate::json::{json_fields, JsonFields, ObjWriter, ToJson};
use crate::projection::{Worker, WorkerState};
use crate::text::order_by;

/// Counts are of attempts: a bead retried twice is three attempts, one bead.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct Group {
    pub attempts: u32,
    /// Beads started at least once.
    pub beads: u32,
    /// Attempts after a bead's first (automatic retries and re-spawns).
    pub retries: u32,
    pub running: u32,
    pub succeeded: u32,
    /// Reported failed, or the session failed (provider error, stall, lost session).
    pub failed: u32,
    pub blocked: u32,
    /// Ended without reporting (`needs_review`), or cut off by a restart and not resumed.
    pub unreported: u32,
    pub cancelled: u32,
    /// Succeeded of the attempts that ended and were not cancelled, rounded; none ended: null.
    pub success_percent: Option<u32>,
    /// Durations of the attempts that ended and were not cancelled (nearest rank).
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub max_ms: Option<u64>,
    /// Worker time: the sum of every attempt's duration (running ones to now).
    pub worker_ms: u64,
    /// Wall time: from the first spawn to the last end (or now while one runs).
    pub span_ms: u64,
    /// Tokens the replies counted so far read and wrote (cache included).
    pub tokens: u64,
    /// What they cost, in millionths of the provider's currency.
    pub cost_micros: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct Named {
    pub name: String,
    #[serde(flatten)]
    pub group: Group,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct Stats {
    pub overall: Group,
    /// Oldest first.
    pub epics: Vec<Named>,
    /// By the agent the workers ran as (`build`, OpenCode's default, when none was named), by name.
    pub agents: Vec<Named>,
    /// By the `provider/model` their replies came from, by name: only the workers whose replies
    /// were counted (when a turn ends).
    pub models: Vec<Named>,
}

json_fields!(Group {
    req attempts,
    req beads,
    req retries,
    req running,
    req succeeded,
    req failed,
    req blocked,
    req unreported,
    req cancelled,
    def success_percent,
    def p50_ms,
    def p95_ms,
    def max_ms,
    req worker_ms,
    req span_ms,
    def tokens,
    def cost_micros,
});

/// `name`, then the group's fields in the same object (serde's `flatten`).
impl ToJson for Named {
    fn write(&self, out: &mut String) {
        let mut o = ObjWriter::new(out);
        o.field("name", &self.name);
        self.group.write_fields(&mut o);
        o.end();
    }
}

json_fields!(write Stats {
    req overall,
    req epics,
    req agents,
    req models,
});

/// The value at percentile `p` of ascending `sorted` (nearest rank).
pub fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    let n = sorted.len() as u64;
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get((rank - 1) as usize).copied()
}

fn group<'a>(workers: impl Iterator<Item = &'a Worker>, now: u64) -> Group {
    let mut g = Group::default();
    let mut ended = Vec::new();
    let (mut first, mut last) = (u64::MAX, 0);
    for w in workers {
        let end = w.ended_at.unwrap_or(now.max(w.spawned_at));
        let took = end - w.spawned_at;
        g.attempts += 1;
        if w.attempt == 1 {
            g.beads += 1;
        } else {
            g.retries += 1;
        }
        g.worker_ms += took;
        if let Some(u) = &w.usage {
            g.tokens += u.tokens();
            g.cost_micros += u.cost_micros;
        }
        first = first.min(w.spawned_at);
        last = last.max(end);
        match w.state {
            WorkerState::Starting | WorkerState::Running => g.running += 1,
            WorkerState::Completed(CompletionStatus::Success) => g.succeeded += 1,
            WorkerState::Completed(CompletionStatus::Failed) | WorkerState::Failed => g.failed += 1,
            WorkerState::Completed(CompletionStatus::Blocked) => g.blocked += 1,
            WorkerState::Idle | WorkerState::Interrupted => g.unreported += 1,
            WorkerState::Cancelled => g.cancelled += 1,
        }
        if !matches!(
            w.state,
            WorkerState::Starting | WorkerState::Running | WorkerState::Cancelled
        ) {
            ended.push(took);
        }
    }
    if !ended.is_empty() {
        g.success_percent = Some(
            ((u64::from(g.succeeded) * 200 + ended.len() as u64) / (2 * ended.len() as u64)) as u32,
        );
    }
    order_by(&mut ended, |d| (*d, 0));
    g.p50_ms = percentile(&ended, 50);
    g.p95_ms = percentile(&ended, 95);
    g.max_ms = ended.last().copied();
    g.span_ms = last.saturating_sub(first.min(last));
    g
}

impl LogView {
    pub fn stats(&self, now: u64) -> Stats {
        let swarm = &self.swarm;
        // Grouped by epic in one pass: a long log has thousands of epics.
        let mut workers_of: BTreeMap<&str, Vec<&Worker>> = BTreeMap::new();
        for w in swarm.workers() {
            workers_of.entry(w.epic_id.as_str()).or_default().push(w);
        }
        let mut epics: Vec<(u64, Named)> = swarm
            .epic_ids()
            .map(|id| {
                let ws = workers_of.get(id).map_or(&[][..], Vec::as_slice);
                let first = ws.first().map_or(u64::MAX, |w| w.spawned_at);
                let group = group(ws.iter().copied(), now);
                (
                    first,
                    Named {
                        name: id.to_string(),
                        group,
                    },
                )
            })
            .filter(|(_, n)| n.group.attempts > 0)
            .collect();
        order_by(&mut epics, |(first, _)| (*first, 0));
        let named = |key: fn(&Worker) -> Option<&str>| {
            let mut names: Vec<&str> = Vec::new();
            for name in swarm.workers().filter_map(key) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
            // By name: the few distinct names are ordered by a simple insertion.
            for i in 1..names.len() {
                let mut j = i;
                while j > 0 && names[j - 1] > names[j] {
                    names.swap(j - 1, j);
                    j -= 1;
                }
            }
            names
                .into_iter()
                .map(|name| Named {
                    group: group(swarm.workers().filter(|w| key(w) == Some(name)), now),
                    name: name.to_string(),
                })
                .collect()
        };
        Stats {
            overall: group(swarm.workers(), now),
            epics: epics.into_iter().map(|(_, n)| n).collect(),
            agents: named(|w| Some(agent_of(w))),
            models: named(model_of),
        }
    }
}

/// The model a worker's replies came from, as its last counted reply named it; `None` before
/// any was counted (its turn has not ended yet).
fn model_of(w: &Worker) -> Option<&str> {
    w.usage.as_ref().and_then(|u| u.model.as_deref())
}

/// A spawn that names no agent runs as OpenCode's default agent.
pub(super) fn agent_of(w: &Worker) -> &str {
    w.agent.as_deref().unwrap_or("build")
}
