//! The events one line each: what happened, to which bead, in which session.
use serde::{Deserialize, Serialize};

#[cfg(target_arch = "wasm32")]
use tsify::Tsify;

use crate::event::EventBody;
use crate::json::json_fields;
use crate::projection::Swarm;
use crate::text::{duration, spent};

/// One event, described in a few words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct Entry {
    pub seq: u64,
    pub at: u64,
    #[serde(rename = "type")]
    pub type_name: String,
    pub bead_id: Option<String>,
    pub epic_id: Option<String>,
    pub session_id: Option<String>,
    pub detail: String,
}

json_fields!(write Entry {
    req seq,
    req at,
    req type_name = "type",
    def bead_id,
    def epic_id,
    def session_id,
    req detail,
});

impl Entry {
    /// `swarm` is the projection with the event applied (it knows the bead's epic).
    pub fn of(seq: u64, at: u64, body: &EventBody, swarm: &Swarm) -> Self {
        let (bead, session, detail) = describe(body);
        let epic = match body {
            EventBody::WorkerCompleted(e) => Some(e.epic_id.clone()),
            _ => bead.and_then(|b| epic_of(swarm, b)).map(str::to_string),
        };
        Self {
            seq,
            at,
            type_name: body.type_name().to_string(),
            bead_id: bead.map(str::to_string),
            epic_id: epic,
            session_id: session.map(str::to_string),
            detail,
        }
    }
}

/// Which events to list. Every field narrows; absent fields do not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
#[serde(default, deny_unknown_fields)]
pub struct EventFilter {
    pub epic_id: Option<String>,
    pub bead_id: Option<String>,
    pub session_id: Option<String>,
    /// Event types (`worker_failed`, ...).
    pub types: Option<Vec<String>>,
    /// Only events after this sequence number (to follow a log).
    pub after_seq: Option<u64>,
    /// Only the last this many of the matching events.
    pub limit: Option<u32>,
}

json_fields!(strict EventFilter {
    opt epic_id,
    opt bead_id,
    opt session_id,
    opt types,
    opt after_seq,
    opt limit,
});

impl EventFilter {
    /// Names an unknown event type, with the known ones.
    pub fn check(&self) -> Result<(), String> {
        match self
            .types
            .iter()
            .flatten()
            .find(|t| !EventBody::TYPE_NAMES.contains(&t.as_str()))
        {
            Some(t) => Err(format!(
                "no event type {t:?}; known: {}",
                EventBody::TYPE_NAMES.join(", ")
            )),
            None => Ok(()),
        }
    }

    fn matches(&self, e: &Entry) -> bool {
        let is = |want: &Option<String>, got: &Option<String>| {
            want.as_ref().is_none_or(|w| got.as_ref() == Some(w))
        };
        is(&self.epic_id, &e.epic_id)
            && is(&self.bead_id, &e.bead_id)
            && is(&self.session_id, &e.session_id)
            && self.after_seq.is_none_or(|s| e.seq > s)
            && self
                .types
                .as_ref()
                .is_none_or(|ts| ts.is_empty() || ts.contains(&e.type_name))
    }
}

/// The matching events (the last `limit` of them), and how many matched in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(target_arch = "wasm32", derive(Tsify))]
pub struct EventPage {
    pub total: u64,
    pub events: Vec<Entry>,
}

json_fields!(write EventPage {
    req total,
    req events,
});

impl super::LogView {
    pub fn events(&self, filter: &EventFilter) -> Result<EventPage, String> {
        filter.check()?;
        let matching: Vec<&Entry> = self.entries.iter().filter(|e| filter.matches(e)).collect();
        let limit = filter.limit.map_or(matching.len(), |l| l as usize);
        Ok(EventPage {
            total: matching.len() as u64,
            events: matching[matching.len().saturating_sub(limit)..]
                .iter()
                .map(|e| (*e).clone())
                .collect(),
        })
    }
}

/// The epic of a bead, from the projection.
fn epic_of<'a>(swarm: &'a Swarm, bead: &str) -> Option<&'a str> {
    swarm
        .bead(bead)
        .map(|w| w.epic_id.as_str())
        .or_else(|| swarm.queued(bead).map(|q| q.request.epic_id.as_str()))
}

/// The bead, the session and a short account of an event.
pub fn describe(body: &EventBody) -> (Option<&str>, Option<&str>, String) {
    use EventBody as E;
    let files = |paths: &[String]| paths.join(", ");
    match body {
        E::WorkerQueued(e) => (
            Some(&e.bead_id),
            None,
            format!("queued ({})", e.priority.as_str()),
        ),
        E::WorkerSpawned(e) => (
            Some(&e.bead_id),
            Some(&e.session_id),
            match &e.branch {
                Some(b) => format!("session {} on {b}", e.session_id),
                None => format!("session {}", e.session_id),
            },
        ),
        E::WorkerStarted(e) | E::WorkerIdle(e) | E::WorkerActive(e) => {
            (Some(&e.bead_id), Some(&e.session_id), String::new())
        }
        E::WorkerProgress(e) => (
            Some(&e.bead_id),
            Some(&e.session_id),
            format!(
                "{}%{}",
                e.progress_percent,
                e.message
                    .as_deref()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        ),
        E::WorkerCompleted(e) => (
            Some(&e.bead_id),
            Some(&e.session_id),
            format!("{}: {}", e.status.as_str(), e.summary),
        ),
        E::WorkerFailed(e) => (
            Some(&e.bead_id),
            Some(&e.session_id),
            format!(
                "{}{}",
                e.error,
                if e.retryable { " (retryable)" } else { "" }
            ),
        ),
        E::WorkerCancelled(e) | E::WorkerBlocked(e) | E::SessionDeleted(e) => (
            Some(&e.bead_id),
            Some(e.session_id.as_str()).filter(|s| !s.is_empty()),
            e.reason.clone(),
        ),
        E::WorkerUsage(e) => (
            Some(&e.bead_id),
            Some(&e.session_id),
            format!(
                "{} repl{}: {}",
                e.replies,
                if e.replies == 1 { "y" } else { "ies" },
                spent(e.tokens(), e.cost_micros)
            ),
        ),
        E::WorkerVerified(e) => (
            Some(&e.bead_id),
            Some(&e.session_id),
            format!(
                "round {}: {} in {}",
                e.attempt,
                match (e.ok, e.timed_out) {
                    (true, _) => "passed".to_string(),
                    (false, true) => "timed out".to_string(),
                    (false, false) => format!("failed, exit {}", e.exit_code),
                },
                duration(e.duration_ms)
            ),
        ),
        E::WorkerRetried(e) => (
            Some(&e.bead_id),
            None,
            format!("attempt {}: {}", e.attempt, e.reason),
        ),
        E::WorkerInterrupted(e) => (
            Some(&e.bead_id),
            Some(&e.session_id),
            if e.resumed { "resumed" } else { "not resumed" }.to_string(),
        ),
        E::CoordinatorNotified(e) => (
            None,
            Some(&e.session_id),
            format!("{} worker(s), by {}", e.workers.len(), e.via),
        ),
        E::WorktreeMerged(e) | E::WorktreePushed(e) => (
            Some(&e.bead_id),
            Some(&e.session_id),
            format!("{} at {}", e.branch, &e.commit[..e.commit.len().min(10)]),
        ),
        E::WorktreeRemoved(e) => (Some(&e.bead_id), Some(&e.session_id), e.path.clone()),
        E::FilesReserved(e) | E::FilesReleased(e) => {
            (Some(&e.bead_id), Some(&e.session_id), files(&e.paths))
        }
        E::MessageSent(e) => (
            None,
            e.from_session.as_deref(),
            format!(
                "{} {} -> {}: {}",
                e.message_id,
                e.from,
                e.to.join(", "),
                e.subject
            ),
        ),
        E::ServerLost(e) | E::ServerBack(e) => (
            None,
            None,
            format!("{} {}", e.url, e.reason).trim_end().to_string(),
        ),
        E::MessageDelivered(e) | E::MessageRead(e) => (
            None,
            None,
            format!(
                "{} to {}{}",
                e.message_id,
                e.recipient,
                e.via
                    .as_deref()
                    .map(|v| format!(" ({v})"))
                    .unwrap_or_default()
            ),
        ),
    }
}
