//! A new spawn's intake, as pure functions of the projection: the spawn is answered by its
//! bead's own worker or queue entry, refused, or accepted as a request that goes into the
//! queue (`enqueue`, decided under the log's lock), where the scheduler starts it at once or
//! when it may. `swarm::spawn` carries them out, with the host's checks
//! (the agent's name, the machine's load) between.
use super::admit::taken;
use super::{cycle, dead_dependency, file_conflict, plan, Plan};
use crate::api::{CallContext, FileConflict, Options, SpawnArgs, SpawnReply, SpawnStatus};
use crate::error::ToolError;
use crate::event::{CompletionStatus, WorkerQueued};
use crate::projection::{QueueState, Queued, Swarm, WorkerState};
use crate::text::duration;

/// What a spawn does, decided before anything is prepared.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// The bead already runs or waits in the queue: this reply; nothing is created.
    Existing(SpawnReply),
    /// Nothing is queued or started.
    Refuse(ToolError),
    /// The request, to start at once or to queue.
    Accept(WorkerQueued),
}

/// Decides what a spawn with `args`, called from `ctx`, does.
pub fn vet(
    swarm: &Swarm,
    options: &Options,
    ctx: &CallContext,
    args: &SpawnArgs,
    now: u64,
) -> Intake {
    match existing(swarm, options, args, now) {
        Err(e) => return Intake::Refuse(e),
        Ok(Some(reply)) => return Intake::Existing(reply),
        Ok(None) => {}
    }
    let checked = check_dependencies(swarm, options, args)
        .and_then(|()| check_files_free(swarm, options, args, now));
    match checked {
        Err(e) => Intake::Refuse(e),
        Ok(()) => Intake::Accept(request(swarm, ctx, args)),
    }
}

/// What a spawn that cannot start at once records, decided under the log's lock.
// A decision lives for one append; boxing the request would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Enqueue {
    /// `worker_queued`: the bead waits in the queue.
    Queued(WorkerQueued),
    /// Another writer queued or started the bead first: the reply is about theirs.
    Taken,
    /// The queue is full: nothing is queued.
    Refuse(ToolError),
}

pub fn enqueue(swarm: &Swarm, options: &Options, request: WorkerQueued) -> Enqueue {
    if taken(swarm, &request.bead_id) {
        return Enqueue::Taken;
    }
    let (waiting, cap) = (swarm.waiting().count() as u32, options.max_queued);
    let running = swarm.workers().filter(|w| w.state.is_active()).count();
    // Every spawn enters the queue, even one about to start: the cap counts only the beads
    // beyond the free slots, which will have to wait.
    let free = options.max_running.saturating_sub(running as u32);
    if waiting.saturating_sub(free) < cap {
        return Enqueue::Queued(request);
    }
    Enqueue::Refuse(ToolError::Refused(format!(
        "the queue is full: {waiting} queued (max_queued {cap}) and {running} running \
         (max_running {}). Nothing was queued; await or cancel workers, then spawn again.",
        options.max_running
    )))
}

/// The reply about the bead's own worker or queue entry, if a new spawn should not make one:
/// it waits or runs (the reply says so), or it completed or belongs to another epic (refused).
pub fn existing(
    swarm: &Swarm,
    options: &Options,
    args: &SpawnArgs,
    now: u64,
) -> Result<Option<SpawnReply>, ToolError> {
    let epic = swarm
        .queued(&args.bead_id)
        .map(|q| q.request.epic_id.clone())
        .or_else(|| swarm.bead(&args.bead_id).map(|w| w.epic_id.clone()));
    if let Some(epic) = epic.filter(|e| *e != args.epic_id) {
        return Err(ToolError::Refused(format!(
            "bead {} belongs to epic {epic}, not {}",
            args.bead_id, args.epic_id
        )));
    }
    if let Some(q) = swarm.queued(&args.bead_id) {
        if q.state == QueueState::Waiting {
            let plan = plan(swarm, options, None, now);
            let mut reply = queued_reply(q, &plan, now);
            reply.status = SpawnStatus::AlreadyQueued;
            reply.title = format!("{} already queued", args.bead_id);
            reply.output = format!("{} was already queued; {}", args.bead_id, reply.output);
            return Ok(Some(reply));
        }
        // Blocked or cancelled before it started: a new spawn queues it again.
        return Ok(None);
    }
    let Some(w) = swarm.bead(&args.bead_id) else {
        return Ok(None);
    };
    match w.state {
        WorkerState::Completed(CompletionStatus::Success) => Err(ToolError::Refused(format!(
            "bead {} already completed (session {}); pick a new bead id for new work",
            w.bead_id, w.session_id
        ))),
        s if s.is_active() => {
            let age = now.saturating_sub(w.spawned_at);
            Ok(Some(SpawnReply {
                title: format!("{} already running", w.bead_id),
                output: format!(
                    "{} already has a running worker (session {}, spawned {} ago); no new \
                     session was created.",
                    w.bead_id,
                    w.session_id,
                    duration(age)
                ),
                status: SpawnStatus::AlreadyRunning,
                session_id: w.session_id.clone(),
                bead_id: w.bead_id.clone(),
                epic_id: w.epic_id.clone(),
                worktree: w.worktree.clone(),
                branch: w.branch.clone(),
                prompt_hash: String::new(),
                queue_position: None,
            }))
        }
        // Failed, blocked or needing review: a new spawn is a new attempt.
        _ => Ok(None),
    }
}

/// The reply for a bead left waiting in the queue: its place and why it waits, from `plan`.
pub fn queued_reply(q: &Queued, plan: &Plan, now: u64) -> SpawnReply {
    let bead = &q.request.bead_id;
    let position = plan.position(bead);
    let why = plan
        .wait(bead)
        .map_or_else(|| "waiting".to_string(), |w| w.describe(now));
    SpawnReply {
        title: format!("queued {bead}"),
        output: format!(
            "queued {bead} (epic {}) at #{}: {why}; it starts by itself",
            q.request.epic_id,
            position.unwrap_or(0)
        ),
        status: SpawnStatus::Queued,
        session_id: String::new(),
        bead_id: bead.clone(),
        epic_id: q.request.epic_id.clone(),
        prompt_hash: String::new(),
        worktree: None,
        branch: None,
        queue_position: position,
    }
}

/// The queue entry a spawn asks for.
/// Its verify command is the spawn's, else the one its epic last recorded (the convention: one
/// command per epic, named once), so every instance and a retry read it from the log.
fn request(swarm: &Swarm, ctx: &CallContext, args: &SpawnArgs) -> WorkerQueued {
    WorkerQueued {
        bead_id: args.bead_id.clone(),
        epic_id: args.epic_id.clone(),
        title: args.title.trim().to_string(),
        reason: String::new(),
        priority: args.priority.unwrap_or_default(),
        files: args.files.clone(),
        dependencies: args.dependencies.clone().unwrap_or_default(),
        description: args.description.clone(),
        shared_context: args.shared_context.clone(),
        agent: args.agent.clone(),
        model: args.model.clone(),
        parent_session_id: Some(ctx.session_id.clone()).filter(|s| !s.is_empty()),
        parent_directory: Some(ctx.directory.clone()).filter(|d| !d.is_empty()),
        verify: (args.verify.as_deref().map(str::trim))
            .filter(|v| !v.is_empty())
            .or_else(|| swarm.epic_verify(&args.epic_id))
            .map(str::to_string),
    }
}

/// Dependencies may still be running, queued or not spawned yet; a dependency that failed
/// or was cancelled, or one that closes a cycle, is refused before anything is queued.
fn check_dependencies(swarm: &Swarm, options: &Options, args: &SpawnArgs) -> Result<(), ToolError> {
    let deps = args.dependencies.as_deref().unwrap_or_default();
    if let Some(cycle) = cycle(swarm, &args.bead_id, deps) {
        return Err(ToolError::Refused(format!(
            "{} would close a dependency cycle: {cycle}. Nothing was queued.",
            args.bead_id
        )));
    }
    let dead: Vec<String> = deps
        .iter()
        .filter_map(|d| dead_dependency(swarm, options, d))
        .collect();
    if dead.is_empty() {
        return Ok(());
    }
    Err(ToolError::Refused(format!(
        "{} cannot start: {}. Nothing was queued; spawn the dependency again first.",
        args.bead_id,
        dead.join("; ")
    )))
}

/// With `on_file_conflict: refuse`, files that overlap a running worker's refuse the spawn,
/// naming the worker and the overlapping patterns.
fn check_files_free(
    swarm: &Swarm,
    options: &Options,
    args: &SpawnArgs,
    now: u64,
) -> Result<(), ToolError> {
    if options.on_file_conflict != FileConflict::Refuse {
        return Ok(());
    }
    match file_conflict(swarm, options, &args.bead_id, &args.files, now) {
        None => Ok(()),
        Some((other, paths)) => Err(ToolError::Refused(format!(
            "{}'s files overlap those of running worker {other}: {}. Nothing was queued; \
             wait for {other}, or give {} other files.",
            args.bead_id,
            paths.join(", "),
            args.bead_id
        ))),
    }
}
