//! `swarm_poll_workers`: the workers of an epic, from the log plus the server's status map.
//!
//! The log says what each worker reported; the status map says whether its session is busy
//! right now. Where the two disagree, what was learnt is recorded as an event (started, idle,
//! failed), so the next poll, from any instance, starts from it.
use std::collections::BTreeMap;

use super::report::{self, Group, MESSAGE_CHARS};
use super::Apiary;
use crate::api::{PollArgs, PollReport};
use crate::error::ToolError;
use crate::event::{EventBody, Payload, WorkerFailed, WorkerInterrupted, WorkerObserved};
use crate::host::{Host, Message, SessionStatus};
use crate::ids::check_id;
use crate::projection::{Swarm, Worker, WorkerState};
use crate::schedule::{self, Machine};
use crate::text::{excerpt, spent};

/// What a poll learnt about one worker's session.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Busy,
    Retrying(String),
    /// The session ran and its turn is over.
    TurnEnded,
    Failed(String),
    /// Its turn was cut off (a server restart): an unfinished reply (this one), no error, not
    /// busy.
    Interrupted(String),
    /// Nothing shows it ran yet: absent from the map right after spawn is starting, not done.
    NotYetStarted,
}

impl<H: Host> Apiary<H> {
    pub async fn poll(&self, args: &PollArgs) -> Result<PollReport, ToolError> {
        self.widen();
        check_id("epic_id", &args.epic_id)?;
        let mut report = self
            .look(&args.epic_id, args.include_messages.unwrap_or(false))
            .await?;
        report::render(&mut report);
        Ok(report)
    }

    /// The epic's workers as the log and the server show them now, with what was learnt
    /// recorded; not yet rendered.
    pub(super) async fn look(
        &self,
        epic_id: &str,
        include_messages: bool,
    ) -> Result<PollReport, ToolError> {
        self.refresh().await?;
        type Place = (Option<String>, Option<String>);
        let live: Vec<(String, WorkerState, Place)> = self
            .log()
            .swarm()
            .epic(epic_id)
            .iter()
            .filter(|w| !w.state.is_final())
            .map(|w| {
                let place = (w.server.clone(), w.directory.clone());
                (w.session_id.clone(), w.state, place)
            })
            .collect();
        let mut warning = None;
        let mut seen = BTreeMap::new();
        if !live.is_empty() {
            // OpenCode keeps a status map per instance, that is per server and directory: one
            // read each.
            let mut maps = BTreeMap::new();
            for (_, _, place) in &live {
                if !maps.contains_key(place) {
                    let (server, dir) = place;
                    let map = self
                        .host
                        .status_map(server.as_deref(), dir.as_deref())
                        .await;
                    maps.insert(place.clone(), map);
                }
            }
            for (session, state, place) in &live {
                match &maps[place] {
                    Ok(map) => {
                        let s = self.see(session, place, *state, map.get(session));
                        seen.insert(session.clone(), s.await);
                    }
                    Err(e) => warning = Some(format!("{e}; states are from the log alone")),
                }
            }
            self.record(&seen).await?;
        }
        let warning = warning.or_else(|| self.log_warning());
        let machine = self.machine_if_queued().await;
        let mut report = self.build_report(epic_id, &seen, warning, machine.as_ref());
        if include_messages {
            self.attach_last_messages(&mut report).await;
        }
        Ok(report)
    }

    async fn see(
        &self,
        session: &str,
        (server, directory): &(Option<String>, Option<String>),
        state: WorkerState,
        status: Option<&SessionStatus>,
    ) -> Seen {
        match status {
            Some(SessionStatus::Busy) => return Seen::Busy,
            Some(SessionStatus::Retry { attempt, message }) => {
                return Seen::Retrying(format!("retry {attempt}: {}", excerpt(message, 60)));
            }
            _ => {}
        }
        // A running worker that is no longer busy either ended its turn or had it cut off
        // (a server stopping may still report it idle); one never seen busy may have run
        // unseen. Its messages tell which.
        let fallback = match state {
            WorkerState::Running | WorkerState::Idle => Seen::TurnEnded,
            _ => Seen::NotYetStarted,
        };
        let messages = self
            .host
            .messages(session, server.as_deref(), directory.as_deref(), 4);
        match messages.await {
            Ok(messages) => from_messages(&messages, state, self.host.now_ms()),
            Err(e) if e.message.contains("NotFound") || e.message.contains("not found") => {
                Seen::Failed(format!("session {session} no longer exists on the server"))
            }
            Err(_) => fallback,
        }
    }

    /// Records what the poll learnt, re-checked under the write lock so that an observation
    /// another instance (or the event hook) already recorded is not recorded twice.
    /// Workers found interrupted are resumed here, by the instance whose record won.
    async fn record(&self, seen: &BTreeMap<String, Seen>) -> Result<(), ToolError> {
        let resume = self.options.resume_interrupted;
        if wanted(seen, &self.log().swarm(), resume).is_empty() {
            return Ok(());
        }
        let seen = seen.clone();
        let recorded = self
            .log()
            .append_with(&self.host, self.host.now_ms(), move |swarm| {
                wanted(&seen, swarm, resume)
            })
            .await?;
        for event in recorded {
            if let Payload::Known(EventBody::WorkerInterrupted(e)) = &event.payload {
                if e.resumed {
                    self.resume(&e.session_id).await?;
                }
            }
        }
        Ok(())
    }

    /// Damage or a recovery the coordinator should know about.
    fn log_warning(&self) -> Option<String> {
        let health = self.log().health();
        if let Some(damage) = health.damage {
            return Some(format!(
                "{damage}; showing the {} events before it; nothing more is recorded until \
                 the log is repaired",
                health.events
            ));
        }
        (health.recovered_bytes > 0).then(|| {
            format!(
                "a torn last line ({} bytes) left by a crashed writer was cut off",
                health.recovered_bytes
            )
        })
    }

    fn build_report(
        &self,
        epic_id: &str,
        seen: &BTreeMap<String, Seen>,
        warning: Option<String>,
        machine: Option<&Machine>,
    ) -> PollReport {
        let now = self.host.now_ms();
        let swarm = self.log().swarm();
        let beads = swarm.epic_beads(epic_id);
        let plan = schedule::plan(&swarm, &self.options, machine, now);
        let mut report = PollReport {
            title: String::new(),
            output: String::new(),
            epic_id: epic_id.to_string(),
            total: beads.len() as u32,
            completed: Vec::new(),
            in_progress: Vec::new(),
            failed: Vec::new(),
            pending: Vec::new(),
            summary: String::new(),
            warning,
            outcome: None,
            waited_ms: None,
            spent: swarm
                .epic_usage(epic_id)
                .map(|u| spent(u.tokens(), u.cost_micros)),
        };
        if beads.is_empty() && report.warning.is_none() {
            let known: Vec<&str> = swarm.epic_ids().take(10).collect();
            report.warning = Some(if known.is_empty() {
                "no worker has been spawned yet".to_string()
            } else {
                format!(
                    "no workers for this epic; known epics: {}",
                    known.join(", ")
                )
            });
        }
        for bead in beads {
            if let Some(q) = swarm.queued(bead) {
                let (v, group) = report::queued_view(q, &plan, &self.options, now);
                match group {
                    Group::Failed => report.failed.push(v),
                    _ => report.pending.push(v),
                }
                continue;
            }
            let Some(w) = swarm.bead(bead) else {
                continue;
            };
            let mut v = report::view(w, now, self.options.verify_attempts);
            if let Some(Seen::Retrying(why)) = seen.get(&w.session_id) {
                v.state = "retrying".into();
                v.note = Some(why.clone());
            }
            // A worker that asked the coordinator waits on it, whatever its session does.
            if let Some(asks) = w.asks.as_ref().filter(|_| !w.state.is_final()) {
                v.state = report::ASKING.into();
                v.note = Some(format!("asks: {asks}"));
                report.in_progress.push(v);
                continue;
            }
            // Failed, but the retry policy starts it again: its retry may not be queued yet (the
            // next scheduler run records it), and an await must not take it for finished.
            if schedule::will_retry(w, &self.options) {
                v.state = "queued".into();
                v.note = Some(format!(
                    "attempt {} next: {}",
                    w.attempt + 1,
                    w.error.as_deref().unwrap_or("failed")
                ));
                report.pending.push(v);
                continue;
            }
            match report::group(w.state) {
                Group::Completed => report.completed.push(v),
                Group::InProgress => report.in_progress.push(v),
                Group::Failed => report.failed.push(v),
                Group::Pending => report.pending.push(v),
            }
        }
        report
    }

    pub(super) async fn attach_last_messages(&self, report: &mut PollReport) {
        for group in [
            &mut report.completed,
            &mut report.in_progress,
            &mut report.failed,
        ] {
            for v in group.iter_mut() {
                let (server, dir) = self
                    .log()
                    .swarm()
                    .session(&v.session_id)
                    .map(|w| (w.server.clone(), w.directory.clone()))
                    .unwrap_or_default();
                let messages =
                    self.host
                        .messages(&v.session_id, server.as_deref(), dir.as_deref(), 1);
                if let Ok(messages) = messages.await {
                    v.last_message = messages
                        .last()
                        .map(|m| excerpt(&m.text(), MESSAGE_CHARS))
                        .filter(|t| !t.is_empty());
                }
            }
        }
    }
}

/// The observations still to record, judged against the projection `swarm`.
fn wanted(seen: &BTreeMap<String, Seen>, swarm: &Swarm, resume: bool) -> Vec<EventBody> {
    seen.iter()
        .filter_map(|(session, s)| swarm.session(session).map(|w| (w, s)))
        .flat_map(|(w, s)| observations(w, s, resume))
        .collect()
}

/// What the session's own messages say about a worker that is not busy.
/// A reply begun this recently, unfinished, in a session the status map does not show busy, may
/// be a turn just starting (the map can lag a new turn); it is looked at again later. A reply a
/// restart cut off is older by the time the restarted server is asked.
const FRESH_REPLY_MS: u64 = 5_000;

fn from_messages(messages: &[Message], state: WorkerState, now: u64) -> Seen {
    let ran = matches!(state, WorkerState::Running | WorkerState::Idle);
    let Some(last) = messages.iter().rev().find(|m| m.is_assistant()) else {
        return if ran {
            Seen::TurnEnded
        } else {
            Seen::NotYetStarted
        };
    };
    if let Some(error) = &last.info.error {
        return Seen::Failed(error.describe());
    }
    match (last.info.time.completed, ran) {
        (Some(_), _) => Seen::TurnEnded,
        // Seen busy, now not busy, and the reply was never finished: the server stopped
        // mid-turn (a restart aborts turns without marking them).
        (None, true)
            if last
                .info
                .time
                .created
                .is_some_and(|c| now < c + FRESH_REPLY_MS) =>
        {
            Seen::NotYetStarted
        }
        (None, true) => Seen::Interrupted(last.info.id.clone()),
        // Never seen busy: the reply may be starting right now.
        (None, false) => Seen::NotYetStarted,
    }
}

/// The events that bring a worker's recorded state in line with what was seen.
fn observations(w: &Worker, seen: &Seen, resume: bool) -> Vec<EventBody> {
    let obs = || WorkerObserved {
        session_id: w.session_id.clone(),
        bead_id: w.bead_id.clone(),
    };
    match (w.state, seen) {
        (WorkerState::Starting, Seen::Busy | Seen::Retrying(_)) => {
            vec![EventBody::WorkerStarted(obs())]
        }
        (WorkerState::Idle, Seen::Busy | Seen::Retrying(_)) => {
            vec![EventBody::WorkerStarted(obs())]
        }
        (WorkerState::Starting, Seen::TurnEnded) => vec![
            EventBody::WorkerStarted(obs()),
            EventBody::WorkerIdle(obs()),
        ],
        (WorkerState::Running, Seen::TurnEnded) => vec![EventBody::WorkerIdle(obs())],
        (WorkerState::Interrupted, Seen::Busy | Seen::Retrying(_)) => {
            vec![EventBody::WorkerStarted(obs())]
        }
        // A reply already counted as cut off is not a new interruption: the resumed turn has
        // not replaced it yet (its new reply is still to come).
        (WorkerState::Running | WorkerState::Idle, Seen::Interrupted(message))
            if message.is_empty() || w.interrupted_message.as_ref() != Some(message) =>
        {
            vec![EventBody::WorkerInterrupted(WorkerInterrupted {
                session_id: w.session_id.clone(),
                bead_id: w.bead_id.clone(),
                resumed: resume,
                message_id: Some(message.clone()).filter(|m| !m.is_empty()),
            })]
        }
        (s, Seen::Failed(error)) if !s.is_final() => vec![EventBody::WorkerFailed(WorkerFailed {
            session_id: w.session_id.clone(),
            bead_id: w.bead_id.clone(),
            epic_id: w.epic_id.clone(),
            error: error.clone(),
            stack: None,
            retryable: !error.starts_with("session ") && super::observe::retryable_error(error),
        })],
        _ => Vec::new(),
    }
}
