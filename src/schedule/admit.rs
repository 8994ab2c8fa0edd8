//! A start's admission, as pure functions of the projection: whether a bead may start now, on
//! which server, and what its start records once its worker is prepared. `swarm::queue`
//! carries them out around the host's steps (the worktree, the session, the prompt).
//!
//! A start is decided twice: by `admit` before anything is prepared, on the log as this
//! instance last read it, and by `record` when the worker is recorded, under the log's lock,
//! because other starts and other instances may have taken the slot or the bead meanwhile.
//! Only queued beads start: a spawn records its bead in the queue and returns, and the
//! scheduler prepares it behind the call.
use std::collections::BTreeMap;

use super::{place, plan, room_on, Machine, Wait};
use crate::api::Options;
use crate::error::{HostError, ToolError};
use crate::event::{EventBody, WorkerFailed, WorkerQueued, WorkerSpawned};
use crate::host::ModelRef;
use crate::projection::{QueueState, Swarm};

/// What a start does, decided before anything is prepared.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Prepare the worker on `server` (`None`: the plugin's own), prompt it with `model`, and
    /// `record` it.
    Start {
        server: Option<String>,
        model: Option<ModelRef>,
    },
    /// No server has room (another instance just filled them): the bead stays queued, and
    /// nothing is recorded.
    Stay(Wait),
    /// The request cannot start as it is.
    Refuse(ToolError),
}

/// Decides a start of `request` now. `starting` counts, per server, the starts of this
/// instance already on their way there (see `schedule::place`).
pub fn admit(
    swarm: &Swarm,
    options: &Options,
    request: &WorkerQueued,
    starting: &BTreeMap<String, u32>,
    now: u64,
) -> Admission {
    let model = match request.model.as_deref().map(parse_model).transpose() {
        Ok(model) => model,
        Err(e) => return Admission::Refuse(e),
    };
    match place(swarm, options, starting, now) {
        Ok(server) => Admission::Start { server, model },
        Err(why) => Admission::Stay(Wait::Servers(why)),
    }
}

/// Whether the worker `prepared` for the queue entry `seq` of `request`'s bead is recorded,
/// decided under the log's lock on the log as it is then: the bead is still that queue
/// entry, its server still has room, and the plan still starts it. Otherwise the bead or its
/// slot went to another writer or the plan changed (a cancel, a higher priority), and what
/// was prepared is given up.
pub fn record(
    swarm: &Swarm,
    options: &Options,
    machine: Option<&Machine>,
    request: &WorkerQueued,
    seq: u64,
    prepared: WorkerSpawned,
    now: u64,
) -> Option<WorkerSpawned> {
    let room = prepared
        .server
        .as_deref()
        .is_none_or(|url| room_on(swarm, options, url, now));
    let still = still_first(swarm, &request.bead_id, seq)
        && room
        && plan(swarm, options, machine, now)
            .start
            .contains(&request.bead_id);
    still.then_some(prepared)
}

/// What a start records when the server refuses its worker's first prompt: a retryable
/// failure, as nobody waits on the call to hear of it.
pub fn prompt_refused(request: &WorkerQueued, session_id: String, error: &HostError) -> EventBody {
    EventBody::WorkerFailed(WorkerFailed {
        session_id,
        bead_id: request.bead_id.clone(),
        epic_id: request.epic_id.clone(),
        error: format!("the server refused the prompt: {error}"),
        stack: None,
        retryable: true,
    })
}

/// What a start records when its worker could not be prepared (its worktree or its session):
/// the queue entry `seq` fails with the reason, once, and the retry policy decides whether
/// it is queued again. Nothing when the entry is no longer waiting (cancelled meanwhile, or
/// another writer recorded its end).
pub fn start_failed(
    swarm: &Swarm,
    request: &WorkerQueued,
    seq: u64,
    error: &str,
) -> Vec<EventBody> {
    if !still_first(swarm, &request.bead_id, seq) {
        return Vec::new();
    }
    vec![EventBody::WorkerFailed(WorkerFailed {
        session_id: String::new(),
        bead_id: request.bead_id.clone(),
        epic_id: request.epic_id.clone(),
        error: format!("could not start: {error}"),
        stack: None,
        retryable: true,
    })]
}

/// The bead is still waiting in the queue, as the same entry the drain planned with.
fn still_first(swarm: &Swarm, bead: &str, seq: u64) -> bool {
    swarm
        .queued(bead)
        .is_some_and(|q| q.state == QueueState::Waiting && q.seq == seq)
}

/// The bead has a running worker or waits in the queue.
pub fn taken(swarm: &Swarm, bead: &str) -> bool {
    swarm.bead(bead).is_some_and(|w| w.state.is_active())
        || swarm
            .queued(bead)
            .is_some_and(|q| q.state == QueueState::Waiting)
}

/// `provider/model`, both parts present.
pub fn parse_model(model: &str) -> Result<ModelRef, ToolError> {
    match model.split_once('/') {
        Some((p, m)) if !p.trim().is_empty() && !m.trim().is_empty() => Ok(ModelRef {
            provider_id: p.trim().to_string(),
            model_id: m.trim().to_string(),
        }),
        _ => Err(ToolError::invalid(
            "model",
            format!("{model:?} is not `provider/model` (e.g. anthropic/claude-sonnet-4)"),
        )),
    }
}
