//! Carries out the scheduler's decisions: retries failed beads, fails stalled workers, blocks
//! beads whose dependencies died, starts what the plan allows, and deletes old sessions.
//!
//! `drain` runs on every change of the log (the plugin's duties: a spawn's queue entry is one)
//! and when the time it returns comes, so queued workers start by themselves when a slot
//! frees or a dependency completes. Drains of one instance take turns deciding; the starts
//! they decide are prepared behind them (`starter`), several at once. Every decision is
//! checked again under the log's lock, so instances that drain at once never start a bead
//! twice or exceed a limit.
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use sha2::{Digest, Sha256};

use super::worktree::Placement;
use super::Apiary;
use crate::error::ToolError;
use crate::event::{EventBody, Payload, WorkerFailed, WorkerQueued, WorkerSpawned};
use crate::host::{CreateSession, Host, PromptRequest, WORKER_TOOLS_OFF};
use crate::projection::Queued;
use crate::prompt::WorkerPrompt;
use crate::schedule::admit::{self, Admission};
use crate::schedule::{self, Machine};
use crate::text::{duration, hex};

impl<H: Host> Apiary<H> {
    /// Runs the scheduler once. Resolves to the milliseconds until it should run again with no
    /// event to prompt it (0: nothing is due).
    ///
    /// The beads it starts are prepared behind it when the instance's duties run (see
    /// `starter`); otherwise it resolves after their starts.
    pub async fn drain(&self) -> Result<u64, ToolError> {
        self.widen();
        // Boxed, so its large state machine exists once in the `.wasm` rather than inlined
        // into each caller (cancel, the servers' watch, the duties, the export).
        let drained: Pin<Box<dyn Future<Output = _> + '_>> = Box::pin(self.drain_inner());
        let wake_at = drained.await?;
        let now = self.host.now_ms();
        Ok(wake_at.map_or(0, |at| at.saturating_sub(now).max(1)))
    }

    async fn drain_inner(&self) -> Result<Option<u64>, ToolError> {
        let turn = self.drain_gate.enter().await;
        self.refresh().await?;
        let stall_next = self.fail_stalled().await?;
        self.record_retries().await?;
        let machine = self.machine_if_queued().await;
        let now = self.host.now_ms();
        let plan = schedule::plan(&self.log().swarm(), &self.options, machine.as_ref(), now);
        if !plan.block.is_empty() {
            let options = self.options.clone();
            self.log()
                .append_with(&self.host, now, move |swarm| {
                    let plan = schedule::plan(swarm, &options, machine.as_ref(), now);
                    schedule::blocked_events(swarm, &plan)
                })
                .await?;
        }
        let mine: Vec<String> = {
            let swarm = self.log().swarm();
            plan.start
                .iter()
                .filter(|b| {
                    swarm
                        .queued(b)
                        .is_some_and(|q| self.starts_for(q.request.parent_directory.as_deref()))
                })
                .cloned()
                .collect()
        };
        let claimed = self.claim_starts(&mine);
        let retention_next = self.apply_retention().await?;
        // The next round may decide while these starts are prepared: it finds them claimed.
        drop(turn);
        let pools_next = self.retire_idle_pools().await;
        self.launch(claimed, machine).await;
        Ok([plan.wake_at, stall_next, retention_next, pools_next]
            .into_iter()
            .flatten()
            .min())
    }

    /// The machine's load, read only when something waits to start.
    pub(super) async fn machine_if_queued(&self) -> Option<Machine> {
        // Nothing waits: nothing to hold back.
        self.log().swarm().waiting().next()?;
        self.host.machine().await.ok()
    }

    /// Queues again, with their backoff, the failed beads the retry policy starts again.
    async fn record_retries(&self) -> Result<(), ToolError> {
        let now = self.host.now_ms();
        if schedule::retries(&self.log().swarm(), &self.options, now).is_empty() {
            return Ok(());
        }
        let options = self.options.clone();
        self.log()
            .append_with(&self.host, now, move |swarm| {
                schedule::retries(swarm, &options, now)
            })
            .await?;
        Ok(())
    }

    /// Starts the queued bead `q`: its worktree, its session, the record, the prompt. What is
    /// recorded is decided by `admit`, before anything is prepared and again under the lock; a
    /// worker that may no longer start is given up. A refused first prompt is recorded as the
    /// worker's failure; an error means nothing of the start was recorded.
    pub(super) async fn start(
        &self,
        q: &Queued,
        machine: Option<Machine>,
    ) -> Result<(), ToolError> {
        let r = &q.request;
        let admission = admit::admit(
            &self.log().swarm(),
            &self.options,
            r,
            &self.starting.borrow(),
            self.host.now_ms(),
        );
        let (server, model) = match admission {
            Admission::Start { server, model } => (server, model),
            Admission::Stay(_) => return Ok(()),
            Admission::Refuse(e) => return Err(e),
        };
        let starting = server
            .as_deref()
            .map(|url| Starting::new(&self.starting, url));
        let retry = retry_of(q);
        let prepared = self
            .prepare_worker(r, q.attempt, retry.as_deref(), server)
            .await?;
        let (options, request, now, seq) =
            (self.options.clone(), r.clone(), self.host.now_ms(), q.seq);
        let spawned = prepared.worker_spawned(r);
        let recorded = self
            .log()
            .append_with(&self.host, now, move |swarm| {
                let m = machine.as_ref();
                admit::record(swarm, &options, m, &request, seq, spawned, now)
                    .map(EventBody::WorkerSpawned)
                    .into_iter()
                    .collect()
            })
            .await?;
        // Recorded or not, the worker now counts (or not) in the log itself.
        drop(starting);
        if recorded.is_empty() {
            // Given up: its session and its place.
            let _ = self
                .host
                .delete_session(
                    &prepared.session_id,
                    prepared.server.as_deref(),
                    prepared.in_worktree.as_deref(),
                )
                .await;
            self.unplace(&r.bead_id, &prepared.place).await;
            return Ok(());
        }
        let request = PromptRequest {
            session_id: prepared.session_id.clone(),
            server: prepared.server,
            directory: prepared.in_worktree,
            text: prepared.prompt,
            agent: r.agent.clone(),
            model,
            tools_off: WORKER_TOOLS_OFF,
            synthetic: false,
        };
        if let Err(e) = self.host.prompt_async(&request).await {
            let failed = admit::prompt_refused(r, request.session_id, &e);
            self.log()
                .append(&self.host, self.host.now_ms(), &[failed])
                .await?;
        }
        Ok(())
    }

    /// Prepares a worker on `server`: its place (a worktree here, or in the server's clone),
    /// its prompt, its session.
    async fn prepare_worker(
        &self,
        r: &WorkerQueued,
        attempt: u32,
        retry: Option<&str>,
        server: Option<String>,
    ) -> Result<Prepared, ToolError> {
        let (bead, home) = (r.bead_id.as_str(), r.parent_directory.as_deref());
        let home = home.unwrap_or_default();
        let place = match &server {
            // A worker on a server of the `servers` option works in that server's clone.
            Some(url) => {
                let clone = self.server_clone(url, home);
                self.place_remote(home, url, &clone, bead).await?
            }
            None => self.place(home, bead).await?,
        };
        let prompt = WorkerPrompt {
            bead_id: &r.bead_id,
            epic_id: &r.epic_id,
            title: &r.title,
            description: r.description.as_deref(),
            files: &r.files,
            working_directory: &place.directory,
            branch: place.branch.as_deref(),
            shared_context: r.shared_context.as_deref(),
            retry: retry.map(|why| (attempt, why)),
        }
        .format();
        let prompt_hash = hex(&Sha256::digest(prompt.as_bytes()));
        // The session's instance: its worktree, or the server's clone; `None` is the plugin's own.
        let in_worktree =
            (place.worktree.is_some() || server.is_some()).then(|| place.directory.clone());
        let session_id = self
            .host
            .create_session(&CreateSession {
                parent_id: r.parent_session_id.clone(),
                title: format!("{}: {}", r.bead_id, r.title.trim()),
                directory: in_worktree.clone(),
                server: server.clone(),
            })
            .await?;
        Ok(Prepared {
            session_id,
            server,
            in_worktree,
            place,
            prompt,
            prompt_hash,
        })
    }

    /// Fails running workers with no activity for `stall_after_ms` (aborting their turn), as
    /// retryable when the policy says so. Returns when the next one may stall.
    async fn fail_stalled(&self) -> Result<Option<u64>, ToolError> {
        let now = self.host.now_ms();
        let (stalled, next) = {
            let swarm = self.log().swarm();
            let (ws, next) = schedule::stalled(&swarm, &self.options, now);
            let ws: Vec<(String, Option<String>, Option<String>)> = ws
                .iter()
                .map(|w| (w.session_id.clone(), w.server.clone(), w.directory.clone()))
                .collect();
            (ws, next)
        };
        if stalled.is_empty() {
            return Ok(next);
        }
        let (options, limit) = (self.options.clone(), self.options.stall_after_ms);
        let recorded = self
            .log()
            .append_with(&self.host, now, move |swarm| {
                let (ws, _) = schedule::stalled(swarm, &options, now);
                ws.iter()
                    .map(|w| {
                        EventBody::WorkerFailed(WorkerFailed {
                            session_id: w.session_id.clone(),
                            bead_id: w.bead_id.clone(),
                            epic_id: w.epic_id.clone(),
                            error: format!("stalled: no activity for {}", duration(limit)),
                            stack: None,
                            retryable: schedule::stall_is_retryable(&options),
                        })
                    })
                    .collect()
            })
            .await?;
        // Recorded first: the abort's own error and idle events then find the worker final.
        for event in &recorded {
            if let Payload::Known(EventBody::WorkerFailed(f)) = &event.payload {
                let (server, dir) = stalled
                    .iter()
                    .find(|(s, _, _)| *s == f.session_id)
                    .map(|(_, server, d)| (server.clone(), d.clone()))
                    .unwrap_or_default();
                let _ = self
                    .host
                    .abort_session(&f.session_id, server.as_deref(), dir.as_deref())
                    .await;
            }
        }
        Ok(next)
    }
}

/// A retry's reason, for its prompt.
fn retry_of(q: &Queued) -> Option<String> {
    q.previous_session_id
        .as_ref()
        .map(|_| q.request.reason.clone())
}

/// A worker prepared for its start and not recorded yet.
struct Prepared {
    session_id: String,
    server: Option<String>,
    /// The session's instance directory (see `CreateSession::directory`).
    in_worktree: Option<String>,
    place: Placement,
    prompt: String,
    prompt_hash: String,
}

impl Prepared {
    /// The record of this worker of `r`.
    fn worker_spawned(&self, r: &WorkerQueued) -> WorkerSpawned {
        let place = &self.place;
        WorkerSpawned {
            session_id: self.session_id.clone(),
            bead_id: r.bead_id.clone(),
            epic_id: r.epic_id.clone(),
            title: r.title.clone(),
            files: r.files.clone(),
            dependencies: r.dependencies.clone(),
            prompt_hash: self.prompt_hash.clone(),
            directory: Some(place.directory.clone()),
            worktree_path: place.worktree.clone(),
            branch: place.branch.clone(),
            config_links: place.links.clone(),
            agent: r.agent.clone(),
            model: r.model.clone(),
            parent_session_id: r.parent_session_id.clone(),
            parent_directory: r.parent_directory.clone(),
            description: r.description.clone(),
            shared_context: r.shared_context.clone(),
            priority: Some(r.priority),
            server: self.server.clone(),
            note: place.note.clone(),
            verify: r.verify.clone(),
        }
    }
}

/// A start on its way to a server: counted by `schedule::place` until it is recorded or
/// given up (dropped).
struct Starting<'a> {
    on: &'a RefCell<BTreeMap<String, u32>>,
    url: String,
}

impl<'a> Starting<'a> {
    fn new(on: &'a RefCell<BTreeMap<String, u32>>, url: &str) -> Self {
        *on.borrow_mut().entry(url.to_string()).or_default() += 1;
        Self {
            on,
            url: url.to_string(),
        }
    }
}

impl Drop for Starting<'_> {
    fn drop(&mut self) {
        let mut on = self.on.borrow_mut();
        if let Some(n) = on.get_mut(&self.url) {
            *n -= 1;
            if *n == 0 {
                on.remove(&self.url);
            }
        }
    }
}
