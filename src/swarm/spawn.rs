//! `swarm_spawn_async`: create a child session, record the worker, prompt it, return at once.
use sha2::{Digest, Sha256};

use super::{limits, Apiary};
use crate::api::{CallContext, SpawnArgs, SpawnReply, SpawnStatus};
use crate::error::ToolError;
use crate::event::{CompletionStatus, EventBody, WorkerFailed, WorkerSpawned};
use crate::host::{CreateSession, Host, ModelRef, PromptRequest};
use crate::ids::{check_file_pattern, check_id, check_text};
use crate::projection::{Swarm, WorkerState};
use crate::prompt::WorkerPrompt;
use crate::text::{duration, hex};

impl<H: Host> Apiary<H> {
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
        check_dependencies(&self.log.swarm(), args)?;
        if !self.spawning.borrow_mut().insert(args.bead_id.clone()) {
            return Err(ToolError::Refused(format!(
                "a spawn of {} is already under way",
                args.bead_id
            )));
        }
        let result = self.spawn_new(ctx, args).await;
        self.spawning.borrow_mut().remove(&args.bead_id);
        result
    }

    fn existing_worker(&self, args: &SpawnArgs) -> Result<Option<SpawnReply>, ToolError> {
        let swarm = self.log.swarm();
        let Some(w) = swarm.bead(&args.bead_id) else {
            return Ok(None);
        };
        if w.epic_id != args.epic_id {
            return Err(ToolError::Refused(format!(
                "bead {} belongs to epic {}, not {}",
                w.bead_id, w.epic_id, args.epic_id
            )));
        }
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
                }))
            }
            // Failed, blocked or needing review: a new spawn is a new attempt.
            _ => Ok(None),
        }
    }

    async fn spawn_new(
        &self,
        ctx: &CallContext,
        args: &SpawnArgs,
    ) -> Result<SpawnReply, ToolError> {
        if let Some(agent) = &args.agent {
            self.check_agent(agent).await?;
        }
        let model = args.model.as_deref().map(parse_model).transpose()?;
        let place = self.place(&ctx.directory, &args.bead_id).await?;
        let prompt = WorkerPrompt {
            bead_id: &args.bead_id,
            epic_id: &args.epic_id,
            title: &args.title,
            description: args.description.as_deref(),
            files: &args.files,
            working_directory: &place.directory,
            branch: place.branch.as_deref(),
            shared_context: args.shared_context.as_deref(),
        }
        .format();
        let prompt_hash = hex(&Sha256::digest(prompt.as_bytes()));
        let in_worktree = place.worktree.as_ref().map(|_| place.directory.clone());
        let session_id = self
            .host
            .create_session(&CreateSession {
                parent_id: Some(ctx.session_id.clone()).filter(|s| !s.is_empty()),
                title: format!("{}: {}", args.bead_id, args.title.trim()),
                directory: in_worktree.clone(),
            })
            .await?;
        // Recorded before the prompt is sent: a worker must never run untracked. Recorded only
        // if, under the log's lock, the bead still has no running worker: another instance
        // may have spawned it meanwhile, and then its worker is the one.
        let spawned = EventBody::WorkerSpawned(WorkerSpawned {
            session_id: session_id.clone(),
            bead_id: args.bead_id.clone(),
            epic_id: args.epic_id.clone(),
            title: args.title.trim().to_string(),
            files: args.files.clone(),
            dependencies: args.dependencies.clone().unwrap_or_default(),
            prompt_hash: prompt_hash.clone(),
            directory: Some(place.directory.clone()),
            worktree_path: place.worktree.clone(),
            branch: place.branch.clone(),
            config_links: place.links.clone(),
            agent: args.agent.clone(),
            model: args.model.clone(),
            parent_session_id: Some(ctx.session_id.clone()).filter(|s| !s.is_empty()),
            parent_directory: Some(ctx.directory.clone()).filter(|d| !d.is_empty()),
        });
        let recorded = self
            .log
            .append_with(&self.host, self.host.now_ms(), {
                let bead = args.bead_id.clone();
                move |swarm| match swarm.bead(&bead) {
                    Some(w) if w.state.is_active() => Vec::new(),
                    _ => vec![spawned],
                }
            })
            .await?;
        if recorded.is_empty() {
            // Lost the race: drop our session and answer with the winner's worker.
            let _ = self
                .host
                .delete_session(&session_id, in_worktree.as_deref())
                .await;
            return self
                .existing_worker(args)?
                .ok_or_else(|| ToolError::Refused(format!("a spawn of {} raced", args.bead_id)));
        }
        let request = PromptRequest {
            session_id: session_id.clone(),
            directory: in_worktree,
            text: prompt,
            agent: args.agent.clone(),
            model,
        };
        if let Err(e) = self.host.prompt_async(&request).await {
            let failed = EventBody::WorkerFailed(WorkerFailed {
                session_id: session_id.clone(),
                bead_id: args.bead_id.clone(),
                epic_id: args.epic_id.clone(),
                error: e.to_string(),
                stack: None,
            });
            self.log
                .append(&self.host, self.host.now_ms(), &[failed])
                .await?;
            return Err(e.into());
        }
        let mut output = format!(
            "spawned {} (epic {}) in session {}",
            args.bead_id, args.epic_id, session_id
        );
        match (&place.branch, &place.note) {
            (Some(branch), _) => output.push_str(&format!(
                ", in worktree {} (branch {branch})",
                place.directory
            )),
            (None, Some(note)) => output.push_str(&format!("; {note}")),
            (None, None) => {}
        }
        // Short: a coordinator spawning twenty workers reads twenty of these. The tool's
        // description says what to call next.
        output.push_str("; running in the background");
        Ok(SpawnReply {
            title: format!("spawned {}", args.bead_id),
            output,
            status: SpawnStatus::Spawned,
            session_id,
            bead_id: args.bead_id.clone(),
            epic_id: args.epic_id.clone(),
            prompt_hash,
            worktree: place.worktree,
            branch: place.branch,
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

/// `provider/model`, both parts present.
fn parse_model(model: &str) -> Result<ModelRef, ToolError> {
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

/// Every dependency must be a known bead whose worker completed with success.
fn check_dependencies(swarm: &Swarm, args: &SpawnArgs) -> Result<(), ToolError> {
    let mut unknown = Vec::new();
    let mut unmet = Vec::new();
    for dep in args.dependencies.as_deref().unwrap_or_default() {
        match swarm.bead(dep) {
            None => unknown.push(dep.as_str()),
            Some(w) if w.state == WorkerState::Completed(CompletionStatus::Success) => {}
            Some(w) => unmet.push(format!("{dep} ({})", super::report::state_name(w.state))),
        }
    }
    if unknown.is_empty() && unmet.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        parts.push(format!("unknown beads: {}", unknown.join(", ")));
    }
    if !unmet.is_empty() {
        parts.push(format!("not completed yet: {}", unmet.join(", ")));
    }
    Err(ToolError::Refused(format!(
        "{} cannot start: dependencies not met: {}. Nothing was spawned.",
        args.bead_id,
        parts.join("; ")
    )))
}
