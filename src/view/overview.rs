//! The state of a swarm at a glance: each epic with its workers (every attempt, spawn to end,
//! with progress and the last word) and its queue.
use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use super::{Health, LogView};
use crate::event::CompletionStatus;
use crate::json::json_fields;
use std::collections::BTreeMap;

use crate::projection::{QueueState, Queued, Worker, WorkerState};
use crate::schedule;
use crate::text::order_by;

/// One attempt of a bead: a bar on a timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct WorkerRow {
    pub bead_id: String,
    pub epic_id: String,
    pub attempt: u32,
    pub session_id: String,
    /// Where its session runs (its worktree, or the coordinator's directory): OpenCode finds
    /// the session there, so `show` asks for its messages with it.
    pub directory: Option<String>,
    pub title: String,
    /// The agent it ran as: the one its spawn named, else OpenCode's default, `build`.
    pub agent: String,
    pub model: Option<String>,
    /// starting, running, needs_review, success, failed, blocked, cancelled or interrupted.
    pub state: String,
    pub spawned_at: u64,
    pub ended_at: Option<u64>,
    /// To its end, or to `now` while it runs.
    pub duration_ms: u64,
    pub progress_percent: Option<u8>,
    /// Its last word: the summary, the error, its question, or its last progress message.
    pub message: Option<String>,
    pub branch: Option<String>,
    pub merged: bool,
    /// The OpenCode server it ran on (a `servers` option's url); `None`: the coordinator's.
    pub server: Option<String>,
}

/// A bead that has not started: waiting for its turn, or held back for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct QueueRow {
    pub bead_id: String,
    pub epic_id: String,
    pub title: String,
    pub priority: String,
    /// waiting, blocked or cancelled.
    pub state: String,
    /// Its place in the queue (1 starts first), while it waits.
    pub position: Option<u32>,
    /// Why it waits (as the scheduler would say with the options the view was given), or why
    /// it was blocked or cancelled.
    pub reason: String,
    pub queued_at: u64,
    pub attempt: u32,
    /// A retry's backoff ends then.
    pub not_before: Option<u64>,
    pub dependencies: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct EpicView {
    pub epic_id: String,
    /// From its first spawn or queueing to its last end (or `now` while a worker runs).
    pub first_at: u64,
    pub last_at: u64,
    /// The latest attempt of each bead, counted by state.
    pub beads: u32,
    pub running: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub waiting: u32,
    /// Beads whose latest attempt succeeded on a branch not merged yet, in the epic's order.
    pub to_merge: Vec<String>,
    /// Every attempt, in spawn order.
    pub workers: Vec<WorkerRow>,
    pub queue: Vec<QueueRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct Overview {
    pub now: u64,
    pub health: Health,
    pub running: u32,
    pub waiting: u32,
    pub blocked: u32,
    /// Oldest first.
    pub epics: Vec<EpicView>,
}

json_fields!(write WorkerRow {
    req bead_id,
    req epic_id,
    req attempt,
    req session_id,
    def directory,
    req title,
    req agent,
    def model,
    req state,
    req spawned_at,
    def ended_at,
    req duration_ms,
    def progress_percent,
    def message,
    def branch,
    req merged,
    def server,
});
json_fields!(write QueueRow {
    req bead_id,
    req epic_id,
    req title,
    req priority,
    req state,
    def position,
    req reason,
    req queued_at,
    req attempt,
    def not_before,
    req dependencies,
});
json_fields!(write EpicView {
    req epic_id,
    req first_at,
    req last_at,
    req beads,
    req running,
    req succeeded,
    req failed,
    req waiting,
    req to_merge,
    req workers,
    req queue,
});
json_fields!(write Overview {
    req now,
    req health,
    req running,
    req waiting,
    req blocked,
    req epics,
});

fn row(w: &Worker, now: u64) -> WorkerRow {
    let message = match w.state {
        WorkerState::Completed(_) => w.summary.clone(),
        WorkerState::Failed | WorkerState::Cancelled => w.error.clone(),
        _ => w.asks.clone().or_else(|| w.progress_message.clone()),
    };
    WorkerRow {
        bead_id: w.bead_id.clone(),
        epic_id: w.epic_id.clone(),
        attempt: w.attempt,
        session_id: w.session_id.clone(),
        directory: w.directory.clone(),
        title: w.title.clone(),
        agent: super::stats::agent_of(w).to_string(),
        model: w.model.clone(),
        state: w.state.name().to_string(),
        spawned_at: w.spawned_at,
        ended_at: w.ended_at,
        duration_ms: w.ended_at.unwrap_or(now.max(w.spawned_at)) - w.spawned_at,
        progress_percent: w.progress_percent,
        message,
        branch: w.branch.clone(),
        merged: w.merged_commit.is_some(),
        server: w.server.clone(),
    }
}

impl LogView {
    /// The state as of the last event applied; `now` measures the running workers (for a
    /// replay, pass the time it stopped at).
    pub fn overview(&self, now: u64) -> Overview {
        let swarm = &self.swarm;
        let plan = schedule::plan(swarm, &self.options, None, now);
        // Grouped by epic in one pass: a long log has thousands of epics.
        let mut workers_of: BTreeMap<&str, Vec<&Worker>> = BTreeMap::new();
        for w in swarm.workers() {
            workers_of.entry(w.epic_id.as_str()).or_default().push(w);
        }
        let mut queued_of: BTreeMap<&str, Vec<&Queued>> = BTreeMap::new();
        for q in swarm.queue() {
            queued_of
                .entry(q.request.epic_id.as_str())
                .or_default()
                .push(q);
        }
        let mut epics: Vec<EpicView> = swarm
            .epic_ids()
            .map(|id| {
                let workers: Vec<WorkerRow> = workers_of
                    .get(id)
                    .into_iter()
                    .flatten()
                    .map(|w| row(w, now))
                    .collect();
                let mut queue: Vec<QueueRow> = queued_of
                    .get(id)
                    .into_iter()
                    .flatten()
                    .map(|q| {
                        let bead = &q.request.bead_id;
                        let wait = plan.waits.iter().position(|(b, _)| b == bead);
                        let (state, reason) = match &q.state {
                            QueueState::Waiting => (
                                "waiting",
                                match wait {
                                    Some(i) => plan.waits[i].1.describe(now),
                                    None if plan.start.contains(bead) => "starts now".into(),
                                    None => q.request.reason.clone(),
                                },
                            ),
                            QueueState::Blocked(r) => ("blocked", r.clone()),
                            QueueState::Cancelled(r) => ("cancelled", r.clone()),
                            QueueState::Failed { error, .. } => ("failed", error.clone()),
                        };
                        QueueRow {
                            bead_id: q.request.bead_id.clone(),
                            epic_id: q.request.epic_id.clone(),
                            title: q.request.title.clone(),
                            priority: q.request.priority.as_str().to_string(),
                            state: state.to_string(),
                            position: wait.map(|i| i as u32 + 1),
                            reason,
                            queued_at: q.queued_at,
                            attempt: q.attempt,
                            not_before: (q.not_before > 0).then_some(q.not_before),
                            dependencies: q.request.dependencies.clone(),
                        }
                    })
                    .collect();
                order_by(&mut queue, |q| {
                    (q.position.map_or(u64::MAX, u64::from), q.queued_at)
                });
                let latest: Vec<&Worker> = swarm.epic(id);
                let count = |f: &dyn Fn(&Worker) -> bool| latest.iter().filter(|w| f(w)).count();
                let waiting = swarm
                    .epic_beads(id)
                    .iter()
                    .filter(|b| {
                        swarm
                            .queued(b)
                            .is_some_and(|q| q.state == QueueState::Waiting)
                    })
                    .count();
                let first_at = workers
                    .iter()
                    .map(|w| w.spawned_at)
                    .chain(queue.iter().map(|q| q.queued_at))
                    .min()
                    .unwrap_or(now);
                let last_at = workers
                    .iter()
                    .map(|w| w.ended_at.unwrap_or(now))
                    .chain(queue.iter().map(|q| q.queued_at))
                    .max()
                    .unwrap_or(first_at);
                EpicView {
                    epic_id: id.to_string(),
                    first_at,
                    last_at,
                    beads: swarm.epic_beads(id).len() as u32,
                    running: count(&|w| w.state.is_active()) as u32,
                    succeeded: count(&|w| {
                        w.state == WorkerState::Completed(CompletionStatus::Success)
                    }) as u32,
                    failed: count(&|w| {
                        matches!(
                            w.state,
                            WorkerState::Failed
                                | WorkerState::Completed(
                                    CompletionStatus::Failed | CompletionStatus::Blocked
                                )
                        ) && waiting_not(swarm, w)
                    }) as u32,
                    waiting: waiting as u32,
                    to_merge: latest
                        .iter()
                        .filter(|w| {
                            w.state == WorkerState::Completed(CompletionStatus::Success)
                                && w.branch.is_some()
                                && w.merged_commit.is_none()
                        })
                        .map(|w| w.bead_id.clone())
                        .collect(),
                    workers,
                    queue,
                }
            })
            .collect();
        order_by(&mut epics, |e| (e.first_at, 0));
        Overview {
            now,
            health: self.health(),
            running: swarm.workers().filter(|w| w.state.is_active()).count() as u32,
            waiting: swarm.waiting().count() as u32,
            blocked: swarm
                .queue()
                .filter(|q| matches!(q.state, QueueState::Blocked(_)))
                .count() as u32,
            epics,
        }
    }
}

/// The bead's latest attempt is not waiting to be retried.
fn waiting_not(swarm: &crate::projection::Swarm, w: &Worker) -> bool {
    swarm
        .queued(&w.bead_id)
        .is_none_or(|q| q.state != QueueState::Waiting)
}
