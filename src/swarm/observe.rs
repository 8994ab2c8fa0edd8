//! Server events from the plugin's `event` hook: a worker's session went busy, idle, failed
//! or was deleted. Each is recorded once, so the log knows even when nobody polls.
use super::Apiary;
use crate::error::ToolError;
use crate::event::{EventBody, WorkerFailed, WorkerObserved};
use crate::host::{Host, ServerEvent, SessionStatus};
use crate::projection::{Swarm, WorkerState};

impl<H: Host> Apiary<H> {
    /// Records what a server event says about a worker. Events about other sessions cost one
    /// catch-up read of the log and nothing else.
    pub async fn observe(&self, event: &ServerEvent) -> Result<(), ToolError> {
        let session = match event {
            ServerEvent::Status { session_id, .. }
            | ServerEvent::Idle { session_id }
            | ServerEvent::Error { session_id, .. }
            | ServerEvent::Deleted { session_id } => session_id.as_str(),
        };
        self.refresh().await?;
        if !react(&self.log.swarm(), session, event).is_empty() {
            let (session, event) = (session.to_string(), event.clone());
            self.log
                .append_with(&self.host, self.host.now_ms(), move |swarm| {
                    react(swarm, &session, &event)
                })
                .await?;
        }
        self.track_activity(event).await
    }
}

fn react(swarm: &Swarm, session: &str, event: &ServerEvent) -> Vec<EventBody> {
    let Some(w) = swarm.session(session) else {
        return Vec::new();
    };
    let obs = || WorkerObserved {
        session_id: w.session_id.clone(),
        bead_id: w.bead_id.clone(),
    };
    let failed = |error: String| {
        EventBody::WorkerFailed(WorkerFailed {
            session_id: w.session_id.clone(),
            bead_id: w.bead_id.clone(),
            epic_id: w.epic_id.clone(),
            error,
            stack: None,
        })
    };
    match (event, w.state) {
        (_, s) if s.is_final() => Vec::new(),
        (
            ServerEvent::Status {
                status: SessionStatus::Busy | SessionStatus::Retry { .. },
                ..
            },
            WorkerState::Starting | WorkerState::Idle,
        ) => vec![EventBody::WorkerStarted(obs())],
        (
            ServerEvent::Idle { .. }
            | ServerEvent::Status {
                status: SessionStatus::Idle,
                ..
            },
            WorkerState::Starting | WorkerState::Running,
        ) => vec![EventBody::WorkerIdle(obs())],
        (ServerEvent::Error { error, .. }, _) => vec![failed(
            error
                .as_ref()
                .map_or_else(|| "session error".to_string(), |e| e.describe()),
        )],
        (ServerEvent::Deleted { .. }, _) => vec![failed("session was deleted".to_string())],
        _ => Vec::new(),
    }
}
