//! A start's admission, as pure functions of the projection: whether a bead may start now, on
//! which server, and what its start records once its worker is prepared. `swarm::queue`
//! carries them out around the host's steps (the worktree, the session, the prompt).
//!
//! A start is decided twice: by `admit` before anything is prepared, on the log as this
//! instance last read it, and by `record` when the worker is recorded, under the log's lock,
//! because other spawns and other instances may have taken the slot or the bead meanwhile.
use std::collections::BTreeMap;

use super::{can_start_now, place, plan, room_on, Machine, Wait};
use crate::api::Options;
use crate::error::{HostError, ToolError};
use crate::event::{EventBody, WorkerFailed, WorkerQueued, WorkerSpawned};
use crate::host::ModelRef;
use crate::projection::{QueueState, Swarm};

/// Where a start comes from, which decides what must still hold when it is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A queued bead: it is still that queue entry, and the plan still starts it.
    Queue { seq: u64 },
    /// A new spawn skipping the queue: the bead is still free and may still start at once;
    /// if only the second no longer holds, it is queued instead.
    Spawn,
}

/// What a start does, decided before anything is prepared.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Prepare the worker on `server` (`None`: the plugin's own), prompt it with `model`, and
    /// `record` it.
    Start {
        server: Option<String>,
        model: Option<ModelRef>,
    },
    /// No server has room (another instance just filled them): a queued bead stays queued,
    /// and nothing is recorded.
    Stay(Wait),
    /// No server has room for a new spawn: it is queued instead, if `record`, with nothing
    /// prepared, still says so under the lock.
    Queue(Wait),
    /// The request cannot start as it is.
    Refuse(ToolError),
}

/// Decides a start of `request` now. `starting` counts, per server, the starts of this
/// instance already on their way there (see `schedule::place`).
pub fn admit(
    swarm: &Swarm,
    options: &Options,
    request: &WorkerQueued,
    origin: Origin,
    starting: &BTreeMap<String, u32>,
    now: u64,
) -> Admission {
    let model = match request.model.as_deref().map(parse_model).transpose() {
        Ok(model) => model,
        Err(e) => return Admission::Refuse(e),
    };
    match (place(swarm, options, starting, now), origin) {
        (Ok(server), _) => Admission::Start { server, model },
        (Err(why), Origin::Queue { .. }) => Admission::Stay(Wait::Servers(why)),
        (Err(why), Origin::Spawn) => Admission::Queue(Wait::Servers(why)),
    }
}

/// What a start records, decided under the log's lock on the log as it is then.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// `worker_spawned`: the worker runs; its prompt goes next.
    Spawned(WorkerSpawned),
    /// `worker_queued`: a spawn that lost its room waits in the queue instead.
    Queued(WorkerQueued),
    /// Nothing: the bead or its slot went to another writer, the plan changed, the queue is
    /// full, or room appeared for a spawn that prepared nothing (its caller looks again).
    /// Whatever was prepared is given up.
    Nothing,
}

impl Record {
    pub fn into_events(self) -> Vec<EventBody> {
        match self {
            Self::Spawned(w) => vec![EventBody::WorkerSpawned(w)],
            Self::Queued(q) => vec![EventBody::WorkerQueued(q)],
            Self::Nothing => Vec::new(),
        }
    }
}

/// What a start of `request` records: `prepared` is the record of its worker, whose place and
/// session are ready on its server, or `None` when `admit` found no server with room and
/// nothing was prepared.
pub fn record(
    swarm: &Swarm,
    options: &Options,
    machine: Option<&Machine>,
    request: WorkerQueued,
    origin: Origin,
    prepared: Option<WorkerSpawned>,
    now: u64,
) -> Record {
    // Its server may have filled meanwhile: it must still have room.
    let room = |w: &WorkerSpawned| {
        w.server
            .as_deref()
            .is_none_or(|url| room_on(swarm, options, url, now))
    };
    let bead = request.bead_id.as_str();
    match (origin, prepared) {
        (Origin::Queue { seq }, Some(w)) => {
            let still = still_first(swarm, bead, seq)
                && room(&w)
                && plan(swarm, options, machine, now)
                    .start
                    .contains(&request.bead_id);
            if still {
                Record::Spawned(w)
            } else {
                Record::Nothing
            }
        }
        (Origin::Queue { .. }, None) => Record::Nothing,
        (Origin::Spawn, prepared) => {
            if taken(swarm, bead) {
                return Record::Nothing;
            }
            // With nothing prepared, room that appeared sends the caller to look again.
            if prepared.as_ref().is_none_or(room)
                && can_start_now(swarm, options, machine, &request, now)
            {
                return prepared.map_or(Record::Nothing, Record::Spawned);
            }
            // Queued only within the cap; the spawn then refuses with counts.
            if swarm.waiting().count() as u32 >= options.max_queued {
                Record::Nothing
            } else {
                Record::Queued(request)
            }
        }
    }
}

/// What a start records when the server refuses its worker's first prompt. A spawn's caller
/// hears of it and decides; a queued start has no one to tell, so the retry policy may start
/// it again.
pub fn prompt_refused(
    request: &WorkerQueued,
    session_id: String,
    origin: Origin,
    error: &HostError,
) -> EventBody {
    EventBody::WorkerFailed(WorkerFailed {
        session_id,
        bead_id: request.bead_id.clone(),
        epic_id: request.epic_id.clone(),
        error: format!("the server refused the prompt: {error}"),
        stack: None,
        retryable: matches!(origin, Origin::Queue { .. }),
    })
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
