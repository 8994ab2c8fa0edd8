//! `swarm_log`: the log's events themselves, filtered by epic, bead, session and type, one
//! compact line each: what happened to a bead, in order, when a poll's summary is not enough.
use std::fmt::Write;

use super::Apiary;
use crate::api::{LogArgs, Reply};
use crate::error::ToolError;
use crate::event::{self, EventBody, Payload};
use crate::host::Host;
use crate::ids::{check_count, check_id};
use crate::projection::Swarm;
use crate::text::{duration, excerpt};

const DEFAULT_LIMIT: u32 = 30;
const MAX_LIMIT: u32 = 200;
const DETAIL_CHARS: usize = 90;

/// The bead, the session and a short account of an event.
fn describe(body: &EventBody) -> (Option<&str>, Option<&str>, String) {
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
        E::WorktreeMerged(e) => (
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

/// The epic of a bead, from the projection.
fn epic_of<'a>(swarm: &'a Swarm, bead: &str) -> Option<&'a str> {
    swarm
        .bead(bead)
        .map(|w| w.epic_id.as_str())
        .or_else(|| swarm.queued(bead).map(|q| q.request.epic_id.as_str()))
}

impl<H: Host> Apiary<H> {
    pub async fn history(&self, args: &LogArgs) -> Result<Reply, ToolError> {
        for (field, value) in [
            ("epic_id", &args.epic_id),
            ("bead_id", &args.bead_id),
            ("session_id", &args.session_id),
        ] {
            if let Some(v) = value {
                check_id(field, v)?;
            }
        }
        let types = args.types.clone().unwrap_or_default();
        check_count("types", types.len(), EventBody::TYPE_NAMES.len())?;
        if let Some(t) = types
            .iter()
            .find(|t| !EventBody::TYPE_NAMES.contains(&t.as_str()))
        {
            return Err(ToolError::invalid(
                "types",
                format!(
                    "no event type {t:?}; known: {}",
                    EventBody::TYPE_NAMES.join(", ")
                ),
            ));
        }
        let limit = args.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ToolError::invalid(
                "limit",
                format!("is {limit}; give 1 to {MAX_LIMIT}"),
            ));
        }
        self.refresh().await?;
        let bytes = self.host.read_from(0).await?;
        let text = String::from_utf8_lossy(&bytes);
        let now = self.host.now_ms();
        let swarm = self.log.swarm();
        let mut lines = Vec::new();
        let mut unreadable = 0;
        // Only whole lines: the last one may be an append in progress.
        let whole = text.rsplit_once('\n').map_or("", |(w, _)| w);
        for line in whole.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(e) = event::decode(line) else {
                unreadable += 1;
                continue;
            };
            let Payload::Known(body) = &e.payload else {
                continue;
            };
            if !types.is_empty() && !types.iter().any(|t| t == body.type_name()) {
                continue;
            }
            let (bead, session, detail) = describe(body);
            let wanted = args.bead_id.as_deref().is_none_or(|b| bead == Some(b))
                && args
                    .session_id
                    .as_deref()
                    .is_none_or(|s| session == Some(s))
                && args
                    .epic_id
                    .as_deref()
                    .is_none_or(|ep| bead.and_then(|b| epic_of(&swarm, b)) == Some(ep));
            if !wanted {
                continue;
            }
            let mut l = format!(
                "#{} {} ago {}",
                e.seq,
                duration(now.saturating_sub(e.timestamp)),
                body.type_name()
            );
            if let Some(b) = bead {
                let _ = write!(l, " {b}");
            }
            if !detail.is_empty() {
                let _ = write!(l, ": {}", excerpt(&detail, DETAIL_CHARS));
            }
            lines.push(l);
        }
        let total = lines.len();
        let shown = &lines[total.saturating_sub(limit as usize)..];
        let mut out = format!("{total} event(s)");
        if total > shown.len() {
            let _ = write!(out, ", the last {} shown", shown.len());
        }
        if unreadable > 0 {
            let _ = write!(out, "; {unreadable} unreadable line(s) passed over");
        }
        if !shown.is_empty() {
            let _ = write!(out, ":\n{}", shown.join("\n"));
        }
        Ok(Reply {
            title: format!("{total} event(s)"),
            output: out,
        })
    }
}
