//! `swarm_spawn_async`: queue the bead, let the scheduler start it, return at once. What a
//! spawn does is decided by `schedule::intake` and `schedule::admit`; this file makes the
//! host's calls around those decisions and appends what they decide.

use std::cell::Cell;
use std::rc::Rc;

use super::{limits, Apiary};
use crate::api::{CallContext, SpawnArgs, SpawnReply, SpawnStatus};
use crate::error::ToolError;
use crate::event::{EventBody, WorkerCancelled, WorkerQueued};
use crate::host::{Host, ModelRef};
use crate::ids::{check_file_pattern, check_id, check_text};
use crate::projection::QueueState;
use crate::schedule;
use crate::schedule::admit::{parse_model, taken, Origin};
use crate::schedule::intake::{self, Enqueue, Intake};

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
        let now = self.host.now_ms();
        let queued = match intake::vet(&self.log.swarm(), &self.options, ctx, args, now) {
            Intake::Existing(reply) => return Ok(reply),
            Intake::Refuse(e) => return Err(e),
            Intake::Accept(request) => request,
        };
        if let Some(agent) = &args.agent {
            self.check_agent(agent).await?;
        }
        let now = self.host.now_ms();
        let machine = self.host.machine().await.ok();
        if schedule::can_start_now(
            &self.log.swarm(),
            &self.options,
            machine.as_ref(),
            &queued,
            now,
        ) {
            let started = self.start(&queued, 1, None, Origin::Spawn, machine).await?;
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
        let refused = Rc::new(Cell::new(None));
        let options = self.options.clone();
        let recorded = self
            .log
            .append_with(&self.host, self.host.now_ms(), {
                let refused = refused.clone();
                move |swarm| match intake::enqueue(swarm, &options, queued) {
                    Enqueue::Queued(q) => vec![EventBody::WorkerQueued(q)],
                    Enqueue::Taken => Vec::new(),
                    Enqueue::Refuse(e) => {
                        refused.set(Some(e));
                        Vec::new()
                    }
                }
            })
            .await?;
        if let Some(e) = refused.take() {
            return Err(e);
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
            return Ok(intake::queued_reply(q, &outcome.plan, self.host.now_ms()));
        }
        self.spawned_reply(&args.bead_id, outcome.note, outcome.prompt_hash)
    }

    /// The reply after another writer got in first: its worker, or the queue entry.
    fn after_race(&self, args: &SpawnArgs) -> Result<SpawnReply, ToolError> {
        let swarm = self.log.swarm();
        intake::existing(&swarm, &self.options, args, self.host.now_ms())?
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
