//! Given-helpers shared by the core's integration tests.
#![allow(dead_code)]
use std::rc::Rc;

use apiary::api::{CallContext, CompleteArgs, Options, PollArgs, SpawnArgs, SpawnReply};
use apiary::event::{
    CompletionStatus, Event, EventBody, Payload, Priority, ServerNote, WorkerCompleted,
    WorkerFailed, WorkerObserved, WorkerQueued, WorkerSpawned, SCHEMA_VERSION,
};
use apiary::host::Host;
use apiary::host::{MessageError, ServerEvent};
use apiary::projection::Swarm;
use apiary::testing::{self, FakeHost, MemoryStore};
use apiary::{Apiary, ToolError};
use sha2::{Digest, Sha256};

/// A spawn as the plugin carries it out: the call, which only queues, then the scheduler's
/// round its queue entry wakes (the plugin's duties run it behind the call; here, in turn).
pub async fn spawn_started<H: Host>(
    a: &Apiary<H>,
    ctx: &CallContext,
    args: &SpawnArgs,
) -> Result<SpawnReply, ToolError> {
    let reply = a.spawn(ctx, args).await?;
    a.drain().await?;
    Ok(reply)
}

/// `spawn_started`, then the session of the worker it started.
pub async fn started_session<H: Host>(
    a: &Apiary<H>,
    ctx: &CallContext,
    args: &SpawnArgs,
) -> Result<String, ToolError> {
    spawn_started(a, ctx, args).await?;
    let swarm = a.log().swarm();
    let w = swarm.bead(&args.bead_id).expect("the bead started");
    Ok(w.session_id.clone())
}

pub fn apiary() -> Apiary<FakeHost> {
    Apiary::new(FakeHost::default())
}

/// The server reports an error of this name on a session (`APIError`, `MessageAbortedError`).
pub fn session_error(a: &Apiary<FakeHost>, session: &str, name: &str) {
    testing::block_on(a.observe(&ServerEvent::Error {
        session_id: session.into(),
        error: Some(MessageError {
            name: Some(name.into()),
            data: None,
        }),
    }))
    .unwrap();
}

/// The session of a bead's latest worker.
pub fn session_of(a: &Apiary<FakeHost>, bead: &str) -> String {
    a.log()
        .swarm()
        .bead(bead)
        .expect("a worker")
        .session_id
        .clone()
}

/// The worker reports success from its own session and its turn ends; the scheduler then
/// runs, as the plugin's watch loop runs it on every change of the log.
pub fn finish(a: &Apiary<FakeHost>, bead: &str) {
    let session = session_of(a, bead);
    testing::block_on(a.complete(&worker(&session), &complete_args(bead))).unwrap();
    testing::block_on(a.observe(&ServerEvent::Idle {
        session_id: session,
    }))
    .unwrap();
    testing::block_on(a.drain()).unwrap();
}

/// The text of every prompt sent to `session`, in order.
pub fn prompts_to(a: &Apiary<FakeHost>, session: &str) -> Vec<String> {
    a.host()
        .sessions
        .prompts
        .borrow()
        .iter()
        .filter(|(s, _)| s == session)
        .map(|(_, t)| t.clone())
        .collect()
}

/// An instance with the default options changed by `change`.
pub fn apiary_with(change: impl FnOnce(&mut Options)) -> Apiary<FakeHost> {
    let mut options = Options::default();
    change(&mut options);
    options.check().expect("valid options");
    Apiary::with_options(FakeHost::default(), options)
}

pub fn coordinator() -> CallContext {
    CallContext {
        session_id: "ses_coord".into(),
        directory: "/repo".into(),
    }
}

pub fn worker(session: &str) -> CallContext {
    CallContext {
        session_id: session.into(),
        directory: "/repo".into(),
    }
}

pub fn spawn_args(bead: &str) -> SpawnArgs {
    SpawnArgs {
        bead_id: bead.into(),
        epic_id: "ep".into(),
        title: format!("task {bead}"),
        description: Some("do it".into()),
        files: vec![format!("src/{bead}.rs")],
        dependencies: None,
        shared_context: None,
        agent: None,
        model: None,
        priority: None,
        verify: None,
    }
}

pub fn complete_args(bead: &str) -> CompleteArgs {
    CompleteArgs {
        bead_id: bead.into(),
        summary: format!("did {bead}"),
        files_touched: vec![format!("src/{bead}.rs")],
        status: None,
    }
}

pub fn poll_args() -> PollArgs {
    PollArgs {
        epic_id: "ep".into(),
        include_messages: None,
    }
}

pub fn count_lines(a: &Apiary<FakeHost>, event_type: &str) -> usize {
    let needle = format!("\"type\":\"{event_type}\"");
    a.host()
        .store
        .text()
        .lines()
        .filter(|l| l.contains(&needle))
        .count()
}

pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An instance whose host shares its store with other hosts.
pub type SharingApiary = Apiary<FakeHost<Rc<MemoryStore>>>;

/// Two instances whose hosts share one store, as two plugin instances share a log file.
pub fn two_instances_on_one_store() -> (SharingApiary, SharingApiary) {
    let store = Rc::new(MemoryStore::default());
    let host = || FakeHost::with_store(store.clone());
    (Apiary::new(host()), Apiary::new(host()))
}

// The log as events, for the decisions that are pure functions of the projection
// (`schedule::admit`, `schedule::intake`): given these events, when a command, then a decision.

/// When the events of `given` happened, one millisecond apart from it; tests decide at `NOW`.
pub const T0: u64 = 1_000_000;
pub const NOW: u64 = T0 + 60_000;

/// The projection of `events`, appended in order one millisecond apart from `T0`.
pub fn given(events: impl IntoIterator<Item = EventBody>) -> Swarm {
    with_events(&Swarm::default(), events)
}

/// `swarm` with `events` appended after its own.
pub fn with_events(swarm: &Swarm, events: impl IntoIterator<Item = EventBody>) -> Swarm {
    let mut swarm = swarm.clone();
    for body in events {
        let seq = swarm.last_seq() + 1;
        swarm.apply(&Event {
            seq,
            version: SCHEMA_VERSION,
            timestamp: T0 + seq,
            payload: Payload::Known(body),
        });
    }
    swarm
}

/// The record of `bead`'s worker in session `session`, as a spawn from `coordinator()` with
/// `spawn_args(bead)` makes it here (no worktree: `/repo` is no repository).
pub fn spawned_worker(bead: &str, session: &str) -> WorkerSpawned {
    let args = spawn_args(bead);
    WorkerSpawned {
        session_id: session.into(),
        bead_id: bead.into(),
        epic_id: args.epic_id,
        title: args.title,
        files: args.files,
        prompt_hash: "0".repeat(64),
        directory: Some("/repo".into()),
        parent_session_id: Some("ses_coord".into()),
        parent_directory: Some("/repo".into()),
        description: args.description,
        priority: Some(Priority::Normal),
        ..WorkerSpawned::default()
    }
}

pub fn spawned(bead: &str, session: &str) -> EventBody {
    EventBody::WorkerSpawned(spawned_worker(bead, session))
}

/// The queue entry a spawn from `coordinator()` with `spawn_args(bead)` records.
pub fn queued_request(bead: &str) -> WorkerQueued {
    let args = spawn_args(bead);
    WorkerQueued {
        bead_id: bead.into(),
        epic_id: args.epic_id,
        title: args.title,
        files: args.files,
        description: args.description,
        parent_session_id: Some("ses_coord".into()),
        parent_directory: Some("/repo".into()),
        ..WorkerQueued::default()
    }
}

pub fn queued(bead: &str) -> EventBody {
    EventBody::WorkerQueued(queued_request(bead))
}

/// The worker in `session` reports `status`, and its session goes idle (its slot frees).
pub fn completed(bead: &str, session: &str, status: CompletionStatus) -> [EventBody; 2] {
    [
        EventBody::WorkerCompleted(WorkerCompleted {
            session_id: session.into(),
            bead_id: bead.into(),
            epic_id: "ep".into(),
            status,
            summary: format!("did {bead}"),
            files_touched: Vec::new(),
            duration_ms: 1_000,
        }),
        EventBody::WorkerIdle(WorkerObserved {
            session_id: session.into(),
            bead_id: bead.into(),
        }),
    ]
}

/// The worker in `session` failed, for good (not retryable).
pub fn failed(bead: &str, session: &str) -> EventBody {
    EventBody::WorkerFailed(WorkerFailed {
        session_id: session.into(),
        bead_id: bead.into(),
        epic_id: "ep".into(),
        error: "it broke".into(),
        stack: None,
        retryable: false,
    })
}

pub fn server_lost(url: &str) -> EventBody {
    EventBody::ServerLost(ServerNote {
        url: url.into(),
        reason: "3 probes failed".into(),
    })
}
