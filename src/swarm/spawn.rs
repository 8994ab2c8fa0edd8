//! `swarm_spawn_async`: queue the bead, let the scheduler start it, return at once.

use std::cell::Cell;
use std::rc::Rc;

use super::queue::{taken, From};
use super::{limits, Apiary};
use crate::api::{CallContext, FileConflict, Options, SpawnArgs, SpawnReply, SpawnStatus};
use crate::error::ToolError;
use crate::event::{CompletionStatus, EventBody, WorkerCancelled, WorkerQueued};
use crate::host::{Host, ModelRef};
use crate::ids::{check_file_pattern, check_id, check_text};
use crate::projection::{QueueState, Queued, Swarm, WorkerState};
use crate::schedule::{self, Plan};
use crate::text::duration;

impl<H: Host> Apiary<H> {
    /// Puts the bead in the queue and lets the scheduler start what it can: the reply says
    /// whether this worker started at once or waits, and why.
    pub async fn spawn(
        &self,
        ctx: &CallContext,
        args: &SpawnArgs,
    ) -> Result<SpawnReply, ToolError> {
        validate(args)?;
        self.refresh().await?;
        if let Some(reply) = self.existing_worker(args)? {
            return Ok(reply);
        }
        check_dependencies(&self.log.swarm(), &self.options, args)?;
        self.check_files_free(args)?;
        if let Some(agent) = &args.agent {
            self.check_agent(agent).await?;
        }
        let queued = WorkerQueued {
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
        };
        let now = self.host.now_ms();
        let machine = self.host.machine().await.ok();
        if schedule::can_start_now(
            &self.log.swarm(),
            &self.options,
            machine.as_ref(),
            &queued,
            now,
        ) {
            let started = self.start(&queued, 1, None, From::Spawn, machine).await?;
            if started.started {
                return self.spawned_reply(&args.bead_id, started.note, started.prompt_hash);
            }
            if started.queued {
                // Spawns running together took the slots first: this one was queued.
                return self.after_queued(args).await;
            }
            if !taken(&self.log.swarm(), &args.bead_id) {
                // The slot went and the queue is full: the queueing path refuses with counts.
                return self.enqueue(args, queued).await;
            }
            // Another instance took the bead: answer with what the log says now.
            return self.after_race(args);
        }
        self.enqueue(args, queued).await
    }

    /// Records a spawn that cannot start at once in the queue (unless the queue is full), lets
    /// the scheduler start what it can, and says where the bead stands.
    async fn enqueue(
        &self,
        args: &SpawnArgs,
        queued: WorkerQueued,
    ) -> Result<SpawnReply, ToolError> {
        // Under the lock: the bead is still free (another instance may have queued it), and
        // the queue has room.
        let cap = self.options.max_queued;
        let full = Rc::new(Cell::new(None));
        let recorded = self
            .log
            .append_with(&self.host, self.host.now_ms(), {
                let bead = args.bead_id.clone();
                let full = full.clone();
                move |swarm| {
                    let is_taken = taken(swarm, &bead);
                    let waiting = swarm.waiting().count() as u32;
                    let over = !is_taken && waiting >= cap;
                    if over {
                        let running = swarm.workers().filter(|w| w.state.is_active()).count();
                        full.set(Some((waiting, running)));
                    }
                    if is_taken || over {
                        Vec::new()
                    } else {
                        vec![EventBody::WorkerQueued(queued)]
                    }
                }
            })
            .await?;
        if let Some((waiting, running)) = full.get() {
            return Err(ToolError::Refused(format!(
                "the queue is full: {waiting} queued (max_queued {cap}) and {running} running \
                 (max_running {}). Nothing was queued; await or cancel workers, then spawn again.",
                self.options.max_running
            )));
        }
        if recorded.is_empty() {
            return self.after_race(args);
        }
        self.after_queued(args).await
    }

    /// Lets the scheduler start what it can now that this spawn's bead is queued, and says
    /// where the bead stands.
    async fn after_queued(&self, args: &SpawnArgs) -> Result<SpawnReply, ToolError> {
        let outcome = self.drain_for(Some(&args.bead_id)).await?;
        if let Some(Err(e)) = outcome.failed {
            // Taken out of the queue again, so the error means what it says: nothing runs.
            self.log
                .append_with(&self.host, self.host.now_ms(), {
                    let (bead, epic, why) = (
                        args.bead_id.clone(),
                        args.epic_id.clone(),
                        format!("could not start: {e}"),
                    );
                    move |swarm| match swarm.queued(&bead) {
                        Some(q) if q.state == QueueState::Waiting => {
                            vec![EventBody::WorkerCancelled(WorkerCancelled {
                                session_id: String::new(),
                                bead_id: bead.clone(),
                                epic_id: epic.clone(),
                                reason: why.clone(),
                            })]
                        }
                        _ => Vec::new(),
                    }
                })
                .await?;
            return Err(e);
        }
        if let Some(q) = self.log.swarm().queued(&args.bead_id) {
            return Ok(queued_reply(q, &outcome.plan, self.host.now_ms()));
        }
        self.spawned_reply(&args.bead_id, outcome.note, outcome.prompt_hash)
    }

    /// The reply after another writer got in first: its worker, or the queue entry.
    fn after_race(&self, args: &SpawnArgs) -> Result<SpawnReply, ToolError> {
        self.existing_worker(args)?
            .ok_or_else(|| ToolError::Refused(format!("a spawn of {} raced", args.bead_id)))
    }

    fn spawned_reply(
        &self,
        bead: &str,
        note: Option<String>,
        prompt_hash: Option<String>,
    ) -> Result<SpawnReply, ToolError> {
        let swarm = self.log.swarm();
        let w = swarm
            .bead(bead)
            .ok_or_else(|| ToolError::Refused(format!("{bead} left the queue unstarted")))?;
        let mut output = format!(
            "spawned {} (epic {}) in session {}",
            w.bead_id, w.epic_id, w.session_id
        );
        match (&w.branch, &note) {
            (Some(branch), _) => output.push_str(&format!(
                ", in worktree {} (branch {branch}){}",
                w.directory.as_deref().unwrap_or_default(),
                w.server
                    .as_deref()
                    .map(|s| format!(" on {s}"))
                    .unwrap_or_default()
            )),
            (None, Some(note)) => output.push_str(&format!("; {note}")),
            (None, None) => {}
        }
        // Short: a coordinator spawning twenty workers reads twenty of these. The tool's
        // description says what to call next.
        output.push_str("; running in the background");
        Ok(SpawnReply {
            title: format!("spawned {}", w.bead_id),
            output,
            status: SpawnStatus::Spawned,
            session_id: w.session_id.clone(),
            bead_id: w.bead_id.clone(),
            epic_id: w.epic_id.clone(),
            prompt_hash: prompt_hash.unwrap_or_default(),
            worktree: w.worktree.clone(),
            branch: w.branch.clone(),
            queue_position: None,
        })
    }

    fn existing_worker(&self, args: &SpawnArgs) -> Result<Option<SpawnReply>, ToolError> {
        let swarm = self.log.swarm();
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
                let now = self.host.now_ms();
                let plan = schedule::plan(&swarm, &self.options, None, now);
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
                let age = self.host.now_ms().saturating_sub(w.spawned_at);
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

    /// With `on_file_conflict: refuse`, files that overlap a running worker's refuse the
    /// spawn, naming the worker and the overlapping patterns.
    fn check_files_free(&self, args: &SpawnArgs) -> Result<(), ToolError> {
        if self.options.on_file_conflict != FileConflict::Refuse {
            return Ok(());
        }
        let now = self.host.now_ms();
        let conflict = schedule::file_conflict(
            &self.log.swarm(),
            &self.options,
            &args.bead_id,
            &args.files,
            now,
        );
        match conflict {
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

    /// An unknown agent is refused before anything is created, with the names the server knows.
    async fn check_agent(&self, agent: &str) -> Result<(), ToolError> {
        let known = self.host.agents().await?;
        if known.iter().any(|a| a == agent) {
            return Ok(());
        }
        Err(ToolError::invalid(
            "agent",
            format!(
                "no agent {agent:?} on this server; known agents: {}",
                known.join(", ")
            ),
        ))
    }
}

/// `provider/model` as the host takes it, for a value already checked at spawn.
pub(super) fn model_ref(model: &str) -> Option<ModelRef> {
    parse_model(model).ok()
}

/// `provider/model`, both parts present.
pub(super) fn parse_model(model: &str) -> Result<ModelRef, ToolError> {
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

fn validate(args: &SpawnArgs) -> Result<(), ToolError> {
    check_id("bead_id", &args.bead_id)?;
    check_id("epic_id", &args.epic_id)?;
    check_text("title", &args.title, limits::TITLE, true)?;
    if let Some(d) = &args.description {
        check_text("description", d, limits::DESCRIPTION, false)?;
    }
    if let Some(c) = &args.shared_context {
        check_text("shared_context", c, limits::SHARED_CONTEXT, false)?;
    }
    if let Some(a) = &args.agent {
        check_text("agent", a, limits::AGENT, true)?;
    }
    if let Some(m) = &args.model {
        check_text("model", m, limits::MODEL, true)?;
        parse_model(m)?;
    }
    if args.files.len() > limits::FILES {
        return Err(ToolError::invalid(
            "files",
            format!(
                "has {} entries; the limit is {}",
                args.files.len(),
                limits::FILES
            ),
        ));
    }
    for f in &args.files {
        check_file_pattern(f)?;
    }
    let deps = args.dependencies.as_deref().unwrap_or_default();
    if deps.len() > limits::DEPENDENCIES {
        return Err(ToolError::invalid(
            "dependencies",
            format!(
                "has {} entries; the limit is {}",
                deps.len(),
                limits::DEPENDENCIES
            ),
        ));
    }
    for d in deps {
        check_id("dependencies", d)?;
        if *d == args.bead_id {
            return Err(ToolError::invalid(
                "dependencies",
                format!("{d} depends on itself"),
            ));
        }
    }
    Ok(())
}

/// Dependencies may still be running, queued or not spawned yet; a dependency that failed
/// or was cancelled, or one that closes a cycle, is refused before anything is queued.
fn check_dependencies(swarm: &Swarm, options: &Options, args: &SpawnArgs) -> Result<(), ToolError> {
    let deps = args.dependencies.as_deref().unwrap_or_default();
    if let Some(cycle) = schedule::cycle(swarm, &args.bead_id, deps) {
        return Err(ToolError::Refused(format!(
            "{} would close a dependency cycle: {cycle}. Nothing was queued.",
            args.bead_id
        )));
    }
    let dead: Vec<String> = deps
        .iter()
        .filter_map(|d| schedule::dead_dependency(swarm, options, d))
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

/// The reply for a bead left waiting in the queue.
fn queued_reply(q: &Queued, plan: &Plan, now: u64) -> SpawnReply {
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
