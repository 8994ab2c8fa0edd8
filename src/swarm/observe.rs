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
            ServerEvent::Activity { session_id } => return self.note_activity(session_id).await,
            ServerEvent::Status { session_id, .. }
            | ServerEvent::Idle { session_id }
            | ServerEvent::Error { session_id, .. }
            | ServerEvent::Deleted { session_id } => session_id.as_str(),
        };
        self.refresh().await?;
        self.coordinator_event(session, event).await?;
        if !react(&self.log().swarm(), session, event).is_empty() {
            let (session, event) = (session.to_string(), event.clone());
            self.log()
                .append_with(&self.host, self.host.now_ms(), move |swarm| {
                    react(swarm, &session, &event)
                })
                .await?;
        }
        // A turn that ended has its replies' usage counted while the session still has them.
        if matches!(
            event,
            ServerEvent::Idle { .. }
                | ServerEvent::Status {
                    status: SessionStatus::Idle,
                    ..
                }
        ) {
            self.count_usage(session).await?;
        }
        self.track_activity(event).await
    }

    /// A coordinator's session aborted or deleted takes its workers with it.
    async fn coordinator_event(&self, session: &str, event: &ServerEvent) -> Result<(), ToolError> {
        let why = match event {
            ServerEvent::Deleted { .. } => "coordinator session deleted",
            ServerEvent::Error { error: Some(e), .. }
                if e.name.as_deref() == Some("MessageAbortedError") =>
            {
                "coordinator aborted"
            }
            _ => return Ok(()),
        };
        self.cancel_for_coordinator(session, why).await
    }

    /// Records that a worker is active, at most once per interval per session: stall detection
    /// reads it. Streaming replies send many events; most end at the first check, without
    /// reading the log.
    async fn note_activity(&self, session: &str) -> Result<(), ToolError> {
        let stall = self.options.stall_after_ms;
        if stall == 0 {
            return Ok(());
        }
        let interval = (stall / 4).clamp(1_000, 60_000);
        let now = self.host.now_ms();
        let last = self.beats.borrow().get(session).copied();
        if last.is_some_and(|at| now.saturating_sub(at) < interval) {
            return Ok(());
        }
        self.beats.borrow_mut().insert(session.to_string(), now);
        self.refresh().await?;
        let active = |swarm: &Swarm, session: &str| {
            swarm
                .session(session)
                .filter(|w| w.state.is_active())
                .map(|w| {
                    vec![EventBody::WorkerActive(WorkerObserved {
                        session_id: w.session_id.clone(),
                        bead_id: w.bead_id.clone(),
                    })]
                })
                .unwrap_or_default()
        };
        if active(&self.log().swarm(), session).is_empty() {
            return Ok(());
        }
        let session = session.to_string();
        self.log()
            .append_with(&self.host, now, move |swarm| active(swarm, &session))
            .await?;
        Ok(())
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
    let failed = |error: String, retryable: bool| {
        EventBody::WorkerFailed(WorkerFailed {
            session_id: w.session_id.clone(),
            bead_id: w.bead_id.clone(),
            epic_id: w.epic_id.clone(),
            error,
            stack: None,
            retryable,
        })
    };
    match (event, w.state) {
        // A worker that reported finishes its turn with one more reply; its slot frees when
        // the session goes idle.
        (
            ServerEvent::Idle { .. }
            | ServerEvent::Status {
                status: SessionStatus::Idle,
                ..
            },
            WorkerState::Completed(_),
        ) if !w.turn_over => vec![EventBody::WorkerIdle(obs())],
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
        (ServerEvent::Error { error, .. }, _) => {
            let why = error
                .as_ref()
                .map_or_else(|| "session error".to_string(), |e| e.describe());
            let retryable = retryable_error(&why);
            vec![failed(why, retryable)]
        }
        // Someone deleted it on purpose: not something a retry should undo.
        (ServerEvent::Deleted { .. }, _) => vec![failed("session was deleted".to_string(), false)],
        (ServerEvent::Activity { .. }, _) => Vec::new(),
        _ => Vec::new(),
    }
}

/// A session error a new attempt may get past: a provider error, or the server giving up its
/// own retries. Not an abort (someone stopped it) and not a refused key (a retry fails alike).
pub(super) fn retryable_error(described: &str) -> bool {
    !["MessageAbortedError", "ProviderAuthError"]
        .iter()
        .any(|name| described.starts_with(name))
}
