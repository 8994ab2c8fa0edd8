//! Workers whose turn a server restart cut off: found by a poll, an await or the sweep a
//! plugin instance runs when it starts, and (policy `resume_interrupted`, on by default)
//! prompted to continue in their own session, so a swarm outlives a restart by itself.
use super::Apiary;
use crate::error::{HostError, ToolError};
use crate::event::{EventBody, WorkerFailed};
use crate::host::{Host, PromptRequest, WORKER_TOOLS_OFF};
use crate::projection::Worker;

/// What an interrupted worker is told. It has its task and history in its session already.
pub(crate) const RESUME_TEXT: &str = "Your previous turn was cut off because the OpenCode \
server restarted. Continue your task from where you stopped, in the same directory, and finish \
with swarm_complete as before.";

impl<H: Host> Apiary<H> {
    /// Prompts an interrupted worker's session to continue, with its agent and model; a
    /// prompt the server refuses fails the worker, with the server's words.
    pub(super) async fn resume(&self, session_id: &str) -> Result<(), ToolError> {
        let Some(w) = self.log().swarm().session(session_id).cloned() else {
            return Ok(());
        };
        if let Err(e) = self.prompt_worker(&w, RESUME_TEXT.to_string()).await {
            let failed = EventBody::WorkerFailed(WorkerFailed {
                session_id: w.session_id.clone(),
                bead_id: w.bead_id.clone(),
                epic_id: w.epic_id.clone(),
                error: format!("could not resume after an interrupted turn: {e}"),
                stack: None,
                retryable: true,
            });
            self.log()
                .append(&self.host, self.host.now_ms(), &[failed])
                .await?;
        }
        Ok(())
    }

    /// Prompts a worker's own session, in its directory, with the agent and model it was
    /// started with.
    pub(super) async fn prompt_worker(&self, w: &Worker, text: String) -> Result<(), HostError> {
        let request = PromptRequest {
            session_id: w.session_id.clone(),
            server: w.server.clone(),
            directory: w.worktree.clone(),
            text,
            agent: w.agent.clone(),
            model: w.model.as_deref().and_then(super::spawn::model_ref),
            tools_off: WORKER_TOOLS_OFF,
            synthetic: false,
        };
        self.host.prompt_async(&request).await
    }

    /// Prompts a coordinator's session in its own instance; whether the server took it.
    pub(super) async fn prompt_coordinator(
        &self,
        session: &str,
        directory: Option<String>,
        text: String,
    ) -> bool {
        let request = PromptRequest {
            session_id: session.to_string(),
            server: None,
            directory,
            text,
            agent: None,
            model: None,
            tools_off: &[],
            synthetic: true,
        };
        self.host.prompt_async(&request).await.is_ok()
    }

    /// Looks at every epic with a worker still live: what changed while no instance watched
    /// (a restart, a crash) is recorded, interrupted workers are resumed, and idle coordinators
    /// owed news of finished workers are told. Returns how many epics were looked at.
    pub async fn recover(&self) -> Result<u32, ToolError> {
        self.refresh().await?;
        let mut epics: Vec<String> = Vec::new();
        for w in self.log().swarm().workers().filter(|w| !w.state.is_final()) {
            if !epics.contains(&w.epic_id) {
                epics.push(w.epic_id.clone());
            }
        }
        for epic in &epics {
            self.look(epic, false).await?;
        }
        self.tell_coordinators().await?;
        Ok(epics.len() as u32)
    }
}
