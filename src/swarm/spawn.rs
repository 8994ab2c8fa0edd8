//! `swarm_spawn_async`: queue the bead and return at once; the scheduler starts it behind the
//! call. What a spawn records is decided by `schedule::intake`; this file makes the host's
//! calls around that decision and appends what it decides.

use std::cell::Cell;
use std::rc::Rc;

use super::worktree::{worktree_name, WORKTREES};
use super::{limits, Apiary};
use crate::api::{CallContext, SpawnArgs, SpawnReply, SpawnStatus};
use crate::error::ToolError;
use crate::event::EventBody;
use crate::host::{Host, ModelRef};
use crate::ids::{check_file_pattern, check_id, check_text};
use crate::projection::Queued;
use crate::schedule;
use crate::schedule::admit::parse_model;
use crate::schedule::intake::{self, Enqueue, Intake};

impl<H: Host> Apiary<H> {
    /// Puts the bead in the queue and returns: the reply says whether it starts now (its
    /// worktree, session and prompt are prepared behind the call, see `starter`) or waits, and
    /// why. The queue entry wakes the instance's scheduler, which starts it.
    pub async fn spawn(
        &self,
        ctx: &CallContext,
        args: &SpawnArgs,
    ) -> Result<SpawnReply, ToolError> {
        self.widen();
        validate(args)?;
        self.refresh().await?;
        let now = self.host.now_ms();
        let queued = match intake::vet(&self.log().swarm(), &self.options, ctx, args, now) {
            Intake::Existing(reply) => return Ok(reply),
            Intake::Refuse(e) => return Err(e),
            Intake::Accept(request) => request,
        };
        if let Some(agent) = &args.agent {
            self.check_agent(agent).await?;
        }
        // Under the lock: the bead is still free (another instance may have queued it), and
        // the queue has room.
        let refused = Rc::new(Cell::new(None));
        let options = self.options.clone();
        let recorded = self
            .log()
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
        let machine = self.machine_if_queued().await;
        let (q, plan) = {
            let swarm = self.log().swarm();
            let plan = schedule::plan(&swarm, &self.options, machine.as_ref(), self.host.now_ms());
            // Another call's round may have started it meanwhile: its worker is the answer.
            let Some(q) = swarm.queued(&args.bead_id) else {
                drop(swarm);
                return self.after_race(args);
            };
            if !plan.start.contains(&args.bead_id) {
                return Ok(intake::queued_reply(q, &plan, self.host.now_ms()));
            }
            (q.clone(), plan)
        };
        // Where it will run: a worker on another server works in that server's clone; here,
        // in a worktree of the caller's repository, or in the caller's directory.
        let placed = plan.placed.iter().find(|(b, _)| *b == q.request.bead_id);
        let place = match (placed, self.options.worktrees) {
            (Some((_, server)), _) => Place::Server(server.clone()),
            (None, false) => Place::Shared(None),
            (None, true) => match self.worktree_root(&ctx.directory).await? {
                Ok(root) if self.pool_size(None) > 0 => Place::Pooled(root),
                Ok(root) => Place::Worktree(root),
                Err(note) => Place::Shared(Some(note)),
            },
        };
        Ok(starting_reply(&q, &place))
    }

    /// The reply after another writer got in first: its worker, or the queue entry.
    fn after_race(&self, args: &SpawnArgs) -> Result<SpawnReply, ToolError> {
        let swarm = self.log().swarm();
        intake::existing(&swarm, &self.options, args, self.host.now_ms())?
            .ok_or_else(|| ToolError::Refused(format!("a spawn of {} raced", args.bead_id)))
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

/// Where a bead the scheduler starts now will run.
enum Place {
    /// A worktree of the repository at this top level.
    Worktree(String),
    /// One of its ready worktrees, or a new one when none is ready: the log records which.
    Pooled(String),
    /// The caller's directory, and why when worktrees are on.
    Shared(Option<String>),
    /// A worktree of that server's clone.
    Server(String),
}

/// The reply for a bead the scheduler starts now, behind the call: where it will run.
fn starting_reply(q: &Queued, place: &Place) -> SpawnReply {
    let r = &q.request;
    let name = worktree_name(&r.bead_id);
    let mut output = format!("starting {} (epic {})", r.bead_id, r.epic_id);
    let (mut worktree, mut branch) = (None, None);
    match place {
        Place::Worktree(root) => {
            let (path, b) = (
                format!("{root}/{WORKTREES}/{name}"),
                format!("apiary/{name}"),
            );
            output.push_str(&format!(" in worktree {path} (branch {b})"));
            (worktree, branch) = (Some(path), Some(b));
        }
        Place::Pooled(root) => {
            let b = format!("apiary/{name}");
            output.push_str(&format!(" in a worktree of {root} (branch {b})"));
            branch = Some(b);
        }
        Place::Shared(Some(note)) => output.push_str(&format!("; {note}")),
        Place::Shared(None) => {}
        Place::Server(url) => output.push_str(&format!(" on {url}")),
    }
    // Short: a coordinator spawning twenty workers reads twenty of these. The tool's
    // description says what to call next.
    output.push_str("; running in the background");
    SpawnReply {
        title: format!("starting {}", r.bead_id),
        output,
        status: SpawnStatus::Starting,
        session_id: String::new(),
        bead_id: r.bead_id.clone(),
        epic_id: r.epic_id.clone(),
        prompt_hash: String::new(),
        worktree,
        branch,
        queue_position: None,
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
    if let Some(v) = &args.verify {
        check_text("verify", v, limits::VERIFY, false)?;
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
